"""Curation decisions: concurrency, bulk files, undo, the append-only log, the reader role."""

from __future__ import annotations

import math
import threading
import time
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from test_curation_flow import invoke, literature_catalog, xray_catalog

from catalog.errors import ConflictError, InputError
from catalog.roles import create_reader
from curation import candidates as C
from curation import decision_files as DF
from curation import decisions as D
from curation import review_queue as Q
from ingest.load import load_catalog

N = 5


@pytest.fixture
def cands(clean_tables) -> list[int]:
    """Five objects, each 0.3 arcsec from its own X-ray source: five candidates."""
    engine = clean_tables
    load_catalog(engine, "xt", xray_catalog([
        {"native_id": f"X{i}", "ra": 10.0 + i * 0.01, "dec": -5.0} for i in range(N)]),
        version="1")
    load_catalog(engine, "lt", literature_catalog([
        {"native_id": f"L{i}", "ra": 10.0 + i * 0.01, "dec": -5.0 + 0.3 / 3600,
         "livecat_class": ["CV", "NS", "AGN", "YSO", "LMXB"][i]} for i in range(N)]),
        version="1")
    assert C.generate_candidates(engine).n_new == N
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM livecat.counterpart_candidate "
                                    "ORDER BY literature_native_id")).scalars().all()


def n_events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM livecat.curation_event")).scalar()


# --------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------

def test_two_curators_at_once_second_gets_a_conflict(cands, engine):
    """Alice's transaction holds the candidate; Bob, deciding from the same state on a
    second connection, waits for it and then gets a ConflictError, not an overwrite."""
    cid = cands[0]
    outcome = {}

    def bob():
        try:
            D.decide(engine, cid, "reject", "bob", note="not it", expected_seq=0)
            outcome["bob"] = "saved"
        except ConflictError as exc:
            outcome["bob"] = exc

    with engine.connect() as alice:
        with alice.begin():
            D.decide_in(alice, cid, "confirm", "alice", note="it is", expected_seq=0)
            thread = threading.Thread(target=bob)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive()  # Bob waits on the row lock
        thread.join(10)
    assert isinstance(outcome["bob"], ConflictError)
    assert f"candidate {cid} changed since you saw it" in str(outcome["bob"])
    state = D.get_state(engine, cid)
    assert (state.status, state.seq) == ("confirmed", 1)
    assert n_events(engine) == 1


def test_same_seq_written_twice_is_refused_by_the_constraint(cands, engine):
    """The unique (candidate, seq) backs the lock up: a racing writer cannot append the
    same step twice."""
    cid = cands[1]
    D.decide(engine, cid, "defer", "alice", expected_seq=0)
    with engine.begin() as conn:
        with pytest.raises(ConflictError, match="decided by someone else at the same time"):
            D._insert_event(conn, cid, 1, "bob", "reject", "pending", "rejected")


def test_another_curators_decision_needs_the_state_named(cands, engine):
    cid = cands[2]
    D.decide(engine, cid, "confirm", "alice")
    with pytest.raises(ConflictError, match=r"confirmed by alice; .* --seen 1"):
        D.decide(engine, cid, "reject", "bob")
    ev = D.decide(engine, cid, "reject", "bob", note="wrong source", expected_seq=1)
    assert (ev.previous_status, ev.status, ev.seq) == ("confirmed", "rejected", 2)
    with pytest.raises(ConflictError, match="already rejected"):
        D.decide(engine, cid, "reject", "bob", expected_seq=2)


# --------------------------------------------------------------------------------------
# undo and the log
# --------------------------------------------------------------------------------------

def test_undo_restores_the_previous_decision(cands, engine):
    cid = cands[0]
    D.decide(engine, cid, "defer", "alice")
    D.decide(engine, cid, "confirm", "alice", class_override="CV/IP")
    ev = D.decide(engine, cid, "undo", "alice")
    assert (ev.previous_status, ev.status) == ("confirmed", "deferred")
    ev = D.decide(engine, cid, "undo", "alice")
    assert ev.status == "pending"
    with pytest.raises(ConflictError, match="no decision to undo"):
        D.decide(engine, cid, "undo", "alice")
    log = Q.event_log(engine, cid)
    assert list(log["action"]) == ["defer", "confirm", "undo", "undo"]
    assert list(log["seq"]) == [1, 2, 3, 4]


def test_curator_from_option_env_or_login(monkeypatch):
    monkeypatch.setenv("LIVECAT_CURATOR", "carol")
    assert D.current_curator("dave") == "dave"
    assert D.current_curator() == "carol"
    monkeypatch.delenv("LIVECAT_CURATOR")
    assert D.current_curator()  # the login name


def test_events_are_append_only(cands, engine):
    D.decide(engine, cands[0], "confirm", "alice")
    for stmt in ("UPDATE livecat.curation_event SET note = 'rewritten'",
                 "DELETE FROM livecat.curation_event"):
        with pytest.raises(sa.exc.DBAPIError, match="curation_event is append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(stmt))
    assert n_events(engine) == 1


def test_bad_class_override_names_it(cands, engine):
    with pytest.raises(InputError, match="unknown class 'QUASAR'"):
        D.decide(engine, cands[0], "confirm", "alice", class_override="QUASAR")
    with pytest.raises(InputError, match="unknown candidate 999999"):
        D.decide(engine, 999999, "confirm", "alice")


# --------------------------------------------------------------------------------------
# bulk decisions
# --------------------------------------------------------------------------------------

def test_apply_file_all_or_nothing(cands, engine, tmp_path, monkeypatch, db_url):
    good = tmp_path / "good.csv"
    good.write_text("candidate_id,action,class,note\n"
                    f"{cands[0]},confirm,,looks right\n"
                    f"{cands[1]},reject,,\n")
    keyed = tmp_path / "keyed.csv"
    keyed.write_text("literature_catalog,literature_native_id,xray_catalog,xray_native_id,"
                     "action,class\nlt,L2,xt,X2,confirm,AGN/QSO\n")
    assert len(DF.apply_file(engine, good, "alice")) == 2
    assert len(DF.apply_file(engine, keyed, "alice")) == 1
    assert D.get_state(engine, cands[2]).class_override == "AGN"
    before = n_events(engine)

    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"candidate_id,action\n{cands[3]},confirm\n424242,reject\n")
    with pytest.raises(InputError, match=r"unknown.csv row 2 \(line 3\): unknown candidate "
                                         r"424242.*nothing was written"):
        DF.apply_file(engine, unknown, "bob")
    contradicting = tmp_path / "contra.csv"
    contradicting.write_text(f"candidate_id,action,expected_status\n{cands[3]},confirm,\n"
                             f"{cands[4]},defer,\n{cands[1]},confirm,\n")
    with pytest.raises(ConflictError, match=r"row 3 \(line 4\): candidate \d+ is already "
                                            r"rejected"):
        DF.apply_file(engine, contradicting, "bob")
    stale = tmp_path / "stale.csv"
    stale.write_text(f"candidate_id,action,expected_status\n{cands[0]},reject,pending\n")
    with pytest.raises(ConflictError, match="row 1 .* is confirmed, the file expects pending"):
        DF.apply_file(engine, stale, "bob")
    assert n_events(engine) == before  # nothing from the failed files
    assert D.get_state(engine, cands[3]).status == "pending"

    res = invoke(["curate", "apply", str(unknown), "--curator", "bob"], monkeypatch, db_url)
    assert res.exit_code == 1
    assert res.stderr.strip() == ("Error: unknown.csv row 2 (line 3): unknown candidate "
                                  "424242: see `livecat curate queue` or `livecat curate "
                                  "candidates --list`; nothing was written")


def test_cli_decisions_and_queue(cands, engine, monkeypatch, db_url):
    monkeypatch.setenv("LIVECAT_CURATOR", "erin")
    res = invoke(["curate", "confirm", str(cands[0]), "--class", "CV/polar", "--note", "ok"],
                 monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "pending -> confirmed as CV/polar" in res.stdout and "by erin" in res.stdout
    res = invoke(["curate", "defer", str(cands[1]), "--seen", "3"], monkeypatch, db_url)
    assert res.exit_code == 1 and "changed since you saw it" in res.stderr
    res = invoke(["curate", "queue", "--format", "csv"], monkeypatch, db_url)
    assert res.exit_code == 0 and res.stdout.count("\n") == N  # header + 4 open
    res = invoke(["curate", "queue", "--status", "bogus"], monkeypatch, db_url)
    assert res.exit_code == 1 and "--status 'bogus'" in res.stderr


def test_review_loop_is_resumable(cands, engine, monkeypatch, db_url):
    # confirm the first, skip the second, quit; then resume: the skipped one comes back
    monkeypatch.setenv("LIVECAT_DATABASE_URL", db_url)
    from typer.testing import CliRunner

    from catalog.cli import build_app

    args = ["curate", "review", "--curator", "fay"]
    res = CliRunner().invoke(build_app(args), args, input="c\n\nfirst\ns\nq\n")
    assert res.exit_code == 0, res.output
    assert "stopped: 1 decisions this session" in res.stdout
    log = Q.event_log(engine)
    assert list(log["curator"]) == ["fay"] and list(log["source"]) == ["review"]
    res = CliRunner().invoke(build_app(args), args, input="r\nno\nd\n\nr\n\nd\n\n")
    assert res.exit_code == 0, res.output
    assert "nothing left to review: 4 decisions this session" in res.stdout
    log = Q.event_log(engine)
    assert list(log["action"]) == ["confirm", "reject", "defer", "reject", "defer"]
    assert len(set(log["candidate_id"])) == N  # the skipped one came back


# --------------------------------------------------------------------------------------
# the read-only role
# --------------------------------------------------------------------------------------

def test_reader_sees_everything_and_changes_nothing(cands, engine, db_url):
    D.decide(engine, cands[0], "confirm", "alice")
    from curation.trainingsets import create_training_set

    create_training_set(engine, "ro", "alice")
    name = f"reader_{uuid.uuid4().hex[:8]}"
    create_reader(engine, name)
    url = make_url(db_url).set(username=name, password=None).render_as_string(
        hide_password=False).replace("postgresql+psycopg", "postgresql")
    try:
        with psycopg.connect(url) as conn:
            for table, n in (("counterpart_candidate", N), ("curation_event", 1),
                             ("curation_state", N), ("candidate_run", 1),
                             ("training_set", 1), ("training_member", 1)):
                assert conn.execute(f"SELECT count(*) FROM livecat.{table}").fetchone()[0] == n
            conn.execute("SET default_transaction_read_only = off")
            conn.commit()
            for stmt in (f"INSERT INTO livecat.curation_event (candidate_id, seq, curator, "
                         f"action, previous_status, status) VALUES ({cands[1]}, 1, 'x', "
                         f"'confirm', 'pending', 'confirmed')",
                         "UPDATE livecat.counterpart_candidate SET match_prob = 1",
                         "DELETE FROM livecat.training_member",
                         "INSERT INTO livecat.training_set (name, version, curator, n_members, "
                         "class_counts, content_hash) VALUES ('x', 9, 'x', 0, '{}', 'x')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(stmt)
                conn.rollback()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
            conn.execute(sa.text(f'DROP ROLE "{name}"'))
    assert n_events(engine) == 1


def test_xray_release_moves_and_retirements_flag_decisions(cands, engine, monkeypatch, db_url):
    """A new complete X-ray release: X0 gone, X1 moved 3 arcsec (error 0.5): both decisions
    are flagged by `curate recheck`, the others are not; `curate candidates` keeps them."""
    for cid in cands[:3]:
        D.decide(engine, cid, "confirm", "alice")
    rows = [{"native_id": f"X{i}", "ra": 10.0 + i * 0.01,
             "dec": -5.0 + (3.0 / 3600 if i == 1 else 0.0)} for i in range(1, N)]
    load_catalog(engine, "xt", xray_catalog(rows), version="2")
    res = invoke(["curate", "recheck"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert f"candidate {cands[0]} (confirmed): xt X0 is no longer in the current release" \
        in res.stdout
    assert f"candidate {cands[1]} (confirmed): xt X1 moved 3 arcsec" in res.stdout
    assert res.stdout.rstrip().endswith("2 decisions flagged for re-review")
    res = invoke(["curate", "candidates", "--list", "--format", "csv"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "0 decisions flagged for re-review" in res.stdout
    assert "pairs within 3 sigma: 0 new" in res.stdout
    assert res.stdout.count("confirmed,") == 3


def test_review_charts_directory_is_created(cands, engine, monkeypatch, db_url, tmp_path):
    """--charts into a missing directory creates it (a file in the way is one Error:
    line); `curate show --chart` into a missing directory is one Error: line."""
    monkeypatch.setenv("LIVECAT_DATABASE_URL", db_url)
    from typer.testing import CliRunner

    from catalog.cli import build_app

    charts = tmp_path / "charts" / "today"
    args = ["curate", "review", "--curator", "fay", "--charts", str(charts)]
    res = CliRunner().invoke(build_app(args), args, input="q\n")
    assert res.exit_code == 0, res.output
    first = Q.queue(engine)["id"].iloc[0]
    assert (charts / f"candidate_{first}.png").read_bytes()[:4] == b"\x89PNG"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["curate", "review", "--curator", "fay", "--charts", str(blocker)]
    res = CliRunner().invoke(build_app(args), args, input="q\n")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [f"Error: --charts {blocker}: exists and is not a "
                                       f"directory"]
    missing = tmp_path / "nowhere" / "c.png"
    res = invoke(["curate", "show", str(cands[0]), "--chart", str(missing)], monkeypatch,
                 db_url)
    assert res.exit_code == 1
    assert res.stdout == "" and res.stderr.splitlines() == [
        f"Error: chart {missing}: directory {missing.parent} does not exist"]


QUEUE_ORDER = ["flagged for re-review first", "then ambiguous",
               "then by match probability in steps of 0.1, highest first",
               "within a step, the class with the fewest confirmed counterparts first",
               "then by match probability, highest first", "then by candidate id"]


def test_queue_help_states_the_order_the_code_uses(cands, engine, monkeypatch, db_url):
    """`curate queue --help` names every sort key, in order, and the rows come in that
    order: flagged, ambiguous, probability step, scarce class, probability, id."""
    res = invoke(["curate", "queue", "--help"], monkeypatch, db_url)
    assert res.exit_code == 0
    text = " ".join(res.stdout.replace("│", " ").split())
    positions = [text.find(phrase) for phrase in QUEUE_ORDER]
    assert -1 not in positions, text
    assert positions == sorted(positions)

    # data that exercises the keys: a flagged deferral, a confirmed CV (so CV is the
    # best-served class), an ambiguous object between X3 and X4
    D.decide(engine, cands[0], "confirm", "alice")
    D.decide(engine, cands[1], "defer", "alice")
    load_catalog(engine, "xt", xray_catalog([
        {"native_id": f"X{i}", "ra": 10.0 + i * 0.01,
         "dec": -5.0 + (3.0 / 3600 if i == 1 else 0.0)} for i in range(N)]), version="2")
    load_catalog(engine, "lt2", literature_catalog([
        {"native_id": "AMB", "ra": 10.035, "dec": -5.0, "pos_err_arcsec": 20.0,
         "livecat_class": "CV"}]), version="1")
    C.generate_candidates(engine)
    assert len(D.flag_changed_decisions(engine)) == 1
    q = Q.queue(engine, "all")
    assert q["flagged"].iloc[0] and q["ambiguous"].iloc[1]
    assert q["class_confirmed"].nunique() > 1
    key = q.assign(step=(q["match_prob"] * 10).apply(math.floor))
    expected = key.sort_values(["flagged", "ambiguous", "step", "class_confirmed",
                                "match_prob", "id"],
                               ascending=[False, False, False, True, False, True])
    assert list(q["id"]) == list(expected["id"])
    # the scarce-class key at work: the confirmed CV's own candidate has the higher
    # probability but comes after the AGN's (no AGN confirmed yet)
    order = list(q["id"])
    p = q.set_index("id")["match_prob"]
    assert p[cands[0]] > p[cands[2]] and order.index(cands[0]) > order.index(cands[2])


def test_flag_clears_when_the_source_comes_back_unchanged(cands, engine, monkeypatch,
                                                           db_url):
    """X0 retired by mistake (a release without it) flags its confirmation; X0 back in
    the next release with the same values clears the flag on the next recheck, with an
    'unflag' event saying why. X1 moved and moved back: the same. X2 moved and stays
    moved: still flagged."""
    for cid in cands[:3]:
        D.decide(engine, cid, "confirm", "alice")
    original = [{"native_id": f"X{i}", "ra": 10.0 + i * 0.01, "dec": -5.0} for i in range(N)]
    moved = [dict(r, dec=r["dec"] + 3.0 / 3600) if r["native_id"] in ("X1", "X2") else r
             for r in original if r["native_id"] != "X0"]
    load_catalog(engine, "xt", xray_catalog(moved), version="2")
    res = invoke(["curate", "recheck"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert res.stdout.rstrip().endswith("3 decisions flagged for re-review")
    assert D.get_state(engine, cands[0]).flagged

    back = [dict(r, dec=r["dec"] + 3.0 / 3600) if r["native_id"] == "X2" else r
            for r in original]
    load_catalog(engine, "xt", xray_catalog(back), version="3")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT is_current FROM livecat.xray_source "
                                    "WHERE native_id = 'X0'")).scalar() is True
    res = invoke(["curate", "recheck"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert f"candidate {cands[0]} (confirmed): flag cleared: lt L0 and xt X0 are back as " \
           f"they were when decided (event " in res.stdout
    assert "flagged for: xt X0 is no longer in the current release" in res.stdout
    assert "2 flags cleared (sources back as decided)" in res.stdout
    assert res.stdout.rstrip().endswith("0 decisions flagged for re-review")
    states = [D.get_state(engine, c) for c in cands[:3]]
    assert [s.flagged for s in states] == [False, False, True]
    assert [s.status for s in states] == ["confirmed"] * 3
    log = Q.event_log(engine, cands[0])
    assert list(log["action"]) == ["confirm", "flag", "unflag"]
    assert log["note"].iloc[-1].startswith("re-review cleared: lt L0 and xt X0 are back")
    assert log["curator"].iloc[-1] == "livecat"
    # nothing changes on the next recheck; a flag cleared is queued no more
    assert D.flag_changed_decisions(engine).empty
    assert set(Q.queue(engine, "flagged")["id"]) == {cands[2]}
    # retired again later: flagged again
    load_catalog(engine, "xt", xray_catalog([r for r in back if r["native_id"] != "X0"]),
                 version="4")
    again = D.flag_changed_decisions(engine)
    assert list(again["candidate_id"]) == [cands[0]] and list(again["action"]) == ["flag"]
    # undo still reverts the confirmation (flag events are not decisions)
    ev = D.decide(engine, cands[0], "undo", "alice")
    assert ev.status == "pending"


def test_unflag_events_survive_a_downgrade(database_factory):
    """Downgrading below 0009 keeps the 'unflag' events already written (the old action
    check comes back NOT VALID) and refuses new ones; upgrading again allows them."""
    from catalog import migrate
    from catalog.engine import create_engine

    engine = create_engine(database_factory())
    migrate.upgrade(engine)
    load_catalog(engine, "xt", xray_catalog([{"native_id": "X0", "ra": 1.0, "dec": 1.0}]),
                 version="1")
    load_catalog(engine, "lt", literature_catalog([
        {"native_id": "L0", "ra": 1.0, "dec": 1.0, "livecat_class": "CV"}]), version="1")
    C.generate_candidates(engine)
    with engine.connect() as conn:
        cid = conn.execute(sa.text("SELECT id FROM livecat.counterpart_candidate")).scalar()
    D.decide(engine, cid, "confirm", "alice")
    insert = ("INSERT INTO livecat.curation_event (candidate_id, seq, curator, action, "
              "previous_status, status) VALUES (:c, :s, 'livecat', :a, 'confirmed', "
              "'confirmed')")
    with engine.begin() as conn:
        conn.execute(sa.text(insert), {"c": cid, "s": 2, "a": "flag"})
        conn.execute(sa.text(insert), {"c": cid, "s": 3, "a": "unflag"})
    migrate.downgrade(engine, "0007_flux_per_source")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT array_agg(action ORDER BY seq) FROM "
                                    "livecat.curation_event")).scalar() == [
            "confirm", "flag", "unflag"]
    with pytest.raises(sa.exc.IntegrityError, match="curation_action"):
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"c": cid, "s": 4, "a": "unflag"})
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(insert), {"c": cid, "s": 4, "a": "unflag"})
    engine.dispose()
