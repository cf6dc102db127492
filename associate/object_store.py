"""What the cross-mission object build reads from and writes to the database.

Reads: the current X-ray sources to group (:func:`mission_sources`, by id, or by sky
pixels: :func:`sources_in_pixels`), whether and which sources have a current association
(:func:`has_current_associations`, :func:`associated_ids`), what changed since they were
made (:func:`changed_sources`: compared in the database, only the ids of the changes are
read). Writes, inside the caller's transaction: the run (:func:`create_run`,
:func:`finish_run`), new and updated objects (:func:`insert_objects`,
:func:`update_objects`), started and ended associations (:func:`start_associations`,
:func:`end_associations`) and the positions of kept ones (:func:`confirm_positions`).
Nothing is deleted: an association that no longer holds is ended with the run and the
release that ended it; an object left without members stops being current.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from catalog.healpix import merge_pixels, radec_to_hpx
from catalog.output import jsonable
from catalog.pgcopy import bigint_array, labels_at, read_columns, stage_columns
from catalog.settings import SCHEMA, login_name

SOURCE_COLUMNS = ("source_id", "catalog", "ra", "dec", "pos_err_arcsec")


def _read_sources(conn: Connection, where: str, params: dict,
                  source: str = f"{SCHEMA}.xray_source s") -> pd.DataFrame:
    """Current sources (:data:`SOURCE_COLUMNS`) of ``params["cats"]`` where ``where``
    (``s``: ``xray_source``, or the rows of it that ``source`` names), by id.

    Read as whole columns (:func:`catalog.pgcopy.read_columns`: no per-row Python work, a
    million sources in about a second), the catalog as its position in ``cats``.
    """
    cats = list(params["cats"])
    cols = read_columns(conn.connection.dbapi_connection, f"""
        SELECT s.id, array_position(CAST(%(cats)s AS text[]), s.catalog), s.ra, s.dec,
               coalesce(s.pos_err_arcsec, 'NaN') FROM {source}
         WHERE s.is_current AND s.catalog = ANY(%(cats)s) AND {where}""",
        {"source_id": "int64", "catalog": "int32", "ra": "float64", "dec": "float64",
         "pos_err_arcsec": "float64"}, {**params, "cats": cats})
    order = np.argsort(cols["source_id"], kind="stable")
    frame = pd.DataFrame({c: v[order] for c, v in cols.items()})
    frame["catalog"] = labels_at(cats, frame["catalog"].to_numpy()) \
        if len(frame) else pd.Series([], dtype=object)
    return frame[list(SOURCE_COLUMNS)]


def mission_sources(conn: Connection, catalogs: list[str], ids=None) -> pd.DataFrame:
    """Current sources of ``catalogs`` (or only these ids)."""
    if ids is None:
        return _read_sources(conn, "true", {"cats": list(catalogs)})
    return _read_sources(conn, "s.id = ANY(CAST(%(ids)s AS bigint[]))",
                         {"cats": list(catalogs), "ids": bigint_array(ids)})


def has_current_associations(conn: Connection) -> bool:
    """Whether any association is current (a build was made)."""
    return bool(conn.execute(sa.text(
        f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.xray_association "
        f"WHERE ended_run_id IS NULL)")).scalar())


def associated_ids(conn: Connection) -> np.ndarray:
    """The sources with a current association."""
    return np.sort(read_columns(
        conn.connection.dbapi_connection,
        f"SELECT xray_source_id FROM {SCHEMA}.xray_association WHERE ended_run_id IS NULL",
        {"source_id": "int64"})["source_id"])


#: A current association whose source still is where it was (position within 1e-9 deg,
#: error within 1e-9 of itself, or both NULL) and current in the catalogs grouped.
_SAME = ("s.is_current AND s.catalog = ANY(%(cats)s) "
         "AND abs(s.ra - a.source_ra) <= 1e-9 AND abs(s.dec - a.source_dec) <= 1e-9 "
         "AND (s.pos_err_arcsec IS NOT DISTINCT FROM a.source_err_arcsec OR coalesce("
         "abs(s.pos_err_arcsec - a.source_err_arcsec) <= 1e-9 * abs(a.source_err_arcsec), "
         "false))")


def snapshot_time(conn: Connection):
    """The start of the oldest client transaction running now (this one included), or
    None when other roles' transactions cannot be seen (without ``pg_read_all_stats``).

    Every ingest stamps the rows it changes with the start of its transaction
    (``updated_at = now()``), so a change that a build beginning now might miss (its
    transaction still running, or starting later) has ``updated_at`` at or after this
    time. Called first in the build's transaction.
    """
    return conn.execute(sa.text("""
        SELECT CASE WHEN pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
                      OR NOT EXISTS (SELECT 1 FROM pg_stat_activity
                                      WHERE backend_type = 'client backend'
                                        AND usename IS DISTINCT FROM current_user)
               THEN least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                                   WHERE backend_type = 'client backend')) END""")).scalar()


def last_full_build(conn: Connection, catalogs: list[str]) -> dict | None:
    """The latest build when it covered the whole sky and these same catalogs, so that
    every change before its ``snapshot_at`` was grouped and converted: its
    ``snapshot_at`` (changes of ``catalogs`` at or after it may be unseen) and its counts
    (``n_sources``, ``n_objects``, ``n_multi``; None where not recorded). None otherwise
    (no build, a region, other catalogs, no snapshot): compare every source."""
    row = conn.execute(sa.text(
        f"SELECT snapshot_at, region, catalogs, n_sources, n_objects, n_multi "
        f"FROM {SCHEMA}.object_build_run ORDER BY id DESC LIMIT 1")).mappings().first()
    if row is None or row["snapshot_at"] is None or row["region"] is not None \
            or sorted(row["catalogs"]) != sorted(catalogs):
        return None
    return {k: row[k] for k in ("snapshot_at", "n_sources", "n_objects", "n_multi")}


def object_counts(conn: Connection, object_ids) -> tuple[int, int]:
    """How many of these objects are current, and current with more than one member."""
    n, multi = conn.execute(sa.text(f"""
        SELECT count(*) FILTER (WHERE o.is_current),
               count(*) FILTER (WHERE o.is_current AND o.n_members > 1)
          FROM unnest(CAST(:ids AS bigint[])) AS t(id)
          JOIN {SCHEMA}.xray_object o ON o.id = t.id"""),
        {"ids": bigint_array(object_ids)}).one()
    return int(n), int(multi)


def changed_sources(conn: Connection, catalogs: list[str],
                    since=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What changed since the current associations were made.

    Parameters
    ----------
    conn : Connection
    catalogs : list of str
    since : datetime, optional
        :func:`last_full_build`'s ``snapshot_at``: only sources with ``updated_at`` at
        or after it can have changed (read through the ``updated_at`` index); None:
        compare every source.

    Returns
    -------
    (new, moved, retired) : numpy.ndarray of int64
        ``new``: current sources of ``catalogs`` without a current association; ``moved``:
        associated sources whose position or error changed; ``retired``: associated
        sources no longer current (or of a catalog no longer grouped). Compared in the
        database: only the ids of the changes travel.
    """
    dbapi = conn.connection.dbapi_connection
    params = {"cats": list(catalogs), "since": since}
    recent = "" if since is None else "AND s.updated_at >= %(since)s"
    new = read_columns(dbapi, f"""
        SELECT s.id FROM {SCHEMA}.xray_source s
         WHERE s.is_current AND s.catalog = ANY(%(cats)s) {recent}
           AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.xray_association a
                            WHERE a.xray_source_id = s.id AND a.ended_run_id IS NULL)""",
                       {"id": "int64"}, params)["id"]
    other = read_columns(dbapi, f"""
        SELECT a.xray_source_id, (s.is_current AND s.catalog = ANY(%(cats)s))::int
          FROM {SCHEMA}.xray_association a JOIN {SCHEMA}.xray_source s
            ON s.id = a.xray_source_id
         WHERE a.ended_run_id IS NULL {recent} AND NOT ({_SAME})""",
                         {"id": "int64", "live": "int32"}, params)
    live = other["live"].astype(bool)
    return (np.sort(new), np.sort(other["id"][live]), np.sort(other["id"][~live]))


def confirm_positions(conn: Connection, source_ids) -> int:
    """Record the present position and error of these sources in their current
    associations (kept through a rebuild of their neighbourhood: else they would read as
    moved at every later build)."""
    res = conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_association a
           SET source_ra = s.ra, source_dec = s.dec, source_err_arcsec = s.pos_err_arcsec
          FROM {SCHEMA}.xray_source s
         WHERE s.id = a.xray_source_id AND a.ended_run_id IS NULL
           AND a.xray_source_id = ANY(CAST(:ids AS bigint[]))"""),
        {"ids": bigint_array(source_ids)})
    return int(res.rowcount)


def create_run(conn: Connection, catalogs: list[str], region, params: dict,
               command: str | None, snapshot_at=None) -> int:
    """Insert the ``object_build_run`` row (``snapshot_at``: :func:`snapshot_time` at
    the start of the build); return its id."""
    return int(conn.execute(sa.text(
        f"INSERT INTO {SCHEMA}.object_build_run (invoked_by, command, catalogs, region, "
        f"params, snapshot_at) VALUES (:by, :cmd, :cats, CAST(:region AS jsonb), "
        f"CAST(:params AS jsonb), :snap) RETURNING id"),
        {"by": login_name(), "cmd": command, "cats": list(catalogs), "snap": snapshot_at,
         "region": json.dumps(region) if region is not None else None,
         "params": json.dumps(params)}).scalar_one())


def finish_run(conn: Connection, run_id: int, counts: dict) -> None:
    """Record the run's counts (``n_sources``, ``n_objects``, ``n_multi``, ``n_started``,
    ``n_ended``, ``n_ambiguous``, ``seconds``)."""
    sets = ", ".join(f"{k} = :{k}" for k in counts)
    conn.execute(sa.text(f"UPDATE {SCHEMA}.object_build_run SET {sets} WHERE id = :id"),
                 {**counts, "id": int(run_id)})


def next_object_id(conn: Connection) -> int:
    """The id the next new object gets (object keys of a build are database ids)."""
    return int(conn.execute(sa.text(
        f"SELECT coalesce(max(id), 0) + 1 FROM {SCHEMA}.xray_object")).scalar_one())


def _object_params(objects: pd.DataFrame, run_id: int) -> dict:
    ra, dec = objects["ra"].to_numpy(float), objects["dec"].to_numpy(float)
    return {"id": objects["object_key"].astype(np.int64).tolist(),
            "ra": ra.tolist(), "dec": dec.tolist(),
            "hpx": radec_to_hpx(ra, dec).astype(np.int64).tolist(),
            "err": objects["pos_err_arcsec"].astype(float).tolist(),
            "cats": [",".join(sorted(c)) for c in objects["catalogs"]],
            "n": objects["n_members"].astype(int).tolist(), "run": int(run_id)}


def insert_objects(conn: Connection, objects: pd.DataFrame, run_id: int) -> None:
    """Insert new objects (``Grouping.objects`` rows; ``object_key`` is the id), with
    their variability when ``objects`` has the columns (``var_band``, ``var_ratio``,
    ``var_sigma``, ``var_is_lower_limit``).

    Staged by binary COPY (:func:`catalog.pgcopy.stage_columns`; the catalogs as the
    position of their list in a few distinct ones), then one ``INSERT ... SELECT``.
    """
    if not len(objects):
        return
    ra, dec = objects["ra"].to_numpy(float), objects["dec"].to_numpy(float)
    codes, sets = pd.factorize(pd.Series([",".join(sorted(c)) for c in objects["catalogs"]],
                                         dtype=object))
    n = len(objects)
    var_codes, var_bands = pd.factorize(objects["var_band"] if "var_band" in objects
                                        else pd.Series([None] * n, dtype=object))
    lower = (objects["var_is_lower_limit"] if "var_is_lower_limit" in objects
             else pd.Series([None] * n, dtype=object))
    dbapi = conn.connection.dbapi_connection
    stage_columns(dbapi, "livecat_object_stage", {
        "id": objects["object_key"].to_numpy(np.int64), "ra": ra, "dec": dec,
        "hpx": radec_to_hpx(ra, dec).astype(np.int64),
        "err": objects["pos_err_arcsec"].to_numpy(float),
        "cats": (codes + 1).astype(np.int32),
        "n": objects["n_members"].to_numpy(np.int32),
        "var_band": (var_codes + 1).astype(np.int32),
        "var_ratio": (objects["var_ratio"].to_numpy(float) if "var_ratio" in objects
                      else np.full(n, np.nan)),
        "var_sigma": (objects["var_sigma"].to_numpy(float) if "var_sigma" in objects
                      else np.full(n, np.nan)),
        # 0 NULL, 1 false, 2 true (the binary COPY here carries no NULLs)
        "var_lower": np.where(lower.isna(), 0, np.where(lower.fillna(False).astype(bool),
                                                        2, 1)).astype(np.int32)})
    with dbapi.cursor() as cur:
        cur.execute(f"""
            INSERT INTO {SCHEMA}.xray_object (id, ra, dec, hpx, pos_err_arcsec, catalogs,
                                               n_members, var_band, var_ratio, var_sigma,
                                               var_is_lower_limit, created_run_id,
                                               updated_run_id)
            SELECT t.id, t.ra, t.dec, t.hpx, nullif(t.err, 'NaN'),
                   string_to_array((CAST(%(sets)s AS text[]))[t.cats], ','), t.n,
                   (CAST(%(bands)s AS text[]))[t.var_band], nullif(t.var_ratio, 'NaN'),
                   nullif(t.var_sigma, 'NaN'), (ARRAY[false, true])[t.var_lower],
                   %(run)s, %(run)s
              FROM livecat_object_stage t""", {"sets": [str(x) for x in sets],
                                               "bands": [str(x) for x in var_bands],
                                               "run": int(run_id)})
    conn.execute(sa.text(
        f"SELECT setval(pg_get_serial_sequence('{SCHEMA}.xray_object', 'id'), "
        f"(SELECT max(id) FROM {SCHEMA}.xray_object))"))


def update_objects(conn: Connection, objects: pd.DataFrame, run_id: int) -> None:
    """Update the position, catalogs and member count of changed objects."""
    if not len(objects):
        return
    conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o
           SET ra = t.ra, dec = t.dec, hpx = t.hpx, pos_err_arcsec = t.err,
               catalogs = string_to_array(t.cats, ','), n_members = t.n,
               is_current = true, updated_run_id = :run
          FROM unnest(CAST(:id AS bigint[]), CAST(:ra AS float8[]), CAST(:dec AS float8[]),
                      CAST(:hpx AS bigint[]), CAST(:err AS float8[]), CAST(:cats AS text[]),
                      CAST(:n AS int[]))
               AS t(id, ra, dec, hpx, err, cats, n)
         WHERE o.id = t.id"""), _object_params(objects, run_id))


def end_associations(conn: Connection, source_ids, run_id: int) -> int:
    """End the current associations of these sources, with the release that ended them:
    the one that changed the source, or for a retired source its catalog's newest."""
    res = conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_association a
           SET ended_run_id = :run, ended_at = now(),
               ended_release_id = CASE WHEN s.is_current THEN s.last_release_id ELSE
                   (SELECT max(r.id) FROM {SCHEMA}.catalog_release r
                     WHERE r.catalog = s.catalog) END
          FROM {SCHEMA}.xray_source s
         WHERE s.id = a.xray_source_id AND a.ended_run_id IS NULL
           AND a.xray_source_id = ANY(CAST(:ids AS bigint[]))"""),
        {"run": int(run_id), "ids": bigint_array(source_ids)})
    return int(res.rowcount)


def start_associations(conn: Connection, links: pd.DataFrame, run_id: int) -> int:
    """Insert one current association per row of ``links`` (source_id, object_key,
    catalog, linked_source_id, separation_arcsec, n_sigma, ambiguous, alternatives),
    recording the source's present position and error and its release.

    Staged by binary COPY (:func:`catalog.pgcopy.stage_columns`; NULL numbers as NaN or
    -1, the alternatives as the position of their JSON in the distinct ones), then one
    ``INSERT ... SELECT`` joined to ``xray_source``.
    """
    if not len(links):
        return 0
    alts = pd.Series([json.dumps(jsonable(a)) for a in links["alternatives"]], dtype=object)
    codes, uniques = pd.factorize(alts)
    linked = pd.to_numeric(links["linked_source_id"], errors="coerce").to_numpy(float)
    dbapi = conn.connection.dbapi_connection
    stage_columns(dbapi, "livecat_association_stage", {
        "obj": links["object_key"].to_numpy(np.int64),
        "sid": links["source_id"].to_numpy(np.int64),
        "linked": np.where(np.isnan(linked), -1, linked).astype(np.int64),
        "sep": links["separation_arcsec"].to_numpy(float),
        "nsig": links["n_sigma"].to_numpy(float),
        "amb": links["ambiguous"].to_numpy(bool),
        "alt": (codes + 1).astype(np.int32)})
    with dbapi.cursor() as cur:
        cur.execute(f"""
            INSERT INTO {SCHEMA}.xray_association
                  (object_id, xray_source_id, catalog, linked_source_id, separation_arcsec,
                   n_sigma, ambiguous, alternatives, source_ra, source_dec,
                   source_err_arcsec, started_run_id, started_release_id)
            SELECT t.obj, t.sid, s.catalog, nullif(t.linked, -1), nullif(t.sep, 'NaN'),
                   nullif(t.nsig, 'NaN'), t.amb,
                   CAST((CAST(%(alts)s AS text[]))[t.alt] AS jsonb), s.ra, s.dec,
                   s.pos_err_arcsec, %(run)s, s.last_release_id
              FROM livecat_association_stage t
              JOIN {SCHEMA}.xray_source s ON s.id = t.sid""",
                    {"alts": [str(a) for a in uniques], "run": int(run_id)})
        if cur.rowcount != len(links):
            raise ValueError(f"{len(links) - cur.rowcount} associated source ids are not "
                             f"in xray_source")
    return len(links)


def retire_empty_objects(conn: Connection, run_id: int, object_ids=None) -> int:
    """Objects left without a current member stop being current: every object, or only
    these (the objects whose associations this run ended)."""
    only = "" if object_ids is None else "AND o.id = ANY(CAST(:ids AS bigint[]))"
    res = conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o SET is_current = false, updated_run_id = :run
         WHERE o.is_current {only} AND NOT EXISTS (
               SELECT 1 FROM {SCHEMA}.xray_association a
                WHERE a.object_id = o.id AND a.ended_run_id IS NULL)"""),
        {"run": int(run_id), "ids": bigint_array([] if object_ids is None else object_ids)})
    return int(res.rowcount)


#: The tables a build writes in bulk.
BUILT_TABLES = ("xray_association", "xray_object", "xray_source_common_flux")


def analyze_built(conn: Connection) -> None:
    """``ANALYZE`` the tables a full build has just filled, in its transaction (ANALYZE
    counts the transaction's own new rows as live). Without it they keep the statistics
    of before the build (none, after a first one) until autovacuum gets to them, and the
    next build is planned for nearly empty tables: an incremental build at the catalogs'
    real sizes then took 514 s instead of 5."""
    conn.execute(sa.text("ANALYZE " + ", ".join(f"{SCHEMA}.{t}" for t in BUILT_TABLES)))


def write_variability(conn: Connection, var: pd.DataFrame) -> None:
    """Set ``var_band``, ``var_ratio``, ``var_sigma``, ``var_is_lower_limit`` of objects
    (NULL where not seen more than once); objects whose values are already these are not
    rewritten."""
    if not len(var):
        return
    conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o SET var_band = t.band, var_ratio = t.ratio,
               var_sigma = t.sigma, var_is_lower_limit = t.lower
          FROM unnest(CAST(:id AS bigint[]), CAST(:band AS text[]), CAST(:ratio AS float8[]),
                      CAST(:sigma AS float8[]), CAST(:lower AS boolean[]))
               AS t(id, band, ratio, sigma, lower)
         WHERE o.id = t.id AND (o.var_band, o.var_ratio, o.var_sigma, o.var_is_lower_limit)
               IS DISTINCT FROM (t.band, t.ratio, t.sigma, t.lower)"""), {
        "lower": [None if pd.isna(v) else bool(v) for v in var["var_is_lower_limit"]],
        "id": var["object_id"].astype(np.int64).tolist(),
        "band": [None if pd.isna(v) else str(v) for v in var["var_band"]],
        "ratio": [None if pd.isna(v) else float(v) for v in var["var_ratio"]],
        "sigma": [None if pd.isna(v) else float(v) for v in var["var_sigma"]]})


def links_of(conn: Connection, ids) -> pd.DataFrame:
    """Current association rows (``Grouping.links`` columns) of these sources and of every
    member of their objects."""
    # per object a probe of the object_id index (OFFSET 0 keeps it a per-row subquery:
    # as an IN the planner hashes the objects and scans every association, 0.35 s at
    # the catalogs' real sizes for the objects of 9,000 sources)
    rows = conn.execute(sa.text(f"""
        SELECT a.xray_source_id AS source_id, a.object_id AS object_key, a.catalog,
               a.linked_source_id, a.separation_arcsec, a.n_sigma, a.ambiguous,
               a.alternatives
          FROM (SELECT DISTINCT c.object_id FROM {SCHEMA}.xray_association c
                 WHERE c.ended_run_id IS NULL
                   AND c.xray_source_id = ANY(CAST(:ids AS bigint[]))) o
         CROSS JOIN LATERAL (SELECT * FROM {SCHEMA}.xray_association x
                              WHERE x.object_id = o.object_id AND x.ended_run_id IS NULL
                             OFFSET 0) a
         ORDER BY a.xray_source_id"""), {"ids": bigint_array(ids)}).all()
    # as tuples: pandas probes each Row for attributes, which SQLAlchemy answers slowly
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["source_id", "object_key", "catalog",
                                        "linked_source_id", "separation_arcsec", "n_sigma",
                                        "ambiguous", "alternatives"])
    frame["source_id"] = frame["source_id"].astype(np.int64)
    frame["object_key"] = frame["object_key"].astype(np.int64)
    for col in ("separation_arcsec", "n_sigma"):
        frame[col] = frame[col].astype(float)
    frame["alternatives"] = [a if isinstance(a, list) else [] for a in frame["alternatives"]]
    return frame


def sources_in_pixels(conn: Connection, catalogs: list[str], pixels, order: int) -> pd.DataFrame:
    """Current sources of ``catalogs`` whose NESTED pixel at ``order`` is in ``pixels``
    (one probe of the ``hpx`` index per range of them, fenced by OFFSET 0 as in
    :func:`catalog.sky.crossmatch`: a join on the ranges is planned as a scan of the
    table per range)."""
    ranges = merge_pixels(np.asarray(pixels, dtype=np.int64), int(order))
    return _read_sources(
        conn, "true", {"cats": list(catalogs), "lo": bigint_array(ranges[:, 0]),
                       "hi": bigint_array(ranges[:, 1])},
        source=f"unnest(CAST(%(lo)s AS bigint[]), CAST(%(hi)s AS bigint[])) AS r(lo, hi) "
               f"CROSS JOIN LATERAL (SELECT x.id, x.catalog, x.ra, x.dec, x.pos_err_arcsec, "
               f"x.is_current FROM {SCHEMA}.xray_source x "
               f"WHERE x.hpx BETWEEN r.lo AND r.hi OFFSET 0) s")
