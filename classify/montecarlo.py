"""Monte Carlo propagation of measurement errors into class probabilities.

Method of Yang et al. (2022, arXiv:2206.13656, Sect. 3) as implemented in
huiyang-astro/MUWCLASS_CSCv2, ``codes/muwclass_library.py`` (``nonzero_sample``,
``sample_data``, ``confident_sigma``):

* every measured quantity is drawn from a normal distribution centred on the measurement
  with ``sigma_scale`` times its quoted error (default sqrt(2), the value the livecat
  specification gives for the reference); X-ray fluxes are redrawn until positive
  (a normal truncated at zero); magnitudes are drawn in magnitude space;
  the broad band is the sum of the sampled s, m, h fluxes;
* a magnitude without an error is, in 2MASS and AllWISE, an upper limit rather than a
  measurement; like the reference (where ``randn * NaN`` gives NaN) it becomes missing in
  the samples unless ``missing_error="fixed"``;
* variability probabilities, proper motions and the cross-mission variability of the
  source's object (ratio, significance, lower-limit flag: already a statistic of the
  member fluxes' errors) carry no error and are copied;
* the Bailer-Jones distance ``rgeo`` is drawn from the reference's normal approximation
  of its asymmetric interval (``asymmetric_errors``), truncated at zero.

Aggregation per source and class: mean, standard deviation, median and the 2-sigma bounds
(2.275 and 97.725 percentiles) of the probability; the predicted class has the largest
mean probability; the confidence measure is the reference's
``CT = min_j (P_top - P_j) / (sigma_top + sigma_j)`` over the other classes j, and a
source is confident when CT > 2 (its top probability exceeds every other class's by more
than 2 combined sigma).

The classifier is trained once; all samples of all sources are classified by one
vectorised ``predict_proba`` per chunk of sources (:func:`classify_mc`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from classify.features import (
    CROSS_MISSION_COLUMNS,
    MAG_COLUMNS,
    FeatureOptions,
    compute_features,
)

DEFAULT_N_SAMPLES = 1000
SIGMA_SCALE = float(np.sqrt(2.0))
TWO_SIGMA_PERCENTILES = (2.275, 97.725)


def _positive_normal(
    value: np.ndarray, error: np.ndarray, n: int, rng: np.random.Generator, max_rounds: int = 200
) -> np.ndarray:
    """Draw ``n`` samples per row from N(value, error) truncated to > 0 by redrawing."""
    value = np.asarray(value, dtype=float)[:, None]
    error = np.nan_to_num(np.asarray(error, dtype=float), nan=0.0)[:, None]
    out = value + error * rng.standard_normal((value.shape[0], n))
    for _ in range(max_rounds):
        bad = out <= 0
        if not bad.any():
            break
        rows, _cols = np.nonzero(bad)
        out[bad] = value[rows, 0] + error[rows, 0] * rng.standard_normal(rows.size)
    # Only reachable for non-positive inputs: those stay missing rather than invented.
    out[out <= 0] = np.nan
    return out


def sample_measurements(
    table: pd.DataFrame,
    n_samples: int = DEFAULT_N_SAMPLES,
    seed: int | np.random.Generator = 0,
    sigma_scale: float = SIGMA_SCALE,
    missing_error: str = "missing",
) -> pd.DataFrame:
    """Draw Monte Carlo samples of every measured quantity.

    Parameters
    ----------
    table : pandas.DataFrame
        Sources: ``Fs``, ``Fm``, ``Fh`` with ``e_`` errors; magnitudes of
        :data:`classify.features.MAG_COLUMNS` with ``e_`` errors; optionally ``P_intra``,
        ``P_inter``, ``Plx``, ``e_Plx``, ``PM``, ``rgeo``, ``b_rgeo``, ``B_rgeo`` and
        :data:`classify.features.CROSS_MISSION_COLUMNS`.
    n_samples : int
        Samples per source.
    seed : int or numpy.random.Generator
        Random seed; the same seed gives the same samples.
    sigma_scale : float
        Factor applied to the quoted errors (reference: sqrt(2)).
    missing_error : {"missing", "fixed"}
        What a magnitude without an error becomes: missing (reference) or fixed at its value.

    Returns
    -------
    pandas.DataFrame
        ``len(table) * n_samples`` rows, source-major (the samples of source i are rows
        ``i*n_samples`` to ``(i+1)*n_samples - 1``), column ``source`` = row position of the
        source in ``table``.
    """
    if missing_error not in ("missing", "fixed"):
        raise ValueError("missing_error must be 'missing' or 'fixed'")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_src = len(table)
    out: dict[str, np.ndarray] = {"source": np.repeat(np.arange(n_src), n_samples)}
    for band in ("Fs", "Fm", "Fh"):
        out[band] = _positive_normal(
            table[band].to_numpy(float), sigma_scale * table["e_" + band].to_numpy(float),
            n_samples, rng,
        ).ravel()
    for mag in MAG_COLUMNS:
        value = table[mag].to_numpy(float)[:, None]
        err = table["e_" + mag].to_numpy(float)[:, None]
        if missing_error == "fixed":
            err = np.nan_to_num(err, nan=0.0)
        draw = value + sigma_scale * err * rng.standard_normal((n_src, n_samples))
        out[mag] = draw.ravel()
    for col in ("P_intra", "P_inter", "PM", "Plx", "e_Plx"):
        if col in table:
            out[col] = np.repeat(table[col].to_numpy(float), n_samples)
    for col in CROSS_MISSION_COLUMNS:  # the flag may be True/False/None
        if col in table:
            out[col] = np.repeat(pd.to_numeric(table[col].astype(object), errors="coerce")
                                 .astype(float).to_numpy(), n_samples)
    if "CSCv2_flags" in table:
        out["CSCv2_flags"] = np.repeat(table["CSCv2_flags"].to_numpy(object), n_samples)
    if {"rgeo", "b_rgeo", "B_rgeo"} <= set(table.columns):
        r = table["rgeo"].to_numpy(float)
        up = table["B_rgeo"].to_numpy(float) - r
        lo = r - table["b_rgeo"].to_numpy(float)
        # reference asymmetric_errors(): normal approximation of a split interval
        err = np.sqrt((1.0 - 2.0 / np.pi) * (up - lo) ** 2 + up * lo)
        draw = _positive_normal(np.where(r > 0, r, np.nan), err, n_samples, rng)
        out["rgeo"] = draw.ravel()
    return pd.DataFrame(out)


def aggregate_probabilities(
    proba: np.ndarray,
    n_samples: int,
    classes: list[str] | np.ndarray,
    threshold: float = 2.0,
) -> pd.DataFrame:
    """Summarise Monte Carlo class probabilities per source.

    Parameters
    ----------
    proba : numpy.ndarray
        Shape ``(n_sources * n_samples, n_classes)``, source-major.
    n_samples : int
        Samples per source.
    classes : sequence of str
        Class names, in the column order of ``proba``.
    threshold : float
        Confidence threshold on CT (reference: 2).

    Returns
    -------
    pandas.DataFrame
        One row per source: ``Class`` (largest mean probability), ``Class_prob`` and
        ``Class_prob_e`` (its mean and std), ``CT``, ``confident`` and per class ``P_c``
        (mean), ``e_P_c`` (std), ``P_med_c`` (median), ``P_lo_c`` / ``P_hi_c`` (2.275 /
        97.725 percentiles).
    """
    classes = list(classes)
    k = len(classes)
    p = np.asarray(proba, dtype=float).reshape(-1, n_samples, k)
    mean = p.mean(axis=1)
    std = p.std(axis=1)
    med = np.median(p, axis=1)
    lo, hi = np.percentile(p, TWO_SIGMA_PERCENTILES, axis=1)
    top = mean.argmax(axis=1)
    rows = np.arange(mean.shape[0])
    p_top, s_top = mean[rows, top], std[rows, top]
    num = p_top[:, None] - mean
    den = s_top[:, None] + std
    with np.errstate(divide="ignore", invalid="ignore"):
        ct = np.where(den > 0, num / den, np.where(num > 0, np.inf, 0.0))
    ct[rows, top] = np.inf
    ct_min = ct.min(axis=1) if k > 1 else np.full(mean.shape[0], np.inf)
    frame = {
        "Class": np.asarray(classes, dtype=object)[top],
        "Class_prob": p_top,
        "Class_prob_e": s_top,
        "CT": ct_min,
        "confident": ct_min > threshold,
    }
    for j, c in enumerate(classes):
        frame[f"P_{c}"] = mean[:, j]
        frame[f"e_P_{c}"] = std[:, j]
        frame[f"P_med_{c}"] = med[:, j]
        frame[f"P_lo_{c}"] = lo[:, j]
        frame[f"P_hi_{c}"] = hi[:, j]
    return pd.DataFrame(frame)


def classify_mc(
    model,
    table: pd.DataFrame,
    n_samples: int = DEFAULT_N_SAMPLES,
    seed: int = 0,
    options: FeatureOptions = FeatureOptions(),
    sigma_scale: float = SIGMA_SCALE,
    missing_error: str = "missing",
    chunk_sources: int = 500,
    threshold: float = 2.0,
) -> pd.DataFrame:
    """Classify every Monte Carlo sample of every source with one trained model.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_`` (e.g. :func:`classify.model.build_pipeline`).
    table : pandas.DataFrame
        Sources with measurements and errors (see :func:`sample_measurements`).
    n_samples, seed, sigma_scale, missing_error
        Passed to :func:`sample_measurements`; chunk ``i`` uses seed ``(seed, i)``.
    options : FeatureOptions
        Features the model was trained on.
    chunk_sources : int
        Sources per ``predict_proba`` call (bounds memory: 500 sources x 1000 samples
        is 500,000 feature rows, a few hundred MB).
    threshold : float
        Confidence threshold on CT.

    Returns
    -------
    pandas.DataFrame
        :func:`aggregate_probabilities` output, index of ``table``.
    """
    parts = []
    for i, start in enumerate(range(0, len(table), chunk_sources)):
        chunk = table.iloc[start:start + chunk_sources]
        rng = np.random.default_rng([seed, i])
        samples = sample_measurements(chunk, n_samples, rng, sigma_scale, missing_error)
        feats = compute_features(samples, options).to_numpy(dtype=float)
        proba = model.predict_proba(feats)
        parts.append(aggregate_probabilities(proba, n_samples, model.classes_, threshold))
    result = pd.concat(parts, ignore_index=True)
    result.index = table.index
    return result
