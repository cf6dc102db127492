"""Classifier runs: train, record, store and load versioned MUWCLASS models.

Every training is one ``livecat.classifier_run`` row (migration ``0004_classify``): the
training-set reference it learned from, estimator import path and parameters, the whole
training configuration, the feature list and classes, the code version, seed, Monte Carlo
size, cross-validated metrics (after :func:`evaluate_run`) and the model artifact with its
SHA-256. What a run is never changes (a trigger refuses it); only its metrics, note and
promotion do.

Training-set references
-----------------------
``file:PATH``
    A CSV in the format of the MUWCLASS ``TD_train.csv`` (measurement columns of
    :func:`classify.montecarlo.sample_measurements` plus ``True_Class``). Recorded as
    ``file:<file name>@sha256:<hex of the file's bytes>``; :func:`evaluate_run` refuses a
    file whose bytes changed since.
``NAME`` or ``NAME@N``
    A frozen training set of the curation tables (``livecat.training_set``); see
    :func:`resolve_training_set`.

Artifacts
---------
The fitted model is written with joblib to ``LIVECAT_HOME/models/<run id>.joblib``; its
SHA-256 is recorded on the run, and :func:`load_model` unpickles the file only when its
bytes still have that hash (unpickling runs code: a replaced file must not be loaded).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import ConflictError, InputError, LivecatError
from catalog.settings import SCHEMA, Settings, login_name
from classify.features import REFERENCE_COLOURS, FeatureOptions, all_colours
from classify.model import (
    DEFAULT_ESTIMATOR,
    TrainConfig,
    default_params,
    fit_model,
    resolve_estimator,
)
from classify.montecarlo import DEFAULT_N_SAMPLES

REPO_DIR = Path(__file__).resolve().parent.parent
LABEL_COLUMN = "True_Class"
#: Feature sets selectable by name: the reference's, and livecat's (reference plus Gaia
#: astrometry, all 36 colours and the CSC flags; ``scripts/eval_muwclass.py`` default).
FEATURE_SETS = ("reference", "livecat")


class ArtifactError(LivecatError):
    """A model artifact is missing or its bytes do not match the hash its run recorded."""


class RunNotFound(InputError):
    """No classifier run with the given id."""


@dataclass
class TrainingData:
    """A resolved training set.

    Attributes
    ----------
    ref : str
        The reference recorded on the run (``NAME@N`` or ``file:NAME@sha256:<hex>``).
    sha256 : str
        Content hash of the training data.
    table : pandas.DataFrame
        Measurements and errors, one row per training source.
    labels : numpy.ndarray
        True classes.
    """

    ref: str
    sha256: str
    table: pd.DataFrame
    labels: np.ndarray
    location: str | None = None
    skipped: int = 0


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


# --- versions and hashes -------------------------------------------------------------
def code_version() -> str:
    """livecat's package version, plus the git commit (``+g<sha>``, ``.dirty``) when known."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("livecat")
    except PackageNotFoundError:
        text = "unknown"
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


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --- training sets -------------------------------------------------------------------
def read_training_csv(path: str | Path) -> TrainingData:
    """Read a training set CSV (``TD_train.csv`` format) and hash its bytes.

    Raises
    ------
    InputError
        When the file is missing, unreadable or has no ``True_Class`` column.
    """
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"training set file {path}: {exc.strerror or exc}") from None
    try:
        table = pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        raise InputError(f"training set file {path} is not a readable CSV: {exc}") from None
    required = {LABEL_COLUMN, "Fs", "e_Fs", "Fm", "e_Fm", "Fh", "e_Fh"}
    missing = sorted(required - set(table.columns))
    if missing:
        raise InputError(f"training set file {path} lacks column(s) {', '.join(missing)} "
                         f"(expected the MUWCLASS TD_train.csv format)")
    if table[LABEL_COLUMN].isna().any():
        row = int(np.flatnonzero(table[LABEL_COLUMN].isna())[0]) + 2
        raise InputError(f"training set file {path}, line {row}: empty {LABEL_COLUMN}")
    # columns a CSV may lack (no counterpart data at all) are missing values, never zero
    from classify.features import MAG_COLUMNS

    for col in (*MAG_COLUMNS, *[f"e_{m}" for m in MAG_COLUMNS],
                "Plx", "e_Plx", "PM", "rgeo", "b_rgeo", "B_rgeo"):
        if col not in table:
            table[col] = np.nan
    if "CSCv2_flags" not in table:
        table["CSCv2_flags"] = ""
    digest = sha256_bytes(data)
    return TrainingData(ref=f"file:{path.name}@sha256:{digest}", sha256=digest, table=table,
                        labels=table[LABEL_COLUMN].astype(str).to_numpy(),
                        location=str(path.resolve()))


def _table_exists(conn, name: str) -> bool:
    return conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"),
                        {"n": f"{SCHEMA}.{name}"}).scalar_one()


def resolve_training_set(engine: Engine | None, ref: str) -> TrainingData:
    """Resolve a training-set reference into its data.

    Parameters
    ----------
    engine : Engine or None
        Database (needed for ``NAME[@N]``).
    ref : str
        ``file:PATH`` (a CSV in the TD_train.csv format), or ``NAME`` / ``NAME@N`` of a
        frozen training set. A ``file:NAME@sha256:<hex>`` reference as recorded on a run
        is accepted when ``NAME`` is a readable path whose bytes still have that hash.

    Raises
    ------
    InputError
        Unknown or unreadable reference.
    ConflictError
        A recorded file reference whose file changed since.
    """
    if ref.startswith("file:"):
        body = ref[len("file:"):]
        path, _, expected = body.partition("@sha256:")
        data = read_training_csv(path)
        if expected and data.sha256 != expected:
            raise ConflictError(f"training set file {path} has SHA-256 {data.sha256}, not the "
                                f"{expected} recorded: the file changed since the run was trained")
        return data
    name, _, version = ref.partition("@")
    if not name:
        raise InputError(f"training set reference {ref!r}: give NAME[@N] or file:PATH")
    if engine is None:
        raise InputError(f"training set {ref!r} lives in the database: no database given")
    if version and (not version.isdigit() or int(version) < 1):
        raise InputError(f"training set version {version!r} in {ref!r} must be a positive "
                         f"integer, e.g. {name}@1")
    with engine.connect() as conn:
        if not _table_exists(conn, "training_set"):
            raise InputError(
                f"training set {ref!r}: this database has no training_set table yet "
                f"(curation's training sets are not available); use --training-set "
                f"file:PATH with a CSV in the TD_train.csv format")
        row = conn.execute(sa.text(
            f"SELECT id, name, version, content_hash FROM {SCHEMA}.training_set "
            f"WHERE name = :n AND (CAST(:v AS int) IS NULL OR version = CAST(:v AS int)) "
            f"ORDER BY version DESC LIMIT 1"),
            {"n": name, "v": int(version) if version else None}).mappings().first()
        if row is None:
            known = conn.execute(sa.text(
                f"SELECT string_agg(DISTINCT name, ', ') FROM {SCHEMA}.training_set")).scalar()
            raise InputError(f"unknown training set {ref!r}: known sets are {known or '(none)'} "
                             f"(livecat trainingset list)")
        members = conn.execute(sa.text(
            f"SELECT xray_source_id, livecat_class, features FROM {SCHEMA}.training_member "
            f"WHERE training_set_id = :i ORDER BY xray_source_id"), {"i": row["id"]}).mappings().all()
    table, labels, skipped = training_table_from_members(members)
    if not len(table):
        raise InputError(f"training set {row['name']}@{row['version']}: none of its "
                         f"{len(members)} members has the CSC s/m/h energy fluxes with errors")
    return TrainingData(ref=f"{row['name']}@{row['version']}", sha256=row["content_hash"],
                        table=table, labels=labels, location=f"training_set:{row['id']}",
                        skipped=skipped)


def training_table_from_members(members) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Measurement table of frozen training members (``training_member.features`` JSON).

    The X-ray fluxes are the ``energy_flux`` entries with the CSC s/m/h band edges (error =
    half the quoted interval), variability from ``var_intra_prob``/``var_inter_prob``,
    flags from ``flags``, positions ``ra``/``dec`` (for AGN reddening), and the best
    counterparts' magnitudes (missing without one). A member measured in one or two of
    the bands gets the others as non-detections
    (:func:`classify.features.fill_nondetections`), as ``classify run`` does; members
    with none of the three fluxes, or a flux without its interval, are left out.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray, int)
        The table (index = xray_source id), the classes, the number left out.
    """
    from classify.features import MAG_COLUMNS, fill_nondetections

    bands = {"Fs": (0.5, 1.2), "Fm": (1.2, 2.0), "Fh": (2.0, 7.0)}
    rows, labels, skipped = [], [], 0
    for m in members:
        f = m["features"] or {}
        rec: dict[str, Any] = {"source_id": int(m["xray_source_id"]),
                               "ra": f.get("ra"), "dec": f.get("dec")}
        fluxes = list((f.get("fluxes") or {}).items())
        unusable = True
        for col, (lo, hi) in bands.items():
            hit = next((v for k, v in fluxes if k.startswith("energy_flux")
                        and abs(float(v.get("band_lo_kev") or -1) - lo) < 1e-6
                        and abs(float(v.get("band_hi_kev") or -1) - hi) < 1e-6
                        and v.get("value") is not None), None)
            if hit is None:
                rec[col] = rec["e_" + col] = np.nan
                continue
            if hit.get("value_lo") is None or hit.get("value_hi") is None:
                unusable = True
                break
            unusable = False
            rec[col] = float(hit["value"])
            rec["e_" + col] = (float(hit["value_hi"]) - float(hit["value_lo"])) / 2
        if unusable:  # no band at all, or a flux without its interval
            skipped += 1
            continue
        rec.update(best_counterpart_values(f.get("counterparts") or []))
        rec["P_intra"] = f.get("var_intra_prob")
        rec["P_inter"] = f.get("var_inter_prob")
        flags = f.get("flags") or {}
        rec["CSCv2_flags"] = "|".join(w for k, w in (("extended", "extent"), ("confused", "conf"),
                                                     ("pileup", "pileup")) if flags.get(k))
        rows.append(rec)
        labels.append(str(m["livecat_class"]))
    table = pd.DataFrame(rows)
    if len(table):
        table = fill_nondetections(table.set_index("source_id"))[0]
        table["ra"] = pd.to_numeric(table["ra"], errors="coerce").astype(float)
        table["dec"] = pd.to_numeric(table["dec"], errors="coerce").astype(float)
        for col in ("P_intra", "P_inter"):
            table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
            if table[col].isna().all():
                table = table.drop(columns=col)
        for col in (*MAG_COLUMNS, *[f"e_{m}" for m in MAG_COLUMNS],
                    "Plx", "e_Plx", "PM", "rgeo", "b_rgeo", "B_rgeo"):
            table[col] = (pd.to_numeric(table[col], errors="coerce").astype(float)
                          if col in table else np.nan)
    return table, np.asarray(labels), skipped


#: Survey order when two best counterparts measure the same quantity (as the mw_best view).
SURVEY_PRIORITY = ("gaia_dr3", "2mass", "allwise", "catwise2020")
#: Training-set column -> (mw_counterpart column, column that must be present).
COUNTERPART_COLUMNS = {
    **{m: (m.lower(), m.lower()) for m in ("Gmag", "BPmag", "RPmag", "Jmag", "Hmag", "Kmag",
                                           "W1mag", "W2mag", "W3mag")},
    **{f"e_{m}": (f"e_{m.lower()}", m.lower()) for m in ("Gmag", "BPmag", "RPmag", "Jmag",
                                                         "Hmag", "Kmag", "W1mag", "W2mag",
                                                         "W3mag")},
    "Plx": ("plx", "plx"), "e_Plx": ("e_plx", "plx"), "PM": ("pm", "pm"),
    "rgeo": ("rgeo", "rgeo"), "b_rgeo": ("rgeo_lo", "rgeo"), "B_rgeo": ("rgeo_hi", "rgeo"),
}


def best_counterpart_values(rows: list[dict]) -> dict[str, float]:
    """Training-set columns from frozen ``mw_counterpart`` rows, as the ``mw_best`` view.

    Only rows flagged ``is_best`` count; when several surveys measure a quantity, the
    first of :data:`SURVEY_PRIORITY` wins, value and error from the same row.
    """
    best = [r for r in rows if r.get("is_best")]
    order = {s: i for i, s in enumerate(SURVEY_PRIORITY)}
    best.sort(key=lambda r: (order.get(r.get("survey"), len(order)), str(r.get("survey"))))
    out: dict[str, float] = {}
    for name, (col, present) in COUNTERPART_COLUMNS.items():
        for r in best:
            if r.get(present) is not None:
                v = r.get(col)
                out[name] = np.nan if v is None else float(v)
                break
    return out


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
    return data


def training_ebv(data: TrainingData) -> np.ndarray:
    """E(B-V) (0.86 x SFD) at every training source's position, for evaluating a run that
    reddens AGN (positions from ``CSCv2_RA``/``CSCv2_DEC`` of a TD_train.csv file, or the
    ``ra``/``dec`` frozen with training-set members).

    Raises
    ------
    InputError
        When the training data has no positions or a source lacks one.
    """
    from classify.reddening import ebv_sfd

    table = data.table
    for ra, dec in (("CSCv2_RA", "CSCv2_DEC"), ("ra", "dec")):
        if {ra, dec} <= set(table.columns):
            pos = table[[ra, dec]].apply(pd.to_numeric, errors="coerce")
            if pos.isna().any(axis=None):
                first = pos.index[pos.isna().any(axis=1)][0]
                raise InputError(f"training set {data.ref}: source {first} has no position "
                                 f"({ra}, {dec}); AGN reddening needs every line of sight")
            return np.asarray(ebv_sfd(pos[ra].to_numpy(float), pos[dec].to_numpy(float)),
                              dtype=float)
    raise InputError(f"training set {data.ref} has no positions (CSCv2_RA/CSCv2_DEC or "
                     f"ra/dec): AGN reddening needs every source's line of sight")


# --- configuration <-> JSON ----------------------------------------------------------
def feature_options(feature_set: str, variability: bool) -> FeatureOptions:
    """Feature options of a named feature set.

    Parameters
    ----------
    feature_set : {"reference", "livecat"}
        ``reference``: the features of Yang et al. (2022); ``livecat``: plus Gaia
        astrometry, all 36 colours and the CSC flags.
    variability : bool
        Whether the training data has ``P_intra``/``P_inter``.
    """
    if feature_set == "reference":
        return FeatureOptions(variability=variability)
    if feature_set == "livecat":
        return FeatureOptions(variability=variability, colour_names=all_colours(),
                              astrometry=True, flags=True)
    raise InputError(f"unknown feature set {feature_set!r}: choose one of {', '.join(FEATURE_SETS)}")


def config_to_json(config: TrainConfig) -> dict[str, Any]:
    """A JSON-serialisable dict of a :class:`TrainConfig` (inverse: :func:`config_from_json`)."""
    out = dataclasses.asdict(config)
    out["options"]["colour_names"] = list(config.options.colour_names)
    return out


def config_from_json(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :func:`config_to_json` output."""
    data = dict(data)
    data.pop("redden_agn", None)  # a run option, not a TrainConfig field (see train_run)
    opts = dict(data.pop("options"))
    opts["colour_names"] = tuple(opts.get("colour_names", REFERENCE_COLOURS))
    return TrainConfig(options=FeatureOptions(**opts), **data)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """Parse ``k=v`` estimator parameters; values are read as JSON when they parse, else text.

    Examples: ``n_estimators=300``, ``max_features=sqrt``, ``class_weight=null``,
    ``max_depth=12``.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"estimator parameter {item!r} is not of the form key=value "
                             f"(e.g. n_estimators=300)")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _jsonable(obj: Any) -> Any:
    """Convert numpy values and arrays into JSON types (NaN/inf become None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- artifacts -----------------------------------------------------------------------
def models_dir(home: Path | None = None) -> Path:
    """``LIVECAT_HOME/models`` (created)."""
    home = Settings.from_env().home if home is None else Path(home)
    path = home / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_artifact(obj: Any, path: Path) -> str:
    """Write ``obj`` with joblib to ``path`` (atomically) and return the file's SHA-256."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=3)
    data = buf.getvalue()
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return sha256_bytes(data)


def load_artifact(path: str | Path, sha256: str, what: str = "model artifact") -> Any:
    """Load a joblib artifact only when its bytes have the SHA-256 ``sha256``.

    Raises
    ------
    ArtifactError
        When the file is missing or its hash differs.
    """
    import joblib

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{what} {path} cannot be read ({exc.strerror or exc}); "
                            f"was LIVECAT_HOME moved? Retrain with `livecat classify train`") from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ArtifactError(f"{what} {path} has SHA-256 {actual}, but the run recorded {sha256}: "
                            f"the file was changed or replaced, so it is not loaded; "
                            f"retrain with `livecat classify train`")
    return joblib.load(io.BytesIO(data))


# --- runs ----------------------------------------------------------------------------
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
) -> RunInfo:
    """Train a model on a training set and record it as a new classifier run.

    Parameters
    ----------
    engine : Engine
        livecat database.
    training_set : str
        Training-set reference (see :func:`resolve_training_set`).
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
        Features (see :func:`feature_options`).
    home : Path, optional
        LIVECAT_HOME (default from the environment); the artifact goes to ``models/``.
    note : str, optional
        Free text kept on the run.
    redden_agn : bool
        When classifying, redden and absorb the training AGN to each source's line of
        sight (one model per E(B-V) bin, retrained with the run's seed; see
        :func:`classify.labels.classify_run`).

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
    variability = {"P_intra", "P_inter"} <= set(data.table.columns)
    options = feature_options(feature_set, variability)
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
            f"SELECT nextval(pg_get_serial_sequence('{SCHEMA}.classifier_run', 'id'))")).scalar_one()
        path = models_dir(home) / f"{run_id}.joblib"
        artifact = {"model": model, "classes": model_classes, "features": features,
                    "config": config_to_json(config), "run_id": int(run_id)}
        digest = save_artifact(artifact, path)
        try:
            conn.execute(sa.text(f"""
                INSERT INTO {SCHEMA}.classifier_run
                  (id, training_set, training_set_sha256, training_set_location, n_train, class_counts, estimator,
                   params, config, features, classes, code_version, seed, mc_samples,
                   artifact_path, artifact_sha256, train_seconds, created_by, note)
                VALUES (:id, :ts, :tsh, :loc, :n, CAST(:cc AS jsonb), :est, CAST(:params AS jsonb),
                        CAST(:config AS jsonb), :features, :classes, :code, :seed, :mc,
                        :path, :sha, :secs, :who, :note)"""), {
                "id": run_id, "ts": data.ref, "tsh": data.sha256, "loc": data.location, "n": len(data.labels),
                "cc": json.dumps({str(c): int(n) for c, n in zip(classes, counts)}),
                "est": estimator, "params": json.dumps(_jsonable(params)),
                "config": json.dumps(_jsonable({**config_to_json(config),
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
                     {"m": json.dumps(_jsonable(metrics)), "id": int(run_id)})


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
    sources of each E(B-V) bin (their own lines of sight, :func:`training_ebv`) by a
    model with the training AGN reddened to that bin. The metrics are stored on the run.

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
