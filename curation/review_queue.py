"""The review queue (candidates that need a curator, most urgent first) and the
curation log, read from the event log of :mod:`curation.decisions`."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from curation.decisions import check_candidate

QUEUE_STATUSES = ("open", "pending", "ambiguous", "flagged", "deferred", "all")


def queue(engine: Engine, status: str = "open", klass: str | None = None,
          limit: int | None = None) -> pd.DataFrame:
    """Candidates that need a curator, most urgent first.

    Order (``livecat curate queue --help`` states the same): flagged for re-review
    first; then ambiguous; then by match probability in steps of 0.1, highest first;
    within a step, the class with the fewest confirmed counterparts first (scarce
    classes gain most from a decision); then by match probability, highest first; then
    by candidate id.

    Parameters
    ----------
    status : {"open", "pending", "ambiguous", "flagged", "deferred", "all"}
        ``open`` = pending, deferred or flagged; ``ambiguous`` = open and ambiguous.
    klass : str, optional
        Only objects of this literature class.
    """
    if status not in QUEUE_STATUSES:
        raise InputError(f"--status {status!r}: expected one of {', '.join(QUEUE_STATUSES)}")
    where = {
        "open": "(s.status IN ('pending', 'deferred') OR s.flagged)",
        "pending": "s.status = 'pending'",
        "ambiguous": "(s.status IN ('pending', 'deferred') OR s.flagged) AND ambiguous",
        "flagged": "s.flagged",
        "deferred": "s.status = 'deferred'",
        "all": "true",
    }[status]
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"""
            WITH confirmed AS (
              SELECT coalesce(s.class_override, l.livecat_class) AS cls, count(*) AS n
                FROM livecat.curation_state s
                JOIN livecat.counterpart_candidate c ON c.id = s.candidate_id
                JOIN livecat.literature_object l ON l.id = c.literature_id
               WHERE s.status = 'confirmed' GROUP BY 1),
            q AS (
              SELECT c.id, c.literature_catalog, c.literature_native_id, l.livecat_class,
                     c.xray_catalog, c.xray_native_id, c.separation_arcsec, c.norm_sep,
                     c.match_prob,
                     c.ambiguous_multi_xray OR c.ambiguous_multi_literature AS ambiguous,
                     s.status, s.flagged, s.flag_reason, s.seq,
                     coalesce(k.n, 0) AS class_confirmed
                FROM livecat.counterpart_candidate c
                JOIN livecat.curation_state s ON s.candidate_id = c.id
                JOIN livecat.literature_object l ON l.id = c.literature_id
                LEFT JOIN confirmed k ON k.cls = l.livecat_class)
            SELECT * FROM q s WHERE {where}
               AND (CAST(:k AS text) IS NULL OR s.livecat_class = :k)
             ORDER BY s.flagged DESC, s.ambiguous DESC, floor(s.match_prob * 10) DESC,
                      s.class_confirmed, s.match_prob DESC, s.id
             LIMIT :n"""), {"k": klass, "n": limit}).all()
    return pd.DataFrame(rows, columns=["id", "literature_catalog", "literature_native_id",
                                       "livecat_class", "xray_catalog", "xray_native_id",
                                       "separation_arcsec", "norm_sep", "match_prob",
                                       "ambiguous", "status", "flagged", "flag_reason", "seq",
                                       "class_confirmed"])


def event_log(engine: Engine, candidate_id: int | None = None,
              curator: str | None = None) -> pd.DataFrame:
    """The curation events, oldest first (one candidate's, one curator's or all)."""
    with engine.connect() as conn:
        if candidate_id is not None:
            check_candidate(conn, candidate_id)
        rows = conn.execute(sa.text(
            "SELECT e.id, e.candidate_id, e.seq, e.created_at, e.curator, e.action, "
            "e.previous_status, e.status, e.class_override, e.subclass_override, e.flagged, "
            "e.note, e.source FROM livecat.curation_event e "
            "WHERE (CAST(:c AS bigint) IS NULL OR e.candidate_id = :c) "
            "AND (CAST(:u AS text) IS NULL OR e.curator = :u) ORDER BY e.id"),
            {"c": candidate_id, "u": curator}).all()
    return pd.DataFrame(rows, columns=["id", "candidate_id", "seq", "created_at", "curator",
                                       "action", "previous_status", "status", "class_override",
                                       "subclass_override", "flagged", "note", "source"])


def ids_from(values: Iterable) -> list[int]:
    """Integers from text values, naming the first that is not one."""
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise InputError(f"{v!r} is not a candidate id (an integer)") from None
    return out
