"""Rendering of result frames for the CLI (a rich table, CSV or JSON), and the one
conversion of values into JSON types (:func:`jsonable`) that every JSON writer uses."""

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
        return f"{value:.6f}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)
