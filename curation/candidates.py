"""Counterpart candidates: literature objects paired with nearby X-ray sources.

For every current literature object and every current X-ray source within ``n_sigma``
combined standard deviations, one ``counterpart_candidate`` row records the separation,
the combined error, the normalized separation, a likelihood ratio, a match probability
and the ambiguity of the pair.

Match probability model
-----------------------
Positions are taken to have circular 2-D Gaussian errors. The combined 1-sigma error of a
pair is ``sigma = sqrt(s_lit**2 + s_x**2 + s_sys**2)``: the literature object's and the
X-ray source's 1-sigma errors plus a systematic floor ``s_sys`` (astrometric frame ties,
epoch differences; default 0.5 arcsec). A literature object without a quoted error uses
:attr:`MatchModel.default_literature_err_arcsec`. The normalized separation
``r = separation / sigma`` of a true counterpart follows a Rayleigh distribution, so the
probability density of the separation ``x`` is ``x / sigma**2 * exp(-r**2 / 2)``; an
unrelated source falls at ``x`` with density ``2 pi x rho``, where ``rho`` is the local
surface density of the X-ray catalog (sources within :attr:`MatchModel.bg_radius_arcsec`
of the object, at least one). Their ratio is the likelihood ratio (Sutherland & Saunders
1992, MNRAS 259, 413; de Ruiter, Willis & Arp 1977)::

    LR = exp(-r**2 / 2) / (2 pi sigma**2 rho)

and the probability that candidate ``i`` of an object is its counterpart in that X-ray
catalog, with prior probability ``Q`` that the catalog detects the counterpart at all,
is (Sutherland & Saunders 1992, eq. 14)::

    P_i = LR_i / (sum_j LR_j + (1 - Q) / Q)

summed over the object's candidates in the same X-ray catalog. ``Q`` defaults to 0.5
(no preference). Candidates are kept while ``r <= n_sigma``; the search radius is capped at
:attr:`MatchModel.max_radius_arcsec` (an object with a huge error, e.g. a pulsar known
only from a single-dish survey, is searched only that far).

Ambiguity: ``ambiguous_multi_xray`` when the literature object has several candidates in
the same X-ray catalog; ``ambiguous_multi_literature`` when the X-ray source is a
candidate of several objects of the same literature catalog.

Re-running adds new pairs and refreshes the numbers of pairs nobody has decided yet;
a candidate with any curation event is never modified.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.errors import InputError
from catalog.settings import login_name
from catalog.sky import crossmatch

ARCSEC2_PER_ARCMIN2 = 3600.0


@dataclass(frozen=True)
class MatchModel:
    """Parameters of the candidate search and the match probability.

    Attributes
    ----------
    n_sigma : float
        Keep pairs with normalized separation up to this (default 3).
    floor_arcsec : float
        Systematic 1-sigma floor added in quadrature (default 0.5).
    max_radius_arcsec : float
        Largest search radius, whatever the errors (default 60).
    default_literature_err_arcsec : float
        1-sigma error of a literature position without one (default 1).
    bg_radius_arcsec : float
        Radius of the local X-ray source density estimate (default 120).
    prior : float
        Probability Q that the X-ray catalog detects the counterpart (default 0.5).
    """

    n_sigma: float = 3.0
    floor_arcsec: float = 0.5
    max_radius_arcsec: float = 60.0
    default_literature_err_arcsec: float = 1.0
    bg_radius_arcsec: float = 120.0
    prior: float = 0.5

    def check(self) -> None:
        """Raise InputError on a value outside its range, naming it."""
        if not (self.n_sigma > 0 and math.isfinite(self.n_sigma)):
            raise InputError(f"--sigma {self.n_sigma} must be a positive number")
        if not self.floor_arcsec >= 0:
            raise InputError(f"systematic floor {self.floor_arcsec} arcsec must be >= 0")
        if not 0 < self.max_radius_arcsec <= 3600:
            raise InputError(f"--max-radius {self.max_radius_arcsec} arcsec must be in "
                             f"(0, 3600]")
        if not 0 < self.prior < 1:
            raise InputError(f"--prior {self.prior} must be strictly between 0 and 1")


@dataclass
class CandidateResult:
    """What one candidate generation did."""

    run_id: int
    n_pairs: int
    n_new: int
    n_refreshed: int
    n_decided_kept: int
    n_flagged: int = 0


# --------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------


def combined_sigma(lit_err, xray_err, model: MatchModel) -> np.ndarray:
    """Combined 1-sigma error (arcsec) of pairs, with the systematic floor.

    NaN literature errors take ``model.default_literature_err_arcsec``; NaN X-ray errors
    count as 0 (the floor remains).
    """
    lit = np.asarray(lit_err, dtype=float)
    lit = np.where(np.isfinite(lit), lit, model.default_literature_err_arcsec)
    xr = np.asarray(xray_err, dtype=float)
    xr = np.where(np.isfinite(xr), xr, 0.0)
    return np.sqrt(lit ** 2 + xr ** 2 + model.floor_arcsec ** 2)


def likelihood_ratio(norm_sep, sigma_arcsec, density_per_arcsec2) -> np.ndarray:
    """Rayleigh counterpart density over the chance-coincidence density.

    ``LR = exp(-r**2/2) / (2 pi sigma**2 rho)`` (see the module docstring).
    """
    r = np.asarray(norm_sep, dtype=float)
    s = np.asarray(sigma_arcsec, dtype=float)
    rho = np.asarray(density_per_arcsec2, dtype=float)
    return np.exp(-0.5 * r ** 2) / (2.0 * math.pi * s ** 2 * rho)


def match_probabilities(lr, groups, prior: float) -> np.ndarray:
    """``P_i = LR_i / (sum_group LR + (1 - Q) / Q)`` for each pair.

    Parameters
    ----------
    lr : array_like
        Likelihood ratios.
    groups : array_like
        Group key of each pair (literature object and X-ray catalog).
    prior : float
        Q, the probability that the counterpart is in the catalog.
    """
    lr = np.asarray(lr, dtype=float)
    total = pd.Series(lr).groupby(pd.Series(groups).to_numpy()).transform("sum").to_numpy()
    return lr / (total + (1.0 - prior) / prior)


def search_radius(max_lit_err: float, max_xray_err: float, model: MatchModel) -> float:
    """Radius (arcsec) that holds every pair within ``n_sigma``, capped at the maximum."""
    lit = max_lit_err if math.isfinite(max_lit_err) else 0.0
    lit = max(lit, model.default_literature_err_arcsec)
    xr = max_xray_err if math.isfinite(max_xray_err) else 0.0
    r = model.n_sigma * math.sqrt(lit ** 2 + xr ** 2 + model.floor_arcsec ** 2)
    return float(min(max(r, 1e-3), model.max_radius_arcsec))


def score_pairs(pairs: pd.DataFrame, density: pd.Series, model: MatchModel) -> pd.DataFrame:
    """Add sigma, normalized separation, LR and probability; keep pairs within n_sigma.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``literature_id, xray_source_id, xray_catalog, separation_arcsec, lit_err,
        xray_err``.
    density : pandas.Series
        Sources per arcsec^2 indexed by ``(literature_id, xray_catalog)``.
    model : MatchModel

    Returns
    -------
    pandas.DataFrame
        The pairs kept, with ``sigma_arcsec, norm_sep, bg_density_arcmin2,
        likelihood_ratio, match_prob``.
    """
    out = pairs.copy()
    out["sigma_arcsec"] = combined_sigma(out["lit_err"], out["xray_err"], model)
    out["norm_sep"] = out["separation_arcsec"] / out["sigma_arcsec"]
    out = out[out["norm_sep"] <= model.n_sigma].reset_index(drop=True)
    keys = list(zip(out["literature_id"], out["xray_catalog"]))
    rho = np.array([density.get(k, np.nan) for k in keys], dtype=float)
    floor = 1.0 / (math.pi * model.bg_radius_arcsec ** 2)
    rho = np.where(np.isfinite(rho), np.maximum(rho, floor), floor)
    out["bg_density_arcmin2"] = rho * ARCSEC2_PER_ARCMIN2
    out["likelihood_ratio"] = likelihood_ratio(out["norm_sep"], out["sigma_arcsec"], rho)
    groups = [f"{a}|{b}" for a, b in keys]
    out["match_prob"] = match_probabilities(out["likelihood_ratio"], groups, model.prior) \
        if len(out) else np.empty(0)
    return out


# --------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------


def _literature(conn: Connection, catalog: str | None) -> pd.DataFrame:
    rows = conn.execute(sa.text(
        "SELECT id, catalog, native_id, ra, dec, pos_err_arcsec, livecat_class, subclass "
        "FROM livecat.literature_object WHERE is_current "
        "AND (CAST(:c AS text) IS NULL OR catalog = :c) ORDER BY id"), {"c": catalog}).all()
    frame = pd.DataFrame(rows, columns=["id", "catalog", "native_id", "ra", "dec",
                                        "pos_err_arcsec", "livecat_class", "subclass"])
    frame["pos_err_arcsec"] = frame["pos_err_arcsec"].astype(float)
    return frame


def _xray_rows(conn: Connection, ids: np.ndarray) -> pd.DataFrame:
    rows = conn.execute(sa.text(
        "SELECT id, catalog, native_id, ra, dec, pos_err_arcsec, is_current "
        "FROM livecat.xray_source WHERE id = ANY(:ids)"),
        {"ids": [int(i) for i in ids]}).all()
    frame = pd.DataFrame(rows, columns=["id", "catalog", "native_id", "ra", "dec",
                                        "pos_err_arcsec", "is_current"])
    frame["pos_err_arcsec"] = frame["pos_err_arcsec"].astype(float)
    return frame


def _densities(conn: Connection, lit: pd.DataFrame, model: MatchModel) -> pd.Series:
    """Local X-ray source density (per arcsec^2) around each object, per X-ray catalog."""
    if not len(lit):
        return pd.Series(dtype=float)
    near = crossmatch(conn, lit[["id", "ra", "dec"]], "xray_source", model.bg_radius_arcsec)
    if not len(near):
        return pd.Series(dtype=float)
    xr = _xray_rows(conn, np.unique(near["right_id"].to_numpy()))
    xr = xr[xr["is_current"]]
    near = near.merge(xr[["id", "catalog"]], left_on="right_id", right_on="id")
    counts = near.groupby(["left_id", "catalog"]).size()
    return counts / (math.pi * model.bg_radius_arcsec ** 2)


def find_pairs(conn: Connection, model: MatchModel, literature_catalog: str | None = None,
               xray_catalog: str | None = None) -> pd.DataFrame:
    """Score every (current literature object, current X-ray source) pair within n_sigma.

    Returns
    -------
    pandas.DataFrame
        One row per pair with the stable identifiers, the numbers of
        :func:`score_pairs` and a ``snapshot`` dict of the positions and classes used.
    """
    lit = _literature(conn, literature_catalog)
    columns = ["literature_id", "xray_source_id", "literature_catalog",
               "literature_native_id", "xray_catalog", "xray_native_id",
               "separation_arcsec", "sigma_arcsec", "norm_sep", "likelihood_ratio",
               "bg_density_arcmin2", "match_prob", "snapshot"]
    if not len(lit):
        return pd.DataFrame(columns=columns)
    max_x = conn.execute(sa.text(
        "SELECT max(pos_err_arcsec) FROM livecat.xray_source WHERE is_current "
        "AND (CAST(:c AS text) IS NULL OR catalog = :c)"), {"c": xray_catalog}).scalar()
    if max_x is None and not conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM livecat.xray_source WHERE is_current AND "
            "(CAST(:c AS text) IS NULL OR catalog = :c))"), {"c": xray_catalog}).scalar():
        return pd.DataFrame(columns=columns)
    radius = search_radius(float(np.nanmax(lit["pos_err_arcsec"]))
                           if lit["pos_err_arcsec"].notna().any() else math.nan,
                           float(max_x) if max_x is not None else math.nan, model)
    raw = crossmatch(conn, lit[["id", "ra", "dec"]], "xray_source", radius)
    if not len(raw):
        return pd.DataFrame(columns=columns)
    xr = _xray_rows(conn, np.unique(raw["right_id"].to_numpy()))
    xr = xr[xr["is_current"] & ((xray_catalog is None) | (xr["catalog"] == xray_catalog))]
    pairs = raw.merge(lit.add_prefix("lit_"), left_on="left_id", right_on="lit_id") \
        .merge(xr.add_prefix("x_"), left_on="right_id", right_on="x_id")
    pairs = pd.DataFrame({
        "literature_id": pairs["left_id"], "xray_source_id": pairs["right_id"],
        "literature_catalog": pairs["lit_catalog"], "literature_native_id": pairs["lit_native_id"],
        "xray_catalog": pairs["x_catalog"], "xray_native_id": pairs["x_native_id"],
        "separation_arcsec": pairs["separation_arcsec"],
        "lit_err": pairs["lit_pos_err_arcsec"], "xray_err": pairs["x_pos_err_arcsec"],
        "lit_ra": pairs["lit_ra"], "lit_dec": pairs["lit_dec"],
        "lit_class": pairs["lit_livecat_class"], "lit_subclass": pairs["lit_subclass"],
        "x_ra": pairs["x_ra"], "x_dec": pairs["x_dec"]})
    # the search radius can exceed what a pair needs: drop far pairs before the densities
    sigma = combined_sigma(pairs["lit_err"], pairs["xray_err"], model)
    pairs = pairs[pairs["separation_arcsec"] <= model.n_sigma * sigma].reset_index(drop=True)
    if not len(pairs):
        return pd.DataFrame(columns=columns)
    wanted = lit[lit["id"].isin(pairs["literature_id"])]
    scored = score_pairs(pairs, _densities(conn, wanted, model), model)
    scored["snapshot"] = [snapshot_dict(r) for r in scored.itertuples(index=False)]
    return scored[columns]


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _txt(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) \
        else str(value)


def snapshot_dict(row) -> dict:
    """Positions, errors and classes of a pair, as stored with candidates and events."""
    return {"literature": {"ra": _num(row.lit_ra), "dec": _num(row.lit_dec),
                           "pos_err_arcsec": _num(row.lit_err),
                           "livecat_class": _txt(row.lit_class),
                           "subclass": _txt(row.lit_subclass)},
            "xray": {"ra": _num(row.x_ra), "dec": _num(row.x_dec),
                     "pos_err_arcsec": _num(row.xray_err)}}


_STAGE_COLUMNS = ("literature_id bigint, xray_source_id bigint, literature_catalog text, "
                  "literature_native_id text, xray_catalog text, xray_native_id text, "
                  "separation_arcsec float8, sigma_arcsec float8, norm_sep float8, "
                  "likelihood_ratio float8, bg_density_arcmin2 float8, match_prob float8, "
                  "snapshot jsonb")
_NUMBERS = ("separation_arcsec", "sigma_arcsec", "norm_sep", "likelihood_ratio",
            "bg_density_arcmin2", "match_prob", "snapshot")
_UNDECIDED = ("NOT EXISTS (SELECT 1 FROM livecat.curation_event e "
              "WHERE e.candidate_id = c.id)")


def _stage(conn: Connection, pairs: pd.DataFrame) -> None:
    conn.execute(sa.text(f"CREATE TEMP TABLE cand_stg ({_STAGE_COLUMNS}) ON COMMIT DROP"))
    cur = conn.connection.dbapi_connection.cursor()
    names = [c.split()[0] for c in _STAGE_COLUMNS.split(", ")]
    with cur.copy(f"COPY cand_stg ({', '.join(names)}) FROM STDIN") as copy:
        for rec in pairs[names].itertuples(index=False):
            row = list(rec)
            row[-1] = json.dumps(row[-1])
            row[:2] = [int(row[0]), int(row[1])]
            copy.write_row(row)


def generate_candidates(engine: Engine, model: MatchModel | None = None,
                        literature_catalog: str | None = None,
                        xray_catalog: str | None = None,
                        invoked_by: str | None = None) -> CandidateResult:
    """Find and store counterpart candidates (new pairs added, decided pairs untouched).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    model : MatchModel, optional
    literature_catalog, xray_catalog : str, optional
        Restrict to one catalog on either side (default: all).
    invoked_by : str, optional
        Recorded on the ``candidate_run`` (default: the login name).

    Returns
    -------
    CandidateResult
        Pairs found, new, refreshed (undecided, numbers updated) and decided (kept as
        they were).
    """
    model = model or MatchModel()
    model.check()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('livecat:candidates'))"))
        run_id = conn.execute(sa.text(
            "INSERT INTO livecat.candidate_run (invoked_by, literature_catalog, xray_catalog, "
            "params) VALUES (:who, :lc, :xc, CAST(:p AS jsonb)) RETURNING id"),
            {"who": invoked_by or login_name(), "lc": literature_catalog, "xc": xray_catalog,
             "p": json.dumps({**asdict(model), "model": "rayleigh-lr/sutherland-saunders"})}
        ).scalar_one()
        pairs = find_pairs(conn, model, literature_catalog, xray_catalog)
        _stage(conn, pairs)
        n_new = conn.execute(sa.text(
            "INSERT INTO livecat.counterpart_candidate (literature_id, xray_source_id, "
            "literature_catalog, literature_native_id, xray_catalog, xray_native_id, "
            f"{', '.join(_NUMBERS)}, created_run_id) "
            "SELECT literature_id, xray_source_id, literature_catalog, literature_native_id, "
            f"xray_catalog, xray_native_id, {', '.join(_NUMBERS)}, :run FROM cand_stg "
            "ORDER BY literature_id, xray_source_id "
            "ON CONFLICT (literature_id, xray_source_id) DO NOTHING"), {"run": run_id}).rowcount
        sets = ", ".join(f"{c} = s.{c}" for c in _NUMBERS)
        n_refreshed = conn.execute(sa.text(
            f"UPDATE livecat.counterpart_candidate c SET {sets}, refreshed_run_id = :run "
            "FROM cand_stg s WHERE c.literature_id = s.literature_id "
            "AND c.xray_source_id = s.xray_source_id AND c.created_run_id <> :run "
            f"AND {_UNDECIDED}"), {"run": run_id}).rowcount
        update_ambiguity(conn)
        n_pairs = len(pairs)
        kept = n_pairs - n_new - n_refreshed
        conn.execute(sa.text(
            "UPDATE livecat.candidate_run SET n_pairs = :p, n_new = :n, n_refreshed = :r, "
            "n_decided_kept = :k WHERE id = :run"),
            {"p": n_pairs, "n": n_new, "r": n_refreshed, "k": kept, "run": run_id})
    return CandidateResult(run_id=run_id, n_pairs=n_pairs, n_new=n_new,
                           n_refreshed=n_refreshed, n_decided_kept=kept)


def update_ambiguity(conn: Connection) -> None:
    """Recount candidates per object and per X-ray source; undecided candidates only."""
    conn.execute(sa.text(f"""
        WITH n AS (
          SELECT id,
                 count(*) OVER (PARTITION BY literature_id, xray_catalog) AS nx,
                 count(*) OVER (PARTITION BY xray_source_id, literature_catalog) AS nl
            FROM livecat.counterpart_candidate)
        UPDATE livecat.counterpart_candidate c
           SET n_xray_candidates = n.nx, n_literature_candidates = n.nl,
               ambiguous_multi_xray = n.nx > 1, ambiguous_multi_literature = n.nl > 1
          FROM n WHERE n.id = c.id AND {_UNDECIDED}
           AND (c.n_xray_candidates, c.n_literature_candidates) IS DISTINCT FROM (n.nx, n.nl)
    """))


def list_candidates(engine: Engine, literature_catalog: str | None = None,
                    limit: int | None = None) -> pd.DataFrame:
    """Candidates with their current state, ordered by literature object and probability."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.id, c.literature_catalog, c.literature_native_id, c.xray_catalog, "
            "c.xray_native_id, c.separation_arcsec, c.sigma_arcsec, c.norm_sep, c.match_prob, "
            "c.ambiguous_multi_xray OR c.ambiguous_multi_literature AS ambiguous, "
            "s.status, s.flagged "
            "FROM livecat.counterpart_candidate c "
            "JOIN livecat.curation_state s ON s.candidate_id = c.id "
            "WHERE CAST(:c AS text) IS NULL OR c.literature_catalog = :c "
            "ORDER BY c.literature_id, c.match_prob DESC, c.id LIMIT :n"),
            {"c": literature_catalog, "n": limit}).all()
    return pd.DataFrame(rows, columns=["id", "literature_catalog", "literature_native_id",
                                       "xray_catalog", "xray_native_id", "separation_arcsec",
                                       "sigma_arcsec", "norm_sep", "match_prob", "ambiguous",
                                       "status", "flagged"])


def candidate_details(engine: Engine, candidate_id: int) -> dict:
    """Everything ``livecat curate show`` prints about a candidate.

    Returns
    -------
    dict
        ``literature`` (the object: name, class, reference, parameters), ``candidates``
        (every X-ray candidate of the object with separation, sigma, probability, state,
        significance, flags and broad fluxes), ``state`` (this candidate's), ``others``
        (decisions on other candidates that touch the same literature object or X-ray
        sources), ``mw`` (multiwavelength counterparts of the candidates' X-ray sources,
        None without an ``mw_counterpart`` table), ``survey_candidates`` (the survey
        sources around them in the newest association run, with ``p_i``, ``p_any``,
        ``best``: :func:`associate.views.candidates_of`).
    """
    with engine.connect() as conn:
        lit = conn.execute(sa.text(
            "SELECT l.id, l.catalog, l.native_id, l.name, l.ra, l.dec, l.pos_err_arcsec, "
            "l.livecat_class, l.subclass, l.native_type, l.reference, l.confidence, l.params, "
            "l.is_current FROM livecat.counterpart_candidate c JOIN livecat.literature_object "
            "l ON l.id = c.literature_id WHERE c.id = :c"), {"c": candidate_id}).mappings().first()
        if lit is None:
            raise InputError(f"unknown candidate {candidate_id}: see `livecat curate queue`")
        cands = pd.DataFrame([dict(r) for r in conn.execute(sa.text(
            "SELECT c.id, c.xray_catalog, c.xray_native_id, c.separation_arcsec, "
            "c.sigma_arcsec, c.norm_sep, c.match_prob, c.n_literature_candidates, s.status, "
            "s.flagged, s.flag_reason, s.seq, x.significance, x.pos_err_arcsec, x.flags, "
            "x.var_intra_prob, x.var_inter_prob, x.id AS xray_source_id, "
            "(SELECT string_agg(f.band || '=' || trim(to_char(f.value, '9.99EEEE')), ' ' "
            "        ORDER BY f.band) FROM livecat.xray_flux f WHERE f.source_id = x.id "
            "        AND f.kind = 'energy_flux') AS fluxes "
            "FROM livecat.counterpart_candidate c JOIN livecat.curation_state s "
            "ON s.candidate_id = c.id JOIN livecat.xray_source x ON x.id = c.xray_source_id "
            "WHERE c.literature_id = :l ORDER BY c.match_prob DESC, c.id"),
            {"l": lit["id"]}).mappings()])
        src_ids = [int(i) for i in cands["xray_source_id"]]
        others = pd.DataFrame([dict(r) for r in conn.execute(sa.text(
            "SELECT c.id AS candidate_id, c.literature_catalog, c.literature_native_id, "
            "c.xray_catalog, c.xray_native_id, s.status, s.last_curator, s.decided_at "
            "FROM livecat.counterpart_candidate c JOIN livecat.curation_state s "
            "ON s.candidate_id = c.id WHERE c.literature_id <> :l "
            "AND c.xray_source_id = ANY(:x) AND s.status <> 'pending' ORDER BY c.id"),
            {"l": lit["id"], "x": src_ids}).mappings()])
    with engine.connect() as conn:
        mw = mw_counterparts(conn, src_ids)
        survey = survey_candidates(conn, src_ids)
    state = cands[cands["id"] == candidate_id].iloc[0].to_dict()
    return {"literature": dict(lit), "candidates": cands, "state": state, "others": others,
            "mw": mw, "survey_candidates": survey}


def survey_candidates(conn: Connection, source_ids: list[int]) -> pd.DataFrame:
    """The association's survey candidates of these X-ray sources (newest run of each),
    with the X-ray source id in front."""
    from associate.views import candidates_of

    frames = [candidates_of(conn, sid).assign(xray_source_id=sid) for sid in source_ids]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["xray_source_id", "survey", "survey_id", "ra", "dec",
                                     "separation_arcsec", "p_i", "p_any", "best", "mag"])
    out = pd.concat(frames, ignore_index=True)
    return out[["xray_source_id", *[c for c in out.columns if c != "xray_source_id"]]]


MW_SOURCE_COLUMNS = ("xray_source_id", "source_id")
MW_SKIP_COLUMNS = {"id", "hpx", "created_at", "updated_at", "first_release_id",
                   "last_release_id", "run_id"}


def mw_counterparts(conn: Connection, source_ids: list[int]) -> pd.DataFrame | None:
    """Rows of ``mw_counterpart`` for these X-ray sources, or None without that table.

    The table comes with the multiwavelength import (issue 4); it is read when it has a
    source column (``xray_source_id`` or ``source_id``), as ``classify.labels`` does. The
    rows are ordered by source, ``survey`` (when present) and the remaining columns, so
    the result is deterministic.
    """
    cols = conn.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'livecat' "
        "AND table_name = 'mw_counterpart' ORDER BY ordinal_position")).scalars().all()
    src = next((c for c in MW_SOURCE_COLUMNS if c in cols), None)
    if src is None:
        return None
    keep = [c for c in cols if c not in MW_SKIP_COLUMNS]
    order = ", ".join(f'"{c}"' for c in [src] + (["survey"] if "survey" in keep else [])
                      + [c for c in keep if c not in (src, "survey")])
    rows = conn.execute(sa.text(
        f"SELECT {', '.join(chr(34) + c + chr(34) for c in keep)} FROM livecat.mw_counterpart "
        f'WHERE "{src}" = ANY(:ids) ORDER BY {order}'),
        {"ids": [int(i) for i in source_ids]}).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=keep)
    return frame.rename(columns={src: "xray_source_id"})
