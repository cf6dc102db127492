"""What a catalog is to the ingest: its spec, the arguments of one ingest, and what the
stages hand each other.

A :class:`CatalogSpec` names a catalog and ties its stages together: ``fetch`` (the
release from its home, a ``--file`` or a ``--mirror``) and ``read`` (parse + normalize
into chunks). :mod:`ingest.registry` holds one spec per catalog; :mod:`ingest.pipeline`
runs them. :class:`IngestArgs` is one ingest's arguments, checked up front (in the
manner of hats-import's ``RuntimeArguments``) so that a mistake fails before minutes of
downloading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from catalog.coords import Region
from catalog.errors import InputError

#: The kinds of catalog livecat ingests.
KINDS = ("xray", "literature", "survey", "trainingset")


@dataclass(frozen=True)
class IngestArgs:
    """The arguments of one ingest.

    Attributes
    ----------
    file, mirror : pathlib.Path, optional
        A local file that stands for the remote (``--file``), or a directory laid out
        like the remote (``--mirror``); neither: fetch from the catalog's home.
    release : str, optional
        Release name (default: what the input names itself, else the spec's default
        release, else ``sha256:<12 hex>``).
    region : catalog.coords.Region, optional
        Load only this cone; the ingest retires only inside it.
    force : bool
        Load even when this exact input is already held.
    wait : bool
        Wait for a running ingest of the same catalog instead of failing.
    complete_release : bool
        The ``--file`` holds the whole catalogue: retire every held source it lacks.
        Without it a file of an X-ray catalog speaks only for the sky its rows fill.
    allow_mass_retire : bool
        Allow retiring more than 5% of the held catalog.
    allow_older : bool
        Allow an older release to supersede the newer one held.
    url : str, optional
        Override the remote URL (site mirrors of another layout, tests).
    chunk_rows : int
        Input rows per normalize chunk (bounds peak memory).
    skip_held_tap_release : bool
        For TAP-served catalogs: skip without querying when the release is held complete
        (what the nightly job does; a TAP service publishes no checksum to compare).
    options : dict
        Catalog-specific options (TAP tables and tile sizes, a class table's columns).
    """

    file: Path | None = None
    mirror: Path | None = None
    release: str | None = None
    region: Region | None = None
    force: bool = False
    wait: bool = False
    complete_release: bool = False
    allow_mass_retire: bool = False
    allow_older: bool = False
    url: str | None = None
    chunk_rows: int = 50_000
    skip_held_tap_release: bool = False
    options: dict = field(default_factory=dict)

    def checked(self, spec: "CatalogSpec") -> "IngestArgs":
        """Return these arguments with paths resolved, after checking that they fit
        together and fit the catalog.

        Raises
        ------
        catalog.errors.InputError
            Naming the option that is wrong and what was expected.
        """
        if self.file is not None and self.mirror is not None:
            raise InputError("give either --file or --mirror, not both")
        file = Path(self.file).expanduser() if self.file is not None else None
        mirror = Path(self.mirror).expanduser() if self.mirror is not None else None
        if self.region is not None and spec.kind not in ("xray", "survey"):
            raise InputError(f"--region does not apply to {spec.name}: a {spec.kind} "
                             "catalogue is loaded whole")
        if self.complete_release and self.region is not None:
            raise InputError("--complete-release and --region contradict each other: a "
                             "region is part of the sky")
        if self.complete_release and file is None:
            raise InputError("--complete-release goes with --file (a download of the "
                             "catalogue's home is complete already)")
        if self.release is not None and not self.release.strip():
            raise InputError("--release must not be empty")
        if self.chunk_rows < 1:
            raise InputError(f"chunk_rows {self.chunk_rows} must be at least 1")
        return replace(self, file=file, mirror=mirror,
                       release=self.release.strip() if self.release else None)


@dataclass
class Fetched:
    """What the fetch stage produced.

    Attributes
    ----------
    result : ingest.fetch.FetchResult
        The input's identity: origin, SHA-256, fetch metadata (for TAP tiles: the
        manifest, with the SHA-256 of the tiles' SHA-256s).
    paths : list of pathlib.Path
        The files to parse (one download, one ``--file``, or the TAP tiles).
    tap_format : str, optional
        ``"csc"`` or ``"xmm"`` when the paths are TAP tiles.
    """

    result: object
    paths: list = field(default_factory=list)
    tap_format: str | None = None


@dataclass
class Reading:
    """What the read stage (parse + normalize) produced.

    Attributes
    ----------
    chunks : iterable of ingest.normalized.NormalizedCatalog, or a catalog-specific object
        The normalized rows, produced lazily chunk by chunk where the catalog can.
    version : str, optional
        The release the input names itself.
    speaks_for_ids : iterable of str, optional
        For inputs that speak for a list of identifiers (not a part of the sky).
    """

    chunks: Iterable | object
    version: str | None = None
    speaks_for_ids: Iterable[str] | None = None


@dataclass(frozen=True)
class CatalogSpec:
    """One catalog livecat ingests: the one registry entry of it.

    Attributes
    ----------
    name : str
        The catalog key (``xray_source.catalog`` / ``literature_object.catalog``) and the
        command name (``livecat ingest NAME``).
    kind : str
        One of :data:`KINDS`.
    title : str
        One line for ``--help`` and ``livecat ingest list``.
    home : str
        Where the catalogue lives remotely (URL, TAP service, environment variable).
    fetch : callable
        ``fetch(args, reporter) -> Fetched``.
    read : callable
        ``read(fetched, args, reporter) -> Reading``.
    default_release : str, optional
    whole_catalogue_files : bool
        Every file of this format holds the whole catalogue (psrcat.db, the IP catalogue
        page): a ``--file`` is a complete release. Otherwise a file speaks for the sky its
        rows fill unless ``--complete-release``.
    over_tap : callable, optional
        ``over_tap(release) -> bool``: the release is served by TAP, which publishes no
        checksum to compare (the nightly job then checks the release name).
    nightly : callable
        ``nightly() -> bool``: whether the nightly job checks this catalog by default.
    load : callable, optional
        ``load(engine, spec, fetched, reading, version, footprint, options)`` for a
        catalog that is not one table of one kind (the MUWCLASS training set); default:
        :func:`ingest.load.load_catalog` of the chunks.
    examples : str
        Example command lines for ``--help``.
    command : str, optional
        The ``livecat ingest`` command name when it is not ``name``.
    """

    name: str
    kind: str
    title: str
    home: str
    fetch: Callable
    read: Callable
    default_release: str | None = None
    whole_catalogue_files: bool = False
    over_tap: Callable[[str], bool] | None = None
    nightly: Callable[[], bool] = lambda: False
    load: Callable | None = None
    examples: str = ""
    command: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"catalog {self.name}: kind {self.kind!r} is not one of {KINDS}")
