"""A classifier run learns from a training set frozen by the curation workflow, end to end.

What a user runs, in order, on a fresh database (every step through the ``livecat`` CLI):

1. ``livecat curate import-muwclass FILE``: a small excerpt of the real MUWCLASS training set
   (``../shared/samples/muwclass/TD_train.csv``): 8 AGN, 8 CV, 8 NS and 8 YSO, one more
   CV whose s, m and h fluxes are blanked (a member without the s/m/h fluxes; one or two
   missing bands would be classified as non-detections), and 4 rows
   without a class (sources only, to be classified). The import writes the CSC sources
   with their fluxes, their Gaia/2MASS/WISE counterparts, the literature objects and the
   confirmed counterparts (curator ``muwclass-import``).
2. ``livecat trainingset create td-e2e`` freezes version 1 (33 members, 4 classes); a
   curator then rejects the NS counterparts and two AGN (``livecat curate apply``) and
   ``trainingset create`` freezes version 2 (23 members, 3 classes).
3. ``livecat classify train --training-set td-e2e@1`` and ``--training-set td-e2e``
   (latest): the classifier_run row names the set and the version it learned from (also
   for the bare name: ``td-e2e@2``) with that version's content hash; ``n_train`` and the
   class counts are those of the members that have the X-ray features (the blanked CV is
   a member but is left out, and the run's note says so); the classes learned are exactly
   the member classes; ``livecat classify show`` prints the reference.
4. ``livecat classify run``: every database source with the s/m/h fluxes gets one
   classification row and one class_probability row per training class, the predicted
   classes are training classes; two runs trained with the same seed from the same version
   write identical probabilities (and a run with another seed does not).
5. An unknown version (``td-e2e@9``) fails with one ``Error:`` line, exit code 1, and no
   run recorded.
"""

from __future__ import annotations

import io
from collections import Counter

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import invoke, sample_path

from classify.runs import get_run
from curation import trainingsets as T

NAME = "td-e2e"
PER_CLASS = 8
CLASSES_V1 = ["AGN", "CV", "NS", "YSO"]
UNLABELLED_FROM = "LMXB"  # rows whose class is blanked: sources to classify, not members
N_UNLABELLED = 4
TRAIN = ["--param", "n_estimators=20", "--mc", "5", "--features", "reference"]


def excerpt() -> pd.DataFrame:
    """The rows of TD_train.csv the test imports, as text (the file's own cells)."""
    td = pd.read_csv(sample_path("muwclass", "TD_train.csv"), dtype=str,
                     keep_default_na=False)
    parts = [td[td["True_Class"] == c].head(PER_CLASS) for c in CLASSES_V1]
    no_hard = td[td["True_Class"] == "CV"].iloc[[PER_CLASS]].copy()
    no_hard[["Fs", "e_Fs", "Fm", "e_Fm", "Fh", "e_Fh"]] = ""  # without the s/m/h fluxes
    unlabelled = td[td["True_Class"] == UNLABELLED_FROM].head(N_UNLABELLED).copy()
    unlabelled[["True_Class", "Catalog_name", "Class_ref"]] = ""
    return pd.concat(parts + [no_hard, unlabelled], ignore_index=True)


def ok(res):
    assert res.exit_code == 0, res.output
    return res


def train(args: list[str], monkeypatch, url: str) -> int:
    res = ok(invoke(["classify", "train", *args, *TRAIN], monkeypatch, url))
    assert res.stdout.startswith("trained run "), res.stdout
    return int(res.stdout.split()[2])


def usable(members: list[dict]) -> list[dict]:
    """Members with the CSC s, m, h energy fluxes and their intervals (as frozen)."""
    def has(m, band):
        f = (m["features"].get("fluxes") or {}).get(f"energy_flux_{band}") or {}
        return all(f.get(k) is not None for k in ("value", "value_lo", "value_hi"))
    return [m for m in members if all(has(m, b) for b in "smh")]


def probabilities(engine, run_id: int) -> pd.DataFrame:
    return pd.read_sql_query(sa.text(
        "SELECT source_id, class, mean, std, median, lo2sigma, hi2sigma "
        "FROM livecat.class_probability WHERE run_id = :r ORDER BY source_id, class"),
        engine, params={"r": run_id})


@pytest.fixture(scope="module")
def world(engine, db_url, tmp_path_factory):
    """The curated database, versions 1 and 2 of td-e2e, and four trained runs."""
    tmp = tmp_path_factory.mktemp("td-e2e")
    rows = excerpt()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVECAT_HOME", str(tmp / "home"))
        mp.setenv("LIVECAT_CURATOR", "alice")
        path = tmp / "TD.csv"
        rows.to_csv(path, index=False)
        ok(invoke(["curate", "import-muwclass", str(path)], mp, db_url))

        res = ok(invoke(["trainingset", "create", NAME, "--note", "as imported"], mp, db_url))
        assert res.stdout.startswith(f"created {NAME}@1: {4 * PER_CLASS + 1} members "
                                     f"(AGN 8, CV 9, NS 8, YSO 8)"), res.stdout

        # the curator's change: the NS counterparts and two AGN are rejected
        ns = rows[rows["True_Class"] == "NS"]["CSCv2_name"].tolist()
        agn = rows[rows["True_Class"] == "AGN"]["CSCv2_name"].tolist()[:2]
        decisions = pd.DataFrame({
            "action": "reject", "literature_catalog": "muwclass",
            "literature_native_id": ns + agn, "xray_catalog": "muwclass-csc",
            "xray_native_id": ns + agn, "expected_status": "confirmed",
            "note": "not a clean training source"})
        decisions.to_csv(tmp / "decisions.csv", index=False)
        res = ok(invoke(["curate", "apply", str(tmp / "decisions.csv")], mp, db_url))
        assert res.stdout.startswith(f"{len(ns) + 2} decisions applied"), res.stdout
        res = ok(invoke(["trainingset", "create", NAME, "--note", "NS rejected"], mp, db_url))
        assert res.stdout.startswith(f"created {NAME}@2: {4 * PER_CLASS + 1 - 10} members "
                                     f"(AGN 6, CV 9, YSO 8)"), res.stdout

        runs = {
            "v1": train(["--training-set", f"{NAME}@1", "--seed", "7"], mp, db_url),
            "v1_again": train(["--training-set", f"{NAME}@1", "--seed", "7"], mp, db_url),
            "v1_other_seed": train(["--training-set", f"{NAME}@1", "--seed", "8"], mp, db_url),
            "latest": train(["--training-set", NAME, "--seed", "7"], mp, db_url),
        }
        yield {"rows": rows, "runs": runs, "home": tmp / "home"}


@pytest.mark.parametrize("key, version, classes", [("v1", 1, CLASSES_V1),
                                                   ("latest", 2, ["AGN", "CV", "YSO"])])
def test_run_names_the_version_it_learned_from(world, engine, db_url, monkeypatch, key,
                                               version, classes):
    run = get_run(engine, world["runs"][key])
    ts = T.get_training_set(engine, f"{NAME}@{version}")
    assert run.training_set == f"{NAME}@{version}"
    assert run.training_set_sha256 == ts["content_hash"]
    assert run.training_set_location == f"training_set:{ts['id']}"
    # the members that have the X-ray features, counted from the frozen rows themselves
    members = ts["members"]
    have = usable(members)
    assert len(members) == ts["n_members"] and len(have) == len(members) - 1
    assert run.n_train == len(have)
    assert run.class_counts == dict(Counter(m["livecat_class"] for m in have))
    assert run.classes == sorted({m["livecat_class"] for m in members}) == classes
    assert run.note == (f"1 member(s) of {NAME}@{version} left out: no CSC s/m/h energy "
                        f"fluxes with errors")
    assert run.seed == 7 and run.mc_samples == 5 and run.params["n_estimators"] == 20

    res = ok(invoke(["classify", "show", str(run.id)], monkeypatch, db_url))
    counts = ", ".join(f"{c} {n}" for c, n in sorted(run.class_counts.items()))
    assert f"  training set  {NAME}@{version} ({len(have)} sources: {counts})" \
        in res.stdout.splitlines()
    res = ok(invoke(["classify", "runs", "--format", "csv"], monkeypatch, db_url))
    listed = pd.read_csv(io.StringIO(res.stdout)).set_index("id")
    assert listed.loc[run.id, "training_set"] == f"{NAME}@{version}"


def test_classify_database_sources(world, engine, db_url, monkeypatch):
    run = get_run(engine, world["runs"]["v1"])
    res = ok(invoke(["classify", "run", str(run.id), "--jobs", "2"], monkeypatch, db_url))
    n_sources = len(world["rows"])
    with engine.connect() as conn:
        with_bands = set(conn.execute(sa.text(
            "SELECT source_id FROM livecat.xray_flux WHERE kind = 'energy_flux' "
            "AND band IN ('s', 'm', 'h') GROUP BY source_id HAVING count(*) = 3")).scalars())
        n_db = conn.execute(sa.text("SELECT count(*) FROM livecat.xray_source")).scalar()
    assert n_db == n_sources and len(with_bands) == n_sources - 1
    assert f"run {run.id}: {n_sources} sources selected; labelled {n_sources - 1} " \
        in res.stdout
    assert "1 lacking the s/m/h energy fluxes" in res.stdout

    labels = pd.read_sql_query(sa.text(
        "SELECT source_id, class, prob, mc_samples FROM livecat.classification "
        "WHERE run_id = :r"), engine, params={"r": run.id})
    assert set(labels["source_id"]) == with_bands and labels["source_id"].is_unique
    assert set(labels["class"]) <= set(run.classes) and (labels["mc_samples"] == 5).all()
    probs = probabilities(engine, run.id)
    assert len(probs) == len(with_bands) * len(run.classes)
    assert (probs.groupby("source_id")["class"].apply(sorted) == pd.Series(
        {s: run.classes for s in with_bands})).all()
    sums = probs.groupby("source_id")["mean"].sum()
    assert sums.between(1 - 1e-9, 1 + 1e-9).all()
    top = probs.loc[probs.groupby("source_id")["mean"].idxmax()].set_index("source_id")
    assert (labels.set_index("source_id")["class"] == top.loc[labels["source_id"], "class"]
            .to_numpy()).all()
    # the unlabelled sources were classified too
    unlabelled = world["rows"][world["rows"]["True_Class"] == ""]["CSCv2_name"].tolist()
    with engine.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT count(*) FROM livecat.classification c JOIN livecat.xray_source x "
            "ON x.id = c.source_id WHERE c.run_id = :r AND x.native_id = ANY(:n)"),
            {"r": run.id, "n": unlabelled}).scalar()
    assert got == N_UNLABELLED


def test_same_seed_same_version_same_probabilities(world, engine, db_url, monkeypatch):
    runs = world["runs"]
    for key in ("v1", "v1_again", "v1_other_seed"):
        ok(invoke(["classify", "run", str(runs[key]), "--jobs", "2"], monkeypatch, db_url))
    a, b = probabilities(engine, runs["v1"]), probabilities(engine, runs["v1_again"])
    other = probabilities(engine, runs["v1_other_seed"])
    assert len(a) == (len(world["rows"]) - 1) * len(CLASSES_V1)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the comparison can tell runs apart: another seed gives other numbers
    assert list(other["source_id"]) == list(a["source_id"])
    assert not other["mean"].equals(a["mean"])


def test_unknown_version_is_one_clear_error(world, engine, db_url, monkeypatch):
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM livecat.classifier_run")).scalar()
    res = invoke(["classify", "train", "--training-set", f"{NAME}@9", *TRAIN], monkeypatch,
                 db_url)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        f"Error: unknown training set '{NAME}@9': known sets are {NAME} "
        f"(livecat trainingset list)"]
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM livecat.classifier_run")).scalar()
    assert after == before == len(world["runs"])
