"""Simulated skies seen by several X-ray missions, for the object-matching tests and the
benchmark (scripts/bench_missions.py).

True objects are placed in fields (discs); each mission detects each object of a field it
observes with its own probability, and reports it at the true position scattered by a
circular Gaussian of the source's per-axis 1-sigma error with the mission's cross-match
floor (:func:`catalog.missions.cross_match_floor_arcsec`), i.e. exactly the model
:func:`associate.objects.match_missions` assumes. A source's stored error
(``pos_err_arcsec``) is drawn from the mission's error distribution: log-normal about a
median, or resampled from given real values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from associate.candidates import offset_position
from catalog.missions import MISSIONS


@dataclass(frozen=True)
class SimMission:
    """Error distribution of one simulated mission.

    Parameters
    ----------
    catalog : str
        livecat catalog key (its floor comes from :mod:`catalog.missions`).
    median_arcsec : float
        Median per-axis 1-sigma ``pos_err_arcsec`` (log-normal) ...
    dex : float
        ... and its spread (standard deviation of log10).
    values : tuple of float, optional
        Real ``pos_err_arcsec`` values to resample instead of the log-normal.
    clip : tuple of float
        Smallest and largest error drawn.
    """

    catalog: str
    median_arcsec: float = 1.0
    dex: float = 0.2
    values: tuple = ()
    clip: tuple = (0.01, 60.0)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` per-axis 1-sigma errors (arcsec)."""
        if self.values:
            err = rng.choice(np.asarray(self.values, dtype=float), n)
        else:
            err = self.median_arcsec * 10.0 ** rng.normal(0.0, self.dex, n)
        return np.clip(err, *self.clip)


def scatter(rng: np.random.Generator, ra, dec, sigma_arcsec) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved by a circular Gaussian of per-axis ``sigma_arcsec`` (gnomonic
    offsets about each position: exact across RA 0/360 and the poles)."""
    sigma = np.asarray(sigma_arcsec, dtype=float)
    dx, dy = rng.normal(0.0, 1.0, (2, len(sigma))) * sigma
    return offset_position(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), dx, dy)


def in_disc(rng: np.random.Generator, n: int, ra0: float, dec0: float,
            radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` positions uniform in a disc (tangent plane about ``ra0, dec0``)."""
    r = radius_arcsec * np.sqrt(rng.random(n))
    phi = 2.0 * np.pi * rng.random(n)
    return offset_position(ra0, dec0, r * np.sin(phi), r * np.cos(phi))


def observe(rng: np.random.Generator, truth: pd.DataFrame, missions: dict,
            detect: dict, *, first_id: int = 1) -> pd.DataFrame:
    """Each mission's detections of the true objects.

    Parameters
    ----------
    truth : pandas.DataFrame
        ``object`` (true object id), ``ra``, ``dec``.
    missions : dict
        catalog -> :class:`SimMission`.
    detect : dict
        catalog -> probability of detecting an object, or a boolean array (one per row of
        ``truth``) of the objects it detects.
    first_id : int
        Source ids are ``first_id, first_id + 1, ...``.

    Returns
    -------
    pandas.DataFrame
        ``source_id, catalog, ra, dec, pos_err_arcsec, object``.
    """
    parts = []
    for cat, m in missions.items():
        p = detect[cat]
        seen = (np.asarray(p, dtype=bool) if np.ndim(p)
                else rng.random(len(truth)) < float(p))
        t = truth[seen]
        err = m.draw(rng, len(t))
        sigma = np.hypot(err, MISSIONS[cat].cross_match_floor_arcsec
                         if cat in MISSIONS else 0.0)
        ra, dec = scatter(rng, t["ra"].to_numpy(), t["dec"].to_numpy(), sigma)
        parts.append(pd.DataFrame({"catalog": cat, "ra": ra, "dec": dec,
                                   "pos_err_arcsec": err,
                                   "object": t["object"].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "source_id", np.arange(first_id, first_id + len(out), dtype=np.int64))
    return out


def field_truth(rng: np.random.Generator, fields) -> pd.DataFrame:
    """True objects of ``fields`` = [(ra0, dec0, radius_arcsec, n_objects), ...]."""
    parts = []
    for ra0, dec0, radius, n in fields:
        ra, dec = in_disc(rng, n, ra0, dec0, radius)
        parts.append(pd.DataFrame({"ra": ra, "dec": dec}))
    truth = pd.concat(parts, ignore_index=True)
    truth.insert(0, "object", np.arange(len(truth), dtype=np.int64))
    return truth
