"""`livecat db downgrade`: refuses to delete curator decisions, training sets or labels
unless --drop-data, naming what would go; `-1` steps back one revision."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from helpers import invoke

from catalog import migrate
from catalog.engine import create_engine

SCRIPT = ScriptDirectory.from_config(migrate.alembic_config())
HEAD = SCRIPT.get_current_head()
BEFORE_HEAD = SCRIPT.get_revision(HEAD).down_revision


@pytest.fixture
def filled(database_factory):
    """A fresh database at head holding two training-set versions and a classifier run."""
    url = database_factory()
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO livecat.training_set (name, version, curator, n_members, class_counts,"
            " content_hash) VALUES ('ts', 1, 'me', 0, '{}', 'h'), ('ts', 2, 'me', 0, '{}', 'h')"))
        conn.execute(sa.text(
            "INSERT INTO livecat.classifier_run (training_set, n_train, class_counts, "
            "estimator, params, config, features, classes, code_version, seed, mc_samples, "
            "artifact_path, artifact_sha256) VALUES ('ts@1', 0, '{}', 'rf', '{}', '{}', "
            "'{}', '{}', 'x', 0, 1, 'p', 's')"))
    yield url, engine
    engine.dispose()


def _counts(engine) -> dict[str, int]:
    st = migrate.status(engine)
    return {t: st.table_rows.get(t) for t in ("training_set", "classifier_run")}


def test_downgrade_that_would_delete_training_sets_is_refused(filled, monkeypatch):
    url, engine = filled
    res = invoke(["db", "downgrade", "0002_history_taxonomy"], monkeypatch, url)
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: downgrading to 0002_history_taxonomy would delete curator decisions, "
        "training sets or labels (training_set: 2 rows, classifier_run: 1 row); "
        "nothing was changed.")
    assert "--drop-data" in lines[0]
    assert migrate.current_revision(engine) == HEAD
    assert _counts(engine) == {"training_set": 2, "classifier_run": 1}

    res = invoke(["db", "downgrade", "base"], monkeypatch, url)
    assert res.exit_code == 1 and "training_set: 2 rows" in res.output
    assert migrate.current_revision(engine) == HEAD


def test_drop_data_deletes_and_says_what(filled, monkeypatch):
    url, engine = filled
    res = invoke(["db", "downgrade", "0003_curation", "--drop-data"], monkeypatch, url)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ["deleted classifier_run: 1 row",
                                       "database at revision 0003_curation"]
    assert migrate.current_revision(engine) == "0003_curation"
    res = invoke(["db", "downgrade", "--drop-data", "0002_history_taxonomy"], monkeypatch, url)
    assert res.exit_code == 0, res.output
    assert "deleted training_set: 2 rows" in res.output


def test_minus_one_steps_back_one_revision(filled, monkeypatch):
    url, engine = filled
    res = invoke(["db", "downgrade", "-1"], monkeypatch, url)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"database at revision {BEFORE_HEAD}"
    assert migrate.current_revision(engine) == BEFORE_HEAD
    assert _counts(engine) == {"training_set": 2, "classifier_run": 1}
    res = invoke(["db", "upgrade"], monkeypatch, url)
    assert res.exit_code == 0 and f"database at revision {HEAD}" in res.output


def test_empty_tables_go_without_asking(database_factory, monkeypatch):
    url = database_factory()
    engine = create_engine(url)
    migrate.upgrade(engine)
    res = invoke(["db", "downgrade", "base"], monkeypatch, url)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "database at revision base (empty)"
    engine.dispose()
