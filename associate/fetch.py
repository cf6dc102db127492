"""``livecat counterparts fetch``: survey sources around X-ray sources, never the whole sky.

For one survey (:data:`catalog.surveys.SURVEYS`) and the X-ray sources in scope (catalogs,
region), the survey's ingest (:mod:`ingest.registry`, kind ``survey``) fetches the survey
sources within ``radius`` of each X-ray source - through CDS XMatch in HEALPix-ordered,
cached, resumable chunks, or from a table already fetched (``--file``) - and loads them
into ``mw_source``. Then the coverage is recorded: which X-ray sources were searched, in
which survey release, within which radius (``mw_coverage``). "No counterpart" is only ever
said of a searched source.

A remote fetch also searches around shifted copies of a sample of the X-ray sources
(``calibration_sources`` per catalog, moved 3' north, none within 30" of a real source),
recorded as ``calibration`` coverage: the association calibrates its p_any cut-off on them
(NWAY's fake-catalogue method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sqlalchemy.engine import Engine

from associate import store
from associate.calibrate import shifted_primary
from associate.candidates import unit_vectors
from catalog.coords import Region
from catalog.errors import InputError
from ingest.pipeline import run as run_ingest
from ingest.registry import get_spec
from ingest.spec import IngestArgs

#: Default radius searched around each X-ray source: the association looks within 5
#: combined sigma (at most 30"), and the density is measured over the searched area.
DEFAULT_RADIUS_ARCSEC = 20.0
#: Shifted X-ray positions searched per X-ray catalog for the p_any calibration.
DEFAULT_CALIBRATION_SOURCES = 500
CALIBRATION_SHIFT_ARCSEC = 180.0
CALIBRATION_EXCLUDE_ARCSEC = 30.0


@dataclass
class FetchSummary:
    """What one fetch did."""

    survey: str
    load: object                  # ingest LoadResult (status skipped when held)
    n_searched: int = 0
    n_calibration: int = 0
    radius_arcsec: float = DEFAULT_RADIUS_ARCSEC


def calibration_positions(sources: pd.DataFrame, per_catalog: int,
                          seed: int = 0) -> pd.DataFrame:
    """Shifted positions of a random sample (fixed seed) of each catalog's sources."""
    if per_catalog <= 0 or not len(sources):
        return sources.iloc[:0][["id", "ra", "dec"]]
    rng = np.random.default_rng(seed)
    picks = []
    for _, group in sources.groupby("catalog", sort=True):
        n = min(per_catalog, len(group))
        picks.append(group.iloc[np.sort(rng.choice(len(group), n, replace=False))])
    sample = pd.concat(picks, ignore_index=True)
    moved = shifted_primary(sample[["id", "ra", "dec"]], CALIBRATION_SHIFT_ARCSEC, 0.0,
                            CALIBRATION_EXCLUDE_ARCSEC)
    # a shifted position must not come near any real X-ray source either
    tree = cKDTree(unit_vectors(sources["ra"].to_numpy(float), sources["dec"].to_numpy(float)))
    dist, _ = tree.query(unit_vectors(moved["ra"].to_numpy(float),
                                      moved["dec"].to_numpy(float)), k=1)
    chord = 2 * np.sin(np.radians(CALIBRATION_EXCLUDE_ARCSEC / 3600.0) / 2)
    return moved.loc[dist >= chord].reset_index(drop=True)


def fetch_counterparts(engine: Engine, survey: str, *, catalogs=None,
                       region: Region | None = None,
                       radius_arcsec: float = DEFAULT_RADIUS_ARCSEC, file=None, mirror=None,
                       release: str | None = None, url: str | None = None,
                       calibration_sources: int = DEFAULT_CALIBRATION_SOURCES,
                       force: bool = False, wait: bool = False,
                       options: dict | None = None, reporter=None) -> FetchSummary:
    """Fetch ``survey``'s sources around the X-ray sources in scope and record coverage.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    survey : str
        A key of :data:`catalog.surveys.SURVEYS`.
    catalogs : list of str, optional
        X-ray catalogs (default: every one held, but those whose counterparts come with
        them).
    region : catalog.coords.Region, optional
    radius_arcsec : float
        Radius searched around each X-ray source (with ``file``: the radius the table
        was made with).
    file, mirror : path, optional
        A table already fetched (its survey sources are loaded and every X-ray source in
        scope is recorded as searched within ``radius_arcsec``), or a directory of
        XMatch answers laid out like the cache.
    calibration_sources : int
        Shifted positions per X-ray catalog to search for the p_any calibration (remote
        and mirror fetches only).
    options : dict, optional
        Passed to the survey's fetch stage (``chunk_rows``, ``cache_dir``).

    Returns
    -------
    FetchSummary
    """
    spec = get_spec(survey)
    if spec.kind != "survey":
        raise InputError(f"{survey!r} is not a survey: expected one of "
                         f"{', '.join(_survey_names())}")
    if not 0 < radius_arcsec <= 120:
        raise InputError(f"--radius {radius_arcsec:g} arcsec: expected a radius in (0, 120]")
    cats = store.xray_catalogs(engine, catalogs)
    sources = store.xray_sources(engine, cats, region)
    if not len(sources):
        where = f" inside {region.describe()}" if region else ""
        raise InputError(f"no current X-ray source of {', '.join(cats) or 'any catalog'}"
                         f"{where}: nothing to search around")
    calib = calibration_positions(sources, calibration_sources if file is None else 0)
    positions = pd.concat([
        pd.DataFrame({"id": sources["id"].astype(str), "ra": sources["ra"],
                      "dec": sources["dec"]}),
        pd.DataFrame({"id": "c" + calib["id"].astype(str), "ra": calib["ra"],
                      "dec": calib["dec"]})], ignore_index=True)
    # a survey's rows are one release whatever file or answer they came in
    args = IngestArgs(file=file, mirror=mirror, release=release or spec.default_release,
                      url=url, force=force,
                      wait=wait, options={**(options or {}), "positions": positions,
                                          "radius_arcsec": float(radius_arcsec)})
    load = run_ingest(engine, spec, args, reporter)
    if load.release_id is None:
        raise InputError(f"{survey}: the fetch loaded no release; nothing recorded")
    searched = pd.DataFrame({"xray_source_id": sources["id"], "ra": sources["ra"],
                             "dec": sources["dec"]})
    n = store.record_coverage(engine, survey, searched, radius_arcsec, load.release_id,
                              load.run_id)
    shifted = pd.DataFrame({"xray_source_id": calib["id"], "ra": calib["ra"],
                            "dec": calib["dec"]})
    n_cal = store.record_coverage(engine, survey, shifted, radius_arcsec, load.release_id,
                                  load.run_id, kind="calibration")
    return FetchSummary(survey=survey, load=load, n_searched=n, n_calibration=n_cal,
                        radius_arcsec=float(radius_arcsec))


def _survey_names() -> list[str]:
    from ingest.registry import REGISTRY

    return [name for name, spec in REGISTRY.items() if spec.kind == "survey"]
