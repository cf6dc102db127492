"""Classify X-ray sources of the database with a classifier run and write their labels.

The measurement table of the selected sources is :func:`classify.measurements.load_measurements`.
:func:`classify_table` classifies every Monte Carlo sample of every source with one
model (chunks of sources, each seeded ``(run seed, chunk number)``, sources in id order,
chunks spread over threads: the result does not depend on the number of threads). A run
trained with ``--redden-agn`` classifies each E(B-V) bin of the sources with a model whose
training AGN are reddened to that bin. The labels are written by
:func:`classify.labelstore.write_labels` (binary COPY, one transaction); sources the run
has already labelled are left out, so labels are never overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.bands import MUWCLASS_BANDS
from catalog.settings import SCHEMA
from classify.crossvar import attach_variability, variability_by_source
from classify.features import NONDETECTION_LIMIT, FeatureOptions, compute_features
from classify.labelstore import write_labels
from classify.measurements import FEATURE_SURVEYS, Measurements, Selection, load_measurements
from classify.montecarlo import aggregate_probabilities, sample_measurements
from classify.runs import RunInfo, get_run, load_model, run_training_data

ProgressFn = Callable[[int, int], None]


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
        rate = (self.n_labelled * self.n_samples / self.seconds_classify
                if self.seconds_classify else 0)
        out = [f"run {self.run_id}: {m.n_selected} sources selected; labelled {self.n_labelled} "
               f"({self.n_confident} confident) with {self.n_samples} Monte Carlo samples each",
               f"skipped: {m.skipped_labelled} already labelled by this run, "
               f"{m.skipped_no_bands} lacking the s/m/h energy fluxes (all three"
               + (": " + ", ".join(f"{r} {n}" for r, n in m.skipped_reasons.most_common())
                  if m.skipped_reasons else "") + "), "
               f"{m.skipped_no_errors} without flux errors"
               + (f", {m.skipped_not_searched} never searched for counterparts in "
                  f"{', '.join(FEATURE_SURVEYS)} (fill them: livecat counterparts fetch "
                  "SURVEY --catalog C for each, then livecat counterparts match)"
                  if m.skipped_not_searched else ""),
               f"counterparts: {m.counterparts}"]
        n_missing = int(m.bands_missing.notna().sum())
        if n_missing:
            per = m.n_missing_band()
            out.insert(1, f"non-detections: {n_missing} labelled with one or two of the "
                          f"s/m/h fluxes missing ("
                          + ", ".join(f"{b} {per[b]}" for b in MUWCLASS_BANDS if per[b])
                          + f"), taken as below {NONDETECTION_LIMIT:g} erg/cm2/s as the "
                            f"MUWCLASS training set takes them")
        origins = m.flux_origin["flux_origin"].value_counts() if len(m.flux_origin) else {}
        if len(origins):
            out.append("fluxes: " + ", ".join(
                f"{n} {o}" for o, n in origins.items()) + " (native: the source's own CSC "
                "bands; object: its object's CSC member; converted: its own bands "
                "converted to the CSC bands)")
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
    if config.options.cross_mission_variability and len(meas.table):
        # the object's ratio through the source's current association (missing: seen once)
        meas.table = attach_variability(meas.table,
                                        variability_by_source(engine, meas.table.index))
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
                     meas.bands_missing.loc[meas.table.index], meas.flux_origin)
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
