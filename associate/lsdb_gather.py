"""Survey sources around X-ray positions, gathered by LSDB from a HATS catalog on Dask.

The X-ray positions become an in-memory HATS catalog (``lsdb.from_dataframe``); LSDB
aligns its HEALPix partitions with the survey's, with the survey's margin cache, and runs
:class:`WithinRadius` on every pair of partitions as a Dask task: a k-d tree ball query
(scipy ``cKDTree.query_ball_point`` on unit vectors, as :mod:`associate.candidates`)
that keeps *every* survey source within the radius, not the n nearest. Only the survey
rows found come back to the client. The class holds only the radius, so it pickles to
the workers of any Dask cluster.

A survey HATS catalog must hold the survey-source columns of :mod:`ingest.normalized`
(``native_id``, ``ra``, ``dec``, the 1-sigma ellipse ``err_maj_arcsec``,
``err_min_arcsec``, ``err_pa_deg``, ``epoch``, ``pmra``, ``pmdec``; the others are
optional), as ``livecat export hats SURVEY`` writes them.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.spatial import cKDTree

from associate.candidates import ARCSEC_PER_RAD, unit_vectors
from catalog.errors import InputError
from catalog.hats import quiet, read_provenance
from catalog.surveys import SURVEYS
from ingest.normalized import SURVEY_SOURCE_COLUMNS

#: Columns a survey HATS catalog must have for the association.
REQUIRED_COLUMNS = ("native_id", "ra", "dec", "err_maj_arcsec", "err_min_arcsec",
                    "err_pa_deg", "epoch", "pmra", "pmdec")
#: Column naming the X-ray position a survey row was found around.
POSITION_KEY = "_livecat_position"

try:
    from lsdb.core.crossmatch.abstract_crossmatch_algorithm import \
        AbstractCrossmatchAlgorithm
except ImportError:  # the scale extra is not installed: the engine says so when asked
    AbstractCrossmatchAlgorithm = object


class WithinRadius(AbstractCrossmatchAlgorithm):
    """LSDB cross-match algorithm: every right row within ``radius_arcsec`` of a left row.

    Parameters
    ----------
    radius_arcsec : float
    """

    extra_columns = pd.DataFrame({"_dist_arcsec": pd.Series(dtype=pd.ArrowDtype(pa.float64()))})

    def __init__(self, radius_arcsec: float):
        super().__init__()
        self.radius_arcsec = float(radius_arcsec)

    def validate(self, left, right) -> None:
        """Refuse a radius the survey's margin cache cannot serve."""
        super().validate(left, right)
        margin = right.margin
        if margin is None:
            raise InputError("the survey HATS catalog has no margin cache: sources near its "
                             "pixels' edges would be missed (livecat export hats writes one)")
        threshold = margin.hc_structure.catalog_info.margin_threshold
        if threshold < self.radius_arcsec:
            raise InputError(f"search radius {self.radius_arcsec:g} arcsec is larger than the "
                             f"survey's margin cache ({threshold:g} arcsec)")

    def perform_crossmatch(self, crossmatch_args):
        """(left rows, right rows, separations in arcsec) of every pair within the radius."""
        left, right = crossmatch_args.left_df, crossmatch_args.right_df
        lcol = crossmatch_args.left_catalog_info
        rcol = crossmatch_args.right_catalog_info
        xyz_l = unit_vectors(left[lcol.ra_column].to_numpy(float),
                             left[lcol.dec_column].to_numpy(float))
        xyz_r = unit_vectors(right[rcol.ra_column].to_numpy(float),
                             right[rcol.dec_column].to_numpy(float))
        chord = 2.0 * np.sin(self.radius_arcsec / ARCSEC_PER_RAD / 2.0)
        hits = cKDTree(xyz_r).query_ball_point(xyz_l, chord, return_sorted=True)
        n = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
        li = np.repeat(np.arange(len(hits), dtype=np.int64), n)
        ri = np.concatenate(hits).astype(np.int64) if n.sum() else np.zeros(0, np.int64)
        d = np.linalg.norm(xyz_l[li] - xyz_r[ri], axis=1)
        sep = 2.0 * np.arcsin(np.minimum(d / 2.0, 1.0)) * ARCSEC_PER_RAD
        return li, ri, pd.DataFrame({"_dist_arcsec": pd.Series(sep, dtype=pd.ArrowDtype(
            pa.float64()))})


@dataclass(frozen=True)
class HatsSurvey:
    """A survey HATS catalog to associate with: its survey key, location and release."""

    survey: str
    path: str
    release: str
    provenance: dict


def open_survey(spec: str) -> HatsSurvey:
    """Parse ``[SURVEY=]PATH_OR_URL`` and check the catalog.

    The survey key is the prefix, else the ``livecat_what`` property of a livecat export;
    the release is the export's (``livecat_releases``), else ``hats:<catalog name>``.

    Raises
    ------
    catalog.errors.InputError
        Unreadable catalog, unknown survey, or a required column missing.
    """
    import lsdb

    key, sep, path = spec.partition("=")
    if not sep or "/" in key or ":" in key:
        key, path = "", spec
    try:
        with quiet():
            provenance = read_provenance(path)
            catalog = lsdb.read_hats(path)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"cannot read a HATS catalog at {path!r}: {exc}") from None
    what = provenance.get("what", "")
    exported = what.removeprefix("survey:") if what.startswith("survey:") else ""
    key = key or exported
    if not key or key not in SURVEYS or not SURVEYS[key].associate:
        choices = ", ".join(k for k, s in SURVEYS.items() if s.associate)
        raise InputError(f"{spec!r}: name the survey of this HATS catalog as SURVEY=PATH, "
                         f"SURVEY one of {choices}")
    missing = [c for c in REQUIRED_COLUMNS if c not in catalog.all_columns]
    if missing:
        raise InputError(f"HATS catalog {path!r} lacks column(s) {', '.join(missing)}: a "
                         "survey catalog needs livecat's survey-source columns (as "
                         "`livecat export hats SURVEY` writes them)")
    releases = provenance.get("releases", "").split()
    release = releases[0] if len(releases) == 1 and exported == key \
        else f"hats:{catalog.hc_structure.catalog_info.catalog_name}"
    return HatsSurvey(survey=key, path=str(path), release=release, provenance=provenance)


def inside_coverage(survey: HatsSurvey, ra, dec) -> np.ndarray:
    """Which positions lie in the sky the catalog covers (its MOC; every position when
    it has none)."""
    import astropy.units as u
    import lsdb

    with quiet():
        moc = lsdb.read_hats(survey.path).hc_structure.moc
    if moc is None:
        return np.ones(len(ra), bool)
    return np.asarray(moc.contains_lonlat(np.asarray(ra, float) * u.deg,
                                          np.asarray(dec, float) * u.deg), bool)


def gather(positions: pd.DataFrame, survey: HatsSurvey, radius_arcsec: float,
           client) -> pd.DataFrame:
    """Every survey row within ``radius_arcsec`` of any position, once each.

    Parameters
    ----------
    positions : pandas.DataFrame
        ``ra``, ``dec`` (deg).
    survey : HatsSurvey
    radius_arcsec : float
    client : dask.distributed.Client
        Runs the cross-match tasks.

    Returns
    -------
    pandas.DataFrame
        The survey-source columns of :mod:`ingest.normalized` present in the catalog
        (``extra`` as JSON text), sorted by ``native_id``.
    """
    import lsdb

    with quiet():
        right = lsdb.read_hats(survey.path, columns="all")
    keep = [c for c in SURVEY_SOURCE_COLUMNS if c in right.all_columns]
    right = right[keep]
    with quiet():
        left = lsdb.from_dataframe(
            pd.DataFrame({POSITION_KEY: np.arange(len(positions), dtype=np.int64),
                          f"{POSITION_KEY}_ra": positions["ra"].to_numpy(float),
                          f"{POSITION_KEY}_dec": positions["dec"].to_numpy(float)}),
            ra_column=f"{POSITION_KEY}_ra", dec_column=f"{POSITION_KEY}_dec",
            margin_threshold=None, catalog_name="positions")
        matched = left.crossmatch(right, algorithm=WithinRadius(radius_arcsec),
                                  suffixes=("", ""), suffix_method="overlapping_columns")
        with client.as_current() if client is not None else nullcontext():
            found = matched.compute(progress_bar=False)
    found = pd.DataFrame({c: _plain(found[c]) for c in keep})
    return found.drop_duplicates("native_id").sort_values("native_id").reset_index(drop=True)


def _plain(column: pd.Series) -> np.ndarray:
    """A pyarrow-backed column as numpy: floats with NaN, text with None."""
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return np.array([None if pd.isna(v) else v for v in column], dtype=object)


def near_from(found: pd.DataFrame):
    """``near(survey, centres, radius)`` over the rows gathered for one survey (with their
    ``mw_source`` ids): the rows within the radius of any centre, each once, by id - what
    :func:`associate.store.survey_sources_near` returns from the database."""
    xyz = unit_vectors(found["ra"].to_numpy(float), found["dec"].to_numpy(float))
    tree = cKDTree(xyz) if len(found) else None

    def near(_survey: str, centres: pd.DataFrame, radius_arcsec: float) -> pd.DataFrame:
        if tree is None or not len(centres):
            return found.iloc[:0]
        chord = 2.0 * np.sin(float(radius_arcsec) / ARCSEC_PER_RAD / 2.0)
        hits = tree.query_ball_point(unit_vectors(centres["ra"].to_numpy(float),
                                                  centres["dec"].to_numpy(float)), chord)
        rows = np.unique(np.concatenate([np.asarray(h, np.int64) for h in hits]))
        return found.iloc[rows].sort_values("id").reset_index(drop=True)

    return near
