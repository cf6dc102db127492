"""p_any cut-off calibrated on shifted X-ray catalogues (NWAY's procedure)."""

from __future__ import annotations

import numpy as np
import pytest

from associate.bayes import associate
from associate.calibrate import calibrate_p_any, p_any_cutoff, shifted_primary
from associate.inputs import Survey
from associate.simulate import SimSurvey, simulate_field
from catalog.coords import angular_separation_deg
from catalog.errors import InputError

GAIA = SimSurvey("gaia", 2 / (np.pi * 100), (0.01, 0.3), detect=0.8)


def test_cutoff_from_known_values():
    fake = np.r_[np.zeros(90), np.linspace(0.5, 0.95, 10)]  # 10% above 0.45
    real = np.r_[np.full(50, 0.99), np.zeros(50)]
    cal = p_any_cutoff(fake, real, false_rate=0.05)
    # the lowest cut-off with at most 5 of 100 fake values above it: 0.7 (0.75..0.95)
    assert cal.cutoff == pytest.approx(0.7)
    assert cal.false_rate == pytest.approx(0.05)
    assert cal.efficiency == pytest.approx(0.5)
    assert (cal.n_fake, cal.n_real) == (100, 100)
    assert cal.curve["false_rate"].is_monotonic_decreasing
    with pytest.raises(InputError, match="false_rate"):
        p_any_cutoff(fake, real, false_rate=1.5)


def test_shifted_catalogue_keeps_away_from_real_sources():
    field = simulate_field(np.random.default_rng(20), [GAIA], n_primary=2000,
                           radius_arcsec=900)
    fake = shifted_primary(field.primary, 180.0, 0.0, exclude_radius_arcsec=30.0)
    assert 0 < len(fake) < len(field.primary)
    moved = field.primary.set_index("id").loc[fake["id"]]
    sep = angular_separation_deg(moved["ra"], moved["dec"], fake["ra"], fake["dec"]) * 3600
    np.testing.assert_allclose(sep, 180.0, atol=1e-6)
    assert (fake["dec"].to_numpy() > moved["dec"].to_numpy()).all()  # PA 0: north
    # no moved source within 30" of any original one
    d = angular_separation_deg(fake["ra"].to_numpy()[:, None], fake["dec"].to_numpy()[:, None],
                               field.primary["ra"].to_numpy()[None, :],
                               field.primary["dec"].to_numpy()[None, :]) * 3600
    assert d.min() >= 30.0
    assert set(fake.columns) == set(field.primary.columns)


def test_cutoff_gives_the_requested_false_rate_on_another_shift():
    # survey sources cover 5' beyond the X-ray sources, so shifted copies stay covered
    field = simulate_field(np.random.default_rng(21), [GAIA], n_primary=4000,
                           radius_arcsec=1500, survey_radius_arcsec=1900)
    density = (len(field.surveys["gaia"]) + 1) / field.area_sr
    surveys = [Survey("gaia", field.surveys["gaia"], 0.9, density_sr=density)]
    real = associate(field.primary, surveys)
    cal = calibrate_p_any(field.primary, surveys, false_rate=0.05, shift_arcsec=180.0,
                          position_angle_deg=0.0, real=real)
    assert cal.false_rate <= 0.05
    assert 0.2 < cal.cutoff < 1.0
    # real sources are selected far more often than fakes (X-ray errors of 1-3" at
    # Gaia's density leave many real ones below the cut)
    assert cal.efficiency > 3 * cal.false_rate
    # an independent fake catalogue (another direction and distance) sees the same rate
    other = associate(shifted_primary(field.primary, 240.0, 120.0), surveys)
    rate = (other.sources["p_any"] > cal.cutoff).mean()
    tol = 3 * np.sqrt(0.05 * 0.95 / len(other.sources)) + 0.005
    assert abs(rate - 0.05) < tol, (rate, cal.cutoff)
    # and X-ray sources above the cut-off are mostly ones that have a true counterpart
    # (which of the candidates it is, is p_i's business)
    above = real.sources.loc[real.sources["p_any"] > cal.cutoff, "primary_id"]
    has_true = above.isin(field.truth["primary_id"])
    assert has_true.mean() > 0.85
    # the real sources without a counterpart pass at the calibrated rate, too
    n_without = (~real.sources["primary_id"].isin(field.truth["primary_id"])).sum()
    rate_real = (~has_true).sum() / n_without
    assert abs(rate_real - 0.05) < 3 * np.sqrt(0.05 * 0.95 / n_without) + 0.005, rate_real
