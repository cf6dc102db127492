#!/usr/bin/env python
"""Benchmark livecat's HEALPix cone search and cross-match against Q3C and pgSphere.

One synthetic table of N sources (default 1,000,000) with 20 extra float columns, rows in
random order, indexed three ways in the same database: livecat's btree on ``hpx``, Q3C's
``q3c_ang2ipix(ra, dec)`` and pgSphere's GiST on ``spoint(ra, dec)``. Then:

* 1,000 cone searches centred on catalog sources at 5 arcsec, 2 arcmin and 30 arcmin,
  every method through the same psycopg client and session options as livecat's engine
  (prepared statements with generic plans, JIT off),
  fetching every column of every row: median and 95th-percentile latency;
* a cross-match of 300,000 sources (100,000 true counterparts within ~1 arcsec, the rest
  random) at 2 arcsec: livecat's ``catalog.sky.crossmatch`` versus ``q3c_join`` and
  pgSphere's ``<@ scircle`` join;

and prints livecat's times as ratios of theirs and whether the result sets are identical.

The extensions come from Debian (postgresql-15-q3c, postgresql-15-pgsphere); the script
installs them with apt-get when missing. It needs a PostgreSQL server where it may create a
database (default postgresql://postgres@127.0.0.1:5432/postgres; override with
--server-url or LIVECAT_BENCH_SERVER_URL).

Usage: python scripts/bench_sky.py [--rows 1000000] [--cones 1000] [--xmatch 300000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import migrate  # noqa: E402
from catalog.engine import SESSION_OPTIONS, create_engine  # noqa: E402
from catalog.healpix import cone_ranges, radec_to_hpx  # noqa: E402
from catalog.pgcopy import copy_columns  # noqa: E402
from catalog.sky import cone_search, cone_search_params, cone_search_sql, crossmatch  # noqa: E402

DB = "livecat_bench_sky"
N_EXTRA = 20
RADII = (5.0, 120.0, 1800.0)


def log(msg: str) -> None:
    print(msg, flush=True)


def ensure_extensions(admin_url: str) -> None:
    with psycopg.connect(admin_url) as conn:
        have = {r[0] for r in conn.execute(
            "SELECT name FROM pg_available_extensions WHERE name IN ('q3c', 'pg_sphere')")}
    if {"q3c", "pg_sphere"} <= have:
        return
    if not shutil.which("apt-get"):
        sys.exit("Q3C/pgSphere are not installed and apt-get is unavailable")
    log("installing postgresql-15-q3c and postgresql-15-pgsphere with apt-get ...")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15-q3c",
                    "postgresql-15-pgsphere"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


PGSPHERE_SQL = Path("/usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql")
# The two GAVO-compatibility operators @(bigint, smoc) and @(spoint, smoc) that upstream
# deleted (postgrespro/pgsphere issue #85, PR #92): PostgreSQL's stricter commutator check
# (now also in 15.x minor releases) refuses them, so Debian bookworm's pgSphere 1.1.1 fails
# `CREATE EXTENSION pg_sphere` with "commutator operator @> is already the commutator of
# operator <@". Nothing here uses them.
_OBSOLETE_MOC_OPERATORS = re.compile(
    r"CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(?:bigint|spoint),\s*RIGHTARG\s*=\s*smoc,.*?\);",
    re.S)


def create_pgsphere(conn) -> str:
    """CREATE EXTENSION pg_sphere, or, where the packaged script trips over the obsolete MOC
    operators, run that script without them (upstream's fix). Returns how it was installed."""
    try:
        conn.execute("CREATE EXTENSION pg_sphere")
        return "CREATE EXTENSION pg_sphere"
    except psycopg.errors.InvalidFunctionDefinition:
        pass
    script = PGSPHERE_SQL.read_text()
    script, n = _OBSOLETE_MOC_OPERATORS.subn("", script)
    script = "\n".join(line for line in script.splitlines() if not line.startswith("\\"))
    script = script.replace("MODULE_PATHNAME", "$libdir/pg_sphere")
    conn.execute(script)
    return f"{PGSPHERE_SQL.name} without the {n} obsolete @(.., smoc) operators (pgsphere #85)"


def uniform_sphere(rng, n):
    return rng.uniform(0.0, 360.0, n), np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))


def synthetic_sources(rng, n: int, first_id: int = 1) -> dict:
    """Columns of ``n`` sources uniform on the sky, ids first_id.. in random row order,
    with N_EXTRA float columns (the layout of ``livecat.bench_src``)."""
    ra, dec = uniform_sphere(rng, n)
    ids = rng.permutation(n).astype(np.int64) + first_id  # rows in random order
    cols = {"id": ids, "ra": ra, "dec": dec, "hpx": radec_to_hpx(ra, dec)}
    for k in range(N_EXTRA):
        cols[f"f{k:02d}"] = rng.normal(size=n)
    return cols


BENCH_SRC_DDL = ("CREATE TABLE livecat.bench_src (id bigint PRIMARY KEY, ra float8 NOT NULL, "
                 "dec float8 NOT NULL, hpx bigint NOT NULL, "
                 + ", ".join(f"f{k:02d} float8" for k in range(N_EXTRA)) + ")")


def build(url: str, n: int, seed: int) -> dict:
    """Create the benchmark table with the three indexes; return the source positions."""
    cols = synthetic_sources(np.random.default_rng(seed), n)
    ids, ra, dec = cols["id"], cols["ra"], cols["dec"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BENCH_SRC_DDL)
        t = time.perf_counter()
        copy_columns(conn, "livecat.bench_src", cols)
        log(f"  COPY {n:,} rows: {time.perf_counter() - t:.1f} s")
        for label, ddl in [
            ("btree(hpx)", "CREATE INDEX bench_src_hpx ON livecat.bench_src (hpx)"),
            ("q3c", "CREATE INDEX bench_src_q3c ON livecat.bench_src (q3c_ang2ipix(ra, dec))"),
            ("pgsphere", "CREATE INDEX bench_src_sph ON livecat.bench_src USING gist "
                         "(spoint(radians(ra), radians(dec)))"),
        ]:
            t = time.perf_counter()
            conn.execute(ddl)
            log(f"  index {label}: {time.perf_counter() - t:.1f} s")
        conn.execute("VACUUM ANALYZE livecat.bench_src")
    return {"id": ids, "ra": ra, "dec": dec}


CONE_SQL = {
    "q3c": ("SELECT t.* FROM livecat.bench_src t "
            "WHERE q3c_radial_query(t.ra, t.dec, %(ra)s, %(dec)s, %(r)s / 3600.0)"),
    "pgsphere": ("SELECT t.* FROM livecat.bench_src t WHERE spoint(radians(t.ra), "
                 "radians(t.dec)) <@ scircle(spoint(radians(%(ra)s), radians(%(dec)s)), "
                 "radians(%(r)s / 3600.0))"),
}


def time_cones(conn, method: str, centres, radius: float):
    """Latencies (s) and id sets of the cones of one method.

    livecat's time includes computing the cone's ranges in Python, and its statement is
    the one :func:`catalog.sky.cone_search` runs (without the ORDER BY, which the other
    methods do not have either).
    """
    lat, results = [], []
    for ra, dec in centres:
        t = time.perf_counter()
        if method == "livecat":
            ranges = cone_ranges(ra, dec, radius)
            sql = cone_search_sql("livecat.bench_src", len(ranges)).rsplit(" ORDER BY", 1)[0]
            params = cone_search_params(ra, dec, radius, ranges)
        else:
            sql, params = CONE_SQL[method], {"ra": float(ra), "dec": float(dec), "r": radius}
        rows = conn.execute(sql, params, prepare=True).fetchall()
        lat.append(time.perf_counter() - t)
        results.append(frozenset(r[0] for r in rows))
    return np.array(lat), results


def time_api_cones(engine, centres, radius: float):
    lat, results = [], []
    with engine.connect() as conn:
        for ra, dec in centres:
            t = time.perf_counter()
            df = cone_search(conn, "bench_src", float(ra), float(dec), radius)
            lat.append(time.perf_counter() - t)
            results.append(frozenset(df["id"].tolist()))
    return np.array(lat), results


def left_positions(src: dict, n: int, n_true: int, seed: int):
    """(ra, dec) of ``n`` sources to cross-match: ``n_true`` within ~1" of a source of
    ``src``, the rest uniform on the sky."""
    rng = np.random.default_rng(seed + 1)
    pick = rng.choice(len(src["ra"]), n_true, replace=False)
    sep = np.abs(rng.normal(0, 0.5, n_true)) / 3600.0  # ~1 arcsec true offsets
    ang = rng.uniform(0, 2 * np.pi, n_true)
    dec_t = np.clip(src["dec"][pick] + sep * np.sin(ang), -90, 90)
    ra_t = (src["ra"][pick] + sep * np.cos(ang) / np.maximum(np.cos(np.radians(dec_t)),
                                                             1e-6)) % 360
    ra_r, dec_r = uniform_sphere(rng, n - n_true)
    return np.concatenate([ra_t, ra_r]), np.concatenate([dec_t, dec_r])


def build_left(url: str, src: dict, n: int, n_true: int, seed: int) -> None:
    ra, dec = left_positions(src, n, n_true, seed)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE livecat.bench_left (id bigint PRIMARY KEY, ra float8 NOT NULL,"
                     " dec float8 NOT NULL, hpx bigint NOT NULL)")
        copy_columns(conn, "livecat.bench_left", {"id": np.arange(1, n + 1, dtype=np.int64),
                                                  "ra": ra, "dec": dec,
                                                  "hpx": radec_to_hpx(ra, dec)})
        conn.execute("CREATE INDEX ON livecat.bench_left (hpx)")
        conn.execute("CREATE INDEX ON livecat.bench_left (q3c_ang2ipix(ra, dec))")
        conn.execute("CREATE INDEX ON livecat.bench_left USING gist "
                     "(spoint(radians(ra), radians(dec)))")
        conn.execute("VACUUM ANALYZE livecat.bench_left")


XMATCH_SQL = {
    "q3c_join": ("SELECT l.id, r.id FROM livecat.bench_left l, livecat.bench_src r "
                 "WHERE q3c_join(l.ra, l.dec, r.ra, r.dec, %(r)s / 3600.0)"),
    "pgsphere": ("SELECT l.id, r.id FROM livecat.bench_left l JOIN livecat.bench_src r ON "
                 "spoint(radians(r.ra), radians(r.dec)) <@ scircle(spoint(radians(l.ra), "
                 "radians(l.dec)), radians(%(r)s / 3600.0))"),
}


def pct(a, q):
    return float(np.percentile(a, q)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cones", type=int, default=1000)
    ap.add_argument("--xmatch", type=int, default=300_000)
    ap.add_argument("--xmatch-true", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--server-url", default=os.environ.get(
        "LIVECAT_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = ap.parse_args()

    ensure_extensions(args.server_url)
    with psycopg.connect(args.server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    url = psycopg.conninfo.make_conninfo(args.server_url, dbname=DB)
    sa_url = "postgresql+psycopg://" + args.server_url.split("://", 1)[1].rsplit("/", 1)[0] \
        + f"/{DB}"
    engine = create_engine(sa_url)
    migrate.upgrade(engine)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION q3c")
        sphere = create_pgsphere(conn)
        version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
    log(f"pgSphere installed by: {sphere}")

    log(f"building {args.rows:,} sources with {N_EXTRA} extra float columns ({version}) ...")
    src = build(url, args.rows, args.seed)
    rng = np.random.default_rng(args.seed + 7)
    pick = rng.choice(args.rows, args.cones, replace=False)
    centres = list(zip(src["ra"][pick], src["dec"][pick]))

    log(f"\ncone search: {args.cones} cones centred on catalog sources, prepared statements, "
        f"jit off, all columns fetched")
    log(f"{'radius':>8} {'method':>14} {'p50 ms':>8} {'p95 ms':>8} {'rows/cone':>9} "
        f"{'identical':>9}")
    summary = {}
    with psycopg.connect(url, options=SESSION_OPTIONS) as conn:
        for radius in RADII:
            res = {}
            for method in ("livecat", "q3c", "pgsphere"):
                time_cones(conn, method, centres[:50], radius)  # warm-up: cache, prepare
                res[method] = time_cones(conn, method, centres, radius)
            time_api_cones(engine, centres[:50], radius)
            res["livecat API"] = time_api_cones(engine, centres, radius)
            ref = res["q3c"][1]
            for method, (lat, sets) in res.items():
                same = all(a == b for a, b in zip(sets, ref))
                log(f"{radius:>7g}\" {method:>14} {pct(lat, 50):8.3f} {pct(lat, 95):8.3f} "
                    f"{np.mean([len(s) for s in sets]):9.1f} {str(same):>9}")
            summary[radius] = {m: pct(v[0], 50) for m, v in res.items()}
            summary[radius]["identical"] = all(
                all(a == b for a, b in zip(v[1], ref)) for v in res.values())
    log("\ncone p50 ratios (livecat statement / other; < 1 means livecat is faster):")
    for radius, s in summary.items():
        log(f"  {radius:>6g}\": vs q3c {s['livecat'] / s['q3c']:.2f}x, vs pgSphere "
            f"{s['livecat'] / s['pgsphere']:.2f}x; full Python API (DataFrame) vs q3c "
            f"{s['livecat API'] / s['q3c']:.2f}x; results identical: {s['identical']}")

    log(f"\ncross-match: {args.xmatch:,} sources ({args.xmatch_true:,} true counterparts "
        f"within ~1\") against {args.rows:,} at 2\"")
    build_left(url, src, args.xmatch, args.xmatch_true, args.seed)
    times, pairs = {}, {}
    with psycopg.connect(url, options=SESSION_OPTIONS) as conn:
        for method, sql in XMATCH_SQL.items():
            t = time.perf_counter()
            rows = conn.execute(sql, {"r": 2.0}).fetchall()
            times[method] = time.perf_counter() - t
            pairs[method] = set(rows)
    for strategy in ("auto", "probe", "hash"):
        with engine.begin() as conn:
            t = time.perf_counter()
            df = crossmatch(conn, "bench_left", "bench_src", 2.0, strategy=strategy)
            times[f"livecat {strategy}"] = time.perf_counter() - t
            pairs[f"livecat {strategy}"] = set(zip(df["left_id"].tolist(),
                                                   df["right_id"].tolist()))
    ref = pairs["q3c_join"]
    for method, sec in times.items():
        log(f"  {method:>15}: {sec:7.2f} s  pairs {len(pairs[method]):,}  identical to q3c_join: "
            f"{pairs[method] == ref}")
    lc = times["livecat auto"]
    log(f"\ncross-match ratio (livecat auto / other): vs q3c_join {lc / times['q3c_join']:.2f}x, "
        f"vs pgSphere {lc / times['pgsphere']:.2f}x")
    engine.dispose()
    if not args.keep:
        with psycopg.connect(args.server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
