"""The shared load path: one normalized catalog into PostgreSQL, in one transaction.

Every catalog's normalize stage returns a :class:`ingest.normalized.NormalizedCatalog`;
:func:`load_catalog` writes it into ``xray_source`` + ``xray_source_flux`` (the storage of
the ``xray_flux`` view; kind ``"xray"``) or
``literature_object`` (kind ``"literature"``). In one transaction it

1. takes the per-catalog advisory lock
   ``pg_try_advisory_xact_lock(hashtext('livecat:ingest:' || catalog))`` - a second ingest
   of the same catalog fails with :class:`~catalog.errors.ConflictError`, or waits with
   ``wait=True``;
2. finds or creates the ``catalog_release`` row and inserts the ``ingest_run`` row;
3. COPYs the rows into a temporary staging table, with ``hpx`` computed vectorised
   by :func:`catalog.healpix.radec_to_hpx` and a ``row_hash`` per row: a 64-bit hash of
   the row's normalized content and, for X-ray sources, of all its flux rows
   (:func:`row_hashes`, vectorised), so an unchanged row is recognised by comparing one
   value. Release-naming keys of the JSON columns (:data:`RELEASE_KEYS`) are dropped: a
   row's releases are its ``first_release_id``/``last_release_id``. The input may be
   one normalized catalog or an iterable of chunks (a catalog module's
   ``iter_normalize``): each chunk is validated, hashed and COPYed, then dropped before
   the next is produced, so peak memory is two chunks'. Chunks are prepared (validated,
   converted, hashed) in a background thread one chunk ahead, so that Python work overlaps
   PostgreSQL's. Flux rows are staged as numbers (``stg_flux``: row, band number, values),
   only for sources that are not already held current with the same hash;
4. for a complete X-ray release, detects renames (see below);
5. with set-based SQL: inserts the new ``(catalog, native_id)`` rows; copies each row
   whose hash changed into ``source_history`` (the whole previous row as JSONB, its
   fluxes too, with the run id) and updates it in place - the livecat id stays, so
   nothing that points at it is orphaned; leaves unchanged rows alone except for
   ``last_release_id`` (``updated_at`` is not touched); for a complete release marks the
   catalog's rows absent from it ``is_current = false`` (history kept, nothing deleted);
   for X-ray sources replaces the flux arrays of inserted and changed sources only (a
   re-ingest of an unchanged release sends no flux rows at all). A catalog's first
   ingest skips the statements that look for changed, unchanged and absent rows, and an
   X-ray catalog's first ingest is streamed: each chunk is inserted into ``xray_source``
   and ``xray_source_flux`` as soon as it is staged (the staging tables then hold one
   chunk), while the next chunk is prepared;
6. records the rejects (normalize's, plus rows the loader itself refuses: missing or
   duplicate native id, position that is not finite or out of range) in
   ``ingest_reject``, checks that rows read = kept + rejected and kept = inserted +
   updated + unchanged (it refuses to commit otherwise), and records the counts on
   the run.

A failure anywhere rolls everything back; the run is then recorded as ``failed`` in a
separate short transaction. A killed process leaves nothing behind (the server aborts
the open transaction and releases the lock). Running the same ingest twice reports 0
inserted and 0 updated the second time.

Renames (X-ray catalogs, complete releases only): a source whose native id vanished from
the new release and a new native id whose position agrees with it - mutual nearest
neighbours, separation within :data:`RENAME_SIGMA` times the combined 1-sigma position
errors - are taken to be the same object with a new designation. The existing row keeps
its livecat id and takes the new native id (counted as updated, not as inserted plus
retired); the old native id and name go to ``xray_source_alias``, and the previous row
to ``source_history`` with change ``renamed``.

Test hook: ``LIVECAT_TEST_PAUSE_BEFORE_COMMIT=<seconds>`` makes the loader print
``livecat-load: paused before commit`` on stderr and sleep before it commits, so a test
can kill it at a known point.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import ConflictError, InputError
from catalog.healpix import radec_to_hpx
from catalog.pgcopy import copy_columns
from catalog.settings import login_name
from ingest.normalized import NormalizedCatalog

#: Rows per COPY chunk (bounds the memory of the Python row tuples).
CHUNK_ROWS = 100_000
#: Rename rule: separation within this many combined 1-sigma position errors.
RENAME_SIGMA = 3.0
#: Bumped whenever the row hash recipe changes (every row then counts as changed once).
HASH_VERSION = "v2"
#: Top-level keys of the JSON columns that name the release a row came from. They are not
#: stored: a row's releases are its first_release_id/last_release_id, and a key that
#: changes with every release would make every row "updated" by every release.
RELEASE_KEYS = frozenset(("release", "catalog_version"))
PAUSE_ENV = "LIVECAT_TEST_PAUSE_BEFORE_COMMIT"
PAUSE_MARKER = "livecat-load: paused before commit"

#: Called with (stage, done, total) as the load advances.
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class TableSpec:
    """How one kind of normalized catalog maps onto its table.

    Attributes
    ----------
    table : str
        Target table in the ``livecat`` schema.
    columns : tuple of (str, str)
        Content columns and their PostgreSQL types, in staging order (``hpx`` included;
        ``catalog``, ids, release and bookkeeping columns are not).
    json_columns : tuple of str
        Columns holding dicts (written as JSONB, ``{}`` when missing).
    """

    table: str
    columns: tuple[tuple[str, str], ...]
    json_columns: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [c for c, _ in self.columns]

    @property
    def hashed(self) -> list[str]:
        """Columns that make up the row hash (all content but the derived ``hpx``)."""
        return [c for c in self.names if c != "hpx"]


XRAY_SPEC = TableSpec(
    table="xray_source",
    columns=(("native_id", "text"), ("name", "text"), ("ra", "float8"), ("dec", "float8"),
             ("hpx", "bigint"), ("pos_err_arcsec", "float8"), ("err_maj_arcsec", "float8"),
             ("err_min_arcsec", "float8"), ("err_pa_deg", "float8"),
             ("significance", "float8"), ("extended", "boolean"),
             ("var_intra_prob", "float8"), ("var_inter_prob", "float8"),
             ("n_obs", "integer"), ("nh_gal_cm2", "float8"), ("flags", "jsonb"),
             ("extra", "jsonb")),
    json_columns=("flags", "extra"),
)
LITERATURE_SPEC = TableSpec(
    table="literature_object",
    columns=(("native_id", "text"), ("name", "text"), ("ra", "float8"), ("dec", "float8"),
             ("hpx", "bigint"), ("pos_err_arcsec", "float8"), ("livecat_class", "text"),
             ("subclass", "text"), ("native_type", "text"), ("reference", "text"),
             ("confidence", "float8"), ("params", "jsonb")),
    json_columns=("params",),
)
FLUX_COLUMNS = (("native_id", "text"), ("band", "text"), ("kind", "text"),
                ("band_lo_kev", "float8"), ("band_hi_kev", "float8"), ("value", "float8"),
                ("value_lo", "float8"), ("value_hi", "float8"))
SPECS = {"xray": XRAY_SPEC, "literature": LITERATURE_SPEC}


@dataclass
class LoadResult:
    """What one ingest did (the ``ingest_run`` counts).

    Attributes
    ----------
    n_read : int
        Rows read from the parsed input.
    n_inserted, n_updated, n_unchanged : int
        Kept rows by outcome (renamed and revived rows count as updated).
    n_rejected : int
        Rows refused (normalize's rejects plus the loader's own).
    n_retired : int
        Rows of the catalog absent from a complete release, now not current.
    n_renamed : int
        X-ray sources that took a new designation (included in ``n_updated``).
    """

    catalog: str
    version: str
    kind: str
    run_id: int | None = None
    release_id: int | None = None
    status: str = "running"
    n_read: int = 0
    n_inserted: int = 0
    n_updated: int = 0
    n_unchanged: int = 0
    n_rejected: int = 0
    n_retired: int = 0
    n_renamed: int = 0
    seconds: float = 0.0
    note: str | None = None

    def counts(self) -> dict[str, int]:
        """Return the counts shown in the summary table."""
        return {"read": self.n_read, "inserted": self.n_inserted, "updated": self.n_updated,
                "unchanged": self.n_unchanged, "rejected": self.n_rejected,
                "retired": self.n_retired}

    def as_dict(self) -> dict:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class _Split:
    """Kept rows (with hpx) and the loader's own rejects."""

    kept: pd.DataFrame
    hpx: np.ndarray
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


def lock_name(catalog: str) -> str:
    """Text whose ``hashtext`` is the advisory lock key of a catalog's ingest."""
    return f"livecat:ingest:{catalog}"


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


# one encoder for every row: json.dumps with non-default options builds a new one per call
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _finite(value):
    """Replace NaN/inf floats by None and drop NUL characters, recursively (JSONB has
    neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_finite(str(k)): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def _flat_finite(value: dict) -> dict | None:
    """:func:`_finite` for the common case, a flat dict of str keys and plain scalars, in
    one pass (None when the dict is anything else). Every row's ``extra`` goes through
    here: encoding once a dict already cleaned halves the cost of the JSON columns."""
    clean = {}
    for k, v in value.items():
        if type(k) is not str:
            return None
        t = type(v)
        if t is float:
            clean[k] = v if v - v == 0.0 else None  # v - v is NaN for NaN and +-inf
        elif t is str or t is bool or t is int or v is None:
            clean[k] = v
        else:
            return None
    return clean


def json_text(value) -> str:
    """Serialise a JSON column value for JSONB (None -> ``{}``, NaN -> null).

    Parameters
    ----------
    value : dict, list, None or scalar

    Returns
    -------
    str
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "{}"
    if type(value) is dict:
        flat = _flat_finite(value)
        if flat is not None:
            text = _ENCODER.encode(flat)
            if "\\u0000" not in text:
                return text
    text = _ENCODER.encode(value)
    if "NaN" in text or "Infinity" in text or "\\u0000" in text:
        # JSONB has no NaN/Infinity and refuses \u0000
        text = _ENCODER.encode(_finite(value))
    return text


def validate_rows(sources: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Find the rows the database would refuse: the loader's own reject rules.

    Parameters
    ----------
    sources : pandas.DataFrame
        Kept rows of a normalized catalog (``native_id``, ``ra``, ``dec``).

    Returns
    -------
    keep : numpy.ndarray of bool
    rejects : pandas.DataFrame
        ``row_number`` (None: the position in the normalized output is not an input
        row), ``native_id``, ``reason`` for every refused row.
    """
    n = len(sources)
    ids = sources["native_id"] if "native_id" in sources else pd.Series([None] * n)
    ids = ids.reset_index(drop=True)
    ra = pd.to_numeric(sources["ra"], errors="coerce").to_numpy(dtype=float)
    dec = pd.to_numeric(sources["dec"], errors="coerce").to_numpy(dtype=float)
    missing = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    with np.errstate(invalid="ignore"):
        bad_pos = ~(np.isfinite(ra) & np.isfinite(dec) & (ra >= 0) & (ra < 360)
                    & (dec >= -90) & (dec <= 90))
    dup = ids.duplicated(keep="first").to_numpy() & ~missing
    reasons: list[tuple[str | None, str]] = []
    keep = np.ones(n, dtype=bool)
    for i in np.nonzero(missing | bad_pos | dup)[0]:
        nid = None if missing[i] else str(ids.iloc[i])
        if missing[i]:
            reason = "missing native_id: every row needs the catalog's identifier"
        elif bad_pos[i]:
            reason = (f"position ra={float(ra[i])!r}, dec={float(dec[i])!r} is not finite or "
                      "out of range: "
                      "expected 0 <= ra < 360 and -90 <= dec <= 90 (deg)")
        else:
            reason = f"duplicate native_id {nid}: the first row with this id was kept"
        keep[i] = False
        reasons.append((nid, reason))
    rejects = pd.DataFrame({"row_number": pd.Series([None] * len(reasons), dtype="Int64"),
                            "native_id": pd.Series([r[0] for r in reasons], dtype=object),
                            "reason": pd.Series([r[1] for r in reasons], dtype=object)})
    return keep, rejects


def _without_release_keys(value):
    if isinstance(value, dict) and not RELEASE_KEYS.isdisjoint(value):
        return {k: v for k, v in value.items() if k not in RELEASE_KEYS}
    return value


def _text_values(series: pd.Series) -> pd.Series:
    values = series.tolist()
    if all(type(v) is str for v in values):  # the usual case: nothing to convert
        return pd.Series(values, dtype=object)
    values = [None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
              else (v if isinstance(v, str) else str(v)) for v in values]
    return pd.Series(values, dtype=object)


def _bool_values(series: pd.Series) -> pd.Series:
    values = [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
              else bool(v) for v in series.tolist()]
    return pd.Series(values, dtype="boolean")


def staging_frame(sources: pd.DataFrame, columns, json_columns=(),
                  hpx: np.ndarray | None = None) -> pd.DataFrame:
    """Convert contract columns to the exact values COPYed into a staging table.

    Parameters
    ----------
    sources : pandas.DataFrame
    columns : sequence of (str, str)
        Column names and PostgreSQL types; a column missing from ``sources`` is NULL.
    json_columns : sequence of str
        Columns serialised with :func:`json_text`.
    hpx : numpy.ndarray, optional
        Values of the ``hpx`` column.

    Returns
    -------
    pandas.DataFrame
        Positional index, one column per entry of ``columns``.
    """
    n = len(sources)
    out: dict[str, pd.Series] = {}
    for name, pgtype in columns:
        if name == "hpx":
            out[name] = pd.Series(np.asarray(hpx, dtype=np.int64))
            continue
        if name not in sources:
            col = pd.Series([None] * n, dtype=object)
        else:
            col = sources[name].reset_index(drop=True)
        if name in json_columns:
            out[name] = pd.Series([json_text(_without_release_keys(v)) for v in col.tolist()],
                                  dtype=object)
        elif pgtype == "float8":
            out[name] = pd.to_numeric(col, errors="raise").astype("float64")
        elif pgtype in ("integer", "bigint"):
            out[name] = pd.array(pd.to_numeric(col, errors="raise"), dtype="Int64")
        elif pgtype == "boolean":
            out[name] = _bool_values(col)
        else:
            out[name] = _text_values(col)
    return pd.DataFrame(out)


def row_chunks(frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[tuple]]:
    """Yield the frame's rows as tuples of Python values, in chunks.

    Missing values (NaN, NA, None) become None, i.e. NULL: a float NaN would otherwise be
    stored as the float8 value NaN. Floats keep their exact value (psycopg writes the
    shortest round-trip representation).
    """
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start:start + chunk_rows]
        columns = [_python_values(part[c]) for c in part.columns]
        yield list(zip(*columns))


def _python_values(series: pd.Series) -> list:
    if series.dtype.kind == "f":
        values = series.to_numpy()
        missing = np.isnan(values)
        if not missing.any():
            return values.tolist()
        obj = values.astype(object)
        obj[missing] = None
        return obj.tolist()
    if series.dtype.kind in "iu" and isinstance(series.dtype, np.dtype):
        return series.to_numpy().tolist()
    return series.astype(object).where(series.notna(), None).tolist()


# --------------------------------------------------------------------------------------
# Database steps
# --------------------------------------------------------------------------------------


def _copy_frame(cur, table: str, frame: pd.DataFrame, progress: Progress | None,
                stage: str, types: dict[str, str] | None = None) -> int:
    """COPY a staging frame into ``table``.

    With ``types`` (column -> PostgreSQL type, every column of ``frame``), in binary
    format: about three times faster than text for float-heavy rows, and exact (floats
    travel as their IEEE bits). JSON columns are staged as ``text`` (see
    :func:`_staging_type`). Without ``types``, in text format.
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


def _staging_type(pgtype: str) -> str:
    """Type of a column in the staging tables: JSON is staged as text (it is serialised
    by :func:`json_text`) and cast to ``jsonb`` when it reaches the real table."""
    return "text" if pgtype == "jsonb" else pgtype


TEMP_BUFFERS = "1GB"


def _enlarge_temp_buffers(cur) -> None:
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


def _take_lock(cur, catalog: str, wait: bool) -> None:
    if wait:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_name(catalog),))
        return
    cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (lock_name(catalog),))
    if not cur.fetchone()[0]:
        raise ConflictError(f"another ingest of {catalog} is running; try again when it has "
                            "finished, or pass --wait to wait for it")


def _release(cur, catalog: str, version: str, *, origin, checksum, remote_meta,
             complete: bool) -> int:
    """Find or create the release row; a complete release supersedes the others."""
    cur.execute("SELECT id, checksum, state FROM livecat.catalog_release "
                "WHERE catalog = %s AND version = %s FOR UPDATE", (catalog, version))
    row = cur.fetchone()
    meta = json.dumps(remote_meta or {}, default=_json_default)
    state = "complete" if complete else "partial"
    if row is None:
        cur.execute("INSERT INTO livecat.catalog_release (catalog, version, origin, checksum, "
                    "state, remote_meta) VALUES (%s, %s, %s, %s, %s, %s::jsonb) RETURNING id",
                    (catalog, version, origin, checksum, state, meta))
        release_id = cur.fetchone()[0]
    else:
        release_id, old_checksum, old_state = row
        if checksum and checksum != old_checksum:
            cur.execute("UPDATE livecat.catalog_release SET checksum = %s, origin = %s, "
                        "remote_meta = %s::jsonb, retrieved_at = now() WHERE id = %s",
                        (checksum, origin, meta, release_id))
        if complete and old_state != "complete":
            cur.execute("UPDATE livecat.catalog_release SET state = 'complete' WHERE id = %s",
                        (release_id,))
    if complete:
        cur.execute("UPDATE livecat.catalog_release SET state = 'superseded' "
                    "WHERE catalog = %s AND id <> %s AND state = 'complete'",
                    (catalog, release_id))
    return release_id


def _start_run(cur, catalog: str, release_id: int, invoked_by: str | None,
               command: str | None) -> int:
    cur.execute("INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (catalog, release_id, invoked_by, command))
    return cur.fetchone()[0]


STAGING_TABLES = ("stg", "stg_changed", "stg_flux", "stg_band", "stg_band_rank")
"""The temporary tables of one load (dropped at commit)."""


def _create_staging(cur, spec: TableSpec) -> None:
    cols = ", ".join(f'"{c}" {_staging_type(t)}' for c, t in spec.columns)
    cur.execute(f"CREATE TEMP TABLE stg ({cols}, row_hash text NOT NULL, row_no bigint NOT NULL) "
                "ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE stg_changed (id bigint PRIMARY KEY, native_id text, "
                "change text) ON COMMIT DROP")


def _create_flux_staging(cur) -> None:
    """``stg_flux``: one row per staged source and band, all numeric, so it is COPYed from
    numpy columns without a Python loop (:func:`catalog.pgcopy.copy_columns`); NaN stands
    for a missing value until the arrays are built. ``source_key`` is the source's
    ``stg.row_no``. ``stg_band``: what each ``band_no`` is."""
    cur.execute("CREATE TEMP TABLE stg_flux (source_key bigint, band_no bigint, value float8, "
                "value_lo float8, value_hi float8) ON COMMIT DROP")
    cur.execute("CREATE TEMP TABLE stg_band (band_no bigint PRIMARY KEY, band text NOT NULL, "
                "kind text NOT NULL, band_lo_kev float8 NOT NULL, band_hi_kev float8 NOT NULL) "
                "ON COMMIT DROP")


class _FluxStager:
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


def row_hashes(frame: pd.DataFrame, columns: list[str],
               fluxes: pd.DataFrame | None = None) -> list[str]:
    """Hash each staged row's content (and, for X-ray sources, all its flux rows).

    Vectorised: :func:`pandas.util.hash_pandas_object` (64-bit SipHash of every cell with a
    fixed key, combined per row; deterministic across runs and machines). The flux rows of
    a source are combined with XOR, so their order does not matter.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`staging_frame` (values exactly as stored).
    columns : list of str
        Content columns to hash.
    fluxes : pandas.DataFrame, optional
        Staged flux rows (``native_id`` + the flux columns).

    Returns
    -------
    list of str
        ``"<HASH_VERSION>:<16 hex digits>"`` per row of ``frame``.
    """
    if len(frame) == 0:
        return []
    h = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy(np.uint64)
    if fluxes is not None:
        per_row = np.zeros(len(frame), dtype=np.uint64)
        if len(fluxes):
            cols = [c for c, _ in FLUX_COLUMNS]
            fh = pd.util.hash_pandas_object(fluxes[cols], index=False).to_numpy(np.uint64)
            codes, uniques = pd.factorize(fluxes["native_id"])
            acc = np.zeros(len(uniques), dtype=np.uint64)
            np.bitwise_xor.at(acc, codes, fh)
            pos = pd.Index(uniques).get_indexer(frame["native_id"])
            per_row = np.where(pos >= 0, acc[pos], np.uint64(0))
        h = pd.util.hash_pandas_object(pd.DataFrame({"row": h, "fluxes": per_row}),
                                       index=False).to_numpy(np.uint64)
    return [f"{HASH_VERSION}:{x:016x}" for x in h.tolist()]


def _check_taxonomy(cur) -> None:
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


def _history_sql(spec: TableSpec, kind: str, change_sql: str, where: str) -> str:
    """INSERT ... SELECT that snapshots the rows of ``t`` matching ``where``."""
    fluxes = ("(SELECT jsonb_agg(to_jsonb(f.*) ORDER BY f.band, f.kind) FROM "
              "livecat.xray_flux f WHERE f.source_id = t.id)") if kind == "xray" else "NULL"
    return (f"INSERT INTO livecat.source_history (source_table, source_id, catalog, "
            f"native_id, run_id, change, previous, previous_fluxes) "
            f"SELECT '{spec.table}', t.id, t.catalog, t.native_id, %(run)s, {change_sql}, "
            f"to_jsonb(t.*), {fluxes} FROM livecat.{spec.table} t {where}")


def _detect_renames(cur, conn_params: dict) -> pd.DataFrame:
    """Pairs (old id, new native id) of X-ray sources renamed by this complete release."""
    cur.execute("SELECT t.id, t.native_id, t.name, t.ra, t.dec, t.pos_err_arcsec "
                "FROM livecat.xray_source t WHERE t.catalog = %(cat)s AND t.is_current "
                "AND NOT EXISTS (SELECT 1 FROM stg s WHERE s.native_id = t.native_id)",
                conn_params)
    gone = pd.DataFrame(cur.fetchall(), columns=["id", "native_id", "name", "ra", "dec",
                                                 "err"])
    if gone.empty:
        return gone
    cur.execute("SELECT s.native_id, s.ra, s.dec, s.pos_err_arcsec FROM stg s "
                "WHERE NOT EXISTS (SELECT 1 FROM livecat.xray_source t "
                "WHERE t.catalog = %(cat)s AND t.native_id = s.native_id)", conn_params)
    new = pd.DataFrame(cur.fetchall(), columns=["native_id", "ra", "dec", "err"])
    return match_renames(gone, new)


def match_renames(gone: pd.DataFrame, new: pd.DataFrame,
                  sigma: float = RENAME_SIGMA) -> pd.DataFrame:
    """Pair vanished and new sources that are the same object under a new name.

    Parameters
    ----------
    gone : pandas.DataFrame
        Vanished rows: ``id``, ``native_id``, ``name``, ``ra``, ``dec``, ``err`` (1-sigma
        arcsec).
    new : pandas.DataFrame
        New rows: ``native_id``, ``ra``, ``dec``, ``err``.
    sigma : float
        Accept a pair when the separation is at most ``sigma * hypot(err_old, err_new)``.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``old_native_id``, ``old_name``, ``new_native_id``, ``separation_arcsec``
        for mutual nearest neighbours within the limit (rows without errors never match).
    """
    cols = ["id", "old_native_id", "old_name", "new_native_id", "separation_arcsec"]
    gone = gone[np.isfinite(gone["err"].astype(float))].reset_index(drop=True)
    new = new[np.isfinite(new["err"].astype(float))].reset_index(drop=True)
    if gone.empty or new.empty:
        return pd.DataFrame(columns=cols)
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c_gone = SkyCoord(gone["ra"].astype(float).to_numpy() * u.deg,
                      gone["dec"].astype(float).to_numpy() * u.deg)
    c_new = SkyCoord(new["ra"].astype(float).to_numpy() * u.deg,
                     new["dec"].astype(float).to_numpy() * u.deg)
    idx_new, sep, _ = c_gone.match_to_catalog_sky(c_new)
    idx_back, _, _ = c_new.match_to_catalog_sky(c_gone)
    sep_arcsec = sep.arcsec
    limit = sigma * np.hypot(gone["err"].astype(float).to_numpy(),
                             new["err"].astype(float).to_numpy()[idx_new])
    rows = [(int(gone.at[i, "id"]), gone.at[i, "native_id"], gone.at[i, "name"],
             new.at[int(j), "native_id"], float(sep_arcsec[i]))
            for i, j in enumerate(idx_new)
            if idx_back[j] == i and sep_arcsec[i] <= limit[i]]
    return pd.DataFrame(rows, columns=cols)


def _apply_renames(cur, renames: pd.DataFrame, params: dict) -> None:
    for rec in renames.itertuples(index=False):
        p = {**params, "id": rec.id, "new": rec.new_native_id}
        cur.execute(_history_sql(XRAY_SPEC, "xray", "'renamed'", "WHERE t.id = %(id)s"), p)
        cur.execute("INSERT INTO livecat.xray_source_alias (source_id, catalog, native_id, "
                    "name, separation_arcsec, until_release_id, run_id) VALUES "
                    "(%(id)s, %(cat)s, %(old)s, %(old_name)s, %(sep)s, %(rel)s, %(run)s)",
                    {**p, "old": rec.old_native_id, "old_name": rec.old_name,
                     "sep": rec.separation_arcsec})
        cur.execute("UPDATE livecat.xray_source SET native_id = %(new)s WHERE id = %(id)s", p)


def _content_columns(spec: TableSpec) -> tuple[str, str]:
    """The column list of an insert or update and the matching ``stg`` expressions."""
    content = [c for c in spec.names if c != "native_id"]
    cols = ", ".join(f'"{c}"' for c in content)
    s_cols = ", ".join(f's."{c}"' + ("::jsonb" if c in spec.json_columns else "")
                       for c in content)
    return cols, s_cols


def _insert_new(cur, spec: TableSpec, params: dict) -> int:
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


def _upsert(cur, spec: TableSpec, kind: str, params: dict, complete: bool,
            catalog_is_new: bool = False) -> dict[str, int]:
    """The set-based insert / update / retire; returns the counts.

    ``catalog_is_new``: the catalog has no rows yet, so every staged row is inserted and
    the statements for changed, unchanged and absent rows are skipped.
    """
    if catalog_is_new:
        return {"inserted": _insert_new(cur, spec, params), "updated": 0, "unchanged": 0,
                "retired": 0}
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
    cur.execute(_history_sql(
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

    n_retired = 0
    if complete:
        absent = ("WHERE t.catalog = %(cat)s AND t.is_current AND NOT EXISTS "
                  "(SELECT 1 FROM stg s WHERE s.native_id = t.native_id)")
        cur.execute(_history_sql(spec, kind, "'retired'", absent), params)
        cur.execute(f"UPDATE {table} t SET is_current = false, updated_at = now() {absent}",
                    params)
        n_retired = cur.rowcount

    return {"inserted": n_inserted, "updated": n_updated, "unchanged": n_unchanged,
            "retired": n_retired}


FLUX_ARRAYS = ("band", "kind", "band_lo_kev", "band_hi_kev", "value", "value_lo", "value_hi")


def _replace_fluxes(cur, streamed: bool = False) -> None:
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


def _write_rejects(cur, run_id: int, rejects: pd.DataFrame) -> None:
    if rejects.empty:
        return
    with cur.copy("COPY livecat.ingest_reject (run_id, row_number, native_id, reason) "
                  "FROM STDIN") as copy:
        for rn, nid, reason in zip(rejects["row_number"].tolist(),
                                   rejects["native_id"].tolist(), rejects["reason"].tolist()):
            copy.write_row((run_id, None if pd.isna(rn) else int(rn),
                            None if pd.isna(nid) else str(nid), str(reason)))


def _pause_for_tests() -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        print(PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(float(seconds))


# --------------------------------------------------------------------------------------
# The entry points
# --------------------------------------------------------------------------------------


def _split(normalized: NormalizedCatalog) -> _Split:
    """Apply the loader's reject rules and compute hpx for the kept rows."""
    keep, own_rejects = validate_rows(normalized.sources)
    kept = normalized.sources.reset_index(drop=True)[keep].reset_index(drop=True)
    hpx = radec_to_hpx(kept["ra"].to_numpy(dtype=float), kept["dec"].to_numpy(dtype=float)) \
        if len(kept) else np.empty(0, dtype=np.int64)
    rejects = pd.concat([df for df in (normalized.rejects, own_rejects) if len(df)],
                        ignore_index=True) if len(normalized.rejects) or len(own_rejects) \
        else own_rejects
    return _Split(kept=kept, hpx=hpx, rejects=rejects)


@contextmanager
def ingest_transaction(engine: Engine, failed_runs: Callable[[], list[tuple]],
                       invoked_by: str | None, command: str | None):
    """One ingest's transaction: ``with ingest_transaction(...) as (conn, cur):``.

    Yields a connection in an open transaction and its driver cursor (what
    :func:`load_in_transaction` works on). The cyclic garbage collector is off meanwhile
    (millions of short-lived tuples would make it rescan the live frames each time). On
    any failure the transaction rolls back, every run named by ``failed_runs()`` —
    ``(catalog, version, LoadResult or None)`` — is recorded as failed in a transaction of
    its own, and driver errors are re-raised as SQLAlchemy's (what the CLI reports in one
    line).
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with engine.connect() as conn, conn.begin():
            yield conn, conn.connection.dbapi_connection.cursor()
            _pause_for_tests()
    except BaseException as exc:
        if isinstance(exc, (Exception, KeyboardInterrupt)):
            for catalog, version, result in failed_runs():
                if result is not None:
                    result.status = "failed"
                record_failed_run(engine, catalog, version, exc, result, invoked_by, command)
        if isinstance(exc, psycopg.Error):
            raise sa.exc.DBAPIError(None, None, exc) from exc
        raise
    finally:
        if gc_was_enabled:
            gc.enable()


def load_catalog(engine: Engine, catalog: str, normalized, *,
                 version: str, origin: str | None = None, checksum: str | None = None,
                 remote_meta: dict | None = None, complete: bool = True, wait: bool = False,
                 invoked_by: str | None = None, command: str | None = None,
                 progress: Progress | None = None) -> LoadResult:
    """Load a normalized catalog release in one transaction (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    catalog : str
        Catalog name (``"atnf"``, ``"csc"``, ...): the key of its rows and of its lock.
    normalized : ingest.normalized.NormalizedCatalog or iterable of them
        Output of the catalog's normalize stage (kind ``"xray"`` or ``"literature"``), or
        the chunks of a chunked normalize (e.g. ``ingest.xmm.iter_normalize``): each chunk
        is staged and released before the next is produced, so peak memory is that of one
        chunk. Chunks must not repeat a native id (``iter_normalize`` rejects duplicates
        across chunks); all chunks are one release, loaded in one transaction.
    version : str
        Release name; the ``catalog_release`` row is found or created by it.
    origin, checksum, remote_meta : optional
        Where the input came from, its SHA-256 and the fetch metadata (release row).
    complete : bool, optional
        True (default) for a whole release: rows of the catalog absent from it are
        marked not current. False for a region or an increment: nothing is retired.
    wait : bool, optional
        Wait for a concurrent ingest of the same catalog instead of failing.
    invoked_by, command : str, optional
        Recorded on the run (default: the login name and ``sys.argv``).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    LoadResult

    Raises
    ------
    catalog.errors.ConflictError
        When another ingest of the catalog holds the lock, or the counts do not add up.
    catalog.errors.InputError
        When a class is outside the taxonomy or the kind is unknown.
    """
    chunks = _chunks(normalized)
    first = next(chunks, None)
    if first is None:
        raise InputError(f"nothing to load for {catalog} {version}: the normalize stage "
                         "produced no chunk")
    if first.kind not in SPECS:
        raise InputError(f"unknown catalog kind {first.kind!r}: expected xray or "
                         "literature")
    spec = SPECS[first.kind]
    started = time.monotonic()
    result = LoadResult(catalog=catalog, version=version, kind=first.kind)
    invoked_by = invoked_by or login_name()
    command = command or " ".join(sys.argv)
    with ingest_transaction(engine, lambda: [(catalog, version, result)], invoked_by,
                            command) as (_, cur):
        load_in_transaction(cur, catalog, first, chunks, spec, result, origin=origin,
                            checksum=checksum, remote_meta=remote_meta, complete=complete,
                            wait=wait, invoked_by=invoked_by, command=command,
                            progress=progress)
    result.status = "succeeded"
    result.seconds = time.monotonic() - started
    return result


def _same_kind(chunks: Iterator[NormalizedCatalog], kind: str) -> Iterator[NormalizedCatalog]:
    for chunk in chunks:
        if chunk.kind != kind:
            raise InputError(f"chunks of one load must share one kind: {kind} then "
                             f"{chunk.kind}")
        yield chunk


def _chunks(normalized) -> Iterator[NormalizedCatalog]:
    if isinstance(normalized, NormalizedCatalog):
        return iter([normalized])
    return iter(normalized)


@dataclass
class _PreparedChunk:
    """One chunk validated, converted and hashed: what is COPYed into staging."""

    n_read: int
    frame: pd.DataFrame
    fluxes: pd.DataFrame | None
    rejects: pd.DataFrame


def _prepare_chunk(chunk: NormalizedCatalog, spec: TableSpec) -> _PreparedChunk:
    """Validate, convert and hash one chunk (no database; runs in the prefetch thread)."""
    split = _split(chunk)
    frame = staging_frame(split.kept, spec.columns, spec.json_columns, split.hpx)
    fluxes = None  # literature: no fluxes; X-ray: always a frame, maybe empty
    if chunk.kind == "xray":
        given = chunk.fluxes if chunk.fluxes is not None else pd.DataFrame(
            columns=[c for c, _ in FLUX_COLUMNS])
        fluxes = staging_frame(given, FLUX_COLUMNS)
    frame["row_hash"] = row_hashes(frame, spec.hashed, fluxes)
    return _PreparedChunk(chunk.n_read, frame, fluxes, split.rejects)


def _prefetched(items: Iterator, name: str = "livecat-prepare") -> Iterator:
    """Iterate ``items`` in a background thread, one item ahead of the consumer.

    The loader's Python work (reading, normalizing, hashing the next chunk) then runs
    while the main thread waits for PostgreSQL, which holds no GIL. At most two items
    exist at once: the one the consumer holds and the one being produced. An exception in
    the thread is raised in the consumer; closing the iterator stops the thread.
    """
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slot.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
                # start the next item only once this one is taken: at most two items
                # exist at a time (the consumer's and this thread's), which bounds memory
                while slot.unfinished_tasks and not stop.is_set():
                    time.sleep(0.005)
            put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(("error", exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            tag, item = slot.get()
            slot.task_done()
            if tag == "done":
                return
            if tag == "error":
                raise item
            yield item
            item = None  # do not hold a chunk while the next one is produced
    finally:
        stop.set()


def _stage_chunk(cur, catalog: str, prepared: _PreparedChunk, spec: TableSpec,
                 progress: Progress | None, first_row_no: int, flux_stager: _FluxStager | None,
                 catalog_is_new: bool) -> int:
    """COPY one prepared chunk into ``stg`` (rows numbered from ``first_row_no``) and its
    needed fluxes into ``stg_flux``. Returns the number of rows staged."""
    frame, fluxes = prepared.frame, prepared.fluxes
    frame["row_no"] = np.arange(first_row_no, first_row_no + len(frame), dtype=np.int64)
    _copy_frame(cur, "stg", frame, progress, "copy rows",
                {**{c: _staging_type(t) for c, t in spec.columns}, "row_hash": "text",
                 "row_no": "bigint"})
    if fluxes is not None and len(fluxes):
        key = pd.Series(frame["row_no"].to_numpy(np.int64), index=frame["native_id"].to_numpy())
        # the flux rows of sources that stay unchanged are not needed: a re-ingest of an
        # unchanged release sends none (unchanged = same hash and current, as _upsert)
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


def load_in_transaction(cur, catalog, first, chunks, spec, result, *, origin, checksum,
                        remote_meta, complete, wait, invoked_by, command, progress) -> None:
    """The body of a load, on the driver cursor of an open transaction.

    Lock, release, run row, staging of ``first`` and then ``chunks``, upsert, renames,
    rejects and the count invariants; nothing commits here. :func:`load_catalog` runs it
    in :func:`ingest_transaction`; an import that must commit several loads together (the
    MUWCLASS training set) runs it once per catalog in one such transaction. The staging
    tables (:data:`STAGING_TABLES`) live until commit: drop them before the next load in
    the same transaction.
    """
    kind = first.kind
    _take_lock(cur, catalog, wait)
    # hash joins and aggregates over a million staged rows stay in memory
    cur.execute("SET LOCAL work_mem = '256MB'")
    _enlarge_temp_buffers(cur)
    release_id = _release(cur, catalog, result.version, origin=origin, checksum=checksum,
                          remote_meta=remote_meta, complete=complete)
    result.release_id = release_id
    result.run_id = _start_run(cur, catalog, release_id, invoked_by, command)
    params = {"cat": catalog, "rel": release_id, "run": result.run_id}

    # a catalog's first ingest has nothing to compare with: the statements that look for
    # changed, unchanged and absent rows are skipped (they would scan and find nothing)
    cur.execute(f"SELECT NOT EXISTS (SELECT 1 FROM livecat.{spec.table} WHERE catalog = %s)",
                (catalog,))
    catalog_is_new = cur.fetchone()[0]
    _create_staging(cur, spec)
    flux_stager = None
    if kind == "xray":
        _create_flux_staging(cur)
        flux_stager = _FluxStager(cur)
    # A new X-ray catalog is streamed: every chunk goes into the final tables as soon as
    # it is staged, while the prefetch thread prepares the next one, so PostgreSQL's work
    # and Python's overlap. Otherwise everything is staged first and compared at the end.
    stream = catalog_is_new and kind == "xray"
    kept = 0
    n_streamed = 0
    n_staged_before = 0  # rows staged by the chunks a streamed load has truncated away
    rejects = []
    prepared_chunks = _prefetched(_prepare_chunk(c, spec) for c in
                                  _same_kind(itertools.chain([first], chunks), kind))
    try:
        for prepared in prepared_chunks:
            result.n_read += prepared.n_read
            if stream:  # the staging tables hold one chunk: every join stays chunk-sized
                cur.execute("SELECT count(*) FROM stg")
                n_staged_before += cur.fetchone()[0]
                cur.execute("TRUNCATE stg, stg_changed, stg_flux")
            n_kept = _stage_chunk(cur, catalog, prepared, spec, progress, kept, flux_stager,
                                  catalog_is_new)
            if len(prepared.rejects):
                rejects.append(prepared.rejects)
            prepared = None  # release the chunk before the next one is produced
            if stream:
                n_streamed += _insert_new(cur, spec, params)
                _replace_fluxes(cur, streamed=True)
            kept += n_kept
    finally:
        prepared_chunks.close()
    all_rejects = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(
        columns=["row_number", "native_id", "reason"])
    result.n_rejected = len(all_rejects)
    cur.execute("ANALYZE stg")
    cur.execute("SELECT count(*) FROM stg")
    staged = cur.fetchone()[0] + n_staged_before
    if kind == "literature":
        _check_taxonomy(cur)

    if progress:
        progress("upsert", 0, None)
    if kind == "xray" and complete and not catalog_is_new:
        renames = _detect_renames(cur, params)
        if len(renames):
            _apply_renames(cur, renames, params)
        result.n_renamed = len(renames)
    if stream:
        counts = {"inserted": n_streamed, "updated": 0, "unchanged": 0, "retired": 0}
    else:
        counts = _upsert(cur, spec, kind, params, complete, catalog_is_new)
        if kind == "xray":
            _replace_fluxes(cur)
    result.n_inserted, result.n_updated = counts["inserted"], counts["updated"]
    result.n_unchanged, result.n_retired = counts["unchanged"], counts["retired"]
    _write_rejects(cur, result.run_id, all_rejects)
    check_invariants(result, staged, kept)

    cur.execute("UPDATE livecat.catalog_release SET rows = (SELECT count(*) FROM "
                f"livecat.{spec.table} WHERE catalog = %(cat)s AND last_release_id = %(rel)s) "
                "WHERE id = %(rel)s", params)
    cur.execute("UPDATE livecat.ingest_run SET n_read = %s, n_inserted = %s, n_updated = %s, "
                "n_unchanged = %s, n_rejected = %s, n_retired = %s, status = 'succeeded', "
                "finished_at = clock_timestamp() WHERE id = %s",
                (result.n_read, result.n_inserted, result.n_updated, result.n_unchanged,
                 result.n_rejected, result.n_retired, result.run_id))
    if progress:
        progress("upsert", 1, 1)  # one step: the set-based statements


def check_invariants(result: LoadResult, staged: int, kept: int) -> None:
    """Refuse to commit unless every row read is accounted for exactly once.

    Raises
    ------
    catalog.errors.ConflictError
        When read != kept + rejected, staged != kept, or kept != inserted + updated +
        unchanged.
    """
    outcome = result.n_inserted + result.n_updated + result.n_unchanged
    problems = []
    if result.n_read != kept + result.n_rejected:
        problems.append(f"read {result.n_read} != kept {kept} + rejected {result.n_rejected}")
    if staged != kept:
        problems.append(f"staged {staged} != kept {kept}")
    if outcome != kept:
        problems.append(f"inserted {result.n_inserted} + updated {result.n_updated} + "
                        f"unchanged {result.n_unchanged} != kept {kept}")
    if problems:
        raise ConflictError(f"ingest of {result.catalog} {result.version} does not add up ("
                            + "; ".join(problems) + "): nothing was written")


def record_failed_run(engine: Engine, catalog: str, version: str, exc: BaseException,
                      result: LoadResult | None = None, invoked_by: str | None = None,
                      command: str | None = None) -> int | None:
    """Record a failed run in its own short transaction (after the load rolled back).

    Returns the run id, or None when even that could not be written (database gone).
    """
    message = f"{type(exc).__name__}: {exc}"[:4000]
    try:
        with engine.begin() as conn:
            release_id = conn.execute(sa.text(
                "SELECT id FROM livecat.catalog_release WHERE catalog = :c AND version = :v"),
                {"c": catalog, "v": version}).scalar()
            return conn.execute(sa.text(
                "INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command, "
                "n_read, status, error, finished_at) VALUES (:c, :r, :who, :cmd, :n, "
                "'failed', :err, clock_timestamp()) RETURNING id"),
                {"c": catalog, "r": release_id, "who": invoked_by or login_name(),
                 "cmd": command or " ".join(sys.argv),
                 "n": result.n_read if result else 0, "err": message}).scalar_one()
    except Exception:
        return None


def record_skipped_run(engine: Engine, catalog: str, version: str | None,
                       reason: str) -> LoadResult:
    """Record a run that found nothing to do (remote not modified, release held)."""
    with engine.begin() as conn:
        release_id = conn.execute(sa.text(
            "SELECT id FROM livecat.catalog_release WHERE catalog = :c AND version = :v"),
            {"c": catalog, "v": version}).scalar() if version else None
        run_id = conn.execute(sa.text(
            "INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command, status, "
            "error, finished_at) VALUES (:c, :r, :who, :cmd, 'skipped', :why, "
            "clock_timestamp()) RETURNING id"),
            {"c": catalog, "r": release_id, "who": login_name(), "cmd": " ".join(sys.argv),
             "why": reason}).scalar_one()
    return LoadResult(catalog=catalog, version=version or "", kind="", run_id=run_id,
                      release_id=release_id, status="skipped", note=reason)


def check_not_locked(engine: Engine, catalog: str) -> None:
    """Fail early, before any parsing, when another ingest of ``catalog`` holds its lock.

    A probe only: the lock is taken (and held to commit) by :func:`load_catalog`.

    Raises
    ------
    catalog.errors.ConflictError
    """
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        _take_lock(cur, catalog, wait=False)


def held_release(engine: Engine, catalog: str, checksum: str) -> str | None:
    """Return the version of the current release of ``catalog`` if it has this checksum.

    Held means: the release is in state ``complete`` (a newer complete release would have
    superseded it) and a run loaded it successfully.
    """
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT r.version FROM livecat.catalog_release r WHERE r.catalog = :c "
            "AND r.checksum = :h AND r.state = 'complete' AND EXISTS (SELECT 1 FROM "
            "livecat.ingest_run i WHERE i.release_id = r.id AND i.status = 'succeeded')"),
            {"c": catalog, "h": checksum}).scalar()


def catalog_summary(engine: Engine, known: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per catalog: releases held, rows, current rows, last run and its status.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    known : dict, optional
        Catalog name -> kind (``xray``/``literature``) of the catalogs livecat can ingest;
        they are listed even before their first ingest.

    Returns
    -------
    pandas.DataFrame
        Columns ``catalog``, ``kind``, ``releases``, ``rows``, ``current``, ``last_run``,
        ``status``, ``error``.
    """
    with engine.connect() as conn:
        releases = conn.execute(sa.text(
            "SELECT catalog, string_agg(version || CASE WHEN state = 'complete' THEN '' "
            "ELSE ' (' || state || ')' END, ', ' ORDER BY retrieved_at DESC, id DESC) "
            "FROM livecat.catalog_release GROUP BY catalog")).all()
        counts = conn.execute(sa.text(
            "SELECT catalog, 'xray', count(*), count(*) FILTER (WHERE is_current) "
            "FROM livecat.xray_source GROUP BY catalog UNION ALL "
            "SELECT catalog, 'literature', count(*), count(*) FILTER (WHERE is_current) "
            "FROM livecat.literature_object GROUP BY catalog")).all()
        runs = conn.execute(sa.text(
            "SELECT DISTINCT ON (catalog) catalog, started_at, status, error "
            "FROM livecat.ingest_run ORDER BY catalog, id DESC")).all()
    rows: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return rows.setdefault(name, {"catalog": name, "kind": (known or {}).get(name),
                                      "releases": "", "rows": 0, "current": 0,
                                      "last_run": None, "status": "never ingested",
                                      "error": None})

    for name in known or {}:
        entry(name)
    for name, text in releases:
        entry(name)["releases"] = text
    for name, kind, n, cur in counts:
        e = entry(name)
        e["kind"] = e["kind"] or kind
        e["rows"] += n
        e["current"] += cur
    for name, started, status, error in runs:
        e = entry(name)
        e["last_run"] = started.isoformat(timespec="seconds") if started else None
        e["status"], e["error"] = status, error
    return pd.DataFrame(sorted(rows.values(), key=lambda r: r["catalog"]),
                        columns=["catalog", "kind", "releases", "rows", "current", "last_run",
                                 "status", "error"])
