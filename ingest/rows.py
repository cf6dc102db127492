"""Rows as the loader stages them: validation, conversion to stored values, row hashes.

Pure functions, no database: a normalized chunk (:class:`ingest.normalized.NormalizedCatalog`)
becomes a :class:`PreparedChunk` - the kept rows converted to exactly the values COPYed
into staging (JSON columns encoded, ``hpx`` computed), the loader's own rejects, and a
64-bit ``row_hash`` per row of its content and, for X-ray sources, of all its flux rows,
so that an unchanged row is recognised by comparing one value. Release-naming keys of
the JSON columns (:data:`RELEASE_KEYS`) are dropped: a row's releases are its
``first_release_id``/``last_release_id``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from catalog.healpix import radec_to_hpx
from ingest.normalized import SURVEY_SOURCE_COLUMNS, NormalizedCatalog

#: Rows per COPY chunk (bounds the memory of the Python row tuples).
CHUNK_ROWS = 100_000
#: Bumped whenever the row hash recipe changes (every row then counts as changed once).
HASH_VERSION = "v2"
#: Top-level keys of the JSON columns that name the release a row came from. They are not
#: stored: a row's releases are its first_release_id/last_release_id, and a key that
#: changes with every release would make every row "updated" by every release.
RELEASE_KEYS = frozenset(("release", "catalog_version"))


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


SURVEY_SPEC = TableSpec(
    table="mw_source",
    columns=(("native_id", "text"), ("name", "text"), ("ra", "float8"), ("dec", "float8"),
             ("hpx", "bigint"),
             *((c, "float8") for c in SURVEY_SOURCE_COLUMNS
               if c not in ("native_id", "name", "ra", "dec", "extra")),
             ("extra", "jsonb")),
    json_columns=("extra",),
)


#: The table of each kind of normalized catalog.
SPECS = {"xray": XRAY_SPEC, "literature": LITERATURE_SPEC, "survey": SURVEY_SPEC}


def json_default(obj):
    """JSON encoding of the values numpy, pandas and astropy put in rows."""
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
_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False)


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


def validate_rows(sources: pd.DataFrame, fluxes: pd.DataFrame | None = None
                  ) -> tuple[np.ndarray, pd.DataFrame]:
    """Find the rows the database would refuse: the loader's own reject rules.

    A row is refused when its native id is missing or repeated, its position is not
    finite or out of range, or any of its numbers (errors, significance, probabilities,
    fluxes) is infinite: an infinite error or flux is a broken input, never a value.

    Parameters
    ----------
    sources : pandas.DataFrame
        Kept rows of a normalized catalog (``native_id``, ``ra``, ``dec``).
    fluxes : pandas.DataFrame, optional
        Their flux rows (``native_id`` + values).

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
    infinite = _infinite_columns(sources, fluxes, ids)
    reasons: list[tuple[str | None, str]] = []
    keep = np.ones(n, dtype=bool)
    for i in np.nonzero(missing | bad_pos | dup | (infinite != ""))[0]:
        nid = None if missing[i] else str(ids.iloc[i])
        if missing[i]:
            reason = "missing native_id: every row needs the catalog's identifier"
        elif bad_pos[i]:
            reason = (f"position ra={float(ra[i])!r}, dec={float(dec[i])!r} is not finite or "
                      "out of range: "
                      "expected 0 <= ra < 360 and -90 <= dec <= 90 (deg)")
        elif dup[i]:
            reason = f"duplicate native_id {nid}: the first row with this id was kept"
        else:
            reason = (f"infinite value in {infinite[i]}: expected a finite number or "
                      "empty (unknown)")
        keep[i] = False
        reasons.append((nid, reason))
    rejects = pd.DataFrame({"row_number": pd.Series([None] * len(reasons), dtype="Int64"),
                            "native_id": pd.Series([r[0] for r in reasons], dtype=object),
                            "reason": pd.Series([r[1] for r in reasons], dtype=object)})
    return keep, rejects


def _infinite_columns(sources: pd.DataFrame, fluxes: pd.DataFrame | None,
                      ids: pd.Series) -> np.ndarray:
    """Per row, the names of its columns (or flux bands) holding +-inf ("" for none)."""
    names = np.full(len(sources), "", dtype=object)
    for col in sources.columns:
        if col in ("ra", "dec") or sources[col].dtype.kind != "f":
            continue
        bad = np.isinf(sources[col].to_numpy(dtype=float))
        names[bad] = [f"{x}, {col}" if x else col for x in names[bad]]
    if fluxes is not None and len(fluxes):
        values = fluxes[["value", "value_lo", "value_hi"]].to_numpy(dtype=float)
        bad = np.isinf(values).any(axis=1)
        if bad.any():
            by_id = {}
            for nid, band in zip(fluxes["native_id"][bad], fluxes["band"][bad]):
                by_id.setdefault(nid, []).append(f"flux band {band}")
            for i, nid in enumerate(ids.tolist()):
                if nid in by_id:
                    names[i] = ", ".join(filter(None, [names[i], *by_id[nid]]))
    return names


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


@dataclass
class _Split:
    """Kept rows (with hpx) and the loader's own rejects."""

    kept: pd.DataFrame
    hpx: np.ndarray
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _split(normalized: NormalizedCatalog) -> _Split:
    """Apply the loader's reject rules and compute hpx for the kept rows."""
    keep, own_rejects = validate_rows(normalized.sources, normalized.fluxes)
    kept = normalized.sources.reset_index(drop=True)[keep].reset_index(drop=True)
    hpx = radec_to_hpx(kept["ra"].to_numpy(dtype=float), kept["dec"].to_numpy(dtype=float)) \
        if len(kept) else np.empty(0, dtype=np.int64)
    rejects = pd.concat([df for df in (normalized.rejects, own_rejects) if len(df)],
                        ignore_index=True) if len(normalized.rejects) or len(own_rejects) \
        else own_rejects
    return _Split(kept=kept, hpx=hpx, rejects=rejects)


@dataclass
class PreparedChunk:
    """One chunk validated, converted and hashed: what is COPYed into staging."""

    n_read: int
    frame: pd.DataFrame
    fluxes: pd.DataFrame | None
    rejects: pd.DataFrame


def prepare_chunk(chunk: NormalizedCatalog, spec: TableSpec) -> PreparedChunk:
    """Validate, convert and hash one chunk (no database; runs in the prefetch thread)."""
    split = _split(chunk)
    frame = staging_frame(split.kept, spec.columns, spec.json_columns, split.hpx)
    fluxes = None  # literature: no fluxes; X-ray: always a frame, maybe empty
    if chunk.kind == "xray":
        given = chunk.fluxes if chunk.fluxes is not None else pd.DataFrame(
            columns=[c for c, _ in FLUX_COLUMNS])
        fluxes = staging_frame(given, FLUX_COLUMNS)
    frame["row_hash"] = row_hashes(frame, spec.hashed, fluxes)
    return PreparedChunk(chunk.n_read, frame, fluxes, split.rejects)
