"""ingest.tap: the synchronous TAP client, against a local HTTP server (no network).

The server (http.server on 127.0.0.1, port 0, in a thread) answers ``POST /tap/sync``
with recorded or hand-made answers. The OK answer is the recorded-format CXC fixture
``tests/data/csc/cxc_tap_master_csc21.vot``. The hand-made status documents follow the
VOTable 1.4 schema and the TAP 1.1 / DALI 1.1 rules for ``QUERY_STATUS``: an error
document is a ``RESOURCE type="results"`` with ``<INFO name="QUERY_STATUS"
value="ERROR">message</INFO>`` and no TABLE; an overflow keeps ``value="OK"`` before the
TABLE and adds ``<INFO name="QUERY_STATUS" value="OVERFLOW"/>`` after it.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from catalog.errors import SourceError
from ingest import csc
from ingest.tap import (TapOverflow, TapService, query_status, sync_params, sync_url,
                        tap_sync)

from helpers import DATA

CSC_DATA = DATA / "csc"
CXC_FIXTURE = (CSC_DATA / "cxc_tap_master_csc21.vot").read_bytes()

# VOTable 1.4 / TAP 1.1 error document (DALI "error documents": no TABLE, the message is
# the QUERY_STATUS INFO's text).
ERROR_DOC = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
 <RESOURCE type="results">
  <INFO name="QUERY_STATUS" value="ERROR">Unknown column &quot;fluxx&quot; in SELECT</INFO>
 </RESOURCE>
</VOTABLE>
"""


def overflow_doc(before_table: bool = False) -> bytes:
    """The CXC fixture truncated to 2 rows and marked OVERFLOW (TAP 1.1: after the TABLE;
    ``before_table``: the TAP 1.0 style some services still use)."""
    head, rest = CXC_FIXTURE.split(b"<TR>", 1)
    rows = (b"<TR>" + rest).split(b"</TR>")[:2]
    body = head + b"</TR>".join(rows) + b"</TR>\n   </TABLEDATA></DATA>\n  </TABLE>\n"
    if before_table:
        body = body.replace(b'<INFO name="QUERY_STATUS" value="OK"/>',
                            b'<INFO name="QUERY_STATUS" value="OVERFLOW"/>')
        return body + b" </RESOURCE>\n</VOTABLE>\n"
    return body + b'  <INFO name="QUERY_STATUS" value="OVERFLOW"/>\n </RESOURCE>\n</VOTABLE>\n'


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.server.requests.append((self.path, params))
        status, body, delay = self.server.responder(self.path, params)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-votable+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request still sleeping does not hold up teardown
    block_on_close = False


@pytest.fixture
def server():
    """Start a local TAP stand-in; set ``server.responder`` to choose the answers."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.requests = []
    httpd.responder = lambda path, params: (200, CXC_FIXTURE, 0)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/tap"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_sync_params_follow_tap():
    p = sync_params("SELECT 1", maxrec=10)
    assert p == {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT 1",
                 "FORMAT": "votable", "RESPONSEFORMAT": "votable", "MAXREC": "10"}
    assert "MAXREC" not in sync_params("SELECT 1")
    with pytest.raises(ValueError):
        sync_params("  ")
    assert sync_url("http://h/tap/") == "http://h/tap/sync"
    assert sync_url("http://h/tap/sync") == "http://h/tap/sync"


def test_ok_answer_is_returned_and_request_is_a_tap_post(server):
    body = tap_sync(server.base_url, "SELECT name FROM csc21.master_source", maxrec=5)
    assert body == CXC_FIXTURE
    path, params = server.requests[0]
    assert path == "/tap/sync"
    assert params["REQUEST"] == "doQuery" and params["LANG"] == "ADQL"
    assert params["QUERY"] == "SELECT name FROM csc21.master_source"
    assert params["MAXREC"] == "5" and params["FORMAT"] == "votable"
    assert len(csc.parse(body, fmt="votable")) == 4


def test_service_sends_its_row_limit_as_maxrec(server):
    svc = TapService(server.base_url + "/", "local", row_limit=1234)
    svc.query("SELECT 1")
    assert server.requests[0][1]["MAXREC"] == "1234"
    assert svc.sync_url == server.base_url + "/sync"


@pytest.mark.parametrize("status", [200, 400])
def test_error_document_names_url_and_service_message(server, status):
    server.responder = lambda path, params: (status, ERROR_DOC, 0)
    with pytest.raises(SourceError) as info:
        tap_sync(server.base_url, "SELECT fluxx FROM csc21.master_source")
    msg = str(info.value)
    assert server.base_url + "/sync" in msg
    assert 'Unknown column "fluxx" in SELECT' in msg
    assert not isinstance(info.value, TapOverflow)
    if status == 400:
        assert "HTTP 400" in msg


@pytest.mark.parametrize("before_table", [False, True])
def test_overflow_is_a_distinct_source_error(server, before_table):
    server.responder = lambda path, params: (200, overflow_doc(before_table), 0)
    with pytest.raises(TapOverflow) as info:
        tap_sync(server.base_url, "SELECT * FROM csc21.master_source", maxrec=2)
    assert isinstance(info.value, SourceError)
    assert info.value.maxrec == 2
    assert "MAXREC=2" in str(info.value) and server.base_url in str(info.value)
    assert len(csc.parse(info.value.body, fmt="votable")) == 2


def test_http_500_names_url_and_status(server):
    server.responder = lambda path, params: (500, b"<html>Internal Server Error</html>", 0)
    with pytest.raises(SourceError, match=r"HTTP 500") as info:
        tap_sync(server.base_url, "SELECT 1")
    assert server.base_url + "/sync" in str(info.value)


def test_answer_that_is_not_a_votable(server):
    server.responder = lambda path, params: (200, b"<html>maintenance</html>", 0)
    with pytest.raises(SourceError, match="not a VOTable"):
        tap_sync(server.base_url, "SELECT 1")


def test_timeout_names_url(server):
    server.responder = lambda path, params: (200, CXC_FIXTURE, 2.0)
    with pytest.raises(SourceError, match="timed out") as info:
        tap_sync(server.base_url, "SELECT 1", timeout=0.3)
    assert server.base_url + "/sync" in str(info.value)


def test_connection_refused_names_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    url = f"http://127.0.0.1:{port}/tap"
    with pytest.raises(SourceError, match="unreachable") as info:
        tap_sync(url, "SELECT 1", timeout=5)
    assert f"{url}/sync" in str(info.value)


def test_query_status_scan():
    doc = (b'<vot:VOTABLE xmlns:vot="http://www.ivoa.net/xml/VOTable/v1.3">'
           b"<vot:RESOURCE type='results'><vot:INFO value='OK' name='QUERY_STATUS'/>"
           b'<vot:INFO name="other" value="ERROR">x</vot:INFO>'
           b'<vot:TABLE/><vot:INFO name="QUERY_STATUS" value="overflow">\n  limit &amp; more'
           b"\n</vot:INFO></vot:RESOURCE></vot:VOTABLE>")
    assert query_status(doc) == [("OK", ""), ("OVERFLOW", "limit & more")]
    assert query_status(CXC_FIXTURE) == [("OK", "")]
