"""The fetch and read stages every X-ray catalog shares.

Each X-ray catalog module (:mod:`ingest.csc`, :mod:`ingest.xmm`, :mod:`ingest.erass`,
:mod:`ingest.sxps`) has ``parse`` (native file -> table), ``normalize`` (table -> livecat's
contract) and ``id_column``; this module runs the normalize in chunks. This module gets the release (one HTTP file, the tiles of
a TAP service, a ``--file`` or a ``--mirror``), unpacks archives, runs the chunked
normalize (peak memory is one chunk, not the catalogue) and keeps only the sources
inside ``--region``. :data:`ingest.registry.REGISTRY` binds these stages to each catalog
through an :class:`XrayHome`.
"""

from __future__ import annotations

import importlib
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import pandas as pd

from catalog.errors import ConfigError, InputError, SourceError
from catalog.files import sha256_file
from ingest.fetch import FetchResult, fetch
from ingest.spec import Fetched, IngestArgs, Reading
from ingest.tables import iter_normalize


@dataclass(frozen=True)
class XrayHome:
    """Where an X-ray catalog lives and how its files are read.

    Attributes
    ----------
    module : str
        The parse/normalize module.
    urls : dict, optional
        HTTP download URL by release.
    url_env : str, optional
        Environment variable naming the download URL (catalogues with no stable URL).
    tap : callable, optional
        ``tap(release) -> tables or None``: the TAP tables serving ``release``
        (:class:`ingest.csc_fetch.CscTable`), None when the release is a download.
    tap_format : str, optional
        ``"csc"`` or ``"xmm"``: how TAP tiles are read.
    id_column : str, optional
        Native id column the input must carry (2SXPS/LSXPS number their sources
        independently; a file of the other catalogue is refused).
    other_catalog : str, optional
        The catalog a file with the other id column belongs to.
    normalize_release : callable, optional
        Maps the release name to what ``iter_normalize`` expects.
    label : str, optional
        The catalogue's name in messages (default: the catalog key).
    """

    module: str
    urls: dict | None = None
    url_env: str | None = None
    tap: Callable[[str], tuple | None] | None = None
    tap_format: str | None = None
    id_column: str | None = None
    other_catalog: str | None = None
    normalize_release: Callable[[str], str] | None = None
    label: str | None = None

    def over_tap(self, release: str) -> bool:
        """Whether ``release`` is served over TAP."""
        return self.tap is not None and self.tap(release) is not None

    def remote_url(self, name: str, release: str) -> str:
        """The HTTP URL of ``release``.

        Raises
        ------
        catalog.errors.ConfigError
            When no URL is known for the release.
        """
        if self.url_env is not None:
            url = os.environ.get(self.url_env)
            if not url:
                raise ConfigError(f"no download URL for {name}: set {self.url_env} to the "
                                  "source-table URL (CSV or FITS), or use --file / --mirror")
            return url
        if self.urls and release in self.urls:
            return self.urls[release]
        known = sorted(self.urls or {})
        if self.tap is not None:
            known += ["5XMM-DR15 (TAP)"]
        raise ConfigError(f"no download URL for {self.label or name} release {release!r}"
                          + (f" (known: {', '.join(known)})" if known else "")
                          + "; use --file for another release")


# --------------------------------------------------------------------------------------
# Fetch
# --------------------------------------------------------------------------------------


def fetch_xray(name: str, home: XrayHome, default_release: str, args: IngestArgs,
               reporter=None) -> Fetched:
    """The fetch stage of an X-ray catalog: ``--file``, ``--mirror``, an HTTP file, or
    TAP tiles (only those overlapping ``--region``)."""
    release = args.release or default_release
    progress = reporter.update if reporter else None
    if args.file is not None:
        result = fetch(args.url, file=args.file)
        return Fetched(result=result, paths=[result.path])
    tables = home.tap(release) if home.tap is not None and args.url is None else None
    if tables is not None:
        if args.mirror is not None:
            raise InputError(f"{name} {release} is served over TAP, not as a file: --mirror "
                             "does not apply (use --file with a saved answer)")
        return _fetch_tiles(name, release, home, args, tables, progress)
    url = args.url or home.remote_url(name, release)
    result = fetch(url, mirror=args.mirror, force=args.force,
                   progress=(lambda done, total: progress("download (bytes)", done, total))
                   if progress else None)
    return Fetched(result=result, paths=[result.path])


def _fetch_tiles(name: str, release: str, home: XrayHome, args: IngestArgs, tables,
                 progress) -> Fetched:
    """Fetch TAP tiles (resumable) and describe them as one input."""
    from ingest import csc_fetch

    options = {k: v for k, v in args.options.items()
               if k in ("tables", "cache_dir", "ra_step_deg", "dec_step_deg")}
    tables = options.pop("tables", tables)
    run_name = release if name == "csc" else f"{name}-{release}"
    region = None
    if args.region is not None:  # a region fetch must not mix with the whole-sky manifest
        r = args.region
        region = (r.ra, r.dec, r.radius_deg)
        run_name += "-region-" + "_".join(f"{v:g}" for v in region)
    done = [0]

    def tile_progress(tile, event):  # one line per finished tile ("cached" or "fetched")
        if event in ("cached", "fetched"):
            done[0] += 1
            progress("TAP tiles", done[0], done[0])

    paths = csc_fetch.fetch_tiles(run_name, region=region, tables=tables,
                                  progress=tile_progress if progress else None, **options)
    digest = sha256()
    size = 0
    for p in paths:
        digest.update(sha256_file(p).encode())
        size += Path(p).stat().st_size
    manifest = csc_fetch.run_dir(run_name, options.get("cache_dir")) / "manifest.json"
    result = FetchResult(url=tables[0].service.sync_url, path=manifest,
                         sha256=digest.hexdigest(), size=size, mode="remote")
    return Fetched(result=result, paths=[Path(p) for p in paths], tap_format=home.tap_format)


# --------------------------------------------------------------------------------------
# Read: parse + normalize
# --------------------------------------------------------------------------------------


def read_xray(name: str, home: XrayHome, default_release: str, fetched: Fetched,
              args: IngestArgs, reporter=None,
              version_of: Callable[[pd.DataFrame], str | None] | None = None) -> Reading:
    """The read stage: parse the fetched input(s) into one table, then normalize it
    lazily in chunks (only the sources inside ``--region``)."""
    df = parse_xray(name, home, fetched)
    version = version_of(df) if version_of is not None else None
    release = args.release or version or default_release
    norm_release = home.normalize_release(release) if home.normalize_release else release
    if reporter:
        reporter.log(f"{name}: {len(df)} rows parsed; normalizing in chunks of "
                     f"{args.chunk_rows}")
    module = importlib.import_module(home.module)
    # chunked normalize: peak memory is one chunk; global row numbers and duplicates
    # across chunks (ingest.tables.iter_normalize)
    chunks = iter_normalize(module.normalize, df, module.id_column(df), norm_release,
                            args.chunk_rows)
    if args.region is not None:
        chunks = _inside(chunks, args.region)
    return Reading(chunks=chunks, version=version)


def parse_xray(name: str, home: XrayHome, fetched: Fetched) -> pd.DataFrame:
    """Parse the fetched input(s) of an X-ray catalog into one native table."""
    module = importlib.import_module(home.module)
    if fetched.tap_format == "csc":
        from ingest.csc_fetch import read_tiles

        return read_tiles(fetched.paths)
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
        path = fits_from_tar(path)
    elif path.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        if not _is_tar(path):
            raise SourceError(f"{path}: not a readable tar archive (truncated?); download "
                              "it again")
        path = fits_from_tar(path)
    df = module.parse(path)
    if home.id_column and home.id_column not in df.columns:
        other = [c for c in df.columns if c.endswith("SXPS_ID")]
        found = f"it has {other[0]}" if other else "it has neither"
        raise SourceError(f"{df.attrs.get('source', path)}: catalog {name} needs column "
                          f"{home.id_column} ({found}); 2SXPS and LSXPS number their "
                          f"sources independently, so load it as {home.other_catalog} if "
                          "that is what it is")
    return df


def _inside(chunks: Iterator, region) -> Iterator:
    """Keep each chunk's sources inside ``region`` (and its rejects, whose position may be
    unknown); ``n_read`` becomes what is kept + rejected."""
    for chunk in chunks:
        inside = region.contains(chunk.sources["ra"].to_numpy(dtype=float),
                                 chunk.sources["dec"].to_numpy(dtype=float))
        kept = chunk.sources.loc[inside].reset_index(drop=True)
        if chunk.fluxes is not None:
            chunk.fluxes = chunk.fluxes[chunk.fluxes["native_id"].isin(
                set(kept["native_id"].tolist()))].reset_index(drop=True)
        chunk.sources = kept
        chunk.n_read = len(kept) + len(chunk.rejects)
        yield chunk


def fits_from_tar(path: Path) -> Path:
    """Extract the (first) FITS member of a tar archive beside it; reuse an extraction."""
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
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError, zlib.error):
        return False  # not a (readable) tar archive: the table reader reports the problem
