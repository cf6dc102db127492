"""Schema migrations (alembic) and database status."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from .errors import ConflictError, InputError
from .locks import hold_lock
from .settings import SCHEMA

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    """Return an alembic Config pointing at livecat's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


PRECIOUS_TABLES = ("curation_event", "training_set", "training_member", "classifier_run",
                   "classification", "class_probability")
"""Tables whose rows no ingest can bring back: curator decisions, frozen training sets and
classifier runs with their labels. A downgrade that would delete rows of these is refused
unless asked for (``drop_data``)."""


def _run(engine: Engine, fn, revision: str, guard=None) -> None:
    """Run an alembic command in one transaction under the migration lock.

    ``guard(conn)``, if given, is called before the command and returns a check that is
    called with the connection after it, before the commit; it may raise to roll
    everything back.
    """
    cfg = alembic_config()
    with engine.begin() as conn:
        _migration_lock(conn)
        check = guard(conn) if guard is not None else None
        cfg.attributes["connection"] = conn
        try:
            fn(cfg, revision)
        except Exception as exc:
            if type(exc).__name__ in ("CommandError", "ResolutionError"):
                raise InputError(f"unknown revision {revision!r}: {exc}") from exc
            raise
        if check is not None:
            check(conn)


def _migration_lock(conn: Connection) -> None:
    """One migration at a time per database, even from two livecat processes.

    The process lock ``migrate`` (:mod:`catalog.locks`), which a reader role cannot take,
    once migration 0008 has created its table; before that (a new database, or one being
    upgraded to 0008) an advisory lock. Two migrations racing while one of them downgrades
    past 0008 can deadlock on the table it drops: PostgreSQL then cancels one of them.
    """
    if conn.execute(sa.text(f"SELECT to_regclass('{SCHEMA}.process_lock')")).scalar():
        hold_lock(conn.connection.dbapi_connection.cursor(), "migrate", wait=True)
    else:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('livecat:migrate'))"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default the newest)."""
    _run(engine, command.upgrade, revision)


def _precious_rows(conn: Connection) -> dict[str, int]:
    """Rows of each PRECIOUS_TABLES table that exists."""
    rows = {}
    for name in PRECIOUS_TABLES:
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"{SCHEMA}.{name}"}).scalar():
            rows[name] = conn.execute(
                sa.text(f'SELECT count(*) FROM {SCHEMA}."{name}"')).scalar_one()
    return rows


def downgrade(engine: Engine, revision: str, *, drop_data: bool = False) -> dict[str, int]:
    """Downgrade the schema to ``revision`` (``base`` removes every livecat object).

    The downgrade runs in one transaction; if it deleted rows of curator decisions,
    training sets or labels (:data:`PRECIOUS_TABLES`) and ``drop_data`` is false, it is
    rolled back and nothing changes. ``livecat db downgrade`` passes ``drop_data=False``
    unless given ``--drop-data``.

    Parameters
    ----------
    engine : Engine
    revision : str
        A revision id, ``-N`` (N steps back) or ``base``.
    drop_data : bool
        Go ahead even when those rows go (the default, as before this check existed, for
        the scripts and tests that call this; pass False to be asked).

    Returns
    -------
    dict of str to int
        The precious tables that lost rows, and how many they lost.

    Raises
    ------
    catalog.errors.ConflictError
        Those rows would go and ``drop_data`` is false; the message lists them
        (``table: N rows``).
    """
    lost: dict[str, int] = {}

    def guard(conn: Connection):
        before = _precious_rows(conn)

        def check(conn: Connection) -> None:
            after = _precious_rows(conn)
            lost.update({t: n - after.get(t, 0) for t, n in before.items()
                         if n > after.get(t, 0)})
            if lost and not drop_data:
                what = ", ".join(f"{t}: {n} row{'s' if n != 1 else ''}"
                                 for t, n in lost.items())
                raise ConflictError(
                    f"downgrading to {revision} would delete curator decisions, training "
                    f"sets or labels ({what}); nothing was changed. Export what you need, "
                    f"then run it again with --drop-data")
        return check

    _run(engine, command.downgrade, revision, guard)
    return lost


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA})
        return ctx.get_current_revision()


@dataclass
class DbStatus:
    """What ``livecat db status`` shows."""

    url: str
    revision: str | None
    head: str
    pending: list[str]
    table_rows: dict[str, int]


def status(engine: Engine) -> DbStatus:
    """Return the current revision, the pending migrations and the rows per table."""
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    head = script.get_current_head()
    pending = [rev.revision for rev in script.iterate_revisions(head, current)]
    pending.reverse()
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = :s AND table_type = 'BASE TABLE' "
            "AND table_name <> 'alembic_version' ORDER BY table_name"), {"s": SCHEMA}).scalars()
        for name in list(tables):
            rows[name] = conn.execute(
                sa.text(f'SELECT count(*) FROM {SCHEMA}."{name}"')).scalar_one()
    return DbStatus(url=engine.url.render_as_string(hide_password=True), revision=current,
                    head=head, pending=pending, table_rows=rows)


def engine_at_head() -> Engine:
    """The livecat engine, refusing a database whose schema is not at the newest revision.

    Raises
    ------
    catalog.errors.ConfigError
        Saying which revision it is at and to run ``livecat db upgrade``.
    """
    from .engine import get_engine
    from .errors import ConfigError

    engine = get_engine()
    current = current_revision(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current != head:
        raise ConfigError(f"the database schema is at revision {current or 'none'}, not "
                          f"{head}: run `livecat db upgrade` first")
    return engine
