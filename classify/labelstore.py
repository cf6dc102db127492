"""Labels in the database: written with binary COPY, read back, compared between runs.

:func:`write_labels` writes one ``classification`` row per source and one
``class_probability`` row per source and class with binary COPY, in one transaction.
Labels are never overwritten: :func:`classify.labels.classify_run` leaves out the
sources the run has already labelled.

Querying the labels (psql)
--------------------------
::

    -- the promoted run's confident CVs, most probable first
    SELECT native_id, ra, dec, prob_cv, prob_std FROM livecat.classification_latest
     WHERE predicted_class = 'CV' AND confident ORDER BY prob_cv DESC;
    -- one source's class probabilities with their 2-sigma bounds, every run
    SELECT run_id, class, mean, std, lo2sigma, hi2sigma FROM livecat.class_probability
     WHERE source_id = 42 ORDER BY run_id, mean DESC;
    -- labels near a position
    SELECT l.* FROM livecat.cone_search('xray_source', 187.28, 2.05, 600) c
      JOIN livecat.classification_latest l ON l.source_id = c.id;
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.bands import MUWCLASS_BANDS
from catalog.errors import InputError
from catalog.pgcopy import copy_columns
from catalog.settings import SCHEMA
from classify.runs import RunInfo, get_run


def write_labels(engine: Engine, run: RunInfo, source_ids: np.ndarray, result: pd.DataFrame,
                 n_samples: int, bands_missing: pd.Series | None = None,
                 flux_origin: pd.DataFrame | None = None) -> int:
    """Write the labels of ``run`` with binary COPY, in one transaction.

    Parameters
    ----------
    engine : Engine
    run : RunInfo
    source_ids : numpy.ndarray
        xray_source ids, aligned with ``result``.
    result : pandas.DataFrame
        :func:`classify.montecarlo.aggregate_probabilities` output.
    n_samples : int
        Monte Carlo samples per source.
    bands_missing : pandas.Series, optional
        Aligned with ``source_ids``: the CSC bands taken as non-detections
        (:attr:`Measurements.bands_missing`), written to ``xray_bands_missing``.
    flux_origin : pandas.DataFrame, optional
        Aligned with ``source_ids``: ``flux_origin`` and ``flux_source_id``
        (:attr:`Measurements.flux_origin`), written to the columns of the same names.

    Returns
    -------
    int
        Sources written.
    """
    classes = list(run.classes)
    n = len(source_ids)
    if n == 0:
        return 0
    sid = np.asarray(source_ids, dtype=np.int64)
    k_top = pd.Categorical(result["Class"], categories=classes).codes.astype(np.int32) + 1
    if (k_top == 0).any():
        raise InputError(f"run {run.id}: predicted a class outside {classes}")
    nk = len(classes)
    with engine.begin() as conn:
        dbapi = conn.connection.dbapi_connection
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('livecat:labels'), :r)"),
                     {"r": int(run.id) % 2147483647})
        conn.execute(sa.text(
            "CREATE TEMP TABLE _lc_cls (source_id bigint, k int, prob float8, prob_std float8, "
            "ct float8, confident boolean, missing int, origin int, flux_source bigint) "
            "ON COMMIT DROP"))
        conn.execute(sa.text(
            "CREATE TEMP TABLE _lc_prob (source_id bigint, k int, mean float8, std float8, "
            "median float8, lo float8, hi float8) ON COMMIT DROP"))
        copy_columns(dbapi, "_lc_cls", {
            "source_id": sid, "k": k_top,
            "prob": result["Class_prob"].to_numpy(np.float64),
            "prob_std": result["Class_prob_e"].to_numpy(np.float64),
            "ct": result["CT"].to_numpy(np.float64),
            "confident": result["confident"].to_numpy(bool),
            "missing": _band_codes(bands_missing, n),
            **_origin_codes(flux_origin, sid),
        })

        def stack(prefix: str) -> np.ndarray:
            return np.column_stack([result[f"{prefix}{c}"].to_numpy(np.float64)
                                    for c in classes]).ravel()

        copy_columns(dbapi, "_lc_prob", {
            "source_id": np.repeat(sid, nk),
            "k": np.tile(np.arange(1, nk + 1, dtype=np.int32), n),
            "mean": stack("P_"), "std": stack("e_P_"), "median": stack("P_med_"),
            "lo": stack("P_lo_"), "hi": stack("P_hi_"),
        })
        params = {"run": int(run.id), "classes": classes, "mc": int(n_samples),
                  "origins": list(FLUX_ORIGINS)}
        conn.execute(sa.text(f"""
            INSERT INTO {SCHEMA}.classification
              (run_id, source_id, class, prob, prob_std, ct, confident, mc_samples,
               xray_bands_missing, flux_origin, flux_source_id)
            SELECT :run, source_id, (CAST(:classes AS text[]))[k], prob, prob_std, ct,
                   confident, :mc, nullif(concat_ws(',', {_BANDS_SQL}), ''),
                   (CAST(:origins AS text[]))[nullif(origin, 0)], nullif(flux_source, 0)
              FROM _lc_cls"""), params)
        conn.execute(sa.text(f"""
            INSERT INTO {SCHEMA}.class_probability
              (run_id, source_id, class, mean, std, median, lo2sigma, hi2sigma)
            SELECT :run, source_id, (CAST(:classes AS text[]))[k], mean, std, median, lo, hi
              FROM _lc_prob"""), {"run": params["run"], "classes": classes})
    return n


_BANDS_SQL = ", ".join(f"CASE WHEN missing & {1 << i} > 0 THEN '{b}' END"
                      for i, b in enumerate(MUWCLASS_BANDS))


#: Values of ``classification.flux_origin`` (:mod:`classify.flux_origin`).
FLUX_ORIGINS = ("native", "object", "converted")


def _origin_codes(flux_origin: pd.DataFrame | None, sid: np.ndarray) -> dict[str, np.ndarray]:
    """Origin code per source (1-based in :data:`FLUX_ORIGINS`, 0 unknown) and the id of
    the source whose fluxes were used (0 unknown)."""
    if flux_origin is None or not len(flux_origin):
        return {"origin": np.zeros(len(sid), np.int32),
                "flux_source": np.zeros(len(sid), np.int64)}
    aligned = flux_origin.reindex(sid)
    codes = aligned["flux_origin"].map({o: i + 1 for i, o in enumerate(FLUX_ORIGINS)})
    return {"origin": codes.fillna(0).to_numpy(np.int32),
            "flux_source": aligned["flux_source_id"].fillna(0).to_numpy(np.int64)}


def _band_codes(bands_missing: pd.Series | None, n: int) -> np.ndarray:
    """Bit mask per source of the bands taken as non-detections (s 1, m 2, h 4)."""
    codes = np.zeros(n, dtype=np.int32)
    if bands_missing is not None:
        for j, value in enumerate(bands_missing.to_numpy(object)):
            for i, band in enumerate(MUWCLASS_BANDS):
                if value and band in value.split(","):
                    codes[j] |= 1 << i
    return codes


def read_labels(engine: Engine, run_id: int) -> pd.DataFrame:
    """Labels of a run: one row per source with its class probabilities as ``prob_<class>``."""
    run = get_run(engine, run_id)
    with engine.connect() as conn:
        labels = pd.read_sql_query(sa.text(
            f"SELECT source_id, class, prob, prob_std, ct, confident FROM {SCHEMA}.classification "
            f"WHERE run_id = :r ORDER BY source_id"), conn, params={"r": run.id})
        probs = pd.read_sql_query(sa.text(
            f"SELECT source_id, class, mean FROM {SCHEMA}.class_probability WHERE run_id = :r"),
            conn, params={"r": run.id})
    wide = probs.pivot(index="source_id", columns="class", values="mean")
    wide.columns = [f"prob_{c}" for c in wide.columns]
    return labels.set_index("source_id").join(wide).reset_index()


def diff_runs(engine: Engine, run_a: int, run_b: int) -> pd.DataFrame:
    """Sources labelled by both runs whose predicted class or confident flag differs.

    Returns
    -------
    pandas.DataFrame
        ``source_id, catalog, native_id, class_a, class_b, prob_a, prob_b, confident_a,
        confident_b, change`` (``class``, ``confident`` or ``class+confident``).
    """
    a, b = get_run(engine, run_a), get_run(engine, run_b)
    sql = f"""
        SELECT a.source_id, s.catalog, s.native_id,
               a.class AS class_a, b.class AS class_b, a.prob AS prob_a, b.prob AS prob_b,
               a.confident AS confident_a, b.confident AS confident_b,
               concat_ws('+', CASE WHEN a.class <> b.class THEN 'class' END,
                              CASE WHEN a.confident <> b.confident THEN 'confident' END) AS change
          FROM {SCHEMA}.classification a
          JOIN {SCHEMA}.classification b ON b.source_id = a.source_id AND b.run_id = :b
          JOIN {SCHEMA}.xray_source s ON s.id = a.source_id
         WHERE a.run_id = :a AND (a.class <> b.class OR a.confident <> b.confident)
         ORDER BY a.source_id"""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(sql), conn, params={"a": a.id, "b": b.id})
