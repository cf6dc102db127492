#!/usr/bin/env python
"""Benchmark: end-to-end ``livecat ingest xmm --file`` of a 1,000,000-row slim catalogue.

Measures, in one run, on a fresh database (created on the server, migrated, dropped at
the end unless ``--keep``):

1. end-to-end ``livecat ingest xmm --file <fits> --release 4XMM-DR13`` as a subprocess:
   wall time and peak RSS of the subprocess (``resource.getrusage(RUSAGE_CHILDREN)``
   ``ru_maxrss``: the largest child waited for so far);
2. a raw COPY of the same rows into an unindexed table: read the FITS table, encode it
   as CSV and ``COPY ... FROM STDIN (FORMAT csv)`` into a plain table with one column per
   FITS column (no index, no constraint, no trigger) - the floor any loader must pay;
3. an immediate re-ingest (``--force``: the same file again) that must report 0 inserted,
   0 updated, 0 retired.

Prints the figures and the ratios against the targets (end-to-end within 2.5x of the raw
COPY, peak RSS under 2 GB, re-ingest within 1.5x of the first ingest).

Usage::

    python scripts/bench_ingest.py [--rows 1000000] [--url postgresql://postgres@127.0.0.1:5432/postgres]

``--url`` is a maintenance database on the server (default ``$LIVECAT_BENCH_ADMIN_URL``,
else ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_ingest(url: str, fits_path: Path, *extra: str) -> tuple[float, str]:
    env = {**os.environ, "LIVECAT_DATABASE_URL": url}
    env.pop("LIVECAT_TEST_PAUSE_BEFORE_COMMIT", None)
    t0 = time.perf_counter()
    proc = subprocess.run(["livecat", "ingest", "xmm", "--file", str(fits_path),
                           "--release", "4XMM-DR13", *extra], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"ingest failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def summary_counts(output: str) -> dict[str, int]:
    names = ["read", "inserted", "updated", "unchanged", "rejected", "retired"]
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line.strip().strip("│|"))]
        if len(cells) == 6 and all(c.isdigit() for c in cells):
            return dict(zip(names, map(int, cells)))
    sys.exit(f"no summary table in the ingest output:\n{output}")


def raw_copy(url: str, fits_path: Path) -> tuple[float, int]:
    """Read the FITS table and COPY it as CSV into an unindexed table; seconds, rows."""
    import psycopg

    from ingest.readers import read_fits_table

    t0 = time.perf_counter()
    df = read_fits_table(fits_path, str(fits_path))
    types = {"f": "float8", "i": "bigint", "u": "bigint", "b": "boolean"}
    cols = ", ".join(f'"{c.lower()}" {types.get(df[c].dtype.kind, "text")}'
                     for c in df.columns)
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as conn:
        conn.execute(f"CREATE UNLOGGED TABLE IF NOT EXISTS bench_raw ({cols})")
        conn.execute("TRUNCATE bench_raw")
        with conn.cursor() as cur:
            with cur.copy("COPY bench_raw FROM STDIN (FORMAT csv)") as copy:
                step = 100_000
                for start in range(0, len(df), step):
                    buf = io.StringIO()
                    df.iloc[start:start + step].to_csv(buf, header=False, index=False)
                    copy.write(buf.getvalue())
        rows = conn.execute("SELECT count(*) FROM bench_raw").fetchone()[0]
        conn.commit()
    return time.perf_counter() - t0, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get(
        "LIVECAT_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy.engine import make_url

    from catalog import migrate
    from catalog.engine import create_engine
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from xray_fixtures import write_slim_fits_fixture  # the test tree's fixture writer

    name = f"livecat_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.url.replace("postgresql://", "postgresql+psycopg://", 1)).set(
        database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            fits_path = Path(tmp) / "bench_slim.fits"
            t0 = time.perf_counter()
            write_slim_fits_fixture(fits_path, args.rows, seed=42)
            print(f"fixture: {args.rows:,} rows, {fits_path.stat().st_size / 1e6:.0f} MB "
                  f"written in {time.perf_counter() - t0:.1f} s")

            raw_s, raw_rows = raw_copy(url, fits_path)
            print(f"raw COPY (read FITS + CSV + COPY into an unindexed table): "
                  f"{raw_rows:,} rows in {raw_s:.1f} s")

            first_s, out1 = run_ingest(url, fits_path)
            rss_first_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            c1 = summary_counts(out1)
            print(f"first ingest: {first_s:.1f} s, peak RSS {rss_first_mb:.0f} MB, "
                  f"counts {c1}")

            again_s, out2 = run_ingest(url, fits_path, "--force")
            rss_all_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            c2 = summary_counts(out2)
            print(f"re-ingest: {again_s:.1f} s, peak RSS (max of both) {rss_all_mb:.0f} MB, "
                  f"counts {c2}")
        ratio = first_s / raw_s
        again_ratio = again_s / first_s
        noop = c2["inserted"] == 0 and c2["updated"] == 0 and c2["retired"] == 0
        print()
        print(f"end-to-end / raw COPY : {ratio:.2f}x   (target <= 2.5x) "
              f"{'OK' if ratio <= 2.5 else 'MISSED'}")
        print(f"peak RSS              : {rss_all_mb:.0f} MB (target < 2048 MB) "
              f"{'OK' if rss_all_mb < 2048 else 'MISSED'}")
        print(f"re-ingest / first     : {again_ratio:.2f}x   (target <= 1.5x) "
              f"{'OK' if again_ratio <= 1.5 else 'MISSED'}")
        print(f"re-ingest is a no-op  : {noop} (inserted {c2['inserted']}, updated "
              f"{c2['updated']}, retired {c2['retired']})")
        if not noop:
            sys.exit(1)
    finally:
        if not args.keep:
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
