"""The ``livecat`` command: the root CLI.

It holds the database commands (``db``) and the cone search, and mounts the command groups
of the other packages (ingest, counterparts, curate, trainingset, classify, export). Those
are imported only when their group is invoked: ``livecat --help`` lists every group from
:data:`GROUPS` without importing them, so a lower layer never imports a higher one at
import time.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from .errors import InputError, LivecatError

GROUPS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest.cli", "Fetch and load the X-ray and literature catalogs."),
    "counterparts": ("associate.cli", "Fetch Gaia/2MASS/WISE sources around X-ray sources "
                                      "and associate them (NWAY-style)."),
    "objects": ("associate.objects_cli", "One sky object across X-ray missions: build the "
                                         "associations, show an object."),
    "curate": ("curation.cli", "Review counterpart candidates with an audit trail."),
    "trainingset": ("curation.trainingset_cli",
                    "Freeze, list, diff and export versioned training sets."),
    "classify": ("classify.cli", "Train MUWCLASS classifiers and write probabilistic labels."),
    "export": ("classify.export_cli", "Export catalogs and labels for other tools (HATS for "
                                      "LSDB/Dask)."),
}


def fail(message: str) -> None:
    """Print ``Error: message`` on stderr and exit with status 1."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def handle_errors(fn: Callable) -> Callable:
    """Turn a LivecatError (and a database error) into one ``Error:`` line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import sqlalchemy as sa

        try:
            return fn(*args, **kwargs)
        except LivecatError as exc:
            fail(str(exc))
        except sa.exc.DBAPIError as exc:
            if os.environ.get("LIVECAT_DEBUG"):
                raise
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            fail(f"the database refused the request: {first} "
                 f"(set LIVECAT_DEBUG=1 for the traceback)")

    return wrapper


def _engine():
    from .engine import get_engine

    return get_engine()


# --- db ------------------------------------------------------------------------------
db_app = typer.Typer(help="Create, migrate and inspect the livecat database.",
                     no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the schema migrations up to REVISION (default: the newest).

    Example: livecat db upgrade
    """
    from . import migrate

    engine = _engine()
    migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
@handle_errors
def db_downgrade(
        revision: str = typer.Argument(
            ..., help="Target revision, e.g. 0001_core, -1 (one step back), or base "
                      "(removes every table)."),
        drop_data: bool = typer.Option(
            False, "--drop-data", help="Go ahead even if curator decisions, training sets or "
                                       "labels are deleted."),
) -> None:
    """Undo migrations down to REVISION.

    Refused, with nothing changed, when it would delete curator decisions, training sets or
    labels, unless --drop-data is given; the tables and row counts are named.

    Example: livecat db downgrade -1
    """
    from . import migrate

    engine = _engine()
    lost = migrate.downgrade(engine, revision, drop_data=drop_data)
    for table, rows in lost.items():
        typer.echo(f"deleted {table}: {rows} row{'s' if rows != 1 else ''}")
    typer.echo(f"database at revision {migrate.current_revision(engine) or 'base (empty)'}")


@db_app.command("status")
@handle_errors
def db_status(fmt: str = typer.Option("table", "--format", help="table, csv or json")) -> None:
    """Show the schema revision, pending migrations and rows per table."""
    import pandas as pd

    from . import migrate
    from .output import render

    st = migrate.status(_engine())
    fmt = check_format(fmt)
    if fmt == "json":
        import json

        typer.echo(json.dumps({"database": st.url, "revision": st.revision, "head": st.head,
                               "pending": st.pending, "table_rows": st.table_rows}, indent=1))
        return
    if fmt == "table":
        typer.echo(f"database: {st.url}")
        typer.echo(f"revision: {st.revision or 'none (run `livecat db upgrade`)'}"
                   f" (newest: {st.head})")
        typer.echo(f"pending migrations: {', '.join(st.pending) if st.pending else 'none'}")
    frame = pd.DataFrame({"table": list(st.table_rows), "rows": list(st.table_rows.values())})
    render(frame, fmt, title="rows per table")


@db_app.command("url")
@handle_errors
def db_url(user: Optional[str] = typer.Option(
        None, "--user", help="The URL for this role, e.g. a reader, without a password.")
           ) -> None:
    """Print the database URL, for example: psql "$(livecat db url)".

    A reader: psql "$(livecat db url --user colleague)" (psql asks for its password).
    """
    from .engine import display_url, resolve_url, url_for_role
    from .settings import Settings

    url = display_url(resolve_url(Settings.from_env()))
    typer.echo(url_for_role(url, user) if user else url)


@db_app.command("create-reader")
@handle_errors
def db_create_reader(
        name: str = typer.Argument(..., help="Login role to create, e.g. colleague"),
        password: Optional[str] = typer.Option(None, help="Login password (or use --prompt)."),
        prompt: bool = typer.Option(False, "--prompt", help="Ask for the password."),
        temp_file_limit: Optional[str] = typer.Option(
            None, help="Cap on the reader's temporary files per session, a PostgreSQL size "
                       "(default 1GB)."),
) -> None:
    """Create a login role that can read everything livecat holds and change nothing.

    Example: livecat db create-reader colleague --prompt
    """
    from .roles import create_reader, reader_gaps, role_exists
    from .settings import Settings

    if prompt:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    engine = _engine()
    if password is None and not Settings.from_env().database_url \
            and not role_exists(engine, name):
        raise InputError("the embedded server asks every role but livecat's own for its "
                         "password: give --password or --prompt")
    limit = {"temp_file_limit": temp_file_limit} if temp_file_limit else {}
    created = create_reader(engine, name, password, **limit)
    typer.echo(f"{'created' if created else 'updated'} read-only role {name}")
    for gap in reader_gaps(engine, name):
        typer.echo(f"warning: {name} can still {gap}: livecat's role may not revoke it; "
                   f"run create-reader as a superuser to take it away", err=True)


@db_app.command("stop")
@handle_errors
def db_stop() -> None:
    """Stop the embedded server (data is kept; the next command starts it again)."""
    from .embedded import stop_embedded
    from .settings import Settings

    settings = Settings.from_env()
    if settings.database_url:
        raise InputError("LIVECAT_DATABASE_URL is set: livecat does not manage that server")
    stopped = stop_embedded(settings.home)
    typer.echo("embedded server stopped" if stopped else "embedded server was not running")


# --- cone ----------------------------------------------------------------------------
def check_format(fmt: str, extra: tuple[str, ...] = ()) -> str:
    """Return ``fmt`` if it is an output format of :mod:`catalog.output` (or one of
    ``extra``, e.g. its FILE_FORMATS), else InputError."""
    from .output import FORMATS

    if fmt not in FORMATS + tuple(extra):
        raise InputError(f"unknown format {fmt!r}: choose one of "
                         f"{', '.join(FORMATS + tuple(extra))}")
    return fmt


CONE_COLUMNS = ["id", "catalog", "native_id", "name", "ra", "dec", "separation_arcsec",
                "is_current", "livecat_class", "pos_err_arcsec", "significance"]


def cone(
        ra: str = typer.Argument(..., help="Right ascension: decimal degrees, or "
                                           "sexagesimal hours (11:05:07.2, '11 05 07.2', "
                                           "11h05m07.2s)."),
        dec: str = typer.Argument(..., help="Declination: decimal degrees or sexagesimal "
                                            "(-58:51:00, '-58 51 00', -58d51m00s)."),
        radius: str = typer.Argument(..., help="Radius: arcseconds, or an angle with its "
                                               "unit (12arcmin, 0.2deg)."),
        table: str = typer.Option("xray_source", "--table", "-t",
                                  help="Positional table to search."),
        fmt: str = typer.Option("table", "--format", "-f",
                                help="table, csv, json, votable or fits (the last two need "
                                     "--out)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Write to this file instead of the screen."),
        limit: Optional[int] = typer.Option(None, help="Show at most this many rows."),
) -> None:
    """Sources within RADIUS arcsec of (RA, DEC), nearest first.

    Internal columns (hpx, row_hash, row timestamps) are left out; is_current says whether
    a source is in its catalog's newest release. VOTable and FITS carry units.

    Examples: livecat cone 187.2779 2.0524 10 ;
    livecat cone "11 05 07.2" "-58 51 00" 2arcmin ;
    livecat cone 05:34:31.9 +22:00:52 120 --table literature_object --format csv ;
    livecat cone 83.633 22.014 5arcmin --format votable --out crab.vot
    """
    from .coords import parse_region
    from .output import FILE_FORMATS, render, write_table
    from .sky import cone_search, public_view

    fmt = check_format(fmt, FILE_FORMATS)
    if fmt in FILE_FORMATS and out is None:
        raise InputError(f"--format {fmt} writes a file: give --out PATH")
    region = parse_region(ra, dec, radius)
    if fmt in FILE_FORMATS:
        result = cone_search(_engine(), table, region.ra, region.dec, region.radius_arcsec,
                             as_table=True)
        if limit is not None:
            result = result[:limit]
        write_table(result, fmt, out)
        typer.echo(f"wrote {len(result)} rows of {table} to {out}")
        return
    df = public_view(cone_search(_engine(), table, region.ra, region.dec,
                                 region.radius_arcsec))
    if limit is not None:
        df = df.head(limit)
    title = f"{table}: {len(df)} within {region.radius_arcsec:g} arcsec"
    if out is None:
        render(df, fmt, title=title, table_columns=CONE_COLUMNS)
        return
    with open(out, "w", encoding="utf-8", newline="") as fh:
        render(df, fmt, title=title, table_columns=CONE_COLUMNS, file=fh)
    typer.echo(f"wrote {len(df)} rows of {table} to {out}")


# --- nightly -------------------------------------------------------------------------
def nightly(
        catalogs: Optional[list[str]] = typer.Option(
            None, "--catalogs", help="Catalogs to check, comma-separated or repeated "
                                     "(default $LIVECAT_NIGHTLY_CATALOGS, else every catalog "
                                     "with a known remote)."),
        report: Optional[str] = typer.Option(
            None, "--report", help="Append the JSON-lines run report here (default: "
                                   "$LIVECAT_HOME/reports/nightly-<UTC date>.jsonl)."),
        mirror: Optional[str] = typer.Option(None, "--mirror",
                                             help="Read files from this mirror directory."),
        release: Optional[list[str]] = typer.Option(
            None, "--release", help="KEY=RELEASE, e.g. xmm=4XMM-DR14 (repeatable)."),
) -> None:
    """Check every configured catalog for a new release, ingest what changed, update the
    cross-mission objects (objects build), then flag the curator decisions whose source
    moved or changed class (curate recheck).

    Writes one JSON line per catalog and step (catalog, release, status, counts, error)
    and exits 1 when any failed; the others still run.

    Examples: livecat nightly ; livecat nightly --catalogs xmm,erass1
    --report /var/log/livecat/nightly.jsonl
    """
    # the root command composes the layers: ingest never imports curation
    from pathlib import Path

    from associate.object_build import build_objects
    from curation.decisions import flag_changed_decisions
    from ingest.nightly import configured_catalogs, default_report_path, run_nightly
    from ingest.progress import Reporter

    from .migrate import engine_at_head
    from .settings import Settings

    try:
        names = configured_catalogs(catalogs)
        releases = {}
        for item in release or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                fail(f"--release {item!r}: expected KEY=RELEASE, e.g. xmm=4XMM-DR14")
            releases[key.strip()] = value.strip()
        path = Path(report) if report else default_report_path(Settings.from_env().home)
        engine = engine_at_head()
    except LivecatError as exc:
        fail(str(exc))
    def objects_build(eng) -> dict:
        res = build_objects(eng)
        return {"started": res.n_started, "ended": res.n_ended, "objects": res.n_objects}

    steps = [("objects build", objects_build),
             ("curate recheck", lambda eng: {"flagged": len(flag_changed_decisions(eng))})]
    with Reporter() as reporter:
        lines = run_nightly(engine, names, report_path=path, releases=releases,
                            mirror=Path(mirror) if mirror else None, reporter=reporter,
                            then=steps)
    for line in lines:
        counts = line["counts"] or {}
        shown = " ".join(f"{k}={v}" for k, v in counts.items())
        typer.echo(f"{line['catalog']}: {line['status']}"
                   + (f" ({line['release']})" if line["release"] else "")
                   + (f" {shown}" if shown else "")
                   + (f" - {line['error']}" if line["error"] else ""))
    typer.echo(f"report: {path}")
    failed = [line["catalog"] for line in lines if line["status"] == "failed"]
    if failed:
        fail(f"nightly ingest failed for {', '.join(failed)}")


# --- root ----------------------------------------------------------------------------
def _placeholder(name: str, module: str, help_text: str) -> typer.Typer:
    """A group shown in --help whose package is imported only when invoked."""
    sub = typer.Typer(help=help_text, invoke_without_command=True)

    @sub.callback()
    def _unavailable() -> None:
        fail(f"`livecat {name}` is not available in this version of livecat "
             f"(module {module} is not installed)")

    return sub


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """Build the root app; import only the sub-package that ``argv`` invokes."""
    argv = sys.argv[1:] if argv is None else argv
    invoked = next((a for a in argv if not a.startswith("-")), None)
    app = typer.Typer(help="livecat: a living, HEALPix-indexed catalog of serendipitous "
                           "X-ray sources, curated training sets and MUWCLASS labels.",
                      no_args_is_help=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.add_typer(db_app, name="db")
    app.command("cone", context_settings={"ignore_unknown_options": True})(handle_errors(cone))
    app.command("nightly")(nightly)
    for name, (module, help_text) in GROUPS.items():
        if invoked == name and importlib.util.find_spec(module) is not None:
            sub = importlib.import_module(module).app
        else:
            sub = _placeholder(name, module, help_text)
        app.add_typer(sub, name=name, help=help_text)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
