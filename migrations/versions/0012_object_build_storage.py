"""Cross-mission objects: storage a full-sky build can write in minutes, and what the
incremental build needs to read only what changed.

- ``xray_source_common_flux``: the common-band fluxes one row per source, each per-band
  column an array over the CSC bands s, m, h, b (in that order), the spectral model of
  the converted bands once per source, as 0007 did for ``xray_flux``.
  ``xray_common_flux`` becomes a view that unnests them into exactly the rows and columns
  the table had (one row per source and band), so every query that read it reads the
  same rows. The per-band rule of the table (a value or the reason there is none) is the
  CHECK ``xray_source_common_flux_valid``, in array functions rather than PL/pgSQL. Why:
  four rows per source (8.8 million for the catalogs' real sizes), each with a
  primary-key entry and two foreign-key checks, took 208 of the 580 s of
  ``scripts/bench_missions.py --database``.
- No foreign keys on the tables the object build writes in bulk: ``xray_association``
  (``xray_source_id``, ``object_id``, ``linked_source_id``, ``started_run_id``,
  ``started_release_id``, ``ended_run_id``, ``ended_release_id``), ``xray_object``
  (``created_run_id``, ``updated_run_id``) and ``xray_source_common_flux``
  (``source_id``, ``run_id``). PostgreSQL checks a foreign key row by row with a query
  that locks the referenced row, and a lock on an ``xray_source`` row is a write to its
  page: at the catalogs' real sizes (2.2 million sources) writing the associations took
  67 s with the key on ``xray_source_id`` and 13 s without it; the common-band fluxes
  24 s against 14 s. Only the object build writes these tables, from ids it has just
  read, and nothing deletes objects, runs or releases (an object left without members
  stops being current). What ``ON DELETE CASCADE`` did stays, set-based: a statement
  trigger on ``xray_source`` deletes the associations and common-band fluxes of the
  sources a ``DELETE`` removes.
- ``xray_object``'s ``fill_hpx`` trigger gets a ``WHEN`` condition (evaluated without
  calling PL/pgSQL): livecat writes ``hpx`` itself, hand-written SQL that leaves it out
  still gets it filled.
- ``xray_object.var_is_lower_limit``: whether the variability ratio is a lower limit (the
  faintest flux is an upper limit below the faintest detection), written by the build
  from :func:`catalog.variability.flux_ratio_significance` (before, readers re-derived it
  in SQL).
- ``object_build_run.n_multi`` (the summary's count of objects seen by more than one
  catalog), so an incremental build updates the counts of the build before from what it
  changed instead of counting every object and source.
- ``xray_source(updated_at)`` index and ``object_build_run.snapshot_at``: the start of
  the oldest transaction running when the build began. Every ingest stamps the rows it
  changes with its transaction's start (``updated_at = now()``), so the rows a later
  build has not seen are those with ``updated_at >= snapshot_at`` of the build before;
  the incremental build reads those, not the whole ``xray_source`` table.

Revision ID: 0012_object_build_storage
Revises: 0011_objects
Create Date: 2026-12-06
"""
from alembic import op

S = "livecat"

revision = "0012_object_build_storage"
down_revision = "0011_objects"
branch_labels = None
depends_on = None

#: (column, element type) of the per-band arrays, in the view's column order
ARRAYS = (("value", "float8"), ("value_lo", "float8"), ("value_hi", "float8"),
          ("native", "boolean"), ("from_band", "text"), ("from_lo_kev", "float8"),
          ("from_hi_kev", "float8"), ("factor", "float8"), ("coverage", "float8"),
          ("measured_fraction", "float8"), ("extrapolated", "boolean"), ("reason", "text"))
NAMES = [c for c, _ in ARRAYS]
BANDS = "ARRAY['s', 'm', 'h', 'b']"
#: A band converted with the model: the source's ``model`` applies to it.
CONVERTED = "NOT u.native AND u.factor IS NOT NULL"

MEMBERS_VIEW = f"""
CREATE VIEW {S}.xray_object_members AS
SELECT o.id AS object_id, o.ra, o.dec, o.pos_err_arcsec, o.n_members, o.catalogs,
       o.var_band, o.var_ratio, o.var_sigma,{{extra}}
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
"""

RUN_FKS = {
    "xray_association": (("xray_source_id", "xray_source ON DELETE CASCADE"),
                         ("object_id", "xray_object"),
                         ("started_run_id", "object_build_run"),
                         ("started_release_id", "catalog_release"),
                         ("ended_run_id", "object_build_run"),
                         ("ended_release_id", "catalog_release"),
                         ("linked_source_id", "xray_source")),
    "xray_object": (("created_run_id", "object_build_run"),
                    ("updated_run_id", "object_build_run")),
}

UPGRADE_SQL = f"""
CREATE TABLE {S}.xray_source_common_flux (
  source_id bigint PRIMARY KEY,
  run_id bigint NOT NULL,
  model text,
  {", ".join(f"{c} {t}[] NOT NULL" for c, t in ARRAYS)},
  CONSTRAINT xray_source_common_flux_valid CHECK (
    {" AND ".join(f"cardinality({c}) = 4" for c in NAMES)}
    AND array_position(native, NULL) IS NULL AND array_position(extrapolated, NULL) IS NULL
    -- per band a value or the reason there is none: the NULLs of value and of reason
    -- are disjoint and together every band
    AND cardinality(array_positions(value, NULL)) + cardinality(array_positions(reason, NULL)) = 4
    AND NOT array_positions(value, NULL) && array_positions(reason, NULL))
);
COMMENT ON TABLE {S}.xray_source_common_flux IS
  'Fluxes of an X-ray source in the CSC bands s, m, h, b (element i of every array is the '
  'i-th of them), native or converted, one row per source. Read them through the view '
  'xray_common_flux: one row per source and band.';
COMMENT ON COLUMN {S}.xray_source_common_flux.run_id IS
  'the object_build_run that wrote them';
COMMENT ON COLUMN {S}.xray_source_common_flux.model IS
  'the spectral model of the converted bands (those not native with a factor)';

INSERT INTO {S}.xray_source_common_flux
SELECT f.source_id, max(f.run_id), max(f.model),
       {", ".join(f"array_agg(f.{c} ORDER BY b.no)" for c in NAMES)}
  FROM {S}.xray_common_flux f
  JOIN unnest({BANDS}) WITH ORDINALITY AS b(band, no) USING (band)
 GROUP BY f.source_id;
DROP VIEW {S}.xray_object_members;
DROP TABLE {S}.xray_common_flux;

CREATE VIEW {S}.xray_common_flux AS
SELECT f.source_id, u.band, u.value, u.value_lo, u.value_hi, u.native, u.from_band,
       u.from_lo_kev, u.from_hi_kev, u.factor, u.coverage, u.measured_fraction,
       CASE WHEN {CONVERTED} THEN f.model END AS model, u.extrapolated, u.reason, f.run_id
  FROM {S}.xray_source_common_flux f
 CROSS JOIN LATERAL unnest({BANDS}, {", ".join(f"f.{c}" for c in NAMES)})
       AS u(band, {", ".join(NAMES)});
COMMENT ON VIEW {S}.xray_common_flux IS
  'Fluxes in the CSC bands (s 0.5-1.2, m 1.2-2, h 2-7, b 0.5-7 keV), one row per source and '
  'band: the value (erg/cm2/s; native = measured by the catalog itself) or converted from '
  'from_band with factor and model, or the reason there is none. Stored in '
  'xray_source_common_flux, written by livecat objects build.';

ALTER TABLE {S}.xray_object ADD COLUMN var_is_lower_limit boolean;
COMMENT ON COLUMN {S}.xray_object.var_is_lower_limit IS
  'var_ratio is a lower limit: the faintest flux is an upper limit below the faintest detection';
{MEMBERS_VIEW.format(extra=" o.var_is_lower_limit,")}

DROP TRIGGER xray_object_fill_hpx ON {S}.xray_object;
CREATE TRIGGER xray_object_fill_hpx_insert BEFORE INSERT ON {S}.xray_object FOR EACH ROW
  WHEN (NEW.hpx IS NULL) EXECUTE FUNCTION {S}.fill_hpx();
CREATE TRIGGER xray_object_fill_hpx_update BEFORE UPDATE ON {S}.xray_object FOR EACH ROW
  WHEN (NEW.hpx IS NULL OR ((NEW.ra, NEW.dec) IS DISTINCT FROM (OLD.ra, OLD.dec)
                            AND NEW.hpx = OLD.hpx))
  EXECUTE FUNCTION {S}.fill_hpx();

-- What the dropped ON DELETE CASCADE keys did, once per statement instead of a lookup
-- per written row: rows derived from a deleted source go with it.
CREATE FUNCTION {S}.delete_derived_of_sources() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {S}.xray_association a USING gone g WHERE a.xray_source_id = g.id;
  DELETE FROM {S}.xray_source_common_flux f USING gone g WHERE f.source_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER xray_source_delete_derived AFTER DELETE ON {S}.xray_source
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
  EXECUTE FUNCTION {S}.delete_derived_of_sources();

CREATE INDEX xray_source_updated_at ON {S}.xray_source (updated_at);
ALTER TABLE {S}.object_build_run ADD COLUMN snapshot_at timestamp with time zone,
  ADD COLUMN n_multi integer;
COMMENT ON COLUMN {S}.object_build_run.n_multi IS
  'current objects seen by more than one catalog after the build';
COMMENT ON COLUMN {S}.object_build_run.snapshot_at IS
  'start of the oldest transaction running when the build began: sources with '
  'updated_at >= this may be unseen by it';
""" + "".join(
    f"ALTER TABLE {S}.{table} DROP CONSTRAINT {table}_{col}_fkey;\n"
    for table, fks in RUN_FKS.items() for col, _ in fks)

DOWNGRADE_SQL = "".join(
    f"ALTER TABLE {S}.{table} ADD CONSTRAINT {table}_{col}_fkey FOREIGN KEY ({col}) "
    f"REFERENCES {S}.{target.split()[0]}(id){target[len(target.split()[0]):]};\n"
    for table, fks in RUN_FKS.items() for col, target in fks) + f"""
DROP TRIGGER xray_source_delete_derived ON {S}.xray_source;
DROP FUNCTION {S}.delete_derived_of_sources();
ALTER TABLE {S}.object_build_run DROP COLUMN snapshot_at, DROP COLUMN n_multi;
DROP INDEX {S}.xray_source_updated_at;
DROP TRIGGER xray_object_fill_hpx_insert ON {S}.xray_object;
DROP TRIGGER xray_object_fill_hpx_update ON {S}.xray_object;
CREATE TRIGGER xray_object_fill_hpx BEFORE INSERT OR UPDATE ON {S}.xray_object
  FOR EACH ROW EXECUTE FUNCTION {S}.fill_hpx();

CREATE TABLE {S}.xray_common_flux_0011 AS SELECT * FROM {S}.xray_common_flux;
DROP VIEW {S}.xray_object_members;
DROP VIEW {S}.xray_common_flux;
DROP TABLE {S}.xray_source_common_flux;
ALTER TABLE {S}.xray_object DROP COLUMN var_is_lower_limit;
CREATE TABLE {S}.xray_common_flux (
  source_id bigint NOT NULL REFERENCES {S}.xray_source(id) ON DELETE CASCADE,
  band text NOT NULL,
  value float8, value_lo float8, value_hi float8,
  native boolean NOT NULL,
  from_band text, from_lo_kev float8, from_hi_kev float8, factor float8, coverage float8,
  measured_fraction float8, model text,
  extrapolated boolean NOT NULL DEFAULT false,
  reason text,
  run_id bigint REFERENCES {S}.object_build_run(id),
  PRIMARY KEY (source_id, band),
  CONSTRAINT xray_common_flux_value_or_reason CHECK ((value IS NULL) = (reason IS NOT NULL))
);
COMMENT ON TABLE {S}.xray_common_flux IS 'fluxes in the CSC bands, native or converted';
INSERT INTO {S}.xray_common_flux SELECT * FROM {S}.xray_common_flux_0011;
DROP TABLE {S}.xray_common_flux_0011;
{MEMBERS_VIEW.format(extra="")}
"""


def _execute_raw(sql: str) -> None:
    """Run on the driver cursor without parameters (as 0007)."""
    op.get_bind().connection.dbapi_connection.cursor().execute(sql)


def upgrade() -> None:
    _execute_raw(UPGRADE_SQL)


def downgrade() -> None:
    _execute_raw(DOWNGRADE_SQL)
