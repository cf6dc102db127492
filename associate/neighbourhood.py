"""What an incremental object update must read: the neighbourhood of a change.

:func:`associate.regroup.regroup` needs (1) the previous link rows of every source in the
old candidate components of the changed and retired sources, and of the new scope, and
(2) every current source within ``max_radius_arcsec`` of the scope (no candidate pair is
longer). :func:`gather_neighbourhood` drives those reads through three callbacks, so the
database side only answers plain questions:

``links_of(ids)``
    the current link rows (``Grouping.links`` columns, ``alternatives`` parsed) of these
    sources *and of every member of their objects*, e.g.
    ``SELECT ... FROM xray_association WHERE ended_run_id IS NULL AND object_id IN
    (SELECT object_id FROM xray_association WHERE ended_run_id IS NULL AND xray_source_id
    = ANY(:ids))``;
``sources_by_id(ids)``
    the current sources with these ids (columns of ``match_missions``);
``sources_in_pixels(pixels, order)``
    the current sources whose HEALPix NESTED pixel at ``order`` is in ``pixels``:
    ``hpx >> 2*(29-order) = ANY(:pixels)``, or the ranges of
    :func:`catalog.healpix.merge_pixels`.

The sky read grows until the scope's discs of radius ``max_radius_arcsec`` lie inside it
(:func:`associate.skycover.cover_pixels`), in pixels of
:data:`associate.skycover.NEIGHBOURHOOD_ORDER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from associate.objects import LINK_COLUMNS, BadSources
from associate.regroup import closure_ids, scope_ids
from associate.skycover import NEIGHBOURHOOD_ORDER, cover_occupied
from catalog import idsets
from catalog.healpix import radec_to_hpx

@dataclass
class Neighbourhood:
    """What :func:`gather_neighbourhood` read: the input of :func:`regroup`."""

    sources: pd.DataFrame
    links: pd.DataFrame
    pixels: np.ndarray
    order: int
    rounds: int

    @property
    def region(self) -> tuple:
        """``(pixels, order)``, for ``regroup(region=...)``."""
        return self.pixels, self.order


def _links_closure(links_of: Callable, start: np.ndarray, links: pd.DataFrame,
                   fetched: np.ndarray):
    """Fetch link rows until the closure of ``start`` is fully loaded."""
    todo = start
    while True:
        todo = idsets.difference(todo, fetched)
        if len(todo):
            got = links_of(todo)
            if len(got):  # (an empty frame would make the columns object dtype)
                links = pd.concat([links, got], ignore_index=True) if len(links) else got
            fetched = idsets.union(fetched, idsets.union(
                todo, got["source_id"].to_numpy(np.int64) if len(got) else todo[:0]))
        reach = closure_ids(links, start)
        todo = idsets.difference(reach, fetched)
        if not len(todo):
            links = links.drop_duplicates("source_id", ignore_index=True)
            return links, fetched, reach


def gather_neighbourhood(changed_ids, retired_ids, params: dict, *, links_of: Callable,
                         sources_by_id: Callable, sources_in_pixels: Callable,
                         order: int = NEIGHBOURHOOD_ORDER,
                         max_rounds: int = 100) -> Neighbourhood:
    """Read what :func:`associate.regroup.regroup` needs, through the callbacks of the
    module docstring.

    Parameters
    ----------
    changed_ids, retired_ids : iterable of int
        As for :func:`regroup`.
    params : dict
        The previous grouping's ``params`` (``n_sigma``, ``floors``,
        ``max_radius_arcsec``).
    links_of, sources_by_id, sources_in_pixels : callable
        The three reads (module docstring).
    order : int
        HEALPix order of the pixels asked for.
    max_rounds : int
        Give up (``BadSources``) after this many widenings of the sky read.

    Returns
    -------
    Neighbourhood
        ``sources`` and ``links`` for ``regroup(previous=Grouping.from_links(links,
        params=params), sources, ..., region=nb.region)``.
    """
    changed = idsets.unique(changed_ids)
    retired = idsets.unique(retired_ids)
    empty = pd.DataFrame(columns=LINK_COLUMNS)
    links, fetched, old = _links_closure(links_of, idsets.union(changed, retired), empty,
                                         np.zeros(0, dtype=np.int64))
    seeds = idsets.difference(idsets.union(old, changed), retired)
    radius = params["max_radius_arcsec"]
    known = sources_by_id(seeds)
    occupied = idsets.unique(radec_to_hpx(known["ra"], known["dec"], order))
    pixels = cover_occupied(occupied, radius, order)
    src = sources_in_pixels(pixels, order)
    for rounds in range(1, max_rounds + 1):
        scope = scope_ids(src, seeds, params)
        in_scope = src[idsets.member(src["source_id"].to_numpy(np.int64), scope)]
        # the cover of the pixels the scope occupies: those covered already are inside
        # ``pixels``, so only the others' (a query_disc each) can add any
        now = idsets.unique(radec_to_hpx(in_scope["ra"], in_scope["dec"], order))
        more = idsets.difference(
            cover_occupied(idsets.difference(now, occupied), radius, order), pixels)
        occupied = idsets.union(occupied, now)
        if not len(more):
            links, fetched, _ = _links_closure(links_of, scope, links, fetched)
            return Neighbourhood(src, links, pixels, order, rounds)
        # only the pixels not read yet: a pixel holds the same sources at every read
        src = pd.concat([src, sources_in_pixels(more, order)], ignore_index=True)
        pixels = idsets.union(pixels, more)
    raise BadSources(f"the neighbourhood of the change still grew after {max_rounds} "
                     f"reads of the sky: a full build is cheaper")
