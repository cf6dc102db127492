"""catalog.variability: F_max / F_min and its significance, with upper limits."""

import numpy as np
import pandas as pd
import pytest
from helpers import sample_path

from catalog.errors import InputError
from catalog.flux_convert import convert_fluxes
from catalog.variability import VARIABILITY_COLUMNS, flux_ratio_significance, \
    object_variability
from ingest import csc, sxps, xmm


def test_two_detections_use_the_facing_errors():
    # faint 1.0 (+0.3 / -0.1), bright 4.0 (+0.2 / -0.5): sigma = hypot(0.5, 0.3)
    r = flux_ratio_significance([1.0, 4.0], [0.9, 3.5], [1.3, 4.2])
    assert r.ratio == 4.0 and not r.ratio_is_lower_limit
    assert r.sigma == pytest.approx(3.0 / np.hypot(0.5, 0.3), rel=1e-14)
    assert (r.i_max, r.i_min, r.n_used, r.n_detections, r.n_limits) == (1, 0, 2, 2, 0)


def test_the_extremes_are_chosen_among_many():
    values = np.array([3.0, 7.0, 2.0, 5.0])
    r = flux_ratio_significance(values, values - 0.4, values + 0.2)
    assert (r.i_max, r.i_min, r.ratio) == (1, 2, 3.5)
    assert r.sigma == pytest.approx(5.0 / np.hypot(0.4, 0.2))


def test_an_upper_limit_below_the_faintest_detection_gives_lower_limits():
    r = flux_ratio_significance([4.0, 2.0, np.nan], [3.5, 1.8, np.nan], [4.2, 2.1, 1.0])
    assert r.ratio_is_lower_limit and r.ratio == 4.0
    assert r.sigma == pytest.approx(3.0 / 0.5)  # the limit has no error
    assert (r.i_min, r.n_used, r.n_limits) == (2, 3, 1)


def test_an_upper_limit_above_the_faintest_detection_is_ignored():
    r = flux_ratio_significance([4.0, 2.0, np.nan], [3.5, 1.8, np.nan], [4.2, 2.1, 3.0])
    assert not r.ratio_is_lower_limit and r.ratio == 2.0 and r.n_used == 2


def test_one_detection_needs_a_limit_and_limits_alone_say_nothing():
    alone = flux_ratio_significance([4.0], [3.5], [4.5])
    assert np.isnan(alone.ratio) and np.isnan(alone.sigma) and alone.n_used == 1
    with_limit = flux_ratio_significance([4.0, 0.0], [3.5, 0.0], [4.5, 0.5])
    assert with_limit.ratio == 8.0 and with_limit.ratio_is_lower_limit  # 0 -/+: a limit
    limits = flux_ratio_significance([np.nan, np.nan], [np.nan] * 2, [1.0, 2.0])
    assert np.isnan(limits.ratio) and limits.i_max == -1
    empty = flux_ratio_significance([], [], [])
    assert np.isnan(empty.ratio) and empty.n_used == 0


def test_an_explicit_limit_mask_and_missing_errors():
    r = flux_ratio_significance([4.0, 1.0], [3.0, np.nan], [5.0, 1.0],
                                upper_limit=[False, True])
    assert r.ratio_is_lower_limit and r.ratio == 4.0 and r.sigma == 3.0  # (4 - 1) / 1
    r = flux_ratio_significance([4.0, 1.0], [np.nan, np.nan], [np.nan, np.nan])
    assert r.ratio == 4.0 and np.isnan(r.sigma)


def test_grouped_equals_one_object_at_a_time():
    rng = np.random.default_rng(5)
    n = 400
    value = 10 ** rng.uniform(-14, -12, n)
    value[rng.random(n) < 0.2] = np.nan
    frame = pd.DataFrame({"object_id": rng.integers(0, 90, n), "band": "b", "value": value,
                          "value_lo": value * 0.8, "value_hi": np.where(
                              np.isnan(value), 10 ** rng.uniform(-14, -12, n), value * 1.3)})
    frame = pd.concat([frame, frame.assign(band="h", value=1.0)], ignore_index=True)
    out = object_variability(frame)
    assert list(out.columns) == ["object_id", *VARIABILITY_COLUMNS]
    assert (out["var_band"] == "b").all() and out["object_id"].is_monotonic_increasing
    for oid, rows in frame[frame["band"] == "b"].groupby("object_id"):
        one = flux_ratio_significance(rows["value"], rows["value_lo"], rows["value_hi"])
        got = out.set_index("object_id").loc[oid]
        assert got["var_ratio"] == pytest.approx(one.ratio, nan_ok=True)
        assert got["var_sigma"] == pytest.approx(one.sigma, nan_ok=True)
        assert got["var_is_lower_limit"] == one.ratio_is_lower_limit
        assert got["n_fluxes"] == one.n_detections + one.n_limits
    with pytest.raises(InputError, match="lack column"):
        object_variability(frame.drop(columns="value_lo"))


def test_3c273_across_three_missions():
    """The CSC value_lo/value_hi of 3C 273 are 68 % confidence limits (bounds), not errors:
    sigma_max is value - value_lo of the brightest flux."""
    rows, sources = [], []
    for i, (module, path, key) in enumerate([
            (csc, ("csc", "heasarc_csc_3c273.vot"), "csc"),
            (xmm, ("xmm", "heasarc_xmmssc_5xmm_3c273.vot"), "xmm"),
            (sxps, ("sxps", "tapvizier_2sxps_3c273.json"), "2sxps")]):
        out = module.normalize(module.parse(sample_path(*path)))
        rows.append(out.fluxes.drop(columns="native_id").assign(source_id=i))
        sources.append(out.sources[["ra", "dec"]].assign(source_id=i, catalog=key))
    common = convert_fluxes(pd.concat(rows), pd.concat(sources)).assign(object_id=273)
    var = object_variability(common).iloc[0]
    b = common[common["band"] == "b"].set_index("source_id")
    # brightest: Swift (no error quoted, so no significance), faintest: the piled-up CSC
    assert var["var_ratio"] == pytest.approx(b.loc[1 + 1, "value"] / b.loc[0, "value"])
    assert 3 < var["var_ratio"] < 30 and var["n_fluxes"] == 3
    assert np.isnan(var["var_sigma"])
    xmm_csc = object_variability(common[common["source_id"] != 2]).iloc[0]
    expected = (b.loc[1, "value"] - b.loc[0, "value"]) / np.hypot(
        b.loc[1, "value"] - b.loc[1, "value_lo"], b.loc[0, "value_hi"] - b.loc[0, "value"])
    assert xmm_csc["var_sigma"] == pytest.approx(expected, rel=1e-12)
    assert xmm_csc["var_sigma"] > 1000  # both fluxes are precise: this is no noise
