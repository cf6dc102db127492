"""``livecat counterparts``: fetch survey sources, associate them, show and list runs.

A thin typer layer over :mod:`associate.fetch`, :mod:`associate.match` and
:mod:`associate.views`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from catalog.cli import check_format, handle_errors

app = typer.Typer(help="Multiwavelength counterparts: fetch survey sources around X-ray "
                       "sources, associate them, show the result.", no_args_is_help=True)

REGION_HELP = ("RA DEC RADIUS: only the X-ray sources in this cone (RA/Dec in degrees or "
               "sexagesimal, radius in arcsec or with a unit: 12arcmin).")
CATALOG_HELP = "X-ray catalog(s), repeatable (default: every one held)."


def _region(values):
    from catalog.coords import parse_region

    return parse_region(*values) if values and None not in values else None


@app.command("fetch")
@handle_errors
def fetch_cmd(
        survey: str = typer.Argument(..., help="gaia_dr3, gaia_dr3_dist, 2mass, allwise or "
                                               "catwise2020."),
        catalog: Optional[list[str]] = typer.Option(None, "--catalog", help=CATALOG_HELP),
        region: Optional[tuple[str, str, str]] = typer.Option(None, "--region",
                                                              help=REGION_HELP,
                                                              metavar="RA DEC RADIUS"),
        radius: str = typer.Option("20", "--radius", help="Radius searched around each "
                                                          "X-ray source (arcsec, or 10arcsec)."),
        file: Optional[Path] = typer.Option(
            None, "--file", help="A table already fetched (CSV, VOTable or FITS in the "
                                 "survey's VizieR column names, with or without a "
                                 "_<survey> suffix); --radius is the radius it was made "
                                 "with."),
        mirror: Optional[Path] = typer.Option(None, "--mirror",
                                              help="A directory of XMatch answers."),
        release: Optional[str] = typer.Option(None, "--release",
                                              help="Survey release (default: the survey's)."),
        calibration: int = typer.Option(500, "--calibration-sources",
                                        help="Shifted positions per X-ray catalog searched "
                                             "for the p_any calibration (0: none)."),
        force: bool = typer.Option(False, "--force", help="Load even when the same answers "
                                                          "are held."),
) -> None:
    """Fetch a survey's sources around the X-ray sources and record what was searched.

    Examples: livecat counterparts fetch gaia_dr3 --catalog csc ;
    livecat counterparts fetch 2mass --file NGC3532_2mass.csv --catalog csc --radius 10
    """
    from associate.fetch import fetch_counterparts
    from catalog.coords import parse_radius_arcsec
    from catalog.migrate import engine_at_head
    from ingest.progress import Reporter

    engine = engine_at_head()
    with Reporter() as reporter:
        res = fetch_counterparts(engine, survey, catalogs=catalog, region=_region(region),
                                 radius_arcsec=parse_radius_arcsec(radius, max_deg=120 / 3600),
                                 file=file, mirror=mirror, release=release,
                                 calibration_sources=calibration, force=force,
                                 reporter=reporter)
    load = res.load
    counts = "" if load.status == "skipped" else (
        f": {load.n_inserted} inserted, {load.n_updated} updated, {load.n_unchanged} "
        f"unchanged, {load.n_rejected} rejected")
    typer.echo(f"{survey} {load.version} ({load.status}){counts}; {res.n_searched} X-ray "
               f"sources searched within {res.radius_arcsec:g} arcsec"
               + (f", {res.n_calibration} shifted positions for the calibration"
                  if res.n_calibration else ""))


@app.command("match")
@handle_errors
def match_cmd(
        catalog: Optional[list[str]] = typer.Option(None, "--catalog", help=CATALOG_HELP),
        region: Optional[tuple[str, str, str]] = typer.Option(None, "--region",
                                                              help=REGION_HELP,
                                                              metavar="RA DEC RADIUS"),
        survey: Optional[list[str]] = typer.Option(None, "--survey",
                                                   help="Surveys, repeatable (default: "
                                                        "every survey searched)."),
        completeness: float = typer.Option(0.9, "--completeness",
                                           help="Prior: probability of a counterpart in "
                                                "each survey."),
        false_rate: float = typer.Option(0.05, "--false-rate",
                                         help="False-selection rate the p_any cut-off is "
                                              "calibrated for."),
        engine: str = typer.Option("database", "--engine",
                                   help="database: the survey sources fetched into "
                                        "PostgreSQL; lsdb: survey HATS catalogs read by LSDB "
                                        "on Dask (--survey-hats)."),
        survey_hats: Optional[list[str]] = typer.Option(
            None, "--survey-hats", metavar="[SURVEY=]PATH_OR_URL",
            help="--engine lsdb: a survey's HATS catalog, repeatable (SURVEY= may be left "
                 "out for a `livecat export hats` catalog)."),
        scheduler: Optional[str] = typer.Option(
            None, "--dask-scheduler", metavar="ADDRESS",
            help="--engine lsdb: a running Dask scheduler (default: a local cluster)."),
        workers: int = typer.Option(2, "--workers",
                                    help="--engine lsdb: workers of the local cluster."),
        radius: str = typer.Option("20", "--radius",
                                   help="--engine lsdb: radius searched around each X-ray "
                                        "source (arcsec, or 10arcsec)."),
        calibration: int = typer.Option(500, "--calibration-sources",
                                        help="--engine lsdb: shifted positions per X-ray "
                                             "catalog searched for the p_any calibration."),
) -> None:
    """Associate the X-ray sources with the survey sources fetched around them (NWAY-style
    Bayesian cross-identification); every run is kept. With --engine lsdb the survey
    sources come from HATS catalogs through LSDB on Dask (the X-ray sources in a
    catalog's sky are recorded as searched in it; the sources found are loaded).

    Examples: livecat counterparts match --catalog csc ;
    livecat counterparts match --catalog csc --engine lsdb --survey-hats hats/gaia_dr3
    --survey-hats 2mass=s3://bucket/2mass --dask-scheduler tcp://10.0.0.5:8786
    """
    from associate.match import match_counterparts
    from catalog.coords import parse_radius_arcsec
    from catalog.errors import InputError
    from catalog.migrate import engine_at_head
    from ingest.progress import Reporter

    if engine not in ("database", "lsdb"):
        raise InputError(f"--engine {engine!r}: expected database or lsdb")
    if engine == "database" and (survey_hats or scheduler):
        raise InputError("--survey-hats and --dask-scheduler go with --engine lsdb")
    if engine == "lsdb" and survey:
        raise InputError("--engine lsdb associates the surveys of --survey-hats; leave out "
                         "--survey")
    with Reporter() as reporter:
        if engine == "lsdb":
            from associate.lsdb_match import match_with_lsdb

            res = match_with_lsdb(engine_at_head(), survey_hats or [], catalogs=catalog,
                                  region=_region(region),
                                  radius_arcsec=parse_radius_arcsec(radius,
                                                                    max_deg=120 / 3600),
                                  calibration_sources=calibration,
                                  completeness=completeness, false_rate=false_rate,
                                  scheduler=scheduler, workers=workers, reporter=reporter)
        else:
            res = match_counterparts(engine_at_head(), catalogs=catalog,
                                     region=_region(region), surveys=survey,
                                     completeness=completeness, false_rate=false_rate,
                                     reporter=reporter)
    best = ", ".join(f"{k} {v}" for k, v in sorted(res.n_best.items())) or "none"
    typer.echo(f"run {res.run_id}: {res.n_sources} X-ray sources associated in "
               f"{res.seconds:.1f} s ({res.n_not_searched} never searched: not associated); "
               f"{res.n_pairs} candidates; best counterparts: {best}")
    for mission, cuts in sorted(res.cutoffs.items()):
        if "why" in cuts:
            typer.echo(f"  {mission}: no p_any cut-off ({cuts['why']})")
            continue
        for survey, cut in sorted(cuts.items()):
            typer.echo(f"  {mission} / {survey}: p_any > {cut['cutoff']:.3f} keeps "
                       f"{cut['false_rate']:.1%} of the shifted sources"
                       + (f" and {cut['efficiency']:.1%} of the real ones"
                          if cut.get("efficiency") is not None else ""))


@app.command("show")
@handle_errors
def show_cmd(
        source: str = typer.Argument(..., help="X-ray source: livecat id, or CATALOG:NATIVE_ID."),
        run: Optional[int] = typer.Option(None, "--run", help="Association run (default: "
                                                              "the newest that has it)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """An X-ray source's coverage and candidate counterparts with their probabilities.

    Example: livecat counterparts show "csc:2CXO J110435.9-584520"
    """
    from associate.views import source_candidates
    from catalog.migrate import engine_at_head
    from catalog.output import render

    fmt = check_format(fmt)
    head, coverage, candidates = source_candidates(engine_at_head(), source, run)
    if fmt == "table":
        typer.echo(head)
        render(coverage, "table", title="searched")
    render(candidates, fmt, title="candidates",
           table_columns=["survey", "survey_id", "separation_arcsec", "sep_sigma", "p_i",
                          "p_any", "best", "mag", "e_mag"])


@app.command("runs")
@handle_errors
def runs_cmd(fmt: str = typer.Option("table", "--format", "-f",
                                     help="table, csv or json")) -> None:
    """The association runs, newest first."""
    from associate.views import list_runs
    from catalog.migrate import engine_at_head
    from catalog.output import render

    render(list_runs(engine_at_head()), check_format(fmt), title="association runs")
