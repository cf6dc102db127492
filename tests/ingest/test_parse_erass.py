"""Parse + normalize of the eROSITA eRASS catalogues (no database, no network).

FITS fixtures are written by ``ingest.write_fits_fixture`` (see
tests/data/erass1/README.md); the real TAPVizieR answer is read from
``../shared/samples/erass1/`` (a missing sample fails).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from catalog.errors import SourceError
from ingest import erass
from helpers import SAMPLES, assert_xray_contract
from xray_fixtures import write_fits_fixture

SAMPLE = (SAMPLES / "erass1"
          / "tapvizier_erass1m_proxima.json")


def _sample_doc() -> dict:
    assert SAMPLE.exists(), f"real sample missing: {SAMPLE}"
    return json.loads(SAMPLE.read_text())


def _main_rows() -> list[dict]:
    base = dict(SKYTILE=217063, RA_LOWERR=1.0, POS_ERR=1.2, RADEC_ERR=1.1, MJD_MIN=58906.3,
                MJD_MAX=58907.5, EXT=0.0, EXT_ERR=0.0, EXT_LIKE=0.0, DET_LIKE_0=45.0,
                ML_FLUX_1=2.0e-13, ML_FLUX_ERR_1=3.0e-14, ML_FLUX_LOWERR_1=2.8e-14,
                ML_FLUX_UPERR_1=3.2e-14, ML_RATE_1=0.21, ML_RATE_ERR_1=0.03,
                ML_FLUX_P1=5.0e-14, ML_FLUX_ERR_P1=1.5e-14, ML_CTS_1=30.0, ML_EXP_1=150.0)
    rows = []
    for i, (ra, dec) in enumerate([(10.5, -20.25), (217.3848, -62.6751), (359.9999, 89.9)]):
        uid = 100000000000 + 217063 * 100000 + i + 1
        rows.append({**base, "IAUNAME": f"1eRASS J0000{i:02d}.0-000000", "DETUID":
                     f"em01_217063_020_ML{i + 1:05d}_001_c010", "ID_SRC": i + 1, "UID": uid,
                     "UID_Hard": 0, "RA": ra, "DEC": dec})
    rows[1].update(EXT=12.5, EXT_LIKE=25.0, FLAG_SP_BPS=True, FLAG_OPT=True,
                   UID_Hard=-200000000000 - 217063 * 100000 - 4)
    return rows


# --------------------------------------------------------------------------- TAPVizieR

def test_tapvizier_sample_proxima_cen():
    doc = _sample_doc()
    labels = [m["name"] for m in doc["metadata"]]
    row = dict(zip(labels, doc["data"][0]))
    df = erass.parse(SAMPLE)
    assert {"IAUNAME", "RA", "DEC", "POS_ERR", "MJD_MIN", "ML_FLUX_1", "ML_FLUX_P3"} \
        <= set(df.columns)
    out = erass.normalize(df)
    assert_xray_contract(out)
    s = out.sources.iloc[0]
    # no UID column in the VizieR table: the IAU name is the id, and extra says so
    assert s.native_id == "1eRASS J142932.3-624030" == row["IAUName"]
    assert s["extra"]["id_column"] == "IAUNAME"
    assert s.pos_err_arcsec == pytest.approx(row["posErr"])
    # Proxima Cen (Gaia DR3, J2016) propagated to the eRASS1 epoch (MJD ~58907 = 2020.2)
    years = (58907 - 57388.5) / 365.25
    ra0, dec0, pmra, pmdec = 217.39232, -62.67607, -3781.3, 769.8  # deg, deg, mas/yr
    ra_ep = ra0 + pmra * years / 3.6e6 / np.cos(np.radians(dec0))
    dec_ep = dec0 + pmdec * years / 3.6e6
    sep = np.hypot((s.ra - ra_ep) * np.cos(np.radians(dec_ep)), s.dec - dec_ep) * 3600
    assert sep < 3 * s.pos_err_arcsec
    assert s["extra"]["uid_hard"] == 0 and s["extra"]["catalogue"] == "main"
    fl = out.fluxes.set_index("band")
    assert list(fl.index) == ["1", "P1", "P2", "P3"]
    assert fl.loc["1", "value"] == pytest.approx(row["MLFlux1"])
    assert tuple(fl.loc["P2", ["band_lo_kev", "band_hi_kev"]]) == (0.5, 1.0)
    assert (fl["kind"] == "energy_flux").all()


def test_tapvizier_unparseable_and_bad_rows():
    doc = _sample_doc()
    labels = [m["name"] for m in doc["metadata"]]
    good = doc["data"][0]
    rows = [list(good) for _ in range(4)]
    rows[1][labels.index("IAUName")] = "1eRASS J000000.0+000000"
    rows[1][labels.index("posErr")] = "n/a?"
    rows[2][labels.index("IAUName")] = "1eRASS J000000.1+000000"
    rows[2][labels.index("DE_ICRS")] = -95.0
    rows[3][labels.index("IAUName")] = None
    data = json.dumps({**doc, "data": rows}).encode()
    out = erass.normalize(erass.parse(data))
    assert len(out.sources) == 1
    rej = out.rejects.set_index("row_number")["reason"]
    assert "unparseable value: POS_ERR='n/a?'" in rej[2]
    assert "position out of range: DEC=-95.0" in rej[3]
    assert "missing id: column IAUNAME is empty" in rej[4]


def test_truncated_json_raises_source_error(tmp_path):
    path = tmp_path / "cut.json"
    path.write_bytes(SAMPLE.read_bytes()[:3000])
    with pytest.raises(SourceError, match=r"cut\.json: not valid JSON"):
        erass.parse(path)


def test_json_without_tap_members_raises(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"error": "quota exceeded"}')
    with pytest.raises(SourceError, match="no 'metadata'/'data' members"):
        erass.parse(path)


# --------------------------------------------------------------------------- FITS

def test_main_fits_fixture(tmp_path):
    rows = _main_rows()
    out = erass.normalize(erass.parse(write_fits_fixture(tmp_path / "m.fits", rows)))
    assert_xray_contract(out)
    assert out.sources.native_id.tolist() == [str(r["UID"]) for r in rows]
    s = out.sources.set_index("native_id").loc[str(rows[1]["UID"])]
    assert s.extended is True and s["flags"]["sp_bps"] is True and s["flags"]["opt"] is True
    assert s["flags"]["sp_lga"] is False
    assert s.significance == pytest.approx(45.0)
    assert s["extra"]["uid_hard"] == rows[1]["UID_Hard"]  # weak association kept signed
    assert s["extra"]["detuid"] == rows[1]["DETUID"]
    assert s["extra"]["release"] == "DR1"
    f = out.fluxes[(out.fluxes.native_id == str(rows[0]["UID"]))]
    flux1 = f[(f.band == "1") & (f.kind == "energy_flux")].iloc[0]
    assert flux1.value_lo == pytest.approx(2.0e-13 - 2.8e-14, rel=1e-6)  # asymmetric wins
    assert flux1.value_hi == pytest.approx(2.0e-13 + 3.2e-14, rel=1e-6)
    p1 = f[(f.band == "P1") & (f.kind == "energy_flux")].iloc[0]
    assert p1.value_lo == pytest.approx(5.0e-14 - 1.5e-14, rel=1e-6)  # symmetric fallback
    rate = f[f.kind == "count_rate"].iloc[0]
    assert (rate.band, rate.value) == ("1", pytest.approx(0.21))
    assert set(f.band) == {"1", "P1"}  # P2/P3 columns are all-null in the fixture


def test_hard_and_dr2_fixtures(tmp_path):
    rows = [{"IAUNAME": "1eRASS J100000.0+100000", "UID": 200000000000 + 150010 * 100000 + 7,
             "UID_1B": 100000000000 + 150010 * 100000 + 3, "RA": 150.0, "DEC": 10.0,
             "POS_ERR": 3.0, "DET_LIKE_0": 20.0, "DET_LIKE_3": 14.0, "ML_FLUX_3": 1e-12,
             "ML_FLUX_ERR_3": 2e-13, "ML_FLUX_0": 2e-12, "EXT": 0.0}]
    out = erass.normalize(erass.parse(write_fits_fixture(tmp_path / "h.fits", rows,
                                                               hard=True)))
    s = out.sources.iloc[0]
    assert s["extra"]["catalogue"] == "hard" and s["extra"]["det_like_3"] == 14.0
    assert s["extra"]["uid_1b"] == rows[0]["UID_1B"]
    hard = out.fluxes.set_index("band")
    assert tuple(hard.loc["3", ["band_lo_kev", "band_hi_kev"]]) == (2.3, 5.0)
    assert tuple(hard.loc["0", ["band_lo_kev", "band_hi_kev"]]) == (0.2, 5.0)
    dr2 = [dict(_main_rows()[0], UID_DR1=_main_rows()[0]["UID"], UID=300000000001)]
    out2 = erass.normalize(erass.parse(write_fits_fixture(tmp_path / "d.fits", dr2,
                                                                dr2=True)))
    e = out2.sources["extra"].iloc[0]
    assert e["release"] == "DR2" and e["uid_dr1"] == dr2[0]["UID_DR1"]


def test_fits_bad_rows(tmp_path):
    rows = _main_rows() + [dict(_main_rows()[0]), dict(_main_rows()[0], UID=123, RA=None),
                           dict(_main_rows()[0], UID=124, POS_ERR=-0.5),
                           dict(_main_rows()[0], UID=125, ML_FLUX_ERR_1=-1e-14)]
    out = erass.normalize(erass.parse(write_fits_fixture(tmp_path / "b.fits", rows)))
    rej = out.rejects.set_index("row_number")["reason"]
    assert list(rej.index) == [4, 5, 6, 7]
    assert "duplicate id: UID=" in rej[4] and "row 1" in rej[4]
    assert "missing position: RA" in rej[5]
    assert "negative error: POS_ERR=-0.5" in rej[6]
    assert "negative error: ML_FLUX_ERR_1" in rej[7]
    assert len(out.sources) == 3


def test_missing_uid_value_rejected(tmp_path):
    df = erass.parse(write_fits_fixture(tmp_path / "m.fits", _main_rows()))
    df["UID"] = df["UID"].astype("Int64")
    df.loc[0, "UID"] = pd.NA
    out = erass.normalize(df)
    assert out.rejects.row_number.tolist() == [1]
    assert "missing id: column UID is empty" in out.rejects.reason[0]


def test_truncated_fits_and_missing_column(tmp_path):
    path = write_fits_fixture(tmp_path / "m.fits", _main_rows() * 40)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(SourceError, match=r"cut\.fits: FITS file is truncated"):
        erass.parse(cut)
    rows = [{k: v for k, v in r.items()} for r in _main_rows()]
    df = erass.parse(write_fits_fixture(tmp_path / "ok.fits", rows)).drop(columns="DEC")
    df.attrs["source"] = "ok.fits"
    with pytest.raises(SourceError, match=r"ok\.fits: missing required column\(s\) DEC"):
        erass.normalize(df)
