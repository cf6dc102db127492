"""Parse + normalize of the Chandra Source Catalog (no database, no network).

Real samples come from ``../shared/samples/csc/`` (see its README); a missing sample is
a failure, not a skip. The CXC TAP fixture is ``tests/data/csc/cxc_tap_master_csc21.vot``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog.errors import SourceError
from ingest import csc
from ingest.normalized import XRAY_FLUX_COLUMNS, XRAY_SOURCE_COLUMNS

from helpers import DATA, SAMPLES as ALL_SAMPLES

SAMPLES = ALL_SAMPLES / "csc"
CSC_DATA = DATA / "csc"
CONE = SAMPLES / "NGC3532_conesearch.csv"
AVE = SAMPLES / "NGC3532_ave.csv"
HEASARC = SAMPLES / "heasarc_csc_3c273.vot"
TAP = CSC_DATA / "cxc_tap_master_csc21.vot"

SIGMA95 = np.sqrt(-2 * np.log(0.05))  # 95 % radius / sigma for a 2-D Gaussian


def _sample(path: Path) -> Path:
    assert path.exists(), f"real sample missing: {path} (see ../shared/samples/README.md)"
    return path


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode()


def _sexa(text: str, hours: bool) -> float:
    sign = -1.0 if text.strip().startswith("-") else 1.0
    a, m, s = (abs(float(x)) for x in text.split())
    return sign * (a + m / 60 + s / 3600) * (15 if hours else 1)


def _assert_contract(out) -> None:
    assert out.kind == "xray"
    assert list(out.sources.columns) == XRAY_SOURCE_COLUMNS
    assert list(out.fluxes.columns) == XRAY_FLUX_COLUMNS
    out.check_counts()
    assert out.sources["native_id"].is_unique
    assert set(out.fluxes["native_id"]) <= set(out.sources["native_id"])
    json.dumps(list(out.sources["extra"]), allow_nan=False)
    json.dumps(list(out.sources["flags"]), allow_nan=False)


# --------------------------------------------------------------------------- real samples

def test_conesearch_sample_all_rows_accounted_for():
    header, rows = _csv_rows(_sample(CONE))
    df = csc.parse(CONE)
    assert len(df) == len(rows) == 389
    out = csc.normalize(df, release="2.0")
    _assert_contract(out)
    assert out.n_read == 389
    assert len(out.sources) + len(out.rejects) == 389
    assert len(out.rejects) == 0, out.rejects.to_string()
    # every source is inside the 12-arcmin field around (166.28, -58.85)
    s = out.sources
    sep = np.hypot((s.ra - 166.28) * np.cos(np.radians(-58.85)), s.dec + 58.85) * 60
    assert sep.max() < 12.5


def test_conesearch_values_match_the_csv_text():
    header, rows = _csv_rows(_sample(CONE))
    col = {name: i for i, name in enumerate(header)}
    out = csc.normalize(csc.parse(CONE), release="2.0")
    src = out.sources.set_index("native_id")
    for row in rows[:25]:
        name = row[col["name"]].strip()
        got = src.loc[name]
        assert got.ra == pytest.approx(_sexa(row[col["ra"]], hours=True), abs=1e-9)
        assert got.dec == pytest.approx(_sexa(row[col["dec"]], hours=False), abs=1e-9)
        r0, r1 = float(row[col["err_ellipse_r0"]]), float(row[col["err_ellipse_r1"]])
        assert got.pos_err_arcsec == pytest.approx(np.sqrt((r0**2 + r1**2) / 2) / SIGMA95)
        assert got.err_maj_arcsec == r0 and got.err_min_arcsec == r1
        assert got.nh_gal_cm2 == pytest.approx(float(row[col["nh_gal"]]) * 1e20)
        assert got["flags"]["extended"] == (row[col["extent_flag"]].strip().upper() == "TRUE")
        assert got["flags"]["variable"] == (row[col["var_flag"]].strip().upper() == "TRUE")
        fl = out.fluxes[(out.fluxes.native_id == name) & (out.fluxes.band == "b")]
        value = row[col["flux_aper90_b"]].strip()
        if value:
            assert len(fl) == 1
            assert fl.value.iloc[0] == pytest.approx(float(value))
            assert fl.value_lo.iloc[0] == pytest.approx(float(row[col["flux_aper90_lolim_b"]]))
            assert fl.value_hi.iloc[0] == pytest.approx(float(row[col["flux_aper90_hilim_b"]]))
            assert (fl.band_lo_kev.iloc[0], fl.band_hi_kev.iloc[0]) == (0.5, 7.0)
        prob = row[col["var_intra_prob_b"]].strip()
        assert (np.isnan(got.var_intra_prob) if not prob
                else got.var_intra_prob == pytest.approx(float(prob)))


def test_conesearch_bands_and_blank_fluxes():
    out = csc.normalize(csc.parse(_sample(CONE)), release="2.0")
    assert set(out.fluxes["band"]) == {"b", "s", "m", "h"}  # CSC 2.0 ACIS bands present
    edges = out.fluxes.groupby("band")[["band_lo_kev", "band_hi_kev"]].first()
    assert tuple(edges.loc["s"]) == (0.5, 1.2) and tuple(edges.loc["h"]) == (2.0, 7.0)
    assert (out.fluxes["kind"] == "energy_flux").all()
    # a blank-padded flux cell gives no row rather than a zero
    first = out.fluxes[out.fluxes.native_id == "2CXO J110507.4-585105"]
    assert "s" not in set(first.band)


def test_ave_sample_all_rows_and_positions_agree_with_conesearch():
    header, rows = _csv_rows(_sample(AVE))
    out = csc.normalize(csc.parse(AVE), release="2.0")
    _assert_contract(out)
    assert out.n_read == len(rows) == 373
    assert len(out.sources) == 373 and len(out.rejects) == 0
    cone = csc.normalize(csc.parse(_sample(CONE)), release="2.0").sources
    j = out.sources.merge(cone, on="native_id", suffixes=("", "_cone"))
    assert len(j) == 373  # every averaged source is one of the cone-search sources
    sep = np.hypot((j.ra - j.ra_cone) * np.cos(np.radians(j.dec)), j.dec - j.dec_cone)
    assert (sep * 3600).max() < 0.01  # degrees vs sexagesimal text agree
    # symmetric e_flux_aper90_ave_b becomes value -/+ error
    col = {n: i for i, n in enumerate(header)}
    row = rows[0]
    fl = out.fluxes[(out.fluxes.native_id == row[col["name"]]) & (out.fluxes.band == "b")]
    v, e = float(row[col["flux_aper90_ave_b"]]), float(row[col["e_flux_aper90_ave_b"]])
    assert fl.value.iloc[0] == pytest.approx(v)
    assert fl.value_lo.iloc[0] == pytest.approx(v - e)
    assert fl.value_hi.iloc[0] == pytest.approx(v + e)


def test_heasarc_votable_3c273():
    df = csc.parse(_sample(HEASARC))
    assert "err_ellipse_r0" in df.columns and "flux_aper_b" in df.columns  # mapped names
    out = csc.normalize(df, release="2.1.1")
    _assert_contract(out)
    assert len(out.sources) == 1
    s = out.sources.iloc[0]
    assert s.native_id == "2CXO J122906.6+020308"
    # 3C 273 (SIMBAD ICRS 12 29 06.6997 +02 03 08.598) within 1 arcsec
    assert np.hypot((s.ra - 187.2779154) * np.cos(np.radians(2.05)),
                    s.dec - 2.0523883) * 3600 < 1.0
    assert s.err_maj_arcsec == pytest.approx(0.648, abs=1e-3)
    assert s.pos_err_arcsec == pytest.approx(s.err_maj_arcsec / SIGMA95)
    assert s.significance == pytest.approx(287.9, abs=0.05)
    assert s.n_obs == 6
    assert s.extended is True
    assert s["flags"] == {"extended": True, "confused": False, "saturated": True,
                          "streak": None, "pileup": True, "dither": None, "variable": True}
    assert s["extra"]["hard_hs"] == pytest.approx(0.1412, abs=1e-4)
    fl = out.fluxes.iloc[0]
    assert (fl.band, fl.band_lo_kev, fl.band_hi_kev) == ("b", 0.5, 7.0)
    assert fl.value_lo < fl.value < fl.value_hi
    assert fl.value == pytest.approx(1.4168e-11, rel=1e-4)


# --------------------------------------------------------------------------- CXC TAP fixture

def test_cxc_tap_fixture_all_bands_and_variability_choice():
    out = csc.normalize(csc.parse(TAP), release="2.1")
    _assert_contract(out)
    assert len(out.sources) == 4 and len(out.rejects) == 0
    src = out.sources.set_index("native_id")
    assert set(out.fluxes.band) == set(csc.BANDS)
    w = out.fluxes[out.fluxes.band == "w"].iloc[0]
    assert (w.native_id, w.band_lo_kev, w.band_hi_kev) == ("2CXO J120000.5-453000X", 0.1, 10.0)
    # b-band probability preferred; HRC-only source falls back to its w band
    assert src.loc["2CXO J000010.0+000010"].var_intra_prob == pytest.approx(0.12)
    assert src.loc["2CXO J120000.5-453000X"].var_intra_prob == pytest.approx(0.997)
    assert src.loc["2CXO J080000.0+300000"].var_inter_prob == pytest.approx(0.98)
    assert src.loc["2CXO J080000.0+300000"].n_obs == 7
    assert src.loc["2CXO J235959.9-895959"].n_obs == 1  # acis_num 1, hrc_num null
    assert src.loc["2CXO J235959.9-895959"]["flags"]["extended"] is None
    assert src.loc["2CXO J000010.0+000010"].nh_gal_cm2 == pytest.approx(3.12e20)
    extra = src.loc["2CXO J000010.0+000010"]["extra"]
    assert extra["hard_ms_lolim"] == pytest.approx(-0.21)
    assert extra["var_inter_index_b"] == 1 and extra["likelihood_class"] == "TRUE"
    # only one of the limits known: the row is kept with NaN for the other
    h = out.fluxes[(out.fluxes.native_id == "2CXO J235959.9-895959") & (out.fluxes.band == "h")]
    assert np.isnan(h.value.iloc[0]) and h.value_hi.iloc[0] == pytest.approx(2e-15)


def test_nh_gal_already_in_cm2_is_not_rescaled():
    df = csc.parse(TAP)
    df["nh_gal"] = df["nh_gal"] * 1e20
    out = csc.normalize(df)
    assert out.sources.nh_gal_cm2.iloc[0] == pytest.approx(3.12e20)


# --------------------------------------------------------------------------- bad rows

def _cone_variant(edits: dict[int, dict[str, str]], n: int = 6) -> bytes:
    header, rows = _csv_rows(_sample(CONE))
    col = {name: i for i, name in enumerate(header)}
    rows = [list(r) for r in rows[:n]]
    for i, changes in edits.items():
        for name, value in changes.items():
            rows[i][col[name]] = value
    return _csv_bytes(header, rows)


@pytest.mark.parametrize("edit, row_number, fragment", [
    ({"ra": "   "}, 2, "missing position: ra"),
    ({"dec": "nan"}, 2, "missing position: dec"),
    ({"dec": "95.0"}, 2, "position out of range: dec=95.0"),
    ({"ra": "361.5"}, 2, "position out of range: ra=361.5"),
    ({"ra": " 11 05 xx.45"}, 2, "unparseable position: ra='11 05 xx.45'"),
    ({"name": "  "}, 2, "missing id: column name is empty"),
    ({"err_ellipse_r0": "-0.5"}, 2, "negative error: err_ellipse_r0=-0.5"),
    ({"significance": "high"}, 2, "unparseable value: significance='high'"),
    ({"flux_aper90_b": "1.0e-15x"}, 2, "unparseable value: flux_aper90_b='1.0e-15x'"),
    ({"extent_flag": "maybe"}, 2, "unparseable value: extent_flag='maybe'"),
])
def test_bad_rows_become_rejects(edit, row_number, fragment):
    out = csc.normalize(csc.parse(_cone_variant({row_number - 1: edit})))
    assert out.n_read == 6
    assert len(out.sources) == 5 and len(out.rejects) == 1
    rej = out.rejects.iloc[0]
    assert rej.row_number == row_number
    assert fragment in rej.reason
    assert "expected" in rej.reason
    out.check_counts()


def test_duplicate_id_keeps_first_rejects_repeat():
    header, rows = _csv_rows(_sample(CONE))
    data = _csv_bytes(header, [rows[0], rows[1], rows[0]])
    out = csc.normalize(csc.parse(data))
    assert len(out.sources) == 2
    rej = out.rejects.iloc[0]
    assert (rej.row_number, rej.native_id) == (3, "2CXO J110507.4-585105")
    assert "duplicate id" in rej.reason and "row 1" in rej.reason
    assert (out.fluxes.native_id == "2CXO J110507.4-585105").sum() == \
        len(out.fluxes[out.fluxes.native_id == "2CXO J110507.4-585105"].band.unique())


def test_header_only_tile_gives_empty_result():
    header, _ = _csv_rows(_sample(CONE))
    out = csc.normalize(csc.parse(_csv_bytes(header, [])))
    assert (out.n_read, len(out.sources), len(out.fluxes), len(out.rejects)) == (0, 0, 0, 0)
    assert list(out.sources.columns) == XRAY_SOURCE_COLUMNS


def test_several_problems_in_one_row_are_all_named():
    out = csc.normalize(csc.parse(_cone_variant({0: {"dec": "-91", "err_ellipse_r1": "-1"}})))
    reason = out.rejects.reason.iloc[0]
    assert "dec=-91.0" in reason and "err_ellipse_r1=-1.0" in reason


# --------------------------------------------------------------------------- unreadable input

def test_missing_required_column_raises_source_error(tmp_path):
    header, rows = _csv_rows(_sample(CONE))
    keep = [i for i, h in enumerate(header) if h != "dec"]
    path = tmp_path / "nodec.csv"
    path.write_bytes(_csv_bytes([header[i] for i in keep],
                                [[r[i] for i in keep] for r in rows[:3]]))
    with pytest.raises(SourceError, match=r"nodec\.csv: missing required column\(s\) dec"):
        csc.parse(path)


def test_wrong_format_raises_source_error(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(SourceError, match="image.png"):
        csc.parse(path)


def test_truncated_votable_raises_source_error(tmp_path):
    text = _sample(HEASARC).read_bytes()
    path = tmp_path / "cut.vot"
    path.write_bytes(text[: len(text) // 2])
    with pytest.raises(SourceError, match=r"cut\.vot: cannot read VOTable"):
        csc.parse(path)


def test_tap_error_votable_raises_source_error(tmp_path):
    path = tmp_path / "tile_0042.vot"
    path.write_text(
        '<?xml version="1.0"?>\n<VOTABLE version="1.4" '
        'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results">'
        '<INFO name="QUERY_STATUS" value="ERROR">Query timed out</INFO>'
        '</RESOURCE></VOTABLE>\n')
    with pytest.raises(SourceError,
                       match=r"tile_0042\.vot: the service returned an error VOTable: Query"):
        csc.parse(path)


def test_empty_and_missing_file_raise_source_error(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty.csv: the input is empty"):
        csc.parse(empty)
    with pytest.raises(SourceError, match="nothere.csv: cannot read file"):
        csc.parse(tmp_path / "nothere.csv")


def test_normalize_requires_columns_too():
    with pytest.raises(SourceError, match="missing required column"):
        csc.normalize(pd.DataFrame({"name": ["x"], "ra": [1.0]}))
