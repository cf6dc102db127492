"""``livecat classify``: train, evaluate, promote and compare MUWCLASS classifier runs.

Thin over :mod:`classify.runs` (train, list, show, promote, evaluate runs),
:mod:`classify.labels` (Monte Carlo classification of the sources of
:mod:`classify.measurements`), :mod:`classify.labelstore` (labels written with COPY,
compared between runs) and :mod:`classify.export`.
Progress goes to stderr (a rich bar on a terminal, plain lines otherwise); results to
stdout.

Examples::

    livecat classify train --training-set file:../shared/samples/muwclass/TD_train.csv
    livecat classify evaluate 1
    livecat classify run 1 --region 187.28 2.05 600
    livecat classify promote 1
    livecat classify diff 1 2
    livecat classify export --format fits --out labels.fits
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import typer

from catalog.cli import check_format, handle_errors
from catalog.engine import get_engine as _engine

app = typer.Typer(help="Train MUWCLASS classifiers and write probabilistic labels.",
                  no_args_is_help=True)

FORMAT_HELP = "table, csv or json"


class _Progress:
    """progress(done, total) on stderr: a rich bar on a terminal, else a line every ~10 %."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None
        self.task = None
        self.last = -1
        self.t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done)
            return
        step = int(10 * done / max(total, 1))
        if step != self.last:
            self.last = step
            typer.echo(f"{time.strftime('%H:%M:%S')} {self.label}: {done}/{total} sources "
                       f"({time.perf_counter() - self.t0:.0f} s)", err=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run_lines(run) -> list[str]:
    lines = [
        f"run {run.id}{' (promoted ' + str(run.promoted_at) + ')' if run.promoted else ''}",
        f"  created       {run.created_at} by {run.created_by or '?'}",
        f"  training set  {run.training_set} ({run.n_train} sources: "
        + ", ".join(f"{c} {n}" for c, n in sorted(run.class_counts.items())) + ")",
        f"  estimator     {run.estimator} {json.dumps(run.params)}",
        f"  features      {len(run.features)}: {', '.join(run.features)}",
        f"  classes       {', '.join(run.classes)}",
        f"  seed {run.seed}; Monte Carlo {run.mc_samples} samples per source; "
        f"trained in {run.train_seconds or 0:.1f} s",
        f"  code          {run.code_version}",
        f"  artifact      {run.artifact_path} (sha256 {run.artifact_sha256})",
    ]
    if run.note:
        lines.append(f"  note          {run.note}")
    m = run.metrics
    if m:
        lines.append(f"  CV ({m.get('n_splits')}-fold, {m.get('mc_samples')} MC): "
                     f"overall {m['all']['overall']:.3f}, balanced {m['all']['balanced']:.3f}; "
                     f"confident ({m['confident_fraction']:.1%}) overall "
                     f"{m['confident']['overall']:.3f}, balanced {m['confident']['balanced']:.3f}")
    else:
        lines.append("  CV metrics    none yet (livecat classify evaluate "
                     f"{run.id})")
    return lines


@app.command("train")
@handle_errors
def train(
    training_set: str = typer.Option(..., "--training-set", "-t",
                                     help="NAME[@N] of a frozen training set, or file:PATH "
                                          "(CSV in the TD_train.csv format)."),
    estimator: str = typer.Option("random-forest", "--estimator",
                                  help="random-forest, extra-trees, hist-gradient-boosting, "
                                       "or the import path of a scikit-learn classifier "
                                       "with predict_proba."),
    param: list[str] | None = typer.Option(
        None, "--param", "-p",
        help="Estimator parameter key=value (repeat). The random forest's defaults are "
             "livecat's evaluated ones, n_estimators=300 max_features=0.5 (with --features "
             "reference: the reference's 100 trees, sqrt)."),
    mc: int = typer.Option(1000, "--mc", help="Monte Carlo samples per source when classifying."),
    seed: int = typer.Option(0, "--seed", help="Seed of SMOTE, estimator and Monte Carlo."),
    features: str = typer.Option("livecat", "--features",
                                 help="reference (Yang et al. 2022) or livecat (plus Gaia "
                                      "astrometry, all colours, CSC flags)."),
    note: str | None = typer.Option(None, "--note", help="Free text kept on the run."),
    redden_agn: bool = typer.Option(False, "--redden-agn",
                                    help="When classifying, redden and absorb the training "
                                         "AGN to each source's line of sight (0.86 x SFD; one "
                                         "model per E(B-V) bin)."),
    cross_mission_variability: bool = typer.Option(
        False, "--cross-mission-variability",
        help="Add the cross-mission variability of each source's object (log10 "
             "xray_object.var_ratio, var_sigma, lower-limit flag; missing when seen once) "
             "as features. Off by default: not yet measured (scripts/eval_muwclass.py "
             "--cross-mission-variability)."),
) -> None:
    """Train a classifier on a training set and record it as a new run.

    Example: livecat classify train --training-set file:TD_train.csv --seed 1 ;
    livecat classify train -t muwclass-csc@2 --estimator extra-trees --param n_estimators=500
    """
    from classify.runconfig import parse_params
    from classify.runs import train_run

    run = train_run(_engine(), training_set, estimator=estimator, params=parse_params(param),
                    mc_samples=mc, seed=seed, feature_set=features, note=note,
                    redden_agn=redden_agn, cross_mission_variability=cross_mission_variability)
    typer.echo(f"trained run {run.id} in {run.train_seconds:.1f} s")
    for line in _run_lines(run)[1:]:
        typer.echo(line)


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    run_id: int = typer.Argument(..., metavar="RUN", help="Classifier run id."),
    folds: int = typer.Option(10, "--folds", help="Stratified folds."),
    mc: int | None = typer.Option(None, "--mc",
                                     help="Monte Carlo samples per held-out source "
                                          "(default: the run's)."),
    png_dir: Path | None = typer.Option(None, "--png-dir",
                                           help="Where to write the confusion PNGs "
                                                "(default LIVECAT_HOME/models)."),
    training_file: Path | None = typer.Option(
        None, "--training-file", help="The run's training CSV, if it moved (hash checked)."),
) -> None:
    """Cross-validate a run's configuration (stratified k-fold with Monte Carlo) and store the metrics.

    Example: livecat classify evaluate 1 --mc 200
    """
    from classify.evaluate import format_report
    from classify.runs import evaluate_run

    report, pngs = evaluate_run(_engine(), run_id, n_splits=folds, mc_samples=mc,
                                png_dir=png_dir, training_file=training_file)
    typer.echo(f"run {run_id}: stratified {report['n_splits']}-fold CV, "
               f"{report['mc_samples']} Monte Carlo samples per source, {report['seconds']:.0f} s")
    if report.get("redden_agn"):
        typer.echo("training AGN reddened per E(B-V) bin, as classify run does; held-out "
                   "sources per E(B-V): " + ", ".join(
                       f"{v} {n}" for v, n in report["ebv_model_counts"].items()))
    typer.echo(format_report(report))
    for png in pngs:
        typer.echo(f"wrote {png}")


@app.command("run")
@handle_errors
def run_cmd(
    run_id: int = typer.Argument(..., metavar="RUN", help="Classifier run id."),
    catalog: list[str] | None = typer.Option(None, "--catalog",
                                                help="Only sources of this catalog (repeat)."),
    region: tuple[float, float, float] | None = typer.Option(
        None, "--region", help="RA DEC RADIUS: degrees, degrees, arcsec."),
    where: str | None = typer.Option(None, "--where",
                                        help="SQL condition on xray_source aliased s, "
                                             "e.g. \"s.significance > 5\"."),
    jobs: int = typer.Option(os.cpu_count() or 1, "--jobs", "-j",
                             help="Threads (results do not depend on it)."),
) -> None:
    """Classify X-ray sources of the database with RUN and write their labels.

    Sources the run already labelled are left alone (labels are never overwritten).
    A source measured in one or two of the CSC s/m/h bands is classified with the
    others taken as non-detections (below 1e-17 erg/cm2/s), as the MUWCLASS training
    set holds them; the label records them (classification.xray_bands_missing). Sources
    with none of the three fluxes, or a flux without its interval, are skipped; the
    summary counts every group.

    Examples: livecat classify run 1 --catalog csc ;
    livecat classify run 1 --region 187.28 2.05 600 ; livecat classify run 1 --where "s.significance > 5"
    """
    from classify.labels import classify_run
    from classify.measurements import Selection

    sel = Selection(catalogs=list(catalog or []), region=region, where=where)
    with _Progress(f"run {run_id}") as progress:
        summary = classify_run(_engine(), run_id, sel, jobs=jobs, progress=progress)
    for line in summary.lines():
        typer.echo(line)


@app.command("runs")
@handle_errors
def runs_cmd(fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP)) -> None:
    """List classifier runs, newest first.

    Example: livecat classify runs --format csv
    """
    from catalog.output import render
    from classify.runs import list_runs

    fmt = check_format(fmt)
    frame = list_runs(_engine())
    render(frame, fmt, title=f"{len(frame)} classifier runs")


@app.command("show")
@handle_errors
def show_cmd(
    run_id: int = typer.Argument(..., metavar="RUN", help="Classifier run id."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json"),
) -> None:
    """Show a run: training set, estimator, features, code version, artifact, metrics.

    Example: livecat classify show 1
    """
    import dataclasses

    from catalog.errors import InputError
    from catalog.output import jsonable
    from classify.runs import get_run

    run = get_run(_engine(), run_id)
    if fmt == "json":
        data = {k: jsonable(v) for k, v in dataclasses.asdict(run).items()}
        typer.echo(json.dumps(data, indent=1, default=str))
    elif fmt == "text":
        for line in _run_lines(run):
            typer.echo(line)
    else:
        raise InputError(f"unknown format {fmt!r}: choose text or json")


@app.command("promote")
@handle_errors
def promote_cmd(run_id: int = typer.Argument(..., metavar="RUN", help="Classifier run id.")) -> None:
    """Make RUN the run that the view classification_latest shows.

    Example: livecat classify promote 2
    """
    from classify.runs import promote_run

    run = promote_run(_engine(), run_id)
    typer.echo(f"run {run.id} promoted at {run.promoted_at}")


@app.command("diff")
@handle_errors
def diff_cmd(
    run_a: int = typer.Argument(..., metavar="RUN_A"),
    run_b: int = typer.Argument(..., metavar="RUN_B"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Sources labelled by both runs whose predicted class or confident flag changed.

    Example: livecat classify diff 1 2 --format csv
    """
    from catalog.output import render
    from classify.labelstore import diff_runs

    fmt = check_format(fmt)
    frame = diff_runs(_engine(), run_a, run_b)
    render(frame, fmt, title=f"{len(frame)} sources changed between run {run_a} and run {run_b}")


@app.command("export")
@handle_errors
def export_cmd(
    run_id: int | None = typer.Argument(None, metavar="[RUN]",
                                        help="Classifier run id (default: the promoted run)."),
    fmt: str = typer.Option(..., "--format", "-f", help="csv, parquet, fits or votable"),
    out: Path = typer.Option(..., "--out",
                             help="File to write (replaced if it exists), or an existing "
                                  "directory: the file is then labels-run<RUN>.<ext> inside "
                                  "it (csv, parquet, fits, vot)."),
) -> None:
    """Write a run's labels with class probabilities and provenance; same run, same bytes.

    One row per source: catalog, native_id, ra, dec, predicted_class, prob, prob_std, ct,
    confident, xray_bands_missing, and per class prob_<class> with its std, median and
    2-sigma bounds. FITS/VOTable headers and OUT.manifest.json name the run, the training
    set NAME@VERSION and its content hash.

    Example: livecat classify export --format fits --out labels.fits ;
    livecat classify export 3 --format csv --out exports/
    """
    from classify.export import export_labels

    data, manifest = export_labels(_engine(), run_id, fmt, out)
    meta = json.loads(manifest.read_text())
    typer.echo(f"wrote {data} (run {meta['run_id']}: {meta['n_labels']} labels, "
               f"sha256 {meta['sha256']}) and {manifest}")
