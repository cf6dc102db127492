"""The nightly job: bring every configured catalog up to date, one JSON-lines report.

``livecat ingest nightly [--catalogs csc,xmm,...] [--report PATH]`` (and ``livecat nightly``
once the root app mounts it) runs, for each configured catalog in turn:

1. the change check, by the catalog's kind of remote:
   * HTTP file (XMM slim FITS, eRASS1 archive, 2SXPS/LSXPS tables, ATNF, IP catalogue):
     the fetch layer's conditional request (``If-None-Match``/``If-Modified-Since``); a
     ``304 Not Modified`` or an unchanged SHA-256 of a release already held means
     ``skipped``, without parsing;
   * TAP (CSC): the release name: when the configured release is already held complete,
     the service is not queried again (``skipped``); otherwise the tiled fetch runs (and
     resumes an interrupted one);
2. the ingest of what changed (:func:`ingest.xray_cli.ingest_xray`,
   :func:`ingest.cli.ingest_atnf`, :func:`ingest.cli.ingest_ipcat`).

Each catalog runs on its own: an exception in one is caught, recorded in the report as
``failed`` with its message, and the next catalog runs. The report is one JSON object per
line and catalog: ``catalog``, ``release``, ``status`` (``succeeded``, ``skipped``,
``failed``), ``counts`` (read/inserted/updated/unchanged/rejected/retired), ``run_id``,
``seconds``, ``error``, plus ``started_at`` (UTC). The command exits 1 when any catalog
failed.

Configuration: ``--catalogs`` (comma-separated or repeated), else the environment variable
``LIVECAT_NIGHTLY_CATALOGS``, else :data:`DEFAULT_CATALOGS` plus ``2sxps``/``lsxps`` when
their URL variables are set. ``--mirror DIR`` and ``--release KEY=R`` are passed through
(e.g. for a site mirror).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer

#: Catalogs the nightly job checks when nothing else is configured.
DEFAULT_CATALOGS = ("atnf", "ipcat", "csc", "xmm", "erass1")
CATALOGS_ENV = "LIVECAT_NIGHTLY_CATALOGS"


def configured_catalogs(catalogs: list[str] | None = None) -> list[str]:
    """The catalogs to check: the given list, ``$LIVECAT_NIGHTLY_CATALOGS``, or the
    defaults (plus the Swift catalogs whose URL variables are set)."""
    from ingest.xray_cli import SXPS_URL_ENV

    names: list[str] = []
    for item in catalogs or []:
        names += [n.strip() for n in item.split(",") if n.strip()]
    if names:
        return names
    env = os.environ.get(CATALOGS_ENV, "")
    if env.strip():
        return [n.strip() for n in env.split(",") if n.strip()]
    return list(DEFAULT_CATALOGS) + [k for k, v in SXPS_URL_ENV.items() if os.environ.get(v)]


def _tap_release_held(engine, key: str, release: str) -> bool:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT 1 FROM livecat.catalog_release r WHERE r.catalog = :c AND r.version = :v "
            "AND r.state = 'complete' AND EXISTS (SELECT 1 FROM livecat.ingest_run i "
            "WHERE i.release_id = r.id AND i.status = 'succeeded')"),
            {"c": key, "v": release}).scalar())


def check_and_ingest(engine, catalog: str, *, release: str | None = None, mirror=None,
                     reporter=None, ingest_options: dict | None = None):
    """Run the change check and, if the remote changed, the ingest of one catalog.

    Returns
    -------
    ingest.load.LoadResult
    """
    from catalog.errors import InputError
    from ingest import cli
    from ingest.load import record_skipped_run
    from ingest.xray_cli import CATALOGS, ingest_xray, remote_url

    options = dict(ingest_options or {})
    if catalog == "atnf":
        return cli.ingest_atnf(engine, mirror=mirror, release=release, reporter=reporter)
    if catalog == "ipcat":
        return cli.ingest_ipcat(engine, mirror=mirror, release=release, reporter=reporter)
    if catalog not in CATALOGS:
        raise InputError(f"unknown catalog {catalog!r}: expected one of atnf, ipcat, "
                         f"{', '.join(CATALOGS)}")
    rel = release or CATALOGS[catalog].default_release
    tap = "url" not in options and remote_url(catalog, rel) is None
    if tap and not options.pop("recheck_tap", False) and _tap_release_held(engine, catalog,
                                                                           rel):
        why = (f"{catalog} {rel} is already held complete; its TAP service publishes no "
               "newer release name here (nothing fetched)")
        return record_skipped_run(engine, catalog, rel, why)
    return ingest_xray(engine, catalog, release=rel, mirror=mirror, reporter=reporter,
                       **options)


def run_nightly(engine, catalogs: list[str], *, report_path: Path | None = None,
                releases: dict[str, str] | None = None, mirror=None, reporter=None,
                options: dict[str, dict] | None = None,
                runner: Callable | None = None) -> list[dict]:
    """Check and ingest each catalog; one failure does not stop the others.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    catalogs : list of str
    report_path : pathlib.Path, optional
        JSON-lines report, appended one line per catalog as each finishes.
    releases : dict, optional
        Catalog -> release name.
    mirror : path, optional
    options : dict, optional
        Catalog -> extra keyword arguments of :func:`ingest.xray_cli.ingest_xray`
        (``url``, ``tables``, ``cache_dir``, ... - tests and site configuration).
    runner : callable, optional
        Replaces :func:`check_and_ingest` (tests).

    Returns
    -------
    list of dict
        The report lines.
    """
    runner = runner or check_and_ingest
    lines = []
    for catalog in catalogs:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.monotonic()
        line = {"catalog": catalog, "release": (releases or {}).get(catalog),
                "status": None, "counts": None, "run_id": None, "seconds": None,
                "error": None, "started_at": started}
        try:
            result = runner(engine, catalog, release=(releases or {}).get(catalog),
                            mirror=mirror, reporter=reporter,
                            ingest_options=(options or {}).get(catalog))
            line.update(release=result.version or line["release"], status=result.status,
                        counts=result.counts() if result.status != "skipped" else None,
                        run_id=result.run_id, error=result.note if result.status == "skipped"
                        else None)
        except Exception as exc:  # one catalog's failure must not stop the others
            line.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            if reporter:
                reporter.log(f"{catalog}: FAILED - {exc}")
            if os.environ.get("LIVECAT_DEBUG"):
                traceback.print_exc()
        line["seconds"] = round(time.monotonic() - t0, 3)
        lines.append(line)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            with open(report_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, sort_keys=True) + "\n")
    return lines


def nightly_command(
        catalogs: list[str] | None = typer.Option(
            None, "--catalogs", help="Catalogs to check, comma-separated or repeated "
                                     f"(default ${CATALOGS_ENV}, else "
                                     f"{','.join(DEFAULT_CATALOGS)})."),
        report: Path | None = typer.Option(
            None, "--report", help="Append the JSON-lines run report here (default: "
                                   "$LIVECAT_HOME/reports/nightly-<UTC date>.jsonl)."),
        mirror: Path | None = typer.Option(None, "--mirror",
                                              help="Read files from this mirror directory."),
        release: list[str] | None = typer.Option(
            None, "--release", help="KEY=RELEASE, e.g. xmm=4XMM-DR14 (repeatable)."),
) -> None:
    """Check every configured catalog for a new release and ingest what changed.

    Writes one JSON line per catalog (catalog, release, status, counts, error) and exits 1
    when any catalog failed; the others still run.

    Examples: livecat ingest nightly ; livecat ingest nightly --catalogs xmm,erass1
    --report /var/log/livecat/nightly.jsonl
    """
    from catalog.cli import fail
    from catalog.errors import LivecatError
    from catalog.settings import Settings
    from ingest.cli import Reporter, _engine

    try:
        names = configured_catalogs(catalogs)
        releases = {}
        for item in release or []:
            key, sep, value = item.partition("=")
            if not sep or not key or not value:
                fail(f"--release {item!r}: expected KEY=RELEASE, e.g. xmm=4XMM-DR14")
            releases[key.strip()] = value.strip()
        if report is None:
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            report = Settings.from_env().home / "reports" / f"nightly-{day}.jsonl"
        engine = _engine()
    except LivecatError as exc:
        fail(str(exc))
    with Reporter() as reporter:
        lines = run_nightly(engine, names, report_path=report, releases=releases,
                            mirror=mirror, reporter=reporter)
    for line in lines:
        counts = line["counts"] or {}
        shown = " ".join(f"{k}={v}" for k, v in counts.items())
        typer.echo(f"{line['catalog']}: {line['status']}"
                   + (f" ({line['release']})" if line["release"] else "")
                   + (f" {shown}" if shown else "")
                   + (f" - {line['error']}" if line["error"] else ""))
    typer.echo(f"report: {report}")
    failed = [line["catalog"] for line in lines if line["status"] == "failed"]
    if failed:
        typer.echo(f"Error: nightly ingest failed for {', '.join(failed)}", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run `livecat ingest nightly`")
