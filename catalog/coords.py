"""Positions as people write them: the one sexagesimal parser, angles, radii and regions.

Every place livecat reads a coordinate a person or a catalogue wrote (the ``cone``
command, ``--region`` options, psrcat ``RAJ``/``DECJ``, the IP catalogue page, CSC CSV
exports, curators' class tables) goes through this module, so they all agree:

- a plain number is decimal degrees (RA and Dec alike);
- anything else is sexagesimal: one to three fields separated by blanks or colons
  (``11 05 07.2``, ``11:05:07.2``, ``-58 51``) or marked with units (``11h05m07.2s``,
  ``-58d51m00s``, ``-58°51′00″``). A right ascension in sexagesimal is in **hours**
  unless it says ``d``/``°`` (``166d16m48s``); a declination is in degrees;
- minutes and seconds are in [0, 60); only the last field may have decimals;
- RA in [0, 360) degrees (hours in [0, 24)), Dec in [-90, +90]; a sign on an RA is an
  error.

Radii are arcseconds when given as a plain number, or any astropy angle string
(``12arcmin``, ``0.2deg``, ``30 arcsec``).

The angular separation (:func:`angular_separation_deg`) is the haversine formula, the
same as the SQL function ``livecat.ang_sep_deg``, so Python and SQL agree on which points
fall inside a radius.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog.errors import InputError

_FIELD = r"(?:\d+(?:\.\d*)?|\.\d+)"
#: A sexagesimal angle: sign, then 1-3 fields, each followed by a unit mark or separator.
_SEXAGESIMAL = re.compile(
    rf"^(?P<sign>[+-]?)\s*(?P<a>{_FIELD})\s*(?P<ua>[hHdD°:]?)"
    rf"(?:\s*(?P<b>{_FIELD})\s*(?P<ub>[mM′':]?)"
    rf"(?:\s*(?P<c>{_FIELD})\s*(?P<uc>[sS″\"]?))?)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")

RA_EXAMPLE = "11:05:07.2, 11 05 07.2, 11h05m07.2s or 166.28"
DEC_EXAMPLE = "-58:51:00, -58 51 00, -58d51m00s or -58.85"


def _what(hours: bool) -> str:
    return "RA" if hours else "declination"


def parse_sexagesimal(text: str, *, hours: bool) -> tuple[float, float]:
    """Convert one sexagesimal angle to degrees, with the precision it was written to.

    Parameters
    ----------
    text : str
        ``hh mm ss.s`` / ``hh:mm:ss.s`` / ``hhHmmMss.sS`` for a right ascension,
        ``±dd mm ss.s`` / ``±dd:mm:ss`` / ``±ddDmmMssS`` (or ``°′″``) for a declination;
        one to three fields. A right ascension written with ``d``/``°`` is in degrees.
    hours : bool
        True for a right ascension, False for a declination.

    Returns
    -------
    tuple of (float, float)
        The angle in degrees, and one unit of its last quoted digit in arcseconds along
        the coordinate (for RA in hours: seconds of time times 15, not yet times
        cos(dec)).

    Raises
    ------
    catalog.errors.InputError
        When the text is not sexagesimal, a field is out of range, or the angle is
        outside [0, 24) h / [-90, 90] deg. The message names the text.

    Examples
    --------
    >>> parse_sexagesimal("00:02:58.17", hours=True)[0]
    0.7423750000000001
    """
    s = text.strip() if isinstance(text, str) else ""
    m = _SEXAGESIMAL.match(s)
    example = RA_EXAMPLE if hours else DEC_EXAMPLE
    if not m or not s:
        raise InputError(f"{_what(hours)} {text!r} is not an angle (decimal degrees or "
                         f"sexagesimal): expected e.g. {example}")
    fields = [f for f in m.group("a", "b", "c") if f is not None]
    marks = [u for u in m.group("ua", "ub", "uc") if u]
    if any("." in f for f in fields[:-1]):
        raise InputError(f"{_what(hours)} {text!r}: only the last field may have decimals "
                         f"(expected e.g. {example})")
    in_hours = hours and not any(u in "dD°" for u in marks)
    if not hours and any(u in "hH" for u in marks):
        raise InputError(f"declination {text!r} is written in hours: expected degrees, "
                         f"e.g. {DEC_EXAMPLE}")
    if hours and m.group("sign"):
        raise InputError(f"RA {text!r} has a sign: expected e.g. {RA_EXAMPLE}")
    nums = [float(f) for f in fields]
    if any(n >= 60 for n in nums[1:]):
        raise InputError(f"{_what(hours)} {text!r} is out of range: minutes and seconds "
                         "must be below 60")
    angle = sum(n / 60.0 ** i for i, n in enumerate(nums))
    scale = 15.0 if in_hours else 1.0
    if in_hours and angle >= 24:
        raise InputError(f"RA {text!r} is outside 0-24 h")
    if hours and not in_hours and angle >= 360:
        raise InputError(f"RA {text!r} is outside [0, 360) degrees")
    if not hours and angle > 90:
        raise InputError(f"declination {text!r} is outside [-90, 90] degrees")
    last = fields[-1]
    decimals = len(last.split(".", 1)[1]) if "." in last else 0
    unit_arcsec = 10.0 ** -decimals * 3600.0 / 60.0 ** (len(fields) - 1) * scale
    sign = -1.0 if m.group("sign") == "-" else 1.0
    return sign * angle * scale, unit_arcsec


def is_decimal_number(text: str) -> bool:
    """True when ``text`` is a plain decimal number (``166.28``, ``-5``, ``1e-3``)."""
    return isinstance(text, str) and bool(_PLAIN_NUMBER.match(text.strip()))


def parse_ra(text) -> float:
    """A right ascension in degrees: decimal degrees, or sexagesimal (hours unless marked
    ``d``/``°``); checked to lie in [0, 360).

    Raises
    ------
    catalog.errors.InputError
        Naming the text and what was expected.
    """
    return _parse_coordinate(text, hours=True)


def parse_dec(text) -> float:
    """A declination in degrees: decimal degrees or sexagesimal; checked to lie in
    [-90, 90].

    Raises
    ------
    catalog.errors.InputError
    """
    return _parse_coordinate(text, hours=False)


def _parse_coordinate(text, *, hours: bool) -> float:
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        value = float(text)
    elif is_decimal_number(text):
        value = float(text.strip())
    else:
        return parse_sexagesimal(text, hours=hours)[0]
    check_coordinate(value, hours=hours, text=text)
    return value


def check_coordinate(value: float, *, hours: bool, text=None) -> None:
    """Raise InputError unless ``value`` (degrees) is a finite RA in [0, 360) or Dec in
    [-90, 90]."""
    if not math.isfinite(value):
        raise InputError(f"{_what(hours)} {text if text is not None else value!r} is not a "
                         "finite number")
    if hours and not 0 <= value < 360:
        raise InputError(f"RA {value!r} is outside [0, 360) degrees (sexagesimal is read "
                         f"as hours: e.g. {RA_EXAMPLE})")
    if not hours and not -90 <= value <= 90:
        raise InputError(f"declination {value!r} is outside [-90, 90] degrees")


MIN_RADIUS_ARCSEC = 1e-9
"""The smallest radius livecat searches with (one nano-arcsecond). A double holds a
coordinate near 360 degrees to ~0.2 nano-arcseconds, so a smaller cone could only hold
positions identical to its centre; and PostgreSQL raises "underflow" on ``radius / 3600``
for radii under ~1e-290 arcsec. The SQL function ``livecat.check_cone`` has the same limit."""


def parse_radius_arcsec(text, *, max_deg: float = 180.0) -> float:
    """A radius in arcseconds: a plain number is arcsec; an astropy angle string
    (``12arcmin``, ``0.2deg``, ``30 arcsec``) is converted.

    Raises
    ------
    catalog.errors.InputError
        When it is not an angle, not positive, smaller than :data:`MIN_RADIUS_ARCSEC` or
        larger than ``max_deg``.
    """
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        arcsec = float(text)
    elif is_decimal_number(text):
        arcsec = float(text.strip())
    else:
        from astropy import units as u

        try:
            arcsec = u.Quantity(str(text).strip()).to_value(u.arcsec)
        except (TypeError, ValueError, u.UnitsError):
            raise InputError(f"radius {text!r} is not an angle: give arcseconds (30) or an "
                             "angle with its unit (12arcmin, 0.2deg)") from None
    if not (math.isfinite(arcsec) and 0 < arcsec <= max_deg * 3600.0):
        raise InputError(f"radius {arcsec!r} arcsec must be > 0 and <= {max_deg * 3600:g} "
                         f"({max_deg:g} degrees)")
    if arcsec < MIN_RADIUS_ARCSEC:
        raise InputError(f"radius {arcsec!r} arcsec is below {MIN_RADIUS_ARCSEC:g} arcsec, "
                         "the smallest radius livecat searches with")
    return arcsec


@dataclass(frozen=True)
class Region:
    """A cone on the sky: centre in degrees (ICRS), radius in arcseconds."""

    ra: float
    dec: float
    radius_arcsec: float

    @property
    def radius_deg(self) -> float:
        """The radius in degrees."""
        return self.radius_arcsec / 3600.0

    def contains(self, ra, dec) -> np.ndarray:
        """Which of the positions (degrees, vectorised) lie inside the cone."""
        with np.errstate(invalid="ignore"):
            return np.asarray(angular_separation_deg(self.ra, self.dec, ra, dec)) \
                <= self.radius_deg

    def describe(self) -> str:
        """``RA DEC RADIUS`` as the options take it (degrees, degrees, arcsec)."""
        return f"{self.ra:.6f} {self.dec:+.6f} {self.radius_arcsec:g}arcsec"


def parse_region(ra, dec, radius) -> Region:
    """A region from its three option values (``--region RA DEC RADIUS``).

    RA and Dec as :func:`parse_ra`/:func:`parse_dec`, the radius as
    :func:`parse_radius_arcsec` (plain number = arcsec).
    """
    return Region(parse_ra(ra), parse_dec(dec), parse_radius_arcsec(radius))


def sexagesimal_to_deg(series: pd.Series, hours: bool) -> tuple[pd.Series, pd.Series]:
    """Vectorised :func:`parse_ra`/:func:`parse_dec` for a table column.

    Cells holding a decimal number are degrees; other non-null cells are parsed by
    :func:`parse_sexagesimal` (each distinct text once).

    Parameters
    ----------
    series : pandas.Series
        Text or numeric column.
    hours : bool
        True for right ascension.

    Returns
    -------
    values : pandas.Series of float64
        Degrees, NaN where missing or bad.
    bad : pandas.Series of bool
        True where a non-null cell is neither a number nor a valid sexagesimal angle.
    """
    index = series.index
    if pd.api.types.is_numeric_dtype(series.dtype):
        return (pd.to_numeric(series, errors="coerce").astype("float64"),
                pd.Series(False, index=index))
    values = np.full(len(series), np.nan)
    bad = np.zeros(len(series), dtype=bool)
    cache: dict[str, float] = {}
    for i, v in enumerate(series.tolist()):
        if _is_missing(v):
            continue
        key = v.strip() if isinstance(v, str) else str(v)
        if key not in cache:
            try:
                cache[key] = (float(key) if is_decimal_number(key)
                              else parse_sexagesimal(key, hours=hours)[0])
            except InputError:
                cache[key] = math.nan
        values[i] = cache[key]
        bad[i] = math.isnan(cache[key])
    return pd.Series(values, index=index), pd.Series(bad, index=index)


def _is_missing(v) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def angular_separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular separation in degrees by the haversine formula (vectorised).

    The same formula as the SQL function ``livecat.ang_sep_deg``, so Python and SQL agree
    on which points fall inside a radius.
    """
    ra1, dec1, ra2, dec2 = (np.asarray(x, dtype=np.float64) for x in (ra1, dec1, ra2, dec2))
    # differences taken in degrees before the conversion, in the SQL function's order: exact
    # for close positions, so the two agree at milliarcsecond radii too
    h = (np.sin(np.radians(dec2 - dec1) / 2.0) ** 2
         + np.cos(np.radians(dec1)) * np.cos(np.radians(dec2))
         * np.sin(np.radians(ra2 - ra1) / 2.0) ** 2)
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))
