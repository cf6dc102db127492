"""The nightly job's ingest loop: bring every configured catalog up to date, one report.

:func:`run_nightly` runs :func:`ingest.pipeline.run` for each catalog in turn. The
change check is the pipeline's own:

* HTTP file (XMM slim FITS, eRASS1 archive, 2SXPS/LSXPS tables, ATNF, IP catalogue): the
  fetch layer's conditional request (``If-None-Match``/``If-Modified-Since``); a ``304 Not
  Modified`` or an unchanged SHA-256 of a release already held means ``skipped``, without
  parsing;
* TAP (CSC, 5XMM): the release name: when the configured release is already held
  complete, the service is not queried again (``skipped``); otherwise the tiled fetch runs
  (and resumes an interrupted one).

Each catalog runs on its own: an exception in one is caught, recorded in the report as
``failed`` with its message, and the next catalog runs. The report is one JSON object per
line and step: ``catalog``, ``release``, ``status`` (``succeeded``, ``skipped``,
``failed``), ``counts``, ``run_id``, ``seconds``, ``error``, ``started_at`` (UTC). Steps
that follow the ingests (``livecat nightly`` adds ``curate recheck``) are given as
``then`` and reported the same way.

Configuration: the catalogs given, else ``$LIVECAT_NIGHTLY_CATALOGS`` (comma-separated),
else :func:`ingest.registry.nightly_defaults` (the Swift catalogs only when their URL
variables are set).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ingest.registry import get_spec, nightly_defaults
from ingest.spec import IngestArgs

CATALOGS_ENV = "LIVECAT_NIGHTLY_CATALOGS"


def configured_catalogs(catalogs: list[str] | None = None) -> list[str]:
    """The catalogs to check: the given list (comma-separated items allowed),
    ``$LIVECAT_NIGHTLY_CATALOGS``, or the registry's nightly defaults."""
    names: list[str] = []
    for item in catalogs or []:
        names += [n.strip() for n in item.split(",") if n.strip()]
    if names:
        return names
    env = os.environ.get(CATALOGS_ENV, "")
    if env.strip():
        return [n.strip() for n in env.split(",") if n.strip()]
    return nightly_defaults()


def check_and_ingest(engine, catalog: str, args: IngestArgs, reporter=None):
    """Run the change check and, if the remote changed, the ingest of one catalog."""
    from ingest.pipeline import run

    return run(engine, get_spec(catalog), replace(args, skip_held_tap_release=True), reporter)


def run_nightly(engine, catalogs: list[str], *, report_path: Path | None = None,
                releases: dict[str, str] | None = None, mirror=None, reporter=None,
                options: dict[str, dict] | None = None,
                then: list[tuple[str, Callable]] | None = None,
                runner: Callable | None = None) -> list[dict]:
    """Check and ingest each catalog, then run the ``then`` steps; one failure does not
    stop the others.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    catalogs : list of str
    report_path : pathlib.Path, optional
        JSON-lines report, appended one line per step as each finishes.
    releases : dict, optional
        Catalog -> release name.
    mirror : path, optional
    options : dict, optional
        Catalog -> ``url`` (override the remote) and catalog-specific options (TAP
        ``tables``, ``cache_dir``, tile sizes) - site configuration and tests.
    then : list of (name, callable), optional
        Steps after the ingests: ``callable(engine) -> dict`` of counts.
    runner : callable, optional
        Replaces :func:`check_and_ingest` (tests).

    Returns
    -------
    list of dict
        The report lines.
    """
    runner = runner or check_and_ingest
    lines = []

    def record(line: dict) -> None:
        lines.append(line)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            with open(report_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, sort_keys=True) + "\n")

    for catalog in catalogs:
        line, t0 = _new_line(catalog, (releases or {}).get(catalog))
        try:
            opts = dict((options or {}).get(catalog) or {})
            args = IngestArgs(mirror=mirror, release=(releases or {}).get(catalog),
                              url=opts.pop("url", None), options=opts)
            result = runner(engine, catalog, args, reporter)
            skipped = result.status == "skipped"
            line.update(release=getattr(result, "version", None) or line["release"],
                        status=result.status,
                        counts=None if skipped else result.counts(), run_id=result.run_id,
                        error=result.note if skipped else None)
        except Exception as exc:  # one catalog's failure must not stop the others
            _failed(line, catalog, exc, reporter)
        line["seconds"] = round(time.monotonic() - t0, 3)
        record(line)
    for name, step in then or []:
        line, t0 = _new_line(name, None)
        try:
            line.update(status="succeeded", counts=step(engine))
        except Exception as exc:  # noqa: BLE001 - reported, like a catalog's failure
            _failed(line, name, exc, reporter)
        line["seconds"] = round(time.monotonic() - t0, 3)
        record(line)
    return lines


def _new_line(name: str, release: str | None) -> tuple[dict, float]:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return ({"catalog": name, "release": release, "status": None, "counts": None,
             "run_id": None, "seconds": None, "error": None, "started_at": started},
            time.monotonic())


def _failed(line: dict, name: str, exc: BaseException, reporter) -> None:
    line.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    if reporter:
        reporter.log(f"{name}: FAILED - {exc}")
    if os.environ.get("LIVECAT_DEBUG"):
        traceback.print_exc()


def default_report_path(home: Path) -> Path:
    """``$LIVECAT_HOME/reports/nightly-<UTC date>.jsonl``."""
    return home / "reports" / f"nightly-{datetime.now(UTC).strftime('%Y-%m-%d')}.jsonl"
