"""Reading catalog files: format sniffing and one reader per format.

:func:`read_input` sniffs the format (FITS, VOTable, TAPVizieR JSON, CSV; gzip
transparently) and dispatches to :func:`read_fits_table`, :func:`read_votable`,
:func:`read_tapvizier_json` or :func:`read_csv_text`. Every reader raises
:class:`catalog.errors.SourceError` naming the file and the problem when the input cannot
be read at all (truncated FITS, a CSV whose last row is cut, wrong format, ...).
:func:`rename_vizier_to_original` renames VizieR labels to the original (FITS) names
quoted at the end of each column description.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from catalog.errors import SourceError

_FITS_MAGIC = b"SIMPLE  ="


# --------------------------------------------------------------------------- input

def describe_source(path_or_bytes) -> str:
    """Return a short human name for an input (the file path, or ``<bytes>``)."""
    if isinstance(path_or_bytes, (str, os.PathLike)):
        return str(path_or_bytes)
    return "<bytes>"


def load_bytes(path_or_bytes) -> bytes:
    """Read a path (str or PathLike) or pass bytes through; gzip content is decompressed.

    Raises
    ------
    SourceError
        If the path does not exist or cannot be read.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        path = Path(path_or_bytes)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read file ({exc.strerror or exc}); "
                              "check the path and permissions") from exc
    return maybe_gunzip(data, describe_source(path_or_bytes))


def maybe_gunzip(data: bytes, where: str = "<bytes>") -> bytes:
    """Decompress gzip data (catalogues are often distributed as ``.fits.gz``).

    Raises
    ------
    SourceError
        A gzip stream that is truncated or corrupt.
    """
    if not data.startswith(b"\x1f\x8b"):
        return data
    import gzip
    import zlib

    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{where}: gzip stream is truncated or corrupt ({exc}); "
                          "download it again") from exc


def sniff_format(data: bytes) -> str:
    """Guess the serialisation of catalog bytes.

    Returns one of ``"fits"``, ``"votable"``, ``"json"``, ``"csv"``.
    """
    if data.startswith(_FITS_MAGIC):
        return "fits"
    head = data[:4096].lstrip()
    if head.startswith(b"{") or head.startswith(b"["):
        return "json"
    if b"<VOTABLE" in head or (head.startswith(b"<?xml") and b"VOTABLE" in data[:65536]):
        return "votable"
    return "csv"


def read_input(path_or_bytes, fmt: str | None = None, *,
               csv_kwargs: Mapping | None = None) -> pd.DataFrame:
    """Read a catalog table from a path or bytes in any supported format.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        The input.
    fmt : {"fits", "votable", "json", "csv"}, optional
        Force a format; sniffed from the content when omitted.
    csv_kwargs : mapping, optional
        Extra keyword arguments for :func:`read_csv_text`.

    Returns
    -------
    pandas.DataFrame
        Native columns. ``df.attrs`` holds ``source`` (file name), ``format``, ``units``
        (column -> unit string) and, for JSON/VOTable, ``descriptions``.

    Raises
    ------
    SourceError
        Unreadable input, unknown format or an empty byte string.
    """
    where = describe_source(path_or_bytes)
    if fmt in (None, "fits") and _is_plain_fits_file(path_or_bytes):
        df = read_fits_table(Path(path_or_bytes), where)  # memory-mapped, no copy
        df.attrs["source"] = where
        df.attrs["format"] = "fits"
        return df
    data = load_bytes(path_or_bytes)
    if not data.strip():
        raise SourceError(f"{where}: the input is empty; expected a FITS, VOTable, "
                          "TAPVizieR JSON or CSV catalog table")
    fmt = (fmt or sniff_format(data)).lower()
    readers = {"fits": read_fits_table, "votable": read_votable,
               "json": read_tapvizier_json}
    if fmt == "csv":
        df = read_csv_text(data, where, **dict(csv_kwargs or {}))
    elif fmt in readers:
        df = readers[fmt](data, where)
    else:
        raise SourceError(f"{where}: unknown format {fmt!r}; expected one of "
                          "fits, votable, json, csv")
    df.attrs.setdefault("units", {})
    df.attrs["source"] = where
    df.attrs["format"] = fmt
    return df


def _decode_bytes_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Decode ``bytes`` cells (FITS character columns) to stripped ``str``."""
    for col in df.columns:
        s = df[col]
        if s.dtype == object and len(s) and isinstance(s.iloc[0], bytes):
            df[col] = s.str.decode("ascii", errors="replace").str.strip()
    return df


def _is_plain_fits_file(path_or_bytes) -> bool:
    """True for a path to an uncompressed FITS file (read memory-mapped)."""
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        return False
    try:
        with open(path_or_bytes, "rb") as fh:
            return fh.read(len(_FITS_MAGIC)) == _FITS_MAGIC
    except OSError:
        return False  # load_bytes reports the problem


def read_fits_table(data, where: str = "<bytes>", hdu: int | str = 1) -> pd.DataFrame:
    """Read a FITS binary table (TNULL/NaN nulls become NA/NaN).

    Parameters
    ----------
    data : bytes or pathlib.Path
        Whole FITS file, or its path (opened memory-mapped: a 1e6-row catalogue is not
        held twice in memory).
    where : str
        File name used in error messages.
    hdu : int or str
        Extension holding the catalog (default: the first extension).

    Raises
    ------
    SourceError
        Not FITS, truncated, or no binary table in ``hdu``.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    if isinstance(data, Path):
        size = data.stat().st_size
        source, memmap = str(data), True
    else:
        if not data.startswith(_FITS_MAGIC):
            raise SourceError(f"{where}: not a FITS file (no 'SIMPLE  =' card at byte 0)")
        size, source, memmap = len(data), io.BytesIO(data), False
    try:
        with warnings.catch_warnings():
            # astropy only warns about truncation; the size check below raises instead
            warnings.simplefilter("ignore", AstropyUserWarning)
            hdul = fits.open(source, memmap=memmap, lazy_load_hdus=True)
        with hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            try:
                ext = hdul[hdu]
            except (IndexError, KeyError) as exc:
                raise SourceError(f"{where}: FITS file has no extension {hdu!r}; expected "
                                  "the catalog binary table in extension 1") from exc
            if not isinstance(ext, fits.BinTableHDU):
                raise SourceError(f"{where}: FITS extension {hdu!r} is "
                                  f"{type(ext).__name__}, expected a binary table")
            info = hdul.fileinfo(hdul.index_of(hdu) if not isinstance(hdu, int) else hdu)
            need = info["datLoc"] + ext.header["NAXIS1"] * ext.header["NAXIS2"] \
                + ext.header.get("PCOUNT", 0)
            if size < need:
                raise SourceError(
                    f"{where}: FITS file is truncated: table needs {need} bytes "
                    f"({ext.header['NAXIS2']} rows), file has {size}; "
                    "download it again")
            df = _fits_to_frame(ext)
            units = {c.name: (str(c.unit) if c.unit else "") for c in ext.columns}
    except SourceError:
        raise
    except Exception as exc:  # astropy raises OSError/ValueError/TypeError variously
        raise SourceError(f"{where}: cannot read FITS table ({exc}); the file may be "
                          "truncated or not a catalog") from exc
    df.attrs["units"] = units
    return df


def _fits_to_frame(ext) -> pd.DataFrame:
    """Convert a FITS binary table HDU to pandas column by column.

    One native-byte-order copy per column (no intermediate astropy Table). Integer
    columns with a TNULL become nullable (``Int64``-style) with those cells NA; float
    nulls are NaN already; character columns are stripped ``str``. Vector columns
    (``TFORM`` with a repeat count > 1) are skipped: no catalog field used needs them.
    """
    data = ext.data
    out = {}
    for col in ext.columns:
        arr = data[col.name]
        if arr.ndim > 1:
            continue
        if arr.dtype.kind == "U" or arr.dtype.kind == "S":
            values = np.char.strip(np.asarray(arr)).astype(str).astype(object)
            out[col.name] = pd.Series(values, dtype=object)
            continue
        native = np.asarray(arr).astype(arr.dtype.newbyteorder("="), copy=True)
        if native.dtype.kind in "iu" and col.null is not None:
            mask = native == col.null
            out[col.name] = pd.arrays.IntegerArray(native, mask) if mask.any() \
                else native
        else:
            out[col.name] = native
    return pd.DataFrame(out, copy=False)


def _table_to_frame(table) -> pd.DataFrame:
    """Convert an astropy Table to pandas, keeping masked ints as nullable ints."""
    # Multidimensional columns cannot go to pandas; none of the catalog tables need them.
    keep = [n for n in table.colnames if len(table[n].shape) <= 1]
    df = table[keep].to_pandas()
    return _decode_bytes_columns(df)


def read_votable(data: bytes, where: str = "<bytes>") -> pd.DataFrame:
    """Read the first table of a VOTable (TABLEDATA or BINARY/BINARY2).

    Raises
    ------
    SourceError
        Not XML/VOTable, a TAP error document, or a table that fails to decode.
    """
    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse(io.BytesIO(data), verify="ignore")
            resource_tables = list(vot.iter_tables())
    except Exception as exc:
        raise SourceError(f"{where}: cannot read VOTable ({exc}); expected a complete "
                          "VOTable document") from exc
    for info in vot.iter_info() if hasattr(vot, "iter_info") else []:
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
            raise SourceError(f"{where}: the service returned an error VOTable: "
                              f"{(info.content or '').strip()}")
    if not resource_tables:
        raise SourceError(f"{where}: VOTable has no TABLE element")
    vt = resource_tables[0]
    try:
        table = vt.to_table()
    except Exception as exc:
        raise SourceError(f"{where}: cannot decode VOTable data ({exc})") from exc
    df = _table_to_frame(table)
    df.attrs["units"] = {f.name: (str(f.unit) if f.unit is not None else "")
                         for f in vt.fields}
    df.attrs["descriptions"] = {f.name: (f.description or "") for f in vt.fields}
    return df


#: The original column name VizieR appends to a description: "... (ML_FLUX_1)".
_ORIG_NAME = re.compile(r"\(([A-Za-z0-9_]*[A-Za-z_][A-Za-z0-9_]*)\)")


def original_name(description: str | None) -> str | None:
    """Return the original (FITS) column name VizieR quotes in a description.

    VizieR descriptions end with the original name in parentheses, possibly followed by
    a note number or a format, e.g. ``"... flag (DetFlag) (3)"`` or
    ``"... IAU name of the source (IAUNAME) (1eRASS JHHMMSS.s+DDMMSS)"``. The last
    parenthesised single identifier (letters, digits, ``_``; not only digits, so
    ``(2SXPS_ID)`` counts and ``(3)`` does not) is taken.
    """
    if not description:
        return None
    found = _ORIG_NAME.findall(description)
    return found[-1] if found else None


def read_tapvizier_json(data: bytes, where: str = "<bytes>") -> pd.DataFrame:
    """Read a TAPVizieR ``FORMAT=json`` answer (``{"metadata": [...], "data": [...]}``).

    Columns keep their VizieR labels; ``df.attrs["original_names"]`` maps each label to
    the original catalog column name found in its description (see
    :func:`original_name`), so callers can rename to the FITS names.

    Raises
    ------
    SourceError
        Invalid JSON, or JSON without ``metadata``/``data`` of matching widths.
    """
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{where}: not valid JSON ({exc}); expected a TAPVizieR "
                          "FORMAT=json answer") from exc
    if not isinstance(doc, dict) or "metadata" not in doc or "data" not in doc:
        raise SourceError(f"{where}: JSON has no 'metadata'/'data' members; expected a "
                          "TAPVizieR FORMAT=json answer")
    meta = doc["metadata"]
    names = [m.get("name") for m in meta]
    rows = doc["data"]
    bad = [i for i, r in enumerate(rows, 1) if not isinstance(r, list) or len(r) != len(names)]
    if bad:
        raise SourceError(f"{where}: data row {bad[0]} has a different number of values "
                          f"than the {len(names)} metadata columns")
    df = pd.DataFrame(rows, columns=names)
    df.attrs["units"] = {m["name"]: m.get("unit", "") for m in meta}
    df.attrs["descriptions"] = {m["name"]: m.get("description", "") for m in meta}
    df.attrs["original_names"] = {m["name"]: original_name(m.get("description"))
                                  for m in meta}
    return df


def read_csv_text(data: bytes, where: str = "<bytes>", **kwargs) -> pd.DataFrame:
    """Read CSV text with every cell as a stripped string (nulls = empty string).

    Keeping text lets :func:`to_float` tell "blank" from "unparseable".

    Every row must have the header's number of fields: a short last row is a truncated
    file (a cut download), a short row elsewhere a broken one; either is refused rather
    than read with its last cells missing (``1.9e-13`` cut to ``1.9`` would be a
    plausible wrong value).

    Raises
    ------
    SourceError
        Text that is not delimited tabular data (binary, ragged or truncated rows).
    """
    if b"\x00" in data[:65536]:
        raise SourceError(f"{where}: binary content where CSV text was expected")
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                         skipinitialspace=False, comment=kwargs.pop("comment", None),
                         **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{where}: cannot parse CSV ({exc})") from exc
    _check_field_counts(data, where, kwargs.get("sep", ","))
    df.columns = [str(c).strip() for c in df.columns]
    for col in df.columns:
        df[col] = df[col].astype(object).str.strip()
    return df


def _check_field_counts(data: bytes, where: str, sep: str) -> None:
    """Refuse rows with fewer or more fields than the header (pandas pads short rows)."""
    text = data.decode("utf-8", "replace")
    rows = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(rows, None)
    if header is None:
        return
    short = []
    last = 0
    for last, row in enumerate(rows, start=1):
        if row and len(row) != len(header):
            short.append((last, len(row)))
    if not short:
        return
    i, n_fields = short[0]
    if len(short) == 1 and i == last and n_fields < len(header) \
            and not text.rstrip(" \t").endswith(("\n", "\r")):
        raise SourceError(f"{where}: the file is truncated: its last row (data row {i}) "
                          f"has {n_fields} of {len(header)} fields and no line end; "
                          "download it again")
    raise SourceError(f"{where}: data row {i} has {n_fields} of {len(header)} fields "
                      "(expected one per header column)"
                      + (f"; {len(short)} such rows" if len(short) > 1 else ""))


def require_columns(df: pd.DataFrame, required: Iterable[str], what: str) -> None:
    """Raise :class:`SourceError` unless every required column is present.

    Parameters
    ----------
    df : pandas.DataFrame
        Parsed table (``df.attrs["source"]`` names the file in the message).
    required : iterable of str
        Column names (native, after any renaming).
    what : str
        Description of the expected table, e.g. ``"a CSC master-source table"``.
    """
    missing = [c for c in required if c not in df.columns]
    if missing:
        where = df.attrs.get("source", "<table>")
        shown = ", ".join(list(map(str, df.columns))[:12])
        raise SourceError(f"{where}: missing required column(s) {', '.join(missing)}; "
                          f"expected {what} (columns found: {shown}"
                          f"{', ...' if len(df.columns) > 12 else ''})")


def rename_vizier_to_original(df: pd.DataFrame) -> pd.DataFrame:
    """Rename TAPVizieR labels to the original catalog names quoted in the descriptions.

    Uses ``df.attrs["original_names"]`` (set by :func:`read_tapvizier_json`); labels
    without an original name (e.g. a computed ``match_dist``) and names that would
    collide are kept. ``df.attrs["vizier_labels"]`` maps new name -> VizieR label.
    """
    originals = df.attrs.get("original_names") or {}
    mapping, taken = {}, set(df.columns)
    for label, orig in originals.items():
        if orig and orig != label and orig not in taken and label in df.columns:
            mapping[label] = orig
            taken.add(orig)
    attrs = dict(df.attrs)
    out = df.rename(columns=mapping)
    out.attrs = attrs
    out.attrs["units"] = {mapping.get(k, k): v for k, v in attrs.get("units", {}).items()}
    out.attrs["vizier_labels"] = {v: k for k, v in mapping.items()}
    return out


