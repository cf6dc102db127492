"""A local stand-in for CDS XMatch that replays the recorded answer (no network).

It takes the place of ``http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync``, reached
through astroquery's XMatch client as in production, and serves

* ``GET .../sync/tables?action=getVizieRTableNames`` with ``tests/data/xmatch/tables.txt``
  (astroquery checks the table exists before a query);
* ``POST .../sync`` (multipart form as astroquery sends it: ``request=xmatch``,
  ``distMaxArcsec``, ``RESPONSEFORMAT``, ``cat2``, ``colRA1``, ``colDec1``, file ``cat1``)
  with the recorded answer ``tests/data/xmatch/ngc3532_2mass_r10.csv`` (see the README
  there): the header, then the recorded lines of the uploaded X-ray ids, verbatim, in
  upload order, within the requested distance. The recording's X-ray ids are the 1-based
  rows of ``csc/NGC3532_ave.csv``.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
import urllib.parse
from http.server import BaseHTTPRequestHandler

from helpers import DATA, LocalServer

RECORDED = DATA / "xmatch" / "ngc3532_2mass_r10.csv"
TABLES = (DATA / "xmatch" / "tables.txt").read_bytes()


def _recorded():
    """(header line, {xray_id: [recorded lines]}, {xray_id: [angDist]})."""
    text = RECORDED.read_text().splitlines()
    lines, dist = {}, {}
    for line in text[1:]:
        row = next(csv.reader([line]))
        lines.setdefault(row[1], []).append(line)
        dist.setdefault(row[1], []).append(float(row[0]))
    return text[0], lines, dist


HEADER, LINES, DISTS = _recorded()


class XMatchStandIn(LocalServer):
    """CDS XMatch ``/xmatch/api/v1/sync`` replaying the recorded answer.

    ``fail``: {upload number (1-based): (status, body)} answered instead of the table.
    ``uploads``: one dict per POST (form fields, uploaded rows).
    """

    path = "/xmatch/api/v1/sync"

    def __init__(self, fail: dict | None = None):
        self.fail = fail or {}
        self.uploads: list[dict] = []
        self.table_requests = 0
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server API
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == stand.path + "/tables" \
                        and query.get("action") == "getVizieRTableNames":
                    stand.table_requests += 1
                    return self.reply(200, TABLES, "text/plain")
                return self.reply(404, b"not found", "text/plain")

            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                form = _multipart(self.headers["Content-Type"], body)
                rows = list(csv.reader(io.StringIO(form.pop("cat1"))))
                stand.uploads.append({"form": form, "header": rows[0], "rows": rows[1:]})
                n = len(stand.uploads)
                if n in stand.fail:
                    status, doc = stand.fail[n]
                    return self.reply(status, doc, "text/xml")
                radius = float(form["distMaxArcsec"])
                out = [HEADER]
                for xray_id, _, _ in rows[1:]:
                    out += [line for line, d in zip(LINES.get(xray_id, []),
                                                    DISTS.get(xray_id, [])) if d <= radius]
                self.reply(200, ("\n".join(out) + "\n").encode(), "text/csv")

        self.start_with(Handler)

    @property
    def url(self) -> str:
        return self.base


def _multipart(ctype: str, body: bytes) -> dict[str, str]:
    """Form fields of a multipart/form-data body (the uploaded file as text)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    return {part.get_param("name", header="content-disposition"):
            part.get_payload(decode=True).decode() for part in msg.iter_parts()}


