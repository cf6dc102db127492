"""The shared load: one normalized catalog release into PostgreSQL, in one transaction.

Every catalog's normalize stage returns :class:`ingest.normalized.NormalizedCatalog`
chunks; :func:`load_catalog` writes them into ``xray_source`` + ``xray_source_flux``
(kind ``"xray"``) or ``literature_object`` (kind ``"literature"``). In one transaction it

1. takes the catalog's ingest lock (a second ingest of the same catalog fails with
   :class:`~catalog.errors.ConflictError`, or waits with ``wait=True``);
2. finds or creates the ``catalog_release`` row and inserts the ``ingest_run`` row
   (:mod:`ingest.runs`);
3. prepares each chunk (validate, convert, hash: :mod:`ingest.rows`) in a background
   thread one chunk ahead (:mod:`ingest.prefetch`) and stages it by binary COPY
   (:mod:`ingest.staging`);
4. writes the rows in one of two modes:

   - :func:`load_new_streamed`: an X-ray catalog with no rows yet has nothing to compare
     with, so each chunk goes into the final tables as soon as it is staged (the staging
     tables hold one chunk) while the next chunk is prepared;
   - :func:`load_compared`: everything is staged, renames are detected inside the
     footprint (:mod:`ingest.renames`), then one set-based upsert inserts, updates with
     history and retires inside the footprint (:mod:`ingest.upsert`);

5. records the rejects, checks that rows read = kept + rejected and kept = inserted +
   updated + unchanged (it refuses to commit otherwise), and records the counts.

A failure anywhere rolls everything back; the run is then recorded as ``failed`` in a
separate short transaction. A killed process leaves nothing behind (the server aborts
the open transaction and releases the lock). Loading the same input twice reports 0
inserted and 0 updated the second time. An input with no valid row changes nothing and
is an error.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from catalog.settings import login_name
from ingest.footprint import Footprint
from ingest.normalized import NormalizedCatalog
from ingest.prefetch import prefetched
from ingest.renames import apply_renames, detect_renames
from ingest.rows import SPECS, TableSpec, prepare_chunk
from ingest.runs import (LoadResult, check_invariants, open_release, record_failed_run,
                         start_run, take_lock, write_rejects)
from ingest.staging import (FluxStager, Progress, create_flux_staging, create_staging,
                            enlarge_temp_buffers, stage_chunk)
from ingest.upsert import check_taxonomy, insert_new, replace_fluxes, upsert_compared
from ingest.vacuum import vacuum_loaded


@dataclass(frozen=True)
class Release:
    """What is being loaded: the catalog, its release and where the input came from.

    Attributes
    ----------
    catalog : str
        Catalog name (``"atnf"``, ``"csc"``, ...): the key of its rows and of its lock.
    version : str
        Release name; the ``catalog_release`` row is found or created by it.
    origin, checksum, remote_meta : optional
        Where the input came from, its SHA-256 and the fetch metadata.
    footprint : Footprint
        The sky the input speaks for: held rows inside it and absent from the input are
        retired. Default: the whole sky (a complete release).
    """

    catalog: str
    version: str
    origin: str | None = None
    checksum: str | None = None
    remote_meta: dict | None = None
    footprint: Footprint = Footprint.whole_sky()


@dataclass(frozen=True)
class LoadOptions:
    """How to load: waiting for the lock, the mass-retirement guard, who and progress."""

    wait: bool = False
    allow_mass_retire: bool = False
    invoked_by: str | None = None
    command: str | None = None
    progress: Progress | None = None

    def resolved(self) -> "LoadOptions":
        """These options with ``invoked_by`` and ``command`` filled in."""
        return LoadOptions(self.wait, self.allow_mass_retire,
                           self.invoked_by or login_name(),
                           self.command or " ".join(sys.argv), self.progress)


@contextmanager
def ingest_transaction(engine: Engine, failed_runs: Callable[[], list[tuple]],
                       options: LoadOptions):
    """One ingest's transaction: ``with ingest_transaction(...) as (conn, cur):``.

    Yields a connection in an open transaction and its driver cursor (what
    :func:`load_in_transaction` works on). On any failure the transaction rolls back,
    every run named by ``failed_runs()`` - ``(catalog, version, LoadResult or None)`` -
    is recorded as failed in a transaction of its own, and driver errors are re-raised
    as SQLAlchemy's (what the CLI reports in one line). After a commit, the tables a load
    writes are vacuumed and analysed (:func:`ingest.vacuum.vacuum_loaded`).
    """
    try:
        with engine.connect() as conn, conn.begin():
            yield conn, conn.connection.dbapi_connection.cursor()
    except BaseException as exc:
        if isinstance(exc, (Exception, KeyboardInterrupt)):
            for catalog, version, result in failed_runs():
                if result is not None:
                    result.status = "failed"
                record_failed_run(engine, catalog, version, exc, result, options.invoked_by,
                                  options.command)
        if isinstance(exc, psycopg.Error):
            raise sa.exc.DBAPIError(None, None, exc) from exc
        raise
    vacuum_loaded(engine)


def load_catalog(engine: Engine, catalog: str, normalized, *, version: str,
                 origin: str | None = None, checksum: str | None = None,
                 remote_meta: dict | None = None, footprint: Footprint | None = None,
                 wait: bool = False, allow_mass_retire: bool = False,
                 invoked_by: str | None = None, command: str | None = None,
                 progress: Progress | None = None) -> LoadResult:
    """Load a normalized catalog release in one transaction (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    catalog : str
    normalized : NormalizedCatalog or iterable of them
        Output of the catalog's normalize stage, or the chunks of a chunked normalize:
        each chunk is staged and released before the next is produced, so peak memory
        is two chunks'. Chunks must not repeat a native id; all chunks are one release.
    version, origin, checksum, remote_meta, footprint
        See :class:`Release` (footprint default: the whole sky).
    wait, allow_mass_retire, invoked_by, command, progress
        See :class:`LoadOptions`.

    Returns
    -------
    LoadResult

    Raises
    ------
    catalog.errors.ConflictError
        Another ingest holds the lock, the counts do not add up, or a mass retirement
        was not allowed.
    catalog.errors.InputError
        No valid row, a class outside the taxonomy, or an unknown kind.
    """
    release = Release(catalog, version, origin, checksum, remote_meta,
                      footprint or Footprint.whole_sky())
    options = LoadOptions(wait, allow_mass_retire, invoked_by, command, progress).resolved()
    started = time.monotonic()
    result = LoadResult(catalog=catalog, version=version, kind="")
    with ingest_transaction(engine, lambda: [(catalog, version, result)], options) as (_, cur):
        load_in_transaction(cur, release, normalized, result, options)
    result.status = "succeeded"
    result.seconds = time.monotonic() - started
    return result


def load_in_transaction(cur, release: Release, normalized, result: LoadResult,
                        options: LoadOptions) -> None:
    """The body of a load, on the driver cursor of an open transaction; commits nothing.

    :func:`load_catalog` runs it in :func:`ingest_transaction`; an import that must
    commit several loads together (the MUWCLASS training set) runs it once per catalog in
    one such transaction.
    """
    chunks = iter([normalized]) if isinstance(normalized, NormalizedCatalog) \
        else iter(normalized)
    first = next(chunks, None)
    if first is None:
        raise InputError(f"nothing to load for {release.catalog} {release.version}: the "
                         "normalize stage produced no chunk")
    if first.kind not in SPECS:
        raise InputError(f"unknown catalog kind {first.kind!r}: expected one of "
                         f"{', '.join(SPECS)}")
    result.kind = first.kind
    spec = SPECS[first.kind]
    take_lock(cur, release.catalog, options.wait)
    # hash joins and aggregates over a million staged rows stay in memory
    cur.execute("SET LOCAL work_mem = '256MB'")
    enlarge_temp_buffers(cur)
    result.release_id = open_release(cur, release.catalog, release.version,
                                     origin=release.origin, checksum=release.checksum,
                                     remote_meta=release.remote_meta,
                                     footprint=release.footprint)
    result.run_id = start_run(cur, release.catalog, result.release_id, options.invoked_by,
                              options.command)
    params = {"cat": release.catalog, "rel": result.release_id, "run": result.run_id}
    cur.execute(f"SELECT NOT EXISTS (SELECT 1 FROM livecat.{spec.table} WHERE catalog = %s)",
                (release.catalog,))
    catalog_is_new = cur.fetchone()[0]
    create_staging(cur, spec)
    if first.kind == "xray":
        create_flux_staging(cur)
    prepared = prefetched(prepare_chunk(c, spec) for c in
                          _same_kind(itertools.chain([first], chunks), first.kind))
    try:
        if catalog_is_new and first.kind == "xray":
            staged, kept, rejects = load_new_streamed(cur, spec, params, prepared, result,
                                                      options.progress)
        else:
            staged, kept, rejects = load_compared(cur, spec, params, prepared, result,
                                                  release.footprint, options,
                                                  catalog_is_new)
    finally:
        prepared.close()
    _finish(cur, spec, params, result, staged, kept, rejects)
    if options.progress:
        options.progress("upsert", 1, 1)  # one step: the set-based statements


def load_new_streamed(cur, spec: TableSpec, params: dict, prepared: Iterator, result,
                      progress: Progress | None) -> tuple[int, int, list]:
    """Load a new X-ray catalog chunk by chunk: each staged chunk goes straight into
    ``xray_source`` and ``xray_source_flux`` (nothing to compare with), so the staging
    tables hold one chunk and every join stays chunk-sized.

    Returns (rows staged, rows kept, list of reject frames).
    """
    flux_stager = FluxStager(cur)
    staged = kept = 0
    rejects = []
    for chunk in prepared:
        result.n_read += chunk.n_read
        cur.execute("TRUNCATE stg, stg_changed, stg_flux")
        n = stage_chunk(cur, params["cat"], chunk, spec, progress, kept, flux_stager, True)
        if len(chunk.rejects):
            rejects.append(chunk.rejects)
        chunk = None  # release the chunk before the next one is produced
        cur.execute("SELECT count(*) FROM stg")
        staged += cur.fetchone()[0]
        result.n_inserted += insert_new(cur, spec, params)
        replace_fluxes(cur, streamed=True)
        kept += n
    if progress:
        progress("upsert", 0, None)
    return staged, kept, rejects


def load_compared(cur, spec: TableSpec, params: dict, prepared: Iterator, result,
                  footprint: Footprint, options: LoadOptions,
                  catalog_is_new: bool) -> tuple[int, int, list]:
    """Stage every chunk, then compare with what is held: renames inside the footprint
    (X-ray), the set-based upsert, retirement inside the footprint, flux arrays of the
    inserted and changed sources. A catalog's first (literature) load skips the
    statements that look for changed, unchanged and absent rows.

    Returns (rows staged, rows kept, list of reject frames).
    """
    flux_stager = FluxStager(cur) if spec.table == "xray_source" else None
    kept = 0
    rejects = []
    for chunk in prepared:
        result.n_read += chunk.n_read
        kept += stage_chunk(cur, params["cat"], chunk, spec, options.progress, kept,
                            flux_stager, catalog_is_new)
        if len(chunk.rejects):
            rejects.append(chunk.rejects)
        chunk = None
    cur.execute("ANALYZE stg")
    cur.execute("SELECT count(*) FROM stg")
    staged = cur.fetchone()[0]
    if staged == 0:
        return staged, kept, rejects  # _finish refuses an input with no valid row
    if spec.table == "literature_object":
        check_taxonomy(cur)
    if options.progress:
        options.progress("upsert", 0, None)
    if footprint.kind == "input rows":
        footprint = _footprint_of_staged_rows(cur, params)
    if catalog_is_new:
        counts = {"inserted": insert_new(cur, spec, params), "updated": 0, "unchanged": 0,
                  "retired": 0}
    else:
        if flux_stager is not None and not footprint.retires_nothing:
            renames = detect_renames(cur, params, footprint)
            if len(renames):
                apply_renames(cur, renames, params)
            result.n_renamed = len(renames)
        counts = upsert_compared(cur, spec, result.kind, params, footprint,
                                 options.allow_mass_retire)
    if flux_stager is not None:
        replace_fluxes(cur)
    result.n_inserted, result.n_updated = counts["inserted"], counts["updated"]
    result.n_unchanged, result.n_retired = counts["unchanged"], counts["retired"]
    return staged, kept, rejects


def _footprint_of_staged_rows(cur, params: dict) -> Footprint:
    """Resolve :meth:`Footprint.input_rows` from the staged positions; record it on the
    release."""
    cur.execute("SELECT ra, dec FROM stg")
    rows = cur.fetchall()
    footprint = Footprint.from_rows([r[0] for r in rows], [r[1] for r in rows])
    cur.execute("UPDATE livecat.catalog_release SET remote_meta = coalesce(remote_meta, "
                "'{}'::jsonb) || jsonb_build_object('footprint', %s::jsonb) WHERE id = %s",
                (json.dumps(footprint.describe()), params["rel"]))
    return footprint


def _finish(cur, spec: TableSpec, params: dict, result: LoadResult, staged: int, kept: int,
            rejects: list) -> None:
    """Refuse an input with no valid row; record the rejects, check the invariants and
    write the counts."""
    all_rejects = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(
        columns=["row_number", "native_id", "reason"])
    result.n_rejected = len(all_rejects)
    if kept == 0:
        reasons = "; ".join(f"row {r.row_number}: {r.reason}" if pd.notna(r.row_number)
                            else str(r.reason) for r in all_rejects.head(3).itertuples())
        raise InputError(
            f"{result.catalog} {result.version}: the input has no valid row ({result.n_read} "
            f"read, {result.n_rejected} rejected"
            + (f"; e.g. {reasons}" if reasons else "") + "); nothing was changed")
    write_rejects(cur, result.run_id, all_rejects)
    check_invariants(result, staged, kept)
    cur.execute("UPDATE livecat.catalog_release SET rows = (SELECT count(*) FROM "
                f"livecat.{spec.table} WHERE catalog = %(cat)s AND last_release_id = %(rel)s) "
                "WHERE id = %(rel)s", params)
    cur.execute("UPDATE livecat.ingest_run SET n_read = %s, n_inserted = %s, n_updated = %s, "
                "n_unchanged = %s, n_rejected = %s, n_retired = %s, status = 'succeeded', "
                "finished_at = clock_timestamp() WHERE id = %s",
                (result.n_read, result.n_inserted, result.n_updated, result.n_unchanged,
                 result.n_rejected, result.n_retired, result.run_id))


def _same_kind(chunks: Iterable[NormalizedCatalog], kind: str) -> Iterator[NormalizedCatalog]:
    for chunk in chunks:
        if chunk.kind != kind:
            raise InputError(f"chunks of one load must share one kind: {kind} then "
                             f"{chunk.kind}")
        yield chunk
