"""The sky index: HEALPix NESTED pixels at order 29 and cones as index ranges.

Every positional table stores ``hpx`` = the NESTED pixel of (ra, dec) at order
:data:`MAX_ORDER` (nside 2**29, pixels of ~0.4 mas). The pixel at a coarser order k is
``hpx >> 2*(29-k)``, so a pixel at order k is the contiguous order-29 range
``[p << s, ((p+1) << s) - 1]`` with ``s = 2*(29-k)``. A cone becomes a short list of such
ranges (healpy ``query_disc(inclusive=True, nest=True)`` at an order chosen from the
radius, adjacent and nearly adjacent pixels merged), which a btree on ``hpx`` scans
directly; the exact angular distance then filters the candidates.

References: Gorski et al. 2005, ApJ 622, 759 (HEALPix); healpy documentation of
``ang2pix``/``query_disc``/``max_pixrad``.
"""

from __future__ import annotations

import math

import healpy as hp
import numpy as np

from catalog import idsets

MAX_ORDER = 29
NSIDE_MAX = 2 ** MAX_ORDER
ARCSEC = np.pi / 180.0 / 3600.0

# max_pixrad(order) in radians: the largest centre-to-corner distance of a pixel.
MAX_PIXRAD = np.array([hp.max_pixrad(2 ** k) for k in range(MAX_ORDER + 1)])


def radec_to_hpx(ra_deg, dec_deg, order: int = MAX_ORDER) -> np.ndarray:
    """Return HEALPix NESTED indices of (ra, dec) at ``order`` (vectorised).

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        ICRS degrees; ``dec`` in [-90, 90]. RA is taken modulo 360.
    order : int
        HEALPix order (nside = 2**order), default 29.

    Returns
    -------
    numpy.ndarray of int64
    """
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    if np.any(~np.isfinite(dec)) or np.any(np.abs(dec) > 90.0) or np.any(~np.isfinite(ra)):
        raise ValueError("positions must be finite with -90 <= dec <= 90")
    ra = np.mod(ra, 360.0)
    return hp.ang2pix(2 ** order, ra, dec, nest=True, lonlat=True).astype(np.int64)


def order_for_radius(radius_rad: float) -> int:
    """Choose the order at which a cone of ``radius_rad`` covers only a few pixels.

    The finest order whose pixels are still larger than the cone (max_pixrad >= radius):
    the disc then touches at most a handful of pixels, which merge into 1-4 ranges.
    """
    ok = np.nonzero(MAX_PIXRAD >= radius_rad)[0]
    return int(ok[-1]) if len(ok) else 0


def merge_pixels(pixels: np.ndarray, order: int, max_gap: int = 0) -> np.ndarray:
    """Turn NESTED pixels at ``order`` into merged order-29 ranges.

    Parameters
    ----------
    pixels : numpy.ndarray of int
        Pixel indices at ``order`` (any order of appearance, duplicates allowed).
    order : int
    max_gap : int
        Ranges separated by at most this many pixels not in ``pixels`` are merged into one
        (the gap's pixels join the range: a superset, never fewer points).

    Returns
    -------
    numpy.ndarray, shape (n, 2), int64
        Inclusive ``[lo, hi]`` ranges at order 29, sorted, adjacent ones merged.
    """
    pix = idsets.unique(pixels)
    if len(pix) == 0:
        return np.empty((0, 2), dtype=np.int64)
    breaks = np.nonzero(np.diff(pix) > max_gap + 1)[0]
    starts = np.concatenate(([pix[0]], pix[breaks + 1]))
    ends = np.concatenate((pix[breaks], [pix[-1]]))
    shift = 2 * (MAX_ORDER - order)
    return np.column_stack((starts << shift, ((ends + 1) << shift) - 1))


CONE_REFINEMENT = 2
REFINE_FROM_ARCSEC = 600.0
"""Cones of at least REFINE_FROM_ARCSEC are covered CONE_REFINEMENT orders finer than
:func:`order_for_radius`: pixels a quarter of the cone's size cover ~2x its area instead
of ~4x, for a few more (cheap) btree probes (scripts/bench_sky.py, 1M rows: 30-arcmin cones
1.26 -> 0.78 ms p50)."""

CONE_COARSENING = 2
"""Cones smaller than REFINE_FROM_ARCSEC are covered CONE_COARSENING orders coarser than
:func:`order_for_radius`. Such a cone holds a handful of rows, so a statement's cost is its
btree descents, not the rows it reads: pixels four times the cone's size cut the mean number
of ranges of a 5-arcsec cone from 3.9 to 1.5 (with :data:`CONE_MERGE_GAP`) for ~27x the
cone's area, i.e. ~16 extra rows read even at 10^5 sources per square degree."""

CONE_MERGE_GAP = 2
"""Ranges of a cone separated by at most this many pixels of the covering order are merged:
one btree descent instead of two, for a sliver more area."""

MIN_COVER_ARCSEC = 1.0
"""Cones smaller than this are covered as if they had this radius (the distance filter still
uses the true radius). healpy's ``query_disc`` decides which pixels a disc touches by
comparing cosines of distances, and below a few mas ``cos`` cannot resolve them
(``cos(8e-9 rad) == 1.0``): a 1-mas cone got no pixel at all, or missed the pixel of a point
inside it, in 4% of random cones. The distances compared for a 1-arcsec cone are ~1e-5 rad,
resolved to ~1e-11 rad. A smaller cone then reads the rows of a 1-arcsec one: at most a few
(tests/catalog/test_sky.py checks cones of 1 and 0.1 mas against brute force)."""

_MERGE_IN_PYTHON = 64  # below this many pixels, a Python loop beats numpy's call overhead


def cone_ranges(ra_deg: float, dec_deg: float, radius_arcsec: float,
                order: int | None = None) -> np.ndarray:
    """Return the order-29 ``hpx`` ranges that cover a cone.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Centre, ICRS degrees.
    radius_arcsec : float
        Radius in arcseconds (> 0); cones under :data:`MIN_COVER_ARCSEC` are covered as
        cones of that radius.
    order : int, optional
        Order of the covering pixels; default :func:`order_for_radius` minus
        :data:`CONE_COARSENING`, or plus :data:`CONE_REFINEMENT` for cones of at least
        :data:`REFINE_FROM_ARCSEC`.

    Returns
    -------
    numpy.ndarray, shape (n, 2), int64
        Inclusive ranges, sorted, ranges closer than :data:`CONE_MERGE_GAP` pixels merged;
        every point within the radius has its ``hpx`` in one of them.
    """
    cover_arcsec = max(float(radius_arcsec), MIN_COVER_ARCSEC)
    radius = cover_arcsec * ARCSEC
    if order is None:
        base = order_for_radius(radius)
        k = (min(base + CONE_REFINEMENT, MAX_ORDER) if cover_arcsec >= REFINE_FROM_ARCSEC
             else max(base - CONE_COARSENING, 0))
    else:
        k = int(order)
    # the unit vector by hand: hp.ang2vec costs more than the whole merge below
    ra, dec = math.radians(float(ra_deg)), math.radians(float(dec_deg))
    vec = (math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec))
    pixels = hp.query_disc(1 << k, vec, radius, inclusive=True, nest=True)
    if len(pixels) > _MERGE_IN_PYTHON:
        return merge_pixels(pixels, k, CONE_MERGE_GAP)
    shift = 2 * (MAX_ORDER - k)
    merged: list[list[int]] = []
    for p in sorted(set(pixels.tolist())):
        if merged and p - merged[-1][1] <= CONE_MERGE_GAP + 1:
            merged[-1][1] = p
        else:
            merged.append([p, p])
    return np.array([(lo << shift, ((hi + 1) << shift) - 1) for lo, hi in merged],
                    dtype=np.int64).reshape(-1, 2)
