"""What the association reads from and writes to the database.

Reads: the X-ray sources in scope (:func:`xray_sources`), the survey sources around them
(:func:`survey_sources_near`), what was searched (:func:`coverage`). Writes: coverage
rows after a fetch (:func:`record_coverage`), and one association run with its candidate
rows and the best counterparts copied to ``mw_counterpart`` (:func:`write_run`), in one
transaction.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.coords import Region
from catalog.errors import InputError
from catalog.settings import login_name
from catalog.sky import cone_search, crossmatch

#: X-ray catalogs whose counterparts come with them and are never associated here.
GIVEN_COUNTERPARTS = ("muwclass-csc",)
XRAY_COLUMNS = ("id", "catalog", "native_id", "name", "ra", "dec", "pos_err_arcsec",
                "err_maj_arcsec", "err_min_arcsec", "err_pa_deg", "extra")
SURVEY_COLUMNS = ("id", "catalog", "native_id", "ra", "dec", "err_maj_arcsec",
                  "err_min_arcsec", "err_pa_deg", "epoch", "pmra", "pmdec")


def xray_catalogs(conn: Connection | Engine, catalogs=None) -> list[str]:
    """The X-ray catalogs to work on: those given (checked), else every catalog held
    whose counterparts are not given with it (their sources are copies of another
    catalog's, so they are neither associated nor grouped into objects)."""
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return xray_catalogs(c, catalogs)
    # the distinct catalogs by a walk of the (catalog, native_id) index, one probe per
    # catalog (SELECT DISTINCT reads the whole table: 0.7 s for 2.2 million sources)
    held = conn.execute(sa.text("""
        WITH RECURSIVE c(catalog) AS (
            SELECT min(catalog) FROM livecat.xray_source
            UNION ALL
            SELECT (SELECT min(x.catalog) FROM livecat.xray_source x WHERE x.catalog > c.catalog)
              FROM c WHERE c.catalog IS NOT NULL)
        SELECT catalog FROM c WHERE catalog IS NOT NULL ORDER BY 1""")).scalars().all()
    if catalogs:
        unknown = [c for c in catalogs if c not in held]
        if unknown:
            raise InputError(f"no X-ray catalog {', '.join(map(repr, unknown))} is held: "
                             f"expected one of {', '.join(held) or '(none: ingest one)'}")
        return list(catalogs)
    return [c for c in held if c not in GIVEN_COUNTERPARTS]


def xray_sources(engine: Engine, catalogs: list[str], region: Region | None = None,
                 ids=None) -> pd.DataFrame:
    """Current X-ray sources of ``catalogs`` (inside ``region``, or with these ids)."""
    where = ["is_current", "catalog = ANY(:cats)"]
    params: dict = {"cats": list(catalogs)}
    if region is not None:
        inside = cone_search(engine, "xray_source", region.ra, region.dec,
                             region.radius_arcsec)
        params["ids"] = inside["id"].astype(int).tolist()
        where.append("id = ANY(:ids)")
    if ids is not None:
        params["only"] = [int(i) for i in ids]
        where.append("id = ANY(:only)")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {', '.join(XRAY_COLUMNS)} FROM livecat.xray_source "
            f"WHERE {' AND '.join(where)} ORDER BY id"), params).all()
    return pd.DataFrame(rows, columns=list(XRAY_COLUMNS))


def coverage(engine: Engine, survey: str, source_ids, kind: str = "source") -> pd.DataFrame:
    """Coverage rows (``xray_source_id``, ``ra``, ``dec``, ``radius_arcsec``,
    ``release_id``) of these X-ray sources in ``survey``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            # a join with the unnested ids, not ``= ANY(:ids)``: on a freshly written,
            # not yet analysed mw_coverage the planner filters 100,000 rows by a
            # 100,000-element array, one linear search each (30 s in bench_scale.py)
            "SELECT c.xray_source_id, c.ra, c.dec, c.radius_arcsec, c.release_id "
            "FROM livecat.mw_coverage c JOIN unnest(CAST(:ids AS bigint[])) AS u(id) "
            "ON u.id = c.xray_source_id WHERE c.survey = :s AND c.kind = :k "
            "ORDER BY c.xray_source_id"),
            {"s": survey, "k": kind, "ids": [int(i) for i in source_ids]}).all()
    return pd.DataFrame(rows, columns=["xray_source_id", "ra", "dec", "radius_arcsec",
                                       "release_id"])


def record_coverage(engine: Engine, survey: str, searched: pd.DataFrame, radius_arcsec: float,
                    release_id: int, run_id: int | None, kind: str = "source") -> int:
    """Record that these X-ray sources (``xray_source_id``, ``ra``, ``dec`` of the centre
    searched) were searched in ``survey``'s release within ``radius_arcsec``. A later
    search replaces an earlier one. Returns the rows written."""
    if not len(searched):
        return 0
    with engine.begin() as conn:
        res = conn.execute(sa.text(
            "INSERT INTO livecat.mw_coverage (xray_source_id, survey, kind, ra, dec, "
            "radius_arcsec, release_id, run_id) SELECT u.id, :s, :k, u.ra, u.dec, :r, :rel, "
            ":run FROM unnest(CAST(:ids AS bigint[]), CAST(:ra AS float8[]), "
            "CAST(:dec AS float8[])) AS u(id, ra, dec) "
            "ON CONFLICT (xray_source_id, survey, kind) DO UPDATE SET ra = EXCLUDED.ra, "
            "dec = EXCLUDED.dec, radius_arcsec = EXCLUDED.radius_arcsec, release_id = "
            "EXCLUDED.release_id, run_id = EXCLUDED.run_id, searched_at = now()"),
            {"s": survey, "k": kind, "r": float(radius_arcsec), "rel": int(release_id),
             "run": run_id, "ids": searched["xray_source_id"].astype(int).tolist(),
             "ra": searched["ra"].astype(float).tolist(),
             "dec": searched["dec"].astype(float).tolist()})
        return res.rowcount


def survey_sources_near(engine: Engine, survey: str, centres: pd.DataFrame,
                        radius_arcsec: float) -> pd.DataFrame:
    """Current sources of ``survey`` within ``radius_arcsec`` of any centre (``ra``,
    ``dec``), each once, with the columns the association needs."""
    if not len(centres):
        return pd.DataFrame(columns=list(SURVEY_COLUMNS))
    pairs = crossmatch(engine, centres[["ra", "dec"]].reset_index(drop=True), "mw_source",
                       radius_arcsec)
    ids = sorted(set(pairs["right_id"].astype(int).tolist()))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {', '.join(SURVEY_COLUMNS)} FROM livecat.mw_source WHERE id = ANY(:ids) "
            "AND catalog = :s AND is_current ORDER BY id"), {"ids": ids, "s": survey}).all()
    return pd.DataFrame(rows, columns=list(SURVEY_COLUMNS))


def write_run(engine: Engine, run: dict, pairs: pd.DataFrame, scope_ids) -> int:
    """Write one association run, its candidate rows and the best counterparts.

    Parameters
    ----------
    run : dict
        Columns of ``mw_association_run`` (``xray_catalogs``, ``surveys``, ``region``,
        ``params``, ``p_any_cutoff``, counts, ``code_version``, ``seconds``).
    pairs : pandas.DataFrame
        ``xray_source_id``, ``survey``, ``mw_source_id``, ``separation_arcsec``,
        ``sep_sigma``, ``p_any``, ``p_i``, ``p_match``, ``best``; the best ones are copied
        to ``mw_counterpart`` (:func:`_copy_best`).
    scope_ids : iterable of int
        The X-ray sources this run speaks for: their previous ``nway`` counterparts go.

    Returns
    -------
    int
        The run id.
    """
    with engine.begin() as conn:
        run_id = conn.execute(sa.text(
            "INSERT INTO livecat.mw_association_run (invoked_by, command, xray_catalogs, "
            "surveys, region, params, p_any_cutoff, n_sources, n_pairs, n_best, "
            "code_version, seconds) VALUES (:who, :cmd, :cats, :surveys, "
            "CAST(:region AS jsonb), CAST(:params AS jsonb), CAST(:cut AS jsonb), :ns, :np, "
            ":nb, :code, :secs) RETURNING id"),
            {"who": login_name(), "cmd": " ".join(sys.argv), "cats": run["xray_catalogs"],
             "surveys": run["surveys"], "region": json.dumps(run.get("region")),
             "params": json.dumps(run["params"]), "cut": json.dumps(run["p_any_cutoff"]),
             "ns": run["n_sources"], "np": len(pairs), "nb": int(pairs["best"].sum()),
             "code": run.get("code_version"), "secs": run.get("seconds")}).scalar_one()
        cur = conn.connection.dbapi_connection.cursor()
        cols = ["xray_source_id", "survey", "mw_source_id", "separation_arcsec", "sep_sigma",
                "p_any", "p_i", "p_match", "best"]
        with cur.copy(f"COPY livecat.mw_association (run_id, {', '.join(cols)}) "
                      "FROM STDIN") as copy:
            for row in pairs[cols].itertuples(index=False, name=None):
                copy.write_row((run_id, *[_plain(v) for v in row]))
        _copy_best(cur, run_id, [int(i) for i in scope_ids])
    return run_id


def _plain(value):
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


#: mw_counterpart columns copied from the survey source.
_MW_COLUMNS = ("gmag", "e_gmag", "bpmag", "e_bpmag", "rpmag", "e_rpmag", "jmag", "e_jmag",
               "hmag", "e_hmag", "kmag", "e_kmag", "w1mag", "e_w1mag", "w2mag", "e_w2mag",
               "w3mag", "e_w3mag", "w4mag", "e_w4mag", "plx", "e_plx")


def _copy_best(cur, run_id: int, scope_ids: list[int]) -> None:
    """Replace the ``nway`` counterparts of the sources in scope by this run's best ones.

    A Gaia counterpart takes its Bailer-Jones distance (``gaia_dr3_dist`` row of the same
    source id) and its total proper motion; counterparts given with a catalog (the
    MUWCLASS training set, ``matched_by = 'muwclass-td'``) are never touched.
    """
    cur.execute("DELETE FROM livecat.mw_counterpart WHERE matched_by = 'nway' "
                "AND xray_source_id IN (SELECT unnest(%s::bigint[]))", (scope_ids,))
    cols = ", ".join(_MW_COLUMNS)
    src = ", ".join(f"s.{c}" for c in _MW_COLUMNS)
    cur.execute(
        f"INSERT INTO livecat.mw_counterpart (xray_source_id, survey, survey_id, ra, dec, "
        f"hpx, separation_arcsec, {cols}, pm, e_pm, rgeo, rgeo_lo, rgeo_hi, match_prob, "
        "is_best, matched_by, extra, association_run_id, mw_source_id) "
        f"SELECT a.xray_source_id, a.survey, s.native_id, s.ra, s.dec, s.hpx, "
        f"a.separation_arcsec, {src}, sqrt(s.pmra ^ 2 + s.pmdec ^ 2), "
        "CASE WHEN s.pmra IS NULL THEN NULL ELSE sqrt((s.pmra * s.e_pmra) ^ 2 + "
        "(s.pmdec * s.e_pmdec) ^ 2) / nullif(sqrt(s.pmra ^ 2 + s.pmdec ^ 2), 0) END, "
        "d.rgeo, d.rgeo_lo, d.rgeo_hi, a.p_match, true, 'nway', "
        "jsonb_build_object('p_any', a.p_any, 'p_i', a.p_i), a.run_id, s.id "
        "FROM livecat.mw_association a JOIN livecat.mw_source s ON s.id = a.mw_source_id "
        "LEFT JOIN livecat.mw_source d ON a.survey = 'gaia_dr3' AND d.catalog = "
        "'gaia_dr3_dist' AND d.native_id = s.native_id AND d.is_current "
        "WHERE a.run_id = %s AND a.best AND NOT EXISTS (SELECT 1 FROM livecat.mw_counterpart m "
        "WHERE m.xray_source_id = a.xray_source_id AND m.survey = a.survey AND m.is_best) "
        "ORDER BY a.xray_source_id, a.survey", (run_id,))
