"""Core schema: releases, ingest runs and rejects, X-ray sources and fluxes, literature
objects; HEALPix SQL functions and the SQL cone search.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

S = "livecat"

# healpy.max_pixrad(2**k) for k = 0..29 (radians), frozen here so that this revision never
# changes with the installed healpy.
MAX_PIXRAD = (
    "ARRAY[0.8410686705679302, 0.48146047147606696, 0.2543334045529589, "
    "0.13042543553450464, 0.06601476143251347, 0.033206666811769106, 0.01665302521141051, "
    "0.00833892084368468, 0.004172560737300081, 0.002087055235497685, 0.0010437213083341575, "
    "0.0005219090735712368, 0.0002609666412327938, 0.00013048634667784872, "
    "6.5243929847981e-05, 3.262215405052199e-05, 1.6311124306785717e-05, "
    "8.155573973774314e-06, 4.0777899419484465e-06, 2.0388957098303583e-06, "
    "1.0194480394961426e-06, 5.097240660559357e-07, 2.5486204450043484e-07, "
    "1.2743102524606507e-07, 6.371551334296504e-08, 3.185775697338972e-08, "
    "1.5928878417023963e-08, 7.964439278182877e-09, 3.98221954619691e-09, "
    "1.9911098427693513e-09]::float8[]"
)

# Bit interleaving masks 0x5555555555555555, 0x3333..., 0x0F0F..., 0x00FF..., 0x0000FFFF...,
# 0x00000000FFFFFFFF (PostgreSQL 15 has no hexadecimal integer literals).
M1, M2, M4, M8, M16, M32 = (6148914691236517205, 3689348814741910323, 1085102592571150095,
                            71777214294589695, 281470681808895, 4294967295)

FUNCTIONS_SQL = f"""
-- Not STRICT on purpose: least/greatest are not strict, and PostgreSQL inlines a STRICT SQL
-- function only when its body is strict; inlined, a 5-arcsec cone costs 184 instead of
-- 300 microseconds (scripts/bench_sky.py), and every cross-match pair gains as much.
CREATE FUNCTION {S}.ang_sep_deg(ra1 float8, de1 float8, ra2 float8, de2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- haversine; the same formula as catalog.healpix.angular_separation_deg
  SELECT degrees(2.0 * asin(sqrt(least(1.0, greatest(0.0,
         power(sin(radians(de2 - de1) / 2.0), 2)
         + cos(radians(de1)) * cos(radians(de2)) * power(sin(radians(ra2 - ra1) / 2.0), 2))))))
$$;
COMMENT ON FUNCTION {S}.ang_sep_deg IS
  'Angular separation in degrees between two ICRS positions (haversine).';

CREATE FUNCTION {S}.hpx_spread_bits(v bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE x bigint := v & {M32};
BEGIN
  x := (x | (x << 16)) & {M16};
  x := (x | (x << 8)) & {M8};
  x := (x | (x << 4)) & {M4};
  x := (x | (x << 2)) & {M2};
  x := (x | (x << 1)) & {M1};
  RETURN x;
END $$;

CREATE FUNCTION {S}.hpx_compress_bits(v bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE x bigint := v & {M1};
BEGIN
  x := (x | (x >> 1)) & {M2};
  x := (x | (x >> 2)) & {M4};
  x := (x | (x >> 4)) & {M8};
  x := (x | (x >> 8)) & {M16};
  x := (x | (x >> 16)) & {M32};
  RETURN x;
END $$;

-- HEALPix NESTED ang2pix (Gorski et al. 2005; healpix_base loc2pix), order 0..29.
CREATE FUNCTION {S}.hpx_from_radec(ra_deg float8, dec_deg float8, ord int DEFAULT 29) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  nside bigint := 1::bigint << ord;
  theta float8; z float8; za float8; tt float8; t1 float8; t2 float8; tp float8; tmp float8;
  jp bigint; jm bigint; ifp bigint; ifm bigint; ntt bigint;
  face bigint; ix bigint; iy bigint;
BEGIN
  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg = 'NaN'::float8 OR dec_deg = 'NaN'::float8 THEN
    RAISE EXCEPTION 'hpx_from_radec: position (%, %) is outside -90 <= dec <= 90', ra_deg, dec_deg;
  END IF;
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
COMMENT ON FUNCTION {S}.hpx_from_radec IS
  'HEALPix NESTED pixel of (ra, dec) in degrees at order ord (default 29), as healpy.ang2pix.';

-- Squared chord between the centre of NESTED pixel (ord, pix) and the unit vector c.
CREATE FUNCTION {S}.hpx_center_chord2(ord int, pix bigint, cx float8, cy float8, cz float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  nside bigint := 1::bigint << ord;
  npface bigint := nside * nside;
  face int; ipf bigint; ix bigint; iy bigint; jr bigint; nr bigint; kshift bigint;
  jpt bigint; z float8; sth float8; phi float8;
  jrll int[] := ARRAY[2,2,2,2,3,3,3,3,4,4,4,4];
  jpll int[] := ARRAY[1,3,5,7,0,2,4,6,1,3,5,7];
BEGIN
  face := (pix >> (2 * ord))::int;
  ipf := pix & (npface - 1);
  ix := {S}.hpx_compress_bits(ipf);
  iy := {S}.hpx_compress_bits(ipf >> 1);
  jr := (jrll[face + 1]::bigint << ord) - ix - iy - 1;
  IF jr < nside THEN
    nr := jr; z := 1.0 - (nr::float8 * nr) * 4.0 / (12.0 * npface);
  ELSIF jr > 3 * nside THEN
    nr := 4 * nside - jr; z := (nr::float8 * nr) * 4.0 / (12.0 * npface) - 1.0;
  ELSE
    nr := nside; z := (2 * nside - jr)::float8 * 2.0 / (3.0 * nside);
  END IF;
  jpt := jpll[face + 1]::bigint * nr + ix - iy;
  IF jpt < 0 THEN jpt := jpt + 8 * nr; END IF;
  phi := (pi() / 4.0) * jpt / nr;
  sth := sqrt(greatest(0.0, (1.0 - z) * (1.0 + z)));
  RETURN power(sth * cos(phi) - cx, 2) + power(sth * sin(phi) - cy, 2) + power(z - cz, 2);
END $$;

CREATE FUNCTION {S}.hpx_max_pixrad(ord int) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT ({MAX_PIXRAD})[ord + 1] $$;
COMMENT ON FUNCTION {S}.hpx_max_pixrad IS
  'Largest centre-to-corner distance (radians) of a HEALPix pixel at order ord (healpy.max_pixrad).';

CREATE FUNCTION {S}.hpx_order_for_radius(radius_rad float8) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(max(k), 0) FROM generate_series(0, 29) k
   WHERE {S}.hpx_max_pixrad(k) >= radius_rad
$$;

-- The order-29 hpx ranges covering a cone: descend from the 12 base pixels, keeping a
-- pixel while its centre is within radius + max_pixrad(order) of the cone centre, down to
-- the finest order whose pixels are still larger than the cone (as catalog.healpix).
CREATE FUNCTION {S}.cone_ranges(ra_deg float8, dec_deg float8, radius_arcsec float8)
RETURNS TABLE(lo bigint, hi bigint) LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 8 AS $$
  WITH RECURSIVE
  params AS (
    SELECT cos(radians(dec_deg)) * cos(radians(ra_deg)) AS cx,
           cos(radians(dec_deg)) * sin(radians(ra_deg)) AS cy,
           sin(radians(dec_deg)) AS cz,
           radians(radius_arcsec / 3600.0) AS r,
           {S}.hpx_order_for_radius(radians(radius_arcsec / 3600.0)) AS kmax
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
COMMENT ON FUNCTION {S}.cone_ranges IS
  'Order-29 hpx ranges (inclusive) covering the cone (ra_deg, dec_deg, radius_arcsec).';

-- Cone search over any livecat positional table (columns id, ra, dec, hpx).
CREATE FUNCTION {S}.cone_search(tbl text, ra_deg float8, dec_deg float8, radius_arcsec float8)
RETURNS TABLE(id bigint, "ra" float8, "dec" float8, separation_arcsec float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  rel regclass;
  ncols int;
BEGIN
  IF ra_deg IS NULL OR dec_deg IS NULL OR radius_arcsec IS NULL THEN
    RAISE EXCEPTION 'cone_search: ra, dec and radius_arcsec are required';
  END IF;
  IF dec_deg < -90 OR dec_deg > 90 OR ra_deg <> ra_deg OR dec_deg <> dec_deg THEN
    RAISE EXCEPTION 'cone_search: dec % is outside [-90, 90]', dec_deg;
  END IF;
  IF NOT (radius_arcsec > 0 AND radius_arcsec <= 648000) THEN
    RAISE EXCEPTION 'cone_search: radius_arcsec % must be > 0 and <= 648000 (180 deg)', radius_arcsec;
  END IF;
  rel := to_regclass(CASE WHEN strpos(tbl, '.') > 0 THEN tbl ELSE '{S}.' || quote_ident(tbl) END);
  IF rel IS NULL THEN
    RAISE EXCEPTION 'cone_search: unknown table %', tbl;
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
COMMENT ON FUNCTION {S}.cone_search IS
  'Rows of a positional table within radius_arcsec of (ra, dec): id, ra, dec, separation_arcsec.';

-- Fill hpx from ra/dec when a row is written without it (hand-written SQL); the loaders
-- compute hpx themselves, vectorised.
CREATE FUNCTION {S}.fill_hpx() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.hpx IS NULL OR TG_OP = 'UPDATE' AND (NEW.ra, NEW.dec) IS DISTINCT FROM (OLD.ra, OLD.dec)
     AND NEW.hpx = OLD.hpx THEN
    NEW.hpx := {S}.hpx_from_radec(NEW.ra, NEW.dec);
  END IF;
  RETURN NEW;
END $$;
"""

DROP_FUNCTIONS_SQL = f"""
DROP FUNCTION IF EXISTS {S}.fill_hpx() CASCADE;
DROP FUNCTION IF EXISTS {S}.cone_search(text, float8, float8, float8);
DROP FUNCTION IF EXISTS {S}.cone_ranges(float8, float8, float8);
DROP FUNCTION IF EXISTS {S}.hpx_order_for_radius(float8);
DROP FUNCTION IF EXISTS {S}.hpx_max_pixrad(int);
DROP FUNCTION IF EXISTS {S}.hpx_center_chord2(int, bigint, float8, float8, float8);
DROP FUNCTION IF EXISTS {S}.hpx_from_radec(float8, float8, int);
DROP FUNCTION IF EXISTS {S}.hpx_compress_bits(bigint);
DROP FUNCTION IF EXISTS {S}.hpx_spread_bits(bigint);
DROP FUNCTION IF EXISTS {S}.ang_sep_deg(float8, float8, float8, float8);
"""

POSITIONAL_TABLES = ("xray_source", "literature_object")


def _execute_raw(sql: str) -> None:
    """Run DDL on the driver cursor, with no parameters: it holds literal % (RAISE, format())
    that the driver's placeholder parsing must not touch. Same connection and transaction."""
    op.get_bind().connection.dbapi_connection.cursor().execute(sql)


def _position_columns():
    return [
        sa.Column("ra", sa.Float(53), nullable=False, comment="ICRS right ascension, deg"),
        sa.Column("dec", sa.Float(53), nullable=False, comment="ICRS declination, deg"),
        sa.Column("hpx", sa.BigInteger, nullable=False,
                  comment="HEALPix NESTED index at order 29 of (ra, dec)"),
        sa.CheckConstraint("dec BETWEEN -90 AND 90 AND ra >= 0 AND ra < 360",
                           name="position_range"),
    ]


def _release_columns():
    return [
        sa.Column("first_release_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.catalog_release.id"), comment="release first seen in"),
        sa.Column("last_release_id", sa.BigInteger,
                  sa.ForeignKey(f"{S}.catalog_release.id"), comment="release last seen in"),
        sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.true(),
                  comment="present in the newest complete release of its catalog"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "catalog_release",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, comment="URL, service or file it came from"),
        sa.Column("retrieved_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("checksum", sa.Text, comment="SHA-256 of the fetched input"),
        sa.Column("rows", sa.BigInteger),
        sa.Column("state", sa.Text, nullable=False, server_default="complete",
                  comment="complete | partial (region or increment) | superseded"),
        sa.Column("remote_meta", JSONB, comment="ETag, Last-Modified, service metadata"),
        sa.UniqueConstraint("catalog", "version"),
        sa.CheckConstraint("state IN ('complete', 'partial', 'superseded')",
                           name="release_state"),
        schema=S,
    )
    op.create_table(
        "ingest_run",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("release_id", sa.BigInteger, sa.ForeignKey(f"{S}.catalog_release.id")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("invoked_by", sa.Text, comment="login name or job name"),
        sa.Column("command", sa.Text),
        sa.Column("n_read", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_inserted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_updated", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_unchanged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("n_retired", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("error", sa.Text),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed', 'skipped')",
                           name="run_status"),
        schema=S,
    )
    op.create_table(
        "ingest_reject",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey(f"{S}.ingest_run.id"),
                  nullable=False),
        sa.Column("row_number", sa.BigInteger),
        sa.Column("native_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index("ingest_reject_run", "ingest_reject", ["run_id"], schema=S)

    op.create_table(
        "xray_source",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True,
                  comment="livecat id: outlives designations and releases"),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("native_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        *_position_columns(),
        sa.Column("pos_err_arcsec", sa.Float(53), comment="1-sigma circular position error"),
        sa.Column("err_maj_arcsec", sa.Float(53)),
        sa.Column("err_min_arcsec", sa.Float(53)),
        sa.Column("err_pa_deg", sa.Float(53)),
        sa.Column("significance", sa.Float(53)),
        sa.Column("extended", sa.Boolean),
        sa.Column("var_intra_prob", sa.Float(53)),
        sa.Column("var_inter_prob", sa.Float(53)),
        sa.Column("n_obs", sa.Integer),
        sa.Column("nh_gal_cm2", sa.Float(53)),
        sa.Column("flags", JSONB, nullable=False, server_default="{}"),
        sa.Column("extra", JSONB, nullable=False, server_default="{}"),
        sa.Column("row_hash", sa.Text, comment="hash of the normalized row, for change detection"),
        *_release_columns(),
        sa.UniqueConstraint("catalog", "native_id"),
        schema=S,
    )
    op.create_table(
        "xray_flux",
        sa.Column("source_id", sa.BigInteger, sa.ForeignKey(f"{S}.xray_source.id",
                                                            ondelete="CASCADE"),
                  nullable=False),
        sa.Column("band", sa.Text, nullable=False, comment="native band name"),
        sa.Column("kind", sa.Text, nullable=False,
                  comment="energy_flux (erg/cm2/s) or count_rate (counts/s)"),
        sa.Column("band_lo_kev", sa.Float(53), nullable=False),
        sa.Column("band_hi_kev", sa.Float(53), nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("value_lo", sa.Float(53), comment="lower bound of the quoted interval"),
        sa.Column("value_hi", sa.Float(53), comment="upper bound of the quoted interval"),
        sa.PrimaryKeyConstraint("source_id", "band", "kind"),
        sa.CheckConstraint("kind IN ('energy_flux', 'count_rate')", name="flux_kind"),
        sa.CheckConstraint("band_lo_kev < band_hi_kev", name="flux_band"),
        schema=S,
    )
    op.create_table(
        "literature_object",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("catalog", sa.Text, nullable=False),
        sa.Column("native_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        *_position_columns(),
        sa.Column("pos_err_arcsec", sa.Float(53), comment="1-sigma position error"),
        sa.Column("livecat_class", sa.Text, comment="class in the livecat taxonomy"),
        sa.Column("subclass", sa.Text),
        sa.Column("native_type", sa.Text, comment="the catalog's own type text"),
        sa.Column("reference", sa.Text, comment="bibcode or reference"),
        sa.Column("confidence", sa.Float(53)),
        sa.Column("params", JSONB, nullable=False, server_default="{}"),
        sa.Column("row_hash", sa.Text),
        *_release_columns(),
        sa.UniqueConstraint("catalog", "native_id"),
        schema=S,
    )
    for table in POSITIONAL_TABLES:
        op.create_index(f"{table}_hpx", table, ["hpx"], schema=S)
    _execute_raw(FUNCTIONS_SQL)
    for table in POSITIONAL_TABLES:
        op.execute(f"CREATE TRIGGER {table}_fill_hpx BEFORE INSERT OR UPDATE ON {S}.{table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {S}.fill_hpx()")


def downgrade() -> None:
    _execute_raw(DROP_FUNCTIONS_SQL)
    for table in ("literature_object", "xray_flux", "xray_source", "ingest_reject",
                  "ingest_run", "catalog_release"):
        op.drop_table(table, schema=S)
