"""Multiwavelength counterparts of X-ray sources (Gaia, 2MASS, WISE, ...) and a per-source view.

- ``mw_counterpart``: one row per (X-ray source, survey, survey source). Explicit columns,
  not JSONB: the quantities the MUWCLASS classifier uses are typed numbers that SQL can
  filter and that :mod:`curation.trainingsets` freezes as ``mw_<survey>_<column>``.
  Column names follow the MUWCLASS training set (lower case): ``gmag``/``e_gmag``,
  ``bpmag``, ``rpmag`` (Gaia, Vega mag), ``jmag``, ``hmag``, ``kmag`` (2MASS),
  ``w1mag`` ... ``w4mag`` (WISE), ``plx``/``e_plx`` (mas), ``pm`` (total proper motion,
  mas/yr), ``rgeo``, ``rgeo_lo``, ``rgeo_hi`` (Bailer-Jones geometric distance and its
  16th/84th percentiles, pc). A row fills only the columns its survey measures (a Gaia row
  has no J magnitude); every other survey column goes to ``extra``. NULL = not measured,
  never 0.
- Position: ``ra``, ``dec`` (deg, ICRS, the counterpart's own position) and ``hpx``
  (HEALPix NESTED order 29, btree, filled by the ``fill_hpx`` trigger when a writer leaves
  it out). They are NULL together only for counterparts imported from a pre-matched table
  that does not publish them (the MUWCLASS training set gives magnitudes, not positions);
  ``separation_arcsec`` is then NULL too.
- ``survey_id`` is the survey's designation (Gaia ``source_id``, 2MASS ``designation``,
  ...); NULL when the import does not publish it. Unique ``(xray_source_id, survey,
  survey_id)`` with NULLS NOT DISTINCT, so a source has at most one anonymous counterpart
  per survey. At most one ``is_best`` row per (source, survey) (partial unique index).
- ``matched_by``: who made the match (``muwclass-td``: the published MUWCLASS training
  set; a livecat cross-match later), so a re-import replaces only its own rows.
- ``mw_best``: view, one row per X-ray source with the best counterpart of every survey
  side by side, in the training-set column names (``"Gmag"``, ``"e_Gmag"``, ...,
  ``"W3mag"``, ``"Plx"``, ``"e_Plx"``, ``"PM"``, ``"rgeo"``, ``"b_rgeo"``, ``"B_rgeo"``):
  what a classifier that wants one counterpart row per source should read. When two
  surveys measure the same band (AllWISE and CatWISE2020 W1/W2) the first survey of
  :data:`SURVEY_PRIORITY` wins, magnitude and error from the same row.

Revision ID: 0005_mw_counterpart
Revises: 0004_classify
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_mw_counterpart"
down_revision = "0004_classify"
branch_labels = None
depends_on = None

S = "livecat"

#: Magnitude columns (each with an ``e_`` error column), frozen here.
MAG_COLUMNS = ("gmag", "bpmag", "rpmag", "jmag", "hmag", "kmag", "w1mag", "w2mag", "w3mag",
               "w4mag")
#: Astrometric and distance columns with their units.
ASTRO_COLUMNS = (("plx", "parallax, mas"), ("e_plx", "parallax error, mas"),
                 ("pm", "total proper motion, mas/yr"), ("e_pm", "proper motion error, mas/yr"),
                 ("rgeo", "Bailer-Jones geometric distance, pc"),
                 ("rgeo_lo", "16th percentile of rgeo (b_rgeo), pc"),
                 ("rgeo_hi", "84th percentile of rgeo (B_rgeo), pc"))
#: Survey order in ``mw_best`` when two surveys measure the same quantity.
SURVEY_PRIORITY = ("gaia_dr3", "2mass", "allwise", "catwise2020")
#: mw_best column -> mw_counterpart column (the training-set names).
BEST_COLUMNS = (("Gmag", "gmag"), ("BPmag", "bpmag"), ("RPmag", "rpmag"), ("Jmag", "jmag"),
                ("Hmag", "hmag"), ("Kmag", "kmag"), ("W1mag", "w1mag"), ("W2mag", "w2mag"),
                ("W3mag", "w3mag"), ("W4mag", "w4mag"))
BEST_ASTRO = (("Plx", "plx", "plx"), ("e_Plx", "e_plx", "plx"), ("PM", "pm", "pm"),
              ("rgeo", "rgeo", "rgeo"), ("b_rgeo", "rgeo_lo", "rgeo"),
              ("B_rgeo", "rgeo_hi", "rgeo"))


def _priority_sql() -> str:
    whens = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SURVEY_PRIORITY))
    return f"CASE m.survey {whens} ELSE {len(SURVEY_PRIORITY)} END"


def _pick(value: str, present: str) -> str:
    """First non-null ``value`` of the best rows (by survey priority) having ``present``."""
    return (f"(array_agg(m.{value} ORDER BY {_priority_sql()}, m.survey) "
            f"FILTER (WHERE m.{present} IS NOT NULL))[1]")


def _view_sql() -> str:
    cols = []
    for name, col in BEST_COLUMNS:
        cols.append(f'{_pick(col, col)} AS "{name}"')
        cols.append(f'{_pick("e_" + col, col)} AS "e_{name}"')
    for name, col, present in BEST_ASTRO:
        cols.append(f'{_pick(col, present)} AS "{name}"')
    body = ",\n       ".join(cols)
    return f"""
CREATE VIEW {S}.mw_best AS
SELECT m.xray_source_id,
       {body},
       array_agg(DISTINCT m.survey ORDER BY m.survey) AS surveys
  FROM {S}.mw_counterpart m
 WHERE m.is_best
 GROUP BY m.xray_source_id;
COMMENT ON VIEW {S}.mw_best IS
  'One row per X-ray source: the best counterpart of every survey side by side, in the MUWCLASS training-set column names.';
"""


def upgrade() -> None:
    mags = []
    for m in MAG_COLUMNS:
        mags.append(sa.Column(m, sa.Float(53), comment="magnitude (survey's own system)"))
        mags.append(sa.Column(f"e_{m}", sa.Float(53), comment=f"1-sigma error of {m}"))
    op.create_table(
        "mw_counterpart",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("xray_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("survey", sa.Text, nullable=False,
                  comment="gaia_dr3, 2mass, allwise, catwise2020, ..."),
        sa.Column("survey_id", sa.Text,
                  comment="the survey's designation; null when the import does not give it"),
        sa.Column("ra", sa.Float(53), comment="ICRS right ascension of the counterpart, deg"),
        sa.Column("dec", sa.Float(53), comment="ICRS declination of the counterpart, deg"),
        sa.Column("hpx", sa.BigInteger,
                  comment="HEALPix NESTED index at order 29 of (ra, dec)"),
        sa.Column("separation_arcsec", sa.Float(53),
                  comment="distance from the X-ray position, arcsec"),
        *mags,
        *[sa.Column(c, sa.Float(53), comment=text) for c, text in ASTRO_COLUMNS],
        sa.Column("match_prob", sa.Float(53), comment="probability this is the counterpart"),
        sa.Column("is_best", sa.Boolean, nullable=False, server_default=sa.false(),
                  comment="the chosen counterpart of this source in this survey"),
        sa.Column("matched_by", sa.Text, nullable=False,
                  comment="who made the match: muwclass-td, ..."),
        sa.Column("extra", JSONB, nullable=False, server_default="{}",
                  comment="other survey columns"),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.ingest_run.id"),
                  comment="ingest run that last wrote the row"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("(ra IS NULL) = (dec IS NULL) AND (ra IS NULL OR (dec BETWEEN -90 "
                           "AND 90 AND ra >= 0 AND ra < 360))", name="mw_position"),
        sa.CheckConstraint("ra IS NULL OR hpx IS NOT NULL", name="mw_hpx"),
        sa.CheckConstraint("match_prob IS NULL OR match_prob BETWEEN 0 AND 1",
                           name="mw_match_prob"),
        sa.CheckConstraint("separation_arcsec IS NULL OR separation_arcsec >= 0",
                           name="mw_separation"),
        sa.CheckConstraint("survey ~ '^[a-z0-9_]+$'", name="mw_survey_name"),
        schema=S,
        comment="multiwavelength counterparts of X-ray sources, one row per survey source",
    )
    op.execute(f"ALTER TABLE {S}.mw_counterpart ADD CONSTRAINT mw_counterpart_key "
               "UNIQUE NULLS NOT DISTINCT (xray_source_id, survey, survey_id)")
    op.create_index("mw_counterpart_hpx", "mw_counterpart", ["hpx"], schema=S)
    op.create_index("mw_counterpart_best", "mw_counterpart", ["xray_source_id", "survey"],
                    unique=True, schema=S, postgresql_where=sa.text("is_best"))
    op.execute(f"CREATE TRIGGER mw_counterpart_fill_hpx BEFORE INSERT OR UPDATE ON "
               f"{S}.mw_counterpart FOR EACH ROW EXECUTE FUNCTION {S}.fill_hpx()")
    op.execute(_view_sql())


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {S}.mw_best")
    op.drop_table("mw_counterpart", schema=S)
