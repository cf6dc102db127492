"""Classifier runs, labels in the database, classification_latest, CLI (real PostgreSQL)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import insert_td_sources, sample_path, td_excerpt
from typer.testing import CliRunner

from catalog.cli import build_app
from classify.artifacts import ArtifactError
from classify.labels import classify_run
from classify.labelstore import diff_runs, read_labels
from classify.measurements import Selection, load_measurements
from classify.montecarlo import classify_mc
from classify.runconfig import parse_params
from classify.runs import get_run, load_model, promote_run, train_run
from classify.trainingdata import resolve_training_set

SMALL = {"n_estimators": 8, "max_depth": 8}
MC = 20
N_SOURCES = 300


@pytest.fixture(scope="module")
def td_path():
    return sample_path("muwclass", "TD_train.csv")


@pytest.fixture(scope="module")
def home(tmp_path_factory, db_url):
    import os

    path = tmp_path_factory.mktemp("livecat-home")
    old = {k: os.environ.get(k) for k in ("LIVECAT_HOME", "LIVECAT_DATABASE_URL")}
    os.environ["LIVECAT_HOME"] = str(path)
    os.environ["LIVECAT_DATABASE_URL"] = db_url
    yield path
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def world(engine, home, td_path):
    """Two trained runs and N_SOURCES TD sources in the database (one lacks the s, m and
    h bands: it is skipped; one or two missing bands are classified, see
    test_missing_bands_are_nondetections)."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE livecat.class_probability, livecat.classification, "
                             "livecat.classifier_run, livecat.xray_source_flux, livecat.xray_source "
                             "RESTART IDENTITY CASCADE"))
    td = pd.read_csv(td_path)
    sample = td.sample(N_SOURCES, random_state=3).reset_index(drop=True)
    ids = insert_td_sources(engine, sample)
    with engine.begin() as conn:  # one source without any of its s, m, h bands
        conn.execute(sa.text("DELETE FROM livecat.xray_flux WHERE source_id = :s "
                             "AND band IN ('s', 'm', 'h')"), {"s": ids[-1]})
    ref = f"file:{td_path}"
    run1 = train_run(engine, ref, params=SMALL, mc_samples=MC, seed=1, home=home)
    run2 = train_run(engine, ref, params=SMALL, mc_samples=MC, seed=2, home=home,
                     feature_set="reference")
    return {"ids": ids, "run1": run1, "run2": run2, "sample": sample, "td": td}


def test_training_set_reference_and_run_row(world, td_path):
    run = world["run1"]
    data = resolve_training_set(None, f"file:{td_path}")
    assert run.training_set == f"file:TD_train.csv@sha256:{data.sha256}"
    assert run.n_train == 2352 and run.class_counts["AGN"] == 1112
    # item 7 of issue 11: the forest's defaults are LIVECAT_PARAMS (max_features 0.5)
    assert run.params == {"n_estimators": 8, "max_features": 0.5, "max_depth": 8}
    assert run.classes == sorted(run.class_counts)
    assert "plx_snr" in run.features and "plx_snr" not in world["run2"].features
    assert run.code_version and run.seed == 1 and run.mc_samples == MC
    assert len(run.artifact_sha256) == 64 and run.artifact_path.endswith(f"{run.id}.joblib")


def test_parse_params():
    assert parse_params(["n_estimators=30", "max_features=sqrt", "class_weight=null"]) == {
        "n_estimators": 30, "max_features": "sqrt", "class_weight": None}
    with pytest.raises(Exception, match="key=value"):
        parse_params(["oops"])


def test_run_writes_labels_and_latest_view(engine, world):
    s = classify_run(engine, world["run1"].id, Selection(catalogs=["csc"]), jobs=2)
    assert s.n_labelled == N_SOURCES - 1 and s.measurements.skipped_no_bands == 1
    assert s.measurements.n_selected == N_SOURCES
    again = classify_run(engine, world["run1"].id, Selection())
    assert again.n_labelled == 0 and again.measurements.skipped_labelled == N_SOURCES - 1
    promote_run(engine, world["run1"].id)
    latest = pd.read_sql_query("SELECT * FROM livecat.classification_latest ORDER BY source_id",
                               engine)
    assert len(latest) == N_SOURCES - 1 and (latest["run_id"] == world["run1"].id).all()
    prob_cols = [c for c in latest.columns if c.startswith("prob_") and c != "prob_std"]
    assert prob_cols == ["prob_agn", "prob_cv", "prob_hm_star", "prob_hmxb", "prob_lm_star",
                         "prob_lmxb", "prob_ns", "prob_yso"]
    np.testing.assert_allclose(latest[prob_cols].sum(axis=1), 1.0, atol=1e-9)
    top = latest[prob_cols].max(axis=1)
    np.testing.assert_allclose(latest["prob"], top)
    assert set(latest["predicted_class"]) <= set(world["run1"].classes)
    assert latest["confident"].dtype == bool and (latest["prob_std"] >= 0).all()
    n_probs = pd.read_sql_query("SELECT count(*) AS n FROM livecat.class_probability "
                                f"WHERE run_id = {world['run1'].id}", engine)["n"][0]
    assert n_probs == (N_SOURCES - 1) * 8


def test_same_seed_same_probabilities(engine, world):
    """The stored labels equal classify_mc's with the run's seed, for any thread count."""
    run = world["run1"]
    classify_run(engine, run.id, Selection())  # no-op where already labelled
    labels = read_labels(engine, run.id).set_index("source_id")
    meas = load_measurements(engine, Selection())
    model = load_model(run)
    direct = classify_mc(model, meas.table, MC, seed=run.seed, options=run.feature_options(),
                         chunk_sources=250)
    for c in run.classes:
        np.testing.assert_array_equal(labels[f"prob_{c}"].to_numpy(),
                                      direct.loc[labels.index, f"P_{c}"].to_numpy())
    # and a second database run of the same run and data gives the same numbers
    from classify.labels import classify_table

    again = classify_table(model, meas.table, MC, run.seed, run.feature_options(),
                           run.train_config().sigma_scale, jobs=1)
    np.testing.assert_array_equal(again["P_AGN"].to_numpy(), direct["P_AGN"].to_numpy())


def test_labels_are_immutable(engine, world):
    classify_run(engine, world["run1"].id, Selection())  # labels to protect (no-op if there)
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE livecat.classification SET class = 'CV'"))
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM livecat.class_probability"))
    with pytest.raises(sa.exc.DBAPIError, match="only metrics"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE livecat.classifier_run SET seed = 99"))


def test_artifact_hash_mismatch_is_refused(engine, world, home):
    run = train_run(engine, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                    params={"n_estimators": 2}, mc_samples=5, seed=9, home=home)
    with open(run.artifact_path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ArtifactError, match="SHA-256 .* but the run recorded"):
        load_model(get_run(engine, run.id))
    result = CliRunner().invoke(build_app(["classify"]), ["classify", "run", str(run.id)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: model artifact of run {run.id} ")


def test_diff_between_runs(engine, world):
    run2 = world["run2"]
    classify_run(engine, world["run1"].id, Selection())  # a no-op where already labelled
    classify_run(engine, run2.id, Selection(where="s.id % 2 = 0"))
    diff = diff_runs(engine, world["run1"].id, run2.id)
    both = read_labels(engine, world["run1"].id).merge(read_labels(engine, run2.id),
                                                       on="source_id", suffixes=("_a", "_b"))
    changed = both[(both["class_a"] != both["class_b"])
                   | (both["confident_a"] != both["confident_b"])]
    assert len(both) == int((pd.Series(world["ids"][:-1]) % 2 == 0).sum())
    assert sorted(diff["source_id"]) == sorted(changed["source_id"])
    assert set(diff["change"]) <= {"class", "confident", "class+confident"}


def test_cli(engine, world, td_path, home):
    app = build_app(["classify"])
    runner = CliRunner()
    out = runner.invoke(app, ["classify", "runs", "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert len(pd.read_csv(__import__("io").StringIO(out.stdout))) >= 2
    out = runner.invoke(app, ["classify", "show", str(world["run1"].id)])
    assert out.exit_code == 0 and "TD_train.csv@sha256:" in out.stdout
    out = runner.invoke(app, ["classify", "show", "9999"])
    assert out.exit_code == 1
    assert out.stderr.strip() == ("Error: no classifier run 9999 (list them with "
                                  "`livecat classify runs`)")
    out = runner.invoke(app, ["classify", "train", "--training-set", "file:/nonexistent.csv"])
    assert out.exit_code == 1
    assert out.stderr.strip() == ("Error: training set file /nonexistent.csv: "
                                  "No such file or directory")
    out = runner.invoke(app, ["classify", "train", "--training-set", "curated@3"])
    assert out.exit_code == 1
    assert out.stderr.strip() == ("Error: unknown training set 'curated@3': known sets are "
                                  "(none) (livecat trainingset list)")
    out = runner.invoke(app, ["classify", "train", "--training-set", f"file:{td_path}",
                              "--param", "n_estimators"])
    assert out.exit_code == 1 and "key=value" in out.stderr
    out = runner.invoke(app, ["classify", "run", str(world["run2"].id), "--where", "s.nonsense > 1"])
    assert out.exit_code == 1
    assert out.stderr.startswith("Error: --where 's.nonsense > 1': the database refused the "
                                 "selection: column s.nonsense does not exist")
    out = runner.invoke(app, ["classify", "diff", str(world["run1"].id), str(world["run2"].id),
                              "--format", "json"])
    assert out.exit_code == 0
    out = runner.invoke(app, ["classify", "promote", str(world["run2"].id)])
    assert out.exit_code == 0 and f"run {world['run2'].id} promoted" in out.stdout
    promoted = pd.read_sql_query("SELECT id FROM livecat.classifier_run WHERE promoted", engine)
    assert promoted["id"].tolist() == [world["run2"].id]


def test_cli_train_run_and_evaluate(engine, world, td_path, home, tmp_path):
    app = build_app(["classify"])
    runner = CliRunner()
    out = runner.invoke(app, ["classify", "train", "--training-set", f"file:{td_path}",
                              "--param", "n_estimators=5", "--param", "max_depth=6",
                              "--mc", "5", "--seed", "4", "--features", "reference"])
    assert out.exit_code == 0, out.output
    run_id = int(out.stdout.split()[2])
    out = runner.invoke(app, ["classify", "run", str(run_id), "--region",
                              str(world["sample"]["CSCv2_RA"][0]),
                              str(world["sample"]["CSCv2_DEC"][0]), "5"])
    assert out.exit_code == 0, out.output
    assert f"run {run_id}: " in out.stdout and "labelled 1" in out.stdout
    out = runner.invoke(app, ["classify", "evaluate", str(run_id), "--folds", "3", "--mc", "3",
                              "--png-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "All sources:" in out.stdout and "Confident subset:" in out.stdout
    assert (tmp_path / f"run{run_id}_confusion_all.png").exists()
    metrics = get_run(engine, run_id).metrics
    assert metrics["n_splits"] == 3 and 0 < metrics["all"]["overall"] <= 1


def test_training_table_from_frozen_members(engine, world):
    from classify.members import training_table_from_members

    def member(sid, cls, with_h=True, flags=None, bands="smh"):
        fluxes = {f"energy_flux_{b}": {"band_lo_kev": lo, "band_hi_kev": hi, "value": 1e-14,
                                       "value_lo": 0.8e-14, "value_hi": 1.2e-14}
                  for b, lo, hi in (("s", 0.5, 1.2), ("m", 1.2, 2.0), ("h", 2.0, 7.0))
                  if (with_h or b != "h") and b in bands}
        fluxes["energy_flux_b"] = {"band_lo_kev": 0.5, "band_hi_kev": 7.0, "value": 3e-14,
                                   "value_lo": 2e-14, "value_hi": 4e-14}
        return {"xray_source_id": sid, "livecat_class": cls,
                "features": {"fluxes": fluxes, "var_intra_prob": 0.1, "var_inter_prob": None,
                             "flags": flags or {}}}

    table, labels, skipped = training_table_from_members(
        [member(1, "AGN", flags={"extended": True, "confused": True}), member(2, "YSO"),
         member(3, "CV", with_h=False), member(4, "CV", bands="")])
    # issue 11 item 9: a member without the hard band is kept, the band a non-detection;
    # one with none of s, m, h is left out
    assert skipped == 1 and labels.tolist() == ["AGN", "YSO", "CV"]
    assert table.loc[3, "Fh"] == pytest.approx(7.98e-18, rel=1e-3)
    assert table.loc[3, "e_Fh"] == pytest.approx(6.03e-18, rel=1e-3)
    assert table.loc[1, "Fh"] == 1e-14 and table.loc[1, "e_Fh"] == pytest.approx(0.2e-14)
    assert table.loc[1, "CSCv2_flags"] == "extent|conf" and table.loc[2, "CSCv2_flags"] == ""
    assert np.isnan(table.loc[1, "Gmag"]) and "P_inter" not in table
    with pytest.raises(Exception, match="unknown training set 'nosuch@2'"):
        resolve_training_set(engine, "nosuch@2")


def test_counterpart_magnitudes_are_read_from_mw_best(engine, world):
    """The best counterparts (mw_counterpart via the mw_best view) feed the features."""
    sid, other = world["ids"][0], world["ids"][1]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO livecat.mw_counterpart (xray_source_id, survey, survey_id, gmag, "
            "e_gmag, plx, e_plx, w1mag, e_w1mag, is_best, matched_by) VALUES "
            "(:s, 'gaia_dr3', 'a', 20.0, 0.1, NULL, NULL, NULL, NULL, false, 'test'), "
            "(:s, 'gaia_dr3', 'b', 17.5, 0.01, 2.0, 0.1, NULL, NULL, true, 'test'), "
            "(:s, 'allwise', 'c', NULL, NULL, NULL, NULL, 14.0, 0.05, true, 'test')"),
            {"s": sid})
    try:
        meas = load_measurements(engine, Selection(where=f"s.id IN ({sid}, {other})"))
        assert meas.counterparts.startswith("mw_best view (")
        t = meas.table
        assert t.loc[sid, "Gmag"] == 17.5 and t.loc[sid, "e_Gmag"] == 0.01
        assert t.loc[sid, "W1mag"] == 14.0 and t.loc[sid, "Plx"] == 2.0
        assert np.isnan(t.loc[other, "Gmag"]) and np.isnan(t.loc[sid, "Jmag"])
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE livecat.mw_counterpart"))


def test_best_counterpart_values_follow_survey_priority():
    from classify.members import best_counterpart_values

    rows = [{"survey": "catwise2020", "is_best": True, "w1mag": 15.0, "e_w1mag": 0.2},
            {"survey": "allwise", "is_best": True, "w1mag": 14.0, "e_w1mag": None},
            {"survey": "gaia_dr3", "is_best": False, "gmag": 12.0}]
    out = best_counterpart_values(rows)
    assert out["W1mag"] == 14.0 and np.isnan(out["e_W1mag"]) and "Gmag" not in out


def _small_td(tmp_path, td_path, per_class: int = 6) -> str:
    path = tmp_path / "small.csv"
    td_excerpt(per_class).to_csv(path, index=False)
    return f"file:{path}"


def test_train_defaults_to_the_evaluated_forest(engine, world, td_path, home, tmp_path):
    """classify train without --param records LIVECAT_PARAMS (300 trees, max_features
    0.5); with --features reference the reference's forest (100 trees, sqrt)."""
    from classify.model import DEFAULT_PARAMS, LIVECAT_PARAMS

    ref = _small_td(tmp_path, td_path)
    app = build_app(["classify"])
    runs = {}
    for features in ("livecat", "reference"):
        out = CliRunner().invoke(app, ["classify", "train", "--training-set", ref, "--mc", "2",
                                       "--features", features])
        assert out.exit_code == 0, out.output
        runs[features] = get_run(engine, int(out.stdout.split()[2]))
    assert runs["livecat"].params == LIVECAT_PARAMS == {"n_estimators": 300,
                                                        "max_features": 0.5}
    assert runs["reference"].params == DEFAULT_PARAMS
    model = load_model(runs["livecat"]).named_steps["model"]
    assert (model.n_estimators, model.max_features) == (300, 0.5)
    help_text = CliRunner().invoke(app, ["classify", "train", "--help"]).stdout
    assert "n_estimators=300" in help_text and "max_features=0.5" in help_text


def test_unknown_estimator_is_one_error_naming_the_allowed(engine, world, td_path, home,
                                                           tmp_path):
    ref = _small_td(tmp_path, td_path)
    app = build_app(["classify"])
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM livecat.classifier_run")).scalar()
    allowed = ("random-forest, extra-trees, hist-gradient-boosting, or the import path of a "
               "scikit-learn classifier with predict_proba (e.g. "
               "sklearn.ensemble.ExtraTreesClassifier)")
    for name, message in (
            ("foo", f"Error: --estimator 'foo': not a known estimator; use {allowed}"),
            ("sklearn.ensemble.NoSuchForest", "Error: --estimator "
             f"'sklearn.ensemble.NoSuchForest': not a known estimator; use {allowed}"),
            ("sklearn.preprocessing.StandardScaler", "Error: --estimator "
             "'sklearn.preprocessing.StandardScaler' is not a scikit-learn classifier with "
             f"predict_proba; use {allowed}")):
        out = CliRunner().invoke(app, ["classify", "train", "--training-set", ref,
                                       "--estimator", name])
        assert out.exit_code == 1, out.output
        assert out.stdout == "" and out.stderr.splitlines() == [message]
    out = CliRunner().invoke(app, ["classify", "train", "--training-set", ref, "--mc", "2",
                                   "--estimator", "extra-trees", "--param", "n_estimators=5"])
    assert out.exit_code == 0, out.output
    run = get_run(engine, int(out.stdout.split()[2]))
    assert run.estimator == "sklearn.ensemble.ExtraTreesClassifier"
    assert run.params == {"n_estimators": 5}
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM livecat.classifier_run")).scalar()
    assert after == before + 1


@pytest.mark.filterwarnings("ignore::astropy.units.UnitsWarning")
def test_export_labels(engine, world, home, tmp_path):
    """classify export: the promoted run by default, every format twice with the same
    bytes, the stored numbers, catalog identifiers and the run's provenance."""
    from astropy.io import fits
    from astropy.io.votable import parse_single_table

    run = world["run1"]
    classify_run(engine, run.id, Selection())  # no-op where already labelled
    promote_run(engine, run.id)
    app = build_app(["classify"])
    for fmt, ext in (("csv", "csv"), ("parquet", "parquet"), ("fits", "fits"),
                     ("votable", "vot")):
        first = tmp_path / f"a.{ext}"
        out = CliRunner().invoke(app, ["classify", "export", "--format", fmt, "--out",
                                       str(first)])
        assert out.exit_code == 0, out.output
        assert out.stdout.startswith(f"wrote {first} (run {run.id}: {N_SOURCES - 1} labels")
        (tmp_path / fmt).mkdir()
        out = CliRunner().invoke(app, ["classify", "export", str(run.id), "--format", fmt,
                                       "--out", str(tmp_path / fmt)])
        assert out.exit_code == 0, out.output
        again = tmp_path / fmt / f"labels-run{run.id}.{ext}"
        assert again.read_bytes() == first.read_bytes(), fmt
    table = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert list(table.columns[:10]) == ["catalog", "native_id", "ra", "dec", "predicted_class",
                                        "prob", "prob_std", "ct", "confident",
                                        "xray_bands_missing"]
    assert "source_id" not in table and "prob_std_hm_star" in table
    assert list(table["native_id"]) == sorted(table["native_id"])
    labels = read_labels(engine, run.id)
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text(
            "SELECT id, native_id FROM livecat.xray_source")).all())
    labels["native_id"] = labels["source_id"].map(names)
    merged = table.merge(labels, on="native_id", suffixes=("", "_db"))
    assert len(merged) == N_SOURCES - 1
    np.testing.assert_allclose(merged["prob_cv"], merged["prob_CV"], rtol=0, atol=0)
    assert (merged["predicted_class"] == merged["class"]).all()
    assert (merged["confident"] == merged["confident_db"]).all()
    header = fits.getheader(tmp_path / "a.fits", 1)
    assert (header["RUNID"], header["TSREF"], header["TSHASH"]) == (
        str(run.id), run.training_set, run.training_set_sha256)
    assert fits.getdata(tmp_path / "a.fits", 1).columns["ra"].unit == "deg"
    vot = parse_single_table(tmp_path / "a.vot")
    infos = {i.name: i.value for i in vot._votable.resources[0].infos}
    assert infos["training_set"] == run.training_set and infos["classifier_run"] == str(run.id)
    manifest = json.loads((tmp_path / "a.parquet.manifest.json").read_text())
    assert manifest["training_set_hash"] == run.training_set_sha256
    assert manifest["n_labels"] == N_SOURCES - 1
    # errors: unknown run; a run without labels; nothing promoted
    out = CliRunner().invoke(app, ["classify", "export", "9999", "--format", "csv", "--out",
                                   str(tmp_path / "x.csv")])
    assert out.exit_code == 1 and out.stderr.startswith("Error: no classifier run 9999")
    unlabelled = train_run(engine, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                           params={"n_estimators": 2}, mc_samples=2, seed=5, home=home)
    out = CliRunner().invoke(app, ["classify", "export", str(unlabelled.id), "--format", "csv",
                                   "--out", str(tmp_path / "x.csv")])
    assert out.exit_code == 1
    assert out.stderr.splitlines() == [f"Error: run {unlabelled.id} has no labels yet: "
                                       f"classify with `livecat classify run "
                                       f"{unlabelled.id}` first"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE livecat.classifier_run SET promoted = false"))
    out = CliRunner().invoke(app, ["classify", "export", "--format", "csv", "--out",
                                   str(tmp_path / "x.csv")])
    assert out.exit_code == 1 and out.stderr.startswith("Error: no classifier run is promoted")
    assert not (tmp_path / "x.csv").exists()
