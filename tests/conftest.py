"""Shared pytest fixtures: a real PostgreSQL per test module, migrated by alembic.

The server is the one named by ``LIVECAT_TEST_DATABASE_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``); without it, an embedded server (pgserver)
started in a temporary LIVECAT_HOME. Each module gets its own freshly created database,
dropped afterwards, so modules never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
import warnings

import psycopg
import pytest
import sqlalchemy as sa

from catalog import migrate
from catalog.engine import create_engine
from catalog.settings import normalize_url

from helpers import SAMPLES, sample_path  # noqa: F401  (re-exported for older imports)


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory) -> str:
    """libpq URL of a maintenance database on the test server."""
    url = os.environ.get("LIVECAT_TEST_DATABASE_URL")
    if url:
        yield normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
        return
    from catalog.embedded import embedded_url, stop_embedded

    home = tmp_path_factory.mktemp("livecat-home")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedded = embedded_url(home)
    yield embedded.replace("postgresql+psycopg://", "postgresql://", 1).replace(
        "/livecat?", "/postgres?")
    stop_embedded(home)


def _with_database(admin: str, dbname: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(normalize_url(admin)).set(database=dbname).render_as_string(
        hide_password=False)


@pytest.fixture(scope="session")
def database_factory(admin_url):
    """Create empty databases on the test server; drop them at the end of the session."""
    created: list[str] = []

    def make() -> str:
        name = f"livecat_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(admin_url, name)

    yield make
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def db_url(database_factory) -> str:
    """URL of a fresh database migrated to head (one per test module)."""
    url = database_factory()
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def engine(db_url):
    """Engine on the module's migrated database."""
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


REFERENCE_TABLES = ("alembic_version", "livecat_class", "livecat_subclass")
"""Tables that hold what migrations put there (the taxonomy), not data: never emptied."""


@pytest.fixture
def clean_tables(engine):
    """Empty every livecat data table before the test (the schema and taxonomy stay)."""
    with engine.begin() as conn:
        tables = conn.execute(sa.text(
            "SELECT string_agg(format('livecat.%I', table_name), ', ') "
            "FROM information_schema.tables WHERE table_schema = 'livecat' "
            "AND table_type = 'BASE TABLE' AND NOT (table_name = ANY(:keep))"),
            {"keep": list(REFERENCE_TABLES)}).scalar()
        if tables:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine
