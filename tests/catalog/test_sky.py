"""Cone search and cross-match against brute-force angular distances.

A random catalog of 100,000 positions: uniform on the sphere, plus dense caps around both
poles, a band across RA 0/360, and tight clusters for sub-arcsecond radii. Every result
set must be identical to a brute-force numpy evaluation of the haversine distance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from catalog.errors import InputError
from catalog.coords import angular_separation_deg
from catalog.healpix import radec_to_hpx
from catalog.sky import cone_search, crossmatch

N_TOTAL = 100_000


def make_catalog(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    n_uniform = 70_000
    parts.append((rng.uniform(0, 360, n_uniform),
                  np.degrees(np.arcsin(rng.uniform(-1, 1, n_uniform)))))
    for pole in (90.0, -90.0):  # caps of radius 1 deg around each pole, poles included
        n = 8_000
        colat = np.degrees(np.arccos(rng.uniform(np.cos(np.radians(1.0)), 1.0, n)))
        dec = np.sign(pole) * (90.0 - colat)
        dec[:3] = pole
        parts.append((rng.uniform(0, 360, n), dec))
    n = 8_000  # a band across the RA wrap
    ra = rng.uniform(-0.5, 0.5, n) % 360.0
    ra[:5] = [0.0, 359.9999999, 1e-9, 359.99999999, 0.0]
    parts.append((ra, rng.uniform(-1, 1, n)))
    centres = [(0.0, 0.0), (359.99999, 10.0), (10.0, 89.99999), (200.0, -89.99999),
               (83.63, 22.01), (180.0, 45.0)]
    n_left = N_TOTAL - sum(len(p[0]) for p in parts)
    per = n_left // len(centres)
    for i, (ra0, dec0) in enumerate(centres):  # clusters within ~1 arcsec
        k = per if i < len(centres) - 1 else n_left - per * (len(centres) - 1)
        dra = rng.normal(0, 0.4, k) / 3600.0 / max(np.cos(np.radians(dec0)), 1e-3)
        ddec = rng.normal(0, 0.4, k) / 3600.0
        parts.append(((ra0 + dra) % 360.0, np.clip(dec0 + ddec, -90, 90)))
    ra = np.concatenate([p[0] for p in parts])
    dec = np.concatenate([p[1] for p in parts])
    assert len(ra) == N_TOTAL
    return pd.DataFrame({"ra": ra, "dec": dec})


def insert_positions(conn, table: str, df: pd.DataFrame, catalog: str = "test") -> np.ndarray:
    """Insert positions into a livecat positional table; return their ids in row order."""
    hpx = radec_to_hpx(df["ra"], df["dec"])
    native = [f"{catalog}-{i}" for i in range(len(df))]
    ids = conn.execute(sa.text(
        f"INSERT INTO livecat.{table} (catalog, native_id, ra, dec, hpx) "
        "SELECT :c, n, r, d, h FROM unnest(CAST(:n AS text[]), CAST(:r AS float8[]), "
        "CAST(:d AS float8[]), CAST(:h AS bigint[])) WITH ORDINALITY AS u(n, r, d, h, o) "
        "ORDER BY o RETURNING id"),
        {"c": catalog, "n": native, "r": df["ra"].tolist(), "d": df["dec"].tolist(),
         "h": hpx.tolist()}).scalars().all()
    return np.asarray(ids, dtype=np.int64)


@pytest.fixture(scope="module")
def sky(engine):
    df = make_catalog()
    with engine.begin() as conn:
        df["id"] = insert_positions(conn, "xray_source", df)
        conn.execute(sa.text("ANALYZE livecat.xray_source"))
    return df


CONES = [
    # (ra, dec, radius_arcsec): poles, RA wrap, clusters, every radius scale
    (0.0, 90.0, 3600.0), (123.0, 90.0, 10.0), (0.0, -90.0, 1800.0), (10.0, 89.99999, 0.5),
    (200.0, -89.99999, 0.1), (200.0, -89.99999, 2.0), (0.0, 0.0, 0.1), (0.0, 0.0, 1.0),
    (359.99999, 10.0, 0.3), (359.9999, 0.0, 120.0), (0.0001, 0.5, 60.0), (0.0, 0.0, 1800.0),
    (83.63, 22.01, 5.0), (83.63, 22.01, 0.2), (180.0, 45.0, 1.5), (270.0, -30.0, 18000.0),
    (45.0, 41.8103148957786, 3600.0), (359.5, -89.5, 7200.0), (0.0, 89.0, 18000.0),
    (12.0908, 36.7449, 300.0), (10.1951, -60.1147, 3.0),  # 2 and 3 ranges
]


def brute_force_cone(df, ra, dec, radius_arcsec):
    sep = angular_separation_deg(ra, dec, df["ra"].to_numpy(), df["dec"].to_numpy())
    return set(df["id"].to_numpy()[sep <= radius_arcsec / 3600.0].tolist())


def test_cones_use_every_statement_form():
    """The cones above run both statements of cone_search_sql: OR-ed ranges and LATERAL."""
    from catalog.healpix import cone_ranges
    from catalog.sky import OR_RANGES_MAX

    counts = {len(cone_ranges(ra, dec, r)) for ra, dec, r in CONES}
    assert set(range(1, OR_RANGES_MAX + 1)) <= counts, counts
    assert max(counts) > OR_RANGES_MAX


@pytest.mark.parametrize("n_ranges", [1, 3])
def test_cone_statements_never_plan_parallel(engine, sky, n_ranges):
    """The generic plan of an OR-ed cone statement is serial even where the planner would go
    parallel: with parallel setup made free, only livecat.no_parallel() stops it."""
    from catalog.sky import cone_search_sql, cone_search_params

    ranges = np.array([[i * 10**12, i * 10**12 + 10**9] for i in range(n_ranges)])
    sql = cone_search_sql('livecat."xray_source"', n_ranges)
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        cur.execute("SET parallel_setup_cost = 0")
        cur.execute("SET parallel_tuple_cost = 0")
        cur.execute("SET min_parallel_table_scan_size = 0")
        cur.execute("SET min_parallel_index_scan_size = 0")
        cur.execute("SET plan_cache_mode = force_generic_plan")
        params = cone_search_params(10.0, 20.0, 5.0, ranges)
        unmarked = sql.replace(" AND livecat.no_parallel()", "").replace(
            "livecat.no_parallel() AND ", "")
        assert unmarked != sql
        for statement, parallel in ((sql, False), (unmarked, True)):
            cur.execute(statement, params, prepare=True)  # the generic plan, as in use
            name = cur.execute("SELECT name FROM pg_prepared_statements WHERE statement = "
                               "(SELECT statement FROM pg_prepared_statements "
                               "ORDER BY prepare_time DESC LIMIT 1)").fetchone()[0]
            args = ", ".join(["NULL"] * (3 + 2 * n_ranges))
            plan = "\n".join(r[0] for r in cur.execute(f"EXPLAIN EXECUTE {name}({args})"))
            assert ("Parallel" in plan) == parallel, plan
        conn.rollback()


@pytest.mark.parametrize("ra,dec,radius", CONES)
def test_cone_search_matches_brute_force(engine, sky, ra, dec, radius):
    got = cone_search(engine, "xray_source", ra, dec, radius)
    expected = brute_force_cone(sky, ra, dec, radius)
    assert set(got["id"]) == expected
    assert len(got) == len(expected)  # no duplicates
    assert (got["separation_arcsec"] <= radius).all()
    assert got["separation_arcsec"].is_monotonic_increasing


def test_cone_search_random_centres_on_sources(engine, sky):
    rng = np.random.default_rng(11)
    picks = rng.choice(len(sky), 60, replace=False)
    radii = np.exp(rng.uniform(np.log(0.1), np.log(18000.0), len(picks)))
    nonempty = 0
    for i, r in zip(picks, radii):
        ra, dec = float(sky["ra"].iat[i]), float(sky["dec"].iat[i])
        got = set(cone_search(engine, "xray_source", ra, dec, float(r))["id"])
        assert got == brute_force_cone(sky, ra, dec, float(r))
        nonempty += len(got) > 1
    assert nonempty > 10  # the test exercises real neighbourhoods, not empty cones


@pytest.mark.parametrize("ra,dec,radius", CONES[::3])
def test_sql_function_returns_the_python_rows(engine, sky, ra, dec, radius):
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, separation_arcsec FROM livecat.cone_search('xray_source', :a, :d, :r)"),
            {"a": ra, "d": dec, "r": radius}).all()
    py = cone_search(engine, "xray_source", ra, dec, radius)
    assert [r[0] for r in rows] == py["id"].tolist()
    np.testing.assert_allclose([r[1] for r in rows], py["separation_arcsec"], rtol=1e-12)


def test_sql_cone_ranges_cover_what_healpy_covers(engine):
    """Every point healpy's ranges admit inside the radius is admitted by the SQL ranges."""
    from catalog.healpix import cone_ranges

    rng = np.random.default_rng(5)
    with engine.connect() as conn:
        for ra, dec, radius in CONES:
            sql = np.array(conn.execute(sa.text(
                "SELECT lo, hi FROM livecat.cone_ranges(:a, :d, :r)"),
                {"a": ra, "d": dec, "r": radius}).all())
            # points inside the cone must fall in both range sets
            n = 400
            ang = rng.uniform(0, 2 * np.pi, n)
            rho = radius / 3600.0 * np.sqrt(rng.uniform(0, 1, n)) * 0.999
            pts_dec = np.clip(dec + rho * np.sin(ang), -90, 90)
            pts_ra = (ra + rho * np.cos(ang) / max(np.cos(np.radians(dec)), 1e-6)) % 360
            inside = angular_separation_deg(ra, dec, pts_ra, pts_dec) <= radius / 3600.0
            hpx = radec_to_hpx(pts_ra[inside], pts_dec[inside])
            for ranges in (sql, cone_ranges(ra, dec, radius)):
                covered = ((hpx[:, None] >= ranges[None, :, 0])
                           & (hpx[:, None] <= ranges[None, :, 1])).any(axis=1)
                assert covered.all(), (ra, dec, radius)


def brute_force_pairs(left: pd.DataFrame, right: pd.DataFrame, radius_arcsec: float):
    """All (left id, right id) pairs within the radius, by exact angular distance.

    Every right row is measured against every left row in its declination band
    |dec_r - dec_l| <= radius: an exact bound (no pair within the radius lies outside it),
    used only to skip hopeless distance evaluations.
    """
    r_deg = radius_arcsec / 3600.0
    order = np.argsort(right["dec"].to_numpy(), kind="stable")
    rdec = right["dec"].to_numpy()[order]
    rra = right["ra"].to_numpy()[order]
    rid = right["id"].to_numpy()[order]
    pairs = set()
    for lid, lra, ldec in zip(left["id"].to_numpy(), left["ra"].to_numpy(),
                              left["dec"].to_numpy()):
        a = np.searchsorted(rdec, ldec - r_deg, side="left")
        b = np.searchsorted(rdec, ldec + r_deg, side="right")
        sep = angular_separation_deg(lra, ldec, rra[a:b], rdec[a:b])
        pairs.update((int(lid), int(x)) for x in rid[a:b][sep <= r_deg])
    return pairs


def make_left(sky: pd.DataFrame, seed: int = 3, n: int = 3000) -> pd.DataFrame:
    """Half near catalog sources (within ~2 arcsec), half random, poles and wrap included."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(sky), n // 2, replace=False)
    off = rng.normal(0, 1.0, (2, len(picks))) / 3600.0
    dec = np.clip(sky["dec"].to_numpy()[picks] + off[1], -90, 90)
    ra = (sky["ra"].to_numpy()[picks]
          + off[0] / np.maximum(np.cos(np.radians(dec)), 1e-4)) % 360
    m = n - len(picks)
    ra2 = rng.uniform(0, 360, m)
    dec2 = np.degrees(np.arcsin(rng.uniform(-1, 1, m)))
    ra2[:4], dec2[:4] = [0.0, 0.0, 359.9999999, 0.0], [90.0, -90.0, 0.0, 0.0]
    return pd.DataFrame({"id": np.arange(1, n + 1), "ra": np.concatenate([ra, ra2]),
                         "dec": np.concatenate([dec, dec2])})


@pytest.mark.parametrize("radius", [0.5, 2.0, 60.0])
@pytest.mark.parametrize("strategy", ["probe", "hash"])
def test_crossmatch_frame_matches_brute_force(engine, sky, radius, strategy):
    left = make_left(sky)
    got = crossmatch(engine, left, "xray_source", radius, strategy=strategy)
    expected = brute_force_pairs(left, sky, radius)
    assert len(expected) > 500
    assert set(zip(got["left_id"], got["right_id"])) == expected
    assert len(got) == len(expected)


def test_crossmatch_nearest_and_tables(engine, sky):
    left = make_left(sky, seed=9, n=2000)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM livecat.literature_object"))
        left["id"] = insert_positions(conn, "literature_object", left, catalog="lit")
    radius = 3.0
    pairs = brute_force_pairs(left, sky, radius)
    got = crossmatch(engine, "literature_object", "xray_source", radius, nearest=True)
    # nearest: one row per matched left id, and it is the closest brute-force partner
    assert got["left_id"].is_unique
    assert set(got["left_id"]) == {lid for lid, _ in pairs}
    pos = sky.set_index("id")
    lpos = left.set_index("id")
    for lid, rid in zip(got["left_id"].head(300), got["right_id"].head(300)):
        partners = [r for l_, r in pairs if l_ == lid]
        seps = angular_separation_deg(lpos.at[lid, "ra"], lpos.at[lid, "dec"],
                                      pos.loc[partners, "ra"], pos.loc[partners, "dec"])
        assert rid == partners[int(np.argmin(seps))] or np.isclose(
            seps.min(), angular_separation_deg(lpos.at[lid, "ra"], lpos.at[lid, "dec"],
                                               pos.at[rid, "ra"], pos.at[rid, "dec"]))
    all_pairs = crossmatch(engine, "literature_object", "xray_source", radius)
    assert set(zip(all_pairs["left_id"], all_pairs["right_id"])) == pairs


def test_bad_inputs_are_clear_errors(engine, sky):
    with pytest.raises(InputError, match="declination 91"):
        cone_search(engine, "xray_source", 10.0, 91.0, 5.0)
    with pytest.raises(InputError, match="radius -1"):
        cone_search(engine, "xray_source", 10.0, 0.0, -1.0)
    with pytest.raises(InputError, match="unknown table 'nope'.*xray_source"):
        cone_search(engine, "nope", 10.0, 0.0, 5.0)
    with pytest.raises(InputError, match="row 1: position"):
        crossmatch(engine, pd.DataFrame({"ra": [1.0, np.nan], "dec": [0.0, 0.0]}),
                   "xray_source", 2.0)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="unknown table nope"):
        conn.execute(sa.text("SELECT * FROM livecat.cone_search('nope', 1, 2, 3)")).all()
