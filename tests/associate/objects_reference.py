"""A brute-force O(N^2) evaluation of the cross-mission object rules, written plainly
from the rules in associate/objects.py's docstring (astropy separations, Python loops),
for the tests to compare the vectorised implementation with."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord


def brute_force(sources: pd.DataFrame, *, n_sigma: float, floors: dict,
                max_radius_arcsec: float) -> dict:
    """Per source id: object (frozenset of member ids), linked id, link separation and
    n_sigma, ambiguous, alternatives [(id, separation, n_sigma)] best first."""
    s = sources.sort_values("source_id").reset_index(drop=True)
    ids = s["source_id"].tolist()
    cats = s["catalog"].tolist()
    sig = np.sqrt(s["pos_err_arcsec"].to_numpy() ** 2
                  + np.array([floors[c] for c in cats]) ** 2)
    c = SkyCoord(s["ra"].to_numpy() * u.deg, s["dec"].to_numpy() * u.deg)
    n = len(s)
    sep = np.array([c[i].separation(c).arcsec for i in range(n)])
    cand = {}  # (i, j) -> (z, sep)
    for i in range(n):
        for j in range(n):
            comb = np.hypot(sig[i], sig[j])
            if (i != j and cats[i] != cats[j] and sep[i, j] <= n_sigma * comb
                    and sep[i, j] <= max_radius_arcsec):
                cand[i, j] = (sep[i, j] / comb, sep[i, j])
    best = {}
    for (i, j), (z, d) in cand.items():
        key = (z, d, ids[j])
        if (i, cats[j]) not in best or key < best[i, cats[j]][0]:
            best[i, cats[j]] = (key, j)
    mutual = sorted((cand[i, j][0], cand[i, j][1], ids[i], ids[j], i, j)
                    for (i, j) in cand if i < j
                    and best[i, cats[j]][1] == j and best[j, cats[i]][1] == i)
    root = list(range(n))
    members = {i: {i} for i in range(n)}

    def find(x):
        while root[x] != x:
            x = root[x]
        return x

    tree = {i: [] for i in range(n)}
    for z, d, _, _, i, j in mutual:
        a, b = find(i), find(j)
        if a == b or {cats[k] for k in members[a]} & {cats[k] for k in members[b]}:
            continue
        root[b] = a
        members[a] |= members.pop(b)
        tree[i].append(j)
        tree[j].append(i)
    out = {}
    for group in members.values():
        obj = frozenset(ids[k] for k in group)
        anchor = min(group, key=lambda k: (sig[k], ids[k]))
        parent = {anchor: None}
        queue = deque([anchor])
        while queue:
            k = queue.popleft()
            for m in tree[k]:
                if m not in parent:
                    parent[m] = k
                    queue.append(m)
        for k in group:
            alts = sorted((cand[k, m][0], cand[k, m][1], ids[m]) for m in range(n)
                          if (k, m) in cand and m not in group)
            p = parent[k]
            out[ids[k]] = {
                "object": obj, "linked": None if p is None else ids[p],
                "separation": None if p is None else cand[k, p][1],
                "n_sigma": None if p is None else cand[k, p][0],
                "ambiguous": bool(alts),
                "alternatives": [(m, d, z) for z, d, m in alts]}
    return out
