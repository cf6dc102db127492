"""What a partial, empty, truncated or older input does to a living catalog: only what it
covers changes, and a broken input changes nothing (the hardening issue, part A).

Each scenario was reproduced on the code before this change: a file of one 12' field
retired the rest of the catalog, a one-pulsar file retired 2,635 pulsars, a header-only
CSV retired everything, psrcat 1.58 over 1.67 retired 809 pulsars, a cut CSV stored
1.9e-13 as 1.9.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from astropy.io import fits
from helpers import DATA, invoke, sample_path
from xray_fixtures import write_slim_fits_fixture

from catalog.errors import ConflictError
from ingest.pipeline import ingest

CONE = "NGC3532_conesearch.csv"
AVE = "NGC3532_ave.csv"


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))


def current(engine, catalog: str) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.text(
            "SELECT native_id FROM livecat.xray_source WHERE catalog = :c AND is_current "
            "UNION ALL SELECT native_id FROM livecat.literature_object WHERE catalog = :c "
            "AND is_current"), {"c": catalog})}


def n_rows(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM livecat.{t}")).scalar()
                for t in ("xray_source", "literature_object", "catalog_release",
                          "source_history")}


def csc_with_a_second_field(tmp_path) -> tuple:
    """The 373 NGC 3532 sources of the CSC averages table plus the same rows moved 30 deg
    in RA under other names: a CSC catalogue of two fields (same columns and units as the
    real export, see ../shared/samples/csc/README.md)."""
    ave = pd.read_csv(sample_path("csc", AVE), dtype=str, keep_default_na=False)
    far = ave.copy()
    far["ra"] = (far["ra"].astype(float) + 30.0).map(repr)
    far["name"] = far["name"].str.replace("2CXO J", "2CXO X", regex=False)
    both = pd.concat([ave, far], ignore_index=True)
    path = tmp_path / "two_fields.csv"
    both.to_csv(path, index=False)
    return path, set(ave["name"]), set(far["name"])


# --------------------------------------------------------------------------------------
# A1: a file of part of the sky retires only inside the sky its rows fill
# --------------------------------------------------------------------------------------

def test_a_field_file_retires_nothing_outside_its_field(clean_tables, tmp_path):
    engine = clean_tables
    two, field, far = csc_with_a_second_field(tmp_path)
    ingest(engine, "csc", file=two, release="2.0-ave", complete_release=True)
    assert current(engine, "csc") == field | far
    res = ingest(engine, "csc", file=sample_path("csc", CONE), release="2.0")
    # the other field is untouched: before, all 373 of it were retired
    assert far <= current(engine, "csc")
    cone = pd.read_csv(sample_path("csc", CONE), dtype=str)["name"].str.strip()
    retired_here = field - set(cone) - current(engine, "csc")
    assert res.n_retired == len(retired_here) < len(field - set(cone)) + 1
    with engine.connect() as conn:
        state, meta = conn.execute(sa.text(
            "SELECT state, remote_meta->'footprint' FROM livecat.catalog_release "
            "WHERE version = '2.0'")).one()
    assert state == "partial"
    assert meta["kind"] == "pixels" and 0 < meta["area_deg2"] < 0.2  # ~ the 12' field


def test_complete_release_retires_everything_absent_but_asks_first(clean_tables, tmp_path):
    engine = clean_tables
    two, field, far = csc_with_a_second_field(tmp_path)
    ingest(engine, "csc", file=two, release="2.0-ave", complete_release=True)
    before = n_rows(engine)
    with pytest.raises(ConflictError, match="would retire 373 of the 746 current rows"):
        ingest(engine, "csc", file=sample_path("csc", AVE), release="2.0-ave-b",
               complete_release=True)
    assert n_rows(engine) == {**before, "catalog_release": before["catalog_release"]}
    assert far <= current(engine, "csc")
    res = ingest(engine, "csc", file=sample_path("csc", AVE), release="2.0-ave-b",
                 complete_release=True, allow_mass_retire=True)
    assert res.n_retired == 373 and current(engine, "csc") == field


# --------------------------------------------------------------------------------------
# A2: an input with no valid row changes nothing and fails
# --------------------------------------------------------------------------------------

def _header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(sample_path("csc", CONE).read_text().splitlines()[0] + "\n")
    return "csc", path


def _all_rejected(tmp_path):
    frame = pd.read_csv(sample_path("csc", AVE), dtype=str, keep_default_na=False).head(5)
    frame["ra"] = "999"
    path = tmp_path / "bad_positions.csv"
    frame.to_csv(path, index=False)
    return "csc", path


def _empty_tapvizier_json(tmp_path):
    doc = json.loads(sample_path("erass1", "tapvizier_erass1m_proxima.json").read_text())
    doc["data"] = []
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(doc))
    return "erass1", path


def _all_nan_fits(tmp_path):
    path = write_slim_fits_fixture(tmp_path / "nan.fits", 20, seed=4)
    with fits.open(path, mode="update") as hdul:
        hdul[1].data["SC_RA"][:] = np.nan
        hdul[1].data["SC_DEC"][:] = np.nan
    return "xmm", path


@pytest.mark.parametrize("make", [_header_only, _all_rejected, _empty_tapvizier_json,
                                  _all_nan_fits])
def test_no_valid_row_changes_nothing_and_exits_1(clean_tables, db_url, monkeypatch,
                                                  tmp_path, make):
    engine = clean_tables
    catalog, path = make(tmp_path)
    # a catalog already held: the empty input must not retire it
    held = {"csc": sample_path("csc", AVE),
            "erass1": sample_path("erass1", "tapvizier_erass1m_proxima.json"),
            "xmm": write_slim_fits_fixture(tmp_path / "held.fits", 30, seed=9)}[catalog]
    ingest(engine, catalog, file=held, release="held", complete_release=True)
    before, kept = n_rows(engine), current(engine, catalog)
    for extra in ([], ["--complete-release"]):
        res = invoke(["ingest", catalog, "--file", str(path), "--release", "next", *extra],
                     monkeypatch, db_url)
        assert res.exit_code == 1, res.output
        error = res.stderr.strip().splitlines()[-1]
        assert error.startswith("Error: ") and ("no valid row" in error
                                                or "has no rows" in error), error
    assert current(engine, catalog) == kept
    assert n_rows(engine)["source_history"] == before["source_history"]


def test_a_one_pulsar_file_does_not_retire_the_catalogue(clean_tables, db_url, monkeypatch,
                                                         tmp_path):
    engine = clean_tables
    ingest(engine, "atnf", file=sample_path("atnf", "psrcat-1.67.db"))
    text = sample_path("atnf", "psrcat-1.67.db").read_text(encoding="latin-1")
    header, _, body = text.partition("\n@")
    one = tmp_path / "one.db"
    one.write_text(text[:text.index("@")] + "@" + "-" * 65 + "\n", encoding="latin-1")
    res = invoke(["ingest", "atnf", "--file", str(one), "--release", "1.67"], monkeypatch,
                 db_url)
    assert res.exit_code == 1
    assert "allow-mass-retire" in res.stderr and "3319 of the 3320" in res.stderr
    assert len(current(engine, "atnf")) == 3320


def test_truncated_ip_catalogue_page_is_refused(clean_tables, db_url, monkeypatch, tmp_path):
    html = (DATA / "ipcat" / "alpha.html").read_text()
    cut = tmp_path / "alpha.html"
    cut.write_text(html[:len(html) * 2 // 3])
    res = invoke(["ingest", "ipcat", "--file", str(cut)], monkeypatch, db_url)
    assert res.exit_code == 1 and "truncated" in res.stderr
    assert n_rows(clean_tables)["literature_object"] == 0


# --------------------------------------------------------------------------------------
# A3: a truncated CSV is refused, not stored with its last value cut
# --------------------------------------------------------------------------------------

def test_csv_cut_in_its_last_row_is_refused(clean_tables, db_url, monkeypatch, tmp_path):
    text = sample_path("csc", AVE).read_bytes()
    last = text.rstrip(b"\n").rsplit(b"\n", 1)[1]
    cut = tmp_path / "cut.csv"
    cut.write_bytes(text.rstrip(b"\n")[:-len(last) // 2])  # mid-row, no line end
    res = invoke(["ingest", "csc", "--file", str(cut), "--release", "2.0"], monkeypatch,
                 db_url)
    assert res.exit_code == 1
    assert "truncated" in res.stderr and "data row 373" in res.stderr
    assert n_rows(clean_tables)["xray_source"] == 0


# --------------------------------------------------------------------------------------
# A4: an older release does not silently supersede a newer one
# --------------------------------------------------------------------------------------

def test_older_release_is_refused_unless_allowed(clean_tables, db_url, monkeypatch):
    engine = clean_tables
    ingest(engine, "atnf", file=sample_path("atnf", "psrcat-1.67.db"))
    res = invoke(["ingest", "atnf", "--file", str(sample_path("atnf", "psrcat-1.58.db"))],
                 monkeypatch, db_url)
    assert res.exit_code == 1
    assert "1.58 is older than the release held (1.67)" in res.stderr
    assert len(current(engine, "atnf")) == 3320
    ok = invoke(["ingest", "atnf", "--file", str(sample_path("atnf", "psrcat-1.58.db")),
                 "--allow-older", "--allow-mass-retire"], monkeypatch, db_url)
    assert ok.exit_code == 0, ok.output
    assert len(current(engine, "atnf")) == 2636


# --------------------------------------------------------------------------------------
# B (ingest side): minimal tables, infinities
# --------------------------------------------------------------------------------------

def test_csc_table_with_only_name_ra_dec(clean_tables, tmp_path):
    path = tmp_path / "min.csv"
    path.write_text("name,ra,dec\n2CXO J110435.9-584520,166.1496752,-58.755758\n"
                    "2CXO J110436.0-584521,11 04 36.0,-58 45 21\n")
    res = ingest(clean_tables, "csc", file=path, release="2.0")
    assert (res.n_inserted, res.n_rejected) == (2, 0)


def test_infinite_errors_and_significances_are_rejected_with_reasons(clean_tables, tmp_path):
    frame = pd.read_csv(sample_path("csc", AVE), dtype=str, keep_default_na=False).head(6)
    frame.loc[1, "err_ellipse_r0"] = "inf"
    frame.loc[2, "significance"] = "-Infinity"
    path = tmp_path / "inf.csv"
    frame.to_csv(path, index=False)
    res = ingest(clean_tables, "csc", file=path, release="2.0")
    assert (res.n_inserted, res.n_rejected) == (4, 2)
    with clean_tables.connect() as conn:
        reasons = dict(conn.execute(sa.text(
            "SELECT native_id, reason FROM livecat.ingest_reject")).all())
        stored = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.xray_source WHERE pos_err_arcsec = 'Infinity' "
            "OR significance IN ('Infinity', '-Infinity')")).scalar()
    assert stored == 0
    assert "infinite value in" in reasons[frame.loc[1, "name"].strip()]
    assert "significance" in reasons[frame.loc[2, "name"].strip()]


def test_rejects_command_lists_the_reasons(clean_tables, db_url, monkeypatch, tmp_path):
    frame = pd.read_csv(sample_path("csc", AVE), dtype=str, keep_default_na=False).head(4)
    frame.loc[3, "ra"] = "400"
    path = tmp_path / "one_bad.csv"
    frame.to_csv(path, index=False)
    ingest(clean_tables, "csc", file=path, release="2.0")
    res = invoke(["ingest", "rejects", "--format", "csv"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "row_number,native_id,reason" and len(lines) == 2
    assert lines[1].startswith("4,") and "out of range" in lines[1]
    missing = invoke(["ingest", "rejects", "999"], monkeypatch, db_url)
    assert missing.exit_code == 1 and "no ingest run 999" in missing.stderr
