"""Cones down to 0.1 mas return exactly the brute-force rows, in Python and in SQL.

healpy's ``query_disc`` compares cosines of distances, which cannot resolve pixels under a
few mas: 1-mas cones got no covering pixel (and an invalid statement) or missed a point
inside them. Thousands of random cones per radius, at the poles and across RA 0/360
included, each with points placed inside (some a hair inside the edge) and just outside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from catalog.coords import angular_separation_deg
from catalog.healpix import cone_ranges, radec_to_hpx
from catalog.sky import cone_search

RADII_ARCSEC = (1e-3, 1e-4)  # 1 mas and 0.1 mas
N_CONES = 2000


def random_cones(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform on the sphere, a tenth within 36 mas of a pole, a tenth across RA 0/360."""
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    k = n // 10
    dec[:k] = np.where(rng.uniform(size=k) < 0.5, -1, 1) * (90 - rng.uniform(0, 1e-5, k))
    ra[k:2 * k] = rng.uniform(-1e-6, 1e-6, k) % 360
    dec[2 * k:2 * k + 4] = [90.0, -90.0, 0.0, 89.9999999]
    return ra, dec


def offset(ra, dec, pa, rho_deg) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``rho_deg`` from (ra, dec) towards position angle ``pa`` (degrees, vectorised).

    Built from unit vectors and read back with atan2, which keeps full precision at the
    poles (astropy's ``directional_offset_by`` goes through arcsin there and quantises the
    declination to ~1 mas).
    """
    a, d, t, r = (np.radians(x) for x in (ra, dec, pa, rho_deg))
    centre = np.array([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    east = np.array([-np.sin(a), np.cos(a), np.zeros_like(a)])
    north = np.array([-np.sin(d) * np.cos(a), -np.sin(d) * np.sin(a), np.cos(d)])
    v = centre * np.cos(r) + (north * np.cos(t) + east * np.sin(t)) * np.sin(r)
    return (np.degrees(np.arctan2(v[1], v[0])) % 360.0,
            np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1]))))


def edge_points(rng, ra, dec, radius_arcsec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cone: one point anywhere inside, one 1e-4 of the radius inside the edge, one
    1e-4 outside and one at 1.5 radii, in random directions. Returns (cone, ra, dec).

    Not closer to the edge: near RA 360 a double holds degrees to ~6e-14 deg, 2e-6 of a
    0.1-mas radius, so a point cannot be placed more finely than that."""
    fractions = np.array([rng.uniform(0, 1), 1 - 1e-4, 1 + 1e-4, 1.5])
    cone = np.repeat(np.arange(len(ra)), len(fractions))
    frac = np.tile(fractions, len(ra))
    pra, pdec = offset(ra[cone], dec[cone], rng.uniform(0, 360, len(cone)),
                       frac * radius_arcsec / 3600.0)
    return cone, np.where(pra >= 360.0, 0.0, pra), pdec


@pytest.fixture(scope="module")
def tiny(engine):
    rng = np.random.default_rng(2024)
    cones, points = [], []
    for radius in RADII_ARCSEC:
        ra, dec = random_cones(rng, N_CONES)
        cones.append(pd.DataFrame({"ra": ra, "dec": dec, "radius": radius}))
        _, pra, pdec = edge_points(rng, ra, dec, radius)
        points.append(pd.DataFrame({"ra": pra, "dec": pdec}))
    cones = pd.concat(cones, ignore_index=True)
    points = pd.concat(points, ignore_index=True)
    with engine.begin() as conn:
        points["id"] = conn.execute(sa.text(
            "INSERT INTO livecat.literature_object (catalog, native_id, ra, dec, hpx) "
            "SELECT 'tiny', 'p' || o, r, d, h FROM unnest(CAST(:r AS float8[]), "
            "CAST(:d AS float8[]), CAST(:h AS bigint[])) WITH ORDINALITY AS u(r, d, h, o) "
            "ORDER BY o RETURNING id"),
            {"r": points["ra"].tolist(), "d": points["dec"].tolist(),
             "h": radec_to_hpx(points["ra"], points["dec"]).tolist()}).scalars().all()
        conn.execute(sa.text("ANALYZE livecat.literature_object"))
    return cones, points


def brute_force(cones: pd.DataFrame, points: pd.DataFrame) -> list[set[int]]:
    pra, pdec, ids = (points[c].to_numpy() for c in ("ra", "dec", "id"))
    return [set(ids[angular_separation_deg(ra, dec, pra, pdec) <= r / 3600.0].tolist())
            for ra, dec, r in cones[["ra", "dec", "radius"]].itertuples(index=False)]


def test_the_points_lie_on_both_sides_of_the_edge(tiny):
    cones, points = tiny
    expected = brute_force(cones, points)
    sizes = np.array([len(s) for s in expected])
    # the edge points land inside or outside as placed; cones crowded at a pole share points
    away = np.abs(cones["dec"].to_numpy()) < 89.99
    assert (sizes[away] == 2).all() and (sizes >= 2).all()


@pytest.mark.parametrize("radius", RADII_ARCSEC)
def test_python_cone_search_matches_brute_force(engine, tiny, radius):
    cones, points = tiny
    cones = cones[cones["radius"] == radius]
    expected = brute_force(cones, points)
    with engine.connect() as conn:
        got = [set(cone_search(conn, "literature_object", ra, dec, r)["id"].tolist())
               for ra, dec, r in cones[["ra", "dec", "radius"]].itertuples(index=False)]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert wrong == [], f"{len(wrong)} of {len(cones)} cones differ, e.g. " \
                        f"{cones.iloc[wrong[0]].to_dict()}"


@pytest.mark.parametrize("radius", RADII_ARCSEC)
def test_sql_cone_search_matches_brute_force(engine, tiny, radius):
    cones, points = tiny
    cones = cones[cones["radius"] == radius].reset_index(drop=True)
    expected = brute_force(cones, points)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.i, s.id FROM unnest(CAST(:ra AS float8[]), CAST(:dec AS float8[])) "
            "WITH ORDINALITY AS c(ra, dec, i) "
            "CROSS JOIN LATERAL livecat.cone_search('literature_object', c.ra, c.dec, :r) s"),
            {"ra": cones["ra"].tolist(), "dec": cones["dec"].tolist(), "r": radius}).all()
    got = [set() for _ in range(len(cones))]
    for i, sid in rows:
        got[i - 1].add(sid)
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert wrong == [], f"{len(wrong)} of {len(cones)} cones differ, e.g. " \
                        f"{cones.iloc[wrong[0]].to_dict()}"


@pytest.mark.parametrize("radius", [1e-3, 1e-4, 1e-9])
def test_cone_ranges_cover_every_point_inside(radius):
    """Without the database: every point inside lies in a covering range, at any radius."""
    rng = np.random.default_rng(7)
    ra, dec = random_cones(rng, 3000)
    cone, pra, pdec = edge_points(rng, ra, dec, radius)
    inside = angular_separation_deg(ra[cone], dec[cone], pra, pdec) <= radius / 3600.0
    hpx = radec_to_hpx(pra, pdec)
    missed = []
    for i in range(len(ra)):
        ranges = cone_ranges(ra[i], dec[i], radius)
        h = hpx[(cone == i) & inside]
        if not ((h[:, None] >= ranges[None, :, 0]) & (h[:, None] <= ranges[None, :, 1])).any(
                axis=1).all():
            missed.append(i)
    assert missed == []
