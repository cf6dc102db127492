"""Tiles: RA/Dec boxes that partition the sky, for fetching large tables over TAP.

Pure geometry, no I/O. Boxes are half-open, ``lo <= x < hi``, except that the band
touching Dec = +90 includes it, so every position on the sky falls in exactly one tile
(RA runs over ``[0, 360)``; no box crosses RA = 0). Bands of Dec have boxes of roughly
equal area (fewer RA boxes towards the poles). :func:`plan_tiles` keeps only the tiles
that overlap a region; :mod:`ingest.csc_fetch` fetches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from catalog.coords import angular_separation_deg
from catalog.errors import InputError

#: Default tile size (degrees).
DEFAULT_RA_STEP_DEG = 10.0
DEFAULT_DEC_STEP_DEG = 10.0


@dataclass(frozen=True)
class Cone:
    """A sky region: all positions within ``radius_deg`` of (``ra_deg``, ``dec_deg``)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float


@dataclass(frozen=True)
class Tile:
    """An RA/Dec box ``ra_lo <= ra < ra_hi``, ``dec_lo <= dec < dec_hi`` (degrees).

    The upper Dec edge is inclusive when ``dec_hi == 90`` (the north pole belongs to the
    top band). ``0 <= ra_lo < ra_hi <= 360``; ``-90 <= dec_lo < dec_hi <= 90``.
    """

    ra_lo: float
    ra_hi: float
    dec_lo: float
    dec_hi: float

    def __post_init__(self):
        if not (0.0 <= self.ra_lo < self.ra_hi <= 360.0):
            raise ValueError(f"bad RA range [{self.ra_lo}, {self.ra_hi})")
        if not (-90.0 <= self.dec_lo < self.dec_hi <= 90.0):
            raise ValueError(f"bad Dec range [{self.dec_lo}, {self.dec_hi})")

    @property
    def id(self) -> str:
        """A file-name-safe id derived from the bounds (stable across runs)."""
        return (f"ra{self.ra_lo:011.6f}-{self.ra_hi:011.6f}"
                f"_dec{_signed(self.dec_lo)}-{_signed(self.dec_hi)}")

    @property
    def dec_hi_inclusive(self) -> bool:
        """True when the box includes its upper Dec edge (the band at the north pole)."""
        return self.dec_hi >= 90.0

    def contains(self, ra, dec) -> np.ndarray:
        """Membership of positions, exactly as :meth:`predicate` selects them.

        Parameters
        ----------
        ra, dec : float or array_like
            Degrees.

        Returns
        -------
        numpy.ndarray of bool
        """
        ra = np.asarray(ra, dtype=float)
        dec = np.asarray(dec, dtype=float)
        upper = dec <= self.dec_hi if self.dec_hi_inclusive else dec < self.dec_hi
        return (ra >= self.ra_lo) & (ra < self.ra_hi) & (dec >= self.dec_lo) & upper

    def predicate(self, ra_col: str = "ra", dec_col: str = "dec") -> str:
        """ADQL ``WHERE`` condition selecting this box with plain comparisons.

        Bounds are written with :func:`repr` so that the service compares against the
        same binary doubles as :meth:`contains`.
        """
        upper = "<=" if self.dec_hi_inclusive else "<"
        return (f"{ra_col} >= {self.ra_lo!r} AND {ra_col} < {self.ra_hi!r} AND "
                f"{dec_col} >= {self.dec_lo!r} AND {dec_col} {upper} {self.dec_hi!r}")

    def split(self) -> list["Tile"]:
        """The four quarter boxes (halves in RA x halves in Dec), which partition this one."""
        ra_mid = (self.ra_lo + self.ra_hi) / 2.0
        dec_mid = (self.dec_lo + self.dec_hi) / 2.0
        return [Tile(ra_a, ra_b, dec_a, dec_b)
                for dec_a, dec_b in ((self.dec_lo, dec_mid), (dec_mid, self.dec_hi))
                for ra_a, ra_b in ((self.ra_lo, ra_mid), (ra_mid, self.ra_hi))]


def _signed(x: float) -> str:
    """``p012.500000`` / ``m012.500000`` for +/- (no ``+`` or ``-`` signs in ids)."""
    return ("p" if x >= 0 else "m") + f"{abs(x):010.6f}"


# --------------------------------------------------------------------------------------
# Planning (pure)
# --------------------------------------------------------------------------------------


def _edges(lo: float, hi: float, n: int) -> list[float]:
    """``n + 1`` edges from ``lo`` to ``hi``, the last exactly ``hi``."""
    step = (hi - lo) / n
    return [lo + i * step for i in range(n)] + [hi]


def _ra_boxes_in_band(dec_lo: float, dec_hi: float, ra_step_deg: float) -> int:
    """Number of RA boxes for a Dec band: about ``ra_step / cos(dec)`` wide each.

    ``cos`` is taken at the band edge nearest the equator, so no box is wider on the sky
    than ``ra_step_deg`` there; a band touching a pole still gets at least one box.
    """
    nearest = 0.0 if dec_lo <= 0.0 <= dec_hi else min(abs(dec_lo), abs(dec_hi))
    width = 360.0 * math.cos(math.radians(nearest))
    return max(1, math.ceil(width / ra_step_deg - 1e-9))


def sky_tiles(ra_step_deg: float, dec_step_deg: float) -> list[Tile]:
    """Tiles that partition the whole sky (see the module docstring).

    Parameters
    ----------
    ra_step_deg, dec_step_deg : float
        Box size at the equator, degrees (0 < step; Dec step <= 180, RA step <= 360).

    Returns
    -------
    list of Tile
        Ordered by Dec band (south to north), then RA.
    """
    if not (0 < dec_step_deg <= 180) or not (0 < ra_step_deg <= 360):
        raise InputError(f"tile steps must be 0 < RA step <= 360 and 0 < Dec step <= 180 "
                         f"degrees; got RA {ra_step_deg}, Dec {dec_step_deg}")
    n_dec = max(1, math.ceil(180.0 / dec_step_deg - 1e-9))
    dec_edges = _edges(-90.0, 90.0, n_dec)
    tiles = []
    for dec_lo, dec_hi in zip(dec_edges[:-1], dec_edges[1:]):
        ra_edges = _edges(0.0, 360.0, _ra_boxes_in_band(dec_lo, dec_hi, ra_step_deg))
        tiles.extend(Tile(a, b, dec_lo, dec_hi) for a, b in zip(ra_edges[:-1], ra_edges[1:]))
    return tiles


def _ra_in_range(ra: float, lo: float, hi: float) -> bool:
    """RA (any value, wrapped to [0, 360)) inside ``[lo, hi]``."""
    ra = ra % 360.0
    return lo <= ra <= hi


def tile_distance_deg(tile: Tile, ra_deg: float, dec_deg: float) -> float:
    """Smallest angular distance (degrees) from a position to any point of a tile.

    Exact for lat/lon boxes: if the position's RA is inside the tile's RA range, the
    nearest point lies on the same meridian; otherwise it lies on one of the tile's two
    RA edges (for a fixed Dec, distance grows with the RA difference), and along a
    meridian (a great circle) the distance is smallest at the foot of the perpendicular
    or at a segment end.
    """
    if _ra_in_range(ra_deg, tile.ra_lo, tile.ra_hi):
        return max(0.0, tile.dec_lo - dec_deg, dec_deg - tile.dec_hi)
    best = math.inf
    d0 = math.radians(dec_deg)
    for edge in (tile.ra_lo, tile.ra_hi):
        dra = math.radians(ra_deg - edge)
        foot = math.degrees(math.atan2(math.sin(d0), math.cos(d0) * math.cos(dra)))
        candidates = [tile.dec_lo, tile.dec_hi]
        if tile.dec_lo <= foot <= tile.dec_hi:
            candidates.append(foot)
        for dec in candidates:
            best = min(best, float(angular_separation_deg(ra_deg, dec_deg, edge, dec)))
    return best


def as_cone(region) -> Cone | None:
    """A :class:`Cone` from a Cone, an ``(ra, dec, radius)`` sequence (degrees) or None."""
    if region is None or isinstance(region, Cone):
        cone = region
    else:
        try:
            ra, dec, radius = (float(v) for v in region)
        except (TypeError, ValueError) as exc:
            raise InputError(f"region {region!r} is not RA DEC RADIUS in degrees") from exc
        cone = Cone(ra, dec, radius)
    if cone is not None and not (-90.0 <= cone.dec_deg <= 90.0 and 0.0 < cone.radius_deg
                                 and math.isfinite(cone.ra_deg)):
        raise InputError(f"region RA {cone.ra_deg} DEC {cone.dec_deg} RADIUS "
                         f"{cone.radius_deg}: expected -90 <= DEC <= 90 and RADIUS > 0 "
                         "(degrees)")
    return cone


def plan_tiles(ra_step_deg: float = DEFAULT_RA_STEP_DEG,
               dec_step_deg: float = DEFAULT_DEC_STEP_DEG, region=None) -> list[Tile]:
    """The tiles to fetch: the whole sky, or only those overlapping a cone.

    Parameters
    ----------
    ra_step_deg, dec_step_deg : float
        Tile size at the equator (degrees).
    region : Cone or (ra, dec, radius), optional
        Degrees. Only tiles at least partly inside the cone are returned; they are the
        same tiles (same ids) a whole-sky plan has, so cached tiles are shared.

    Returns
    -------
    list of Tile
    """
    tiles = sky_tiles(ra_step_deg, dec_step_deg)
    cone = as_cone(region)
    if cone is None:
        return tiles
    tol = 1e-9
    return [t for t in tiles
            if tile_distance_deg(t, cone.ra_deg, cone.dec_deg) <= cone.radius_deg + tol]


