"""Alembic environment for livecat.

Run through :mod:`catalog.migrate` (``livecat db upgrade``), which passes an open
connection in ``config.attributes["connection"]``. Every object lives in the ``livecat``
schema, including alembic's own version table.
"""

from alembic import context
import sqlalchemy as sa

from catalog.settings import SCHEMA

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - livecat always passes a connection
    raise RuntimeError("run migrations with `livecat db upgrade`")

connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
connection.execute(sa.text(f"SET search_path TO {SCHEMA}, public"))
context.configure(connection=connection, version_table_schema=SCHEMA,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
