"""livecat's catalogs as HATS catalogs: the tables, their provenance, the writer.

HATS (Hierarchical Adaptive Tiling Scheme) is the format LSDB reads on Dask: a catalog is a
directory of Parquet files, one per HEALPix pixel, each pixel split until it holds at most
``pixel_threshold`` rows, with a ``properties`` file (Java properties) describing it; a
*collection* groups the catalog with its *margin cache* (the rows within
``margin_arcsec`` outside each pixel, so that a cross-match near a pixel's edge sees its
neighbours). Its ``_healpix_29`` column is the NESTED pixel at order 29 - livecat's own
``hpx``. :func:`write_hats` writes one with hats-import (``CollectionArguments``: catalog
plus margin) on a Dask client; extra properties go through hats-import's
``addl_hats_properties`` (``hats.catalog.dataset.hats_properties.HatsProperties`` keeps
unknown keys), all prefixed ``livecat_`` (:data:`PROVENANCE_PREFIX`).

Tables (database ids are never exported: rows are keyed by ``catalog`` and ``native_id``,
so the same rows give the same catalog in any database):

- :func:`xray_table`: an X-ray catalog's current sources, every column of
  ``xray_source`` but livecat's bookkeeping, the release the row was last seen in, and the
  fluxes flattened one column per native band: ``flux_<band>`` (energy flux, erg/cm2/s)
  or ``rate_<band>`` (count rate, counts/s) with ``_lo``/``_hi`` bounds; the band edges
  are a property (``livecat_bands``);
- :func:`survey_table`: a survey's current ``mw_source`` rows (the survey-source contract
  of :mod:`ingest.normalized`), likewise.

JSON columns (``flags``, ``extra``) are JSON text, as PostgreSQL prints ``jsonb``.

Same data, same catalog: rows are sorted by the key before the import, hats-import sorts
each pixel by ``_healpix_29`` then the key (``hats_cols_sort``), and Parquet of the same
table written by the same pyarrow is the same bytes. So re-exporting unchanged data
writes byte-identical data files and the same ``livecat_content_hash`` (SHA-256 of the
rows, :func:`content_hash`); only hats-import's ``hats_creation_date`` (to the minute)
can differ in the properties.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import InputError
from .healpix import MAX_ORDER, radec_to_hpx
from .settings import SCHEMA
from .sky import BOOKKEEPING_COLUMNS

#: Prefix of livecat's own keys in a HATS catalog's properties.
PROVENANCE_PREFIX = "livecat_"
#: Margin cache width (arcsec): the largest radius a search of this catalog may use near
#: a pixel's edge. 60" covers the association (at most 30", associate.candidates) and
#: every fetch radius up to 60".
DEFAULT_MARGIN_ARCSEC = 60.0
#: Rows per HATS pixel before it is split (hats-import's default is 1,000,000; smaller
#: pixels spread a cross-match over more Dask tasks).
DEFAULT_PIXEL_THRESHOLD = 500_000
#: Finest HEALPix order a pixel may be split to, at least: hats-import plans the partitions
#: with a pure-Python loop over every pixel of that order (18 s at its default 10, 0.3 s
#: at 7); order 7 pixels (0.2 deg2) hold under 500,000 rows even at Gaia's densest.
#: A denser catalog gets the order it needs (:func:`partition_order`).
MIN_HIGHEST_ORDER = 7
#: Columns of positional tables that are livecat's bookkeeping, never exported.
NOT_EXPORTED = (*BOOKKEEPING_COLUMNS, "id", "first_release_id", "last_release_id",
                "is_current")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class HatsCatalog:
    """One HATS collection written by :func:`write_hats`."""

    path: Path
    name: str
    rows: int
    content_hash: str
    properties: dict


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's rows, in their order: CSV with every float to 17 significant
    digits (round-trip exact), missing values empty, column names in the header."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.17g", lineterminator="\n")
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def _release_summary(conn, release_ids) -> dict[str, str]:
    ids = sorted({int(i) for i in release_ids if pd.notna(i)})
    rows = conn.execute(sa.text(
        f"SELECT id, version, checksum FROM {SCHEMA}.catalog_release WHERE id = ANY(:ids) "
        "ORDER BY id"), {"ids": ids}).all()
    return {"releases": " ".join(r.version.replace(" ", "_") for r in rows),
            "release_ids": " ".join(str(r.id) for r in rows),
            "release_checksums": " ".join(r.checksum or "-" for r in rows)}


def _current_rows(engine: Engine, table: str, catalog: str, kind: str):
    """The current rows of one catalog of ``table`` (no bookkeeping), the livecat ids and
    the provenance of their releases."""
    with engine.connect() as conn:
        columns = conn.execute(sa.text(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON "
            "t.oid = a.atttypid WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum"), {"t": f"{SCHEMA}.{table}"}).all()
        select = [f"s.{name}::text AS {name}" if typ == "jsonb" else f"s.{name}"
                  for name, typ in columns if name not in NOT_EXPORTED]
        frame = pd.read_sql_query(sa.text(
            f"SELECT s.id AS _id, s.last_release_id AS _release_id, r.version AS release, "
            f"{', '.join(select)} FROM {SCHEMA}.{table} s LEFT JOIN {SCHEMA}.catalog_release r "
            f"ON r.id = s.last_release_id WHERE s.catalog = :c AND s.is_current "
            f"ORDER BY s.native_id"), conn, params={"c": catalog})
        if not len(frame):
            raise InputError(f"no current {kind} source of {catalog!r} is held: nothing to "
                             "export")
        provenance = _release_summary(conn, frame["_release_id"])
    ids = frame.pop("_id").to_numpy(np.int64)
    frame = frame.drop(columns="_release_id")
    front = ["catalog", "native_id", "name", "ra", "dec", "release"]
    frame = frame[[c for c in front if c in frame] + [c for c in frame if c not in front]]
    return frame, ids, provenance


def _flux_columns(engine: Engine, ids: np.ndarray) -> tuple[pd.DataFrame, str]:
    """Flux columns (one row per id, in the order of ``ids``) and the band edges."""
    with engine.connect() as conn:
        flux = pd.read_sql_query(sa.text(
            f"SELECT source_id, band, kind, band_lo_kev, band_hi_kev, value, value_lo, "
            f"value_hi FROM {SCHEMA}.xray_flux WHERE source_id = ANY(:ids)"), conn,
            params={"ids": ids.tolist()})
    prefix = {"energy_flux": "flux", "count_rate": "rate"}
    flux["column"] = [f"{prefix.get(k, k)}_{b}" for k, b in zip(flux["kind"], flux["band"])]
    edges = (flux.drop_duplicates("column").sort_values("column")
             .apply(lambda r: f"{r['column']}:{r['band_lo_kev']:g}-{r['band_hi_kev']:g}keV",
                    axis=1))
    wide = flux.pivot(index="source_id", columns="column",
                      values=["value", "value_lo", "value_hi"])
    out = {}
    for column in sorted(flux["column"].unique()):
        for stat, suffix in (("value", ""), ("value_lo", "_lo"), ("value_hi", "_hi")):
            out[f"{column}{suffix}"] = wide[(stat, column)].reindex(ids).to_numpy(float)
    return pd.DataFrame(out), " ".join(edges)


def xray_table(engine: Engine, catalog: str) -> tuple[pd.DataFrame, dict]:
    """An X-ray catalog's current sources with their fluxes, and their provenance.

    Returns
    -------
    (pandas.DataFrame, dict)
        The rows sorted by ``native_id`` (columns in the module docstring) and the
        properties ``releases``, ``release_ids``, ``release_checksums``, ``bands``.

    Raises
    ------
    catalog.errors.InputError
        When no current source of ``catalog`` is held.
    """
    frame, ids, provenance = _current_rows(engine, "xray_source", catalog, "X-ray")
    fluxes, bands = _flux_columns(engine, ids)
    frame = pd.concat([frame.reset_index(drop=True), fluxes], axis=1)
    return frame, {**provenance, "bands": bands}


def survey_table(engine: Engine, survey: str) -> tuple[pd.DataFrame, dict]:
    """A survey's current ``mw_source`` rows and their provenance (as :func:`xray_table`,
    without fluxes)."""
    frame, _, provenance = _current_rows(engine, "mw_source", survey, "survey")
    return frame.reset_index(drop=True), provenance


def _check_frame(frame: pd.DataFrame, sort_columns) -> None:
    missing = [c for c in ("ra", "dec", *sort_columns) if c not in frame.columns]
    if missing:
        raise InputError(f"a HATS catalog needs column(s) {', '.join(missing)}")
    ra = frame["ra"].to_numpy(float)
    dec = frame["dec"].to_numpy(float)
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"row {i + 1} ({frame[list(sort_columns)].iloc[i].tolist()}): "
                         f"position ({ra[i]}, {dec[i]}) is not a valid ICRS position")
    if frame.duplicated(list(sort_columns)).any():
        raise InputError(f"the rows are not unique by {', '.join(sort_columns)}")


def partition_order(ra, dec, pixel_threshold: int,
                    margin_arcsec: float = DEFAULT_MARGIN_ARCSEC) -> int:
    """The HEALPix order hats-import may split pixels down to: the coarsest, from
    :data:`MIN_HIGHEST_ORDER`, whose fullest pixel holds at most ``pixel_threshold`` rows;
    never as fine as the margin cache's pixels (hats-import needs the margin's order above
    every partition's: ``hats.pixel_math.healpix_shim.margin2order``)."""
    from hats.pixel_math.healpix_shim import margin2order

    limit = int(margin2order(np.array([margin_arcsec / 60.0]))[0]) - 1
    hpx = radec_to_hpx(np.asarray(ra, float), np.asarray(dec, float))
    for order in range(min(MIN_HIGHEST_ORDER, limit), limit + 1):
        _, counts = np.unique(hpx >> (2 * (MAX_ORDER - order)), return_counts=True)
        if counts.max(initial=0) <= pixel_threshold:
            return order
    raise InputError(f"a margin of {margin_arcsec:g} arcsec allows pixels down to order "
                     f"{limit}, where one pixel holds more than {pixel_threshold} rows: "
                     "allow more rows per pixel or a narrower margin")


def _replaceable(path: Path) -> bool:
    """Whether ``path`` is a collection livecat wrote (and may overwrite)."""
    props = path / "collection.properties"
    return props.exists() and f"{PROVENANCE_PREFIX}what=" in props.read_text()


def require_scale() -> None:
    """Raise InputError, saying how to install them, when the ``scale`` extra's packages
    (hats, hats-import, lsdb, dask.distributed) are missing."""
    import importlib.util

    missing = [m for m in ("hats", "hats_import", "lsdb", "distributed")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"HATS and LSDB need {', '.join(missing)}: install livecat with "
                         "its scale extra (pip install \".[scale]\")")


@contextmanager
def quiet():
    """hats-import's and hats' warnings and root-logger notices ("Looking for catalog -
    found collection") off for the block: livecat reports what it wrote itself."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


@contextmanager
def local_client(client=None, workers: int = 1, threads: int = 2):
    """The Dask client given, or an in-process local cluster for the block."""
    if client is not None:
        yield client
        return
    from dask.distributed import Client

    with Client(processes=False, n_workers=workers, threads_per_worker=threads,
                dashboard_address=None) as c:
        yield c


def write_hats(frame: pd.DataFrame, out_dir, name: str, provenance: dict, *,
               sort_columns=("native_id",), margin_arcsec: float = DEFAULT_MARGIN_ARCSEC,
               pixel_threshold: int = DEFAULT_PIXEL_THRESHOLD, client=None) -> HatsCatalog:
    """Write ``frame`` as the HATS collection ``out_dir/name`` (catalog + margin cache).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with ``ra``, ``dec`` (deg) and the ``sort_columns``, which must be unique.
    out_dir : path
        Directory of the collection (created). An earlier livecat export of the same
        name there is replaced; any other directory of that name is refused.
    name : str
        Collection and catalog name (letters, digits, ``.``, ``_``, ``-``).
    provenance : dict
        Written to the properties as ``livecat_<key>=<value>`` (spaces are fine; no
        newlines), with ``content_hash`` added.
    sort_columns : sequence of str
        The rows' key: the order within each pixel.
    margin_arcsec : float
        Width of the margin cache.
    pixel_threshold : int
        Most rows in one pixel.
    client : dask.distributed.Client, optional
        Default: an in-process local cluster for the duration of the import.

    Returns
    -------
    HatsCatalog
    """
    require_scale()
    if not _NAME.match(name):
        raise InputError(f"HATS catalog name {name!r}: use letters, digits, '.', '_', '-'")
    sort_columns = tuple(sort_columns)
    _check_frame(frame, sort_columns)
    frame = frame.sort_values(list(sort_columns), kind="stable").reset_index(drop=True)
    digest = content_hash(frame)
    order = partition_order(frame["ra"], frame["dec"], pixel_threshold, margin_arcsec)
    with tempfile.TemporaryDirectory(prefix="livecat-rows-") as tmp:
        source = Path(tmp) / "rows.parquet"
        frame.to_parquet(source, index=False)
        path = import_hats([source], out_dir, name, {**provenance, "content_hash": digest},
                           sort_columns=sort_columns, highest_order=order,
                           margin_arcsec=margin_arcsec, pixel_threshold=pixel_threshold,
                           client=client)
    props = {**provenance, "content_hash": digest}
    return HatsCatalog(path=path, name=name, rows=len(frame), content_hash=digest,
                       properties={f"{PROVENANCE_PREFIX}{k}": str(v) for k, v in props.items()})


def import_hats(files, out_dir, name: str, provenance: dict, *, sort_columns,
                highest_order: int, margin_arcsec: float = DEFAULT_MARGIN_ARCSEC,
                pixel_threshold: int = DEFAULT_PIXEL_THRESHOLD, client=None) -> Path:
    """Run hats-import on Parquet ``files`` (rows with ``ra``, ``dec``): the collection
    ``out_dir/name`` with its margin cache and ``livecat_<key>`` properties.

    The step under :func:`write_hats`, for inputs too large for one DataFrame
    (``scripts/bench_scale.py``); ``highest_order`` as :func:`partition_order`.

    Returns
    -------
    pathlib.Path
        The collection's directory.
    """
    require_scale()
    from hats_import.collection.arguments import CollectionArguments
    from hats_import.pipeline import pipeline_with_client

    if not 0 < margin_arcsec <= 3600:
        raise InputError(f"margin {margin_arcsec!r} arcsec: expected (0, 3600]")
    props = {f"{PROVENANCE_PREFIX}{k}": str(v).replace("\n", " ")
             for k, v in provenance.items()}
    out_dir = Path(out_dir).expanduser().resolve()
    target = out_dir / name
    if target.exists():
        if not _replaceable(target):
            raise InputError(f"{target} exists and is not a livecat HATS export: choose "
                             "another --out")
        shutil.rmtree(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="livecat-hats-") as tmp, \
            quiet(), local_client(client) as dask_client:
        args = (CollectionArguments(output_artifact_name=name, output_path=out_dir,
                                    tmp_dir=Path(tmp), progress_bar=False,
                                    resume=False, addl_hats_properties=props)
                .catalog(input_file_list=[str(f) for f in files], file_reader="parquet",
                         ra_column="ra", dec_column="dec",
                         sort_columns=",".join(sort_columns),
                         highest_healpix_order=int(highest_order),
                         pixel_threshold=int(pixel_threshold))
                .add_margin(margin_threshold=float(margin_arcsec), is_default=True))
        pipeline_with_client(args, dask_client)
    with quiet():
        _relative_primary_urls(target)
    return target


def _relative_primary_urls(collection: Path) -> None:
    """hats-import records a margin's primary catalog by the absolute path it was given;
    make it the catalog's name inside the collection, so that the catalog can move."""
    from hats.catalog import TableProperties

    for sub in sorted(p for p in collection.iterdir() if p.is_dir()):
        props = TableProperties.read_from_dir(sub)
        if props.primary_catalog and Path(props.primary_catalog).is_absolute():
            props.copy_and_update(primary_catalog=Path(props.primary_catalog).name) \
                .to_properties_file(sub)


def read_provenance(path) -> dict[str, str]:
    """livecat's properties (without the prefix) of a HATS collection or catalog; ``{}``
    for a catalog livecat did not write."""
    from hats.catalog import TableProperties
    from hats.catalog.dataset.collection_properties import CollectionProperties
    from hats.io import file_io

    base = file_io.get_upath(path)
    try:
        props = CollectionProperties.read_from_dir(base)
    except (FileNotFoundError, ValueError):
        props = TableProperties.read_from_dir(base)
    n = len(PROVENANCE_PREFIX)
    return {k[n:]: str(v) for k, v in props.extra_dict().items()
            if k.startswith(PROVENANCE_PREFIX)}
