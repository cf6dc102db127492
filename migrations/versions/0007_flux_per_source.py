"""X-ray fluxes stored one row per source; ``xray_flux`` becomes a view of the same rows.

Storage: ``xray_source_flux`` holds one row per X-ray source, its band fluxes as parallel
arrays (``band``, ``kind``, ``band_lo_kev``, ``band_hi_kev``, ``value``, ``value_lo``,
``value_hi``; element i of each array is one band and kind, ordered by band then kind;
NULL elements of the value arrays = not given). ``xray_flux`` is now a view that unnests
them into exactly the rows and columns the table had: one row per (source, band, kind).
Every query that read ``xray_flux`` reads the same rows; ``INSERT`` into and ``DELETE``
from the view still work (INSTEAD OF triggers that edit the arrays, with the checks the
table had), so hand-written SQL keeps working.

Why: an ingest writes every native band of every source. With one row per band, a
1,000,000-source XMM release is 7,000,000 flux rows, each checked against
``xray_source`` by PostgreSQL's per-row foreign-key trigger and inserted into a three-column
primary key: 66 of the 158 seconds of ``scripts/bench_ingest.py``. One row per source is
one foreign-key check and one index entry per source. The constraints are the same:
``source_id`` references ``xray_source`` (ON DELETE CASCADE) and is unique; the CHECK
``xray_source_flux_valid`` enforces what the table's constraints did per band (kind is
energy_flux or count_rate, band_lo_kev < band_hi_kev, (band, kind) unique per source, no
NULL band, kind or edge) and that the arrays are one-dimensional, non-empty, of equal
length and in ascending (band, kind) order.

Revision ID: 0007_flux_per_source
Revises: 0006_cone_statements
Create Date: 2026-11-25
"""
from alembic import op

S = "livecat"

revision = "0007_flux_per_source"
down_revision = "0006_cone_statements"
branch_labels = None
depends_on = None

ARRAYS = ("band", "kind", "band_lo_kev", "band_hi_kev", "value", "value_lo", "value_hi")

UPGRADE_SQL = f"""
CREATE FUNCTION {S}.flux_arrays_valid(band text[], kind text[], band_lo_kev float8[],
    band_hi_kev float8[], value float8[], value_lo float8[], value_hi float8[])
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
-- plpgsql, not a SQL function over unnest(): as a CHECK on a million-row insert that
-- costs 15 s, this loop 3 s. Strictly ascending (band, kind) means unique and canonical.
DECLARE
  n int := cardinality(band);
BEGIN
  IF n < 1 OR array_ndims(band) <> 1 OR array_lower(band, 1) <> 1
     OR cardinality(kind) <> n OR cardinality(band_lo_kev) <> n
     OR cardinality(band_hi_kev) <> n OR cardinality(value) <> n
     OR cardinality(value_lo) <> n OR cardinality(value_hi) <> n
     OR array_position(band, NULL) IS NOT NULL OR array_position(kind, NULL) IS NOT NULL
     OR NOT kind <@ ARRAY['energy_flux', 'count_rate'] THEN
    RETURN false;
  END IF;
  FOR i IN 1..n LOOP
    IF band_lo_kev[i] IS NULL OR band_hi_kev[i] IS NULL
       OR NOT band_lo_kev[i] < band_hi_kev[i]
       OR i > 1 AND NOT (band[i - 1], kind[i - 1]) < (band[i], kind[i]) THEN
      RETURN false;
    END IF;
  END LOOP;
  RETURN true;
END $$;
COMMENT ON FUNCTION {S}.flux_arrays_valid IS
  'The per-band rules of xray_flux for one source''s flux arrays: equal non-empty '
  'one-dimensional arrays, kind energy_flux or count_rate, band_lo_kev < band_hi_kev '
  '(neither NULL), band and kind never NULL, (band, kind) strictly ascending (so unique).';

CREATE TABLE {S}.xray_source_flux (
  source_id   bigint PRIMARY KEY REFERENCES {S}.xray_source(id) ON DELETE CASCADE,
  band        text[] NOT NULL,
  kind        text[] NOT NULL,
  band_lo_kev float8[] NOT NULL,
  band_hi_kev float8[] NOT NULL,
  value       float8[] NOT NULL,
  value_lo    float8[] NOT NULL,
  value_hi    float8[] NOT NULL,
  CONSTRAINT xray_source_flux_valid CHECK ({S}.flux_arrays_valid(
    band, kind, band_lo_kev, band_hi_kev, value, value_lo, value_hi))
);
COMMENT ON TABLE {S}.xray_source_flux IS
  'Band fluxes of an X-ray source, one row per source (element i of every array is one '
  'band and kind). Read them through the view xray_flux: one row per band and kind.';
COMMENT ON COLUMN {S}.xray_source_flux.band IS 'native band names';
COMMENT ON COLUMN {S}.xray_source_flux.kind IS
  'energy_flux (erg/cm2/s) or count_rate (counts/s), per band';
COMMENT ON COLUMN {S}.xray_source_flux.value_lo IS 'lower bounds of the quoted intervals';
COMMENT ON COLUMN {S}.xray_source_flux.value_hi IS 'upper bounds of the quoted intervals';

INSERT INTO {S}.xray_source_flux
SELECT source_id, {", ".join(f"array_agg({c} ORDER BY band, kind)" for c in ARRAYS)}
  FROM {S}.xray_flux GROUP BY source_id;
DROP TABLE {S}.xray_flux;

CREATE VIEW {S}.xray_flux AS
SELECT f.source_id, u.band, u.kind, u.band_lo_kev, u.band_hi_kev, u.value, u.value_lo,
       u.value_hi
  FROM {S}.xray_source_flux f
 CROSS JOIN LATERAL unnest(f.band, f.kind, f.band_lo_kev, f.band_hi_kev, f.value,
                           f.value_lo, f.value_hi)
       AS u(band, kind, band_lo_kev, band_hi_kev, value, value_lo, value_hi);
COMMENT ON VIEW {S}.xray_flux IS
  'X-ray band fluxes, one row per (source_id, band, kind): value, value_lo, value_hi in '
  'erg/cm2/s (energy_flux) or counts/s (count_rate). Stored in xray_source_flux; INSERT and '
  'DELETE here edit it.';

-- INSERT into the view: add one band to the source's arrays (kept ordered by band, kind).
CREATE FUNCTION {S}.xray_flux_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.source_id IS NULL OR NEW.band IS NULL OR NEW.kind IS NULL
     OR NEW.band_lo_kev IS NULL OR NEW.band_hi_kev IS NULL THEN
    RAISE not_null_violation USING MESSAGE =
      'xray_flux: source_id, band, kind, band_lo_kev and band_hi_kev are required';
  END IF;
  IF EXISTS (SELECT 1 FROM {S}.xray_flux f WHERE f.source_id = NEW.source_id
             AND f.band = NEW.band AND f.kind = NEW.kind) THEN
    RAISE unique_violation USING MESSAGE = format(
      'xray_flux: source %s already has band %s %s', NEW.source_id, NEW.band, NEW.kind);
  END IF;
  INSERT INTO {S}.xray_source_flux AS t
  SELECT NEW.source_id, {", ".join(f"array_agg(r.{c} ORDER BY r.band, r.kind)" for c in ARRAYS)}
    FROM (SELECT {", ".join(ARRAYS)} FROM {S}.xray_flux WHERE source_id = NEW.source_id
          UNION ALL
          SELECT NEW.band, NEW.kind, NEW.band_lo_kev, NEW.band_hi_kev, NEW.value,
                 NEW.value_lo, NEW.value_hi) r
  ON CONFLICT (source_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in ARRAYS)};
  RETURN NEW;
END $$;
CREATE TRIGGER xray_flux_insert INSTEAD OF INSERT ON {S}.xray_flux
  FOR EACH ROW EXECUTE FUNCTION {S}.xray_flux_insert();

-- DELETE from the view: remove one band; a source left with none loses its row.
CREATE FUNCTION {S}.xray_flux_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  remaining int;
BEGIN
  SELECT count(*) INTO remaining FROM {S}.xray_flux f WHERE f.source_id = OLD.source_id
     AND (f.band, f.kind) IS DISTINCT FROM (OLD.band, OLD.kind);
  IF remaining = 0 THEN
    DELETE FROM {S}.xray_source_flux WHERE source_id = OLD.source_id;
  ELSE
    UPDATE {S}.xray_source_flux t SET ({", ".join(ARRAYS)}) = (
      SELECT {", ".join(f"array_agg(f.{c} ORDER BY f.band, f.kind)" for c in ARRAYS)}
        FROM {S}.xray_flux f WHERE f.source_id = OLD.source_id
         AND (f.band, f.kind) IS DISTINCT FROM (OLD.band, OLD.kind))
     WHERE t.source_id = OLD.source_id;
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER xray_flux_delete INSTEAD OF DELETE ON {S}.xray_flux
  FOR EACH ROW EXECUTE FUNCTION {S}.xray_flux_delete();
"""

DOWNGRADE_SQL = f"""
DROP VIEW {S}.xray_flux;
DROP FUNCTION {S}.xray_flux_insert();
DROP FUNCTION {S}.xray_flux_delete();
CREATE TABLE {S}.xray_flux (
  source_id bigint NOT NULL REFERENCES {S}.xray_source(id) ON DELETE CASCADE,
  band text NOT NULL,
  kind text NOT NULL,
  band_lo_kev float8 NOT NULL,
  band_hi_kev float8 NOT NULL,
  value float8,
  value_lo float8,
  value_hi float8,
  PRIMARY KEY (source_id, band, kind),
  CONSTRAINT flux_kind CHECK (kind IN ('energy_flux', 'count_rate')),
  CONSTRAINT flux_band CHECK (band_lo_kev < band_hi_kev)
);
COMMENT ON COLUMN {S}.xray_flux.band IS 'native band name';
COMMENT ON COLUMN {S}.xray_flux.kind IS 'energy_flux (erg/cm2/s) or count_rate (counts/s)';
COMMENT ON COLUMN {S}.xray_flux.value_lo IS 'lower bound of the quoted interval';
COMMENT ON COLUMN {S}.xray_flux.value_hi IS 'upper bound of the quoted interval';
INSERT INTO {S}.xray_flux
SELECT f.source_id, u.* FROM {S}.xray_source_flux f
 CROSS JOIN LATERAL unnest({", ".join(f"f.{c}" for c in ARRAYS)}) AS u;
DROP TABLE {S}.xray_source_flux;
DROP FUNCTION {S}.flux_arrays_valid(text[], text[], float8[], float8[], float8[], float8[],
                                    float8[]);
"""


def _execute_raw(sql: str) -> None:
    """Run on the driver cursor without parameters (the SQL holds literal %, as 0001)."""
    op.get_bind().connection.dbapi_connection.cursor().execute(sql)


def upgrade() -> None:
    _execute_raw(UPGRADE_SQL)


def downgrade() -> None:
    _execute_raw(DOWNGRADE_SQL)
