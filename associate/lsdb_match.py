"""``livecat counterparts match --engine lsdb``: the association with the surveys in HATS.

The same association as the in-database path (:func:`associate.match.match_counterparts`:
same X-ray table, coverage groups, densities, Bayes factors, calibration and writes); only
the gathering of the candidates differs. For each survey HATS catalog
(:func:`associate.lsdb_gather.open_survey`):

1. the X-ray sources in scope that lie in the catalog's sky (its MOC; for an export of
   livecat's own survey rows, which hold the survey only around the X-ray sources
   searched when it was made, the run says so) are searched, with
   shifted copies of a sample of them for the p_any calibration (as a remote
   ``counterparts fetch`` does, :func:`associate.fetch.calibration_positions`): LSDB
   cross-matches them with the survey on Dask (:func:`associate.lsdb_gather.gather`:
   every survey source within ``radius_arcsec``), a local cluster by default or the
   scheduler given;
2. the survey sources found - only those, never the survey - that ``mw_source`` does not
   hold yet are loaded into it by the shared loader (release: the export's, else
   ``hats:<name>``; footprint: nothing, so no held source is retired), which gives them
   the ids ``mw_association`` points at; the searched positions are recorded in ``mw_coverage``
   (kinds ``source`` and ``calibration``) within ``radius_arcsec``;
3. the association runs with the candidates taken from the rows gathered
   (:func:`associate.lsdb_gather.near_from`) instead of from the database, and is written
   exactly as the in-database path writes it; the run's params record
   ``engine = {"name": "lsdb", "survey_hats": ..., "radius_arcsec": ..., "dask": ...}``.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from associate import store
from associate.fetch import DEFAULT_CALIBRATION_SOURCES, DEFAULT_RADIUS_ARCSEC, \
    calibration_positions
from associate.lsdb_gather import HatsSurvey, gather, inside_coverage, near_from, open_survey
from associate.match import DEFAULT_COMPLETENESS, DEFAULT_FALSE_RATE, MatchSummary, \
    match_counterparts
from catalog.coords import Region
from catalog.errors import InputError
from catalog.hats import require_scale
from ingest.footprint import Footprint
from ingest.load import load_catalog
from ingest.normalized import SURVEY_SOURCE_COLUMNS, NormalizedCatalog
from ingest.runs import open_release

#: Dask workers of the local cluster started when no scheduler is given.
DEFAULT_WORKERS = 2


@contextmanager
def dask_client(client=None, scheduler: str | None = None, workers: int = DEFAULT_WORKERS,
                processes: bool = True):
    """The client given, a client of the scheduler at ``scheduler``, or a local cluster of
    ``workers`` single-threaded workers (processes, unless ``processes`` is False)."""
    if client is not None:
        yield client
        return
    from dask.distributed import Client

    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    with Client(n_workers=workers, threads_per_worker=1, processes=processes,
                dashboard_address=None) as c:
        yield c


def describe_client(client) -> str:
    """The scheduler address and worker count, for the run's params."""
    info = client.scheduler_info()
    return f"{info.get('address', '?')} ({len(info.get('workers', {}))} workers)"


def _normalized(found: pd.DataFrame) -> NormalizedCatalog:
    """The rows gathered as the survey-source contract of :mod:`ingest.normalized`."""
    sources = pd.DataFrame(index=found.index)
    for col in SURVEY_SOURCE_COLUMNS:
        if col == "extra":
            sources[col] = [json.loads(v) if isinstance(v, str) and v else {}
                            for v in found.get(col, [None] * len(found))]
        elif col in found:
            sources[col] = found[col]
        else:
            sources[col] = None if col in ("native_id", "name") else np.nan
    return NormalizedCatalog(kind="survey", sources=sources.reset_index(drop=True),
                             n_read=len(sources))


def _held_ids(engine: Engine, survey: str, native_ids) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT native_id, id FROM livecat.mw_source WHERE catalog = :s "
            "AND native_id IN (SELECT unnest(CAST(:n AS text[])))"),
            {"s": survey, "n": list(native_ids)}).all())


def _load(engine: Engine, survey: HatsSurvey, found: pd.DataFrame) -> tuple[int, np.ndarray]:
    """Load the rows found that ``mw_source`` does not hold yet; their release id and the
    livecat ids of all of them. Rows held are kept as they were fetched (the loader's row
    hash reads JSON in its key order, which ``jsonb`` does not keep, so an exported row
    would look changed)."""
    held = _held_ids(engine, survey.survey, found["native_id"])
    new = found.loc[~found["native_id"].isin(list(held))]
    if not len(new):
        with engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()
            rid = open_release(cur, survey.survey, survey.release, origin=survey.path,
                               checksum=None, remote_meta={"hats": survey.path},
                               footprint=Footprint.nothing())
    else:
        rid = load_catalog(engine, survey.survey, _normalized(new), version=survey.release,
                           origin=survey.path, remote_meta={"hats": survey.path},
                           footprint=Footprint.nothing(),
                           command=f"counterparts match --engine lsdb ({survey.path})"
                           ).release_id
        held = _held_ids(engine, survey.survey, found["native_id"])
    return rid, found["native_id"].map(held).to_numpy(np.int64)


def _search(engine, survey: HatsSurvey, xs: pd.DataFrame, calib: pd.DataFrame,
            radius_arcsec: float, client, log):
    """Gather, load and record one survey (steps 1-2 of the module docstring)."""
    inside = inside_coverage(survey, xs["ra"], xs["dec"])
    searched = xs.loc[inside]
    shifted = calib.loc[inside_coverage(survey, calib["ra"], calib["dec"])] \
        if len(calib) else calib
    positions = pd.concat([searched[["ra", "dec"]], shifted[["ra", "dec"]]],
                          ignore_index=True)
    started = time.perf_counter()
    found = gather(positions, survey, radius_arcsec, client) if len(positions) \
        else pd.DataFrame(columns=["native_id", "ra", "dec"])
    dask_seconds = time.perf_counter() - started
    release_id, ids = _load(engine, survey, found)
    found = found.assign(id=ids, catalog=survey.survey)
    for kind, rows in (("source", searched), ("calibration", shifted)):
        store.record_coverage(engine, survey.survey, pd.DataFrame({
            "xray_source_id": rows["id"], "ra": rows["ra"], "dec": rows["dec"]}),
            radius_arcsec, release_id, None, kind=kind)
    if "completeness" in survey.provenance:  # a livecat export: a survey's excerpt
        log(f"{survey.survey}: {survey.path} holds the survey "
            f"{survey.provenance['completeness']}; X-ray sources searched since it was "
            "written may lack their counterparts")
    log(f"{survey.survey}: {len(searched)} X-ray sources in {survey.path} searched within "
        f"{radius_arcsec:g} arcsec ({len(xs) - len(searched)} outside it), "
        f"{len(shifted)} shifted positions; {len(found)} survey sources found in "
        f"{dask_seconds:.1f} s on Dask")
    return near_from(found), dask_seconds


def match_with_lsdb(engine: Engine, survey_hats, *, catalogs=None,
                    region: Region | None = None,
                    radius_arcsec: float = DEFAULT_RADIUS_ARCSEC,
                    calibration_sources: int = DEFAULT_CALIBRATION_SOURCES,
                    completeness: float = DEFAULT_COMPLETENESS,
                    false_rate: float = DEFAULT_FALSE_RATE, n_sigma: float = 5.0,
                    scheduler: str | None = None, workers: int = DEFAULT_WORKERS,
                    processes: bool = True, client=None, reporter=None) -> MatchSummary:
    """Associate the X-ray sources in scope with survey HATS catalogs (module docstring).

    Parameters
    ----------
    survey_hats : sequence of str
        ``[SURVEY=]PATH_OR_URL`` of each survey's HATS catalog.
    radius_arcsec : float
        Radius searched around each X-ray source (at most the catalogs' margin caches).
    calibration_sources : int
        Shifted positions per X-ray catalog searched for the p_any calibration (0: none).
    scheduler : str, optional
        Address of a running Dask scheduler; default: a local cluster of ``workers``
        (processes, or threads of this process when ``processes`` is False).
    client : dask.distributed.Client, optional
        Use this client (overrides ``scheduler`` and ``workers``).
    catalogs, region, completeness, false_rate, n_sigma, reporter
        As :func:`associate.match.match_counterparts`.

    Returns
    -------
    associate.match.MatchSummary
    """
    log = reporter.log if reporter else (lambda message: None)
    if not survey_hats:
        raise InputError("--engine lsdb needs --survey-hats [SURVEY=]PATH for each survey")
    if not 0 < radius_arcsec <= 120:
        raise InputError(f"--radius {radius_arcsec:g} arcsec: expected a radius in (0, 120]")
    require_scale()
    surveys = [open_survey(s) for s in survey_hats]
    keys = [s.survey for s in surveys]
    if len(set(keys)) != len(keys):
        raise InputError(f"one HATS catalog per survey, got {', '.join(keys)}")
    cats = store.xray_catalogs(engine, catalogs)
    xs = store.xray_sources(engine, cats, region)
    if not len(xs):
        raise InputError("no current X-ray source in scope: nothing to associate")
    calib = calibration_positions(xs, calibration_sources)
    with dask_client(client, scheduler, workers, processes) as c:
        searches = {s.survey: _search(engine, s, xs, calib, radius_arcsec, c, log)
                    for s in surveys}
        dask = describe_client(c)
    nears = {key: near for key, (near, _) in searches.items()}
    params = {"name": "lsdb", "survey_hats": {s.survey: s.path for s in surveys},
              "releases": {s.survey: s.release for s in surveys},
              "radius_arcsec": float(radius_arcsec), "dask": dask}
    summary = match_counterparts(engine, catalogs=cats, region=region, surveys=keys,
                                 completeness=completeness, false_rate=false_rate,
                                 n_sigma=n_sigma, engine_params=params, reporter=reporter,
                                 near=lambda s, centres, r: nears[s](s, centres, r))
    summary.dask_seconds = sum(seconds for _, seconds in searches.values())
    return summary
