"""Database roles: read-only access for colleagues with psql.

A reader may SELECT every table and view of the livecat schema and run its functions. The
privileges, not the session's ``default_transaction_read_only``, are what stop it from
writing: a role can always change its own session defaults (``ALTER ROLE`` itself) and its
own password. Beyond table privileges, PostgreSQL lets every role (``PUBLIC``) create
large objects, temporary tables and advisory locks; :func:`create_reader` revokes those
from ``PUBLIC`` in livecat's database (granting them back to the role running it and to
the owner of the livecat schema) where its role may, and caps the reader's temporary
files. Any other role that needs them then needs its own GRANT. :func:`reader_gaps` lists
what could not be taken away (a server where livecat's role is not a superuser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Connection, Engine

from .errors import InputError
from .settings import SCHEMA

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

LARGE_OBJECT_WRITERS = ("lo_creat", "lo_create", "lo_from_bytea", "lo_import", "lo_put",
                        "lowrite", "lo_truncate", "lo_truncate64", "lo_unlink")
"""pg_catalog functions that create, change or delete large objects (server-side
``lo_import`` and ``lo_export`` already need superuser)."""

TEMP_FILE_LIMIT = "1GB"
"""A reader's default cap on the temporary files of one session (sorts and hashes that
spill); only a superuser may set or change it (``temp_file_limit`` is superuser-only)."""

IDLE_IN_TRANSACTION_TIMEOUT = "15min"
"""A reader's default ``idle_in_transaction_session_timeout``: a psql session left inside a
transaction holds locks that make migrations wait. The reader can change this default."""


@dataclass(frozen=True)
class _Check:
    """One thing a reader must not be able to do, as a query run as the owner."""

    what: str
    query: str  # true when the reader still can: parameters %(role)s, %(db)s


_CHECKS = (
    _Check("create temporary tables (TEMPORARY on the database)",
           "SELECT has_database_privilege(%(role)s, %(db)s, 'TEMPORARY')"),
    _Check("create or change large objects (EXECUTE on lo_create, lo_from_bytea, ...)",
           "SELECT bool_or(has_function_privilege(%(role)s, p.oid, 'EXECUTE')) "
           "FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace "
           "AND p.proname = ANY(%(lo)s)"),
    _Check("take advisory locks (EXECUTE on pg_advisory_lock, ...)",
           "SELECT bool_or(has_function_privilege(%(role)s, p.oid, 'EXECUTE')) "
           "FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace "
           "AND p.proname LIKE 'pg\\_%%advisory\\_%%' AND p.proname NOT LIKE '%%unlock%%'"),
    _Check("write unlimited temporary files (no temp_file_limit set for the role)",
           "SELECT NOT EXISTS (SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) c "
           "WHERE s.setrole = to_regrole(%(role)s) AND c LIKE 'temp\\_file\\_limit=%%')"),
)


def _check_name(name: str) -> None:
    if not _ROLE_NAME.match(name):
        raise InputError(f"role name {name!r} must be lower-case letters, digits and "
                         f"underscores, starting with a letter or underscore")


def create_reader(engine: Engine, name: str, password: str | None = None, *,
                  temp_file_limit: str = TEMP_FILE_LIMIT) -> bool:
    """Create (or refresh the grants of) a login role that can read everything livecat holds.

    The role may SELECT every table and view of the livecat schema, now and in later
    migrations (default privileges), and run its functions; it owns nothing and is granted
    no INSERT, UPDATE, DELETE, TRUNCATE or CREATE; its sessions are read-only by default.
    In livecat's database, creating temporary tables and large objects and taking advisory
    locks are revoked from PUBLIC and granted back to the role running this; the reader's
    temporary files are capped at ``temp_file_limit``. Steps the running role may not take
    (it is not a superuser) are skipped: :func:`reader_gaps` names them.

    Parameters
    ----------
    engine : Engine
        Connected as the role that owns the livecat schema.
    name : str
        Role name: lower-case letters, digits and underscores.
    password : str, optional
        Login password (servers with password authentication, such as livecat's embedded
        server, need one). Any characters; sent as a quoted literal.
    temp_file_limit : str
        The reader's ``temp_file_limit`` (PostgreSQL size, e.g. ``"1GB"``).

    Returns
    -------
    bool
        True if the role was created, False if it existed and only its grants were applied.
    """
    _check_name(name)
    role = sql.Identifier(name)
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        row = cur.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                          "WHERE rolname = %s", (name,)).fetchone()
        exists = row is not None
        if exists and row[0]:
            raise InputError(f"role {name!r} exists and has superuser/create privileges: "
                             f"it cannot be made a read-only reader")
        if not exists:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
                        .format(role))
        if password is not None:
            # a literal, never a parameter: utility statements take none
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
        db = sql.Identifier(cur.execute("SELECT current_database()").fetchone()[0])
        schema = sql.Identifier(SCHEMA)
        for stmt in (
            "GRANT CONNECT ON DATABASE {db} TO {role}",
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {role}",
            "ALTER ROLE {role} SET search_path = {schema}, public",
            "ALTER ROLE {role} SET default_transaction_read_only = on",
            "ALTER ROLE {role} SET idle_in_transaction_session_timeout = {idle}",
            "REVOKE TEMPORARY ON DATABASE {db} FROM {role}",
        ):
            cur.execute(sql.SQL(stmt).format(db=db, role=role, schema=schema,
                                             idle=sql.Literal(IDLE_IN_TRANSACTION_TIMEOUT)))
        _restrict_public(conn, db)
        _maybe(conn, sql.SQL("ALTER ROLE {} SET temp_file_limit = {}").format(
            role, sql.Literal(temp_file_limit)))
    return not exists


def _maybe(conn: Connection, stmt: sql.Composable) -> bool:
    """Run ``stmt`` in a savepoint; False (and nothing changed) when the role may not."""
    import psycopg

    cur = conn.connection.dbapi_connection.cursor()
    cur.execute("SAVEPOINT livecat_maybe")
    try:
        cur.execute(stmt)
    except psycopg.errors.InsufficientPrivilege:
        cur.execute("ROLLBACK TO SAVEPOINT livecat_maybe")
        return False
    cur.execute("RELEASE SAVEPOINT livecat_maybe")
    return True


def _restrict_public(conn: Connection, db: sql.Identifier) -> None:
    """Revoke from PUBLIC, in this database, temporary tables, the large-object writers and
    the advisory locks; the running role and the owner of the livecat schema keep them (an
    explicit grant: livecat's loads stage in temporary tables). A REVOKE the role may not
    make is a warning in PostgreSQL, not an error: :func:`reader_gaps` reports it."""
    cur = conn.connection.dbapi_connection.cursor()
    owner = cur.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s",
                        (SCHEMA,)).fetchone()[0]
    keepers = sql.SQL("CURRENT_USER, {}").format(sql.SQL(owner))  # regrole text is quoted
    functions = [r[0] for r in cur.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "WHERE p.pronamespace = 'pg_catalog'::regnamespace AND (p.proname = ANY(%s) "
        "OR (p.proname LIKE 'pg\\_%%advisory\\_%%' AND p.proname NOT LIKE '%%unlock%%')) "
        "ORDER BY 1", (list(LARGE_OBJECT_WRITERS),))]
    _maybe(conn, sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(db, keepers))
    _maybe(conn, sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(db))
    for fn in functions:  # regprocedure text, quoted by PostgreSQL itself
        fn = sql.SQL(fn)
        _maybe(conn, sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(fn, keepers))
        _maybe(conn, sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(fn))


def role_exists(engine: Engine, name: str) -> bool:
    """Whether the login role ``name`` exists on the server."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                            {"n": name}).scalar() is not None


def reader_gaps(engine: Engine, name: str) -> list[str]:
    """What the role ``name`` can still do that :func:`create_reader` means to take away.

    Empty after :func:`create_reader` run by a superuser (or the owner of the database and
    of the pg_catalog functions). Each item names the ability, e.g. ``"create temporary
    tables (TEMPORARY on the database)"``.
    """
    _check_name(name)
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        db = cur.execute("SELECT current_database()").fetchone()[0]
        params = {"role": name, "db": db, "lo": list(LARGE_OBJECT_WRITERS)}
        return [c.what for c in _CHECKS if cur.execute(c.query, params).fetchone()[0]]
