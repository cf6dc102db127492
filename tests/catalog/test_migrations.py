"""Migrations: upgrade head -> downgrade base -> upgrade head on a database holding rows."""

from __future__ import annotations

import sqlalchemy as sa

from catalog import migrate
from catalog.engine import create_engine

CORE_TABLES = {"catalog_release", "ingest_run", "ingest_reject", "xray_source", "xray_source_flux",
               "literature_object"}


def _tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'livecat' "
            "AND table_name <> 'alembic_version'")).scalars())


def _fill(engine) -> None:
    with engine.begin() as conn:
        rel = conn.execute(sa.text(
            "INSERT INTO livecat.catalog_release (catalog, version, rows) "
            "VALUES ('csc', '2.1', 1) RETURNING id")).scalar_one()
        run = conn.execute(sa.text(
            "INSERT INTO livecat.ingest_run (catalog, release_id, status) "
            "VALUES ('csc', :r, 'succeeded') RETURNING id"), {"r": rel}).scalar_one()
        conn.execute(sa.text("INSERT INTO livecat.ingest_reject (run_id, row_number, reason) "
                             "VALUES (:r, 7, 'dec 95 outside [-90, 90]')"), {"r": run})
        # hpx left out on purpose: the trigger fills it from ra/dec
        src = conn.execute(sa.text(
            "INSERT INTO livecat.xray_source (catalog, native_id, name, ra, dec, "
            "first_release_id, last_release_id) VALUES ('csc', '2CXO J122906.6+020308', "
            "'2CXO J122906.6+020308', 187.27792, 2.05240, :r, :r) RETURNING id"),
            {"r": rel}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO livecat.xray_flux (source_id, band, kind, band_lo_kev, band_hi_kev, "
            "value) VALUES (:s, 'b', 'energy_flux', 0.5, 7.0, 1.2e-10)"), {"s": src})
        conn.execute(sa.text(
            "INSERT INTO livecat.literature_object (catalog, native_id, name, ra, dec, "
            "livecat_class) VALUES ('atnf', 'J0534+2200', 'J0534+2200', 83.633, 22.0145, 'NS')"))


def test_upgrade_downgrade_upgrade_with_rows(database_factory):
    engine = create_engine(database_factory())
    migrate.upgrade(engine)
    assert CORE_TABLES <= _tables(engine)
    _fill(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM livecat.xray_source")).scalar() == 1
        hpx = conn.execute(sa.text("SELECT hpx FROM livecat.xray_source")).scalar()
    from catalog.healpix import radec_to_hpx
    assert hpx == int(radec_to_hpx(187.27792, 2.05240))

    migrate.downgrade(engine, "base", drop_data=True)
    assert _tables(engine) == set()
    assert migrate.current_revision(engine) is None
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'livecat'")).scalar() == 0

    migrate.upgrade(engine)
    assert CORE_TABLES <= _tables(engine)
    _fill(engine)  # the schema works again, identity and constraints included
    st = migrate.status(engine)
    assert st.revision == st.head and st.pending == []
    assert st.table_rows["xray_source"] == 1 and st.table_rows["xray_source_flux"] == 1
    engine.dispose()


def test_status_lists_pending_migrations(database_factory):
    engine = create_engine(database_factory())
    st = migrate.status(engine)
    assert st.revision is None
    assert st.pending and st.pending[-1] == st.head
    engine.dispose()


def test_position_constraint_rejects_bad_rows(engine, clean_tables):
    import pytest

    with pytest.raises(sa.exc.DBAPIError, match="position_range|outside"):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO livecat.literature_object (catalog, native_id, "
                                 "ra, dec) VALUES ('x', 'y', 10, 95)"))


REPLACED_BY_0008 = ("ang_sep_deg", "hpx_from_radec", "hpx_center_chord2", "cone_ranges",
                    "cone_search")


def _function_defs(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'livecat'")).all())


def test_0008_downgrade_restores_the_functions_it_replaced(database_factory):
    engine = create_engine(database_factory())
    migrate.upgrade(engine, "0007_flux_per_source")
    before = _function_defs(engine)
    migrate.upgrade(engine)
    after = _function_defs(engine)
    assert "check_cone" in after and "process_lock" in _tables(engine)
    assert all(after[f] != before[f] for f in REPLACED_BY_0008)
    migrate.downgrade(engine, "0007_flux_per_source", drop_data=True)
    assert _function_defs(engine) == before
    assert "process_lock" not in _tables(engine)
    engine.dispose()


def _common_flux_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT source_id, band, value, value_lo, value_hi, native, from_band, "
            "from_lo_kev, from_hi_kev, factor, coverage, measured_fraction, model, "
            "extrapolated, reason, run_id FROM livecat.xray_common_flux "
            "ORDER BY source_id, band")).all()]


def test_0012_keeps_the_common_fluxes_through_upgrade_and_downgrade(database_factory):
    """0011's xray_common_flux rows read the same through 0012's view and come back on a
    downgrade; the per-band rule (a value or a reason) still holds in the array table."""
    import pytest

    engine = create_engine(database_factory())
    migrate.upgrade(engine, "0011_objects")
    _fill(engine)
    with engine.begin() as conn:
        src = conn.execute(sa.text("SELECT id FROM livecat.xray_source")).scalar_one()
        run = conn.execute(sa.text(
            "INSERT INTO livecat.object_build_run (catalogs, params) "
            "VALUES ('{csc}', '{}') RETURNING id")).scalar_one()
        model = "powerlaw gamma=2 nh=1.723e+20 xsect=mm83 observed"
        # b native (the CSC row of _fill), s converted from b, m with a reason, h
        # converted and extrapolated: the columns as associate.common_flux wrote them
        for band, value, native, from_band, factor, extrap, reason in (
                ("b", 1.2e-10, True, None, None, False, None),
                ("s", 4.1e-11, False, "b", 0.34, False, None),
                ("m", None, False, None, None, False, "upper limit only"),
                ("h", 3.0e-11, False, "b", 0.25, True, None)):
            conv = from_band is not None
            conn.execute(sa.text(
                "INSERT INTO livecat.xray_common_flux (source_id, band, value, value_lo, "
                "value_hi, native, from_band, from_lo_kev, from_hi_kev, factor, coverage, "
                "measured_fraction, model, extrapolated, reason, run_id) VALUES (:s, :band, "
                ":v, :lo, :hi, :native, :fb, :flo, :fhi, :factor, :cov, :mf, :model, "
                ":extrap, :reason, :run)"),
                {"s": src, "band": band, "v": value,
                 "lo": None if value is None else value * 0.9,
                 "hi": 2e-12 if value is None else value * 1.1, "native": native,
                 "fb": from_band, "flo": 0.5 if conv else None, "fhi": 7.0 if conv else None,
                 "factor": factor, "cov": 1.0 if conv else None, "mf": 0.8 if conv else None,
                 "model": model if conv else None, "extrap": extrap, "reason": reason,
                 "run": run})
    before = _common_flux_rows(engine)
    assert len(before) == 4

    migrate.upgrade(engine)
    assert _common_flux_rows(engine) == before
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT model, value, reason FROM livecat.xray_source_common_flux")).one()
        # arrays over s, m, h, b: m (index 1) has the reason
        assert stored[0] == model and stored[1][1] is None and stored[2][1] == "upper limit only"
    with pytest.raises(sa.exc.IntegrityError, match="xray_source_common_flux_valid"):
        with engine.begin() as conn:  # a band with neither a value nor a reason
            conn.execute(sa.text("UPDATE livecat.xray_source_common_flux "
                                 "SET reason[2] = NULL"))
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT var_is_lower_limit FROM livecat.xray_object")).all() == []

    migrate.downgrade(engine, "0011_objects")
    assert _common_flux_rows(engine) == before
    migrate.upgrade(engine)
    assert _common_flux_rows(engine) == before

    # the derived rows of a deleted source go with it (a statement trigger, where 0011
    # had foreign keys ON DELETE CASCADE)
    with engine.begin() as conn:
        obj = conn.execute(sa.text(
            "INSERT INTO livecat.xray_object (ra, dec, catalogs, n_members) "
            "VALUES (187.27792, 2.05240, '{csc}', 1) RETURNING id")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO livecat.xray_association (object_id, xray_source_id, catalog, "
            "source_ra, source_dec, started_run_id) VALUES (:o, :s, 'csc', 187.27792, "
            "2.05240, :r)"), {"o": obj, "s": src, "r": run})
        assert conn.execute(sa.text("SELECT hpx FROM livecat.xray_object")).scalar() > 0
        conn.execute(sa.text("DELETE FROM livecat.xray_source"))
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM livecat.xray_association) + "
            "(SELECT count(*) FROM livecat.xray_source_common_flux)")).scalar() == 0
    engine.dispose()


def _neighbourhood_read_plan(engine) -> str:
    """The plan of a read of positions by ``hpx`` range (the neighbourhood read of an
    incremental object build), with scans other than an index's ruled out."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        return "\n".join(conn.execute(sa.text(
            "EXPLAIN SELECT id, catalog, ra, dec, pos_err_arcsec FROM livecat.xray_source "
            "WHERE hpx BETWEEN 1000 AND 2000 AND is_current")).scalars())


def test_0013_the_hpx_index_covers_the_positions(database_factory):
    """After 0013 the positions of the sources in a range of pixels are read from the
    ``hpx`` index alone; its downgrade restores the plain index (the table is then read
    for them)."""
    engine = create_engine(database_factory())
    migrate.upgrade(engine)
    _fill(engine)
    assert "Index Only Scan using xray_source_hpx" in _neighbourhood_read_plan(engine)
    migrate.downgrade(engine, "0012_object_build_storage")
    plan = _neighbourhood_read_plan(engine)
    assert "Index Scan using xray_source_hpx" in plan and "Index Only" not in plan
    migrate.upgrade(engine)
    assert "Index Only Scan using xray_source_hpx" in _neighbourhood_read_plan(engine)
    engine.dispose()
