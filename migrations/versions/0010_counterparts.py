"""Multiwavelength counterparts for every X-ray source: survey sources, coverage, association runs.

- ``mw_source``: survey sources (Gaia DR3, its Bailer-Jones distances, 2MASS, AllWISE,
  CatWISE2020) as living catalogs with releases, loaded by the shared loader like the X-ray
  catalogs (``catalog`` = the survey key of :mod:`catalog.surveys`, ``native_id`` = the
  survey's identifier): position at ``epoch`` with its 1-sigma error ellipse, proper
  motion, parallax, magnitudes with errors, distances, the rest in ``extra``.
- ``mw_coverage``: which X-ray sources were searched in which survey release, within which
  radius, when and by which run (``kind`` ``source``: around the source; ``calibration``:
  around its shifted position, for the p_any calibration). An X-ray source without a
  coverage row in a survey has unknown counterparts there, not absent ones.
- ``mw_association_run`` and ``mw_association``: one Bayesian cross-identification run
  (NWAY-style, :mod:`associate.bayes`) with its method parameters and calibrated p_any
  cut-offs, and per (X-ray source, survey source) the separation, ``p_any`` (the source
  has a counterpart in some survey), ``p_i`` (this survey source is its counterpart in
  that survey, given that it has one) and ``p_match`` (the same, unconditionally), and
  ``best``. Every run is kept, like classifier runs.
- ``mw_counterpart.association_run_id``: the best counterparts of the newest run are also
  written to ``mw_counterpart`` (``matched_by = 'nway'``), which the classifier, the
  training sets and the curators already read (``mw_best``).
- The MUWCLASS training set's X-ray sources become catalog ``muwclass-csc`` (they were
  rows of ``csc``, overwriting real CSC rows): rows whose last release is a
  ``muwclass-td`` release, those releases, their runs and the curation candidates naming
  them move to the new key. Downgrade moves them back.

Revision ID: 0010_counterparts
Revises: 0009_curation_classify_hardening
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_counterparts"
down_revision = "0009_curation_classify_hardening"
branch_labels = None
depends_on = None

S = "livecat"
#: Magnitude columns of survey sources (each with an ``e_`` error), frozen here.
MAGS = ("gmag", "bpmag", "rpmag", "jmag", "hmag", "kmag", "w1mag", "w2mag", "w3mag", "w4mag")
NUMBERS = (
    ("err_maj_arcsec", "1-sigma position error ellipse, semi-major axis, arcsec"),
    ("err_min_arcsec", "1-sigma position error ellipse, semi-minor axis, arcsec"),
    ("err_pa_deg", "position angle of the error ellipse, deg east of north"),
    ("epoch", "epoch of the position, decimal year"),
    ("pmra", "proper motion in RA (times cos dec), mas/yr"),
    ("pmdec", "proper motion in Dec, mas/yr"),
    ("e_pmra", "error of pmra, mas/yr"), ("e_pmdec", "error of pmdec, mas/yr"),
    ("plx", "parallax, mas"), ("e_plx", "parallax error, mas"),
    *[c for m in MAGS for c in ((m, "magnitude (the survey's system)"),
                                (f"e_{m}", f"1-sigma error of {m}"))],
    ("rgeo", "Bailer-Jones geometric distance, pc"),
    ("rgeo_lo", "16th percentile of rgeo, pc"), ("rgeo_hi", "84th percentile of rgeo, pc"),
)
MUWCLASS_XRAY = "muwclass-csc"


def upgrade() -> None:
    op.create_table(
        "mw_source",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("catalog", sa.Text, nullable=False, comment="survey key: gaia_dr3, 2mass, ..."),
        sa.Column("native_id", sa.Text, nullable=False, comment="the survey's identifier"),
        sa.Column("name", sa.Text),
        sa.Column("ra", sa.Float(53), nullable=False, comment="ICRS right ascension at epoch, deg"),
        sa.Column("dec", sa.Float(53), nullable=False, comment="ICRS declination at epoch, deg"),
        sa.Column("hpx", sa.BigInteger, nullable=False,
                  comment="HEALPix NESTED index at order 29 of (ra, dec)"),
        *[sa.Column(c, sa.Float(53), comment=text) for c, text in NUMBERS],
        sa.Column("extra", JSONB, nullable=False, server_default="{}"),
        sa.Column("row_hash", sa.Text),
        sa.Column("first_release_id", sa.BigInteger, sa.ForeignKey(f"{S}.catalog_release.id")),
        sa.Column("last_release_id", sa.BigInteger, sa.ForeignKey(f"{S}.catalog_release.id")),
        sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("catalog", "native_id"),
        sa.CheckConstraint("dec BETWEEN -90 AND 90 AND ra >= 0 AND ra < 360",
                           name="mw_source_position"),
        sa.CheckConstraint("err_maj_arcsec IS NULL OR err_maj_arcsec >= 0",
                           name="mw_source_error"),
        schema=S, comment="survey sources fetched around X-ray sources (Gaia, 2MASS, WISE)")
    op.create_index("mw_source_hpx", "mw_source", ["hpx"], schema=S)
    op.execute(f"CREATE TRIGGER mw_source_fill_hpx BEFORE INSERT OR UPDATE ON {S}.mw_source "
               f"FOR EACH ROW EXECUTE FUNCTION {S}.fill_hpx()")

    op.create_table(
        "mw_coverage",
        sa.Column("xray_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("survey", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="source",
                  comment="source: around the X-ray position; calibration: around its shift"),
        sa.Column("ra", sa.Float(53), nullable=False, comment="centre searched, deg"),
        sa.Column("dec", sa.Float(53), nullable=False),
        sa.Column("radius_arcsec", sa.Float(53), nullable=False),
        sa.Column("release_id", sa.BigInteger, sa.ForeignKey(f"{S}.catalog_release.id"),
                  nullable=False, comment="the survey release searched"),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.ingest_run.id")),
        sa.Column("searched_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("xray_source_id", "survey", "kind"),
        sa.CheckConstraint("kind IN ('source', 'calibration')", name="mw_coverage_kind"),
        sa.CheckConstraint("radius_arcsec > 0", name="mw_coverage_radius"),
        schema=S, comment="which X-ray sources were searched in which survey release")
    op.create_index("mw_coverage_survey", "mw_coverage", ["survey", "kind"], schema=S)

    op.create_table(
        "mw_association_run",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("invoked_by", sa.Text), sa.Column("command", sa.Text),
        sa.Column("xray_catalogs", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("surveys", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("region", JSONB),
        sa.Column("params", JSONB, nullable=False,
                  comment="method, search rule, systematic floors, completeness, densities"),
        sa.Column("p_any_cutoff", JSONB, nullable=False, server_default="{}",
                  comment="X-ray catalog -> calibrated p_any cut-off (and how it was found)"),
        sa.Column("n_sources", sa.Integer), sa.Column("n_pairs", sa.Integer),
        sa.Column("n_best", sa.Integer),
        sa.Column("code_version", sa.Text),
        sa.Column("seconds", sa.Float(53)),
        schema=S, comment="one Bayesian cross-identification run")
    op.create_table(
        "mw_association",
        sa.Column("run_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.mw_association_run.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("xray_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("survey", sa.Text, nullable=False),
        sa.Column("mw_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.mw_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("separation_arcsec", sa.Float(53), nullable=False,
                  comment="at the X-ray epoch (proper motion applied)"),
        sa.Column("sep_sigma", sa.Float(53), comment="separation / combined 1-sigma error"),
        sa.Column("p_any", sa.Float(53), nullable=False),
        sa.Column("p_i", sa.Float(53), nullable=False,
                  comment="probability that this is the counterpart, given one exists"),
        sa.Column("p_match", sa.Float(53), nullable=False,
                  comment="probability that this is the counterpart"),
        sa.Column("best", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "xray_source_id", "survey", "mw_source_id"),
        sa.CheckConstraint("p_any BETWEEN 0 AND 1 AND p_i BETWEEN 0 AND 1 "
                           "AND p_match BETWEEN 0 AND 1", name="mw_association_probability"),
        schema=S, comment="candidate counterparts of X-ray sources with their probabilities")
    op.create_index("mw_association_source", "mw_association", ["xray_source_id", "run_id"],
                    schema=S)
    op.add_column("mw_counterpart", sa.Column(
        "association_run_id", sa.BigInteger,
        sa.ForeignKey(f"{S}.mw_association_run.id", ondelete="SET NULL"),
        comment="the association run that chose it (matched_by nway)"), schema=S)
    op.add_column("mw_counterpart", sa.Column(
        "mw_source_id", sa.BigInteger, sa.ForeignKey(f"{S}.mw_source.id", ondelete="SET NULL"),
        comment="the survey source (matched_by nway)"), schema=S)
    _move_muwclass_sources("csc", MUWCLASS_XRAY, strip_prefix=True)


def _move_muwclass_sources(old: str, new: str, strip_prefix: bool) -> None:
    """Re-key the training set's X-ray sources, their releases, runs and candidates."""
    if strip_prefix:
        releases = (f"SELECT id FROM {S}.catalog_release WHERE catalog = '{old}' "
                    "AND version LIKE 'muwclass-td %'")
        new_version = "substr(version, length('muwclass-td ') + 1)"
    else:
        releases = f"SELECT id FROM {S}.catalog_release WHERE catalog = '{old}'"
        new_version = "'muwclass-td ' || version"
    op.execute(f"CREATE TEMP TABLE moved_release ON COMMIT DROP AS {releases}")
    op.execute(f"UPDATE {S}.xray_source SET catalog = '{new}' WHERE catalog = '{old}' "
               "AND last_release_id IN (SELECT id FROM moved_release)")
    op.execute(f"UPDATE {S}.catalog_release SET catalog = '{new}', version = {new_version} "
               "WHERE id IN (SELECT id FROM moved_release)")
    op.execute(f"UPDATE {S}.ingest_run SET catalog = '{new}' WHERE catalog = '{old}' "
               "AND release_id IN (SELECT id FROM moved_release)")
    op.execute(f"UPDATE {S}.counterpart_candidate c SET xray_catalog = '{new}' "
               f"FROM {S}.xray_source x WHERE x.id = c.xray_source_id AND x.catalog = '{new}' "
               f"AND c.xray_catalog = '{old}'")
    op.execute("DROP TABLE moved_release")


def downgrade() -> None:
    _move_muwclass_sources(MUWCLASS_XRAY, "csc", strip_prefix=False)
    op.execute(f"DELETE FROM {S}.mw_counterpart WHERE matched_by = 'nway'")
    op.drop_column("mw_counterpart", "mw_source_id", schema=S)
    op.drop_column("mw_counterpart", "association_run_id", schema=S)
    op.drop_table("mw_association", schema=S)
    op.drop_table("mw_association_run", schema=S)
    op.drop_table("mw_coverage", schema=S)
    op.drop_table("mw_source", schema=S)
