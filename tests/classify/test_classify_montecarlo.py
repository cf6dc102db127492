"""Tests of classify.montecarlo: sampling statistics, truncation, aggregation, confidence."""

import numpy as np
import pandas as pd
import pytest

from classify.features import MAG_COLUMNS
from classify.montecarlo import aggregate_probabilities, classify_mc, sample_measurements


def _table():
    row = {"Fs": 1e-14, "e_Fs": 1e-15, "Fm": 1e-15, "e_Fm": 2e-15, "Fh": 3e-14, "e_Fh": np.nan,
           "P_intra": 0.3, "P_inter": 0.4}
    for m in MAG_COLUMNS:
        row[m], row["e_" + m] = np.nan, np.nan
    row["Gmag"], row["e_Gmag"] = 18.0, 0.1
    row["Hmag"] = 15.0  # no error: an upper limit
    return pd.DataFrame([row, row])


def test_sampling_statistics_sqrt2_scaled():
    s = sample_measurements(_table(), 20000, seed=1)
    assert len(s) == 40000 and (s["source"].to_numpy()[:20000] == 0).all()
    g = s.loc[s.source == 0, "Gmag"]
    assert g.mean() == pytest.approx(18.0, abs=0.005)
    assert g.std() == pytest.approx(0.1 * np.sqrt(2), rel=0.03)
    fs = s.loc[s.source == 0, "Fs"]
    assert fs.std() == pytest.approx(1e-15 * np.sqrt(2), rel=0.03)


def test_fluxes_truncated_positive_and_errorless_fixed():
    s = sample_measurements(_table(), 5000, seed=2)
    assert (s["Fm"] > 0).all()  # error twice the value: redrawn until positive
    assert s["Fm"].mean() > 1e-15  # truncation shifts the mean up
    assert (s["Fh"] == 3e-14).all()  # no error: unperturbed
    assert (s["P_intra"] == 0.3).all()


def test_magnitude_without_error_is_missing_unless_fixed():
    assert sample_measurements(_table(), 10, seed=0)["Hmag"].isna().all()
    assert (sample_measurements(_table(), 10, seed=0, missing_error="fixed")["Hmag"] == 15.0).all()
    assert sample_measurements(_table(), 10, seed=0)["Jmag"].isna().all()


def test_sampling_is_seeded():
    a = sample_measurements(_table(), 50, seed=7)
    b = sample_measurements(_table(), 50, seed=7)
    c = sample_measurements(_table(), 50, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["Gmag"].equals(c["Gmag"])


def test_aggregate_synthetic_case():
    rng = np.random.default_rng(0)
    n = 4000
    # source 0: class A clearly ahead; source 1: A and B overlap
    p0 = np.column_stack([rng.normal(0.8, 0.02, n), rng.normal(0.15, 0.02, n)])
    p1 = np.column_stack([rng.normal(0.5, 0.1, n), rng.normal(0.45, 0.1, n)])
    proba = np.vstack([p0, p1])
    p = np.column_stack([proba, 1 - proba.sum(axis=1)])
    agg = aggregate_probabilities(p, n, ["A", "B", "C"])
    assert list(agg["Class"]) == ["A", "A"]
    assert agg.loc[0, "P_A"] == pytest.approx(0.8, abs=0.002)
    assert agg.loc[0, "e_P_A"] == pytest.approx(0.02, rel=0.05)
    assert agg.loc[0, "P_med_A"] == pytest.approx(0.8, abs=0.003)
    assert agg.loc[0, "P_lo_A"] == pytest.approx(0.8 - 2 * 0.02, abs=0.005)
    assert agg.loc[0, "P_hi_A"] == pytest.approx(0.8 + 2 * 0.02, abs=0.005)
    assert agg.loc[0, "CT"] == pytest.approx(0.65 / 0.04, rel=0.05)
    assert agg.loc[0, "confident"] and not agg.loc[1, "confident"]


def test_aggregate_zero_spread_is_confident():
    p = np.tile([0.7, 0.3], (10, 1))
    agg = aggregate_probabilities(p, 10, ["A", "B"])
    assert agg.loc[0, "confident"] and agg.loc[0, "CT"] > 1e6
    tie = aggregate_probabilities(np.tile([0.5, 0.5], (10, 1)), 10, ["A", "B"])
    assert not tie.loc[0, "confident"]


class _Constant:
    classes_ = np.array(["A", "B"])

    def __init__(self):
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        return np.column_stack([np.full(len(X), 0.9), np.full(len(X), 0.1)])


def test_classify_mc_one_call_per_chunk():
    model = _Constant()
    t = pd.concat([_table()] * 5, ignore_index=True)
    out = classify_mc(model, t, n_samples=30, seed=0, chunk_sources=4)
    assert model.calls == 3 and len(out) == 10
    assert (out["Class"] == "A").all() and out["confident"].all()
