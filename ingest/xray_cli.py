"""``livecat ingest csc|xmm|erass1|2sxps|lsxps``: the X-ray catalogs through the shared path.

Each command fetches a release (the network, ``--file PATH`` or ``--mirror DIR``), parses
it with the catalog module (:mod:`ingest.csc`, :mod:`ingest.xmm`, :mod:`ingest.erass`,
:mod:`ingest.sxps`), normalizes it in chunks (the modules' ``iter_normalize``: peak memory
is one chunk, not the catalogue) and hands the chunks to :func:`ingest.load.load_catalog`,
which stages them one by one and upserts them in one transaction. The same functions
(:func:`ingest_xray`) are the library API and what ``livecat ingest nightly`` runs.

Where each release comes from (remote mode)
-------------------------------------------
``csc``
    The CXC CSC 2.1 TAP service (``csc21.master_source``), fetched in resumable RA/Dec
    tiles by :func:`ingest.csc_fetch.fetch_tiles`, with HEASARC's ``csc`` table (CSC
    2.1.1) as fallback. Release default ``2.1``.
``xmm``
    The XMM SSC slim (unique-source) FITS catalogue by release name, downloaded over HTTP
    from the HEASARC FTP area (conditional requests: an unchanged file is a 304 and the
    ingest is skipped), e.g.
    https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/4XMM_DR14cat_slim_v1.0.fits.gz
    (the URL used for 4XMM-DR14 by published analysis code; the XMM SSC catalogue pages,
    http://xmmssc.irap.omp.eu/Catalogue/4XMM-DR10/4XMM_DR10.html, distribute the same
    FITS files; DR13 follows the same file-name pattern). ``5XMM-DR15`` has no slim file
    URL here: it is read from HEASARC's TAP table ``xmmssc`` (which serves 5XMM-DR15,
    https://heasarc.gsfc.nasa.gov/w3browse/all/xmmssc.html) in the same tiles as CSC.
    Release default ``4XMM-DR14``.
``erass1``
    eROSITA-DE DR1 Main catalogue (0.2-2.3 keV), Merloni et al. 2024, A&A 682, A34:
    https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/eRASS1_Main.tar.gz
    (a tar archive holding ``eRASS1_Main.v1.1.fits``; DR1 page
    https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/, data model of the sibling Hard
    catalogue https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/eRASS1_Hard.html).
    DR2 (eRASS:3) has no URL here: use ``--file``.
``2sxps`` / ``lsxps``
    Swift-XRT 2SXPS (Evans et al. 2020, https://www.swift.ac.uk/2SXPS/docs.php) and LSXPS
    (https://www.swift.ac.uk/LSXPS/docs.php). **Two catalog keys**: the two catalogues
    number their sources independently, so the same number in both is not the same source
    and they must never share one ``(catalog, native_id)`` key space. A file whose id
    column belongs to the other catalogue is refused. No static download URL was verified
    (LSXPS is served through the ``swifttools`` API, which is not a dependency): set
    ``LIVECAT_2SXPS_URL`` / ``LIVECAT_LSXPS_URL`` to the source-table URL (CSV or FITS,
    optionally gzipped), or use ``--file``/``--mirror``.

``--region RA DEC RADIUS`` (degrees) loads only the sources inside the cone; such a load
is partial (``complete=False``): its release is recorded as ``partial`` and nothing is
retired. For CSC and TAP-served XMM only the tiles overlapping the cone are fetched.
"""



import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import numpy as np
import typer

#: XMM slim-catalogue URLs by release (HTTP download).
XMM_SLIM_URLS = {
    "4XMM-DR13": "https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/"
                 "4XMM_DR13cat_slim_v1.0.fits.gz",
    "4XMM-DR14": "https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/"
                 "4XMM_DR14cat_slim_v1.0.fits.gz",
}
#: eROSITA-DE catalogue archives by release.
ERASS_URLS = {
    "DR1": "https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/"
           "eRASS1_Main.tar.gz",
}
#: Environment variables naming the Swift source-table URLs.
SXPS_URL_ENV = {"2sxps": "LIVECAT_2SXPS_URL", "lsxps": "LIVECAT_LSXPS_URL"}
#: Input rows per normalize chunk (bounds peak memory; see ingest.xmm).
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class XrayCatalog:
    """One X-ray catalog key: its module, releases and how its remote is reached.

    Attributes
    ----------
    key : str
        Catalog name in the database (``xray_source.catalog``) and on the command line.
    module : str
        The parse/normalize module.
    default_release : str
    remote : str
        ``"tap"`` (tiles over TAP), ``"http"`` (one file) or ``"env"`` (URL from an
        environment variable).
    id_column : str, optional
        Native id column the input must carry (2SXPS/LSXPS).
    """

    key: str
    module: str
    default_release: str
    remote: str
    id_column: str | None = None
    title: str = ""


CATALOGS: dict[str, XrayCatalog] = {
    "csc": XrayCatalog("csc", "ingest.csc", "2.1", "tap",
                       title="Chandra Source Catalog 2.1 (CXC TAP; HEASARC fallback)"),
    "xmm": XrayCatalog("xmm", "ingest.xmm", "4XMM-DR14", "http",
                       title="XMM-Newton serendipitous source catalogue (slim FITS)"),
    "erass1": XrayCatalog("erass1", "ingest.erass", "DR1", "http",
                          title="eROSITA-DE eRASS1 Main catalogue (DR1)"),
    "2sxps": XrayCatalog("2sxps", "ingest.sxps", "2SXPS", "env", id_column="2SXPS_ID",
                         title="Swift-XRT 2SXPS point sources"),
    "lsxps": XrayCatalog("lsxps", "ingest.sxps", "LSXPS", "env", id_column="LSXPS_ID",
                         title="Swift-XRT LSXPS (live) point sources"),
}


@dataclass
class Fetched:
    """What the fetch stage produced for one X-ray ingest.

    ``paths`` are the files to parse (one download, one ``--file``, or the TAP tiles);
    ``fetch`` is the :class:`ingest.fetch.FetchResult` standing for them (for tiles: the
    manifest, with the SHA-256 of the tiles' SHA-256s).
    """

    fetch: object
    paths: list = field(default_factory=list)
    tap_format: str | None = None  # "csc" or "xmm" when the paths are TAP tiles


# --------------------------------------------------------------------------------------
# Fetch
# --------------------------------------------------------------------------------------


def remote_url(key: str, release: str) -> str | None:
    """The HTTP URL of ``key``'s ``release``, None when it is served over TAP.

    Raises
    ------
    catalog.errors.ConfigError
        When no URL is known for the release.
    """
    from catalog.errors import ConfigError

    spec = CATALOGS[key]
    if key == "csc" or (key == "xmm" and release.startswith("5XMM")):
        return None
    if key == "xmm":
        if release not in XMM_SLIM_URLS:
            raise ConfigError(f"no download URL for XMM release {release!r}: known "
                              f"{', '.join(sorted(XMM_SLIM_URLS))} and 5XMM-DR15 (TAP); "
                              "use --file for another release")
        return XMM_SLIM_URLS[release]
    if key == "erass1":
        if release not in ERASS_URLS:
            raise ConfigError(f"no download URL for eRASS release {release!r} (known: DR1); "
                              "use --file for DR2")
        return ERASS_URLS[release]
    env = SXPS_URL_ENV[key]
    url = os.environ.get(env)
    if not url:
        raise ConfigError(f"no download URL for {spec.title}: set {env} to the source-table "
                          "URL (CSV or FITS), or use --file / --mirror")
    return url


def _tiles_fetch(key: str, release: str, region, *, tables=None, cache_dir=None,
                 ra_step_deg=None, dec_step_deg=None, progress=None) -> Fetched:
    """Fetch TAP tiles (CSC, or XMM 5XMM from HEASARC xmmssc) and describe them."""
    from ingest import csc_fetch as F
    from catalog.files import sha256_file
    from ingest.fetch import FetchResult

    if tables is None:
        if key == "csc":
            tables = (F.CXC_MASTER, F.HEASARC_CSC)
        else:
            tables = (F.CscTable(F.HEASARC_TAP, "xmmssc", (), release=release),)
    kwargs = {}
    if ra_step_deg is not None:
        kwargs["ra_step_deg"] = ra_step_deg
    if dec_step_deg is not None:
        kwargs["dec_step_deg"] = dec_step_deg
    run_name = release if key == "csc" else f"{key}-{release}"
    if region is not None:  # a region fetch must not mix with the whole-sky manifest
        run_name += "-region-" + "_".join(f"{v:g}" for v in region)
    done = [0]

    def tile_progress(tile, event):  # one line per finished tile ("cached" or "fetched")
        if event in ("cached", "fetched"):
            done[0] += 1
            progress("TAP tiles", done[0], done[0])

    paths = F.fetch_tiles(run_name, region=region, tables=tables, cache_dir=cache_dir,
                          progress=tile_progress if progress else None, **kwargs)
    digest = sha256()
    size = 0
    for p in paths:
        digest.update(sha256_file(Path(p)).encode())
        size += Path(p).stat().st_size
    manifest = F.run_dir(run_name, cache_dir) / "manifest.json"
    url = tables[0].service.sync_url
    fetched = FetchResult(url=url, path=manifest, sha256=digest.hexdigest(), size=size,
                          mode="remote")
    return Fetched(fetch=fetched, paths=[Path(p) for p in paths], tap_format=key)


def fetch_xray(key: str, *, release: str | None = None, file=None, mirror=None,
               region=None, url: str | None = None, force: bool = False,
               progress: Callable | None = None, **tap_options) -> Fetched:
    """The fetch stage of an X-ray catalog (see the module docstring for the remotes).

    Parameters
    ----------
    key : str
        One of :data:`CATALOGS`.
    release : str, optional
    file, mirror : path, optional
        Local replacements of the network.
    region : (ra, dec, radius) in degrees, optional
        TAP remotes fetch only the overlapping tiles.
    url : str, optional
        Override the HTTP URL (tests, mirrors of another layout).
    force : bool
        Download even if the cached copy is current.
    **tap_options
        ``tables``, ``cache_dir``, ``ra_step_deg``, ``dec_step_deg`` for
        :func:`ingest.csc_fetch.fetch_tiles`.
    """
    from ingest.fetch import fetch

    spec = CATALOGS[key]
    release = release or spec.default_release
    if file is not None:
        fetched = fetch(url, file=file)
        return Fetched(fetch=fetched, paths=[fetched.path])
    if url is None:
        url = remote_url(key, release)
    if url is None:
        if mirror is not None:
            from catalog.errors import InputError

            raise InputError(f"{key} {release} is served over TAP, not as a file: --mirror "
                             "does not apply (use --file with a saved answer)")
        return _tiles_fetch(key, release, region, progress=progress, **tap_options)
    fetched = fetch(url, mirror=mirror, force=force,
                    progress=(lambda done, total: progress("download (bytes)", done, total))
                    if progress else None)
    return Fetched(fetch=fetched, paths=[fetched.path])


# --------------------------------------------------------------------------------------
# Parse + normalize
# --------------------------------------------------------------------------------------


def _fits_from_tar(path: Path) -> Path:
    """Extract the (first) FITS member of a tar archive beside it; reuse an extraction."""
    from catalog.errors import SourceError

    try:
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.isfile()
                       and m.name.lower().endswith((".fits", ".fits.gz", ".fit"))]
            if not members:
                raise SourceError(f"{path}: the archive holds no FITS catalogue")
            member = members[0]
            out_dir = path.with_name(path.name + ".d")
            out = out_dir / Path(member.name).name
            stamp = out.with_name(out.name + ".from")
            key = f"{path.stat().st_size}:{path.stat().st_mtime_ns}:{member.name}"
            if out.exists() and stamp.exists() and stamp.read_text() == key:
                return out
            out_dir.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            part = out.with_name(out.name + ".part")
            with open(part, "wb") as fh:
                while True:
                    block = src.read(1 << 20)
                    if not block:
                        break
                    fh.write(block)
            os.replace(part, out)
            stamp.write_text(key)
            return out
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(f"{path}: the tar archive is truncated or corrupt ({exc}); "
                          "download it again") from exc


def _is_tar(path: Path) -> bool:
    import zlib

    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError, zlib.error):
        return False  # not a (readable) tar archive: the table reader reports the problem


def parse_xray(key: str, fetched: Fetched):
    """Parse the fetched input(s) of ``key`` into one native table."""
    import importlib

    import pandas as pd

    from catalog.errors import SourceError
    from ingest import csc_fetch as F

    module = importlib.import_module(CATALOGS[key].module)
    if fetched.tap_format == "csc":
        return F.read_tiles(fetched.paths)
    if fetched.tap_format == "xmm":
        frames = [module.parse(Path(p), fmt="votable") for p in fetched.paths]
        if not frames:
            raise SourceError("no XMM tile files to read")
        df = pd.concat(frames, ignore_index=True, sort=False)
        df = df.loc[~df["SRCID"].astype(str).duplicated()].reset_index(drop=True)
        df.attrs = dict(frames[0].attrs, source=f"{len(frames)} XMM tile files")
        return df
    path = Path(fetched.paths[0])
    if not path.name.lower().endswith((".fits", ".fits.gz", ".fit", ".csv", ".vot",
                                       ".xml", ".json")) and _is_tar(path):
        path = _fits_from_tar(path)
    elif path.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        if not _is_tar(path):
            raise SourceError(f"{path}: not a readable tar archive (truncated?); download "
                              "it again")
        path = _fits_from_tar(path)
    df = module.parse(path)
    spec = CATALOGS[key]
    if spec.id_column and spec.id_column not in df.columns:
        other = next(c for c in ("2SXPS_ID", "LSXPS_ID") if c != spec.id_column)
        found = f"it has {other}" if other in df.columns else "it has neither"
        raise SourceError(f"{df.attrs.get('source', path)}: catalog {key} needs column "
                          f"{spec.id_column} ({found}); 2SXPS and LSXPS number their "
                          f"sources independently, so load it as "
                          f"{'lsxps' if key == '2sxps' else '2sxps'} if that is what it is")
    return df


def _position_columns(key: str) -> tuple[str, str]:
    return {"csc": ("ra", "dec"), "xmm": ("SC_RA", "SC_DEC"), "erass1": ("RA", "DEC"),
            "2sxps": ("RA", "Decl"), "lsxps": ("RA", "Decl")}[key]


def _in_region(sources, region) -> np.ndarray:
    from catalog.coords import angular_separation_deg

    ra0, dec0, radius = region
    ra = sources["ra"].to_numpy(dtype=float)
    dec = sources["dec"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return np.asarray(angular_separation_deg(ra0, dec0, ra, dec)) <= radius


def normalized_chunks(key: str, df, release: str, region=None,
                      chunk_rows: int = CHUNK_ROWS) -> Iterator:
    """Yield the normalized chunks of a parsed table (only sources inside ``region``).

    With a region, a chunk keeps its rejects (their position may be unknown) and its
    sources inside the cone; ``n_read`` is reduced to what is kept + rejected.
    """
    import importlib

    module = importlib.import_module(CATALOGS[key].module)
    norm_release = release
    if key == "erass1":
        norm_release = "DR2" if release.upper().startswith("DR2") else "DR1"
    for chunk in module.iter_normalize(df, norm_release, chunk_rows):
        if region is not None:
            inside = _in_region(chunk.sources, region)
            kept = chunk.sources.loc[inside].reset_index(drop=True)
            ids = set(kept["native_id"].tolist())
            chunk.fluxes = chunk.fluxes[chunk.fluxes["native_id"].isin(ids)] \
                .reset_index(drop=True) if chunk.fluxes is not None else None
            chunk.sources = kept
            chunk.n_read = len(kept) + len(chunk.rejects)
        yield chunk


# --------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------


def ingest_xray(engine, key: str, *, release: str | None = None, file=None, mirror=None,
                region=None, wait: bool = False, force: bool = False, reporter=None,
                url: str | None = None, chunk_rows: int = CHUNK_ROWS, **tap_options):
    """Fetch, parse, normalize (in chunks) and load one X-ray catalog release.

    Skips (status ``skipped``) when the remote answered 304 Not Modified for a release
    already held, or when a complete release with the same SHA-256 is held (unless
    ``force``). ``region`` = (ra, dec, radius) in degrees makes the load partial.

    Returns
    -------
    ingest.load.LoadResult
    """
    from catalog.errors import ConflictError, InputError
    from ingest.load import (
        check_not_locked,
        held_release,
        load_catalog,
        record_failed_run,
        record_skipped_run,
    )

    if key not in CATALOGS:
        raise InputError(f"unknown X-ray catalog {key!r}: expected one of "
                         f"{', '.join(CATALOGS)}")
    if file is not None and mirror is not None:
        raise InputError("give either --file or --mirror, not both")
    if region is not None:
        region = tuple(float(v) for v in region)
        if not (0 < region[2] <= 180 and -90 <= region[1] <= 90):
            raise InputError(f"--region {region[0]:g} {region[1]:g} {region[2]:g}: expected "
                             "RA DEC RADIUS in degrees with -90 <= DEC <= 90 and "
                             "0 < RADIUS <= 180")
    spec = CATALOGS[key]
    version = release or (spec.default_release if file is None else None)
    report = reporter.log if reporter else (lambda message: None)
    fetched = fetch_xray(key, release=version or spec.default_release, file=file,
                         mirror=mirror, region=region, url=url, force=force,
                         progress=reporter.update if reporter else None, **tap_options)
    fr = fetched.fetch
    complete = region is None
    if not force and complete:
        held = held_release(engine, key, fr.sha256)
        if held is not None:
            why = (f"{key} {held} is already held with the same content "
                   f"(sha256 {fr.sha256[:12]})"
                   + ("; the remote answered 304 Not Modified" if fr.not_modified else "")
                   + "; nothing to do (use --force to reload)")
            report(why)
            return record_skipped_run(engine, key, held, why)
    if not wait:
        try:
            check_not_locked(engine, key)
        except ConflictError as exc:
            record_failed_run(engine, key, version or "", exc)
            raise
    report(f"{key}: parsing {fr.origin}")
    df = parse_xray(key, fetched)
    if version is None:
        version = _version_from_table(key, df) or f"sha256:{fr.sha256[:12]}"
    report(f"{key} {version}: {len(df)} rows parsed; normalizing and loading in chunks of "
           f"{chunk_rows}")
    chunks = normalized_chunks(key, df, version, region, chunk_rows)
    return load_catalog(engine, key, chunks, version=version, origin=fr.origin,
                        checksum=fr.sha256, remote_meta=fr.remote_meta(), complete=complete,
                        wait=wait, progress=reporter.update if reporter else None)


def _version_from_table(key: str, df) -> str | None:
    """The release a parsed file names itself (XMM IAU prefix, eRASS DR2 link column)."""
    if key == "xmm":
        from ingest.xmm import _guess_release

        return _guess_release(df)
    if key == "erass1":
        return "DR2" if "UID_DR1" in df.columns else None
    return None


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def _make_command(key: str):
    from catalog.cli import handle_errors
    from ingest.cli import (
        FILE_HELP,
        FORCE_HELP,
        MIRROR_HELP,
        WAIT_HELP,
        Reporter,
        _engine,
        print_summary,
    )

    spec = CATALOGS[key]

    @handle_errors
    def command(
            release: str | None = typer.Option(
                None, "--release", help=f"Release name (default {spec.default_release}; with "
                                        "--file: what the file names itself)."),
            file: Path | None = typer.Option(None, "--file", help=FILE_HELP),
            mirror: Path | None = typer.Option(None, "--mirror", help=MIRROR_HELP),
            region: tuple[float, float, float] | None = typer.Option(
                None, "--region", help="RA DEC RADIUS (degrees): load only this cone; the "
                                       "load is partial and retires nothing.",
                metavar="RA DEC RADIUS"),
            wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
            force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    ) -> None:
        cone = tuple(region) if region and None not in region else None
        engine = _engine()
        with Reporter() as reporter:
            result = ingest_xray(engine, key, release=release, file=file, mirror=mirror,
                                 region=cone, wait=wait, force=force, reporter=reporter)
        print_summary(result)

    command.__doc__ = (f"Ingest {spec.title} into xray_source / xray_flux.\n\n"
                       f"Examples: livecat ingest {key} ; livecat ingest {key} --file "
                       f"catalogue.fits --release {spec.default_release} ; livecat ingest "
                       f"{key} --region 166.28 -58.85 0.2")
    return command


def register(app: typer.Typer) -> None:
    """Add the X-ray catalog commands and ``nightly`` to ``livecat ingest``; register the
    catalogs in :data:`ingest.cli.KNOWN_CATALOGS`."""
    from ingest import cli

    for key in CATALOGS:
        cli.KNOWN_CATALOGS.setdefault(key, "xray")
        app.command(key)(_make_command(key))
    from ingest.nightly import nightly_command

    app.command("nightly")(nightly_command)
