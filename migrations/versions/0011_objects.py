"""One sky object across X-ray missions: objects, associations, common-band fluxes.

- ``object_build_run``: one ``livecat objects build`` (catalogs, region, the matching
  parameters, counts).
- ``xray_object``: a livecat object id for sources of different X-ray catalogs that are
  the same sky object; the error-weighted best position (``ra``, ``dec``, ``hpx``:
  positional, so ``cone_search('xray_object', ...)`` works), its members' catalogs, and
  the long-term variability across missions: the ratio of the highest to the lowest
  common-band flux (``var_ratio``, band ``var_band``) and its significance
  (``var_sigma``) when seen more than once.
- ``xray_association``: which source belongs to which object, why (the link it came
  through: separation, in combined sigma, whether it is ambiguous - a coarse eRASS1 source
  over several CSC sources - and the alternatives), since which run, and, when it no
  longer holds, the run and release that ended it. Nothing is deleted: a source has at
  most one current (not ended) association.
- ``band_conversion``: the conversion factors from each mission's native energy-flux
  bands to the CSC bands (s, m, h, b) for an absorbed power law (photon index, N_H), an
  inspectable table.
- ``xray_common_flux``: each source's fluxes in the CSC bands: native (CSC) or converted
  (from which band, with which factor and model), or the reason there is none.

Revision ID: 0011_objects
Revises: 0010_counterparts
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_objects"
down_revision = "0010_counterparts"
branch_labels = None
depends_on = None

S = "livecat"


def upgrade() -> None:
    op.create_table(
        "object_build_run",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("invoked_by", sa.Text), sa.Column("command", sa.Text),
        sa.Column("catalogs", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("region", JSONB),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("n_sources", sa.Integer), sa.Column("n_objects", sa.Integer),
        sa.Column("n_started", sa.Integer), sa.Column("n_ended", sa.Integer),
        sa.Column("n_ambiguous", sa.Integer), sa.Column("seconds", sa.Float(53)),
        schema=S, comment="one cross-mission object build")
    op.create_table(
        "xray_object",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True,
                  comment="livecat object id"),
        sa.Column("ra", sa.Float(53), nullable=False, comment="best position, deg"),
        sa.Column("dec", sa.Float(53), nullable=False),
        sa.Column("hpx", sa.BigInteger, nullable=False),
        sa.Column("pos_err_arcsec", sa.Float(53),
                  comment="1-sigma error of the best position"),
        sa.Column("catalogs", sa.ARRAY(sa.Text), nullable=False,
                  comment="catalogs of its current members"),
        sa.Column("n_members", sa.Integer, nullable=False),
        sa.Column("var_band", sa.Text, comment="common band of the variability measure"),
        sa.Column("var_ratio", sa.Float(53),
                  comment="highest / lowest common-band flux of its members"),
        sa.Column("var_sigma", sa.Float(53),
                  comment="significance of the difference, in combined sigma"),
        sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_run_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.object_build_run.id")),
        sa.Column("updated_run_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.object_build_run.id")),
        sa.CheckConstraint("dec BETWEEN -90 AND 90 AND ra >= 0 AND ra < 360",
                           name="xray_object_position"),
        schema=S, comment="one sky object seen by one or more X-ray catalogs")
    op.create_index("xray_object_hpx", "xray_object", ["hpx"], schema=S)
    op.create_table(
        "xray_association",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("object_id", sa.BigInteger, sa.ForeignKey(f"{S}.xray_object.id"),
                  nullable=False),
        sa.Column("xray_source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("linked_source_id", sa.BigInteger, sa.ForeignKey(f"{S}.xray_source.id"),
                  comment="the member it was linked to (NULL: the object's anchor)"),
        sa.Column("separation_arcsec", sa.Float(53)),
        sa.Column("n_sigma", sa.Float(53), comment="separation / combined 1-sigma error"),
        sa.Column("ambiguous", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("alternatives", JSONB, nullable=False, server_default="[]",
                  comment="other sources it could belong with"),
        sa.Column("source_ra", sa.Float(53), nullable=False,
                  comment="the source's position and error when associated: a later "
                          "change of them marks the neighbourhood for a rebuild"),
        sa.Column("source_dec", sa.Float(53), nullable=False),
        sa.Column("source_err_arcsec", sa.Float(53)),
        sa.Column("started_run_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.object_build_run.id"), nullable=False),
        sa.Column("started_release_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.catalog_release.id")),
        sa.Column("ended_run_id", sa.BigInteger, sa.ForeignKey(f"{S}.object_build_run.id")),
        sa.Column("ended_release_id", sa.BigInteger, sa.ForeignKey(f"{S}.catalog_release.id"),
                  comment="the release after which it no longer holds"),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        schema=S, comment="X-ray sources as members of objects; ended, never deleted")
    op.create_index("xray_association_current", "xray_association", ["xray_source_id"],
                    unique=True, schema=S, postgresql_where=sa.text("ended_run_id IS NULL"))
    op.create_index("xray_association_object", "xray_association", ["object_id"], schema=S)
    op.create_table(
        "band_conversion",
        sa.Column("band_set", sa.Text, nullable=False,
                  comment="set of native bands (csc, xmm, erass1_main, erass1_hard, sxps)"),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("target_band", sa.Text, nullable=False, comment="CSC band: s, m, h or b"),
        sa.Column("target_lo_kev", sa.Float(53), nullable=False),
        sa.Column("target_hi_kev", sa.Float(53), nullable=False),
        sa.Column("rank", sa.Integer,
                  comment="1 = the route used when a source has all its bands"),
        sa.Column("native_bands", sa.Text, nullable=False, comment="e.g. 4+5: summed"),
        sa.Column("native_lo_kev", sa.Float(53), nullable=False),
        sa.Column("native_hi_kev", sa.Float(53), nullable=False),
        sa.Column("coverage", sa.Float(53), nullable=False,
                  comment="share of the target band (in ln E) the native bands cover"),
        sa.Column("extrapolated", sa.Boolean, nullable=False),
        sa.Column("gamma", sa.Float(53), nullable=False, comment="photon index"),
        sa.Column("nh_cm2", sa.Float(53), nullable=False),
        sa.Column("observed", sa.Boolean, nullable=False,
                  comment="factor between observed (absorbed) fluxes"),
        sa.Column("cross_section", sa.Text, nullable=False),
        sa.Column("measured_fraction", sa.Float(53),
                  comment="share of the model's target-band flux inside the native bands"),
        sa.Column("factor", sa.Float(53),
                  comment="target-band flux / summed native-band flux (erg/cm2/s)"),
        sa.Column("reason", sa.Text, comment="why there is no factor"),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("band_set", "catalog", "target_band", "native_bands", "gamma",
                                "nh_cm2", "observed", "cross_section"),
        sa.CheckConstraint("(factor IS NULL) = (reason IS NOT NULL)",
                           name="band_conversion_factor_or_reason"),
        schema=S, comment="conversion factors from native bands to the CSC bands")
    op.create_table(
        "xray_common_flux",
        sa.Column("source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("band", sa.Text, nullable=False, comment="CSC band: s, m, h or b"),
        sa.Column("value", sa.Float(53), comment="erg/cm2/s"),
        sa.Column("value_lo", sa.Float(53)), sa.Column("value_hi", sa.Float(53)),
        sa.Column("native", sa.Boolean, nullable=False,
                  comment="measured in this band by the catalog itself (CSC)"),
        sa.Column("from_band", sa.Text, comment="native band(s) it was converted from"),
        sa.Column("from_lo_kev", sa.Float(53)), sa.Column("from_hi_kev", sa.Float(53)),
        sa.Column("factor", sa.Float(53)),
        sa.Column("coverage", sa.Float(53)), sa.Column("measured_fraction", sa.Float(53)),
        sa.Column("model", sa.Text),
        sa.Column("extrapolated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.Text, comment="why there is no value"),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.object_build_run.id")),
        sa.PrimaryKeyConstraint("source_id", "band"),
        sa.CheckConstraint("(value IS NULL) = (reason IS NOT NULL)",
                           name="xray_common_flux_value_or_reason"),
        schema=S, comment="fluxes in the CSC bands, native or converted")
    op.execute(f"""
CREATE VIEW {S}.xray_object_members AS
SELECT o.id AS object_id, o.ra, o.dec, o.pos_err_arcsec, o.n_members, o.catalogs,
       o.var_band, o.var_ratio, o.var_sigma,
       jsonb_agg(jsonb_build_object(
           'source_id', s.id, 'catalog', s.catalog, 'native_id', s.native_id,
           'separation_arcsec', a.separation_arcsec, 'ambiguous', a.ambiguous,
           'fluxes', (SELECT jsonb_object_agg(f.band, f.value) FROM {S}.xray_common_flux f
                       WHERE f.source_id = s.id AND f.value IS NOT NULL))
           ORDER BY s.catalog, s.native_id) AS members
  FROM {S}.xray_object o
  JOIN {S}.xray_association a ON a.object_id = o.id AND a.ended_run_id IS NULL
  JOIN {S}.xray_source s ON s.id = a.xray_source_id
 WHERE o.is_current
 GROUP BY o.id;
COMMENT ON VIEW {S}.xray_object_members IS
  'One row per current object: best position, variability, members with their common-band fluxes.';
""")
    op.execute(f"ALTER TABLE {S}.classification ADD COLUMN flux_origin text, "
               f"ADD COLUMN flux_source_id bigint")
    op.execute(f"COMMENT ON COLUMN {S}.classification.flux_origin IS 'which X-ray fluxes the "
               f"label used: native (the source''s own CSC bands), object (the CSC member of "
               f"its object, flux_source_id) or converted (its own bands converted to the CSC "
               f"bands, xray_common_flux)'")
    op.execute(f"COMMENT ON COLUMN {S}.classification.flux_source_id IS 'the xray_source "
               f"whose fluxes the label used'")
    op.execute(f"CREATE TRIGGER xray_object_fill_hpx BEFORE INSERT OR UPDATE ON "
               f"{S}.xray_object FOR EACH ROW EXECUTE FUNCTION {S}.fill_hpx()")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.classification DROP COLUMN flux_origin, "
               f"DROP COLUMN flux_source_id")
    op.execute(f"DROP VIEW IF EXISTS {S}.xray_object_members")
    op.drop_table("xray_common_flux", schema=S)
    op.drop_table("band_conversion", schema=S)
    op.drop_table("xray_association", schema=S)
    op.drop_table("xray_object", schema=S)
    op.drop_table("object_build_run", schema=S)
