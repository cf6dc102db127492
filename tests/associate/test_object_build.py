"""``livecat objects build`` on a real database: the 3C 273 samples of three missions become
one object, Proxima Cen stays alone, a moved source re-associates only its neighbourhood
(nothing is deleted), and a non-CSC source is classified from converted fluxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from associate.object_build import build_objects
from associate.object_views import object_detail
from helpers import ingest_mission_samples, sample_path


@pytest.fixture(scope="module")
def held(engine):
    ingest_mission_samples(engine)
    return engine


def _members(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(
            "SELECT a.id, a.object_id, s.catalog, s.native_id, s.id AS source_id, "
            "a.ended_run_id FROM livecat.xray_association a "
            "JOIN livecat.xray_source s ON s.id = a.xray_source_id ORDER BY a.id")).all(),
            columns=["id", "object_id", "catalog", "native_id", "source_id", "ended_run_id"])


def test_3c273_is_one_object_of_three_missions_and_proxima_stays_alone(held):
    res = build_objects(held)
    assert not res.incremental
    rows = _members(held)
    assert rows["ended_run_id"].isna().all()
    by_object = rows.groupby("object_id")["catalog"].apply(sorted)
    three = [cats for cats in by_object if len(cats) == 3]
    with held.connect() as conn:
        near_3c273 = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.xray_source WHERE livecat.ang_sep_deg(ra, dec, "
            "187.2779, 2.0524) < 10.0 / 3600")).scalar_one()
    assert three == [["2sxps", "csc", "xmm"]], by_object
    assert near_3c273 == 3
    proxima = rows[rows["catalog"] == "erass1"]
    assert (rows["object_id"] == proxima["object_id"].iloc[0]).sum() == 1
    head, members, _ = object_detail(held, str(int(rows.loc[rows["catalog"] == "xmm",
                                                            "object_id"].iloc[0])))
    assert "3 member(s)" in head
    # every source has a common-band value or a reason in each band; XMM and Swift b fluxes
    # of 3C 273 agree within a factor 2 (two epochs of a variable quasar)
    assert members.set_index("catalog").loc[["xmm", "2sxps"], "flux_b"].notna().all()
    b = members.set_index("catalog")["flux_b"]
    assert 0.5 < b["xmm"] / b["2sxps"] < 2.0
    with held.connect() as conn:
        bad = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.xray_source s WHERE (SELECT count(*) FROM "
            "livecat.xray_common_flux f WHERE f.source_id = s.id) <> 4")).scalar_one()
        var = conn.execute(sa.text(
            "SELECT var_band, var_ratio, var_sigma FROM livecat.xray_object o "
            "WHERE n_members = 3")).one()
    assert bad == 0
    # CSC's b flux of 3C 273 is piled up (~12x below Swift's): the ratio shows it; its
    # significance needs both errors, and the saturated CSC row quotes none
    assert var[0] == "b" and var[1] > 3.0
    assert var[2] is None or np.isfinite(var[2])
    # the first build leaves statistics of what it wrote: the next build is not planned
    # for empty tables (object_store.analyze_built)
    with held.connect() as conn:
        stats = dict(conn.execute(sa.text(
            "SELECT relname, reltuples FROM pg_class WHERE relnamespace = "
            "'livecat'::regnamespace AND relname IN ('xray_association', 'xray_object', "
            "'xray_source_common_flux')")).all())
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM livecat.{t}")).scalar_one()
                  for t in stats}
    assert len(stats) == 3 and all(stats[t] == counts[t] > 0 for t in stats), (stats, counts)


def _assert_counts(engine, res) -> None:
    """The summary's counts (updated from the previous build's by an incremental one)
    equal a count of the tables."""
    with engine.connect() as conn:
        n_sources, n_objects, n_multi = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM livecat.xray_source WHERE is_current), "
            "count(*), count(*) FILTER (WHERE n_members > 1) FROM livecat.xray_object "
            "WHERE is_current")).one()
    assert (res.n_sources, res.n_objects, res.n_multi) == (n_sources, n_objects, n_multi)


def test_a_second_build_with_nothing_changed_changes_nothing(held):
    before = _members(held)
    res = build_objects(held)
    assert res.incremental and res.n_started == 0 and res.n_ended == 0
    pd.testing.assert_frame_equal(_members(held), before)
    _assert_counts(held, res)


def _move(engine, catalog: str, ddec_deg: float) -> int:
    """Move the (one) source of ``catalog`` north, as a re-ingest would; its id."""
    with engine.begin() as conn:
        sid = conn.execute(sa.text(
            "SELECT id FROM livecat.xray_source WHERE catalog = :c"), {"c": catalog}).scalar_one()
        conn.execute(sa.text("UPDATE livecat.xray_source SET dec = dec + :d, "
                             "updated_at = now() WHERE id = :i"), {"i": sid, "d": ddec_deg})
    return sid


def test_moving_a_source_ends_its_association_and_keeps_the_rest(held):
    before = _members(held)
    # one degree away: no longer the same object as the CSC and XMM sources
    sid = _move(held, "2sxps", 1.0)
    res = build_objects(held)
    after = _members(held)
    assert res.incremental and res.n_ended >= 1
    assert len(after) > len(before)  # ended rows are kept, not deleted
    ended = after[after["ended_run_id"].notna()]
    assert sid in set(ended["source_id"])
    live = after[after["ended_run_id"].isna()]
    assert live["source_id"].is_unique
    moved_obj = live.loc[live["source_id"] == sid, "object_id"].iloc[0]
    assert (live["object_id"] == moved_obj).sum() == 1
    # the eRASS1 source far away was not touched
    erass = before[before["catalog"] == "erass1"]
    assert erass["id"].iloc[0] in set(live["id"])
    _assert_counts(held, res)


def test_a_change_still_uncommitted_when_a_build_starts_is_picked_up_by_the_next(held):
    """A build reads only sources changed since the build before began (``updated_at``
    >= its ``snapshot_at``); an ingest transaction that started earlier and committed
    during or after that build stamps its rows with its own, earlier start: the
    snapshot is the start of the oldest transaction running, so the next build sees it."""
    build_objects(held)
    with held.connect() as ingest:  # a re-ingest moving the XMM source, not yet committed
        sid = ingest.execute(sa.text(
            "SELECT id FROM livecat.xray_source WHERE catalog = 'xmm'")).scalar_one()
        ingest.execute(sa.text("UPDATE livecat.xray_source SET dec = dec - 1.0, "
                               "updated_at = now() WHERE id = :i"), {"i": sid})
        during = build_objects(held)  # does not see it
        ingest.commit()
    assert during.incremental and during.n_scope == 0
    after = build_objects(held)
    assert after.incremental and after.n_ended >= 1 and after.n_scope >= 1
    live = _members(held).query("ended_run_id.isna()")
    assert (live["object_id"] == live.loc[live["source_id"] == sid, "object_id"].iloc[0]
            ).sum() == 1
    _assert_counts(held, after)
    _move(held, "xmm", 1.0)  # back with 3C 273's CSC source, for the tests below
    back = build_objects(held)
    assert back.n_scope >= 1
    _assert_counts(held, back)


def test_a_source_moved_within_its_object_is_regrouped_once(held):
    # Proxima Cen (eRASS1, alone) moves by 4 mas: its link (an anchor) stays as it was, so
    # its association is kept; its new position must be recorded there, else every later
    # build reads it as moved again and redoes its neighbourhood
    _move(held, "erass1", 1e-6)
    before = _members(held)
    moved = build_objects(held)
    assert moved.incremental and moved.n_scope >= 1 and moved.n_started == 0
    pd.testing.assert_frame_equal(_members(held), before)
    again = build_objects(held)
    assert again.incremental and again.n_scope == 0


def test_band_fluxes_read_as_arrays_equal_the_xray_flux_rows(held):
    from associate.common_flux import _read_rows, read_band_fluxes

    with held.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM livecat.xray_source")).scalars().all()
        # a band without a value or bounds (NULL elements) and one with bounds only
        sid = conn.execute(sa.text(
            "SELECT id FROM livecat.xray_source WHERE catalog = 'xmm'")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO livecat.xray_flux (source_id, band, kind, band_lo_kev, band_hi_kev, "
            "value, value_lo, value_hi) VALUES (:s, '2', 'energy_flux', 0.5, 1.0, NULL, NULL, "
            "NULL), (:s, '3', 'energy_flux', 1.0, 2.0, NULL, NULL, 2e-14)"), {"s": sid})
        sources, fluxes = read_band_fluxes(conn, ids)
        rows_sources, rows = _read_rows(conn, ids)
        conn.rollback()
    key = ["source_id", "band", "kind"]
    got = fluxes.sort_values(key, ignore_index=True)
    want = rows.sort_values(key, ignore_index=True)
    assert len(want) >= 8 and want["value"].isna().sum() >= 2
    for col in ("value", "value_lo", "value_hi", "band_lo_kev", "band_hi_kev"):
        want[col] = want[col].astype(float)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    pd.testing.assert_frame_equal(sources, rows_sources, check_dtype=False)


def test_cli_build_show_and_runs(held, db_url, monkeypatch):
    from helpers import invoke

    res = invoke(["objects", "build"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "incremental" in res.output and "common-band fluxes" in res.output
    with held.connect() as conn:
        native = conn.execute(sa.text(
            "SELECT native_id FROM livecat.xray_source WHERE catalog = 'xmm'")).scalar_one()
    res = invoke(["objects", "show", f"xmm:{native}"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "member(s)" in res.output and "xmm" in res.output
    res = invoke(["objects", "show", "xmm:no such source"], monkeypatch, db_url)
    assert res.exit_code == 1 and "not a member of any current object" in res.output
    res = invoke(["objects", "runs", "-f", "csv"], monkeypatch, db_url)
    assert res.exit_code == 0 and res.output.count("\n") >= 4


def test_non_csc_sources_are_labelled_with_the_fluxes_they_used(held, tmp_path_factory,
                                                               monkeypatch, db_url):
    """The XMM source of 3C 273's object takes its CSC member's fluxes, the CSC source its
    own converted ones; the label says which."""
    from classify.runs import train_run
    from helpers import mark_searched

    home = tmp_path_factory.mktemp("livecat-home")
    monkeypatch.setenv("LIVECAT_HOME", str(home))
    build_objects(held)
    mark_searched(held)
    run = train_run(held, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                    params={"n_estimators": 8, "max_depth": 8}, mc_samples=10, seed=3,
                    home=home)
    from helpers import invoke

    res = invoke(["classify", "run", str(run.id)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    # the VizieR rows of eRASS1 and 2SXPS in the samples quote fluxes without errors:
    # converted, but not classifiable (the Monte Carlo needs an error), and said so
    assert "2 without flux errors" in res.output, res.output
    assert "fluxes: 1 converted, 1 object" in res.output, res.output
    with held.connect() as conn:
        rows = pd.DataFrame(conn.execute(sa.text(
            "SELECT s.catalog, c.flux_origin, f.catalog AS flux_catalog, "
            "a.object_id = fa.object_id AS same_object "
            "FROM livecat.classification c JOIN livecat.xray_source s ON s.id = c.source_id "
            "JOIN livecat.xray_source f ON f.id = c.flux_source_id "
            "LEFT JOIN livecat.xray_association a ON a.xray_source_id = s.id "
            "AND a.ended_run_id IS NULL "
            "LEFT JOIN livecat.xray_association fa ON fa.xray_source_id = f.id "
            "AND fa.ended_run_id IS NULL WHERE c.run_id = :r"), {"r": run.id}).all(),
            columns=["catalog", "flux_origin", "flux_catalog", "same_object"])
    origin = rows.set_index("catalog")
    # the piled-up CSC row of 3C 273 quotes b but not s/m/h: converted from its own b
    assert origin.loc["csc", "flux_origin"] == "converted"
    assert origin.loc["csc", "flux_catalog"] == "csc"
    assert origin.loc["xmm", "flux_origin"] == "object"
    assert origin.loc["xmm", "flux_catalog"] == "csc" and origin.loc["xmm", "same_object"]
    assert set(origin.index) == {"csc", "xmm"}


def _convert_all(engine, **kwargs):
    from associate import common_flux
    from associate import object_store

    with engine.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM livecat.xray_source WHERE is_current "
                                   "ORDER BY id")).scalars().all()
        run = object_store.create_run(conn, ["csc"], None, {}, "test")
        res = common_flux.update_common_fluxes(conn, ids, run, **kwargs)
        rows = conn.execute(sa.text(
            "SELECT source_id, band, value, value_lo, value_hi, native, from_band, factor, "
            "model, reason FROM livecat.xray_common_flux WHERE source_id = ANY(:ids) "
            "ORDER BY source_id, band"), {"ids": ids}).all()
    return ids, res, rows


def test_chunks_converted_ahead_on_a_second_connection_equal_one_pass(held, monkeypatch):
    """The reads run on a reader thread's own connection and the conversions on a
    converter thread, chunk by chunk: the rows written, the counts and the band values
    equal one chunk's."""
    import threading

    from associate import common_flux

    ids, one, rows_one = _convert_all(held, band="b")
    monkeypatch.setattr(common_flux, "CHUNK", 1)
    threads = []
    real_read, real_convert = common_flux.read_band_fluxes, common_flux.convert_fluxes

    def read_spy(conn, chunk):
        threads.append(("read", threading.current_thread().name))
        return real_read(conn, chunk)

    def convert_spy(fluxes, sources):
        threads.append(("convert", threading.current_thread().name))
        return real_convert(fluxes, sources)

    monkeypatch.setattr(common_flux, "read_band_fluxes", read_spy)
    monkeypatch.setattr(common_flux, "convert_fluxes", convert_spy)
    _, many, rows_many = _convert_all(held, band="b")
    assert len(ids) >= 3 and len(threads) == 2 * len(ids)
    assert set(threads) == {("read", "livecat-common-flux-reader"),
                            ("convert", "livecat-common-flux-converter")}
    assert rows_many == rows_one and len(rows_one) == 4 * len(ids)
    assert many.counts == one.counts and many.counts["value"] > 0
    pd.testing.assert_frame_equal(many.band.sort_values("source_id", ignore_index=True),
                                  one.band.sort_values("source_id", ignore_index=True))


def test_a_failed_chunk_on_the_converter_thread_fails_the_update_and_writes_nothing(
        held, monkeypatch):
    from associate import common_flux

    _, _, before = _convert_all(held)
    monkeypatch.setattr(common_flux, "CHUNK", 1)
    real, calls = common_flux.convert_fluxes, []

    def fail_second(fluxes, sources):
        calls.append(len(sources))
        if len(calls) == 2:
            raise ValueError("bad flux row in the second chunk")
        return real(fluxes, sources)

    monkeypatch.setattr(common_flux, "convert_fluxes", fail_second)
    with pytest.raises(ValueError, match="second chunk"):
        _convert_all(held)
    monkeypatch.setattr(common_flux, "convert_fluxes", real)
    with held.connect() as conn:
        after = conn.execute(sa.text(
            "SELECT source_id, band, value, value_lo, value_hi, native, from_band, factor, "
            "model, reason FROM livecat.xray_common_flux ORDER BY source_id, band")).all()
    assert after == before
    assert not [t for t in __import__("threading").enumerate()
                if t.name.startswith("livecat-common-flux")]
