"""The counterpart engine on its own: ellipses, proper motion, marginals, determinism and
bad input. (Agreement with NWAY is in test_bayes_nway.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from associate.bayes import associate
from associate.candidates import ARCSEC_PER_RAD, SearchRule, offset_position
from associate.inputs import Survey, ellipse_covariance
from associate.simulate import SimSurvey, simulate_field
from catalog.errors import InputError

RA0, DEC0 = 166.28, -58.85
ARCSEC2_PER_SR = ARCSEC_PER_RAD ** 2
#: Gaia off the plane: 2 sources per 10" radius, per steradian
GAIA_DENSITY_SR = 2 / (np.pi * 100) * ARCSEC2_PER_SR


def _at(x_arcsec, y_arcsec, **cols):
    """Rows placed at tangent-plane offsets (east, north) about (RA0, DEC0)."""
    ra, dec = offset_position(RA0, DEC0, np.atleast_1d(x_arcsec), np.atleast_1d(y_arcsec))
    return pd.DataFrame({"ra": ra, "dec": dec, **cols})


def _xray(**err):
    return _at(0.0, 0.0, id=[1], epoch=2016.0, **{k: [v] for k, v in err.items()})


def _gaia(xs, ys, ids=None, err=0.05, epoch=2016.0):
    ids = list(range(10, 10 + len(xs))) if ids is None else ids
    return _at(xs, ys, id=ids, pos_err_arcsec=err, epoch=epoch)


def _one(primary, sources, **kw):
    return associate(primary, [Survey("gaia", sources, 0.9, density_sr=GAIA_DENSITY_SR)],
                     **kw)


def test_circle_as_ellipse_is_the_circle():
    field = simulate_field(np.random.default_rng(3), [SimSurvey("gaia", 0.02)],
                           n_primary=200, radius_arcsec=600)
    circ = field.primary
    ell = circ.drop(columns="pos_err_arcsec").assign(
        err_maj_arcsec=circ["pos_err_arcsec"], err_min_arcsec=circ["pos_err_arcsec"],
        err_pa_deg=np.random.default_rng(4).uniform(0, 180, len(circ)))
    surveys = [Survey("gaia", field.surveys["gaia"], 0.9, density_sr=GAIA_DENSITY_SR)]
    a, b = associate(circ, surveys), associate(ell, surveys)
    assert len(a.combinations) > 400
    pd.testing.assert_frame_equal(a.combinations, b.combinations, rtol=1e-12)
    pd.testing.assert_frame_equal(a.counterparts, b.counterparts, rtol=1e-12)


def test_radec_errors_are_the_same_ellipse():
    a, b, pa = 0.3, 0.1, 35.0
    cxx, cxy, cyy = ellipse_covariance(a, b, pa)
    sra, sde = np.sqrt(cxx), np.sqrt(cyy)
    xs, ys = [0.4, -0.9], [0.7, 0.2]
    ell = _at(xs, ys, id=[10, 11], err_maj_arcsec=a, err_min_arcsec=b, err_pa_deg=pa,
              epoch=2016.0)
    radec = _at(xs, ys, id=[10, 11], ra_err_arcsec=sra, dec_err_arcsec=sde,
                radec_corr=cxy / (sra * sde), epoch=2016.0)
    x = _xray(pos_err_arcsec=1.0)
    pd.testing.assert_frame_equal(_one(x, ell).combinations, _one(x, radec).combinations,
                                  rtol=1e-12)


def test_elongated_ellipse_prefers_candidate_along_major_axis():
    # X-ray ellipse 3" x 0.5" with its major axis towards PA 0 (north); two Gaia sources
    # 2" away, one north (along the major axis) and one east (along the minor axis)
    x = _xray(err_maj_arcsec=3.0, err_min_arcsec=0.5, err_pa_deg=0.0)
    r = _one(x, _gaia([0.0, 2.0], [2.0, 0.0], ids=[10, 11]))
    cp = r.counterparts.set_index("survey_id")
    assert cp.loc[10, "sep_arcsec"] == pytest.approx(cp.loc[11, "sep_arcsec"], rel=1e-9)
    assert cp.loc[10, "p_match"] > 0.99 * r.sources["p_any"].iloc[0]
    assert cp.loc[11, "p_match"] < 1e-3
    assert cp.loc[10, "best"] and not cp.loc[11, "best"]
    assert cp.loc[10, "sep_sigma"] < 1 < 3 < cp.loc[11, "sep_sigma"]
    # rotated by 90 degrees, the preference flips
    x90 = _xray(err_maj_arcsec=3.0, err_min_arcsec=0.5, err_pa_deg=90.0)
    cp90 = _one(x90, _gaia([0.0, 2.0], [2.0, 0.0], ids=[10, 11])).counterparts
    assert cp90.set_index("survey_id")["best"].to_dict() == {10: False, 11: True}


def _numerical_log10_bf(positions, covs, half_width=3.0, step=0.004):
    """log10 Bayes factor by integrating the product of the Gaussians on a grid.

    B = (4 pi)^(n-1) * integral over the true position m of prod_i N(x_i | m, C_i), the
    Gaussians per steradian (Budavari & Szalay 2008, eq. 11 with a uniform sky prior).
    """
    pos = np.asarray(positions, dtype=float)
    centre = pos.mean(axis=0)
    g = np.arange(-half_width, half_width + step / 2, step)
    mx, my = np.meshgrid(centre[0] + g, centre[1] + g, indexing="ij")
    log_prod = np.zeros_like(mx)
    for (x, y), (cxx, cxy, cyy) in zip(pos, covs):
        det = cxx * cyy - cxy * cxy
        dx, dy = x - mx, y - my
        q = (cyy * dx * dx - 2 * cxy * dx * dy + cxx * dy * dy) / det
        log_prod += -0.5 * q - np.log(2 * np.pi * np.sqrt(det))
    integral = np.trapezoid(np.trapezoid(np.exp(log_prod), g, axis=1), g)  # arcsec^-2(n-1)
    n = len(pos)
    return (np.log(integral) + (n - 1) * (np.log(4 * np.pi) + np.log(ARCSEC2_PER_SR))) / np.log(10)


@pytest.mark.parametrize("case", [
    # X-ray ellipse (maj, min, PA); Gaia (x, y, maj, min, PA); 2MASS (x, y, err) or None
    ((2.0, 0.7, 30.0), (0.5, 1.2, 0.30, 0.20, 70.0), None),
    ((1.5, 0.6, 120.0), (-0.8, 0.4, 0.25, 0.10, 10.0), (-0.6, 0.5, 0.35)),
])
def test_bayes_factor_matches_numerical_integral(case):
    xr, g, t = case
    x = _xray(err_maj_arcsec=xr[0], err_min_arcsec=xr[1], err_pa_deg=xr[2])
    gaia = _at([g[0]], [g[1]], id=[10], err_maj_arcsec=g[2], err_min_arcsec=g[3],
               err_pa_deg=g[4], epoch=2016.0)
    surveys = [Survey("gaia", gaia, 0.9, density_sr=GAIA_DENSITY_SR)]
    positions = [(0.0, 0.0), g[:2]]
    covs = [ellipse_covariance(*xr), ellipse_covariance(*g[2:])]
    if t is not None:
        surveys.append(Survey("tmass", _at([t[0]], [t[1]], id=[20], pos_err_arcsec=t[2],
                                          epoch=2016.0), 0.8, density_sr=GAIA_DENSITY_SR))
        positions.append(t[:2])
        covs.append(ellipse_covariance(t[2], t[2], 0.0))
    r = associate(x, surveys, unrelated_associations=False)
    full = r.combinations.dropna(subset=[f"{s.name}_id" for s in surveys])
    assert len(full) == 1
    expected = _numerical_log10_bf(positions, covs)
    assert full["log_bf"].iloc[0] == pytest.approx(expected, abs=2e-4)


def test_high_proper_motion_star_matches_at_the_xray_epoch():
    # a star moving 1"/yr (pmra 600, pmdec 800 mas/yr); the X-ray source saw it in 2000.0
    # 0.3" east of the X-ray position; Gaia DR3 gives its place at 2016.0, 16" away
    pm = dict(pmra=[600.0], pmdec=[800.0])
    star = _at([0.3 + 0.6 * 16], [0.8 * 16], id=[42], pos_err_arcsec=0.02, epoch=2016.0,
               **pm)
    field = _at([150.0, -200.0], [40.0, 90.0], id=[1, 2], pos_err_arcsec=0.05,
                epoch=2016.0, pmra=[np.nan, 1.0], pmdec=[np.nan, -2.0])
    gaia = pd.concat([star, field], ignore_index=True)
    x2000 = _xray(pos_err_arcsec=1.0).assign(epoch=2000.0)
    cp = _one(x2000, gaia).counterparts
    assert cp["survey_id"].tolist() == [42]
    assert cp["sep_arcsec"].iloc[0] == pytest.approx(0.3, abs=1e-6)
    assert cp["best"].iloc[0] and cp["p_match"].iloc[0] > 0.9
    ra, dec = offset_position(RA0, DEC0, 0.3, 0.0)
    assert cp["ra_deg"].iloc[0] == pytest.approx(ra, abs=1e-9)
    assert cp["dec_deg"].iloc[0] == pytest.approx(dec, abs=1e-9)
    # at Gaia's own epoch the star is 16" away: no candidate, no counterpart
    r2016 = _one(x2000.assign(epoch=2016.0), gaia)
    assert r2016.counterparts.empty and r2016.sources["p_any"].iloc[0] == 0.0
    # and so without its proper motion
    no_pm = gaia.assign(pmra=np.nan, pmdec=np.nan)
    assert _one(x2000, no_pm).counterparts.empty


def test_same_inputs_same_outputs():
    field = simulate_field(np.random.default_rng(8),
                           [SimSurvey("gaia", 0.03), SimSurvey("tmass", 0.01, (0.06, 0.2))],
                           n_primary=300, radius_arcsec=600)
    surveys = [Survey(n, t, 0.9, density_sr=0.03 * ARCSEC2_PER_SR)
               for n, t in field.surveys.items()]
    a = associate(field.primary, surveys)
    b = associate(field.primary, surveys)
    c = associate(field.primary, surveys, block_combinations=500)  # many small blocks
    for x in (b, c):
        pd.testing.assert_frame_equal(a.combinations, x.combinations, check_exact=True)
        pd.testing.assert_frame_equal(a.counterparts, x.counterparts, check_exact=True)
        pd.testing.assert_frame_equal(a.sources, x.sources, check_exact=True)


def test_marginals_are_sums_over_combinations():
    field = simulate_field(np.random.default_rng(9),
                           [SimSurvey("gaia", 0.05), SimSurvey("tmass", 0.02, (0.06, 0.2)),
                            SimSurvey("wise", 0.02, (0.2, 0.6))],
                           n_primary=150, radius_arcsec=500)
    surveys = [Survey(n, t, c, density_sr=d * ARCSEC2_PER_SR)
               for (n, t), c, d in zip(field.surveys.items(), (0.9, 0.8, 0.7),
                                       (0.05, 0.02, 0.02))]
    r = associate(field.primary, surveys)
    comb, cp = r.combinations, r.counterparts
    # p_i sums to 1 over each source's combinations that have a counterpart
    has = comb[comb["ncat"] > 1].groupby("primary_id")["p_i"].sum()
    np.testing.assert_allclose(has, 1.0, rtol=1e-12)
    post = comb["p_i"] * comb["p_any"]
    for name in field.surveys:
        sub = cp[cp["survey"] == name]
        expect = post.groupby([comb["primary_id"], comb[f"{name}_id"]]).sum()
        got = sub.set_index(["primary_id", "survey_id"])["p_match"]
        np.testing.assert_allclose(got.to_numpy(),
                                   expect.reindex(got.index).to_numpy(), atol=1e-12)
        none = 1 - sub.groupby("primary_id")["p_match"].sum()
        np.testing.assert_allclose(sub.groupby("primary_id")["p_none_survey"].first(),
                                   none.clip(0, 1), atol=1e-12)
        # at most one best per source and survey, and it beats "none"
        best = sub[sub["best"]]
        assert best["primary_id"].is_unique
        assert (best["p_match"] > best["p_none_survey"]).all()
        assert (best["p_match"].to_numpy() == sub.groupby("primary_id")["p_match"].max()
                .reindex(best["primary_id"]).to_numpy()).all()
    # one match_flag 1 per source with any candidate; the none row first in each group
    firsts = comb.groupby("primary_id").head(1)
    assert (firsts["ncat"] == 1).all()
    assert (comb[comb["match_flag"] == 1].groupby("primary_id").size() >= 1).all()
    np.testing.assert_allclose(r.sources.set_index("primary_id")["p_any"],
                               firsts.set_index("primary_id")["p_any"])


def test_sigma_rule_is_exact_against_a_wide_fixed_radius():
    """The default n-sigma search drops only combinations of negligible weight."""
    field = simulate_field(np.random.default_rng(10),
                           [SimSurvey("gaia", 0.06), SimSurvey("tmass", 0.02, (0.06, 0.2))],
                           n_primary=200, radius_arcsec=500)
    surveys = [Survey(n, t, 0.9, density_sr=d * ARCSEC2_PER_SR)
               for (n, t), d in zip(field.surveys.items(), (0.06, 0.02))]
    narrow = associate(field.primary, surveys, unrelated_associations=False)
    wide = associate(field.primary, surveys, rule=SearchRule(radius_arcsec=30.0),
                     unrelated_associations=False)
    assert len(wide.combinations) > 3 * len(narrow.combinations)
    # candidates beyond 5 sigma weigh ~1e-5 each against "none"
    np.testing.assert_allclose(narrow.sources["p_any"], wide.sources["p_any"], atol=3e-4)
    w = wide.counterparts.set_index(["primary_id", "survey", "survey_id"])
    n = narrow.counterparts.set_index(["primary_id", "survey", "survey_id"])
    np.testing.assert_allclose(n["p_match"], w["p_match"].reindex(n.index), atol=3e-4)
    assert w["p_match"].drop(n.index).max() < 3e-4
    # NWAY's unrelated-association correction, by contrast, depends on the search area:
    # the no-counterpart hypothesis is credited with the best Gaia-2MASS pair anywhere
    # in it, so a wider search lowers p_any (why livecat searches within n sigma)
    narrow_u = associate(field.primary, surveys)
    wide_u = associate(field.primary, surveys, rule=SearchRule(radius_arcsec=30.0))
    assert wide_u.sources["p_any"].mean() < narrow_u.sources["p_any"].mean() - 0.05


def test_source_without_candidates():
    r = _one(_xray(pos_err_arcsec=1.0), _gaia([100.0], [0.0]))
    assert r.counterparts.empty
    assert r.combinations["ncat"].tolist() == [1]
    assert r.combinations["match_flag"].tolist() == [0]
    s = r.sources.iloc[0]
    assert (s["p_any"], s["n_combinations"], s["n_gaia"]) == (0.0, 1, 0)
    assert s["radius_gaia_arcsec"] == pytest.approx(5 * np.hypot(1.0, 0.05))


def test_systematic_floor_per_mission():
    x = pd.concat([_xray(pos_err_arcsec=0.3).assign(mission="csc"),
                   _xray(pos_err_arcsec=0.3).assign(id=2, mission="xmm")])
    gaia = _gaia([1.2], [0.0])
    r = _one(x, gaia, systematic_arcsec={"csc": 0.0, "xmm": 1.0})
    # 1.2" is 4 sigma for CSC's 0.3", within 1 sigma once XMM's 1" floor is added
    cp = r.counterparts.set_index("primary_id")
    assert cp.loc[1, "sep_sigma"] == pytest.approx(1.2 / np.hypot(0.3, 0.05), rel=1e-9)
    assert cp.loc[2, "sep_sigma"] == pytest.approx(1.2 / np.sqrt(0.3**2 + 1 + 0.05**2),
                                                   rel=1e-9)
    assert cp.loc[2, "p_match"] > cp.loc[1, "p_match"]
    with pytest.raises(InputError, match="mission 'xmm' has no systematic floor"):
        _one(x, gaia, systematic_arcsec={"csc": 0.0})


@pytest.mark.parametrize("change, message", [
    (lambda p, g: (p.drop(columns="epoch"), g), "missing column 'epoch'"),
    (lambda p, g: (p.assign(dec=95.0), g), r"row 1 \(id 1\): dec 95.0 is not in"),
    (lambda p, g: (p.assign(pos_err_arcsec=-1.0), g), "pos_err_arcsec -1.0 must be > 0"),
    (lambda p, g: (p.drop(columns="pos_err_arcsec"), g), "no positional error"),
    (lambda p, g: (p, g.assign(id=7)), "survey gaia: row 1 .*duplicate id 7"),
    (lambda p, g: (p.assign(err_maj_arcsec=1.0, err_min_arcsec=2.0), g),
     "0 < err_min_arcsec <= err_maj_arcsec"),
    (lambda p, g: (p.assign(err_maj_arcsec=2.0, err_min_arcsec=1.0), g), "needs err_pa_deg"),
    (lambda p, g: (p, g.assign(ra="x")), "column 'ra' must be numeric"),
])
def test_bad_input_names_the_problem(change, message):
    p, g = change(_xray(pos_err_arcsec=1.0), _gaia([0.5, 3.0], [0.0, 0.0]))
    with pytest.raises(InputError, match=message):
        _one(p, g)


def test_bad_parameters():
    x, g = _xray(pos_err_arcsec=1.0), _gaia([0.5], [0.0])
    with pytest.raises(InputError, match="no density of survey gaia"):
        associate(x, [Survey("gaia", g, 0.9)])
    with pytest.raises(InputError, match="completeness 1.5"):
        associate(x, [Survey("gaia", g, 1.5, density_sr=GAIA_DENSITY_SR)])
    with pytest.raises(InputError, match="max_radius_arcsec 500"):
        _one(x, g, rule=SearchRule(max_radius_arcsec=500))
    with pytest.raises(InputError, match="radius_arcsec 200"):
        _one(x, g, rule=SearchRule(radius_arcsec=200))
    # a per-source density column overrides the survey's
    dense = _one(x.assign(density_gaia=GAIA_DENSITY_SR * 100), g)
    assert dense.sources["p_any"].iloc[0] < _one(x, g).sources["p_any"].iloc[0]


def test_associate_never_imports_nway():
    """NWAY is AGPL: only tests and the benchmark may use it."""
    root = Path(__file__).resolve().parents[2] / "associate"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in {"nwaylib", "nway"} for n in names), path
