"""The cross-mission variability of a source's object, read from a real database after
``livecat objects build``: the 3C 273 samples (CSC, 5XMM, 2SXPS) and Proxima Cen (eRASS1);
a training run with the feature on small synthetic second-mission sources."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import ingest_mission_samples, mark_searched, td_excerpt

from associate.object_build import _update_variability, build_objects
from catalog.errors import InputError
from catalog.variability import object_variability
from classify.crossvar import variability_by_name, variability_by_source
from classify.features import CROSS_MISSION_FEATURES
from classify.labels import classify_run
from classify.measurements import Selection
from classify.runs import evaluate_run, train_run


@pytest.fixture(scope="module")
def held(engine):
    ingest_mission_samples(engine)
    build_objects(engine)
    return engine


def _source(engine, catalog: str) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, native_id FROM livecat.xray_source "
                                   "WHERE catalog = :c ORDER BY id LIMIT 1"),
                           {"c": catalog}).one()
    return int(row[0]), str(row[1])


def _stored(engine) -> tuple[int, float, float | None]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, var_ratio, var_sigma FROM livecat.xray_object "
                                   "WHERE is_current AND n_members = 3")).one()
    return int(row[0]), float(row[1]), row[2]


def test_a_source_gets_its_objects_variability(held):
    csc, xmm, erass = (_source(held, c)[0] for c in ("csc", "xmm", "erass1"))
    obj, ratio, sigma = _stored(held)
    var = variability_by_source(held, [csc, xmm, erass])
    assert list(var.index) == [csc, xmm, erass]
    for sid in (csc, xmm):  # every member of 3C 273's object: the object's columns
        assert var.loc[sid, "object_id"] == obj and var.loc[sid, "var_band"] == "b"
        assert var.loc[sid, "var_ratio"] == pytest.approx(ratio) and ratio > 3
        assert (np.isnan(var.loc[sid, "var_sigma"]) if sigma is None
                else var.loc[sid, "var_sigma"] == pytest.approx(sigma))
        assert var.loc[sid, "var_is_lower_limit"] == 0.0
    # Proxima Cen: an object seen once, so no ratio and no lower-limit flag (not 0)
    assert not np.isnan(var.loc[erass, "object_id"])
    assert np.isnan(var.loc[erass, ["var_ratio", "var_sigma", "var_is_lower_limit"]]
                    .to_numpy(float)).all()


def test_by_name_and_through_the_training_set_copy(held):
    csc, name = _source(held, "csc")
    _, ratio, _ = _stored(held)
    with held.begin() as conn:  # a muwclass-csc copy of the CSC source (kept out of objects)
        copy = conn.execute(sa.text(
            "INSERT INTO livecat.xray_source (catalog, native_id, name, ra, dec, extra) "
            "SELECT 'muwclass-csc', native_id, name, ra, dec, CAST(:x AS jsonb) "
            "FROM livecat.xray_source WHERE id = :i RETURNING id"),
            {"i": csc, "x": json.dumps({"csc_native_id": name})}).scalar_one()
    var = variability_by_source(held, [copy])
    assert var.loc[copy, "var_ratio"] == pytest.approx(ratio)
    by_name = variability_by_name(held, [name, "2CXO J000000.0+000000"])
    assert list(by_name.index) == [name]  # an unknown name is absent, not zero
    assert by_name.loc[name, "var_ratio"] == pytest.approx(ratio)


def test_lower_limit_when_the_faintest_flux_is_an_upper_limit(held):
    """The stored flag follows catalog.variability's rule on the same member fluxes."""
    csc, _ = _source(held, "csc")
    obj, _, _ = _stored(held)
    b_band = 4  # xray_source_common_flux arrays run over s, m, h, b
    with held.begin() as conn:
        old = conn.execute(sa.text(
            f"SELECT value[{b_band}], value_lo[{b_band}], value_hi[{b_band}], "
            f"reason[{b_band}] FROM livecat.xray_source_common_flux WHERE source_id = :s"),
            {"s": csc}).one()
        conn.execute(sa.text(
            f"UPDATE livecat.xray_source_common_flux SET value[{b_band}] = NULL, "
            f"value_lo[{b_band}] = NULL, value_hi[{b_band}] = :hi, "
            f"reason[{b_band}] = 'upper limit only' WHERE source_id = :s"),
            {"s": csc, "hi": float(old[0]) / 2})
        _update_variability(conn, [obj])
        rows = pd.DataFrame(conn.execute(sa.text(
            "SELECT a.object_id, f.value, f.value_lo, f.value_hi FROM livecat.xray_association a "
            "JOIN livecat.xray_common_flux f ON f.source_id = a.xray_source_id AND f.band = 'b' "
            "WHERE a.ended_run_id IS NULL AND a.object_id = :o"), {"o": obj}).all(),
            columns=["object_id", "value", "value_lo", "value_hi"]).astype(float)
    try:
        expected = object_variability(rows).iloc[0]
        got = variability_by_source(held, [csc]).loc[csc]
        assert bool(expected["var_is_lower_limit"]) and got["var_is_lower_limit"] == 1.0
        assert got["var_ratio"] == pytest.approx(expected["var_ratio"])
    finally:
        with held.begin() as conn:
            conn.execute(sa.text(
                f"UPDATE livecat.xray_source_common_flux SET value[{b_band}] = :v, "
                f"value_lo[{b_band}] = :lo, value_hi[{b_band}] = :hi, reason[{b_band}] = :r "
                f"WHERE source_id = :s"),
                {"s": csc, "v": old[0], "lo": old[1], "hi": old[2], "r": old[3]})
            _update_variability(conn, [obj])
    assert variability_by_source(held, [csc]).loc[csc, "var_is_lower_limit"] == 0.0


XMM_BANDS = {"2": (0.5, 1.0), "3": (1.0, 2.0), "4": (2.0, 4.5), "5": (4.5, 12.0)}


def _insert(conn, catalog, name, ra, dec, fluxes) -> int:
    sid = conn.execute(sa.text(
        "INSERT INTO livecat.xray_source (catalog, native_id, name, ra, dec, pos_err_arcsec) "
        "VALUES (:c, :n, :n, :ra, :dec, 0.5) RETURNING id"),
        {"c": catalog, "n": name, "ra": ra, "dec": dec}).scalar_one()
    for band, (lo, hi, v, e) in fluxes.items():
        conn.execute(sa.text(
            "INSERT INTO livecat.xray_flux (source_id, band, kind, band_lo_kev, band_hi_kev, "
            "value, value_lo, value_hi) VALUES (:s, :b, 'energy_flux', :lo, :hi, :v, :vl, :vh)"),
            {"s": sid, "b": band, "lo": lo, "hi": hi, "v": v, "vl": v - e, "vh": v + e})
    return sid


def test_training_and_labelling_with_the_feature(held, tmp_path, monkeypatch):
    """Real TD_train.csv rows as CSC sources; synthetic XMM sources 8x brighter on three
    of them: a run trained with the feature reads their objects' ratios by CSCv2_name,
    and classifies and evaluates with them."""
    home = tmp_path / "home"
    monkeypatch.setenv("LIVECAT_HOME", str(home))
    td = td_excerpt(per_class=8)
    csv = tmp_path / "td.csv"
    td.to_csv(csv, index=False)
    with held.begin() as conn:
        csc_ids = [_insert(conn, "csc", r.CSCv2_name, r.CSCv2_RA, r.CSCv2_DEC, {
            "s": (0.5, 1.2, r.Fs, r.e_Fs), "m": (1.2, 2.0, r.Fm, r.e_Fm),
            "h": (2.0, 7.0, r.Fh, r.e_Fh), "b": (0.5, 7.0, r.Fb, r.e_Fb)})
            for r in td.itertuples()]
        for r in td.head(3).itertuples():  # three AGN seen again by a synthetic XMM
            scale = 8 * r.Fb / 4
            _insert(conn, "xmm", f"synthetic {r.CSCv2_name}", r.CSCv2_RA, r.CSCv2_DEC,
                    {b: (lo, hi, scale, scale / 20) for b, (lo, hi) in XMM_BANDS.items()})
    mark_searched(held, csc_ids)
    build_objects(held)
    var = variability_by_source(held, csc_ids)
    assert var["var_ratio"].notna().sum() == 3, var
    assert (var["var_ratio"].iloc[:3] > 2).all()
    with pytest.raises(InputError, match="0 of 24 sources"):
        _no_coverage(held, tmp_path, home)
    run = train_run(held, f"file:{csv}", params={"n_estimators": 6, "max_depth": 5},
                    mc_samples=4, seed=1, home=home, cross_mission_variability=True)
    assert run.features[-3:] == list(CROSS_MISSION_FEATURES)
    assert "3 of 32 sources" in run.note and "AGN 3/8" in run.note
    summary = classify_run(held, run.id, Selection(catalogs=["csc"]))
    assert summary.n_labelled == len(csc_ids)
    report, _ = evaluate_run(held, run.id, n_splits=2, mc_samples=3, png_dir=tmp_path)
    assert 0 < report["all"]["overall"] <= 1


def _no_coverage(engine, tmp_path, home):
    """Training rows none of whose names is held: refused, the feature would be constant."""
    other = td_excerpt(per_class=8, classes=("HM-STAR", "LM-STAR", "HMXB"))
    path = tmp_path / "other.csv"
    other.to_csv(path, index=False)
    train_run(engine, f"file:{path}", params={"n_estimators": 5}, mc_samples=4, seed=1,
              home=home, cross_mission_variability=True)
