"""AGN reddening when classifying (issue 6): one model per E(B-V) bin, not per source.

The same 250 training-set measurements are placed twice: near the north Galactic pole
(E(B-V) below the first bin edge: the run's stored model) and in the Galactic plane
(a model trained on AGN reddened to that bin). A run with --redden-agn must label the
high-latitude copies exactly as a plain run with the same seed does, label the plane
copies differently, and do so reproducibly.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from helpers import insert_td_sources, sample_path, td_excerpt

from classify.labels import classify_run, source_ebv
from classify.labelstore import read_labels
from classify.measurements import Selection
from classify.reddening import EBV_BIN_EDGES, ebv_bins
from classify.runs import train_run
from classify.trainingdata import resolve_training_set

SMALL = {"n_estimators": 8, "max_depth": 8}
N = 250  # = classify_run's chunk size, so both runs draw the same Monte Carlo samples


@pytest.fixture(scope="module")
def placed(engine, tmp_path_factory, db_url):
    import os

    home = tmp_path_factory.mktemp("livecat-home")
    os.environ["LIVECAT_HOME"] = str(home)
    td_path = sample_path("muwclass", "TD_train.csv")
    td = pd.read_csv(td_path).sample(N, random_state=5).reset_index(drop=True)
    rng = np.random.default_rng(1)
    groups = {}
    for name, (l0, b0) in {"high_latitude": (0.0, 88.0), "plane": (40.0, 0.5)}.items():
        g = SkyCoord(l=(l0 + rng.uniform(-0.5, 0.5, N)) * u.deg,
                     b=(b0 + rng.uniform(-0.2, 0.2, N)) * u.deg, frame="galactic").icrs
        placed_td = td.assign(CSCv2_RA=g.ra.deg, CSCv2_DEC=g.dec.deg)
        groups[name] = np.asarray(insert_td_sources(engine, placed_td, catalog=name))
    ref = f"file:{td_path}"
    plain = train_run(engine, ref, params=SMALL, mc_samples=20, seed=4, home=home)
    red = train_run(engine, ref, params=SMALL, mc_samples=20, seed=4, home=home,
                    redden_agn=True)
    red2 = train_run(engine, ref, params=SMALL, mc_samples=20, seed=4, home=home,
                     redden_agn=True)
    for run in (plain, red, red2):
        classify_run(engine, run.id, Selection())
    yield groups, plain, red, red2
    os.environ.pop("LIVECAT_HOME", None)


def _probs(engine, run, ids):
    labels = read_labels(engine, run.id).set_index("source_id").loc[ids]
    return labels[[f"prob_{c}" for c in run.classes]].to_numpy()


def test_lines_of_sight_fall_in_the_intended_bins(engine, placed):
    groups, *_ = placed
    assert (ebv_bins(source_ebv(engine, groups["high_latitude"])) == 0).all()
    plane = source_ebv(engine, groups["plane"])
    assert (plane > EBV_BIN_EDGES[0]).all() and np.median(plane) > 0.5


def test_high_latitude_labels_equal_the_plain_run(engine, placed):
    groups, plain, red, _ = placed
    np.testing.assert_array_equal(_probs(engine, red, groups["high_latitude"]),
                                  _probs(engine, plain, groups["high_latitude"]))


def test_plane_labels_use_reddened_agn_and_are_reproducible(engine, placed):
    groups, plain, red, red2 = placed
    p_red = _probs(engine, red, groups["plane"])
    assert not np.allclose(p_red, _probs(engine, plain, groups["plane"]))
    np.testing.assert_array_equal(p_red, _probs(engine, red2, groups["plane"]))
    assert red.config["redden_agn"] is True and plain.config["redden_agn"] is False


def _small_td(per_class: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    small = td_excerpt(per_class)
    return small, small["True_Class"].to_numpy()


def test_evaluation_reddens_as_classification_does():
    """cross_validate_mc with E(B-V): every held-out source is classified by the model of
    its bin, reddened to the bin's fixed value (0 = unreddened below the first edge), the
    values classify run uses; not the median of the held-out sources."""
    from classify.evaluate import cross_validate_mc
    from classify.model import TrainConfig
    from classify.reddening import ebv_bin_values, reddened_training

    table, labels = _small_td()
    ebv = np.geomspace(0.01, 4.0, len(table))
    config = TrainConfig(params={"n_estimators": 4, "max_depth": 4}, seed=2)
    result = cross_validate_mc(table, labels, config, n_splits=2, n_samples=2, ebv=ebv)
    expected = ebv_bin_values()[ebv_bins(ebv)]
    np.testing.assert_array_equal(result["ebv_model"].to_numpy(), expected)
    assert expected[0] == 0.0 and len(np.unique(expected)) == len(EBV_BIN_EDGES) + 1
    same, value = reddened_training(table, labels, 0)
    assert same is table and value == 0.0
    red, value = reddened_training(table, labels, 5)
    agn = labels == "AGN"
    assert value == ebv_bin_values()[5]
    assert (red.loc[agn, "Fs"] < table.loc[agn, "Fs"]).all()
    pd.testing.assert_frame_equal(red[~agn], table[~agn])


def test_classify_evaluate_of_a_redden_run_reddens(engine, placed, tmp_path):
    from classify.runs import evaluate_run
    from classify.trainingdata import training_ebv

    table, _ = _small_td()
    path = tmp_path / "small.csv"
    table.to_csv(path, index=False)
    home = tmp_path / "home"
    red = train_run(engine, f"file:{path}", params=SMALL, mc_samples=3, seed=4, home=home,
                    redden_agn=True)
    plain = train_run(engine, f"file:{path}", params=SMALL, mc_samples=3, seed=4, home=home)
    report, _ = evaluate_run(engine, red.id, n_splits=3, mc_samples=3, png_dir=tmp_path)
    assert report["redden_agn"] is True
    bins = ebv_bins(training_ebv(resolve_training_set(None, f"file:{path}")))
    from classify.reddening import ebv_bin_values

    values = ebv_bin_values()[bins]
    assert report["ebv_model_counts"] == {f"{v:.4g}": int((values == v).sum())
                                          for v in sorted(set(values))}
    assert len(report["ebv_model_counts"]) > 1  # the lines of sight span several bins
    plain_report, _ = evaluate_run(engine, plain.id, n_splits=3, mc_samples=3,
                                   png_dir=tmp_path)
    assert plain_report["redden_agn"] is False and "ebv_model_counts" not in plain_report
