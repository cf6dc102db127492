"""`livecat counterparts fetch|match|show|runs` against a real database (no network).

The X-ray sources are the 373 CSC sources of NGC 3532 (``csc/NGC3532_ave.csv``); the
survey sources are the real VizieR answers of the reference pipeline in ``mw/`` (one row
per X-ray source: the counterpart it chose within 10", nothing when none), loaded with
``--file``, and the recorded CDS XMatch answer of tests/data/xmatch for the remote path.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import (NGC3532_SURVEY_FILES, fetch_ngc3532_samples, invoke, sample_path,
                     use_private_home)
from xmatch_standin import XMatchStandIn

from associate.fetch import fetch_counterparts
from associate.match import match_counterparts
from catalog.surveys import SURVEYS
from ingest.pipeline import ingest

SAMPLE_FILES = NGC3532_SURVEY_FILES


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    use_private_home(tmp_path, monkeypatch)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture
def field(clean_tables):
    ingest(clean_tables, "csc", file=sample_path("csc", "NGC3532_ave.csv"), release="2.0")
    return clean_tables


def reference_choices(survey: str) -> dict[str, str]:
    """X-ray source name -> survey id the reference pipeline chose (``_q`` is the 1-based
    row of the X-ray source in NGC3532_ave.csv)."""
    suffix = SAMPLE_FILES[survey]
    names = pd.read_csv(sample_path("csc", "NGC3532_ave.csv"), dtype=str)["name"].str.strip()
    table = pd.read_csv(sample_path("mw", f"NGC3532_{suffix}.csv"), dtype=str)
    table = table[table[f"_r_{suffix}"].notna()]
    column = f"{SURVEYS[survey].id_column}_{suffix}"
    return {names.iloc[int(float(q)) - 1]: str(v).strip()
            for q, v in zip(table["_q"], table[column])}


def best_counterparts(engine, survey: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT x.native_id, s.native_id FROM livecat.mw_counterpart m "
            "JOIN livecat.xray_source x ON x.id = m.xray_source_id "
            "JOIN livecat.mw_source s ON s.id = m.mw_source_id "
            "WHERE m.survey = :s AND m.matched_by = 'nway' AND m.is_best"), {"s": survey}).all()
    return dict(rows)


def same_source(reference: str, livecat: str) -> bool:
    # livecat keeps the survey's own identifier; a designation may carry a prefix
    return livecat == reference or livecat.endswith(reference) or reference.endswith(livecat)


def test_ngc3532_best_counterparts_are_the_reference_ones(field, db_url, monkeypatch):
    engine = field
    fetch_ngc3532_samples(db_url, monkeypatch)
    res = invoke(["counterparts", "match", "--catalog", "csc"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "373 X-ray sources associated" in res.stdout
    assert "no p_any cut-off (no shifted positions were searched" in res.stdout
    for survey in SAMPLE_FILES:
        reference, ours = reference_choices(survey), best_counterparts(engine, survey)
        both = [n for n in ours if n in reference]
        assert len(ours) > 0.25 * len(reference), survey
        assert all(n in reference for n in ours), survey  # only sources the reference matched
        agree = sum(same_source(reference[n], ours[n]) for n in both)
        assert agree >= 0.95 * len(both), (survey, agree, len(both))
        # where livecat declines the reference's pick, the pick is far in sigma, or has a
        # low probability given the position errors and the field's density
        with engine.connect() as conn:
            declined = conn.execute(sa.text(
                "SELECT a.sep_sigma, a.p_match FROM livecat.mw_association a "
                "JOIN livecat.xray_source x ON x.id = a.xray_source_id WHERE a.survey = :s "
                "AND a.run_id = (SELECT max(id) FROM livecat.mw_association_run) "
                "AND NOT a.best AND x.native_id = ANY(:n)"),
                {"s": survey, "n": [n for n in reference if n not in ours]}).all()
        assert all(p < 0.5 for _, p in declined), survey
    # Gaia counterparts carry their magnitudes into mw_best, read by the classifier
    assert scalar(engine, 'SELECT count(*) FROM livecat.mw_best WHERE "Gmag" IS NOT NULL') \
        == len(best_counterparts(engine, "gaia_dr3"))


def test_rerunning_fetch_and_match_changes_nothing(field, db_url, monkeypatch):
    engine = field
    fetch_ngc3532_samples(db_url, monkeypatch)
    n_source = scalar(engine, "SELECT count(*) FROM livecat.mw_source")
    first = match_counterparts(engine, catalogs=["csc"])
    again = invoke(["counterparts", "fetch", "2mass", "--file",
                    str(sample_path("mw", "NGC3532_2mass.csv")), "--catalog", "csc",
                    "--radius", "10"], monkeypatch, db_url)
    assert again.exit_code == 0 and "(skipped)" in again.stdout
    assert scalar(engine, "SELECT count(*) FROM livecat.mw_source") == n_source
    second = match_counterparts(engine, catalogs=["csc"])
    with engine.connect() as conn:
        rows = {r: conn.execute(sa.text(
            "SELECT xray_source_id, survey, mw_source_id, p_any, p_i, p_match, best "
            "FROM livecat.mw_association WHERE run_id = :r ORDER BY 1, 2, 3"),
            {"r": r}).all() for r in (first.run_id, second.run_id)}
    assert rows[first.run_id] == rows[second.run_id] and len(rows[first.run_id]) > 0
    # both runs are kept; the counterparts are the newest run's, once each
    assert scalar(engine, "SELECT count(*) FROM livecat.mw_association_run") == 2
    assert scalar(engine, "SELECT count(DISTINCT association_run_id) FROM "
                          "livecat.mw_counterpart WHERE matched_by = 'nway'") == 1
    runs = invoke(["counterparts", "runs", "--format", "csv"], monkeypatch, db_url)
    assert runs.exit_code == 0 and len(runs.stdout.strip().splitlines()) == 3


def test_show_lists_coverage_and_candidates(field, db_url, monkeypatch):
    fetch_ngc3532_samples(db_url, monkeypatch)
    match_counterparts(field, catalogs=["csc"])
    res = invoke(["counterparts", "show", "csc:2CXO J110510.3-585029", "--format", "json"],
                 monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    candidates = pd.read_json(pd.io.common.StringIO(res.stdout))
    assert set(candidates["survey"]) == set(SAMPLE_FILES)
    assert candidates["best"].all() and (candidates["p_i"] > 0.9).all()
    unknown = invoke(["counterparts", "show", "csc:nope"], monkeypatch, db_url)
    assert unknown.exit_code == 1 and "no X-ray source 'csc:nope'" in unknown.stderr


def test_never_searched_sources_are_not_associated_and_say_so(field, db_url, monkeypatch):
    none = invoke(["counterparts", "match", "--catalog", "csc"], monkeypatch, db_url)
    assert none.exit_code == 1
    assert "none of the 373 X-ray sources in scope was searched" in none.stderr
    assert "livecat counterparts fetch" in none.stderr


def test_wrong_survey_file_writes_nothing(field, db_url, monkeypatch):
    res = invoke(["counterparts", "fetch", "gaia_dr3", "--file",
                  str(sample_path("mw", "NGC3532_2mass.csv")), "--catalog", "csc"],
                 monkeypatch, db_url)
    error = res.stderr.strip().splitlines()[-1]  # progress lines come first
    assert res.exit_code == 1 and error.startswith("Error: ")
    assert "read it as survey '2mass'" in error
    assert scalar(field, "SELECT count(*) FROM livecat.mw_source") == 0
    assert scalar(field, "SELECT count(*) FROM livecat.mw_coverage") == 0


def test_remote_fetch_through_xmatch_with_calibration(field):
    """The remote path: the X-ray sources (livecat ids 1..373 = the rows of the recording)
    and up to 20 shifted calibration positions go to the XMatch stand-in; the answers land in
    mw_source and both kinds of coverage are recorded; match calibrates a cut-off."""
    engine = field
    with XMatchStandIn() as server:
        res = fetch_counterparts(engine, "2mass", catalogs=["csc"], radius_arcsec=10.0,
                                 url=server.url, calibration_sources=20,
                                 options={"chunk_rows": 100})
        asked = len(server.uploads)
        again = fetch_counterparts(engine, "2mass", catalogs=["csc"], radius_arcsec=10.0,
                                   url=server.url, calibration_sources=20,
                                   options={"chunk_rows": 100})
        assert len(server.uploads) == asked  # every chunk cached: nothing asked again
    assert res.load.status == "succeeded" and res.load.version == "PSC"
    assert again.load.status == "skipped"
    # shifted positions that land within 30" of another X-ray source of the field are
    # not searched (they could meet its counterpart)
    assert res.n_searched == 373 and 0 < res.n_calibration <= 20
    assert scalar(engine, "SELECT count(*) FROM livecat.mw_coverage WHERE kind = "
                          "'calibration'") == res.n_calibration
    out = match_counterparts(engine, catalogs=["csc"])
    cut = out.cutoffs["csc"]["2mass"]
    assert cut["n_fake"] == res.n_calibration and cut["n_real"] == 373
    assert 0 <= cut["cutoff"] <= 1


def test_classification_skips_the_never_searched_and_labels_the_searched(field, db_url,
                                                                         monkeypatch,
                                                                         tmp_path):
    """Searched without a counterpart is classified (its optical/IR features missing);
    never searched is not, and the run says how many and which command fills them."""
    from classify.labels import classify_run
    from classify.measurements import Selection
    from classify.runs import train_run

    engine = field
    fetch_ngc3532_samples(db_url, monkeypatch)
    match_counterparts(engine, catalogs=["csc"])
    # the cone-search export adds the field's sources the averages table left out: new
    # X-ray sources that were never searched for counterparts
    cone = sample_path("csc", "NGC3532_conesearch.csv")
    ingest(engine, "csc", file=cone, release="2.0-cone")
    unsearched = scalar(engine, "SELECT count(*) FROM livecat.xray_source x WHERE is_current "
                                "AND NOT EXISTS (SELECT 1 FROM livecat.mw_coverage c "
                                "WHERE c.xray_source_id = x.id)")
    assert unsearched > 0
    no_counterpart = scalar(engine, "SELECT count(*) FROM livecat.mw_coverage c WHERE "
                                    "c.survey = 'gaia_dr3' AND NOT EXISTS (SELECT 1 FROM "
                                    "livecat.mw_counterpart m WHERE m.xray_source_id = "
                                    "c.xray_source_id)")
    assert no_counterpart > 0
    run = train_run(engine, f"file:{sample_path('muwclass', 'TD_train.csv')}",
                    params={"n_estimators": 8, "max_depth": 8}, mc_samples=5, seed=1,
                    home=tmp_path)
    summary = classify_run(engine, run.id, Selection(catalogs=["csc"]))
    m = summary.measurements
    assert m.skipped_not_searched == unsearched
    assert any("never searched for counterparts" in line
               and "livecat counterparts fetch" in line for line in summary.lines())
    with engine.connect() as conn:
        labelled = set(conn.execute(sa.text(
            "SELECT source_id FROM livecat.classification WHERE run_id = :r"),
            {"r": run.id}).scalars())
        searched_without = set(conn.execute(sa.text(
            "SELECT c.xray_source_id FROM livecat.mw_coverage c WHERE c.survey = 'gaia_dr3' "
            "AND NOT EXISTS (SELECT 1 FROM livecat.mw_counterpart m WHERE "
            "m.xray_source_id = c.xray_source_id)")).scalars())
        never = set(conn.execute(sa.text(
            "SELECT id FROM livecat.xray_source x WHERE is_current AND NOT EXISTS (SELECT 1 "
            "FROM livecat.mw_coverage c WHERE c.xray_source_id = x.id)")).scalars())
    assert labelled and not (labelled & never)
    assert searched_without & labelled  # searched, no counterpart: still classified
