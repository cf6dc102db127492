"""After a load has committed: ``VACUUM (ANALYZE)`` the tables a load writes.

A re-ingest of a catalog rewrites every row it holds: changed rows in place, unchanged
ones with the new ``last_release_id`` (:func:`ingest.upsert.upsert_compared`), 900,000
row versions for a release of eRASS1. Until a vacuum, each of those rows' pages is not
marked all-visible, so every index-only scan that reaches them (the sky reads of
``livecat objects build`` on the covering ``hpx`` index, migration 0013) goes back to the
table, and the planner's statistics describe the table before the load. Autovacuum gets
there, but at a time of its own, possibly during the nightly object build that follows the
ingest; the load does it at once instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.settings import SCHEMA

#: The tables a load writes (:mod:`ingest.upsert`).
LOADED_TABLES = ("xray_source", "xray_source_flux", "literature_object")


def vacuum_loaded(engine: Engine, tables=LOADED_TABLES) -> None:
    """``VACUUM (ANALYZE)`` these tables, outside any transaction (``VACUUM`` cannot run
    in one). A role that does not own a table gets a warning from the server for it,
    not an error: the load has committed either way."""
    names = ", ".join(f"{SCHEMA}.{t}" for t in tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM (ANALYZE) {names}"))
