"""What ``livecat ingest list`` and ``livecat ingest rejects`` show."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

def catalog_summary(engine: Engine, known: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per catalog: releases held, rows, current rows, last run and its status.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    known : dict, optional
        Catalog name -> kind (``xray``/``literature``) of the catalogs livecat can ingest;
        they are listed even before their first ingest.

    Returns
    -------
    pandas.DataFrame
        Columns ``catalog``, ``kind``, ``releases``, ``rows``, ``current``, ``last_run``,
        ``status``, ``error``.
    """
    with engine.connect() as conn:
        releases = conn.execute(sa.text(
            "SELECT catalog, string_agg(version || CASE WHEN state = 'complete' THEN '' "
            "ELSE ' (' || state || ')' END, ', ' ORDER BY retrieved_at DESC, id DESC) "
            "FROM livecat.catalog_release GROUP BY catalog")).all()
        counts = conn.execute(sa.text(
            "SELECT catalog, 'xray', count(*), count(*) FILTER (WHERE is_current) "
            "FROM livecat.xray_source GROUP BY catalog UNION ALL "
            "SELECT catalog, 'literature', count(*), count(*) FILTER (WHERE is_current) "
            "FROM livecat.literature_object GROUP BY catalog UNION ALL "
            "SELECT catalog, 'survey', count(*), count(*) FILTER (WHERE is_current) "
            "FROM livecat.mw_source GROUP BY catalog")).all()
        runs = conn.execute(sa.text(
            "SELECT DISTINCT ON (catalog) catalog, started_at, status, error "
            "FROM livecat.ingest_run ORDER BY catalog, id DESC")).all()
    rows: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return rows.setdefault(name, {"catalog": name, "kind": (known or {}).get(name),
                                      "releases": "", "rows": 0, "current": 0,
                                      "last_run": None, "status": "never ingested",
                                      "error": None})

    for name in known or {}:
        entry(name)
    for name, text in releases:
        entry(name)["releases"] = text
    for name, kind, n, cur in counts:
        e = entry(name)
        e["kind"] = e["kind"] or kind
        e["rows"] += n
        e["current"] += cur
    for name, started, status, error in runs:
        e = entry(name)
        e["last_run"] = started.isoformat(timespec="seconds") if started else None
        e["status"], e["error"] = status, error
    return pd.DataFrame(sorted(rows.values(), key=lambda r: r["catalog"]),
                        columns=["catalog", "kind", "releases", "rows", "current", "last_run",
                                 "status", "error"])


def run_rejects(engine: Engine, run_id: int | None = None) -> tuple[dict, pd.DataFrame]:
    """The rejected rows of a run (default: the newest run that rejected any) with their
    reasons.

    Returns
    -------
    run : dict
        ``id``, ``catalog``, ``version``, ``started_at``, ``status``, ``n_rejected``.
    rejects : pandas.DataFrame
        ``row_number``, ``native_id``, ``reason``, in row order.

    Raises
    ------
    catalog.errors.InputError
        When the run does not exist (or no run rejected anything).
    """
    from catalog.errors import InputError

    with engine.connect() as conn:
        if run_id is None:
            run_id = conn.execute(sa.text(
                "SELECT max(run_id) FROM livecat.ingest_reject")).scalar()
            if run_id is None:
                raise InputError("no ingest run has rejected any row")
        run = conn.execute(sa.text(
            "SELECT i.id, i.catalog, r.version, i.started_at, i.status, i.n_rejected "
            "FROM livecat.ingest_run i LEFT JOIN livecat.catalog_release r "
            "ON r.id = i.release_id WHERE i.id = :id"), {"id": run_id}).mappings().first()
        if run is None:
            raise InputError(f"no ingest run {run_id} (see livecat ingest list)")
        rejects = pd.DataFrame(conn.execute(sa.text(
            "SELECT row_number, native_id, reason FROM livecat.ingest_reject "
            "WHERE run_id = :id ORDER BY row_number NULLS LAST, native_id"),
            {"id": run_id}).all(), columns=["row_number", "native_id", "reason"])
    rejects["row_number"] = rejects["row_number"].astype("Int64")
    return dict(run), rejects
