"""Process locks (catalog.locks): exclusive per name, refused or waited for, held until the
holder's transaction ends; the migration lock is one of them."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from catalog import migrate
from catalog.errors import ConflictError
from catalog.locks import hold_lock, probe_lock


def _cursor(conn):
    return conn.connection.dbapi_connection.cursor()


def test_a_held_lock_is_refused_and_freed_at_commit(engine):
    assert not probe_lock(engine, "ingest:test")
    with engine.begin() as a:
        hold_lock(_cursor(a), "ingest:test", wait=False)
        assert probe_lock(engine, "ingest:test")
        with engine.begin() as b:
            with pytest.raises(ConflictError, match="lock 'ingest:test' is held by another"):
                hold_lock(_cursor(b), "ingest:test", wait=False)
            with pytest.raises(ConflictError, match="^another ingest of test is running$"):
                hold_lock(_cursor(b), "ingest:test", wait=False,
                          busy_message="another ingest of test is running")
            # the refusal leaves b's transaction usable, with its own lock_timeout
            assert b.execute(sa.text("SELECT 1")).scalar() == 1
            assert b.execute(sa.text("SHOW lock_timeout")).scalar() == "0"
            hold_lock(_cursor(b), "ingest:other", wait=False)  # other names are free
            assert b.execute(sa.text("SHOW lock_timeout")).scalar() == "0"
    assert not probe_lock(engine, "ingest:test")
    with engine.begin() as b:
        hold_lock(_cursor(b), "ingest:test", wait=False)


def test_a_name_being_taken_for_the_first_time_is_refused_without_waiting(engine):
    with engine.begin() as a:
        hold_lock(_cursor(a), "brand-new", wait=False)  # inserted, not yet committed
        with engine.begin() as b, pytest.raises(ConflictError, match="'brand-new'"):
            hold_lock(_cursor(b), "brand-new", wait=False)


def test_waiting_takes_the_lock_when_the_holder_ends(engine):
    taken = threading.Event()

    def waiter():
        with engine.begin() as b:
            hold_lock(_cursor(b), "ingest:wait", wait=True)
            taken.set()

    with engine.begin() as a:
        hold_lock(_cursor(a), "ingest:wait", wait=True)
        thread = threading.Thread(target=waiter)
        thread.start()
        assert not taken.wait(0.5)  # blocked while a holds it
    assert taken.wait(30)
    thread.join(30)


def test_rollback_releases_the_lock(engine):
    with engine.connect() as a:
        a.begin()
        hold_lock(_cursor(a), "rollback", wait=False)
        assert probe_lock(engine, "rollback")
        a.rollback()
    assert not probe_lock(engine, "rollback")


def test_migrations_take_the_process_lock_not_an_advisory_lock(engine):
    """A session holding the old advisory key does not stop a migration; the process lock
    'migrate' does, until its holder ends."""
    import psycopg

    with psycopg.connect(engine.url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg", "postgresql"), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('livecat:migrate'))")
        done = threading.Event()
        thread = threading.Thread(target=lambda: (migrate.upgrade(engine), done.set()))
        thread.start()
        finished = done.wait(30)
        other.execute("SELECT pg_advisory_unlock_all()")
        thread.join(30)
        assert finished, "the migration waited for an advisory lock any role can take"

    done = threading.Event()
    with engine.begin() as holder:
        hold_lock(_cursor(holder), "migrate", wait=False)
        thread = threading.Thread(target=lambda: (migrate.upgrade(engine), done.set()))
        thread.start()
        time.sleep(0.5)
        assert not done.is_set()
    assert done.wait(30)
    thread.join(30)
