#!/usr/bin/env python
"""Growth curves: livecat's PostgreSQL index at 1-30 million rows, and the LSDB association.

Part 1, one PostgreSQL (livecat's HEALPix btree): the table of ``scripts/bench_sky.py``
(uniform sky, 20 extra float columns, rows in random order; its helpers build the rows
and the cross-match input and time the cones) grown in place to each of ``--sizes``
(default 1, 10, 30 million rows). At each size: the btree (and primary key) rebuilt,
VACUUM ANALYZE, then ``--cones`` cone searches through the Python API
(:func:`catalog.sky.cone_search`, every column fetched) at 5" and 2' centred on table
rows (p50, p95, after a warm-up of 50), and the cross-match of ``--xmatch`` (300,000)
positions, a third within ~1" of a table row, at 2" (:func:`catalog.sky.crossmatch`).

Part 2, the association on Dask (``counterparts match --engine lsdb``): ``--xray``
(100,000) CSC-like X-ray sources (1-sigma errors 0.5-2") uniform in a 40 x 25 degree
field (~1,000 deg2), and synthetic Gaia-like surveys of each of ``--survey-sizes``
(default 10 and 30 million sources) in the same field (10,000 and 30,000 per deg2, the
range of Gaia DR3 away from the plane), written as HATS catalogs with livecat's writer
(:func:`catalog.hats.import_hats`, hats-import on a 2-worker local cluster). Each survey
is associated with ``--workers`` (default 1 and 2) local Dask worker processes
(:func:`associate.lsdb_match.match_with_lsdb`, radius ``--radius`` 10", no calibration):
total time, the part in Dask (gathering: LSDB cross-match, plus loading the sources found)
and the association proper (Bayes factors, densities, writing the run); "dask" is the
LSDB cross-match alone (``MatchSummary.dask_seconds``), the part the workers share.

Prints one table per part and the ratios the targets are about: cone p50 at the largest
size over the smallest (target < 1.5), association time per survey size (target:
linear) and 2 workers over 1 (target: < 1).

Needs a PostgreSQL server where it may create a database (``--server-url``, default
postgresql://postgres@127.0.0.1:5432/postgres, or LIVECAT_BENCH_SERVER_URL), the
``scale`` extra, and disk: about 9 GB for 30 million rows in PostgreSQL and 3 GB for the
HATS surveys (``--work-dir``, removed at the end unless ``--keep``).

Usage: python scripts/bench_scale.py [--sizes 1000000,10000000,30000000]
       [--survey-sizes 10000000,30000000] [--xray 100000] [--workers 1,2]
       quick: --sizes 100000,300000 --survey-sizes 200000,600000 --xray 5000 --cones 200
              --xmatch 30000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sky import (BENCH_SRC_DDL, left_positions, log, pct,  # noqa: E402
                       synthetic_sources, time_api_cones)

from catalog import migrate  # noqa: E402
from catalog.coords import parse_region  # noqa: E402
from catalog.engine import create_engine  # noqa: E402
from catalog.hats import import_hats, partition_order  # noqa: E402
from catalog.healpix import radec_to_hpx  # noqa: E402
from catalog.pgcopy import copy_columns  # noqa: E402
from catalog.sky import crossmatch  # noqa: E402

DB = "livecat_bench_scale"
FIELD = {"ra": (150.0, 190.0), "dec": (-12.5, 12.5)}
COPY_CHUNK = 2_000_000
WARM_UP_REGION = ("170", "0", "1deg")
MW_TABLES = "livecat.mw_association_run, livecat.mw_coverage, livecat.mw_source, " \
            "livecat.mw_counterpart"


def sizes(text: str) -> list[int]:
    return sorted(int(float(x)) for x in text.split(",") if x.strip())


def grow(url: str, rng, have: int, want: int) -> dict:
    """Append rows ``have+1..want`` to bench_src (created when ``have`` is 0) without
    its indexes, then rebuild them; returns the new positions and the timings."""
    t0 = time.perf_counter()
    ra, dec = [], []
    with psycopg.connect(url, autocommit=True) as conn:
        if have == 0:
            conn.execute(BENCH_SRC_DDL)
        conn.execute("DROP INDEX IF EXISTS livecat.bench_src_hpx")
        conn.execute("ALTER TABLE livecat.bench_src DROP CONSTRAINT IF EXISTS bench_src_pkey")
        for lo in range(have, want, COPY_CHUNK):
            cols = synthetic_sources(rng, min(COPY_CHUNK, want - lo), first_id=lo + 1)
            copy_columns(conn, "livecat.bench_src", cols)
            ra.append(cols["ra"])
            dec.append(cols["dec"])
        t1 = time.perf_counter()
        conn.execute("ALTER TABLE livecat.bench_src ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX bench_src_hpx ON livecat.bench_src (hpx)")
        t2 = time.perf_counter()
        conn.execute("VACUUM ANALYZE livecat.bench_src")
        size = conn.execute("SELECT pg_total_relation_size('livecat.bench_src')").fetchone()[0]
    return {"ra": np.concatenate(ra), "dec": np.concatenate(dec), "copy_s": t1 - t0,
            "index_s": t2 - t1, "bytes": size}


def index_curve(url: str, engine, args) -> list[dict]:
    """Part 1 (module docstring): one row per table size."""
    rng = np.random.default_rng(args.seed)
    have, ra, dec, rows = 0, np.empty(0), np.empty(0), []
    for n in sizes(args.sizes):
        log(f"growing bench_src to {n:,} rows ...")
        g = grow(url, rng, have, n)
        ra, dec, have = np.concatenate([ra, g["ra"]]), np.concatenate([dec, g["dec"]]), n
        pick = np.random.default_rng(args.seed + 7).choice(n, args.cones, replace=False)
        centres = list(zip(ra[pick], dec[pick]))
        row = {"rows": n, "gb": g["bytes"] / 1e9, "copy_s": g["copy_s"],
               "index_s": g["index_s"]}
        for radius in (5.0, 120.0):
            time_api_cones(engine, centres[:50], radius)
            lat, found = time_api_cones(engine, centres, radius)
            row[f"p50_{radius:g}"], row[f"p95_{radius:g}"] = pct(lat, 50), pct(lat, 95)
            row[f"n_{radius:g}"] = float(np.mean([len(s) for s in found]))
        lra, ldec = left_positions({"ra": ra, "dec": dec}, args.xmatch, args.xmatch // 3,
                                   args.seed)
        left = {"id": np.arange(1, args.xmatch + 1), "ra": lra, "dec": ldec}
        import pandas as pd

        t = time.perf_counter()
        pairs = crossmatch(engine, pd.DataFrame(left), "bench_src", 2.0)
        row["xmatch_s"], row["pairs"] = time.perf_counter() - t, len(pairs)
        log(f"  {n:,} rows: 5\" cone p50 {row['p50_5']:.3f} ms, cross-match "
            f"{row['xmatch_s']:.1f} s")
        rows.append(row)
    return rows


def in_field(rng, n: int):
    ra = rng.uniform(*FIELD["ra"], n)
    sin = np.sin(np.radians(FIELD["dec"]))
    return ra, np.degrees(np.arcsin(rng.uniform(sin[0], sin[1], n)))


def insert_xray(url: str, rng, n: int) -> None:
    """``n`` current CSC-like X-ray sources in the field (1-sigma 0.5-2" circles)."""
    ra, dec = in_field(rng, n)
    err = rng.uniform(0.5, 2.0, n) * 2.4477  # CSC publishes 95% ellipses (missions.py)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy("COPY livecat.xray_source (catalog, native_id, name, ra, dec, hpx, "
                      "pos_err_arcsec, err_maj_arcsec, err_min_arcsec, err_pa_deg) "
                      "FROM STDIN") as copy:
            for i, (a, d, h, e) in enumerate(zip(ra, dec, radec_to_hpx(ra, dec), err)):
                copy.write_row(("csc", f"X{i:07d}", f"X{i:07d}", float(a), float(d), int(h),
                                float(e) / 2.4477, float(e), float(e), 0.0))


def write_survey(work: Path, rng, n: int, client) -> tuple[Path, float]:
    """A Gaia-like survey of ``n`` sources in the field as a HATS catalog."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = work / f"rows-{n}"
    rows.mkdir(parents=True, exist_ok=True)
    files, ras, decs = [], [], []
    for lo in range(0, n, COPY_CHUNK):
        k = min(COPY_CHUNK, n - lo)
        ra, dec = in_field(rng, k)
        err = rng.uniform(0.02, 0.3, k)
        table = pa.table({
            "native_id": pa.array([f"{lo + i:012d}" for i in range(k)]), "ra": ra, "dec": dec,
            "err_maj_arcsec": err, "err_min_arcsec": err * rng.uniform(0.5, 1.0, k),
            "err_pa_deg": rng.uniform(0, 180, k), "epoch": np.full(k, 2016.0),
            "pmra": rng.normal(0, 5, k), "pmdec": rng.normal(0, 5, k),
            "gmag": rng.uniform(12, 21, k)})
        files.append(rows / f"part{lo // COPY_CHUNK:03d}.parquet")
        pq.write_table(table, files[-1])
        ras.append(ra)
        decs.append(dec)
    order = partition_order(np.concatenate(ras), np.concatenate(decs), 500_000, 30.0)
    t = time.perf_counter()
    path = import_hats(files, work, f"survey{n}", {"what": "survey:gaia_dr3",
                                                   "releases": f"bench-{n}"},
                       sort_columns=("native_id",), highest_order=order, margin_arcsec=30.0,
                       client=client)
    shutil.rmtree(rows)
    return path, time.perf_counter() - t


def association_curve(url: str, engine, args) -> list[dict]:
    """Part 2 (module docstring): one row per survey size and worker count."""
    from dask.distributed import Client

    from associate.lsdb_match import match_with_lsdb

    rng = np.random.default_rng(args.seed + 11)
    insert_xray(url, rng, args.xray)
    work = Path(args.work_dir)
    out, warm = [], True
    for n in sizes(args.survey_sizes):
        log(f"writing a {n:,}-source survey as HATS ...")
        with Client(n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
            path, import_s = write_survey(work, rng, n, client)
        if warm:  # the first run in a process compiles hats' numba functions (~10 s)
            match_with_lsdb(engine, [str(path)], catalogs=["csc"], radius_arcsec=args.radius,
                            calibration_sources=0, region=parse_region(*WARM_UP_REGION),
                            workers=1, processes=False)
            warm = False
        for workers in sizes(args.workers):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"TRUNCATE {MW_TABLES} CASCADE")
            with Client(n_workers=workers, threads_per_worker=1,
                        dashboard_address=None) as client:
                t = time.perf_counter()
                res = match_with_lsdb(engine, [str(path)], catalogs=["csc"],
                                      radius_arcsec=args.radius, calibration_sources=0,
                                      client=client)
                total = time.perf_counter() - t
            out.append({"survey": n, "workers": workers, "import_s": import_s,
                        "total_s": total, "gather_s": total - res.seconds,
                        "associate_s": res.seconds, "dask_s": res.dask_seconds,
                        "pairs": res.n_pairs,
                        "best": sum(res.n_best.values())})
            log(f"  {n:,} sources, {workers} worker(s): {total:.1f} s ({res.n_pairs:,} "
                f"candidates)")
        if not args.keep:
            shutil.rmtree(path)
    return out


def report(index_rows: list[dict], assoc_rows: list[dict], args) -> None:
    if index_rows:
        log(f"\nlivecat's index (one PostgreSQL): {args.cones} cones through the Python API, "
            f"cross-match of {args.xmatch:,} at 2\"")
        head = ["rows", "GB", "copy s", "index s", '5" p50', '5" p95', "2' p50", "2' p95",
                "rows/2'", "xmatch s", "pairs"]
        log(f"{head[0]:>12} {head[1]:>6} " + " ".join(f"{h:>8}" for h in head[2:]))
        for r in index_rows:
            log(f"{r['rows']:>12,} {r['gb']:6.2f} {r['copy_s']:8.1f} {r['index_s']:8.1f} "
                f"{r['p50_5']:8.3f} {r['p95_5']:8.3f} {r['p50_120']:8.3f} {r['p95_120']:8.3f} "
                f"{r['n_120']:8.1f} {r['xmatch_s']:8.2f} {r['pairs']:>8,}")
        first, last = index_rows[0], index_rows[-1]
        log(f"cone p50 growth {first['rows']:,} -> {last['rows']:,} rows: 5\" "
            f"{last['p50_5'] / first['p50_5']:.2f}x, 2' {last['p50_120'] / first['p50_120']:.2f}x"
            f" (target < 1.5x); cross-match {last['xmatch_s'] / first['xmatch_s']:.2f}x")
    if assoc_rows:
        log(f"\nLSDB association of {args.xray:,} X-ray sources within {args.radius:g}\" "
            f"(times in s; gather = LSDB cross-match on Dask + loading the sources found)")
        log(f"{'survey':>12} {'workers':>7} {'import':>7} {'total':>7} {'gather':>7} "
            f"{'dask':>7} {'assoc':>7} {'candidates':>10} {'best':>8}")
        for r in assoc_rows:
            log(f"{r['survey']:>12,} {r['workers']:>7} {r['import_s']:7.1f} {r['total_s']:7.1f} "
                f"{r['gather_s']:7.1f} {r['dask_s']:7.1f} {r['associate_s']:7.1f} "
                f"{r['pairs']:>10,} "
                f"{r['best']:>8,}")
        by = {(r["survey"], r["workers"]): r["total_s"] for r in assoc_rows}
        surveys, workers = sizes(args.survey_sizes), sizes(args.workers)
        for w in workers:
            if len(surveys) > 1:
                a, b = by[(surveys[0], w)], by[(surveys[-1], w)]
                log(f"{w} worker(s): {surveys[-1] / surveys[0]:.1f}x the survey took "
                    f"{b / a:.2f}x the time (linear: {surveys[-1] / surveys[0]:.1f}x)")
        dask = {(r["survey"], r["workers"]): r["dask_s"] for r in assoc_rows}
        if len(workers) > 1:
            for n in surveys:
                log(f"{n:,} sources: {workers[-1]} workers / {workers[0]} = "
                    f"{by[(n, workers[-1])] / by[(n, workers[0])]:.2f}x the time, "
                    f"{dask[(n, workers[-1])] / dask[(n, workers[0])]:.2f}x the Dask part")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000,30000000")
    ap.add_argument("--survey-sizes", default="10000000,30000000")
    ap.add_argument("--xray", type=int, default=100_000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--cones", type=int, default=1000)
    ap.add_argument("--xmatch", type=int, default=300_000)
    ap.add_argument("--radius", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-index", action="store_true", help="only part 2")
    ap.add_argument("--skip-lsdb", action="store_true", help="only part 1")
    ap.add_argument("--work-dir", default="/tmp/livecat-bench-scale")
    ap.add_argument("--server-url", default=os.environ.get(
        "LIVECAT_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--keep", action="store_true", help="keep the database and HATS files")
    args = ap.parse_args()

    with psycopg.connect(args.server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
        version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
    url = psycopg.conninfo.make_conninfo(args.server_url, dbname=DB)
    engine = create_engine("postgresql+psycopg://" + args.server_url.split("://", 1)[1]
                           .rsplit("/", 1)[0] + f"/{DB}")
    migrate.upgrade(engine)
    log(f"{version}; {os.cpu_count()} cores")
    try:
        index_rows = [] if args.skip_index else index_curve(url, engine, args)
        if index_rows and not args.keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP TABLE livecat.bench_src")
        assoc_rows = [] if args.skip_lsdb else association_curve(url, engine, args)
        report(index_rows, assoc_rows, args)
    finally:
        engine.dispose()
        if not args.keep:
            shutil.rmtree(args.work_dir, ignore_errors=True)
            with psycopg.connect(args.server_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
