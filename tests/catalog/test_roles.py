"""The read-only role made by `livecat db create-reader`."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from catalog.roles import create_reader
from catalog.errors import InputError


@pytest.fixture
def reader(engine, db_url):
    name = f"reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO livecat.literature_object (catalog, native_id, ra, "
                             "dec) VALUES ('t', :n, 10, 20)"), {"n": name})
    assert create_reader(engine, name) is True
    url = make_url(db_url).set(username=name, password=None)
    libpq = url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    yield name, libpq
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
        conn.execute(sa.text(f'DROP ROLE "{name}"'))


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


@pytest.mark.parametrize("statement", WRITES)
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
