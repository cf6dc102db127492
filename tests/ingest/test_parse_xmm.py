"""Parse + normalize of the XMM-Newton serendipitous catalogue (no database, no network).

The slim-catalogue FITS fixtures are written by ``ingest.write_slim_fits_fixture``
(layout documented in tests/data/xmm/README.md); the real HEASARC 5XMM answer is read
from ``../shared/samples/xmm/`` (a missing sample fails).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from catalog.errors import SourceError
from ingest import xmm
from ingest.tables import iter_normalize
from helpers import SAMPLES, assert_xray_contract
from xray_fixtures import SLIM_COLUMNS, write_slim_fits_fixture

SAMPLE = (SAMPLES / "xmm"
          / "heasarc_xmmssc_5xmm_3c273.vot")


@pytest.fixture(scope="module")
def slim(tmp_path_factory) -> Path:
    return write_slim_fits_fixture(tmp_path_factory.mktemp("xmm") / "slim.fits",
                                       n_rows=2000, seed=7)


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with fits.open(src) as hdul:
        data = hdul[1].data.copy()
        edit(data)
        hdu = fits.BinTableHDU(data=data, header=hdul[1].header, name="SRCLIST")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(dst, overwrite=True)
    return dst


# --------------------------------------------------------------------------- writer

def test_writer_uses_real_names_units_and_nulls(slim):
    with fits.open(slim) as hdul:
        cols = hdul[1].columns
        assert [c.name for c in cols] == [c[0] for c in SLIM_COLUMNS]
        assert cols["SC_RA"].unit == "deg" and cols["SC_POSERR"].unit == "arcsec"
        assert cols["SC_EP_8_FLUX"].unit == "erg/cm**2/s"
        assert cols["SC_SUM_FLAG"].null == -32768
        data = hdul[1].data
        assert (data["SC_SUM_FLAG"] == -32768).sum() > 0
        assert np.isnan(data["SC_CHI2PROB"]).sum() > 0
        assert np.isnan(data["SC_HR1"]).sum() > 0
        assert len(np.unique(data["SRCID"])) == 2000
        assert data["IAUNAME"][0].startswith("4XMM J")


def test_writer_is_deterministic(tmp_path):
    a = write_slim_fits_fixture(tmp_path / "a.fits", 50, seed=3)
    b = write_slim_fits_fixture(tmp_path / "b.fits", 50, seed=3)
    c = write_slim_fits_fixture(tmp_path / "c.fits", 50, seed=4)
    read = lambda p: fits.getdata(p, 1)  # noqa: E731
    assert np.array_equal(read(a)["SC_RA"], read(b)["SC_RA"])
    assert not np.array_equal(read(a)["SC_RA"], read(c)["SC_RA"])


# --------------------------------------------------------------------------- slim FITS

def test_slim_parse_normalize_values(slim):
    df = xmm.parse(slim)
    assert len(df) == 2000
    assert df["SC_SUM_FLAG"].isna().sum() > 0  # TNULL became NA
    out = xmm.normalize(df, release="4XMM-DR13")
    assert_xray_contract(out)
    assert len(out.sources) == 2000 and len(out.rejects) == 0
    assert len(out.fluxes) == 2000 * 7
    raw = fits.getdata(slim, 1)
    src = out.sources.set_index("native_id")
    for i in (0, 17, 1999):
        s = src.loc[str(raw["SRCID"][i])]
        assert s["name"] == raw["IAUNAME"][i]
        assert s.ra == raw["SC_RA"][i] and s.dec == raw["SC_DEC"][i]
        assert s.pos_err_arcsec == pytest.approx(raw["SC_POSERR"][i] / np.sqrt(2), rel=1e-6)
        assert s.significance == pytest.approx(raw["SC_DET_ML"][i], rel=1e-6)
        assert s.n_obs == raw["N_DETECTIONS"][i]
        assert s.extended == bool(raw["SC_EXTENT"][i] > 0)
        chi2 = raw["SC_CHI2PROB"][i]
        assert (np.isnan(s.var_intra_prob) if np.isnan(chi2)
                else s.var_intra_prob == pytest.approx(1 - chi2, rel=1e-6))
        assert s["extra"]["sc_hr2"] == (None if np.isnan(raw["SC_HR2"][i])
                                        else pytest.approx(raw["SC_HR2"][i]))
        assert s["extra"]["release"] == "4XMM-DR13"
    fl = out.fluxes[out.fluxes.native_id == str(raw["SRCID"][5])].set_index("band")
    assert list(fl.index) == ["1", "2", "3", "4", "5", "8", "9"]
    assert tuple(fl.loc["4", ["band_lo_kev", "band_hi_kev"]]) == (2.0, 4.5)
    assert tuple(fl.loc["9", ["band_lo_kev", "band_hi_kev"]]) == (0.5, 4.5)
    v, e = raw["SC_EP_8_FLUX"][5], raw["SC_EP_8_FLUX_ERR"][5]
    assert fl.loc["8", "value"] == pytest.approx(v, rel=1e-6)
    assert fl.loc["8", "value_lo"] == pytest.approx(v - e, rel=1e-6)
    assert fl.loc["8", "value_hi"] == pytest.approx(v + e, rel=1e-6)


def test_sum_flag_null_and_meaning(slim):
    out = xmm.normalize(xmm.parse(slim))
    raw = fits.getdata(slim, 1)
    src = out.sources.set_index("native_id")
    null_row = int(np.flatnonzero(raw["SC_SUM_FLAG"] == -32768)[0])
    s = src.loc[str(raw["SRCID"][null_row])]
    assert s["extra"]["sc_sum_flag"] is None and s["flags"]["warning"] is None
    spurious = int(np.flatnonzero(raw["SC_SUM_FLAG"] == 2)[0])
    f = src.loc[str(raw["SRCID"][spurious])]["flags"]
    assert f == {"variable": bool(raw["SC_VAR_FLAG"][spurious]), "extended": f["extended"],
                 "warning": True, "possibly_spurious": True, "spurious_region": False}


def test_release_guessed_from_name_prefix(tmp_path):
    p = write_slim_fits_fixture(tmp_path / "dr15.fits", 10, seed=1, release="5XMM-DR15")
    out = xmm.normalize(xmm.parse(p))
    assert {e["release"] for e in out.sources["extra"]} == {"5XMM-DR15"}


# --------------------------------------------------------------------------- HEASARC 5XMM

def test_heasarc_5xmm_sample_3c273():
    assert SAMPLE.exists(), f"real sample missing: {SAMPLE}"
    df = xmm.parse(SAMPLE)
    assert "SC_POSERR: deg -> arcsec" in df.attrs["converted"]
    out = xmm.normalize(df)
    assert_xray_contract(out)
    s = out.sources.iloc[0]
    assert s.native_id == "3011277010100001"
    assert s["name"] == "5XMM J122906.6+020308"
    assert np.hypot((s.ra - 187.2779154) * np.cos(np.radians(2.05)),
                    s.dec - 2.0523883) * 3600 < 1.0
    # error_radius 1.29072e-05 "arcsec" is degrees: 0.0465 arcsec radial
    assert s["extra"]["sc_poserr_arcsec"] == pytest.approx(1.29072e-05 * 3600)
    assert s.pos_err_arcsec == pytest.approx(1.29072e-05 * 3600 / np.sqrt(2))
    assert s.n_obs == 42 and s["extra"]["n_obs"] == 43
    assert s["flags"]["warning"] is True and s["flags"]["possibly_spurious"] is False
    assert s.extended is False
    assert s["extra"]["mjd_first"] == pytest.approx(51708.3806)
    assert s["extra"]["release"] == "5XMM-DR15"
    fl = out.fluxes.iloc[0]
    assert (fl.band, fl.band_lo_kev, fl.band_hi_kev) == ("8", 0.2, 12.0)
    assert fl.value == pytest.approx(1.40983e-10)
    assert fl.value_hi - fl.value == pytest.approx(2.82459e-14)


# --------------------------------------------------------------------------- bad rows

def test_bad_rows_in_fits_become_rejects(slim, tmp_path):
    raw = fits.getdata(slim, 1)

    def edit(d):
        d["SC_RA"][3] = np.nan
        d["SC_DEC"][4] = 91.5
        d["SRCID"][6] = d["SRCID"][5]
        d["SC_POSERR"][7] = -1.0
        d["SC_EP_8_FLUX_ERR"][8] = -1e-15
        d["SC_RA"][9] = 360.0

    bad = _rewrite(slim, tmp_path / "bad.fits", edit)
    out = xmm.normalize(xmm.parse(bad))
    assert_xray_contract(out)
    rej = out.rejects.set_index("row_number")
    assert list(rej.index) == [4, 5, 7, 8, 9, 10]
    assert "missing position: SC_RA" in rej.loc[4, "reason"]
    assert "SC_DEC=91.5" in rej.loc[5, "reason"] and "expected -90" in rej.loc[5, "reason"]
    assert f"duplicate id: SRCID={raw['SRCID'][5]}" in rej.loc[7, "reason"]
    assert "row 6" in rej.loc[7, "reason"]
    assert "negative error: SC_POSERR=-1.0" in rej.loc[8, "reason"]
    assert "negative error: SC_EP_8_FLUX_ERR" in rej.loc[9, "reason"]
    assert "SC_RA=360.0" in rej.loc[10, "reason"]
    assert len(out.sources) == 2000 - 6
    assert set(out.fluxes.native_id) <= set(out.sources.native_id)
    # the kept first occurrence has its 7 bands once, not twice
    assert (out.fluxes.native_id == str(raw["SRCID"][5])).sum() == 7


def test_chunked_normalize_equals_one_call(slim, tmp_path):
    def edit(d):
        d["SRCID"][1500] = d["SRCID"][10]  # duplicate across chunks
        d["SRCID"][12] = d["SRCID"][11]  # duplicate within a chunk
        d["SC_DEC"][700] = -100.0

    df = xmm.parse(_rewrite(slim, tmp_path / "dups.fits", edit))
    whole = xmm.normalize(df)
    parts = list(iter_normalize(xmm.normalize, df, xmm.id_column(df), xmm.guess_release(df),
                                600))
    assert len(parts) == 4 and sum(p.n_read for p in parts) == 2000
    cat = lambda frames: pd.concat(frames, ignore_index=True)  # noqa: E731
    rejects = cat([p.rejects for p in parts])
    assert rejects.row_number.tolist() == [13, 701, 1501] == whole.rejects.row_number.tolist()
    assert rejects.reason.tolist() == whole.rejects.reason.tolist()
    sources = cat([p.sources for p in parts])
    pd.testing.assert_frame_equal(sources.drop(columns=["flags", "extra"]),
                                  whole.sources.drop(columns=["flags", "extra"]))
    assert sources["extra"].tolist() == whole.sources["extra"].tolist()
    fl = cat([p.fluxes for p in parts]).sort_values(["native_id", "band"], ignore_index=True)
    pd.testing.assert_frame_equal(
        fl, whole.fluxes.sort_values(["native_id", "band"], ignore_index=True))


def test_missing_id_is_rejected(slim):
    df = xmm.parse(slim)
    df["SRCID"] = df["SRCID"].astype("Int64")
    df.loc[2, "SRCID"] = pd.NA
    out = xmm.normalize(df)
    assert out.rejects.row_number.tolist() == [3]
    assert "missing id: column SRCID is empty" in out.rejects.reason.iloc[0]


def test_unparseable_number_in_csv_slim(slim, tmp_path):
    df = xmm.parse(slim).head(5).astype(object)
    df.loc[1, "SC_DET_ML"] = "12.5e"
    path = tmp_path / "slim.csv"
    df.to_csv(path, index=False)
    out = xmm.normalize(xmm.parse(path))
    assert len(out.sources) == 4
    assert out.rejects.row_number.tolist() == [2]
    assert "unparseable value: SC_DET_ML='12.5e'; expected a number" in out.rejects.reason[0]


# --------------------------------------------------------------------------- unreadable

def test_gzipped_fits_is_read(slim, tmp_path):
    import gzip

    gz = tmp_path / "slim.fits.gz"
    gz.write_bytes(gzip.compress(slim.read_bytes()))
    assert len(xmm.normalize(xmm.parse(gz)).sources) == 2000


def test_truncated_fits_raises_source_error(slim, tmp_path):
    data = slim.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceError, match=r"cut\.fits: FITS file is truncated"):
        xmm.parse(cut)


def test_header_only_fits_raises_source_error(slim, tmp_path):
    cut = tmp_path / "hdr.fits"
    cut.write_bytes(slim.read_bytes()[:2880])
    with pytest.raises(SourceError, match=r"hdr\.fits"):
        xmm.parse(cut)


def test_missing_required_column_raises_source_error(slim, tmp_path):
    with fits.open(slim) as hdul:
        cols = [c for c in hdul[1].columns if c.name != "SC_DEC"]
        hdu = fits.BinTableHDU.from_columns(fits.ColDefs(cols))
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "nodec.fits")
    with pytest.raises(SourceError, match=r"nodec\.fits: missing required column\(s\) SC_DEC"):
        xmm.parse(tmp_path / "nodec.fits")


def test_wrong_format_raises_source_error(tmp_path):
    page = tmp_path / "error.html"
    page.write_text("<html><body><h1>503 Service Unavailable</h1></body></html>\n")
    with pytest.raises(SourceError, match=r"error\.html: missing required column"):
        xmm.parse(page)
