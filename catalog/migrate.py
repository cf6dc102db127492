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

from .errors import InputError
from .locks import hold_lock
from .settings import SCHEMA

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    """Return an alembic Config pointing at livecat's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _run(engine: Engine, fn, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        _migration_lock(conn)
        cfg.attributes["connection"] = conn
        try:
            fn(cfg, revision)
        except Exception as exc:
            if type(exc).__name__ in ("CommandError", "ResolutionError"):
                raise InputError(f"unknown revision {revision!r}: {exc}") from exc
            raise


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


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes every livecat object)."""
    _run(engine, command.downgrade, revision)


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
