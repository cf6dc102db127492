"""Classification: classifier runs, per-source labels and class probabilities, classification_latest.

- ``classifier_run``: one row per training -- the training-set reference it learned from
  (``NAME@N`` of ``training_set``, or ``file:NAME@sha256:<hex>`` for a CSV), estimator
  import path and parameters, the full training configuration, feature list, classes,
  code version, seed, Monte Carlo size, cross-validated metrics (filled by
  ``livecat classify evaluate``), the model artifact path under LIVECAT_HOME and its
  SHA-256, and the promotion flag/time. What a run *is* never changes: a trigger refuses
  any UPDATE other than of ``metrics``, ``promoted``, ``promoted_at`` and ``note``, and
  every DELETE of a run that has labels. At most one run is promoted (partial unique index).
- ``classification``: one row per (run, X-ray source): predicted class, its mean
  probability and spread, the confidence measure CT of Yang et al. (2022) and the
  confident flag (CT > 2), the number of Monte Carlo samples.
- ``class_probability``: one row per (run, source, class): mean, standard deviation,
  median and 2-sigma bounds (2.275 / 97.725 percentiles) of the Monte Carlo probability.
  Tall rather than wide, so a training set with other classes needs no schema change.
- Labels are immutable: row triggers refuse UPDATE and DELETE on both label tables (a
  new run writes new rows; nothing is overwritten). TRUNCATE, an administrator's
  operation, is left alone.
- ``classification_latest``: one row per source labelled by the promoted run, with the
  source's designation and position, the predicted class, its probability and spread,
  CT, the confident flag and one ``prob_<class>`` column per taxonomy class (the eight
  MUWCLASS classes, frozen here: ``prob_agn``, ``prob_cv``, ``prob_hm_star``,
  ``prob_hmxb``, ``prob_lm_star``, ``prob_lmxb``, ``prob_ns``, ``prob_yso``).

Revision ID: 0004_classify
Revises: 0003_curation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0004_classify"
down_revision = "0003_curation"
branch_labels = None
depends_on = None

S = "livecat"

#: Classes given their own column in classification_latest (the taxonomy of 0002, frozen).
VIEW_CLASSES = ("AGN", "CV", "HM-STAR", "HMXB", "LM-STAR", "LMXB", "NS", "YSO")

#: classifier_run columns that may change after the run is created.
MUTABLE_RUN_COLUMNS = ("metrics", "promoted", "promoted_at", "note")


def _column_name(cls: str) -> str:
    return "prob_" + cls.lower().replace("-", "_")


def _view_sql() -> str:
    pivots = ",\n       ".join(
        f"max(cp.mean) FILTER (WHERE cp.class = '{c}') AS {_column_name(c)}" for c in VIEW_CLASSES)
    return f"""
CREATE VIEW {S}.classification_latest AS
SELECT c.source_id, s.catalog, s.native_id, s.name, s.ra, s.dec,
       c.run_id, c.class AS predicted_class, c.prob, c.prob_std, c.ct AS confidence,
       c.confident, r.promoted_at, p.*
  FROM {S}.classifier_run r
  JOIN {S}.classification c ON c.run_id = r.id
  JOIN {S}.xray_source s ON s.id = c.source_id
  CROSS JOIN LATERAL (
     SELECT {pivots}
       FROM {S}.class_probability cp
      WHERE cp.run_id = c.run_id AND cp.source_id = c.source_id) p
 WHERE r.promoted;
COMMENT ON VIEW {S}.classification_latest IS
  'Labels of the promoted classifier run: one row per source, prob_<class> per class.';
"""


TRIGGERS_SQL = f"""
CREATE FUNCTION {S}.refuse_label_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% of %.% refused: labels of classifier run % are immutable; '
                  'train a new run instead', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, OLD.run_id
    USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE FUNCTION {S}.guard_classifier_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM {S}.classification WHERE run_id = OLD.id) THEN
      RAISE EXCEPTION 'DELETE of classifier run % refused: it has labels', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF (to_jsonb(NEW) - ARRAY[{", ".join(f"'{c}'" for c in MUTABLE_RUN_COLUMNS)}])
     IS DISTINCT FROM (to_jsonb(OLD) - ARRAY[{", ".join(f"'{c}'" for c in MUTABLE_RUN_COLUMNS)}]) THEN
    RAISE EXCEPTION 'UPDATE of classifier run % refused: only {", ".join(MUTABLE_RUN_COLUMNS)} '
                    'may change; train a new run instead', OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER classification_immutable BEFORE UPDATE OR DELETE ON {S}.classification
  FOR EACH ROW EXECUTE FUNCTION {S}.refuse_label_change();
CREATE TRIGGER class_probability_immutable BEFORE UPDATE OR DELETE ON {S}.class_probability
  FOR EACH ROW EXECUTE FUNCTION {S}.refuse_label_change();
CREATE TRIGGER classifier_run_guard BEFORE UPDATE OR DELETE ON {S}.classifier_run
  FOR EACH ROW EXECUTE FUNCTION {S}.guard_classifier_run();
"""


def _execute_raw(sql: str) -> None:
    """Run DDL holding literal % on the driver cursor (no placeholder parsing)."""
    op.get_bind().connection.dbapi_connection.cursor().execute(sql)


def upgrade() -> None:
    op.create_table(
        "classifier_run",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("training_set", sa.Text, nullable=False,
                  comment="NAME@N of training_set, or file:NAME@sha256:<hex>"),
        sa.Column("training_set_sha256", sa.Text, comment="content hash of the training data"),
        sa.Column("training_set_location", sa.Text,
                  comment="where the data was read from (absolute path of a file: reference)"),
        sa.Column("n_train", sa.Integer, nullable=False),
        sa.Column("class_counts", JSONB, nullable=False, comment="training sources per class"),
        sa.Column("estimator", sa.Text, nullable=False, comment="import path of the classifier"),
        sa.Column("params", JSONB, nullable=False, comment="estimator parameters"),
        sa.Column("config", JSONB, nullable=False,
                  comment="training configuration: SMOTE, feature options, MC error model"),
        sa.Column("features", ARRAY(sa.Text), nullable=False, comment="ordered feature names"),
        sa.Column("classes", ARRAY(sa.Text), nullable=False,
                  comment="class order of the model's probabilities"),
        sa.Column("code_version", sa.Text, nullable=False,
                  comment="livecat version, + git commit when known"),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("mc_samples", sa.Integer, nullable=False,
                  comment="Monte Carlo samples per source when classifying"),
        sa.Column("metrics", JSONB, comment="cross-validated metrics (classify evaluate)"),
        sa.Column("artifact_path", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.Text, nullable=False),
        sa.Column("train_seconds", sa.Float(53)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("created_by", sa.Text),
        sa.Column("promoted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        sa.CheckConstraint("mc_samples > 0", name="run_mc_positive"),
        schema=S,
        comment="One row per classifier training; what a run is never changes.",
    )
    op.create_index("classifier_run_one_promoted", "classifier_run", ["promoted"], unique=True,
                    schema=S, postgresql_where=sa.text("promoted"))
    op.create_table(
        "classification",
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.classifier_run.id"),
                  nullable=False),
        sa.Column("source_id", sa.BigInteger, sa.ForeignKey(f"{S}.xray_source.id"),
                  nullable=False),
        sa.Column("class", sa.Text, nullable=False, comment="predicted class (largest mean)"),
        sa.Column("prob", sa.Float(53), nullable=False, comment="its mean MC probability"),
        sa.Column("prob_std", sa.Float(53), nullable=False, comment="its MC standard deviation"),
        sa.Column("ct", sa.Float(53), nullable=False,
                  comment="confidence min_j (P_top-P_j)/(sd_top+sd_j); Infinity for one class"),
        sa.Column("confident", sa.Boolean, nullable=False, comment="ct > 2"),
        sa.Column("mc_samples", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("run_id", "source_id"),
        schema=S,
        comment="Per run and X-ray source: predicted class and confidence (immutable).",
    )
    op.create_index("classification_source", "classification", ["source_id"], schema=S)
    op.create_table(
        "class_probability",
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=False),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("mean", sa.Float(53), nullable=False),
        sa.Column("std", sa.Float(53), nullable=False),
        sa.Column("median", sa.Float(53), nullable=False),
        sa.Column("lo2sigma", sa.Float(53), nullable=False, comment="2.275th percentile"),
        sa.Column("hi2sigma", sa.Float(53), nullable=False, comment="97.725th percentile"),
        sa.PrimaryKeyConstraint("run_id", "source_id", "class"),
        sa.ForeignKeyConstraint(["run_id", "source_id"],
                                [f"{S}.classification.run_id", f"{S}.classification.source_id"]),
        schema=S,
        comment="Per run, source and class: Monte Carlo probability summary (immutable).",
    )
    _execute_raw(TRIGGERS_SQL)
    op.execute(_view_sql())


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {S}.classification_latest")
    op.drop_table("class_probability", schema=S)
    op.drop_table("classification", schema=S)
    op.drop_table("classifier_run", schema=S)
    op.execute(f"DROP FUNCTION IF EXISTS {S}.refuse_label_change()")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.guard_classifier_run()")
