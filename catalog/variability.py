"""Long-term variability of a sky object across missions, from its common-band fluxes.

For the fluxes of one object's member sources in one CSC band (the rows of
:func:`catalog.flux_convert.convert_fluxes`, whose ``value_lo``/``value_hi`` are 1-sigma
bounds for every catalog: the bounds a catalog stores are turned into 1-sigma errors by
its :attr:`catalog.bands.MissionBands.bounds_sigma`):

* the ratio of the highest to the lowest flux, ``F_max / F_min``, and
* its significance ``S = (F_max - F_min) / sqrt(sigma_max**2 + sigma_min**2)``, with the
  brightest flux's *lower* error ``sigma_max = F_max - value_lo`` and the faintest flux's
  *upper* error ``sigma_min = value_hi - F_min`` (the errors that face each other), as
  Primini, Forman & Jones (1993, ApJ 410, 615) and Stiele et al. (2011, A&A 534, A55,
  Fig. 8) measure the variability of X-ray sources between observations.

A detection is a finite ``value > 0``. An upper limit (``value`` NaN, ``value_hi > 0``)
below the faintest detection replaces it as ``F_min`` with no error: the true minimum is
lower still, so the ratio and ``S`` are lower limits (``ratio_is_lower_limit``), as the
STONKS multi-mission comparison treats upper limits (Quintin et al. 2024, A&A 687,
A250). Limits above the faintest detection say nothing about the minimum and are
ignored. One detection alone, or none, gives no ratio (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog.errors import InputError

VARIABILITY_COLUMNS = ["var_band", "var_ratio", "var_sigma", "var_is_lower_limit",
                       "n_fluxes"]


@dataclass(frozen=True)
class FluxRatio:
    """The variability of one object in one band.

    Attributes
    ----------
    ratio : float
        ``F_max / F_min`` (NaN with fewer than two usable fluxes).
    sigma : float
        Significance ``S`` of ``F_max - F_min`` in combined sigma (NaN without errors).
    ratio_is_lower_limit : bool
        ``F_min`` is an upper limit: ``ratio`` and ``sigma`` are lower limits.
    n_used : int
        Detections plus the upper limits below the faintest detection.
    n_detections, n_limits : int
        Detections and upper limits given.
    i_max, i_min : int
        Positions (in the input) of the brightest flux and of ``F_min`` (-1: none).
    """

    ratio: float
    sigma: float
    ratio_is_lower_limit: bool
    n_used: int
    n_detections: int
    n_limits: int
    i_max: int
    i_min: int


def flux_ratio_significance(value, value_lo, value_hi, upper_limit=None) -> FluxRatio:
    """``F_max / F_min`` and its significance for one object's fluxes in one band.

    Parameters
    ----------
    value, value_lo, value_hi : array_like
        Fluxes and their 1-sigma bounds (NaN where unknown).
    upper_limit : array_like of bool, optional
        Which fluxes are upper limits (at ``value_hi``); default: those whose ``value``
        is not a finite number > 0 and whose ``value_hi`` is.

    Returns
    -------
    FluxRatio
    """
    value = np.atleast_1d(np.asarray(value, dtype=float))
    codes = np.zeros(value.size, dtype=np.int64)
    res = _grouped(codes, 1, value, value_lo, value_hi, upper_limit)
    return FluxRatio(float(res["ratio"][0]), float(res["sigma"][0]), bool(res["lower"][0]),
                     int(res["n_used"][0]), int(res["n_det"][0]), int(res["n_lim"][0]),
                     int(res["i_max"][0]), int(res["i_min"][0]))


def object_variability(frame: pd.DataFrame, group_col: str = "object_id",
                       band: str = "b") -> pd.DataFrame:
    """Variability of every object in one band, vectorised over objects.

    Parameters
    ----------
    frame : pandas.DataFrame
        Member fluxes: ``group_col``, ``value``, ``value_lo``, ``value_hi`` and, when
        present, ``band`` (only rows of ``band`` are used).
    group_col : str
        The object column.
    band : str
        The CSC band to measure.

    Returns
    -------
    pandas.DataFrame
        One row per object (sorted by ``group_col``): ``group_col``, ``var_band``,
        ``var_ratio``, ``var_sigma``, ``var_is_lower_limit``, ``n_fluxes`` (detections
        and upper limits in the band).
    """
    missing = [c for c in (group_col, "value", "value_lo", "value_hi") if c not in frame]
    if missing:
        raise InputError(f"object fluxes lack column(s) {', '.join(missing)}")
    rows = frame[frame["band"] == band] if "band" in frame.columns else frame
    keys, codes = np.unique(rows[group_col].to_numpy(), return_inverse=True)
    res = _grouped(codes.ravel(), keys.size, *(rows[c].to_numpy(dtype=float) for c in
                                               ("value", "value_lo", "value_hi")))
    return pd.DataFrame({group_col: keys, "var_band": band, "var_ratio": res["ratio"],
                         "var_sigma": res["sigma"], "var_is_lower_limit": res["lower"],
                         "n_fluxes": res["n_det"] + res["n_lim"]})


def _grouped(codes: np.ndarray, n_groups: int, value, value_lo, value_hi,
             upper_limit=None) -> dict:
    """The statistic for every group ``0..n_groups-1`` of the rows (see module notes)."""
    v, lo, hi = (np.asarray(a, dtype=float).ravel() for a in (value, value_lo, value_hi))
    if not v.size == lo.size == hi.size == codes.size:
        raise InputError("value, value_lo and value_hi must have one entry per flux")
    if v.size == 0:  # no flux at all: index arrays below would point at nothing
        v, lo, hi, codes = (np.array([np.nan]),) * 3 + (np.zeros(1, dtype=np.int64),)
    with np.errstate(invalid="ignore"):
        det = np.isfinite(v) & (v > 0)
        lim = ~det & np.isfinite(hi) & (hi > 0)
    if upper_limit is not None:
        flag = np.asarray(upper_limit, dtype=bool).ravel()
        det, lim = det & ~flag, flag & np.isfinite(hi) & (hi > 0)
    n_det = np.bincount(codes[det], minlength=n_groups)
    n_lim = np.bincount(codes[lim], minlength=n_groups)
    i_max, i_min = _extreme(codes, v, det, n_groups)
    _, i_lim = _extreme(codes, hi, lim, n_groups)
    has = n_det > 0
    f_max = np.where(has, v[i_max], np.nan)
    s_max = np.where(has, f_max - lo[i_max], np.nan)
    f_min = np.where(has, v[i_min], np.nan)
    s_min = np.where(has, hi[i_min] - f_min, np.nan)
    ul = np.where(n_lim > 0, hi[i_lim], np.nan)
    with np.errstate(invalid="ignore"):
        lower = has & (ul < f_min)
        below = lim & (hi < f_min[codes])
    f_low = np.where(lower, ul, f_min)
    s_low = np.where(lower, 0.0, s_min)
    defined = lower | (n_det >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(defined, f_max / f_low, np.nan)
        sigma = np.where(defined, (f_max - f_low) / np.hypot(s_max, s_low), np.nan)
    return {"ratio": ratio, "sigma": sigma, "lower": lower,
            "n_used": n_det + np.bincount(codes[below], minlength=n_groups),
            "n_det": n_det, "n_lim": n_lim, "i_max": np.where(has, i_max, -1),
            "i_min": np.where(lower, i_lim, np.where(has, i_min, -1))}


def _extreme(codes: np.ndarray, x: np.ndarray, use: np.ndarray, n_groups: int):
    """Row positions of the largest and smallest ``x`` of each group among rows ``use``
    (0 for groups without such rows)."""
    idx = np.flatnonzero(use)
    order = idx[np.lexsort((x[idx], codes[idx]))]
    first, last = np.zeros(n_groups, dtype=np.int64), np.zeros(n_groups, dtype=np.int64)
    if order.size:
        g = codes[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ends = np.r_[starts[1:], g.size] - 1
        first[g[starts]], last[g[starts]] = order[starts], order[ends]
    return last, first
