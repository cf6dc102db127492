"""Benchmark: cross-mission objects at the real catalog sizes, full and incremental.

Builds a synthetic sky with CSC 400k, XMM 700k, eRASS1 900k and 2SXPS 200k sources and
measures:

1. the full association (:func:`associate.objects.match_missions`) in a child process:
   wall time and the child's peak RSS (``VmHWM``), input loading included;
2. an incremental update after 1 % of one catalog changes (default eRASS1: a third of
   that moved by a few arcsec, a third new, a third retired): the reads of
   :func:`associate.neighbourhood.gather_neighbourhood` against in-memory stand-ins of the
   database (a HEALPix index of the sources, the previous links by object), then
   :func:`associate.regroup.regroup`; checked against a full rebuild of the changed sky;
3. baselines measured in the same run: the full rebuild / incremental ratio, and the
   candidate search against astropy's ``search_around_sky`` at one fixed radius (the
   naive way: the largest n-sigma radius, then the n-sigma cut) on a subset.

The sky (assumptions, not a survey model): 10,000 pointed fields of 15' radius, each with
true objects at 0.35 per arcmin^2 (the detected CSC 2 density is ~0.2 per arcmin^2:
407,806 sources over ~560 deg^2, Evans et al. 2024); CSC observes 6,000 of the fields
(10' radius), XMM 7,000 (15'; 3,500 shared with CSC), Swift 4,000 (12'; 1,500 shared
with XMM, 1,000 with CSC); eRASS1 covers the Galactic half l > 180 deg and sees the
brightest field objects there plus a uniform population. Each object has a brightness;
a mission reports the brightest objects of its fields (brightness plus its own scatter),
so bright objects are seen by several missions, as in the real catalogs. 200 of the
fields are crowded (300 objects within 3').
Position errors (per-axis 1-sigma, as the loaders store them): CSC resampled from the
real NGC 3532 sample (``../shared/samples/csc/NGC3532_conesearch.csv`` through
``ingest.csc``: median 0.48"); XMM log-normal, median 1.0" (SC_POSERR ~1.4"), 0.2 dex;
eRASS1 median 4.0", 0.15 dex; 2SXPS median 2.3" (Err90 ~5"), 0.2 dex (assumed from the
catalog papers' typical values; the one-row samples are bright sources). Positions are
scattered by those errors with the mission floors (the model being tested).

Targets (issue 13): full < 3 min and < 4 GB; incremental < 5 s.

``--database`` measures the same sky in PostgreSQL instead: the real ``livecat objects
build`` (:func:`associate.object_build.build_objects`, fluxes and variability included),
full, after the same 1 % change applied as a re-ingest, and with nothing changed, per step
(``scripts/bench_missions_db.py``).

Usage: python scripts/bench_missions.py [--scale 1.0] [--seed 1] [--changed erass1]
       [--fraction 0.01] [--baseline-subset 200000] [--quick]
       [--database [--url postgresql://postgres@127.0.0.1:5432/postgres] [--keep]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from associate.candidates import offset_position, unit_vectors
from associate.neighbourhood import gather_neighbourhood
from associate.objects import (Grouping, check_sources, effective_sigma, match_missions,
                               resolve_params)
from associate.regroup import apply_regroup, regroup
from associate.simulate_missions import SimMission, in_disc, scatter
from associate.skycover import NEIGHBOURHOOD_ORDER
from associate.xpairs import candidate_pairs
from bench_missions_db import peak_rss_mb
from catalog.healpix import radec_to_hpx
from catalog.missions import MISSIONS

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
SIZES = {"csc": 400_000, "xmm": 700_000, "erass1": 900_000, "2sxps": 200_000}
#: field radius (arcmin) of the pointed missions
FIELD_RADIUS = {"csc": 10.0, "xmm": 15.0, "2sxps": 12.0}
#: columns of the sky that are the truth, not a catalog's
TRUTH = ["object", "bright"]


def _csc_errors() -> tuple:
    from ingest import csc

    path = SAMPLES / "csc" / "NGC3532_conesearch.csv"
    if not path.exists():
        sys.exit(f"missing sample {path}")
    return tuple(csc.normalize(csc.parse(path)).sources["pos_err_arcsec"].dropna())


def _sphere(rng, n):
    return rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))


def build_sky(rng, scale: float) -> pd.DataFrame:
    """The synthetic sky of the module docstring (``object`` = true object, ``bright`` its
    brightness)."""
    missions = {"csc": SimMission("csc", values=_csc_errors()),
                "xmm": SimMission("xmm", 1.0, 0.2), "erass1": SimMission("erass1", 4.0, 0.15),
                "2sxps": SimMission("2sxps", 2.3, 0.2)}
    n_fields = int(10_000 * scale)
    fra, fdec = _sphere(rng, n_fields)
    per_field = rng.poisson(0.35 * np.pi * 15.0 ** 2, n_fields)
    crowded = rng.choice(n_fields, int(200 * scale), replace=False)
    field_of = np.repeat(np.arange(n_fields), per_field)
    ra, dec = [], []
    crowded = set(crowded.tolist())
    for k in range(n_fields):  # per-field discs: offsets about the field centre
        radius = 180.0 if k in crowded else 900.0
        r, d = in_disc(rng, per_field[k], fra[k], fdec[k], radius)
        ra.append(r)
        dec.append(d)
    truth = pd.DataFrame({"ra": np.concatenate(ra), "dec": np.concatenate(dec),
                          "field": field_of, "bright": rng.random(len(field_of))})
    sep_arcmin = (SkyCoord(truth["ra"].to_numpy() * u.deg, truth["dec"].to_numpy() * u.deg)
                  .separation(SkyCoord(fra[field_of] * u.deg, fdec[field_of] * u.deg))
                  .arcmin)
    order = rng.permutation(n_fields)
    observed = {"csc": order[:int(6000 * scale)],
                "xmm": order[int(2500 * scale):int(9500 * scale)],
                "2sxps": np.concatenate([order[int(5000 * scale):int(8000 * scale)],
                                         order[:int(1000 * scale)]])}
    gal_l = SkyCoord(truth["ra"].to_numpy() * u.deg, truth["dec"].to_numpy() * u.deg
                     ).galactic.l.deg
    n_bg = int(SIZES["erass1"] * scale)
    bra, bdec = _sphere(rng, 2 * n_bg)
    keep_bg = SkyCoord(bra * u.deg, bdec * u.deg).galactic.l.deg > 180
    background = pd.DataFrame({"ra": bra[keep_bg], "dec": bdec[keep_bg], "field": -1,
                               "bright": rng.random(keep_bg.sum())})
    truth = pd.concat([truth, background], ignore_index=True)
    truth["object"] = np.arange(len(truth))
    parts, first_id = [], 1
    for cat, m in missions.items():
        n = int(SIZES[cat] * scale)
        if cat == "erass1":
            pool = np.flatnonzero(np.r_[gal_l > 180, np.ones(len(background), bool)])
            score = truth["bright"].to_numpy()[pool] + rng.normal(0, 0.3, len(pool))
            score[truth["field"].to_numpy()[pool] >= 0] -= 0.6  # few field objects
        else:
            radius = FIELD_RADIUS[cat]
            in_field = np.r_[np.isin(field_of, observed[cat]) & (sep_arcmin < radius),
                             np.zeros(len(background), bool)]
            pool = np.flatnonzero(in_field)
            score = truth["bright"].to_numpy()[pool] + rng.normal(0, 0.3, len(pool))
        seen = pool[np.argsort(-score)[:n]]
        t = truth.iloc[seen]
        err = m.draw(rng, len(t))
        ra, dec = scatter(rng, t["ra"], t["dec"],
                          np.hypot(err, MISSIONS[cat].cross_match_floor_arcsec))
        parts.append(pd.DataFrame({"source_id": np.arange(first_id, first_id + len(t)),
                                   "catalog": cat, "ra": ra, "dec": dec,
                                   "pos_err_arcsec": err, "object": t["object"].to_numpy(),
                                   "bright": t["bright"].to_numpy()}))
        first_id += len(t)
    return pd.concat(parts, ignore_index=True)




def child_full(path: str) -> None:
    """Run in a child process: one full association of the sources in ``path``."""
    sources = pd.read_parquet(path)
    rss_input = peak_rss_mb()
    t = time.perf_counter()
    g = match_missions(sources)
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb(),
                      "rss_after_input_mb": rss_input, "objects": len(g.objects)}))


def _quality(sky: pd.DataFrame, g: Grouping) -> dict:
    """Pairwise completeness and purity of 'same object' against the truth."""
    obj = sky.set_index("source_id")["object"]
    links = g.links.assign(true=obj.reindex(g.links["source_id"]).to_numpy())

    def pairs(df, key):
        sizes = df.groupby(key).size()
        return int((sizes * (sizes - 1) // 2).sum())

    true_pairs = pairs(links, "true")
    found = pairs(links, "object_key")
    both = pairs(links, ["true", "object_key"])
    return {"completeness": both / max(true_pairs, 1), "purity": both / max(found, 1),
            "true_pairs": true_pairs}


def _db_standins(grouping: Grouping, sources: pd.DataFrame):
    """In-memory stand-ins of the three database reads (indexed, as the tables are)."""
    links = grouping.links
    by_key = links.sort_values("object_key")
    keys = by_key["object_key"].to_numpy()
    key_of = pd.Series(links["object_key"].to_numpy(), index=links["source_id"].to_numpy())
    hpx = radec_to_hpx(sources["ra"], sources["dec"], NEIGHBOURHOOD_ORDER)
    order = np.argsort(hpx, kind="stable")
    hpx_sorted = hpx[order]
    by_id = sources.set_index("source_id", drop=False)

    def links_of(ids):
        k = np.unique(key_of.reindex(ids).dropna().to_numpy(np.int64))
        lo, hi = np.searchsorted(keys, k), np.searchsorted(keys, k, side="right")
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(k) else []
        return by_key.iloc[rows]

    def sources_by_id(ids):
        return by_id.loc[by_id.index.intersection(ids)].reset_index(drop=True)

    def sources_in_pixels(pixels, _order):
        lo = np.searchsorted(hpx_sorted, pixels)
        hi = np.searchsorted(hpx_sorted, pixels, side="right")
        rows = np.concatenate([order[a:b] for a, b in zip(lo, hi)])
        return sources.iloc[np.sort(rows)]

    return {"links_of": links_of, "sources_by_id": sources_by_id,
            "sources_in_pixels": sources_in_pixels}


def change(rng, sky: pd.DataFrame, catalog: str, fraction: float):
    """Move, add and retire ``fraction`` of ``catalog`` (a third each)."""
    ids = sky.loc[sky["catalog"] == catalog, "source_id"].to_numpy()
    k = max(3, int(len(ids) * fraction)) // 3
    pick = rng.choice(ids, 2 * k, replace=False)
    moved, retired = pick[:k], pick[k:]
    after = sky[~sky["source_id"].isin(retired)].copy()
    rows = after["source_id"].isin(moved).to_numpy()
    ra, dec = offset_position(after.loc[rows, "ra"].to_numpy(),
                              after.loc[rows, "dec"].to_numpy(),
                              *rng.normal(0, 3.0, (2, rows.sum())))
    after.loc[rows, "ra"], after.loc[rows, "dec"] = ra, dec
    template = sky[sky["catalog"] == catalog].sample(k, random_state=int(rng.integers(1 << 30)))
    new_ra, new_dec = offset_position(template["ra"].to_numpy(), template["dec"].to_numpy(),
                                      *rng.normal(0, 30.0, (2, k)))
    first = int(sky["source_id"].max()) + 1
    new = template.assign(source_id=np.arange(first, first + k), ra=new_ra, dec=new_dec,
                          object=-1)
    after = pd.concat([after, new], ignore_index=True)
    return after, np.concatenate([moved, new["source_id"].to_numpy()]), retired


def canonical(links: pd.DataFrame) -> pd.Series:
    """Per source, the sorted member ids of its object (object keys aside)."""
    members = links.groupby("object_key")["source_id"].agg(lambda s: tuple(sorted(s)))
    return links.set_index("source_id")["object_key"].map(members).sort_index()


def baseline_search(sky: pd.DataFrame, n: int) -> dict:
    """livecat's candidate search vs astropy search_around_sky on the first n sources."""
    sub = check_sources(sky.iloc[:0] if n <= 0 else sky.sample(n, random_state=1))
    params = resolve_params(sub["catalog"].unique())
    sigma = effective_sigma(sub, params)
    names, codes = np.unique(sub["catalog"].to_numpy(dtype=str), return_inverse=True)
    t = time.perf_counter()
    pairs = candidate_pairs(unit_vectors(sub["ra"], sub["dec"]), codes, sigma,
                            n_sigma=params["n_sigma"], max_radius_arcsec=120.0)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    c = SkyCoord(sub["ra"].to_numpy() * u.deg, sub["dec"].to_numpy() * u.deg)
    radius = min(120.0, params["n_sigma"] * np.sqrt(2) * sigma.max())
    i, j, d, _ = search_around_sky(c, c, radius * u.arcsec)
    keep = (i < j) & (codes[i] != codes[j])
    i, j, d = i[keep], j[keep], d[keep].arcsec
    keep = d <= params["n_sigma"] * np.hypot(sigma[i], sigma[j])
    astropy_s = time.perf_counter() - t
    same = set(zip(i[keep].tolist(), j[keep].tolist())) == set(zip(pairs.i.tolist(),
                                                                   pairs.j.tolist()))
    return {"n": len(sub), "ours_s": ours, "astropy_s": astropy_s, "radius": radius,
            "pairs": len(pairs), "same_pairs": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--changed", default="erass1")
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--baseline-subset", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true",
                    help="one full association in this process (its time and this "
                         "process's peak RSS, sky included), no rebuild check")
    ap.add_argument("--database", action="store_true",
                    help="measure `livecat objects build` in PostgreSQL instead "
                         "(scripts/bench_missions_db.py)")
    ap.add_argument("--url", default=os.environ.get(
        "LIVECAT_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="--database: a maintenance database on the server")
    ap.add_argument("--keep", action="store_true",
                    help="--database: keep the benchmark database")
    ap.add_argument("--child-full", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_full:
        return child_full(args.child_full)
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    sky = build_sky(rng, args.scale)
    print(f"sky built in {time.perf_counter() - t:.0f} s: "
          + ", ".join(f"{c} {n:,}" for c, n in sky["catalog"].value_counts().items()))
    n_seen = sky.groupby("object")["catalog"].nunique()
    print(f"true objects seen by >= 2 missions: {(n_seen >= 2).sum():,} "
          f"({(n_seen >= 2).mean():.1%} of the objects detected)")
    if args.database:
        from bench_missions_db import run_database

        return run_database(args, sky, rng, change, canonical)
    if args.quick:
        rss_input = peak_rss_mb()
        t = time.perf_counter()
        before = match_missions(sky.drop(columns=TRUTH))
        full = {"seconds": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb(),
                "rss_after_input_mb": rss_input}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sky.parquet"
            sky.drop(columns=TRUTH).to_parquet(path)
            out = subprocess.run([sys.executable, __file__, "--child-full", str(path)],
                                 capture_output=True, text=True, check=True)
        full = json.loads(out.stdout.strip().splitlines()[-1])
        before = match_missions(sky.drop(columns=TRUTH))
    q = _quality(sky, before)
    after, changed, retired = change(rng, sky, args.changed, args.fraction)
    current = after.drop(columns=TRUTH)
    stores = _db_standins(before, current)
    t = time.perf_counter()
    nb = gather_neighbourhood(changed, retired, before.params, **stores)
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    r = regroup(Grouping.from_links(nb.links, params=before.params), nb.sources,
                changed_ids=changed, retired_ids=retired, region=nb.region,
                next_key=int(before.links["object_key"].max()) + 1)
    t_regroup = time.perf_counter() - t
    if args.quick:  # the full association of the sky before stands in for a rebuild
        t_rebuild, same = full["seconds"], "not checked (--quick)"
    else:
        t = time.perf_counter()
        rebuilt = match_missions(current)
        t_rebuild = time.perf_counter() - t
        same = canonical(apply_regroup(before, r).links).equals(canonical(rebuilt.links))
    base = baseline_search(sky.drop(columns=TRUTH), args.baseline_subset)
    t_inc = t_read + t_regroup
    rows = [
        ("full association" + (" (this process)" if args.quick else " (child process)"),
         f"{full['seconds']:.1f} s", "< 180 s"),
        ("  peak RSS", f"{full['peak_rss_mb'] / 1024:.2f} GB "
                       f"(before it {full['rss_after_input_mb'] / 1024:.2f} GB)", "< 4 GB"),
        ("  objects / multi-member", f"{len(before.objects):,} / "
                                     f"{(before.objects['n_members'] > 1).sum():,}", ""),
        ("  same-object pairs vs truth", f"completeness {q['completeness']:.3f}, "
                                         f"purity {q['purity']:.3f}", ""),
        (f"incremental: {len(changed) + len(retired):,} {args.changed} changed", "", ""),
        ("  neighbourhood reads", f"{t_read:.2f} s ({nb.rounds} sky reads, "
                                  f"{len(nb.sources):,} sources)", ""),
        ("  regroup", f"{t_regroup:.2f} s (scope {len(r.scope):,} sources)", ""),
        ("  total", f"{t_inc:.2f} s", "< 5 s"),
        ("  started / ended links, updated objects",
         f"{len(r.started):,} / {len(r.ended):,}, {len(r.updated):,}", ""),
        ("  equals a full rebuild", str(same), "True"),
        ("baseline: full rebuild" + (" (the full association above)" if args.quick else ""),
         f"{t_rebuild:.1f} s ({t_rebuild / t_inc:.0f}x incremental)", ""),
        (f"baseline: candidate search, {base['n']:,} sources",
         f"livecat {base['ours_s']:.2f} s, astropy search_around_sky at "
         f"{base['radius']:.0f}\" {base['astropy_s']:.2f} s "
         f"({base['astropy_s'] / base['ours_s']:.1f}x), same pairs {base['same_pairs']}", ""),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"\n{'measure':<{width}}  {'value':<60}  target")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<60}  {c}")


if __name__ == "__main__":
    main()
