"""Incremental object updates (associate.regroup, associate.neighbourhood): a re-grouping
after sources move, appear or retire touches only their neighbourhood and equals a full
rebuild; keys survive where objects keep members; links end, never vanish."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from associate.candidates import offset_position
from associate.neighbourhood import gather_neighbourhood
from associate.objects import BadSources, Grouping, match_missions
from associate.regroup import apply_regroup, closure_ids, regroup, scope_ids
from associate.simulate_missions import SimMission, field_truth, observe
from associate.skycover import NEIGHBOURHOOD_ORDER, IncompleteNeighbourhood, cover_pixels
from catalog.healpix import radec_to_hpx

MISSIONS_SIM = {"csc": SimMission("csc", 0.45, 0.2), "xmm": SimMission("xmm", 1.0, 0.2),
                "erass1": SimMission("erass1", 4.5, 0.12),
                "2sxps": SimMission("2sxps", 2.3, 0.2)}
DETECT = {"csc": 0.7, "xmm": 0.7, "erass1": 0.4, "2sxps": 0.4}


@pytest.fixture(scope="module")
def sky() -> pd.DataFrame:
    """Twelve fields over the sky (poles and RA 0 included), ~1,700 sources."""
    rng = np.random.default_rng(11)
    fields = [(0.0, 89.99, 120.0, 60), (0.0, 0.0, 300.0, 150), (359.95, -30.0, 200.0, 120),
              (80.0, -89.99, 150.0, 60)] + [
        (float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1)))),
         240.0, 100) for _ in range(8)]
    return observe(rng, field_truth(rng, fields), MISSIONS_SIM, DETECT).drop(
        columns="object")


def _canonical(g) -> dict:
    members = g.links.groupby("object_key")["source_id"].agg(frozenset)
    return {r["source_id"]: (members[r["object_key"]],
                             None if pd.isna(r["linked_source_id"])
                             else int(r["linked_source_id"]),
                             None if pd.isna(r["separation_arcsec"])
                             else round(r["separation_arcsec"], 9),
                             bool(r["ambiguous"]),
                             tuple((a["source_id"], round(a["n_sigma"], 9))
                                   for a in r["alternatives"]))
            for r in g.links.to_dict("records")}


def _move(df, sid, dx, dy):
    out = df.copy()
    row = out["source_id"] == sid
    ra, dec = offset_position(float(out.loc[row, "ra"].iloc[0]),
                              float(out.loc[row, "dec"].iloc[0]), dx, dy)
    out.loc[row, "ra"], out.loc[row, "dec"] = float(ra), float(dec)
    return out


def _check(before: Grouping, after_sources, regrouping):
    """The incremental result equals a full rebuild, and nothing outside the scope moved."""
    updated = apply_regroup(before, regrouping)
    full = match_missions(after_sources)
    assert _canonical(updated) == _canonical(full)
    outside = ~before.links["source_id"].isin(
        np.union1d(regrouping.scope, regrouping.retired))
    kept = before.links[outside].set_index("source_id")["object_key"]
    assert (updated.links.set_index("source_id").loc[kept.index, "object_key"] == kept).all()
    touched = set(regrouping.started["source_id"]) | set(regrouping.ended["source_id"])
    assert touched <= set(regrouping.scope) | set(regrouping.retired)
    # one current link per source, objects consistent with links
    assert updated.links["source_id"].is_unique
    counts = updated.links["object_key"].value_counts()
    assert updated.objects.set_index("object_key")["n_members"].to_dict() == counts.to_dict()
    return updated


def _csc_in_multi_object(g: Grouping, catalog="csc"):
    counts = g.links["object_key"].map(g.links["object_key"].value_counts())
    rows = g.links[(counts >= 2) & (g.links["catalog"] == catalog)]
    return rows.iloc[0]


def test_moving_one_source_redoes_only_its_neighbourhood(sky):
    before = match_missions(sky)
    member = _csc_in_multi_object(before)
    after = _move(sky, member["source_id"], 40.0, 0.0)  # away from its partners
    r = regroup(before, after, changed_ids=[member["source_id"]])
    assert 2 <= len(r.scope) < len(sky) / 20
    updated = _check(before, after, r)
    # the moved source's old partners lost it: their object changed or ended
    assert member["object_key"] in set(r.updated["object_key"])
    assert set(r.ended["reason"]) <= {"changed", "regrouped"}
    assert "changed" in set(r.ended["reason"])
    assert len(r.started) >= 1 and len(r.ended) >= 1
    # the largest remaining part keeps the key
    old = before.links[before.links["object_key"] == member["object_key"]]["source_id"]
    rest = set(old) - {member["source_id"]}
    new_keys = updated.links.set_index("source_id").loc[sorted(rest), "object_key"]
    assert member["object_key"] in set(new_keys) or len(rest) == 0


def test_same_members_keep_their_key_and_unchanged_links_are_not_touched(sky):
    before = match_missions(sky)
    member = _csc_in_multi_object(before)
    after = _move(sky, member["source_id"], 0.01, 0.0)  # well within its error
    r = regroup(before, after, changed_ids=[member["source_id"]])
    _check(before, after, r)
    status = r.updated.set_index("object_key")["status"]
    assert status.loc[member["object_key"]] == "changed"  # its best position moved
    assert set(status) == {"changed"}
    # only rows whose separation changed were ended and restarted
    for row in r.ended.itertuples():
        assert row.source_id == member["source_id"] or row.linked_source_id == \
            member["source_id"] or any(a["source_id"] == member["source_id"]
                                       for a in row.alternatives)
    assert set(r.started["object_key"]) <= set(before.links["object_key"])


def test_retiring_and_adding_sources(sky):
    before = match_missions(sky)
    gone = _csc_in_multi_object(before, "xmm")
    partners = before.links[(before.links["object_key"] == gone["object_key"])
                            & (before.links["source_id"] != gone["source_id"])]
    after = sky[sky["source_id"] != gone["source_id"]]
    lone = before.links[before.links["object_key"].map(
        before.links["object_key"].value_counts()) == 1]
    lone = lone[lone["catalog"] == "csc"].iloc[0]
    at = sky.set_index("source_id").loc[lone["source_id"]]
    new_id = int(sky["source_id"].max()) + 1
    after = pd.concat([after, pd.DataFrame([{
        "source_id": new_id, "catalog": "2sxps", "ra": at["ra"], "dec": at["dec"],
        "pos_err_arcsec": 2.0}])], ignore_index=True)
    r = regroup(before, after, changed_ids=[new_id], retired_ids=[gone["source_id"]])
    updated = _check(before, after, r)
    ended = r.ended.set_index("source_id")
    assert ended.loc[gone["source_id"], "reason"] == "retired"
    assert gone["source_id"] not in set(updated.links["source_id"])
    # the retired source's partners keep its object's key
    assert (updated.links.set_index("source_id").loc[partners["source_id"], "object_key"]
            == gone["object_key"]).any()
    # the new Swift source joined the lone CSC source's object, which keeps its key
    L = updated.links.set_index("source_id")
    assert L.loc[new_id, "object_key"] == L.loc[lone["source_id"], "object_key"] == \
        lone["object_key"]
    assert new_id in set(r.started["source_id"])


def test_a_merge_keeps_the_key_sharing_most_members_and_ends_the_other():
    # object A = {1 csc, 2 xmm}; B = {3 erass1} far away; then 3 moves onto A
    base = pd.DataFrame({"source_id": [1, 2, 3], "catalog": ["csc", "xmm", "erass1"],
                         "ra": [10.0, 10.0, 10.1], "dec": [0.0, 0.0, 0.0],
                         "pos_err_arcsec": [0.3, 1.0, 4.0]})
    before = match_missions(base)
    key = before.links.set_index("source_id")["object_key"]
    after = base.assign(ra=[10.0, 10.0, 10.0])
    r = regroup(before, after, changed_ids=[3])
    updated = _check(before, after, r)
    assert set(updated.links["object_key"]) == {key[1]}
    status = r.updated.set_index("object_key")["status"]
    assert status[key[1]] == "changed" and status[key[3]] == "ended"
    # and the split back: the larger part keeps the key, the other gets a new one
    r2 = regroup(updated, base, changed_ids=[3])
    split = apply_regroup(updated, r2).links.set_index("source_id")["object_key"]
    assert split[1] == split[2] == key[1]
    assert split[3] == key[1] + 1 == int(r2.updated.query("status == 'new'")["object_key"].iloc[0])


def test_many_changes_at_once_equal_a_full_rebuild(sky):
    rng = np.random.default_rng(5)
    before = match_missions(sky)
    ids = sky["source_id"].to_numpy()
    moved = rng.choice(ids, 15, replace=False)
    retired = rng.choice(np.setdiff1d(ids, moved), 8, replace=False)
    after = sky[~sky["source_id"].isin(retired)]
    for sid in moved:
        after = _move(after, sid, *rng.normal(0, 5, 2))
    new = after.sample(6, random_state=3).assign(
        source_id=np.arange(ids.max() + 1, ids.max() + 7), catalog="erass1",
        pos_err_arcsec=4.0)
    after = pd.concat([after, new], ignore_index=True)
    changed = np.concatenate([moved, new["source_id"]])
    r = regroup(before, after, changed_ids=changed, retired_ids=retired)
    _check(before, after, r)
    assert len(r.scope) < len(sky) / 3


def _stores(grouping: Grouping, sources: pd.DataFrame, order: int):
    """In-memory stand-ins for the three database reads of gather_neighbourhood."""
    links = grouping.links
    hpx = radec_to_hpx(sources["ra"], sources["dec"], order)

    def links_of(ids):
        keys = links.loc[links["source_id"].isin(ids), "object_key"]
        return links[links["object_key"].isin(keys)]

    def sources_by_id(ids):
        return sources[sources["source_id"].isin(ids)]

    def sources_in_pixels(pixels, order_):
        assert order_ == order
        return sources[np.isin(hpx, pixels)]

    return dict(links_of=links_of, sources_by_id=sources_by_id,
                sources_in_pixels=sources_in_pixels)


def test_gathered_neighbourhood_gives_the_same_update(sky):
    before = match_missions(sky)
    member = _csc_in_multi_object(before)
    after = _move(sky, member["source_id"], 30.0, 10.0)
    changed = [member["source_id"]]
    nb = gather_neighbourhood(changed, [], before.params,
                              **_stores(before, after, NEIGHBOURHOOD_ORDER))
    assert len(nb.sources) < len(after) / 5 and nb.rounds >= 1
    part = Grouping.from_links(nb.links, params=before.params)
    r = regroup(part, nb.sources, changed_ids=changed, region=nb.region,
                next_key=int(before.links["object_key"].max()) + 1)
    whole = regroup(before, after, changed_ids=changed)
    assert sorted(r.scope) == sorted(whole.scope)
    assert _canonical(r.grouping) == _canonical(whole.grouping)
    assert r.started.drop(columns="alternatives").equals(
        whole.started.drop(columns="alternatives"))
    # too small a sky read is refused, naming the missing pixels
    near = nb.sources[nb.sources["source_id"].isin(r.scope)]
    with pytest.raises(IncompleteNeighbourhood) as err:
        regroup(part, near, changed_ids=changed,
                region=(radec_to_hpx(near["ra"], near["dec"], 10), 10))
    assert len(err.value.needed) and err.value.order == 10


def test_closure_and_scope_follow_objects_and_alternatives():
    # an eRASS1 source between two CSC sources links the two through its alternative
    df = pd.DataFrame({"source_id": [1, 2, 3, 4], "catalog": ["csc", "csc", "erass1", "xmm"],
                       "ra": [10.0, 10.0 + 4 / 3600, 10.0 + 1.5 / 3600, 50.0],
                       "dec": [0.0, 0.0, 0.0, 0.0], "pos_err_arcsec": [0.3, 0.3, 5.0, 1.0]})
    g = match_missions(df)
    assert list(closure_ids(g.links, [2])) == [1, 2, 3]
    assert list(closure_ids(g.links, [4])) == [4]
    assert list(closure_ids(g.links, [99])) == [99]
    assert list(scope_ids(df, [1], g.params)) == [1, 2, 3]
    cover = cover_pixels([10.0], [0.0], 120.0, 10)
    assert radec_to_hpx(10.0 + 119 / 3600, 0.0, 10) in cover


def test_inconsistent_updates_are_refused(sky):
    before = match_missions(sky)
    member = _csc_in_multi_object(before)
    sid = member["source_id"]
    with pytest.raises(BadSources, match="retired but still in sources"):
        regroup(before, sky, retired_ids=[sid])
    with pytest.raises(BadSources, match="changed but not in sources"):
        regroup(before, sky[sky["source_id"] != sid], changed_ids=[sid])
    partner = before.links[(before.links["object_key"] == member["object_key"])
                           & (before.links["source_id"] != sid)]["source_id"].iloc[0]
    with pytest.raises(BadSources, match="neither in sources nor retired"):
        regroup(before, sky[sky["source_id"] != partner], changed_ids=[sid])
    with pytest.raises(BadSources, match="needs a full build"):
        regroup(before, sky, changed_ids=[sid], n_sigma=5.0)
