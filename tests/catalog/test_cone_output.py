"""What `livecat cone` shows and writes: no internal columns, is_current, and VOTable/FITS
files with units; the Python API's astropy Table."""

from __future__ import annotations

import json

import astropy.units as u
import numpy as np
import pytest
import sqlalchemy as sa
from astropy.table import Table
from helpers import invoke

from catalog.sky import BOOKKEEPING_COLUMNS, cone_search

CRAB = ("83.633218", "22.014464")


SOURCES = [  # (native_id, name, ra, dec, pos_err, err_maj, err_pa, nh, significance,
            #  flags, extra, row_hash, is_current)
    ("a", "2CXO J053431.9+220052", 83.633218, 22.014464, 0.3, 0.4, 12.5, 3.1e21, 50.0,
     '{"pileup": true}', '{"note": "x"}', "h1", True),
    ("b", None, 83.6335, 22.0146, None, None, None, None, None, "{}", "{}", "h2", False),
]


@pytest.fixture
def sources(engine, clean_tables):
    """Two CSC sources around the Crab, the second no longer current."""
    columns = ("native_id", "name", "ra", "dec", "pos_err_arcsec", "err_maj_arcsec",
               "err_pa_deg", "nh_gal_cm2", "significance", "flags", "extra", "row_hash",
               "is_current")
    insert = sa.text(f"INSERT INTO livecat.xray_source (catalog, {', '.join(columns)}) "
                     f"VALUES ('csc', {', '.join(':' + c for c in columns)})")
    with engine.begin() as conn:
        conn.execute(insert, [dict(zip(columns, row)) for row in SOURCES])
    return engine


def _cone(args, db_url, monkeypatch):
    res = invoke(["cone", *CRAB, "5", *args], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    return res.output


def test_csv_and_json_hide_internal_columns_and_show_is_current(sources, db_url,
                                                                monkeypatch):
    header = _cone(["-f", "csv"], db_url, monkeypatch).splitlines()[0].split(",")
    assert header[:8] == ["id", "catalog", "native_id", "name", "ra", "dec",
                          "separation_arcsec", "is_current"]
    assert not set(BOOKKEEPING_COLUMNS) & set(header)
    assert {"pos_err_arcsec", "flags", "extra", "first_release_id"} <= set(header)
    rows = json.loads(_cone(["-f", "json"], db_url, monkeypatch))
    assert [(r["native_id"], r["is_current"]) for r in rows] == [("a", True), ("b", False)]
    assert not set(BOOKKEEPING_COLUMNS) & set(rows[0])
    table = _cone([], db_url, monkeypatch)
    assert "is_current" in table and "hpx" not in table and "row_hash" not in table


@pytest.mark.parametrize("fmt,suffix", [("votable", "vot"), ("fits", "fits")])
def test_votable_and_fits_files_carry_units(sources, db_url, monkeypatch, tmp_path, fmt,
                                            suffix):
    path = tmp_path / f"crab.{suffix}"
    out = _cone(["-f", fmt, "--out", str(path)], db_url, monkeypatch)
    assert out.strip() == f"wrote 2 rows of xray_source to {path}"
    t = Table.read(path, format=fmt)
    assert list(t["native_id"]) == ["a", "b"]
    assert list(t["is_current"]) == [True, False]
    assert not set(BOOKKEEPING_COLUMNS) & set(t.colnames)
    assert t.colnames[:8] == ["id", "catalog", "native_id", "name", "ra", "dec",
                              "separation_arcsec", "is_current"]
    units = {c: t[c].unit for c in t.colnames if t[c].unit is not None}
    assert units == {"ra": u.deg, "dec": u.deg, "separation_arcsec": u.arcsec,
                     "pos_err_arcsec": u.arcsec, "err_maj_arcsec": u.arcsec,
                     "err_min_arcsec": u.arcsec, "err_pa_deg": u.deg,
                     "nh_gal_cm2": u.cm ** -2}
    assert json.loads(t["flags"][0]) == {"pileup": True}
    assert t["separation_arcsec"][0] < 0.01 and t["separation_arcsec"][1] < 5
    missing = t["pos_err_arcsec"][1]  # NULL: masked, or NaN where the format has no mask
    assert np.ma.is_masked(missing) or np.isnan(missing)
    assert t["pos_err_arcsec"][0] == 0.3 and t["n_obs"].dtype.kind == "i"
    assert not (tmp_path / f"crab.{suffix}.part").exists()


def test_file_formats_need_out(sources, db_url, monkeypatch):
    res = invoke(["cone", *CRAB, "5", "-f", "votable"], monkeypatch, db_url)
    assert res.exit_code == 1
    assert res.output.strip() == "Error: --format votable writes a file: give --out PATH"
    res = invoke(["cone", *CRAB, "5", "-f", "xml"], monkeypatch, db_url)
    assert res.output.strip() == ("Error: unknown format 'xml': choose one of table, csv, json, "
                                  "votable, fits")


def test_python_api_returns_an_astropy_table_with_units(sources):
    t = cone_search(sources, "xray_source", 83.633218, 22.014464, 5.0, as_table=True)
    assert isinstance(t, Table)
    assert t["ra"].unit == u.deg and t["separation_arcsec"].unit == u.arcsec
    assert (t["separation_arcsec"].quantity < 5 * u.arcsec).all()
    assert t.meta == {"TABLE": "xray_source", "RA": 83.633218, "DEC": 22.014464,
                      "RADIUS": 5.0}
    frame = cone_search(sources, "xray_source", 83.633218, 22.014464, 5.0)
    assert list(t["id"]) == frame["id"].tolist()  # the same rows as the DataFrame


def test_a_tables_own_separation_keeps_its_meaning(engine, clean_tables):
    with engine.begin() as conn:
        sid = conn.execute(sa.text(
            "INSERT INTO livecat.xray_source (catalog, native_id, ra, dec) "
            "VALUES ('csc', 'x', 10, 20) RETURNING id")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO livecat.mw_counterpart (xray_source_id, survey, ra, dec, "
            "separation_arcsec, gmag, plx, pm, rgeo, matched_by) "
            "VALUES (:s, 'gaia_dr3', 10, 20.0001, 0.36, 17.5, 1.2, 3.4, 830, 'test')"), {"s": sid})
    t = cone_search(engine, "mw_counterpart", 10, 20, 2.0, as_table=True)
    assert t["row_separation_arcsec"][0] == 0.36
    assert abs(t["separation_arcsec"][0] - 0.36) < 1e-3
    assert t["row_separation_arcsec"].unit == u.arcsec
    assert (t["gmag"].unit, t["plx"].unit, t["pm"].unit, t["rgeo"].unit) == (
        u.mag, u.mas, u.mas / u.yr, u.pc)


def test_table_output_keeps_small_fluxes_visible():
    """A flux of 1e-11 erg/cm2/s must not print as 0.000000 in a rich table."""
    import io

    import pandas as pd

    from catalog.output import render

    out = io.StringIO()
    render(pd.DataFrame({"flux_b": [1.234e-11, 0.0, 0.5], "n": [1, 2, 3]}), "table", file=out)
    text = out.getvalue()
    assert "1.234e-11" in text
    assert "0.000000" in text and "0.500000" in text
