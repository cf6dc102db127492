"""Curation and classification hardening (issue 11).

- ``curation_event.action`` may be ``unflag``: ``livecat curate recheck`` clears a
  re-review flag when the rows a decision was made on are back as they were (a source
  retired by mistake and re-ingested unchanged), with an event that says why.
- ``classification.xray_bands_missing``: the CSC bands (``s``, ``m``, ``h``) a label was
  made without: they were taken as non-detections, as the MUWCLASS training set takes
  them (mode 0, upper limit 1e-17 erg cm^-2 s^-1); NULL when all three were measured.

Downgrade: the column is dropped; the action check goes back to the five actions of
``0003_curation`` as ``NOT VALID``, so ``unflag`` events already written stay in the
append-only log (nothing a curator or the system recorded is lost) while new ones are
refused.

Revision ID: 0009_curation_classify_hardening
Revises: 0008_catalog_hardening
Create Date: 2026-11-26
"""
from alembic import op

revision = "0009_curation_classify_hardening"
down_revision = "0008_catalog_hardening"
branch_labels = None
depends_on = None

S = "livecat"
ACTIONS_0003 = ("confirm", "reject", "defer", "undo", "flag")
ACTIONS = (*ACTIONS_0003, "unflag")


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.curation_event DROP CONSTRAINT curation_action")
    op.execute(f"ALTER TABLE {S}.curation_event ADD CONSTRAINT curation_action "
               f"CHECK (action IN ({_in(ACTIONS)}))")
    op.execute(f"ALTER TABLE {S}.classification ADD COLUMN xray_bands_missing text")
    op.execute(f"COMMENT ON COLUMN {S}.classification.xray_bands_missing IS "
               "'CSC bands (s, m, h) without a flux, taken as non-detections (upper limit "
               "1e-17 erg/cm2/s, as the MUWCLASS training set); NULL: all three measured'")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.classification DROP COLUMN xray_bands_missing")
    op.execute(f"ALTER TABLE {S}.curation_event DROP CONSTRAINT curation_action")
    op.execute(f"ALTER TABLE {S}.curation_event ADD CONSTRAINT curation_action "
               f"CHECK (action IN ({_in(ACTIONS_0003)})) NOT VALID")
