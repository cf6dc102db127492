"""Tests of classify.model (pipeline, SMOTE, determinism) and classify.evaluate."""


import numpy as np
import pandas as pd
import pytest

from classify.evaluate import (
    classification_metrics,
    cross_validate_mc,
    evaluate,
    format_report,
    plot_confusion,
    reliability,
)
from classify.features import FeatureOptions
from classify.model import (
    SentinelFiller,
    SentinelSMOTE,
    TrainConfig,
    build_pipeline,
    fit_model,
    load_estimator,
)
from classify.montecarlo import classify_mc

from helpers import SAMPLES
TD = SAMPLES / "muwclass" / "TD_train.csv"
SMALL = {"n_estimators": 20, "max_features": "sqrt"}


@pytest.fixture(scope="module")
def td():
    return pd.read_csv(TD)


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (12, 3)), rng.normal(-3, 1, (8, 3))])
    X[::7, 1] = np.nan
    y = np.array(["A"] * 60 + ["B"] * 12 + ["C"] * 8)
    return X, y


def test_load_estimator_by_path():
    est = load_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": 3}, seed=5)
    assert est.get_params()["max_depth"] == 3 and est.get_params()["random_state"] == 5
    with pytest.raises(ValueError):
        load_estimator("RandomForestClassifier")


def test_default_is_reference_forest():
    model = build_pipeline().named_steps["model"]
    assert type(model).__name__ == "RandomForestClassifier"
    assert model.n_estimators == 100 and model.max_features == "sqrt"


def test_sentinel_smote_balances_and_keeps_missing():
    X, y = _toy()
    Xr, yr = SentinelSMOTE(k_neighbors=4, random_state=0).fit_resample(X, y)
    counts = pd.Series(yr).value_counts()
    assert (counts == 60).all()
    synthetic = Xr[len(X):]
    assert np.isnan(synthetic).any()  # interpolated from a missing value -> missing
    finite = synthetic[np.isfinite(synthetic)]
    assert finite.min() >= np.nanmin(X) - 1e-12


def test_smote_fraction_and_tiny_class():
    X, y = _toy()
    _, yr = SentinelSMOTE(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    assert pd.Series(yr).value_counts().to_dict() == {"A": 60, "B": 30, "C": 30}
    keep = np.r_[0:60, 60:72, 72:75]  # class C with 3 sources: fewer neighbours than 4
    _, yr = SentinelSMOTE(random_state=0).fit_resample(X[keep], y[keep])
    assert (pd.Series(yr).value_counts() == 60).all()
    with pytest.raises(ValueError):
        SentinelSMOTE().fit_resample(X[:61], y[:61])


def test_filler_sentinel():
    out = SentinelFiller().transform(np.array([[1.0, np.nan]]))
    assert out.tolist() == [[1.0, -100.0]]


def test_smote_only_when_fitting(monkeypatch):
    X, y = _toy()
    calls = []
    orig = SentinelSMOTE.fit_resample

    def spy(self, X_, y_):
        calls.append(len(X_))
        return orig(self, X_, y_)

    monkeypatch.setattr(SentinelSMOTE, "fit_resample", spy)
    pipe = build_pipeline(params=SMALL, seed=0).fit(X, y)
    assert calls == [len(X)]
    proba = pipe.predict_proba(X[:5])
    assert calls == [len(X)] and proba.shape == (5, 3)
    assert list(pipe.classes_) == ["A", "B", "C"]


def test_same_seed_same_probabilities(td):
    sub = td.groupby("True_Class").head(25)
    cfg = TrainConfig(params=SMALL, seed=3, options=FeatureOptions(variability=False))
    a = fit_model(sub, sub.True_Class.values, cfg)
    b = fit_model(sub, sub.True_Class.values, cfg)
    ra = classify_mc(a, sub.head(30), n_samples=20, seed=1, options=cfg.options)
    rb = classify_mc(b, sub.head(30), n_samples=20, seed=1, options=cfg.options)
    pd.testing.assert_frame_equal(ra, rb)
    c = fit_model(sub, sub.True_Class.values, TrainConfig(params=SMALL, seed=4, options=cfg.options))
    rc = classify_mc(c, sub.head(30), n_samples=20, seed=1, options=cfg.options)
    assert not np.allclose(ra["P_AGN"], rc["P_AGN"])


def test_metrics_hand_computed():
    m = classification_metrics(["A", "A", "B", "C"], ["A", "B", "B", "B"], ["A", "B", "C"])
    assert m["overall"] == pytest.approx(0.5)
    assert m["balanced"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert m["precision"]["B"] == pytest.approx(1 / 3)
    assert m["confusion"].tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_cross_validation_on_subset_above_floor(td, tmp_path):
    keep = np.concatenate([g.index[:120] for _, g in td.groupby("True_Class")])
    sub = td.loc[np.sort(keep)]
    cfg = TrainConfig(params=SMALL, seed=0, options=FeatureOptions(variability=False))
    res = cross_validate_mc(sub, sub.True_Class.values, cfg, n_splits=5, n_samples=10)
    assert len(res) == len(sub) and (res.index == sub.index).all()
    report = evaluate(res)
    assert report["all"]["overall"] > 0.6
    assert report["all"]["balanced"] > 0.5
    assert report["confident"]["overall"] >= report["all"]["overall"] - 0.02
    assert 0.3 < report["confident_fraction"] <= 1.0
    assert "Confident subset" in format_report(report)
    curve, ece, brier = reliability(res)
    assert curve["n"].sum() == len(sub) and 0 <= ece < 0.5 and 0 <= brier < 1
    png = plot_confusion(report["all"]["confusion"], report["classes"], tmp_path / "cm.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cross_validation_with_reddened_agn_models(td):
    keep = np.concatenate([g.index[:40] for _, g in td.groupby("True_Class")])
    sub = td.loc[np.sort(keep)]
    ebv = np.where(np.arange(len(sub)) % 2 == 0, 0.02, 0.5)
    cfg = TrainConfig(params={"n_estimators": 10}, seed=0, options=FeatureOptions(variability=False))
    res = cross_validate_mc(sub, sub.True_Class.values, cfg, n_splits=3, n_samples=5, ebv=ebv)
    # issue 11 item 8: each bin's fixed E(B-V), as classify run uses (bin 0 unreddened),
    # no longer the median of the held-out sources (0.02, 0.5)
    assert set(np.round(res["ebv_model"], 3)) == {0.0, round(float(np.sqrt(0.4 * 0.8)), 3)}
    assert evaluate(res)["all"]["overall"] > 0.4
