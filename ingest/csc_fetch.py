"""Tiled, resumable fetch of the Chandra Source Catalog master-source table over TAP.

The whole CSC 2.1 master-source table (407,806 sources, Evans et al. 2024) is too
large for one synchronous TAP answer, so the sky is cut into RA/Dec boxes ("tiles"),
each fetched with one ADQL query; a tile whose answer overflows the row limit is split
into four and fetched again; every finished tile is saved with a manifest, so a fetch
that is interrupted (network failure, kill) resumes with the tiles it does not have yet.

Services and tables (looked up with the search tool)
----------------------------------------------------
* Primary: the CXC's CSC 2.1 TAP service, base URL ``http://cda.cfa.harvard.edu/csc21tap``
  (synchronous endpoint ``/sync``; "implements the IVOA Table Access Protocol (v1.0)";
  example query ``SELECT m.name, m.ra, m.dec from csc21.master_source m``;
  http://cda.cfa.harvard.edu/csc21tap). Table ``csc21.master_source``. Column names
  follow "Master Sources Table", https://cxc.cfa.harvard.edu/csc/columns/master.html
  (per-band properties carry the band letter as a suffix: ``flux_aper_b``,
  ``flux_aper_lolim_b``, ...), the same names :mod:`ingest.csc` parses
  (:data:`CXC_COLUMNS`). The CXC service is reported to reject ADQL geometry
  (``CONTAINS``/``CIRCLE``); tiles are therefore plain comparisons on ``ra``/``dec``.
* Fallback: HEASARC's Xamin TAP service ``https://heasarc.gsfc.nasa.gov/xamin/vo/tap``,
  table ``csc`` (CSC 2.1.1 master sources;
  https://heasarc.gsfc.nasa.gov/W3Browse/all/csc.html).
  HEASARC renames columns (``error_ellipse_r0``, ``b_flux_ap``, ``hardness_ratio_hs``,
  ... as in the recorded answer ``../shared/samples/csc/heasarc_csc_3c273.vot``);
  only part of its column list has been verified, so the fallback asks for all columns
  (``SELECT *``) and :func:`ingest.csc.parse` maps the names it knows.
* Row limits: neither service's limit was found documented; :data:`CXC_TAP` and
  :data:`HEASARC_TAP` use a conservative 50,000 rows, sent as ``MAXREC``. An answer that
  overflows (``QUERY_STATUS=OVERFLOW``, or as many rows as ``MAXREC`` without the flag)
  is split, so a wrong guess costs queries, never rows.

Tiles
-----
Declination is cut into bands of ``dec_step_deg``; each band is cut in RA into equal
boxes about ``ra_step_deg / cos(dec)`` wide (measured at the band edge nearest the
equator), so that boxes near the poles are not slivers; a band touching a pole is one
ring of boxes that all meet at the pole. Boxes are half-open, ``lo <= x < hi``, except
that the band touching Dec = +90 includes it, so every position on the sky falls in
exactly one tile and no source sits in two (RA runs over ``[0, 360)``; no box crosses
RA = 0, so no query needs a wrap-around). The ADQL is ``ra >= lo AND ra < hi AND ...``
rather than ``BETWEEN``, which includes both ends and would put a source that sits
exactly on an edge into two tiles.

Run directory
-------------
``<cache>/csc/<release>/tiles/<tile-id>.vot`` and ``<cache>/csc/<release>/manifest.json``
where ``<cache>`` is ``$LIVECAT_HOME/cache/tap`` by default. The manifest lists the tiles
done (file, rows, service) and the tiles that were split (their children), and is
rewritten atomically after each tile; tile files are written to ``.part`` and renamed.
If the fallback served some tiles, the manifest says so per tile: CXC ``csc21`` is CSC
2.1, HEASARC ``csc`` is CSC 2.1.1, whose names differ for about 400 sources.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from catalog.coords import angular_separation_deg
from catalog.errors import InputError, SourceError
from catalog.files import write_atomic
from catalog.settings import Settings
from ingest import csc
from ingest.tap import DEFAULT_TIMEOUT_S, TapOverflow, TapService
from ingest.tiles import (DEFAULT_DEC_STEP_DEG, DEFAULT_RA_STEP_DEG, Tile, as_cone,
                          plan_tiles)

#: A tile is split at most this many times (12 halvings make a 10-degree box 0.0024 deg).
MAX_SPLIT_DEPTH = 12
MANIFEST_VERSION = 1

_BANDS = tuple(csc.BANDS)

#: Master-source columns requested from the CXC service (the ones ingest.csc uses).
CXC_COLUMNS: tuple[str, ...] = (
    ("name", "ra", "dec", "err_ellipse_r0", "err_ellipse_r1", "err_ellipse_ang",
     "significance", "likelihood_class", "conf_flag", "extent_flag", "sat_src_flag",
     "streak_src_flag", "pileup_flag", "dither_warning_flag", "var_flag")
    + tuple(c for b in _BANDS
            for c in (f"flux_aper_{b}", f"flux_aper_lolim_{b}", f"flux_aper_hilim_{b}"))
    + tuple(f"hard_{hr}{s}" for hr in ("hs", "hm", "ms") for s in ("", "_lolim", "_hilim"))
    + tuple(f"{p}_{b}" for b in _BANDS
            for p in ("var_intra_prob", "var_inter_prob", "var_intra_index",
                      "var_inter_index"))
    + ("nh_gal", "acis_num", "hrc_num")
)

CXC_TAP = TapService("http://cda.cfa.harvard.edu/csc21tap", "CXC CSC 2.1 TAP",
                     row_limit=50_000)
HEASARC_TAP = TapService("https://heasarc.gsfc.nasa.gov/xamin/vo/tap",
                         "HEASARC Xamin TAP", row_limit=50_000)


@dataclass(frozen=True)
class CscTable:
    """Where a CSC master-source table lives and what to ask of it.

    Attributes
    ----------
    service : TapService
    table : str
        ADQL table name.
    columns : tuple of str
        Columns to select; empty means ``*``.
    ra_col, dec_col : str
        Position columns (degrees, ICRS).
    release : str
        The CSC release the table holds (recorded per tile in the manifest).
    """

    service: TapService
    table: str
    columns: tuple[str, ...] = ()
    ra_col: str = "ra"
    dec_col: str = "dec"
    release: str = ""


CXC_MASTER = CscTable(CXC_TAP, "csc21.master_source", CXC_COLUMNS, release="2.1")
HEASARC_CSC = CscTable(HEASARC_TAP, "csc", (), release="2.1.1")


def tile_adql(tile: Tile, table: CscTable) -> str:
    """The ADQL query for one tile of ``table`` (plain comparisons, no geometry)."""
    cols = ", ".join(table.columns) if table.columns else "*"
    return (f"SELECT {cols} FROM {table.table} "
            f"WHERE {tile.predicate(table.ra_col, table.dec_col)}")


# --------------------------------------------------------------------------------------
# Run directory and manifest (I/O)
# --------------------------------------------------------------------------------------


def default_cache_dir(settings: Settings | None = None) -> Path:
    """``$LIVECAT_HOME/cache/tap``."""
    return (settings or Settings.from_env()).home / "cache" / "tap"


def run_dir(release: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/csc/<release>``: where one release's tiles and manifest live."""
    if not release or any(c in release for c in "/\\") or release in (".", ".."):
        raise InputError(f"release {release!r} is not a plain name")
    return Path(cache_dir or default_cache_dir()) / "csc" / release


def empty_manifest(release: str) -> dict:
    """A manifest with no tiles done."""
    return {"version": MANIFEST_VERSION, "catalog": "csc", "release": release,
            "done": {}, "split": {}, "updated_at": None}


def load_manifest(path: Path, release: str) -> dict:
    """Read a manifest; a missing one is empty, an unreadable one is an error."""
    if not path.exists():
        return empty_manifest(release)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read the CSC fetch manifest ({exc}); delete it "
                          "(and the tiles beside it) to start the fetch afresh") from exc
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise SourceError(f"{path}: not a version-{MANIFEST_VERSION} CSC fetch manifest; "
                          "delete it to start the fetch afresh")
    manifest.setdefault("done", {})
    manifest.setdefault("split", {})
    return manifest


def save_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest atomically."""
    manifest["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_atomic(path, json.dumps(manifest, indent=1, sort_keys=True).encode())


# --------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------

#: Called as ``progress(tile, event)`` with event "cached", "fetched", "split" or
#: "fallback".
Progress = Callable[[Tile, str], None]


@dataclass
class _Run:
    """Mutable state of one fetch run (kept out of the public signatures)."""

    tables: list[CscTable]
    active: int
    out_dir: Path
    manifest: dict
    manifest_path: Path
    timeout: float
    max_depth: int
    progress: Progress | None


def _query_tile(run: _Run, tile: Tile) -> tuple[bytes, int, CscTable]:
    """Query one tile and check the answer, moving to the next table when one fails.

    A service fails for this purpose when it raises a SourceError (HTTP error, refused
    connection, timeout, ``QUERY_STATUS=ERROR``) or answers something
    :func:`ingest.csc.parse` cannot read. Once a service has failed, the rest of the run
    uses the next one (no time is lost re-trying, for every tile, a service that is down).

    Returns
    -------
    (bytes, int, CscTable)
        The answer, its row count and the table that gave it.

    Raises
    ------
    TapOverflow
        The answer was truncated (flagged by the service, or as many rows as ``MAXREC``).
    SourceError
        Every service failed; the message lists each failure.
    """
    failures = []
    while True:
        table = run.tables[run.active]
        try:
            body = table.service.query(tile_adql(tile, table), timeout=run.timeout)
            rows = _rows_of(body, f"{table.service.sync_url} (tile {tile.id})")
        except TapOverflow:
            raise
        except SourceError as exc:
            failures.append(f"{table.service.name}: {exc}")
            if run.active + 1 >= len(run.tables):
                raise SourceError(
                    f"CSC tile {tile.id} could not be fetched: " + " | ".join(failures)
                    + "; tiles already fetched are kept, re-run to resume") from exc
            run.active += 1
            _report(run, tile, "fallback")
            continue
        limit = table.service.row_limit
        if limit is not None and rows >= limit:  # possibly truncated without the flag
            raise TapOverflow(f"{table.service.sync_url} returned {rows} rows for tile "
                              f"{tile.id}, as many as MAXREC={limit}: treated as an "
                              "overflow", url=table.service.sync_url, maxrec=limit,
                              body=body)
        return body, rows, table


def _rows_of(body: bytes, where: str) -> int:
    """Rows of a tile answer, read through :func:`ingest.csc.parse` (validates it too)."""
    try:
        return len(csc.parse(body, fmt="votable").index)
    except SourceError as exc:
        raise SourceError(f"{where}: the answer is not a readable CSC table ({exc})") from exc


def _record_done(run: _Run, tile: Tile, body: bytes, rows: int, table: CscTable) -> Path:
    """Save a finished tile's answer, then record it in the manifest."""
    path = run.out_dir / f"{tile.id}.vot"
    write_atomic(path, body)
    run.manifest["done"][tile.id] = {
        "file": path.name, "rows": rows, "service": table.service.name,
        "url": table.service.sync_url, "table": table.table, "release": table.release,
        "bounds": [tile.ra_lo, tile.ra_hi, tile.dec_lo, tile.dec_hi]}
    save_manifest(run.manifest_path, run.manifest)
    return path


def _record_split(run: _Run, tile: Tile, depth: int, exc: TapOverflow) -> None:
    """Record that ``tile`` is fetched as its four quarters (or give up past max depth)."""
    if depth >= run.max_depth:
        raise SourceError(f"CSC tile {tile.id} still overflows after {depth} splits "
                          f"({exc}); raise the service row limit") from exc
    run.manifest["split"][tile.id] = [t.id for t in tile.split()]
    save_manifest(run.manifest_path, run.manifest)


def _fetch_tile(run: _Run, tile: Tile, depth: int) -> list[Path]:
    """Fetch ``tile`` (or, if it overflows, its four quarters); return the tile files."""
    done = run.manifest["done"].get(tile.id)
    if done is not None and (run.out_dir / done["file"]).exists():
        _report(run, tile, "cached")
        return [run.out_dir / done["file"]]
    if tile.id not in run.manifest["split"]:
        try:
            body, rows, table = _query_tile(run, tile)
        except TapOverflow as exc:
            _record_split(run, tile, depth, exc)
            _report(run, tile, "split")
        else:
            path = _record_done(run, tile, body, rows, table)
            _report(run, tile, "fetched")
            return [path]
    paths = []
    for child in tile.split():
        paths.extend(_fetch_tile(run, child, depth + 1))
    return paths


def _report(run: _Run, tile: Tile, event: str) -> None:
    if run.progress:
        run.progress(tile, event)


def fetch_tiles(release: str = "2.1", *, ra_step_deg: float = DEFAULT_RA_STEP_DEG,
                dec_step_deg: float = DEFAULT_DEC_STEP_DEG, region=None,
                tables: Sequence[CscTable] = (CXC_MASTER, HEASARC_CSC),
                fallback: bool = True, cache_dir: Path | None = None,
                timeout: float = DEFAULT_TIMEOUT_S, max_depth: int = MAX_SPLIT_DEPTH,
                progress: Progress | None = None) -> list[Path]:
    """Fetch the CSC master-source table tile by tile, resuming an earlier run.

    Parameters
    ----------
    release : str
        Release label; names the run directory ``<cache>/csc/<release>``.
    ra_step_deg, dec_step_deg : float
        Tile size at the equator (degrees); see :func:`plan_tiles`.
    region : Cone or (ra, dec, radius), optional
        Only tiles overlapping this cone (degrees); rows outside the cone are dropped
        later by :func:`read_tiles` with the same region.
    tables : sequence of CscTable
        Primary first, then fallbacks.
    fallback : bool
        Use the tables after the first when a query fails with a SourceError (not an
        overflow, which splits the tile instead).
    cache_dir : pathlib.Path, optional
        Default ``$LIVECAT_HOME/cache/tap``.
    timeout : float
        Seconds per query.
    max_depth : int
        Most times a tile is split.
    progress : callable, optional
        ``progress(tile, event)``.

    Returns
    -------
    list of pathlib.Path
        One VOTable per finished tile (after splits), in plan order.

    Raises
    ------
    catalog.errors.SourceError
        A tile could not be fetched from any service; finished tiles stay recorded, so
        calling again fetches only the rest.
    """
    if not tables:
        raise InputError("no CSC TAP table to fetch from")
    out = run_dir(release, cache_dir)
    tiles_dir = out / "tiles"
    tiles_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    run = _Run(tables=list(tables if fallback else tables[:1]), active=0, out_dir=tiles_dir,
               manifest=load_manifest(manifest_path, release), manifest_path=manifest_path,
               timeout=timeout, max_depth=max_depth, progress=progress)
    paths = []
    for tile in plan_tiles(ra_step_deg, dec_step_deg, region):
        paths.extend(_fetch_tile(run, tile, 0))
    return paths


# --------------------------------------------------------------------------------------
# Reading the tiles back
# --------------------------------------------------------------------------------------


def read_tiles(paths: Iterable[str | os.PathLike], region=None) -> pd.DataFrame:
    """Concatenate tile files through :func:`ingest.csc.parse`.

    Parameters
    ----------
    paths : iterable of path
        Tile VOTables (CXC or HEASARC; HEASARC names are mapped by the parser).
    region : Cone or (ra, dec, radius), optional
        Keep only rows within the cone (degrees).

    Returns
    -------
    pandas.DataFrame
        CXC column names. A source (same ``name``) present in more than one tile file is
        kept once, from the first file (half-open tiles make this rare: it needs tiles
        from overlapping plans). Duplicates *within* one file are left for
        :func:`ingest.csc.normalize` to reject. ``attrs["tiles"]`` is the file count,
        ``attrs["dropped_duplicates"]`` the rows dropped.
    """
    frames = []
    for i, path in enumerate(paths):
        df = csc.parse(Path(path), fmt="votable")
        frames.append(df.assign(_tile=i))
    if not frames:
        raise InputError("no CSC tile files to read")
    df = pd.concat(frames, ignore_index=True, sort=False)
    dup = _cross_tile_duplicates(df["name"], df["_tile"])
    df = df.loc[~dup].drop(columns="_tile").reset_index(drop=True)
    cone = as_cone(region)
    if cone is not None and len(df):
        ra = pd.to_numeric(df["ra"], errors="coerce")
        dec = pd.to_numeric(df["dec"], errors="coerce")
        inside = angular_separation_deg(cone.ra_deg, cone.dec_deg, ra, dec) <= cone.radius_deg
        df = df.loc[np.asarray(inside)].reset_index(drop=True)
    df.attrs["tiles"] = len(frames)
    df.attrs["dropped_duplicates"] = int(dup.sum())
    df.attrs["source"] = f"{len(frames)} CSC tile files"
    return df


def _cross_tile_duplicates(names: pd.Series, tile: pd.Series) -> np.ndarray:
    """True for rows whose name already appeared in an *earlier* tile file."""
    key = names.astype("string").str.strip()
    first_tile = tile.groupby(key, dropna=False).transform("min")
    return (tile != first_tile).to_numpy()
