"""Swift-XRT point source catalogues 2SXPS (Evans et al. 2020) and LSXPS: parse + normalize.

Inputs understood by :func:`parse`
----------------------------------
* The published source tables as CSV or FITS (``2SXPS_Sources`` / LSXPS sources table,
  e.g. from https://www.swift.ac.uk/2SXPS/ or ``swifttools``): ``2SXPS_ID`` or
  ``LSXPS_ID``, ``IAUName``, ``RA``, ``Decl``, ``Err90``, ``DetFlag``, ``FieldFlag``,
  ``Rate_band0..3`` with ``_pos``/``_neg``, ``HR1``/``HR2`` with ``_pos``/``_neg``,
  ``PvarPchiSnapshot_band0..3``, ``PvarPchiObsID_band0..3``, ``PowFlux``
  (+ ``_pos``/``_neg``), ``PowUnabsFlux``, ``NumObs``, ``NumDetections``,
  ``FirstObsDate``/``LastObsDate``, LSXPS ``WhenAdded``/``WhenModified`` ...
* TAPVizieR ``FORMAT=json`` answers for ``IX/58/2sxps``: VizieR labels (``2SXPS``,
  ``RAJ2000``, ``Err90``, ``Det``, ``CR0``, ``E_CR0``, ``e_CR0``, ``PcstS0``, ``FPO0``,
  ``FPU0``...) are renamed to the original names VizieR quotes in the descriptions
  (``(2SXPS_ID)``, ``(Rate_band0_pos)``, ``(PvarPchiSnapshot_band0)``, ``(PowFlux)``...).
  VizieR serves ``FPU0`` (PowUnabsFlux) as ``CHAR(9)`` text (``" 2.22e-10"``): numbers in
  text cells are parsed.

Column definitions followed (official descriptions, looked up with the search tool):
* 2SXPS on-line documentation and table descriptions, https://www.swift.ac.uk/2SXPS/docs.php
  (typical error "90% confidence radius, including systematics"; DetFlag Good /
  Reasonable / Poor).
* LSXPS documentation, https://www.swift.ac.uk/LSXPS/docs.php (same source-table layout;
  Evans et al. 2023).
* The VizieR descriptions in the recorded ``IX/58/2sxps`` answer: ``Err90`` "Position
  uncertainty, 90% confidence, radial, assumed to be Rayleigh-distributed";
  ``Rate_band0_pos``/``_neg`` 1-sigma positive/negative uncertainties (the negative one is
  quoted as a negative number); ``PvarPchiSnapshot_band0`` "probability that the source
  count-rate ... does not vary between snapshots"; ``PowFlux`` 0.3-10 keV observed flux
  (mW/m2 = erg/s/cm2).
Cite Evans et al. 2020, ApJS 247, 54 (2SXPS) and Evans et al. 2023, MNRAS 518, 174 (LSXPS).

Normalization choices
---------------------
* ``native_id`` = ``2SXPS_ID`` or ``LSXPS_ID`` as text; ``extra["id_column"]`` names which.
  **The two are different numbering schemes**: the same number in 2SXPS and LSXPS is not
  the same source, so the two must not share one (catalog, native_id) key space.
* ``pos_err_arcsec`` = ``Err90 / 2.1460``: for a Rayleigh-distributed radial error
  (circular 2-D Gaussian, per-axis sigma s) the 90 % radius is ``s * sqrt(-2 ln 0.1)``.
* Bands 0 total 0.3-10, 1 soft 0.3-1, 2 medium 1-2, 3 hard 2-10 keV: ``Rate_bandN`` ->
  ``count_rate`` rows (counts/s) with ``value_lo = rate - |_neg|``,
  ``value_hi = rate + _pos``; ``PowFlux`` -> band ``0`` ``energy_flux`` row (observed
  0.3-10 keV flux from the power-law fit). Unabsorbed and APEC fluxes stay in ``extra``.
* Variability: ``var_intra_prob = 1 - PvarPchiSnapshot_band0`` (snapshots lie within an
  observation), ``var_inter_prob = 1 - PvarPchiObsID_band0`` (between observations); the
  catalogue quotes the probability of *constant* flux.
* ``significance`` NaN (2SXPS has no single detection statistic; ``DetFlag`` is the
  quality verdict). ``n_obs`` = ``NumObs`` (else ``NumDetections``).
* ``flags``: ``det_good`` (DetFlag == 0), ``det_poor`` (DetFlag >= 2), ``field_good``
  (FieldFlag == 0), ``optical_loading``, ``stray_light``, ``near_bright_source``,
  ``potential_alias`` (the corresponding warning columns > 0), ``extended`` None
  (point-source catalogue).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest import readers as R
from ingest import tables as T
from ingest.normalized import NormalizedCatalog

CATALOG = "sxps"
RELEASES = ("2SXPS", "LSXPS")
ID_COLUMNS = {"2SXPS": "2SXPS_ID", "LSXPS": "LSXPS_ID"}

BANDS = {"0": (0.3, 10.0), "1": (0.3, 1.0), "2": (1.0, 2.0), "3": (2.0, 10.0)}
WARNING_FLAGS = {"optical_loading": "OpticalLoadingWarning",
                 "stray_light": "StrayLightWarning",
                 "near_bright_source": "NearBrightSourceWarning",
                 "potential_alias": "IsPotentialAlias"}
_KNOWN_NUMERIC = (
    ["Err90", "DetFlag", "FieldFlag", "NumObs", "NumDetections", "PowFlux", "PowFlux_pos",
     "PowFlux_neg"]
    + [f"Rate_band{b}{s}" for b in BANDS for s in ("", "_pos", "_neg")]
    + [f"HR{i}{s}" for i in (1, 2) for s in ("", "_pos", "_neg")]
    + [f"PvarPchi{w}_band{b}" for w in ("Snapshot", "ObsID") for b in BANDS]
    + list(WARNING_FLAGS.values())
)
_POS_ERRORS = ("Err90",)


def parse(path_or_bytes, fmt: str | None = None) -> pd.DataFrame:
    """Read a 2SXPS/LSXPS source table (CSV, FITS) or a TAPVizieR JSON answer.

    Returns
    -------
    pandas.DataFrame
        Original catalogue column names (VizieR labels renamed).

    Raises
    ------
    catalog.errors.SourceError
        Unreadable input, or no ``RA``/``Decl`` and no ``2SXPS_ID``/``LSXPS_ID``.
    """
    df = R.read_input(path_or_bytes, fmt)
    if df.attrs.get("original_names"):
        df = R.rename_vizier_to_original(df)
    R.require_columns(df, ("RA", "Decl"), "a Swift-XRT 2SXPS/LSXPS source table")
    if not any(c in df.columns for c in ID_COLUMNS.values()):
        R.require_columns(df, ["2SXPS_ID or LSXPS_ID"], "a Swift-XRT 2SXPS/LSXPS source table")
    return df


def normalize(df: pd.DataFrame, release: str | None = None) -> NormalizedCatalog:
    """Map parsed 2SXPS/LSXPS rows to livecat's X-ray contract, splitting off bad rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse`.
    release : {"2SXPS", "LSXPS"} or str, optional
        Defaults to the catalogue whose ID column is present (an LSXPS snapshot date may
        be appended by the caller, e.g. ``"LSXPS-2026-11-25"``).

    Returns
    -------
    NormalizedCatalog
    """
    R.require_columns(df, ("RA", "Decl"), "a Swift-XRT 2SXPS/LSXPS source table")
    df = df.reset_index(drop=True)
    n = len(df)
    id_col = next((c for c in ID_COLUMNS.values() if c in df.columns), None)
    if id_col is None:
        R.require_columns(df, ["2SXPS_ID or LSXPS_ID"], "a Swift-XRT source table")
    release = release or next(r for r, c in ID_COLUMNS.items() if c == id_col)
    ids = T.id_text(df[id_col])
    rc = T.RejectCollector(n, ids)
    T.check_ids(rc, ids, id_col)
    ra, ra_bad = T.to_float(df["RA"])
    dec, dec_bad = T.to_float(df["Decl"])
    T.check_position(rc, ra, dec, df["RA"], df["Decl"], "RA", "Decl", ra_bad, dec_bad)
    num = T.coerce_numeric(rc, df, _KNOWN_NUMERIC)
    for col in _POS_ERRORS + ("PowFlux_pos",) + tuple(f"Rate_band{b}_pos" for b in BANDS):
        if col in num:
            T.check_nonnegative(rc, num[col], col)

    good = ~rc.bad
    g = np.flatnonzero(good)
    nan = T.nan_series(n)
    det = num.get("DetFlag", nan).to_numpy()
    field = num.get("FieldFlag", nan).to_numpy()
    flags = pd.DataFrame({
        "extended": pd.array([pd.NA] * n, dtype="boolean"),
        "det_good": _flag(det, det == 0), "det_poor": _flag(det, det >= 2),
        "field_good": _flag(field, field == 0),
        **{k: _flag(num[c].to_numpy(), num[c].to_numpy() > 0) if c in num
           else pd.array([pd.NA] * n, dtype="boolean") for k, c in WARNING_FLAGS.items()},
    })
    extra = _extra(df, num, id_col, release)
    n_obs = num["NumObs"] if "NumObs" in num else num.get("NumDetections", nan)
    names = T.id_text(df["IAUName"]) if "IAUName" in df.columns else ids
    sources = T.finish_sources({
        "native_id": ids[good], "name": names[good],
        "ra": ra[good], "dec": dec[good],
        "pos_err_arcsec": T.sigma_from_radius(num.get("Err90", nan).to_numpy(), 0.90)[good],
        "var_intra_prob": (1.0 - num.get("PvarPchiSnapshot_band0", nan).to_numpy())[good],
        "var_inter_prob": (1.0 - num.get("PvarPchiObsID_band0", nan).to_numpy())[good],
        "n_obs": n_obs[good],
        "flags": T.records(flags.iloc[g]),
        "extra": T.records(extra.iloc[g]),
    }, len(g))
    fluxes = T.long_fluxes(ids[good].to_numpy(dtype=object), _bands(num, good))
    out = NormalizedCatalog(kind="xray", sources=sources, fluxes=fluxes,
                            rejects=rc.frame(), n_read=n)
    out.check_counts()
    return out


def id_column(df: pd.DataFrame) -> str:
    """``2SXPS_ID`` or ``LSXPS_ID``, whichever the table has."""
    return next((c for c in ID_COLUMNS.values() if c in df.columns), "2SXPS_ID")


def _flag(values: np.ndarray, test: np.ndarray) -> pd.arrays.BooleanArray:
    """Boolean flag, NA where the source column is null."""
    return pd.array(np.where(np.isnan(values), None, test), dtype="boolean")


def _bands(num: dict, good: np.ndarray) -> list[dict]:
    """Count-rate rows for bands 0-3 and the observed power-law flux in band 0."""
    out = []
    specs = [(f"Rate_band{b}", b, "count_rate") for b in BANDS] + [("PowFlux", "0",
                                                                     "energy_flux")]
    for stem, band, kind in specs:
        if stem not in num:
            continue
        value = num[stem].to_numpy()[good]
        pos = num[f"{stem}_pos"].to_numpy()[good] if f"{stem}_pos" in num else None
        neg = num[f"{stem}_neg"].to_numpy()[good] if f"{stem}_neg" in num else None
        lo, hi = T.bounds_from_errors(value, neg, pos)
        out.append({"band": band, "lo": BANDS[band][0], "hi": BANDS[band][1], "kind": kind,
                    "value": value, "value_lo": lo, "value_hi": hi})
    return out


def _extra(df: pd.DataFrame, num: dict, id_col: str, release: str) -> pd.DataFrame:
    """Every other native column: known numerics as numbers, the rest as parsed."""
    skip = {id_col, "RA", "Decl", "IAUName", "match_dist"}
    skip |= {f"Rate_band{b}{s}" for b in BANDS for s in ("", "_pos", "_neg")}
    skip |= {"PowFlux", "PowFlux_pos", "PowFlux_neg"}
    extra = {}
    for col in df.columns:
        if col in skip:
            continue
        if col in num:
            extra[col] = num[col]
            continue
        values, bad = T.to_float(df[col])
        extra[col] = values if not bad.any() else T.id_text(df[col])
    for col in ("DetFlag", "FieldFlag", "NumObs", "NumDetections"):
        if col in extra:
            extra[col] = extra[col].astype("Float64").round().astype("Int64")
    frame = pd.DataFrame(extra, index=range(len(df)))
    frame["id_column"] = id_col
    frame["release"] = release
    return frame
