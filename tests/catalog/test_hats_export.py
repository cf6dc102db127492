"""`livecat export hats`: livecat's catalogs as HATS catalogs that LSDB reads.

The NGC 3532 CSC sample (``csc/NGC3532_ave.csv``, 373 sources in a 12' field) and the
MUWCLASS training set sample (``muwclass/TD_train.csv``, 2,352 sources over the sky,
catalog ``muwclass-csc``) are exported with small pixels, so that both catalogs span
several HEALPix partitions and the margin caches matter; ``lsdb.read_hats`` reads them
back; an LSDB cross-match of the two equals livecat's own (``catalog.sky.crossmatch``).
"""

from __future__ import annotations

import json
import shutil

import lsdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import invoke, mark_searched, sample_path, use_private_home

from catalog.hats import read_provenance, survey_table, xray_table
from catalog.healpix import radec_to_hpx
from catalog.sky import crossmatch
from classify.export import label_table, promoted_run_id
from classify.hats_export import export_hats
from classify.runs import get_run
from ingest.pipeline import ingest

#: Radius of the cross-match test (arcsec): the field holds 13 training-set sources within
#: 2' of its CSC sources and hundreds within 10'; 300" gives dozens of pairs.
XMATCH_ARCSEC = 300.0


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    use_private_home(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def exported(engine, tmp_path_factory):
    """Both samples ingested and exported with a 300" margin and small pixels (at most
    350 / 300 rows: 3 partitions of the CSC field, dozens of the training set's)."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE livecat.xray_source, livecat.catalog_release, "
                             "livecat.literature_object RESTART IDENTITY CASCADE"))
    ingest(engine, "csc", file=sample_path("csc", "NGC3532_ave.csv"), release="2.0")
    ingest(engine, "muwclass", file=sample_path("muwclass", "TD_train.csv"))
    out = tmp_path_factory.mktemp("hats")
    return {"out": out,
            "csc": export_hats(engine, "csc", out, margin_arcsec=XMATCH_ARCSEC,
                               pixel_threshold=350),
            "td": export_hats(engine, "muwclass-csc", out, margin_arcsec=XMATCH_ARCSEC,
                              pixel_threshold=300)}


def plain(frame: pd.DataFrame) -> dict:
    """Columns as comparable numpy arrays: floats with NaN, everything else as objects
    with None."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
            out[col] = s.to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[col] = np.array([None if pd.isna(v) else v for v in s], dtype=object)
    return out


def assert_same_table(read_back: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert sorted(read_back.columns) == sorted(expected.columns)
    got = plain(read_back.sort_values("native_id").reset_index(drop=True))
    want = plain(expected.sort_values("native_id").reset_index(drop=True))
    for col, values in want.items():
        if values.dtype == object:
            assert got[col].tolist() == values.tolist(), col
        else:
            np.testing.assert_array_equal(got[col], values, err_msg=col)


@pytest.mark.parametrize("what, key", [("csc", "csc"), ("muwclass-csc", "td")])
def test_lsdb_reads_back_the_same_rows_and_values(exported, engine, what, key):
    written = exported[key]
    catalog = lsdb.read_hats(written.path, columns="all")
    assert catalog.margin is not None
    assert catalog.margin.hc_structure.catalog_info.margin_threshold == XMATCH_ARCSEC
    assert catalog.npartitions > 1  # small pixels: several partitions
    back = catalog.compute(progress_bar=False)
    expected, _ = xray_table(engine, what)
    assert len(back) == len(expected) == written.rows
    # HATS's spatial index is livecat's hpx: NESTED, order 29
    assert (back.index.to_numpy() == radec_to_hpx(back["ra"].to_numpy(float),
                                                  back["dec"].to_numpy(float))).all()
    assert_same_table(back.reset_index(drop=True), expected)
    # the fluxes are there, one column per native band (CSC: b, s, m, h energy fluxes)
    assert {"flux_b", "flux_b_lo", "flux_b_hi", "flux_s", "flux_m", "flux_h"} \
        <= set(back.columns)
    assert back["flux_b"].notna().sum() > 0.9 * len(back)


def test_provenance_is_in_the_properties(exported, engine):
    prov = read_provenance(exported["csc"].path)
    with engine.connect() as conn:
        release = conn.execute(sa.text(
            "SELECT id, version, checksum FROM livecat.catalog_release WHERE catalog = "
            "'csc'")).one()
    assert prov["what"] == "xray:csc" and prov["catalog"] == "csc"
    assert prov["releases"] == release.version == "2.0"
    assert prov["release_ids"] == str(release.id)
    assert prov["release_checksums"] == release.checksum
    assert prov["content_hash"] == exported["csc"].content_hash
    assert len(prov["content_hash"]) == 64 and prov["version"]
    assert "flux_b:0.5-7keV" in prov["bands"].split()
    # the catalog inside the collection and its margin carry the same
    assert read_provenance(exported["csc"].path / "csc")["content_hash"] == prov["content_hash"]


def test_lsdb_crossmatch_equals_livecat_crossmatch(exported, engine):
    left = lsdb.read_hats(exported["csc"].path)
    right = lsdb.read_hats(exported["td"].path)
    matched = left.crossmatch(right, radius_arcsec=XMATCH_ARCSEC, n_neighbors=100,
                              suffixes=("_csc", "_td")).compute(progress_bar=False)
    lsdb_pairs = {(a, b): d for a, b, d in zip(matched["native_id_csc"],
                                               matched["native_id_td"],
                                               matched["_dist_arcsec"])}
    with engine.connect() as conn:
        xs = pd.read_sql_query(sa.text("SELECT id, catalog, native_id, ra, dec FROM "
                                       "livecat.xray_source"), conn)
    csc = xs[xs["catalog"] == "csc"]
    ours = crossmatch(engine, csc[["id", "ra", "dec"]], "xray_source", XMATCH_ARCSEC)
    names = dict(zip(xs["id"], xs["native_id"]))
    td = set(xs.loc[xs["catalog"] == "muwclass-csc", "id"])
    ours = ours[ours["right_id"].isin(td)]
    livecat_pairs = {(names[a], names[b]): d for a, b, d in
                     zip(ours["left_id"], ours["right_id"], ours["separation_arcsec"])}
    assert len(livecat_pairs) > 20
    assert set(lsdb_pairs) == set(livecat_pairs)
    assert max(abs(lsdb_pairs[k] - livecat_pairs[k]) for k in livecat_pairs) < 1e-6
    # no CSC source has as many neighbours as asked for: the LSDB match is complete
    assert matched.groupby("native_id_csc").size().max() < 100


def test_reexport_of_unchanged_data_writes_the_same_data_files(exported, engine, tmp_path):
    """Data files byte-identical (rows sorted by key, each pixel by _healpix_29 then key,
    same pyarrow); the properties differ at most in hats-import's creation time."""
    first = tmp_path / "first"
    shutil.copytree(exported["csc"].path, first)
    again = export_hats(engine, "csc", exported["out"], margin_arcsec=XMATCH_ARCSEC,
                        pixel_threshold=350)
    assert again.content_hash == exported["csc"].content_hash
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.path) for p in again.path.rglob("*")
                           if p.is_file())
    properties = {"properties", "hats.properties", "collection.properties"}
    assert len([f for f in files if f.suffix == ".parquet"]) > 4  # the pixels, the margin's
    for f in files:
        old, new = (first / f).read_bytes(), (again.path / f).read_bytes()
        if f.name not in properties:  # data, _metadata, partition_info.csv, skymaps
            assert old == new, f
        else:
            strip = [line for line in old.decode().splitlines()
                     if not line.startswith("hats_creation_date=")]
            assert strip == [line for line in new.decode().splitlines()
                             if not line.startswith("hats_creation_date=")], f


def test_cli_exports_and_refuses_what_it_does_not_hold(exported, db_url, monkeypatch,
                                                        tmp_path):
    res = invoke(["export", "hats", "csc", "--out", str(tmp_path), "--margin-arcsec", "30"],
                 monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert f"wrote {tmp_path / 'csc'}: 373 rows, margin 30 arcsec" in res.stdout
    assert json.loads(json.dumps(read_provenance(tmp_path / "csc")))["what"] == "xray:csc"
    unknown = invoke(["export", "hats", "xmm", "--out", str(tmp_path)], monkeypatch, db_url)
    assert unknown.exit_code == 1
    assert "nothing to export as 'xmm': expected one of csc, muwclass-csc" in unknown.stderr
    mine = tmp_path / "mine"
    (mine / "muwclass-csc").mkdir(parents=True)
    refused = invoke(["export", "hats", "muwclass-csc", "--out", str(mine)], monkeypatch,
                     db_url)
    assert refused.exit_code == 1 and "is not a livecat HATS export" in refused.stderr
    none = invoke(["export", "hats", "classifications", "--out", str(tmp_path)], monkeypatch,
                  db_url)
    assert none.exit_code == 1 and "no classifier run is promoted" in none.stderr


def test_survey_and_classifications_export(exported, engine, tmp_path):
    """A survey's mw_source rows, and the promoted run's labels with probabilities."""
    from classify.labels import classify_run
    from classify.measurements import Selection
    from classify.runs import promote_run, train_run

    with engine.begin() as conn:  # a Gaia row from the training set's counterparts table
        conn.execute(sa.text(
            "INSERT INTO livecat.mw_source (catalog, native_id, ra, dec, err_maj_arcsec, "
            "err_min_arcsec, err_pa_deg, epoch, gmag) VALUES ('gaia_dr3', '5338629097550507392',"
            " 166.2085691159, -59.00388398747, 0.02, 0.01, 45.0, 2016.0, 15.2)"))
    survey = export_hats(engine, "gaia_dr3", tmp_path, margin_arcsec=10)
    back = lsdb.read_hats(survey.path, columns="all").compute(progress_bar=False)
    expected, _ = survey_table(engine, "gaia_dr3")
    assert_same_table(back.reset_index(drop=True), expected)
    assert read_provenance(survey.path)["what"] == "survey:gaia_dr3"

    with engine.connect() as conn:
        csc = conn.execute(sa.text("SELECT id FROM livecat.xray_source WHERE catalog = "
                                   "'csc'")).scalars().all()
    mark_searched(engine, csc)
    run = train_run(engine, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                    params={"n_estimators": 8, "max_depth": 8}, mc_samples=5, seed=1,
                    home=tmp_path)
    classify_run(engine, run.id, Selection(catalogs=["csc"]))
    promote_run(engine, run.id)
    labels = export_hats(engine, "classifications", tmp_path)
    back = lsdb.read_hats(labels.path, columns="all").compute(progress_bar=False)
    expected = label_table(engine, get_run(engine, promoted_run_id(engine)))
    assert len(back) == len(expected) > 300
    assert_same_table(back.reset_index(drop=True), expected)
    prov = read_provenance(labels.path)
    assert prov["what"] == "classifications" and prov["run_id"] == str(run.id)
    assert prov["training_set"] == run.training_set
