"""Benchmark: livecat's counterpart engine against NWAY on the same simulated sky.

Builds N X-ray sources (default 100,000) with Gaia-like and 2MASS-like survey sources
fetched around each (default 3,000,000 survey sources in all, as livecat fetches them:
a disc around every X-ray source), associates all of them with livecat's engine, and runs
NWAY 4.8's command line (``nway.py``, the reference implementation, AGPL, a test
dependency) on the same input. NWAY is slow, so by default it runs on a random subset of
the X-ray sources (``--nway-subset``; 0 = all) and its time, less its fixed start-up
cost (measured on 20 sources), is scaled linearly to the full set, which flatters NWAY
(parts of it grow faster than linearly). The agreement is measured on that subset.

Sky: 80% of the X-ray sources lie off the Galactic plane (Gaia ~2 sources per 10"
radius, 2MASS ~0.8) and 20% in it (Gaia ~20, 2MASS ~8); X-ray 1-sigma errors 1-3";
70% of the X-ray sources are real objects, detected by Gaia with probability 0.8 and by
2MASS with 0.6 (the same object in both). All positions share one epoch (NWAY has no
proper motions). NWAY needs one source density per catalogue, so each of its runs holds
one kind of field (off the plane, in the plane), its SKYAREA set to give livecat's
density; livecat takes the density per X-ray source.

Both use NWAY's fixed radius (``--radius``, default 15" = 5 sigma of the largest X-ray
error) and its unrelated-association correction; livecat's combinations table is cut
at p_i >= 1e-4 to bound its size (p_any, the marginals and the agreement are unaffected
beyond 1e-4). livecat's default n-sigma search is timed as well.

Prints: times, sources/s, peak RSS, speed ratio and agreement (fraction of X-ray sources
with |delta p_any| < 0.01 and every |delta p_i| < 0.01).

Usage: python scripts/bench_counterparts.py [--n-xray 100000] [--n-survey 3000000]
       [--nway-subset 5000] [--radius 15] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from associate.bayes import associate
from scipy.spatial import cKDTree

from associate.candidates import ARCSEC_PER_RAD, SearchRule, offset_position, unit_vectors
from associate.inputs import Survey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "associate"))
from nway_reference import compare, run_nway_cli  # noqa: E402  (test-only helper)

ARCSEC2_PER_SR = ARCSEC_PER_RAD ** 2
#: sources per arcsec^2: (off the plane, in the plane)
DENSITY = {"gaia": (2 / (np.pi * 100), 20 / (np.pi * 100)),
           "tmass": (0.8 / (np.pi * 100), 8 / (np.pi * 100))}
ERRORS = {"gaia": (0.01, 0.3), "tmass": (0.06, 0.2)}
DETECT = {"gaia": 0.8, "tmass": 0.6}
PLANE_FRACTION = 0.2


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_sky(rng, n_xray: int, n_survey: int):
    """X-ray table (with per-source densities) and one table per survey."""
    plane = rng.random(n_xray) < PLANE_FRACTION
    mean_density = sum(np.where(plane, d[1], d[0]).mean() for d in DENSITY.values())
    fetch = np.sqrt(n_survey / (n_xray * np.pi * mean_density))  # fetch radius, arcsec
    # X-ray sources spread over a band of sky (a few per square degree: fetch discs
    # almost never overlap)
    ra_t = rng.uniform(10, 350, n_xray)
    dec_t = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-40)),
                                             np.sin(np.radians(40)), n_xray)))
    err = rng.uniform(1.0, 3.0, n_xray)
    ra, dec = offset_position(ra_t, dec_t, rng.normal(0, 1, n_xray) * err,
                              rng.normal(0, 1, n_xray) * err)
    xray = pd.DataFrame({"id": np.arange(n_xray, dtype=np.int64), "ra": ra, "dec": dec,
                         "pos_err_arcsec": err, "epoch": 2016.0, "plane": plane})
    real = rng.random(n_xray) < 0.7
    surveys = {}
    for name, (d_off, d_in) in DENSITY.items():
        xray[f"density_{name}"] = np.where(plane, d_in, d_off) * ARCSEC2_PER_SR
        n_bg = rng.poisson(np.where(plane, d_in, d_off) * np.pi * fetch ** 2)
        host = np.repeat(np.arange(n_xray), n_bg)
        r = fetch * np.sqrt(rng.random(len(host)))
        phi = rng.uniform(0, 2 * np.pi, len(host))
        bra, bdec = offset_position(ra[host], dec[host], r * np.sin(phi), r * np.cos(phi))
        det = np.flatnonzero(real & (rng.random(n_xray) < DETECT[name]))
        serr = rng.uniform(*ERRORS[name], len(det))
        tra, tdec = offset_position(ra_t[det], dec_t[det], rng.normal(0, 1, len(det)) * serr,
                                    rng.normal(0, 1, len(det)) * serr)
        n = len(host) + len(det)
        surveys[name] = pd.DataFrame({
            "id": np.arange(n, dtype=np.int64),
            "ra": np.concatenate([bra, tra]), "dec": np.concatenate([bdec, tdec]),
            "pos_err_arcsec": np.concatenate([rng.uniform(*ERRORS[name], len(host)), serr]),
            "epoch": 2016.0,
            "host": np.concatenate([host, det])})
    return xray, surveys, fetch


def _survey_list(surveys, completeness=(0.9, 0.8)):
    return [Survey(name, t[["id", "ra", "dec", "pos_err_arcsec", "epoch"]], c)
            for (name, t), c in zip(surveys.items(), completeness)]


def run_ours(xray, surveys, rule, min_p_i):
    t0 = time.perf_counter()
    res = associate(xray.drop(columns="plane"), _survey_list(surveys), rule=rule,
                    min_p_i=min_p_i)
    return res, time.perf_counter() - t0


def run_nway_subset(xray, surveys, ids, radius, workdir):
    """NWAY on the X-ray sources ``ids`` and the survey sources fetched around them."""
    outs, wall, n_done, peak = [], 0.0, 0, 0.0
    for plane in (False, True):
        sub = xray[xray["id"].isin(ids) & (xray["plane"] == plane)]
        if sub.empty:
            continue
        tables, areas = {}, {}
        tree = cKDTree(unit_vectors(sub["ra"].to_numpy(), sub["dec"].to_numpy()))
        chord = 2 * np.sin((radius + 1.0) / ARCSEC_PER_RAD / 2)
        for name, t in surveys.items():
            # every survey source within the radius of a subset source, whichever X-ray
            # source it was fetched around
            d, _ = tree.query(unit_vectors(t["ra"].to_numpy(), t["dec"].to_numpy()), k=1,
                              distance_upper_bound=chord)
            tables[name] = t[np.isfinite(d)]
            density = DENSITY[name][int(plane)] * ARCSEC2_PER_SR
            areas[name] = (len(tables[name]) + 1) / density  # NWAY's (N + 1) / area
        out, w = run_nway_cli(workdir / ("plane" if plane else "off"), sub, tables,
                              areas["gaia"], radius, [0.9, 0.8], areas=areas)
        outs.append(out)
        wall += w
        n_done += len(sub)
        peak = max(peak, out.attrs["peak_rss_mb"])
    return pd.concat(outs, ignore_index=True), wall, n_done, peak


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-xray", type=int, default=100_000)
    ap.add_argument("--n-survey", type=int, default=3_000_000)
    ap.add_argument("--nway-subset", type=int, default=5000,
                    help="X-ray sources NWAY runs on (0 = all); its time is scaled")
    ap.add_argument("--radius", type=float, default=15.0, help="NWAY's --radius, arcsec")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    print(f"machine: {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    xray, surveys, fetch = build_sky(rng, args.n_xray, args.n_survey)
    n_surv = sum(len(t) for t in surveys.values())
    print(f"sky: {len(xray):,} X-ray sources ({xray['plane'].mean():.0%} in the plane), "
          f"{n_surv:,} survey sources ({', '.join(f'{k} {len(v):,}' for k, v in surveys.items())}"
          f") fetched within {fetch:.1f}\" of each; built in {time.perf_counter() - t0:.1f} s")
    rss_data = _rss_mb()

    fixed = SearchRule(radius_arcsec=args.radius)
    ours, t_ours = run_ours(xray, surveys, fixed, min_p_i=1e-4)
    rss_ours = _rss_mb()
    print(f"livecat, NWAY's fixed {args.radius:g}\" radius: {t_ours:.1f} s, "
          f"{len(xray) / t_ours:,.0f} X-ray sources/s, {len(ours.combinations):,} "
          f"combinations kept (p_i >= 1e-4), peak RSS {rss_ours:,.0f} MB "
          f"(data alone {rss_data:,.0f} MB)")
    default, t_def = run_ours(xray, surveys, SearchRule(), min_p_i=0.0)
    print(f"livecat, default 5-sigma search: {t_def:.1f} s, {len(xray) / t_def:,.0f} "
          f"X-ray sources/s, {len(default.combinations):,} combinations, peak RSS "
          f"{_rss_mb():,.0f} MB")
    del default

    ids = xray["id"].to_numpy()
    if args.nway_subset and args.nway_subset < len(ids):
        ids = np.sort(rng.choice(ids, args.nway_subset, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        ref, t_nway, n_nway, rss_nway = run_nway_subset(xray, surveys, ids, args.radius,
                                                        Path(tmp))
        # NWAY's fixed cost per run (interpreter, imports, FITS): two runs of 20 sources
        tiny = np.concatenate([xray.loc[xray["plane"] == p, "id"].to_numpy()[:10]
                               for p in (False, True)])
        _, t_fixed, _, _ = run_nway_subset(xray, surveys, tiny, args.radius,
                                           Path(tmp) / "tiny")
    # scaled linearly, the fixed cost counted once per run (two runs)
    scaled = t_fixed + (t_nway - t_fixed) * len(xray) / n_nway
    note = "" if n_nway == len(xray) else (
        f" on {n_nway:,} sources (of which {t_fixed:.1f} s fixed cost of its two runs), "
        f"scaled linearly to {len(xray):,}: {scaled:.0f} s")
    print(f"NWAY 4.8 command line: {t_nway:.1f} s{note}; {n_nway / t_nway:,.1f} X-ray "
          f"sources/s; peak RSS of the largest nway.py run {rss_nway:,.0f} MB")
    print(f"speed ratio (NWAY time / livecat time, same radius): {scaled / t_ours:,.0f}x")

    mine = ours.combinations[ours.combinations["primary_id"].isin(ids)]
    joined, src = compare(mine, ref, list(surveys))
    # combinations livecat dropped (p_i < 1e-4) count as p_i = 0
    joined["p_i"] = joined["p_i"].fillna(0.0)
    srcs = ours.sources.set_index("primary_id")["p_any"]
    src["p_any"] = srcs.reindex(src.index)
    dp_any = (src["p_any"] - src["p_any_nway"]).abs()
    dp_i = (joined["p_i"] - joined["p_i_nway"].fillna(0.0)).abs().groupby(
        joined["primary_id"]).max().reindex(src.index)
    only_nway = (joined["_merge"] == "right_only") & (joined["p_i_nway"] >= 1e-4)
    # NWAY's flat-sky hashing (buckets of the radius in raw RA degrees, no cos dec)
    # misses some candidates within the radius away from the equator
    cand = ours.counterparts[ours.counterparts["primary_id"].isin(ids)]
    seen = set()
    for name in surveys:
        seen |= {(p, name, s) for p, s in zip(ref["primary_id"], ref[f"{name}_id"]) if s >= 0}
    lacking = {p for p, name, s in zip(cand["primary_id"], cand["survey"], cand["survey_id"])
               if (p, name, s) not in seen}
    ok = (dp_any < 0.01) & (dp_i < 0.01)
    full = ~src.index.isin(list(lacking))
    print(f"agreement on {len(src):,} X-ray sources: |dp_any| < 0.01 for "
          f"{(dp_any < 0.01).mean():.4%}, all |dp_i| < 0.01 for {(dp_i < 0.01).mean():.4%}, "
          f"both {ok.mean():.4%}; max |dp_any| {dp_any.max():.2e}, max |dp_i| "
          f"{dp_i.max():.2e}; combinations with p_i >= 1e-4 missing from livecat: "
          f"{int(only_nway.sum())}")
    print(f"X-ray sources for which NWAY missed a candidate within the radius: "
          f"{len(lacking):,}; on the other {full.sum():,}: both within 0.01 for "
          f"{ok[full].mean():.4%}, max |dp_any| {dp_any[full].max():.2e}, max |dp_i| "
          f"{dp_i[full].max():.2e}")

if __name__ == "__main__":
    main()
