"""``livecat curate``: counterpart candidates, review decisions and their audit log.

Every command is a thin layer over :mod:`curation.candidates`, :mod:`curation.decisions`,
:mod:`curation.decision_files`, :mod:`curation.review_queue` and :mod:`curation.chart`.
The curator is ``--curator``, else ``LIVECAT_CURATOR``, else the login name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from catalog.cli import check_format, handle_errors
from catalog.engine import get_engine as _engine

app = typer.Typer(help="Review counterpart candidates with an audit trail.",
                  no_args_is_help=True)

CURATOR_HELP = "Curator name (default: LIVECAT_CURATOR, else the login name)."
FORMAT_HELP = "table, csv or json"
SEEN_HELP = ("The state you decided from (the 'seq' shown by `curate show`); the decision "
             "fails if someone changed the candidate since.")


@app.command("candidates")
@handle_errors
def candidates_cmd(
        catalog: Optional[str] = typer.Option(None, "--catalog", help="Literature catalog "
                                              "(atnf, ipcat, ...); default all."),
        xray_catalog: Optional[str] = typer.Option(None, "--xray-catalog",
                                                   help="X-ray catalog; default all."),
        sigma: float = typer.Option(3.0, "--sigma", help="Keep pairs within N combined sigma."),
        floor: float = typer.Option(0.5, "--floor", help="Systematic 1-sigma floor, arcsec."),
        max_radius: float = typer.Option(60.0, "--max-radius",
                                         help="Largest search radius, arcsec."),
        prior: float = typer.Option(0.5, "--prior",
                                    help="Probability that the X-ray catalog holds the "
                                         "counterpart."),
        list_: bool = typer.Option(False, "--list", help="List the candidates afterwards."),
        fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Pair literature objects with X-ray sources within N combined sigma.

    New pairs are added; decided candidates are never changed; decisions whose sources
    moved or changed class are flagged for re-review.

    Example: livecat curate candidates --catalog atnf --sigma 3
    """
    from catalog.output import render
    from curation.candidates import MatchModel, generate_candidates, list_candidates
    from curation.decisions import flag_changed_decisions

    engine = _engine()
    model = MatchModel(n_sigma=sigma, floor_arcsec=floor, max_radius_arcsec=max_radius,
                       prior=prior)
    res = generate_candidates(engine, model, catalog, xray_catalog)
    changes = flag_changed_decisions(engine)
    flagged = int((changes["action"] == "flag").sum())
    cleared = len(changes) - flagged
    typer.echo(f"run {res.run_id}: {res.n_pairs} pairs within {sigma:g} sigma: {res.n_new} new, "
               f"{res.n_refreshed} refreshed, {res.n_decided_kept} decided (kept); "
               f"{flagged} decisions flagged for re-review"
               + (f", {cleared} flags cleared" if cleared else ""))
    if list_:
        render(list_candidates(engine, catalog), check_format(fmt), title="candidates")


@app.command("recheck")
@handle_errors
def recheck_cmd() -> None:
    """Flag decisions whose sources moved or changed class (run after an ingest).

    A flag clears by itself when the sources come back as they were decided (e.g. a
    source retired by mistake and re-ingested unchanged); an 'unflag' event in
    `curate log` says why.

    Example: livecat ingest atnf && livecat curate recheck
    """
    from curation.decisions import flag_changed_decisions

    changes = flag_changed_decisions(_engine())
    for rec in changes.itertuples(index=False):
        what = "flag cleared: " if rec.action == "unflag" else ""
        typer.echo(f"candidate {rec.candidate_id} ({rec.status}): {what}{rec.reason}")
    cleared = int((changes["action"] == "unflag").sum())
    if cleared:
        typer.echo(f"{cleared} flags cleared (sources back as decided)")
    typer.echo(f"{len(changes) - cleared} decisions flagged for re-review")


@app.command("queue")
@handle_errors
def queue_cmd(
        status: str = typer.Option("open", "--status",
                                   help="open, pending, ambiguous, flagged, deferred or all"),
        klass: Optional[str] = typer.Option(None, "--class", help="Literature class, e.g. CV."),
        limit: Optional[int] = typer.Option(50, "--limit", help="At most this many rows."),
        fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Candidates that need a curator, most urgent first.

    Order: flagged for re-review first; then ambiguous; then by match probability in
    steps of 0.1, highest first; within a step, the class with the fewest confirmed
    counterparts first; then by match probability, highest first; then by candidate id.

    Example: livecat curate queue --status ambiguous --class CV
    """
    from catalog.output import render
    from curation.review_queue import queue

    df = queue(_engine(), status, klass, limit)
    render(df, check_format(fmt), title=f"queue ({status}): {len(df)} candidates",
           table_columns=["id", "literature_catalog", "literature_native_id", "livecat_class",
                          "xray_catalog", "xray_native_id", "separation_arcsec", "norm_sep",
                          "match_prob", "ambiguous", "status", "flagged", "seq"])


def _show_text(details: dict, candidate_id: int) -> None:
    from catalog.output import render

    lit = details["literature"]
    cls = lit["livecat_class"] + (f"/{lit['subclass']}" if lit["subclass"] else "") \
        if lit["livecat_class"] else "(no class)"
    typer.echo(f"literature {lit['catalog']} {lit['native_id']} ({lit['name']}): {cls}; "
               f"native type {lit['native_type']}; reference {lit['reference']}; "
               f"confidence {lit['confidence']}")
    typer.echo(f"  position {lit['ra']:.6f} {lit['dec']:+.6f} +/- {lit['pos_err_arcsec']} "
               f"arcsec{'' if lit['is_current'] else ' (no longer current)'}")
    params = json.dumps(lit["params"], default=str)
    typer.echo(f"  parameters {params[:600]}{'...' if len(params) > 600 else ''}")
    st = details["state"]
    typer.echo(f"candidate {candidate_id}: {st['status']}"
               + (f", FLAGGED: {st['flag_reason']}" if st["flagged"] else "")
               + f" (seq {st['seq']})")
    render(details["candidates"], "table", title="X-ray candidates of this object",
           table_columns=["id", "xray_catalog", "xray_native_id", "separation_arcsec",
                          "sigma_arcsec", "norm_sep", "match_prob", "status", "significance",
                          "var_intra_prob", "fluxes"])
    for rec in details["candidates"].itertuples(index=False):
        flags = [k for k, v in (rec.flags or {}).items() if v]
        if flags:
            typer.echo(f"  {rec.xray_native_id} flags: {', '.join(flags)}")
    if len(details["others"]):
        render(details["others"], "table", title="other decisions on the same X-ray sources")
    mw = details["mw"]
    if mw is not None and len(mw):
        # the columns a curator reads, not all 40: the table fits 100 columns
        mags = [c for c in ("gmag", "jmag", "kmag", "w1mag", "w2mag") if c in mw]
        mw = mw.assign(mags=[" ".join(f"{c[:-3]}={v:.2f}" for c, v in zip(mags, row)
                                      if v == v and v is not None)
                             for row in mw[mags].itertuples(index=False)])
        short = {"xray_source_id": "source", "survey_id": "id", "separation_arcsec": "sep",
                 "match_prob": "p", "matched_by": "by"}
        render(mw.rename(columns=short).round(3), "table",
               title="chosen multiwavelength counterparts",
               table_columns=["source", "survey", "id", "sep", "p", "by", "mags"])
    survey = details.get("survey_candidates")
    if survey is not None and len(survey):
        short = {"xray_source_id": "source", "survey_id": "id", "separation_arcsec": "sep"}
        render(survey.rename(columns=short).round(3), "table",
               title="survey sources around the X-ray candidates (counterparts match)",
               table_columns=["source", "survey", "id", "sep", "p_i", "p_any", "best",
                              "mag"])


@app.command("show")
@handle_errors
def show_cmd(
        candidate_id: int = typer.Argument(..., help="Candidate id."),
        chart: Optional[Path] = typer.Option(None, "--chart", help="Write a finding chart PNG "
                                             "(its directory must exist)."),
        fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """The literature object, all its X-ray candidates, related decisions, a chart.

    Example: livecat curate show 12 --chart cand12.png
    """
    from curation.candidates import candidate_details
    from curation.chart import chart_path, finding_chart

    if chart is not None:
        chart = chart_path(chart)  # refuse a missing directory before printing anything
    engine = _engine()
    details = candidate_details(engine, candidate_id)
    if fmt == "json":
        out = {k: (v.to_dict("records") if hasattr(v, "to_dict") else v)
               for k, v in details.items()}
        typer.echo(json.dumps(out, default=str, indent=1))
    else:
        _show_text(details, candidate_id)
    if chart is not None:
        typer.echo(f"finding chart: {finding_chart(engine, candidate_id, chart)}")


def _decide(candidate_id: int, action: str, note: Optional[str], curator: Optional[str],
            klass: Optional[str] = None, seen: Optional[int] = None) -> None:
    from curation.decisions import decide

    ev = decide(_engine(), candidate_id, action, curator, note=note, class_override=klass,
                expected_seq=seen)
    extra = f" as {ev.class_override}{'/' + ev.subclass_override if ev.subclass_override else ''}" \
        if ev.class_override and action == "confirm" else ""
    typer.echo(f"candidate {candidate_id}: {ev.previous_status} -> {ev.status}{extra} "
               f"(event {ev.id}, seq {ev.seq}, by {ev.curator})")


@app.command("confirm")
@handle_errors
def confirm_cmd(candidate_id: int = typer.Argument(...),
                klass: Optional[str] = typer.Option(None, "--class",
                                                    help="Class override, e.g. CV/IP."),
                note: Optional[str] = typer.Option(None, "--note"),
                curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP),
                seen: Optional[int] = typer.Option(None, "--seen", help=SEEN_HELP)) -> None:
    """Confirm the X-ray source as the counterpart (optionally with a class).

    Example: livecat curate confirm 12 --class NS/magnetar --note "timing match"
    """
    _decide(candidate_id, "confirm", note, curator, klass, seen)


@app.command("reject")
@handle_errors
def reject_cmd(candidate_id: int = typer.Argument(...),
               note: Optional[str] = typer.Option(None, "--note"),
               curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP),
               seen: Optional[int] = typer.Option(None, "--seen", help=SEEN_HELP)) -> None:
    """Reject the candidate. Example: livecat curate reject 12 --note "foreground star" """
    _decide(candidate_id, "reject", note, curator, None, seen)


@app.command("defer")
@handle_errors
def defer_cmd(candidate_id: int = typer.Argument(...),
              note: Optional[str] = typer.Option(None, "--note"),
              curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP),
              seen: Optional[int] = typer.Option(None, "--seen", help=SEEN_HELP)) -> None:
    """Defer the candidate. Example: livecat curate defer 12 --note "need deeper data" """
    _decide(candidate_id, "defer", note, curator, None, seen)


@app.command("undo")
@handle_errors
def undo_cmd(candidate_id: int = typer.Argument(...),
             note: Optional[str] = typer.Option(None, "--note"),
             curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP),
             seen: Optional[int] = typer.Option(None, "--seen", help=SEEN_HELP)) -> None:
    """Revert the latest decision on a candidate. Example: livecat curate undo 12"""
    _decide(candidate_id, "undo", note, curator, None, seen)


@app.command("apply")
@handle_errors
def apply_cmd(file: Path = typer.Argument(..., help="CSV of decisions."),
              curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP)) -> None:
    """Apply a CSV of decisions, all or nothing.

    Columns: action (confirm/reject/defer), candidate_id or literature_catalog,
    literature_native_id, xray_catalog, xray_native_id; optional class, note,
    expected_status. A bad row fails the batch with its row number.

    Example: livecat curate apply decisions.csv --curator alice
    """
    from curation.decision_files import apply_file

    events = apply_file(_engine(), file, curator)
    typer.echo(f"{len(events)} decisions applied from {file}")


@app.command("log")
@handle_errors
def log_cmd(candidate_id: Optional[int] = typer.Argument(None, help="Candidate id (default all)."),
            curator: Optional[str] = typer.Option(None, "--curator", help="Only this curator."),
            fmt: str = typer.Option("table", "--format", help=FORMAT_HELP)) -> None:
    """The decision history (append-only), oldest first. Example: livecat curate log 12"""
    from catalog.output import render
    from curation.review_queue import event_log

    df = event_log(_engine(), candidate_id, curator)
    render(df, check_format(fmt), title=f"curation log: {len(df)} events")


REVIEW_KEYS = {"c": "confirm", "r": "reject", "d": "defer", "s": "skip", "q": "quit"}


def _read_key(prompt: str) -> str:
    """One key press on a terminal (no Enter); a line otherwise (pipes, tests)."""
    import sys

    typer.echo(prompt, nl=False)
    if sys.stdin.isatty():
        ch = typer.getchar()
        typer.echo(ch)
        return ch.lower()
    line = sys.stdin.readline()
    return line.strip().lower()[:1] if line else "q"


@app.command("review")
@handle_errors
def review_cmd(status: str = typer.Option("open", "--status",
                                          help="Queue to review (see `curate queue`)."),
               klass: Optional[str] = typer.Option(None, "--class"),
               curator: Optional[str] = typer.Option(None, "--curator", help=CURATOR_HELP),
               chart_dir: Optional[Path] = typer.Option(
                   None, "--charts", help="Write a finding chart of every candidate shown "
                                          "into this directory (created if missing).")) -> None:
    """Review the queue interactively: c confirm, r reject, d defer, s skip, q quit.

    Resumable: decisions are saved as they are made, and the queue (recomputed each
    time) holds only what is still open. Each decision names the state shown, so a
    candidate someone else decided meanwhile is reported, not overwritten.

    Example: LIVECAT_CURATOR=alice livecat curate review --status ambiguous
    """
    from catalog.errors import LivecatError
    from curation.candidates import candidate_details
    from curation.chart import chart_directory, finding_chart
    from curation.decisions import current_curator, decide
    from curation.review_queue import queue

    engine = _engine()
    curator = current_curator(curator)
    if chart_dir is not None:
        chart_dir = chart_directory(chart_dir)
    skipped: set[int] = set()  # skipped or decided in this session
    done = 0
    while True:
        q = queue(engine, status, klass, None)
        q = q[~q["id"].isin(skipped)]
        if not len(q):
            typer.echo(f"nothing left to review: {done} decisions this session")
            return
        row = q.iloc[0]
        cid, seq = int(row["id"]), int(row["seq"])
        typer.echo(f"\n--- {len(q)} open; candidate {cid} ---")
        _show_text(candidate_details(engine, cid), cid)
        if chart_dir is not None:
            typer.echo(f"chart: {finding_chart(engine, cid, chart_dir / f'candidate_{cid}.png')}")
        key = _read_key("[c]onfirm [r]eject [d]efer [s]kip [q]uit > ")
        action = REVIEW_KEYS.get(key)
        if action is None:
            typer.echo(f"unknown key {key!r}: use c, r, d, s or q")
            continue
        if action == "quit":
            typer.echo(f"stopped: {done} decisions this session (run again to resume)")
            return
        if action == "skip":
            skipped.add(cid)
            continue
        klass_override = None
        if action == "confirm":
            klass_override = typer.prompt("class override (Enter: keep)", default="",
                                          show_default=False) or None
        note = typer.prompt("note (Enter: none)", default="", show_default=False) or None
        try:
            ev = decide(engine, cid, action, curator, note=note, class_override=klass_override,
                        expected_seq=seq, source="review")
            done += 1
            skipped.add(cid)  # decided in this session: not shown again (deferred stays open)
            typer.echo(f"candidate {cid}: {ev.previous_status} -> {ev.status}")
        except LivecatError as exc:
            typer.echo(f"not saved: {exc}", err=True)


@app.command("import-muwclass")
@handle_errors
def import_muwclass_cmd(
        file: Optional[Path] = typer.Argument(
            None, help="Local TD.csv (default: download files/TD.csv of "
                       "huiyang-astro/MUWCLASS_CSCv2)."),
        mirror: Optional[Path] = typer.Option(None, "--mirror",
                                              help="Directory laid out like the remote."),
        release: Optional[str] = typer.Option(None, "--release",
                                              help="Release name (default: sha256:<12 hex>)."),
        allow_mass_retire: bool = typer.Option(
            False, "--allow-mass-retire",
            help="Allow retiring more than 5% of the training set's sources or objects."),
        wait: bool = typer.Option(False, "--wait", help="Wait for a running ingest of it."),
        force: bool = typer.Option(False, "--force", help="Ingest even when this exact file "
                                                          "is already held."),
) -> None:
    """Import the published MUWCLASS training set and confirm its pairs.

    Runs `livecat ingest muwclass-td` (sources as catalog muwclass-csc, classes as
    literature catalog muwclass, Gaia/2MASS/WISE counterparts), then confirms each
    object's own source as curator muwclass-import through the ordinary decision API
    (decided candidates are left alone; re-running changes nothing).

    Examples: livecat curate import-muwclass ;
    livecat curate import-muwclass ../shared/samples/muwclass/TD_train.csv
    """
    from catalog.migrate import engine_at_head
    from catalog.output import render
    from curation.muwclass_import import import_muwclass, summary
    from ingest.progress import Reporter
    from ingest.spec import IngestArgs

    args = IngestArgs(file=file, mirror=mirror, release=release, wait=wait, force=force,
                      allow_mass_retire=allow_mass_retire)
    engine = engine_at_head()
    with Reporter() as reporter:
        ingested, confirmation = import_muwclass(engine, args, reporter)
    if ingested.status == "skipped":
        typer.echo(f"muwclass: skipped - {ingested.note}")
    render(summary(ingested, confirmation), "table", title="MUWCLASS training set")
