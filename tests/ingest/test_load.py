"""The shared loader against a real PostgreSQL: counts, idempotency, history, rejects,
atomicity, the advisory lock, X-ray fluxes and renames, and the 0002 migration."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from catalog import migrate
from catalog.engine import create_engine
from catalog.errors import ConflictError, InputError
from conftest import sample_path
from catalog import taxonomy
from ingest import atnf, load
from ingest.renames import match_renames
from ingest.rows import RELEASE_KEYS, json_text, row_chunks, staging_frame
from ingest.runs import lock_name
from catalog.locks import hold_lock
from ingest.footprint import Footprint
from ingest.prefetch import prefetched
from ingest.normalized import (LITERATURE_COLUMNS, XRAY_FLUX_COLUMNS, XRAY_SOURCE_COLUMNS,
                               NormalizedCatalog, empty_rejects)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def psrcat():
    """Normalized ATNF releases 1.58 and 1.59 (the real samples)."""
    return {v: atnf.normalize_psrcat(atnf.parse_psrcat_db(sample_path("atnf", f"psrcat-{v}.db")))
            for v in ("1.58", "1.59")}


def snapshot(engine, skip=("ingest_run",)) -> dict[str, tuple[int, str]]:
    """Row count and an MD5 of the full contents of every livecat table."""
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'livecat' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'alembic_version'")).scalars().all()
        out = {}
        for t in sorted(set(tables) - set(skip)):
            out[t] = tuple(conn.execute(sa.text(
                f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') "
                f"FROM livecat.{t} x")).one())
        return out


def runs(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM livecat.ingest_run ORDER BY id"))]


def canonical_rows(normalized: NormalizedCatalog) -> dict[str, str]:
    """An independent content key per native id (release-naming keys left out)."""
    out = {}
    for rec in normalized.sources.to_dict("records"):
        params = {k: v for k, v in rec["params"].items() if k not in RELEASE_KEYS}
        out[rec["native_id"]] = json.dumps({**rec, "params": params}, sort_keys=True,
                                           default=str)
    return out


def literature(rows: list[dict], rejects: list[tuple] = (), n_read: int | None = None):
    base = {"name": None, "pos_err_arcsec": 1.0, "livecat_class": "NS", "subclass": None,
            "native_type": None, "reference": None, "confidence": None, "params": {}}
    frame = pd.DataFrame([{**base, "name": r["native_id"], **r} for r in rows],
                         columns=LITERATURE_COLUMNS)
    rej = empty_rejects() if not rejects else pd.DataFrame(
        {"row_number": pd.Series([r[0] for r in rejects], dtype="Int64"),
         "native_id": [r[1] for r in rejects], "reason": [r[2] for r in rejects]})
    return NormalizedCatalog("literature", frame, n_read if n_read is not None
                             else len(rows) + len(rejects), rejects=rej)


def xray(rows: list[dict], fluxes: list[dict]):
    base = {c: math.nan for c in XRAY_SOURCE_COLUMNS}
    base.update({"extended": None, "n_obs": 1, "flags": {}, "extra": {}})
    frame = pd.DataFrame([{**base, "name": r["native_id"], **r} for r in rows],
                         columns=XRAY_SOURCE_COLUMNS)
    flux = pd.DataFrame(fluxes, columns=XRAY_FLUX_COLUMNS)
    return NormalizedCatalog("xray", frame, len(rows), fluxes=flux)


def flux(nid, value, band="b", lo=0.5, hi=7.0):
    return {"native_id": nid, "band": band, "band_lo_kev": lo, "band_hi_kev": hi,
            "kind": "energy_flux", "value": value, "value_lo": value * 0.9,
            "value_hi": value * 1.1}


# --------------------------------------------------------------------------------------
# ATNF 1.58 -> 1.59
# --------------------------------------------------------------------------------------

def test_release_sequence_counts_match_independent_computation(clean_tables, psrcat):
    engine = clean_tables
    old, new = canonical_rows(psrcat["1.58"]), canonical_rows(psrcat["1.59"])
    common = old.keys() & new.keys()
    expected = {"inserted": len(new.keys() - old.keys()),
                "updated": sum(old[k] != new[k] for k in common),
                "unchanged": sum(old[k] == new[k] for k in common),
                "retired": len(old.keys() - new.keys())}
    assert expected["inserted"] > 0 and expected["retired"] > 0 and expected["updated"] > 0

    first = load.load_catalog(engine, "atnf", psrcat["1.58"], version="1.58")
    assert first.counts() == {"read": 2636, "inserted": 2636, "updated": 0, "unchanged": 0,
                              "rejected": 0, "retired": 0}
    second = load.load_catalog(engine, "atnf", psrcat["1.59"], version="1.59")
    assert second.n_read == 2659 and second.n_rejected == 0
    assert {k: second.counts()[k] for k in expected} == expected

    with engine.connect() as conn:
        current = set(conn.execute(sa.text(
            "SELECT native_id FROM livecat.literature_object WHERE catalog = 'atnf' "
            "AND is_current")).scalars())
        gone = set(conn.execute(sa.text(
            "SELECT native_id FROM livecat.literature_object WHERE NOT is_current")).scalars())
        total = conn.execute(sa.text("SELECT count(*) FROM livecat.literature_object")).scalar()
        # every changed or retired row left its previous version in the history
        hist = dict(conn.execute(sa.text(
            "SELECT change, count(*) FROM livecat.source_history WHERE run_id = :r "
            "GROUP BY change"), {"r": second.run_id}).all())
        releases = dict(conn.execute(sa.text(
            "SELECT version, state FROM livecat.catalog_release")).all())
        run = conn.execute(sa.text("SELECT * FROM livecat.ingest_run WHERE id = :r"),
                           {"r": second.run_id}).one()._mapping
    assert current == set(new) and gone == old.keys() - new.keys()
    assert total == len(old.keys() | new.keys())  # nothing deleted
    assert hist == {"updated": expected["updated"], "retired": expected["retired"]}
    assert releases == {"1.58": "superseded", "1.59": "complete"}
    assert (run["n_read"], run["n_inserted"], run["n_updated"], run["n_unchanged"],
            run["n_retired"], run["status"]) == (2659, expected["inserted"],
                                                 expected["updated"], expected["unchanged"],
                                                 expected["retired"], "succeeded")


def test_history_keeps_the_previous_values(clean_tables, psrcat):
    engine = clean_tables
    load.load_catalog(engine, "atnf", psrcat["1.58"], version="1.58")
    with engine.connect() as conn:
        before = {r.native_id: r for r in conn.execute(sa.text(
            "SELECT id, native_id, params, updated_at, row_hash FROM livecat.literature_object"))}
    run = load.load_catalog(engine, "atnf", psrcat["1.59"], version="1.59")
    with engine.connect() as conn:
        hist = conn.execute(sa.text(
            "SELECT source_id, native_id, previous FROM livecat.source_history "
            "WHERE run_id = :r AND change = 'updated' ORDER BY id LIMIT 20"),
            {"r": run.run_id}).all()
        after = {r.native_id: r for r in conn.execute(sa.text(
            "SELECT id, native_id, params, updated_at, row_hash, is_current "
            "FROM livecat.literature_object"))}
    assert hist
    for source_id, native_id, previous in hist:
        assert before[native_id].id == source_id == after[native_id].id  # id kept
        assert previous["params"] == before[native_id].params
        assert previous["row_hash"] == before[native_id].row_hash != after[native_id].row_hash
    # unchanged rows were not touched (updated_at kept)
    same = [k for k in before if after[k].is_current and before[k].row_hash == after[k].row_hash]
    assert same and all(before[k].updated_at == after[k].updated_at for k in same)


def test_reingest_same_release_is_a_noop(clean_tables, psrcat):
    engine = clean_tables
    load.load_catalog(engine, "atnf", psrcat["1.58"], version="1.58")
    before = snapshot(engine, skip=("ingest_run", "catalog_release"))
    again = load.load_catalog(engine, "atnf", psrcat["1.58"], version="1.58")
    assert again.counts() == {"read": 2636, "inserted": 0, "updated": 0, "unchanged": 2636,
                              "rejected": 0, "retired": 0}
    assert snapshot(engine, skip=("ingest_run", "catalog_release")) == before


def test_reloading_an_older_release_revives_and_retires(clean_tables, psrcat):
    engine = clean_tables
    for version in ("1.58", "1.59"):
        load.load_catalog(engine, "atnf", psrcat[version], version=version)
    back = load.load_catalog(engine, "atnf", psrcat["1.58"], version="1.58")
    old, new = canonical_rows(psrcat["1.58"]), canonical_rows(psrcat["1.59"])
    assert back.n_inserted == 0
    assert back.n_retired == len(new.keys() - old.keys())
    # rows back from retirement count as updated
    assert back.n_updated == sum(old[k] != new[k] for k in old.keys() & new.keys()) + len(
        old.keys() - new.keys())


# --------------------------------------------------------------------------------------
# rejects and invariants
# --------------------------------------------------------------------------------------

def test_rejects_recorded_with_reasons(clean_tables):
    engine = clean_tables
    cat = literature(
        [{"native_id": "A", "ra": 10.0, "dec": 20.0},
         {"native_id": "B", "ra": math.nan, "dec": 20.0},
         {"native_id": "C", "ra": 10.0, "dec": 95.0},
         {"native_id": "A", "ra": 11.0, "dec": 21.0},
         {"native_id": None, "ra": 12.0, "dec": 22.0},
         {"native_id": "D", "ra": 360.0, "dec": 0.0}],
        rejects=[(7, "E", "pulsar E: no position: expected RAJ and DECJ")])
    res = load.load_catalog(engine, "test", cat, version="1")
    assert res.counts() == {"read": 7, "inserted": 1, "updated": 0, "unchanged": 0,
                            "rejected": 6, "retired": 0}
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT row_number, native_id, reason FROM livecat.ingest_reject "
            "WHERE run_id = :r ORDER BY id"), {"r": res.run_id}).all()
    reasons = {(nid, reason.split(":")[0]) for _, nid, reason in rows}
    assert (7, "E", "pulsar E: no position: expected RAJ and DECJ") in rows
    assert ("B", "position ra=nan, dec=20.0 is not finite or out of range") in reasons
    assert ("C", "position ra=10.0, dec=95.0 is not finite or out of range") in reasons
    assert ("D", "position ra=360.0, dec=0.0 is not finite or out of range") in reasons
    assert ("A", "duplicate native_id A") in reasons
    assert (None, "missing native_id") in reasons


def test_counts_that_do_not_add_up_are_not_committed(clean_tables):
    engine = clean_tables
    before = snapshot(engine)
    cat = literature([{"native_id": "A", "ra": 1.0, "dec": 2.0}], n_read=5)
    with pytest.raises(ConflictError, match=r"does not add up \(read 5 != kept 1 \+ "
                                            r"rejected 0\): nothing was written"):
        load.load_catalog(engine, "test", cat, version="1")
    assert snapshot(engine) == before
    assert [r["status"] for r in runs(engine)] == ["failed"]


# --------------------------------------------------------------------------------------
# atomicity
# --------------------------------------------------------------------------------------

@pytest.fixture
def loaded_158(clean_tables, psrcat):
    load.load_catalog(clean_tables, "atnf", psrcat["1.58"], version="1.58")
    return clean_tables


def test_unknown_class_fails_and_changes_nothing(loaded_158, psrcat):
    engine = loaded_158
    before, n_runs = snapshot(engine), len(runs(engine))
    bad = NormalizedCatalog("literature", psrcat["1.59"].sources.copy(), 2659,
                            rejects=psrcat["1.59"].rejects)
    bad.sources.loc[5, "livecat_class"] = "PULSAR"
    with pytest.raises(InputError, match="class 'PULSAR' is not in the livecat taxonomy: "
                                         "expected one of AGN, CV"):
        load.load_catalog(engine, "atnf", bad, version="1.59")
    assert snapshot(engine) == before
    after = runs(engine)
    assert len(after) == n_runs + 1 and after[-1]["status"] == "failed"
    assert "PULSAR" in after[-1]["error"]


def test_failure_after_the_upsert_rolls_everything_back(loaded_158, psrcat, monkeypatch):
    engine = loaded_158
    before = snapshot(engine)

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure after the upsert")

    monkeypatch.setattr(load, "write_rejects", boom)
    with pytest.raises(RuntimeError, match="injected"):
        load.load_catalog(engine, "atnf", psrcat["1.59"], version="1.59")
    assert snapshot(engine) == before  # no 1.59 release, rows, history or rejects


def test_constraint_violation_mid_load_rolls_back(clean_tables):
    engine = clean_tables
    good = xray([{"native_id": "X1", "ra": 10.0, "dec": 10.0, "pos_err_arcsec": 1.0}],
                [flux("X1", 1e-13)])
    load.load_catalog(engine, "csc-test", good, version="1")
    before = snapshot(engine)
    # the new source X2 is inserted, then its flux row violates xray_source_flux_valid (lo >= hi)
    bad = xray([{"native_id": "X1", "ra": 10.0, "dec": 10.0, "pos_err_arcsec": 1.0},
                {"native_id": "X2", "ra": 11.0, "dec": 10.0, "pos_err_arcsec": 1.0}],
               [flux("X1", 1e-13), flux("X2", 2e-13, lo=7.0, hi=0.5)])
    with pytest.raises(sa.exc.DBAPIError, match="xray_source_flux_valid"):
        load.load_catalog(engine, "csc-test", bad, version="2")
    assert snapshot(engine) == before
    assert runs(engine)[-1]["status"] == "failed"


# --------------------------------------------------------------------------------------
# the advisory lock
# --------------------------------------------------------------------------------------

def _hold_lock(engine, catalog, release: threading.Event, held: threading.Event):
    with engine.begin() as conn:
        hold_lock(conn.connection.dbapi_connection.cursor(), lock_name(catalog), wait=True)
        held.set()
        release.wait(10)


def test_concurrent_ingest_fails_clearly_or_waits(clean_tables):
    engine = clean_tables
    cat = literature([{"native_id": "A", "ra": 1.0, "dec": 2.0}])
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(engine, "atnf", release, held))
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ConflictError, match="another ingest of atnf is running"):
            load.load_catalog(engine, "atnf", cat, version="1")
        # another catalog is not blocked
        assert load.load_catalog(engine, "ipcat", cat, version="1").n_inserted == 1
        # --wait: the load proceeds once the lock is released
        timer = threading.Timer(0.5, release.set)
        timer.start()
        t0 = time.monotonic()
        res = load.load_catalog(engine, "atnf", cat, version="1", wait=True)
        assert res.n_inserted == 1 and time.monotonic() - t0 >= 0.4
    finally:
        release.set()
        holder.join()


# --------------------------------------------------------------------------------------
# X-ray sources: fluxes, partial loads, renames
# --------------------------------------------------------------------------------------

def _fluxes(engine, nid):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT f.band, f.value FROM livecat.xray_flux f JOIN livecat.xray_source s "
            "ON s.id = f.source_id WHERE s.native_id = :n ORDER BY band"), {"n": nid}).all()


def test_xray_fluxes_replaced_only_when_changed(clean_tables):
    engine = clean_tables
    rows = [{"native_id": f"S{i}", "ra": 100.0 + i * 0.01, "dec": -30.0,
             "pos_err_arcsec": 0.5, "flags": {"pileup": False}, "extra": {"release": "1"}}
            for i in range(3)]
    fl = [flux(f"S{i}", 1e-14 * (i + 1)) for i in range(3)] + [flux("S0", 5e-15, "s", 0.5, 1.2)]
    first = load.load_catalog(engine, "xt", xray(rows, fl), version="1")
    assert (first.n_inserted, first.n_updated) == (3, 0)
    assert _fluxes(engine, "S0") == [("b", 1e-14), ("s", 5e-15)]
    with engine.connect() as conn:
        ctids = dict(conn.execute(sa.text(
            "SELECT s.native_id, f.ctid::text FROM livecat.xray_source_flux f JOIN "
            "livecat.xray_source s ON s.id = f.source_id")).all())
        extra = conn.execute(sa.text("SELECT extra FROM livecat.xray_source LIMIT 1")).scalar()
    assert extra == {}  # the release name lives in catalog_release, not in every row

    # same content, new release name: unchanged (release keys are not content)
    rows2 = [{**r, "extra": {"release": "2"}} for r in rows]
    same = load.load_catalog(engine, "xt", xray(rows2, fl), version="2")
    assert (same.n_inserted, same.n_updated, same.n_unchanged) == (0, 0, 3)

    # only S1's flux changes: S1 is updated, its fluxes replaced, the others untouched
    fl3 = [f if f["native_id"] != "S1" else flux("S1", 9e-14) for f in fl]
    changed = load.load_catalog(engine, "xt", xray(rows2, fl3), version="3")
    assert (changed.n_updated, changed.n_unchanged) == (1, 2)
    assert _fluxes(engine, "S1") == [("b", 9e-14)]
    with engine.connect() as conn:
        ctids_after = dict(conn.execute(sa.text(
            "SELECT s.native_id, f.ctid::text FROM livecat.xray_source_flux f JOIN "
            "livecat.xray_source s ON s.id = f.source_id")).all())
        prev = conn.execute(sa.text(
            "SELECT previous_fluxes FROM livecat.source_history WHERE run_id = :r"),
            {"r": changed.run_id}).scalar_one()
    assert ctids_after["S0"] == ctids["S0"] and ctids_after["S2"] == ctids["S2"]
    assert [f["value"] for f in prev] == [2e-14]


def _visibility(engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT relpages, relallvisible, reltuples FROM pg_class "
            "WHERE oid = 'livecat.xray_source'::regclass")).one())


def test_a_load_leaves_its_tables_vacuumed_and_analysed(clean_tables):
    """A new release of an unchanged catalog still rewrites every row (the new
    ``last_release_id``); after the load every page of ``xray_source`` is all-visible
    again, so index-only scans stay on the index, and the statistics count its rows
    (:func:`ingest.vacuum.vacuum_loaded`)."""
    engine = clean_tables
    rows = [{"native_id": f"S{i}", "ra": 100.0 + i * 0.01, "dec": -30.0,
             "pos_err_arcsec": 0.5, "extra": {"note": "x" * 200}} for i in range(300)]
    fl = [flux(f"S{i}", 1e-14) for i in range(300)]
    load.load_catalog(engine, "xt", xray(rows, fl), version="1")
    again = load.load_catalog(engine, "xt", xray(rows, fl), version="2")
    assert again.n_unchanged == 300
    pages, visible, tuples = _visibility(engine)
    assert pages > 1 and visible == pages and tuples == 300


def test_partial_load_retires_nothing(clean_tables):
    engine = clean_tables
    rows = [{"native_id": f"S{i}", "ra": 50.0 + i, "dec": 5.0, "pos_err_arcsec": 1.0}
            for i in range(4)]
    load.load_catalog(engine, "xt", xray(rows, []), version="full")
    region = load.load_catalog(engine, "xt", xray(rows[:1], []), version="region-1",
                               footprint=Footprint.nothing())
    assert (region.n_retired, region.n_unchanged) == (0, 1)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM livecat.xray_source "
                                    "WHERE is_current")).scalar() == 4
        assert conn.execute(sa.text("SELECT state FROM livecat.catalog_release WHERE "
                                    "version = 'region-1'")).scalar() == "partial"


def test_renamed_source_keeps_its_id(clean_tables):
    engine = clean_tables
    rows = [{"native_id": "2CXO J010000.0+100000", "ra": 15.0, "dec": 10.0,
             "pos_err_arcsec": 0.5},
            {"native_id": "2CXO J020000.0+200000", "ra": 30.0, "dec": 20.0,
             "pos_err_arcsec": 0.5},
            {"native_id": "2CXO J030000.0+300000", "ra": 45.0, "dec": 30.0,
             "pos_err_arcsec": 0.5}]
    load.load_catalog(engine, "csc-r", xray(rows, [flux(r["native_id"], 1e-14) for r in rows]),
                      version="2.1")
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT native_id, id FROM livecat.xray_source")).all())
    # 2.1.1: the first source moves by 0.3" and is renamed; the third vanishes and a
    # source 1 arcmin away (far beyond the errors) appears: not a rename
    new_rows = [{"native_id": "2CXO J010000.0+100001", "ra": 15.0, "dec": 10.0 + 0.3 / 3600,
                 "pos_err_arcsec": 0.5}, rows[1],
                {"native_id": "2CXO J030004.0+300000", "ra": 45.0 + 1 / 60, "dec": 30.0,
                 "pos_err_arcsec": 0.5}]
    res = load.load_catalog(engine, "csc-r", xray(new_rows, [flux(r["native_id"], 1e-14)
                                                             for r in new_rows]),
                            version="2.1.1")
    assert res.counts() == {"read": 3, "inserted": 1, "updated": 1, "unchanged": 1,
                            "rejected": 0, "retired": 1}
    assert res.n_renamed == 1
    with engine.connect() as conn:
        after = dict(conn.execute(sa.text("SELECT native_id, id FROM livecat.xray_source")).all())
        alias = conn.execute(sa.text(
            "SELECT source_id, native_id, separation_arcsec FROM livecat.xray_source_alias")).all()
        changes = conn.execute(sa.text(
            "SELECT change, native_id FROM livecat.source_history WHERE run_id = :r "
            "ORDER BY change"), {"r": res.run_id}).all()
    assert after["2CXO J010000.0+100001"] == ids["2CXO J010000.0+100000"]
    assert "2CXO J010000.0+100000" not in after
    assert len(alias) == 1 and alias[0][:2] == (ids["2CXO J010000.0+100000"],
                                                "2CXO J010000.0+100000")
    assert alias[0][2] == pytest.approx(0.3, abs=1e-3)
    assert changes == [("renamed", "2CXO J010000.0+100000"),
                       ("retired", "2CXO J030000.0+300000")]
    assert _fluxes(engine, "2CXO J010000.0+100001") == [("b", 1e-14)]


def test_match_renames_requires_mutual_nearest_within_errors():
    gone = pd.DataFrame({"id": [1, 2], "native_id": ["a", "b"], "name": ["a", "b"],
                         "ra": [10.0, 10.0], "dec": [0.0, 0.001], "err": [1.0, math.nan]})
    new = pd.DataFrame({"native_id": ["a2", "b2"], "ra": [10.0, 10.0],
                        "dec": [2.0 / 3600, 0.001], "err": [1.0, 1.0]})
    pairs = match_renames(gone, new)
    # a -> a2 at 2" (limit 3 * sqrt(2) = 4.2"); b has no error: never matched
    assert pairs[["id", "new_native_id"]].values.tolist() == [[1, "a2"]]
    assert match_renames(gone, new, sigma=1.0).empty


# --------------------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------------------

def test_json_text_is_valid_json_for_numpy_and_nan():
    value = {"a": np.float64(1.5), "b": math.nan, "c": [np.int64(3), math.inf],
             "d": np.bool_(True), "release": "x"}
    assert json.loads(json_text(value)) == {"a": 1.5, "b": None, "c": [3, None],
                                                 "d": True, "release": "x"}
    assert json_text(None) == "{}"
    assert json.loads(json_text({"s": "a\x00b"})) == {"s": "ab"}  # JSONB refuses NUL


def test_staging_frame_types():
    src = pd.DataFrame({"native_id": [1, "b"], "ra": [1.0, None], "extended": [True, None],
                        "n_obs": [3, None], "flags": [{"x": True}, None]})
    frame = staging_frame(src, [("native_id", "text"), ("ra", "float8"),
                                     ("extended", "boolean"), ("n_obs", "integer"),
                                     ("flags", "jsonb"), ("name", "text")],
                               json_columns=("flags",))
    rows = [row for chunk in row_chunks(frame) for row in chunk]
    assert rows == [("1", 1.0, True, 3, '{"x":true}', None), ("b", None, None, None, "{}", None)]


# --------------------------------------------------------------------------------------
# the 0002 migration: taxonomy, foreign key, round trip with history rows
# --------------------------------------------------------------------------------------

def test_taxonomy_tables_match_ingest_taxonomy(engine):
    with engine.connect() as conn:
        classes = dict(conn.execute(sa.text(
            "SELECT name, description FROM livecat.livecat_class")).all())
        subs = conn.execute(sa.text(
            "SELECT class_name, name FROM livecat.livecat_subclass")).all()
    assert classes == taxonomy.CLASSES
    assert sorted(subs) == sorted((c, s) for c, ss in taxonomy.SUBCLASSES.items() for s in ss)


def test_literature_class_foreign_keys(engine, clean_tables):
    with pytest.raises(sa.exc.IntegrityError, match="literature_object_class_fk"):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO livecat.literature_object (catalog, native_id, "
                                 "ra, dec, livecat_class) VALUES ('x', 'y', 1, 2, 'Pulsar')"))
    with pytest.raises(sa.exc.IntegrityError, match="literature_object_subclass_fk"):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO livecat.literature_object (catalog, native_id, "
                                 "ra, dec, livecat_class, subclass) "
                                 "VALUES ('x', 'y', 1, 2, 'CV', 'redback')"))


def test_migration_round_trip_with_history(database_factory):
    eng = create_engine(database_factory())
    migrate.upgrade(eng)
    rows = [{"native_id": "S1", "ra": 1.0, "dec": 1.0, "pos_err_arcsec": 1.0}]
    load.load_catalog(eng, "xt", xray(rows, [flux("S1", 1e-14)]), version="1")
    load.load_catalog(eng, "xt", xray(rows, [flux("S1", 2e-14)]), version="2")
    load.load_catalog(eng, "lit", literature([{"native_id": "P", "ra": 1.0, "dec": 1.0,
                                               "livecat_class": "CV", "subclass": "IP"}]),
                      version="1")
    migrate.downgrade(eng, "0001_core")
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('livecat.source_history')")).scalar() \
            is None
    migrate.downgrade(eng, "base")
    migrate.upgrade(eng)
    assert migrate.current_revision(eng) == migrate.status(eng).head
    load.load_catalog(eng, "xt", xray(rows, [flux("S1", 1e-14)]), version="1")
    eng.dispose()


# --------------------------------------------------------------------------------------
# Streamed first ingest and the prefetch thread
# --------------------------------------------------------------------------------------

def _chunked_catalog(n_sources: int, n_chunks: int, scale: float = 1.0):
    """A catalog in chunks; source i has bands of its own (a new band appears in a later
    chunk) with values that encode i, so a flux attached to the wrong source shows."""
    rows = [{"native_id": f"C{i:04d}", "ra": (i * 0.37) % 360, "dec": -60 + i * 0.01,
             "pos_err_arcsec": 0.5, "extra": {"i": i}} for i in range(n_sources)]
    fl = []
    for i in range(n_sources):
        fl.append(flux(f"C{i:04d}", scale * 1e-15 * (i + 1)))
        fl.append(flux(f"C{i:04d}", scale * 1e-16 * (i + 1), "s", 0.5, 1.2))
        if i >= n_sources // 2:
            fl.append(flux(f"C{i:04d}", math.nan, "h", 2.0, 7.0))
    step = -(-n_sources // n_chunks)
    chunks = []
    for start in range(0, n_sources, step):
        part = rows[start:start + step]
        ids = {r["native_id"] for r in part}
        chunks.append(xray(part, [f for f in fl if f["native_id"] in ids]))
    return chunks


def _all_fluxes(engine) -> dict[str, list]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.native_id, f.band, f.value FROM livecat.xray_flux f JOIN "
            "livecat.xray_source s ON s.id = f.source_id ORDER BY 1, 2")).all()
    out: dict[str, list] = {}
    for nid, band, value in rows:
        out.setdefault(nid, []).append((band, value))
    return out


def test_streamed_first_ingest_attaches_every_flux_to_its_source(clean_tables):
    engine = clean_tables
    first = load.load_catalog(engine, "stream-test", iter(_chunked_catalog(300, 7)),
                              version="1")
    assert (first.n_read, first.n_inserted, first.n_unchanged) == (300, 300, 0)
    got = _all_fluxes(engine)
    assert len(got) == 300
    for i in range(300):
        expected = [("b", 1e-15 * (i + 1))] + ([("h", None)] if i >= 150 else []) \
            + [("s", 1e-16 * (i + 1))]
        assert got[f"C{i:04d}"] == expected, i
    # the same release again, not streamed (the catalog has rows): nothing changes
    again = load.load_catalog(engine, "stream-test", iter(_chunked_catalog(300, 3)),
                              version="1")
    assert (again.n_inserted, again.n_updated, again.n_unchanged) == (0, 0, 300)
    # every flux doubled: all 300 updated through the staged (not streamed) path
    changed = load.load_catalog(engine, "stream-test",
                                iter(_chunked_catalog(300, 4, scale=2.0)), version="2")
    assert (changed.n_updated, changed.n_unchanged) == (300, 0)
    assert _all_fluxes(engine)["C0299"][0] == ("b", 2 * 1e-15 * 300)


def test_streamed_ingest_failing_in_a_later_chunk_leaves_nothing(clean_tables):
    engine = clean_tables
    chunks = _chunked_catalog(100, 4)
    chunks[2].fluxes.loc[0, "band_lo_kev"] = 9.0  # lo >= hi: refused by the CHECK
    before = snapshot(engine)
    with pytest.raises(sa.exc.DBAPIError, match="xray_source_flux_valid"):
        load.load_catalog(engine, "stream-test", iter(chunks), version="1")
    assert snapshot(engine) == before
    assert [r["status"] for r in runs(engine)] == ["failed"]


def test_prefetched_runs_one_item_ahead_and_hands_over_errors():
    produced = []

    def items():
        for i in range(5):
            produced.append(i)
            yield i
        raise ValueError("bad chunk 5")

    it = prefetched(items())
    assert next(it) == 0
    time.sleep(0.2)
    assert produced == [0, 1]  # one ahead, never more: memory is bounded
    assert [next(it) for _ in range(4)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="bad chunk 5"):
        next(it)

    endless = prefetched(iter(range(10**9)))
    next(endless)
    endless.close()
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name == "livecat-prepare"]
