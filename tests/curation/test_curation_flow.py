"""Curation, the whole flow on the real samples: ingest psrcat 1.58 and the CSC NGC 3532
sample, generate candidates, decide, freeze a training set, ingest psrcat 1.59, see the
decisions kept and the changed ones flagged, create version 2, diff.

Why the test builds two small catalogs of its own: the CSC sample covers ~0.4 deg around
NGC 3532 and no ATNF pulsar falls inside it (the nearest, J1107-5907, is 0.37 deg from the
field centre), so real ATNF x CSC candidates are honestly zero - the test asserts that.
To exercise decisions on both sides it adds

* ``testlit``, a literature class table whose objects sit 0.3 arcsec from real CSC
  sources of the sample (one object midway between the two closest CSC sources, to be
  ambiguous), loaded through the shared loader like any class table;
* ``xtest``, X-ray detections placed at the psrcat 1.58 positions of six pulsars that are
  known X-ray sources (Crab, J0437-4715, RX J1856.5-3754, three MSPs), so that the real
  changes between psrcat 1.58 and 1.59 (J1856-3754 moved 27.8 arcsec with a 2 arcsec
  error; the MSPs by ~0.03 arcsec) reach real decisions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import invoke, sample_path

from curation import candidates as C
from curation import decisions as D
from curation import review_queue as Q
from curation import trainingsets as T
from ingest import csc
from ingest.pipeline import ingest
from ingest.load import load_catalog
from ingest.normalized import (
    LITERATURE_COLUMNS,
    XRAY_FLUX_COLUMNS,
    XRAY_SOURCE_COLUMNS,
    NormalizedCatalog,
)

PULSARS = ["J0534+2200", "J0437-4715", "J1856-3754", "J1012+5307", "J1738+0333",
           "J2302+4442"]
CLASSES = ["LM-STAR", "YSO", "CV", "AGN", "HM-STAR", "LM-STAR", "YSO", "CV"]


# --------------------------------------------------------------------------------------
# builders shared by the curation test modules
# --------------------------------------------------------------------------------------

def xray_catalog(rows: list[dict]) -> NormalizedCatalog:
    """An X-ray NormalizedCatalog from dicts with native_id, ra, dec, pos_err_arcsec."""
    src = pd.DataFrame({
        "native_id": [r["native_id"] for r in rows], "name": [r["native_id"] for r in rows],
        "ra": [r["ra"] for r in rows], "dec": [r["dec"] for r in rows],
        "pos_err_arcsec": [r.get("pos_err_arcsec", 0.5) for r in rows],
        "err_maj_arcsec": np.nan, "err_min_arcsec": np.nan, "err_pa_deg": np.nan,
        "significance": [r.get("significance", 10.0) for r in rows],
        "extended": pd.Series([False] * len(rows), dtype=object),
        "var_intra_prob": np.nan, "var_inter_prob": np.nan,
        "n_obs": pd.Series([1] * len(rows), dtype="Int64"), "nh_gal_cm2": np.nan,
        "flags": [{"confused": False} for _ in rows], "extra": [{} for _ in rows]})
    flux = pd.DataFrame({
        "native_id": [r["native_id"] for r in rows], "band": "b", "band_lo_kev": 0.5,
        "band_hi_kev": 7.0, "kind": "energy_flux",
        "value": [r.get("flux", 1e-13) for r in rows], "value_lo": np.nan,
        "value_hi": np.nan})
    return NormalizedCatalog(kind="xray", sources=src[XRAY_SOURCE_COLUMNS],
                             fluxes=flux[XRAY_FLUX_COLUMNS], n_read=len(rows))


def literature_catalog(rows: list[dict]) -> NormalizedCatalog:
    """A literature NormalizedCatalog from dicts with native_id, ra, dec, class."""
    lit = pd.DataFrame({
        "native_id": [r["native_id"] for r in rows], "name": [r["native_id"] for r in rows],
        "ra": [r["ra"] for r in rows], "dec": [r["dec"] for r in rows],
        "pos_err_arcsec": [r.get("pos_err_arcsec", 0.5) for r in rows],
        "livecat_class": [r["livecat_class"] for r in rows],
        "subclass": [r.get("subclass") for r in rows],
        "native_type": [r.get("native_type", "test") for r in rows],
        "reference": "test table", "confidence": [r.get("confidence") for r in rows],
        "params": [{} for _ in rows]})
    return NormalizedCatalog(kind="literature", sources=lit[LITERATURE_COLUMNS], n_read=len(rows))


def csc_sample() -> NormalizedCatalog:
    """The real CSC 2.0 sample around NGC 3532, normalized."""
    return csc.normalize(csc.parse(sample_path("csc", "NGC3532_conesearch.csv")),
                         release="2.0")


def closest_pair(sources: pd.DataFrame) -> tuple[int, int]:
    """Row positions of the two closest sources."""
    ra, dec = np.radians(sources["ra"].to_numpy()), np.radians(sources["dec"].to_numpy())
    cos = (np.sin(dec[:, None]) * np.sin(dec[None, :])
           + np.cos(dec[:, None]) * np.cos(dec[None, :]) * np.cos(ra[:, None] - ra[None, :]))
    sep = np.degrees(np.arccos(np.clip(cos, -1, 1))) * 3600
    np.fill_diagonal(sep, np.inf)
    i, j = np.unravel_index(np.argmin(sep), sep.shape)
    return int(i), int(j)


def class_table(sources: pd.DataFrame, moved: dict | None = None,
                reclassified: dict | None = None) -> NormalizedCatalog:
    """``testlit``: 8 objects 0.3 arcsec north of CSC sources + 1 between the closest two."""
    moved, reclassified = moved or {}, reclassified or {}
    i, j = closest_pair(sources)
    picks = [k for k in range(len(sources)) if k not in (i, j)][:8]
    rows = []
    for n, k in enumerate(picks):
        name = f"OBJ{n}"
        dec = sources["dec"].iloc[k] + (0.3 + moved.get(name, 0.0)) / 3600
        rows.append({"native_id": name, "ra": sources["ra"].iloc[k], "dec": dec,
                     "livecat_class": reclassified.get(name, CLASSES[n])})
    rows.append({"native_id": "MID", "ra": (sources["ra"].iloc[i] + sources["ra"].iloc[j]) / 2,
                 "dec": (sources["dec"].iloc[i] + sources["dec"].iloc[j]) / 2,
                 "pos_err_arcsec": 1.0, "livecat_class": "YSO"})
    return literature_catalog(rows)


def pulsar_detections(engine) -> NormalizedCatalog:
    """``xtest``: X-ray sources at the current (1.58) positions of :data:`PULSARS`."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT native_id, ra, dec FROM livecat.literature_object WHERE catalog = 'atnf' "
            "AND native_id = ANY(:p) ORDER BY native_id"), {"p": PULSARS}).all()
    assert len(rows) == len(PULSARS)
    return xray_catalog([{"native_id": f"X-{n}", "ra": ra, "dec": dec, "pos_err_arcsec": 0.5}
                         for n, ra, dec in rows])


def candidate_ids(engine, lit_catalog: str) -> dict[str, list[int]]:
    """literature native id -> candidate ids."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT literature_native_id, id FROM livecat.counterpart_candidate "
            "WHERE literature_catalog = :c ORDER BY id"), {"c": lit_catalog}).all()
    out: dict[str, list[int]] = {}
    for name, cid in rows:
        out.setdefault(name, []).append(cid)
    return out


# --------------------------------------------------------------------------------------
# the flow
# --------------------------------------------------------------------------------------

def test_whole_flow_on_real_samples(clean_tables, db_url, monkeypatch, tmp_path):
    engine = clean_tables
    atnf158 = ingest(engine, "atnf", file=sample_path("atnf", "psrcat-1.58.db"))
    assert atnf158.n_inserted == 2636
    sample = csc_sample()
    assert load_catalog(engine, "csc", sample, version="2.0").n_inserted == 389

    # real ATNF x CSC: no pulsar in the NGC 3532 field, so honestly no candidate
    res = C.generate_candidates(engine, literature_catalog="atnf")
    assert (res.n_pairs, res.n_new) == (0, 0)

    load_catalog(engine, "testlit", class_table(sample.sources), version="v1")
    load_catalog(engine, "xtest", pulsar_detections(engine), version="1")
    res = C.generate_candidates(engine, C.MatchModel(n_sigma=3.0))
    assert res.n_new == res.n_pairs == 6 + 8 + 2
    lit_ids, psr_ids = candidate_ids(engine, "testlit"), candidate_ids(engine, "atnf")
    assert set(psr_ids) == set(PULSARS) and all(len(v) == 1 for v in psr_ids.values())
    assert len(lit_ids["MID"]) == 2 and all(len(lit_ids[f"OBJ{n}"]) == 1 for n in range(8))
    q = Q.queue(engine)
    assert list(q["id"][:2]) == sorted(lit_ids["MID"], key=lambda c: -float(
        q.set_index("id").loc[c, "match_prob"]))  # ambiguous first
    assert q.set_index("id").loc[lit_ids["MID"], "ambiguous"].all()
    assert q["match_prob"].between(0, 1).all()

    # decide: all pulsars confirmed; the class table mixed
    for name in PULSARS:
        D.decide(engine, psr_ids[name][0], "confirm", "alice", note="X-ray pulsar",
                 expected_seq=0)
    for n in range(6):
        D.decide(engine, lit_ids[f"OBJ{n}"][0], "confirm", "bob", note="position match")
    D.decide(engine, lit_ids["OBJ6"][0], "reject", "bob", note="extended, unrelated")
    D.decide(engine, lit_ids["OBJ7"][0], "confirm", "bob", class_override="CV/IP")
    mid = sorted(lit_ids["MID"])
    D.decide(engine, mid[0], "defer", "bob", note="two sources, need deeper data")

    v1 = T.create_training_set(engine, "flow", "alice", note="first")
    assert (v1["version"], v1["n_members"]) == (1, 6 + 6 + 1)
    assert v1["class_counts"]["CV"] == 2  # OBJ2 (CV) and OBJ7 (override CV/IP)
    assert {r["catalog"] for r in v1["provenance"]["releases"]} == {"atnf", "csc", "testlit",
                                                                     "xtest"}

    # a new ATNF release and a new version of the class table
    atnf159 = ingest(engine, "atnf", file=sample_path("atnf", "psrcat-1.59.db"))
    assert atnf159.status == "succeeded" and atnf159.n_updated > 0
    load_catalog(engine, "testlit", class_table(sample.sources, moved={"OBJ1": 2.0},
                                                 reclassified={"OBJ0": "YSO"}), version="v2")
    before = Q.event_log(engine)
    flagged = D.flag_changed_decisions(engine)
    by_id = flagged.set_index("candidate_id")["reason"]
    assert set(by_id.index) == {psr_ids["J1856-3754"][0], lit_ids["OBJ0"][0],
                                lit_ids["OBJ1"][0]}
    assert "atnf J1856-3754 moved 27.8 arcsec (more than its 1-sigma error 2" \
        in by_id[psr_ids["J1856-3754"][0]]
    assert "class changed LM-STAR -> YSO" in by_id[lit_ids["OBJ0"][0]]
    assert "testlit OBJ1 moved 2 arcsec" in by_id[lit_ids["OBJ1"][0]]
    # decisions kept: every earlier event is still there, unchanged, statuses unchanged
    after = Q.event_log(engine)
    pd.testing.assert_frame_equal(after.iloc[:len(before)], before)
    assert (after.iloc[len(before):]["action"] == "flag").all()
    states = {cid: D.get_state(engine, cid) for ids in psr_ids.values() for cid in ids}
    assert all(s.status == "confirmed" for s in states.values())
    assert states[psr_ids["J1856-3754"][0]].flagged
    assert not states[psr_ids["J1012+5307"][0]].flagged  # moved 0.03": kept, not flagged
    assert D.flag_changed_decisions(engine).empty  # the same change is flagged once

    # candidates again: decided candidates untouched, flagged ones first in the queue
    decided_sql = ("SELECT * FROM livecat.counterpart_candidate c WHERE EXISTS (SELECT 1 "
                   "FROM livecat.curation_event e WHERE e.candidate_id = c.id) ORDER BY id")
    cand_before = pd.read_sql("SELECT * FROM livecat.counterpart_candidate ORDER BY id",
                              engine)
    decided_before = pd.read_sql(decided_sql, engine)
    res = C.generate_candidates(engine)
    pd.testing.assert_frame_equal(pd.read_sql(decided_sql, engine), decided_before)
    assert res.n_decided_kept >= 10
    q = Q.queue(engine)
    assert set(q["id"][:3]) == set(by_id.index) and q["flagged"][:3].all()

    # re-review: OBJ0 confirmed again (now a YSO), J1856-3754 left flagged
    D.decide(engine, lit_ids["OBJ0"][0], "confirm", "bob", note="class updated upstream",
             expected_seq=D.get_state(engine, lit_ids["OBJ0"][0]).seq)
    D.decide(engine, lit_ids["OBJ1"][0], "reject", "bob", note="moved off the source")
    v2 = T.create_training_set(engine, "flow", "alice", note="after psrcat 1.59")
    assert v2["version"] == 2 and v2["provenance"]["n_flagged_left_out"] == 1
    diff = T.diff_training_sets(engine, "flow@1", "flow@2")
    changes = {(r.change, r.xray_catalog): (r.class_a, r.class_b)
               for r in diff.itertuples(index=False)}
    assert len(diff) == 3
    assert changes[("relabelled", "csc")] == ("LM-STAR", "YSO")
    assert sorted(r.xray_native_id for r in diff.itertuples() if r.change == "removed") \
        == sorted(["X-J1856-3754", cand_before.set_index("id").loc[lit_ids["OBJ1"][0],
                                                                     "xray_native_id"]])
    assert T.verify_content_hash(engine, "flow@1") and T.verify_content_hash(engine, "flow@2")
    assert T.get_training_set(engine, "flow@1", members=False)["content_hash"] \
        == v1["content_hash"]

    # the same through the CLI
    res = invoke(["trainingset", "diff", "flow@1", "flow@2"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "0 added, 2 removed, 1 relabelled" in res.stdout
    res = invoke(["trainingset", "list", "--format", "csv"], monkeypatch, db_url)
    assert res.exit_code == 0 and res.stdout.count("flow,") == 2
    res = invoke(["curate", "queue", "--status", "flagged", "--format", "json"], monkeypatch,
                 db_url)
    assert res.exit_code == 0 and '"J1856-3754"' in res.stdout
    res = invoke(["curate", "show", str(psr_ids["J1856-3754"][0]), "--chart",
                  str(tmp_path / "chart.png")], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "FLAGGED: atnf J1856-3754 moved" in res.stdout
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = invoke(["curate", "log", str(psr_ids["J1856-3754"][0]), "--format", "csv"],
                 monkeypatch, db_url)
    assert res.exit_code == 0 and "flag_changed_decisions" in res.stdout


def test_candidate_numbers_follow_the_model(clean_tables):
    """Separation, sigma and probability of a stored pair match the documented model."""
    engine = clean_tables
    load_catalog(engine, "xt", xray_catalog([
        {"native_id": "A", "ra": 150.0, "dec": 2.0, "pos_err_arcsec": 0.4},
        {"native_id": "B", "ra": 150.0 + 2.0 / 3600, "dec": 2.0, "pos_err_arcsec": 0.4}]),
        version="1")
    load_catalog(engine, "lt", literature_catalog([
        {"native_id": "L", "ra": 150.0 + 0.5 / 3600, "dec": 2.0, "pos_err_arcsec": 0.8,
         "livecat_class": "AGN"}]), version="1")
    model = C.MatchModel(n_sigma=3.0, floor_arcsec=0.5, bg_radius_arcsec=60.0, prior=0.5)
    res = C.generate_candidates(engine, model)
    assert res.n_pairs == 2
    df = pd.read_sql("SELECT * FROM livecat.counterpart_candidate ORDER BY xray_native_id",
                     engine)
    sigma = math.sqrt(0.8 ** 2 + 0.4 ** 2 + 0.5 ** 2)
    sep = np.array([0.5, 1.5]) * math.cos(math.radians(2.0))
    assert np.allclose(df["sigma_arcsec"], sigma)
    assert np.allclose(df["separation_arcsec"], sep, rtol=1e-4)
    rho = 2 / (math.pi * 60.0 ** 2)
    lr = np.exp(-0.5 * (sep / sigma) ** 2) / (2 * math.pi * sigma ** 2 * rho)
    assert np.allclose(df["likelihood_ratio"], lr, rtol=1e-4)
    assert np.allclose(df["match_prob"], lr / (lr.sum() + 1.0), rtol=1e-4)
    assert df["ambiguous_multi_xray"].all() and not df["ambiguous_multi_literature"].any()
    # re-running changes nothing but the refresh stamp
    again = C.generate_candidates(engine, model)
    assert (again.n_new, again.n_refreshed) == (0, 2)


def test_pure_match_functions():
    model = C.MatchModel(floor_arcsec=0.5, default_literature_err_arcsec=1.0)
    assert C.combined_sigma([np.nan], [np.nan], model)[0] == pytest.approx(math.sqrt(1.25))
    p = C.match_probabilities([4.0, 1.0, 2.0], ["a", "a", "b"], prior=0.5)
    assert p == pytest.approx([4 / 6, 1 / 6, 2 / 3])
    assert C.search_radius(1e4, 0.5, model) == model.max_radius_arcsec
    with pytest.raises(Exception, match="--prior"):
        C.MatchModel(prior=1.0).check()
