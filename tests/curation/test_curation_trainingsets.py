"""Training sets: immutability, export determinism (byte-identical), filters, diff, the
migration with curation rows, and the finding chart."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from test_curation_flow import invoke, literature_catalog, xray_catalog

from catalog import migrate
from catalog.files import sha256_file
from catalog.engine import create_engine
from catalog.errors import InputError
from curation import candidates as C
from curation import chart
from curation import decisions as D
from curation import tablefiles as TF
from curation import trainingset_export as E
from curation import trainingsets as T
from ingest.load import load_catalog

CLASSES = [("CV", "IP", 5.0), ("CV", None, 2.0), ("NS", "pulsar", None), ("AGN", None, None),
           ("YSO", None, None)]


def build(engine) -> list[int]:
    """Five confirmed-able candidates with classes, confidences and fluxes."""
    load_catalog(engine, "xt", xray_catalog([
        {"native_id": f"X{i}", "ra": 200.0 + i * 0.01, "dec": 30.0, "flux": 1.5e-14 * (i + 1),
         "significance": 3.3 + i} for i in range(len(CLASSES))]), version="1")
    load_catalog(engine, "lt", literature_catalog([
        {"native_id": f"L{i}", "ra": 200.0 + i * 0.01, "dec": 30.0 + 0.2 / 3600,
         "livecat_class": c, "subclass": s, "confidence": lvl}
        for i, (c, s, lvl) in enumerate(CLASSES)]), version="1")
    C.generate_candidates(engine)
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM livecat.counterpart_candidate "
                                    "ORDER BY literature_native_id")).scalars().all()


@pytest.fixture
def frozen(clean_tables):
    engine = clean_tables
    ids = build(engine)
    for cid in ids[:4]:
        D.decide(engine, cid, "confirm", "alice")
    D.decide(engine, ids[4], "reject", "alice")
    T.create_training_set(engine, "ts", "alice", note="v1")
    return ids


def test_export_is_byte_identical(frozen, engine, tmp_path, monkeypatch, db_url):
    for fmt in TF.FORMATS:
        a, ma = E.export_training_set(engine, "ts@1", fmt, tmp_path / f"a.{fmt}")
        b, mb = E.export_training_set(engine, "ts@1", fmt, tmp_path / f"b.{fmt}")
        assert a.read_bytes() == b.read_bytes(), fmt
        man_a, man_b = json.loads(ma.read_text()), json.loads(mb.read_text())
        assert man_a.pop("file") == f"a.{fmt}" and man_b.pop("file") == f"b.{fmt}"
        assert man_a == man_b
        assert man_a["sha256"] == sha256_file(a)
        assert man_a["class_counts"] == {"AGN": 1, "CV": 2, "NS": 1}
        assert man_a["decisions"] and man_a["releases"] == [
            {"catalog": "lt", "version": "1", "checksum": None},
            {"catalog": "xt", "version": "1", "checksum": None}]
    # a later version and later decisions do not change what version 1 exports
    D.decide(engine, frozen[4], "confirm", "bob", expected_seq=1)
    T.create_training_set(engine, "ts", "bob")
    res = invoke(["trainingset", "export", "ts@1", "--format", "parquet", "--out",
                  str(tmp_path / "c.parquet")], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "a.parquet").read_bytes()
    csv = pd.read_csv(tmp_path / "a.csv")
    assert list(csv["xray_native_id"]) == ["X0", "X1", "X2", "X3"]
    assert csv.loc[0, "energy_flux_b"] == pytest.approx(1.5e-14)
    assert list(csv["subclass"].fillna("")) == ["IP", "", "pulsar", ""]
    from astropy.table import Table

    fits = Table.read(tmp_path / "a.fits")
    assert list(fits["xray_native_id"]) == ["X0", "X1", "X2", "X3"]


def test_versions_are_immutable(frozen, engine):
    with engine.connect() as conn:
        ts_id = conn.execute(sa.text("SELECT id FROM livecat.training_set")).scalar()
    refused = [
        "UPDATE livecat.training_set SET note = 'changed'",
        "DELETE FROM livecat.training_set",
        "UPDATE livecat.training_member SET livecat_class = 'AGN'",
        "DELETE FROM livecat.training_member",
        f"INSERT INTO livecat.training_member SELECT {ts_id}, x.id, x.catalog, x.native_id, "
        "l.id, l.catalog, l.native_id, c.id, e.id, 'YSO', NULL, '{}' "
        "FROM livecat.counterpart_candidate c JOIN livecat.xray_source x "
        "ON x.id = c.xray_source_id JOIN livecat.literature_object l ON l.id = c.literature_id "
        "JOIN livecat.curation_event e ON e.candidate_id = c.id "
        "WHERE x.native_id = 'X4'",
    ]
    for stmt in refused:
        with pytest.raises(sa.exc.DBAPIError, match="immutable|frozen"):
            with engine.begin() as conn:
                conn.execute(sa.text(stmt))
    assert T.verify_content_hash(engine, "ts@1")


def test_filters_and_exclusions(frozen, engine):
    D.decide(engine, frozen[4], "confirm", "alice", expected_seq=1)
    cv = T.create_training_set(engine, "cv-only", "alice", classes=["cv"])
    assert cv["class_counts"] == {"CV": 2} and cv["classes"] == ["CV"]
    lvl = T.create_training_set(engine, "levels", "alice", min_level=3)
    assert lvl["n_members"] == 4  # L1 (level 2) left out; objects without a level kept
    assert lvl["provenance"]["excluded"][0]["reason"] == "confidence 2 < --min-level 3"
    with pytest.raises(InputError, match="unknown class 'STAR'"):
        T.create_training_set(engine, "bad", "alice", classes=["STAR"])
    with pytest.raises(InputError, match="no confirmed counterpart to freeze into none "
                                         "for classes HMXB"):
        T.create_training_set(engine, "none", "alice", classes=["HMXB"])
    with pytest.raises(InputError, match="unknown training set ts@7"):
        T.get_training_set(engine, "ts@7")
    with pytest.raises(InputError, match="must be a positive integer"):
        T.parse_ref("ts@x")


def test_diff_and_cli(frozen, engine, monkeypatch, db_url):
    D.decide(engine, frozen[0], "confirm", "alice", class_override="CV/polar")
    D.decide(engine, frozen[3], "reject", "alice")
    D.decide(engine, frozen[4], "confirm", "alice", expected_seq=1)
    res = invoke(["trainingset", "create", "ts", "--note", "second", "--curator", "bob"],
                 monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("created ts@2: 4 members")
    diff = T.diff_training_sets(engine, "ts@1", "ts")
    assert [tuple(r) for r in diff.itertuples(index=False)] == [
        ("added", "xt", "X4", None, "YSO"), ("relabelled", "xt", "X0", "CV/IP", "CV/polar"),
        ("removed", "xt", "X3", "AGN", None)]
    res = invoke(["trainingset", "show", "ts@2", "--members"], monkeypatch, db_url)
    assert res.exit_code == 0 and "by bob (second)" in res.stdout and "X4" in res.stdout
    res = invoke(["trainingset", "show", "nope"], monkeypatch, db_url)
    assert res.exit_code == 1
    assert res.stderr.strip() == "Error: unknown training set nope: known sets are ts"


def test_migrations_round_trip_with_curation_rows(database_factory):
    engine = create_engine(database_factory())
    migrate.upgrade(engine)
    ids = build(engine)
    D.decide(engine, ids[0], "confirm", "alice")
    T.create_training_set(engine, "m", "alice")
    migrate.downgrade(engine, "0002_history_taxonomy", drop_data=True)
    with engine.connect() as conn:
        left = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'livecat' "
            "AND table_name IN ('counterpart_candidate', 'curation_event', 'training_set', "
            "'curation_state')")).scalar()
    assert left == 0
    migrate.downgrade(engine, "base", drop_data=True)
    migrate.upgrade(engine)
    ids = build(engine)
    D.decide(engine, ids[1], "reject", "bob")
    assert D.get_state(engine, ids[1]).status == "rejected"
    engine.dispose()


def test_chart_pure(tmp_path):
    xray = pd.DataFrame({"ra": [10.0, 10.0 + 2 / 3600], "dec": [20.0, 20.0],
                         "pos_err_arcsec": [0.5, 1.0], "err_maj_arcsec": [1.2, float("nan")],
                         "err_min_arcsec": [0.8, float("nan")], "err_pa_deg": [30.0, None],
                         "label": ["#1 P=0.90", ""], "is_candidate": [True, False]})
    out = chart.draw_chart({"ra": 10.0, "dec": 20.0, "pos_err_arcsec": 0.7, "name": "obj"},
                           xray, tmp_path / "c.png", 5.0)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert chart.scale_bar_length(10.0) == 2.0 and chart.scale_bar_length(120.0) == 20.0
    x, y = chart.offsets_arcsec([10.0 + 1 / 3600], [20.0], 10.0, 20.0)
    assert x[0] == pytest.approx(0.9397, rel=1e-3) and abs(y[0]) < 1e-3


def test_multiwavelength_counterparts_are_frozen_and_shown(clean_tables, tmp_path):
    """Members keep their X-ray sources' multiwavelength counterparts (``mw_counterpart``,
    migration 0005) as of creation, flattened to ``mw_<survey>_<column>`` for the best one;
    ``show`` lists them and the chart plots them."""
    engine = clean_tables
    ids = build(engine)
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('livecat.mw_counterpart')")).scalar()
    with engine.begin() as conn:
        if not exists:  # a schema without migration 0005: the columns curation reads
            conn.execute(sa.text(
                "CREATE TABLE livecat.mw_counterpart (id bigint GENERATED ALWAYS AS "
                "IDENTITY, xray_source_id bigint, survey text, survey_id text, ra float8, "
                "dec float8, gmag float8, is_best boolean, matched_by text)"))
        conn.execute(sa.text(
            "INSERT INTO livecat.mw_counterpart (xray_source_id, survey, survey_id, ra, dec, "
            "gmag, is_best, matched_by) "
            "SELECT id, 'gaia_dr3', 'a' || id, ra, dec, 17.5, true, 'test' "
            "FROM livecat.xray_source UNION ALL "
            "SELECT id, 'gaia_dr3', 'b' || id, ra + 0.0003, dec, 19.0, false, 'test' "
            "FROM livecat.xray_source"))
    try:
        D.decide(engine, ids[0], "confirm", "alice")
        T.create_training_set(engine, "mw", "alice")
        frame = E.member_table(T.get_training_set(engine, "mw")["members"])
        assert frame.loc[0, "mw_gaia_dr3_gmag"] == 17.5
        details = C.candidate_details(engine, ids[0])
        assert sorted(details["mw"]["gmag"]) == [17.5, 19.0]
        assert chart.finding_chart(engine, ids[0], tmp_path / "mw.png").exists()
        with engine.begin() as conn:  # later changes do not reach the frozen version
            conn.execute(sa.text("UPDATE livecat.mw_counterpart SET gmag = 10"))
        assert T.verify_content_hash(engine, "mw@1")
        assert E.member_table(T.get_training_set(engine, "mw")["members"]).loc[
            0, "mw_gaia_dr3_gmag"] == 17.5
    finally:
        if not exists:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE livecat.mw_counterpart"))


def test_same_class_with_and_without_subclass_freezes(clean_tables, monkeypatch, db_url):
    """One X-ray source confirmed as the counterpart of a CV/IP and of a plain CV (two
    literature tables): ``trainingset create`` freezes one CV member (it raised TypeError
    on pandas 3, where the missing subclass is read back as NaN)."""
    engine = clean_tables
    load_catalog(engine, "xt", xray_catalog([{"native_id": "X0", "ra": 120.0, "dec": 10.0}]),
                 version="1")
    load_catalog(engine, "ipcat-t", literature_catalog([
        {"native_id": "IP1", "ra": 120.0, "dec": 10.0 + 0.2 / 3600, "livecat_class": "CV",
         "subclass": "IP"}]), version="1")
    load_catalog(engine, "cv-t", literature_catalog([
        {"native_id": "CV1", "ra": 120.0, "dec": 10.0 - 0.2 / 3600, "livecat_class": "CV"}]),
        version="1")
    C.generate_candidates(engine)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM livecat.counterpart_candidate "
                                   "ORDER BY literature_catalog")).scalars().all()
    assert len(ids) == 2
    for cid in ids:
        D.decide(engine, cid, "confirm", "alice")
    res = invoke(["trainingset", "create", "mixed", "--curator", "alice"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("created mixed@1: 1 members (CV 1)")
    (member,) = T.get_training_set(engine, "mixed")["members"]
    # the first literature object by catalog and native id names the member: cv-t CV1
    assert (member["literature_catalog"], member["livecat_class"], member["subclass"]) == (
        "cv-t", "CV", None)


def _two_databases_with_the_same_members(database_factory) -> tuple:
    """Build the same confirmed set in two fresh databases; in the second one, unrelated
    rows (an X-ray and a literature catalog, their candidate, a rejection, a deleted
    source) come first, so every database id of the members differs."""
    engines = []
    for shifted in (False, True):
        engine = create_engine(database_factory())
        migrate.upgrade(engine)
        if shifted:
            load_catalog(engine, "junkx", xray_catalog([
                {"native_id": f"J{i}", "ra": 10.0 + i * 0.01, "dec": -40.0} for i in range(7)]),
                version="9")
            load_catalog(engine, "junkl", literature_catalog([
                {"native_id": "JL", "ra": 10.0, "dec": -40.0, "livecat_class": "AGN"}]),
                version="9")
            C.generate_candidates(engine)
            with engine.connect() as conn:
                junk = conn.execute(sa.text(
                    "SELECT id FROM livecat.counterpart_candidate")).scalars().all()
            for cid in junk:
                D.decide(engine, cid, "reject", "alice")
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM livecat.xray_source WHERE native_id = 'J6'"))
        build(engine)
        with engine.connect() as conn:
            ids = conn.execute(sa.text(
                "SELECT id FROM livecat.counterpart_candidate WHERE literature_catalog = 'lt' "
                "ORDER BY literature_native_id")).scalars().all()
        for cid in ids[:4]:
            D.decide(engine, cid, "confirm", "alice", note="same decision")
        D.decide(engine, ids[4], "reject", "alice")
        T.create_training_set(engine, "ts", "alice", note="v1")
        engines.append(engine)
    return tuple(engines)


def test_export_and_hash_do_not_depend_on_database_ids(database_factory, tmp_path):
    a, b = _two_databases_with_the_same_members(database_factory)
    try:
        ids = []
        for engine in (a, b):
            with engine.connect() as conn:
                ids.append(conn.execute(sa.text(
                    "SELECT array_agg(ARRAY[xray_source_id, literature_id, candidate_id, "
                    "event_id] ORDER BY xray_native_id) FROM livecat.training_member"))
                    .scalar())
        assert ids[0] != ids[1]  # the members really have other database ids
        info_a = T.get_training_set(a, "ts@1", members=False)
        info_b = T.get_training_set(b, "ts@1", members=False)
        assert info_a["content_hash"] == info_b["content_hash"]
        assert info_a["created_at"] != info_b["created_at"]
        assert T.verify_content_hash(a, "ts@1") and T.verify_content_hash(b, "ts@1")
        stamp_a = info_a["created_at"].isoformat().encode()
        stamp_b = info_b["created_at"].isoformat().encode()
        for fmt in TF.FORMATS:
            (tmp_path / "a").mkdir(exist_ok=True)
            (tmp_path / "b").mkdir(exist_ok=True)
            fa, ma = E.export_training_set(a, "ts@1", fmt, tmp_path / "a")
            fb, mb = E.export_training_set(b, "ts@1", fmt, tmp_path / "b")
            assert fa.name == fb.name == f"ts-v1.{TF.EXTENSIONS[fmt]}"
            data_a, data_b = fa.read_bytes(), fb.read_bytes()
            if fmt in ("csv", "parquet"):
                assert data_a == data_b, fmt
            else:
                # the provenance names each version's own creation time; all else is equal
                assert data_a.count(stamp_a) == 1 and data_b.count(stamp_b) == 1, fmt
                assert data_a == data_b.replace(stamp_b, stamp_a), fmt
            man_a, man_b = json.loads(ma.read_text()), json.loads(mb.read_text())
            for man in (man_a, man_b):
                man.pop("created_at"), man.pop("sha256")
                assert man["hash_scheme"] == 2
                for d in man["decisions"]:
                    assert set(d) == {"literature_catalog", "literature_native_id",
                                      "xray_catalog", "xray_native_id", "action", "status",
                                      "class_override", "subclass_override", "curator",
                                      "decided_at"}
                    d.pop("decided_at")
            assert man_a == man_b
            assert [d["literature_native_id"] for d in man_a["decisions"]] == [
                "L0", "L1", "L2", "L3"]
        csv = pd.read_csv(tmp_path / "a" / "ts-v1.csv")
        assert not {"xray_source_id", "literature_id", "candidate_id", "event_id"} & set(
            csv.columns)
    finally:
        a.dispose()
        b.dispose()


@pytest.mark.filterwarnings("ignore::astropy.units.UnitsWarning")
def test_fits_and_votable_carry_units_and_provenance(frozen, engine, tmp_path):
    from astropy.io import fits
    from astropy.io.votable import parse_single_table
    from astropy.table import Table

    info = T.get_training_set(engine, "ts@1", members=False)
    path, _ = E.export_training_set(engine, "ts@1", "fits", tmp_path / "ts.fits")
    header = fits.getheader(path, 1)
    assert (header["TSNAME"], header["TSVERS"], header["TSHASH"]) == (
        "ts", "1", info["content_hash"])
    assert header["TSCREAT"] == info["created_at"].isoformat()
    assert header["LCVERS"] == TF.livecat_version() != "unknown"
    assert [header["TSREL1"], header["TSREL2"]] == ["lt 1", "xt 1"]
    table = Table.read(path)
    assert str(table["ra"].unit) == "deg" and str(table["pos_err_arcsec"].unit) == "arcsec"
    assert table["energy_flux_b"].unit.is_equivalent("erg / (cm2 s)")
    assert str(table["energy_flux_b_band_lo_kev"].unit) == "keV"
    assert table["significance"].unit is None

    path, _ = E.export_training_set(engine, "ts@1", "votable", tmp_path / "ts.vot")
    vot = parse_single_table(path)
    infos = {i.name: i.value for i in vot._votable.resources[0].infos}
    assert infos["training_set"] == "ts" and infos["content_hash"] == info["content_hash"]
    assert infos["created_at"] == info["created_at"].isoformat()
    assert infos["release_2"] == "xt 1" and infos["livecat_version"] == TF.livecat_version()
    units = {f.name: f.unit for f in vot.fields}
    assert str(units["dec"]) == "deg"
    assert units["energy_flux_b"].is_equivalent("erg / (cm2 s)")


def test_export_out_directory_and_missing_directory(frozen, engine, tmp_path, monkeypatch,
                                                    db_url):
    """--out DIR writes NAME-vN.EXT inside DIR; --out into a missing directory is one
    Error: line and writes nothing."""
    res = invoke(["trainingset", "export", "ts@1", "--format", "votable", "--out",
                  str(tmp_path)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ts-v1.vot").exists() and (tmp_path / "ts-v1.vot.manifest.json").exists()
    assert f"wrote {tmp_path / 'ts-v1.vot'} (4 members" in res.stdout
    missing = tmp_path / "nope" / "x.csv"
    res = invoke(["trainingset", "export", "ts@1", "--format", "csv", "--out", str(missing)],
                 monkeypatch, db_url)
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"Error: --out {missing}: directory {missing.parent} does not exist (create it "
        f"first, or give an existing directory to write ts-v1.csv into)"]
    assert not missing.parent.exists()
    res = invoke(["trainingset", "export", "--help"], monkeypatch, db_url)
    assert "existing directory" in res.stdout and "NAME-vN.EXT" in res.stdout


def test_column_units_of_the_export_columns():
    from curation.tablefiles import column_unit

    units = {name: column_unit(name) for name in (
        "ra", "dec", "pos_err_arcsec", "err_pa_deg", "nh_gal_cm2", "significance",
        "energy_flux_h_hi", "energy_flux_h_band_hi_kev", "count_rate_b",
        "mw_gaia_dr3_gmag", "mw_gaia_dr3_e_bpmag", "mw_2mass_kmag", "mw_allwise_w1mag",
        "mw_gaia_dr3_plx", "mw_gaia_dr3_e_plx", "mw_gaia_dr3_pm", "mw_gaia_dr3_rgeo_hi",
        "mw_gaia_dr3_separation_arcsec", "mw_gaia_dr3_match_prob", "livecat_class")}
    assert units == {
        "ra": "deg", "dec": "deg", "pos_err_arcsec": "arcsec", "err_pa_deg": "deg",
        "nh_gal_cm2": "cm-2", "significance": None, "energy_flux_h_hi": "erg / (cm2 s)",
        "energy_flux_h_band_hi_kev": "keV", "count_rate_b": "ct / s",
        "mw_gaia_dr3_gmag": "mag", "mw_gaia_dr3_e_bpmag": "mag", "mw_2mass_kmag": "mag",
        "mw_allwise_w1mag": "mag", "mw_gaia_dr3_plx": "mas", "mw_gaia_dr3_e_plx": "mas",
        "mw_gaia_dr3_pm": "mas / yr", "mw_gaia_dr3_rgeo_hi": "pc",
        "mw_gaia_dr3_separation_arcsec": "arcsec", "mw_gaia_dr3_match_prob": None,
        "livecat_class": None}
