"""Benchmark: train a MUWCLASS run and classify many X-ray sources of a database with it.

1. Creates a fresh database on the benchmark server (``LIVECAT_BENCH_SERVER_URL`` or
   ``postgresql://postgres@127.0.0.1:5432/postgres``) and migrates it to head.
2. Trains a run on ``../shared/samples/muwclass/TD_train.csv`` with ``classify train``'s
   defaults (livecat features; forest of :data:`classify.model.LIVECAT_PARAMS`, 300 trees,
   ``max_features=0.5``; ``--param n_estimators=100 --param max_features=sqrt`` for the
   reference's forest) and prints the training time.
3. Inserts ``--sources`` X-ray sources (``xray_source`` + the CSC s/m/h fluxes in ``xray_source_flux``,
   binary/text COPY): TD rows drawn with replacement, each flux and its error scaled by a
   log-normal factor (0.2 dex) and the position scattered over the sky.
4. Classifies them all with ``--mc`` Monte Carlo samples each
   (:func:`classify.labels.classify_run`), labels written to the database with COPY.
5. Prints the rate in source-samples per second, the times and the peak RSS
   (``resource.getrusage``), then drops the database (unless ``--keep``).

Target (issue 6): 66,000 sources x 1000 samples in at most 15 minutes on 2 cores, peak
memory under 8 GB.

Each inserted source also gets the best counterparts of its TD row in ``mw_counterpart``
(a ``gaia_dr3`` row: G/BP/RP, parallax, proper motion, distance; ``2mass``: J/H/K;
``allwise``: W1-W3; only the surveys the TD row has), read back through the ``mw_best``
view, as a real field would be. ``--no-counterparts`` leaves them out.

Examples::

    python scripts/bench_classify.py                       # 66,000 x 1000
    python scripts/bench_classify.py --sources 2000 --mc 100   # quick
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import migrate
from catalog.engine import create_engine
from catalog.healpix import radec_to_hpx
from catalog.settings import normalize_url
from classify.labels import classify_run
from classify.measurements import Selection
from classify.runconfig import parse_params
from classify.runs import train_run

TD_CSV = Path(__file__).resolve().parents[2] / "shared" / "samples" / "muwclass" / "TD_train.csv"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
CATALOG = "bench"
BANDS = (("s", "Fs", 0.5, 1.2), ("m", "Fm", 1.2, 2.0), ("h", "Fh", 2.0, 7.0))


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_sources(td: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` TD rows drawn with replacement, fluxes scaled by 0.2-dex log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = td.iloc[rng.integers(0, len(td), n)].reset_index(drop=True)
    for _, col, _, _ in BANDS:
        factor = 10.0 ** rng.normal(0.0, 0.2, n)
        rows[col] = rows[col] * factor
        rows["e_" + col] = rows["e_" + col] * factor
    rows["ra"] = rng.uniform(0, 360, n)
    rows["dec"] = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return rows


SURVEYS = {
    "gaia_dr3": {"gmag": "Gmag", "e_gmag": "e_Gmag", "bpmag": "BPmag", "e_bpmag": "e_BPmag",
                 "rpmag": "RPmag", "e_rpmag": "e_RPmag", "plx": "Plx", "e_plx": "e_Plx",
                 "pm": "PM", "rgeo": "rgeo", "rgeo_lo": "b_rgeo", "rgeo_hi": "B_rgeo"},
    "2mass": {"jmag": "Jmag", "e_jmag": "e_Jmag", "hmag": "Hmag", "e_hmag": "e_Hmag",
              "kmag": "Kmag", "e_kmag": "e_Kmag"},
    "allwise": {"w1mag": "W1mag", "e_w1mag": "e_W1mag", "w2mag": "W2mag", "e_w2mag": "e_W2mag",
                "w3mag": "W3mag", "e_w3mag": "e_W3mag"},
}


def insert_counterparts(cur, sid: np.ndarray, rows: pd.DataFrame) -> None:
    """COPY the best counterpart per survey of every source (surveys its TD row has)."""
    for survey, cols in SURVEYS.items():
        values = rows[list(cols.values())].astype(float)
        has = values.notna().any(axis=1).to_numpy()
        frame = pd.DataFrame({"xray_source_id": sid[has], "survey": survey,
                              "survey_id": [f"{survey}-{i}" for i in np.flatnonzero(has)],
                              "is_best": "t", "matched_by": "bench"})
        for col, td_col in cols.items():
            frame[col] = values[td_col].to_numpy()[has]
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False)
        with cur.copy(f"COPY livecat.mw_counterpart ({', '.join(frame.columns)}) FROM STDIN "
                      f"WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())


def insert_sources(url: str, rows: pd.DataFrame, counterparts: bool = True) -> None:
    """COPY ``rows`` into xray_source, their s/m/h energy fluxes into xray_source_flux and
    (``counterparts``) their magnitudes into mw_counterpart."""
    hpx = radec_to_hpx(rows["ra"].to_numpy(), rows["dec"].to_numpy())
    flags = rows["CSCv2_flags"].fillna("").astype(str)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY livecat.xray_source (catalog, native_id, name, ra, dec, hpx, "
                          "flags) FROM STDIN") as copy:
                for i, (ra, dec, h, f) in enumerate(zip(rows["ra"], rows["dec"], hpx, flags)):
                    copy.write_row((CATALOG, f"B{i:07d}", f"bench {i}", float(ra), float(dec),
                                    int(h), json.dumps({"extended": "extent" in f,
                                                        "confused": "conf" in f,
                                                        "pileup": "pileup" in f})))
            ids = dict(cur.execute("SELECT native_id, id FROM livecat.xray_source "
                                   "WHERE catalog = %s", (CATALOG,)).fetchall())
            sid = np.array([ids[f"B{i:07d}"] for i in range(len(rows))], dtype=np.int64)
            buf = io.StringIO()
            for band, col, lo, hi in BANDS:
                v = rows[col].to_numpy(float)
                e = rows["e_" + col].to_numpy(float)
                pd.DataFrame({"source_id": sid, "band": band, "kind": "energy_flux",
                              "lo": lo, "hi": hi, "value": v, "vlo": v - e, "vhi": v + e}
                             ).to_csv(buf, index=False, header=False)
            # one xray_source_flux row per source (the xray_flux view's storage)
            cur.execute("CREATE TEMP TABLE bench_flux (source_id bigint, band text, kind text, "
                        "band_lo_kev float8, band_hi_kev float8, value float8, value_lo float8, "
                        "value_hi float8) ON COMMIT DROP")
            with cur.copy("COPY bench_flux FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
            arrays = ("band", "kind", "band_lo_kev", "band_hi_kev", "value", "value_lo",
                      "value_hi")
            cur.execute(f"INSERT INTO livecat.xray_source_flux (source_id, {', '.join(arrays)}) "
                        "SELECT source_id, "
                        + ", ".join(f"array_agg({c} ORDER BY band, kind)" for c in arrays)
                        + " FROM bench_flux GROUP BY source_id")
            if counterparts:
                insert_counterparts(cur, sid, rows)
        conn.execute("ANALYZE livecat.xray_source")
        conn.execute("ANALYZE livecat.mw_counterpart")
        conn.execute("ANALYZE livecat.xray_source_flux")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=66000, help="sources to classify")
    parser.add_argument("--mc", type=int, default=1000, help="Monte Carlo samples per source")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="threads")
    parser.add_argument("--param", action="append", default=[],
                        help="estimator parameter key=value (default: classify train's, "
                             "300 trees, max_features 0.5)")
    parser.add_argument("--features", default="livecat", choices=["reference", "livecat"])
    parser.add_argument("--csv", type=Path, default=TD_CSV, help="training set CSV")
    parser.add_argument("--server", default=os.environ.get("LIVECAT_BENCH_SERVER_URL",
                                                           DEFAULT_SERVER))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--no-counterparts", action="store_true",
                        help="X-ray data only (no mw_counterpart rows)")
    args = parser.parse_args(argv)

    admin = normalize_url(args.server).replace("postgresql+psycopg://", "postgresql://", 1)
    dbname = f"livecat_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    base, _, query = admin.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + dbname + (("?" + query) if query else "")
    home = Path(tempfile.mkdtemp(prefix="livecat-bench-home-"))
    engine = None
    try:
        engine = create_engine(url)
        migrate.upgrade(engine)
        print(f"database {dbname}; {os.cpu_count()} CPUs; jobs {args.jobs}")

        t0 = time.perf_counter()
        run = train_run(engine, f"file:{args.csv}", params=parse_params(args.param),
                        mc_samples=args.mc, seed=0, feature_set=args.features, home=home)
        t_train = time.perf_counter() - t0
        print(f"training: {t_train:.1f} s (run {run.id}, {run.n_train} sources, "
              f"{len(run.features)} features, {run.estimator} {json.dumps(run.params)})")

        td = pd.read_csv(args.csv)
        t0 = time.perf_counter()
        insert_sources(url, synthetic_sources(td, args.sources),
                       counterparts=not args.no_counterparts)
        print(f"inserted {args.sources} sources with s/m/h fluxes"
              f"{'' if args.no_counterparts else ' and counterparts'}: "
              f"{time.perf_counter() - t0:.1f} s")

        last = [time.perf_counter()]
        start = time.perf_counter()

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 30 or done == total:
                last[0] = now
                rate = done * args.mc / (now - start)
                print(f"  {done}/{total} sources, {now - start:.0f} s, {rate:,.0f} "
                      f"source-samples/s, peak RSS {peak_rss_mb():,.0f} MB", flush=True)

        t0 = time.perf_counter()
        summary = classify_run(engine, run.id, Selection(catalogs=[CATALOG]), jobs=args.jobs,
                               progress=progress)
        total = time.perf_counter() - t0
        n = summary.n_labelled
        print("\n".join(summary.lines()))
        print()
        print(f"classification of {n} sources x {args.mc} Monte Carlo samples "
              f"(load + classify + write labels): {total:.1f} s = {total / 60:.2f} min")
        print(f"rate: {n * args.mc / total:,.0f} source-samples/s overall "
              f"({n * args.mc / summary.seconds_classify:,.0f} in the classification step)")
        print(f"labels written: {summary.seconds_write:.1f} s "
              f"({n} classification + {n * len(run.classes)} class_probability rows)")
        print(f"training: {t_train:.1f} s")
        print(f"peak RSS: {peak_rss_mb():,.0f} MB")
        if args.sources and args.mc:
            scale = 66000 * 1000 / (n * args.mc) if n else float("nan")
            print(f"extrapolated to 66,000 x 1000: {total * scale / 60:.1f} min")
    finally:
        if engine is not None:
            engine.dispose()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            import shutil

            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept database {dbname} and LIVECAT_HOME {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
