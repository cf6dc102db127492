"""Cone search and cross-match over livecat's positional tables.

A positional table is any table in the ``livecat`` schema with columns ``id``, ``ra``,
``dec`` and ``hpx`` (HEALPix NESTED order 29, btree-indexed). A cone becomes order-29
``hpx`` ranges (:func:`catalog.healpix.cone_ranges`), scanned through the btree, and the
exact angular distance (the SQL function ``livecat.ang_sep_deg``, shared with
``livecat.cone_search``) keeps the rows inside the radius.

Cross-match: every left position is assigned the pixels its disc can touch — at an order
whose pixels are at least 8 radii wide, its own pixel and those of its 8 neighbours whose
centres lie within radius + max_pixrad — mapped to their parents 3 orders coarser (nearly
always a single pixel). The right table is joined on those pixels by one btree range probe
each, or, when the probes would outnumber the right table's rows, by one hash join on
``hpx >> shift``; the exact distance filters the pairs.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Literal

import healpy as hp
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .coords import check_coordinate, parse_radius_arcsec
from .errors import InputError
from .healpix import ARCSEC, MAX_ORDER, MAX_PIXRAD, cone_ranges
from .pgcopy import copy_columns, read_columns
from .settings import SCHEMA


def positional_tables(conn: Connection) -> list[str]:
    """Names of the tables in the livecat schema that have id, ra, dec and hpx."""
    rows = conn.execute(sa.text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') "
        "AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid "
        "     AND a.attname IN ('id', 'ra', 'dec', 'hpx') AND NOT a.attisdropped) = 4 "
        "ORDER BY 1"), {"s": SCHEMA})
    return [r[0] for r in rows]


_KNOWN_TABLES: dict[str, frozenset[str]] = {}


def _check_table(conn: Connection, table: str) -> str:
    """Qualified name of a positional table; InputError naming the known ones otherwise.

    The list is cached per database URL and re-read on a miss, so a cone search costs no
    catalog query once the table has been seen.
    """
    key = conn.engine.url.render_as_string(hide_password=True)
    if table in _KNOWN_TABLES.get(key, ()):
        return f'{SCHEMA}."{table}"'
    known = positional_tables(conn)
    _KNOWN_TABLES[key] = frozenset(known)
    if table not in known:
        raise InputError(f"unknown table {table!r}: positional tables are "
                         f"{', '.join(known) or '(none: run `livecat db upgrade`)'}")
    return f'{SCHEMA}."{table}"'


def check_position(ra_deg: float, dec_deg: float) -> None:
    """Raise InputError unless ra is finite (any value: it is taken modulo 360) and
    -90 <= dec <= 90 (:func:`catalog.coords.check_coordinate`)."""
    if not math.isfinite(ra_deg):
        raise InputError(f"position ({ra_deg}, {dec_deg}) must be finite numbers in degrees")
    check_coordinate(dec_deg, hours=False)


def check_radius(radius_arcsec: float) -> None:
    """Raise InputError unless MIN_RADIUS_ARCSEC <= radius <= 180 degrees
    (:func:`catalog.coords.parse_radius_arcsec`)."""
    parse_radius_arcsec(radius_arcsec)


OR_RANGES_MAX = 4
"""Cones of at most this many ranges (nearly every cone under 10 arcmin) use one statement
with OR-ed ``BETWEEN``s, one statement per range count; more ranges go through the
unnest/LATERAL statement. Not more: a generic plan prices each range at 0.5% of the table,
and with many ORs on a large table a sequential scan would look cheaper."""


def cone_search_sql(table_sql: str, n_ranges: int, columns: str = "t.*") -> str:
    """The cone-search statement for a qualified table name and a number of ranges.

    psycopg parameters ``%(ra)s %(dec)s %(r)s`` and the ranges: ``%(lo0)s %(hi0)s ...``
    when ``n_ranges <= OR_RANGES_MAX``, else the arrays ``%(lo)s %(hi)s`` (see
    :func:`cone_search_params`). The text depends only on the table and the range count, so
    each is prepared once per connection and its generic plan reused.

    With a few ranges, ``hpx BETWEEN .. OR hpx BETWEEN ..`` is a bitmap scan of one range or
    a BitmapOr of a few: about 30 us less per statement than the LATERAL form
    (scripts/bench_sky.py). ``livecat.no_parallel()`` (migration 0006) keeps this form
    serial: the generic plan's default estimates would otherwise start parallel workers,
    milliseconds of start-up, for a cone of one row on a table of a few million.

    With many ranges the OR list would be a new statement per count, so the ranges travel as
    arrays and a LATERAL subquery probes each; its ``OFFSET 0`` fence keeps every range its
    own parameterised btree scan. Without the fence the planner, which assumes a default 0.5%
    of the table per ``BETWEEN`` of unknown bounds, flattens the join and prefers a
    (parallel) sequential scan of the whole table, 1000 times slower.
    """
    if n_ranges < 1:  # catalog.healpix.cone_ranges always covers a cone with some range
        raise ValueError("a cone statement needs at least one hpx range")
    sep = f"{SCHEMA}.ang_sep_deg(%(ra)s, %(dec)s, t.ra, t.dec)"
    if n_ranges <= OR_RANGES_MAX:
        ors = " OR ".join(f"t.hpx BETWEEN %(lo{i})s AND %(hi{i})s" for i in range(n_ranges))
        source = f"{table_sql} t WHERE ({ors}) AND {SCHEMA}.no_parallel() AND "
    else:
        source = (f"unnest(%(lo)s::bigint[], %(hi)s::bigint[]) AS r(lo, hi) "
                  f"CROSS JOIN LATERAL (SELECT * FROM {table_sql} s "
                  f"WHERE s.hpx BETWEEN r.lo AND r.hi OFFSET 0) AS t WHERE ")
    # ORDER BY the expression, not its name: a table may have its own separation_arcsec
    return (f"SELECT {columns}, {sep} * 3600.0 AS separation_arcsec FROM {source}"
            f"{sep} <= %(r)s / 3600.0 ORDER BY {sep} * 3600.0, t.id")


def cone_search_params(ra_deg: float, dec_deg: float, radius_arcsec: float,
                       ranges: np.ndarray) -> dict:
    """Parameters of :func:`cone_search_sql` for a cone and its ``hpx`` ranges."""
    params = {"ra": float(ra_deg), "dec": float(dec_deg), "r": float(radius_arcsec)}
    if len(ranges) <= OR_RANGES_MAX:
        for i, (lo, hi) in enumerate(ranges.tolist()):
            params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    else:
        params["lo"], params["hi"] = ranges[:, 0].tolist(), ranges[:, 1].tolist()
    return params


BOOKKEEPING_COLUMNS = ("hpx", "row_hash", "created_at", "updated_at")
"""Columns of positional tables that serve livecat rather than its readers: the sky index,
the change-detection hash and the row timestamps. Left out of :func:`public_view`."""

LEADING_COLUMNS = ("id", "catalog", "native_id", "name", "ra", "dec", "separation_arcsec",
                   "is_current")
"""The columns a cone's rows start with, where the table has them."""


def public_view(df: pd.DataFrame) -> pd.DataFrame:
    """A cone's rows as people read them: no :data:`BOOKKEEPING_COLUMNS`, the
    :data:`LEADING_COLUMNS` first. A table's own ``separation_arcsec`` (``mw_counterpart``:
    from its X-ray source) becomes ``row_separation_arcsec``, the cone's keeps the name."""
    names = list(df.columns)
    if names.count("separation_arcsec") > 1:  # the table's own first, the cone's last
        names[names.index("separation_arcsec")] = "row_separation_arcsec"
        df = df.set_axis(names, axis=1)
    keep = [c for c in names if c not in BOOKKEEPING_COLUMNS]
    order = [c for c in LEADING_COLUMNS if c in keep] + [c for c in keep
                                                          if c not in LEADING_COLUMNS]
    return df[order]


_KINDS = {"float4": "f", "float8": "f", "numeric": "f", "int2": "i", "int4": "i",
          "int8": "i", "bool": "b"}


def column_meta(conn: Connection | Engine, table: str) -> tuple[dict[str, str], dict[str, str]]:
    """Units and numpy kinds (b, i, f, U) of the columns of a livecat table and of a cone's
    columns (:func:`public_view`). Units come from the column comments (``"..., deg"``) or
    names (:func:`catalog.output.unit_for`)."""
    from .output import unit_for

    with (conn.connect() if isinstance(conn, Engine) else nullcontext(conn)) as c:
        rows = c.execute(sa.text(
            "SELECT a.attname, col_description(a.attrelid, a.attnum), t.typname "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"),
            {"t": _check_table(c, table)}).all()
    units = {name: unit_for(name, comment) for name, comment, _ in rows}
    kinds = {name: _KINDS.get(typname, "U") for name, _, typname in rows}
    if "separation_arcsec" in units:  # the table's own, renamed by public_view
        units["row_separation_arcsec"] = units["separation_arcsec"]
        kinds["row_separation_arcsec"] = kinds["separation_arcsec"]
    units["separation_arcsec"], kinds["separation_arcsec"] = "arcsec", "f"
    return {k: v for k, v in units.items() if v}, kinds


def cone_search(conn: Connection | Engine, table: str, ra_deg: float, dec_deg: float,
                radius_arcsec: float, *, as_table: bool = False):
    """Rows of ``table`` within ``radius_arcsec`` of (ra, dec), nearest first.

    Parameters
    ----------
    conn : sqlalchemy Connection or Engine
    table : str
        A positional table of the livecat schema (e.g. ``"xray_source"``).
    ra_deg, dec_deg : float
        Centre, ICRS degrees.
    radius_arcsec : float
        :data:`catalog.coords.MIN_RADIUS_ARCSEC` <= radius <= 648000 (180 degrees).
    as_table : bool
        Return an astropy Table with units (deg, arcsec, ...) of :func:`public_view`'s
        columns (no bookkeeping), its meta naming the cone, instead of a DataFrame.

    Returns
    -------
    pandas.DataFrame or astropy.table.Table
        Every column of the table plus ``separation_arcsec``, ordered by separation then id.
        The same rows as ``SELECT * FROM livecat.cone_search(table, ra, dec, radius)``.
    """
    check_position(ra_deg, dec_deg)
    check_radius(radius_arcsec)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return cone_search(c, table, ra_deg, dec_deg, radius_arcsec, as_table=as_table)
    if as_table:
        from .output import to_table

        rows = cone_search(conn, table, ra_deg, dec_deg, radius_arcsec)
        units, kinds = column_meta(conn, table)
        return to_table(public_view(rows), units, kinds,
                        meta={"TABLE": table, "RA": float(ra_deg), "DEC": float(dec_deg),
                              "RADIUS": float(radius_arcsec)})
    table_sql = _check_table(conn, table)
    ranges = cone_ranges(ra_deg, dec_deg, radius_arcsec)
    # straight on the driver's cursor (same transaction): SQLAlchemy's per-call statement
    # compilation and row objects cost more than the query itself
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.execute(cone_search_sql(table_sql, len(ranges)),
                    cone_search_params(ra_deg, dec_deg, radius_arcsec, ranges), prepare=True)
        columns = [d.name for d in cur.description]
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def crossmatch_order(radius_arcsec: float) -> int:
    """Order of the pixels whose neighbourhoods cover the discs at ``radius_arcsec``.

    The finest order whose max_pixrad is at least 8 radii: the disc then lies well inside
    its pixel and the 8 neighbours (HEALPix pixels are never narrower than an eighth of
    their max_pixrad).
    """
    ok = np.nonzero(MAX_PIXRAD >= 8.0 * radius_arcsec * ARCSEC)[0]
    return int(ok[-1]) if len(ok) else 0


PROBE_COARSENING = 3
"""Orders between the covering pixels and the probed ones: the candidate pixels of a disc
(about 4 at the covering order) nearly always share one parent 3 orders up, so each left
row costs about one btree probe, over a pixel only ~64 radii wide."""


def disc_pixels(ra_deg: np.ndarray, dec_deg: np.ndarray, radius_arcsec: float,
                order: int, parent_order: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that each disc can touch, as (row index, pixel) pairs.

    Parameters
    ----------
    ra_deg, dec_deg : numpy.ndarray
        Disc centres.
    radius_arcsec : float
    order : int
        Covering order, from :func:`crossmatch_order`.
    parent_order : int, optional
        Report the distinct parents at this coarser order instead.

    Returns
    -------
    rows, pixels : numpy.ndarray of int64
        For every disc, its own pixel and each neighbour whose centre lies within
        radius + max_pixrad(order) of the disc centre (a pixel farther away cannot touch
        it); each (row, pixel) pair once.
    """
    nside = 2 ** order
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    own = hp.ang2pix(nside, ra, dec, nest=True, lonlat=True).astype(np.int64)
    cand = np.vstack([own[None, :], hp.get_all_neighbours(nside, own, nest=True)])  # (9, n)
    valid = cand >= 0  # -1: a corner with only 7 neighbours
    centres = np.array(hp.pix2vec(nside, np.where(valid, cand, own).ravel(), nest=True))
    centres = centres.reshape(3, *cand.shape)
    points = np.array(hp.ang2vec(ra, dec, lonlat=True)).T  # (3, n)
    chord2 = np.sum((centres - points[:, None, :]) ** 2, axis=0)
    limit = min(math.pi, radius_arcsec * ARCSEC + MAX_PIXRAD[order] + 1e-9)
    keep = valid & (chord2 <= (2.0 * math.sin(limit / 2.0)) ** 2)
    keep[0] = True  # the own pixel
    if parent_order is not None:
        cand = cand >> (2 * (order - parent_order))
    cand = np.sort(np.where(keep, cand, -1), axis=0)
    first = np.ones_like(keep)
    first[1:] = cand[1:] != cand[:-1]  # each pixel once per row
    which, rows = np.nonzero((cand >= 0) & first)
    return rows.astype(np.int64), cand[which, rows]


def _load_left(conn: Connection, ids: np.ndarray, ra: np.ndarray, dec: np.ndarray,
               radius_arcsec: float, order: int, probe_order: int) -> int:
    """Fill the temp table xm_left(cp, id, ra, dec), sorted by pixel; return its row count.

    ``cp`` are the pixels at ``probe_order`` (<= ``order``) that hold a candidate pixel of
    the row's disc, one row per distinct (left row, pixel). Sorted by pixel, the probes
    walk the right table's btree in order.
    """
    rows, pixels = disc_pixels(ra, dec, radius_arcsec, order, parent_order=probe_order)
    by_pixel = np.argsort(pixels, kind="stable")
    rows, pixels = rows[by_pixel], pixels[by_pixel]
    conn.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS xm_left "
                         "(cp bigint, id bigint, ra float8, dec float8) ON COMMIT DROP"))
    conn.execute(sa.text("TRUNCATE xm_left"))
    copy_columns(conn.connection.dbapi_connection, "xm_left",
                 {"cp": pixels, "id": ids[rows], "ra": ra[rows], "dec": dec[rows]})
    conn.execute(sa.text("ANALYZE xm_left"))
    return len(rows)


def _estimated_rows(conn: Connection, table_sql: str) -> float:
    est = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                       {"t": table_sql}).scalar_one()
    return max(float(est), 1.0)


def crossmatch(conn: Connection | Engine, left: str | pd.DataFrame, right: str,
               radius_arcsec: float, nearest: bool = False,
               strategy: Literal["auto", "probe", "hash"] = "auto") -> pd.DataFrame:
    """Pairs (left, right) within ``radius_arcsec``.

    Parameters
    ----------
    conn : sqlalchemy Connection or Engine
    left : str or pandas.DataFrame
        A positional table name, or a frame with ``ra`` and ``dec`` columns (degrees) and
        optionally an integer ``id`` column (default: the row position 0..n-1).
    right : str
        A positional table name.
    radius_arcsec : float
    nearest : bool
        Keep only the nearest right row for each left row (ties: lowest right id).
    strategy : {"auto", "probe", "hash"}
        ``probe``: btree range probes per left pixel; ``hash``: one hash join on the coarse
        pixel; ``auto`` picks hash when the left side has more than 2% of the right's rows.

    Returns
    -------
    pandas.DataFrame
        ``left_id``, ``right_id``, ``separation_arcsec``, ordered by left_id, separation,
        right_id.
    """
    check_radius(radius_arcsec)
    if isinstance(conn, Engine):
        with conn.begin() as c:
            return crossmatch(c, left, right, radius_arcsec, nearest, strategy)
    right_sql = _check_table(conn, right)
    if isinstance(left, str):
        left_sql = _check_table(conn, left)
        cols = read_columns(conn.connection.dbapi_connection,
                            f"SELECT id::bigint, ra, dec FROM {left_sql}",
                            {"id": "int64", "ra": "float64", "dec": "float64"})
        ids, ra, dec = cols["id"], cols["ra"], cols["dec"]
    else:
        missing = {"ra", "dec"} - set(left.columns)
        if missing:
            raise InputError(f"the table to cross-match lacks column(s) {sorted(missing)}")
        ra = left["ra"].to_numpy(dtype=np.float64)
        dec = left["dec"].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(ra) | ~np.isfinite(dec) | (np.abs(dec) > 90)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise InputError(f"row {i}: position ({ra[i]}, {dec[i]}) is not a valid "
                             f"ICRS position in degrees")
        ids = (left["id"].to_numpy(dtype=np.int64) if "id" in left.columns
               else np.arange(len(left), dtype=np.int64))
    order = crossmatch_order(radius_arcsec)
    probe_order = max(order - PROBE_COARSENING, 0)
    shift = 2 * (MAX_ORDER - probe_order)
    radius_deg = float(radius_arcsec) / 3600.0  # a literal: the pairs are read with COPY
    bitmap = conn.execute(sa.text("SHOW enable_bitmapscan")).scalar_one()
    n_left = _load_left(conn, ids, ra, dec, radius_arcsec, order, probe_order)
    if strategy == "auto":
        strategy = "hash" if n_left > _estimated_rows(conn, right_sql) else "probe"
    if strategy == "hash":
        join = f"JOIN {right_sql} r ON (r.hpx >> {shift}) = l.cp"
    else:
        # Each probe returns a handful of rows: a plain index scan is 4x cheaper than a
        # bitmap scan here (scripts/bench_sky.py), and the planner cannot know the counts.
        conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        join = (f"CROSS JOIN LATERAL (SELECT s.id, s.ra, s.dec FROM {right_sql} s "
                f"WHERE s.hpx BETWEEN (l.cp << {shift}) AND ((l.cp + 1) << {shift}) - 1 "
                f"OFFSET 0) r")  # the fence of cone_search_sql: one btree probe per pixel
    pairs = (f"SELECT l.id::bigint AS left_id, r.id::bigint AS right_id, "
             f"{SCHEMA}.ang_sep_deg(l.ra, l.dec, r.ra, r.dec) * 3600.0 AS separation_arcsec "
             f"FROM xm_left l {join} "
             f"WHERE {SCHEMA}.ang_sep_deg(l.ra, l.dec, r.ra, r.dec) <= {radius_deg!r}")
    if nearest:
        sql = (f"SELECT DISTINCT ON (left_id) * FROM ({pairs}) p "
               f"ORDER BY left_id, separation_arcsec, right_id")
    else:
        sql = pairs
    cols = read_columns(conn.connection.dbapi_connection, sql,
                        {"left_id": "int64", "right_id": "int64", "separation_arcsec": "float64"})
    order = np.lexsort((cols["right_id"], cols["separation_arcsec"], cols["left_id"]))
    out = pd.DataFrame({k: v[order] for k, v in cols.items()})
    conn.execute(sa.text("DROP TABLE IF EXISTS xm_left"))
    conn.execute(sa.text("SELECT set_config('enable_bitmapscan', :v, true)"), {"v": bitmap})
    return out
