"""The cross-mission variability feature: values, missing handling, off by default, the
variability CSV and the coverage refusal (pure; no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import td_excerpt

from catalog.errors import InputError
from classify.crossvar import (
    attach_variability,
    check_coverage,
    coverage,
    read_variability_csv,
)
from classify.features import (
    CROSS_MISSION_FEATURES,
    FeatureOptions,
    compute_features,
    cross_mission_features,
)
from classify.model import SENTINEL, TrainConfig, fit_model
from classify.montecarlo import classify_mc, sample_measurements
from classify.runconfig import config_from_json, config_to_json, feature_options


def test_values_and_missing_handling():
    table = pd.DataFrame({
        "var_ratio": [np.nan, 1.0, 10.0, 0.5, 100.0, 4.0],
        "var_sigma": [np.nan, 0.0, 3.0, 1.0, np.nan, 2.5],
        "var_is_lower_limit": [None, False, True, False, None, 1.0],
    })
    f = cross_mission_features(table)
    np.testing.assert_allclose(f["log_xvar_ratio"], [np.nan, 0.0, 1.0, np.nan, 2.0,
                                                     np.log10(4.0)])
    # a ratio < 1 is not a ratio of highest to lowest: missing, not a negative log
    np.testing.assert_allclose(f["xvar_sigma"], [np.nan, 0.0, 3.0, np.nan, np.nan, 2.5])
    np.testing.assert_allclose(f["xvar_lower_limit"], [np.nan, 0.0, 1.0, np.nan, np.nan, 1.0])
    # seen once: every feature missing (the sentinel after scaling), never zero
    assert all(np.isnan(f[k][0]) for k in CROSS_MISSION_FEATURES)
    no_flag = cross_mission_features(table.drop(columns="var_is_lower_limit"))
    assert np.isnan(no_flag["xvar_lower_limit"]).all()  # unknown, not "not a lower limit"


def test_default_feature_sets_are_unchanged():
    assert FeatureOptions().cross_mission_variability is False
    livecat = feature_options("livecat", True)
    assert not set(CROSS_MISSION_FEATURES) & set(livecat.feature_names())
    assert len(livecat.feature_names()) == 61  # as measured (classify.model.LIVECAT_PARAMS)
    assert len(feature_options("reference", True).feature_names()) == 29  # 7 X-ray, 2 P, 8 fluxes, 12 colours
    on = feature_options("livecat", True, cross_mission_variability=True)
    assert on.feature_names() == livecat.feature_names() + list(CROSS_MISSION_FEATURES)
    # an old run's stored options (without the field) load with the feature off
    stored = config_to_json(TrainConfig(options=livecat))
    stored["options"].pop("cross_mission_variability")
    assert config_from_json(stored).options == livecat


def test_default_features_and_probabilities_ignore_variability_columns():
    td = td_excerpt(per_class=12)
    with_var = td.assign(var_ratio=np.linspace(1, 50, len(td)), var_sigma=3.0,
                         var_is_lower_limit=False)
    options = feature_options("livecat", True)
    pd.testing.assert_frame_equal(compute_features(td, options),
                                  compute_features(with_var, options))
    labels = td["True_Class"].to_numpy()
    config = TrainConfig(params={"n_estimators": 10, "max_depth": 6}, seed=1, options=options)
    model = fit_model(td, labels, config)
    again = fit_model(with_var, labels, config)
    a = classify_mc(model, td.head(8), 20, seed=5, options=options)
    b = classify_mc(again, with_var.head(8), 20, seed=5, options=options)
    pd.testing.assert_frame_equal(a, b)


def test_monte_carlo_copies_variability_and_the_model_sees_the_sentinel():
    td = td_excerpt(per_class=12)
    n = len(td)
    ratio = np.where(np.arange(n) % 3 == 0, np.nan, 1.0 + np.arange(n))
    td = td.assign(var_ratio=ratio, var_sigma=np.where(np.isnan(ratio), np.nan, 2.0),
                   var_is_lower_limit=[None if np.isnan(r) else bool(i % 2)
                                       for i, r in enumerate(ratio)])
    samples = sample_measurements(td.head(4), n_samples=3, seed=0)
    np.testing.assert_array_equal(samples["var_ratio"].to_numpy(),
                                  np.repeat(ratio[:4], 3))
    assert np.isnan(samples["var_is_lower_limit"].to_numpy()[:3]).all()
    options = FeatureOptions(cross_mission_variability=True)
    config = TrainConfig(params={"n_estimators": 5, "max_depth": 4}, seed=0, options=options)
    model = fit_model(td, td["True_Class"].to_numpy(), config)
    feats = compute_features(td, options)
    before_forest = feats.to_numpy(float)
    for _, step in model.steps[:-1]:  # scaler, (SMOTE: fit only), filler
        if hasattr(step, "transform"):
            before_forest = step.transform(before_forest)
    col = options.feature_names().index("log_xvar_ratio")
    assert (before_forest[np.isnan(ratio), col] == SENTINEL).all()  # missing, not zero
    assert (before_forest[~np.isnan(ratio), col] > SENTINEL).all()


def test_variability_csv(tmp_path):
    good = tmp_path / "var.csv"
    good.write_text("CSCv2_name,var_ratio,var_sigma,var_is_lower_limit\n"
                    "2CXO A,3.5,4.2,false\n2CXO B,,,\n2CXO C,12,,true\n")
    var = read_variability_csv(good)
    assert list(var.index) == ["2CXO A", "2CXO B", "2CXO C"]
    np.testing.assert_allclose(var["var_ratio"], [3.5, np.nan, 12])
    np.testing.assert_allclose(var["var_is_lower_limit"], [0.0, np.nan, 1.0])
    table = pd.DataFrame({"CSCv2_name": ["2CXO C", "2CXO Z"]})
    got = attach_variability(table, var, key=table["CSCv2_name"])
    np.testing.assert_allclose(got["var_ratio"], [12, np.nan])  # unknown name: missing
    bad = tmp_path / "bad.csv"
    bad.write_text("CSCv2_name,var_ratio,var_sigma\n2CXO A,3,1\n2CXO B,0.4,1\n")
    with pytest.raises(InputError, match=r"line 3 \(2CXO B\): var_ratio '0.4' is not a "
                                         r"number >= 1"):
        read_variability_csv(bad)
    bad.write_text("CSCv2_name,var_ratio,var_sigma\n2CXO A,3,1\n2CXO A,4,1\n")
    with pytest.raises(InputError, match="line 3: 2CXO A appears more than once"):
        read_variability_csv(bad)
    bad.write_text("CSCv2_name,var_ratio\n2CXO A,3\n")
    with pytest.raises(InputError, match="lacks column.*var_sigma"):
        read_variability_csv(bad)
    bad.write_text("CSCv2_name,var_ratio,var_sigma,var_is_lower_limit\n2CXO A,3,1,maybe\n")
    with pytest.raises(InputError, match="line 2: var_is_lower_limit 'maybe'"):
        read_variability_csv(bad)


def test_coverage_refuses_below_the_threshold():
    labels = np.array(["AGN"] * 100 + ["CV"] * 100)
    ratio = np.full(200, np.nan)
    table = pd.DataFrame({"var_ratio": ratio, "var_sigma": ratio,
                          "var_is_lower_limit": ratio})
    cov = coverage(table, labels)
    assert cov.n_covered == 0 and cov.fraction == 0
    with pytest.raises(InputError, match=r"0 of 200 sources \(0.00 %\).*need at least 5 % "
                                         r"of the sources, i.e. 10"):
        check_coverage(cov)
    ratio[:15] = 2.0  # 7.5 %, but all AGN: one class
    cov = coverage(table.assign(var_ratio=ratio), labels)
    assert cov.per_class == {"AGN": 15, "CV": 0}
    with pytest.raises(InputError, match="classes with enough: AGN\\)"):
        check_coverage(cov)
    ratio[100:110] = 1.5
    check_coverage(coverage(table.assign(var_ratio=ratio), labels))  # 12.5 %, two classes
