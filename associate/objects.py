"""One sky object across X-ray missions: which sources of different catalogs are the same.

:func:`match_missions` groups X-ray sources of several catalogs (CSC, XMM, eRASS1, 2SXPS,
LSXPS, ...) into objects; every source belongs to exactly one object, most to an object of
one member. The rules, in order:

1. **Candidates.** Two sources of *different* catalogs are candidates when their
   separation is at most ``n_sigma * sqrt(s1**2 + s2**2 + f1**2 + f2**2)`` and at most
   ``max_radius_arcsec``; ``s`` is the stored per-axis 1-sigma ``pos_err_arcsec`` and
   ``f`` the mission's cross-match floor (:func:`catalog.missions.cross_match_floor_arcsec`,
   where each floor is justified and cited). Sources of one catalog are never candidates:
   the catalog itself already decided they are different sources.
   The default ``n_sigma`` = 3.44 is the 99.73 % point of the separation of two positions
   of one object: with both errors circular Gaussians, ``sep / sqrt(s1**2 + s2**2 + ...)``
   follows a Rayleigh distribution, ``P(< k) = 1 - exp(-k**2 / 2)``, so
   ``k = sqrt(-2 ln 0.0027) = 3.44`` loses 0.27 % of true pairs (the 1-D "3 sigma").
2. **Mutual best match.** For each source and each other catalog, its best candidate is
   the one at the smallest separation in sigma (ties: smaller separation, smaller source
   id). A pair is *linked* when each is the other's best in the other's catalog.
3. **Objects.** Links are taken in order of increasing separation in sigma (then
   separation, then the ids), and each joins two objects unless the result would hold two
   sources of the same catalog: such a link is refused (the later, worse link loses) and
   the two sources keep each other as alternatives. Chains across three or more catalogs
   (CSC-XMM-Swift) thus form one object when they are consistent.
4. **Ambiguity.** Each source's ``alternatives`` are all its candidates outside its own
   object (source id, catalog, separation, n_sigma), best first; a source with any is
   ``ambiguous``. The common case: an eRASS1 source (~5" errors) over several CSC sources
   (~0.5") is linked to the best one and lists the others, and each of those lists it.
5. **Per object:** the anchor is the member with the smallest error (ties: smaller id);
   each other member records the member it is linked to (``linked_source_id``) along the
   links, with that link's separation and n_sigma. The best position is the
   inverse-variance weighted mean of the members (errors with floors), with 1-sigma
   ``1 / sqrt(sum(1 / s**2))``.

Everything a source's result depends on lies in its connected component of the candidate
graph; :mod:`associate.regroup` uses that to redo only the sky that changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from associate.candidates import unit_vectors
from associate.xpairs import Pairs, candidate_pairs
from catalog.errors import InputError
from catalog.missions import MISSIONS

#: Default match threshold: 99.73 % of a 2-D Rayleigh distribution (module docstring).
DEFAULT_N_SIGMA = math.sqrt(-2.0 * math.log(1.0 - 0.9973))
#: Default largest separation ever linked (arcsec).
DEFAULT_MAX_RADIUS_ARCSEC = 120.0
#: Name of the rules implemented here (recorded in ``params``).
RULE = "mutual-best, greedy by n_sigma, one source per catalog per object (v1)"

SOURCE_COLUMNS = ("source_id", "catalog", "ra", "dec", "pos_err_arcsec")
LINK_COLUMNS = ["source_id", "object_key", "catalog", "linked_source_id",
                "separation_arcsec", "n_sigma", "ambiguous", "alternatives"]
OBJECT_COLUMNS = ["object_key", "ra", "dec", "pos_err_arcsec", "n_members", "catalogs",
                  "anchor_source_id"]


class BadSources(InputError, ValueError):
    """Invalid input to the object matching (a row, a parameter)."""


@dataclass
class Grouping:
    """Sources grouped into objects.

    Attributes
    ----------
    objects : pandas.DataFrame
        One row per object: ``object_key``, best ``ra``/``dec`` (deg) and its 1-sigma
        ``pos_err_arcsec``, ``n_members``, ``catalogs`` (sorted list), ``anchor_source_id``.
    links : pandas.DataFrame
        One row per source: ``source_id``, ``object_key``, ``catalog``,
        ``linked_source_id`` (int, None for the anchor), ``separation_arcsec`` and ``n_sigma``
        of that link (NaN for the anchor), ``ambiguous``, ``alternatives`` (list of dicts
        ``source_id, catalog, separation_arcsec, n_sigma``).
    unmatched : numpy.ndarray
        Ids of the sources alone in their object.
    params : dict
        JSON-serialisable matching parameters (``rule``, ``n_sigma``, ``floors``,
        ``max_radius_arcsec``).
    """

    objects: pd.DataFrame
    links: pd.DataFrame
    unmatched: np.ndarray
    params: dict

    @classmethod
    def from_links(cls, links: pd.DataFrame, objects: pd.DataFrame | None = None,
                   params: dict | None = None) -> "Grouping":
        """A Grouping from stored rows (e.g. the current ``xray_association`` rows)."""
        counts = links["object_key"].map(links["object_key"].value_counts())
        unmatched = links.loc[counts.to_numpy() == 1, "source_id"].to_numpy(np.int64)
        objects = pd.DataFrame(columns=OBJECT_COLUMNS) if objects is None else objects
        return cls(objects, links, unmatched, dict(params or {}))


def _bad(src: pd.DataFrame, mask: np.ndarray, what: str) -> BadSources:
    rows = np.flatnonzero(mask)
    r = rows[0]
    more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    sid = src["source_id"].iloc[r] if "source_id" in src.columns else "?"
    return BadSources(f"row {src.index[r]!r} (source_id {sid}): {what}{more}")


def check_sources(sources: pd.DataFrame) -> pd.DataFrame:
    """Validate the input of :func:`match_missions`; return it sorted by ``source_id``.

    Raises
    ------
    BadSources
        A missing column, a missing/duplicate id or catalog, a NaN or out-of-range
        position, a non-positive or non-finite error; the message names the first row.
    """
    missing = [c for c in SOURCE_COLUMNS if c not in sources.columns]
    if missing:
        raise BadSources(f"sources lack column(s) {', '.join(missing)}; expected "
                         f"{', '.join(SOURCE_COLUMNS)}")
    src = sources.loc[:, list(SOURCE_COLUMNS)]
    ids = pd.to_numeric(src["source_id"], errors="coerce")
    bad_id = ids.isna().to_numpy() | (ids.to_numpy(dtype=float) % 1 != 0)
    if bad_id.any():
        raise _bad(src, bad_id, f"source_id {src['source_id'].iloc[np.argmax(bad_id)]!r} "
                                f"is not an integer")
    dup = src["source_id"].duplicated(keep="first").to_numpy()
    if dup.any():
        raise _bad(src, dup, "duplicate source_id; each source must appear once")
    cat = src["catalog"]
    bad_cat = (cat.isna() | (cat.astype(str).str.strip() == "")).to_numpy()
    if bad_cat.any():
        raise _bad(src, bad_cat, "missing catalog")
    ra = pd.to_numeric(src["ra"], errors="coerce").to_numpy(dtype=float)
    dec = pd.to_numeric(src["dec"], errors="coerce").to_numpy(dtype=float)
    err = pd.to_numeric(src["pos_err_arcsec"], errors="coerce").to_numpy(dtype=float)
    for mask, what in (
            (~np.isfinite(ra), "ra is not a finite number of degrees"),
            (~np.isfinite(dec) | (np.abs(dec) > 90.0), "dec must be finite, -90..90 deg"),
            (~np.isfinite(err) | ~(err > 0), "pos_err_arcsec must be finite and > 0")):
        if mask.any():
            r = np.argmax(mask)
            raise _bad(src, mask, f"{what}, got ra={src['ra'].iloc[r]!r}, "
                                  f"dec={src['dec'].iloc[r]!r}, "
                                  f"pos_err_arcsec={src['pos_err_arcsec'].iloc[r]!r}")
    out = pd.DataFrame({"source_id": ids.to_numpy().astype(np.int64),
                        "catalog": cat.astype(str).to_numpy(dtype=object),
                        "ra": np.mod(ra, 360.0), "dec": dec, "pos_err_arcsec": err})
    return out.sort_values("source_id", kind="stable").reset_index(drop=True)


def resolve_params(catalogs, *, n_sigma: float = DEFAULT_N_SIGMA, floors: dict | None = None,
                   max_radius_arcsec: float = DEFAULT_MAX_RADIUS_ARCSEC) -> dict:
    """The matching parameters for ``catalogs``, floors defaulting to catalog.missions'.

    Raises
    ------
    BadSources
        Non-positive ``n_sigma``/radius, a negative floor, or a catalog with no floor.
    """
    if not (math.isfinite(n_sigma) and n_sigma > 0):
        raise BadSources(f"n_sigma must be a positive number, got {n_sigma!r}")
    if not (math.isfinite(max_radius_arcsec) and max_radius_arcsec > 0):
        raise BadSources(f"max_radius_arcsec must be positive, got {max_radius_arcsec!r}")
    given = dict(floors or {})
    resolved = {}
    for c in sorted(set(catalogs) | set(given)):
        if c in given:
            f = float(given[c])
        elif c in MISSIONS:
            f = MISSIONS[c].cross_match_floor_arcsec
        else:
            raise BadSources(f"no cross-match floor for catalog {c!r}: it is not in "
                             f"catalog.missions ({', '.join(MISSIONS)}); pass floors="
                             f"{{{c!r}: arcsec}}")
        if not (math.isfinite(f) and f >= 0):
            raise BadSources(f"floor of catalog {c!r} must be >= 0 arcsec, got {f!r}")
        resolved[c] = f
    return {"rule": RULE, "n_sigma": float(n_sigma), "floors": resolved,
            "max_radius_arcsec": float(max_radius_arcsec)}


@dataclass
class Solution:
    """The rules applied to one set of sources (sorted by id), before keys are given.

    ``label`` numbers the objects 0..n_objects-1; ``parent`` is the index of the member a
    source is linked to (-1 for the anchor), with that link's separation and n_sigma.
    """

    src: pd.DataFrame
    names: np.ndarray
    codes: np.ndarray
    sigma: np.ndarray
    pairs: Pairs
    label: np.ndarray
    n_objects: int
    parent: np.ndarray
    parent_sep: np.ndarray
    parent_z: np.ndarray
    alternatives: list

    def first_member(self) -> np.ndarray:
        """Index of the first (smallest-id) member of each object."""
        _, first = np.unique(self.label, return_index=True)
        return first

    def grouping(self, keys: np.ndarray, params: dict) -> Grouping:
        """The :class:`Grouping` with object ``label`` given key ``keys[label]``."""
        return _assemble(self, np.asarray(keys, dtype=np.int64), params)


def _mutual_best(codes: np.ndarray, pairs: Pairs) -> np.ndarray:
    """Boolean mask of the pairs that are each other's best match (rule 2)."""
    n_p = len(pairs)
    a = np.concatenate([pairs.i, pairs.j])
    b = np.concatenate([pairs.j, pairs.i])
    z = np.concatenate([pairs.n_sigma, pairs.n_sigma])
    sep = np.concatenate([pairs.sep_arcsec, pairs.sep_arcsec])
    order = np.lexsort((b, sep, z, codes[b], a))  # sources are sorted by id: b ~ id
    a_s, cb = a[order], codes[b[order]]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (a_s[1:] != a_s[:-1]) | (cb[1:] != cb[:-1])
    best = np.zeros(2 * n_p, dtype=bool)
    best[order[first]] = True
    return best[:n_p] & best[n_p:]


def _greedy_links(n: int, codes: np.ndarray, pairs: Pairs, mutual: np.ndarray) -> np.ndarray:
    """Indices of the mutual pairs accepted as links (rule 3); they form a forest."""
    cand = np.flatnonzero(mutual)
    if not len(cand):
        return cand
    deg = np.bincount(np.concatenate([pairs.i[cand], pairs.j[cand]]), minlength=n)
    isolated = (deg[pairs.i[cand]] == 1) & (deg[pairs.j[cand]] == 1)
    accepted = [cand[isolated]]  # a lone pair of two catalogs is always consistent
    rest = cand[~isolated]
    rest = rest[np.lexsort((pairs.j[rest], pairs.i[rest], pairs.sep_arcsec[rest],
                            pairs.n_sigma[rest]))]
    nodes, local = np.unique(np.concatenate([pairs.i[rest], pairs.j[rest]]),
                             return_inverse=True)
    li, lj = local[:len(rest)].tolist(), local[len(rest):].tolist()
    parent = list(range(len(nodes)))
    cats = [1 << int(c) for c in codes[nodes]]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keep = []
    for k, (x, y) in enumerate(zip(li, lj)):
        rx, ry = find(x), find(y)
        if rx == ry or cats[rx] & cats[ry]:
            continue  # redundant (already one object) or two members of one catalog
        parent[ry] = rx
        cats[rx] |= cats[ry]
        keep.append(k)
    accepted.append(rest[np.asarray(keep, dtype=np.int64)])
    return np.sort(np.concatenate(accepted))


def _orient(n: int, label: np.ndarray, sigma: np.ndarray, pairs: Pairs,
            links: np.ndarray):
    """Anchor per object and each member's parent along the links (rule 5)."""
    order = np.lexsort((np.arange(n), sigma, label))
    anchor_first = np.ones(n, dtype=bool)
    anchor_first[1:] = label[order][1:] != label[order][:-1]
    anchors = order[anchor_first]
    root = n  # a virtual root joined to every anchor: one BFS orients every tree
    rows = np.concatenate([pairs.i[links], np.full(len(anchors), root)])
    cols = np.concatenate([pairs.j[links], anchors])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)),
                       shape=(n + 1, n + 1)).tocsr()
    _, pred = breadth_first_order(graph, root, directed=False, return_predecessors=True)
    parent = pred[:n].astype(np.int64)
    parent[parent == root] = -1
    key = pairs.i[links] * (n + 1) + pairs.j[links]
    has = parent >= 0
    me, pa = np.flatnonzero(has), parent[has]
    pos = np.searchsorted(key, np.minimum(me, pa) * (n + 1) + np.maximum(me, pa))
    sep = np.full(n, np.nan)
    z = np.full(n, np.nan)
    sep[has] = pairs.sep_arcsec[links][pos]
    z[has] = pairs.n_sigma[links][pos]
    return parent, sep, z


def _alternatives(ids: np.ndarray, cats: np.ndarray, label: np.ndarray,
                  pairs: Pairs) -> list:
    """Per source, its candidates outside its own object, best first (rule 4)."""
    n = len(ids)
    out = [[] for _ in range(n)]
    other = label[pairs.i] != label[pairs.j]
    if not other.any():
        return out
    p = pairs.take(other)
    a = np.concatenate([p.i, p.j])
    b = np.concatenate([p.j, p.i])
    z = np.concatenate([p.n_sigma, p.n_sigma])
    sep = np.concatenate([p.sep_arcsec, p.sep_arcsec])
    order = np.lexsort((b, sep, z, a))
    for ai, bid, bcat, s, zz in zip(a[order].tolist(), ids[b[order]].tolist(),
                                    cats[b[order]].tolist(), sep[order].tolist(),
                                    z[order].tolist()):
        out[ai].append({"source_id": bid, "catalog": bcat, "separation_arcsec": s,
                        "n_sigma": zz})
    return out


def effective_sigma(src: pd.DataFrame, params: dict) -> np.ndarray:
    """Per-axis 1-sigma with the mission floor in quadrature (arcsec)."""
    floor = src["catalog"].map(params["floors"]).to_numpy(dtype=float)
    return np.hypot(src["pos_err_arcsec"].to_numpy(dtype=float), floor)


def associate_sources(src: pd.DataFrame, params: dict) -> Solution:
    """Apply rules 1-5 to checked sources (:func:`check_sources`) with ``params``
    (:func:`resolve_params`)."""
    n = len(src)
    names, codes = np.unique(src["catalog"].to_numpy(dtype=str), return_inverse=True)
    if len(names) > 62:
        raise BadSources(f"{len(names)} catalogs: at most 62 can be matched at once")
    sigma = effective_sigma(src, params)
    xyz = unit_vectors(src["ra"].to_numpy(), src["dec"].to_numpy())
    pairs = candidate_pairs(xyz, codes, sigma, n_sigma=params["n_sigma"],
                            max_radius_arcsec=params["max_radius_arcsec"])
    links = _greedy_links(n, codes, pairs, _mutual_best(codes, pairs))
    graph = coo_matrix((np.ones(len(links), dtype=np.int8),
                        (pairs.i[links], pairs.j[links])), shape=(n, n))
    n_obj, label = connected_components(graph, directed=False)
    parent, psep, pz = _orient(n, label, sigma, pairs, links)
    alternatives = _alternatives(src["source_id"].to_numpy(), names[codes], label, pairs)
    return Solution(src, names, codes, sigma, pairs, label.astype(np.int64), int(n_obj),
                    parent, psep, pz, alternatives)


def _objects(sol: Solution, keys: np.ndarray) -> pd.DataFrame:
    src, label, n_obj = sol.src, sol.label, sol.n_objects
    w = 1.0 / sol.sigma ** 2
    xyz = unit_vectors(src["ra"].to_numpy(), src["dec"].to_numpy())
    sx, sy, sz = (np.bincount(label, w * xyz[:, k], minlength=n_obj) for k in range(3))
    sw = np.bincount(label, w, minlength=n_obj)
    n_members = np.bincount(label, minlength=n_obj)
    ra = np.mod(np.degrees(np.arctan2(sy, sx)), 360.0)
    ra[ra >= 360.0] -= 360.0
    dec = np.degrees(np.arctan2(sz, np.hypot(sx, sy)))
    single = np.flatnonzero(n_members[label] == 1)  # a lone source keeps its own position
    ra[label[single]] = src["ra"].to_numpy()[single]
    dec[label[single]] = src["dec"].to_numpy()[single]
    mask = np.zeros(n_obj, dtype=np.int64)
    for k in range(len(sol.names)):
        mask[label[sol.codes == k]] |= 1 << k
    names = {m: [str(sol.names[k]) for k in range(len(sol.names)) if m >> k & 1]
             for m in np.unique(mask).tolist()}
    catalogs = [list(names[m]) for m in mask.tolist()]
    anchor = np.zeros(n_obj, dtype=np.int64)
    is_anchor = sol.parent < 0
    anchor[label[is_anchor]] = src["source_id"].to_numpy()[is_anchor]
    return pd.DataFrame({"object_key": keys, "ra": ra, "dec": dec,
                         "pos_err_arcsec": 1.0 / np.sqrt(sw), "n_members": n_members,
                         "catalogs": catalogs, "anchor_source_id": anchor})


def _assemble(sol: Solution, keys: np.ndarray, params: dict) -> Grouping:
    src = sol.src
    ids = src["source_id"].to_numpy()
    linked = np.empty(len(ids), dtype=object)  # Python ints, None for the anchors
    has = sol.parent >= 0
    linked[has] = ids[sol.parent[has]].tolist()
    links = pd.DataFrame({
        "source_id": ids, "object_key": keys[sol.label],
        "catalog": sol.names.astype(object)[sol.codes], "linked_source_id": linked,
        "separation_arcsec": sol.parent_sep, "n_sigma": sol.parent_z,
        "ambiguous": np.array([bool(a) for a in sol.alternatives], dtype=bool),
        "alternatives": sol.alternatives})
    objects = _objects(sol, keys).sort_values("object_key", kind="stable",
                                              ignore_index=True)
    n_members = np.bincount(sol.label, minlength=sol.n_objects)
    return Grouping(objects, links, ids[n_members[sol.label] == 1], dict(params))


def match_missions(sources: pd.DataFrame, *, n_sigma: float = DEFAULT_N_SIGMA,
                   floors: dict | None = None,
                   max_radius_arcsec: float = DEFAULT_MAX_RADIUS_ARCSEC,
                   key_start: int = 1) -> Grouping:
    """Group X-ray sources of several catalogs into sky objects (module docstring).

    Parameters
    ----------
    sources : pandas.DataFrame
        Columns ``source_id`` (int), ``catalog`` (str), ``ra``, ``dec`` (deg),
        ``pos_err_arcsec`` (per-axis 1-sigma as stored by the loaders).
    n_sigma : float
        Candidate threshold in combined 1-sigma errors (default 3.44: 99.73 %).
    floors : dict, optional
        Catalog -> systematic 1-sigma floor (arcsec) added in quadrature; defaults to
        :func:`catalog.missions.cross_match_floor_arcsec` per catalog.
    max_radius_arcsec : float
        No link is longer than this.
    key_start : int
        Objects are keyed ``key_start, key_start + 1, ...`` in order of their smallest
        member source id.

    Returns
    -------
    Grouping

    Raises
    ------
    BadSources
        (a ``ValueError``) for bad rows or parameters, naming the row.
    """
    src = check_sources(sources)
    params = resolve_params(src["catalog"].unique(), n_sigma=n_sigma, floors=floors,
                            max_radius_arcsec=max_radius_arcsec)
    sol = associate_sources(src, params)
    rank = np.empty(sol.n_objects, dtype=np.int64)
    rank[np.argsort(sol.first_member(), kind="stable")] = np.arange(sol.n_objects)
    return sol.grouping(key_start + rank, params)
