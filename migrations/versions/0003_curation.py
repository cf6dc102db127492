"""Curation: counterpart candidates, the append-only curation log, frozen training sets.

- ``candidate_run``: one row per ``livecat curate candidates`` (parameters and counts).
- ``counterpart_candidate``: a (literature object, X-ray source) pair within N combined
  sigma, keyed by the livecat ids (unique) and recording the stable catalog identifiers
  (literature catalog + native id, X-ray catalog + native id) as they were when the pair
  was found; separation, combined sigma, normalized separation, likelihood ratio, match
  probability, ambiguity flags and the positions/classes it was computed from.
- ``curation_event``: the append-only decision log. One row per action (confirm, reject,
  defer, undo, flag) with curator, time, note, the state before and after, and a
  snapshot of the positions and classes the curator saw. ``(candidate_id, seq)`` is
  unique: two curators deciding the same candidate from the same state cannot both
  write ``seq + 1`` (optimistic concurrency). A trigger refuses UPDATE and DELETE.
- ``curation_state``: view, the latest event per candidate (``pending`` without one).
- ``training_set`` / ``training_member``: a frozen version ``name@version`` and its
  members with their features as of creation. Triggers refuse UPDATE and DELETE, and
  refuse members added to a training set outside the transaction that created it.

``TRUNCATE`` is left to the database owner (tests wipe data with it); the read-only role
of ``livecat db create-reader`` gets SELECT on these tables by default privileges.

Revision ID: 0003_curation
Revises: 0002_history_taxonomy
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003_curation"
down_revision = "0002_history_taxonomy"
branch_labels = None
depends_on = None

S = "livecat"

ACTIONS = ("confirm", "reject", "defer", "undo", "flag")
STATUSES = ("pending", "confirmed", "rejected", "deferred")

TRIGGERS_SQL = f"""
CREATE FUNCTION {S}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused (%)', TG_TABLE_NAME, TG_OP, TG_ARGV[0]
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER curation_event_append_only BEFORE UPDATE OR DELETE ON {S}.curation_event
  FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change(
    'decisions are corrected by a new event, e.g. livecat curate undo');
CREATE TRIGGER training_set_immutable BEFORE UPDATE OR DELETE ON {S}.training_set
  FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change(
    'a training set version is immutable: create a new version');
CREATE TRIGGER training_member_immutable BEFORE UPDATE OR DELETE ON {S}.training_member
  FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change(
    'a training set version is immutable: create a new version');

CREATE FUNCTION {S}.training_member_same_transaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {S}.training_set t WHERE t.id = NEW.training_set_id
                  AND t.xmin::text::bigint = txid_current() % 4294967296) THEN
    RAISE EXCEPTION 'training set % is frozen: members can only be added by the '
                    'transaction that created it', NEW.training_set_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER training_member_frozen BEFORE INSERT ON {S}.training_member
  FOR EACH ROW EXECUTE FUNCTION {S}.training_member_same_transaction();
"""

STATE_VIEW_SQL = f"""
CREATE VIEW {S}.curation_state AS
SELECT c.id AS candidate_id,
       coalesce(e.status, 'pending') AS status,
       coalesce(e.flagged, false) AS flagged,
       e.flag_reason,
       e.class_override,
       e.subclass_override,
       coalesce(e.seq, 0) AS seq,
       e.id AS last_event_id,
       e.action AS last_action,
       e.curator AS last_curator,
       e.created_at AS decided_at,
       e.note AS last_note
  FROM {S}.counterpart_candidate c
  LEFT JOIN LATERAL (SELECT * FROM {S}.curation_event x WHERE x.candidate_id = c.id
                      ORDER BY x.seq DESC LIMIT 1) e ON true;
COMMENT ON VIEW {S}.curation_state IS
  'Current state of every counterpart candidate: its latest curation_event (pending without one).';
"""


def _execute_raw(sql: str) -> None:
    """Run DDL on the driver cursor, with no parameters (it holds literal %)."""
    op.get_bind().connection.dbapi_connection.cursor().execute(sql)


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "candidate_run",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("invoked_by", sa.Text),
        sa.Column("literature_catalog", sa.Text, comment="null: every literature catalog"),
        sa.Column("xray_catalog", sa.Text, comment="null: every X-ray catalog"),
        sa.Column("params", JSONB, nullable=False, server_default="{}",
                  comment="n_sigma, floor_arcsec, max_radius_arcsec, prior, model"),
        sa.Column("n_pairs", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_new", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_refreshed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_decided_kept", sa.BigInteger, nullable=False, server_default="0"),
        schema=S,
        comment="one row per candidate generation (livecat curate candidates)",
    )
    op.create_table(
        "counterpart_candidate",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("literature_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.literature_object.id"), nullable=False),
        sa.Column("xray_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id"), nullable=False),
        sa.Column("literature_catalog", sa.Text, nullable=False),
        sa.Column("literature_native_id", sa.Text, nullable=False),
        sa.Column("xray_catalog", sa.Text, nullable=False),
        sa.Column("xray_native_id", sa.Text, nullable=False),
        sa.Column("separation_arcsec", sa.Float(53), nullable=False),
        sa.Column("sigma_arcsec", sa.Float(53), nullable=False,
                  comment="combined 1-sigma: sqrt(lit^2 + xray^2 + floor^2)"),
        sa.Column("norm_sep", sa.Float(53), nullable=False,
                  comment="separation / sigma_arcsec"),
        sa.Column("likelihood_ratio", sa.Float(53),
                  comment="Rayleigh density / background density (curation.candidates)"),
        sa.Column("bg_density_arcmin2", sa.Float(53),
                  comment="local density of the X-ray catalog, sources per arcmin^2"),
        sa.Column("match_prob", sa.Float(53), nullable=False),
        sa.Column("n_xray_candidates", sa.Integer, nullable=False, server_default="1",
                  comment="X-ray candidates of this literature object"),
        sa.Column("n_literature_candidates", sa.Integer, nullable=False, server_default="1",
                  comment="literature objects claiming this X-ray source"),
        sa.Column("ambiguous_multi_xray", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ambiguous_multi_literature", sa.Boolean, nullable=False,
                  server_default=sa.false()),
        sa.Column("snapshot", JSONB, nullable=False, server_default="{}",
                  comment="positions, errors and classes the numbers were computed from"),
        sa.Column("created_run_id", sa.BigInteger, sa.ForeignKey(f"{S}.candidate_run.id"),
                  nullable=False),
        sa.Column("refreshed_run_id", sa.BigInteger, sa.ForeignKey(f"{S}.candidate_run.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("literature_id", "xray_source_id"),
        schema=S,
        comment="literature object / X-ray source pairs within N combined sigma",
    )
    op.create_index("counterpart_candidate_xray", "counterpart_candidate",
                    ["xray_source_id"], schema=S)
    op.create_index("counterpart_candidate_lit_key", "counterpart_candidate",
                    ["literature_catalog", "literature_native_id"], schema=S)
    op.create_index("counterpart_candidate_xray_key", "counterpart_candidate",
                    ["xray_catalog", "xray_native_id"], schema=S)

    op.create_table(
        "curation_event",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("candidate_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.counterpart_candidate.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False,
                  comment="1, 2, ... per candidate: the state a decision was made from + 1"),
        sa.Column("curator", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("clock_timestamp()")),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("class_override", sa.Text, sa.ForeignKey(f"{S}.livecat_class.name")),
        sa.Column("subclass_override", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("previous_status", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, comment="state after this event"),
        sa.Column("flagged", sa.Boolean, nullable=False, server_default=sa.false(),
                  comment="needs re-review after this event"),
        sa.Column("flag_reason", sa.Text),
        sa.Column("undoes_event_id", sa.BigInteger, sa.ForeignKey(f"{S}.curation_event.id")),
        sa.Column("snapshot", JSONB, nullable=False, server_default="{}",
                  comment="positions, errors and classes as the curator saw them"),
        sa.Column("source", sa.Text, comment="cli, review, apply:FILE, flag_changed_decisions"),
        sa.UniqueConstraint("candidate_id", "seq", name="curation_event_candidate_seq"),
        sa.CheckConstraint(f"action IN ({_in(ACTIONS)})", name="curation_action"),
        sa.CheckConstraint(f"status IN ({_in(STATUSES)}) AND previous_status IN "
                           f"({_in(STATUSES)})", name="curation_status"),
        sa.CheckConstraint("seq >= 1", name="curation_seq"),
        schema=S,
        comment="append-only audit log of curation decisions",
    )
    op.create_foreign_key("curation_event_subclass_fk", "curation_event", "livecat_subclass",
                          ["class_override", "subclass_override"], ["class_name", "name"],
                          source_schema=S, referent_schema=S)
    op.create_index("curation_event_curator", "curation_event", ["curator"], schema=S)

    op.create_table(
        "training_set",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("curator", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("classes", ARRAY(sa.Text), comment="class filter (null: every class)"),
        sa.Column("min_level", sa.Float(53), comment="minimum literature confidence"),
        sa.Column("n_members", sa.Integer, nullable=False),
        sa.Column("class_counts", JSONB, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False,
                  comment="SHA-256 of the canonical member list (curation.trainingsets)"),
        sa.Column("provenance", JSONB, nullable=False, server_default="{}",
                  comment="catalog releases, curation event ids, exclusions"),
        sa.UniqueConstraint("name", "version"),
        sa.CheckConstraint("version >= 1", name="training_set_version"),
        schema=S,
        comment="frozen, versioned training sets (immutable)",
    )
    op.create_table(
        "training_member",
        sa.Column("training_set_id", sa.BigInteger, sa.ForeignKey(f"{S}.training_set.id"),
                  nullable=False),
        sa.Column("xray_source_id", sa.BigInteger, sa.ForeignKey(f"{S}.xray_source.id"),
                  nullable=False),
        sa.Column("xray_catalog", sa.Text, nullable=False),
        sa.Column("xray_native_id", sa.Text, nullable=False),
        sa.Column("literature_id", sa.BigInteger, sa.ForeignKey(f"{S}.literature_object.id"),
                  nullable=False),
        sa.Column("literature_catalog", sa.Text, nullable=False),
        sa.Column("literature_native_id", sa.Text, nullable=False),
        sa.Column("candidate_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.counterpart_candidate.id"), nullable=False),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey(f"{S}.curation_event.id"),
                  nullable=False, comment="the confirming curation event"),
        sa.Column("livecat_class", sa.Text, nullable=False),
        sa.Column("subclass", sa.Text),
        sa.Column("features", JSONB, nullable=False,
                  comment="the X-ray source and its fluxes as of creation"),
        sa.PrimaryKeyConstraint("training_set_id", "xray_source_id"),
        schema=S,
        comment="members of a training set version (immutable)",
    )
    _execute_raw(TRIGGERS_SQL)
    _execute_raw(STATE_VIEW_SQL)


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {S}.curation_state")
    op.drop_table("training_member", schema=S)
    op.drop_table("training_set", schema=S)
    op.drop_table("curation_event", schema=S)
    op.drop_table("counterpart_candidate", schema=S)
    op.drop_table("candidate_run", schema=S)
    op.execute(f"DROP FUNCTION IF EXISTS {S}.training_member_same_transaction()")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.refuse_change()")
