"""``livecat objects build``: group the X-ray catalogs' sources into sky objects.

One transaction, under the process lock ``objects``:

1. what changed since the current associations were made (:func:`associate.object_store.
   changed_sources`): sources added, moved (position or error) or retired. The first
   build (or ``full``) groups every current source of the catalogs
   (:func:`associate.objects.match_missions`); a later one reads only the neighbourhood of
   the changes (:func:`associate.neighbourhood.gather_neighbourhood`) and redoes it
   (:func:`associate.regroup.regroup`), which equals a full rebuild;
2. ended associations get the run and the release that ended them, new ones are started,
   objects are inserted, updated, or stop being current when left without members;
3. the common-band fluxes of the sources added or changed since their last conversion
   (:mod:`associate.common_flux`) and the variability of the objects touched
   (:func:`catalog.variability.object_variability`, broad band b).
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from associate import object_store as store
from associate.common_flux import (ConversionAhead, store_conversion_table,
                                   update_common_fluxes)
from associate.neighbourhood import gather_neighbourhood
from associate.objects import Grouping, match_missions
from associate.regroup import regroup
from associate.store import xray_catalogs
from catalog import idsets
from catalog.bands import COMMON_BANDS
from catalog.coords import Region
from catalog.engine import plan_for_values
from catalog.locks import hold_lock
from catalog.pgcopy import bigint_array, read_columns
from catalog.settings import SCHEMA
from catalog.variability import object_variability

#: The common band the variability across missions is measured in.
VARIABILITY_BAND = "b"


@dataclass
class BuildSummary:
    """What one object build did."""

    run_id: int
    incremental: bool
    n_sources: int = 0
    n_scope: int = 0
    n_objects: int = 0
    n_started: int = 0
    n_ended: int = 0
    n_ambiguous: int = 0
    n_multi: int = 0
    n_variable: int = 0
    fluxes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Human-readable lines."""
        how = "incremental" if self.incremental else "full"
        out = [f"object build {self.run_id} ({how}): {self.n_scope} of {self.n_sources} "
               f"sources regrouped; {self.n_started} associations started, {self.n_ended} "
               f"ended, {self.n_ambiguous} ambiguous; {self.n_objects} current objects, "
               f"{self.n_multi} seen by more than one catalog; {self.seconds:.1f} s"]
        n_values = self.fluxes.get("value", 0)
        reasons = [(r, n) for r, n in self.fluxes.most_common() if r != "value"]
        out.append(f"common-band fluxes: {n_values} values"
                   + ("; none: " + ", ".join(f"{r} {n}" for r, n in reasons) if reasons else ""))
        out.append(f"variability: {self.n_variable} objects with two or more "
                   f"{VARIABILITY_BAND}-band fluxes")
        return out


def build_objects(engine: Engine, *, catalogs=None, region: Region | None = None,
                  full: bool = False, command: str | None = None,
                  reporter=None) -> BuildSummary:
    """Build or update the cross-mission objects (see the module docstring).

    Returns
    -------
    BuildSummary
    """
    started = time.monotonic()
    log = reporter.log if reporter else (lambda message: None)
    with engine.begin() as conn:
        hold_lock(conn.connection.dbapi_connection.cursor(), "objects", wait=False,
                  busy_message="another `livecat objects build` is running; try again "
                               "when it has finished")
        plan_for_values(conn)
        snapshot_at = store.snapshot_time(conn)
        cats = xray_catalogs(conn, list(dict.fromkeys(catalogs)) if catalogs else None)
        last = store.last_full_build(conn, cats)
        since = None if last is None else last["snapshot_at"]
        previous = _previous_params(conn) if store.has_current_associations(conn) else None
        first = full or previous is None
        # the sources' fluxes are read and converted in the background meanwhile
        ahead = ConversionAhead(conn, find_ids=lambda reader: _needs_conversion(
            reader, cats, None if first else since))
        with closing(ahead):
            region_json = (None if region is None else
                           {"ra": region.ra, "dec": region.dec,
                            "radius_arcsec": region.radius_arcsec})
            if first:
                sources = store.mission_sources(conn, cats)
                if region is not None:
                    sources = sources[region.contains(sources["ra"], sources["dec"])]
                log(f"grouping {len(sources)} sources of {', '.join(cats)}")
                grouping = match_missions(sources, key_start=store.next_object_id(conn))
                params = grouping.params
                run_id = store.create_run(conn, cats, region_json, params, command, snapshot_at)
                ended_ids = idsets.intersection(store.associated_ids(conn),
                                                sources["source_id"].to_numpy(np.int64))
                n_ended = store.end_associations(conn, ended_ids, run_id)
                # the fluxes first: the objects are then written with their variability
                to_convert, fluxes = _convert(conn, ahead, run_id, log,
                                              band=VARIABILITY_BAND)
                objects = _with_variability(conn, grouping, fluxes.band)
                store.insert_objects(conn, objects, run_id)
                n_started = store.start_associations(conn, grouping.links, run_id)
                scope, links = sources["source_id"].to_numpy(np.int64), grouping.links
                n_variable = int(objects["var_ratio"].notna().sum())
                # other objects whose members' fluxes changed (outside the region)
                touched = (np.zeros(0, np.int64) if region is None else idsets.difference(
                    _objects_of(conn, to_convert), objects["object_key"].to_numpy(np.int64)))
            else:
                params = previous
                new, moved, retired = store.changed_sources(conn, cats, since)
                changed = idsets.union(new, moved)
                if region is not None:
                    pos = store.mission_sources(conn, cats, changed)
                    changed = pos.loc[region.contains(pos["ra"], pos["dec"]),
                                      "source_id"].to_numpy(np.int64)
                run_id = store.create_run(conn, cats, region_json, params, command, snapshot_at)
                log(f"{len(new)} new, {len(moved)} moved, {len(retired)} retired sources")
                n_started = n_ended = 0
                scope, links, touched = np.zeros(0, np.int64), None, np.zeros(0, np.int64)
                emptied = affected = np.zeros(0, np.int64)
                before = (0, 0)
                if len(changed) or len(retired):
                    nb = gather_neighbourhood(
                        changed, retired, params,
                        links_of=lambda ids: store.links_of(conn, ids),
                        sources_by_id=lambda ids: store.mission_sources(conn, cats, ids),
                        sources_in_pixels=lambda pix, order: store.sources_in_pixels(
                            conn, cats, pix, order))
                    res = regroup(Grouping.from_links(nb.links, params=params), nb.sources,
                                  changed_ids=changed, retired_ids=retired, region=nb.region,
                                  next_key=store.next_object_id(conn))
                    emptied = res.ended["object_key"].to_numpy(np.int64)
                    affected = idsets.union(emptied, res.updated["object_key"].to_numpy(np.int64))
                    before = store.object_counts(conn, affected)
                    n_ended = store.end_associations(conn, res.ended["source_id"], run_id)
                    status = res.updated["status"]
                    store.insert_objects(conn, res.updated[status == "new"], run_id)
                    store.update_objects(conn, res.updated[status == "changed"], run_id)
                    n_started = store.start_associations(conn, res.started, run_id)
                    store.confirm_positions(conn, idsets.difference(
                        idsets.intersection(moved, changed),
                        res.started["source_id"].to_numpy(np.int64)))
                    scope, links = res.scope, res.grouping.links
                    touched = res.updated["object_key"].to_numpy(np.int64)
            store.retire_empty_objects(conn, run_id, None if first else emptied)
            if first:
                n_variable += _update_variability(conn, touched)
                store.analyze_built(conn)
            else:
                to_convert, fluxes = _convert(conn, ahead, run_id, log)
                touched = idsets.union(touched, _objects_of(conn, to_convert))
                n_variable = _update_variability(conn, touched)
            prev = None if first else last
            if prev is None or region is not None or None in (
                    prev["n_sources"], prev["n_objects"], prev["n_multi"]):
                counts = conn.execute(sa.text(f"""
                    SELECT count(*), count(*) FILTER (WHERE n_members > 1)
                      FROM {SCHEMA}.xray_object WHERE is_current""")).one()
                n_sources = int(conn.execute(sa.text(
                    f"SELECT count(*) FROM {SCHEMA}.xray_source WHERE is_current "
                    f"AND catalog = ANY(:c)"), {"c": cats}).scalar_one())
            else:
                # the previous full-sky build's counts and what this one changed: it left
                # every current source with one current association (n_sources), and only
                # the objects it inserted, updated or emptied can have changed
                after = store.object_counts(conn, affected)
                counts = (prev["n_objects"] + after[0] - before[0],
                          prev["n_multi"] + after[1] - before[1])
                n_sources = prev["n_sources"] + n_started - n_ended
            n_ambiguous = int(links["ambiguous"].sum()) if links is not None and len(links) else 0
            out = BuildSummary(run_id=run_id, incremental=not first, n_sources=n_sources,
                               n_scope=len(scope), n_objects=int(counts[0]),
                               n_started=n_started, n_ended=n_ended, n_ambiguous=n_ambiguous,
                               n_multi=int(counts[1]), n_variable=n_variable,
                               fluxes=fluxes.counts)
            out.seconds = time.monotonic() - started
            store.finish_run(conn, run_id, {
                "n_sources": n_sources, "n_objects": out.n_objects, "n_multi": out.n_multi,
                "n_started": n_started,
                "n_ended": n_ended, "n_ambiguous": n_ambiguous, "seconds": out.seconds})
    return out


def _previous_params(conn) -> dict | None:
    """The matching parameters of the latest build that started associations (its count,
    not a probe of ``xray_association``: that scans it when the latest builds started
    none)."""
    row = conn.execute(sa.text(
        f"SELECT params FROM {SCHEMA}.object_build_run WHERE n_started > 0 "
        f"ORDER BY id DESC LIMIT 1")).scalar()
    return dict(row) if row else None


def _convert(conn, ahead: ConversionAhead, run_id: int, log, band: str | None = None):
    """The conversion table (first time), then the common-band fluxes of the sources
    that need them (``ahead``: :func:`_needs_conversion`, read and converted in the
    background); returns their ids and the
    :class:`associate.common_flux.CommonFluxUpdate`."""
    if not conn.execute(sa.text(
            f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.band_conversion)")).scalar():
        store_conversion_table(conn)
    to_convert = ahead.source_ids()
    log(f"converting the fluxes of {len(to_convert)} sources to the CSC bands")
    return to_convert, update_common_fluxes(conn, ahead, run_id, band=band)


def _with_variability(conn, grouping: Grouping, converted: pd.DataFrame) -> pd.DataFrame:
    """``grouping.objects`` with their variability (:func:`catalog.variability.
    object_variability`) from their members' fluxes in :data:`VARIABILITY_BAND`: those
    just ``converted`` (``source_id, value, value_lo, value_hi``), the others'
    stored ones."""
    members = grouping.links[["source_id", "object_key"]]
    ids = members["source_id"].to_numpy(np.int64)
    stored = _stored_band_fluxes(conn, idsets.difference(
        ids, converted["source_id"].to_numpy(np.int64)))
    fluxes = pd.concat([converted, stored], ignore_index=True) if len(stored) else converted
    frame = members.merge(fluxes, on="source_id", how="inner")
    var = (object_variability(frame, group_col="object_key", band=VARIABILITY_BAND)
           if len(frame) else pd.DataFrame(columns=["object_key", *VARIABILITY_COLUMNS]))
    out = grouping.objects.merge(var[["object_key", *VARIABILITY_COLUMNS]], on="object_key",
                                 how="left")
    return _no_variability_where_unmeasured(out)


#: The variability columns of ``xray_object``.
VARIABILITY_COLUMNS = ("var_band", "var_ratio", "var_sigma", "var_is_lower_limit")


def _no_variability_where_unmeasured(var: pd.DataFrame) -> pd.DataFrame:
    none = var["var_ratio"].isna().to_numpy()
    var["var_band"] = var["var_band"].astype(object)
    var.loc[none, "var_band"] = None
    var["var_is_lower_limit"] = var["var_is_lower_limit"].astype(object)
    var.loc[none, "var_is_lower_limit"] = None
    return var


def _stored_band_fluxes(conn, source_ids) -> pd.DataFrame:
    """``source_id, value, value_lo, value_hi`` in :data:`VARIABILITY_BAND` of these
    sources' stored common-band fluxes (those that have them)."""
    return _band_fluxes(conn, "f.source_id", f"JOIN {SCHEMA}.xray_source_common_flux f "
                        f"ON f.source_id = t.id", source_ids)


def _band_fluxes(conn, key: str, joins: str, ids) -> pd.DataFrame:
    """``key`` (a qualified column: ``f.source_id``, ``a.object_id``; named without its
    table) and ``value, value_lo, value_hi`` in :data:`VARIABILITY_BAND` (NaN: none) of
    the stored common-band fluxes ``f`` that ``joins`` reaches from the ids given
    (``t.id``)."""
    i = COMMON_BANDS.index(VARIABILITY_BAND) + 1  # the arrays run over COMMON_BANDS
    column = key.rsplit(".", 1)[-1]
    return pd.DataFrame(read_columns(conn.connection.dbapi_connection, f"""
        SELECT {key}, coalesce(f.value[{i}], 'NaN'),
               coalesce(f.value_lo[{i}], 'NaN'), coalesce(f.value_hi[{i}], 'NaN')
          FROM unnest(CAST(%(ids)s AS bigint[])) AS t(id) {joins}""",
        {column: "int64", "value": "float64", "value_lo": "float64",
         "value_hi": "float64"}, {"ids": bigint_array(ids)}))


def _needs_conversion(conn, catalogs: list[str], since=None) -> np.ndarray:
    """Current sources without common-band fluxes converted since they last changed (a
    run converted what changed before its ``snapshot_at``); with ``since``
    (:func:`associate.object_store.last_full_build`) only those changed since then."""
    recent = "" if since is None else "AND s.updated_at >= %(since)s"
    return np.sort(read_columns(conn.connection.dbapi_connection, f"""
        SELECT s.id FROM {SCHEMA}.xray_source s
         WHERE s.is_current AND s.catalog = ANY(%(c)s) {recent} AND NOT EXISTS (
               SELECT 1 FROM {SCHEMA}.xray_source_common_flux f
                 JOIN {SCHEMA}.object_build_run r ON r.id = f.run_id
                WHERE f.source_id = s.id
                  AND coalesce(r.snapshot_at > s.updated_at, r.created_at >= s.updated_at))""",
        {"id": "int64"}, {"c": list(catalogs), "since": since})["id"])


def _objects_of(conn, source_ids) -> np.ndarray:
    return np.asarray(conn.execute(sa.text(
        f"SELECT DISTINCT object_id FROM {SCHEMA}.xray_association "
        f"WHERE ended_run_id IS NULL AND xray_source_id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": bigint_array(source_ids)}).scalars().all(), dtype=np.int64)


def _update_variability(conn, object_ids) -> int:
    """Recompute the variability of these objects from their members' fluxes."""
    if not len(object_ids):
        return 0
    frame = _band_fluxes(
        conn, "a.object_id",
        f"JOIN {SCHEMA}.xray_association a ON a.object_id = t.id AND a.ended_run_id IS NULL "
        f"JOIN {SCHEMA}.xray_source_common_flux f ON f.source_id = a.xray_source_id",
        object_ids)
    var = (object_variability(frame, group_col="object_id", band=VARIABILITY_BAND)
           if len(frame) else pd.DataFrame(columns=["object_id", *VARIABILITY_COLUMNS]))
    var = _no_variability_where_unmeasured(pd.DataFrame(
        {"object_id": np.asarray(object_ids, np.int64)}).merge(var, on="object_id",
                                                               how="left"))
    store.write_variability(conn, var)
    return int(var["var_ratio"].notna().sum())
