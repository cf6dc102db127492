"""Catalog hardening: exact tiny cones and clear errors in the SQL sky functions, and a
process lock a read-only role cannot take.

SQL functions replaced (same signatures; the downgrade restores 0001's definitions):

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


FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION {S}.ang_sep_deg(ra1 float8, de1 float8, ra2 float8, de2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- haversine, as catalog.coords.angular_separation_deg; "+ 1e-100" changes no coordinate
  -- above 1e-84 deg and keeps power() of denormal differences from raising "underflow".
  -- Not STRICT, so that PostgreSQL inlines it (see 0001).
  SELECT degrees(2.0 * asin(sqrt(least(1.0, greatest(0.0,
         power(sin(radians((de2 + 1e-100::float8) - (de1 + 1e-100::float8)) / 2.0), 2)
         + cos(radians(de1 + 1e-100::float8)) * cos(radians(de2 + 1e-100::float8))
           * power(sin(radians((ra2 + 1e-100::float8) - (ra1 + 1e-100::float8)) / 2.0), 2))))))
$$;

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

CREATE OR REPLACE FUNCTION {S}.hpx_from_radec(ra_deg float8, dec_deg float8, ord int DEFAULT 29)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  nside bigint := 1::bigint << ord;
  theta float8; z float8; za float8; tt float8; t1 float8; t2 float8; tp float8; tmp float8;
  jp bigint; jm bigint; ifp bigint; ifm bigint; ntt bigint;
  face bigint; ix bigint; iy bigint;
BEGIN
  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg = 'NaN'::float8 OR dec_deg = 'NaN'::float8
     OR ra_deg IN ('Infinity'::float8, '-Infinity'::float8) THEN
    RAISE EXCEPTION 'hpx_from_radec: position (%, %) is outside -90 <= dec <= 90 or not finite',
      ra_deg, dec_deg USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- radians() of a denormal raises "underflow"; below 1e-300 deg every step of healpy's
  -- arithmetic gives what it gives for 0 (theta rounds to pi/2, tt to 0 or 4)
  IF abs(ra_deg) < 1e-300 THEN ra_deg := 0.0; END IF;
  IF abs(dec_deg) < 1e-300 THEN dec_deg := 0.0; END IF;
  -- the arithmetic of healpy (lonlat -> colatitude theta, then healpix_base loc2pix), so
  -- that points exactly on pixel boundaries get the same pixel as the Python loaders
  theta := pi() / 2.0 - radians(dec_deg);
  z := cos(theta); za := abs(z);
  tt := radians(ra_deg) / (pi() / 2.0);
  tt := tt - 4.0 * floor(tt / 4.0);
  IF tt >= 4.0 THEN tt := 0.0; END IF;
  IF za <= 2.0 / 3.0 THEN
    t1 := nside * (0.5 + tt);
    t2 := nside * (z * 0.75);
    jp := floor(t1 - t2)::bigint;
    jm := floor(t1 + t2)::bigint;
    ifp := jp >> ord; ifm := jm >> ord;
    IF ifp = ifm THEN face := ifp | 4;
    ELSIF ifp < ifm THEN face := ifp;
    ELSE face := ifm + 8;
    END IF;
    ix := jm & (nside - 1);
    iy := nside - (jp & (nside - 1)) - 1;
  ELSE
    ntt := least(3, floor(tt)::bigint);
    tp := tt - ntt;
    IF za > 0.99 THEN
      tmp := nside * sin(theta) / sqrt((1.0 + za) / 3.0);  -- precise near the poles
    ELSE
      tmp := nside * sqrt(3.0 * (1.0 - za));
    END IF;
    jp := least(nside - 1, floor(tp * tmp)::bigint);
    jm := least(nside - 1, floor((1.0 - tp) * tmp)::bigint);
    IF z >= 0 THEN
      face := ntt; ix := nside - jm - 1; iy := nside - jp - 1;
    ELSE
      face := ntt + 8; ix := jp; iy := jm;
    END IF;
  END IF;
  RETURN face * nside * nside + {S}.hpx_spread_bits(ix) + 2 * {S}.hpx_spread_bits(iy);
END $$;

-- Squared chord between the centre of NESTED pixel (ord, pix) and the unit vector c.
CREATE OR REPLACE FUNCTION {S}.hpx_center_chord2(ord int, pix bigint, cx float8, cy float8,
                                                 cz float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  nside bigint := 1::bigint << ord;
  npface bigint := nside * nside;
  face int; ipf bigint; ix bigint; iy bigint; jr bigint; nr bigint; kshift bigint;
  jpt bigint; z float8; sth float8; phi float8; one_minus_az float8;
  jrll int[] := ARRAY[2,2,2,2,3,3,3,3,4,4,4,4];
  jpll int[] := ARRAY[1,3,5,7,0,2,4,6,1,3,5,7];
BEGIN
  face := (pix >> (2 * ord))::int;
  ipf := pix & (npface - 1);
  ix := {S}.hpx_compress_bits(ipf);
  iy := {S}.hpx_compress_bits(ipf >> 1);
  jr := (jrll[face + 1]::bigint << ord) - ix - iy - 1;
  IF jr < nside OR jr > 3 * nside THEN
    -- polar caps: 1 - |z| = nr^2 / (3 nside^2) exactly; z itself rounds to +-1 near a pole
    nr := CASE WHEN jr < nside THEN jr ELSE 4 * nside - jr END;
    one_minus_az := (nr::float8 * nr) / (3.0 * npface::float8);
    z := CASE WHEN jr < nside THEN 1.0 - one_minus_az ELSE one_minus_az - 1.0 END;
    sth := sqrt(one_minus_az * (2.0 - one_minus_az));
  ELSE
    nr := nside; z := (2 * nside - jr)::float8 * 2.0 / (3.0 * nside);
    sth := sqrt((1.0 - z) * (1.0 + z));
  END IF;
  jpt := jpll[face + 1]::bigint * nr + ix - iy;
  IF jpt < 0 THEN jpt := jpt + 8 * nr; END IF;
  phi := (pi() / 4.0) * jpt / nr;
  RETURN power(sth * cos(phi) - cx, 2) + power(sth * sin(phi) - cy, 2) + power(z - cz, 2);
END $$;

-- The order-29 hpx ranges covering a cone: descend from the 12 base pixels, keeping a
-- pixel while its centre is within radius + max_pixrad(order) of the cone centre, down to
-- the finest order whose pixels are still larger than the cone (as catalog.healpix).
CREATE OR REPLACE FUNCTION {S}.cone_ranges(ra_deg float8, dec_deg float8, radius_arcsec float8)
RETURNS TABLE(lo bigint, hi bigint) LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 8 AS $$
  WITH RECURSIVE
  params AS (
    SELECT cos(radians(d)) * cos(radians(a)) AS cx,
           cos(radians(d)) * sin(radians(a)) AS cy,
           sin(radians(d)) AS cz,
           radians(radius_arcsec / 3600.0) AS r,
           {S}.hpx_order_for_radius(radians(radius_arcsec / 3600.0)) AS kmax
    -- a denormal centre is 0 (radians() of it raises "underflow")
    FROM (SELECT CASE WHEN abs(ra_deg) < 1e-300 THEN 0.0 ELSE ra_deg END AS a,
                 CASE WHEN abs(dec_deg) < 1e-300 THEN 0.0 ELSE dec_deg END AS d
          WHERE {S}.check_cone(ra_deg, dec_deg, radius_arcsec, 'cone_ranges')) c
  ),
  descent(ord, pix) AS (
    SELECT 0, p::bigint FROM params, generate_series(0, 11) p
    WHERE {S}.hpx_center_chord2(0, p, cx, cy, cz)
          <= power(2.0 * sin(least(pi(), r + {S}.hpx_max_pixrad(0) + 1e-9) / 2.0), 2)
    UNION ALL
    SELECT d.ord + 1, d.pix * 4 + c
    FROM descent d, params, generate_series(0, 3) c
    WHERE d.ord < kmax
      AND {S}.hpx_center_chord2(d.ord + 1, d.pix * 4 + c, cx, cy, cz)
          <= power(2.0 * sin(least(pi(), r + {S}.hpx_max_pixrad(d.ord + 1) + 1e-9) / 2.0), 2)
  )
  SELECT pix << (2 * (29 - ord)), ((pix + 1) << (2 * (29 - ord))) - 1
  FROM descent, params WHERE ord = kmax ORDER BY 1
$$;

-- Cone search over any livecat positional table (columns id, ra, dec, hpx).
CREATE OR REPLACE FUNCTION {S}.cone_search(tbl text, ra_deg float8, dec_deg float8,
                                           radius_arcsec float8)
RETURNS TABLE(id bigint, "ra" float8, "dec" float8, separation_arcsec float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  rel regclass;
  ncols int;
BEGIN
  PERFORM {S}.check_cone(ra_deg, dec_deg, radius_arcsec, 'cone_search');
  rel := to_regclass(CASE WHEN strpos(tbl, '.') > 0 THEN tbl ELSE '{S}.' || quote_ident(tbl) END);
  IF rel IS NULL THEN
    RAISE EXCEPTION 'cone_search: unknown table %', tbl USING ERRCODE = 'undefined_table';
  END IF;
  SELECT count(*) INTO ncols FROM pg_attribute
   WHERE attrelid = rel AND attname IN ('id', 'ra', 'dec', 'hpx') AND NOT attisdropped;
  IF ncols <> 4 THEN
    RAISE EXCEPTION 'cone_search: table % is not positional (needs id, ra, dec, hpx)', tbl;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT t.id::bigint, t.ra, t.dec, {S}.ang_sep_deg($1, $2, t.ra, t.dec) * 3600.0
       FROM {S}.cone_ranges($1, $2, $3) r
       CROSS JOIN LATERAL (SELECT s.id, s.ra, s.dec FROM %s s
                            WHERE s.hpx BETWEEN r.lo AND r.hi OFFSET 0) t
      WHERE {S}.ang_sep_deg($1, $2, t.ra, t.dec) <= $3 / 3600.0
      ORDER BY 4, 1', rel)
    USING ra_deg, dec_deg, radius_arcsec;
END $$;
"""

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
    core._execute_raw(FUNCTIONS_SQL)
    core._execute_raw(LOCK_SQL)


def downgrade() -> None:
    core = _core()
    op.execute(f"DROP TABLE {S}.process_lock")
    # 0001's definitions of the functions replaced above (the others are re-created as they
    # are); cone_ranges and cone_search no longer call check_cone, which then goes
    core._execute_raw(core.FUNCTIONS_SQL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(f"DROP FUNCTION {S}.check_cone(float8, float8, float8, text)")
