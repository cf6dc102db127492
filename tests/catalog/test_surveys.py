"""catalog.surveys: the survey vocabulary, checked against the real samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import sample_path

from catalog.errors import InputError
from catalog.surveys import (CATWISE_PM_EPOCH, SURVEYS, TRAINING_SET_COLUMNS,
                             canonical_columns, cosigma_to_correlation, ellipse_from_radec,
                             get_survey, mjd_to_year)
from ingest.normalized import SURVEY_SOURCE_COLUMNS

SUFFIX = {"gaia_dr3": "gaia", "2mass": "2mass", "allwise": "allwise", "catwise2020": "catwise"}


def mw(suffix: str) -> pd.DataFrame:
    df = pd.read_csv(sample_path("mw", f"NGC3532_{suffix}.csv"))
    return df.rename(columns=lambda c: c[:-len(suffix) - 1] if c.endswith(f"_{suffix}") else c)


def test_the_survey_keys_and_their_tables():
    assert list(SURVEYS) == ["gaia_dr3", "gaia_dr3_dist", "2mass", "allwise", "catwise2020"]
    expect = {"gaia_dr3": "I/355/gaiadr3", "gaia_dr3_dist": "I/352/gedr3dis",
              "2mass": "II/246/out", "allwise": "II/328/allwise",
              "catwise2020": "II/365/catwise"}
    for key, s in SURVEYS.items():
        assert s.key == key and s.vizier == expect[key]
        assert s.xmatch == f"vizier:{s.vizier}"
        assert s.reference and len(s.reference) == 19  # a bibcode
        assert s.associate is (key != "gaia_dr3_dist")
    assert SURVEYS["gaia_dr3_dist"].join_key == ("gaia_dr3", "Source")


@pytest.mark.parametrize("key", list(SUFFIX))
def test_every_named_column_exists_in_the_sample(key):
    """The canonical names are the VizieR labels the samples carry (astroquery ids for the
    ambiguous JD/MJD columns are aliases)."""
    s = SURVEYS[key]
    cols = set(mw(SUFFIX[key]).columns)
    cols |= {canonical_columns(cols, s).get(c, c) for c in cols}
    missing = sorted(c for c in s.known_columns() if c not in cols)
    # columns only XMatch/other views have are not expected in an astroquery answer
    assert missing == [], missing


def test_contract_columns_of_the_mappings_exist():
    contract = set(SURVEY_SOURCE_COLUMNS)
    for s in SURVEYS.values():
        for mag, col, ecol in s.mags:
            assert mag in contract and f"e_{mag}" in contract
        for c, _ in s.distances:
            assert c in contract


def test_training_set_columns_cover_the_multiwavelength_columns_of_td_train():
    header = list(pd.read_csv(sample_path("muwclass", "TD_train.csv"), nrows=0).columns)
    mw_cols = header[header.index("Gmag"):header.index("B_rgeo") + 1]
    assert list(TRAINING_SET_COLUMNS) == mw_cols
    for col, (key, contract) in TRAINING_SET_COLUMNS.items():
        assert key in SURVEYS
        assert contract in SURVEY_SOURCE_COLUMNS or contract == "pm"


def test_epochs():
    assert mjd_to_year(51544.5) == 2000.0
    assert CATWISE_PM_EPOCH == pytest.approx(2015.4, abs=0.01)
    assert SURVEYS["gaia_dr3"].epoch.year == 2016.0


def test_ellipse_from_radec_circles_and_axis_aligned_ellipses():
    a, b, pa = ellipse_from_radec([1.0, 2.0, 1.0], [1.0, 1.0, 3.0], [0.0, 0.0, 0.0])
    assert np.allclose(a, [1, 2, 3]) and np.allclose(b, [1, 1, 1])
    assert pa[1] == pytest.approx(90.0) and pa[2] == pytest.approx(0.0)  # E of N
    # the trace and determinant of the covariance are kept
    sa, sd, r = 0.3, 0.2, -0.6
    a, b, _ = ellipse_from_radec(sa, sd, r)
    assert a ** 2 + b ** 2 == pytest.approx(sa ** 2 + sd ** 2)
    assert (a * b) ** 2 == pytest.approx(sa ** 2 * sd ** 2 * (1 - r ** 2))


def test_wise_cosigma_convention_reproduces_allwise_ellipses():
    """AllWISE publishes both the ellipse (eeMaj/eeMin/eePA) and sigma/co-sigma
    (e_RA_pm/e_DE_pm/cosig_pm, of the motion fit, close to the stationary one): read as
    ``cov = sign(c) c**2``, the co-sigma gives the published position angles; with the
    opposite sign they would be off by ~90 degrees."""
    a = mw("allwise")
    a = a[a["e_RA_pm"].notna()]
    elongated = ((a["eeMaj"] - a["eeMin"]) / a["eeMaj"] > 0.05).to_numpy()
    r = cosigma_to_correlation(a["e_RA_pm"], a["e_DE_pm"], a["cosig_pm"])

    def pa_offset(corr):
        _, _, pa = ellipse_from_radec(a["e_RA_pm"], a["e_DE_pm"], corr)
        d = np.abs((pa - a["eePA"].to_numpy() + 90.0) % 180.0 - 90.0)
        return float(np.median(d[elongated]))

    assert elongated.sum() > 50
    assert pa_offset(r) < 10.0
    assert pa_offset(-r) > 45.0


def test_unknown_survey_is_an_input_error():
    with pytest.raises(InputError, match="unknown survey 'sdss'.*gaia_dr3"):
        get_survey("sdss")
