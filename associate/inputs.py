"""The input contract of the counterpart association: X-ray (primary) and survey tables.

Both kinds of table are pandas DataFrames; this module checks them and turns them into
plain numpy arrays (positions, 2x2 positional covariances in the tangent plane, epochs,
proper motions) for :mod:`associate.candidates` and :mod:`associate.bayes`.

Primary (X-ray) table, one row per source:
    id                      unique identifier (any hashable: livecat id, CSC name, ...)
    ra, dec [deg]           ICRS position
    err_maj_arcsec, err_min_arcsec, err_pa_deg
                            1-sigma error ellipse: semi-major and semi-minor axes and the
                            position angle of the major axis, east of north. A row whose
                            ellipse is missing (NaN) may give ``pos_err_arcsec`` instead
                            (a 1-sigma circle); ``err_pa_deg`` may be NaN for a circle.
    epoch [decimal year]    epoch of the X-ray position (e.g. 2008.8 for a 2008 Oct
                            observation); survey positions are moved to it
    mission [str]           optional: key of the per-mission systematic floor
    density_<survey> [1/sr] optional: sky density of that survey's sources around this
                            source (the caller measures it, e.g. from HEALPix tiles);
                            overrides ``Survey.density_sr``

Survey table (Gaia DR3, 2MASS, AllWISE, CatWISE2020, ...), one row per survey source:
    id                      unique identifier (Gaia source_id, 2MASS designation, ...)
    ra, dec [deg]           ICRS position at ``epoch``
    1-sigma positional error, in one of three forms, the first one present is used:
      err_maj_arcsec, err_min_arcsec, err_pa_deg  an ellipse, as for the primary;
      ra_err_arcsec, dec_err_arcsec [, radec_corr]  errors along RA*cos(dec) and Dec
                            and their correlation coefficient (Gaia ra_error/dec_error/
                            ra_dec_corr, converted from mas);
      pos_err_arcsec        a circle.
    epoch [decimal year]    optional when ``Survey.epoch`` is given (Gaia DR3 2016.0)
    pmra, pmdec [mas/yr]    optional proper motion; ``pmra`` includes the cos(dec)
                            factor (mu_alpha*), as Gaia publishes it; NaN = not measured

Systematic floors (arcsec) are added in quadrature to both axes of every ellipse: one
per X-ray mission (a number, or a mapping keyed by the ``mission`` column) and one per
survey (``Survey.systematic_arcsec``).

Covariances live in the tangent plane at each source, axis x towards east (increasing
RA) and axis y towards north, in arcsec**2: an ellipse (a, b, PA) has
``cxx = a^2 sin^2 PA + b^2 cos^2 PA``, ``cyy = a^2 cos^2 PA + b^2 sin^2 PA``,
``cxy = (a^2 - b^2) sin PA cos PA``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog.errors import InputError

#: Sky area of the whole sphere in steradians.
FOUR_PI = 4.0 * np.pi


@dataclass(frozen=True)
class Survey:
    """One survey to associate with the X-ray sources.

    Parameters
    ----------
    name : str
        Short name used in output columns (``gaia``, ``2mass``, ``allwise``, ``catwise``):
        letters, digits and underscores.
    sources : pandas.DataFrame
        The survey sources, columns as in the module docstring.
    completeness : float
        Prior probability that an X-ray source has a counterpart in this survey
        (NWAY's per-catalogue ``prior_completeness``; NWAY's single value c for K
        surveys corresponds to ``c ** (1 / K)`` for each).
    density_sr : float, optional
        Source density (per steradian) used for every primary source that has no
        ``density_<name>`` column value.
    epoch : float, optional
        Epoch (decimal year) of every position when the table has no ``epoch`` column.
    systematic_arcsec : float
        Systematic error floor added in quadrature to every source's ellipse axes.
    """

    name: str
    sources: pd.DataFrame
    completeness: float = 1.0
    density_sr: float | None = None
    epoch: float | None = None
    systematic_arcsec: float = 0.0


@dataclass(frozen=True)
class PrimaryArrays:
    """Checked primary table as arrays (covariance includes the systematic floor)."""

    ids: pd.Series
    ra: np.ndarray
    dec: np.ndarray
    cov: tuple[np.ndarray, np.ndarray, np.ndarray]
    epoch: np.ndarray


@dataclass(frozen=True)
class SurveyArrays:
    """Checked survey table as arrays (covariance includes the survey's floor)."""

    name: str
    ids: pd.Series
    ra: np.ndarray
    dec: np.ndarray
    cov: tuple[np.ndarray, np.ndarray, np.ndarray]
    epoch: np.ndarray
    pmra: np.ndarray
    pmdec: np.ndarray
    completeness: float


def ellipse_covariance(maj, mnr, pa_deg):
    """Tangent-plane covariance (cxx, cxy, cyy) in arcsec**2 of 1-sigma error ellipses.

    Parameters
    ----------
    maj, mnr : array_like
        Semi-major and semi-minor axes (arcsec).
    pa_deg : array_like
        Position angle of the major axis, degrees east of north.

    Returns
    -------
    tuple of numpy.ndarray
        ``cxx`` (east-east), ``cxy``, ``cyy`` (north-north).
    """
    a2 = np.asarray(maj, dtype=float) ** 2
    b2 = np.asarray(mnr, dtype=float) ** 2
    pa = np.radians(np.asarray(pa_deg, dtype=float))
    s, c = np.sin(pa), np.cos(pa)
    return a2 * s * s + b2 * c * c, (a2 - b2) * s * c, a2 * c * c + b2 * s * s


def covariance_major_axis(cov) -> np.ndarray:
    """Semi-major axis (arcsec, square root of the largest eigenvalue) of covariances."""
    cxx, cxy, cyy = cov
    half_tr = 0.5 * (cxx + cyy)
    disc = np.sqrt(np.maximum(0.25 * (cxx - cyy) ** 2 + cxy * cxy, 0.0))
    return np.sqrt(half_tr + disc)


def _plain(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _bad(table: str, frame: pd.DataFrame, mask: np.ndarray, what: str) -> InputError:
    i = int(np.flatnonzero(mask)[0])
    ident = _plain(frame["id"].iloc[i]) if "id" in frame.columns else None
    return InputError(f"{table}: row {i + 1} (id {ident!r}): {what} "
                      f"({int(mask.sum())} row(s) like this)")


def _column(frame: pd.DataFrame, name: str, table: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{table}: column {name!r} must be numeric: {exc}") from None


def _optional(frame: pd.DataFrame, name: str, table: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return _column(frame, name, table)


def _require(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{table}: missing column(s) {', '.join(missing)}; have "
                         f"{', '.join(map(str, frame.columns))}")


def _positions(frame: pd.DataFrame, table: str) -> tuple[np.ndarray, np.ndarray]:
    _require(frame, ["id", "ra", "dec"], table)
    if frame["id"].isna().any():
        raise _bad(table, frame, frame["id"].isna().to_numpy(), "missing id")
    dup = frame["id"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = _plain(frame["id"].iloc[np.flatnonzero(dup)[0]])
        raise _bad(table, frame, dup, f"duplicate id {first!r}; ids must be unique")
    ra, dec = _column(frame, "ra", table), _column(frame, "dec", table)
    bad = ~(np.isfinite(ra) & (ra >= 0) & (ra < 360))
    if bad.any():
        raise _bad(table, frame, bad, f"ra {_plain(ra[bad][0])!r} is not in [0, 360) deg")
    bad = ~(np.isfinite(dec) & (np.abs(dec) <= 90))
    if bad.any():
        raise _bad(table, frame, bad, f"dec {_plain(dec[bad][0])!r} is not in [-90, 90] deg")
    return ra, dec


def _covariance(frame: pd.DataFrame, table: str, forms: Sequence[str]):
    """Covariance from the first error form present per row, in the order of ``forms``."""
    n = len(frame)
    cxx, cxy, cyy = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    for form in forms:
        if form == "ellipse" and {"err_maj_arcsec", "err_min_arcsec"} <= set(frame.columns):
            maj = _column(frame, "err_maj_arcsec", table)
            mnr = _column(frame, "err_min_arcsec", table)
            pa = _optional(frame, "err_pa_deg", table)
            use = todo & np.isfinite(maj) & np.isfinite(mnr)
            bad = use & ((mnr <= 0) | (mnr > maj * (1 + 1e-9)))
            if bad.any():
                got = f"{_plain(maj[bad][0])!r}, {_plain(mnr[bad][0])!r}"
                raise _bad(table, frame, bad, "error ellipse needs 0 < err_min_arcsec <= "
                           f"err_maj_arcsec, got {got}")
            round_ = np.isclose(maj, mnr, rtol=1e-12, atol=0.0)
            bad = use & ~round_ & ~np.isfinite(pa)
            if bad.any():
                raise _bad(table, frame, bad, "an elongated error ellipse needs err_pa_deg")
            pa = np.where(np.isfinite(pa), pa, 0.0)
            e = ellipse_covariance(maj[use], mnr[use], pa[use])
        elif form == "radec" and {"ra_err_arcsec", "dec_err_arcsec"} <= set(frame.columns):
            sra = _column(frame, "ra_err_arcsec", table)
            sde = _column(frame, "dec_err_arcsec", table)
            rho = _optional(frame, "radec_corr", table)
            rho = np.where(np.isfinite(rho), rho, 0.0)
            use = todo & np.isfinite(sra) & np.isfinite(sde)
            bad = use & ((sra <= 0) | (sde <= 0) | (np.abs(rho) >= 1))
            if bad.any():
                raise _bad(table, frame, bad, "ra_err_arcsec and dec_err_arcsec must be > 0 "
                           "and |radec_corr| < 1")
            e = (sra[use] ** 2, rho[use] * sra[use] * sde[use], sde[use] ** 2)
        elif form == "circle" and "pos_err_arcsec" in frame.columns:
            err = _column(frame, "pos_err_arcsec", table)
            use = todo & np.isfinite(err)
            bad = use & (err <= 0)
            if bad.any():
                raise _bad(table, frame, bad,
                           f"pos_err_arcsec {_plain(err[bad][0])!r} must be > 0")
            e = (err[use] ** 2, np.zeros(int(use.sum())), err[use] ** 2)
        else:
            continue
        cxx[use], cxy[use], cyy[use] = e
        todo &= ~use
    if todo.any():
        names = {"ellipse": "err_maj_arcsec/err_min_arcsec/err_pa_deg",
                 "radec": "ra_err_arcsec/dec_err_arcsec", "circle": "pos_err_arcsec"}
        raise _bad(table, frame, todo, "no positional error: expected "
                   + " or ".join(names[f] for f in forms))
    return cxx, cxy, cyy


def _add_floor(cov, floor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f2 = np.asarray(floor, dtype=float) ** 2
    return cov[0] + f2, cov[1], cov[2] + f2


def _epochs(frame: pd.DataFrame, table: str, default: float | None) -> np.ndarray:
    if "epoch" in frame.columns:
        ep = _column(frame, "epoch", table)
        if default is not None:
            ep = np.where(np.isfinite(ep), ep, default)
    elif default is not None:
        ep = np.full(len(frame), float(default))
    else:
        raise InputError(f"{table}: missing column 'epoch' (decimal year of the positions)")
    bad = ~(np.isfinite(ep) & (ep > 1800) & (ep < 2200))
    if bad.any():
        raise _bad(table, frame, bad, f"epoch {_plain(ep[bad][0])!r} is not a decimal year")
    return ep


def primary_arrays(primary: pd.DataFrame,
                   systematic_arcsec: float | Mapping[str, float] = 0.0) -> PrimaryArrays:
    """Check the primary (X-ray) table and return its arrays.

    Parameters
    ----------
    primary : pandas.DataFrame
        Columns as in the module docstring.
    systematic_arcsec : float or mapping of str to float
        Systematic floor (arcsec) added in quadrature; a mapping is keyed by the
        ``mission`` column, and every mission present must be in it.

    Returns
    -------
    PrimaryArrays

    Raises
    ------
    catalog.errors.InputError
        On a missing column or a bad value, naming the row.
    """
    table = "X-ray table"
    primary = primary.reset_index(drop=True)
    ra, dec = _positions(primary, table)
    cov = _covariance(primary, table, ("ellipse", "circle"))
    if isinstance(systematic_arcsec, Mapping):
        _require(primary, ["mission"], table)
        missions = primary["mission"].astype(str)
        unknown = ~missions.isin(list(systematic_arcsec)).to_numpy()
        if unknown.any():
            raise _bad(table, primary, unknown, f"mission {missions[unknown].iloc[0]!r} has "
                       f"no systematic floor; known: {', '.join(systematic_arcsec)}")
        floor = missions.map(systematic_arcsec).to_numpy(dtype=float)
    else:
        floor = np.full(len(primary), float(systematic_arcsec))
    if not (np.isfinite(floor) & (floor >= 0)).all():
        raise InputError(f"{table}: systematic floors must be >= 0 arcsec, got {floor.min()!r}")
    return PrimaryArrays(ids=primary["id"], ra=ra, dec=dec, cov=_add_floor(cov, floor),
                         epoch=_epochs(primary, table, None))


def survey_arrays(survey: Survey) -> SurveyArrays:
    """Check one survey's table and return its arrays.

    Raises
    ------
    catalog.errors.InputError
        On a missing column or a bad value, naming the survey and the row.
    """
    if not survey.name or not survey.name.replace("_", "").isalnum():
        raise InputError(f"survey name {survey.name!r}: use letters, digits and underscores")
    if not 0.0 < survey.completeness <= 1.0:
        raise InputError(f"survey {survey.name}: completeness {survey.completeness!r} "
                         "is not in (0, 1]")
    if not (np.isfinite(survey.systematic_arcsec) and survey.systematic_arcsec >= 0):
        raise InputError(f"survey {survey.name}: systematic_arcsec must be >= 0")
    table = f"survey {survey.name}"
    frame = survey.sources.reset_index(drop=True)
    ra, dec = _positions(frame, table)
    cov = _covariance(frame, table, ("ellipse", "radec", "circle"))
    pmra, pmdec = _optional(frame, "pmra", table), _optional(frame, "pmdec", table)
    no_pm = ~(np.isfinite(pmra) & np.isfinite(pmdec))
    pmra, pmdec = np.where(no_pm, 0.0, pmra), np.where(no_pm, 0.0, pmdec)
    return SurveyArrays(name=survey.name, ids=frame["id"], ra=ra, dec=dec,
                        cov=_add_floor(cov, survey.systematic_arcsec),
                        epoch=_epochs(frame, table, survey.epoch), pmra=pmra, pmdec=pmdec,
                        completeness=float(survey.completeness))


def survey_densities(primary: pd.DataFrame, survey: Survey) -> np.ndarray:
    """Density (per steradian) of a survey's sources around each primary source.

    The ``density_<name>`` column of the primary table where given, else
    ``survey.density_sr``.

    Raises
    ------
    catalog.errors.InputError
        When a primary source has no density, or a density is not > 0.
    """
    col = f"density_{survey.name}"
    table = "X-ray table"
    primary = primary.reset_index(drop=True)
    dens = _optional(primary, col, table)
    if survey.density_sr is not None:
        dens = np.where(np.isfinite(dens), dens, float(survey.density_sr))
    bad = ~(np.isfinite(dens) & (dens > 0))
    if bad.any():
        raise _bad(table, primary, bad, f"no density of survey {survey.name} > 0 "
                   f"(column {col} [1/sr] or Survey.density_sr)")
    return dens
