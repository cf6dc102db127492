"""A marker that keeps livecat's cone statements serial.

``livecat.no_parallel()`` is an IMMUTABLE function marked PARALLEL UNSAFE that returns
true. :func:`catalog.sky.cone_search_sql` adds ``AND livecat.no_parallel()`` to its
statements. PostgreSQL decides whether a query may run in parallel from the functions it
names before it folds constants, so the marker costs nothing at run time (the planner
folds it away) but rules out a parallel plan.

Why: cone statements are prepared once and run with a generic plan, which estimates every
``hpx BETWEEN $lo AND $hi`` at a default 0.5% of the table. On a table of a few million
rows two such ranges already look big enough for a Gather over a parallel bitmap scan,
whose worker start-up costs milliseconds for a cone that returns one row. (PostgreSQL
documentation, "When Can Parallel Query Be Used?": a query that uses a function marked
PARALLEL UNSAFE never gets a parallel plan.)

Revision ID: 0006_cone_statements
Revises: 0005_mw_counterpart
Create Date: 2026-11-25
"""
from alembic import op

S = "livecat"

revision = "0006_cone_statements"
down_revision = "0005_mw_counterpart"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"""
CREATE FUNCTION {S}.no_parallel() RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL UNSAFE AS 'SELECT true';
COMMENT ON FUNCTION {S}.no_parallel() IS
  'Always true. Naming it in a query rules out a parallel plan (PARALLEL UNSAFE); the planner '
  'folds it away. Used by livecat''s prepared cone statements.';
""")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {S}.no_parallel()")
