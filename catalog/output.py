"""Rendering of result frames for the CLI: a rich table, CSV or JSON; astropy Tables with
units, written as VOTable or FITS files; and the one conversion of values into JSON types
(:func:`jsonable`) that every JSON writer uses."""

from __future__ import annotations

import json
import math
import sys
from typing import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")
"""Formats :func:`render` writes to a stream."""
FILE_FORMATS = ("votable", "fits")
"""Formats :func:`write_table` writes to a file."""

NAME_UNITS = {"ra": "deg", "dec": "deg"}
SUFFIX_UNITS = (("_arcsec", "arcsec"), ("_deg", "deg"), ("_kev", "keV"), ("_cm2", "cm-2"),
                ("mag", "mag"))
"""Units by column name, where a column's comment does not give one: livecat names columns
with their unit (``pos_err_arcsec``, ``band_lo_kev``, ``nh_gal_cm2``, ``e_gmag``)."""


def jsonable(value):
    """``value`` in JSON types: containers converted item by item (keys as text), numpy
    arrays as lists, numpy scalars as Python numbers, NaN and infinities as None.

    Examples
    --------
    >>> jsonable({"n": np.int64(3), "x": [np.float64("nan"), 1.5]})
    {'n': 3, 'x': [None, 1.5]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_cell(value):
    return value.isoformat() if hasattr(value, "isoformat") else jsonable(value)


def render(df: pd.DataFrame, fmt: str, title: str | None = None,
           table_columns: Sequence[str] | None = None, file=None) -> None:
    """Write ``df`` to ``file`` (default stdout) as a rich table, CSV or JSON lines.

    ``table_columns`` limits the columns of the rich table (CSV and JSON keep them all).
    """
    out = file or sys.stdout
    if fmt == "csv":
        frame = df.copy()
        for col in frame.columns:
            if frame[col].map(lambda v: isinstance(v, (dict, list))).any():
                frame[col] = frame[col].map(json.dumps, na_action="ignore")
        frame.to_csv(out, index=False)
    elif fmt == "json":
        records = [{k: _json_cell(v) for k, v in rec.items()}
                   for rec in df.to_dict(orient="records")]
        out.write(json.dumps(records, indent=1) + "\n")
    else:
        cols = [c for c in (table_columns or df.columns) if c in df.columns]
        table = Table(title=title, show_lines=False)
        for col in cols:
            table.add_column(col, justify="right" if pd.api.types.is_numeric_dtype(df[col])
                             else "left")
        for rec in df[cols].itertuples(index=False):
            table.add_row(*[_cell(v) for v in rec])
        # a pipe or file gets full-width rows instead of 80 columns of truncated cells
        width = None if getattr(out, "isatty", lambda: False)() else 250
        Console(file=out, width=width).print(table)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        # fixed point would print a flux of 1e-11 erg/cm2/s as 0.000000
        fixed = value == 0 or 1e-3 <= abs(value) < 1e6
        return f"{value:.6f}" if fixed else f"{value:.4g}"
    return str(value)


def unit_for(name: str, comment: str | None = None) -> str | None:
    """A column's unit: the last comma-separated part of its comment when astropy reads it
    as a unit (``"ICRS right ascension, deg"``, ``"parallax error, mas"``), else from its
    name (:data:`NAME_UNITS`, :data:`SUFFIX_UNITS`); None for a number without unit."""
    from astropy import units as u

    if comment and "," in comment:
        last = comment.rsplit(",", 1)[1].strip()
        if last and " " not in last:
            try:
                unit = u.Unit(last, parse_strict="raise")
            except ValueError:
                unit = None
            if unit is not None and unit != u.dimensionless_unscaled:
                return unit.to_string()
    if name in NAME_UNITS:
        return NAME_UNITS[name]
    return next((unit for suffix, unit in SUFFIX_UNITS if name.endswith(suffix)), None)


def _kind(values: pd.Series) -> str:
    """numpy kind of a column read from the database: b(ool), i(nt), f(loat) or U (text)."""
    import numpy as np

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "b"
    if pd.api.types.is_integer_dtype(dtype):
        return "i"
    if pd.api.types.is_float_dtype(dtype):
        return "f"
    present = values.dropna().tolist()
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return "b"
    if present and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in present):
        return "i"
    return "U"


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_table(df: pd.DataFrame, units: dict[str, str] | None = None,
             kinds: dict[str, str] | None = None, meta: dict | None = None):
    """An astropy Table of ``df`` with units, fit for VOTable and FITS.

    Parameters
    ----------
    df : pandas.DataFrame
    units : dict of str to str, optional
        Unit per column; columns not named get :func:`unit_for` of their name.
    kinds : dict of str to str, optional
        numpy kind per column (``b``, ``i``, ``f`` or ``U`` for text), e.g. from the
        database types, so that a column with no value keeps its type; else inferred.
    meta : dict, optional
        Table metadata (FITS header keywords: at most 8 characters).

    Returns
    -------
    astropy.table.Table
        JSON values (dicts, lists) as JSON text, timestamps as ISO 8601 text, missing
        values masked.
    """
    import numpy as np
    from astropy.table import MaskedColumn, Table

    units, kinds = units or {}, kinds or {}
    table = Table(meta=dict(meta or {}))
    for name in df.columns:
        values = df[name]
        missing = values.isna().to_numpy()
        kind = kinds.get(name) or _kind(values)
        if kind == "f":
            data = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        elif kind in ("b", "i"):
            fill = False if kind == "b" else 0
            data = np.array([fill if m else v for v, m in zip(values.tolist(), missing)],
                            dtype=bool if kind == "b" else np.int64)
        else:
            data = np.array(["" if m else _text(v) for v, m in zip(values.tolist(), missing)],
                            dtype=str)
        table.add_column(MaskedColumn(data, name=name, mask=missing,
                                      unit=units.get(name, unit_for(name))))
    return table


def write_table(table, fmt: str, path) -> None:
    """Write an astropy Table as ``fmt`` (``"votable"`` or ``"fits"``) to ``path``, through a
    temporary file and a rename: never a half-written file."""
    import os
    from pathlib import Path

    path = Path(path)
    part = path.with_name(path.name + ".part")
    table.write(part, format=fmt, overwrite=True)
    os.replace(part, path)
