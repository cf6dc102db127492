"""Change history of ingested rows, X-ray source aliases (renames) and the class taxonomy.

- ``source_history``: how earlier values stay traceable. An ingest updates a changed
  ``xray_source`` / ``literature_object`` row in place (so its livecat id, and every
  decision and label that points at it, stays), and first copies the row as it was
  (``to_jsonb`` of the whole row; for X-ray sources also its flux rows) into this table
  with the id of the run that changed it and what happened (``updated``, ``retired``,
  ``revived``, ``renamed``). One generic table serves both source tables: a snapshot is
  read back with ``jsonb_populate_record``, and the history survives later migrations
  that add columns.
- ``xray_source_alias``: earlier designations of an X-ray source that a new release
  renamed (same object, new designation, position within errors): the source keeps its
  livecat id and its old native id and name are recorded here.
- ``livecat_class`` / ``livecat_subclass``: the taxonomy (the eight MUWCLASS classes and
  their allowed subclasses), copied from ``ingest/taxonomy.py`` as of this revision so
  that the revision never changes; ``literature_object`` gets foreign keys to both
  (a subclass is checked only when one is given). The taxonomy is reference data owned
  by this migration: a ``TRUNCATE`` of those tables (a script or test wiping the data)
  restores the frozen rows through a trigger, so literature rows can always be written.

Revision ID: 0002_history_taxonomy
Revises: 0001_core
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_history_taxonomy"
down_revision = "0001_core"
branch_labels = None
depends_on = None

S = "livecat"

CLASSES = {
    "AGN": (
        "Active galactic nuclei: accreting supermassive black holes in galaxy centres "
        "(Seyferts, quasars, blazars). Extragalactic, so absorbed by the full Galactic "
        "column; X-ray spectra are power laws, optical/IR colours are red in WISE "
        "(W1-W2), and they vary on long time scales. The most common class among "
        "serendipitous X-ray sources away from the Galactic plane."
    ),
    "CV": (
        "Cataclysmic variables: a white dwarf accreting from a low-mass, Roche-lobe "
        "filling companion. Non-magnetic systems (dwarf novae, nova-likes) accrete "
        "through a disc; magnetic ones are polars (synchronised) and intermediate polars "
        "(a truncated disc, white-dwarf spin faster than the orbit). Hard, often "
        "absorbed thermal X-ray spectra; blue optical counterparts; variable."
    ),
    "HM-STAR": (
        "High-mass (O, B, Wolf-Rayet) stars whose X-rays come from shocks in their "
        "radiatively driven winds or from colliding winds in massive binaries. "
        "Soft thermal X-rays, very bright optical/IR counterparts, low X-ray to optical "
        "flux ratio; concentrated in young clusters and the Galactic plane."
    ),
    "LM-STAR": (
        "Low-mass (late-type, F-M) stars, including active binaries such as RS CVn and "
        "BY Dra systems, whose X-rays come from magnetically heated coronae; flares are "
        "common. Soft thermal X-ray spectra and bright optical counterparts with high "
        "proper motions and parallaxes (nearby)."
    ),
    "HMXB": (
        "High-mass X-ray binaries: a neutron star or black hole with a massive O/B "
        "companion (Be/X-ray binaries, supergiant systems), powered by accretion from "
        "the companion's wind or decretion disc; also the rotation-powered pulsars "
        "orbiting massive stars (gamma-ray binaries such as B1259-63). Hard, often "
        "absorbed X-rays, bright early-type optical counterparts, strong variability."
    ),
    "LMXB": (
        "Low-mass X-ray binaries: a neutron star or black hole with a low-mass "
        "companion, accreting by Roche-lobe overflow, and their descendants as MUWCLASS "
        "counts them: binary millisecond pulsars with white-dwarf, ultra-light (black "
        "widow) or low-mass main-sequence (redback) companions, including transitional "
        "millisecond pulsars. High X-ray to optical flux ratios; transients in outburst."
    ),
    "NS": (
        "Neutron stars that are not accreting from a companion: isolated "
        "rotation-powered pulsars (young and millisecond), rotating radio transients, "
        "magnetars (AXPs and SGRs), the X-ray dim isolated neutron stars (XINS) and "
        "central compact objects, and double neutron star binaries. Very high X-ray to "
        "optical flux ratios, usually no optical/IR counterpart."
    ),
    "YSO": (
        "Young stellar objects: pre-main-sequence stars (classical and weak-lined T "
        "Tauri stars, Herbig Ae/Be stars, protostars) with strong magnetic activity and "
        "flares; found in star-forming regions; infrared excess from discs and "
        "envelopes; thermal X-ray spectra hotter than older low-mass stars."
    ),
}

SUBCLASSES = {
    "AGN": ("Seyfert", "QSO", "blazar", "LINER"),
    "CV": ("IP", "polar", "dwarf-nova", "nova-like", "nova", "AM-CVn"),
    "HM-STAR": ("OB", "Be", "WR", "colliding-wind"),
    "LM-STAR": ("flare-star", "RS-CVn", "BY-Dra", "W-UMa"),
    "HMXB": ("Be-XRB", "supergiant", "gamma-ray-binary"),
    "LMXB": ("redback", "black-widow", "MSP-WD", "tMSP", "AMXP", "BH"),
    "NS": ("pulsar", "MSP", "magnetar", "XINS", "RRAT", "CCO", "DNS"),
    "YSO": ("CTTS", "WTTS", "protostar", "HAeBe"),
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _seed_function_sql() -> str:
    """``seed_taxonomy()``: insert the frozen classes and subclasses that are missing.

    The taxonomy is reference data owned by this migration, not ingested data: a
    ``TRUNCATE`` of the livecat tables (e.g. a test wiping the data) restores it through
    the ``restore_taxonomy`` triggers, so literature rows can always be written.
    """
    classes = ", ".join(f"({_literal(k)}, {_literal(v)})" for k, v in CLASSES.items())
    subs = ", ".join(f"({_literal(k)}, {_literal(v)})"
                     for k, vs in SUBCLASSES.items() for v in vs)
    return f"""
CREATE FUNCTION {S}.seed_taxonomy() RETURNS void LANGUAGE sql AS $$
  INSERT INTO {S}.livecat_class (name, description) VALUES {classes}
    ON CONFLICT DO NOTHING;
  INSERT INTO {S}.livecat_subclass (class_name, name) VALUES {subs}
    ON CONFLICT DO NOTHING;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "livecat_class",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        schema=S,
        comment="livecat's class taxonomy: the eight MUWCLASS classes",
    )
    op.create_table(
        "livecat_subclass",
        sa.Column("class_name", sa.Text, sa.ForeignKey(f"{S}.livecat_class.name"),
                  nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("class_name", "name"),
        schema=S,
        comment="subclasses allowed per class (CV/IP, NS/magnetar, ...)",
    )
    op.execute(_seed_function_sql())
    op.execute(f"SELECT {S}.seed_taxonomy()")
    op.execute(f"""
CREATE FUNCTION {S}.restore_taxonomy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM {S}.seed_taxonomy();
  RETURN NULL;
END $$;
CREATE TRIGGER livecat_class_restore AFTER TRUNCATE ON {S}.livecat_class
  FOR EACH STATEMENT EXECUTE FUNCTION {S}.restore_taxonomy();
CREATE TRIGGER livecat_subclass_restore AFTER TRUNCATE ON {S}.livecat_subclass
  FOR EACH STATEMENT EXECUTE FUNCTION {S}.restore_taxonomy();
""")
    op.create_foreign_key("literature_object_class_fk", "literature_object", "livecat_class",
                          ["livecat_class"], ["name"], source_schema=S, referent_schema=S)
    op.create_foreign_key("literature_object_subclass_fk", "literature_object",
                          "livecat_subclass", ["livecat_class", "subclass"],
                          ["class_name", "name"], source_schema=S, referent_schema=S)

    op.create_table(
        "source_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("source_table", sa.Text, nullable=False,
                  comment="xray_source or literature_object"),
        sa.Column("source_id", sa.BigInteger, nullable=False,
                  comment="livecat id of the row in source_table"),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("native_id", sa.Text, nullable=False,
                  comment="native id of the row before the change"),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.ingest_run.id"),
                  nullable=False, comment="the ingest run that made the change"),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("previous", JSONB, nullable=False,
                  comment="the whole row before the change (to_jsonb)"),
        sa.Column("previous_fluxes", JSONB,
                  comment="X-ray sources: their xray_flux rows before the change"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("source_table IN ('xray_source', 'literature_object')",
                           name="history_table"),
        sa.CheckConstraint("change IN ('updated', 'retired', 'revived', 'renamed')",
                           name="history_change"),
        schema=S,
        comment="earlier versions of ingested rows, one per change, with the run",
    )
    op.create_index("source_history_source", "source_history",
                    ["source_table", "source_id"], schema=S)
    op.create_index("source_history_run", "source_history", ["run_id"], schema=S)

    op.create_table(
        "xray_source_alias",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("source_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.xray_source.id", ondelete="CASCADE"), nullable=False),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("native_id", sa.Text, nullable=False, comment="the earlier native id"),
        sa.Column("name", sa.Text, comment="the earlier designation"),
        sa.Column("separation_arcsec", sa.Float(53),
                  comment="distance between the old and the new position"),
        sa.Column("until_release_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.catalog_release.id"),
                  comment="the release that renamed the source"),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.ingest_run.id"),
                  nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=S,
        comment="earlier designations of renamed X-ray sources",
    )
    op.create_index("xray_source_alias_native", "xray_source_alias",
                    ["catalog", "native_id"], schema=S)
    op.create_index("xray_source_alias_source", "xray_source_alias", ["source_id"], schema=S)


def downgrade() -> None:
    op.drop_table("xray_source_alias", schema=S)
    op.drop_table("source_history", schema=S)
    op.drop_constraint("literature_object_subclass_fk", "literature_object", schema=S,
                       type_="foreignkey")
    op.drop_constraint("literature_object_class_fk", "literature_object", schema=S,
                       type_="foreignkey")
    op.drop_table("livecat_subclass", schema=S)
    op.drop_table("livecat_class", schema=S)
    op.execute(f"DROP FUNCTION IF EXISTS {S}.restore_taxonomy()")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.seed_taxonomy()")
