"""catalog.missions: every X-ray catalog has a position-error convention and a floor, and
the loaders' 1-sigma conversions agree with those conventions.

The agreement is computed, not assumed: each loader normalizes a real sample row whose
native error is set to 1 arcsec (a unit circle, or a unit ellipse for the CSC), and its
``pos_err_arcsec`` is compared with ``Mission.sigma_per_axis(1)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import sample_path

from catalog.errors import InputError
from catalog.missions import (MISSIONS, cross_match_floor_arcsec, get_mission,
                              systematic_floor_arcsec)
from ingest import csc, erass, muwclass, sxps, xmm
from ingest.registry import REGISTRY

XRAY_KEYS = {"csc", "xmm", "erass1", "2sxps", "lsxps", "muwclass-csc"}


def test_every_xray_catalog_has_a_convention_and_a_floor():
    registered = {name for name, spec in REGISTRY.items() if spec.kind == "xray"}
    assert registered | {muwclass.XRAY_CATALOG} == XRAY_KEYS == set(MISSIONS)
    for key, m in MISSIONS.items():
        assert m.catalog == key
        floor = systematic_floor_arcsec(key)
        assert math.isfinite(floor) and floor >= 0.0
        assert 0.0 < m.confidence < 1.0 and m.shape in ("ellipse", "circle")
        assert m.native_columns and m.references and m.meaning
        # a documented systematic already in the native error is not added again
        if m.systematic_included:
            assert floor == 0.0


def test_rayleigh_factors():
    assert MISSIONS["csc"].radius_per_sigma == pytest.approx(2.4477, abs=1e-4)
    assert MISSIONS["2sxps"].radius_per_sigma == pytest.approx(2.1460, abs=1e-4)
    assert MISSIONS["xmm"].radius_per_sigma == pytest.approx(math.sqrt(2.0))
    assert MISSIONS["erass1"].radius_per_sigma == pytest.approx(1.0)
    # a 2-D Gaussian: the fraction of offsets inside the native radius is the confidence
    rng = np.random.default_rng(3)
    xy = rng.normal(size=(200_000, 2))
    for m in MISSIONS.values():
        inside = np.mean(np.hypot(*xy.T) < m.radius_per_sigma)
        assert inside == pytest.approx(m.confidence, abs=0.005)


def test_floor_in_quadrature():
    m = MISSIONS["csc"]
    assert np.allclose(m.with_floor([0.3, 0.0]), np.hypot([0.3, 0.0], m.floor_arcsec))


def test_unknown_catalog_is_an_input_error():
    with pytest.raises(InputError, match="no position-error convention.*'chandra'"):
        systematic_floor_arcsec("chandra")
    with pytest.raises(InputError):
        get_mission("sdss")


def _one_row(df, **set_values):
    row = df.iloc[:1].copy()
    for col, value in set_values.items():
        row[col] = value
    return row


def _loader_sigma(key: str) -> float:
    """pos_err_arcsec the loader of ``key`` gives for a native error of 1 arcsec."""
    if key == "csc":
        df = csc.parse(sample_path("csc", "NGC3532_ave.csv"))
        out = csc.normalize(_one_row(df, err_ellipse_r0=1.0, err_ellipse_r1=1.0))
    elif key == "xmm":
        df = xmm.parse(sample_path("xmm", "heasarc_xmmssc_5xmm_3c273.vot"))
        out = xmm.normalize(_one_row(df, SC_POSERR=1.0))
    elif key == "erass1":
        df = erass.parse(sample_path("erass1", "tapvizier_erass1m_proxima.json"))
        out = erass.normalize(_one_row(df, POS_ERR=1.0))
    elif key in ("2sxps", "lsxps"):
        df = sxps.parse(sample_path("sxps", "tapvizier_2sxps_3c273.json"))
        out = sxps.normalize(_one_row(df, Err90=1.0))
    else:
        df = muwclass.parse_td(sample_path("muwclass", "TD_train.csv"))
        out = muwclass.normalize_td(_one_row(df, CSCv2_PU="1.0")).xray
    assert len(out.sources) == 1, out.rejects
    return float(out.sources["pos_err_arcsec"].iloc[0])


@pytest.mark.parametrize("key", sorted(XRAY_KEYS))
def test_loaders_one_sigma_agrees_with_the_convention_for_a_unit_circle(key):
    m = MISSIONS[key]
    expected = float(m.sigma_per_axis(1.0, 1.0 if m.shape == "ellipse" else None))
    assert _loader_sigma(key) == pytest.approx(expected, rel=1e-9)


def test_csc_ellipse_reduces_to_its_mean_variance_circle():
    df = csc.parse(sample_path("csc", "NGC3532_ave.csv"))
    out = csc.normalize(_one_row(df, err_ellipse_r0=2.0, err_ellipse_r1=1.0))
    assert out.sources["pos_err_arcsec"].iloc[0] == pytest.approx(
        float(MISSIONS["csc"].sigma_per_axis(2.0, 1.0)))


def test_every_catalog_has_a_cited_cross_match_floor():
    for key, m in MISSIONS.items():
        floor = cross_match_floor_arcsec(key)
        assert math.isfinite(floor) and floor >= 0.0
        assert m.cross_match_floor_source  # where the number comes from
    with pytest.raises(InputError, match="'chandra'"):
        cross_match_floor_arcsec("chandra")


def test_xmm_cross_match_floor_exceeds_the_error_of_a_much_observed_source():
    # 3C 273 in 5XMM-DR15 (42 detections): the loader's per-axis error is that of a mean,
    # 0.033", below the 0.35" (radial) residual of a rectified XMM frame
    df = xmm.parse(sample_path("xmm", "heasarc_xmmssc_5xmm_3c273.vot"))
    sigma = float(xmm.normalize(df).sources["pos_err_arcsec"].iloc[0])
    assert sigma == pytest.approx(1.29072e-05 * 3600 / math.sqrt(2.0))
    floor = cross_match_floor_arcsec("xmm")
    assert floor == pytest.approx(0.35 / math.sqrt(2.0))
    assert floor > 5 * sigma
    assert float(MISSIONS["xmm"].with_floor(sigma)) == pytest.approx(sigma)  # counterparts
