"""Database roles: read-only access for colleagues with psql."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import InputError
from .settings import SCHEMA

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_reader(engine: Engine, name: str, password: str | None = None) -> bool:
    """Create (or refresh the grants of) a login role that can read everything livecat holds.

    The role may SELECT every table and view of the livecat schema, now and in later
    migrations (default privileges), and run its functions; it owns nothing and is granted
    no INSERT, UPDATE, DELETE, TRUNCATE or CREATE; its sessions are read-only by default.

    Parameters
    ----------
    engine : Engine
        Connected as the role that owns the livecat schema.
    name : str
        Role name: lower-case letters, digits and underscores.
    password : str, optional
        Login password (servers with password authentication need one).

    Returns
    -------
    bool
        True if the role was created, False if it existed and only its grants were applied.
    """
    if not _ROLE_NAME.match(name):
        raise InputError(f"role name {name!r} must be lower-case letters, digits and "
                         f"underscores, starting with a letter or underscore")
    with engine.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                              {"n": name}).scalar() is not None
        if exists:
            is_super = conn.execute(sa.text(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                "WHERE rolname = :n"), {"n": name}).scalar()
            if is_super:
                raise InputError(f"role {name!r} exists and has superuser/create privileges: "
                                 f"it cannot be made a read-only reader")
        else:
            stmt = conn.execute(sa.text(
                "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' "
                "|| CASE WHEN CAST(:p AS text) IS NULL THEN '' ELSE format(' PASSWORD %L', "
                "CAST(:p AS text)) END, CAST(:n AS text))"), {"n": name, "p": password}).scalar()
            conn.execute(sa.text(stmt))
        if exists and password is not None:
            conn.execute(sa.text(conn.execute(sa.text(
                "SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:n AS text), CAST(:p AS text))"),
                {"n": name, "p": password}).scalar()))
        db = conn.execute(sa.text("SELECT current_database()")).scalar()
        q = f'"{name}"'
        for stmt in (
            f'GRANT CONNECT ON DATABASE "{db}" TO {q}',
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO {q}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {q}",
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO {q}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {q}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT EXECUTE ON FUNCTIONS TO {q}",
            f"ALTER ROLE {q} SET search_path = {SCHEMA}, public",
            f"ALTER ROLE {q} SET default_transaction_read_only = on",
        ):
            conn.execute(sa.text(stmt))
    return not exists
