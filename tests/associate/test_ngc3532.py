"""The real NGC 3532 field (CSC 2.0, ObsID 8941) against the reference pipeline's picks.

What the samples allow: ``mw/NGC3532_<survey>.csv`` give, per X-ray source (row ``_q``
of ``csc/NGC3532_ave.csv``), the separations of every survey source within 10"
(``_rs_<survey>``) and the position and columns of the one the reference pipeline
(MUWCLASS) chose, which is always the nearest. Only where a source had exactly one
candidate is that survey's sky within 10" fully known, so only those rows can be
re-associated here: 85 in 2MASS, 224 in AllWISE, 119 in CatWISE2020 (Gaia DR3 has none:
NGC 3532 lies in the plane, with 3-19 Gaia sources in every 10" circle). Each survey is
associated on its own (the partial tables of different surveys do not describe the same
sky). The densities are those the samples measure: candidates in all 10" circles over
their area.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time

from associate.bayes import associate
from associate.candidates import ARCSEC_PER_RAD
from associate.inputs import Survey
from helpers import sample_path

#: CSC err_ellipse_r0/r1 are 95% confidence ellipses; 1 sigma of a 2-D Gaussian is
#: r95 / sqrt(-2 ln 0.05).
CSC_95_TO_1SIGMA = 1.0 / np.sqrt(-2.0 * np.log(0.05))
SEARCH_ARCSEC = 10.0  # the reference pipeline's radius (largest _rs is 9.998")


def _xray() -> pd.DataFrame:
    ave = pd.read_csv(sample_path("csc", "NGC3532_ave.csv"))
    per = pd.read_csv(sample_path("csc", "NGC3532_per.csv"))
    # every source is from ObsID 8941: the epoch is the middle of its good time
    start, end = Time(per["gti_obs"].iloc[0]), Time(per["gti_end"].iloc[0])
    epoch = (start.decimalyear + end.decimalyear) / 2
    return pd.DataFrame({
        "id": np.arange(1, len(ave) + 1),  # _q, the 1-based row
        "ra": ave["ra"], "dec": ave["dec"],
        "err_maj_arcsec": ave["err_ellipse_r0"] * CSC_95_TO_1SIGMA,
        "err_min_arcsec": ave["err_ellipse_r1"] * CSC_95_TO_1SIGMA,
        "err_pa_deg": ave["err_ellipse_ang"], "epoch": epoch})


def _survey(name: str):
    """(chosen sources of single-candidate rows as a survey table, their _q, density/sr)."""
    mw = pd.read_csv(sample_path("mw", f"NGC3532_{name}.csv"))
    rs = mw[f"_rs_{name}"].map(json.loads)
    n_cand = rs.map(len)
    density = n_cand.sum() / (len(mw) * np.pi * SEARCH_ARCSEC ** 2) * ARCSEC_PER_RAD ** 2
    one = mw[n_cand == 1]
    if name == "2mass":  # 2MASS PSC: 1-sigma ellipse; epoch = date of observation
        t = pd.DataFrame({"id": one["_2MASS_2mass"], "ra": one["RAJ2000_2mass"],
                          "dec": one["DEJ2000_2mass"], "err_maj_arcsec": one["errMaj_2mass"],
                          "err_min_arcsec": one["errMin_2mass"],
                          "err_pa_deg": one["errPA_2mass"],
                          "epoch": Time(list(one["Date_2mass"])).decimalyear})
    elif name == "allwise":  # AllWISE: 1-sigma ellipse, mean epoch 2010.5
        t = pd.DataFrame({"id": one["AllWISE_allwise"], "ra": one["RAJ2000_allwise"],
                          "dec": one["DEJ2000_allwise"], "err_maj_arcsec": one["eeMaj_allwise"],
                          "err_min_arcsec": one["eeMin_allwise"],
                          "err_pa_deg": one["eePA_allwise"], "epoch": 2010.5})
    else:  # CatWISE2020: stationary position at MJD 57170 (2015.4), sigma RA*, Dec
        t = pd.DataFrame({"id": one["Name_catwise"], "ra": one["RA_ICRS_catwise"],
                          "dec": one["DE_ICRS_catwise"],
                          "ra_err_arcsec": one["e_RA_ICRS_catwise"],
                          "dec_err_arcsec": one["e_DE_ICRS_catwise"], "epoch": 2015.4})
    pairs = pd.DataFrame({"primary_id": one["_q"].astype(int).to_numpy(),
                          "survey_id": t["id"].to_numpy(),
                          "ref_sep": one[f"_r_{name}"].to_numpy()})
    # two close X-ray sources can share their only candidate: one row per source
    return t.drop_duplicates("id").reset_index(drop=True), pairs, density


@pytest.mark.parametrize("name, n_rows", [("2mass", 85), ("allwise", 224), ("catwise", 119)])
def test_single_candidate_rows(name, n_rows):
    xray = _xray()
    table, pairs, density = _survey(name)
    assert len(pairs) == n_rows
    r = associate(xray, [Survey(name, table, completeness=0.9, density_sr=density)])
    cp = r.counterparts
    # nothing else in the table lies within 10" of these X-ray sources, so each has at
    # most one candidate, the reference's, at the reference's separation
    mine = cp.merge(pairs, on=["primary_id", "survey_id"], how="left")
    sole = mine[mine["primary_id"].isin(pairs["primary_id"])]
    assert sole["primary_id"].is_unique and sole["ref_sep"].notna().all()
    np.testing.assert_allclose(sole["sep_arcsec"], sole["ref_sep"], atol=0.05)
    # within 2 combined sigma: our engine picks the reference's counterpart
    close = sole[sole["sep_sigma"] < 2]
    assert len(close) >= 0.3 * n_rows
    assert close["best"].all() and (close["p_match"] > 0.5).all()
    # beyond the 5-sigma search the engine says "no counterpart in this survey" where
    # the reference took the nearest source within 10"; those are far off
    missing = pairs[~pairs["primary_id"].isin(sole["primary_id"])]
    sigma = xray.set_index("id").loc[missing["primary_id"], "err_maj_arcsec"].to_numpy()
    assert (missing["ref_sep"].to_numpy() > 3 * sigma).all()
    # the X-ray sources whose only candidate is within 1" are nearly all matched
    near = pairs[pairs["ref_sep"] < 1.0]
    best = set(zip(cp.loc[cp["best"], "primary_id"], cp.loc[cp["best"], "survey_id"]))
    assert np.mean([(p, s) in best for p, s in zip(near["primary_id"], near["survey_id"])]) > 0.9
