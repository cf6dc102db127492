"""Named process locks that a read-only role can neither take nor block.

PostgreSQL's advisory locks are open to every role: a colleague with psql could run
``SELECT pg_advisory_lock(hashtext('livecat:ingest:csc'))`` and stall the nightly ingest,
or take the migration lock. A livecat lock is instead the row ``name`` of
``livecat.process_lock`` (migration 0008), locked ``FOR UPDATE`` by the holder's
transaction. Row locks need UPDATE privilege on the table (PostgreSQL documentation,
SELECT, "The Locking Clause"), which a reader does not have; what a reader can take, an
ACCESS SHARE lock by reading the table, conflicts with neither the insert nor the row lock.

A lock lasts until the holder's transaction ends (commit, rollback or a lost connection),
like ``pg_advisory_xact_lock``.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import Engine

from .errors import ConfigError, ConflictError
from .settings import SCHEMA

_NOWAIT_INSERT_TIMEOUT = "10ms"
"""``lock_timeout`` of the row insert when not waiting: the insert waits only when another
transaction is inserting the same, new, name, i.e. taking the same lock right now."""


def hold_lock(cursor: psycopg.Cursor, name: str, *, wait: bool,
              busy_message: str | None = None) -> None:
    """Hold the lock ``name`` until the cursor's transaction ends.

    Inside the caller's transaction: insert the row ``name`` into ``livecat.process_lock``
    if it is missing, then ``SELECT ... FOR UPDATE`` it (``NOWAIT`` unless ``wait``). The
    attempt runs in a savepoint, so a refusal leaves the caller's transaction usable.

    Parameters
    ----------
    cursor : psycopg.Cursor
        A cursor in a transaction (not autocommit) of the role that owns livecat.
    name : str
        The lock, e.g. ``"migrate"`` or ``"ingest:csc"``.
    wait : bool
        Wait for the holder's transaction to end instead of refusing at once.
    busy_message : str, optional
        The ConflictError's message when the lock is taken (default: names the lock).

    Raises
    ------
    catalog.errors.ConflictError
        When another transaction holds the lock and ``wait`` is false.
    catalog.errors.ConfigError
        When the database has no ``process_lock`` table (not upgraded) or the role may not
        lock its rows (a reader).
    """
    table = f"{SCHEMA}.process_lock"
    cursor.execute("SAVEPOINT livecat_lock")
    try:
        if not wait:
            cursor.execute("SELECT current_setting('lock_timeout'), "
                           "set_config('lock_timeout', %s, true)", (_NOWAIT_INSERT_TIMEOUT,))
            previous = cursor.fetchone()[0]
        cursor.execute(f"INSERT INTO {table} (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                       (name,))
        cursor.execute(f"SELECT name FROM {table} WHERE name = %s FOR UPDATE"
                       + ("" if wait else " NOWAIT"), (name,))
        if cursor.fetchone() is None:  # a snapshot older than the row (REPEATABLE READ)
            raise ConflictError(f"the lock {name!r} was created by a concurrent transaction "
                                f"after this one started; try again")
    except psycopg.errors.LockNotAvailable:
        cursor.execute("ROLLBACK TO SAVEPOINT livecat_lock")
        raise ConflictError(busy_message or f"the lock {name!r} is held by another livecat "
                            f"process; try again when it has finished") from None
    except psycopg.errors.UndefinedTable:
        cursor.execute("ROLLBACK TO SAVEPOINT livecat_lock")
        raise ConfigError(f"the database has no table {table}: run `livecat db upgrade`") \
            from None
    except psycopg.errors.InsufficientPrivilege:
        cursor.execute("ROLLBACK TO SAVEPOINT livecat_lock")
        raise ConfigError(f"this database role may not take livecat's lock {name!r} (it needs "
                          f"INSERT and UPDATE on {table}): run this as livecat's owner") \
            from None
    except BaseException:
        cursor.execute("ROLLBACK TO SAVEPOINT livecat_lock")
        raise
    # a released savepoint keeps the row lock, and the set_config: put lock_timeout back
    cursor.execute("RELEASE SAVEPOINT livecat_lock")
    if not wait:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", (previous,))


def probe_lock(engine: Engine, name: str) -> bool:
    """Whether some transaction holds the lock ``name`` now.

    Tries to take it without waiting, in a transaction that is then rolled back.
    """
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            hold_lock(cursor, name, wait=False)
        except ConflictError:
            return True
        finally:
            conn.rollback()
    return False
