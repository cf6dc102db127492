"""ingest.csc_fetch: sky tiles, overflow splitting, resume and fallback (no network).

Two local stand-ins (http.server on 127.0.0.1, port 0, in a thread) answer TAP ``/sync``
POSTs the way the real services do:

* "CXC": ``SELECT <columns> FROM csc21.master_source WHERE <box>``. Answers are built
  from the rows of ``tests/data/csc/cxc_tap_master_csc21.vot`` (a CXC-format VOTable 1.4
  TABLEDATA answer) plus rows made from its last row with other names and positions
  (edges, corners, poles, RA wrap, a dense cluster). The header and FIELDs are the
  fixture's; only the TR elements change. More rows than ``MAXREC`` (or a box larger
  than a set size) gives the TAP 1.1 overflow form: the first ``MAXREC`` rows, then
  ``<INFO name="QUERY_STATUS" value="OVERFLOW"/>`` after the TABLE. ADQL geometry
  (CONTAINS/CIRCLE/POINT), an unknown table/column or an unparseable query gives a
  VOTable error document (``QUERY_STATUS=ERROR``, DALI 1.1) with HTTP 400.
* "HEASARC": ``SELECT * FROM csc WHERE <box>``: the recorded HEASARC answer
  ``../shared/samples/csc/heasarc_csc_3c273.vot`` (VOTable 1.4, BINARY) for the box that
  holds 3C 273, else the same document with an empty STREAM (zero rows).
"""

from __future__ import annotations

import json
import math
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from catalog.coords import angular_separation_deg
from catalog.errors import SourceError
from ingest import csc
from ingest import csc_fetch as F
from ingest import tiles as T
from ingest.tap import TapService, tap_sync

from conftest import sample_path
from helpers import DATA, TAP_BOX, tap_error_doc

CSC_DATA = DATA / "csc"
CXC_TEXT = (CSC_DATA / "cxc_tap_master_csc21.vot").read_text()
CXC_HEAD, _, _rest = CXC_TEXT.partition("<TABLEDATA>")
CXC_HEAD += "<TABLEDATA>\n"
CXC_ROWS = re.findall(r"<TR>.*?</TR>", CXC_TEXT, re.S)
CXC_FIELDS = re.findall(r'<FIELD name="([^"]+)"', CXC_TEXT)
THREE_C_273 = (187.277849, 2.052402)

# --------------------------------------------------------------------------------------
# Row pool of the CXC stand-in
# --------------------------------------------------------------------------------------


def designation(ra: float, dec: float) -> str:
    """A CSC-style name, 2CXO Jhhmmss.s+ddmmss (format only; values are made up)."""
    h = ra / 15.0
    hh, mm = int(h), int((h * 60) % 60)
    ss = (h * 3600) % 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    return (f"2CXO J{hh:02d}{mm:02d}{ss:04.1f}{sign}{int(d):02d}{int((d * 60) % 60):02d}"
            f"{int((d * 3600) % 60):02d}")


def make_row(ra: float, dec: float) -> str:
    """The fixture's last row with another name and position."""
    cells = re.findall(r"<TD>(.*?)</TD>", CXC_ROWS[-1], re.S)
    cells[:3] = [designation(ra, dec), repr(ra), repr(dec)]
    return "<TR>" + "".join(f"<TD>{c}</TD>" for c in cells) + "</TR>"


def row_position(row: str) -> tuple[str, float, float]:
    name, ra, dec = re.findall(r"<TD>(.*?)</TD>", row, re.S)[:3]
    return name, float(ra), float(dec)


BOUNDARY = [(0.0, 0.0), (30.0, 10.0), (0.0, 90.0), (359.9999999, 89.9), (180.0, -90.0),
            (90.0, -30.0), (32.72727272727273, 30.0), (0.0, -60.0)]
CLUSTER = [(200.1 + 0.07 * i, 45.1 + 0.05 * i) for i in range(12)]
POOL = CXC_ROWS + [make_row(ra, dec) for ra, dec in BOUNDARY + CLUSTER]
POOL_NAMES = sorted(row_position(r)[0] for r in POOL)
assert len(set(POOL_NAMES)) == len(POOL_NAMES)


# --------------------------------------------------------------------------------------
# The stand-in services
# --------------------------------------------------------------------------------------





def parse_box(query: str):
    """(table, columns, tile, inclusive-top) of a tile query, or None."""
    m = TAP_BOX.match(query.strip())
    if not m:
        return None
    tile = T.Tile(float(m["ra_lo"]), float(m["ra_hi"]), float(m["dec_lo"]),
                  float(m["dec_hi"]))
    return m["table"], [c.strip() for c in m["cols"].split(",")], tile, m["op"] == "<="


def in_box(ra, dec, tile: T.Tile, top_inclusive: bool) -> bool:
    """The service side of the predicate, evaluated from the parsed query."""
    upper = dec <= tile.dec_hi if top_inclusive else dec < tile.dec_hi
    return tile.ra_lo <= ra < tile.ra_hi and tile.dec_lo <= dec and upper


class CxcStandIn:
    """Answers like the CXC csc21 TAP service; may fail after some requests."""

    table = "csc21.master_source"

    def __init__(self, rows=POOL, fail_after=None, fail_status=500, max_box_deg=None):
        self.rows = [(row, *row_position(row)[1:]) for row in rows]
        self.fail_after = fail_after
        self.fail_status = fail_status
        self.max_box_deg = max_box_deg
        self.log = []  # (tile or None, status)
        self.ok = 0

    def __call__(self, path, params):
        if not path.endswith("/sync") or params.get("REQUEST") != "doQuery" \
                or params.get("LANG") != "ADQL":
            return 400, tap_error_doc("expected REQUEST=doQuery and LANG=ADQL on /sync")
        if self.fail_after is not None and self.ok >= self.fail_after:
            self.log.append((None, self.fail_status))
            return self.fail_status, b"<html><body>Internal Server Error</body></html>"
        query = params.get("QUERY", "")
        if re.search(r"\b(CONTAINS|CIRCLE|POINT|DISTANCE)\s*\(", query, re.I):
            return 400, tap_error_doc("ADQL geometry functions are not supported by this service")
        box = parse_box(query)
        if box is None:
            return 400, tap_error_doc(f"cannot parse query: {query[:80]}")
        table, cols, tile, top = box
        if table != self.table:
            return 400, tap_error_doc(f"table {table} does not exist")
        unknown = [c for c in cols if c != "*" and c not in CXC_FIELDS]
        if unknown:
            return 400, tap_error_doc(f"unknown column {unknown[0]}")
        self.ok += 1
        self.log.append((tile, 200))
        rows = [r for r, ra, dec in self.rows if in_box(ra, dec, tile, top)]
        maxrec = int(params.get("MAXREC", 10**9))
        size = max(tile.ra_hi - tile.ra_lo, tile.dec_hi - tile.dec_lo)
        too_big = self.max_box_deg is not None and size > self.max_box_deg
        overflow = len(rows) > maxrec or too_big
        body = CXC_HEAD + "\n".join(rows[:maxrec]) + "\n   </TABLEDATA></DATA>\n  </TABLE>\n"
        if overflow:
            body += '  <INFO name="QUERY_STATUS" value="OVERFLOW"/>\n'
        return 200, (body + " </RESOURCE>\n</VOTABLE>\n").encode()

    def tiles(self):
        return [t for t, status in self.log if status == 200]


class HeasarcStandIn:
    """Answers like HEASARC's csc table: the recorded 3C 273 answer, or an empty one."""

    def __init__(self):
        self.full = sample_path("csc", "heasarc_csc_3c273.vot").read_bytes()
        self.empty = re.sub(rb'(<STREAM encoding="base64">).*?(</STREAM>)', rb"\1\2",
                            self.full, flags=re.S)
        self.log = []

    def __call__(self, path, params):
        box = parse_box(params.get("QUERY", ""))
        if box is None or box[0] != "csc" or box[1] != ["*"]:
            return 400, tap_error_doc("cannot parse query")
        self.log.append(box[2])
        return 200, (self.full if in_box(*THREE_C_273, box[2], box[3]) else self.empty)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        status, body = self.server.responder(self.path, params)
        self.send_response(status)
        self.send_header("Content-Type", "application/x-votable+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def serve():
    """``serve(responder) -> base URL``; servers stop after the test."""
    servers = []

    def start(responder):
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.responder = responder
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/csctap"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def cxc_table(url, row_limit=50):
    return F.CscTable(TapService(url, "CXC stand-in", row_limit), "csc21.master_source",
                      F.CXC_COLUMNS, release="2.1")


def heasarc_table(url, row_limit=50):
    return F.CscTable(TapService(url, "HEASARC stand-in", row_limit), "csc", (),
                      release="2.1.1")


# --------------------------------------------------------------------------------------
# Tiles cover the sky exactly once
# --------------------------------------------------------------------------------------

STEPS = [(10, 10), (30, 30), (7, 13), (360, 180), (45, 20), (15, 7.5)]


def sphere_points(n, seed=1):
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return ra, dec


@pytest.mark.parametrize("ra_step,dec_step", STEPS)
def test_tiles_partition_the_sky(ra_step, dec_step):
    tiles = T.sky_tiles(ra_step, dec_step)
    ra, dec = sphere_points(20_000)
    # every tile corner and edge midpoint, the poles, RA just below 360
    corners = [(a, d) for t in tiles for a in (t.ra_lo, (t.ra_lo + t.ra_hi) / 2)
               for d in (t.dec_lo, (t.dec_lo + t.dec_hi) / 2, t.dec_hi) if a < 360]
    extra = [(0, 90), (0, -90), (359.9999999999, 0), (359.9999999999, 90), (180, -90)]
    ra = np.concatenate([ra, [a for a, _ in corners + extra]])
    dec = np.concatenate([dec, [d for _, d in corners + extra]])
    hits = sum(t.contains(ra, dec).astype(int) for t in tiles)
    assert hits.min() == 1 and hits.max() == 1
    # areas add up to the whole sphere (no overlap or gap of non-zero measure)
    area = sum(math.radians(t.ra_hi - t.ra_lo)
               * (math.sin(math.radians(t.dec_hi)) - math.sin(math.radians(t.dec_lo)))
               for t in tiles)
    assert area == pytest.approx(4 * math.pi, rel=1e-12)
    # no box crosses RA 0; each band is cut into consecutive RA boxes from 0 to 360
    bands = {}
    for t in tiles:
        bands.setdefault((t.dec_lo, t.dec_hi), []).append(t)
    for band in bands.values():
        band.sort(key=lambda t: t.ra_lo)
        assert band[0].ra_lo == 0 and band[-1].ra_hi == 360
        assert all(a.ra_hi == b.ra_lo for a, b in zip(band, band[1:]))
    assert len({t.id for t in tiles}) == len(tiles)


def test_polar_tiles_are_not_slivers():
    tiles = T.sky_tiles(10, 10)
    top = [t for t in tiles if t.dec_hi == 90]
    equator = [t for t in tiles if t.dec_lo == 0]
    assert len(equator) == 36 and 1 <= len(top) < 10
    # a polar box covers a sizeable fraction of an equatorial box's sky area, never more
    # (a plain 10 x 10 degree box at the pole would cover less than a tenth of it)
    def area(t):
        return math.radians(t.ra_hi - t.ra_lo) * (math.sin(math.radians(t.dec_hi))
                                                  - math.sin(math.radians(t.dec_lo)))
    assert area(T.Tile(0, 10, 80, 90)) / area(equator[0]) < 0.1
    assert 0.25 < area(top[0]) / area(equator[0]) <= 1


def test_split_partitions_the_tile():
    for tile in (T.Tile(0, 10, 80, 90), T.Tile(350, 360, -90, -80), T.Tile(10, 20, 0, 10)):
        kids = tile.split()
        ra, dec = np.meshgrid(np.linspace(tile.ra_lo, tile.ra_hi, 41)[:-1],
                              np.linspace(tile.dec_lo, tile.dec_hi, 41))
        ra, dec = ra.ravel(), dec.ravel()
        inside = tile.contains(ra, dec)
        hits = sum(k.contains(ra, dec).astype(int) for k in kids)
        assert np.array_equal(hits, inside.astype(int))


def test_adql_uses_half_open_comparisons_not_geometry():
    adql = F.tile_adql(T.Tile(120.0, 130.0, 30.0, 40.0), F.CXC_MASTER)
    assert adql.startswith("SELECT name, ra, dec, err_ellipse_r0")
    assert adql.endswith("FROM csc21.master_source WHERE ra >= 120.0 AND ra < 130.0 "
                         "AND dec >= 30.0 AND dec < 40.0")
    assert not re.search(r"CONTAINS|CIRCLE|POINT|BETWEEN", adql)
    top = F.tile_adql(T.Tile(0.0, 90.0, 80.0, 90.0), F.HEASARC_CSC)
    assert top == ("SELECT * FROM csc WHERE ra >= 0.0 AND ra < 90.0 "
                   "AND dec >= 80.0 AND dec <= 90.0")


def test_cxc_columns_are_the_master_source_columns_the_parser_reads():
    assert sorted(F.CXC_COLUMNS) == sorted(CXC_FIELDS)


# --------------------------------------------------------------------------------------
# Region (cone) planning
# --------------------------------------------------------------------------------------


def test_tile_distance_matches_brute_force():
    rng = np.random.default_rng(7)
    tiles = T.sky_tiles(30, 20)
    for _ in range(60):
        t = tiles[rng.integers(len(tiles))]
        ra0, dec0 = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))
        gra, gdec = np.meshgrid(np.linspace(t.ra_lo, t.ra_hi, 301),
                                np.linspace(t.dec_lo, t.dec_hi, 301))
        brute = angular_separation_deg(ra0, dec0, gra, gdec).min()
        exact = T.tile_distance_deg(t, ra0, dec0)
        assert exact <= brute + 1e-9
        assert brute - exact < 0.2  # grid spacing bound


@pytest.mark.parametrize("cone", [(187.28, 2.05, 0.5), (359.5, 0.3, 2.0), (10.0, 88.0, 3.0),
                                  (200.0, -89.5, 1.0), (95.0, 30.0, 25.0)])
def test_region_selects_exactly_the_overlapping_tiles(cone):
    ra0, dec0, radius = cone
    chosen = T.plan_tiles(10, 10, cone)
    all_tiles = T.sky_tiles(10, 10)
    ids = {t.id for t in chosen}
    assert ids <= {t.id for t in all_tiles}
    ra, dec = sphere_points(200_000, seed=3)
    near = angular_separation_deg(ra0, dec0, ra, dec) <= radius
    for t in all_tiles:
        has_inside = bool((t.contains(ra, dec) & near).any())
        if has_inside:
            assert t.id in ids
    for t in chosen:
        assert T.tile_distance_deg(t, ra0, dec0) <= radius + 1e-9
    if dec0 + radius >= 90 or dec0 - radius <= -90:  # a cone over a pole takes the whole cap
        pole_band = [t for t in all_tiles if (t.dec_hi == 90 if dec0 > 0 else t.dec_lo == -90)]
        assert {t.id for t in pole_band} <= ids


def test_bad_region_and_steps_are_input_errors():
    from catalog.errors import InputError
    with pytest.raises(InputError, match="RADIUS"):
        T.plan_tiles(10, 10, (10, 95, 1))
    with pytest.raises(InputError):
        T.plan_tiles(10, 10, (10, 5))
    with pytest.raises(InputError, match="tile steps"):
        T.plan_tiles(0, 10)


# --------------------------------------------------------------------------------------
# Fetching: splitting, resume, fallback, errors
# --------------------------------------------------------------------------------------


def read_manifest(cache, release="2.1"):
    return json.loads((cache / "csc" / release / "manifest.json").read_text())


def test_whole_sky_fetch_splits_overflowing_tiles(serve, tmp_path):
    cxc = CxcStandIn()
    url = serve(cxc)
    paths = F.fetch_tiles("2.1", ra_step_deg=30, dec_step_deg=30,
                          tables=[cxc_table(url, row_limit=5)], cache_dir=tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest["split"], "the 12-source cluster must overflow MAXREC=5 and be split"
    # every overflowing box was asked again as its four quarters
    asked = cxc.tiles()
    for parent_id, kids in manifest["split"].items():
        parent = next(t for t in asked if t.id == parent_id)
        assert {k.id for k in parent.split()} == set(kids)
        assert set(kids) <= {t.id for t in asked}
    assert len(asked) == len(T.sky_tiles(30, 30)) + 4 * len(manifest["split"])
    df = F.read_tiles(paths)
    assert sorted(df["name"]) == POOL_NAMES  # every source exactly once
    assert df.attrs["dropped_duplicates"] == 0
    assert all(p.parent == tmp_path / "csc" / "2.1" / "tiles" and p.suffix == ".vot"
               for p in paths)
    assert sum(e["rows"] for e in manifest["done"].values()) == len(POOL)
    assert {e["service"] for e in manifest["done"].values()} == {"CXC stand-in"}
    # the rows normalize like any CSC input
    norm = csc.normalize(df, release="2.1")
    assert norm.n_read == len(POOL)


def test_box_size_limit_also_splits(serve, tmp_path):
    cxc = CxcStandIn(max_box_deg=100)
    url = serve(cxc)
    paths = F.fetch_tiles("2.1", ra_step_deg=360, dec_step_deg=180,
                          tables=[cxc_table(url)], cache_dir=tmp_path)
    leaves = [e["bounds"] for e in read_manifest(tmp_path)["done"].values()]
    assert len(leaves) == len(paths) > 1
    assert len(leaves) == 16  # 360 x 180 -> 180 x 90 -> 90 x 45
    assert all(max(ra_hi - ra_lo, dec_hi - dec_lo) <= 100
               for ra_lo, ra_hi, dec_lo, dec_hi in leaves)
    assert sorted(F.read_tiles(paths)["name"]) == POOL_NAMES


def test_interrupted_fetch_resumes_with_only_the_missing_tiles(serve, tmp_path):
    broken = CxcStandIn(fail_after=20)
    url1 = serve(broken)
    with pytest.raises(SourceError) as info:
        F.fetch_tiles("2.1", ra_step_deg=30, dec_step_deg=30,
                      tables=[cxc_table(url1, row_limit=5)], fallback=False,
                      cache_dir=tmp_path)
    assert url1 + "/sync" in str(info.value) and "HTTP 500" in str(info.value)
    assert "re-run to resume" in str(info.value)
    first = {t.id for t in broken.tiles()}
    assert len(first) == 20
    manifest = read_manifest(tmp_path)
    assert set(manifest["done"]) | set(manifest["split"]) == first

    healthy = CxcStandIn()
    url2 = serve(healthy)
    paths = F.fetch_tiles("2.1", ra_step_deg=30, dec_step_deg=30,
                          tables=[cxc_table(url2, row_limit=5)], cache_dir=tmp_path)
    second = [t.id for t in healthy.tiles()]
    assert not set(second) & first  # nothing fetched twice
    plan = T.sky_tiles(30, 30)
    splits = read_manifest(tmp_path)["split"]
    assert len(first) + len(second) == len(plan) + 4 * len(splits)
    assert sorted(F.read_tiles(paths)["name"]) == POOL_NAMES

    # a third run asks nothing; a lost tile file is fetched again, alone
    again = CxcStandIn()
    url3 = serve(again)
    table3 = [cxc_table(url3, row_limit=5)]
    assert F.fetch_tiles("2.1", ra_step_deg=30, dec_step_deg=30, tables=table3,
                         cache_dir=tmp_path) == paths
    assert again.tiles() == []
    paths[3].unlink()
    F.fetch_tiles("2.1", ra_step_deg=30, dec_step_deg=30, tables=table3, cache_dir=tmp_path)
    assert [t.id + ".vot" for t in again.tiles()] == [paths[3].name]


def test_fallback_to_heasarc_when_the_primary_fails(serve, tmp_path):
    cxc = CxcStandIn(fail_after=0)
    heasarc = HeasarcStandIn()
    tables = [cxc_table(serve(cxc)), heasarc_table(serve(heasarc))]
    events = []
    region = (189.0, 3.0, 2.5)  # overlaps two 10-degree tiles, one holding 3C 273
    paths = F.fetch_tiles("2.1", region=region, tables=tables, cache_dir=tmp_path,
                          progress=lambda tile, event: events.append(event))
    assert len(paths) == 2 and len(heasarc.log) == 2
    assert len(cxc.log) == 1  # after one failure the run stays on the fallback
    assert events.count("fallback") == 1 and events.count("fetched") == 2
    done = read_manifest(tmp_path)["done"]
    assert {e["service"] for e in done.values()} == {"HEASARC stand-in"}
    assert {e["release"] for e in done.values()} == {"2.1.1"}
    df = F.read_tiles(paths, region=region)
    assert list(df["name"]) == ["2CXO J122906.6+020308"]
    assert "err_ellipse_r0" in df.columns  # HEASARC names mapped by ingest.csc.parse
    assert F.read_tiles(paths, region=(10.0, 10.0, 1.0)).empty


def test_fallback_can_be_disabled_and_both_failures_are_reported(serve, tmp_path):
    primary = cxc_table(serve(CxcStandIn(fail_after=0)))
    second = cxc_table(serve(CxcStandIn(fail_after=0, fail_status=503)))
    heasarc = HeasarcStandIn()
    with pytest.raises(SourceError, match="HTTP 500"):
        F.fetch_tiles("2.1", region=THREE_C_273 + (0.1,),
                      tables=[primary, heasarc_table(serve(heasarc))], fallback=False,
                      cache_dir=tmp_path)
    assert heasarc.log == []
    with pytest.raises(SourceError) as info:
        F.fetch_tiles("2.1", region=THREE_C_273 + (0.1,), tables=[primary, second],
                      cache_dir=tmp_path)
    msg = str(info.value)
    assert primary.service.sync_url in msg and second.service.sync_url in msg
    assert "HTTP 500" in msg and "HTTP 503" in msg


def test_service_rejects_cone_queries_with_its_message(serve):
    url = serve(CxcStandIn())
    cone = ("SELECT name FROM csc21.master_source WHERE 1 = CONTAINS("
            "POINT('ICRS', ra, dec), CIRCLE('ICRS', 187.28, 2.05, 0.1))")
    with pytest.raises(SourceError) as info:
        tap_sync(url, cone)
    assert url + "/sync" in str(info.value)
    assert "ADQL geometry functions are not supported by this service" in str(info.value)


def test_fetch_error_names_url_and_service_message(serve, tmp_path):
    url = serve(CxcStandIn())
    bad_table = F.CscTable(TapService(url, "CXC stand-in", 50), "csc2.master_source",
                           F.CXC_COLUMNS)
    with pytest.raises(SourceError) as info:
        F.fetch_tiles("2.1", region=(10, 10, 1), tables=[bad_table], fallback=False,
                      cache_dir=tmp_path)
    msg = str(info.value)
    assert url + "/sync" in msg and "table csc2.master_source does not exist" in msg
    assert "CXC stand-in" in msg and "CSC tile ra0000.000000-0010.000000" in msg


# VOTable 1.4 answer with QUERY_STATUS=OK but without the master-source columns.
NO_NAME_COLUMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
 <RESOURCE type="results">
  <INFO name="QUERY_STATUS" value="OK"/>
  <TABLE><FIELD name="foo" datatype="int"/>
   <DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA>
  </TABLE>
 </RESOURCE>
</VOTABLE>
"""


def test_unreadable_answer_counts_as_a_failure_and_falls_back(serve, tmp_path):
    url = serve(lambda path, params: (200, NO_NAME_COLUMN))
    heasarc = HeasarcStandIn()
    events = []
    paths = F.fetch_tiles("2.1", region=THREE_C_273 + (0.1,),
                          tables=[cxc_table(url), heasarc_table(serve(heasarc))],
                          cache_dir=tmp_path, progress=lambda t, e: events.append(e))
    assert events == ["fallback", "fetched"] and len(paths) == 1
    assert list(F.read_tiles(paths)["name"]) == ["2CXO J122906.6+020308"]
    with pytest.raises(SourceError, match="not a readable CSC table") as info:
        F.fetch_tiles("2.1", region=(10, 10, 1), tables=[cxc_table(url)],
                      cache_dir=tmp_path)
    assert url + "/sync" in str(info.value)


def test_tile_that_never_stops_overflowing_is_an_error(serve, tmp_path):
    row = make_row(50.0, 50.0)
    same_place = [row.replace(designation(50.0, 50.0), f"2CXO J0320{i:02d}.0+500000")
                  for i in range(6)]
    url = serve(CxcStandIn(rows=same_place))
    with pytest.raises(SourceError, match="still overflows after 2 splits"):
        F.fetch_tiles("2.1", region=(50.0, 50.0, 0.01), tables=[cxc_table(url, row_limit=5)],
                      cache_dir=tmp_path, max_depth=2)


def test_read_tiles_drops_sources_repeated_across_tiles(tmp_path):
    a, b = tmp_path / "a.vot", tmp_path / "b.vot"
    a.write_text(CXC_TEXT)
    b.write_text(CXC_TEXT)
    df = F.read_tiles([a, b])
    assert len(df) == 4 and df.attrs["dropped_duplicates"] == 4 and df.attrs["tiles"] == 2


def test_bad_manifest_is_a_clear_error(tmp_path):
    out = tmp_path / "csc" / "2.1"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(SourceError, match="manifest.json: cannot read the CSC fetch manifest"):
        F.fetch_tiles("2.1", region=(10, 10, 1), cache_dir=tmp_path)
