"""Change detection and the set-based upsert: insert, update with history, retire.

Nothing is deleted: a changed row's previous version (with its fluxes) goes to
``source_history`` before it is updated in place, so the livecat id and everything that
points at it stay; a row absent from the input is retired (``is_current = false``) only
inside the footprint the input covers (:mod:`ingest.footprint`).
"""

from __future__ import annotations

from catalog.errors import ConflictError, InputError
from ingest.footprint import Footprint
from ingest.rows import TableSpec

#: A load may retire at most this share of the catalog's current rows without
#: ``--allow-mass-retire`` ...
MASS_RETIRE_SHARE = 0.05
#: ... unless it retires at most this many rows (small catalogs change by a few rows).
MASS_RETIRE_MIN_ROWS = 10

def check_taxonomy(cur) -> None:
    """Name every class/subclass of the staged literature rows outside the taxonomy."""
    cur.execute("SELECT DISTINCT s.livecat_class FROM stg s WHERE s.livecat_class IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM livecat.livecat_class c "
                "WHERE c.name = s.livecat_class) ORDER BY 1")
    bad = [r[0] for r in cur.fetchall()]
    if bad:
        cur.execute("SELECT string_agg(name, ', ' ORDER BY name) FROM livecat.livecat_class")
        raise InputError(f"class {', '.join(map(repr, bad))} is not in the livecat taxonomy: "
                         f"expected one of {cur.fetchone()[0]}")
    cur.execute("SELECT DISTINCT s.livecat_class, s.subclass FROM stg s "
                "WHERE s.subclass IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                "livecat.livecat_subclass c WHERE c.class_name = s.livecat_class "
                "AND c.name = s.subclass) ORDER BY 1, 2")
    bad_sub = [f"{c}/{s}" for c, s in cur.fetchall()]
    if bad_sub:
        raise InputError(f"subclass {', '.join(bad_sub)} is not in the livecat taxonomy "
                         "(see table livecat.livecat_subclass)")


def history_sql(spec: TableSpec, kind: str, change_sql: str, where: str) -> str:
    """INSERT ... SELECT that snapshots the rows of ``t`` matching ``where``."""
    fluxes = ("(SELECT jsonb_agg(to_jsonb(f.*) ORDER BY f.band, f.kind) FROM "
              "livecat.xray_flux f WHERE f.source_id = t.id)") if kind == "xray" else "NULL"
    return (f"INSERT INTO livecat.source_history (source_table, source_id, catalog, "
            f"native_id, run_id, change, previous, previous_fluxes) "
            f"SELECT '{spec.table}', t.id, t.catalog, t.native_id, %(run)s, {change_sql}, "
            f"to_jsonb(t.*), {fluxes} FROM livecat.{spec.table} t {where}")


def _content_columns(spec: TableSpec) -> tuple[str, str]:
    """The column list of an insert or update and the matching ``stg`` expressions."""
    content = [c for c in spec.names if c != "native_id"]
    cols = ", ".join(f'"{c}"' for c in content)
    s_cols = ", ".join(f's."{c}"' + ("::jsonb" if c in spec.json_columns else "")
                       for c in content)
    return cols, s_cols


def insert_new(cur, spec: TableSpec, params: dict) -> int:
    """Insert every staged row, for a catalog that had no rows (nothing to compare with);
    record them in ``stg_changed``. Returns the count."""
    cols, s_cols = _content_columns(spec)
    cur.execute(
        f"WITH ins AS (INSERT INTO livecat.{spec.table} (catalog, native_id, {cols}, row_hash, "
        f"first_release_id, last_release_id, is_current) "
        f"SELECT %(cat)s, s.native_id, {s_cols}, s.row_hash, %(rel)s, %(rel)s, true "
        "FROM stg s ORDER BY s.row_no RETURNING id, native_id) "
        "INSERT INTO stg_changed SELECT id, native_id, 'inserted' FROM ins", params)
    return cur.rowcount


def upsert_compared(cur, spec: TableSpec, kind: str, params: dict, footprint: Footprint,
                    allow_mass_retire: bool = False) -> dict[str, int]:
    """The set-based insert / update / retire of a catalog that already has rows.

    Staged rows new to the catalog are inserted; rows whose hash changed (or that were
    not current) are snapshotted into ``source_history`` and updated in place, keeping
    their livecat id; unchanged rows only take the new ``last_release_id``; held rows
    inside ``footprint`` and absent from the input are retired (:func:`retire_absent`).

    Returns
    -------
    dict
        ``inserted``, ``updated``, ``unchanged``, ``retired``.
    """
    table = f"livecat.{spec.table}"
    cols, s_cols = _content_columns(spec)
    match = "t.catalog = %(cat)s AND t.native_id = s.native_id"

    cur.execute(f"SELECT count(*) FROM stg s JOIN {table} t ON {match} "
                "WHERE t.row_hash = s.row_hash AND t.is_current", params)
    n_unchanged = cur.fetchone()[0]

    cur.execute(
        f"WITH ins AS (INSERT INTO {table} (catalog, native_id, {cols}, row_hash, "
        f"first_release_id, last_release_id, is_current) "
        f"SELECT %(cat)s, s.native_id, {s_cols}, s.row_hash, %(rel)s, %(rel)s, true FROM stg s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match}) ORDER BY s.row_no "
        "RETURNING id, native_id) "
        "INSERT INTO stg_changed SELECT id, native_id, 'inserted' FROM ins", params)
    n_inserted = cur.rowcount

    changed = "(t.row_hash IS DISTINCT FROM s.row_hash OR NOT t.is_current)"
    # a renamed row already has its snapshot (change 'renamed') from this run
    not_renamed = ("NOT EXISTS (SELECT 1 FROM livecat.source_history h WHERE h.run_id = "
                   f"%(run)s AND h.source_table = '{spec.table}' AND h.source_id = t.id)")
    cur.execute(history_sql(
        spec, kind, "CASE WHEN t.row_hash IS DISTINCT FROM s.row_hash THEN 'updated' "
                    "ELSE 'revived' END",
        f"JOIN stg s ON {match} WHERE {changed} AND {not_renamed}"), params)
    cur.execute(
        f"WITH upd AS (UPDATE {table} t SET ({cols}, row_hash, last_release_id, is_current, "
        f"updated_at) = ({s_cols}, s.row_hash, %(rel)s, true, now()) FROM stg s "
        f"WHERE {match} AND {changed} RETURNING t.id, t.native_id) "
        "INSERT INTO stg_changed SELECT id, native_id, 'updated' FROM upd", params)
    n_updated = cur.rowcount

    cur.execute(f"UPDATE {table} t SET last_release_id = %(rel)s FROM stg s WHERE {match} "
                "AND t.row_hash = s.row_hash AND t.last_release_id IS DISTINCT FROM %(rel)s",
                params)
    n_retired = retire_absent(cur, spec, kind, params, footprint, allow_mass_retire)
    return {"inserted": n_inserted, "updated": n_updated, "unchanged": n_unchanged,
            "retired": n_retired}


def retire_absent(cur, spec: TableSpec, kind: str, params: dict, footprint: Footprint,
                  allow_mass_retire: bool = False) -> int:
    """Mark not current the held rows inside ``footprint`` that the input does not have.

    Their previous version goes to ``source_history`` (change ``retired``); nothing is
    deleted. A load that would retire more than :data:`MASS_RETIRE_SHARE` of the
    catalog's current rows (and more than :data:`MASS_RETIRE_MIN_ROWS`) is refused
    unless ``allow_mass_retire``: an empty, truncated or wrong file must not retire a
    catalog.

    Raises
    ------
    catalog.errors.ConflictError
        On a mass retirement that was not allowed (the transaction then rolls back).
    """
    if footprint.retires_nothing:
        return 0
    inside, fp_params = footprint.sql("t")
    params = {**params, **fp_params}
    absent = ("WHERE t.catalog = %(cat)s AND t.is_current AND NOT EXISTS "
              f"(SELECT 1 FROM stg s WHERE s.native_id = t.native_id) AND {inside}")
    if not allow_mass_retire:
        # two statements: an EXISTS inside FILTER is a per-row subplan (a scan of stg for
        # every held row); on its own it is a hashed anti-join
        cur.execute(f"SELECT count(*) FROM livecat.{spec.table} t {absent}", params)
        n_absent = cur.fetchone()[0]
        cur.execute(f"SELECT count(*) FROM livecat.{spec.table} t "
                    f"WHERE t.catalog = %(cat)s AND t.is_current", params)
        n_current = cur.fetchone()[0]
        if n_absent > MASS_RETIRE_MIN_ROWS and n_absent > MASS_RETIRE_SHARE * n_current:
            raise ConflictError(
                f"this input would retire {n_absent} of the {n_current} current rows of "
                f"{params['cat']} ({100.0 * n_absent / n_current:.0f}%, more than "
                f"{100 * MASS_RETIRE_SHARE:g}%) within its footprint ({footprint.summary()}); "
                "if that is right (a release that really dropped them), run again with "
                "--allow-mass-retire; nothing was written")
    cur.execute(history_sql(spec, kind, "'retired'", absent), params)
    cur.execute(f"UPDATE livecat.{spec.table} t SET is_current = false, updated_at = now() "
                f"{absent}", params)
    return cur.rowcount


#: The parallel arrays of an ``xray_source_flux`` row.
FLUX_ARRAYS = ("band", "kind", "band_lo_kev", "band_hi_kev", "value", "value_lo", "value_hi")


def replace_fluxes(cur, streamed: bool = False) -> None:
    """Replace the flux arrays of the changed sources by the staged ones.

    One ``xray_source_flux`` row per source (migration 0007): the staged bands of a source
    aggregated into arrays in (band, kind) order, which the table's CHECK requires. The
    order comes from the sorted subquery: ``array_agg`` keeps its input order, and a
    transaction's temporary tables are never read by parallel workers.

    ``streamed``: the staged fluxes are one chunk of a streamed new catalog, all of
    sources just inserted: nothing to delete first.
    """
    if not streamed:
        cur.execute("DELETE FROM livecat.xray_source_flux f USING stg_changed c "
                    "WHERE f.source_id = c.id AND c.change = 'updated'")
    cur.execute("DROP TABLE IF EXISTS stg_band_rank")  # stg_band grows chunk by chunk
    cur.execute("CREATE TEMP TABLE stg_band_rank ON COMMIT DROP AS SELECT band_no, "
                "row_number() OVER (ORDER BY band, kind) AS rank FROM stg_band")
    value = {c: f"NULLIF(f.{c}, 'NaN')" for c in ("value", "value_lo", "value_hi")}
    columns = ", ".join(f"b.{c}" if c not in value else f"{value[c]} AS {c}"
                        for c in FLUX_ARRAYS)
    aggregates = ", ".join(f"array_agg(o.{c})" for c in FLUX_ARRAYS)
    names = ", ".join(FLUX_ARRAYS)
    cur.execute(
        f"INSERT INTO livecat.xray_source_flux (source_id, {names}) "
        f"SELECT c.id, {', '.join(f'g.{c}' for c in FLUX_ARRAYS)} FROM ("
        f"  SELECT o.source_key, {aggregates} FROM ("
        f"    SELECT f.source_key, {columns} FROM stg_flux f "
        "     JOIN stg_band b ON b.band_no = f.band_no "
        "     JOIN stg_band_rank r ON r.band_no = f.band_no "
        "     ORDER BY f.source_key, r.rank) o GROUP BY o.source_key"
        f") g(source_key, {names}) "
        "JOIN stg s ON s.row_no = g.source_key "
        "JOIN stg_changed c ON c.native_id = s.native_id "
        "ORDER BY c.id")  # in key order: appends to the primary-key btree
