"""`livecat ingest table`: class tables (CSV, VOTable, FITS) into literature_object."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import DATA, invoke, summary

from catalog.errors import InputError
from ingest.classtable import TableColumns, map_classes, normalize_table, read_class_map
from ingest.readers import read_input

TABLES_DATA = DATA / "tables"
SIMBAD = TABLES_DATA / "simbad_cvs.csv"
SIMBAD_MAP = TABLES_DATA / "simbad_map.csv"
UNKNOWN = TABLES_DATA / "unknown_class.csv"
SIMBAD_ARGS = ["--catalog", "simbad_cvs", "--name-col", "main_id", "--ra-col", "ra",
               "--dec-col", "dec", "--class-col", "otype", "--ref-col", "bibcode",
               "--pos-err-col", "coo_err_arcsec"]
SIMBAD_COLS = TableColumns(name="main_id", ra="ra", dec="dec", klass="otype", ref="bibcode",
                           pos_err="coo_err_arcsec")


def error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1, output
    return lines[0]


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM livecat.{t}")).scalar()
                for t in ("literature_object", "catalog_release", "ingest_run",
                          "ingest_reject")}


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))


# --------------------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------------------

def test_normalize_with_class_map_and_sexagesimal_positions():
    out = normalize_table(read_input(SIMBAD), SIMBAD_COLS, read_class_map(SIMBAD_MAP))
    assert out.n_read == 9
    rows = out.sources.set_index("native_id")
    assert list(rows.index) == ["V1033 Cas", "AM Her", "SS Cyg", "3C 273", "TW Hya"]
    # 00 22 57.63 +61 41 07.8 (space separated), 18:16:13.25 +49:52:04.3 (colons), degrees
    assert rows.loc["V1033 Cas", "ra"] == pytest.approx((22 / 60 + 57.63 / 3600) * 15)
    assert rows.loc["V1033 Cas", "dec"] == pytest.approx(61 + 41 / 60 + 7.8 / 3600)
    assert rows.loc["AM Her", "ra"] == pytest.approx((18 + 16 / 60 + 13.25 / 3600) * 15)
    assert rows.loc["AM Her", "dec"] == pytest.approx(49 + 52 / 60 + 4.3 / 3600)
    assert rows.loc["TW Hya", "dec"] == pytest.approx(-(34 + 42 / 60 + 17.0 / 3600))
    assert rows.loc["3C 273", "ra"] == 187.2779154
    # the map: exact label, then ignoring case (TTauri -> ttauri)
    assert (rows.loc["V1033 Cas", "livecat_class"], rows.loc["V1033 Cas", "subclass"]) == \
        ("CV", "IP")
    assert (rows.loc["TW Hya", "livecat_class"], rows.loc["TW Hya", "subclass"]) == \
        ("YSO", "CTTS")
    assert rows.loc["AM Her", "native_type"] == "Polar"
    assert rows.loc["AM Her", "reference"] == "1977ApJ...212L.125T"
    assert rows.loc["AM Her", "pos_err_arcsec"] == 0.02
    assert np.isnan(rows.loc["SS Cyg", "pos_err_arcsec"])
    assert rows.loc["AM Her", "params"] == {"sp_type": "M4.5V"}
    assert rows.loc["3C 273", "params"] == {}
    reasons = dict(zip(out.rejects["row_number"].tolist(), out.rejects["reason"].tolist()))
    assert set(reasons) == {6, 7, 8, 9}
    assert "unparseable position: ra='99 99 99'" in reasons[6]
    assert "missing id" in reasons[7]
    assert "duplicate id: main_id=SS Cyg already appears in row 3" in reasons[8]
    assert "missing class: column otype is empty" in reasons[9]


def test_unknown_class_names_label_row_and_object():
    labels = pd.Series(["AGN", "Blazar?", "cv/ip", "Blazar?", "weird"])
    names = pd.Series(["a", "b", "c", "d", "e"])
    with pytest.raises(InputError) as err:
        map_classes(labels, names, None, "type")
    text = str(err.value)
    assert "'Blazar?' (row 2, b, 2 rows in all)" in text
    assert "'weird' (row 5, e)" in text
    assert "--class-map" in text


def test_labels_that_are_taxonomy_classes_need_no_map():
    classes, subs, blank = map_classes(pd.Series(["agn", "NS/pulsar", ""]),
                                       pd.Series(["a", "b", "c"]), None, "type")
    assert classes == ["AGN", "NS", None] and subs == [None, "pulsar", None]
    assert blank.tolist() == [False, False, True]


def test_class_map_with_a_class_outside_the_taxonomy(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("native,class\nDN,CV/dwarf-nova\nBL,BLAZAR\n")
    with pytest.raises(InputError, match=r"line 3 \('BL'\): unknown class 'BLAZAR'"):
        read_class_map(path)
    path.write_text("label,target\nDN,CV\n")
    with pytest.raises(InputError, match="header 'native,class'"):
        read_class_map(path)


# --------------------------------------------------------------------------------------
# the command, against the database
# --------------------------------------------------------------------------------------

def test_unknown_class_is_a_clear_error_and_nothing_is_written(clean_tables, db_url,
                                                               monkeypatch):
    res = invoke(["ingest", "table", str(UNKNOWN), "--catalog", "mine", "--name-col", "name",
                  "--ra-col", "ra_deg", "--dec-col", "dec_deg", "--class-col", "type"],
                 monkeypatch, db_url)
    assert res.exit_code == 1
    assert error_line(res.output) == (
        "Error: unknown class in column type: 'Blazar?' (row 2, Mystery 1, 2 rows in all): "
        "not in the livecat taxonomy (AGN, CV, HM-STAR, HMXB, LM-STAR, LMXB, NS, YSO, "
        "optionally CLASS/SUBCLASS); map each label with --class-map FILE (CSV with header "
        "native,class); nothing was written")
    assert table_counts(clean_tables) == {"literature_object": 0, "catalog_release": 0,
                                          "ingest_run": 0, "ingest_reject": 0}


def test_native_labels_without_a_map_are_refused(clean_tables, db_url, monkeypatch):
    res = invoke(["ingest", "table", str(SIMBAD), *SIMBAD_ARGS], monkeypatch, db_url)
    assert res.exit_code == 1
    assert "'IntermediatePolar' (row 1, V1033 Cas)" in error_line(res.output)
    assert table_counts(clean_tables)["literature_object"] == 0


def test_class_map_ingest_rejects_and_reingest(clean_tables, db_url, monkeypatch):
    args = ["ingest", "table", str(SIMBAD), *SIMBAD_ARGS, "--class-map", str(SIMBAD_MAP)]
    res = invoke(args, monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert summary(res.output) == {"read": 9, "inserted": 5, "updated": 0, "unchanged": 0,
                                   "rejected": 4, "retired": 0}
    with clean_tables.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(sa.text(
            "SELECT native_id, livecat_class, subclass, native_type, reference, hpx, "
            "livecat.hpx_from_radec(ra, dec) FROM livecat.literature_object "
            "WHERE catalog = 'simbad_cvs'"))}
        rejects = conn.execute(sa.text(
            "SELECT r.row_number, r.reason FROM livecat.ingest_reject r JOIN "
            "livecat.ingest_run i ON i.id = r.run_id WHERE i.catalog = 'simbad_cvs' "
            "ORDER BY 1")).all()
    assert rows["V1033 Cas"][:4] == ("CV", "IP", "IntermediatePolar", "2001A&A...369..471R")
    assert rows["3C 273"][:2] == ("AGN", "QSO")
    assert all(r[4] == r[5] for r in rows.values())  # hpx as the SQL function computes it
    assert [r[0] for r in rejects] == [6, 7, 8, 9]

    again = invoke(args, monkeypatch, db_url)  # same table, same options: held
    assert again.exit_code == 0, again.output
    assert "skipped" in again.output
    forced = invoke(args + ["--force"], monkeypatch, db_url)
    assert forced.exit_code == 0, forced.output
    assert summary(forced.output) == {"read": 9, "inserted": 0, "updated": 0, "unchanged": 5,
                                      "rejected": 4, "retired": 0}


def test_edited_class_map_is_a_new_release(clean_tables, db_url, monkeypatch, tmp_path):
    args = ["ingest", "table", str(SIMBAD), *SIMBAD_ARGS]
    assert invoke(args + ["--class-map", str(SIMBAD_MAP)], monkeypatch, db_url).exit_code == 0
    edited = tmp_path / "map.csv"
    edited.write_text(SIMBAD_MAP.read_text().replace("CV/polar", "CV"))
    res = invoke(args + ["--class-map", str(edited)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert summary(res.output)["updated"] == 1  # AM Her: CV/polar -> CV
    with clean_tables.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT subclass FROM livecat.literature_object WHERE native_id = 'AM Her'")
        ).scalar() is None


def test_votable_and_fits_inputs(clean_tables, db_url, monkeypatch, tmp_path):
    from astropy.io.votable import from_table, writeto
    from astropy.table import Table

    table = Table({"NAME": ["Sco X-1", "Crab", "Her X-1"],
                   "RA_D": [244.979455, 83.633212, 254.457546],
                   "DEC_D": [-15.640283, 22.014460, 35.342358],
                   "CLS": ["LMXB", "NS/pulsar", "LMXB"]})
    vot = tmp_path / "xrbs.vot"
    writeto(from_table(table), str(vot))
    fits = tmp_path / "xrbs.fits"
    table.write(fits)
    for path, catalog in ((vot, "xrb_vot"), (fits, "xrb_fits")):
        res = invoke(["ingest", "table", str(path), "--catalog", catalog, "--name-col", "NAME",
                      "--ra-col", "RA_D", "--dec-col", "DEC_D", "--class-col", "CLS"],
                     monkeypatch, db_url)
        assert res.exit_code == 0, res.output
        assert summary(res.output)["inserted"] == 3
    with clean_tables.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT catalog, native_id, livecat_class, subclass, ra FROM "
            "livecat.literature_object ORDER BY catalog, native_id")).all()
    assert ("xrb_fits", "Crab", "NS", "pulsar", pytest.approx(83.633212)) in got
    assert ("xrb_vot", "Sco X-1", "LMXB", None, pytest.approx(244.979455)) in got


def test_catalog_names_of_builtin_catalogs_are_refused(clean_tables, db_url, monkeypatch):
    res = invoke(["ingest", "table", str(UNKNOWN), "--catalog", "atnf", "--name-col", "name",
                  "--ra-col", "ra_deg", "--dec-col", "dec_deg", "--class-col", "type"],
                 monkeypatch, db_url)
    assert res.exit_code == 1
    assert "catalog name 'atnf' belongs to a catalog livecat ingests itself" in \
        error_line(res.output)
    res = invoke(["ingest", "table", str(UNKNOWN), "--catalog", "Bad Name", "--name-col",
                  "name", "--ra-col", "ra_deg", "--dec-col", "dec_deg", "--class-col", "type"],
                 monkeypatch, db_url)
    assert res.exit_code == 1 and "catalog name 'Bad Name'" in error_line(res.output)


def test_missing_column_is_named(clean_tables, db_url, monkeypatch):
    res = invoke(["ingest", "table", str(UNKNOWN), "--catalog", "mine", "--name-col", "name",
                  "--ra-col", "RA", "--dec-col", "dec_deg", "--class-col", "type"],
                 monkeypatch, db_url)
    assert res.exit_code == 1
    assert "missing required column(s) RA" in error_line(res.output)
