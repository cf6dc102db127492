"""Classifier runs: train, record, list, promote and evaluate versioned MUWCLASS models.

Every training is one ``livecat.classifier_run`` row (migration ``0004_classify``): the
training-set reference it learned from (:mod:`classify.trainingdata`), estimator import
path and parameters, the whole training configuration (:mod:`classify.runconfig`), the
feature list and classes, the code version, seed, Monte Carlo size, cross-validated
metrics (after :func:`evaluate_run`) and the model artifact with its SHA-256
(:mod:`classify.artifacts`: :func:`load_model` loads it only while the hash matches). What
a run is never changes (a trigger refuses it); only its metrics, note and promotion do.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import ConflictError, InputError
from catalog.output import jsonable
from catalog.settings import SCHEMA, login_name
from classify.artifacts import ArtifactError, load_artifact, models_dir, save_artifact
from classify.crossvar import coverage, with_training_variability
from classify.features import FeatureOptions
from classify.model import (
    DEFAULT_ESTIMATOR,
    TrainConfig,
    default_params,
    fit_model,
    resolve_estimator,
)
from classify.montecarlo import DEFAULT_N_SAMPLES
from classify.runconfig import config_from_json, config_to_json, feature_options
from classify.trainingdata import (
    TrainingData,
    read_training_csv,
    resolve_training_set,
    training_ebv,
)
from curation.tablefiles import livecat_version

REPO_DIR = Path(__file__).resolve().parent.parent


class RunNotFound(InputError):
    """No classifier run with the given id."""


@dataclass
class RunInfo:
    """A classifier run as stored (the ``classifier_run`` row)."""

    id: int
    training_set: str
    training_set_sha256: str | None
    training_set_location: str | None
    n_train: int
    class_counts: dict[str, int]
    estimator: str
    params: dict[str, Any]
    config: dict[str, Any]
    features: list[str]
    classes: list[str]
    code_version: str
    seed: int
    mc_samples: int
    metrics: dict[str, Any] | None
    artifact_path: str
    artifact_sha256: str
    train_seconds: float | None
    created_at: Any
    created_by: str | None
    promoted: bool
    promoted_at: Any
    note: str | None

    def train_config(self) -> TrainConfig:
        """The :class:`classify.model.TrainConfig` this run was trained with."""
        return config_from_json(self.config)

    def feature_options(self) -> FeatureOptions:
        """The feature options of the run's model."""
        return self.train_config().options


def code_version() -> str:
    """livecat's package version, plus the git commit (``+g<sha>``, ``.dirty``) when known."""
    text = livecat_version()
    try:
        sha = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5, check=True).stdout.strip()
        if sha:
            text += f"+g{sha}" + (".dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return text


_RUN_COLUMNS = [f.name for f in dataclasses.fields(RunInfo)]


def get_run(engine: Engine, run_id: int) -> RunInfo:
    """Return classifier run ``run_id``.

    Raises
    ------
    RunNotFound
        When there is no such run.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM {SCHEMA}.classifier_run WHERE id = :id"),
            {"id": int(run_id)}).mappings().first()
    if row is None:
        raise RunNotFound(f"no classifier run {run_id} (list them with `livecat classify runs`)")
    data = dict(row)
    data["features"] = list(data["features"])
    data["classes"] = list(data["classes"])
    return RunInfo(**data)


def list_runs(engine: Engine) -> pd.DataFrame:
    """One row per classifier run, newest first, with its label count and key metrics."""
    sql = f"""
        SELECT r.id, r.created_at, r.training_set, r.estimator, r.seed, r.mc_samples,
               r.promoted, r.code_version,
               (r.metrics #>> '{{all,overall}}')::float8 AS cv_overall,
               (r.metrics #>> '{{all,balanced}}')::float8 AS cv_balanced,
               (SELECT count(*) FROM {SCHEMA}.classification c WHERE c.run_id = r.id) AS n_labels
          FROM {SCHEMA}.classifier_run r ORDER BY r.id DESC"""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(sql), conn)


def train_run(
    engine: Engine,
    training_set: str,
    estimator: str = DEFAULT_ESTIMATOR,
    params: dict[str, Any] | None = None,
    mc_samples: int = DEFAULT_N_SAMPLES,
    seed: int = 0,
    feature_set: str = "livecat",
    home: Path | None = None,
    note: str | None = None,
    redden_agn: bool = False,
    cross_mission_variability: bool = False,
) -> RunInfo:
    """Train a model on a training set and record it as a new classifier run.

    Parameters
    ----------
    engine : Engine
        livecat database.
    training_set : str
        Training-set reference (see :func:`classify.trainingdata.resolve_training_set`).
    estimator : str
        Short name (:data:`classify.model.ESTIMATORS`) or import path of a scikit-learn
        classifier with ``predict_proba``; the run records the import path.
    params : dict, optional
        Estimator parameters, added to :func:`classify.model.default_params` (for the
        random forest: 300 trees, ``max_features=0.5`` with the livecat features; the
        reference's 100 trees, ``'sqrt'`` with the reference features).
    mc_samples : int
        Monte Carlo samples per source when this run classifies.
    seed : int
        Seed of SMOTE, the estimator and the Monte Carlo draws.
    feature_set : {"reference", "livecat"}
        Features (see :func:`classify.runconfig.feature_options`).
    home : Path, optional
        LIVECAT_HOME (default from the environment); the artifact goes to ``models/``.
    note : str, optional
        Free text kept on the run.
    redden_agn : bool
        When classifying, redden and absorb the training AGN to each source's line of
        sight (one model per E(B-V) bin, retrained with the run's seed; see
        :func:`classify.labels.classify_run`).
    cross_mission_variability : bool
        Add the variability of each source's object across missions as features
        (:func:`classify.features.cross_mission_features`; off by default, not yet
        measured): read from the database (:func:`classify.crossvar.
        with_training_variability`) unless the training CSV has ``var_ratio`` and
        ``var_sigma``. Refused when no training source has a ratio. The coverage is
        recorded in the run's note; values read from the database are not part of the
        training set's hash (a later ``objects build`` may change them).

    Returns
    -------
    RunInfo
    """
    if mc_samples < 1:
        raise InputError(f"--mc must be at least 1, not {mc_samples}")
    feature_options(feature_set, True)  # refuses an unknown feature set before any work
    estimator = resolve_estimator(estimator, params)
    params = {**default_params(estimator, feature_set), **(params or {})}
    data = resolve_training_set(engine, training_set)
    if data.skipped:
        extra = (f"{data.skipped} member(s) of {data.ref} left out: no CSC s/m/h energy "
                 f"fluxes with errors")
        note = f"{note}; {extra}" if note else extra
    if cross_mission_variability:
        data.table = with_training_variability(engine, data.table)
        cov = coverage(data.table, data.labels)
        if cov.n_covered == 0:
            raise InputError(f"training set {data.ref}: {cov.line()}: the feature would be "
                             f"missing for every source (build the objects with `livecat "
                             f"objects build` after ingesting XMM, eRASS1 or 2SXPS over them)")
        note = f"{note}; {cov.line()}" if note else cov.line()
    variability = {"P_intra", "P_inter"} <= set(data.table.columns)
    options = feature_options(feature_set, variability, cross_mission_variability)
    config = TrainConfig(estimator=estimator, params=params, seed=int(seed), options=options)
    classes, counts = np.unique(data.labels, return_counts=True)
    if len(classes) < 2:
        raise InputError(f"training set {data.ref} has {len(classes)} class(es): need at least 2")
    small = [f"{c} ({n})" for c, n in zip(classes, counts) if n < 2]
    if small:
        raise InputError(f"training set {data.ref}: SMOTE needs at least 2 sources per class; "
                         f"too few in {', '.join(small)}")
    t0 = time.perf_counter()
    try:
        model = fit_model(data.table, data.labels, config)
    except (ImportError, AttributeError, TypeError) as exc:
        raise InputError(f"cannot build estimator {estimator!r} with parameters "
                         f"{json.dumps(params)}: {exc}") from None
    seconds = time.perf_counter() - t0
    model_classes = [str(c) for c in model.classes_]
    features = options.feature_names()
    with engine.begin() as conn:
        run_id = conn.execute(sa.text(
            f"SELECT nextval(pg_get_serial_sequence('{SCHEMA}.classifier_run', 'id'))")
        ).scalar_one()
        path = models_dir(home) / f"{run_id}.joblib"
        artifact = {"model": model, "classes": model_classes, "features": features,
                    "config": config_to_json(config), "run_id": int(run_id)}
        digest = save_artifact(artifact, path)
        try:
            conn.execute(sa.text(f"""
                INSERT INTO {SCHEMA}.classifier_run
                  (id, training_set, training_set_sha256, training_set_location, n_train,
                   class_counts, estimator,
                   params, config, features, classes, code_version, seed, mc_samples,
                   artifact_path, artifact_sha256, train_seconds, created_by, note)
                VALUES (:id, :ts, :tsh, :loc, :n, CAST(:cc AS jsonb), :est, CAST(:params AS jsonb),
                        CAST(:config AS jsonb), :features, :classes, :code, :seed, :mc,
                        :path, :sha, :secs, :who, :note)"""), {
                "id": run_id, "ts": data.ref, "tsh": data.sha256, "loc": data.location,
                "n": len(data.labels),
                "cc": json.dumps({str(c): int(n) for c, n in zip(classes, counts)}),
                "est": estimator, "params": json.dumps(jsonable(params)),
                "config": json.dumps(jsonable({**config_to_json(config),
                                                 "redden_agn": bool(redden_agn)})),
                "features": features, "classes": model_classes, "code": code_version(),
                "seed": int(seed), "mc": int(mc_samples), "path": str(path), "sha": digest,
                "secs": seconds, "who": login_name(default=None), "note": note,
            })
        except Exception:
            path.unlink(missing_ok=True)
            raise
    return get_run(engine, run_id)


def load_model(run: RunInfo) -> Any:
    """The fitted model of ``run``, loaded only when the artifact's hash matches.

    Raises
    ------
    ArtifactError
        Missing or changed artifact.
    """
    artifact = load_artifact(run.artifact_path, run.artifact_sha256,
                             what=f"model artifact of run {run.id}")
    model = artifact["model"]
    if [str(c) for c in model.classes_] != run.classes:
        raise ArtifactError(f"model artifact of run {run.id} predicts classes "
                            f"{list(model.classes_)}, the run recorded {run.classes}")
    return model


def promote_run(engine: Engine, run_id: int) -> RunInfo:
    """Make ``run_id`` the run that ``classification_latest`` shows.

    The previously promoted run (if any) is demoted; its labels stay.
    """
    run = get_run(engine, run_id)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('livecat:promote'))"))
        conn.execute(sa.text(f"UPDATE {SCHEMA}.classifier_run SET promoted = false "
                             f"WHERE promoted AND id <> :id"), {"id": run.id})
        conn.execute(sa.text(f"UPDATE {SCHEMA}.classifier_run SET promoted = true, "
                             f"promoted_at = now() WHERE id = :id"), {"id": run.id})
    return get_run(engine, run.id)


def store_metrics(engine: Engine, run_id: int, metrics: dict[str, Any]) -> None:
    """Record cross-validated metrics on a run (replacing earlier metrics of that run)."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {SCHEMA}.classifier_run SET metrics = CAST(:m AS jsonb) "
                             f"WHERE id = :id"),
                     {"m": json.dumps(jsonable(metrics)), "id": int(run_id)})


def run_training_data(engine: Engine, run: RunInfo, training_file: str | Path | None = None
                      ) -> TrainingData:
    """The training data a run learned from, checked against its recorded SHA-256.

    Raises
    ------
    ConflictError
        When the data read now differs from the data the run was trained on.
    """
    if run.training_set.startswith("file:"):
        where = training_file or run.training_set_location
        if where is None:
            raise InputError(f"run {run.id}: the location of {run.training_set} is unknown; "
                             f"give the file")
        data = read_training_csv(where)
    else:
        data = resolve_training_set(engine, run.training_set)
    if run.training_set_sha256 and data.sha256 != run.training_set_sha256:
        raise ConflictError(f"training set {data.location or run.training_set} has SHA-256 "
                            f"{data.sha256}, but run {run.id} was trained on "
                            f"{run.training_set_sha256}: the data changed since")
    if run.feature_options().cross_mission_variability:
        data.table = with_training_variability(engine, data.table)
    return data


def evaluate_run(
    engine: Engine,
    run_id: int,
    n_splits: int = 10,
    mc_samples: int | None = None,
    png_dir: Path | None = None,
    home: Path | None = None,
    training_file: str | Path | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Stratified k-fold cross-validation (with Monte Carlo) of a run's configuration.

    The run's training data (its recorded reference, hash checked) is split into
    ``n_splits`` stratified folds; each fold is classified by a model trained with the
    run's configuration on the other folds (:func:`classify.evaluate.cross_validate_mc`).
    A run trained with ``--redden-agn`` is evaluated as it classifies: the held-out
    sources of each E(B-V) bin (their own lines of sight,
    :func:`classify.trainingdata.training_ebv`) by a model with the training AGN reddened
    to that bin. The metrics are stored on the run.

    Parameters
    ----------
    engine : Engine
    run_id : int
    n_splits : int
        Folds.
    mc_samples : int, optional
        Monte Carlo samples per held-out source (default: the run's).
    png_dir : Path, optional
        Where to write the confusion-matrix PNGs (default ``LIVECAT_HOME/models``).
    home : Path, optional
        LIVECAT_HOME.
    training_file : path, optional
        Read a file training set from here instead of its recorded location (its
        SHA-256 must still match).

    Returns
    -------
    (dict, list of Path)
        The :func:`classify.evaluate.evaluate` report plus ``n_splits``, ``mc_samples``
        and ``seconds``; the PNG files written (all sources, confident subset).
    """
    from classify.evaluate import cross_validate_mc, evaluate, plot_confusion

    run = get_run(engine, run_id)
    data = run_training_data(engine, run, training_file)
    n = run.mc_samples if mc_samples is None else int(mc_samples)
    if n < 1:
        raise InputError(f"--mc must be at least 1, not {n}")
    counts = pd.Series(data.labels).value_counts()
    if n_splits < 2 or counts.min() < n_splits:
        raise InputError(f"cannot make {n_splits} stratified folds: the smallest class "
                         f"({counts.idxmin()}) has {counts.min()} sources")
    redden = bool(run.config.get("redden_agn"))
    ebv = training_ebv(data) if redden else None
    t0 = time.perf_counter()
    result = cross_validate_mc(data.table, data.labels, run.train_config(), n_splits=n_splits,
                               n_samples=n, ebv=ebv)
    report = evaluate(result, run.classes)
    report.update({"n_splits": n_splits, "mc_samples": n, "redden_agn": redden,
                   "seconds": time.perf_counter() - t0})
    if redden:  # held-out sources per E(B-V) the training AGN were reddened to
        report["ebv_model_counts"] = {f"{v:.4g}": int(c) for v, c in sorted(
            result["ebv_model"].value_counts().items())}
    out_dir = Path(png_dir) if png_dir is not None else models_dir(home)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = [plot_confusion(report[key]["confusion"], report["classes"],
                           out_dir / f"run{run.id}_confusion_{key}.png",
                           title=f"run {run.id}: {key} sources ({n_splits}-fold CV)")
            for key in ("all", "confident")]
    store_metrics(engine, run.id, {**report, "png": [str(p) for p in pngs]})
    return report, pngs
