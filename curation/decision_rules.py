"""Curation decisions as pure rules: events, the state they lead to, what may be decided.

A candidate's history is a list of :class:`Event` (confirm, reject, defer, undo, flag,
unflag); its current :class:`State` is its latest event (:func:`state_of`). Decisions
form a stack that undo pops (:func:`undo_target`); a decision that would change nothing
is refused (:func:`check_decision`). :func:`change_reasons` says why a decision made on
one snapshot of the rows (positions, errors, classes, currency) needs re-review now. No
database here: :mod:`curation.decisions` records the events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog.coords import angular_separation_deg
from catalog.errors import ConflictError, InputError

DECISIONS = {"confirm": "confirmed", "reject": "rejected", "defer": "deferred"}
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


def state_of(events: list[Event], candidate_id: int) -> State:
    """The state after ``events`` (pending without any)."""
    if not events:
        return State(candidate_id, "pending", 0, False, None, None)
    last = events[-1]
    return State(candidate_id, last.status, last.seq, last.flagged, last.class_override,
                 last.subclass_override)


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
