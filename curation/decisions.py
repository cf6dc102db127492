"""Curation decisions in the database: the append-only event log and re-review flags.

Every decision is a ``curation_event`` row (confirm, reject, defer, undo, flag) with its
curator, time, note, the state before and after it, and a snapshot of the positions and
classes the curator saw. The current state of a candidate is its latest event (view
``curation_state``); nothing is updated or deleted (a trigger refuses it). The rules
(state, undo, what may be decided, what change needs re-review) are the pure functions
of :mod:`curation.decision_rules`; bulk decisions from a CSV are
:mod:`curation.decision_files`; the review queue and the log are
:mod:`curation.review_queue`.

Concurrency (optimistic): events of a candidate are numbered ``seq = 1, 2, ...``. A
decision names the state it was made from (``expected_seq``, the ``seq`` the curator
saw; 0 = no event yet). :func:`decide` locks the candidate row (``SELECT ... FOR
UPDATE``), so two deciders are serialised, and refuses with
:class:`~catalog.errors.ConflictError` when the latest ``seq`` is no longer the one the
curator saw; the unique constraint on ``(candidate_id, seq)`` backs this up. A second
curator deciding the same candidate at once therefore gets a conflict, never a silent
overwrite.

Undo: reverts the latest decision not yet undone, restoring the decision before it (or
``pending``).

Living decisions: :func:`flag_changed_decisions` compares, for every decided candidate,
the positions and classes recorded with its latest event against the current rows; a
literature object or X-ray source that moved by more than its 1-sigma error (and more
than :data:`curation.decision_rules.MIN_MOVE_ARCSEC`), a literature
class that changed, or a source no longer current appends a ``flag`` event that says why.
The decision stays; the candidate returns to the top of the queue until a curator decides
again. When the rows come back as they were at the decision (a source retired by mistake
and re-ingested with the same values), the next check appends an ``unflag`` event that
clears the flag and says why.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.errors import ConflictError, InputError
from catalog.settings import login_name
from curation.decision_rules import (
    DECISIONS,
    Event,
    State,
    change_reasons,
    check_decision,
    state_of,
    undo_target,
)

CURATOR_ENV = "LIVECAT_CURATOR"
SYSTEM_CURATOR = "livecat"


def current_curator(curator: str | None = None) -> str:
    """The curator: the argument, else ``LIVECAT_CURATOR``, else the login name."""
    for value in (curator, os.environ.get(CURATOR_ENV)):
        if value and value.strip():
            return value.strip()
    login = login_name(default=None)
    if login is None:
        raise InputError("no curator: pass --curator NAME or set LIVECAT_CURATOR")
    return login


_EVENT_COLS = ("id, candidate_id, seq, curator, action, previous_status, status, "
               "class_override, subclass_override, note, flagged, flag_reason, "
               "undoes_event_id")


def _events(conn: Connection, candidate_id: int) -> list[Event]:
    rows = conn.execute(sa.text(f"SELECT {_EVENT_COLS} FROM livecat.curation_event "
                                "WHERE candidate_id = :c ORDER BY seq"),
                        {"c": candidate_id}).all()
    return [Event(*r) for r in rows]


def get_state(engine_or_conn, candidate_id: int) -> State:
    """The current state of a candidate.

    Raises
    ------
    InputError
        When the candidate does not exist.
    """
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return get_state(conn, candidate_id)
    check_candidate(engine_or_conn, candidate_id)
    return state_of(_events(engine_or_conn, candidate_id), candidate_id)


def check_candidate(conn: Connection, candidate_id: int, lock: bool = False) -> None:
    """Refuse an unknown candidate id (with ``lock``, lock its row until the transaction
    ends).

    Raises
    ------
    InputError
        When there is no such candidate.
    """
    found = conn.execute(sa.text(
        "SELECT id FROM livecat.counterpart_candidate WHERE id = :c"
        + (" FOR UPDATE" if lock else "")), {"c": candidate_id}).scalar()
    if found is None:
        raise InputError(f"unknown candidate {candidate_id}: see `livecat curate queue` or "
                         f"`livecat curate candidates --list`")


def _snapshot_from(row) -> dict:
    """Snapshot dict from (l.ra, l.dec, l.pos_err, l.class, l.subclass, l.is_current,
    x.ra, x.dec, x.pos_err, x.is_current)."""
    return {"literature": {"ra": row[0], "dec": row[1], "pos_err_arcsec": row[2],
                           "livecat_class": row[3], "subclass": row[4], "is_current": row[5]},
            "xray": {"ra": row[6], "dec": row[7], "pos_err_arcsec": row[8],
                     "is_current": row[9]}}


def current_snapshot(conn: Connection, candidate_id: int) -> dict:
    """Positions, errors, classes and currency of the candidate's two rows now."""
    row = conn.execute(sa.text(
        "SELECT l.ra, l.dec, l.pos_err_arcsec, l.livecat_class, l.subclass, l.is_current, "
        "x.ra, x.dec, x.pos_err_arcsec, x.is_current "
        "FROM livecat.counterpart_candidate c "
        "JOIN livecat.literature_object l ON l.id = c.literature_id "
        "JOIN livecat.xray_source x ON x.id = c.xray_source_id WHERE c.id = :c"),
        {"c": candidate_id}).one()
    return _snapshot_from(row)


def _insert_event(conn: Connection, candidate_id: int, seq: int, curator: str, action: str,
                  previous: str, status: str, *, class_override=None, subclass_override=None,
                  note=None, flagged=False, flag_reason=None, undoes=None,
                  snapshot=None, source=None) -> Event:
    try:
        with conn.begin_nested():
            eid = conn.execute(sa.text(
                "INSERT INTO livecat.curation_event (candidate_id, seq, curator, action, "
                "class_override, subclass_override, note, previous_status, status, flagged, "
                "flag_reason, undoes_event_id, snapshot, source) VALUES (:c, :seq, :who, :a, "
                ":co, :so, :note, :prev, :st, :fl, :fr, :u, CAST(:snap AS jsonb), :src) "
                "RETURNING id"),
                {"c": candidate_id, "seq": seq, "who": curator, "a": action,
                 "co": class_override, "so": subclass_override, "note": note, "prev": previous,
                 "st": status, "fl": flagged, "fr": flag_reason, "u": undoes,
                 "snap": json.dumps(snapshot or {}), "src": source}).scalar_one()
    except sa.exc.IntegrityError as exc:
        if "curation_event_candidate_seq" in str(exc.orig):
            raise ConflictError(f"candidate {candidate_id} was decided by someone else at the "
                                f"same time (event {seq} exists): look again with "
                                f"`livecat curate show {candidate_id}`") from None
        raise
    return Event(eid, candidate_id, seq, curator, action, previous, status, class_override,
                 subclass_override, note, flagged, flag_reason, undoes)


def _check_expected(state: State, expected_seq: int | None) -> None:
    if expected_seq is not None and expected_seq != state.seq:
        raise ConflictError(
            f"candidate {state.candidate_id} changed since you saw it: you saw state "
            f"{expected_seq}, it is now at {state.seq} ({state.status}"
            + (", flagged" if state.flagged else "") + "); look again with "
            f"`livecat curate show {state.candidate_id}`")


def _check_not_others(events: list[Event], state: State, curator: str) -> None:
    """Without a named state, refuse to change another curator's confirm or reject."""
    decided = [e for e in events if e.action in DECISIONS or e.action == "undo"]
    if state.status in ("confirmed", "rejected") and decided \
            and decided[-1].curator != curator:
        last = decided[-1]
        raise ConflictError(
            f"candidate {state.candidate_id} was {state.status} by {last.curator}; to change "
            f"another curator's decision name the state you saw: --seen {state.seq}")


def _parse_override(class_override: str | None) -> tuple[str | None, str | None]:
    if class_override is None or not str(class_override).strip():
        return None, None
    from catalog.taxonomy import parse_class

    return parse_class(str(class_override))


def decide_in(conn: Connection, candidate_id: int, action: str, curator: str, *,
              note: str | None = None, class_override: str | None = None,
              expected_seq: int | None = None, source: str = "cli") -> Event:
    """:func:`decide` inside the caller's transaction (used by bulk files)."""
    check_candidate(conn, candidate_id, lock=True)
    events = _events(conn, candidate_id)
    state = state_of(events, candidate_id)
    _check_expected(state, expected_seq)
    if expected_seq is None:
        _check_not_others(events, state, curator)
    snapshot = current_snapshot(conn, candidate_id)
    if action == "undo":
        reverted, restored = undo_target(events)
        return _insert_event(
            conn, candidate_id, state.seq + 1, curator, "undo", state.status,
            restored.status if restored else "pending",
            class_override=restored.class_override if restored else None,
            subclass_override=restored.subclass_override if restored else None,
            note=note, undoes=reverted.id, snapshot=snapshot, source=source)
    cls, sub = _parse_override(class_override)
    check_decision(state, action, cls, sub)
    return _insert_event(conn, candidate_id, state.seq + 1, curator, action, state.status,
                         DECISIONS[action], class_override=cls, subclass_override=sub,
                         note=note, snapshot=snapshot, source=source)


def decide(engine: Engine, candidate_id: int, action: str, curator: str | None = None, *,
           note: str | None = None, class_override: str | None = None,
           expected_seq: int | None = None, source: str = "cli") -> Event:
    """Record a decision (confirm, reject, defer or undo) on one candidate.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    candidate_id : int
    action : {"confirm", "reject", "defer", "undo"}
    curator : str, optional
        Default :func:`current_curator`.
    note : str, optional
    class_override : str, optional
        ``CLASS`` or ``CLASS/SUBCLASS`` (confirm only).
    expected_seq : int, optional
        The state the curator saw (``seq`` of ``curation_state``; 0 = undecided). None
        decides on the state found when the row is locked, but refuses to change another
        curator's confirm or reject (that needs the state named).
    source : str
        Where the decision came from (cli, review, apply:FILE).

    Returns
    -------
    Event

    Raises
    ------
    InputError
        Unknown candidate, action or class.
    ConflictError
        The state changed since ``expected_seq``, a concurrent decision won, or the
        decision would change nothing.
    """
    curator = current_curator(curator)
    with engine.begin() as conn:
        return decide_in(conn, candidate_id, action, curator, note=note,
                         class_override=class_override, expected_seq=expected_seq,
                         source=source)


# --------------------------------------------------------------------------------------
# Re-review flags
# --------------------------------------------------------------------------------------


def flag_changed_decisions(engine: Engine, curator: str = SYSTEM_CURATOR) -> pd.DataFrame:
    """Flag decided candidates whose sources moved or changed class since the decision,
    and clear the flags of those whose sources are back as they were decided.

    Call after an ingest (``livecat curate recheck``; ``livecat curate candidates`` runs it
    too). For each decided candidate:

    * flagged, and its rows now match the snapshot of the decision the flag was raised
      against (the latest confirm, reject, defer or undo;
      :func:`curation.decision_rules.change_reasons` finds nothing), e.g. a source retired
      by mistake and re-ingested with the same values: an ``unflag`` event clears the
      flag, its note saying why;
    * otherwise, when the rows changed since the latest event's snapshot: a ``flag``
      event with the reasons and the new snapshot, so the same change is flagged once.

    Returns
    -------
    pandas.DataFrame
        ``candidate_id, status, action, reason``: ``action`` is ``flag`` (flagged now)
        or ``unflag`` (flag cleared now).
    """
    out = []
    with engine.begin() as conn:
        decided = conn.execute(sa.text(
            "SELECT s.candidate_id, s.seq, s.flagged, e.snapshot, d.id, d.snapshot, "
            "e.flag_reason, c.literature_catalog, "
            "c.literature_native_id, c.xray_catalog, c.xray_native_id, "
            "l.ra, l.dec, l.pos_err_arcsec, l.livecat_class, l.subclass, l.is_current, "
            "x.ra, x.dec, x.pos_err_arcsec, x.is_current "
            "FROM livecat.curation_state s JOIN livecat.curation_event e "
            "ON e.id = s.last_event_id JOIN livecat.counterpart_candidate c "
            "ON c.id = s.candidate_id "
            "JOIN livecat.literature_object l ON l.id = c.literature_id "
            "JOIN livecat.xray_source x ON x.id = c.xray_source_id "
            "LEFT JOIN LATERAL (SELECT de.id, de.snapshot FROM livecat.curation_event de "
            "  WHERE de.candidate_id = s.candidate_id AND de.action NOT IN ('flag', 'unflag') "
            "  ORDER BY de.seq DESC LIMIT 1) d ON s.flagged "
            "WHERE s.status <> 'pending' ORDER BY s.candidate_id")).all()
        for row in decided:
            cid, seq, flagged, snap, decision_id, decision_snap, flag_reason = row[:7]
            lc, ln, xc, xn = row[7:11]
            names = {"literature": f"{lc} {ln}", "xray": f"{xc} {xn}"}
            now = _snapshot_from(row[11:])
            if flagged and decision_snap is not None \
                    and not change_reasons(decision_snap, now, names):
                action = "unflag"
                reason = (f"{names['literature']} and {names['xray']} are back as they were "
                          f"when decided (event {decision_id}); flagged for: {flag_reason}")
            else:
                reasons = change_reasons(snap or {}, now, names)
                if not reasons:
                    continue
                action, reason = "flag", "; ".join(reasons)
            check_candidate(conn, cid, lock=True)
            state = state_of(_events(conn, cid), cid)
            if state.seq != seq:  # decided meanwhile: that decision saw the new rows
                continue
            _insert_event(conn, cid, seq + 1, curator, action, state.status, state.status,
                          class_override=state.class_override,
                          subclass_override=state.subclass_override,
                          note=("re-review: " if action == "flag" else "re-review cleared: ")
                          + reason, flagged=action == "flag",
                          flag_reason=reason if action == "flag" else None,
                          snapshot=now, source="flag_changed_decisions")
            out.append({"candidate_id": cid, "status": state.status, "action": action,
                        "reason": reason})
    return pd.DataFrame(out, columns=["candidate_id", "status", "action", "reason"])
