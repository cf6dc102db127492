"""The read-only role made by `livecat db create-reader`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from helpers import invoke

from catalog.errors import ConfigError, InputError
from catalog.locks import hold_lock
from catalog.roles import create_reader, reader_gaps


@pytest.fixture
def reader(engine, db_url):
    name = f"reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO livecat.literature_object (catalog, native_id, ra, "
                             "dec) VALUES ('t', :n, 10, 20)"), {"n": name})
    # a password: the embedded test server asks every role but the owner for one
    assert create_reader(engine, name, f"pw:{name}") is True
    yield name, _url_of(db_url, name, f"pw:{name}")
    _drop_role(engine, name)


def _url_of(db_url: str, name: str, password: str) -> str:
    """libpq URL of the test database for the role ``name``."""
    url = make_url(db_url).set(username=name, password=password)
    return url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")


def _drop_role(engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))


WRITES = [
    "INSERT INTO livecat.literature_object (catalog, native_id, ra, dec) VALUES ('x','y',1,2)",
    "UPDATE livecat.literature_object SET name = 'changed'",
    "DELETE FROM livecat.literature_object",
    "TRUNCATE livecat.literature_object",
    "CREATE TABLE livecat.sneaky (x int)",
    "CREATE TABLE public.sneaky (x int)",
    "CREATE SCHEMA sneaky",
    "CREATE FUNCTION livecat.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
]


READER_MAY_NOT = [
    # large objects: create, write, truncate, unlink, import
    "SELECT lo_create(0)",
    "SELECT lo_creat(-1)",
    "SELECT lo_from_bytea(0, 'data')",
    "SELECT lo_put(0, 0, 'data')",
    "SELECT lowrite(0, 'data')",
    "SELECT lo_truncate(0, 0)",
    "SELECT lo_unlink(1)",
    "SELECT lo_import('/etc/hostname')",
    # temporary tables fill disk and need TEMPORARY on the database
    "CREATE TEMPORARY TABLE filler (x int)",
    "CREATE TEMP TABLE filler AS SELECT 1 AS x",
    # its own cap on temporary files (superuser-only parameter)
    "SET temp_file_limit = -1",
    # advisory locks with the keys livecat's ingests and migrations use(d)
    "SELECT pg_advisory_lock(hashtext('livecat:ingest:csc'))",
    "SELECT pg_advisory_xact_lock(hashtext('livecat:migrate'))",
    "SELECT pg_try_advisory_lock(hashtext('livecat:ingest:csc'))",
    "SELECT pg_try_advisory_xact_lock(hashtext('livecat:ingest:csc'))",
    "SELECT pg_advisory_lock_shared(hashtext('livecat:ingest:csc'))",
    "SELECT pg_advisory_lock(1, 2)",
    # livecat's process locks: row locks need UPDATE
    "SELECT * FROM livecat.process_lock FOR UPDATE",
    "SELECT * FROM livecat.process_lock FOR KEY SHARE",
    "LOCK TABLE livecat.process_lock IN ROW SHARE MODE",
    "INSERT INTO livecat.process_lock VALUES ('ingest:csc')",
]


@pytest.mark.parametrize("statement", WRITES + READER_MAY_NOT)
def test_reader_cannot_write(reader, statement):
    _, url = reader
    with psycopg.connect(url) as conn:
        # even with the read-only session default switched off, privileges refuse
        conn.execute("SET default_transaction_read_only = off")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_reader_reads_everything(reader, engine):
    name, url = reader
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'livecat'"
        )).scalars().all()
    with psycopg.connect(url) as conn:
        for table in tables:
            conn.execute(f'SELECT * FROM livecat."{table}" LIMIT 1').fetchall()
        rows = conn.execute("SELECT * FROM cone_search('literature_object', 10, 20, 5)").fetchall()
    with engine.connect() as conn:
        owner_rows = conn.execute(sa.text(
            "SELECT * FROM livecat.cone_search('literature_object', 10, 20, 5)")).all()
    assert rows and [tuple(r) for r in rows] == [tuple(r) for r in owner_rows]
    assert {r[1:3] for r in rows} == {(10.0, 20.0)}
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW search_path").fetchone()[0].startswith("livecat")


def test_reader_sees_tables_created_later(reader, engine):
    _, url = reader
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE livecat.later_table (x int)"))
        conn.execute(sa.text("INSERT INTO livecat.later_table VALUES (1)"))
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM livecat.later_table").fetchall() == [(1,)]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE livecat.later_table"))


def test_bad_role_names_are_refused(engine):
    with pytest.raises(InputError, match="role name 'Robert; DROP'"):
        create_reader(engine, "Robert; DROP")
    with pytest.raises(InputError, match="superuser"):
        create_reader(engine, "postgres")


def _as_reader(url):
    """A reader session with the read-only default switched off, as any reader can."""
    conn = psycopg.connect(url)
    conn.execute("SET default_transaction_read_only = off")
    conn.commit()
    return conn




def test_the_owner_keeps_what_readers_lost(reader, engine):
    assert reader_gaps(engine, reader[0]) == []
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE owner_tmp (x int) ON COMMIT DROP"))
        assert conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(42)")).scalar()
        oid = conn.execute(sa.text("SELECT lo_from_bytea(0, 'x')")).scalar()
        conn.execute(sa.text("SELECT lo_unlink(:o)"), {"o": oid})


def test_reader_temp_files_are_capped(engine, db_url):
    name = f"reader_{uuid.uuid4().hex[:8]}"
    create_reader(engine, name, "pw", temp_file_limit="1MB")
    try:
        with psycopg.connect(_url_of(db_url, name, "pw")) as conn:
            assert conn.execute("SHOW temp_file_limit").fetchone()[0] == "1MB"
            conn.execute("SET work_mem = '64kB'")
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded,
                               match="temp_file_limit"):
                conn.execute("SELECT count(*) FROM (SELECT g FROM generate_series(1, 300000) g "
                             "ORDER BY g DESC) s").fetchall()
    finally:
        _drop_role(engine, name)


def test_reader_can_neither_take_nor_block_livecat_locks(reader, engine):
    _, url = reader
    with _as_reader(url) as conn:
        with pytest.raises(ConfigError, match="may not take livecat's lock 'ingest:csc'"):
            hold_lock(conn.cursor(), "ingest:csc", wait=False)
        conn.rollback()
        # what a reader can hold (ACCESS SHARE by reading the table) blocks no one
        conn.execute("SELECT * FROM livecat.process_lock").fetchall()
        with engine.begin() as owner:
            hold_lock(owner.connection.dbapi_connection.cursor(), "ingest:csc", wait=False)


def _scram_matches(stored: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (pg_authid.rolpassword) is that of ``password``
    (RFC 5802 / RFC 7677: StoredKey = H(HMAC(PBKDF2(password, salt, i), "Client Key")))."""
    method, rest = stored.split("$", 1)
    iters_salt, keys = rest.split("$")
    iterations, salt = iters_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and base64.b64encode(
        hashlib.sha256(client_key).digest()).decode() == stored_key


@pytest.mark.parametrize("password", ["x:name", "it's :p %s %(n)s \\ $$ \"'", "x :name"])
def test_create_reader_password_is_exactly_what_was_given(engine, db_url, monkeypatch,
                                                          password):
    name = f"reader_{uuid.uuid4().hex[:8]}"
    try:
        res = invoke(["db", "create-reader", name, "--password", password], monkeypatch,
                     db_url)
        assert res.exit_code == 0, res.output
        assert f"created read-only role {name}" in res.output
        assert "warning" not in res.output
        res = invoke(["db", "create-reader", name, "--password", password + "2"], monkeypatch,
                     db_url)
        assert f"updated read-only role {name}" in res.output
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :n"),
                                  {"n": name}).scalar_one()
        assert _scram_matches(stored, password + "2")
        assert not _scram_matches(stored, password)
    finally:
        _drop_role(engine, name)


def test_reader_gaps_names_what_a_plain_role_can_still_do(database_factory):
    from catalog import migrate
    from catalog.engine import create_engine

    engine = create_engine(database_factory())  # PUBLIC's defaults untouched here
    migrate.upgrade(engine)
    name = f"plain_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
    try:
        assert reader_gaps(engine, name) == [
            "create temporary tables (TEMPORARY on the database)",
            "create or change large objects (EXECUTE on lo_create, lo_from_bytea, ...)",
            "take advisory locks (EXECUTE on pg_advisory_lock, ...)",
            "write unlimited temporary files (no temp_file_limit set for the role)"]
        create_reader(engine, name, "pw")
        assert reader_gaps(engine, name) == []
    finally:
        _drop_role(engine, name)
        engine.dispose()
