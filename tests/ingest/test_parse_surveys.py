"""ingest.surveys: the NGC 3532 survey samples parse and normalize to the survey contract.

The expected values are read from the raw sample cells (``../shared/samples/mw/``, VizieR
answers with a ``_<suffix>`` on every column), never retyped.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from helpers import sample_path

from catalog.errors import SourceError
from catalog.surveys import (ALLWISE_EPOCH, CATWISE_PM_EPOCH, SURVEYS, ellipse_from_radec,
                             mjd_to_year)
from ingest.normalized import SURVEY_SOURCE_COLUMNS
from ingest.surveys import iter_normalize_survey, normalize_survey, parse_survey

SUFFIX = {"gaia_dr3": "gaia", "2mass": "2mass", "allwise": "allwise",
          "catwise2020": "catwise"}
ID = {"gaia_dr3": "Source", "2mass": "_2MASS", "allwise": "AllWISE", "catwise2020": "objID"}


def sample(key: str) -> pd.DataFrame:
    """The raw sample, every cell as text, suffix removed (the expected values)."""
    s = SUFFIX[key]
    df = pd.read_csv(sample_path("mw", f"NGC3532_{s}.csv"), dtype=str, keep_default_na=False)
    return df.rename(columns=lambda c: c[:-len(s) - 1] if c.endswith(f"_{s}") else c)


def num(series) -> np.ndarray:
    return pd.to_numeric(series.replace("", np.nan)).to_numpy(dtype=float)


def normalized(key: str):
    return normalize_survey(parse_survey(sample_path("mw", f"NGC3532_{SUFFIX[key]}.csv"),
                                         key), key)


def expected_rows(key: str) -> pd.DataFrame:
    """One raw row per survey source: the first row of each id (rows with a counterpart)."""
    raw = sample(key)
    return raw[raw[ID[key]] != ""].drop_duplicates(ID[key]).set_index(ID[key])


def check_contract(out) -> None:
    assert out.kind == "survey"
    assert list(out.sources.columns) == SURVEY_SOURCE_COLUMNS
    out.check_counts()
    assert out.sources["native_id"].is_unique
    json.dumps(list(out.sources["extra"]), allow_nan=False)
    for col in SURVEY_SOURCE_COLUMNS:
        if col not in ("native_id", "name", "extra"):
            assert out.sources[col].dtype == np.float64, col


@pytest.mark.parametrize("key", list(SUFFIX))
def test_row_counts_are_survey_source_rows(key):
    raw = sample(key)
    with_counterpart = raw[ID[key]] != ""
    out = normalized(key)
    check_contract(out)
    attrs = out.sources.attrs
    assert attrs["n_rows"] == len(raw) == 373
    assert attrs["n_without_counterpart"] == int((~with_counterpart).sum())
    # a source near two X-ray sources is one survey source
    assert attrs["n_repeated"] == int(with_counterpart.sum()) - raw.loc[
        with_counterpart, ID[key]].nunique()
    assert out.n_read == raw.loc[with_counterpart, ID[key]].nunique()
    assert out.n_read + attrs["n_without_counterpart"] + attrs["n_repeated"] == 373


def test_gaia_values_against_the_raw_cells():
    out = normalized("gaia_dr3")
    assert len(out.rejects) == 0
    exp = expected_rows("gaia_dr3")
    src = out.sources.set_index("native_id").loc[exp.index]
    assert (src["name"] == exp["DR3Name"]).all()
    assert np.array_equal(src["ra"], num(exp["RA_ICRS"]))
    assert np.array_equal(src["dec"], num(exp["DE_ICRS"]))
    assert (src["epoch"] == 2016.0).all()
    # ellipse from e_RA_ICRS/e_DE_ICRS (mas) and RADEcor: trace and determinant kept
    sa, sd, r = num(exp["e_RA_ICRS"]) / 1e3, num(exp["e_DE_ICRS"]) / 1e3, num(exp["RADEcor"])
    a, b = src["err_maj_arcsec"].to_numpy(), src["err_min_arcsec"].to_numpy()
    assert np.allclose(a ** 2 + b ** 2, sa ** 2 + sd ** 2, rtol=1e-9)
    assert np.allclose(a * b, sa * sd * np.sqrt(1 - r ** 2), rtol=1e-9)
    for contract, col in (("pmra", "pmRA"), ("pmdec", "pmDE"), ("e_pmra", "e_pmRA"),
                          ("plx", "Plx"), ("e_plx", "e_Plx"), ("gmag", "Gmag"),
                          ("e_gmag", "e_Gmag"), ("bpmag", "BPmag"), ("rpmag", "RPmag"),
                          ("e_rpmag", "e_RPmag")):
        assert np.array_equal(src[contract], num(exp[col]), equal_nan=True), contract
    assert src["jmag"].isna().all() and src["rgeo"].isna().all()
    # GSP-Phot distances (Dist) are not Bailer-Jones rgeo: they stay in extra
    first = src.iloc[0]
    assert first["extra"]["Dist"] == float(exp["Dist"].iloc[0])
    assert first["extra"]["VarFlag"] == exp["VarFlag"].iloc[0]


def test_2mass_values_epochs_and_upper_limits_against_the_raw_cells():
    out = normalized("2mass")
    exp = expected_rows("2mass")
    src = out.sources.set_index("native_id")
    exp = exp.loc[src.index]
    assert (src["name"] == "2MASS J" + src.index).all()
    assert np.array_equal(src["ra"], num(exp["RAJ2000"]))
    for contract, col in (("err_maj_arcsec", "errMaj"), ("err_min_arcsec", "errMin"),
                          ("err_pa_deg", "errPA")):
        assert np.array_equal(src[contract], num(exp[col])), contract
    jd = num(exp["_tab1_36"])  # JD of the observation
    assert np.allclose(src["epoch"], 2000.0 + (jd - 2451545.0) / 365.25, rtol=0, atol=1e-9)
    dates = pd.to_datetime(exp["Date"])
    assert np.all(np.abs(src["epoch"] - (dates.dt.year + (dates.dt.day_of_year - 1) / 365.25))
                  < 3 / 365.25)
    for mag, col, i in (("jmag", "Jmag", 0), ("hmag", "Hmag", 1), ("kmag", "Kmag", 2)):
        upper = exp["Qflg"].str[i] == "U"
        assert upper.any() and (~upper).any()
        assert np.array_equal(src.loc[~upper, mag], num(exp.loc[~upper, col]), equal_nan=True)
        assert np.array_equal(src.loc[~upper, f"e_{mag}"], num(exp.loc[~upper, f"e_{col}"]),
                              equal_nan=True)
        assert src.loc[upper, mag].isna().all() and src.loc[upper, f"e_{mag}"].isna().all()
        limits = [e[f"{mag}_upper_limit"] for e in src.loc[upper, "extra"]]
        assert limits == list(num(exp.loc[upper, col]))
    first = src["extra"].iloc[0]
    assert first["Qflg"] == exp["Qflg"].iloc[0] and first["Ndet"] == exp["Ndet"].iloc[0]


def test_allwise_values_and_upper_limits_against_the_raw_cells():
    out = normalized("allwise")
    assert len(out.rejects) == 0
    exp = expected_rows("allwise")
    src = out.sources.set_index("native_id").loc[exp.index]
    assert (src["name"] == "WISEA " + exp.index).all()
    assert np.array_equal(src["dec"], num(exp["DEJ2000"]))
    assert np.array_equal(src["err_maj_arcsec"], num(exp["eeMaj"]))
    assert np.array_equal(src["err_pa_deg"], num(exp["eePA"]))
    assert (src["epoch"] == ALLWISE_EPOCH).all() and ALLWISE_EPOCH == pytest.approx(2010.56,
                                                                                   abs=0.01)
    for k, band in enumerate(("w1mag", "w2mag", "w3mag", "w4mag")):
        col = f"W{k + 1}mag"
        upper = exp["qph"].str[k] == "U"
        assert np.array_equal(src.loc[~upper, band], num(exp.loc[~upper, col]), equal_nan=True)
        assert src.loc[upper, band].isna().all()
    assert upper.sum() > 100  # W4 is mostly an upper limit in this field
    # AllWISE apparent motions are not proper motions of the mean positions
    assert src["pmra"].isna().all() and "pmRA" in src["extra"].iloc[0]


def test_catwise_uses_the_motion_fit_position_at_mjd_57170():
    out = normalized("catwise2020")
    assert len(out.rejects) == 0
    exp = expected_rows("catwise2020")
    src = out.sources.set_index("native_id").loc[exp.index]
    assert np.array_equal(src["ra"], num(exp["RAPMdeg"]))
    assert np.array_equal(src["dec"], num(exp["DEPMdeg"]))
    assert (src["epoch"] == CATWISE_PM_EPOCH).all()
    assert {e["position_fit"] for e in src["extra"]} == {"motion"}
    a, b, pa = ellipse_from_radec(num(exp["e_RAPMdeg"]), num(exp["e_DEPMdeg"]),
                                  np.sign(num(exp["ePosPM"])) * num(exp["ePosPM"]) ** 2
                                  / (num(exp["e_RAPMdeg"]) * num(exp["e_DEPMdeg"])))
    assert np.allclose(src["err_maj_arcsec"], a) and np.allclose(src["err_pa_deg"], pa)
    assert np.allclose(src["pmra"], num(exp["pmRA"]) * 1000.0)  # arcsec/yr on VizieR
    assert np.allclose(src["e_pmdec"], num(exp["e_pmDE"]) * 1000.0)
    assert np.array_equal(src["w1mag"], num(exp["W1mproPM"]), equal_nan=True)
    assert np.array_equal(src["e_w2mag"], num(exp["e_W2mproPM"]), equal_nan=True)
    assert (src["name"] == "CWISE " + exp["Name"]).all()


def test_catwise_falls_back_to_the_stationary_position():
    raw = sample("catwise2020")
    row = raw[raw["objID"] != ""].index[0]
    cut = pd.read_csv(sample_path("mw", "NGC3532_catwise.csv"), dtype=str,
                      keep_default_na=False)
    for col in ("RAPMdeg_catwise", "DEPMdeg_catwise", "e_RAPMdeg_catwise",
                "e_DEPMdeg_catwise", "ePosPM_catwise"):
        cut.loc[row, col] = ""
    out = normalize_survey(parse_survey(cut.to_csv(index=False).encode(), "catwise2020"),
                           "catwise2020")
    src = out.sources.set_index("native_id").loc[raw.loc[row, "objID"]]
    assert src["ra"] == float(raw.loc[row, "RA_ICRS"])
    assert src["epoch"] == pytest.approx(float(mjd_to_year(float(raw.loc[row, "_tab1_20"]))))
    assert src["extra"]["position_fit"] == "stationary"


def test_catwise_proper_motions_are_arcsec_per_year():
    """CatWISE pmRA x 1000 agrees with Gaia DR3 pmRA (mas/yr, with cos dec) of the same
    stars; read as mas/yr, or without the cos(dec) factor, it would not."""
    gaia = normalized("gaia_dr3").sources
    cat = normalized("catwise2020").sources
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    cg = SkyCoord(gaia["ra"].to_numpy() * u.deg, gaia["dec"].to_numpy() * u.deg)
    cc = SkyCoord(cat["ra"].to_numpy() * u.deg, cat["dec"].to_numpy() * u.deg)
    idx, sep, _ = cc.match_to_catalog_sky(cg)
    ok = (sep.arcsec < 0.5) & gaia["pmra"].to_numpy()[idx].__ne__(np.nan)
    g = gaia.iloc[idx[ok]]
    c = cat[ok]
    assert ok.sum() > 50
    diff = np.nanmedian(c["pmra"].to_numpy() - g["pmra"].to_numpy())
    assert abs(diff) < 5.0
    cosd = np.cos(np.radians(c["dec"].to_numpy()))
    assert abs(np.nanmedian(c["pmra"].to_numpy() / cosd - g["pmra"].to_numpy())) > 5.0
    # and its W1/W2 are Vega magnitudes like AllWISE's
    allwise = normalized("allwise").sources
    ca = SkyCoord(allwise["ra"].to_numpy() * u.deg, allwise["dec"].to_numpy() * u.deg)
    idx, sep, _ = cc.match_to_catalog_sky(ca)
    close = sep.arcsec < 1.0
    dw1 = cat["w1mag"].to_numpy()[close] - allwise["w1mag"].to_numpy()[idx[close]]
    assert abs(np.nanmedian(dw1)) < 0.2


def test_gaia_dr3_dist_maps_bailer_jones_distances():
    """A VizieR I/352/gedr3dis table (labels Source, RA_ICRS, DE_ICRS, rgeo, b_rgeo,
    B_rgeo, rpgeo, b_rpgeo, B_rpgeo, Flag) as TAPVizieR JSON: the Gaia ids and positions
    are the sample's, the distances real Bailer-Jones values of TD_train.csv (other stars:
    only the column mapping is tested)."""
    gaia = sample("gaia_dr3").head(4)
    td = pd.read_csv(sample_path("muwclass", "TD_train.csv"))
    td = td[td["rgeo"].notna()].head(4)
    names = ["Source", "RA_ICRS", "DE_ICRS", "rgeo", "b_rgeo", "B_rgeo", "rpgeo", "b_rpgeo",
             "B_rpgeo", "Flag"]
    rows = [[int(s), float(ra), float(de), float(r), float(lo), float(hi), float(r), float(lo),
             float(hi), "10033"]
            for s, ra, de, r, lo, hi in zip(gaia["Source"], gaia["RA_ICRS"], gaia["DE_ICRS"],
                                             td["rgeo"], td["b_rgeo"], td["B_rgeo"])]
    doc = {"metadata": [{"name": n, "description": n} for n in names], "data": rows}
    out = normalize_survey(parse_survey(json.dumps(doc).encode(), "gaia_dr3_dist"),
                           "gaia_dr3_dist")
    check_contract(out)
    assert list(out.sources["native_id"]) == list(gaia["Source"])
    assert list(out.sources["rgeo"]) == list(td["rgeo"])
    assert list(out.sources["rgeo_lo"]) == list(td["b_rgeo"])
    assert list(out.sources["rgeo_hi"]) == list(td["B_rgeo"])
    assert out.sources["gmag"].isna().all()
    assert out.sources["extra"].iloc[0]["Flag"] == "10033"
    assert not SURVEYS["gaia_dr3_dist"].associate


@pytest.mark.parametrize("file, asked, looks_like", [
    ("NGC3532_gaia.csv", "2mass", "Gaia DR3"),
    ("NGC3532_2mass.csv", "gaia_dr3", "2MASS"),
    ("NGC3532_catwise.csv", "allwise", "CatWISE2020"),
])
def test_a_file_of_another_survey_is_a_source_error(file, asked, looks_like):
    with pytest.raises(SourceError, match=f"looks like a {looks_like}"):
        parse_survey(sample_path("mw", file), asked)


@pytest.mark.parametrize("key, asked, looks_like", [
    ("2mass", "allwise", "2MASS"), ("allwise", "2mass", "AllWISE"),
    ("catwise2020", "allwise", "CatWISE2020"), ("gaia_dr3", "gaia_dr3_dist", "Gaia DR3"),
])
def test_an_unsuffixed_table_of_another_survey_is_a_source_error(key, asked, looks_like):
    data = sample(key).to_csv(index=False).encode()
    with pytest.raises(SourceError, match=f"looks like a {looks_like}.*read it as survey"):
        parse_survey(data, asked)


@pytest.mark.parametrize("key, drop, expect", [
    ("2mass", ["RAJ2000_2mass"], "missing required column.*RAJ2000"),
    ("gaia_dr3", ["DE_ICRS_gaia"], "missing required column.*DE_ICRS"),
    ("catwise2020", ["RAPMdeg_catwise", "RA_ICRS_catwise"],
     "missing position columns RAPMdeg/DEPMdeg or RA_ICRS/DE_ICRS"),
])
def test_missing_position_columns_are_source_errors(key, drop, expect):
    df = pd.read_csv(sample_path("mw", f"NGC3532_{SUFFIX[key]}.csv"), dtype=str,
                     keep_default_na=False).drop(columns=drop)
    with pytest.raises(SourceError, match=expect):
        parse_survey(df.to_csv(index=False).encode(), key)


def test_bad_rows_are_rejects_with_reasons():
    df = pd.read_csv(sample_path("mw", "NGC3532_2mass.csv"), dtype=str, keep_default_na=False)
    has = df.index[df["_2MASS_2mass"] != ""]
    r_nan, r_dec, r_err, r_id, r_jd, r_conf = has[:6]
    df.loc[r_nan, "RAJ2000_2mass"] = ""
    df.loc[r_dec, "DEJ2000_2mass"] = "95.5"
    df.loc[r_err, "errMaj_2mass"] = "-0.1"
    df.loc[r_id, "_2MASS_2mass"] = ""
    df.loc[r_jd, "_tab1_36_2mass"] = "yesterday"
    # the same id again with another position is a conflict, not a repeat
    conflict = df.loc[[r_conf]].copy()
    conflict["RAJ2000_2mass"] = str(float(conflict["RAJ2000_2mass"].iloc[0]) + 0.01)
    df = pd.concat([df, conflict], ignore_index=True)
    out = normalize_survey(parse_survey(df.to_csv(index=False).encode(), "2mass"), "2mass")
    check_contract(out)
    reasons = dict(zip(out.rejects["row_number"], out.rejects["reason"]))
    assert reasons[r_nan + 1].startswith("missing position: RAJ2000=''")
    assert "position out of range: DEJ2000=95.5" in reasons[r_dec + 1]
    assert "negative error: errMaj=-0.1" in reasons[r_err + 1]
    assert reasons[r_id + 1].startswith("missing id: column _2MASS is empty")
    assert "unparseable value: JD='yesterday'" in reasons[r_jd + 1]
    assert f"already appears in row {r_conf + 1}" in reasons[len(df)]
    assert len(reasons) == 6
    assert out.n_read == len(out.sources) + 6


def test_an_id_rounded_through_a_float_is_rejected():
    df = pd.read_csv(sample_path("mw", "NGC3532_gaia.csv"), dtype=str, keep_default_na=False)
    df.loc[0, "Source_gaia"] = "5.338654966094702e+18"
    out = normalize_survey(parse_survey(df.to_csv(index=False).encode(), "gaia_dr3"),
                           "gaia_dr3")
    assert list(out.rejects["row_number"]) == [1]
    assert "malformed id" in out.rejects["reason"].iloc[0]


def test_chunked_normalize_gives_the_result_of_one_call():
    df = pd.read_csv(sample_path("mw", "NGC3532_2mass.csv"), dtype=str, keep_default_na=False)
    df.loc[7, "errMaj_2mass"] = "-1"
    parsed = parse_survey(df.to_csv(index=False).encode(), "2mass")
    whole = normalize_survey(parsed, "2mass")
    parts = list(iter_normalize_survey(parsed, "2mass", chunk_rows=40))
    assert len(parts) == 10
    sources = pd.concat([p.sources for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(sources, whole.sources)
    rejects = pd.concat([p.rejects for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(rejects, whole.rejects)
    for key in ("n_rows", "n_without_counterpart", "n_repeated"):
        assert sum(p.sources.attrs[key] for p in parts) == whole.sources.attrs[key]
    assert sum(p.n_read for p in parts) == whole.n_read


def test_xmatch_spellings_read_like_vizier_labels():
    """Gaia DR3 as CDS XMatch spells it (RAdeg, DEdeg, e_RAdeg, e_DEdeg) and 2MASS as
    XMatch spells it (2MASS, errHalfMaj..., MeasureJD) give the same sources."""
    raw = sample("gaia_dr3")
    xm = raw.rename(columns={"RA_ICRS": "RAdeg", "DE_ICRS": "DEdeg", "e_RA_ICRS": "e_RAdeg",
                             "e_DE_ICRS": "e_DEdeg"})
    a = normalize_survey(parse_survey(raw.to_csv(index=False).encode(), "gaia_dr3"),
                         "gaia_dr3").sources
    b = normalize_survey(parse_survey(xm.to_csv(index=False).encode(), "gaia_dr3"),
                         "gaia_dr3").sources
    pd.testing.assert_frame_equal(a, b)
    raw = sample("2mass")
    xm = raw.rename(columns={"_2MASS": "2MASS", "errMaj": "errHalfMaj", "errMin": "errHalfMin",
                             "errPA": "errPosAng", "_tab1_36": "MeasureJD", "Qflg": "Qfl"})
    a = normalize_survey(parse_survey(raw.to_csv(index=False).encode(), "2mass"), "2mass")
    b = normalize_survey(parse_survey(xm.to_csv(index=False).encode(), "2mass"), "2mass")
    pd.testing.assert_frame_equal(a.sources.drop(columns="extra"),
                                  b.sources.drop(columns="extra"))


def test_votable_input():
    raw = sample("allwise")
    keep = raw[raw["AllWISE"] != ""].head(20)
    table = Table.from_pandas(keep[["AllWISE", "RAJ2000", "DEJ2000", "eeMaj", "eeMin", "eePA",
                                    "W1mag", "e_W1mag", "qph"]].assign(
        **{c: num(keep[c]) for c in ("RAJ2000", "DEJ2000", "eeMaj", "eeMin", "eePA",
                                     "W1mag", "e_W1mag")}))
    buf = io.BytesIO()
    table.write(buf, format="votable")
    out = normalize_survey(parse_survey(buf.getvalue(), "allwise"), "allwise")
    check_contract(out)
    assert list(out.sources["native_id"]) == list(keep["AllWISE"].drop_duplicates())
    assert np.array_equal(out.sources["ra"],
                          num(keep.drop_duplicates("AllWISE")["RAJ2000"]))
