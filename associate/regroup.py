"""Incremental update of a grouping into objects: redo only the sky that changed.

Every rule of :mod:`associate.objects` decides a source's object, link and alternatives
from its connected component of the *candidate graph* (sources of different catalogs
within ``n_sigma``). When sources move, appear or retire, the components that can change
are:

- the *old* components of the changed and retired sources, read from the previous
  grouping: a source's object holds its component's accepted links and its
  ``alternatives`` every candidate outside the object, so following objects and
  alternatives from the changed ids (:func:`closure_ids`) walks exactly the old
  components; and
- the *new* components of those sources and of the changed ones, in the current positions
  (:func:`scope_ids`).

Every other component keeps its sources and candidate pairs, hence its objects, links and
alternatives: redoing the *scope* (the union of those components) gives what a full rebuild
gives. The scope is a union of whole previous objects and whole new components.

Keys. Objects of the scope take keys from the previous objects their members belonged to:
pairs (new object, previous key) are taken by decreasing number of shared members (ties:
smaller previous key, then the object with the smaller smallest member id), each previous
key used once. So an object with the same members keeps its key; after a split the largest
part keeps it; after a merge the merged object keeps the key of the previous object it
shares most members with, and the other keys end. Objects without a previous key get
``next_key``, ``next_key + 1``, ... in order of their smallest member id.

Links. A source's link row (object, linked member, separation, n_sigma, ambiguity,
alternatives) that is the same as before is left alone; one that differs is *ended* and a
new one *started*; the rows of retired sources end. Nothing is deleted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from associate.objects import (LINK_COLUMNS, OBJECT_COLUMNS, BadSources, Grouping,
                               associate_sources, check_sources, effective_sigma,
                               resolve_params)
from associate.skycover import check_region
from associate.candidates import unit_vectors
from associate.xpairs import candidate_pairs
from catalog import idsets

#: Separations (arcsec) and n_sigma that differ by less than this are the same.
TOLERANCE = 1e-9
UPDATED_COLUMNS = ["object_key", "status"] + OBJECT_COLUMNS[1:]


@dataclass
class Regrouping:
    """The result of :func:`regroup`.

    Attributes
    ----------
    scope : numpy.ndarray
        Ids of the current sources whose grouping was redone.
    retired : numpy.ndarray
        Ids of the retired sources (no longer in any object).
    grouping : Grouping
        Objects and links of the scope (every scope source has a link row).
    started : pandas.DataFrame
        Link rows (``Grouping.links`` columns) that begin.
    ended : pandas.DataFrame
        Previous link rows that no longer hold, with ``reason``: ``retired`` (the source
        is gone), ``changed`` (the source itself changed) or ``regrouped``.
    updated : pandas.DataFrame
        Objects that are ``new``, ``changed`` (members or, through a changed member,
        position) or ``ended`` (``status``), with the object columns (NaN when ended).
    """

    scope: np.ndarray
    retired: np.ndarray
    grouping: Grouping
    started: pd.DataFrame
    ended: pd.DataFrame
    updated: pd.DataFrame


def closure_ids(links: pd.DataFrame, ids) -> np.ndarray:
    """The sources reachable from ``ids`` through shared objects and alternatives.

    Parameters
    ----------
    links : pandas.DataFrame
        Link rows (``source_id``, ``object_key``, ``alternatives``) of a grouping.
    ids : iterable of int
        Starting source ids (need not be in ``links``).

    Returns
    -------
    numpy.ndarray
        Sorted ids: ``ids`` and every source of ``links`` in their previous candidate
        components (the old neighbourhood of a change).
    """
    sid = links["source_id"].to_numpy(np.int64)
    key = links["object_key"].to_numpy(np.int64)
    alts = links["alternatives"].to_numpy()
    start = idsets.unique(ids)
    lens = np.fromiter((len(a) for a in alts), dtype=np.int64, count=len(alts))
    alt_from = np.repeat(sid, lens)
    alt_to = np.fromiter((a["source_id"] for r in np.flatnonzero(lens) for a in alts[r]),
                         dtype=np.int64, count=int(lens.sum()))
    # one graph: sources joined to their object's node and to their alternatives
    nodes = idsets.unique(np.concatenate([sid, alt_to, start]))
    keys = idsets.unique(key)
    rows = np.concatenate([np.searchsorted(nodes, sid), np.searchsorted(nodes, alt_from)])
    cols = np.concatenate([len(nodes) + np.searchsorted(keys, key),
                           np.searchsorted(nodes, alt_to)])
    size = len(nodes) + len(keys)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    hit = idsets.unique(label[np.searchsorted(nodes, start)])
    return nodes[idsets.member(label[:len(nodes)], hit)]


def scope_ids(sources: pd.DataFrame, seeds, params: dict) -> np.ndarray:
    """Ids of the sources in the current candidate components of ``seeds``.

    Parameters
    ----------
    sources : pandas.DataFrame
        Current sources (the columns of :func:`associate.objects.match_missions`); must
        hold every source within ``params["max_radius_arcsec"]`` of the result.
    seeds : iterable of int
    params : dict
        ``Grouping.params``.
    """
    src = check_sources(sources)
    params = resolve_params(src["catalog"].unique(), n_sigma=params["n_sigma"],
                            floors=params["floors"],
                            max_radius_arcsec=params["max_radius_arcsec"])
    n = len(src)
    _, codes = np.unique(src["catalog"].to_numpy(dtype=str), return_inverse=True)
    xyz = unit_vectors(src["ra"].to_numpy(), src["dec"].to_numpy())
    pairs = candidate_pairs(xyz, codes, effective_sigma(src, params),
                            n_sigma=params["n_sigma"],
                            max_radius_arcsec=params["max_radius_arcsec"])
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs.i, pairs.j)),
                       shape=(n, n))
    _, label = connected_components(graph, directed=False)
    ids = src["source_id"].to_numpy()
    hit = idsets.unique(label[idsets.member(ids, seeds)])
    return ids[idsets.member(label, hit)]


def _params(previous: dict, catalogs, n_sigma, floors, max_radius_arcsec) -> dict:
    """The previous parameters, refusing different ones (a change needs a full build)."""
    given = {"n_sigma": n_sigma, "max_radius_arcsec": max_radius_arcsec}
    if not previous:
        if n_sigma is None or max_radius_arcsec is None:
            raise BadSources("the previous grouping has no params: pass n_sigma and "
                             "max_radius_arcsec (and floors) as used to build it")
        return resolve_params(catalogs, n_sigma=n_sigma, floors=floors,
                              max_radius_arcsec=max_radius_arcsec)
    for name, value in given.items():
        if value is not None and not math.isclose(value, previous[name]):
            raise BadSources(f"{name}={value!r} differs from the previous grouping's "
                             f"{previous[name]!r}: changing the rules needs a full build")
    prev_floors = dict(previous.get("floors", {}))
    for cat, f in (floors or {}).items():
        if cat in prev_floors and not math.isclose(float(f), prev_floors[cat]):
            raise BadSources(f"floor of {cat!r} ({f!r}) differs from the previous "
                             f"grouping's {prev_floors[cat]!r}: that needs a full build")
    prev_floors.update({c: float(f) for c, f in (floors or {}).items()})
    return resolve_params(catalogs, n_sigma=previous["n_sigma"], floors=prev_floors,
                          max_radius_arcsec=previous["max_radius_arcsec"])


def assign_keys(label: np.ndarray, previous_key: np.ndarray, first_member: np.ndarray,
                next_key: int) -> np.ndarray:
    """Keys for objects ``0..max(label)`` by the rule of the module docstring.

    Parameters
    ----------
    label : numpy.ndarray
        Object of each source.
    previous_key : numpy.ndarray
        Previous object key of each source (-1: none, a new source).
    first_member : numpy.ndarray
        Index of each object's smallest-id member (orders new keys and breaks ties).
    next_key : int
        First key for objects with no previous key.
    """
    n_obj = len(first_member)
    keys = np.full(n_obj, -1, dtype=np.int64)
    had = previous_key >= 0
    pair, count = np.unique(np.column_stack([label[had], previous_key[had]]), axis=0,
                            return_counts=True)
    if len(pair):
        order = np.lexsort((first_member[pair[:, 0]], pair[:, 1], -count))
        used: set[int] = set()
        for obj, key in pair[order].tolist():
            if keys[obj] < 0 and key not in used:
                keys[obj] = key
                used.add(key)
    fresh = np.flatnonzero(keys < 0)
    fresh = fresh[np.argsort(first_member[fresh], kind="stable")]
    keys[fresh] = next_key + np.arange(len(fresh))
    return keys


def _close(a: float, b: float) -> bool:
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return (a is None or pd.isna(a)) and (b is None or pd.isna(b))
    return abs(float(a) - float(b)) <= TOLERANCE


def _same_alternatives(a, b) -> bool:
    if len(a) != len(b):
        return False
    return all(x["source_id"] == y["source_id"] and _close(x["separation_arcsec"],
                                                          y["separation_arcsec"])
               and _close(x["n_sigma"], y["n_sigma"]) for x, y in zip(a, b))


def _diff_links(prev: pd.DataFrame, new: pd.DataFrame, changed: np.ndarray):
    """(started, ended) between the previous rows and the new rows of the scope: a source's
    row is kept when it has one on both sides and they are equal (:func:`_same_rows`)."""
    prev, new = prev.reset_index(drop=True), new.reset_index(drop=True)
    prev_sid = prev["source_id"].to_numpy(np.int64)
    new_sid = new["source_id"].to_numpy(np.int64)
    order = np.argsort(new_sid, kind="stable")
    pos = np.minimum(np.searchsorted(new_sid[order], prev_sid), max(len(new_sid) - 1, 0))
    found = (new_sid[order][pos] == prev_sid) if len(new_sid) else np.zeros(len(prev), bool)
    at = np.where(found, order[pos] if len(new_sid) else -1, -1)
    same = np.zeros(len(prev), dtype=bool)
    both = np.flatnonzero(found)
    same[both] = _same_rows(prev.iloc[both], new.iloc[at[both]])
    kept = np.zeros(len(new), dtype=bool)
    kept[at[same]] = True
    ended = prev.loc[~same, list(LINK_COLUMNS)].reset_index(drop=True)
    reason = np.where(~found[~same], "retired",
                      np.where(idsets.member(prev_sid[~same], changed), "changed", "regrouped"))
    ended["reason"] = pd.Series(reason, dtype=object)
    return new.loc[~kept, list(LINK_COLUMNS)].reset_index(drop=True), ended


def _close_columns(a: pd.Series, b: pd.Series) -> np.ndarray:
    """:func:`_close` of two columns, element by element."""
    x = pd.to_numeric(a, errors="coerce").to_numpy(float)
    y = pd.to_numeric(b, errors="coerce").to_numpy(float)
    nx, ny = np.isnan(x), np.isnan(y)
    with np.errstate(invalid="ignore"):
        return np.where(nx | ny, nx & ny, np.abs(x - y) <= TOLERANCE)


def _same_rows(old: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``old`` equals the row of ``new`` at the same position: the
    same object, linked source, ambiguity, separation and n_sigma (within
    :data:`TOLERANCE`), and alternatives (compared only where the rest agrees)."""
    same = old["object_key"].to_numpy(np.int64) == new["object_key"].to_numpy(np.int64)
    same &= old["ambiguous"].to_numpy(dtype=bool) == new["ambiguous"].to_numpy(dtype=bool)
    for col in ("linked_source_id", "separation_arcsec", "n_sigma"):
        same &= _close_columns(old[col], new[col])
    old_alt, new_alt = old["alternatives"].to_numpy(), new["alternatives"].to_numpy()
    for i in np.flatnonzero(same):
        if len(old_alt[i]) or len(new_alt[i]):
            same[i] = _same_alternatives(old_alt[i], new_alt[i])
    return same


def _members(links: pd.DataFrame) -> dict:
    """object key -> frozenset of its member source ids."""
    key = links["object_key"].to_numpy(np.int64)
    sid = links["source_id"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    cut = np.flatnonzero(np.diff(key[order])) + 1
    groups = np.split(sid[order], cut) if len(key) else []
    firsts = key[order][np.r_[0, cut]] if len(key) else []
    return {int(k): frozenset(g.tolist()) for k, g in zip(firsts, groups)}


def _updated(prev: pd.DataFrame, grouping: Grouping, changed: np.ndarray) -> pd.DataFrame:
    """Objects new, changed or ended between the previous and the new scope rows."""
    prev_members = _members(prev)
    new_members = _members(grouping.links)
    changed_set = frozenset(changed.tolist())
    rows = []
    for obj in grouping.objects.to_dict("records"):
        members = new_members[obj["object_key"]]
        before = prev_members.get(obj["object_key"])
        status = ("new" if before is None else
                  "changed" if before != members or members & changed_set else None)
        if status:
            rows.append({"object_key": obj["object_key"], "status": status,
                         **{c: obj[c] for c in OBJECT_COLUMNS[1:]}})
    for key in sorted(set(prev_members) - set(new_members)):
        rows.append({"object_key": key, "status": "ended"})
    out = pd.DataFrame(rows, columns=UPDATED_COLUMNS)
    return out.astype({"object_key": np.int64})


def regroup(previous, sources: pd.DataFrame, *, changed_ids=(), retired_ids=(),
            n_sigma: float | None = None, floors: dict | None = None,
            max_radius_arcsec: float | None = None, next_key: int | None = None,
            region: tuple | None = None) -> Regrouping:
    """Update a grouping after some sources changed, redoing only their neighbourhood.

    Parameters
    ----------
    previous : Grouping or object with ``links`` (and ``params``)
        The grouping before the change; its ``links`` must hold every previous row of
        the neighbourhood (what :func:`associate.neighbourhood.gather_neighbourhood`
        loads), ``alternatives`` included.
    sources : pandas.DataFrame
        Current sources (columns of :func:`associate.objects.match_missions`): at least
        every source within ``max_radius_arcsec`` of the scope, or all of them.
    changed_ids : iterable of int
        Sources that are new or whose position or error changed.
    retired_ids : iterable of int
        Sources no longer current (absent from ``sources``).
    n_sigma, floors, max_radius_arcsec : optional
        Default to ``previous.params``; different values are refused.
    next_key : int, optional
        First key for new objects; default one more than the largest previous key
        (pass it when ``previous`` is only a neighbourhood).
    region : (pixels, order), optional
        The HEALPix NESTED pixels ``sources`` covers; when given, a scope reaching
        outside raises :class:`associate.skycover.IncompleteNeighbourhood`.

    Returns
    -------
    Regrouping

    Raises
    ------
    BadSources
        Inconsistent input: a retired source in ``sources``, a changed or neighbouring
        source missing from it, a previous object split by the scope, other parameters.
    """
    links = previous.links
    src = check_sources(sources)
    params = _params(getattr(previous, "params", None) or {}, src["catalog"].unique(),
                     n_sigma, floors, max_radius_arcsec)
    ids = src["source_id"].to_numpy()
    changed, retired = idsets.unique(changed_ids), idsets.unique(retired_ids)
    for bad, what in ((idsets.intersection(changed, retired), "both changed and retired"),
                      (idsets.intersection(retired, ids), "retired but still in sources"),
                      (idsets.difference(changed, ids), "changed but not in sources")):
        if len(bad):
            raise BadSources(f"source(s) {bad[:10].tolist()} are {what}")
    seeds = idsets.difference(
        idsets.union(closure_ids(links, idsets.union(changed, retired)), changed), retired)
    missing = idsets.difference(seeds, ids)
    if len(missing):
        raise BadSources(f"source(s) {missing[:10].tolist()} were linked to the changed "
                         f"sources but are neither in sources nor retired: load them")
    scope = scope_ids(src, seeds, params)
    if region is not None:
        check_region(src[idsets.member(ids, scope)], region, params["max_radius_arcsec"])
    kept = idsets.union(scope, retired)
    prev = links[idsets.member(links["source_id"].to_numpy(np.int64), kept)]
    inside = idsets.member(links["object_key"].to_numpy(np.int64),
                           prev["object_key"].to_numpy(np.int64))
    split = idsets.difference(links["source_id"].to_numpy(np.int64)[inside], kept)
    if len(split):
        raise BadSources(f"previous objects of the scope also hold source(s) "
                         f"{split[:10].tolist()} outside it: sources lacks part of the "
                         f"neighbourhood, or previous is not the grouping of it")
    sol = associate_sources(src[idsets.member(ids, scope)].reset_index(drop=True), params)
    prev_key = pd.Series(prev["object_key"].to_numpy(np.int64),
                         index=prev["source_id"].to_numpy(np.int64))
    pk = prev_key.reindex(sol.src["source_id"].to_numpy()).fillna(-1).to_numpy(np.int64)
    if next_key is None:
        all_keys = links["object_key"].to_numpy(np.int64)
        next_key = int(all_keys.max()) + 1 if len(all_keys) else 1
    keys = assign_keys(sol.label, pk, sol.first_member(), next_key)
    grouping = sol.grouping(keys, params)
    started, ended = _diff_links(prev, grouping.links, changed)
    return Regrouping(scope, retired, grouping, started, ended,
                      _updated(prev, grouping, changed))


def apply_regroup(previous: Grouping, regrouping: Regrouping) -> Grouping:
    """The whole grouping after ``regrouping``: ``previous`` with the scope replaced."""
    gone = idsets.union(regrouping.scope, regrouping.retired)
    links = previous.links[~idsets.member(previous.links["source_id"].to_numpy(np.int64), gone)]
    links = pd.concat([links, regrouping.grouping.links], ignore_index=True)
    links = links.sort_values("source_id", kind="stable", ignore_index=True)
    drop = idsets.union(regrouping.updated["object_key"].to_numpy(np.int64),
                        regrouping.grouping.objects["object_key"].to_numpy(np.int64))
    objects = previous.objects[~idsets.member(
        previous.objects["object_key"].to_numpy(np.int64), drop)]
    objects = pd.concat([objects, regrouping.grouping.objects], ignore_index=True)
    objects = objects.sort_values("object_key", kind="stable", ignore_index=True)
    return Grouping.from_links(links, objects, regrouping.grouping.params)
