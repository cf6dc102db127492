"""Curation decisions: an append-only event log, the derived state, re-review flags.

Every decision is a ``curation_event`` row (confirm, reject, defer, undo, flag) with its
curator, time, note, the state before and after it, and a snapshot of the positions and
classes the curator saw. The current state of a candidate is its latest event (view
``curation_state``); nothing is updated or deleted (a trigger refuses it).

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
than :data:`MIN_MOVE_ARCSEC`), a literature
class that changed, or a source no longer current appends a ``flag`` event that says why.
The decision stays; the candidate returns to the top of the queue until a curator decides
again. When the rows come back as they were at the decision (a source retired by mistake
and re-ingested with the same values), the next check appends an ``unflag`` event that
clears the flag and says why.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.coords import angular_separation_deg
from catalog.errors import ConflictError, InputError
from catalog.settings import login_name

DECISIONS = {"confirm": "confirmed", "reject": "rejected", "defer": "deferred"}
CURATOR_ENV = "LIVECAT_CURATOR"
SYSTEM_CURATOR = "livecat"
#: Positions are compared with at least this tolerance (arcsec) when no error is quoted.
MOVE_FLOOR_ARCSEC = 0.5
#: Smaller moves never flag a decision: below the astrometric precision of every X-ray
#: catalog (pulsar timing positions with 1e-5 arcsec errors shift by ~0.03 arcsec between
#: releases as epochs and proper motions are refitted), they cannot change a match.
MIN_MOVE_ARCSEC = 0.1


@dataclass(frozen=True)
class Event:
    """One curation event as stored."""

    id: int
    candidate_id: int
    seq: int
    curator: str
    action: str
    previous_status: str
    status: str
    class_override: str | None = None
    subclass_override: str | None = None
    note: str | None = None
    flagged: bool = False
    flag_reason: str | None = None
    undoes_event_id: int | None = None


@dataclass(frozen=True)
class State:
    """The current state of a candidate (its latest event)."""

    candidate_id: int
    status: str
    seq: int
    flagged: bool
    class_override: str | None
    subclass_override: str | None


def current_curator(curator: str | None = None) -> str:
    """The curator: the argument, else ``LIVECAT_CURATOR``, else the login name."""
    for value in (curator, os.environ.get(CURATOR_ENV)):
        if value and value.strip():
            return value.strip()
    login = login_name(default=None)
    if login is None:
        raise InputError("no curator: pass --curator NAME or set LIVECAT_CURATOR")
    return login


# --------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------


def undo_target(events: list[Event]) -> tuple[Event, Event | None]:
    """The decision an undo reverts and the decision it restores (None: pending).

    Decisions form a stack: confirm/reject/defer push, undo pops; flags are ignored.

    Raises
    ------
    ConflictError
        When there is no decision left to undo.
    """
    stack: list[Event] = []
    for ev in sorted(events, key=lambda e: e.seq):
        if ev.action in DECISIONS:
            stack.append(ev)
        elif ev.action == "undo" and stack:
            stack.pop()
    if not stack:
        cid = events[0].candidate_id if events else "?"
        raise ConflictError(f"candidate {cid} has no decision to undo")
    return stack[-1], (stack[-2] if len(stack) > 1 else None)


def check_decision(state: State, action: str, class_override: str | None,
                   subclass_override: str | None) -> None:
    """Refuse a decision that would change nothing (same status and class, not flagged)."""
    if action not in DECISIONS:
        raise InputError(f"unknown action {action!r}: expected confirm, reject or defer")
    if class_override and action != "confirm":
        raise InputError(f"a class override goes with confirm, not {action}")
    same = (state.status == DECISIONS[action] and not state.flagged
            and (state.class_override, state.subclass_override)
            == (class_override, subclass_override))
    if same:
        raise ConflictError(f"candidate {state.candidate_id} is already {state.status}"
                            + (f" as {class_override}" if class_override else "")
                            + " (nothing to change)")


def _moved(label: str, old: dict, new: dict) -> str | None:
    if None in (old.get("ra"), old.get("dec"), new.get("ra"), new.get("dec")):
        return None
    sep = float(angular_separation_deg(old["ra"], old["dec"], new["ra"], new["dec"])) * 3600.0
    errs = [e for e in (old.get("pos_err_arcsec"), new.get("pos_err_arcsec"))
            if e is not None and math.isfinite(e)]
    err = max(errs) if errs else MOVE_FLOOR_ARCSEC
    if sep > max(err, MIN_MOVE_ARCSEC):
        return f"{label} moved {sep:.3g} arcsec (more than its 1-sigma error {err:.3g} arcsec)"
    return None


def _class_text(d: dict) -> str:
    cls, sub = d.get("livecat_class"), d.get("subclass")
    return f"{cls}/{sub}" if cls and sub else str(cls)


def change_reasons(old: dict, new: dict, names: dict | None = None) -> list[str]:
    """Why a decision made on snapshot ``old`` needs re-review now that it is ``new``.

    Parameters
    ----------
    old, new : dict
        Snapshots ``{"literature": {ra, dec, pos_err_arcsec, livecat_class, subclass,
        is_current}, "xray": {ra, dec, pos_err_arcsec, is_current}}``.
    names : dict, optional
        ``{"literature": "atnf J1856-3754", "xray": "csc 2CXO ..."}`` for the messages.

    Returns
    -------
    list of str
        Empty when nothing relevant changed.
    """
    names = names or {"literature": "literature object", "xray": "X-ray source"}
    lo, ln = old.get("literature", {}), new.get("literature", {})
    xo, xn = old.get("xray", {}), new.get("xray", {})
    reasons = []
    for label, o, n in ((names["literature"], lo, ln), (names["xray"], xo, xn)):
        moved = _moved(label, o, n)
        if moved:
            reasons.append(moved)
        if n.get("is_current") is False and o.get("is_current") is not False:
            reasons.append(f"{label} is no longer in the current release")
    if (lo.get("livecat_class"), lo.get("subclass")) != (ln.get("livecat_class"),
                                                         ln.get("subclass")):
        reasons.append(f"{names['literature']} class changed {_class_text(lo)} -> "
                       f"{_class_text(ln)}")
    return reasons


# --------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------

_EVENT_COLS = ("id, candidate_id, seq, curator, action, previous_status, status, "
               "class_override, subclass_override, note, flagged, flag_reason, "
               "undoes_event_id")


def _events(conn: Connection, candidate_id: int) -> list[Event]:
    rows = conn.execute(sa.text(f"SELECT {_EVENT_COLS} FROM livecat.curation_event "
                                "WHERE candidate_id = :c ORDER BY seq"),
                        {"c": candidate_id}).all()
    return [Event(*r) for r in rows]


def state_of(events: list[Event], candidate_id: int) -> State:
    """The state after ``events`` (pending without any)."""
    if not events:
        return State(candidate_id, "pending", 0, False, None, None)
    last = events[-1]
    return State(candidate_id, last.status, last.seq, last.flagged, last.class_override,
                 last.subclass_override)


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
    _check_candidate(engine_or_conn, candidate_id)
    return state_of(_events(engine_or_conn, candidate_id), candidate_id)


def _check_candidate(conn: Connection, candidate_id: int, lock: bool = False) -> None:
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
    _check_candidate(conn, candidate_id, lock=True)
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
# Bulk decisions from a CSV file
# --------------------------------------------------------------------------------------

KEY_COLUMNS = ("literature_catalog", "literature_native_id", "xray_catalog", "xray_native_id")


def read_decision_file(path: str | Path) -> list[dict]:
    """Rows of a decisions CSV (header line; data rows numbered from 1).

    Columns: ``action`` (confirm, reject, defer) and either ``candidate_id`` or the four
    stable keys ``literature_catalog, literature_native_id, xray_catalog, xray_native_id``;
    optional ``class`` (confirm only), ``note`` and ``expected_status`` (the status the
    row was written against; when given it must still hold).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"decisions file {path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or ())
        if "action" not in fields or not ("candidate_id" in fields
                                          or set(KEY_COLUMNS) <= fields):
            raise InputError(f"{path}: the header needs 'action' and either 'candidate_id' or "
                             f"{', '.join(KEY_COLUMNS)} (got {', '.join(sorted(fields))})")
        return [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
                for row in reader]


def _resolve(conn: Connection, row: dict, where: str) -> int:
    cid = row.get("candidate_id")
    if cid:
        try:
            cid = int(cid)
        except ValueError:
            raise InputError(f"{where}: candidate_id {cid!r} is not an integer") from None
        try:
            _check_candidate(conn, cid)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        return cid
    keys = {k: row.get(k) for k in KEY_COLUMNS}
    if not all(keys.values()):
        raise InputError(f"{where}: give candidate_id or all of {', '.join(KEY_COLUMNS)}")
    # the native ids as recorded with the candidate, as they are now, or (X-ray) an
    # earlier designation of a renamed source
    found = conn.execute(sa.text(
        "SELECT c.id FROM livecat.counterpart_candidate c "
        "JOIN livecat.literature_object l ON l.id = c.literature_id "
        "JOIN livecat.xray_source x ON x.id = c.xray_source_id "
        "WHERE c.literature_catalog = :literature_catalog AND c.xray_catalog = :xray_catalog "
        "AND :literature_native_id IN (c.literature_native_id, l.native_id) "
        "AND (:xray_native_id IN (c.xray_native_id, x.native_id) OR EXISTS (SELECT 1 FROM "
        "livecat.xray_source_alias a WHERE a.source_id = x.id "
        "AND a.native_id = :xray_native_id)) ORDER BY c.id"), keys).scalars().all()
    if not found:
        raise InputError(f"{where}: unknown candidate {keys['literature_catalog']} "
                         f"{keys['literature_native_id']} / {keys['xray_catalog']} "
                         f"{keys['xray_native_id']}")
    return found[0]


def _apply_row(conn: Connection, row: dict, where: str, curator: str, source: str,
               seen: set[int]) -> Event:
    action = (row.get("action") or "").lower()
    if action not in DECISIONS:
        raise InputError(f"{where}: action {row.get('action')!r} is not confirm, reject or "
                         f"defer")
    cid = _resolve(conn, row, where)
    if cid in seen:
        raise InputError(f"{where}: candidate {cid} appears twice in the file")
    seen.add(cid)
    state = get_state(conn, cid)
    expected = row.get("expected_status") or None
    if expected is not None and expected != state.status:
        raise ConflictError(f"{where}: candidate {cid} is {state.status}, the file expects "
                            f"{expected}")
    if expected is None and state.status in ("confirmed", "rejected"):
        raise ConflictError(f"{where}: candidate {cid} is already {state.status} (by "
                            f"`livecat curate log {cid}`); a bulk file does not overwrite a "
                            f"decision unless its row says expected_status={state.status}")
    try:
        return decide_in(conn, cid, action, curator, note=row.get("note") or None,
                         class_override=row.get("class") or None, expected_seq=state.seq,
                         source=source)
    except (InputError, ConflictError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def apply_file(engine: Engine, path: str | Path, curator: str | None = None) -> list[Event]:
    """Apply every decision of a CSV file, all or nothing.

    Raises
    ------
    InputError, ConflictError
        Naming the row (1 = first data row) and its line in the file; nothing is written.
    """
    curator = current_curator(curator)
    rows = read_decision_file(path)
    if not rows:
        raise InputError(f"{path}: no decisions (the file has only a header)")
    events: list[Event] = []
    seen: set[int] = set()
    with engine.begin() as conn:
        for i, row in enumerate(rows, start=1):
            where = f"{Path(path).name} row {i} (line {i + 1})"
            try:
                events.append(_apply_row(conn, row, where, curator, f"apply:{Path(path).name}",
                                         seen))
            except (InputError, ConflictError) as exc:
                raise type(exc)(f"{exc}; nothing was written") from None
    return events


# --------------------------------------------------------------------------------------
# Re-review flags
# --------------------------------------------------------------------------------------


def flag_changed_decisions(engine: Engine, curator: str = SYSTEM_CURATOR) -> pd.DataFrame:
    """Flag decided candidates whose sources moved or changed class since the decision,
    and clear the flags of those whose sources are back as they were decided.

    Call after an ingest (``livecat curate recheck``; ``livecat curate candidates`` runs it
    too). For each decided candidate:

    * flagged, and its rows now match the snapshot of the decision the flag was raised
      against (the latest confirm, reject, defer or undo; :func:`change_reasons` finds
      nothing), e.g. a source retired by mistake and re-ingested with the same values:
      an ``unflag`` event clears the flag, its note saying why;
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
            _check_candidate(conn, cid, lock=True)
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


# --------------------------------------------------------------------------------------
# Queue and log
# --------------------------------------------------------------------------------------

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
            _check_candidate(conn, candidate_id)
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
