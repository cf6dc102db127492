"""Chandra Source Catalog (CSC 2.0 / 2.1 / 2.1.1): parse and normalize (database-free).

Inputs understood by :func:`parse`
----------------------------------
* CSC query-result CSV as the CSC services return it (CSC 2.0 column names; the
  cone-search flavour has the master-source columns followed by per-observation columns,
  repeated names carrying a ``.1`` suffix; RA/Dec may be sexagesimal text; booleans
  ``TRUE``/``FALSE``/``True``/``False``; blank-padded cells are nulls). The MUWCLASS
  per-source averages file (``NGC3532_ave.csv``: ``flux_aper90_ave_<band>`` with
  symmetric ``e_`` errors, positions in degrees) is read too.
* CXC TAP VOTable of the master source table (``csc21``/CSC 2.1 column names:
  ``name, ra, dec, err_ellipse_r0/r1/ang, significance, likelihood_class, conf_flag,
  extent_flag, sat_src_flag, streak_src_flag, pileup_flag, dither_warning_flag,
  flux_aper_<band>`` with ``_lolim``/``_hilim``, ``hard_hs/hm/ms``, ``var_intra_prob_<b>``,
  ``var_inter_prob_<b>``, ``var_intra_index_<b>``, ``var_inter_index_<b>``, ``nh_gal``,
  ``acis_num``, ``hrc_num``).
* HEASARC Xamin TAP VOTable of table ``csc`` (CSC 2.1.1). HEASARC renames columns; they
  are mapped to the CXC names in :data:`HEASARC_TO_CXC` (``error_ellipse_r0`` ->
  ``err_ellipse_r0``, ``b_flux_ap``/``_lo``/``_hi`` -> ``flux_aper_b``/``_lolim``/``_hilim``
  and likewise for the other band letters, ``hardness_ratio_hs`` -> ``hard_hs``, ...).
  HEASARC booleans are one-character ``T``/``F`` strings.

Column definitions followed (official descriptions, looked up with the search tool):
* CXC, "Master Sources Table", https://cxc.cfa.harvard.edu/csc/columns/master.html
  (CSC 1 page http://cxc.harvard.edu/csc1/columns/master.html: ``err_ellipse_r0`` "major
  radius of the 95% confidence level error ellipse of the source position", ``r1`` minor
  radius, ``err_ellipse_ang`` position angle; flag definitions).
* CXC, "Source Position Errors in the Master Sources Table",
  https://cxc.cfa.harvard.edu/csc/why/err_ellipse_msc.html.
* HEASARC ``csc`` table (CSC 2.1.1), https://heasarc.gsfc.nasa.gov/W3Browse/all/csc.html;
  the field descriptions of the recorded answer ``heasarc_csc_3c273.vot`` ("Major Radius of
  the 95% Confidence Level Position Error Ellipse", "Net Energy Flux ... (68% Lower
  Limit)").
Cite Evans et al. 2010, ApJS 189, 37 and Evans et al. 2024, ApJS 274, 22.

Normalization choices
---------------------
* ``native_id`` = ``name`` (the CSC designation, e.g. ``2CXO J122906.6+020308``). CSC 2.1.1
  renamed ~400 sources of 2.1; renames are resolved by position in the loader.
* ``pos_err_arcsec`` (per-axis 1-sigma of a circular 2-D Gaussian) from the 95 % ellipse:
  ``sqrt((r0**2 + r1**2) / 2) / 2.4477`` where ``2.4477 = sqrt(-2 ln 0.05)`` is the
  ratio of the 95 % radius to sigma for a 2-D Gaussian (Rayleigh distribution).
  ``err_maj_arcsec``/``err_min_arcsec``/``err_pa_deg`` keep the ellipse *as published*
  (95 %); ``extra["err_ellipse_confidence"] = 0.95`` says so.
* Fluxes: every band present (b 0.5-7, s 0.5-1.2, m 1.2-2, h 2-7, u 0.2-0.5 keV ACIS;
  w 0.1-10 keV HRC) becomes an ``energy_flux`` row in erg/cm2/s. Source of the value, in
  order of preference: ``flux_aper_<b>`` (CSC 2.1 master, aperture-corrected) with
  ``_lolim``/``_hilim`` (68 % limits); else ``flux_aper90_<b>`` with limits (CSC 2.0 query
  results); else ``flux_aper90_ave_<b>`` +/- ``e_flux_aper90_ave_<b>`` (MUWCLASS averages).
  ``extra["flux_column"]`` records which one was used.
* Variability: ``var_intra_prob`` / ``var_inter_prob`` are the broad-band (b)
  probabilities when present, otherwise the maximum over the bands present (HRC-only
  sources have only ``w``), otherwise an un-banded ``var_inter_prob`` column (MUWCLASS
  file). Kolmogorov-Smirnov/Kuiper probabilities and variability indices stay in ``extra``.
* ``nh_gal_cm2``: the CSC quotes ``nh_gal`` in units of 1e20 cm^-2 (the NGC 3532 field,
  at b = 1.4 deg, reads 88.65 = 8.9e21 cm^-2). Values below 1e10 are taken to be in
  1e20 cm^-2 and multiplied; larger values are taken as cm^-2 already (no real N_H in
  cm^-2 is below 1e10, none in 1e20 cm^-2 above it), so either convention of a
  mirror is handled.
* ``n_obs`` = ``acis_num + hrc_num`` (NA when neither is given).
* ``flags``: ``extended`` (extent_flag), ``confused`` (conf_flag), ``saturated``
  (sat_src_flag), ``streak`` (streak_src_flag), ``pileup`` (pileup_flag), ``dither``
  (dither_warning_flag), ``variable`` (var_flag); None where the input lacks the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from catalog.bands import CSC_BANDS_KEV
from ingest import readers as R
from ingest import tables as T
from ingest.normalized import NormalizedCatalog

CATALOG = "csc"
#: Releases this module understands (column conventions are shared).
RELEASES = ("2.0", "2.1", "2.1.1")
DEFAULT_RELEASE = "2.1.1"

#: CSC science energy bands: letter -> (lo, hi) keV.
BANDS = CSC_BANDS_KEV

#: HEASARC ``csc`` column -> CXC master-table column.
HEASARC_TO_CXC = {
    "error_ellipse_r0": "err_ellipse_r0",
    "error_ellipse_r1": "err_ellipse_r1",
    "error_ellipse_angle": "err_ellipse_ang",
    "hardness_ratio_hs": "hard_hs",
    "hardness_ratio_hm": "hard_hm",
    "hardness_ratio_ms": "hard_ms",
    **{f"{b}_flux_ap": f"flux_aper_{b}" for b in BANDS},
    **{f"{b}_flux_ap_lo": f"flux_aper_lolim_{b}" for b in BANDS},
    **{f"{b}_flux_ap_hi": f"flux_aper_hilim_{b}" for b in BANDS},
}

#: Contract flag name -> CSC column.
FLAG_COLUMNS = {"extended": "extent_flag", "confused": "conf_flag",
                "saturated": "sat_src_flag", "streak": "streak_src_flag",
                "pileup": "pileup_flag", "dither": "dither_warning_flag",
                "variable": "var_flag"}

REQUIRED = ("name", "ra", "dec")
_CONF95 = 0.95

_EXTRA_NUMERIC = (
    ["err_ellipse_r0", "err_ellipse_r1", "err_ellipse_ang", "significance", "nh_gal",
     "acis_num", "hrc_num", "var_inter_prob", "flux_significance_b",
     "flux_significance_b_max", "significance_max", "obsid"]
    + [f"hard_{hr}{s}" for hr in ("hs", "hm", "ms") for s in ("", "_lolim", "_hilim")]
    + [f"{p}_{b}" for b in BANDS for p in (
        "var_intra_prob", "var_inter_prob", "var_intra_index", "var_inter_index",
        "ks_intra_prob", "kp_intra_prob", "var_inter_sigma")]
)
_EXTRA_TEXT = ("likelihood_class", "gti_obs")  # gti_obs: when the observation began


def parse(path_or_bytes, fmt: str | None = None) -> pd.DataFrame:
    """Read CSC rows from a CSV query result, a CXC TAP VOTable or a HEASARC VOTable.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        The input file or its content.
    fmt : {"csv", "votable", "fits"}, optional
        Force the format (sniffed when omitted).

    Returns
    -------
    pandas.DataFrame
        One row per input row, CXC column names (HEASARC names mapped). Per-observation
        columns of the cone-search CSV are kept with their ``.1`` suffix.
        ``df.attrs["source"]`` names the input.

    Raises
    ------
    catalog.errors.SourceError
        Unreadable input or a table without ``name``, ``ra``, ``dec``.
    """
    df = R.read_input(path_or_bytes, fmt)
    df = df.rename(columns={c: HEASARC_TO_CXC[c] for c in df.columns if c in HEASARC_TO_CXC})
    R.require_columns(df, REQUIRED, "a Chandra Source Catalog master-source table "
                      "(CXC TAP, HEASARC csc or CSC query-result CSV)")
    return df


def normalize(df: pd.DataFrame, release: str | None = None) -> NormalizedCatalog:
    """Map parsed CSC rows to livecat's X-ray contract, splitting off bad rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse`.
    release : str, optional
        CSC release (one of :data:`RELEASES`); recorded in ``extra["release"]``.

    Returns
    -------
    NormalizedCatalog
        ``kind="xray"`` with sources, fluxes and rejects; ``n_read == len(df)``.
    """
    R.require_columns(df, REQUIRED, "a Chandra Source Catalog master-source table")
    release = release or DEFAULT_RELEASE
    df = df.reset_index(drop=True)
    n = len(df)
    ids = T.id_text(df["name"])
    rc = T.RejectCollector(n, ids)
    T.check_ids(rc, ids, "name")

    ra, ra_bad = T.sexagesimal_to_deg(df["ra"], hours=True)
    dec, dec_bad = T.sexagesimal_to_deg(df["dec"], hours=False)
    T.check_position(rc, ra, dec, df["ra"], df["dec"], "ra", "dec", ra_bad, dec_bad)

    num = T.coerce_numeric(rc, df, _EXTRA_NUMERIC)
    flux_cols = _flux_columns(df)
    fnum = T.coerce_numeric(rc, df, [c for spec in flux_cols.values() for c in spec[1:]
                                     if c is not None])
    flags = T.coerce_bool(rc, df, FLAG_COLUMNS.values())
    for col in ("err_ellipse_r0", "err_ellipse_r1"):
        if col in num:
            T.check_nonnegative(rc, num[col], col)
    for b, (_, _, _, _, err) in flux_cols.items():
        if err is not None:
            T.check_nonnegative(rc, fnum[err], err)

    good = ~rc.bad
    g = np.flatnonzero(good)
    nan = T.nan_series(n)
    r0 = num.get("err_ellipse_r0", nan)
    r1 = num.get("err_ellipse_r1", nan)
    pos_err = T.sigma_from_radius(np.sqrt((r0.to_numpy() ** 2 + r1.to_numpy() ** 2) / 2.0),
                                  _CONF95)
    nh = num.get("nh_gal", nan).to_numpy()
    nh_cm2 = np.where(nh < 1e10, nh * 1e20, nh)
    n_obs = _n_obs(num, n)
    var_intra = _band_prob(num, "var_intra_prob", None, n)
    var_inter = _band_prob(num, "var_inter_prob", num.get("var_inter_prob"), n)

    flag_frame = pd.DataFrame({name: (flags[col] if col in flags
                                      else pd.Series(pd.NA, index=range(n), dtype="boolean"))
                               for name, col in FLAG_COLUMNS.items()})
    extra = _extra(df, num, flux_cols, release)

    sources = T.finish_sources({
        "native_id": ids[good], "name": ids[good],
        "ra": ra[good], "dec": dec[good],
        "pos_err_arcsec": pos_err[good],
        "err_maj_arcsec": r0[good], "err_min_arcsec": r1[good],
        "err_pa_deg": num.get("err_ellipse_ang", nan)[good],
        "significance": num.get("significance", nan)[good],
        "extended": flag_frame["extended"][good],
        "var_intra_prob": var_intra[good], "var_inter_prob": var_inter[good],
        "n_obs": n_obs[good], "nh_gal_cm2": nh_cm2[good],
        "flags": T.records(flag_frame.iloc[g]),
        "extra": T.records(extra.iloc[g]),
    }, len(g))
    fluxes = T.long_fluxes(ids[good].to_numpy(dtype=object),
                           _flux_bands(flux_cols, fnum, good))
    out = NormalizedCatalog(kind="xray", sources=sources, fluxes=fluxes,
                            rejects=rc.frame(), n_read=n)
    out.check_counts()
    return out


def id_column(df: pd.DataFrame) -> str:
    """The native id column of a parsed CSC table."""
    return "name"


def _flux_columns(df: pd.DataFrame) -> dict[str, tuple]:
    """Pick, per band, the flux columns to use: ``(kind, value, lo, hi_or_None, err)``.

    Returns band -> (kind, value_col, lolim_col, hilim_col, err_col); for limit-style
    columns ``err_col`` is None, for the symmetric MUWCLASS averages lo/hi are None.
    """
    out = {}
    for b in BANDS:
        for stem in ("flux_aper", "flux_aper90"):
            if f"{stem}_{b}" in df.columns:
                lo, hi = f"{stem}_lolim_{b}", f"{stem}_hilim_{b}"
                out[b] = (stem, f"{stem}_{b}", lo if lo in df.columns else None,
                          hi if hi in df.columns else None, None)
                break
        else:
            if f"flux_aper90_ave_{b}" in df.columns:
                err = f"e_flux_aper90_ave_{b}"
                out[b] = ("flux_aper90_ave", f"flux_aper90_ave_{b}", None, None,
                          err if err in df.columns else None)
    return out


def _flux_bands(flux_cols: dict, fnum: dict, good: np.ndarray) -> list[dict]:
    """Band dicts for :func:`ingest.tables.long_fluxes` from the chosen columns."""
    bands = []
    for b, (_, vcol, locol, hicol, errcol) in flux_cols.items():
        v = fnum[vcol].to_numpy()[good]
        if errcol is not None:
            lo, hi = T.symmetric_bounds(v, fnum[errcol].to_numpy()[good])
        else:
            lo = fnum[locol].to_numpy()[good] if locol else np.full(v.shape, np.nan)
            hi = fnum[hicol].to_numpy()[good] if hicol else np.full(v.shape, np.nan)
        bands.append({"band": b, "lo": BANDS[b][0], "hi": BANDS[b][1],
                      "kind": "energy_flux", "value": v, "value_lo": lo, "value_hi": hi})
    return bands


def _band_prob(num: dict, stem: str, fallback: pd.Series | None, n: int) -> np.ndarray:
    """Broad-band probability, else the max over bands present, else ``fallback``
    (``n`` rows: a table may have no probability column at all)."""
    per_band = [num[f"{stem}_{b}"].to_numpy() for b in BANDS if f"{stem}_{b}" in num]
    if not per_band:
        return fallback.to_numpy() if fallback is not None else np.full(n, np.nan)
    stack = np.vstack(per_band)
    with np.errstate(all="ignore"):
        best = np.where(np.isnan(stack).all(axis=0), np.nan, np.nanmax(
            np.where(np.isnan(stack), -np.inf, stack), axis=0))
    if f"{stem}_b" in num:
        bprob = num[f"{stem}_b"].to_numpy()
        best = np.where(np.isnan(bprob), best, bprob)
    if fallback is not None:
        best = np.where(np.isnan(best), fallback.to_numpy(), best)
    return best


def _n_obs(num: dict, n: int) -> pd.Series:
    """``acis_num + hrc_num`` with NA when neither is known."""
    parts = [num[c] for c in ("acis_num", "hrc_num") if c in num]
    if not parts:
        return pd.Series([pd.NA] * n, dtype="Float64")
    return pd.concat(parts, axis=1).sum(axis=1, min_count=1).astype("Float64")


def _is_int_column(col: str) -> bool:
    """True for count/index columns that are integers in the CSC."""
    return col in ("acis_num", "hrc_num", "obsid") or "_index_" in col


def _as_int(values: pd.Series) -> pd.Series:
    """Float column holding integers -> nullable Int64 (non-integers stay float)."""
    v = values.to_numpy(dtype=float)
    if np.all(np.isnan(v) | (v == np.round(v))):
        return values.astype("Float64").astype("Int64")
    return values


def _extra(df: pd.DataFrame, num: dict, flux_cols: dict, release: str) -> pd.DataFrame:
    """Catalog-specific columns kept in ``extra`` (native names)."""
    extra = pd.DataFrame({c: (_as_int(v) if _is_int_column(c) else v)
                          for c, v in num.items()}, index=pd.RangeIndex(len(df)))
    for c in _EXTRA_TEXT:
        if c in df.columns:
            extra[c] = T.id_text(df[c].reset_index(drop=True))
    kinds = sorted({spec[0] for spec in flux_cols.values()})
    extra["flux_column"] = ",".join(kinds) if kinds else None
    extra["err_ellipse_confidence"] = _CONF95
    extra["release"] = release
    return extra
