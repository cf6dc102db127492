"""The sky an incremental object update reads, as HEALPix pixels.

Pixels are NESTED at :data:`NEIGHBOURHOOD_ORDER` (nside 2048, ~1.7' across: near
the default 120" largest link, so a source's reach touches a handful of pixels), the same
numbering as the ``hpx`` column at a coarser order (``hpx >> 2*(29-order)``,
:mod:`catalog.healpix`).
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd

from associate.objects import BadSources
from associate.candidates import ARCSEC_PER_RAD
from catalog import idsets
from catalog.healpix import MAX_PIXRAD, radec_to_hpx

#: HEALPix order of the pixels a neighbourhood is read in (nside 2048, ~1.7' pixels): at
#: the catalogs' real sizes, 1 % of eRASS1 changed reads 78,000 sources in 1.2 s at order
#: 11, against 168,000 in 1.8 s at order 10 and 51,000 in 1.3 s at order 12 (more
#: pixels, more ranges to probe).
NEIGHBOURHOOD_ORDER = 11


class IncompleteNeighbourhood(BadSources):
    """The sources given do not cover the scope's reach; ``needed`` lists the pixels."""

    def __init__(self, message: str, needed: np.ndarray, order: int):
        super().__init__(message)
        self.needed = needed
        self.order = order


def cover_pixels(ra, dec, radius_arcsec: float, order: int = NEIGHBOURHOOD_ORDER
                 ) -> np.ndarray:
    """Sorted NESTED pixels at ``order`` covering every disc of ``radius_arcsec`` around
    the positions (one ``query_disc`` per occupied pixel, widened by the pixel radius)."""
    ra = np.asarray(ra, dtype=float)
    if not len(ra):
        return np.zeros(0, dtype=np.int64)
    return cover_occupied(idsets.unique(radec_to_hpx(ra, dec, order)), radius_arcsec, order)


def cover_occupied(occupied, radius_arcsec: float, order: int = NEIGHBOURHOOD_ORDER
                   ) -> np.ndarray:
    """:func:`cover_pixels` of positions given by the pixels at ``order`` they occupy (the
    cover of a union of pixels is the union of their covers)."""
    occupied = np.asarray(occupied, dtype=np.int64)
    if not len(occupied):
        return np.zeros(0, dtype=np.int64)
    nside = 2 ** order
    reach = radius_arcsec / ARCSEC_PER_RAD + MAX_PIXRAD[order]
    vecs = np.column_stack(hp.pix2vec(nside, occupied, nest=True))
    found = [hp.query_disc(nside, v, reach, inclusive=True, nest=True) for v in vecs]
    return idsets.unique(np.concatenate(found))


def check_region(sources: pd.DataFrame, region: tuple, radius_arcsec: float) -> None:
    """Raise :class:`IncompleteNeighbourhood` unless ``region`` = (pixels, order) covers
    the discs of ``radius_arcsec`` around ``sources``."""
    pixels, order = region
    needed = cover_pixels(sources["ra"], sources["dec"], radius_arcsec, order)
    outside = idsets.difference(needed, np.asarray(pixels, dtype=np.int64))
    if len(outside):
        raise IncompleteNeighbourhood(
            f"the scope reaches {len(outside)} HEALPix pixel(s) (order {order}) outside "
            f"the sources given, e.g. {outside[:5].tolist()}: read them too", outside, order)
