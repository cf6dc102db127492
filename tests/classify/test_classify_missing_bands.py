"""Sources measured in only one or two CSC bands are classified (issue 11, item 9).

The real CSC 2.0 sample around NGC 3532 (``../shared/samples/csc``): 389 sources, 52 of
them without a flux in one or two of the s, m, h bands (21 lack h, 16 s, 7 m, 4 m and h,
4 s and m). The reference pipeline classifies them: its training set holds a missing band
as a non-detection (``nan_flux``: mode 0, upper limit 1e-17 erg/cm2/s, written as
``8e-18`` +/- ``6e-18`` in ``TD_train.csv``), so livecat classifies them the same way and
records the bands on the label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import invoke, mark_searched, sample_path

from classify.features import (
    NONDETECTION_ERROR,
    NONDETECTION_FLUX,
    FeatureOptions,
    compute_features,
    fill_nondetections,
)
from classify.measurements import Selection, load_measurements
from classify.runs import train_run
from ingest import csc
from ingest.load import load_catalog


def test_training_set_holds_missing_bands_as_these_nondetections():
    td = pd.read_csv(sample_path("muwclass", "TD_train.csv"))
    for band in ("s", "m", "h"):
        filled = td[td[f"F{band}"] < 1e-17]
        assert len(filled) > 30
        assert np.allclose(filled[f"F{band}"], round(NONDETECTION_FLUX, 18))
        assert np.allclose(filled[f"e_F{band}"], round(NONDETECTION_ERROR, 18))


def test_fill_keeps_every_xray_feature_defined():
    table = pd.DataFrame({"Fs": [1e-14, np.nan, np.nan], "e_Fs": [1e-15, np.nan, np.nan],
                          "Fm": [2e-14, 3e-14, np.nan], "e_Fm": [1e-15, 2e-15, np.nan],
                          "Fh": [np.nan, 4e-14, np.nan], "e_Fh": [np.nan, 3e-15, np.nan]})
    filled, missing = fill_nondetections(table)
    assert missing.tolist() == ["h", "s", None]
    assert filled.loc[0, "Fh"] == NONDETECTION_FLUX and filled.loc[1, "e_Fs"] == \
        NONDETECTION_ERROR
    assert np.isnan(filled.loc[2, "Fs"])  # nothing measured: nothing invented
    mags = {c: np.nan for c in ("Gmag", "BPmag", "RPmag", "Jmag", "Hmag", "Kmag", "W1mag",
                                "W2mag", "W3mag")}
    feats = compute_features(filled.assign(**mags), FeatureOptions(variability=False))
    xray = ["Fs", "Fm", "Fh", "Fb", "HR_ms", "HR_hm", "HR_hms"]
    assert np.isfinite(feats.loc[[0, 1], xray].to_numpy()).all()
    assert np.isnan(feats.loc[2, xray].to_numpy(float)).all()


@pytest.fixture(scope="module")
def ngc3532(engine, tmp_path_factory, db_url):
    import os

    home = tmp_path_factory.mktemp("livecat-home")
    os.environ["LIVECAT_HOME"] = str(home)
    sample = csc.normalize(csc.parse(sample_path("csc", "NGC3532_conesearch.csv")),
                           release="2.0")
    assert load_catalog(engine, "csc", sample, version="2.0").n_inserted == 389
    mark_searched(engine)
    run = train_run(engine, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                    params={"n_estimators": 8, "max_depth": 8}, mc_samples=10, seed=3,
                    home=home)
    yield run
    os.environ.pop("LIVECAT_HOME", None)


def test_sources_with_missing_bands_are_classified(engine, ngc3532, monkeypatch, db_url):
    meas = load_measurements(engine, Selection(catalogs=["csc"]), ngc3532.id)
    assert (meas.n_selected, len(meas.table)) == (389, 389)
    assert (meas.skipped_no_bands, meas.skipped_no_errors) == (0, 0)
    assert meas.bands_missing.value_counts().to_dict() == {"h": 21, "s": 16, "m": 7,
                                                          "m,h": 4, "s,m": 4}
    res = invoke(["classify", "run", str(ngc3532.id), "--catalog", "csc"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"run {ngc3532.id}: 389 sources selected; labelled 389 ")
    assert lines[1] == ("non-detections: 52 labelled with one or two of the s/m/h fluxes "
                        "missing (s 20, m 15, h 25), taken as below 1e-17 erg/cm2/s as the "
                        "MUWCLASS training set takes them")
    assert lines[2] == ("skipped: 0 already labelled by this run, 0 lacking the s/m/h "
                        "energy fluxes (all three), 0 without flux errors")
    stored = pd.read_sql_query(sa.text(
        "SELECT s.native_id, c.xray_bands_missing FROM livecat.classification c "
        "JOIN livecat.xray_source s ON s.id = c.source_id WHERE c.run_id = :r"), engine,
        params={"r": ngc3532.id})
    assert len(stored) == 389
    assert stored["xray_bands_missing"].value_counts().to_dict() == {"h": 21, "s": 16, "m": 7,
                                                                    "m,h": 4, "s,m": 4}
    by_name = stored.set_index("native_id")["xray_bands_missing"]
    expected = meas.bands_missing.rename(None)
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text(
            "SELECT id, native_id FROM livecat.xray_source")).all())
    assert {names[i]: v for i, v in expected.items() if v} == by_name.dropna().to_dict()
