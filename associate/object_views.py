"""What ``livecat objects show`` and ``livecat objects runs`` print."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.bands import COMMON_BANDS
from catalog.errors import InputError
from catalog.settings import SCHEMA


def resolve_object(conn, ref: str) -> int:
    """Object id from ``ref``: an object id, or ``CATALOG:NATIVE_ID`` of a member (its
    current object)."""
    text = str(ref).strip()
    if text.isdigit():
        found = conn.execute(sa.text(f"SELECT id FROM {SCHEMA}.xray_object WHERE id = :i"),
                             {"i": int(text)}).scalar()
        if found is None:
            raise InputError(f"no object {text}: see `livecat objects runs` and the view "
                             f"livecat.xray_object_members")
        return int(found)
    catalog, sep, native = text.partition(":")
    if not sep:
        raise InputError(f"{ref!r}: expected an object id or CATALOG:NATIVE_ID of a member "
                         f"(e.g. \"csc:2CXO J122906.7+020308\")")
    found = conn.execute(sa.text(f"""
        SELECT a.object_id FROM {SCHEMA}.xray_source s
          JOIN {SCHEMA}.xray_association a ON a.xray_source_id = s.id
               AND a.ended_run_id IS NULL
         WHERE s.catalog = :c AND s.native_id = :n"""), {"c": catalog, "n": native}).scalar()
    if found is None:
        raise InputError(f"{ref!r} is not a member of any current object (no such source, "
                         f"or `livecat objects build` has not run since it was ingested)")
    return int(found)


def object_detail(engine: Engine, ref: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Head line, members (with common-band fluxes) and ended associations of an object."""
    with engine.connect() as conn:
        oid = resolve_object(conn, ref)
        obj = conn.execute(sa.text(
            f"SELECT * FROM {SCHEMA}.xray_object WHERE id = :i"), {"i": oid}).mappings().one()
        flux_cols = ", ".join(
            f"max(f.value) FILTER (WHERE f.band = '{b}') AS flux_{b}" for b in COMMON_BANDS)
        members = pd.read_sql_query(sa.text(f"""
            SELECT s.catalog, s.native_id, s.id AS source_id, s.ra, s.dec,
                   s.pos_err_arcsec, a.separation_arcsec, a.n_sigma, a.ambiguous,
                   jsonb_array_length(a.alternatives) AS n_alternatives, {flux_cols},
                   bool_or(f.native) AS native_fluxes,
                   string_agg(DISTINCT f.reason, '; ') AS flux_reasons
              FROM {SCHEMA}.xray_association a
              JOIN {SCHEMA}.xray_source s ON s.id = a.xray_source_id
              LEFT JOIN {SCHEMA}.xray_common_flux f ON f.source_id = s.id
             WHERE a.object_id = :i AND a.ended_run_id IS NULL
             GROUP BY s.id, a.id ORDER BY s.catalog, s.native_id"""), conn, params={"i": oid})
        ended = pd.read_sql_query(sa.text(f"""
            SELECT s.catalog, s.native_id, a.started_run_id, a.ended_run_id,
                   r.catalog || ' ' || r.version AS ended_by_release, a.ended_at
              FROM {SCHEMA}.xray_association a
              JOIN {SCHEMA}.xray_source s ON s.id = a.xray_source_id
              LEFT JOIN {SCHEMA}.catalog_release r ON r.id = a.ended_release_id
             WHERE a.object_id = :i AND a.ended_run_id IS NOT NULL
             ORDER BY a.ended_at, s.catalog"""), conn, params={"i": oid})
    var = ("not seen more than once in one common band" if obj["var_ratio"] is None else
           f"{obj['var_band']}-band flux ratio {obj['var_ratio']:.3g}"
           + (" (significance unknown: a flux without errors)" if obj["var_sigma"] is None
              else f" at {obj['var_sigma']:.2f} sigma"))
    head = (f"object {oid}{'' if obj['is_current'] else ' (no longer current)'}: "
            f"RA {obj['ra']:.6f} Dec {obj['dec']:+.6f} "
            f"(+/- {obj['pos_err_arcsec']:.2g} arcsec), {obj['n_members']} member(s) in "
            f"{', '.join(obj['catalogs'])}; variability: {var}")
    return head, members, ended


def list_builds(engine: Engine) -> pd.DataFrame:
    """The object build runs, newest first."""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(
            f"SELECT id, created_at, invoked_by, array_to_string(catalogs, ',') AS catalogs, "
            f"n_sources, n_objects, n_started, n_ended, n_ambiguous, "
            f"round(seconds::numeric, 2) AS seconds "
            f"FROM {SCHEMA}.object_build_run ORDER BY id DESC"), conn)
