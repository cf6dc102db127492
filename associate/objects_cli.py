"""``livecat objects``: build cross-mission objects, show one, list the builds.

A thin typer layer over :mod:`associate.object_build` and :mod:`associate.object_views`.
"""

from __future__ import annotations

from typing import Optional

import typer

from catalog.cli import check_format, handle_errors

app = typer.Typer(help="One sky object across X-ray missions: associations, common-band "
                       "fluxes, long-term variability.", no_args_is_help=True)


@app.command("build")
@handle_errors
def build_cmd(
        catalogs: Optional[list[str]] = typer.Option(
            None, "--catalogs", help="X-ray catalogs to group, comma-separated or repeated "
                                     "(default: every X-ray catalog held)."),
        region: Optional[tuple[str, str, str]] = typer.Option(
            None, "--region", metavar="RA DEC RADIUS",
            help="Only redo this cone (RA/Dec in degrees or sexagesimal, radius in arcsec "
                 "or with a unit: 12arcmin) and the objects reaching into it."),
        full: bool = typer.Option(False, "--full", help="Regroup everything in scope, not "
                                                        "only the sky that changed."),
) -> None:
    """Group the sources of different X-ray catalogs that are the same object, convert
    every source's fluxes to the CSC bands and measure the variability between missions.

    The first build groups everything; later builds redo only the neighbourhood of the
    sources that were added, moved or retired since (nothing is deleted: an association
    that no longer holds is ended, with the release that ended it).

    Examples: livecat objects build ; livecat objects build --catalogs csc,xmm
    """
    import sys

    from associate.object_build import build_objects
    from catalog.coords import parse_region
    from catalog.migrate import engine_at_head
    from ingest.progress import Reporter

    names = [c.strip() for item in catalogs or [] for c in item.split(",") if c.strip()]
    cone = parse_region(*region) if region else None
    with Reporter() as reporter:
        res = build_objects(engine_at_head(), catalogs=names or None, region=cone, full=full,
                            command="livecat " + " ".join(sys.argv[1:]), reporter=reporter)
    for line in res.lines():
        typer.echo(line)


@app.command("show")
@handle_errors
def show_cmd(
        ref: str = typer.Argument(..., metavar="ID",
                                  help="Object id, or CATALOG:NATIVE_ID of a member."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """An object: its best position, members with their common-band fluxes (erg/cm2/s),
    variability, and the associations that ended.

    Example: livecat objects show "csc:2CXO J122906.7+020308"
    """
    from associate.object_views import object_detail
    from catalog.migrate import engine_at_head
    from catalog.output import render

    fmt = check_format(fmt)
    head, members, ended = object_detail(engine_at_head(), ref)
    if fmt == "table":
        typer.echo(head)
    render(members, fmt, title="members",
           table_columns=["catalog", "native_id", "separation_arcsec", "n_sigma", "ambiguous",
                          "flux_s", "flux_m", "flux_h", "flux_b", "native_fluxes"])
    if fmt == "table" and len(ended):
        render(ended, "table", title="ended associations")


@app.command("runs")
@handle_errors
def runs_cmd(fmt: str = typer.Option("table", "--format", "-f",
                                     help="table, csv or json")) -> None:
    """The object builds, newest first."""
    from associate.object_views import list_builds
    from catalog.migrate import engine_at_head
    from catalog.output import render

    render(list_builds(engine_at_head()), check_format(fmt), title="object builds")
