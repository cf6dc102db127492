"""Simulated X-ray fields with survey sources, for tests, calibration checks and benchmarks.

A field is a disc on the sky. X-ray sources are placed uniformly; a fraction of them are
real objects that each survey detects with its own probability; the X-ray position and
every detection are scattered from the true position by their 1-sigma errors (Gaussian,
circular). Every survey also has unrelated sources, uniform at its density. The tables
follow the input contract of :mod:`associate.inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from associate.candidates import ARCSEC_PER_RAD, offset_position

ARCSEC2_PER_SR = ARCSEC_PER_RAD ** 2


@dataclass(frozen=True)
class SimSurvey:
    """One simulated survey.

    Parameters
    ----------
    name : str
    density_arcsec2 : float
        Unrelated sources per square arcsec.
    err_arcsec : tuple of float
        Range of the 1-sigma circular errors (uniform).
    detect : float
        Probability that a real X-ray object is detected by this survey.
    epoch : float
    """

    name: str
    density_arcsec2: float
    err_arcsec: tuple[float, float] = (0.05, 0.2)
    detect: float = 0.8
    epoch: float = 2016.0


@dataclass
class SimField:
    """A simulated field: the primary table, one table per survey, the truth."""

    primary: pd.DataFrame
    surveys: dict[str, pd.DataFrame]
    truth: pd.DataFrame = field(default_factory=pd.DataFrame)
    area_sr: float = 0.0


def _disc(rng, n, ra0, dec0, radius_arcsec):
    """n positions uniform in a disc (tangent plane about ra0, dec0)."""
    r = radius_arcsec * np.sqrt(rng.random(n))
    phi = 2 * np.pi * rng.random(n)
    return offset_position(ra0, dec0, r * np.sin(phi), r * np.cos(phi))


def _scatter(rng, ra, dec, sigma_arcsec):
    return offset_position(ra, dec, rng.normal(0, 1, len(ra)) * sigma_arcsec,
                   rng.normal(0, 1, len(ra)) * sigma_arcsec)


def simulate_field(rng: np.random.Generator, surveys: list[SimSurvey], *, n_primary: int,
                   ra0: float = 150.0, dec0: float = 2.0, radius_arcsec: float = 1800.0,
                   primary_err_arcsec: tuple[float, float] = (1.0, 3.0),
                   real_fraction: float = 0.7, primary_epoch: float = 2016.0,
                   survey_radius_arcsec: float | None = None,
                   id_offset: int = 0) -> SimField:
    """Simulate one field.

    Parameters
    ----------
    rng : numpy.random.Generator
    surveys : list of SimSurvey
    n_primary : int
        Number of X-ray sources.
    ra0, dec0, radius_arcsec : float
        Centre and radius of the field's disc.
    primary_err_arcsec : tuple of float
        Range of the X-ray 1-sigma circular errors (uniform).
    real_fraction : float
        Fraction of X-ray sources that are real objects (others have no counterpart).
    primary_epoch : float
        Epoch of the X-ray positions (no proper motions are simulated).
    survey_radius_arcsec : float, optional
        Radius of the disc of unrelated survey sources (default: the field's), larger
        when shifted copies of the X-ray sources must stay covered.
    id_offset : int
        Added to every integer id (to combine fields).

    Returns
    -------
    SimField
        ``primary`` has id, ra, dec, pos_err_arcsec, epoch; each survey table id, ra,
        dec, pos_err_arcsec, epoch; ``truth`` has primary_id, survey, survey_id of the
        real counterparts; ``area_sr`` the area of the survey sources' disc.
    """
    survey_radius = radius_arcsec if survey_radius_arcsec is None else survey_radius_arcsec
    area_arcsec2 = np.pi * survey_radius ** 2
    tra, tdec = _disc(rng, n_primary, ra0, dec0, radius_arcsec)
    err = rng.uniform(*primary_err_arcsec, n_primary)
    ra, dec = _scatter(rng, tra, tdec, err)
    pid = np.arange(n_primary, dtype=np.int64) + id_offset
    primary = pd.DataFrame({"id": pid, "ra": ra, "dec": dec, "pos_err_arcsec": err,
                            "epoch": primary_epoch})
    real = rng.random(n_primary) < real_fraction
    tables, truth = {}, []
    for s in surveys:
        n_bg = rng.poisson(s.density_arcsec2 * area_arcsec2)
        bra, bdec = _disc(rng, n_bg, ra0, dec0, survey_radius)
        det = np.flatnonzero(real & (rng.random(n_primary) < s.detect))
        serr_bg = rng.uniform(*s.err_arcsec, n_bg)
        serr_det = rng.uniform(*s.err_arcsec, len(det))
        dra, ddec = _scatter(rng, tra[det], tdec[det], serr_det)
        n = n_bg + len(det)
        order = rng.permutation(n)
        sid = np.arange(n, dtype=np.int64) + id_offset * 100
        table = pd.DataFrame({
            "id": sid,
            "ra": np.concatenate([bra, dra])[order],
            "dec": np.concatenate([bdec, ddec])[order],
            "pos_err_arcsec": np.concatenate([serr_bg, serr_det])[order],
            "epoch": s.epoch,
        })
        where = np.empty(n, np.int64)
        where[order] = np.arange(n)
        truth.append(pd.DataFrame({"primary_id": pid[det], "survey": s.name,
                                   "survey_id": sid[where[n_bg + np.arange(len(det))]]}))
        tables[s.name] = table
    return SimField(primary=primary, surveys=tables,
                    truth=pd.concat(truth, ignore_index=True),
                    area_sr=area_arcsec2 / ARCSEC2_PER_SR)
