"""livecat's association against the reference implementation, NWAY 4.8 (PyPI ``nway``).

The same simulated fields (circular errors) go through both; NWAY's command line
``nway.py`` is run as its manual shows (FITS inputs with SKYAREA, ``--radius``,
``--prior-completeness``), in a temporary directory. livecat uses NWAY's fixed radius
(``SearchRule(radius_arcsec=...)``) and NWAY's densities ((N + 1) / area), so both build
the same combinations and the probabilities must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from associate.bayes import associate
from associate.candidates import ARCSEC_PER_RAD, SearchRule
from associate.inputs import Survey
from associate.simulate import SimSurvey, simulate_field
from nway_reference import compare, nway_density_sr, run_nway_cli

pytestmark = pytest.mark.slow

ARCSEC2_PER_SR = ARCSEC_PER_RAD ** 2
#: Realistic densities: Gaia ~2 sources per 10" radius off the plane and ~20 in the
#: plane; 2MASS about a third of Gaia's.
GAIA_OFF = SimSurvey("gaia", 2 / (np.pi * 100), (0.01, 0.3), detect=0.8)
GAIA_PLANE = SimSurvey("gaia", 20 / (np.pi * 100), (0.01, 0.3), detect=0.8)
TMASS_OFF = SimSurvey("tmass", 0.7 / (np.pi * 100), (0.06, 0.2), detect=0.6, epoch=2000.0)


def _surveys(field, completeness, areas=None):
    out = []
    for (name, table), c in zip(field.surveys.items(), completeness):
        area = (areas or {}).get(name, field.area_sr)
        out.append(Survey(name, table, completeness=c, density_sr=nway_density_sr(table, area)))
    return out


def _agree(tmp_path, field, completeness, radius, areas=None):
    """Run both; return (livecat association, joined combinations, per-source p_any)."""
    ours = associate(field.primary, _surveys(field, completeness, areas),
                     rule=SearchRule(radius_arcsec=radius))
    ref, _ = run_nway_cli(tmp_path / "nway", field.primary, field.surveys, field.area_sr,
                          radius, completeness, areas=areas)
    joined, src = compare(ours.combinations, ref, list(field.surveys))
    return ours, joined, src


def _assert_agreement(joined, src, exact_tie=False):
    # the same combinations on both sides
    assert (joined["_merge"] == "both").all(), joined["_merge"].value_counts()
    dp_any = np.abs(src["p_any"] - src["p_any_nway"])
    dp_i = (np.abs(joined["p_i"] - joined["p_i_nway"])
            .groupby(joined["primary_id"]).max())
    good = (dp_any < 0.01) & (dp_i.reindex(src.index) < 0.01)
    assert good.mean() >= 0.99, (good.mean(), dp_any.max(), dp_i.max())
    # and in fact to the precision of NWAY's float32 FITS output
    assert dp_any.max() < 1e-4 and dp_i.max() < 1e-4
    # match_flag: identical, except that NWAY's command line flags the lone
    # no-counterpart row of a source without any candidate 1 (its API and livecat: 0)
    differ = joined[joined["match_flag"] != joined["match_flag_nway"]]
    if exact_tie:  # NWAY's rounding breaks an exact tie into flags 1 and 2
        differ = differ[~differ["match_flag_nway"].isin([1, 2])]
    assert (differ["p_i"] == 0).all() and (differ["match_flag_nway"] == 1).all()
    assert (differ["ncat"] == 1).all() if "ncat" in differ else True
    alone = joined.groupby("primary_id")["p_i"].transform("size") == 1
    assert set(differ.index) <= set(joined.index[alone])


def test_off_plane_field_one_survey(tmp_path):
    field = simulate_field(np.random.default_rng(11), [GAIA_OFF], n_primary=400,
                           radius_arcsec=1500)
    ours, joined, src = _agree(tmp_path, field, [0.9], radius=15.0)
    _assert_agreement(joined, src)
    # the field is realistic: most true counterparts are the best candidate, and the
    # confident ones are nearly all true
    best = ours.counterparts[ours.counterparts["best"]]
    truth = set(zip(field.truth["primary_id"], field.truth["survey_id"]))
    true_best = np.array([(p, s) in truth for p, s in zip(best["primary_id"],
                                                           best["survey_id"])])
    assert true_best.sum() / len(field.truth) > 0.65
    assert true_best[best["p_match"].to_numpy() > 0.9].mean() > 0.9


def test_crowded_plane_field(tmp_path):
    field = simulate_field(np.random.default_rng(12), [GAIA_PLANE], n_primary=300,
                           radius_arcsec=900)
    ours, joined, src = _agree(tmp_path, field, [0.9], radius=12.0)
    _assert_agreement(joined, src)
    assert ours.sources["n_gaia"].median() >= 15  # really crowded


def test_two_surveys_with_unrelated_associations(tmp_path):
    field = simulate_field(np.random.default_rng(13), [GAIA_OFF, TMASS_OFF], n_primary=400,
                           radius_arcsec=1500)
    ours, joined, src = _agree(tmp_path, field, [0.9, 0.8], radius=12.0)
    _assert_agreement(joined, src)
    # NWAY's correction for unrelated Gaia-2MASS pairs acted on some sources
    assert (ours.combinations["log_bf_unrelated"] > 0.5).any()
    np.testing.assert_allclose(joined["log_bf"], joined["log_bf_nway"], rtol=1e-5, atol=2e-3)


def _hand_field(primary_rows, survey_rows, n_filler=2000):
    """A hand-made field: offsets in arcsec about (150, 2).

    Each survey gets ``n_filler`` extra sources 200-600" away, out of every search
    radius: they change nothing but make NWAY's N / area and (N + 1) / area (it uses
    both) agree, as they do for real catalogues.
    """
    ra0, dec0 = 150.0, 2.0
    rng = np.random.default_rng(5)

    def place(rows, filler):
        t = pd.DataFrame(rows, columns=["id", "dx", "dy", "pos_err_arcsec"])
        if filler:
            r, phi = rng.uniform(200, 600, filler), rng.uniform(0, 2 * np.pi, filler)
            t = pd.concat([t, pd.DataFrame({
                "id": 1000 + np.arange(filler), "dx": r * np.sin(phi), "dy": r * np.cos(phi),
                "pos_err_arcsec": rng.uniform(0.02, 0.2, filler)})], ignore_index=True)
        t["ra"] = ra0 + t["dx"] / 3600 / np.cos(np.radians(dec0))
        t["dec"] = dec0 + t["dy"] / 3600
        t["epoch"] = 2016.0
        return t.drop(columns=["dx", "dy"])

    return place(primary_rows, 0), {k: place(v, n_filler) for k, v in survey_rows.items()}


def _area(table, per_10arcsec_radius):
    """The area that gives a table NWAY's density of that many sources per 10" radius."""
    return (len(table) + 1) / (per_10arcsec_radius / (np.pi * 100) * ARCSEC2_PER_SR)


class _Field:
    def __init__(self, primary, surveys, area_sr):
        self.primary, self.surveys, self.area_sr = primary, surveys, area_sr


def test_two_equally_good_candidates(tmp_path):
    primary, surveys = _hand_field(
        [(1, 0.0, 0.0, 1.0)],
        {"gaia": [(10, 0.8, 0.0, 0.05), (11, -0.8, 0.0, 0.05)]})
    field = _Field(primary, surveys, _area(surveys["gaia"], 2))  # Gaia off the plane
    ours, joined, src = _agree(tmp_path, field, [0.9], radius=10.0)
    _assert_agreement(joined, src, exact_tie=True)
    pair = ours.combinations.dropna(subset=["gaia_id"])
    np.testing.assert_allclose(pair["p_i"], 0.5, atol=1e-9)
    assert sorted(pair["match_flag"]) in ([1, 1], [1, 2])  # a tie, up to rounding
    # each is the counterpart with probability p_any / 2; the first (by id) is "best"
    cp = ours.counterparts
    np.testing.assert_allclose(cp["p_match"], ours.sources["p_any"].iloc[0] / 2)
    assert ours.sources["p_any"].iloc[0] > 0.9
    assert cp["best"].tolist() == [True, False]


def test_gaia_and_2mass_at_the_same_place_support_each_other(tmp_path):
    # X-ray source with a 1.5" error; Gaia A at 2.0" with a 2MASS source on top of it;
    # Gaia B at 1.6" on the other side with nothing in 2MASS
    primary, surveys = _hand_field(
        [(1, 0.0, 0.0, 1.5)],
        {"gaia": [(10, 2.0, 0.0, 0.02), (11, -1.6, 0.0, 0.02)],
         "tmass": [(20, 2.05, 0.02, 0.08)]})
    # a crowded field: Gaia 20 and 2MASS 7 sources per 10" radius
    areas = {"gaia": _area(surveys["gaia"], 20), "tmass": _area(surveys["tmass"], 7)}
    field = _Field(primary, surveys, areas["gaia"])
    ours, joined, src = _agree(tmp_path, field, [0.9, 0.8], radius=10.0, areas=areas)
    _assert_agreement(joined, src)
    cp = ours.counterparts.set_index(["survey", "survey_id"])
    # alone, B is nearer and would win; with the 2MASS detection A wins in Gaia
    assert cp.loc[("gaia", 10), "p_match"] > cp.loc[("gaia", 11), "p_match"]
    assert cp.loc[("gaia", 10), "p_match_given_any"] > 0.9
    assert cp.loc[("tmass", 20), "p_match_given_any"] > 0.9
    alone = associate(primary, [Survey("gaia", surveys["gaia"], 0.9,
                                       density_sr=nway_density_sr(surveys["gaia"],
                                                                  areas["gaia"]))],
                      rule=SearchRule(radius_arcsec=10.0)).counterparts.set_index("survey_id")
    assert alone.loc[11, "p_match"] > alone.loc[10, "p_match"]
    best = ours.combinations[ours.combinations["match_flag"] == 1].iloc[0]
    assert (best["gaia_id"], best["tmass_id"]) == (10, 20)


def test_library_api_has_no_unrelated_correction(tmp_path, monkeypatch):
    """nwaylib.nway_match agrees with livecat without NWAY's unrelated correction.

    NWAY's Python API (nway_match) computes the correction but never applies it (it
    reads the missing catalogues from the wrong row and adds to a copy), while the
    command line applies it; livecat follows the command line by default and the API
    with ``unrelated_associations=False``.
    """
    monkeypatch.chdir(tmp_path)  # nwaylib makes a ./cache directory when imported
    import nwaylib

    field = simulate_field(np.random.default_rng(14), [GAIA_OFF, TMASS_OFF], n_primary=300,
                           radius_arcsec=1200)
    sqdeg = field.area_sr * (180 / np.pi) ** 2
    tables = [dict(name="PRIM", ra=field.primary["ra"].to_numpy(),
                   dec=field.primary["dec"].to_numpy(),
                   error=field.primary["pos_err_arcsec"].to_numpy(), area=sqdeg,
                   mags=[], magnames=[], maghists=[])]
    for name, t in field.surveys.items():
        tables.append(dict(name=name, ra=t["ra"].to_numpy(), dec=t["dec"].to_numpy(),
                           error=t["pos_err_arcsec"].to_numpy(), area=sqdeg,
                           mags=[], magnames=[], maghists=[]))
    ref = nwaylib.nway_match(tables, match_radius=12.0,
                             prior_completeness=np.array([1.0, 0.9, 0.8]),
                             logger=nwaylib.NullOutputLogger())
    # the API's catalogue columns hold row numbers (-1 = none; here ids are row numbers);
    # the primary's is the index level named after it
    ref = ref.assign(primary_id=ref.index.get_level_values("PRIM")).reset_index(drop=True)
    ours = associate(field.primary, _surveys(field, [0.9, 0.8]),
                     rule=SearchRule(radius_arcsec=12.0),
                     unrelated_associations=False).combinations
    ref = ref.rename(columns={"gaia": "gaia_id", "tmass": "tmass_id"})
    mine = ours.assign(gaia_id=ours["gaia_id"].fillna(-1).astype(np.int64),
                       tmass_id=ours["tmass_id"].fillna(-1).astype(np.int64))
    j = mine.merge(ref, on=["primary_id", "gaia_id", "tmass_id"], how="outer",
                   indicator=True)
    assert (j["_merge"] == "both").all()
    np.testing.assert_allclose(j["p_i"], j["prob_this_match"], atol=1e-7)
    np.testing.assert_allclose(j["p_any"], j["prob_has_match"], atol=1e-7)
