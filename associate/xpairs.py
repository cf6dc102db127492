"""Candidate pairs between X-ray catalogs: every pair of sources of *different* catalogs
whose separation is within ``n_sigma`` combined 1-sigma errors (and ``max_radius``).

The condition ``sep <= n_sigma * sqrt(s_i**2 + s_j**2)`` (``s`` = per-axis 1-sigma with
the mission floor, see :func:`associate.objects.match_missions`) is not a fixed radius, so
each catalog's sources are split in two by error: the bulk, and the
:data:`TAIL_FRACTION` with the largest errors (a few sources far off-axis must not widen
the search for all). Every pair of these groups of two catalogs is searched once, in one
dual-tree pass (:meth:`scipy.spatial.cKDTree.sparse_distance_matrix`), at the radius its
largest errors allow; the exact condition then filters the pairs, so the result does not
depend on the grouping (only the time does: finer error bins were slower, each one more
pass over the trees). Positions are unit vectors
(:func:`associate.candidates.unit_vectors`), so the search has no trouble at RA 0/360 or
at the poles; the chord ``c`` of a separation ``t`` is ``2 sin(t/2)``.

The separation of a pair is computed here, from the two unit vectors in the order of
their input index, so the same two positions always give the same float whatever else is
searched with them (an incremental update recomputes bit-identical separations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from associate.candidates import ARCSEC_PER_RAD, unit_vectors

#: Fraction of each catalog, by largest error, searched apart from the bulk.
TAIL_FRACTION = 0.01


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs, each once, with ``i < j`` (indices into the searched arrays)."""

    i: np.ndarray
    j: np.ndarray
    sep_arcsec: np.ndarray
    n_sigma: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    def take(self, mask) -> "Pairs":
        """The pairs selected by a boolean mask or index array."""
        return Pairs(self.i[mask], self.j[mask], self.sep_arcsec[mask], self.n_sigma[mask])


def separation_arcsec(xyz: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Angular separation (arcsec) of the unit vectors ``xyz[i]`` and ``xyz[j]``.

    ``2 arcsin(c / 2)`` of the chord ``c``: accurate at micro-arcsecond separations,
    where ``arccos`` of a dot product is not.
    """
    d = xyz[i] - xyz[j]
    chord = np.sqrt(np.einsum("ij,ij->i", d, d))
    return 2.0 * np.arcsin(np.minimum(chord / 2.0, 1.0)) * ARCSEC_PER_RAD


def chord_of(arcsec: float) -> float:
    """Chord length of an angular separation given in arcsec."""
    return 2.0 * math.sin(min(arcsec / ARCSEC_PER_RAD, math.pi) / 2.0)


def _bins(codes: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """1 for the :data:`TAIL_FRACTION` largest errors of each catalog, else 0."""
    tail = np.zeros(len(sigma), dtype=np.int64)
    for c in np.unique(codes):
        m = codes == c
        tail[m] = sigma[m] > np.quantile(sigma[m], 1.0 - TAIL_FRACTION)
    return tail


@dataclass
class _Group:
    index: np.ndarray        # input indices of the group's sources
    sigma_max: float
    tree: cKDTree


def _groups(xyz: np.ndarray, codes: np.ndarray, sigma: np.ndarray) -> dict:
    """catalog code -> list of error-bin groups, each with its k-d tree."""
    out: dict[int, list[_Group]] = {}
    bins = _bins(codes, sigma)
    order = np.lexsort((bins, codes))
    keys = np.column_stack([codes[order], bins[order]])
    cut = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
    for idx in np.split(order, cut):
        if not len(idx):
            continue
        tree = cKDTree(xyz[idx], leafsize=32, balanced_tree=False, compact_nodes=False)
        out.setdefault(int(codes[idx[0]]), []).append(
            _Group(idx, float(sigma[idx].max()), tree))
    return out


def candidate_pairs(xyz: np.ndarray, codes: np.ndarray, sigma: np.ndarray, *,
                    n_sigma: float, max_radius_arcsec: float) -> Pairs:
    """All pairs of sources of different catalogs within ``n_sigma`` combined errors.

    Parameters
    ----------
    xyz : numpy.ndarray, shape (n, 3)
        Unit vectors (:func:`unit_vectors`).
    codes : numpy.ndarray of int, shape (n,)
        Catalog of each source, as an integer code; equal codes never pair.
    sigma : numpy.ndarray, shape (n,)
        Per-axis 1-sigma error of each source (arcsec, floor included), > 0.
    n_sigma : float
        Pairs with ``sep <= n_sigma * sqrt(sigma_i**2 + sigma_j**2)`` are kept ...
    max_radius_arcsec : float
        ... and ``sep <= max_radius_arcsec``.

    Returns
    -------
    Pairs
        Each pair once with ``i < j``, sorted by (i, j); ``n_sigma`` is the separation in
        units of the combined 1-sigma error.
    """
    groups = _groups(xyz, codes, sigma)
    cats = sorted(groups)
    found_i, found_j = [], []
    for a_pos, a in enumerate(cats):
        for b in cats[a_pos + 1:]:
            for ga in groups[a]:
                for gb in groups[b]:
                    reach = min(max_radius_arcsec,
                                n_sigma * math.hypot(ga.sigma_max, gb.sigma_max))
                    # a hair wider than the exact test below, which decides
                    m = ga.tree.sparse_distance_matrix(gb.tree, chord_of(reach) * (1 + 1e-9),
                                                       output_type="ndarray")
                    if len(m):
                        found_i.append(ga.index[m["i"]])
                        found_j.append(gb.index[m["j"]])
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty.copy(), np.zeros(0), np.zeros(0))
    pi = np.concatenate(found_i)
    pj = np.concatenate(found_j)
    lo, hi = np.minimum(pi, pj), np.maximum(pi, pj)
    sep = separation_arcsec(xyz, lo, hi)
    combined = np.hypot(sigma[lo], sigma[hi])
    keep = (sep <= n_sigma * combined) & (sep <= max_radius_arcsec)
    lo, hi, sep, combined = lo[keep], hi[keep], sep[keep], combined[keep]
    order = np.lexsort((hi, lo))
    return Pairs(lo[order], hi[order], sep[order], sep[order] / combined[order])
