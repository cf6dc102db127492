"""``xray_source``'s ``hpx`` index carries the position columns (a covering index).

The btree on ``hpx`` (0001) becomes ``(hpx) INCLUDE (id, catalog, is_current, ra, dec,
pos_err_arcsec)``: a read of the sources in a set of sky pixels that wants only their
positions and errors (the neighbourhood of an incremental object build:
:func:`associate.object_store.sources_in_pixels`; the sources of a full build) is then an
index-only scan, and does not visit the table. Why: an ``xray_source`` row is about
1.4 kB (flags and ``extra`` JSON of the real catalogs), so five rows fill a page and every
source read in a range scan is one page of the table, in sky order rather than the
table's. The neighbourhood of 9,000 changed eRASS1 sources at the catalogs' real sizes is
78,000 sources: 78,000 table pages (shared buffers hold 16,000), against about 600 pages
of this index (60 bytes a source). Range scans on ``hpx`` (cone searches, cross-matches)
use the same index as before.

Revision ID: 0013_source_position_index
Revises: 0012_object_build_storage
Create Date: 2026-12-06
"""
from alembic import op

S = "livecat"

revision = "0013_source_position_index"
down_revision = "0012_object_build_storage"
branch_labels = None
depends_on = None

#: The columns the covering index carries besides its key ``hpx``.
COVERED = "id, catalog, is_current, ra, dec, pos_err_arcsec"


def upgrade() -> None:
    op.execute(f"DROP INDEX {S}.xray_source_hpx")
    op.execute(f"CREATE INDEX xray_source_hpx ON {S}.xray_source (hpx) INCLUDE ({COVERED})")


def downgrade() -> None:
    op.execute(f"DROP INDEX {S}.xray_source_hpx")
    op.execute(f"CREATE INDEX xray_source_hpx ON {S}.xray_source (hpx)")
