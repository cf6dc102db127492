"""`livecat ingest csc|xmm|erass1|2sxps|lsxps` end to end into PostgreSQL (no network).

Inputs: format-faithful fixtures (XMM slim FITS from ``ingest.write_slim_fits_fixture``,
eRASS1 FITS from ``ingest.write_fits_fixture``, the CXC TAP VOTable and the Swift
CSV excerpts under ``tests/data``), the real CSC 2.0 samples in ``../shared/samples/csc``,
and recorded remote answers served by a local http.server (a FITS download with ETag
then 304; TAP ``/sync`` VOTable pages for the tiled CSC fetch).
"""

from __future__ import annotations

import gzip
import io
import re
import signal
import subprocess
import sys
import tarfile
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits
from helpers import DATA, PAUSE_RUNNER, LocalServer, TAP_BOX, sample_path, use_private_home
from xray_fixtures import write_slim_fits_fixture, write_fits_fixture
from test_fetch import RecordedServer
from typer.testing import CliRunner

from catalog.errors import LivecatError
from ingest import csc_fetch as F
from ingest import xmm
from ingest.tap import TapService
from catalog.coords import Region
from ingest.cli import app as ingest_app
from ingest.pipeline import ingest as ingest_xray
from ingest.registry import REGISTRY

CSC_VOT = DATA / "csc" / "cxc_tap_master_csc21.vot"
SXPS_2 = DATA / "sxps" / "2SXPS_Sources_excerpt.csv"
SXPS_L = DATA / "sxps" / "LSXPS_Sources_excerpt.csv"


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """A private LIVECAT_HOME (download and TAP caches) and no proxy for local servers."""
    use_private_home(tmp_path, monkeypatch)


def invoke(args, monkeypatch, url):
    """``livecat ingest ARGS``."""
    monkeypatch.setenv("LIVECAT_DATABASE_URL", url)
    return CliRunner().invoke(ingest_app, args)


def counts(engine, catalog):
    with engine.connect() as conn:
        n, cur = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE is_current) FROM livecat.xray_source "
            "WHERE catalog = :c"), {"c": catalog}).one()
        nf = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.xray_flux f JOIN livecat.xray_source s "
            "ON s.id = f.source_id WHERE s.catalog = :c"), {"c": catalog}).scalar()
    return n, cur, nf


def n_written(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM livecat.xray_source) + "
            "(SELECT count(*) FROM livecat.xray_flux) + "
            "(SELECT count(*) FROM livecat.catalog_release) + "
            "(SELECT count(*) FROM livecat.ingest_run WHERE status = 'succeeded')")).scalar()


# --------------------------------------------------------------------------------------
# Fixture builders
# --------------------------------------------------------------------------------------

def xmm_release2(src: Path, dst: Path) -> dict:
    """A changed second XMM release: 10 rows gone, 5 fluxes changed, 3 new sources."""
    from astropy.table import Table, vstack

    t = Table.read(src, hdu=1)
    gone = [str(x) for x in t["SRCID"][:10]]
    changed = [str(x) for x in t["SRCID"][10:15]]
    t["SC_EP_8_FLUX"][10:15] *= 2.0
    new = t[15:18].copy()
    new["SRCID"] += 900_000_000
    new["SC_DEC"] = -np.clip(np.asarray(new["SC_DEC"]) + 20.0, -89.0, 89.0)
    out = vstack([t[10:], new])
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(out)]).writeto(dst, overwrite=True)
    return {"gone": gone, "changed": changed, "new": [str(x) for x in new["SRCID"]]}


def erass_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append({"IAUNAME": f"1eRASS J{i:06d}.0-{i:06d}", "UID": 100000000000 + i + offset,
                     "DETUID": f"eb01_{i:06d}", "SKYTILE": 1000 + i, "ID_SRC": i + 1,
                     "RA": 10.0 + 0.5 * i, "DEC": -30.0 + 0.3 * i, "POS_ERR": 2.0 + 0.1 * i,
                     "RADEC_ERR": 3.0, "EXT": 0.0, "EXT_LIKE": 0.0, "DET_LIKE_0": 20.0 + i,
                     "ML_FLUX_1": 1e-13 * (i + 1), "ML_FLUX_ERR_1": 1e-14,
                     "ML_RATE_1": 0.1 * (i + 1), "ML_RATE_ERR_1": 0.01,
                     "ML_CTS_1": 10.0 * (i + 1), "ML_CTS_ERR_1": 2.0, "ML_EXP_1": 200.0})
    return rows


def tar_gz(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fixture_for(key: str, tmp: Path) -> Path:
    """A valid small input of each catalog."""
    if key == "xmm":
        return write_slim_fits_fixture(tmp / "xmm.fits", 60, seed=3)
    if key == "erass1":
        return write_fits_fixture(tmp / "erass1.fits", erass_rows(6))
    if key == "csc":
        return CSC_VOT
    # the Swift tables are distributed gzipped: a truncated download is a cut gzip stream
    src = SXPS_2 if key == "2sxps" else SXPS_L
    out = tmp / (src.stem + ".csv.gz")
    out.write_bytes(gzip.compress(src.read_bytes()))
    return out


# --------------------------------------------------------------------------------------
# XMM: end to end, no-op re-ingest, a changed second release, a region
# --------------------------------------------------------------------------------------

def test_xmm_end_to_end_and_reingest_is_a_noop(clean_tables, db_url, monkeypatch, tmp_path):
    engine = clean_tables
    path = write_slim_fits_fixture(tmp_path / "slim.fits", 500, seed=1)
    res = invoke(["xmm", "--file", str(path), "--release", "4XMM-DR13"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    n, cur, nf = counts(engine, "xmm")
    assert n == cur == 500
    # every native band with its keV edges (NaN fluxes are kept as NULL rows or dropped)
    with engine.connect() as conn:
        bands = dict(conn.execute(sa.text(
            "SELECT band, min(band_lo_kev)::text || '-' || max(band_hi_kev)::text "
            "FROM livecat.xray_flux GROUP BY band")).all())
    assert bands == {"1": "0.2-0.5", "2": "0.5-1", "3": "1-2", "4": "2-4.5", "5": "4.5-12",
                     "8": "0.2-12", "9": "0.5-4.5"}
    # same file again: skipped (same checksum); forced: 0 inserted, 0 updated
    again = ingest_xray(engine, "xmm", file=path, release="4XMM-DR13")
    assert again.status == "skipped"
    forced = ingest_xray(engine, "xmm", file=path, release="4XMM-DR13", force=True)
    assert (forced.n_inserted, forced.n_updated, forced.n_retired) == (0, 0, 0)
    assert forced.n_unchanged == 500
    assert counts(engine, "xmm") == (n, cur, nf)


def test_xmm_second_release_updates_and_retires(clean_tables, tmp_path):
    engine = clean_tables
    one = write_slim_fits_fixture(tmp_path / "dr13.fits", 300, seed=2)
    two = tmp_path / "dr14.fits"
    change = xmm_release2(one, two)
    first = ingest_xray(engine, "xmm", file=one, release="4XMM-DR13")
    assert first.n_inserted == 300
    with engine.connect() as conn:
        ids_before = dict(conn.execute(sa.text(
            "SELECT native_id, id FROM livecat.xray_source")).all())
    second = ingest_xray(engine, "xmm", file=two, release="4XMM-DR14", chunk_rows=70,
                         complete_release=True)
    assert (second.n_inserted, second.n_updated, second.n_retired, second.n_unchanged) == \
        (3, 5, 10, 285)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text(
            "SELECT native_id, is_current FROM livecat.xray_source")).all())
        hist = conn.execute(sa.text(
            "SELECT change, count(*) FROM livecat.source_history GROUP BY change")).all()
        ids_after = dict(conn.execute(sa.text(
            "SELECT native_id, id FROM livecat.xray_source")).all())
    assert all(rows[g] is False for g in change["gone"])
    assert all(rows[c] for c in change["changed"] + change["new"])
    assert dict(hist) == {"updated": 5, "retired": 10}
    assert all(ids_after[k] == v for k, v in ids_before.items())  # nothing deleted or re-keyed
    with engine.connect() as conn:
        orphan = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.xray_source s WHERE NOT EXISTS (SELECT 1 FROM "
            "livecat.xray_flux f WHERE f.source_id = s.id)")).scalar()
    assert orphan == 0


def test_xmm_region_is_partial_and_retires_only_inside_it(clean_tables, tmp_path):
    engine = clean_tables
    path = write_slim_fits_fixture(tmp_path / "slim.fits", 2000, seed=5)
    full = ingest_xray(engine, "xmm", file=path, release="4XMM-DR13", complete_release=True)
    assert full.n_inserted == 2000
    part = write_slim_fits_fixture(tmp_path / "part.fits", 2000, seed=6)
    region = Region(180.0, 0.0, 30.0 * 3600.0)
    with engine.connect() as conn:
        held = conn.execute(sa.text("SELECT native_id, ra, dec FROM livecat.xray_source")).all()
    new = xmm.parse(part)
    new_inside = {str(n) for n, ra, dec in zip(new["SRCID"], new["SC_RA"], new["SC_DEC"])
                  if region.contains(ra, dec)}
    inside = {n for n, ra, dec in held if region.contains(ra, dec)} - new_inside
    # another sky: most held sources inside the cone are absent, >5% of the catalog:
    # refused without --allow-mass-retire (nothing written) ...
    with pytest.raises(LivecatError, match="allow-mass-retire"):
        ingest_xray(engine, "xmm", file=part, release="4XMM-DR14", region=region)
    res = ingest_xray(engine, "xmm", file=part, release="4XMM-DR14", region=region,
                      allow_mass_retire=True)
    # ... and allowed, it retires exactly the held sources inside the cone
    assert res.n_retired == len(inside) > 0 and 0 < res.n_read < 2000
    with engine.connect() as conn:
        state = conn.execute(sa.text(
            "SELECT state FROM livecat.catalog_release WHERE version = '4XMM-DR14'")).scalar()
        retired = {r[0] for r in conn.execute(sa.text(
            "SELECT native_id FROM livecat.xray_source WHERE NOT is_current"))}
    assert state == "partial" and retired == inside


# --------------------------------------------------------------------------------------
# CSC: real samples, renames, the TAP path
# --------------------------------------------------------------------------------------

def test_csc_real_samples(clean_tables, db_url, monkeypatch):
    engine = clean_tables
    per = sample_path("csc", "NGC3532_conesearch.csv")
    ave = sample_path("csc", "NGC3532_ave.csv")
    res = invoke(["csc", "--file", str(per), "--release", "2.0"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    with engine.connect() as conn:
        run = conn.execute(sa.text(
            "SELECT n_read, n_inserted, n_rejected FROM livecat.ingest_run "
            "WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1")).one()
    assert run.n_read == 389 and run.n_inserted + run.n_rejected == 389
    second = ingest_xray(engine, "csc", file=ave, release="2.0-ave", complete_release=True)
    assert second.n_read == 373
    assert second.n_inserted + second.n_updated + second.n_unchanged + second.n_rejected == 373
    n, cur, _ = counts(engine, "csc")
    assert cur == 373 - second.n_rejected
    assert second.n_retired == run.n_inserted - (373 - second.n_rejected - second.n_inserted)


def test_csc_rename_keeps_the_livecat_id(clean_tables, tmp_path):
    engine = clean_tables
    first = ingest_xray(engine, "csc", file=CSC_VOT, release="2.1")
    assert first.n_inserted >= 2
    text = CSC_VOT.read_text()
    old = re.findall(r"<TR>\s*<TD>(.*?)</TD>", text, re.DOTALL)[0]
    new = old[:-1] + ("X" if old[-1] != "X" else "Y")
    renamed = tmp_path / "csc211.vot"
    renamed.write_text(text.replace(f"<TD>{old}</TD>", f"<TD>{new}</TD>", 1))
    with engine.connect() as conn:
        old_id = conn.execute(sa.text(
            "SELECT id FROM livecat.xray_source WHERE native_id = :n"), {"n": old}).scalar()
    second = ingest_xray(engine, "csc", file=renamed, release="2.1.1", complete_release=True)
    assert second.n_renamed == 1 and second.n_inserted == 0 and second.n_retired == 0
    with engine.connect() as conn:
        now = conn.execute(sa.text(
            "SELECT id, name, is_current FROM livecat.xray_source WHERE native_id = :n"),
            {"n": new}).one()
        alias = conn.execute(sa.text(
            "SELECT source_id, native_id FROM livecat.xray_source_alias")).all()
    assert now.id == old_id and now.is_current
    assert [tuple(a) for a in alias] == [(old_id, old)]




class TapStandIn(LocalServer):
    path = "/csc21tap"
    """A CXC-like TAP ``/sync``: answers each tile query with the fixture's rows in the box
    (the fixture's header and FIELDs, only the TR elements change)."""

    def __init__(self, vot_text: str):
        head, _, rest = vot_text.partition("<TABLEDATA>")
        self.head = head + "<TABLEDATA>\n"
        self.tail = "</TABLEDATA>" + rest.partition("</TABLEDATA>")[2]
        self.rows = re.findall(r"<TR>.*?</TR>", vot_text, re.DOTALL)
        self.queries: list[str] = []
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                query = form.get("QUERY", [""])[0]
                stand.queries.append(query)
                m = TAP_BOX.match(query.strip())
                rows = []
                if m:
                    for row in stand.rows:
                        cells = re.findall(r"<TD>(.*?)</TD>", row, re.DOTALL)
                        ra, dec = float(cells[1]), float(cells[2])
                        top = dec <= float(m["dec_hi"]) if m["op"] == "<=" else \
                            dec < float(m["dec_hi"])
                        if float(m["ra_lo"]) <= ra < float(m["ra_hi"]) and \
                                float(m["dec_lo"]) <= dec and top:
                            rows.append(row)
                body = (stand.head + "\n".join(rows) + "\n" + stand.tail).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-votable+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.start_with(Handler)


def test_csc_remote_tap_tiles_then_release_held(clean_tables, tmp_path):
    engine = clean_tables
    with TapStandIn(CSC_VOT.read_text()) as stand:
        table = F.CscTable(TapService(stand.base, "stand-in CXC", row_limit=1000),
                           "csc21.master_source", F.CXC_COLUMNS, release="2.1")
        opts = dict(tables=(table,), cache_dir=tmp_path / "tap", ra_step_deg=90.0,
                    dec_step_deg=60.0)
        from ingest.progress import Reporter

        res = ingest_xray(engine, "csc", release="2.1", reporter=Reporter(interactive=False),
                          **opts)
        n_rows = len(re.findall(r"<TR>", CSC_VOT.read_text()))
        assert res.status == "succeeded" and res.n_read == n_rows
        assert res.n_inserted + res.n_rejected == n_rows
        assert len(stand.queries) > 1 and all("master_source" in q for q in stand.queries)
        # the tiles are cached: a second run asks nothing and finds the release held
        asked = len(stand.queries)
        again = ingest_xray(engine, "csc", release="2.1", **opts)
        assert again.status == "skipped" and len(stand.queries) == asked
        # a region: only the overlapping tiles, a partial load
        part = ingest_xray(engine, "csc", release="2.1", region=Region(0.0, -89.0, 5 * 3600.0),
                           **{**opts, "cache_dir": tmp_path / "tap2"})
        assert part.status == "succeeded" and part.n_retired == 0


# --------------------------------------------------------------------------------------
# eRASS1: FITS in a tar.gz over HTTP with ETag, then 304 -> skipped
# --------------------------------------------------------------------------------------

def test_erass1_remote_download_etag_then_304(clean_tables, tmp_path):
    engine = clean_tables
    fits_path = write_fits_fixture(tmp_path / "eRASS1_Main.v1.1.fits", erass_rows(8))
    body = tar_gz("eRASS1_Main.v1.1.fits", fits_path.read_bytes())
    route = "/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/eRASS1_Main.tar.gz"
    with RecordedServer({route: (body, '"main-v1.1"')}) as server:
        url = server.base + route
        res = ingest_xray(engine, "erass1", url=url)
        assert res.status == "succeeded" and res.n_inserted == 8 and res.version == "DR1"
        again = ingest_xray(engine, "erass1", url=url)
        assert again.status == "skipped" and "304" in again.note
        assert server.requests[-1][1].get("If-None-Match") == '"main-v1.1"'
    n, cur, nf = counts(engine, "erass1")
    assert n == cur == 8 and nf > 0
    with engine.connect() as conn:
        meta = conn.execute(sa.text(
            "SELECT remote_meta->>'etag' FROM livecat.catalog_release")).scalar()
    assert meta == '"main-v1.1"'


def test_erass1_second_release_and_noop(clean_tables, tmp_path):
    engine = clean_tables
    one = write_fits_fixture(tmp_path / "a.fits", erass_rows(6))
    rows = erass_rows(6)[2:]
    rows[0]["ML_FLUX_1"] = 9e-12
    rows += erass_rows(1, offset=50)
    rows[-1]["RA"], rows[-1]["IAUNAME"] = 200.0, "1eRASS J133000.0-300000"
    two = write_fits_fixture(tmp_path / "b.fits", rows)
    assert ingest_xray(engine, "erass1", file=one, release="DR1").n_inserted == 6
    again = ingest_xray(engine, "erass1", file=one, release="DR1", force=True)
    assert (again.n_inserted, again.n_updated) == (0, 0)
    res = ingest_xray(engine, "erass1", file=two, release="DR1.1", complete_release=True)
    assert (res.n_inserted, res.n_updated, res.n_retired) == (1, 1, 2)


# --------------------------------------------------------------------------------------
# 2SXPS / LSXPS: two key spaces
# --------------------------------------------------------------------------------------

def test_2sxps_and_lsxps_never_overwrite_each_other(clean_tables, db_url, monkeypatch):
    engine = clean_tables
    a = invoke(["2sxps", "--file", str(SXPS_2)], monkeypatch, db_url)
    b = invoke(["lsxps", "--file", str(SXPS_L), "--release", "LSXPS-2026-11-25"],
               monkeypatch, db_url)
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    n2, n2c, _ = counts(engine, "2sxps")
    nl, nlc, _ = counts(engine, "lsxps")
    assert n2 == n2c == 3 and nl == nlc == 2
    # re-ingest of each: 0 changes, the other untouched
    r = ingest_xray(engine, "2sxps", file=SXPS_2, release="2SXPS", force=True)
    assert (r.n_inserted, r.n_updated, r.n_retired) == (0, 0, 0)
    assert counts(engine, "lsxps")[:2] == (2, 2)
    # an LSXPS file cannot be loaded as 2SXPS
    bad = invoke(["2sxps", "--file", str(SXPS_L)], monkeypatch, db_url)
    assert bad.exit_code == 1
    assert str(SXPS_L) in bad.stderr and "2SXPS_ID" in bad.stderr


def test_sxps_second_release_retires(clean_tables, tmp_path):
    engine = clean_tables
    lines = SXPS_2.read_text().splitlines()
    two = tmp_path / "2sxps_b.csv"
    two.write_text("\n".join([lines[0], lines[1].replace(",0.0421,", ",0.0521,"),
                              lines[2]]) + "\n")
    ingest_xray(engine, "2sxps", file=SXPS_2, release="2SXPS")
    res = ingest_xray(engine, "2sxps", file=two, release="2SXPS-b", complete_release=True)
    assert (res.n_inserted, res.n_updated, res.n_retired, res.n_unchanged) == (0, 1, 1, 1)


# --------------------------------------------------------------------------------------
# Malformed input: fails naming the file, writes nothing
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [k for k, s in REGISTRY.items() if s.kind == "xray"])
@pytest.mark.parametrize("problem", ["truncated", "wrong_format", "missing_column"])
def test_malformed_input_fails_and_writes_nothing(clean_tables, db_url, monkeypatch, tmp_path,
                                                  key, problem):
    engine = clean_tables
    good = fixture_for(key, tmp_path)
    bad = tmp_path / f"bad_{problem}{good.suffix}"
    data = good.read_bytes()
    if problem == "truncated":
        bad.write_bytes(data[:len(data) // 2 + 7])
    elif problem == "wrong_format":
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    else:
        bad.write_text("foo,bar,baz\n1,2,3\n4,5,6\n")
    before = n_written(engine)
    res = invoke([key, "--file", str(bad), "--release", "R1"], monkeypatch, db_url)
    assert res.exit_code == 1, res.output
    err = res.stderr.strip().splitlines()[-1]  # progress lines come first
    assert err.startswith("Error: ") and str(bad) in err, res.stderr
    assert n_written(engine) == before == 0


# --------------------------------------------------------------------------------------
# SIGKILL mid-load
# --------------------------------------------------------------------------------------

def test_sigkill_mid_xray_load_leaves_database_unchanged(clean_tables, db_url, tmp_path):
    from test_ingest_literature import _wait_for_marker
    from test_load import snapshot

    engine = clean_tables
    one = write_slim_fits_fixture(tmp_path / "a.fits", 400, seed=7)
    two = tmp_path / "b.fits"
    xmm_release2(one, two)
    ingest_xray(engine, "xmm", file=one, release="4XMM-DR13")
    before = snapshot(engine, skip=())
    code = ("import sys; from catalog.engine import create_engine; "
            "from ingest.pipeline import ingest; "
            "ingest(create_engine(sys.argv[1]), 'xmm', file=sys.argv[2], "
            "release='4XMM-DR14', chunk_rows=100, complete_release=True)")
    proc = subprocess.Popen([sys.executable, str(PAUSE_RUNNER), "120", "code", code, db_url,
                             str(two)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_for_marker(proc, timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    after = snapshot(engine, skip=())
    assert {k: v for k, v in after.items() if k != "ingest_run"} == \
        {k: v for k, v in before.items() if k != "ingest_run"}
    rerun = ingest_xray(engine, "xmm", file=two, release="4XMM-DR14",
                        complete_release=True)
    assert (rerun.n_inserted, rerun.n_updated, rerun.n_retired) == (3, 5, 10)


def test_unknown_release_and_missing_url_fail_clearly(clean_tables, monkeypatch):
    monkeypatch.delenv("LIVECAT_2SXPS_URL", raising=False)
    with pytest.raises(LivecatError, match="LIVECAT_2SXPS_URL"):
        ingest_xray(clean_tables, "2sxps")
    with pytest.raises(LivecatError, match="no download URL for XMM release"):
        ingest_xray(clean_tables, "xmm", release="3XMM-DR8")


def test_ingest_list_shows_the_xray_catalogs(clean_tables, db_url, monkeypatch):
    from catalog.cli import build_app

    monkeypatch.setenv("LIVECAT_DATABASE_URL", db_url)
    args = ["ingest", "list", "--format", "csv"]
    res = CliRunner().invoke(build_app(args), args)
    assert res.exit_code == 0, res.output
    listed = {line.split(",")[0]: line.split(",")[1] for line in res.stdout.splitlines()[1:]}
    assert all(listed.get(k) == "xray" for k in ("csc", "xmm", "erass1", "2sxps", "lsxps"))
