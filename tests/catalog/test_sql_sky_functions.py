"""The SQL sky functions on bad and extreme input: NaN and infinite positions are errors
that say so; denormal coordinates give healpy's pixel and do not break a cone."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa

from catalog.healpix import radec_to_hpx

NAN, INF = float("nan"), float("inf")


def _raw(engine):
    """A psycopg connection of the engine's pool (errors come back as psycopg's classes)."""
    return engine.raw_connection()


@pytest.mark.parametrize("ra,dec,radius,message", [
    (NAN, 10.0, 5.0, "ra NaN is not a finite number of degrees"),
    (INF, 10.0, 5.0, "ra Infinity is not a finite number of degrees"),
    (-INF, 10.0, 5.0, "ra -Infinity is not a finite number of degrees"),
    (10.0, NAN, 5.0, "dec NaN is not a declination in [-90, 90] degrees"),
    (10.0, -INF, 5.0, "dec -Infinity is not a declination"),
    (10.0, 90.5, 5.0, "dec 90.5 is not a declination"),
    (10.0, 10.0, NAN, "radius_arcsec NaN must be >= 1e-9 and <= 648000"),
    (10.0, 10.0, 0.0, "radius_arcsec 0 must be >= 1e-9"),
    (10.0, 10.0, 1e-12, "radius_arcsec 1e-12 must be >= 1e-9"),
])
@pytest.mark.parametrize("function", ["cone_search", "cone_ranges"])
def test_bad_cones_are_errors_naming_the_value(engine, function, ra, dec, radius, message):
    args = ("'xray_source', " if function == "cone_search" else "") + "%s, %s, %s"
    conn = _raw(engine)
    try:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"{function}: .*"
                           + message.replace("[", r"\[").replace("]", r"\]")):
            conn.cursor().execute(f"SELECT * FROM livecat.{function}({args})", (ra, dec, radius))
    finally:
        conn.rollback()
        conn.close()


def test_nan_ra_used_to_return_nothing_and_is_now_an_error(engine, clean_tables):
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO livecat.xray_source (catalog, native_id, ra, dec) "
                             "VALUES ('t', 'a', 10, 20)"))
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="ra NaN"):
        conn.execute(sa.text("SELECT * FROM livecat.cone_search('xray_source', "
                             "'NaN'::float8, 20, 5)")).all()


TINY = [0.0, -0.0, 5e-324, -5e-324, 1e-322, 1e-310, -1e-310, 2.2250738585072014e-308,
        1e-305, 1e-300, -1e-300, 1e-200]


def test_hpx_from_radec_of_denormal_and_tiny_coordinates_is_healpys_pixel(engine):
    pairs = [(ra, dec) for ra in TINY for dec in TINY]
    pairs += [(ra, 45.0) for ra in TINY] + [(123.4, dec) for dec in TINY]
    pairs += [(359.99999999999994, dec) for dec in TINY[:6]]
    ra, dec = np.array(pairs).T
    with engine.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT livecat.hpx_from_radec(r, d) FROM unnest(CAST(:r AS float8[]), "
            "CAST(:d AS float8[])) WITH ORDINALITY AS u(r, d, o) ORDER BY o"),
            {"r": ra.tolist(), "d": dec.tolist()}).scalars().all()
        for order in (0, 10, 29):
            at = conn.execute(sa.text("SELECT livecat.hpx_from_radec(5e-324, -1e-310, :k)"),
                              {"k": order}).scalar_one()
            assert at == int(radec_to_hpx(5e-324, -1e-310, order))
    assert got == radec_to_hpx(ra, dec).tolist()


@pytest.mark.parametrize("ra,dec", [(INF, 0.0), (-INF, 0.0), (NAN, 0.0), (0.0, NAN),
                                    (0.0, INF)])
def test_hpx_from_radec_refuses_what_healpy_refuses(engine, ra, dec):
    with pytest.raises(ValueError):
        radec_to_hpx(ra, dec)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError,
                                                 match="hpx_from_radec: position"):
        conn.execute(sa.text("SELECT livecat.hpx_from_radec(:r, :d)"), {"r": ra, "d": dec})


def test_rows_and_cones_at_denormal_positions(engine, clean_tables):
    """A row at a denormal position (hpx filled by the trigger) is found by cones around
    it, in SQL and Python, whatever the centre's own tiny coordinates."""
    from catalog.sky import cone_search

    with engine.begin() as conn:
        for i, (ra, dec) in enumerate([(5e-324, 5e-324), (0.0, -1e-310), (1e-300, 0.0)]):
            conn.execute(sa.text("INSERT INTO livecat.xray_source (catalog, native_id, ra, dec)"
                                 " VALUES ('t', :n, :r, :d)"), {"n": f"d{i}", "r": ra, "d": dec})
    for ra, dec in [(0.0, 0.0), (5e-324, -5e-324), (1e-310, 1e-310), (359.9999999, 0.0)]:
        with engine.connect() as conn:
            sql = conn.execute(sa.text(
                "SELECT id, separation_arcsec FROM livecat.cone_search('xray_source', :r, :d, "
                "1.0)"), {"r": ra, "d": dec}).all()
        py = cone_search(engine, "xray_source", ra, dec, 1.0)
        assert len(sql) == 3 and sorted(r[0] for r in sql) == sorted(py["id"])
        assert all(math.isfinite(r[1]) and r[1] < 1.0 for r in sql)
