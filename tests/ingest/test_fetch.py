"""The fetch layer against recorded responses served by a local HTTP server (no internet)."""

from __future__ import annotations

import email.utils
import hashlib
import socket
import time
from http.server import BaseHTTPRequestHandler

import pytest
from helpers import LocalServer

from catalog.errors import SourceError
from ingest import fetch

LAST_MODIFIED = "Tue, 03 Sep 2024 10:00:00 GMT"


class RecordedServer(LocalServer):
    """A tiny HTTP server on 127.0.0.1 serving recorded bodies with validators.

    ``routes`` maps a URL path to ``(body, etag)``; the server answers 304 to a
    conditional request whose validator still matches, 404 to unknown paths, and sleeps
    on ``/slow``. Every request's path and headers are kept in ``requests``.
    """

    def __init__(self, routes: dict[str, tuple[bytes, str]]):
        self.routes = routes
        self.requests: list[tuple[str, dict]] = []
        self.cut_next_after: int | None = None  # send only this many bytes, then hang up
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                if self.path == "/slow":
                    time.sleep(2)
                    self.send_response(200)
                    self.end_headers()
                    return
                if self.path not in server.routes:
                    self.send_error(404, "Not Found")
                    return
                body, etag = server.routes[self.path]
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                fresh = (inm == etag) if inm is not None else (
                    ims is not None and email.utils.parsedate_to_datetime(ims)
                    >= email.utils.parsedate_to_datetime(LAST_MODIFIED))
                if fresh:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                rng = self.headers.get("Range")
                if rng and self.headers.get("If-Range") == etag:
                    start = int(rng.removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    body = body[start:]
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.end_headers()
                if server.cut_next_after is not None:
                    body, server.cut_next_after = body[:server.cut_next_after], None
                    self.close_connection = True
                self.wfile.write(body)

        self.start_with(Handler)


BODY = b"PSRJ J0000+0000\n@-----\n" * 100


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The local server must be reached directly, whatever proxy the environment sets."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with RecordedServer({"/cat/data/file.txt": (BODY, '"v1"')}) as srv:
        yield srv


def test_download_then_not_modified(server, tmp_path):
    url = server.base + "/cat/data/file.txt"
    seen = []
    first = fetch.fetch(url, root=tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert not first.not_modified and first.mode == "remote"
    assert first.path.read_bytes() == BODY
    assert first.sha256 == hashlib.sha256(BODY).hexdigest() and first.size == len(BODY)
    assert first.etag == '"v1"' and first.last_modified == LAST_MODIFIED
    assert first.path == tmp_path / "127.0.0.1_{}".format(
        server.httpd.server_address[1]) / "cat" / "data" / "file.txt"
    assert seen[-1] == (len(BODY), len(BODY))
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))

    second = fetch.fetch(url, root=tmp_path)
    assert second.not_modified
    assert second.path == first.path and second.sha256 == first.sha256
    headers = server.requests[-1][1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    assert second.remote_meta()["etag"] == '"v1"'


def test_changed_remote_is_downloaded_again(server, tmp_path):
    url = server.base + "/cat/data/file.txt"
    fetch.fetch(url, root=tmp_path)
    server.routes["/cat/data/file.txt"] = (BODY + b"new\n", '"v2"')
    again = fetch.fetch(url, root=tmp_path)
    assert not again.not_modified and again.etag == '"v2"'
    assert again.path.read_bytes().endswith(b"new\n")


def test_force_skips_conditional_headers(server, tmp_path):
    url = server.base + "/cat/data/file.txt"
    fetch.fetch(url, root=tmp_path)
    forced = fetch.fetch(url, root=tmp_path, force=True)
    assert not forced.not_modified
    assert "If-None-Match" not in server.requests[-1][1]


def test_interrupted_download_resumes(server, tmp_path):
    url = server.base + "/cat/data/file.txt"
    server.cut_next_after = 1000
    with pytest.raises(SourceError, match=r"stopped after 1000 of 2300 bytes \(run again"):
        fetch.fetch(url, root=tmp_path)
    part = fetch.cache_path(url, tmp_path).with_name("file.txt.part")
    assert part.stat().st_size == 1000
    assert not fetch.cache_path(url, tmp_path).exists()  # no truncated file in the cache

    res = fetch.fetch(url, root=tmp_path)
    assert server.requests[-1][1]["Range"] == "bytes=1000-"
    assert res.path.read_bytes() == BODY and res.sha256 == hashlib.sha256(BODY).hexdigest()
    assert not part.exists()


def test_resume_restarts_when_the_remote_changed(server, tmp_path):
    url = server.base + "/cat/data/file.txt"
    server.cut_next_after = 1000
    with pytest.raises(SourceError):
        fetch.fetch(url, root=tmp_path)
    server.routes["/cat/data/file.txt"] = (b"new content\n", '"v2"')
    res = fetch.fetch(url, root=tmp_path)  # If-Range no longer matches: a whole new file
    assert res.path.read_bytes() == b"new content\n" and res.etag == '"v2"'


def test_http_404_names_url_and_status(server, tmp_path):
    url = server.base + "/missing.tar.gz"
    with pytest.raises(SourceError, match=r"cannot fetch http://127\.0\.0\.1:\d+/missing"
                                          r"\.tar\.gz: HTTP 404"):
        fetch.fetch(url, root=tmp_path)
    assert not (tmp_path / "127.0.0.1").exists()


def test_connection_refused(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on the port now
    with pytest.raises(SourceError, match=rf"cannot fetch http://127\.0\.0\.1:{port}/x\.db: "
                                          "connection refused"):
        fetch.fetch(f"http://127.0.0.1:{port}/x.db", root=tmp_path)


def test_timeout(server, tmp_path):
    with pytest.raises(SourceError, match=r"cannot fetch http://127\.0\.0\.1:\d+/slow: "
                                          r"timed out"):
        fetch.fetch(server.base + "/slow", root=tmp_path, timeout=0.3)


def test_file_mode_replaces_network(tmp_path):
    path = tmp_path / "psrcat.db"
    path.write_bytes(BODY)
    res = fetch.fetch("http://127.0.0.1:9/never/contacted.db", file=path)
    assert res.mode == "file" and res.path == path and not res.not_modified
    assert res.sha256 == hashlib.sha256(BODY).hexdigest()
    assert res.origin == str(path)
    with pytest.raises(SourceError, match="input file .*nope.db does not exist"):
        fetch.fetch("http://x/y", file=tmp_path / "nope.db")


def test_mirror_mode_maps_url_path(tmp_path):
    mirror = tmp_path / "mirror"
    target = mirror / "research" / "pulsar" / "psrcat_pkg.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(BODY)
    url = "https://www.atnf.csiro.au/research/pulsar/psrcat_pkg.tar.gz"
    res = fetch.fetch(url, mirror=mirror)
    assert res.mode == "mirror" and res.path == target and res.url == url
    # a mirror that keeps the host as its first directory works too
    hosted = tmp_path / "hosted" / "www.atnf.csiro.au" / "research" / "pulsar"
    hosted.mkdir(parents=True)
    (hosted / "psrcat_pkg.tar.gz").write_bytes(BODY)
    assert fetch.fetch(url, mirror=tmp_path / "hosted").sha256 == res.sha256
    with pytest.raises(SourceError, match="mirror .* has no copy of https://www.atnf"):
        fetch.fetch(url.replace("psrcat_pkg", "other"), mirror=mirror)


def test_bad_arguments(tmp_path):
    with pytest.raises(SourceError, match="either --file or --mirror"):
        fetch.fetch("http://x/y", file=tmp_path, mirror=tmp_path)
    with pytest.raises(SourceError, match="only http and https"):
        fetch.fetch("ftp://host/file.db", root=tmp_path)
    with pytest.raises(SourceError, match="not a plain name"):
        fetch.cache_path("http://host/a/../../etc/passwd", tmp_path)


def test_cache_root_under_livecat_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path))
    assert fetch.cache_root() == tmp_path.resolve() / "cache"
