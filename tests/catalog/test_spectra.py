"""catalog.spectra: absorbed power-law band fluxes against analytic integrals, finer grids,
HEASARC WebPIMMS and the published eRASS1 energy conversion factors (tests/data/ecf)."""

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, sample_path

from catalog.absorption import TabulatedCrossSection, sigma_mm83
from catalog.spectra import (
    PANEL_DLNE,
    band_energy_flux,
    conversion_factor,
    galactic_nh_cm2,
    powerlaw_energy_flux_analytic,
)

BANDS = np.array([(0.2, 0.5), (0.5, 7.0), (0.5, 1.2), (1.2, 2.0), (2.0, 7.0), (4.5, 12.0),
                  (0.3, 10.0), (0.2, 12.0)])
LO, HI = BANDS[:, 0], BANDS[:, 1]


@pytest.fixture(scope="module")
def tbabs():
    return TabulatedCrossSection.from_file(sample_path("muwclass", "tbabs.data"),
                                           extrapolate_high=True)


@pytest.mark.parametrize("gamma", [0.5, 1.4, 1.7, 2.0, 2.0 + 1e-9, 2.6, 3.5])
def test_unabsorbed_integral_equals_the_analytic_one(gamma):
    ours = band_energy_flux(LO, HI, gamma, 0.0, observed=False)
    exact = powerlaw_energy_flux_analytic(LO, HI, gamma)
    assert np.max(np.abs(ours / exact - 1)) < 1e-12


def test_analytic_integral_at_gamma_2_is_the_logarithm():
    assert powerlaw_energy_flux_analytic(0.5, 7.0, 2.0) == pytest.approx(np.log(14.0),
                                                                         rel=1e-15)
    # (7**0.6 - 0.5**0.6) / 0.6 by hand
    assert powerlaw_energy_flux_analytic(0.5, 7.0, 1.4) == pytest.approx(
        (7**0.6 - 0.5**0.6) / 0.6, rel=1e-14)


@pytest.mark.parametrize("name", ["mm83", "tbabs"])
@pytest.mark.parametrize("nh", [1e20, 1e21, 1e22, 1e23, 1e24])
def test_absorbed_integral_has_converged(name, nh, tbabs):
    cs = sigma_mm83 if name == "mm83" else tbabs
    base = band_energy_flux(LO, HI, 1.7, nh, cross_section=cs)
    finer = band_energy_flux(LO, HI, 1.7, nh, cross_section=cs, panel_dlne=PANEL_DLNE / 4)
    higher = band_energy_flux(LO, HI, 1.7, nh, cross_section=cs, order=16)
    # bands absorbed to below 1e-30 of their flux carry no information (and approach
    # the smallest doubles); everything else is converged to 1e-9
    seen = base / band_energy_flux(LO, HI, 1.7, 0.0, observed=False) > 1e-30
    assert seen.sum() >= 5
    assert np.max(np.abs(finer / base - 1)[seen]) < 1e-9
    assert np.max(np.abs(higher / base - 1)[seen]) < 1e-9


def test_absorption_lowers_soft_bands_most_and_matches_band_transmission():
    from catalog.absorption import band_transmission

    t = band_energy_flux(LO, HI, 2.0, 1e22) / band_energy_flux(LO, HI, 2.0, 1e22,
                                                               observed=False)
    assert t[0] < t[2] < t[3] < t[4] < 1
    # the classifier's trapezoid transmission (2000 points across the edges: 2e-5)
    assert t[1] == pytest.approx(float(band_transmission(1e22, (0.5, 7.0))), rel=1e-4)


def test_vectorised_over_any_broadcast_shape_and_equal_to_scalar_calls():
    gam = np.array([1.4, 2.0, 2.6])[:, None]
    nh = np.array([0.0, 3e20, 5e21, 2e22])[None, :]
    grid = band_energy_flux(0.5, 2.0, gam, nh)
    assert grid.shape == (3, 4)
    assert grid[1, 2] == band_energy_flux(0.5, 2.0, 2.0, 5e21)
    many = band_energy_flux(np.linspace(0.3, 1, 300), np.linspace(2, 9, 300), 2.0, 1e21)
    assert many[17] == pytest.approx(float(band_energy_flux(np.linspace(0.3, 1, 300)[17],
                                                            np.linspace(2, 9, 300)[17],
                                                            2.0, 1e21)), rel=1e-14)


def test_nan_spectra_give_nan_and_bad_bands_are_errors():
    assert np.isnan(band_energy_flux(0.5, 7.0, 2.0, np.nan))
    assert np.isnan(band_energy_flux(0.5, 7.0, np.nan, 1e21))
    assert band_energy_flux(0.5, 7.0, 2.0, np.nan, observed=False) == pytest.approx(
        np.log(14.0))
    with pytest.raises(ValueError, match="7-0.5 keV"):
        band_energy_flux(7.0, 0.5, 2.0, 1e21)
    with pytest.raises(ValueError, match="N_H must be >= 0"):
        band_energy_flux(0.5, 7.0, 2.0, -1.0)
    with pytest.raises(ValueError, match="outside the table"):
        TabulatedCrossSection.from_file(sample_path("muwclass", "tbabs.data"))(12.0)


def test_tbabs_extrapolates_above_its_table_only_when_asked(tbabs):
    # continues the last log-log slope: photoelectric sigma falls roughly as E**-2.5..-3
    ratio = tbabs(20.0) / tbabs(10.0)
    assert 2.0 ** -3.2 < ratio < 2.0 ** -2.3
    assert tbabs.name == "tbabs" and len(tbabs.edges_kev) == tbabs.energy_kev.size
    assert 0.284 in sigma_mm83.edges_kev and sigma_mm83.name == "mm83"


PIMMS = pd.read_csv(DATA / "ecf" / "pimms_2to10kev_per_band.csv")


@pytest.mark.parametrize("gamma", sorted(PIMMS["gamma"].unique()))
def test_factors_match_webpimms(gamma):
    ref = PIMMS[PIMMS["gamma"] == gamma]
    ours = conversion_factor(ref["lo_kev"], ref["hi_kev"], 2.0, 10.0, gamma, 2e20)
    rel = ours / ref["flux_2_10_per_band_flux"].to_numpy() - 1
    assert len(ref) == 13
    assert np.max(np.abs(rel)) < 1e-3, dict(zip(ref["band"], rel))
    # band-to-band ratios (what livecat uses): csc_b per xmm_8, csc_h per xmm_4, ...
    f = dict(zip(ref["band"], ref["flux_2_10_per_band_flux"]))
    o = dict(zip(ref["band"], ours))
    for a, b in [("xmm_8", "csc_b"), ("xmm_4", "csc_h"), ("xmm_9", "csc_b"), ("xmm_3", "csc_m")]:
        assert o[a] / o[b] == pytest.approx(f[a] / f[b], rel=2e-3)


def test_csc_b_factor_at_gamma_2():
    assert conversion_factor(0.5, 7.0, 2.0, 10.0, 2.0, 2e20) == pytest.approx(0.62971,
                                                                              abs=1e-5)


def test_unabsorbed_fluxes_miss_webpimms():
    ref = PIMMS[(PIMMS["gamma"] == 2.0) & (PIMMS["band"] == "csc_s")].iloc[0]
    unabsorbed = conversion_factor(0.5, 1.2, 2.0, 10.0, 2.0, 2e20, observed=False)
    assert abs(unabsorbed / ref["flux_2_10_per_band_flux"] - 1) > 0.02


ERASS = pd.read_csv(DATA / "ecf" / "erass1_ecf_tubin_arenas2024.csv", dtype={"band": str})


def _weighted_ecf(gamma, tbabs, observed=True, order=("021", "022", "023")):
    rows = ERASS[ERASS["gamma"] == gamma].set_index("band")
    parts = rows.loc[["021", "022", "023"]]
    flux = band_energy_flux(parts["lo_kev"], parts["hi_kev"], gamma, 3e20,
                            cross_section=tbabs, observed=observed)
    ecf = rows.loc[list(order), "ecf_1e11_cts_cm2_per_erg"].to_numpy()
    return (ecf * flux).sum() / flux.sum(), rows.loc["02e", "ecf_1e11_cts_cm2_per_erg"]


@pytest.mark.parametrize("gamma", [2.0, 1.7])
def test_erass1_full_band_ecf_is_the_flux_weighted_sub_band_ecfs(gamma, tbabs):
    ours, published = _weighted_ecf(gamma, tbabs)
    assert ours / published - 1 == pytest.approx(0.0, abs=0.02)


def test_erass1_ecf_check_can_fail(tbabs):
    ours, published = _weighted_ecf(2.0, tbabs, observed=False)
    assert abs(ours / published - 1) > 0.04  # forgetting the absorption shows
    ours, published = _weighted_ecf(2.0, tbabs, order=("023", "022", "021"))
    assert abs(ours / published - 1) > 0.05  # so does pairing ECFs with the wrong bands


def test_galactic_nh_from_hi4pi():
    nh = galactic_nh_cm2([187.27785, 266.4, 192.86, np.nan], [2.05240, -28.9, 27.13, 0.0])
    # 3C 273 (b = +64 deg) ~1.7e20; the Galactic centre is 100x the north Galactic pole
    assert 1.5e20 < nh[0] < 2.0e20
    assert nh[1] > 100 * nh[2] and np.isnan(nh[3])
    assert galactic_nh_cm2(187.27785, 2.0524).shape == ()
    with pytest.raises(ValueError, match="declination 95"):
        galactic_nh_cm2(10.0, 95.0)
