"""Write a flat table as CSV, Parquet, FITS or VOTable: same input, same bytes.

Used by ``livecat trainingset export`` and ``livecat classify export``. The table is
written to memory and then atomically to its path (no half-written file). FITS and
VOTable files carry the unit of every column that has one (astropy units, written in each
format's own unit syntax) and provenance: FITS header cards of the table HDU (long values
continue on ``CONTINUE`` cards), VOTable ``INFO`` elements of the resource. Parquet and
CSV carry no metadata (the manifest beside the file holds it), so their bytes depend on
the rows alone. Nothing depends on the moment of writing. The manifest is written
beside the file as ``<PATH>.manifest.json`` (:func:`write_manifest`).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from catalog.errors import InputError
from catalog.files import write_atomic
from catalog.output import jsonable

FORMATS = ("csv", "parquet", "fits", "votable")
#: File name extension of each format (for a default file name).
EXTENSIONS = {"csv": "csv", "parquet": "parquet", "fits": "fits", "votable": "vot"}

_FLUX_UNITS = {"energy_flux": "erg / (cm2 s)", "count_rate": "ct / s"}
_MW_UNITS = {"plx": "mas", "e_plx": "mas", "pm": "mas / yr", "e_pm": "mas / yr",
             "rgeo": "pc", "rgeo_lo": "pc", "rgeo_hi": "pc", "ra": "deg", "dec": "deg",
             "separation_arcsec": "arcsec"}
_FIXED_UNITS = {"ra": "deg", "dec": "deg", "pos_err_arcsec": "arcsec",
                "err_maj_arcsec": "arcsec", "err_min_arcsec": "arcsec", "err_pa_deg": "deg",
                "nh_gal_cm2": "cm-2"}


@dataclass(frozen=True)
class Card:
    """One provenance item: FITS keyword (<= 8 characters), VOTable INFO name, value."""

    keyword: str
    name: str
    value: str
    comment: str = ""


def livecat_version() -> str:
    """The installed livecat package version (not the git state: exports must not change
    with uncommitted edits)."""
    try:
        return version("livecat")
    except PackageNotFoundError:
        return "unknown"


def column_unit(name: str) -> str | None:
    """The unit of a livecat export column, from its name; None = dimensionless or text.

    ``ra``/``dec`` deg; ``*_arcsec`` arcsec; ``err_pa_deg`` deg; ``nh_gal_cm2`` cm-2;
    ``energy_flux_<band>[_lo|_hi]`` erg/cm2/s, ``count_rate_<band>[...]`` ct/s,
    ``<flux>_band_lo_kev``/``_band_hi_kev`` keV; multiwavelength counterpart columns
    ``mw_<survey>_<col>``: magnitudes (``*mag``, ``e_*mag``) mag, parallax mas, proper
    motion mas/yr, Bailer-Jones distances pc, positions deg, separation arcsec.
    """
    if name in _FIXED_UNITS:
        return _FIXED_UNITS[name]
    if name.endswith(("_band_lo_kev", "_band_hi_kev")):
        return "keV"
    for kind, unit in _FLUX_UNITS.items():
        if name.startswith(kind + "_"):
            return unit
    if name.startswith("mw_"):
        for col in sorted(_MW_UNITS, key=len, reverse=True):
            if name.endswith("_" + col):
                return _MW_UNITS[col]
        if re.search(r"_[a-z0-9]+mag$", name):
            return "mag"
    return None


def resolve_out(out: str | Path, default_name: str) -> Path:
    """The file to write for ``--out``: ``out`` itself, or ``out/default_name`` when
    ``out`` is an existing directory.

    Raises
    ------
    InputError
        When the directory the file goes into does not exist.
    """
    out = Path(out)
    if out.is_dir():
        out = out / default_name
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: directory {out.parent} does not exist (create it "
                         f"first, or give an existing directory to write {default_name} "
                         f"into)")
    return out


def _astropy_table(frame: pd.DataFrame, units: dict[str, str]):
    import astropy.units as u
    from astropy.table import Table

    table = Table()
    for col in frame.columns:
        values = frame[col].to_numpy()
        table[col] = values.astype(str) if values.dtype == object else values
        if units.get(col):
            table[col].unit = u.Unit(units[col])
    return table


def _fits_bytes(frame: pd.DataFrame, units: dict[str, str], cards: list[Card]) -> bytes:
    from astropy.io import fits

    hdu = fits.table_to_hdu(_astropy_table(frame, units))
    for card in cards:
        # a comment that does not fit beside the value is left out (not truncated)
        comment = card.comment if len(card.value) + len(card.comment) <= 60 else ""
        hdu.header.append(fits.Card(card.keyword, card.value, comment), end=True)
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def _votable_bytes(frame: pd.DataFrame, units: dict[str, str], cards: list[Card]) -> bytes:
    from astropy.io.votable.tree import Info, VOTableFile
    from astropy.units import UnitsWarning

    buf = io.BytesIO()
    with warnings.catch_warnings():
        # VOUnit calls 'erg' deprecated; erg/cm2/s is what X-ray catalogs publish and
        # VOTable readers parse it
        warnings.simplefilter("ignore", UnitsWarning)
        vot = VOTableFile.from_table(_astropy_table(frame, units))
        resource = vot.resources[0]
        for card in cards:
            info = Info(name=card.name, value=card.value)
            if card.comment:
                info.content = card.comment
            resource.infos.append(info)
        vot.to_xml(buf)
    return buf.getvalue()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def table_bytes(frame: pd.DataFrame, fmt: str, units: dict[str, str] | None = None,
                cards: list[Card] | None = None) -> bytes:
    """The bytes of ``frame`` written as ``fmt`` (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns of float64, int64, bool or text (object; no missing text: use ``""``).
    fmt : {"csv", "parquet", "fits", "votable"}
    units : dict, optional
        Column -> astropy unit string (FITS and VOTable).
    cards : list of Card, optional
        Provenance (FITS and VOTable).
    """
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    units, cards = units or {}, cards or []
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode()
    if fmt == "parquet":
        return _parquet_bytes(frame)
    if fmt == "fits":
        return _fits_bytes(frame, units, cards)
    return _votable_bytes(frame, units, cards)


def write_table(frame: pd.DataFrame, fmt: str, out: str | Path,
                units: dict[str, str] | None = None, cards: list[Card] | None = None) -> Path:
    """Write :func:`table_bytes` to ``out`` atomically; return the path."""
    data = table_bytes(frame, fmt, units, cards)
    write_atomic(out, data)
    return Path(out)


def manifest_path(out: str | Path) -> Path:
    """Where the manifest of an export to ``out`` goes: ``<out>.manifest.json``."""
    return Path(str(out) + ".manifest.json")


def write_manifest(out: str | Path, manifest: dict) -> Path:
    """Write ``manifest`` (JSON, sorted keys) atomically beside the export ``out``.

    Returns
    -------
    Path
        :func:`manifest_path` of ``out``.
    """
    path = manifest_path(out)
    write_atomic(path, (json.dumps(jsonable(manifest), indent=1, sort_keys=True)
                        + "\n").encode())
    return path


def text_column(values) -> np.ndarray:
    """Text cells with ``""`` for missing values, so every format stores them alike."""
    return np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                     for v in values], dtype=object)
