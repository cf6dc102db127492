"""Class tables: any CSV / VOTable / FITS list of classified objects (``livecat ingest table``).

A class table (a SIMBAD export, a table from a paper) becomes a literature catalog named
by ``--catalog``: one ``literature_object`` per row, through the shared loader
(:func:`ingest.pipeline.run` with the spec :func:`table_spec` builds), with the guarantees
of every ingest (atomic, idempotent, rejects with reasons, lock).

Columns are named on the command line:

``--name-col``
    the object's name; also its stable identifier (``native_id``) within the catalog.
``--ra-col``, ``--dec-col``
    ICRS position, decimal degrees or sexagesimal text (``hh mm ss.s`` / ``hh:mm:ss.s``
    for RA, ``±dd mm ss`` / ``±dd:mm:ss`` for Dec).
``--class-col``
    the native class label. It is looked up in the ``--class-map`` (a CSV with header
    ``native,class``; ``class`` is ``CLASS`` or ``CLASS/SUBCLASS`` of the livecat
    taxonomy; exact match first, then ignoring case); a label absent from the map must
    itself be a taxonomy class (``AGN``, ``cv/ip``, ...). A label that is neither is an
    error naming the label, its row and object, and nothing is written.
``--ref-col`` (optional)
    reference (bibcode) of the classification.
``--pos-err-col`` (optional)
    1-sigma position error in arcsec.

Every other column is kept in ``params``. Rows with a missing name, a missing class, an
unparseable or out-of-range position or a negative position error are rejected with the
reason; a repeated name is rejected (the first row is kept).

The release is named ``sha256:<12 hex>`` of the table *and* the options (column choices
and class map), so re-ingesting the same table with the same options changes nothing
(it is skipped unless ``--force``; forced, it reports 0 inserted and 0 updated), and the
same table with an edited class map is a new release. The table is the whole catalog:
objects absent from a newer version of it are marked not current.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from catalog.errors import InputError
from ingest.fetch import fetch_file
from ingest.spec import CatalogSpec, Fetched, Reading
from ingest.readers import read_input

#: Catalog names: lower-case letters, digits, ``_`` and ``-``, starting with a letter.
CATALOG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
#: Unknown labels quoted in full in the error before it summarises.
MAX_QUOTED = 5


@dataclass(frozen=True)
class TableColumns:
    """Which native column holds what (``None``: not given)."""

    name: str
    ra: str
    dec: str
    klass: str
    ref: str | None = None
    pos_err: str | None = None

    def used(self) -> list[str]:
        """The native columns named, in order."""
        return [c for c in (self.name, self.ra, self.dec, self.klass, self.ref, self.pos_err)
                if c]


# --------------------------------------------------------------------------------------
# Class map
# --------------------------------------------------------------------------------------


def read_class_map(path: str | Path) -> dict[str, tuple[str, str | None]]:
    """Read a class map CSV (header ``native,class``) into native label -> (class, subclass).

    Raises
    ------
    catalog.errors.InputError
        Missing file or columns, an empty native label, a label mapped twice to different
        classes, or a target class outside the taxonomy (the message names the line).
    """
    from catalog.taxonomy import parse_class

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"class map {path}: cannot read it ({exc.strerror or exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "native" not in fields or "class" not in fields:
        raise InputError(f"class map {path}: expected a CSV with header 'native,class', "
                         f"found {', '.join(reader.fieldnames or []) or 'no header'}")
    reader.fieldnames = fields
    out: dict[str, tuple[str, str | None]] = {}
    for line, row in enumerate(reader, start=2):
        native = (row.get("native") or "").strip()
        target = (row.get("class") or "").strip()
        if not native and not target:
            continue
        if not native:
            raise InputError(f"class map {path} line {line}: empty native label")
        try:
            mapped = parse_class(target)
        except InputError as exc:
            raise InputError(f"class map {path} line {line} ({native!r}): {exc}") from None
        if native in out and out[native] != mapped:
            raise InputError(f"class map {path} line {line}: {native!r} is mapped twice, to "
                             f"{_fmt(out[native])} and {_fmt(mapped)}")
        out[native] = mapped
    return out


def _fmt(cls: tuple[str, str | None]) -> str:
    return f"{cls[0]}/{cls[1]}" if cls[1] else cls[0]


def map_classes(labels: pd.Series, names: pd.Series, class_map: dict | None,
                column: str) -> tuple[list, list, np.ndarray]:
    """Map native labels to taxonomy classes.

    Parameters
    ----------
    labels, names : pandas.Series
        Native class label and object name per row (positional).
    class_map : dict or None
        Output of :func:`read_class_map`.
    column : str
        The class column (quoted in the error).

    Returns
    -------
    classes, subclasses : list
        Per row (None where the label is blank).
    blank : numpy.ndarray of bool
        Rows without a label.

    Raises
    ------
    catalog.errors.InputError
        When a label is neither in the map nor a taxonomy class: names the label, the
        first row (1-based) and object having it, and how many rows have it.
    """
    from catalog.taxonomy import parse_class

    folded = {k.casefold(): v for k, v in (class_map or {}).items()}
    cache: dict[str, tuple[str, str | None] | None] = {}
    classes, subs = [], []
    blank = np.zeros(len(labels), dtype=bool)
    unknown: dict[str, list[int]] = {}
    for i, raw in enumerate(labels.tolist()):
        label = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) \
            else str(raw).strip()
        if not label:
            blank[i] = True
            classes.append(None)
            subs.append(None)
            continue
        if label not in cache:
            hit = (class_map or {}).get(label) or folded.get(label.casefold())
            if hit is None:
                try:
                    hit = parse_class(label)
                except InputError:
                    hit = None
            cache[label] = hit
        hit = cache[label]
        if hit is None:
            unknown.setdefault(label, []).append(i)
            classes.append(None)
            subs.append(None)
        else:
            classes.append(hit[0])
            subs.append(hit[1])
    if unknown:
        from catalog.taxonomy import allowed_classes

        parts = []
        for label, rows in list(unknown.items())[:MAX_QUOTED]:
            first = rows[0]
            more = f", {len(rows)} rows in all" if len(rows) > 1 else ""
            parts.append(f"{label!r} (row {first + 1}, {names.iloc[first]!s}{more})")
        rest = len(unknown) - MAX_QUOTED
        listed = "; ".join(parts) + (f"; and {rest} more labels" if rest > 0 else "")
        where = "not in the class map and not" if class_map else "not"
        raise InputError(
            f"unknown class in column {column}: {listed}: {where} in the livecat taxonomy "
            f"({', '.join(allowed_classes())}, optionally CLASS/SUBCLASS); map each label "
            "with --class-map FILE (CSV with header native,class); nothing was written")
    return classes, subs, blank


# --------------------------------------------------------------------------------------
# Normalize
# --------------------------------------------------------------------------------------


def normalize_table(df: pd.DataFrame, cols: TableColumns,
                    class_map: dict | None = None):
    """A parsed class table -> :class:`ingest.normalized.NormalizedCatalog` (literature).

    Pure: no database. See the module docstring for the rules.

    Raises
    ------
    catalog.errors.SourceError
        A named column is missing from the table.
    catalog.errors.InputError
        A class label outside the taxonomy and the class map.
    """
    from ingest import readers as R
    from ingest import tables as T
    from ingest.normalized import LITERATURE_COLUMNS, NormalizedCatalog

    R.require_columns(df, cols.used(), "a table of classified objects")
    df = df.reset_index(drop=True)
    n = len(df)
    ids = T.id_text(df[cols.name])
    rc = T.RejectCollector(n, ids)
    T.check_ids(rc, ids, cols.name)
    ra, ra_bad = T.sexagesimal_to_deg(df[cols.ra], hours=True)
    dec, dec_bad = T.sexagesimal_to_deg(df[cols.dec], hours=False)
    T.check_position(rc, ra, dec, df[cols.ra], df[cols.dec], cols.ra, cols.dec,
                     ra_bad, dec_bad)
    classes, subs, blank = map_classes(df[cols.klass], ids.fillna(""), class_map, cols.klass)
    rc.add(blank, f"missing class: column {cols.klass} is empty; expected a class label")
    pos_err = pd.Series(np.full(n, np.nan))
    if cols.pos_err:
        pos_err, bad = T.to_float(df[cols.pos_err].reset_index(drop=True))
        T.check_unparseable(rc, bad, df[cols.pos_err], cols.pos_err)
        T.check_nonnegative(rc, pos_err, cols.pos_err)
    refs = T.id_text(df[cols.ref]) if cols.ref else pd.Series([None] * n, dtype=object)
    native = T.id_text(df[cols.klass])
    other = [c for c in df.columns if c not in cols.used()]
    extra = df[other].astype(object)
    extra = extra.mask(extra.map(lambda v: isinstance(v, str) and not v.strip()))
    params = T.records(extra, drop_missing=True) if other else [{} for _ in range(n)]

    good = np.flatnonzero(~rc.bad)
    sources = pd.DataFrame({
        "native_id": pd.Series(ids.iloc[good].tolist(), dtype=object),
        "name": pd.Series(ids.iloc[good].tolist(), dtype=object),
        "ra": ra.to_numpy(dtype=float)[good],
        "dec": dec.to_numpy(dtype=float)[good],
        "pos_err_arcsec": pos_err.to_numpy(dtype=float)[good],
        "livecat_class": pd.Series([classes[i] for i in good], dtype=object),
        "subclass": pd.Series([subs[i] for i in good], dtype=object),
        "native_type": pd.Series(native.iloc[good].tolist(), dtype=object),
        "reference": pd.Series(refs.iloc[good].tolist(), dtype=object),
        "confidence": np.full(len(good), np.nan),
        "params": pd.Series([params[i] for i in good], dtype=object),
    })[LITERATURE_COLUMNS]
    out = NormalizedCatalog(kind="literature", sources=sources, rejects=rc.frame(), n_read=n)
    out.check_counts()
    return out


# --------------------------------------------------------------------------------------
# The catalog spec of a class table
# --------------------------------------------------------------------------------------


def check_catalog_name(catalog: str, reserved) -> str:
    """Refuse a malformed name or the name of a catalog livecat ingests itself
    (``reserved``)."""
    name = (catalog or "").strip()
    if not CATALOG_NAME.match(name):
        raise InputError(f"catalog name {catalog!r}: expected lower-case letters, digits, "
                         "'_' or '-', starting with a letter (e.g. simbad_cvs)")
    if name in reserved:
        raise InputError(f"catalog name {name!r} belongs to a catalog livecat ingests "
                         f"itself (livecat ingest {name}); choose another name")
    return name


def options_digest(fetched_sha: str, cols: TableColumns, class_map: dict | None) -> str:
    """SHA-256 of the input and everything that decides how it is read."""
    payload = json.dumps({"input": fetched_sha, "columns": dataclasses.asdict(cols),
                          "class_map": sorted((k, list(v)) for k, v in
                                              (class_map or {}).items())},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def table_spec(catalog: str, cols: TableColumns, *, class_map_path=None,
               fmt: str | None = None, reserved=()) -> CatalogSpec:
    """The catalog spec of a class table: fetch is the ``--file`` (its checksum covers
    the options too), read is :func:`normalize_table`; the table is the whole catalog.

    Raises
    ------
    catalog.errors.InputError
        A malformed or reserved catalog name, or an unreadable class map.
    """
    catalog = check_catalog_name(catalog, reserved)
    class_map = read_class_map(class_map_path) if class_map_path else None

    def fetch_table(args, reporter=None) -> Fetched:
        if args.file is None:
            raise InputError("a class table is read from a file: give its path")
        result = fetch_file(args.file)
        result = dataclasses.replace(result, sha256=options_digest(result.sha256, cols,
                                                                    class_map))
        return Fetched(result=result, paths=[result.path])

    def read_table(fetched, args, reporter=None) -> Reading:
        return Reading(chunks=normalize_table(read_input(fetched.result.path, fmt), cols,
                                              class_map))

    return CatalogSpec(name=catalog, kind="literature",
                       title=f"class table {catalog}", home="a local table",
                       fetch=fetch_table, read=read_table, whole_catalogue_files=True)
