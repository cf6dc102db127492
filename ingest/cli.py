"""``livecat ingest``: typer commands over :func:`ingest.pipeline.run`.

One command per catalog of :data:`ingest.registry.REGISTRY` (built from the registry, so
a new catalog gets its command with its entry), plus ``table`` (a curator's class table),
``list`` and ``rejects``. Progress goes to stderr; the summary (read / inserted / updated
/ unchanged / rejected / retired) to stdout. A mistake prints one ``Error:`` line and
exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from catalog.cli import check_format, handle_errors
from catalog.migrate import engine_at_head
from ingest.registry import REGISTRY, RESERVED_NAMES
from ingest.spec import CatalogSpec, IngestArgs

app = typer.Typer(help="Fetch and load the X-ray and literature catalogs.",
                  no_args_is_help=True)

FILE_HELP = "Read this local file instead of downloading (the remote is not contacted)."
MIRROR_HELP = "Directory laid out like the remote: the URL path becomes the file path."
WAIT_HELP = "Wait for a running ingest of the same catalog instead of failing."
FORCE_HELP = "Load even when this exact input (same SHA-256) is already held."
REGION_HELP = ("RA DEC RADIUS: load only this cone and retire only inside it. RA/Dec in "
               "degrees or sexagesimal (RA in hours), radius in arcsec or with a unit "
               "(12arcmin, 0.2deg).")
COMPLETE_HELP = ("The --file holds the whole catalogue: retire every held source it lacks "
                 "(without it, a file speaks only for the sky its rows fill).")
MASS_HELP = "Allow retiring more than 5% of the catalog's current rows."
OLDER_HELP = "Allow a release older than the one held to supersede it."


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


def run_command(spec: CatalogSpec, args: IngestArgs):
    """Run one ingest with progress on stderr; return its result."""
    from ingest.pipeline import run
    from ingest.progress import Reporter

    engine = engine_at_head()
    with Reporter() as reporter:
        return run(engine, spec, args, reporter)


def _region(values):
    from catalog.coords import parse_region

    return parse_region(*values) if values and None not in values else None


def _catalog_command(spec: CatalogSpec):
    positional_file = spec.kind == "trainingset"
    spatial = spec.kind in ("xray", "survey")

    @handle_errors
    def command(
            file: Optional[Path] = (typer.Argument(None, help=FILE_HELP) if positional_file
                                    else typer.Option(None, "--file", help=FILE_HELP)),
            mirror: Optional[Path] = typer.Option(None, "--mirror", help=MIRROR_HELP),
            release: Optional[str] = typer.Option(
                None, "--release",
                help=f"Release name (default: {spec.default_release or 'what the input names itself, else sha256:<12 hex>'}"  # noqa: E501
                     + ("; with --file: what the file names itself" if spec.default_release
                        else "") + ")."),
            region: Optional[tuple[str, str, str]] = typer.Option(
                None, "--region", help=REGION_HELP, metavar="RA DEC RADIUS",
                hidden=not spatial),
            complete_release: bool = typer.Option(False, "--complete-release",
                                                  help=COMPLETE_HELP,
                                                  hidden=spec.whole_catalogue_files),
            allow_mass_retire: bool = typer.Option(False, "--allow-mass-retire",
                                                   help=MASS_HELP),
            allow_older: bool = typer.Option(False, "--allow-older", help=OLDER_HELP),
            wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
            force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    ) -> None:
        args = IngestArgs(file=file, mirror=mirror, release=release, region=_region(region),
                          force=force, wait=wait, complete_release=complete_release,
                          allow_mass_retire=allow_mass_retire, allow_older=allow_older)
        result = run_command(spec, args)
        if spec.kind == "trainingset":
            _print_training_set(spec, result)
        else:
            print_summary(result)

    target = {"xray": "xray_source / xray_flux", "literature": "literature_object",
              "survey": "mw_source",
              "trainingset": "xray_source, literature_object and mw_counterpart"}[spec.kind]
    command.__doc__ = f"Ingest {spec.title} into {target}.\n\nExamples: {spec.examples}"
    return command


def _print_training_set(spec: CatalogSpec, result) -> None:
    from catalog.output import render

    if result.status == "skipped":
        typer.echo(f"{spec.name}: skipped - {result.note}")
        return
    lit = result.literature
    title = (f"{spec.name} {result.xray.version}: runs {result.xray.run_id} "
             f"({result.xray.catalog})" + (f", {lit.run_id} ({lit.catalog})" if lit else "")
             + f" {result.status} in {result.seconds:.1f} s")
    render(result.summary(), "table", title=title)
    typer.echo("to confirm the training set's pairs as curator muwclass-import: "
               "livecat curate import-muwclass (same file)", err=True)


for _spec in REGISTRY.values():
    if _spec.kind != "survey":  # surveys are fetched around X-ray sources: livecat counterparts
        app.command(_spec.command or _spec.name)(_catalog_command(_spec))


@app.command("table")
@handle_errors
def table_command(
        file: Path = typer.Argument(..., help="CSV, VOTable or FITS table (gzip ok)."),
        catalog: str = typer.Option(..., "--catalog",
                                    help="Name of the literature catalog it becomes."),
        name_col: str = typer.Option(..., "--name-col", help="Object name column."),
        ra_col: str = typer.Option(..., "--ra-col",
                                   help="RA column: degrees or sexagesimal hours."),
        dec_col: str = typer.Option(..., "--dec-col",
                                    help="Dec column: degrees or ±dd mm ss.s."),
        class_col: str = typer.Option(..., "--class-col", help="Native class column."),
        ref_col: Optional[str] = typer.Option(None, "--ref-col",
                                              help="Reference (bibcode) column."),
        class_map: Optional[Path] = typer.Option(
            None, "--class-map", help="CSV 'native,class' mapping labels to classes."),
        pos_err_col: Optional[str] = typer.Option(
            None, "--pos-err-col", help="1-sigma position error column, arcsec."),
        fmt: Optional[str] = typer.Option(None, "--format",
                                          help="csv, votable or fits (default: sniffed)."),
        release: Optional[str] = typer.Option(
            None, "--release", help="Release name (default: sha256 of table + options)."),
        allow_mass_retire: bool = typer.Option(False, "--allow-mass-retire", help=MASS_HELP),
        wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
        force: bool = typer.Option(False, "--force", help="Load even when this table "
                                                          "with these options is held."),
) -> None:
    """Ingest a table of classified objects (SIMBAD export, paper table) into literature_object.

    Example: livecat ingest table cvs.csv --catalog ritter_cvs --name-col Name
    --ra-col RA --dec-col Dec --class-col Type --ref-col Bibcode --class-map map.csv
    (map.csv: native,class / DN,CV/dwarf-nova / IP,CV/IP)
    """
    from ingest.classtable import TableColumns, table_spec

    cols = TableColumns(name=name_col, ra=ra_col, dec=dec_col, klass=class_col,
                        ref=ref_col, pos_err=pos_err_col)
    spec = table_spec(catalog, cols, class_map_path=class_map, fmt=fmt,
                      reserved=RESERVED_NAMES)
    print_summary(run_command(spec, IngestArgs(file=file, release=release, wait=wait,
                                               force=force,
                                               allow_mass_retire=allow_mass_retire)))


@app.command("list")
@handle_errors
def list_command(fmt: str = typer.Option("table", "--format", "-f",
                                         help="table, csv or json")) -> None:
    """List the known catalogs: releases held, rows, current rows, last run and status.

    Example: livecat ingest list --format csv
    """
    from catalog.output import render
    from ingest.listing import catalog_summary

    fmt = check_format(fmt)
    frame = catalog_summary(engine_at_head(),
                            {name: spec.kind for name, spec in REGISTRY.items()})
    render(frame, fmt, title="catalogs",
           table_columns=["catalog", "kind", "releases", "rows", "current", "last_run",
                          "status"])


@app.command("rejects")
@handle_errors
def rejects_command(
        run_id: Optional[int] = typer.Argument(
            None, help="Ingest run id (default: the newest run that rejected rows)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """Show the rows an ingest run rejected, with the reason for each.

    Examples: livecat ingest rejects ; livecat ingest rejects 12 --format csv
    """
    from catalog.output import render
    from ingest.listing import run_rejects

    fmt = check_format(fmt)
    run, rejects = run_rejects(engine_at_head(), run_id)
    title = (f"run {run['id']} ({run['catalog']} {run['version'] or ''}, {run['status']}): "
             f"{len(rejects)} rejected")
    render(rejects, fmt, title=title)
