"""What the cross-mission object build reads from and writes to the database.

Reads: the current X-ray sources to group (:func:`mission_sources`), the current
associations (:func:`current_associations`), what changed since they were made
(:func:`changed_sources`). Writes, inside the caller's transaction: the run
(:func:`create_run`, :func:`finish_run`), new and updated objects (:func:`write_objects`),
started and ended associations (:func:`start_associations`, :func:`end_associations`).
Nothing is deleted: an association that no longer holds is ended with the run and the
release that ended it; an object left without members stops being current.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from catalog.output import jsonable
from catalog.settings import SCHEMA, login_name

SOURCE_COLUMNS = ("source_id", "catalog", "ra", "dec", "pos_err_arcsec")


def _read_sources(conn: Connection, where: str, params: dict) -> pd.DataFrame:
    """Current sources (:data:`SOURCE_COLUMNS`) of ``params["cats"]`` where ``where``."""
    rows = conn.execute(sa.text(
        f"SELECT id, catalog, ra, dec, pos_err_arcsec FROM {SCHEMA}.xray_source "
        f"WHERE is_current AND catalog = ANY(:cats) AND {where} ORDER BY id"), params).all()
    frame = pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
    frame["source_id"] = frame["source_id"].astype(np.int64)
    for col in ("ra", "dec", "pos_err_arcsec"):
        frame[col] = frame[col].astype(float)
    return frame


def mission_sources(conn: Connection, catalogs: list[str], ids=None) -> pd.DataFrame:
    """Current sources of ``catalogs`` (or only these ids)."""
    if ids is None:
        return _read_sources(conn, "true", {"cats": list(catalogs)})
    return _read_sources(conn, "id = ANY(:ids)",
                         {"cats": list(catalogs), "ids": [int(i) for i in ids]})


def current_associations(conn: Connection, catalogs: list[str] | None = None) -> pd.DataFrame:
    """Current associations (one per source) with the position the source had when made
    and whether the source is still current."""
    where, params = ["a.ended_run_id IS NULL"], {}
    if catalogs is not None:
        where.append("a.catalog = ANY(:cats)")
        params["cats"] = list(catalogs)
    rows = conn.execute(sa.text(f"""
        SELECT a.id AS association_id, a.xray_source_id AS source_id, a.object_id,
               a.catalog, a.source_ra, a.source_dec, a.source_err_arcsec,
               s.is_current AS source_current, s.ra, s.dec, s.pos_err_arcsec
          FROM {SCHEMA}.xray_association a
          JOIN {SCHEMA}.xray_source s ON s.id = a.xray_source_id
         WHERE {' AND '.join(where)} ORDER BY a.xray_source_id"""), params)
    frame = pd.DataFrame(rows.all(), columns=list(rows.keys()))
    for col in ("source_ra", "source_dec", "source_err_arcsec", "ra", "dec",
                "pos_err_arcsec"):
        frame[col] = frame[col].astype(float)
    return frame


def changed_sources(conn: Connection, catalogs: list[str],
                    current: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What changed since the current associations were made.

    Returns
    -------
    (new, moved, retired) : numpy.ndarray of int64
        ``new``: current sources of ``catalogs`` without a current association; ``moved``:
        associated sources whose position or error changed; ``retired``: associated
        sources no longer current (or of a catalog no longer grouped).
    """
    new = conn.execute(sa.text(f"""
        SELECT s.id FROM {SCHEMA}.xray_source s
         WHERE s.is_current AND s.catalog = ANY(:cats)
           AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.xray_association a
                            WHERE a.xray_source_id = s.id AND a.ended_run_id IS NULL)
         ORDER BY s.id"""), {"cats": list(catalogs)}).scalars().all()
    live = current["source_current"].astype(bool) & current["catalog"].isin(catalogs)
    same = (np.isclose(current["ra"], current["source_ra"], rtol=0, atol=1e-9)
            & np.isclose(current["dec"], current["source_dec"], rtol=0, atol=1e-9)
            & (np.isclose(current["pos_err_arcsec"], current["source_err_arcsec"],
                          rtol=1e-9, atol=0, equal_nan=True)))
    moved = current.loc[live & ~same, "source_id"].to_numpy(np.int64)
    retired = current.loc[~live, "source_id"].to_numpy(np.int64)
    return np.asarray(new, np.int64), moved, retired


def create_run(conn: Connection, catalogs: list[str], region, params: dict,
               command: str | None) -> int:
    """Insert the ``object_build_run`` row; return its id."""
    return int(conn.execute(sa.text(
        f"INSERT INTO {SCHEMA}.object_build_run (invoked_by, command, catalogs, region, params) "
        f"VALUES (:by, :cmd, :cats, CAST(:region AS jsonb), CAST(:params AS jsonb)) "
        f"RETURNING id"),
        {"by": login_name(), "cmd": command, "cats": list(catalogs),
         "region": json.dumps(region) if region is not None else None,
         "params": json.dumps(params)}).scalar_one())


def finish_run(conn: Connection, run_id: int, counts: dict) -> None:
    """Record the run's counts (``n_sources``, ``n_objects``, ``n_started``, ``n_ended``,
    ``n_ambiguous``, ``seconds``)."""
    sets = ", ".join(f"{k} = :{k}" for k in counts)
    conn.execute(sa.text(f"UPDATE {SCHEMA}.object_build_run SET {sets} WHERE id = :id"),
                 {**counts, "id": int(run_id)})


def next_object_id(conn: Connection) -> int:
    """The id the next new object gets (object keys of a build are database ids)."""
    return int(conn.execute(sa.text(
        f"SELECT coalesce(max(id), 0) + 1 FROM {SCHEMA}.xray_object")).scalar_one())


def _object_params(objects: pd.DataFrame, run_id: int) -> dict:
    return {"id": objects["object_key"].astype(np.int64).tolist(),
            "ra": objects["ra"].astype(float).tolist(),
            "dec": objects["dec"].astype(float).tolist(),
            "err": objects["pos_err_arcsec"].astype(float).tolist(),
            "cats": [",".join(sorted(c)) for c in objects["catalogs"]],
            "n": objects["n_members"].astype(int).tolist(), "run": int(run_id)}


def insert_objects(conn: Connection, objects: pd.DataFrame, run_id: int) -> None:
    """Insert new objects (``Grouping.objects`` rows; ``object_key`` is the id)."""
    if not len(objects):
        return
    conn.execute(sa.text(f"""
        INSERT INTO {SCHEMA}.xray_object (id, ra, dec, pos_err_arcsec, catalogs, n_members,
                                           created_run_id, updated_run_id)
        SELECT t.id, t.ra, t.dec, t.err, string_to_array(t.cats, ','), t.n, :run, :run
          FROM unnest(CAST(:id AS bigint[]), CAST(:ra AS float8[]), CAST(:dec AS float8[]),
                      CAST(:err AS float8[]), CAST(:cats AS text[]), CAST(:n AS int[]))
               AS t(id, ra, dec, err, cats, n)"""), _object_params(objects, run_id))
    conn.execute(sa.text(
        f"SELECT setval(pg_get_serial_sequence('{SCHEMA}.xray_object', 'id'), "
        f"(SELECT max(id) FROM {SCHEMA}.xray_object))"))


def update_objects(conn: Connection, objects: pd.DataFrame, run_id: int) -> None:
    """Update the position, catalogs and member count of changed objects."""
    if not len(objects):
        return
    conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o
           SET ra = t.ra, dec = t.dec, pos_err_arcsec = t.err,
               catalogs = string_to_array(t.cats, ','), n_members = t.n,
               is_current = true, updated_run_id = :run
          FROM unnest(CAST(:id AS bigint[]), CAST(:ra AS float8[]), CAST(:dec AS float8[]),
                      CAST(:err AS float8[]), CAST(:cats AS text[]), CAST(:n AS int[]))
               AS t(id, ra, dec, err, cats, n)
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
           AND a.xray_source_id = ANY(:ids)"""),
        {"run": int(run_id), "ids": [int(i) for i in source_ids]})
    return int(res.rowcount)


def start_associations(conn: Connection, links: pd.DataFrame, run_id: int) -> int:
    """Insert one current association per row of ``links`` (source_id, object_key,
    catalog, linked_source_id, separation_arcsec, n_sigma, ambiguous, alternatives),
    recording the source's present position and error and its release."""
    if not len(links):
        return 0

    def floats(col):
        return [None if pd.isna(v) else float(v) for v in links[col]]

    conn.execute(sa.text(f"""
        INSERT INTO {SCHEMA}.xray_association
              (object_id, xray_source_id, catalog, linked_source_id, separation_arcsec,
               n_sigma, ambiguous, alternatives, source_ra, source_dec, source_err_arcsec,
               started_run_id, started_release_id)
        SELECT t.obj, t.sid, s.catalog, t.linked, t.sep, t.nsig, t.amb, t.alt::jsonb,
               s.ra, s.dec, s.pos_err_arcsec, :run, s.last_release_id
          FROM unnest(CAST(:obj AS bigint[]), CAST(:sid AS bigint[]),
                      CAST(:linked AS bigint[]), CAST(:sep AS float8[]),
                      CAST(:nsig AS float8[]), CAST(:amb AS boolean[]), CAST(:alt AS text[]))
               AS t(obj, sid, linked, sep, nsig, amb, alt)
          JOIN {SCHEMA}.xray_source s ON s.id = t.sid"""), {
        "obj": links["object_key"].astype(np.int64).tolist(),
        "sid": links["source_id"].astype(np.int64).tolist(),
        "linked": [None if pd.isna(v) else int(v) for v in links["linked_source_id"]],
        "sep": floats("separation_arcsec"), "nsig": floats("n_sigma"),
        "amb": links["ambiguous"].astype(bool).tolist(),
        "alt": [json.dumps(jsonable(a)) for a in links["alternatives"]],
        "run": int(run_id)})
    return len(links)


def retire_empty_objects(conn: Connection, run_id: int) -> int:
    """Objects left without a current member stop being current."""
    res = conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o SET is_current = false, updated_run_id = :run
         WHERE o.is_current AND NOT EXISTS (
               SELECT 1 FROM {SCHEMA}.xray_association a
                WHERE a.object_id = o.id AND a.ended_run_id IS NULL)"""), {"run": int(run_id)})
    return int(res.rowcount)


def write_variability(conn: Connection, var: pd.DataFrame) -> None:
    """Set ``var_band``, ``var_ratio``, ``var_sigma`` of objects (NULL where not seen
    more than once)."""
    if not len(var):
        return
    conn.execute(sa.text(f"""
        UPDATE {SCHEMA}.xray_object o SET var_band = t.band, var_ratio = t.ratio,
               var_sigma = t.sigma
          FROM unnest(CAST(:id AS bigint[]), CAST(:band AS text[]), CAST(:ratio AS float8[]),
                      CAST(:sigma AS float8[])) AS t(id, band, ratio, sigma)
         WHERE o.id = t.id"""), {
        "id": var["object_id"].astype(np.int64).tolist(),
        "band": [None if pd.isna(v) else str(v) for v in var["var_band"]],
        "ratio": [None if pd.isna(v) else float(v) for v in var["var_ratio"]],
        "sigma": [None if pd.isna(v) else float(v) for v in var["var_sigma"]]})


def links_of(conn: Connection, ids) -> pd.DataFrame:
    """Current association rows (``Grouping.links`` columns) of these sources and of every
    member of their objects."""
    rows = conn.execute(sa.text(f"""
        SELECT xray_source_id AS source_id, object_id AS object_key, catalog,
               linked_source_id, separation_arcsec, n_sigma, ambiguous, alternatives
          FROM {SCHEMA}.xray_association
         WHERE ended_run_id IS NULL AND object_id IN (
               SELECT object_id FROM {SCHEMA}.xray_association
                WHERE ended_run_id IS NULL AND xray_source_id = ANY(:ids))
         ORDER BY xray_source_id"""), {"ids": [int(i) for i in ids]}).all()
    frame = pd.DataFrame(rows, columns=["source_id", "object_key", "catalog",
                                        "linked_source_id", "separation_arcsec", "n_sigma",
                                        "ambiguous", "alternatives"])
    frame["source_id"] = frame["source_id"].astype(np.int64)
    frame["object_key"] = frame["object_key"].astype(np.int64)
    for col in ("separation_arcsec", "n_sigma"):
        frame[col] = frame[col].astype(float)
    frame["alternatives"] = [a if isinstance(a, list) else [] for a in frame["alternatives"]]
    return frame


def sources_in_pixels(conn: Connection, catalogs: list[str], pixels, order: int) -> pd.DataFrame:
    """Current sources of ``catalogs`` whose NESTED pixel at ``order`` is in ``pixels``."""
    shift = 2 * (29 - int(order))
    return _read_sources(conn, f"(hpx >> {shift}) IN (SELECT unnest(CAST(:pix AS bigint[])))",
                         {"cats": list(catalogs), "pix": [int(p) for p in pixels]})
