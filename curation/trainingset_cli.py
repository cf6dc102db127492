"""``livecat trainingset``: freeze, list, show, diff and export versioned training sets.

A thin layer over :mod:`curation.trainingsets` and :mod:`curation.trainingset_export`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from catalog.cli import check_format, handle_errors
from catalog.engine import get_engine as _engine

app = typer.Typer(help="Freeze, list, diff and export versioned training sets.",
                  no_args_is_help=True)


@app.command("create")
@handle_errors
def create_cmd(
        name: str = typer.Argument(..., help="Training set name, e.g. muwclass-csc."),
        classes: Optional[str] = typer.Option(None, "--classes",
                                              help="Comma-separated classes to keep."),
        min_level: Optional[float] = typer.Option(
            None, "--min-level", help="Leave out objects whose literature confidence "
                                      "(e.g. IP catalogue level) is below this."),
        note: Optional[str] = typer.Option(None, "--note"),
        include_flagged: bool = typer.Option(False, "--include-flagged",
                                             help="Keep confirmed decisions flagged for "
                                                  "re-review."),
        curator: Optional[str] = typer.Option(None, "--curator",
                                              help="Default: LIVECAT_CURATOR or login."),
) -> None:
    """Freeze every confirmed counterpart into the next immutable version NAME@N.

    Example: livecat trainingset create muwclass-csc --classes CV,NS --note "first cut"
    """
    from curation.decisions import current_curator
    from curation.trainingsets import create_training_set

    wanted = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    info = create_training_set(_engine(), name, current_curator(curator), classes=wanted,
                               min_level=min_level, note=note, include_flagged=include_flagged)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info["class_counts"].items()))
    typer.echo(f"created {info['name']}@{info['version']}: {info['n_members']} members "
               f"({counts}); sha256 {info['content_hash']}")
    excluded = info["provenance"].get("excluded", [])
    if excluded:
        typer.echo(f"{len(excluded)} confirmed candidates left out (see `trainingset show`)")


@app.command("list")
@handle_errors
def list_cmd(fmt: str = typer.Option("table", "--format", help="table, csv or json")) -> None:
    """Every training set version. Example: livecat trainingset list"""
    from catalog.output import render
    from curation.trainingsets import list_training_sets

    render(list_training_sets(_engine()), check_format(fmt), title="training sets")


@app.command("show")
@handle_errors
def show_cmd(ref: str = typer.Argument(..., help="NAME (newest) or NAME@N."),
             members: bool = typer.Option(False, "--members", help="List the members too.")) -> None:
    """Class counts and provenance of a version. Example: livecat trainingset show demo@2"""
    from catalog.output import render
    from curation.trainingset_export import member_table
    from curation.trainingsets import get_training_set

    info = get_training_set(_engine(), ref)
    typer.echo(f"{info['name']}@{info['version']}: created {info['created_at'].isoformat()} "
               f"by {info['curator']}" + (f" ({info['note']})" if info["note"] else ""))
    typer.echo(f"members: {info['n_members']}; content sha256 {info['content_hash']}")
    typer.echo("classes: " + ", ".join(f"{k} {v}"
                                       for k, v in sorted(info["class_counts"].items())))
    if info["classes"] or info["min_level"] is not None:
        typer.echo(f"filters: classes {info['classes']}, min level {info['min_level']}")
    prov = info["provenance"]
    typer.echo("releases: " + ", ".join(f"{r['catalog']} {r['version']}"
                                        for r in prov.get("releases", [])))
    typer.echo(f"from {len(prov.get('events', []))} curation events; "
               f"{prov.get('n_flagged_left_out', 0)} flagged decisions left out")
    for ex in prov.get("excluded", []):
        typer.echo(f"  left out candidate {ex['candidate_id']}: {ex['reason']}")
    if members:
        render(member_table(info["members"]), "table", title="members",
               table_columns=["xray_catalog", "xray_native_id", "livecat_class", "subclass",
                              "literature_catalog", "literature_native_id"])


@app.command("diff")
@handle_errors
def diff_cmd(a: str = typer.Argument(..., help="NAME@N"),
             b: str = typer.Argument(..., help="NAME@M"),
             fmt: str = typer.Option("table", "--format", help="table, csv or json")) -> None:
    """Members added, removed and relabelled from A to B.

    Example: livecat trainingset diff demo@1 demo@2
    """
    from catalog.output import render
    from curation.trainingsets import diff_training_sets

    df = diff_training_sets(_engine(), a, b)
    counts = df["change"].value_counts().to_dict()
    typer.echo(f"{a} -> {b}: {counts.get('added', 0)} added, {counts.get('removed', 0)} "
               f"removed, {counts.get('relabelled', 0)} relabelled")
    if len(df):
        render(df, check_format(fmt), title="changes")


@app.command("export")
@handle_errors
def export_cmd(ref: str = typer.Argument(..., help="NAME (newest) or NAME@N."),
               fmt: str = typer.Option(..., "--format", help="csv, parquet, fits or votable"),
               out: Path = typer.Option(..., "--out",
                                        help="Data file to write (replaced if it exists), or "
                                             "an existing directory: the file is then "
                                             "written inside it as NAME-vN.EXT "
                                             "(csv, parquet, fits, vot).")) -> None:
    """Write a version's members plus OUT.manifest.json; same version, same bytes.

    Columns: catalog identifiers and label, the frozen features, fluxes; no database
    ids, so the same members export the same bytes from any database. FITS and VOTable
    files carry units and provenance (name, version, content hash, livecat version,
    creation time, releases).

    Example: livecat trainingset export demo@1 --format parquet --out demo1.parquet ;
    livecat trainingset export demo@1 --format fits --out exports/  (writes exports/demo-v1.fits)
    """
    from curation.trainingset_export import export_training_set

    data, manifest = export_training_set(_engine(), ref, fmt, out)
    meta = json.loads(manifest.read_text())
    typer.echo(f"wrote {data} ({meta['n_members']} members, sha256 {meta['sha256']}) "
               f"and {manifest}")
