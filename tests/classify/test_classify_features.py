"""Tests of classify.features: hardness ratios, survey limits, colours, fluxes, missing."""


import numpy as np
import pandas as pd
import pytest

from classify.features import (
    MAG_COLUMNS,
    FeatureOptions,
    REFERENCE_COLOURS,
    all_colours,
    compute_features,
    hardness_ratios,
    mag_to_flux,
    mask_survey_limits,
)

from helpers import SAMPLES
TD = SAMPLES / "muwclass" / "TD_train.csv"


def _row(**kw):
    base = {"Fs": 1e-14, "Fm": 2e-14, "Fh": 5e-14, "P_intra": 0.1, "P_inter": 0.2}
    base.update({m: np.nan for m in MAG_COLUMNS})
    base.update(kw)
    return pd.DataFrame([base])


def test_hardness_ratios_hand_computed():
    hr = hardness_ratios([1.0, 3.0], [2.0, 1.0], [5.0, 0.5])
    # (2-1)/3, (5-2)/7, (5-2-1)/8 ; (1-3)/4, (0.5-1)/1.5, (0.5-1-3)/4.5
    assert hr["HR_ms"] == pytest.approx([1 / 3, -0.5])
    assert hr["HR_hm"] == pytest.approx([3 / 7, -1 / 3])
    assert hr["HR_hms"] == pytest.approx([0.25, -3.5 / 4.5])


def test_hardness_ratio_undefined_is_nan_not_zero():
    hr = hardness_ratios([0.0], [0.0], [1.0])
    assert np.isnan(hr["HR_ms"][0])
    assert hr["HR_hm"][0] == pytest.approx(1.0)


def test_survey_limits_mask_faint_magnitudes():
    mags = pd.DataFrame({
        "Gmag": [21.49, 21.5, 22.0], "BPmag": [21.4, 21.6, np.nan], "RPmag": [20.9, 21.0, 15.0],
        "Jmag": [18.4, 18.5, 10], "Hmag": [17.9, 18.0, 10], "Kmag": [16.9, 17.0, 10],
        "W1mag": [18.4, 18.5, 10], "W2mag": [17.4, 17.5, 10], "W3mag": [14.4, 14.5, 10],
    })
    out = mask_survey_limits(mags)
    assert out.iloc[0].notna().all()
    assert out.iloc[1].isna().all()  # exactly at the limit is missing
    assert np.isnan(out.loc[2, "Gmag"]) and np.isnan(out.loc[2, "BPmag"])
    assert out.loc[2, "RPmag"] == 15.0
    assert mags.loc[1, "Gmag"] == 21.5  # input untouched


def test_mag_to_flux_uses_zero_point_and_width():
    assert mag_to_flux(0.0, "Gmag") == pytest.approx(2.5e-9 * 4052.97)
    assert mag_to_flux(2.5, "Jmag") == pytest.approx(3.13e-10 * 1624.32 / 10)


def test_feature_row_hand_computed():
    row = _row(Gmag=15.0, BPmag=15.5, RPmag=14.2, Jmag=13.0, Hmag=19.0)
    f = compute_features(row, FeatureOptions()).iloc[0]
    fb = 8e-14
    assert f["Fb"] == pytest.approx(np.log10(fb))
    assert f["Fs"] == pytest.approx(np.log10(1 / 8))
    assert f["Fh"] == pytest.approx(np.log10(5 / 8))
    assert f["HR_ms"] == pytest.approx(1 / 3)
    assert f["F_Gmag"] == pytest.approx(np.log10(mag_to_flux(15.0, "Gmag") / fb))
    assert f["G-BP"] == pytest.approx(-0.5)
    assert f["G-J"] == pytest.approx(2.0)
    # H fainter than the 2MASS limit: missing, and so are its colours
    assert np.isnan(f["F_Hmag"]) and np.isnan(f["J-H"]) and np.isnan(f["G-H"])
    # no WISE counterpart: missing, never zero
    assert np.isnan(f["F_W1mag"]) and np.isnan(f["W1-W2"])
    assert f["P_intra"] == 0.1


def test_feature_names_and_options():
    opts = FeatureOptions(variability=False, astrometry=True, colour_names=all_colours())
    names = opts.feature_names()
    assert "P_intra" not in names and "log_dist" in names
    assert len(all_colours()) == 36 and set(REFERENCE_COLOURS) <= set(all_colours())
    assert "F_W3mag" not in FeatureOptions().feature_names()  # W3 only via colours
    assert len(FeatureOptions().feature_names()) == 4 + 3 + 2 + 8 + 12


def test_astrometry_distance_cut():
    row = _row(Plx=[1.0, 0.3, -1.0], e_Plx=[0.1, 0.2, 0.1], PM=[5.0, 0.0, 2.0],
               rgeo=[1000.0, 2000.0, 3000.0])
    row = pd.concat([row] * 3, ignore_index=True)
    row["Plx"], row["e_Plx"] = [1.0, 0.3, -1.0], [0.1, 0.2, 0.1]
    row["PM"], row["rgeo"] = [5.0, 0.0, 2.0], [1000.0, 2000.0, 3000.0]
    f = compute_features(row, FeatureOptions(astrometry=True))
    assert f.loc[0, "log_dist"] == pytest.approx(3.0)
    assert f["log_dist"].iloc[1:].isna().all()  # S/N < 2 and negative parallax
    assert np.isnan(f.loc[1, "log_pm"])


def test_training_set_features_have_explicit_missing():
    td = pd.read_csv(TD)
    f = compute_features(td, FeatureOptions(variability=False))
    assert len(f) == len(td) == 2352
    assert np.isfinite(f[["Fs", "Fm", "Fh", "Fb", "HR_ms", "HR_hm", "HR_hms"]]).all().all()
    no_gaia = td["Gmag"].isna()
    assert f.loc[no_gaia, "F_Gmag"].isna().all()
    assert (f.notna().sum() > 0).all()


def test_csc_flags_parsed():
    rows = pd.concat([_row()] * 3, ignore_index=True)
    rows["CSCv2_flags"] = ["extent|conf", np.nan, "pileup"]
    f = compute_features(rows, FeatureOptions(flags=True))
    assert f["flag_extent"].tolist() == [1.0, 0.0, 0.0]
    assert f["flag_conf"].tolist() == [1.0, 0.0, 0.0]
    assert f["flag_pileup"].tolist() == [0.0, 0.0, 1.0]
