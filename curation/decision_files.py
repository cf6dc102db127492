"""Bulk curation decisions from a CSV file, applied all or nothing.

A row names its candidate by ``candidate_id`` or by the stable catalog keys (which
survive re-ingest and renames); every row is decided through
:func:`curation.decisions.decide_in` inside one transaction, so a bad row writes
nothing and the error names its row and line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.errors import ConflictError, InputError
from curation.decision_rules import DECISIONS, Event
from curation.decisions import check_candidate, current_curator, decide_in, get_state

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
            check_candidate(conn, cid)
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
