"""The common shape every catalog's ``normalize`` stage returns.

``normalize`` is a pure function from a parsed native table to a :class:`NormalizedCatalog`:
good rows in livecat's common columns (units converted, classes mapped) and bad rows split
off with a reason. The shared loader consumes only this shape, so every catalog goes
through the same load path.

Column contracts (pandas dtypes in brackets; NaN/None = unknown, never 0):

X-ray sources (``sources`` when ``kind == "xray"``), one row per catalog source:
    native_id [str]         stable per-catalog identifier (CSC name, XMM SRCID, ...)
    name [str]              designation as published (may change between releases)
    ra, dec [float, deg]    ICRS
    pos_err_arcsec [float]  1-sigma circular position error, converted from the native
                            confidence level (the native value stays in ``extra``)
    err_maj_arcsec, err_min_arcsec, err_pa_deg [float]  error ellipse as published
    significance [float]    the catalog's primary detection statistic (see ``extra``)
    extended [bool|None]
    var_intra_prob, var_inter_prob [float]  variability probabilities (0-1)
    n_obs [Int64]           number of observations / detections
    nh_gal_cm2 [float]      Galactic N_H along the line of sight, if the catalog has it
    flags [dict]            boolean quality flags by name
    extra [dict]            every other native column worth keeping (JSON-serialisable)

X-ray fluxes (``fluxes``), one row per source and band and kind:
    native_id [str], band [str] (native band name), band_lo_kev, band_hi_kev [float],
    kind [str] ("energy_flux" in erg/cm2/s or "count_rate" in counts/s),
    value, value_lo, value_hi [float]  (value_lo/value_hi: the bounds of the quoted
    confidence interval, absolute values, NaN when not given)

Literature objects (``sources`` when ``kind == "literature"``), one row per object:
    native_id [str]         stable per-catalog identifier (PSRJ, IP catalogue name, ...)
    name [str]
    ra, dec [float, deg]    ICRS
    pos_err_arcsec [float]  1-sigma position error, NaN when unknown
    livecat_class [str]     one of the taxonomy classes (catalog.taxonomy), or None
    subclass [str|None]     e.g. "IP", "magnetar", "redback"
    native_type [str|None]  the catalog's own type text, kept so a curator sees why
    reference [str|None]    bibcode or reference text
    confidence [float|None] catalog-specific confidence (e.g. IP catalogue level 1-5)
    params [dict]           catalog-specific parameters (JSON-serialisable)

Survey sources (``sources`` when ``kind == "survey"``), one row per survey source (Gaia,
2MASS, AllWISE, CatWISE2020 ...; the catalog key is the survey, :mod:`catalog.surveys`):
    native_id [str]         the survey's identifier (Gaia source_id, 2MASS designation, ...)
    name [str|None]         designation as published
    ra, dec [float, deg]    ICRS, at ``epoch``
    err_maj_arcsec, err_min_arcsec, err_pa_deg [float]  1-sigma position error ellipse
                            (a circle or RA/Dec errors converted; PA east of north)
    epoch [float, yr]       decimal year of the position (2016.0 for Gaia DR3)
    pmra, pmdec, e_pmra, e_pmdec [float, mas/yr]  proper motion (pmra includes cos dec)
    plx, e_plx [float, mas] parallax
    gmag ... e_w4mag [float, mag]  the magnitudes the survey measures (SURVEY_MAG_COLUMNS)
    rgeo, rgeo_lo, rgeo_hi [float, pc]  Bailer-Jones geometric distance and its 16th/84th
                            percentiles
    extra [dict]            every other native column worth keeping

Rejects (``rejects``), one row per bad input row:
    row_number [Int64]  1-based row (or record) number in the parsed input
    native_id [str|None]
    reason [str]        what was wrong and what was expected
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

XRAY_SOURCE_COLUMNS = [
    "native_id", "name", "ra", "dec", "pos_err_arcsec", "err_maj_arcsec",
    "err_min_arcsec", "err_pa_deg", "significance", "extended", "var_intra_prob",
    "var_inter_prob", "n_obs", "nh_gal_cm2", "flags", "extra",
]
XRAY_FLUX_COLUMNS = [
    "native_id", "band", "band_lo_kev", "band_hi_kev", "kind", "value", "value_lo",
    "value_hi",
]
LITERATURE_COLUMNS = [
    "native_id", "name", "ra", "dec", "pos_err_arcsec", "livecat_class", "subclass",
    "native_type", "reference", "confidence", "params",
]
#: Magnitude columns of survey sources (each followed by its ``e_`` error).
SURVEY_MAG_COLUMNS = ["gmag", "bpmag", "rpmag", "jmag", "hmag", "kmag", "w1mag", "w2mag",
                      "w3mag", "w4mag"]
SURVEY_SOURCE_COLUMNS = [
    "native_id", "name", "ra", "dec", "err_maj_arcsec", "err_min_arcsec", "err_pa_deg",
    "epoch", "pmra", "pmdec", "e_pmra", "e_pmdec", "plx", "e_plx",
    *[c for m in SURVEY_MAG_COLUMNS for c in (m, f"e_{m}")],
    "rgeo", "rgeo_lo", "rgeo_hi", "extra",
]
REJECT_COLUMNS = ["row_number", "native_id", "reason"]


def empty_rejects() -> pd.DataFrame:
    """Return an empty rejects frame with the contract's columns."""
    return pd.DataFrame({"row_number": pd.Series(dtype="Int64"),
                         "native_id": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object)})


def rejects_frame(rejects: Iterable[tuple]) -> pd.DataFrame:
    """Rejects frame from ``(row_number, native_id, reason)`` tuples."""
    rows = list(rejects)
    return pd.DataFrame({
        "row_number": pd.Series([r[0] for r in rows], dtype="Int64"),
        "native_id": pd.Series([r[1] for r in rows], dtype=object),
        "reason": pd.Series([r[2] for r in rows], dtype=object)})


def text_columns_as_object(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Give text columns object dtype with None (not NaN) for missing values (in place)."""
    for col in columns:
        frame[col] = pd.Series([None if v is None or (isinstance(v, float) and math.isnan(v))
                                else v for v in frame[col]], index=frame.index, dtype=object)
    return frame


@dataclass
class NormalizedCatalog:
    """Output of a catalog's normalize stage.

    Parameters
    ----------
    kind : {"xray", "literature", "survey"}
    sources : pandas.DataFrame
        Good rows, columns as in the module docstring for ``kind``.
    fluxes : pandas.DataFrame, optional
        X-ray band fluxes (``kind == "xray"`` only).
    rejects : pandas.DataFrame
        Bad rows with their reasons.
    n_read : int
        Rows read from the parsed input; must equal ``len(sources) + len(rejects)``.
    """

    kind: str
    sources: pd.DataFrame
    n_read: int
    fluxes: pd.DataFrame | None = None
    rejects: pd.DataFrame = field(default_factory=empty_rejects)

    def check_counts(self) -> None:
        """Raise ``AssertionError`` unless every row read is either kept or rejected."""
        kept, rejected = len(self.sources), len(self.rejects)
        if kept + rejected != self.n_read:
            raise AssertionError(
                f"normalize lost rows: read {self.n_read}, kept {kept}, rejected {rejected}")
