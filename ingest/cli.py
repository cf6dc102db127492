"""``livecat ingest``: fetch, parse, normalize and load catalogs; list what is held.

The commands are thin: each builds a fetch (remote URL, ``--file`` or ``--mirror``) and
calls :func:`run_ingest` with the catalog's read function (parse + normalize), which
skips a release already held with the same checksum (unless ``--force``) and otherwise
hands the normalized rows to :func:`ingest.load.load_catalog`. The same functions
(:func:`ingest_atnf`, :func:`ingest_ipcat`) are the library API.

Progress goes to stderr: a rich progress display on a terminal, plain timestamped log
lines otherwise. The summary table (read / inserted / updated / unchanged / rejected /
retired) goes to stdout.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from catalog.cli import handle_errors

app = typer.Typer(help="Fetch and load the X-ray and literature catalogs.",
                  no_args_is_help=True)

#: Catalogs this command can ingest (name -> kind), listed by ``livecat ingest list``
#: even before their first ingest.
KNOWN_CATALOGS: dict[str, str] = {"atnf": "literature", "ipcat": "literature",
                                  "csc": "xray", "xmm": "xray", "erass1": "xray",
                                  "2sxps": "xray", "lsxps": "xray"}

FILE_HELP = "Read this local file instead of downloading (the remote is not contacted)."
MIRROR_HELP = "Directory laid out like the remote: the URL path becomes the file path."
WAIT_HELP = "Wait for a running ingest of the same catalog instead of failing."
FORCE_HELP = "Load even when this exact input (same SHA-256) is already held."


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


class Reporter:
    """Progress on stderr: rich bars on a terminal, plain log lines otherwise.

    Parameters
    ----------
    interactive : bool, optional
        Force the rich display on (True) or off (False); default: whether stderr is a
        terminal.
    """

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._logged: dict[str, int] = {}

    def __enter__(self) -> "Reporter":
        if self.interactive:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       SpinnerColumn, TextColumn, TimeElapsedColumn)

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def log(self, message: str) -> None:
        """Write one line of progress."""
        if self._progress is not None:
            self._progress.console.log(message)
        else:
            typer.echo(f"{time.strftime('%H:%M:%S')} {message}", err=True)

    def update(self, stage: str, done: int, total: int | None) -> None:
        """Progress callback: ``stage`` has done ``done`` of ``total`` units."""
        if self._progress is not None:
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(stage, total=total)
            self._progress.update(self._tasks[stage], completed=done, total=total)
            return
        # plain mode: the start, every 25 % and the end of each stage
        if total is None:
            self.log(f"{stage}: started")
            return
        step = max(1, total // 4)
        last = self._logged.get(stage)
        if last is None or (total and (done >= total or done - last >= step)):
            self._logged[stage] = done
            self.log(f"{stage}: {done}" + (f" of {total}" if total else ""))

    def download(self, done: int, total: int | None) -> None:
        """Fetch progress callback (bytes)."""
        self.update("download (bytes)", done, total)


# --------------------------------------------------------------------------------------
# Library functions
# --------------------------------------------------------------------------------------


@dataclass
class ReadOutcome:
    """What a catalog's read function returns: normalized rows and the native version."""

    normalized: object
    version: str | None


def run_ingest(engine, catalog: str, fetched, read: Callable, *, release: str | None = None,
               complete: bool = True, wait: bool = False, force: bool = False,
               reporter: Reporter | None = None):
    """Parse, normalize and load one fetched input, unless it is already held.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    catalog : str
    fetched : ingest.fetch.FetchResult
    read : callable
        ``read(fetched) -> ReadOutcome``: the catalog's parse + normalize.
    release : str, optional
        Release name; default the version ``read`` found, else ``sha256:<12 hex>``.
    complete, wait : bool
        See :func:`ingest.load.load_catalog`.
    force : bool
        Load even when a complete release with the same checksum is held.
    reporter : Reporter, optional

    Returns
    -------
    ingest.load.LoadResult
        ``status == "skipped"`` when the input was already held.
    """
    from catalog.errors import ConflictError
    from ingest.load import (check_not_locked, held_release, load_catalog, record_failed_run,
                             record_skipped_run)

    report = reporter.log if reporter else (lambda message: None)
    if not force:
        held = held_release(engine, catalog, fetched.sha256)
        if held is not None:
            why = (f"{catalog} {held} is already held with the same content "
                   f"(sha256 {fetched.sha256[:12]}); nothing to do (use --force to reload)")
            report(why)
            return record_skipped_run(engine, catalog, held, why)
    if not wait:
        try:
            check_not_locked(engine, catalog)  # fail before minutes of parsing, not after
        except ConflictError as exc:
            record_failed_run(engine, catalog, release or "", exc)
            raise
    report(f"{catalog}: parsing {fetched.origin}")
    outcome = read(fetched)
    version = release or outcome.version or f"sha256:{fetched.sha256[:12]}"
    report(f"{catalog} {version}: {len(outcome.normalized.sources)} rows kept, "
           f"{len(outcome.normalized.rejects)} rejected by normalize; loading")
    return load_catalog(engine, catalog, outcome.normalized, version=version,
                        origin=fetched.origin, checksum=fetched.sha256,
                        remote_meta=fetched.remote_meta(), complete=complete, wait=wait,
                        progress=reporter.update if reporter else None)


def _is_archive(data: bytes) -> bool:
    """gzip, bzip2, xz or a plain tar (``ustar`` magic at offset 257)."""
    return data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00" \
        or data[257:262] == b"ustar"


def read_atnf(fetched) -> ReadOutcome:
    """Parse + normalize an ATNF input: the psrcat package tarball or a bare psrcat.db."""
    from ingest import atnf

    data = fetched.read_bytes()
    text = atnf.extract_psrcat_db(data) if _is_archive(data) else data.decode("latin-1")
    parsed = atnf.parse_psrcat_db(text)
    return ReadOutcome(atnf.normalize_psrcat(parsed), atnf.psrcat_version(text))


def read_ipcat(fetched) -> ReadOutcome:
    """Parse + normalize the IP catalogue page (no version: the content hash names it)."""
    from ingest import ipcat

    data = fetched.read_bytes()
    try:
        html = data.decode("utf-8")
    except UnicodeDecodeError:
        html = data.decode("latin-1")
    return ReadOutcome(ipcat.normalize_ipcat(ipcat.parse_ipcat_html(html)), None)


def ingest_atnf(engine, *, file=None, mirror=None, release: str | None = None,
                wait: bool = False, force: bool = False, reporter: Reporter | None = None):
    """Fetch (or read) the ATNF Pulsar Catalogue and load it as catalog ``atnf``.

    The default remote is :data:`ingest.atnf.PACKAGE_URL` (``psrcat_pkg.tar.gz``); the
    release is the ``#CATALOGUE`` version of ``psrcat.db`` unless ``release`` is given.
    ``file`` may be the tarball or a bare ``psrcat.db``.
    """
    from ingest import atnf
    from ingest.fetch import fetch

    fetched = fetch(atnf.PACKAGE_URL, file=file, mirror=mirror,
                    progress=reporter.download if reporter else None)
    return run_ingest(engine, atnf.CATALOG, fetched, read_atnf, release=release, wait=wait,
                      force=force, reporter=reporter)


def ingest_ipcat(engine, *, file=None, mirror=None, release: str | None = None,
                 wait: bool = False, force: bool = False, reporter: Reporter | None = None):
    """Fetch (or read) K. Mukai's IP catalogue page and load it as catalog ``ipcat``."""
    from ingest import ipcat
    from ingest.fetch import fetch

    fetched = fetch(ipcat.SOURCE_URL, file=file, mirror=mirror,
                    progress=reporter.download if reporter else None)
    return run_ingest(engine, ipcat.CATALOG, fetched, read_ipcat, release=release, wait=wait,
                      force=force, reporter=reporter)


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def _engine():
    """The livecat engine, refusing a database whose schema is not at the newest revision."""
    from alembic.script import ScriptDirectory

    from catalog import migrate
    from catalog.engine import get_engine
    from catalog.errors import ConfigError

    engine = get_engine()
    current = migrate.current_revision(engine)
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    if current != head:
        raise ConfigError(f"the database schema is at revision {current or 'none'}, not "
                          f"{head}: run `livecat db upgrade` first")
    return engine


def print_summary(result) -> None:
    """Print the run's counts as a table on stdout (or the reason it was skipped)."""
    import pandas as pd

    from catalog.output import render

    if result.status == "skipped":
        typer.echo(f"{result.catalog}: skipped - {result.note}")
        return
    frame = pd.DataFrame([result.counts()])
    title = (f"{result.catalog} {result.version}: run {result.run_id} {result.status} "
             f"in {result.seconds:.1f} s")
    if result.n_renamed:
        title += f" ({result.n_renamed} renamed)"
    render(frame, "table", title=title)


def _check_source_options(file: Optional[Path], mirror: Optional[Path]) -> None:
    from catalog.errors import InputError

    if file is not None and mirror is not None:
        raise InputError("give either --file or --mirror, not both")


@app.command("atnf")
@handle_errors
def atnf_command(
        file: Optional[Path] = typer.Option(None, "--file", help=FILE_HELP),
        mirror: Optional[Path] = typer.Option(None, "--mirror", help=MIRROR_HELP),
        release: Optional[str] = typer.Option(None, "--release",
                                              help="Release name (default: from psrcat.db)."),
        wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Ingest the ATNF Pulsar Catalogue (psrcat) into literature_object.

    Examples: livecat ingest atnf ;
    livecat ingest atnf --file psrcat.db ;
    livecat ingest atnf --mirror /data/mirror  (reads /data/mirror/research/pulsar/psrcat/downloads/psrcat_pkg.tar.gz)
    """
    _check_source_options(file, mirror)
    engine = _engine()
    with Reporter() as reporter:
        result = ingest_atnf(engine, file=file, mirror=mirror, release=release, wait=wait,
                             force=force, reporter=reporter)
    print_summary(result)


@app.command("ipcat")
@handle_errors
def ipcat_command(
        file: Optional[Path] = typer.Option(None, "--file", help=FILE_HELP),
        mirror: Optional[Path] = typer.Option(None, "--mirror", help=MIRROR_HELP),
        release: Optional[str] = typer.Option(
            None, "--release", help="Release name (default: sha256:<first 12 hex digits>)."),
        wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Ingest K. Mukai's catalogue of intermediate polars (CV/IP) into literature_object.

    Examples: livecat ingest ipcat ; livecat ingest ipcat --file alpha.html
    """
    _check_source_options(file, mirror)
    engine = _engine()
    with Reporter() as reporter:
        result = ingest_ipcat(engine, file=file, mirror=mirror, release=release, wait=wait,
                              force=force, reporter=reporter)
    print_summary(result)


@app.command("list")
@handle_errors
def list_command(fmt: str = typer.Option("table", "--format", "-f",
                                         help="table, csv or json")) -> None:
    """List the known catalogs: releases held, rows, current rows, last run and status.

    Example: livecat ingest list --format csv
    """
    from catalog.cli import check_format
    from catalog.output import render
    from ingest.load import catalog_summary

    fmt = check_format(fmt)
    frame = catalog_summary(_engine(), KNOWN_CATALOGS)
    render(frame, fmt, title="catalogs",
           table_columns=["catalog", "kind", "releases", "rows", "current", "last_run",
                          "status"])

from ingest.xray_cli import register as _register_xray; _register_xray(app)  # noqa: E402
KNOWN_CATALOGS["muwclass"] = "literature"
from ingest.table_cli import register as _register_tables; _register_tables(app)  # noqa: E402
from ingest.muwclass import register as _register_muwclass; _register_muwclass(app)  # noqa: E402
