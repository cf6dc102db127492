"""When an X-ray source was observed: the epoch survey positions are moved to.

A proper motion of 1"/yr (the fastest stars) moves a star 10" between a 2006 Chandra
observation and Gaia's 2016.0 epoch, so each X-ray source's epoch matters. It is taken
from the catalog's own time columns where the loader kept them in ``extra`` (XMM
``MJD_FIRST``/``MJD_LAST``, eRASS ``MJD_MIN``/``MJD_MAX``, the CSC per-observation
``gti_obs``), else from the middle of the catalogue's observing baseline
(:data:`BASELINE`): for ordinary stars (< 50 mas/yr) the difference is far below the
X-ray position errors.
"""

from __future__ import annotations

import math

import numpy as np

MJD_J2000 = 51544.5
DAYS_PER_YEAR = 365.25

#: Observing baseline (first, last decimal year) of each X-ray catalogue's data:
#: CSC 2.1 (Chandra 1999-2020, Evans et al. 2024), CSC 2.0 as in the MUWCLASS training
#: set (1999-2014), 4XMM-DR14 (2000-2023), eRASS1 (2019 Dec 12 - 2020 Jun 11, Merloni
#: et al. 2024), 2SXPS (2005-2018, Evans et al. 2020), LSXPS (2005 onwards, live).
BASELINE = {"csc": (1999.6, 2020.0), "muwclass-csc": (1999.6, 2014.0),
            "xmm": (2000.1, 2023.0), "erass1": (2019.95, 2020.45),
            "2sxps": (2005.0, 2018.8), "lsxps": (2005.0, 2026.0)}
#: A catalog not listed: the Chandra/XMM era's middle.
DEFAULT_EPOCH = 2010.0


def mjd_to_year(mjd) -> np.ndarray:
    """Decimal (Julian) year of a Modified Julian Date."""
    return 2000.0 + (np.asarray(mjd, float) - MJD_J2000) / DAYS_PER_YEAR


def _number(extra: dict, key: str) -> float:
    value = extra.get(key) if isinstance(extra, dict) else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _iso_year(text) -> float:
    if not isinstance(text, str) or len(text) < 10:
        return math.nan
    try:
        year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    except ValueError:
        return math.nan
    return year + (month - 1) / 12.0 + (day - 1) / DAYS_PER_YEAR


def epoch_of(catalog: str, extra: dict) -> float:
    """The decimal-year epoch of one X-ray source (see the module docstring)."""
    pairs = (("MJD_FIRST", "MJD_LAST"), ("MJD_MIN", "MJD_MAX"))
    for first, last in pairs:
        a, b = _number(extra, first), _number(extra, last)
        if math.isfinite(a) or math.isfinite(b):
            return float(mjd_to_year(np.nanmean([a, b])))
    year = _iso_year((extra or {}).get("gti_obs") if isinstance(extra, dict) else None)
    if math.isfinite(year):
        return year
    lo, hi = BASELINE.get(catalog, (DEFAULT_EPOCH, DEFAULT_EPOCH))
    return (lo + hi) / 2.0


def epochs(catalogs, extras) -> np.ndarray:
    """:func:`epoch_of` for parallel sequences of catalogs and ``extra`` dicts."""
    return np.array([epoch_of(c, e) for c, e in zip(catalogs, extras)], dtype=float)
