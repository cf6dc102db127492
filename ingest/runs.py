"""Releases and runs: the bookkeeping of every ingest.

``catalog_release`` (one row per catalog and version: origin, checksum, state complete /
partial / superseded, fetch metadata and the footprint) and ``ingest_run`` (who, when,
the counts, status and error; its rejects in ``ingest_reject``). A failed run is
recorded in a short transaction of its own after the load rolled back; a skipped run
(nothing to do) is recorded too, so ``livecat ingest list`` shows every attempt.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import ConflictError
from catalog.locks import hold_lock
from catalog.settings import login_name
from ingest.footprint import Footprint
from ingest.rows import json_default

@dataclass
class LoadResult:
    """What one ingest did (the ``ingest_run`` counts).

    Attributes
    ----------
    n_read : int
        Rows read from the parsed input.
    n_inserted, n_updated, n_unchanged : int
        Kept rows by outcome (renamed and revived rows count as updated).
    n_rejected : int
        Rows refused (normalize's rejects plus the loader's own).
    n_retired : int
        Rows of the catalog inside the input's footprint and absent from it, now not
        current.
    n_renamed : int
        X-ray sources that took a new designation (included in ``n_updated``).
    """

    catalog: str
    version: str
    kind: str
    run_id: int | None = None
    release_id: int | None = None
    status: str = "running"
    n_read: int = 0
    n_inserted: int = 0
    n_updated: int = 0
    n_unchanged: int = 0
    n_rejected: int = 0
    n_retired: int = 0
    n_renamed: int = 0
    seconds: float = 0.0
    note: str | None = None

    def counts(self) -> dict[str, int]:
        """Return the counts shown in the summary table."""
        return {"read": self.n_read, "inserted": self.n_inserted, "updated": self.n_updated,
                "unchanged": self.n_unchanged, "rejected": self.n_rejected,
                "retired": self.n_retired}

    def as_dict(self) -> dict:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def lock_name(catalog: str) -> str:
    """The name of a catalog's ingest lock (:mod:`catalog.locks`)."""
    return f"ingest:{catalog}"


def take_lock(cur, catalog: str, wait: bool) -> None:
    """Take the catalog's ingest lock for the rest of the transaction (or fail/wait): a
    row lock of ``livecat.process_lock``, which a read-only role can neither take nor
    block (:mod:`catalog.locks`)."""
    hold_lock(cur, lock_name(catalog), wait=wait,
              busy_message=f"another ingest of {catalog} is running; try again when it has "
                           "finished, or pass --wait to wait for it")


def open_release(cur, catalog: str, version: str, *, origin, checksum, remote_meta,
                 footprint: Footprint) -> int:
    """Find or create the release row; a complete (whole-sky) release supersedes the
    others. The footprint is kept in ``remote_meta["footprint"]``."""
    complete = footprint.is_whole_sky
    cur.execute("SELECT id, checksum, state FROM livecat.catalog_release "
                "WHERE catalog = %s AND version = %s FOR UPDATE", (catalog, version))
    row = cur.fetchone()
    meta = json.dumps({**(remote_meta or {}), "footprint": footprint.describe()},
                      default=json_default)
    state = "complete" if complete else "partial"
    if row is None:
        cur.execute("INSERT INTO livecat.catalog_release (catalog, version, origin, checksum, "
                    "state, remote_meta) VALUES (%s, %s, %s, %s, %s, %s::jsonb) RETURNING id",
                    (catalog, version, origin, checksum, state, meta))
        release_id = cur.fetchone()[0]
    else:
        release_id, old_checksum, old_state = row
        if checksum and checksum != old_checksum:
            cur.execute("UPDATE livecat.catalog_release SET checksum = %s, origin = %s, "
                        "remote_meta = %s::jsonb, retrieved_at = now() WHERE id = %s",
                        (checksum, origin, meta, release_id))
        if complete and old_state != "complete":
            cur.execute("UPDATE livecat.catalog_release SET state = 'complete' WHERE id = %s",
                        (release_id,))
    if complete:
        cur.execute("UPDATE livecat.catalog_release SET state = 'superseded' "
                    "WHERE catalog = %s AND id <> %s AND state = 'complete'",
                    (catalog, release_id))
    return release_id


def start_run(cur, catalog: str, release_id: int, invoked_by: str | None,
              command: str | None) -> int:
    """Insert the ``ingest_run`` row (status running) and return its id."""
    cur.execute("INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (catalog, release_id, invoked_by, command))
    return cur.fetchone()[0]


def write_rejects(cur, run_id: int, rejects: pd.DataFrame) -> None:
    """COPY a run's rejected rows (row number, native id, reason) into ``ingest_reject``."""
    if rejects.empty:
        return
    with cur.copy("COPY livecat.ingest_reject (run_id, row_number, native_id, reason) "
                  "FROM STDIN") as copy:
        for rn, nid, reason in zip(rejects["row_number"].tolist(),
                                   rejects["native_id"].tolist(), rejects["reason"].tolist()):
            copy.write_row((run_id, None if pd.isna(rn) else int(rn),
                            None if pd.isna(nid) else str(nid), str(reason)))


def check_invariants(result: LoadResult, staged: int, kept: int) -> None:
    """Refuse to commit unless every row read is accounted for exactly once.

    Raises
    ------
    catalog.errors.ConflictError
        When read != kept + rejected, staged != kept, or kept != inserted + updated +
        unchanged.
    """
    outcome = result.n_inserted + result.n_updated + result.n_unchanged
    problems = []
    if result.n_read != kept + result.n_rejected:
        problems.append(f"read {result.n_read} != kept {kept} + rejected {result.n_rejected}")
    if staged != kept:
        problems.append(f"staged {staged} != kept {kept}")
    if outcome != kept:
        problems.append(f"inserted {result.n_inserted} + updated {result.n_updated} + "
                        f"unchanged {result.n_unchanged} != kept {kept}")
    if problems:
        raise ConflictError(f"ingest of {result.catalog} {result.version} does not add up ("
                            + "; ".join(problems) + "): nothing was written")


def record_failed_run(engine: Engine, catalog: str, version: str, exc: BaseException,
                      result: LoadResult | None = None, invoked_by: str | None = None,
                      command: str | None = None) -> int | None:
    """Record a failed run in its own short transaction (after the load rolled back).

    Returns the run id, or None when even that could not be written (database gone).
    """
    message = f"{type(exc).__name__}: {exc}"[:4000]
    try:
        with engine.begin() as conn:
            release_id = conn.execute(sa.text(
                "SELECT id FROM livecat.catalog_release WHERE catalog = :c AND version = :v"),
                {"c": catalog, "v": version}).scalar()
            return conn.execute(sa.text(
                "INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command, "
                "n_read, status, error, finished_at) VALUES (:c, :r, :who, :cmd, :n, "
                "'failed', :err, clock_timestamp()) RETURNING id"),
                {"c": catalog, "r": release_id, "who": invoked_by or login_name(),
                 "cmd": command or " ".join(sys.argv),
                 "n": result.n_read if result else 0, "err": message}).scalar_one()
    except Exception:
        return None


def record_skipped_run(engine: Engine, catalog: str, version: str | None,
                       reason: str) -> LoadResult:
    """Record a run that found nothing to do (remote not modified, release held)."""
    with engine.begin() as conn:
        release_id = conn.execute(sa.text(
            "SELECT id FROM livecat.catalog_release WHERE catalog = :c AND version = :v"),
            {"c": catalog, "v": version}).scalar() if version else None
        run_id = conn.execute(sa.text(
            "INSERT INTO livecat.ingest_run (catalog, release_id, invoked_by, command, status, "
            "error, finished_at) VALUES (:c, :r, :who, :cmd, 'skipped', :why, "
            "clock_timestamp()) RETURNING id"),
            {"c": catalog, "r": release_id, "who": login_name(), "cmd": " ".join(sys.argv),
             "why": reason}).scalar_one()
    return LoadResult(catalog=catalog, version=version or "", kind="", run_id=run_id,
                      release_id=release_id, status="skipped", note=reason)


def check_not_locked(engine: Engine, catalog: str) -> None:
    """Fail early, before any parsing, when another ingest of ``catalog`` holds its lock.

    A probe only: the lock is taken (and held to commit) by the load.

    Raises
    ------
    catalog.errors.ConflictError
    """
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        take_lock(cur, catalog, wait=False)


def held_release(engine: Engine, catalog: str, checksum: str) -> str | None:
    """The version of the catalog's release with this checksum, if loading it again would
    change nothing: it is not superseded and it is what the catalog's newest successful
    run loaded (nothing was loaded since)."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT r.version FROM livecat.catalog_release r WHERE r.catalog = :c "
            "AND r.checksum = :h AND r.state <> 'superseded' AND r.id = (SELECT i.release_id "
            "FROM livecat.ingest_run i WHERE i.catalog = :c AND i.status = 'succeeded' "
            "ORDER BY i.id DESC LIMIT 1)"),
            {"c": catalog, "h": checksum}).scalar()


def current_release(engine: Engine, catalog: str) -> str | None:
    """The version of the catalog's current complete release, if any."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT version FROM livecat.catalog_release WHERE catalog = :c "
            "AND state = 'complete' ORDER BY retrieved_at DESC, id DESC LIMIT 1"),
            {"c": catalog}).scalar()


_NUMBER_RUN = re.compile(r"(\d+)")


def release_order_key(version: str) -> tuple | None:
    """The numbers of a release name and its shape (what lies between them), or None for
    a name with no number or a content-hash name (``sha256:...``), which have no order."""
    if not version or version.startswith("sha256:") or not _NUMBER_RUN.search(version):
        return None
    parts = [p for p in _NUMBER_RUN.split(version) if p]
    numbers = tuple(int(p) for p in parts if p.isdigit())
    shape = tuple(p.casefold() for p in parts if not p.isdigit())
    return numbers, shape


def is_older(version: str, than: str | None) -> bool:
    """True when release ``version`` is older than release ``than``.

    Names are ordered only when they have the same shape (``4XMM-DR13 < 4XMM-DR14 <
    5XMM-DR15``, ``DR1 < DR2``) or are dotted version numbers (``1.58 < 1.67``, ``2.1 <
    2.1.1``); differently shaped names (``2.0`` and ``2.0-ave``) have no order.
    """
    if than is None or version == than:
        return False
    a, b = release_order_key(version), release_order_key(than)
    if a is None or b is None:
        return False
    dotted = set(a[1]) <= {"."} and set(b[1]) <= {"."}
    if a[1] != b[1] and not dotted:
        return False
    return a[0] < b[0]
