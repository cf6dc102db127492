"""Bayesian multi-catalogue counterparts of X-ray sources, in the manner of NWAY.

The method is NWAY's (Salvato et al. 2018, MNRAS 473, 4937, appendix; Budavari & Szalay
2008, ApJ 679, 301), implemented here on numpy arrays: for every X-ray (primary) source
all combinations of its candidates across the K surveys are formed, "none" included in
each survey, and each combination gets

- a Bayes factor B from the positions of its n = 1 + (number of survey sources) members:
  the likelihood that they are one object at one (unknown) position, over the likelihood
  that they are unrelated. With Gaussian 1-sigma covariances C_i (precisions W_i = C_i^-1,
  in rad^-2) and tangent-plane offsets x_i::

      ln B = (n - 1) ln 2 + 1/2 sum_i ln det W_i - 1/2 ln det(sum_i W_i)
             - 1/2 [sum_i x_i' W_i x_i - b' (sum_i W_i)^-1 b],   b = sum_i W_i x_i

  which is (4 pi)^(n-1) times the integral over the true position of the product of the
  members' Gaussians. For circles (W_i = w_i I) it is Budavari & Szalay's eq. 18,
  ``ln B = (n-1) ln 2 + sum ln w_i - ln sum w_i - sum_{i<j} w_i w_j psi_ij^2 / (2 sum w)``,
  identical to NWAY's; for ellipses it is the exact Gaussian form (NWAY only
  approximates ellipses by their width along the separation);
- a prior ``prior = prod_k c_k / (4 pi nu_k)`` over the surveys k in the combination,
  with c_k the survey's completeness and nu_k its source density (per steradian) around
  this X-ray source (1 for the combination with no counterpart), as NWAY's
  ``prior_completeness`` and source densities;
- optionally (NWAY's default, ``consider_unrelated_associations``), for a combination
  that lacks two or more surveys, the factor by which the best association among its
  missing surveys' candidates alone (unrelated to the X-ray source) beats chance, when
  above 1: ``max(1, max_T B_T nu_first(T) / prod_{k in T} nu_k)`` with the densities as
  full-sky counts 4 pi nu.

The weight of a combination is ``B * prior``; within one X-ray source's combinations:

- ``p_any = 1 - weight(none) / sum(weights)``: the X-ray source has a counterpart in at
  least one survey;
- ``p_i = weight / sum(weights of the combinations other than none)``: the probability
  of this combination given that there is a counterpart (NWAY's ``p_i``; 0 for none);
- ``match_flag``: 1 for the most probable combination, 2 for those with
  ``p_i > prob_ratio_secondary * max p_i``, else 0 (0 for none).

The marginal probability that survey source j is the counterpart in survey k is the sum
of ``weight / sum(weights)`` over the combinations that contain j: the posterior
normalised over all hypotheses, "no counterpart in k" included
(``p_match = p_any * sum of p_i``); ``1 - sum_j p_match`` is the probability of no
counterpart in survey k.

Everything is vectorised over X-ray sources: combinations are built survey by survey
(a loop over the K surveys and over the 2^K presence patterns, never over sources), in
blocks of X-ray sources that bound the memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from associate.candidates import Candidates, SearchRule, find_candidates, offset_position
from associate.inputs import (FOUR_PI, PrimaryArrays, Survey, primary_arrays,
                              survey_arrays, survey_densities)
from catalog.errors import InputError

LN10 = np.log(10.0)
_LN_ARCSEC_PER_RAD = np.log(180.0 * 3600.0 / np.pi)
#: ln of the Bayes factor normalisation per added member: ln 2 + 2 ln(arcsec per rad),
#: the precisions being in arcsec^-2.
_LN_NORM = np.log(2.0) + 2.0 * _LN_ARCSEC_PER_RAD


@dataclass(frozen=True)
class Association:
    """Result of :func:`associate`.

    Attributes
    ----------
    combinations : pandas.DataFrame
        One row per combination (NWAY's output table), grouped by X-ray source, the
        no-counterpart combination first:
        ``primary_id``; ``<survey>_id`` (null when the survey has no member);
        ``sep_<survey>_arcsec`` (from the X-ray source, at the X-ray epoch; NaN when
        none); ``ncat`` (1 + number of members); ``log_bf`` (log10 Bayes factor, the
        unrelated-association factor included); ``log_bf_unrelated`` (that factor,
        log10, >= 0); ``prior``; ``p_single`` (NWAY's posterior of this combination
        against chance alone, ``1 / (1 + (1 - prior) / (prior B))``); ``p_i``;
        ``p_any`` (repeated on every row of the source); ``match_flag``.
    counterparts : pandas.DataFrame
        One row per (X-ray source, survey, candidate):
        ``primary_id``, ``survey``, ``survey_id``, ``survey_row`` (0-based row of the
        survey table given); ``sep_arcsec`` (at the X-ray epoch); ``sep_sigma``
        (separation in combined 1-sigma errors along its direction, ellipses included);
        ``ra_deg``, ``dec_deg`` (the survey position moved to the X-ray epoch);
        ``p_match`` (probability that this source is the counterpart in this survey,
        normalised over all hypotheses including none); ``p_match_given_any``
        (``p_match / p_any``; NaN when p_any is 0); ``p_none_survey`` (probability of
        no counterpart in this survey, the same on every row of the source and survey);
        ``best`` (the most probable candidate of its survey, when its p_match beats
        ``p_none_survey``).
    sources : pandas.DataFrame
        One row per X-ray source, in input order: ``primary_id``, ``p_any``,
        ``n_combinations``, ``n_<survey>`` (candidates found), ``radius_<survey>_arcsec``
        (radius searched around it: "no counterpart" is said only within it).
    """

    combinations: pd.DataFrame
    counterparts: pd.DataFrame
    sources: pd.DataFrame


def _precisions(cov):
    """Precision matrices (wxx, wxy, wyy) and ln det W of covariances (cxx, cxy, cyy)."""
    cxx, cxy, cyy = cov
    det = cxx * cyy - cxy * cxy
    if np.any(~(det > 0)):
        raise InputError("a positional covariance is not positive definite")
    return (cyy / det, -cxy / det, cxx / det), -np.log(det)


@dataclass
class _Members:
    """Per-candidate terms of one survey: precision, ln det, W x and x' W x."""

    w: tuple[np.ndarray, np.ndarray, np.ndarray]
    ldw: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    q: np.ndarray
    ln_prior: np.ndarray      # ln c_k - ln(4 pi nu_k) of the candidate's primary
    ln_count: np.ndarray      # ln(4 pi nu_k) of the candidate's primary

    @classmethod
    def of(cls, cand: Candidates, ln_count_p: np.ndarray, completeness: float):
        w, ldw = _precisions(cand.cov)
        bx = w[0] * cand.x + w[1] * cand.y
        by = w[1] * cand.x + w[2] * cand.y
        ln_count = ln_count_p[cand.prim]
        return cls(w, ldw, bx, by, cand.x * bx + cand.y * by,
                   np.log(completeness) - ln_count, ln_count)


def _ln_bf(sw, sld, sbx, sby, sq, n_members):
    """ln Bayes factor from summed member terms (n_members = n - 1 added members)."""
    det = sw[0] * sw[2] - sw[1] * sw[1]
    quad = (sw[2] * sbx * sbx - 2 * sw[1] * sbx * sby + sw[0] * sby * sby) / det
    return n_members * _LN_NORM + 0.5 * sld - 0.5 * np.log(det) - 0.5 * (sq - quad)


def _chunks(counts: Sequence[np.ndarray], limit: int) -> list[tuple[int, int]]:
    """Blocks [lo, hi) of primaries whose combination upper bound stays under limit."""
    n = len(counts[0]) if counts else 0
    bound = np.ones(n)
    for c in counts:
        bound *= c + 1
    cum = np.cumsum(bound)
    blocks, lo = [], 0
    while lo < n:
        base = cum[lo - 1] if lo else 0.0
        hi = int(np.searchsorted(cum, base + limit, side="right"))
        hi = max(hi, lo + 1)
        blocks.append((lo, hi))
        lo = hi
    return blocks


def _enumerate(lo: int, hi: int, cands: Sequence[Candidates], rule: SearchRule):
    """Combinations of primaries lo..hi-1: (primary index, member rows per survey).

    Members are rows of each survey's Candidates (-1 = none); rows are ordered by
    primary then lexicographically by member with none first, so each primary's
    no-counterpart combination comes first.
    """
    prim = np.arange(lo, hi)
    members: list[np.ndarray] = []
    for k, cand in enumerate(cands):
        reps = cand.counts[prim] + 1
        first = np.cumsum(reps) - reps
        prim = np.repeat(prim, reps)
        within = np.arange(len(prim)) - np.repeat(first, reps)
        mem = np.where(within == 0, -1, cand.start[prim] + within - 1)
        members = [np.repeat(m, reps) for m in members]
        keep = None
        for j, other in enumerate(members):
            both = (mem >= 0) & (other >= 0)
            if not both.any():
                continue
            a, b = mem[both], other[both]
            ok = rule.pair_ok(cand.x[a] - cands[j].x[b], cand.y[a] - cands[j].y[b],
                              tuple(c[a] for c in cand.cov),
                              tuple(c[b] for c in cands[j].cov), rule.n_sigma_pair)
            if not ok.all():
                keep = np.ones(len(mem), bool) if keep is None else keep
                keep[np.flatnonzero(both)[~ok]] = False
        members.append(mem)
        if keep is not None:
            prim = prim[keep]
            members = [m[keep] for m in members]
    return prim, members


def _group_lse(w: np.ndarray, start: np.ndarray) -> np.ndarray:
    """log-sum-exp of w within groups starting at start (all groups non-empty)."""
    mx = np.maximum.reduceat(w, start)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    counts = np.diff(np.append(start, len(w)))
    with np.errstate(under="ignore"):
        s = np.add.reduceat(np.exp(w - np.repeat(safe, counts)), start)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(mx), safe + np.log(s), mx)


@dataclass
class _Sums:
    """Sums of the survey members' terms over each combination (primary excluded)."""

    w: list[np.ndarray]
    ldw: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    q: np.ndarray
    ln_prior: np.ndarray
    n: np.ndarray             # number of survey members
    pattern: np.ndarray       # bit k set when survey k has a member
    ln_count_sum: np.ndarray  # sum of ln(4 pi nu_k) over the members
    ln_count_first: np.ndarray  # ln(4 pi nu_k) of the first member's survey


def _sums(members: Sequence[np.ndarray], terms: Sequence[_Members]) -> _Sums:
    n = len(members[0])
    z = np.zeros
    out = _Sums([z(n), z(n), z(n)], z(n), z(n), z(n), z(n), z(n), z(n, np.int64),
                z(n, np.int64), z(n), np.full(n, np.nan))
    for k, (mem, t) in enumerate(zip(members, terms)):
        pres = np.flatnonzero(mem >= 0)
        m = mem[pres]
        for i in range(3):
            out.w[i][pres] += t.w[i][m]
        out.ldw[pres] += t.ldw[m]
        out.bx[pres] += t.bx[m]
        out.by[pres] += t.by[m]
        out.q[pres] += t.q[m]
        out.ln_prior[pres] += t.ln_prior[m]
        out.n[pres] += 1
        out.pattern[pres] += 1 << k
        out.ln_count_sum[pres] += t.ln_count[m]
        fill = pres[np.isnan(out.ln_count_first[pres])]
        out.ln_count_first[fill] = t.ln_count[mem[fill]]
    return out


def _unrelated_correction(s: _Sums, prim: np.ndarray, lo: int, hi: int, K: int):
    """NWAY's factor (ln) for associations among the surveys a combination lacks.

    For each combination lacking the surveys M (|M| >= 2): the best, over the
    combinations of the same X-ray source whose members all lie in M (at least two),
    of ``ln B(members alone) + ln(N_first / prod N_k)`` (N = 4 pi nu), if positive.
    """
    corr = np.zeros(len(prim))
    multi = np.flatnonzero(s.n >= 2)
    if K < 2 or not len(multi):
        return corr
    with np.errstate(divide="ignore", invalid="ignore"):
        l_sec = (_ln_bf([w[multi] for w in s.w], s.ldw[multi], s.bx[multi], s.by[multi],
                        s.q[multi], s.n[multi] - 1)
                 + s.ln_count_first[multi] - s.ln_count_sum[multi])
    # best per (X-ray source, presence pattern), then per set of missing surveys
    best = np.full((hi - lo, 1 << K), -np.inf)
    np.maximum.at(best, (prim[multi] - lo, s.pattern[multi]), l_sec)
    pats = [p for p in range(1 << K) if bin(p).count("1") >= 2]
    sub_best = np.full_like(best, -np.inf)
    for missing in range(1 << K):
        cols = [p for p in pats if (p & ~missing) == 0]
        if cols:
            sub_best[:, missing] = best[:, cols].max(axis=1)
    full = (1 << K) - 1
    return np.maximum(sub_best[prim - lo, full & ~s.pattern], 0.0)


def _block(lo, hi, cands, terms, w0, ldw0, rule, unrelated, ratio):
    """Probabilities of the combinations of primaries lo..hi-1.

    Returns (per-combination arrays, per-primary arrays, normalised posterior of each
    combination over all of its primary's hypotheses).
    """
    prim, members = _enumerate(lo, hi, cands, rule)
    n = len(prim)
    s = _sums(members, terms)
    corr = (_unrelated_correction(s, prim, lo, hi, len(cands)) if unrelated
            else np.zeros(n))
    swt = [s.w[i] + w0[i][prim] for i in range(3)]
    ln_bf = _ln_bf(swt, s.ldw + ldw0[prim], s.bx, s.by, s.q, s.n)
    is_none = s.n == 0
    ln_bf[is_none] = 0.0
    ln_bf += corr
    ln_w = ln_bf + s.ln_prior

    # per X-ray source (contiguous, the no-counterpart combination first)
    start = np.flatnonzero(np.r_[True, prim[1:] != prim[:-1]])
    counts = np.diff(np.append(start, n))
    lse_all = _group_lse(ln_w, start)
    ln_w_any = np.where(is_none, -np.inf, ln_w)
    lse_any = _group_lse(ln_w_any, start)
    with np.errstate(invalid="ignore", over="ignore"):
        p_any_g = -np.expm1(ln_w[start] - lse_all)
        p_i = np.exp(ln_w_any - np.repeat(lse_any, counts))
    p_any_g = np.where(np.isfinite(p_any_g), np.maximum(p_any_g, 0.0), 0.0)
    p_i = np.where(np.isfinite(p_i), p_i, 0.0)
    best_r = np.repeat(np.maximum.reduceat(p_i, start), counts)
    flag = np.where((p_i == best_r) & (best_r > 0), 1, np.where(p_i > ratio * best_r, 2, 0))
    flag[is_none] = 0
    prior = np.exp(s.ln_prior)
    with np.errstate(over="ignore", divide="ignore"):
        p_single = 1.0 / (1.0 + (1.0 - prior) * np.exp(-ln_bf - s.ln_prior))
    p_single[is_none] = 1.0
    comb = dict(prim=prim, members=members, ln_bf=ln_bf, corr=corr, prior=prior,
                p_single=p_single, p_i=p_i, p_any=np.repeat(p_any_g, counts), flag=flag,
                nsec=s.n)
    post = np.exp(ln_w - np.repeat(lse_all, counts))
    return comb, dict(prim=prim[start], p_any=p_any_g, ncomb=counts), post


def _ids_take(ids: pd.Series, rows: np.ndarray) -> pd.Series:
    """ids[rows], null where rows == -1 (nullable Int64 for integer ids, else object)."""
    rows = np.asarray(rows, dtype=np.int64)
    have = rows >= 0
    if pd.api.types.is_integer_dtype(ids.dtype):
        out = pd.array(np.zeros(len(rows), np.int64), dtype="Int64")
        out[have] = ids.to_numpy()[rows[have]]
        out[~have] = pd.NA
        return pd.Series(out)
    out = np.full(len(rows), None, dtype=object)
    out[have] = ids.to_numpy(dtype=object)[rows[have]]
    return pd.Series(out, dtype=object)


def associate(primary: pd.DataFrame, surveys: Sequence[Survey], *,
              systematic_arcsec: float | Mapping[str, float] = 0.0,
              rule: SearchRule | None = None,
              unrelated_associations: bool = True,
              prob_ratio_secondary: float = 0.5,
              min_p_i: float = 0.0,
              block_combinations: int = 2_000_000) -> Association:
    """Find the counterparts of X-ray sources in one or more surveys (NWAY's method).

    Parameters
    ----------
    primary : pandas.DataFrame
        The X-ray sources (see :mod:`associate.inputs` for the columns).
    surveys : sequence of Survey
        One entry per survey, in the order of the output columns.
    systematic_arcsec : float or mapping of str to float
        Systematic floor of the X-ray positions (per ``mission`` when a mapping).
    rule : SearchRule, optional
        Which sources are candidates (default: within 5 combined sigma, at most 30").
    unrelated_associations : bool
        Apply NWAY's correction for associations among the surveys that are unrelated
        to the X-ray source (the default of NWAY's command line).
    prob_ratio_secondary : float
        ``match_flag`` 2 for combinations with p_i above this fraction of the best.
    min_p_i : float
        Drop combinations with ``p_i < min_p_i`` from ``combinations`` (NWAY's
        ``--min-prob``; with a value > 0 the no-counterpart rows go too). The other
        tables are complete either way.
    block_combinations : int
        Upper bound of the combinations held at once (memory), before pruning.

    Returns
    -------
    Association

    Raises
    ------
    catalog.errors.InputError
        On a bad table, value or parameter, naming it.
    """
    rule = rule or SearchRule()
    rule.check()
    if not surveys:
        raise InputError("associate needs at least one survey")
    names = [s.name for s in surveys]
    if len(set(names)) != len(names):
        raise InputError(f"survey names must be unique, got {', '.join(names)}")
    if not 0 < prob_ratio_secondary <= 1:
        raise InputError(f"prob_ratio_secondary {prob_ratio_secondary!r} is not in (0, 1]")
    prim = primary_arrays(primary, systematic_arcsec)
    arrays = [survey_arrays(s) for s in surveys]
    dens = [survey_densities(primary, s) for s in surveys]
    cands = [find_candidates(prim, a, rule) for a in arrays]
    terms = [_Members.of(c, np.log(FOUR_PI * d), a.completeness)
             for c, d, a in zip(cands, dens, arrays)]
    w0, ldw0 = _precisions(prim.cov)

    parts, groups = [], []
    post_k = [np.zeros(len(c.prim)) for c in cands]
    for lo, hi in _chunks([c.counts for c in cands], block_combinations):
        comb, group, post = _block(lo, hi, cands, terms, w0, ldw0, rule,
                                   unrelated_associations, prob_ratio_secondary)
        for k, mem in enumerate(comb["members"]):
            pres = mem >= 0
            post_k[k] += np.bincount(mem[pres], weights=post[pres], minlength=len(post_k[k]))
        if min_p_i > 0:
            keep = comb["p_i"] >= min_p_i
            comb = {key: ([m[keep] for m in v] if key == "members" else v[keep])
                    for key, v in comb.items()}
        parts.append(comb)
        groups.append(group)
    return _tables(prim, arrays, cands, parts, groups, post_k)


def _cat(parts, key):
    return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0)


def _tables(prim: PrimaryArrays, arrays, cands, parts, groups, post_k) -> Association:
    ids = prim.ids.reset_index(drop=True)
    n_p = len(ids)
    cprim = _cat(parts, "prim").astype(np.int64)
    comb = {"primary_id": ids.take(cprim).reset_index(drop=True)}
    for k, (a, c) in enumerate(zip(arrays, cands)):
        mem = np.concatenate([p["members"][k] for p in parts]) if parts else np.zeros(0, int)
        rows = np.where(mem >= 0, c.src[np.maximum(mem, 0)] if len(c.src) else -1, -1)
        comb[f"{a.name}_id"] = _ids_take(a.ids, rows)
        comb[f"sep_{a.name}_arcsec"] = np.where(
            mem >= 0, c.sep[np.maximum(mem, 0)] if len(c.sep) else np.nan, np.nan)
    comb["ncat"] = _cat(parts, "nsec").astype(np.int64) + 1
    comb["log_bf"] = _cat(parts, "ln_bf") / LN10
    comb["log_bf_unrelated"] = _cat(parts, "corr") / LN10
    for key, col in (("prior", "prior"), ("p_single", "p_single"), ("p_i", "p_i"),
                     ("p_any", "p_any")):
        comb[col] = _cat(parts, key)
    comb["match_flag"] = _cat(parts, "flag").astype(np.int64)
    combinations = pd.DataFrame(comb)

    p_any = np.zeros(n_p)
    ncomb = np.zeros(n_p, np.int64)
    if groups:
        g = _cat(groups, "prim").astype(np.int64)
        p_any[g] = _cat(groups, "p_any")
        ncomb[g] = _cat(groups, "ncomb")
    src_tab = {"primary_id": ids, "p_any": p_any, "n_combinations": ncomb}
    for a, c in zip(arrays, cands):
        src_tab[f"n_{a.name}"] = c.counts
        src_tab[f"radius_{a.name}_arcsec"] = c.radius
    sources = pd.DataFrame(src_tab)

    frames = []
    for k, (a, c) in enumerate(zip(arrays, cands)):
        p = post_k[k]
        nc = c.counts
        p_none = 1.0 - np.bincount(c.prim, weights=p, minlength=n_p)
        p_none = np.clip(p_none, 0.0, 1.0)
        best = np.zeros(len(p), bool)
        if len(p):
            has = np.flatnonzero(nc > 0)
            starts = c.start[has]
            mx = np.maximum.reduceat(p, starts)
            # first (nearest) of the most probable candidates of each primary
            is_max = p == np.repeat(mx, nc[has])
            first_max = np.flatnonzero(is_max)
            grp = np.searchsorted(starts, first_max, side="right") - 1
            _, pick = np.unique(grp, return_index=True)
            chosen = first_max[pick]
            best[chosen] = p[chosen] > p_none[c.prim[chosen]]
        pa = p_any[c.prim]
        cxx = prim.cov[0][c.prim] + c.cov[0]
        cxy = prim.cov[1][c.prim] + c.cov[1]
        cyy = prim.cov[2][c.prim] + c.cov[2]
        det = cxx * cyy - cxy * cxy
        m2 = (cyy * c.x ** 2 - 2 * cxy * c.x * c.y + cxx * c.y ** 2) / det
        ra, dec = offset_position(prim.ra[c.prim], prim.dec[c.prim], c.x, c.y)
        with np.errstate(invalid="ignore", divide="ignore"):
            given = np.where(pa > 0, p / pa, np.nan)
        frames.append(pd.DataFrame({
            "primary_id": ids.take(c.prim).reset_index(drop=True),
            "survey": a.name,
            "survey_id": _ids_take(a.ids, c.src).astype(object),
            "survey_row": c.src,
            "sep_arcsec": c.sep,
            "sep_sigma": np.sqrt(m2),
            "ra_deg": ra,
            "dec_deg": dec,
            "p_match": p,
            "p_match_given_any": np.minimum(given, 1.0),
            "p_none_survey": p_none[c.prim],
            "best": best,
        }))
    counterparts = pd.concat(frames, ignore_index=True)
    return Association(combinations=combinations, counterparts=counterparts, sources=sources)

