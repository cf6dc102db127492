"""The database side of staging: temporary tables, binary COPY, flux staging.

A load stages its rows in temporary tables that live until commit (:data:`STAGING_TABLES`):
``stg`` holds the prepared rows (:mod:`ingest.rows`), ``stg_flux`` the X-ray flux rows as
numbers (row, band number, values) and ``stg_band`` what each band number is, so fluxes
travel by vectorised binary COPY with no Python loop per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import psycopg

from catalog.pgcopy import copy_columns
from ingest.rows import PreparedChunk, TableSpec, row_chunks

#: Called with (stage, done, total) as the load advances.
Progress = Callable[[str, int, "int | None"], None]


def copy_frame(cur, table: str, frame: pd.DataFrame, progress: Progress | None,
               stage: str, types: dict[str, str] | None = None) -> int:
    """COPY a staging frame into ``table``.

    With ``types`` (column -> PostgreSQL type, every column of ``frame``), in binary
    format: about three times faster than text for float-heavy rows, and exact (floats
    travel as their IEEE bits). JSON columns are staged as ``text`` (see
    :func:`staging_type`). Without ``types``, in text format.
    """
    names = ", ".join(f'"{c}"' for c in frame.columns)
    done = 0
    binary = types is not None
    sql = f"COPY {table} ({names}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
    with cur.copy(sql) as copy:
        if binary:
            copy.set_types([types[c] for c in frame.columns])
        for rows in row_chunks(frame):
            for row in rows:
                copy.write_row(row)
            done += len(rows)
            if progress:
                progress(stage, done, len(frame))
    return done


def staging_type(pgtype: str) -> str:
    """Type of a column in the staging tables: JSON is staged as text (it is serialised
    by :func:`json_text`) and cast to ``jsonb`` when it reaches the real table."""
    return "text" if pgtype == "jsonb" else pgtype


#: ``temp_buffers`` of a load's session: the staging tables stay in memory.
TEMP_BUFFERS = "1GB"


def enlarge_temp_buffers(cur) -> None:
    """Let the staging tables live in memory: with the default ``temp_buffers`` (8 MB)
    PostgreSQL writes a 100,000-row chunk of ``stg`` out to disk and reads it back for
    every statement that scans it (0.5 s a chunk). Local buffers are allocated only as
    used. The setting can change only before the session's first temporary table (a
    second load in one transaction keeps what the first set), hence the savepoint."""
    cur.execute("SAVEPOINT livecat_temp_buffers")
    try:
        cur.execute(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'")
    except psycopg.errors.InvalidParameterValue:
        cur.execute("ROLLBACK TO SAVEPOINT livecat_temp_buffers")
    cur.execute("RELEASE SAVEPOINT livecat_temp_buffers")


STAGING_TABLES = ("stg", "stg_changed", "stg_flux", "stg_band", "stg_band_rank")
"""The temporary tables of one load (dropped at commit)."""


def create_staging(cur, spec: TableSpec) -> None:
    """``stg`` (the staged rows, numbered by ``row_no``) and ``stg_changed`` (the ids a
    load inserted or updated, with which)."""
    cols = ", ".join(f'"{c}" {staging_type(t)}' for c, t in spec.columns)
    cur.execute(f"CREATE TEMP TABLE stg ({cols}, row_hash text NOT NULL, row_no bigint NOT NULL) "
                "ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE stg_changed (id bigint PRIMARY KEY, native_id text, "
                "change text) ON COMMIT DROP")


def create_flux_staging(cur) -> None:
    """``stg_flux``: one row per staged source and band, all numeric, so it is COPYed from
    numpy columns without a Python loop (:func:`catalog.pgcopy.copy_columns`); NaN stands
    for a missing value until the arrays are built. ``source_key`` is the source's
    ``stg.row_no``. ``stg_band``: what each ``band_no`` is."""
    cur.execute("CREATE TEMP TABLE stg_flux (source_key bigint, band_no bigint, value float8, "
                "value_lo float8, value_hi float8) ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE stg_band (band_no bigint PRIMARY KEY, band text NOT NULL, "
                "kind text NOT NULL, band_lo_kev float8 NOT NULL, band_hi_kev float8 NOT NULL) "
                "ON COMMIT DROP")


class FluxStager:
    """Stages the flux rows of successive chunks: numbers every distinct (band, kind,
    band_lo_kev, band_hi_kev) once per load and COPYs the rows as numbers."""

    def __init__(self, cur):
        self.cur = cur
        self.band_numbers: dict[tuple, int] = {}
        self.n_rows = 0

    def stage(self, fluxes: pd.DataFrame, source_key: pd.Series) -> None:
        """COPY ``fluxes`` (staged flux frame) for the sources whose key is given (a Series
        indexed by native id); flux rows of other native ids are dropped."""
        rows = fluxes["native_id"].map(source_key)
        wanted = rows.notna().to_numpy()
        fluxes, rows = fluxes[wanted], rows[wanted]
        if not len(fluxes):
            return
        keys = list(zip(fluxes["band"].tolist(), fluxes["kind"].tolist(),
                        fluxes["band_lo_kev"].tolist(), fluxes["band_hi_kev"].tolist()))
        new = {}
        for key in dict.fromkeys(keys):
            if key not in self.band_numbers:
                self.band_numbers[key] = new[key] = len(self.band_numbers)
        if new:
            with self.cur.copy("COPY stg_band (band_no, band, kind, band_lo_kev, band_hi_kev) "
                               "FROM STDIN") as copy:
                for (band, kind, lo, hi), number in new.items():
                    copy.write_row((number, band, kind, lo, hi))
        copy_columns(self.cur.connection, "stg_flux", {
            "source_key": rows.to_numpy(np.int64),
            "band_no": np.fromiter((self.band_numbers[k] for k in keys), np.int64, len(keys)),
            **{c: fluxes[c].to_numpy(np.float64) for c in ("value", "value_lo", "value_hi")},
        })
        self.n_rows += len(fluxes)


def stage_chunk(cur, catalog: str, prepared: PreparedChunk, spec: TableSpec,
                progress: Progress | None, first_row_no: int, flux_stager: FluxStager | None,
                catalog_is_new: bool) -> int:
    """COPY one prepared chunk into ``stg`` (rows numbered from ``first_row_no``) and its
    needed fluxes into ``stg_flux``. Returns the number of rows staged."""
    frame, fluxes = prepared.frame, prepared.fluxes
    frame["row_no"] = np.arange(first_row_no, first_row_no + len(frame), dtype=np.int64)
    copy_frame(cur, "stg", frame, progress, "copy rows",
               {**{c: staging_type(t) for c, t in spec.columns}, "row_hash": "text",
                "row_no": "bigint"})
    if fluxes is not None and len(fluxes):
        key = pd.Series(frame["row_no"].to_numpy(np.int64), index=frame["native_id"].to_numpy())
        # the flux rows of sources that stay unchanged are not needed: a re-ingest of an
        # unchanged release sends none (unchanged = same hash and current, as upsert_compared)
        if not catalog_is_new:
            unchanged = _unchanged_ids(cur, catalog, frame)
            if unchanged:
                key = key[~key.index.isin(list(unchanged))]
        flux_stager.stage(fluxes, key)
        if progress:
            progress("copy fluxes", flux_stager.n_rows, flux_stager.n_rows)
    return len(frame)


def _unchanged_ids(cur, catalog: str, frame: pd.DataFrame) -> set:
    """Native ids of ``frame`` held current with the same row hash."""
    if not len(frame):
        return set()
    cur.execute("SELECT t.native_id FROM unnest(%s::text[], %s::text[]) AS u(nid, h) "
                "JOIN livecat.xray_source t ON t.catalog = %s AND t.native_id = u.nid "
                "AND t.row_hash = u.h AND t.is_current",
                (frame["native_id"].tolist(), frame["row_hash"].tolist(), catalog))
    return {r[0] for r in cur.fetchall()}
