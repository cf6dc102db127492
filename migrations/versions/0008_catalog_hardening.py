"""Catalog hardening: exact tiny cones and clear errors in the SQL sky functions, and a
process lock a read-only role cannot take.

SQL functions replaced, each as revision 0001's statement with the edits listed in
``EDITS`` (same signatures; the downgrade restores 0001's definitions):

- ``hpx_center_chord2``: pixel centres in the polar caps computed from ``1 - z`` directly.
  ``z = 1 - nr^2/(3 nside^2)`` rounds to 1.0 for the pixels around a pole at order 29, so
  every such centre sat on the pole and ``cone_ranges`` missed points of cones smaller than
  a few mas there (0.4% of 0.1-mas cones near a pole, tests/catalog/test_tiny_cones.py).
- ``check_cone`` (new): the one validation of a cone's centre and radius, raising
  ``invalid_parameter_value`` with the function's name. ``cone_search`` checked ``ra <> ra``
  for NaN, which is false in PostgreSQL (NaN equals NaN there): a NaN RA returned no rows.
- ``cone_ranges`` and ``cone_search``: call ``check_cone`` (a NaN or infinite position is
  an error, not an empty answer; radii from 1e-9 arcsec, ``catalog.coords.MIN_RADIUS_ARCSEC``,
  as smaller ones underflow in ``radius / 3600``).
- ``hpx_from_radec``: coordinates under 1e-300 deg are taken as 0 (the pixel healpy gives
  them); PostgreSQL raised "value out of range: underflow" on ``radians()`` of a denormal.
  An infinite RA is an error (it used to give the pixel of RA 0).
- ``ang_sep_deg``: each coordinate gets ``+ 1e-100``, a no-op above 1e-84 deg that keeps
  the squares of differences of denormal coordinates from underflowing (an error in
  PostgreSQL), so rows the loaders write with such coordinates do not break a cone.

Table ``process_lock(name)``: one row per named lock; :mod:`catalog.locks` holds a lock by
locking its row (``SELECT ... FOR UPDATE``), which needs UPDATE privilege: a reader role
(SELECT only) cannot take or block it, unlike an advisory lock, which any role may take.

Revision ID: 0008_catalog_hardening
Revises: 0007_flux_per_source
Create Date: 2026-11-26
"""
import importlib.util
from pathlib import Path

from alembic import op

S = "livecat"

revision = "0008_catalog_hardening"
down_revision = "0007_flux_per_source"
branch_labels = None
depends_on = None


def _core():
    """Revision 0001's module: its FUNCTIONS_SQL is what the downgrade restores."""
    path = Path(__file__).with_name("0001_core.py")
    spec = importlib.util.spec_from_file_location("livecat_migration_0001_core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK_CONE_SQL = f"""
CREATE FUNCTION {S}.check_cone(ra_deg float8, dec_deg float8, radius_arcsec float8,
                               caller text DEFAULT 'cone')
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- PostgreSQL orders NaN above every number and equal to itself: test it by name
  IF ra_deg IS NULL OR dec_deg IS NULL OR radius_arcsec IS NULL THEN
    RAISE EXCEPTION '%: ra, dec and radius_arcsec are required', caller
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF ra_deg = 'NaN'::float8 OR ra_deg IN ('Infinity'::float8, '-Infinity'::float8) THEN
    RAISE EXCEPTION '%: ra % is not a finite number of degrees', caller, ra_deg
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF dec_deg = 'NaN'::float8 OR NOT dec_deg BETWEEN -90 AND 90 THEN
    RAISE EXCEPTION '%: dec % is not a declination in [-90, 90] degrees', caller, dec_deg
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- 1e-9 arcsec: catalog.coords.MIN_RADIUS_ARCSEC
  IF radius_arcsec = 'NaN'::float8 OR NOT (radius_arcsec >= 1e-9 AND radius_arcsec <= 648000)
  THEN
    RAISE EXCEPTION '%: radius_arcsec % must be >= 1e-9 and <= 648000 (180 deg)',
      caller, radius_arcsec USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN true;
END $$;
COMMENT ON FUNCTION {S}.check_cone IS
  'True for a valid cone (finite ra, dec in [-90, 90], 1e-9 <= radius_arcsec <= 648000); '
  'raises invalid_parameter_value naming caller otherwise.';
"""

# What changes in 0001's functions, as (0001's text, the new text) pairs: the statements
# are 0001's with these edits, so that the difference is all there is to read.
EDITS = {
    "ang_sep_deg": [
        ("-- haversine; the same formula as catalog.healpix.angular_separation_deg",
         "-- haversine, as catalog.coords.angular_separation_deg; \"+ 1e-100\" changes no\n"
         "  -- coordinate above 1e-84 deg and keeps power() of denormal differences from\n"
         "  -- raising \"underflow\""),
        ("radians(de2 - de1)", "radians((de2 + 1e-100::float8) - (de1 + 1e-100::float8))"),
        ("cos(radians(de1)) * cos(radians(de2)) * power(sin(radians(ra2 - ra1) / 2.0), 2)",
         "cos(radians(de1 + 1e-100::float8)) * cos(radians(de2 + 1e-100::float8))\n"
         "           * power(sin(radians((ra2 + 1e-100::float8) - (ra1 + 1e-100::float8))"
         " / 2.0), 2)"),
    ],
    "hpx_from_radec": [
        ("  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg = 'NaN'::float8 OR dec_deg = 'NaN'::float8"
         " THEN\n"
         "    RAISE EXCEPTION 'hpx_from_radec: position (%, %) is outside -90 <= dec <= 90',"
         " ra_deg, dec_deg;\n"
         "  END IF;\n",
         "  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg = 'NaN'::float8 OR dec_deg = 'NaN'::float8\n"
         "     OR ra_deg IN ('Infinity'::float8, '-Infinity'::float8) THEN\n"
         "    RAISE EXCEPTION 'hpx_from_radec: position (%, %) is outside -90 <= dec <= 90 or "
         "not finite',\n"
         "      ra_deg, dec_deg USING ERRCODE = 'invalid_parameter_value';\n"
         "  END IF;\n"
         "  -- radians() of a denormal raises \"underflow\"; below 1e-300 deg every step of\n"
         "  -- healpy's arithmetic gives what it gives for 0 (theta rounds to pi/2, tt to 0 or 4)\n"
         "  IF abs(ra_deg) < 1e-300 THEN ra_deg := 0.0; END IF;\n"
         "  IF abs(dec_deg) < 1e-300 THEN dec_deg := 0.0; END IF;\n"),
    ],
    "hpx_center_chord2": [
        ("  sth := sqrt(greatest(0.0, (1.0 - z) * (1.0 + z)));\n", ""),  # now per branch
        ("jpt bigint; z float8; sth float8; phi float8;",
         "jpt bigint; z float8; sth float8; phi float8; one_minus_az float8;"),
        ("  IF jr < nside THEN\n"
         "    nr := jr; z := 1.0 - (nr::float8 * nr) * 4.0 / (12.0 * npface);\n"
         "  ELSIF jr > 3 * nside THEN\n"
         "    nr := 4 * nside - jr; z := (nr::float8 * nr) * 4.0 / (12.0 * npface) - 1.0;\n"
         "  ELSE\n"
         "    nr := nside; z := (2 * nside - jr)::float8 * 2.0 / (3.0 * nside);\n"
         "  END IF;\n",
         "  IF jr < nside OR jr > 3 * nside THEN\n"
         "    -- polar caps: 1 - |z| = nr^2 / (3 nside^2) exactly; z rounds to +-1 near a pole\n"
         "    nr := CASE WHEN jr < nside THEN jr ELSE 4 * nside - jr END;\n"
         "    one_minus_az := (nr::float8 * nr) / (3.0 * npface::float8);\n"
         "    z := CASE WHEN jr < nside THEN 1.0 - one_minus_az ELSE one_minus_az - 1.0 END;\n"
         "    sth := sqrt(one_minus_az * (2.0 - one_minus_az));\n"
         "  ELSE\n"
         "    nr := nside; z := (2 * nside - jr)::float8 * 2.0 / (3.0 * nside);\n"
         "    sth := sqrt(greatest(0.0, (1.0 - z) * (1.0 + z)));\n"
         "  END IF;\n"),
    ],
    "cone_ranges": [
        ("    SELECT cos(radians(dec_deg)) * cos(radians(ra_deg)) AS cx,\n"
         "           cos(radians(dec_deg)) * sin(radians(ra_deg)) AS cy,\n"
         "           sin(radians(dec_deg)) AS cz,\n",
         "    SELECT cos(radians(d)) * cos(radians(a)) AS cx,\n"
         "           cos(radians(d)) * sin(radians(a)) AS cy,\n"
         "           sin(radians(d)) AS cz,\n"),
        (" AS kmax\n  ),",
         " AS kmax\n"
         "    -- a denormal centre is 0 (radians() of it raises \"underflow\")\n"
         "    FROM (SELECT CASE WHEN abs(ra_deg) < 1e-300 THEN 0.0 ELSE ra_deg END AS a,\n"
         "                 CASE WHEN abs(dec_deg) < 1e-300 THEN 0.0 ELSE dec_deg END AS d\n"
         f"          WHERE {S}.check_cone(ra_deg, dec_deg, radius_arcsec, 'cone_ranges')) c\n"
         "  ),"),
    ],
    "cone_search": [
        ("  IF ra_deg IS NULL OR dec_deg IS NULL OR radius_arcsec IS NULL THEN\n"
         "    RAISE EXCEPTION 'cone_search: ra, dec and radius_arcsec are required';\n"
         "  END IF;\n"
         "  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg <> ra_deg OR dec_deg <> dec_deg THEN\n"
         "    RAISE EXCEPTION 'cone_search: dec % is outside [-90, 90]', dec_deg;\n"
         "  END IF;\n"
         "  IF NOT (radius_arcsec > 0 AND radius_arcsec <= 648000) THEN\n"
         "    RAISE EXCEPTION 'cone_search: radius_arcsec % must be > 0 and <= 648000 (180 deg)',"
         " radius_arcsec;\n"
         "  END IF;\n",
         f"  PERFORM {S}.check_cone(ra_deg, dec_deg, radius_arcsec, 'cone_search');\n"),
    ],
}


def _edited(core_sql: str, name: str) -> str:
    """0001's CREATE FUNCTION statement of ``name`` with EDITS[name], as CREATE OR REPLACE."""
    start = core_sql.index(f"CREATE FUNCTION {S}.{name}(")
    text = core_sql[start:core_sql.index("$$;", start) + 3]
    for old, new in EDITS[name]:
        if text.count(old) != 1:
            raise RuntimeError(f"0008: revision 0001's {name} is not the one it edits: {old!r}")
        text = text.replace(old, new)
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


LOCK_SQL = f"""
CREATE TABLE {S}.process_lock (
  name text PRIMARY KEY
);
COMMENT ON TABLE {S}.process_lock IS
  'One row per named lock of livecat processes (migrations, ingests). A process holds a lock '
  'by locking its row FOR UPDATE until its transaction ends (catalog/locks.py); a role '
  'without UPDATE privilege, such as a reader, can neither take nor block it.';
"""


def upgrade() -> None:
    core = _core()
    core._execute_raw(CHECK_CONE_SQL)  # before the functions that call it
    core._execute_raw("\n".join(_edited(core.FUNCTIONS_SQL, name) for name in EDITS))
    core._execute_raw(LOCK_SQL)


def downgrade() -> None:
    core = _core()
    op.execute(f"DROP TABLE {S}.process_lock")
    # 0001's definitions of the functions replaced above (the others are re-created as they
    # are); cone_ranges and cone_search no longer call check_cone, which then goes
    core._execute_raw(core.FUNCTIONS_SQL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(f"DROP FUNCTION {S}.check_cone(float8, float8, float8, text)")
