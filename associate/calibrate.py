"""Calibration of the p_any cut-off on a shifted (fake) X-ray catalogue, as NWAY advises.

NWAY (Salvato et al. 2018, sect. 2.3 and the NWAY manual, ``nway-create-shifted-
catalogue.py`` / ``nway-calibrate-cutoff.py``): move every X-ray source by a few
arcminutes, drop the moved sources that land near a real X-ray source, and associate the
moved ("fake") catalogue in the same way as the real one. No fake source has a true
counterpart, so the fraction of fake sources with ``p_any > c`` is the false-selection
rate of the cut-off c; the fraction of real sources above c is its efficiency (the
fraction selected). The cut-off is the lowest c whose false-selection rate is at most
the requested rate.

The survey tables given to :func:`calibrate_p_any` must cover the moved positions too
(fetch the survey sources around them); the moved sources keep their ids, errors,
epochs and per-source densities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from associate.bayes import Association, associate
from associate.candidates import ARCSEC_PER_RAD, unit_vectors
from associate.inputs import Survey
from catalog.errors import InputError


@dataclass(frozen=True)
class Calibration:
    """A p_any cut-off and the curves it was chosen from.

    Attributes
    ----------
    cutoff : float
        Keep counterparts of X-ray sources with ``p_any > cutoff``.
    false_rate : float
        False-selection rate at the cut-off (fraction of fake sources above it).
    efficiency : float
        Fraction of real X-ray sources above the cut-off (NaN without real sources).
    requested_rate : float
    n_fake, n_real : int
        Sources in the fake and real catalogues.
    curve : pandas.DataFrame
        ``cutoff``, ``false_rate``, ``efficiency`` on the grid of cut-offs.
    """

    cutoff: float
    false_rate: float
    efficiency: float
    requested_rate: float
    n_fake: int
    n_real: int
    curve: pd.DataFrame


def shifted_primary(primary: pd.DataFrame, shift_arcsec: float = 180.0,
                    position_angle_deg: float = 0.0,
                    exclude_radius_arcsec: float = 30.0) -> pd.DataFrame:
    """Move every X-ray source by ``shift_arcsec`` towards a position angle.

    Parameters
    ----------
    primary : pandas.DataFrame
        The X-ray table (``ra``, ``dec`` in deg; other columns are kept).
    shift_arcsec : float
        Length of the move on the sky (default 3 arcmin).
    position_angle_deg : float
        Direction of the move, degrees east of north.
    exclude_radius_arcsec : float
        Moved sources closer than this to any original X-ray source are dropped (they
        could meet that source's true counterpart).

    Returns
    -------
    pandas.DataFrame
        The moved sources (same columns; index reset).
    """
    if not shift_arcsec > exclude_radius_arcsec >= 0:
        raise InputError(f"shift_arcsec {shift_arcsec!r} must exceed exclude_radius_arcsec "
                         f"{exclude_radius_arcsec!r} >= 0")
    coords = SkyCoord(primary["ra"].to_numpy(float) * u.deg,
                      primary["dec"].to_numpy(float) * u.deg)
    moved = coords.directional_offset_by(position_angle_deg * u.deg, shift_arcsec * u.arcsec)
    ra, dec = moved.ra.deg % 360.0, moved.dec.deg
    tree = cKDTree(unit_vectors(primary["ra"].to_numpy(float), primary["dec"].to_numpy(float)))
    chord = 2 * np.sin(exclude_radius_arcsec / ARCSEC_PER_RAD / 2)
    dist, _ = tree.query(unit_vectors(ra, dec), k=1)
    keep = dist >= chord
    out = primary.loc[keep].copy()
    out["ra"], out["dec"] = ra[keep], dec[keep]
    return out.reset_index(drop=True)


def p_any_cutoff(p_any_fake, p_any_real=None, false_rate: float = 0.05,
                 grid=None) -> Calibration:
    """Lowest p_any cut-off whose false-selection rate on the fake sources is <= rate.

    Parameters
    ----------
    p_any_fake : array_like
        p_any of every fake (shifted) X-ray source.
    p_any_real : array_like, optional
        p_any of every real X-ray source, for the efficiency.
    false_rate : float
        Requested false-selection rate (e.g. 0.05).
    grid : array_like, optional
        Cut-offs to consider (default 0, 0.001, ..., 1).

    Returns
    -------
    Calibration
    """
    fake = np.sort(np.asarray(p_any_fake, dtype=float))
    real = np.sort(np.asarray(p_any_real if p_any_real is not None else [], dtype=float))
    if not len(fake):
        raise InputError("the shifted catalogue has no source: shift less or exclude less")
    if not 0 < false_rate < 1:
        raise InputError(f"false_rate {false_rate!r} is not in (0, 1)")
    grid = np.linspace(0.0, 1.0, 1001) if grid is None else np.asarray(grid, dtype=float)

    def n_above(sorted_p):
        return len(sorted_p) - np.searchsorted(sorted_p, grid, side="right")

    fr = n_above(fake) / len(fake)
    eff = n_above(real) / len(real) if len(real) else np.full(len(grid), np.nan)
    # compare counts, not rounded fractions
    ok = np.flatnonzero(n_above(fake) <= np.floor(false_rate * len(fake) + 1e-9))
    i = int(ok[0]) if len(ok) else len(grid) - 1
    curve = pd.DataFrame({"cutoff": grid, "false_rate": fr, "efficiency": eff})
    return Calibration(cutoff=float(grid[i]), false_rate=float(fr[i]),
                       efficiency=float(eff[i]), requested_rate=float(false_rate),
                       n_fake=len(fake), n_real=len(real), curve=curve)


def calibrate_p_any(primary: pd.DataFrame, surveys: Sequence[Survey], *,
                    false_rate: float = 0.05, shift_arcsec: float = 180.0,
                    position_angle_deg: float = 0.0, exclude_radius_arcsec: float = 30.0,
                    real: Association | None = None, **associate_kwargs) -> Calibration:
    """Associate a shifted copy of the X-ray catalogue and choose the p_any cut-off.

    Parameters
    ----------
    primary, surveys
        As for :func:`associate.bayes.associate`; the surveys must cover the moved
        positions.
    false_rate : float
        Requested false-selection rate.
    shift_arcsec, position_angle_deg, exclude_radius_arcsec : float
        See :func:`shifted_primary`.
    real : Association, optional
        The association of the real catalogue (computed when not given), for the
        efficiency curve.
    **associate_kwargs
        Passed to :func:`associate.bayes.associate` for both catalogues.

    Returns
    -------
    Calibration
    """
    fake = shifted_primary(primary, shift_arcsec, position_angle_deg, exclude_radius_arcsec)
    if not len(fake):
        raise InputError("every shifted X-ray source fell near an original one: "
                         "use a larger shift_arcsec")
    fake_assoc = associate(fake, surveys, **associate_kwargs)
    if real is None:
        real = associate(primary, surveys, **associate_kwargs)
    return p_any_cutoff(fake_assoc.sources["p_any"], real.sources["p_any"], false_rate)
