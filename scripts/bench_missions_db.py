"""The database part of ``scripts/bench_missions.py --database``: ``livecat objects build``
(:func:`associate.object_build.build_objects`) in PostgreSQL at the real catalog sizes.

The synthetic sky of ``bench_missions.py`` is loaded into livecat's schema in a fresh
database (``livecat_bench_missions``, created on the server, migrated with
:func:`catalog.migrate.upgrade`, dropped at the end unless ``--keep``), the way an ingest
stores it:

* ``xray_source`` rows with the catalog, a native id, the position and its HEALPix index,
  the 1-sigma error, a significance, and the ``flags``/``extra`` JSON, the error ellipse,
  variability and ``n_obs`` of the catalog's own sample in ``../shared/samples`` as
  ingested by ``livecat ingest`` (:func:`ingest.pipeline.ingest`, then removed), so rows
  are as wide as real ones; CSC rows carry ``nh_gal_cm2``, the others take the HI4PI map;
* ``xray_source_flux`` arrays with every band and kind the catalog's ingest stores
  (:data:`catalog.bands.MISSION_BANDS`: CSC b s m h u w energy fluxes; XMM 1-5, 8, 9
  energy fluxes with symmetric 1-sigma errors; eRASS1 Main 1, P1-P9 energy flux and count
  rate; 2SXPS count rates 0-3 and the band-0 PowFlux), staged
  by binary COPY and aggregated as :func:`ingest.upsert.replace_fluxes` does. The fluxes:
  each true object has a broad-band (0.5-7 keV) flux 10^(-15.3 + 3 x brightness) erg/cm2/s,
  a photon index N(1.9, 0.35) and a 0.15 dex change between missions (epochs); a band's
  error is that of a Poisson count (per-mission counts per 1e-15 erg/cm2/s); a band below
  2 sigma is an upper limit in the catalog's convention (CSC value 0 with an upper bound).

Then, each build in a child process (wall time and the child's own peak RSS, with the
time of each step of the build: the functions :mod:`associate.object_build` calls,
wrapped):

1. the first full build;
2. an incremental build after 1 % of one catalog changed, applied as a re-ingest does
   (:mod:`ingest.upsert`): a new release and ingest run, ``source_history`` rows
   (``updated``/``retired``, with the previous fluxes), moved rows updated in place with
   new fluxes, a new ``updated_at`` and ``last_release_id``, new rows inserted, retired
   rows ``is_current = false``, every unchanged row of the catalog given the new
   ``last_release_id``; after the commit, the vacuum every load ends with
   (:func:`ingest.vacuum.vacuum_loaded`);
3. a build with nothing changed.

Checked: after 2, the database's current grouping equals a full
:func:`associate.objects.match_missions` of its current sources; every current source has
one current association and four common-band rows; every association's object exists;
every current object's stored variability equals one computed afresh from its members'
stored fluxes; 3 starts and ends nothing.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.healpix import radec_to_hpx  # noqa: E402
from catalog.pgcopy import copy_columns  # noqa: E402

DB_NAME = "livecat_bench_missions"
SAMPLES = ROOT.parent / "shared" / "samples"
#: catalog -> (sample folder, file) ingested for the row templates
TEMPLATE_SAMPLES = {"csc": ("csc", "heasarc_csc_3c273.vot"),
                    "xmm": ("xmm", "heasarc_xmmssc_5xmm_3c273.vot"),
                    "2sxps": ("sxps", "tapvizier_2sxps_3c273.json"),
                    "erass1": ("erass1", "tapvizier_erass1m_proxima.json")}
#: counts per band per 1e-15 erg/cm2/s (sets the errors): deep pointings to a shallow survey
COUNTS_PER_FLUX = {"csc": 12.0, "xmm": 30.0, "erass1": 0.6, "2sxps": 2.0}
#: count rate per erg/cm2/s of a count_rate band (typical energy conversion factors)
RATE_PER_FLUX = {"erass1": 1.0e12, "2sxps": 3.0e10}
#: the steps of a build that are timed (module, attribute)
STEPS = (("associate.object_store", "current_associations"),
         ("associate.object_store", "has_current_associations"),
         ("associate.object_store", "associated_ids"),
         ("associate.object_build", "_previous_params"),
         ("associate.object_store", "mission_sources"),
         ("associate.object_build", "match_missions"),
         ("associate.object_store", "changed_sources"),
         ("associate.object_build", "gather_neighbourhood"),
         ("associate.object_store", "links_of"),
         ("associate.object_store", "sources_in_pixels"),
         ("associate.object_build", "regroup"),
         ("associate.object_store", "end_associations"),
         ("associate.object_store", "insert_objects"),
         ("associate.object_store", "update_objects"),
         ("associate.object_store", "start_associations"),
         ("associate.object_store", "confirm_positions"),
         ("associate.object_store", "retire_empty_objects"),
         ("associate.object_build", "store_conversion_table"),
         ("associate.object_build", "_needs_conversion"),
         ("associate.object_build", "update_common_fluxes"),
         ("associate.common_flux", "read_band_fluxes"),
         ("associate.common_flux", "convert_fluxes"),
         ("associate.common_flux", "_write_rows"),
         ("associate.object_build", "_objects_of"),
         ("associate.object_build", "_update_variability"))


# ---------------------------------------------------------------- database lifecycle

def db_url(admin_url: str, name: str = DB_NAME) -> str:
    """SQLAlchemy URL of database ``name`` on the server of ``admin_url``."""
    from sqlalchemy.engine import make_url

    return make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1)).set(
        database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str = DB_NAME) -> str:
    """Drop (a kept earlier one) and create ``name``, migrate it; return its URL."""
    import psycopg

    from catalog import migrate
    from catalog.engine import create_engine

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_url(admin_url, name)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_database(admin_url: str, name: str = DB_NAME) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- templates and fluxes

def templates(engine) -> dict:
    """Ingest each catalog's sample with ``livecat ingest`` and keep its stored row
    (``xray_source`` columns) as the template of the synthetic rows; the sample sources
    are removed again (their releases stay, the first release of the synthetic rows)."""
    import sqlalchemy as sa

    from ingest.pipeline import ingest

    out = {}
    for cat, (folder, name) in TEMPLATE_SAMPLES.items():
        ingest(engine, cat, file=SAMPLES / folder / name, release="sample",
               complete_release=True)
    with engine.begin() as conn:
        for cat in TEMPLATE_SAMPLES:
            row = conn.execute(sa.text(
                "SELECT * FROM livecat.xray_source WHERE catalog = :c ORDER BY id LIMIT 1"),
                {"c": cat}).mappings().one()
            out[cat] = dict(row)
        conn.execute(sa.text("DELETE FROM livecat.xray_source"))
    return out


def _band_fraction(lo, hi, gamma):
    """Energy flux of a photon-index ``gamma`` power law in [lo, hi] keV (unnormalised)."""
    p = 2.0 - gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (hi ** p - lo ** p) / p
    return np.where(np.abs(p) < 1e-6, np.log(hi / lo), out)


def synth_fluxes(rng, sources: pd.DataFrame, tmpl: dict) -> pd.DataFrame:
    """Long flux rows (source_id, band_no, value, value_lo, value_hi) of ``sources``
    (columns source_id, catalog, object, bright, gamma) in each catalog's template layout;
    ``band_no`` indexes :func:`band_table`."""
    table = band_table(tmpl)
    parts = []
    for cat, src in sources.groupby("catalog"):
        n = len(src)
        f_b = 10.0 ** (-15.3 + 3.0 * src["bright"].to_numpy() + rng.normal(0, 0.15, n))
        gamma = src["gamma"].to_numpy()
        norm = f_b / _band_fraction(0.5, 7.0, gamma)
        sig = np.zeros(n)
        for _, b in table[table["catalog"] == cat].iterrows():
            flux = norm * _band_fraction(b["lo"], b["hi"], gamma)
            counts = COUNTS_PER_FLUX[cat] * flux / 1e-15
            err = flux / np.sqrt(counts + 1.0)
            m = flux + err * rng.normal(0, 1, n)
            scale = RATE_PER_FLUX[cat] if b["kind"] == "count_rate" else 1.0
            if cat == "csc" and b["band"] == "w":  # HRC band: none for ACIS sources
                v = lo = hi = np.full(n, np.nan)
            elif cat == "csc":  # below 2 sigma: value 0 with an upper bound
                det = m > 2 * err
                v = np.where(det, m, 0.0)
                lo = np.where(det, m - err, 0.0)
                hi = np.where(det, m + err, np.maximum(m, 0) + 2 * err)
            else:  # ML / PSF fits: a value >= 0 with its (asymmetric for eRASS1) errors
                v = np.abs(m)
                lo = np.maximum(v - (0.9 if cat == "erass1" else 1.0) * err, 0.0)
                hi = v + (1.1 if cat == "erass1" else 1.0) * err
            if b["kind"] == "energy_flux" and b["band"] in ("b", "8", "1", "0"):
                sig = np.maximum(sig, v / err)
            parts.append(pd.DataFrame({"source_id": src["source_id"].to_numpy(),
                                       "band_no": int(b["band_no"]), "value": v * scale,
                                       "value_lo": lo * scale, "value_hi": hi * scale}))
        sources.loc[src.index, "significance"] = sig
    return pd.concat(parts, ignore_index=True)


def band_table(tmpl: dict) -> pd.DataFrame:
    """Every (catalog, band, kind, lo, hi) the catalogs of ``tmpl`` store (their first band
    set of :data:`catalog.bands.MISSION_BANDS`: eRASS1 Main), numbered."""
    from catalog.bands import MISSION_BANDS

    rows = [(cat, b, kind, lo, hi) for cat in tmpl
            for kind, table in (("energy_flux", MISSION_BANDS[cat][0].energy_flux),
                                ("count_rate", MISSION_BANDS[cat][0].count_rate))
            for b, (lo, hi) in table.items()]
    frame = pd.DataFrame(rows, columns=["catalog", "band", "kind", "lo", "hi"])
    return frame.assign(band_no=np.arange(len(frame)))


# ---------------------------------------------------------------- loading

_COPY_FROM_TEMPLATE = ("name", "err_maj_arcsec", "err_min_arcsec", "err_pa_deg", "extended",
                       "var_intra_prob", "var_inter_prob", "n_obs", "flags", "extra")


def _stage_sources(cur, dbapi, sources: pd.DataFrame, tmpl: dict) -> None:
    """Temp tables ``bench_src`` (the rows' own columns) and ``bench_tmpl`` (per catalog)."""
    cats = list(tmpl)
    cur.execute("DROP TABLE IF EXISTS bench_src, bench_tmpl")
    cur.execute("CREATE TEMP TABLE bench_src (id bigint, cat int, ra float8, dec float8, "
                "hpx bigint, err float8, sig float8, nh float8)")
    nh = np.where(sources["catalog"] == "csc", sources["nh_cm2"], np.nan)
    copy_columns(dbapi, "bench_src", {
        "id": sources["source_id"].to_numpy(np.int64),
        "cat": pd.Index(cats).get_indexer(sources["catalog"]).astype(np.int32),
        "ra": sources["ra"].to_numpy(float), "dec": sources["dec"].to_numpy(float),
        "hpx": radec_to_hpx(sources["ra"], sources["dec"], 29).astype(np.int64),
        "err": sources["pos_err_arcsec"].to_numpy(float),
        "sig": sources["significance"].to_numpy(float), "nh": nh.astype(float)})
    cur.execute("CREATE TEMP TABLE bench_tmpl AS SELECT * FROM livecat.xray_source LIMIT 0")
    cur.execute("ALTER TABLE bench_tmpl ADD COLUMN cat int")
    cols = ", ".join(_COPY_FROM_TEMPLATE)
    for k, cat in enumerate(cats):
        t = tmpl[cat]
        cur.execute(f"INSERT INTO bench_tmpl (id, catalog, native_id, ra, dec, hpx, cat, {cols}) "
                    f"VALUES (0, %s, '', 0, 0, 0, %s, "
                    f"{', '.join(['%s'] * len(_COPY_FROM_TEMPLATE))})",
                    [cat, k, *[json.dumps(t[c]) if c in ("flags", "extra") else t[c]
                               for c in _COPY_FROM_TEMPLATE]])


def _stage_fluxes(cur, dbapi, fluxes: pd.DataFrame, bands: pd.DataFrame) -> None:
    cur.execute("DROP TABLE IF EXISTS bench_flux, bench_band")
    cur.execute("CREATE TEMP TABLE bench_flux (source_id bigint, band_no int, value float8, "
                "value_lo float8, value_hi float8)")
    copy_columns(dbapi, "bench_flux", {
        "source_id": fluxes["source_id"].to_numpy(np.int64),
        "band_no": fluxes["band_no"].to_numpy(np.int32),
        **{c: fluxes[c].to_numpy(float) for c in ("value", "value_lo", "value_hi")}})
    cur.execute("CREATE TEMP TABLE bench_band (band_no int, band text, kind text, "
                "band_lo_kev float8, band_hi_kev float8)")
    for r in bands.itertuples():
        cur.execute("INSERT INTO bench_band VALUES (%s, %s, %s, %s, %s)",
                    (r.band_no, r.band, r.kind, r.lo, r.hi))


def _insert_sources(cur, release_of: dict) -> int:
    """INSERT the staged rows as ingest does (release ids per catalog)."""
    cols = ", ".join(_COPY_FROM_TEMPLATE)
    tcols = ", ".join(f"t.{c}" for c in _COPY_FROM_TEMPLATE)
    cur.execute("DROP TABLE IF EXISTS bench_rel")
    cur.execute("CREATE TEMP TABLE bench_rel (catalog text, rel bigint)")
    for cat, rel in release_of.items():
        cur.execute("INSERT INTO bench_rel VALUES (%s, %s)", (cat, rel))
    cur.execute(
        f"INSERT INTO livecat.xray_source (id, catalog, native_id, ra, dec, hpx, "
        f"pos_err_arcsec, significance, nh_gal_cm2, {cols}, row_hash, first_release_id, "
        f"last_release_id, is_current) "
        f"SELECT s.id, t.catalog, 'bench ' || s.id, s.ra, s.dec, s.hpx, s.err, "
        f"NULLIF(s.sig, 'NaN'), NULLIF(s.nh, 'NaN'), {tcols}, md5(s.id || ' ' || s.ra), "
        f"r.rel, r.rel, true FROM bench_src s JOIN bench_tmpl t ON t.cat = s.cat "
        f"JOIN bench_rel r ON r.catalog = t.catalog ORDER BY s.id")
    n = cur.rowcount
    cur.execute("SELECT setval(pg_get_serial_sequence('livecat.xray_source', 'id'), "
                "(SELECT max(id) FROM livecat.xray_source))")
    return n


def _insert_fluxes(cur) -> None:
    """Aggregate the staged long rows into ``xray_source_flux`` arrays, as ingest does."""
    from ingest.upsert import FLUX_ARRAYS

    value = {c: f"NULLIF(f.{c}, 'NaN')" for c in ("value", "value_lo", "value_hi")}
    aggs = ", ".join(f"array_agg({value.get(c, 'b.' + c)} ORDER BY b.band, b.kind)"
                     for c in FLUX_ARRAYS)
    cur.execute(f"INSERT INTO livecat.xray_source_flux (source_id, {', '.join(FLUX_ARRAYS)}) "
                f"SELECT f.source_id, {aggs} FROM bench_flux f JOIN bench_band b "
                f"ON b.band_no = f.band_no GROUP BY f.source_id")


def load(engine, sources: pd.DataFrame, fluxes: pd.DataFrame, tmpl: dict) -> int:
    """Load the synthetic catalogs (first release: the samples' ``sample`` releases)."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        release_of = dict(conn.execute(sa.text(
            "SELECT catalog, id FROM livecat.catalog_release WHERE version = 'sample'")).all())
        dbapi = conn.connection.dbapi_connection
        cur = dbapi.cursor()
        _stage_sources(cur, dbapi, sources, tmpl)
        _stage_fluxes(cur, dbapi, fluxes, band_table(tmpl))
        n = _insert_sources(cur, release_of)
        _insert_fluxes(cur)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return n


def reingest(engine, catalog: str, moved: pd.DataFrame, new: pd.DataFrame,
             retired: np.ndarray, fluxes: pd.DataFrame, tmpl: dict) -> dict:
    """Apply a new release of ``catalog`` as :func:`ingest.upsert.upsert_compared` does
    (see the module docstring). ``moved``/``new``: source_id, ra, dec, pos_err_arcsec,
    significance, nh_cm2 (new rows: their new ids); ``fluxes``: the long rows of both."""
    from types import SimpleNamespace

    from ingest.upsert import history_sql
    from ingest.vacuum import vacuum_loaded

    spec = SimpleNamespace(table="xray_source")
    with engine.begin() as conn:
        dbapi = conn.connection.dbapi_connection
        cur = dbapi.cursor()
        cur.execute("INSERT INTO livecat.catalog_release (catalog, version, state) "
                    "VALUES (%s, 'bench-2', 'complete') RETURNING id", (catalog,))
        rel = cur.fetchone()[0]
        cur.execute("UPDATE livecat.catalog_release SET state = 'superseded' WHERE catalog = %s "
                    "AND id <> %s AND state = 'complete'", (catalog, rel))
        cur.execute("INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command, "
                    "status, n_inserted, n_updated, n_retired, finished_at) VALUES (%s, %s, "
                    "'bench', 'bench_missions re-ingest', 'succeeded', %s, %s, %s, now()) "
                    "RETURNING id", (catalog, rel, len(new), len(moved), len(retired)))
        params = {"run": cur.fetchone()[0], "rel": rel, "cat": catalog,
                  "moved": moved["source_id"].tolist(), "retired": retired.tolist()}
        both = pd.concat([moved, new], ignore_index=True)
        _stage_sources(cur, dbapi, both.assign(catalog=catalog), tmpl)
        _stage_fluxes(cur, dbapi, fluxes, band_table(tmpl))
        cur.execute(history_sql(spec, "xray", "'updated'", "WHERE t.id = ANY(%(moved)s)"),
                    params)
        cur.execute("UPDATE livecat.xray_source t SET ra = s.ra, dec = s.dec, hpx = s.hpx, "
                    "pos_err_arcsec = s.err, significance = NULLIF(s.sig, 'NaN'), "
                    "row_hash = md5(s.id || ' ' || s.ra), last_release_id = %(rel)s, "
                    "is_current = true, updated_at = now() FROM bench_src s "
                    "WHERE t.id = s.id AND t.id = ANY(%(moved)s)", params)
        cur.execute("DELETE FROM livecat.xray_source_flux WHERE source_id = ANY(%(moved)s)",
                    params)
        cur.execute("DELETE FROM bench_src WHERE id = ANY(%(moved)s)", params)
        n_new = _insert_sources(cur, {catalog: rel})
        _insert_fluxes(cur)
        cur.execute(history_sql(spec, "xray", "'retired'", "WHERE t.id = ANY(%(retired)s)"),
                    params)
        cur.execute("UPDATE livecat.xray_source SET is_current = false, updated_at = now() "
                    "WHERE id = ANY(%(retired)s)", params)
        cur.execute("UPDATE livecat.xray_source t SET last_release_id = %(rel)s "
                    "WHERE t.catalog = %(cat)s AND t.is_current "
                    "AND t.last_release_id IS DISTINCT FROM %(rel)s", params)
        n_unchanged = cur.rowcount
    t = time.perf_counter()
    vacuum_loaded(engine)
    return {"inserted": n_new, "updated": len(moved), "retired": len(retired),
            "unchanged": n_unchanged, "vacuum_s": round(time.perf_counter() - t, 1)}


# ---------------------------------------------------------------- one build, profiled

def peak_rss_mb() -> float:
    """Peak RSS of this process image (MB): ``VmHWM`` of ``/proc/self/status``. Not
    ``ru_maxrss``: Linux keeps it across fork and exec, so a child started by a parent
    holding the synthetic sky reports the parent's size at the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_build(url: str) -> None:
    """Run in a child process: one ``build_objects``, its steps timed; print JSON."""
    import importlib

    from catalog.engine import create_engine

    totals, calls = defaultdict(float), defaultdict(int)

    def wrap(fn, label):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[label] += time.perf_counter() - t
                calls[label] += 1
        return timed

    for mod, name in STEPS:  # (the steps of the code measured; older code lacks some)
        m = importlib.import_module(mod)
        if hasattr(m, name):
            setattr(m, name, wrap(getattr(m, name), name))
    from associate.object_build import build_objects

    engine = create_engine(url)
    rss_before = peak_rss_mb()
    t = time.perf_counter()
    res = build_objects(engine, command="bench_missions --database")
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(),
                      "rss_before_mb": rss_before, "steps": totals, "calls": calls,
                      "summary": res.lines(), "n_scope": res.n_scope,
                      "n_started": res.n_started, "n_ended": res.n_ended,
                      "n_objects": res.n_objects, "incremental": res.incremental,
                      "n_converted": sum(res.fluxes.values()) // 4}))


def run_build(url: str) -> dict:
    """:func:`child_build` in a child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, __file__, "--child-build", url], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"build failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- checks and the run

def check_database(engine, canonical) -> dict:
    """The current grouping against a full :func:`match_missions` of the current sources,
    and the bookkeeping invariants (see the module docstring)."""
    import sqlalchemy as sa

    from associate import object_store as store
    from associate.objects import match_missions
    from associate.store import xray_catalogs

    with engine.connect() as conn:
        cats = xray_catalogs(conn)
        sources = store.mission_sources(conn, cats)
        links = pd.DataFrame(conn.execute(sa.text(
            "SELECT xray_source_id, object_id FROM livecat.xray_association "
            "WHERE ended_run_id IS NULL")).all(), columns=["source_id", "object_key"])
        bad = conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM livecat.xray_source s WHERE s.is_current AND NOT
                    EXISTS (SELECT 1 FROM livecat.xray_association a WHERE a.ended_run_id IS
                    NULL AND a.xray_source_id = s.id)),
                   (SELECT count(*) FROM livecat.xray_association a JOIN livecat.xray_source
                    s ON s.id = a.xray_source_id WHERE a.ended_run_id IS NULL
                    AND NOT s.is_current),
                   (SELECT count(*) FROM livecat.xray_source s WHERE s.is_current AND
                    (SELECT count(*) FROM livecat.xray_common_flux f
                      WHERE f.source_id = s.id) <> 4),
                   (SELECT count(*) FROM livecat.xray_object o WHERE o.is_current AND
                    o.n_members <> (SELECT count(*) FROM livecat.xray_association a
                    WHERE a.object_id = o.id AND a.ended_run_id IS NULL)),
                   (SELECT count(*) FROM livecat.xray_association a WHERE NOT EXISTS (
                    SELECT 1 FROM livecat.xray_object o WHERE o.id = a.object_id))""")).one()
        stale = _stale_variability(conn)
    rebuilt = match_missions(sources)
    same = canonical(links).equals(canonical(rebuilt.links))
    return {"same": bool(same), "unassociated": bad[0], "retired_associated": bad[1],
            "without_4_fluxes": bad[2], "wrong_n_members": bad[3],
            "without_object": bad[4], "stale_variability": stale,
            "n_sources": len(sources), "n_objects": int(links["object_key"].nunique())}


def _stale_variability(conn) -> int:
    """Current objects whose stored variability differs from one computed afresh
    (:func:`catalog.variability.object_variability`) from their members' stored b-band
    fluxes: written at the first build with the objects, updated by the later ones."""
    import sqlalchemy as sa

    from catalog.variability import object_variability

    rows = pd.DataFrame(conn.execute(sa.text("""
        SELECT a.object_id, f.value, f.value_lo, f.value_hi
          FROM livecat.xray_association a JOIN livecat.xray_common_flux f
            ON f.source_id = a.xray_source_id AND f.band = 'b'
         WHERE a.ended_run_id IS NULL""")).all(),
        columns=["object_id", "value", "value_lo", "value_hi"])
    rows[["value", "value_lo", "value_hi"]] = rows[["value", "value_lo", "value_hi"]].astype(
        float)
    fresh = object_variability(rows, group_col="object_id", band="b").set_index("object_id")
    stored = pd.DataFrame(conn.execute(sa.text(
        "SELECT id, var_ratio, var_sigma, var_is_lower_limit FROM livecat.xray_object "
        "WHERE is_current")).all(), columns=["object_id", "var_ratio", "var_sigma",
                                               "lower"]).set_index("object_id")
    fresh = fresh.reindex(stored.index)
    bad = np.zeros(len(stored), dtype=bool)
    for col, other in (("var_ratio", "var_ratio"), ("var_sigma", "var_sigma")):
        a, b = stored[col].astype(float).to_numpy(), fresh[other].astype(float).to_numpy()
        bad |= ~(np.isclose(a, b, rtol=1e-9, atol=0) | (np.isnan(a) & np.isnan(b)))
    measured = fresh["var_ratio"].notna().to_numpy()
    lower = stored["lower"].to_numpy(dtype=object)
    bad |= measured & (lower != fresh["var_is_lower_limit"].to_numpy(dtype=object))
    bad |= ~measured & pd.notna(lower)
    return int(bad.sum())


def prepare(rng, sky: pd.DataFrame, tmpl: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sources with gamma, N_H (CSC) and significance, and their long flux rows."""
    from catalog.spectra import galactic_nh_cm2

    gamma = np.clip(rng.normal(1.9, 0.35, int(sky["object"].max()) + 2), 0.8, 3.5)
    src = sky.assign(gamma=gamma[sky["object"].to_numpy()], nh_cm2=np.nan,
                     significance=np.nan)
    csc = (src["catalog"] == "csc").to_numpy()
    src.loc[csc, "nh_cm2"] = galactic_nh_cm2(src.loc[csc, "ra"], src.loc[csc, "dec"])
    return src, synth_fluxes(rng, src, tmpl)


def _step_rows(results: dict) -> list[tuple]:
    nested = {"links_of", "sources_in_pixels", "read_band_fluxes", "convert_fluxes",
              "_write_rows"}
    names = [n for _, n in STEPS if any(n in r["calls"] for r in results.values())]
    rows = []
    for name in names:
        top = name not in nested
        cells = []
        for r in results.values():
            s, c = r["steps"].get(name), r["calls"].get(name, 0)
            cells.append("" if s is None else f"{s:7.2f}" + (f" x{c}" if c > 1 else ""))
        rows.append((("  " if top else "    ") + name, cells))
    other = []
    for r in results.values():
        inner = sum(v for k, v in r["steps"].items() if k not in nested
                    and not (k == "mission_sources" and r["incremental"]))
        other.append(f"{r['seconds'] - inner:7.2f}")
    rows.append(("  (rest of build_objects)", other))
    return rows


def run_database(args, sky: pd.DataFrame, rng, change, canonical) -> None:
    """The ``--database`` benchmark (module docstring); ``change`` and ``canonical`` are
    ``bench_missions.change`` and the canonical grouping of a links frame."""
    from catalog.engine import create_engine

    t = time.perf_counter()
    url = create_database(args.url)
    try:
        engine = create_engine(url)
        tmpl = templates(engine)
        src, fluxes = prepare(rng, sky, tmpl)
        n = load(engine, src, fluxes, tmpl)
        print(f"database {DB_NAME}: {n:,} sources, {len(fluxes):,} band values loaded in "
              f"{time.perf_counter() - t:.0f} s (migrate, templates, COPY, VACUUM ANALYZE)")
        results = {"full": run_build(url)}
        after, changed, retired = change(rng, sky, args.changed, args.fraction)
        k = len(retired)
        rows = src.set_index("source_id")
        moved = after[after["source_id"].isin(changed[:k])].assign(
            gamma=rows.loc[changed[:k], "gamma"].to_numpy(),
            bright=rows.loc[changed[:k], "bright"].to_numpy())
        new = after[after["source_id"].isin(changed[k:])].assign(
            gamma=np.clip(rng.normal(1.9, 0.35, k), 0.8, 3.5))
        both = pd.concat([moved, new], ignore_index=True).assign(significance=np.nan,
                                                                  nh_cm2=np.nan)
        both_fluxes = synth_fluxes(rng, both, tmpl)
        t = time.perf_counter()
        counts = reingest(engine, args.changed, both.iloc[:len(moved)],
                          both.iloc[len(moved):], retired, both_fluxes, tmpl)
        print(f"re-ingest of {args.changed} applied in {time.perf_counter() - t:.0f} s: "
              f"{counts}")
        results["incremental"] = run_build(url)
        t = time.perf_counter()
        check = check_database(engine, canonical)
        t_check = time.perf_counter() - t
        results["no change"] = run_build(url)
        engine.dispose()
    finally:
        if not args.keep:
            drop_database(args.url)
    _print_database(results, check, t_check, len(changed) + len(retired), args.changed)


def _print_database(results: dict, check: dict, t_check: float, n_changed: int,
                    catalog: str) -> None:
    full, inc, none = results["full"], results["incremental"], results["no change"]
    ok = lambda good: "OK" if good else "MISSED"  # noqa: E731
    rows = [
        ("full build (child process)", f"{full['seconds']:.1f} s",
         f"< 180 s: {full['seconds'] / 180:.2f}x {ok(full['seconds'] < 180)}"),
        ("  peak RSS", f"{full['peak_rss_mb'] / 1024:.2f} GB",
         f"< 4 GB: {full['peak_rss_mb'] / 4096:.2f}x {ok(full['peak_rss_mb'] < 4096)}"),
        ("  objects", f"{full['n_objects']:,} ({full['n_started']:,} associations)", ""),
        (f"incremental build: {n_changed:,} {catalog} changed", f"{inc['seconds']:.2f} s",
         f"< 5 s: {inc['seconds'] / 5:.2f}x {ok(inc['seconds'] < 5)}"),
        ("  peak RSS", f"{inc['peak_rss_mb'] / 1024:.2f} GB", ""),
        ("  regrouped / started / ended", f"{inc['n_scope']:,} / {inc['n_started']:,} / "
                                          f"{inc['n_ended']:,}", ""),
        ("  sources converted", f"{inc['n_converted']:,}", ""),
        ("  equals a full rebuild", f"{check['same']} ({check['n_sources']:,} sources, "
                                    f"{check['n_objects']:,} objects; {t_check:.0f} s)",
         "True"),
        ("  invariants", f"unassociated {check['unassociated']}, retired associated "
                         f"{check['retired_associated']}, without 4 common fluxes "
                         f"{check['without_4_fluxes']}, wrong n_members "
                         f"{check['wrong_n_members']}, without object "
                         f"{check['without_object']}, stale variability "
                         f"{check['stale_variability']}", "all 0"),
        ("no-change build", f"{none['seconds']:.2f} s",
         f"< 5 s: {none['seconds'] / 5:.2f}x {ok(none['seconds'] < 5)}"),
        ("  started / ended / converted", f"{none['n_started']} / {none['n_ended']} / "
                                          f"{none['n_converted']}", "0 / 0 / 0"),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"\n{'measure':<{width}}  {'value':<58}  target")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<58}  {c}")
    print(f"\nseconds per step (calls) {'full':>10} {'incremental':>14} {'no change':>12}")
    for name, cells in _step_rows(results):
        print(f"{name:<26}" + "".join(f"{c:>14}" for c in cells))
    for what, r in results.items():
        print(f"\n{what}: " + "\n  ".join(r["summary"]))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child-build":
    child_build(sys.argv[2])
