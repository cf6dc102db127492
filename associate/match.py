"""``livecat counterparts match``: one Bayesian association run over the sources in scope.

For the X-ray sources in scope that were searched (``mw_coverage``), the survey sources
fetched around them (``mw_source``) are associated in one multi-survey run of
:func:`associate.bayes.associate` (NWAY's method: Gaia, 2MASS, AllWISE and CatWISE2020
sources at the same place support each other):

- positional errors: the X-ray 1-sigma error with the mission's systematic floor
  (:func:`catalog.missions.systematic_floor_arcsec`) and the survey's 1-sigma ellipse;
  survey positions moved with their proper motion to the X-ray epoch
  (:mod:`associate.epochs`);
- the prior: each survey's density around the source, measured per HEALPix tile from the
  fetched sources (:mod:`associate.density`), and a completeness per survey;
- sources are grouped by the surveys they were searched in, and each group is associated
  with exactly those surveys: a survey a source was not searched in says nothing about it;
- the p_any cut-off is calibrated per X-ray catalog on the shifted positions searched by
  the fetch (``calibration`` coverage), per survey, for a requested false-selection rate,
  and stored on the run with its efficiency; without them the run says why it has none.

Per candidate: ``p_any`` is the probability that the X-ray source has a counterpart in
that survey (``1 - p_none`` of the survey, all multi-survey combinations summed), ``p_i``
the probability that this survey source is it given that there is one, ``p_match`` their
product; ``best`` marks the most probable candidate of a survey when it is more probable
than no counterpart in that survey.

The run, every candidate with its probabilities and the best counterpart per survey go to
``mw_association_run``, ``mw_association`` and ``mw_counterpart`` (:mod:`associate.store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from associate import store
from associate.bayes import associate
from associate.calibrate import p_any_cutoff
from associate.candidates import SearchRule
from associate.density import tile_densities
from associate.epochs import epochs
from associate.inputs import Survey
from catalog.coords import Region
from catalog.errors import InputError
from catalog.missions import MISSIONS, systematic_floor_arcsec
from catalog.surveys import SURVEYS

#: Systematic 1-sigma floor (arcsec) added to every survey source's ellipse: what two
#: surveys' positions of one star disagree by beyond their quoted errors (frame ties,
#: photocentres of blends at WISE's 6" resolution, proper motions of Gaia two-parameter
#: solutions and of the surveys without one). 2MASS: 70-80 mas absolute accuracy (2MASS
#: Explanatory Supplement, Sect. II.2); AllWISE and CatWISE2020: ~50 mas for bright
#: sources and more for faint and blended ones (AllWISE Explanatory Supplement, Sect.
#: II.3; Marocco et al. 2021 Sect. 3.3); Gaia: the 20 mas a 10 mas/yr motion without a
#: measured proper motion adds over two years.
SURVEY_FLOOR_ARCSEC = {"gaia_dr3": 0.02, "2mass": 0.08, "allwise": 0.15,
                       "catwise2020": 0.15}
#: Prior probability that an X-ray source has a counterpart in a given survey.
DEFAULT_COMPLETENESS = 0.9
#: False-selection rate the p_any cut-off is calibrated for.
DEFAULT_FALSE_RATE = 0.05
#: How candidates are gathered: ``near(survey, centres, radius_arcsec) -> survey rows``.
Near = Callable[[str, pd.DataFrame, float], pd.DataFrame]
METHOD = "NWAY-style Bayesian cross-identification (Salvato et al. 2018; Budavari & " \
         "Szalay 2008), livecat associate.bayes"


@dataclass
class MatchSummary:
    """What one association run did."""

    run_id: int | None
    n_sources: int
    n_not_searched: int
    n_pairs: int
    n_best: dict = field(default_factory=dict)
    cutoffs: dict = field(default_factory=dict)
    seconds: float = 0.0
    #: ``--engine lsdb``: seconds in the LSDB cross-match on Dask (all surveys).
    dask_seconds: float = 0.0


def associable_surveys() -> list[str]:
    """The surveys associated with X-ray sources (not Gaia's distance table, which is
    joined to Gaia by source id)."""
    return [key for key, s in SURVEYS.items() if s.associate]


def match_counterparts(engine: Engine, *, catalogs=None, region: Region | None = None,
                       surveys=None, completeness: float = DEFAULT_COMPLETENESS,
                       false_rate: float = DEFAULT_FALSE_RATE, n_sigma: float = 5.0,
                       near: Near | None = None, engine_params: dict | None = None,
                       reporter=None) -> MatchSummary:
    """Associate the X-ray sources in scope with the surveys they were searched in.

    Parameters
    ----------
    near : callable, optional
        ``near(survey, centres, radius_arcsec)``: the current sources of ``survey`` (with
        ``mw_source`` ids and :data:`associate.store.SURVEY_COLUMNS`) within the radius of
        any centre (``ra``, ``dec``), each once - how the candidates are gathered. Default:
        from the database (:func:`associate.store.survey_sources_near`); the LSDB engine
        (:mod:`associate.lsdb_match`) gathers them from HATS catalogs on Dask.
    engine_params : dict, optional
        Recorded in the run's params as ``engine`` (default ``{"name": "database"}``).

    Returns
    -------
    MatchSummary
    """
    started = time.monotonic()
    log = reporter.log if reporter else (lambda message: None)
    if near is None:
        def near(survey, centres, radius_arcsec):
            return store.survey_sources_near(engine, survey, centres, radius_arcsec)
    names = list(surveys) if surveys else associable_surveys()
    unknown = [s for s in names if s not in SURVEYS or not SURVEYS[s].associate]
    if unknown:
        raise InputError(f"cannot associate with {', '.join(map(repr, unknown))}: expected "
                         f"some of {', '.join(associable_surveys())}")
    if not 0 < completeness < 1:
        raise InputError(f"--completeness {completeness!r} must be in (0, 1)")
    cats = store.xray_catalogs(engine, catalogs)
    xs = store.xray_sources(engine, cats, region)
    if not len(xs):
        raise InputError("no current X-ray source in scope: nothing to associate")
    cov = {s: store.coverage(engine, s, xs["id"]) for s in names}
    searched = pd.DataFrame({s: xs["id"].isin(c["xray_source_id"]) for s, c in cov.items()})
    pattern = searched.apply(lambda r: tuple(s for s in names if r[s]), axis=1)
    n_not = int((pattern.map(len) == 0).sum())
    if n_not == len(xs):
        raise InputError(f"none of the {len(xs)} X-ray sources in scope was searched in "
                         f"{', '.join(names)}: run `livecat counterparts fetch SURVEY` first")
    log(f"associating {len(xs) - n_not} X-ray sources ({n_not} never searched) with "
        f"{', '.join(names)}")
    primary = _primary(xs)
    floors = {c: systematic_floor_arcsec(c) for c in cats}
    pairs, p_any = [], []
    for group in sorted(set(p for p in pattern if p)):
        members = primary.loc[np.array([p == group for p in pattern])].reset_index(drop=True)
        part, sources = _associate_group(near, members, group, cov, completeness, floors,
                                         n_sigma)
        pairs.append(part)
        p_any.append(sources)
    pairs = pd.concat(pairs, ignore_index=True)
    p_any = pd.concat(p_any, ignore_index=True)
    cutoffs = _calibrate(engine, near, primary, pattern, cov, p_any, completeness, floors,
                         n_sigma, false_rate)
    run = {"xray_catalogs": cats, "surveys": names,
           "region": None if region is None else {"ra": region.ra, "dec": region.dec,
                                                  "radius_arcsec": region.radius_arcsec},
           "params": {"method": METHOD, "completeness": completeness,
                      "search": {"n_sigma": n_sigma, "max_radius": "the radius searched"},
                      "systematic_floor_arcsec": floors,
                      "survey_floor_arcsec": {k: SURVEY_FLOOR_ARCSEC.get(k, 0.0) for k in names},
                      "density": "per HEALPix tile of "
                      "order 8 from the fetched sources", "unrelated_associations": True,
                      "false_rate": false_rate,
                      "engine": engine_params or {"name": "database"}},
           "p_any_cutoff": cutoffs, "n_sources": int(len(xs) - n_not),
           "seconds": round(time.monotonic() - started, 3)}
    scope = xs.loc[(pattern.map(len) > 0).to_numpy(), "id"]
    run_id = store.write_run(engine, run, pairs, scope)
    best = pairs[pairs["best"]].groupby("survey").size().to_dict()
    return MatchSummary(run_id=run_id, n_sources=run["n_sources"], n_not_searched=n_not,
                        n_pairs=len(pairs), n_best={k: int(v) for k, v in best.items()},
                        cutoffs=cutoffs, seconds=time.monotonic() - started)


def _primary(xs: pd.DataFrame) -> pd.DataFrame:
    """The X-ray table of the association: the 1-sigma error ellipse where the catalog
    publishes an ellipse (CSC: its 95% ellipse scaled by the mission's convention,
    :mod:`catalog.missions`), else the 1-sigma circle; epochs; missions."""
    maj = np.full(len(xs), np.nan)
    mnr = np.full(len(xs), np.nan)
    for catalog in xs["catalog"].unique():
        mission = MISSIONS.get(catalog)
        rows = (xs["catalog"] == catalog).to_numpy()
        if mission is None or mission.shape != "ellipse":
            continue
        maj[rows] = xs.loc[rows, "err_maj_arcsec"].astype(float) / mission.radius_per_sigma
        mnr[rows] = xs.loc[rows, "err_min_arcsec"].astype(float) / mission.radius_per_sigma
    pa = xs["err_pa_deg"].astype(float).to_numpy()
    ellipse = np.isfinite(maj) & np.isfinite(mnr) & np.isfinite(pa) & (mnr > 0)
    return pd.DataFrame({
        "id": xs["id"].astype(np.int64).to_numpy(), "ra": xs["ra"].to_numpy(float),
        "dec": xs["dec"].to_numpy(float),
        "err_maj_arcsec": np.where(ellipse, np.maximum(maj, mnr), np.nan),
        "err_min_arcsec": np.where(ellipse, np.minimum(maj, mnr), np.nan),
        "err_pa_deg": np.where(ellipse, pa, np.nan),
        "pos_err_arcsec": xs["pos_err_arcsec"].astype(float).to_numpy(),
        "epoch": epochs(xs["catalog"], xs["extra"]), "mission": xs["catalog"].to_numpy()})


def _survey_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "id": frame["id"].astype(np.int64), "ra": frame["ra"].astype(float),
        "dec": frame["dec"].astype(float),
        "err_maj_arcsec": frame["err_maj_arcsec"].astype(float),
        "err_min_arcsec": frame["err_min_arcsec"].astype(float),
        "err_pa_deg": frame["err_pa_deg"].astype(float).fillna(0.0),
        "epoch": frame["epoch"].astype(float),
        "pmra": frame["pmra"].astype(float), "pmdec": frame["pmdec"].astype(float)})


def _surveys_around(near: Near, centres: pd.DataFrame, group, radius: dict,
                    completeness: float) -> tuple[list[Survey], pd.DataFrame]:
    """The survey tables around ``centres`` and the centres with their densities."""
    centres = centres.copy()
    tables = []
    for s in group:
        found = near(s, centres, radius[s])
        centres[f"density_{s}"] = tile_densities(
            centres["ra"], centres["dec"], radius[s], found["ra"].astype(float),
            found["dec"].astype(float))
        tables.append(Survey(s, _survey_frame(found), completeness=completeness,
                             systematic_arcsec=SURVEY_FLOOR_ARCSEC.get(s, 0.0)))
    return tables, centres


def _p_any_per_survey(result, ids, group) -> pd.DataFrame:
    """Per X-ray source and survey: the probability that it has a counterpart in that
    survey (1 - p_none_survey; 0 where no candidate was found)."""
    c = result.counterparts.drop_duplicates(["primary_id", "survey"])
    out = pd.DataFrame({"primary_id": np.repeat(np.asarray(ids), len(group)),
                        "survey": np.tile(list(group), len(ids))})
    out = out.merge(c[["primary_id", "survey", "p_none_survey"]], how="left",
                    on=["primary_id", "survey"])
    out["p_any"] = (1.0 - out.pop("p_none_survey")).fillna(0.0).clip(0, 1)
    return out


def _associate_group(near: Near, members: pd.DataFrame, group, cov, completeness, floors,
                     n_sigma):
    radius = {s: float(cov[s].loc[cov[s]["xray_source_id"].isin(members["id"]),
                                 "radius_arcsec"].min()) for s in group}
    tables, members = _surveys_around(near, members, group, radius, completeness)
    rule = SearchRule(n_sigma=n_sigma, max_radius_arcsec=min(radius.values()))
    result = associate(members, tables, systematic_arcsec=floors, rule=rule)
    pairs = result.counterparts
    p_any = 1.0 - pairs["p_none_survey"]
    out = pd.DataFrame({
        "xray_source_id": pairs["primary_id"].astype(np.int64),
        "survey": pairs["survey"], "mw_source_id": pairs["survey_id"].astype(np.int64),
        "separation_arcsec": pairs["sep_arcsec"], "sep_sigma": pairs["sep_sigma"],
        "p_any": p_any.clip(0, 1),
        "p_i": (pairs["p_match"] / p_any.where(p_any > 0)).fillna(0.0).clip(0, 1),
        "p_match": pairs["p_match"].clip(0, 1), "best": pairs["best"]})
    per_survey = _p_any_per_survey(result, members["id"], group)
    per_survey["mission"] = per_survey["primary_id"].map(
        dict(zip(members["id"], members["mission"])))
    return out, per_survey


def _calibrate(engine, near: Near, primary, pattern, cov, real_p_any, completeness, floors,
               n_sigma, false_rate) -> dict:
    """The calibrated p_any cut-off of each X-ray catalog and survey (see the module
    docstring): ``{catalog: {survey: {cutoff, false_rate, efficiency, n_fake, n_real}}}``,
    or ``{catalog: {"cutoff": None, "why": ...}}``."""
    out = {}
    for mission in sorted(primary["mission"].unique()):
        mine = primary["mission"].to_numpy() == mission
        groups = {p for p, m in zip(pattern, mine) if m and p}
        if len(groups) != 1:
            out[mission] = {"cutoff": None, "why": "its sources were searched in different "
                            "sets of surveys" if groups else "never searched"}
            continue
        group = groups.pop()
        cal = {s: store.coverage(engine, s, primary.loc[mine, "id"], kind="calibration")
               for s in group}
        ids = set.intersection(*(set(c["xray_source_id"]) for c in cal.values()))
        if not ids:
            out[mission] = {"cutoff": None, "why": "no shifted positions were searched "
                            "(fetch from the remote, not --file, to calibrate)"}
            continue
        first = cal[group[0]].set_index("xray_source_id").loc[sorted(ids)]
        fake = primary.set_index("id").loc[sorted(ids)].reset_index()
        fake["ra"], fake["dec"] = first["ra"].to_numpy(), first["dec"].to_numpy()
        radius = {s: float(cal[s]["radius_arcsec"].min()) for s in group}
        tables, fake = _surveys_around(near, fake, group, radius, completeness)
        result = associate(fake, tables, systematic_arcsec=floors,
                           rule=SearchRule(n_sigma=n_sigma,
                                           max_radius_arcsec=min(radius.values())))
        fake_p = _p_any_per_survey(result, fake["id"], group)
        real = real_p_any[real_p_any["mission"] == mission]
        out[mission] = {}
        for s in group:
            c = p_any_cutoff(fake_p.loc[fake_p["survey"] == s, "p_any"],
                             real.loc[real["survey"] == s, "p_any"], false_rate)
            out[mission][s] = {"cutoff": c.cutoff, "false_rate": c.false_rate,
                               "efficiency": None if np.isnan(c.efficiency) else c.efficiency,
                               "n_fake": c.n_fake, "n_real": c.n_real}
    return out
