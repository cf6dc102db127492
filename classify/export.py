"""Export the labels of a classifier run as CSV, Parquet, FITS or VOTable.

One row per labelled X-ray source, sorted by catalog and native id: the source's
``catalog``, ``native_id``, ``ra``, ``dec`` (deg); ``predicted_class``, its mean
probability ``prob`` and spread ``prob_std``, the confidence measure ``ct`` and the
``confident`` flag; ``xray_bands_missing`` (CSC bands taken as non-detections, ``""``
when none); and per class ``prob_<class>`` (mean), ``prob_std_<class>``,
``prob_median_<class>``, ``prob_lo2sigma_<class>``, ``prob_hi2sigma_<class>`` (2.275th
and 97.725th percentiles of the Monte Carlo probabilities). Class column names are
lower case with ``-`` as ``_`` (``prob_hm_star``), as in ``classification_latest``.

Provenance (FITS header cards, VOTable INFOs, and ``<PATH>.manifest.json`` beside every
format): run id, training set ``NAME@VERSION`` (or ``file:...``) and its content hash,
estimator and parameters, code version of the run, seed, Monte Carlo samples, livecat
version. Only what a run can never change enters the files (not its promotion, note or
metrics), so re-exporting a run writes the same bytes. Database ids are not exported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from catalog.files import sha256_file
from catalog.settings import SCHEMA
from classify.runs import RunInfo, get_run
from curation.tablefiles import (
    EXTENSIONS,
    FORMATS,
    Card,
    livecat_version,
    resolve_out,
    text_column,
    write_manifest,
    write_table,
)

#: Per-class columns: suffix of ``prob_<suffix>_<class>`` -> class_probability column.
CLASS_STATS = {"": "mean", "std": "std", "median": "median", "lo2sigma": "lo2sigma",
               "hi2sigma": "hi2sigma"}


def class_column(cls: str, stat: str = "") -> str:
    """``prob[_stat]_<class>`` with the class in lower case, ``-`` as ``_``."""
    name = cls.lower().replace("-", "_")
    return f"prob_{stat}_{name}" if stat else f"prob_{name}"


def promoted_run_id(engine: Engine) -> int:
    """The promoted run (what ``classification_latest`` shows).

    Raises
    ------
    InputError
        When no run is promoted.
    """
    with engine.connect() as conn:
        run_id = conn.execute(sa.text(
            f"SELECT id FROM {SCHEMA}.classifier_run WHERE promoted")).scalar()
    if run_id is None:
        raise InputError("no classifier run is promoted: name the RUN to export (livecat "
                         "classify runs) or promote one (livecat classify promote RUN)")
    return int(run_id)


def label_table(engine: Engine, run: RunInfo) -> pd.DataFrame:
    """The labels of ``run`` as one flat table (see the module docstring)."""
    with engine.connect() as conn:
        labels = pd.read_sql_query(sa.text(
            f"SELECT c.source_id, s.catalog, s.native_id, s.ra, s.dec, "
            f"c.class AS predicted_class, c.prob, c.prob_std, c.ct, c.confident, "
            f"c.xray_bands_missing FROM {SCHEMA}.classification c "
            f"JOIN {SCHEMA}.xray_source s ON s.id = c.source_id WHERE c.run_id = :r"),
            conn, params={"r": run.id})
        probs = pd.read_sql_query(sa.text(
            f"SELECT source_id, class, mean, std, median, lo2sigma, hi2sigma "
            f"FROM {SCHEMA}.class_probability WHERE run_id = :r"), conn, params={"r": run.id})
    if not len(labels):
        raise InputError(f"run {run.id} has no labels yet: classify with `livecat classify "
                         f"run {run.id}` first")
    wide = probs.pivot(index="source_id", columns="class")
    for cls in run.classes:
        for stat, col in CLASS_STATS.items():
            labels[class_column(cls, stat)] = labels["source_id"].map(wide[(col, cls)])
    labels = labels.sort_values(["catalog", "native_id"], kind="stable").drop(
        columns="source_id").reset_index(drop=True)
    for col in ("catalog", "native_id", "predicted_class", "xray_bands_missing"):
        labels[col] = text_column(labels[col])
    labels["confident"] = labels["confident"].astype(bool)
    for col in labels.columns:
        if col not in ("catalog", "native_id", "predicted_class", "xray_bands_missing",
                       "confident"):
            labels[col] = labels[col].astype("float64")
    return labels


def provenance_cards(run: RunInfo) -> list[Card]:
    """FITS keywords / VOTable INFOs: what the labels came from (nothing mutable)."""
    return [
        Card("RUNID", "classifier_run", str(run.id), "livecat classifier run"),
        Card("TSREF", "training_set", run.training_set, "training set it learned from"),
        Card("TSHASH", "training_set_hash", run.training_set_sha256 or "",
             "content hash of the training set"),
        Card("ESTIM", "estimator", run.estimator, "scikit-learn classifier"),
        Card("PARAMS", "params", json.dumps(run.params, sort_keys=True),
             "estimator parameters"),
        Card("CODEVERS", "code_version", run.code_version, "livecat that trained the run"),
        Card("SEED", "seed", str(run.seed), "seed of SMOTE, estimator, Monte Carlo"),
        Card("MCSAMP", "mc_samples", str(run.mc_samples), "Monte Carlo samples per source"),
        Card("RUNDATE", "run_created_at", run.created_at.isoformat(), "run trained at"),
        Card("LCVERS", "livecat_version", livecat_version(), "livecat that wrote the file"),
    ]


def export_labels(engine: Engine, run_id: int | None, fmt: str,
                  out: str | Path) -> tuple[Path, Path]:
    """Write the labels of ``run_id`` (default: the promoted run) and a manifest.

    ``out`` may be an existing directory: the file is then ``labels-run<id>.<ext>``
    inside it. The manifest is ``<file>.manifest.json``.

    Returns
    -------
    (data path, manifest path)

    Raises
    ------
    InputError
        Unknown format or run, no promoted run, a run without labels, or a missing
        directory.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    run = get_run(engine, promoted_run_id(engine) if run_id is None else run_id)
    out = resolve_out(out, f"labels-run{run.id}.{EXTENSIONS[fmt]}")
    frame = label_table(engine, run)
    units = {"ra": "deg", "dec": "deg"}
    write_table(frame, fmt, out, units, provenance_cards(run))
    counts = frame["predicted_class"].value_counts()
    manifest = {
        "run_id": run.id, "training_set": run.training_set,
        "training_set_hash": run.training_set_sha256, "estimator": run.estimator,
        "params": run.params, "features": run.features, "classes": run.classes,
        "code_version": run.code_version, "seed": run.seed, "mc_samples": run.mc_samples,
        "run_created_at": run.created_at.isoformat(), "livecat_version": livecat_version(),
        "n_labels": len(frame), "n_confident": int(frame["confident"].sum()),
        "predicted": {str(c): int(counts.get(c, 0)) for c in run.classes},
        "format": fmt, "file": out.name, "sha256": sha256_file(out),
        "columns": list(frame.columns), "units": units,
    }
    return out, write_manifest(out, manifest)
