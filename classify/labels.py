"""Classify X-ray sources of the database with a classifier run and write their labels.

Feature table
-------------
:func:`load_measurements` builds, for the selected ``xray_source`` rows, the measurement
table that :func:`classify.montecarlo.sample_measurements` expects:

* ``Fs``, ``Fm``, ``Fh`` from the ``xray_flux`` rows of kind ``energy_flux`` whose band
  is the CSC soft (0.5-1.2 keV), medium (1.2-2) and hard (2-7) band (matched by their
  energy edges, so any catalog quoting those bands qualifies); the error is half the
  quoted interval, ``(value_hi - value_lo) / 2`` (68 % limits in CSC 2.1; value +/- error
  in the MUWCLASS averages). A source measured in one or two of the bands is classified
  with the others taken as non-detections, as the MUWCLASS training set holds them
  (:func:`classify.features.fill_nondetections`; the label records them in
  ``xray_bands_missing``). A source with none of the three fluxes, or with a flux but
  no interval, is skipped and counted (``skipped_no_bands``, ``skipped_no_errors``);
* ``P_intra``, ``P_inter`` from ``var_intra_prob`` / ``var_inter_prob``;
* ``CSCv2_flags`` (``extent|conf|pileup``) from the ``flags`` JSON (``extended``,
  ``confused``, ``pileup``);
* optical/IR magnitudes, Gaia parallax, proper motion and distance from the ``mw_best``
  view (best counterpart per survey, training-set column names) when it exists
  (see :func:`counterpart_table`); otherwise missing, as for a source without
  counterpart -- never zero.

Labels
------
:func:`classify_table` classifies every Monte Carlo sample of every source with one
model (chunks of sources, each seeded ``(run seed, chunk number)``, sources in id order,
chunks spread over threads: the result does not depend on the number of threads).
:func:`write_labels` writes one ``classification`` row per source and one
``class_probability`` row per source and class with binary COPY, in one transaction.
Labels are never overwritten: sources the run has already labelled are left out.

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

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from catalog.pgcopy import copy_columns
from catalog.settings import SCHEMA
from classify.features import (
    MAG_COLUMNS,
    NONDETECTION_LIMIT,
    XRAY_BANDS,
    FeatureOptions,
    compute_features,
    fill_nondetections,
)
from classify.montecarlo import aggregate_probabilities, sample_measurements
from classify.runs import RunInfo, get_run, load_model, run_training_data

#: The CSC bands the features need: column -> (band_lo_kev, band_hi_kev).
REQUIRED_BANDS = {"Fs": (0.5, 1.2), "Fm": (1.2, 2.0), "Fh": (2.0, 7.0)}
#: xray_source.flags key -> the CSCv2_flags word of the training set.
FLAG_WORDS = {"extended": "extent", "confused": "conf", "pileup": "pileup"}
#: Counterpart quantities read from ``mw_counterpart`` (besides magnitudes and errors).
ASTROMETRY_COLUMNS = ("Plx", "e_Plx", "PM", "rgeo", "b_rgeo", "B_rgeo")

ProgressFn = Callable[[int, int], None]


@dataclass
class Selection:
    """Which X-ray sources to classify (all given criteria must hold).

    Attributes
    ----------
    catalogs : list of str
        ``xray_source.catalog`` values (e.g. ``csc``); empty = any.
    region : (ra_deg, dec_deg, radius_arcsec) or None
        A cone (the SQL ``cone_search`` of the catalog core).
    where : str or None
        A SQL condition on the ``xray_source`` row, aliased ``s``
        (e.g. ``s.significance > 5``), run in a read-only transaction.
    """

    catalogs: list[str] = field(default_factory=list)
    region: tuple[float, float, float] | None = None
    where: str | None = None

    def sql(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause (on alias ``s``) and its parameters."""
        parts, params = ["true"], {}
        if self.catalogs:
            parts.append("s.catalog = ANY(:catalogs)")
            params["catalogs"] = list(self.catalogs)
        if self.region is not None:
            ra, dec, radius = (float(v) for v in self.region)
            if not (-90 <= dec <= 90) or not (0 < radius <= 648000):
                raise InputError(f"region ({ra}, {dec}, {radius}): need -90 <= DEC <= 90 and "
                                 f"0 < RADIUS <= 648000 arcsec")
            parts.append(f"s.id IN (SELECT id FROM {SCHEMA}.cone_search('xray_source', "
                         f":ra, :dec, :radius))")
            params.update(ra=ra % 360.0, dec=dec, radius=radius)
        if self.where:
            parts.append(f"({self.where})")
        return " AND ".join(parts), params


@dataclass
class Measurements:
    """The measurement table of the selected sources and what was left out.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per classifiable source (index = xray_source id, ascending).
    n_selected : int
        Sources the selection matched.
    skipped_labelled : int
        Already labelled by the run.
    skipped_no_bands : int
        With none of the s, m, h energy fluxes.
    skipped_no_errors : int
        With a flux but no interval (or a negative one) in one of those bands.
    counterparts : str
        Where counterpart magnitudes were read from (``mw_best view``), else why not.
    bands_missing : pandas.Series
        Per row of ``table``: the bands taken as non-detections (``"h"``, ``"s,m"``), None
        when all three were measured.
    """

    table: pd.DataFrame
    n_selected: int = 0
    skipped_labelled: int = 0
    skipped_no_bands: int = 0
    skipped_no_errors: int = 0
    counterparts: str = "none (no mw_best view of the counterparts)"
    bands_missing: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))

    def n_missing_band(self) -> dict[str, int]:
        """Labelled sources per band taken as a non-detection."""
        lists = [v.split(",") for v in self.bands_missing.dropna()]
        return {b: sum(b in v for v in lists) for b in XRAY_BANDS}


def counterpart_table(conn) -> tuple[str | None, str]:
    """SQL selecting the best counterpart's measurements per source, if the tables allow.

    The ``livecat.mw_best`` view (migration 0005: the best counterpart of every survey
    side by side, in the training-set column names ``Gmag``, ``e_Gmag``, ..., ``Plx``,
    ``PM``, ``rgeo``, ``b_rgeo``, ``B_rgeo``) is read when it exists; without it every
    counterpart quantity is missing.

    Returns
    -------
    (str or None, str)
        A SELECT returning ``source_id`` and the training-set column names, or None; and a
        description of what was used.
    """
    if conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"),
                    {"n": f"{SCHEMA}.mw_best"}).scalar_one():
        names = conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = 'mw_best'"), {"s": SCHEMA}).scalars().all()
        wanted = [*MAG_COLUMNS, *[f"e_{m}" for m in MAG_COLUMNS], *ASTROMETRY_COLUMNS]
        found = [c for c in wanted if c in names]
        if "xray_source_id" in names and found:
            select = ", ".join(f'b."{c}"::float8 AS "{c}"' for c in found)
            return (f"SELECT b.xray_source_id AS source_id, {select} FROM {SCHEMA}.mw_best b",
                    f"mw_best view ({len(found)} columns)")
    return None, "none (no mw_best view of the counterparts)"


def load_measurements(engine: Engine, selection: Selection, run_id: int | None = None) -> Measurements:
    """Measurement table of the selected X-ray sources (see the module docstring).

    Parameters
    ----------
    engine : Engine
    selection : Selection
    run_id : int, optional
        Leave out sources this run has already labelled.

    Returns
    -------
    Measurements
    """
    where, params = selection.sql()
    band_joins, band_cols = [], []
    for col, (lo, hi) in REQUIRED_BANDS.items():
        a = "f" + col[1].lower()
        band_joins.append(
            f"LEFT JOIN {SCHEMA}.xray_flux {a} ON {a}.source_id = s.id AND {a}.kind = 'energy_flux' "
            f"AND abs({a}.band_lo_kev - {lo}) < 1e-6 AND abs({a}.band_hi_kev - {hi}) < 1e-6")
        band_cols.append(f"{a}.value AS \"{col}\", ({a}.value_hi - {a}.value_lo) / 2.0 AS \"e_{col}\"")
    flag_expr = "concat_ws('|', " + ", ".join(
        f"CASE WHEN (s.flags->>'{k}')::boolean THEN '{w}' END" for k, w in FLAG_WORDS.items()) + ")"
    labelled = "false"
    if run_id is not None:
        labelled = (f"EXISTS (SELECT 1 FROM {SCHEMA}.classification c "
                    f"WHERE c.run_id = :run_id AND c.source_id = s.id)")
        params["run_id"] = int(run_id)
    sql = f"""
        SELECT s.id AS source_id, {labelled} AS labelled,
               s.var_intra_prob AS "P_intra", s.var_inter_prob AS "P_inter",
               {flag_expr} AS "CSCv2_flags", {", ".join(band_cols)}
          FROM {SCHEMA}.xray_source s {" ".join(band_joins)}
         WHERE {where}
         ORDER BY s.id"""
    with engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        try:
            res = conn.execute(sa.text(sql), params)
        except sa.exc.DBAPIError as exc:
            if not selection.where:
                raise
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise InputError(f"--where {selection.where!r}: the database refused the "
                             f"selection: {first} (write a SQL condition on xray_source "
                             f"aliased s, e.g. \"s.significance > 5\")") from None
        frame = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
        cp_sql, cp_note = counterpart_table(conn)
        cp = pd.read_sql_query(sa.text(cp_sql), conn) if cp_sql else None
        conn.rollback()
    out = Measurements(table=frame, n_selected=len(frame), counterparts=cp_note)
    labelled_mask = frame.pop("labelled").astype(bool).to_numpy()
    out.skipped_labelled = int(labelled_mask.sum())
    frame = frame[~labelled_mask]
    fluxes = frame[list(REQUIRED_BANDS)].to_numpy(float)
    errors = frame[[f"e_{c}" for c in REQUIRED_BANDS]].to_numpy(float)
    measured = ~np.isnan(fluxes)
    no_band = ~measured.any(axis=1)
    no_err = ~no_band & (measured & (np.isnan(errors) | (errors < 0))).any(axis=1)
    out.skipped_no_bands = int(no_band.sum())
    out.skipped_no_errors = int(no_err.sum())
    frame = frame[~no_band & ~no_err].set_index("source_id")
    frame, out.bands_missing = fill_nondetections(frame)
    if cp is not None and len(cp):
        frame = frame.join(cp.set_index("source_id"), how="left")
    for name in list(MAG_COLUMNS) + [f"e_{m}" for m in MAG_COLUMNS] + list(ASTROMETRY_COLUMNS):
        if name not in frame:
            frame[name] = np.nan
    for col in ("P_intra", "P_inter", *MAG_COLUMNS, *[f"e_{m}" for m in MAG_COLUMNS],
                *ASTROMETRY_COLUMNS):
        frame[col] = frame[col].astype(float)
    out.table = frame
    return out


def _prediction_copy(model):
    """The model with every ``n_jobs`` set to 1 (summing tree outputs in a fixed order)."""
    params = model.get_params() if hasattr(model, "get_params") else {}
    single = {k: 1 for k, v in params.items() if k.endswith("n_jobs") and v not in (None, 1)}
    if single:
        import copy

        model = copy.deepcopy(model)
        model.set_params(**single)
    return model


def classify_table(
    model,
    table: pd.DataFrame,
    n_samples: int,
    seed: int,
    options: FeatureOptions,
    sigma_scale: float,
    missing_error: str = "missing",
    chunk_sources: int = 250,
    jobs: int = 1,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Monte Carlo classification of every source of ``table`` with one fitted model.

    Same chunking and seeds as :func:`classify.montecarlo.classify_mc` (chunk ``i`` of
    ``chunk_sources`` rows draws with seed ``(seed, i)``), so the probabilities are those
    of ``classify_mc`` with the same ``chunk_sources``; chunks run on ``jobs`` threads
    (the estimator predicts single-threaded, so the result does not depend on ``jobs``).

    Returns
    -------
    pandas.DataFrame
        :func:`classify.montecarlo.aggregate_probabilities` output, index of ``table``.
    """
    model = _prediction_copy(model)
    starts = list(range(0, len(table), chunk_sources))
    done = [0]

    def one(i: int) -> pd.DataFrame:
        chunk = table.iloc[starts[i]:starts[i] + chunk_sources]
        rng = np.random.default_rng([seed, i])
        samples = sample_measurements(chunk, n_samples, rng, sigma_scale, missing_error)
        feats = compute_features(samples, options).to_numpy(dtype=float)
        del samples
        proba = model.predict_proba(feats)
        return aggregate_probabilities(proba, n_samples, model.classes_)

    parts: list[pd.DataFrame] = []
    if jobs <= 1 or len(starts) <= 1:
        for i in range(len(starts)):
            parts.append(one(i))
            if progress:
                progress(min(len(table), starts[i] + chunk_sources), len(table))
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            # map keeps the order; at most ~2*jobs chunks in flight bounds the memory
            pending = []
            for i in range(len(starts)):
                pending.append(pool.submit(one, i))
                if len(pending) >= 2 * jobs:
                    parts.append(pending.pop(0).result())
                    done[0] += 1
                    if progress:
                        progress(min(len(table), done[0] * chunk_sources), len(table))
            for fut in pending:
                parts.append(fut.result())
                done[0] += 1
                if progress:
                    progress(min(len(table), done[0] * chunk_sources), len(table))
    if not parts:
        return pd.DataFrame(index=table.index, columns=["Class", "Class_prob", "Class_prob_e",
                                                        "CT", "confident"])
    result = pd.concat(parts, ignore_index=True)
    result.index = table.index
    return result


def write_labels(engine: Engine, run: RunInfo, source_ids: np.ndarray, result: pd.DataFrame,
                 n_samples: int, bands_missing: pd.Series | None = None) -> int:
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
            "ct float8, confident boolean, missing int) ON COMMIT DROP"))
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
        params = {"run": int(run.id), "classes": classes, "mc": int(n_samples)}
        conn.execute(sa.text(f"""
            INSERT INTO {SCHEMA}.classification
              (run_id, source_id, class, prob, prob_std, ct, confident, mc_samples,
               xray_bands_missing)
            SELECT :run, source_id, (CAST(:classes AS text[]))[k], prob, prob_std, ct,
                   confident, :mc, nullif(concat_ws(',', {_BANDS_SQL}), '')
              FROM _lc_cls"""), params)
        conn.execute(sa.text(f"""
            INSERT INTO {SCHEMA}.class_probability
              (run_id, source_id, class, mean, std, median, lo2sigma, hi2sigma)
            SELECT :run, source_id, (CAST(:classes AS text[]))[k], mean, std, median, lo, hi
              FROM _lc_prob"""), {"run": params["run"], "classes": classes})
    return n


_BANDS_SQL = ", ".join(f"CASE WHEN missing & {1 << i} > 0 THEN '{b}' END"
                      for i, b in enumerate(XRAY_BANDS))


def _band_codes(bands_missing: pd.Series | None, n: int) -> np.ndarray:
    """Bit mask per source of the bands taken as non-detections (s 1, m 2, h 4)."""
    codes = np.zeros(n, dtype=np.int32)
    if bands_missing is not None:
        for j, value in enumerate(bands_missing.to_numpy(object)):
            for i, band in enumerate(XRAY_BANDS):
                if value and band in value.split(","):
                    codes[j] |= 1 << i
    return codes


@dataclass
class RunSummary:
    """What :func:`classify_run` did."""

    run_id: int
    measurements: Measurements
    n_labelled: int
    n_samples: int
    seconds_classify: float
    seconds_write: float
    n_confident: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable lines."""
        m = self.measurements
        rate = self.n_labelled * self.n_samples / self.seconds_classify if self.seconds_classify else 0
        out = [f"run {self.run_id}: {m.n_selected} sources selected; labelled {self.n_labelled} "
               f"({self.n_confident} confident) with {self.n_samples} Monte Carlo samples each",
               f"skipped: {m.skipped_labelled} already labelled by this run, "
               f"{m.skipped_no_bands} lacking the s/m/h energy fluxes (all three), "
               f"{m.skipped_no_errors} without flux errors",
               f"counterparts: {m.counterparts}"]
        n_missing = int(m.bands_missing.notna().sum())
        if n_missing:
            per = m.n_missing_band()
            out.insert(1, f"non-detections: {n_missing} labelled with one or two of the "
                          f"s/m/h fluxes missing ("
                          + ", ".join(f"{b} {per[b]}" for b in XRAY_BANDS if per[b])
                          + f"), taken as below {NONDETECTION_LIMIT:g} erg/cm2/s as the "
                            f"MUWCLASS training set takes them")
        if self.class_counts:
            out.append("predicted: " + ", ".join(f"{c} {n}" for c, n in self.class_counts.items()))
        out.append(f"classify {self.seconds_classify:.1f} s ({rate:,.0f} source-samples/s), "
                   f"write {self.seconds_write:.1f} s")
        return out


def classify_run(
    engine: Engine,
    run_id: int,
    selection: Selection | None = None,
    jobs: int = 1,
    chunk_sources: int = 250,
    progress: ProgressFn | None = None,
) -> RunSummary:
    """Classify the selected X-ray sources with a run and write their labels.

    Parameters
    ----------
    engine : Engine
    run_id : int
    selection : Selection, optional
        Which sources (default: every X-ray source).
    jobs : int
        Threads (the result does not depend on it).
    chunk_sources : int
        Sources per Monte Carlo chunk (memory ~ chunk x samples x features x 8 bytes).
    progress : callable, optional
        ``progress(done, total)`` after every chunk.

    Returns
    -------
    RunSummary
    """
    run = get_run(engine, run_id)
    model = load_model(run)
    meas = load_measurements(engine, selection or Selection(), run.id)
    config = run.train_config()
    t0 = time.perf_counter()
    if run.config.get("redden_agn") and len(meas.table):
        result = _classify_reddened(engine, run, model, meas.table, config, chunk_sources,
                                    jobs, progress)
    else:
        result = classify_table(model, meas.table, run.mc_samples, run.seed, config.options,
                                config.sigma_scale, config.missing_error, chunk_sources,
                                jobs, progress)
    t1 = time.perf_counter()
    n = write_labels(engine, run, meas.table.index.to_numpy(), result, run.mc_samples,
                     meas.bands_missing.loc[meas.table.index])
    t2 = time.perf_counter()
    counts = result["Class"].value_counts().sort_index() if n else pd.Series(dtype=int)
    return RunSummary(run_id=run.id, measurements=meas, n_labelled=n, n_samples=run.mc_samples,
                      seconds_classify=t1 - t0, seconds_write=t2 - t1,
                      n_confident=int(result["confident"].sum()) if n else 0,
                      class_counts={str(k): int(v) for k, v in counts.items()})


def source_ebv(engine: Engine, source_ids: np.ndarray) -> np.ndarray:
    """E(B-V) = 0.86 x SFD (classify.reddening.ebv_sfd) at each X-ray source's position."""
    from classify.reddening import ebv_sfd

    with engine.connect() as conn:
        pos = pd.DataFrame(conn.execute(sa.text(
            f"SELECT id, ra, dec FROM {SCHEMA}.xray_source WHERE id = ANY(:ids)"),
            {"ids": [int(i) for i in source_ids]}).all(), columns=["id", "ra", "dec"])
    pos = pos.set_index("id").loc[source_ids]
    return np.asarray(ebv_sfd(pos["ra"].to_numpy(), pos["dec"].to_numpy()), dtype=float)


def _classify_reddened(engine: Engine, run: RunInfo, model, table: pd.DataFrame,
                       config, chunk_sources: int, jobs: int,
                       progress: ProgressFn | None) -> pd.DataFrame:
    """Classify each E(B-V) bin of ``table`` with the training AGN reddened to that bin.

    Bin 0 (E(B-V) below the first edge) uses the run's stored model; every other bin a
    model refitted on the run's training data (hash-checked) with its AGN reddened and
    absorbed to the bin's fixed E(B-V) (:func:`classify.reddening.reddened_training`,
    as ``classify evaluate`` does), with the run's seed, so the labels are
    reproducible. One model per bin, not per source.
    """
    from classify.model import fit_model
    from classify.reddening import ebv_bins, reddened_training

    bins = ebv_bins(source_ebv(engine, table.index.to_numpy()))
    data = None
    parts = []
    for b in np.unique(bins):
        rows = table[bins == b]
        if b == 0:
            bin_model = model
        else:
            if data is None:
                data = run_training_data(engine, run)
            reddened, _ = reddened_training(data.table, data.labels, b)
            bin_model = fit_model(reddened, data.labels, config)
        parts.append(classify_table(bin_model, rows, run.mc_samples, run.seed,
                                    config.options, config.sigma_scale, config.missing_error,
                                    chunk_sources, jobs, progress))
    return pd.concat(parts).loc[table.index]


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
