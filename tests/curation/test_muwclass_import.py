"""`livecat curate import-muwclass`: the training set's pairs confirmed by the curator
muwclass-import through the ordinary decision API, after the ingest
(tests/ingest/test_ingest_muwclass.py covers the ingest itself)."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import invoke, sample_path

from curation import muwclass_import as M
from curation.decisions import decide
from ingest.spec import IngestArgs


def td_frame() -> pd.DataFrame:
    return pd.read_csv(sample_path("muwclass", "TD_train.csv"), dtype=str,
                       keep_default_na=False)


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))


@pytest.mark.slow
def test_every_labelled_row_is_confirmed_once_and_decisions_survive(clean_tables):
    engine = clean_tables
    path = sample_path("muwclass", "TD_train.csv")
    n = len(td_frame())
    ingested, confirmation = M.import_muwclass(engine, IngestArgs(file=path))
    assert ingested.status == "succeeded"
    # every labelled row is a confirmed counterpart by muwclass-import, pairing the
    # literature object with its own training-set source
    with engine.connect() as conn:
        confirmed = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT c.literature_id), "
            "bool_and(c.literature_native_id = c.xray_native_id), "
            "bool_and(c.xray_catalog = 'muwclass-csc') "
            "FROM livecat.counterpart_candidate c JOIN livecat.curation_state s "
            "ON s.candidate_id = c.id WHERE s.status = 'confirmed' "
            "AND s.last_curator = 'muwclass-import'")).one()
    assert confirmed == (n, n, True, True)
    assert (confirmation.candidates_new, confirmation.confirmed) == (n, n)

    # again (the same file is skipped by the ingest): nothing new, nothing re-decided
    again, second = M.import_muwclass(engine, IngestArgs(file=path))
    assert again.status == "skipped"
    assert (second.candidates_new, second.confirmed, second.already_decided) == (0, 0, n)
    forced, third = M.import_muwclass(engine, IngestArgs(file=path, force=True))
    assert (forced.xray.n_inserted, forced.xray.n_updated) == (0, 0)
    assert (third.candidates_new, third.confirmed, third.already_decided) == (0, 0, n)

    # a curator's later decision survives a re-import
    cid = scalar(engine, "SELECT min(id) FROM livecat.counterpart_candidate")
    decide(engine, cid, "reject", "alice", note="wrong counterpart", expected_seq=1)
    M.import_muwclass(engine, IngestArgs(file=path, force=True))
    assert scalar(engine, "SELECT status FROM livecat.curation_state WHERE candidate_id = :c",
                  c=cid) == "rejected"


def test_command_summary_and_a_failed_confirmation_is_completed_by_the_next_run(
        clean_tables, db_url, monkeypatch, tmp_path):
    engine = clean_tables
    path = tmp_path / "TD.csv"
    frame = td_frame().head(12).copy()
    frame.loc[[0, 1, 2], "True_Class"] = ""
    frame.to_csv(path, index=False)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while confirming")
    with monkeypatch.context() as mp:
        mp.setattr(M, "decide_in", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            M.import_muwclass(engine, IngestArgs(file=path))
    # the ingest (its own transaction) stayed; the confirmations rolled back together
    assert scalar(engine, "SELECT count(*) FROM livecat.literature_object") == 9
    assert scalar(engine, "SELECT count(*) FROM livecat.counterpart_candidate") == 0
    res = invoke(["curate", "import-muwclass", str(path)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "confirmed counterparts" in res.output
    assert scalar(engine, "SELECT count(*) FROM livecat.curation_event "
                          "WHERE curator = 'muwclass-import'") == 9
