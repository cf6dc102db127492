"""Survey source densities around X-ray sources, from the fetched sources themselves.

The association's prior needs each survey's sky density where an X-ray source lies
(:mod:`associate.bayes`): two Gaia stars per 10" off the Galactic plane, twenty in it. A
density measured in the tiny cone around one source is noise; livecat measures it per
HEALPix tile (order :data:`TILE_ORDER`, ~14' pixels): the survey sources fetched in the
tile, divided by the sky area the fetches covered there - the union of the searched
cones, computed on a fine HEALPix grid so that overlapping cones count once. Every X-ray
source takes its tile's density; a tile whose searched area is too small to count on
(fewer than :data:`MIN_COUNT` sources found) borrows the density of its parent tiles.
"""

from __future__ import annotations

import healpy as hp
import numpy as np

from catalog.healpix import MAX_ORDER, radec_to_hpx

#: Order of the tiles densities are measured in (nside 256: 13.7' pixels, 0.052 deg2).
TILE_ORDER = 8
#: Order of the grid that measures the searched area (nside 32768: 6.4" pixels).
AREA_ORDER = 15
#: A tile with fewer sources found than this takes its parent's density.
MIN_COUNT = 20
#: Coarsest order a density may come from.
COARSEST_ORDER = 3


def searched_area_pixels(ra, dec, radius_arcsec) -> np.ndarray:
    """The AREA_ORDER pixels (NESTED) inside the union of the searched cones."""
    nside = 1 << AREA_ORDER
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    vec = np.column_stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    radius = np.radians(np.broadcast_to(np.asarray(radius_arcsec, float), ra.shape) / 3600.0)
    pixels = [hp.query_disc(nside, v, r, inclusive=False, nest=True)
              for v, r in zip(vec, radius)]
    return np.unique(np.concatenate(pixels)) if pixels else np.empty(0, np.int64)


def tile_densities(xray_ra, xray_dec, radius_arcsec, survey_ra, survey_dec) -> np.ndarray:
    """Density (sources per steradian) of the survey around each X-ray source.

    Parameters
    ----------
    xray_ra, xray_dec : array_like
        The X-ray sources (degrees).
    radius_arcsec : float or array_like
        The radius each was searched within.
    survey_ra, survey_dec : array_like
        The survey sources fetched around them (each once).

    Returns
    -------
    numpy.ndarray
        One density per X-ray source; NaN where nothing was searched.
    """
    area_pix = searched_area_pixels(xray_ra, xray_dec, radius_arcsec)
    pix_sr = hp.nside2pixarea(1 << AREA_ORDER)
    xray_hpx = radec_to_hpx(xray_ra, xray_dec)
    survey_hpx = radec_to_hpx(survey_ra, survey_dec) if len(survey_ra) \
        else np.empty(0, np.int64)
    # only survey sources inside the searched area count (a fetch may return a rim)
    survey_area_pix = survey_hpx >> (2 * (MAX_ORDER - AREA_ORDER))
    inside = np.isin(survey_area_pix, area_pix)
    out = np.full(len(xray_hpx), np.nan)
    pending = np.ones(len(xray_hpx), bool)
    for order in range(TILE_ORDER, COARSEST_ORDER - 1, -1):
        shift = 2 * (AREA_ORDER - order)
        tiles_area, area_counts = np.unique(area_pix >> shift, return_counts=True)
        tiles_src, src_counts = np.unique(survey_area_pix[inside] >> shift,
                                          return_counts=True)
        n_found = dict(zip(tiles_src.tolist(), src_counts.tolist()))
        area = dict(zip(tiles_area.tolist(), (area_counts * pix_sr).tolist()))
        tile_of = xray_hpx >> (2 * (MAX_ORDER - order))
        for i in np.flatnonzero(pending):
            t = int(tile_of[i])
            if t not in area:
                continue
            n = n_found.get(t, 0)
            if n >= MIN_COUNT or order == COARSEST_ORDER:
                out[i] = max(n, 1) / area[t]  # never zero: one source is the floor
                pending[i] = False
        if not pending.any():
            break
    return out
