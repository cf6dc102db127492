"""Tests of catalog.absorption: Morrison & McCammon (1983) against the reference's tbabs table."""


import numpy as np
import pytest

from catalog.bands import CSC_BANDS_KEV
from catalog.absorption import (
    TabulatedCrossSection,
    band_transmission,
    csc_band_transmissions,
    sigma_mm83,
)

from helpers import SAMPLES
TBABS = SAMPLES / "muwclass" / "tbabs.data"


@pytest.fixture(scope="module")
def tbabs():
    return TabulatedCrossSection.from_file(TBABS)


def test_mm83_known_value_at_1kev():
    # (120.6 + 169.3 - 47.7) / 1^3 x 1e-24 cm^2
    assert sigma_mm83(1.0) == pytest.approx(2.422e-22, rel=1e-3)


def test_mm83_matches_tbabs_table_away_from_edges(tbabs):
    e = np.geomspace(0.6, 6.5, 200)
    ratio = sigma_mm83(e) / tbabs(e)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    assert np.all((ratio > 0.7) & (ratio < 1.4))


@pytest.mark.parametrize("nh", [1e21, 1e22, 5e22])
def test_band_optical_depth_matches_tbabs(tbabs, nh):
    ours = csc_band_transmissions(nh)
    ref = csc_band_transmissions(nh, sigma=tbabs)
    for band in ("s", "m", "h", "b"):
        if ref[band] < 1e-6:
            continue
        assert np.log(ours[band]) / np.log(ref[band]) == pytest.approx(1.0, abs=0.08), band


def test_band_transmission_limits_and_order():
    assert band_transmission(0.0, (0.5, 7.0)) == pytest.approx(1.0)
    t = csc_band_transmissions(1e22)
    assert 0 < t["s"] < t["m"] < t["h"] < 1  # soft X-rays are absorbed most
    many = band_transmission(np.array([1e20, 1e21, 1e22]), CSC_BANDS_KEV["s"])
    assert many.shape == (3,) and np.all(np.diff(many) < 0)


def test_band_transmission_depends_on_spectrum():
    flat = band_transmission(1e22, CSC_BANDS_KEV["b"], gamma=1.0)
    steep = band_transmission(1e22, CSC_BANDS_KEV["b"], gamma=3.0)
    assert flat > steep
