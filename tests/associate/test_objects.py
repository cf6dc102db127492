"""Cross-mission objects (associate.objects): the rules against a brute-force evaluation on
synthetic fields (poles, RA 0/360, a crowded cluster under eRASS1-size errors), the
hand-made cases each rule exists for, the 3C 273 and Proxima Cen samples, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from helpers import sample_path
from objects_reference import brute_force

from associate.candidates import offset_position
from associate.objects import DEFAULT_N_SIGMA, BadSources, match_missions
from associate.simulate_missions import SimMission, field_truth, observe
from catalog.missions import MISSIONS, cross_match_floor_arcsec
from ingest import csc, erass, sxps, xmm

#: Typical per-axis errors (median, dex) of each mission for the synthetic fields.
MISSIONS_SIM = {"csc": SimMission("csc", 0.45, 0.2), "xmm": SimMission("xmm", 1.0, 0.2),
                "erass1": SimMission("erass1", 4.5, 0.12),
                "2sxps": SimMission("2sxps", 2.3, 0.2)}


def _field(seed, fields, detect):
    rng = np.random.default_rng(seed)
    return observe(rng, field_truth(rng, fields), MISSIONS_SIM, detect)


def _canonical(g) -> dict:
    """Per source: what the rules decided, in the brute-force reference's terms."""
    members = g.links.groupby("object_key")["source_id"].agg(frozenset)
    out = {}
    for r in g.links.to_dict("records"):
        out[r["source_id"]] = {
            "object": members[r["object_key"]],
            "linked": None if pd.isna(r["linked_source_id"]) else int(r["linked_source_id"]),
            "separation": None if pd.isna(r["separation_arcsec"]) else r["separation_arcsec"],
            "n_sigma": None if pd.isna(r["n_sigma"]) else r["n_sigma"],
            "ambiguous": bool(r["ambiguous"]),
            "alternatives": [(a["source_id"], a["separation_arcsec"], a["n_sigma"])
                             for a in r["alternatives"]]}
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for sid in want:
        g, w = got[sid], want[sid]
        assert g["object"] == w["object"], sid
        assert g["linked"] == w["linked"], sid
        assert g["ambiguous"] == w["ambiguous"], sid
        for key in ("separation", "n_sigma"):
            assert (g[key] is None) == (w[key] is None), sid
            if w[key] is not None:
                assert g[key] == pytest.approx(w[key], abs=1e-6), sid
        assert [a[0] for a in g["alternatives"]] == [a[0] for a in w["alternatives"]], sid
        for a, b in zip(g["alternatives"], w["alternatives"]):
            assert a[1:] == pytest.approx(b[1:], abs=1e-6)


def _check_against_brute_force(df):
    g = match_missions(df.drop(columns="object"))
    want = brute_force(df, n_sigma=g.params["n_sigma"], floors=g.params["floors"],
                       max_radius_arcsec=g.params["max_radius_arcsec"])
    _assert_same(_canonical(g), want)
    # every source in exactly one object; objects agree with the links
    assert g.links["source_id"].is_unique and len(g.links) == len(df)
    counts = g.links["object_key"].value_counts()
    assert g.objects.set_index("object_key")["n_members"].to_dict() == counts.to_dict()
    assert sorted(g.unmatched) == sorted(g.links.loc[g.links["object_key"].map(counts) == 1,
                                                    "source_id"])
    # no object holds two sources of one catalog
    assert not g.links.duplicated(["object_key", "catalog"]).any()
    return g


def test_fields_at_the_poles_equal_brute_force():
    df = _field(1, [(0.0, 89.995, 60.0, 40), (123.0, -90.0, 60.0, 40)],
                {"csc": 0.7, "xmm": 0.7, "erass1": 0.4, "2sxps": 0.5})
    assert (df["dec"] > 89.99).any() and (df["dec"] < -89.99).any()
    g = _check_against_brute_force(df)
    # the fields straddle the poles: objects whose members lie on both sides of one
    multi = g.links[g.links["object_key"].map(g.links["object_key"].value_counts()) > 1]
    assert multi["object_key"].nunique() >= 15
    north = df.set_index("source_id").loc[multi["source_id"]]
    spread = north.groupby(multi.set_index("source_id")["object_key"])["ra"].agg(np.ptp)
    assert spread.max() > 90.0  # RA means nothing at the pole, the matching does not care


def test_field_across_ra_zero_equals_brute_force():
    df = _field(2, [(0.0, 10.0, 60.0, 40), (0.0, -45.0, 30.0, 30)],
                {"csc": 0.8, "xmm": 0.8, "erass1": 0.5, "2sxps": 0.5})
    assert (df["ra"] > 359.9).any() and (df["ra"] < 0.1).any()
    g = _check_against_brute_force(df)
    objects = g.links.merge(df[["source_id", "ra"]], on="source_id")
    wraps = objects.groupby("object_key")["ra"].agg(lambda r: r.min() < 1 and r.max() > 359)
    assert wraps.any()  # one object with members on both sides of RA 0
    obj = g.objects.set_index("object_key").loc[wraps[wraps].index]
    assert ((obj["ra"] < 0.1) | (obj["ra"] > 359.9)).all()  # its best position too


def test_crowded_cluster_under_erass_errors_equals_brute_force():
    # 30 objects within 20": CSC resolves them, eRASS1 (4.5") and Swift (2.3") do not
    df = _field(3, [(266.4, -29.0, 20.0, 30), (266.5, -29.0, 120.0, 40)],
                {"csc": 0.9, "xmm": 0.5, "erass1": 0.3, "2sxps": 0.3})
    g = _check_against_brute_force(df)
    er = g.links[g.links["catalog"] == "erass1"]
    crowded = er[[sum(a["catalog"] == "csc" for a in alts) >= 2 for alts in er["alternatives"]]]
    assert len(crowded) >= 2 and crowded["ambiguous"].all()


def _at(rows, ra0=150.0, dec0=2.0):
    """Rows (id, catalog, x, y, err) at tangent-plane offsets (arcsec) about a centre."""
    ids, cats, x, y, err = zip(*rows)
    ra, dec = offset_position(ra0, dec0, np.array(x, float), np.array(y, float))
    return pd.DataFrame({"source_id": ids, "catalog": cats, "ra": ra, "dec": dec,
                         "pos_err_arcsec": err})


def _by_id(g):
    return g.links.set_index("source_id")


def test_coarse_erass_source_over_several_csc_sources():
    g = match_missions(_at([(1, "csc", 0, 0, 0.3), (2, "csc", 4, 0, 0.3),
                            (3, "csc", -6, 1, 0.3), (9, "erass1", 1.5, 0, 5.0)]))
    L = _by_id(g)
    assert L.loc[9, "linked_source_id"] == 1 and L.loc[9, "object_key"] == L.loc[1, "object_key"]
    assert L.loc[9, "ambiguous"]
    alts = L.loc[9, "alternatives"]
    assert [a["source_id"] for a in alts] == [2, 3]  # best first
    assert alts[0]["separation_arcsec"] == pytest.approx(2.5, abs=1e-6)
    assert alts[0]["n_sigma"] == pytest.approx(2.5 / math.hypot(5.0, 0.3), abs=1e-6)
    for other in (2, 3):  # each CSC source left alone names the eRASS1 source it could be
        assert L.loc[other, "ambiguous"] and L.loc[other, "object_key"] != L.loc[9, "object_key"]
        assert [a["source_id"] for a in L.loc[other, "alternatives"]] == [9]
    assert not L.loc[1, "ambiguous"]
    assert sorted(g.unmatched) == [2, 3]


def test_a_chain_across_three_catalogs_is_one_object():
    g = match_missions(_at([(1, "csc", 0, 0, 0.3), (2, "xmm", 0.8, 0, 1.0),
                            (3, "2sxps", 2.5, 0, 2.0)]))
    assert len(g.objects) == 1
    obj = g.objects.iloc[0]
    assert obj["n_members"] == 3 and obj["catalogs"] == ["2sxps", "csc", "xmm"]
    assert obj["anchor_source_id"] == 1  # the most precise member
    L = _by_id(g)
    assert pd.isna(L.loc[1, "linked_source_id"]) and pd.isna(L.loc[1, "separation_arcsec"])
    assert L.loc[2, "linked_source_id"] == 1
    # Swift's own best match is XMM (0.85 sigma) rather than the CSC source (1.24 sigma)
    assert L.loc[3, "linked_source_id"] == 2
    s_x = math.hypot(1.0, cross_match_floor_arcsec("xmm"))
    assert L.loc[3, "n_sigma"] == pytest.approx(1.7 / math.hypot(2.0, s_x), abs=1e-6)


def test_a_link_that_would_put_two_sources_of_one_catalog_together_is_refused():
    # CSC-1 <-> XMM-4 (0.28 sigma) and CSC-2 <-> eRASS-9 (0.04 sigma) are mutual best
    # matches, and so is XMM-4 <-> eRASS-9 (0.69 sigma): taking all three would put
    # CSC-1 and CSC-2 in one object. The worst link is refused.
    g = match_missions(_at([(1, "csc", 0, 0, 0.3), (2, "csc", 3, 0, 0.3),
                            (4, "xmm", -0.3, 0, 1.0), (9, "erass1", 3.2, 0, 5.0)]))
    L = _by_id(g)
    assert L.loc[1, "object_key"] == L.loc[4, "object_key"] != L.loc[2, "object_key"]
    assert L.loc[2, "object_key"] == L.loc[9, "object_key"]
    assert [a["source_id"] for a in L.loc[9, "alternatives"]] == [1, 4]
    assert [a["source_id"] for a in L.loc[4, "alternatives"]] == [9, 2]
    assert not g.links.duplicated(["object_key", "catalog"]).any()


def test_sources_of_one_catalog_never_merge():
    g = match_missions(_at([(1, "csc", 0, 0, 0.5), (2, "csc", 0.01, 0, 0.5),
                            (3, "xmm", 0, 0, 1.0)]))
    L = _by_id(g)
    assert L.loc[1, "object_key"] != L.loc[2, "object_key"]
    assert L.loc[3, "object_key"] in (L.loc[1, "object_key"], L.loc[2, "object_key"])
    assert L.loc[3, "ambiguous"]


def test_best_position_is_the_inverse_variance_mean():
    g = match_missions(_at([(1, "csc", 0, 0, 0.3), (2, "erass1", 3.0, 4.0, 3.0)],
                           ra0=0.0, dec0=0.0))
    obj = g.objects.iloc[0]
    w1, w2 = 1 / 0.3 ** 2, 1 / 3.0 ** 2
    x, y = 3.0 * w2 / (w1 + w2), 4.0 * w2 / (w1 + w2)
    ra, dec = offset_position(0.0, 0.0, x, y)
    assert obj["ra"] == pytest.approx(float(ra), abs=1e-9)
    assert obj["dec"] == pytest.approx(float(dec), abs=1e-9)
    assert obj["pos_err_arcsec"] == pytest.approx(1 / math.sqrt(w1 + w2))


def test_result_does_not_depend_on_row_order_and_keys_follow_smallest_ids():
    df = _field(4, [(30.0, 30.0, 90.0, 60)], {"csc": 0.8, "xmm": 0.8, "erass1": 0.4,
                                               "2sxps": 0.4}).drop(columns="object")
    a = match_missions(df, key_start=100)
    b = match_missions(df.sample(frac=1.0, random_state=5))
    assert _canonical(a) == _canonical(b)
    first = a.links.groupby("object_key")["source_id"].min().sort_values()
    assert list(first.index) == list(range(100, 100 + len(first)))
    json.dumps(a.params)
    json.dumps([list(x) for x in a.links["alternatives"]])


def test_params_defaults_and_floors_from_missions():
    df = _at([(1, "csc", 0, 0, 0.3), (2, "xmm", 0.5, 0, 0.05)])
    g = match_missions(df)
    assert g.params["n_sigma"] == pytest.approx(3.44, abs=0.005) == DEFAULT_N_SIGMA
    assert 1 - math.exp(-DEFAULT_N_SIGMA ** 2 / 2) == pytest.approx(0.9973)
    assert g.params["floors"] == {"csc": MISSIONS["csc"].cross_match_floor_arcsec,
                                  "xmm": MISSIONS["xmm"].cross_match_floor_arcsec}
    # the XMM floor, not its 0.05" error, sets the scale: 0.5" is 1.28 sigma with it,
    # 1.64 sigma without
    assert _by_id(g).loc[1, "n_sigma"] == pytest.approx(  # 2 (0.25" with floor) anchors
        0.5 / math.sqrt(0.3 ** 2 + 0.05 ** 2 + cross_match_floor_arcsec("xmm") ** 2))
    assert len(match_missions(df, n_sigma=1.5).objects) == 1
    assert len(match_missions(df, floors={"xmm": 0.0}, n_sigma=1.5).objects) == 2


@pytest.mark.parametrize("column, value, message", [
    ("ra", np.nan, "ra is not a finite"),
    ("dec", 91.0, "dec must be finite"),
    ("dec", np.nan, "dec must be finite"),
    ("pos_err_arcsec", 0.0, "pos_err_arcsec must be finite and > 0"),
    ("pos_err_arcsec", -1.0, "pos_err_arcsec must be finite and > 0"),
    ("pos_err_arcsec", np.inf, "pos_err_arcsec must be finite and > 0"),
    ("catalog", None, "missing catalog"),
    ("source_id", 1, "duplicate source_id"),
])
def test_bad_rows_name_the_row(column, value, message):
    df = _at([(1, "csc", 0, 0, 0.3), (2, "xmm", 1, 0, 1.0), (3, "erass1", 2, 0, 4.0)])
    df.index = ["a", "b", "c"]
    df[column] = df[column].astype(object)
    df.loc["c", column] = value
    with pytest.raises(ValueError, match=message) as err:
        match_missions(df)
    assert "row 'c'" in str(err.value)
    assert isinstance(err.value, BadSources)


def test_bad_parameters_and_catalogs():
    df = _at([(1, "csc", 0, 0, 0.3), (2, "rosat", 1, 0, 10.0)])
    with pytest.raises(BadSources, match="no cross-match floor for catalog 'rosat'"):
        match_missions(df)
    assert len(match_missions(df, floors={"rosat": 1.0}).objects) == 1
    with pytest.raises(BadSources, match="n_sigma"):
        match_missions(df, floors={"rosat": 1.0}, n_sigma=0)
    with pytest.raises(BadSources, match="floor of catalog 'csc'"):
        match_missions(df, floors={"rosat": 1.0, "csc": -0.1})
    with pytest.raises(BadSources, match="lack column"):
        match_missions(df.drop(columns="pos_err_arcsec"))


def _sample_sources() -> pd.DataFrame:
    """The real sample rows as the loaders store them (parse + normalize)."""
    rows = []
    for sid, (mod, key, parts) in enumerate([
            (csc, "csc", ("csc", "heasarc_csc_3c273.vot")),
            (xmm, "xmm", ("xmm", "heasarc_xmmssc_5xmm_3c273.vot")),
            (sxps, "2sxps", ("sxps", "tapvizier_2sxps_3c273.json")),
            (erass, "erass1", ("erass1", "tapvizier_erass1m_proxima.json"))], start=1):
        out = mod.normalize(mod.parse(sample_path(*parts)))
        assert len(out.sources) == 1 and not len(out.rejects)
        s = out.sources.iloc[0]
        rows.append({"source_id": sid, "catalog": key, "ra": s["ra"], "dec": s["dec"],
                     "pos_err_arcsec": s["pos_err_arcsec"], "native_id": s["native_id"]})
    return pd.DataFrame(rows)


def test_3c273_samples_are_one_object_and_proxima_stays_alone():
    df = _sample_sources()
    g = match_missions(df)
    L = _by_id(g)
    assert L.loc[1, "object_key"] == L.loc[2, "object_key"] == L.loc[3, "object_key"]
    assert L.loc[4, "object_key"] != L.loc[1, "object_key"]
    obj = g.objects.set_index("object_key").loc[L.loc[1, "object_key"]]
    assert obj["n_members"] == 3 and obj["catalogs"] == ["2sxps", "csc", "xmm"]
    assert list(g.unmatched) == [4]
    assert not L["ambiguous"].any()
    # the best position is within 0.5" of 3C 273 (the cone centre of the sample queries,
    # 12h29m06.70s +02d03m08.6s)
    c0 = SkyCoord(187.2779154 * u.deg, 2.0523883 * u.deg)
    assert c0.separation(SkyCoord(obj["ra"] * u.deg, obj["dec"] * u.deg)).arcsec < 0.5
    # the XMM member (0.033" per axis: the error of the mean of 42 detections) is
    # weighted with its floor, so it does not pin the best position by itself
    w = 1 / (df["pos_err_arcsec"].to_numpy()[:3] ** 2
             + np.array([g.params["floors"][c] for c in ("csc", "xmm", "2sxps")]) ** 2)
    assert obj["pos_err_arcsec"] == pytest.approx(1 / math.sqrt(w.sum()))
    assert obj["pos_err_arcsec"] > cross_match_floor_arcsec("xmm") / 2
