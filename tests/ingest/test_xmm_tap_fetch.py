"""`livecat ingest xmm --release 5XMM-DR15`: the XMM catalogue over HEASARC TAP (no network).

5XMM-DR15 has no slim FITS file URL: :mod:`ingest.xray_cli` reads it from HEASARC's Xamin
TAP table ``xmmssc`` in the same RA/Dec tiles as the Chandra CSC path
(:func:`ingest.csc_fetch.fetch_tiles`). A local stand-in (``helpers.LocalServer``:
http.server on 127.0.0.1, OS-chosen port, in a thread) takes the place of
``https://heasarc.gsfc.nasa.gov/xamin/vo/tap``: ``ingest.csc_fetch.HEASARC_TAP`` is pointed
at it with monkeypatch (the TAP remotes have no URL environment variable), and the command
line is run in-process (``helpers.invoke``) on a fresh migrated PostgreSQL database.

What it shows, as the CSC TAP tests do for CSC:

1. an end-to-end ``livecat ingest xmm --release 5XMM-DR15`` lands the source and its EPIC
   total-band flux in ``xray_source`` / ``xray_flux`` with the values of the recorded
   answer (read from the VOTable itself, not retyped);
2. the ADQL the service received: ``SELECT * FROM xmmssc WHERE ra >= .. AND ra < .. AND
   dec >= .. AND dec <(=) ..`` boxes, no geometry functions, one query per tile of the
   plan, the tiles covering the sky exactly once;
3. a second identical run asks the service nothing (the tiles are cached) and is skipped
   because the release is held with the same checksum (``ingest_xray``'s documented
   behaviour); with ``--force`` it reloads and changes nothing (0 inserted, 0 updated);
4. a failing service (HTTP 500; a truncated VOTable, delivered whole or cut by a dropped
   connection) makes the ingest fail with one ``Error:`` line, exit status 1 and nothing
   written to the database;
5. an interrupted fetch resumes: the next run asks only the tiles the first did not get.

Recorded responses: the tile holding 3C 273 is answered with the real HEASARC answer
``../shared/samples/xmm/heasarc_xmmssc_5xmm_3c273.vot`` (VOTable 1.4, BINARY/base64 row,
columns of the HEASARC ``xmmssc`` table, https://heasarc.gsfc.nasa.gov/w3browse/all/xmmssc.html);
every other tile gets the same document with an empty STREAM (zero rows: same header,
same FIELDs; no column is invented). The stand-in answers TAP ``/sync`` POSTs as the IVOA
TAP 1.1 Recommendation (https://www.ivoa.net/documents/TAP/20190927/) describes
(``REQUEST=doQuery``, ``LANG=ADQL``, ``QUERY``, ``MAXREC`` as form parameters); a query it
cannot serve gets a DALI 1.1 error document (``QUERY_STATUS=ERROR``) with HTTP 400.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io.votable import parse_single_table
from helpers import (LocalServer, TAP_BOX, invoke, sample_path, summary, tap_error_doc,
                     use_private_home)

from ingest import csc_fetch as F
from ingest import tiles as T
from ingest.tap import TapService

SAMPLE = sample_path("xmm", "heasarc_xmmssc_5xmm_3c273.vot")
FULL = SAMPLE.read_bytes()
EMPTY = re.sub(rb'(<STREAM encoding="base64">).*?(</STREAM>)', rb"\1\2", FULL, flags=re.S)
assert EMPTY != FULL and b"<STREAM" in EMPTY

#: The recorded row, read from the VOTable (the expected values of the database rows).
ROW = parse_single_table(str(SAMPLE)).to_table()[0]
SRCID = str(ROW["srcid"])
RA, DEC = float(ROW["ra"]), float(ROW["dec"])

#: Tile size used by the command-line runs (degrees at the equator). The command line has
#: no tile-size option; ``fetch_tiles`` is wrapped to use 45 x 45 instead of its 10 x 10
#: default (456 tiles), which keeps the module well under the time budget with the same
#: code path (the plan is still ``T.sky_tiles`` of these steps).
RA_STEP, DEC_STEP = 45.0, 45.0
PLAN = T.sky_tiles(RA_STEP, DEC_STEP)
RUN_NAME = "xmm-5XMM-DR15"  # ingest.xray_cli._tiles_fetch: f"{key}-{release}"





def parse_box(query: str):
    """(table, columns, Tile, top-inclusive) of a tile query, or None."""
    m = TAP_BOX.match(query.strip())
    if not m or (m["ra"], m["dec"]) != ("ra", "dec"):
        return None
    tile = T.Tile(float(m["ra_lo"]), float(m["ra_hi"]), float(m["dec_lo"]),
                  float(m["dec_hi"]))
    return m["table"], [c.strip() for c in m["cols"].split(",")], tile, m["op"] == "<="


def holds_3c273(tile: T.Tile, top_inclusive: bool) -> bool:
    """The service side of the box predicate, evaluated on the recorded row's position."""
    upper = DEC <= tile.dec_hi if top_inclusive else DEC < tile.dec_hi
    return tile.ra_lo <= RA < tile.ra_hi and tile.dec_lo <= DEC and upper


class XaminStandIn(LocalServer):
    """HEASARC Xamin TAP ``/sync`` for table ``xmmssc`` (recorded answers, see above).

    ``fail_after``: after that many good answers, answer HTTP ``fail_status``.
    ``truncate``: the answer for the tile holding 3C 273 is cut in the middle of its
    BINARY stream, either sent as a short but complete HTTP body (``"short"``) or with the
    full Content-Length and the connection dropped (``"dropped"``).
    Every request is kept in ``requests`` as ``(path, form parameters)``.
    """

    path = "/xamin/vo/tap"

    def __init__(self, fail_after: int | None = None, fail_status: int = 500,
                 truncate: str | None = None):
        self.fail_after = fail_after
        self.fail_status = fail_status
        self.truncate = truncate
        self.requests: list[tuple[str, dict]] = []
        self.ok = 0
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                stand.requests.append((self.path, params))
                status, body, declared = stand.answer(self.path, params)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-votable+xml")
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                self.wfile.write(body)
                if declared != len(body):
                    self.close_connection = True

        self.start_with(Handler)

    def answer(self, path: str, params: dict) -> tuple[int, bytes, int]:
        """(status, body, Content-Length to declare)."""
        if path != self.path + "/sync" or params.get("REQUEST") != "doQuery" \
                or params.get("LANG") != "ADQL":
            body = tap_error_doc("expected REQUEST=doQuery and LANG=ADQL on /sync")
            return 400, body, len(body)
        if self.fail_after is not None and self.ok >= self.fail_after:
            body = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
            return self.fail_status, body, len(body)
        query = params.get("QUERY", "")
        if re.search(r"\b(CONTAINS|CIRCLE|POINT|DISTANCE)\s*\(", query, re.I):
            body = tap_error_doc("this stand-in answers RA/Dec box queries only")
            return 400, body, len(body)
        box = parse_box(query)
        if box is None or box[0] != "xmmssc" or box[1] != ["*"]:
            body = tap_error_doc(f"cannot serve query: {query[:120]}")
            return 400, body, len(body)
        self.ok += 1
        if not holds_3c273(box[2], box[3]):
            return 200, EMPTY, len(EMPTY)
        if self.truncate:
            start = FULL.index(b"<STREAM")
            cut = FULL[:start + 80]  # inside the base64 row
            return 200, cut, (len(cut) if self.truncate == "short" else len(FULL))
        return 200, FULL, len(FULL)

    def queries(self) -> list[str]:
        return [p["QUERY"] for _, p in self.requests]

    def tiles(self) -> list[T.Tile]:
        return [parse_box(q)[2] for q in self.queries()]


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """A private LIVECAT_HOME (the TAP tile cache) and no proxy for the local server."""
    use_private_home(tmp_path, monkeypatch)


@pytest.fixture
def xamin(monkeypatch):
    """``xamin(**options) -> XaminStandIn``: a running stand-in that ingest.csc_fetch's
    HEASARC_TAP now points at; the tiles are RA_STEP x DEC_STEP. Stopped after the test."""
    real_fetch_tiles = F.fetch_tiles

    def coarse_fetch_tiles(*args, **kwargs):
        kwargs.setdefault("ra_step_deg", RA_STEP)
        kwargs.setdefault("dec_step_deg", DEC_STEP)
        return real_fetch_tiles(*args, **kwargs)

    monkeypatch.setattr(F, "fetch_tiles", coarse_fetch_tiles)
    started = []

    def start(**options) -> XaminStandIn:
        stand = XaminStandIn(**options).__enter__()
        started.append(stand)
        monkeypatch.setattr(F, "HEASARC_TAP", TapService(stand.base, "HEASARC Xamin TAP",
                                                         row_limit=50_000))
        return stand

    yield start
    for stand in started:
        stand.__exit__(None, None, None)


ARGS = ["ingest", "xmm", "--release", "5XMM-DR15"]


def run_cli(monkeypatch, db_url, *extra):
    return invoke(ARGS + list(extra), monkeypatch, db_url)


def manifest(tmp_path) -> dict:
    """The fetch manifest of the run (``{"done": {}}`` when no tile was ever recorded)."""
    path = tmp_path / "home" / "cache" / "tap" / "csc" / RUN_NAME / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"done": {}, "split": {}}


def n_written(engine) -> int:
    """Rows a load would write (a failed run's own ingest_run row is not counted)."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM livecat.xray_source) + "
            "(SELECT count(*) FROM livecat.xray_flux) + "
            "(SELECT count(*) FROM livecat.catalog_release) + "
            "(SELECT count(*) FROM livecat.ingest_run WHERE status = 'succeeded')")).scalar()


def db_state(engine):
    with engine.connect() as conn:
        src = conn.execute(sa.text(
            "SELECT s.id, s.catalog, s.native_id, s.name, s.ra, s.dec, s.pos_err_arcsec, "
            "s.n_obs, s.is_current, s.flags, s.extra, r1.version AS first_release, "
            "r2.version AS last_release FROM livecat.xray_source s "
            "LEFT JOIN livecat.catalog_release r1 ON r1.id = s.first_release_id "
            "LEFT JOIN livecat.catalog_release r2 ON r2.id = s.last_release_id "
            "ORDER BY s.id")).mappings().all()
        flux = conn.execute(sa.text(
            "SELECT source_id, band, kind, band_lo_kev, band_hi_kev, value, value_lo, "
            "value_hi FROM livecat.xray_flux ORDER BY source_id, band")).mappings().all()
        rel = conn.execute(sa.text(
            "SELECT catalog, version, state FROM livecat.catalog_release")).all()
    return [dict(r) for r in src], [dict(r) for r in flux], [tuple(r) for r in rel]


def assert_error_line(res, *fragments):
    """Exit status 1, exactly one ``Error:`` line (the last stderr line), no traceback."""
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    assert "Traceback" not in res.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# --------------------------------------------------------------------------------------
# (1) + (2): end to end, and the ADQL the service received
# --------------------------------------------------------------------------------------


def test_cli_ingest_5xmm_over_tap_lands_the_recorded_source(clean_tables, db_url,
                                                             monkeypatch, xamin, tmp_path):
    engine = clean_tables
    stand = xamin()
    res = run_cli(monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    counts = summary(res.stdout)
    assert counts == {"read": 1, "inserted": 1, "updated": 0, "unchanged": 0, "rejected": 0,
                      "retired": 0}

    sources, fluxes, releases = db_state(engine)
    assert releases == [("xmm", "5XMM-DR15", "complete")]
    assert len(sources) == 1 and len(fluxes) == 1
    s = sources[0]
    assert (s["catalog"], s["native_id"], s["name"]) == ("xmm", SRCID, str(ROW["name"]))
    assert s["native_id"] == "3011277010100001"  # the README's srcid: the same row
    assert s["ra"] == pytest.approx(RA, abs=1e-9) and s["dec"] == pytest.approx(DEC, abs=1e-9)
    # error_radius is declared arcsec but holds degrees (ingest.xmm): radial -> per axis
    assert s["pos_err_arcsec"] == pytest.approx(float(ROW["error_radius"]) * 3600
                                                / math.sqrt(2), rel=1e-6)
    assert s["n_obs"] == int(ROW["n_contrib"]) and s["is_current"]
    assert s["first_release"] == s["last_release"] == "5XMM-DR15"
    assert "release" not in s["extra"]  # ingest.load.RELEASE_KEYS: the release ids say it
    assert s["extra"]["mjd_first"] == pytest.approx(float(ROW["time"]))
    assert s["flags"]["warning"] is (int(ROW["sum_flag"]) >= 1)
    f = fluxes[0]
    assert f["source_id"] == s["id"]
    assert (f["band"], f["kind"], f["band_lo_kev"], f["band_hi_kev"]) == \
        ("8", "energy_flux", 0.2, 12.0)  # ep_flux: EPIC total band 0.2-12 keV
    assert f["value"] == pytest.approx(float(ROW["ep_flux"]), rel=1e-12)
    assert f["value_hi"] - f["value"] == pytest.approx(float(ROW["ep_flux_error"]), rel=1e-6)
    assert f["value"] - f["value_lo"] == pytest.approx(float(ROW["ep_flux_error"]), rel=1e-6)

    # (2) every request: a TAP sync POST of an RA/Dec box on xmmssc, no geometry
    assert len(stand.requests) == len(PLAN)
    for path, params in stand.requests:
        assert path == "/xamin/vo/tap/sync"
        assert (params["REQUEST"], params["LANG"], params["MAXREC"]) == \
            ("doQuery", "ADQL", "50000")
        assert params["QUERY"].startswith("SELECT * FROM xmmssc WHERE ra >= ")
        assert not re.search(r"CONTAINS|CIRCLE|POINT|BETWEEN", params["QUERY"])
    asked = stand.tiles()
    assert sorted(t.id for t in asked) == sorted(t.id for t in PLAN)  # each tile once
    assert [t for t in asked if holds_3c273(t, t.dec_hi_inclusive)] == \
        [t for t in PLAN if t.contains(RA, DEC)]
    grid_ra, grid_dec = np.meshgrid(np.linspace(0, 359.99, 73), np.linspace(-90, 90, 37))
    hits = sum(t.contains(grid_ra, grid_dec).astype(int) for t in asked)
    assert hits.min() == hits.max() == 1  # the asked boxes cover the sky exactly once
    # the manifest records each tile with the table and release it came from
    done = manifest(tmp_path)["done"]
    assert len(done) == len(PLAN) and sum(e["rows"] for e in done.values()) == 1
    assert {(e["table"], e["release"], e["url"]) for e in done.values()} == \
        {("xmmssc", "5XMM-DR15", stand.base + "/sync")}


# --------------------------------------------------------------------------------------
# (3): a second identical run
# --------------------------------------------------------------------------------------


def test_second_identical_run_is_skipped_and_forced_run_changes_nothing(
        clean_tables, db_url, monkeypatch, xamin):
    engine = clean_tables
    stand = xamin()
    first = run_cli(monkeypatch, db_url)
    assert first.exit_code == 0, first.output
    assert summary(first.stdout)["inserted"] == 1
    before = db_state(engine)
    asked = len(stand.requests)

    again = run_cli(monkeypatch, db_url)
    assert again.exit_code == 0, again.output
    assert "xmm: skipped - xmm 5XMM-DR15 is already held with the same content" \
        in again.stdout
    assert len(stand.requests) == asked  # the cached tiles answer: nothing asked again
    assert db_state(engine) == before

    forced = run_cli(monkeypatch, db_url, "--force")
    assert forced.exit_code == 0, forced.output
    assert summary(forced.stdout) == {"read": 1, "inserted": 0, "updated": 0,
                                      "unchanged": 1, "rejected": 0, "retired": 0}
    assert db_state(engine) == before
    with engine.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT status FROM livecat.ingest_run ORDER BY id")).scalars().all()
    assert runs == ["succeeded", "skipped", "succeeded"]


# --------------------------------------------------------------------------------------
# (4): a failing service
# --------------------------------------------------------------------------------------


def test_http_500_fails_with_one_error_line_and_writes_nothing(clean_tables, db_url,
                                                               monkeypatch, xamin, tmp_path):
    engine = clean_tables
    stand = xamin(fail_after=0)
    res = run_cli(monkeypatch, db_url)
    assert_error_line(res, stand.base + "/sync", "HTTP 500")
    assert len(stand.requests) == 1  # the first tile failed; no other tile was tried
    assert n_written(engine) == 0
    assert manifest(tmp_path)["done"] == {}


@pytest.mark.parametrize("how", ["short", "dropped"])
def test_truncated_votable_fails_with_one_error_line_and_writes_nothing(
        clean_tables, db_url, monkeypatch, xamin, tmp_path, how):
    """``short``: the server sends a cut document as a whole HTTP body; ``dropped``: it
    declares the full length and hangs up in the middle (a connection lost mid-answer).

    ``dropped`` fails until ingest/tap.py ``_post`` maps ``http.client.IncompleteRead``
    (an ``HTTPException``, not an ``OSError``) to a SourceError: the exception escapes
    ``handle_errors`` and the command ends in a traceback without an ``Error:`` line."""
    engine = clean_tables
    stand = xamin(truncate=how)
    res = run_cli(monkeypatch, db_url)
    assert_error_line(res, stand.base + "/sync")
    assert n_written(engine) == 0
    # the tiles answered before the cut one are kept; the cut one is not recorded
    done = manifest(tmp_path)["done"]
    cut = next(t for t in PLAN if t.contains(RA, DEC))
    assert cut.id not in done and len(done) == PLAN.index(cut)
    assert not list((tmp_path / "home").rglob(f"{cut.id}.vot"))


# --------------------------------------------------------------------------------------
# (5): resume of an interrupted fetch
# --------------------------------------------------------------------------------------


def test_interrupted_fetch_resumes_with_only_the_missing_tiles(clean_tables, db_url,
                                                               monkeypatch, xamin, tmp_path):
    engine = clean_tables
    holder = next(i for i, t in enumerate(PLAN) if t.contains(RA, DEC))
    k = holder + 1  # the interruption comes after the tile with the source
    assert k < len(PLAN)
    broken = xamin(fail_after=k)
    res = run_cli(monkeypatch, db_url)
    assert_error_line(res, "HTTP 500", "re-run to resume")
    first = {t.id for t in broken.tiles()}
    assert len(first) == k + 1  # k answered, then the failing one
    assert n_written(engine) == 0  # the fetched source is not loaded from a partial sky
    done = manifest(tmp_path)["done"]
    assert set(done) == {t.id for t in PLAN[:k]}

    healthy = xamin()
    res = run_cli(monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    second = [t.id for t in healthy.tiles()]
    assert set(second) == {t.id for t in PLAN[k:]} and len(second) == len(PLAN) - k
    assert not set(second) & set(done)  # nothing fetched twice
    assert summary(res.stdout)["inserted"] == 1
    sources, fluxes, releases = db_state(engine)
    assert [s["native_id"] for s in sources] == [SRCID] and len(fluxes) == 1
    assert releases == [("xmm", "5XMM-DR15", "complete")]
    assert len(manifest(tmp_path)["done"]) == len(PLAN)
