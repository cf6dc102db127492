"""`livecat counterparts match --engine lsdb`: the association with the surveys read by LSDB
from HATS catalogs on a Dask cluster gives what the in-database path gives.

The NGC 3532 survey samples (Gaia DR3, 2MASS, AllWISE, CatWISE2020 around the 373 CSC
sources, loaded with ``counterparts fetch --file`` as in test_counterparts_db.py) are
associated in the database, then exported with ``livecat export hats`` and associated
again from the HATS catalogs with a 2-worker local Dask cluster (threads: no worker
processes to start), both in the same database (the survey rows are held) and in a fresh
one (the rows found are loaded from the HATS catalogs).
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import NGC3532_SURVEY_FILES, fetch_ngc3532_samples, invoke, sample_path

from associate.lsdb_match import match_with_lsdb
from associate.match import match_counterparts
from catalog import migrate
from catalog.engine import create_engine
from classify.hats_export import export_hats
from ingest.pipeline import ingest

SURVEYS = list(NGC3532_SURVEY_FILES)
#: What a run says, keyed by catalog identifiers (database ids differ between databases).
RUN_ROWS = ("SELECT x.native_id AS xray, a.survey, s.native_id AS survey_id, "
            "a.separation_arcsec, a.sep_sigma, a.p_any, a.p_i, a.p_match, a.best "
            "FROM livecat.mw_association a JOIN livecat.xray_source x ON x.id = "
            "a.xray_source_id JOIN livecat.mw_source s ON s.id = a.mw_source_id "
            "WHERE a.run_id = :r ORDER BY 1, 2, 3")


def run_rows(engine, run_id: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(RUN_ROWS), conn, params={"r": run_id})


def load_field(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE livecat.xray_source, livecat.catalog_release, "
                             "livecat.mw_source RESTART IDENTITY CASCADE"))
    ingest(engine, "csc", file=sample_path("csc", "NGC3532_ave.csv"), release="2.0")


@pytest.fixture(scope="module")
def reference(engine, db_url, tmp_path_factory):
    """The in-database run on the samples, and the surveys exported as HATS."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVECAT_HOME", str(home))
        load_field(engine)
        fetch_ngc3532_samples(db_url, mp)
    run = match_counterparts(engine, catalogs=["csc"], surveys=SURVEYS)
    out = tmp_path_factory.mktemp("hats")
    paths = [str(export_hats(engine, s, out, margin_arcsec=30).path) for s in SURVEYS]
    return {"run": run, "rows": run_rows(engine, run.run_id), "paths": paths}


def assert_same_association(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert len(ours) == len(theirs) > 900
    keys = ["xray", "survey", "survey_id", "best"]
    assert ours[keys].equals(theirs[keys])
    for col in ("separation_arcsec", "sep_sigma", "p_any", "p_i", "p_match"):
        assert (ours[col] - theirs[col]).abs().max() < 1e-9, col


def test_engines_agree_on_the_ngc3532_samples(reference, engine):
    res = match_with_lsdb(engine, reference["paths"], catalogs=["csc"], radius_arcsec=10,
                          calibration_sources=0, workers=2, processes=False)
    assert res.n_sources == reference["run"].n_sources == 373
    assert res.n_best == reference["run"].n_best
    ours = run_rows(engine, res.run_id)
    assert_same_association(ours, reference["rows"])
    with engine.connect() as conn:
        params = conn.execute(sa.text("SELECT params FROM livecat.mw_association_run "
                                      "WHERE id = :r"), {"r": res.run_id}).scalar_one()
        best = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.mw_counterpart WHERE association_run_id = :r"),
            {"r": res.run_id}).scalar_one()
        coverage = conn.execute(sa.text(
            "SELECT survey, count(*), min(radius_arcsec), max(radius_arcsec) FROM "
            "livecat.mw_coverage WHERE kind = 'source' GROUP BY 1 ORDER BY 1")).all()
    engine_params = params["engine"]
    assert engine_params["name"] == "lsdb" and engine_params["radius_arcsec"] == 10
    assert "(2 workers)" in engine_params["dask"]
    assert set(engine_params["survey_hats"]) == set(SURVEYS)
    assert engine_params["releases"]["gaia_dr3"] == "DR3"
    assert best == sum(res.n_best.values())  # the best counterparts are this run's now
    assert coverage == [(s, 373, 10.0, 10.0) for s in sorted(SURVEYS)]


def test_a_fresh_database_loads_the_sources_found(reference, database_factory):
    """Nothing fetched: the survey sources come from the HATS catalogs alone, are loaded
    into mw_source, and the association is the same."""
    fresh = create_engine(database_factory())
    migrate.upgrade(fresh)
    try:
        load_field(fresh)
        res = match_with_lsdb(fresh, reference["paths"], catalogs=["csc"],
                              radius_arcsec=10, calibration_sources=0, workers=2,
                              processes=False)
        assert_same_association(run_rows(fresh, res.run_id), reference["rows"])
        with fresh.connect() as conn:
            held = dict(conn.execute(sa.text(
                "SELECT catalog, count(*) FROM livecat.mw_source GROUP BY 1")).all())
        assert set(held) == set(SURVEYS)
        assert all(n > 200 for n in held.values())
    finally:
        fresh.dispose()


def test_cli_runs_the_lsdb_engine_and_checks_its_options(reference, db_url, monkeypatch):
    bad = invoke(["counterparts", "match", "--survey-hats", reference["paths"][0]],
                 monkeypatch, db_url)
    assert bad.exit_code == 1 and "go with --engine lsdb" in bad.stderr
    none = invoke(["counterparts", "match", "--engine", "lsdb"], monkeypatch, db_url)
    assert none.exit_code == 1 and "--engine lsdb needs --survey-hats" in none.stderr
    missing = invoke(["counterparts", "match", "--engine", "lsdb", "--survey-hats",
                      "/nonexistent/hats"], monkeypatch, db_url)
    assert missing.exit_code == 1 and "cannot read a HATS catalog" in missing.stderr
    wide = invoke(["counterparts", "match", "--engine", "lsdb", "--radius", "60",
                   "--survey-hats", reference["paths"][0]], monkeypatch, db_url)
    assert wide.exit_code == 1
    assert "larger than the survey's margin cache (30 arcsec)" in wide.stderr


def test_cli_with_worker_processes(reference, db_url, monkeypatch):
    """A local cluster of worker processes: the per-partition work is pickled to them."""
    gaia = next(p for p in reference["paths"] if p.endswith("gaia_dr3"))
    res = invoke(["counterparts", "match", "--catalog", "csc", "--engine", "lsdb",
                  "--survey-hats", f"gaia_dr3={gaia}", "--radius", "10", "--workers", "1",
                  "--calibration-sources", "0"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "373 X-ray sources associated" in res.stdout
    assert "gaia_dr3 " in res.stdout.split("best counterparts:")[1]
