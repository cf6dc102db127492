"""X-ray photoelectric absorption by the interstellar medium.

Two cross-section models, both per hydrogen atom (cm^2), as callables of photon energy
(keV):

* :func:`sigma_mm83` -- implemented from its published description: the piecewise
  quadratic fit of Morrison & McCammon (1983, ApJ 270, 119, Table 2),
  ``sigma(E) = (c0 + c1 E + c2 E^2) E^-3 x 1e-24 cm^2`` for 0.03-10 keV (the model
  XSPEC calls ``wabs``). Above 10 keV the last segment is extrapolated.
* :class:`TabulatedCrossSection` -- log-log interpolation of a tabulated cross section,
  e.g. the ``tbabs.data`` file the MUWCLASS reference pipeline used
  (huiyang-astro/MUWCLASS_CSCv2, ``files/tbabs.data``: the Tuebingen-Boulder model of
  Wilms, Allen & McCray 2000, ApJ 542, 914, tabulated from XSPEC; row 1 energy in keV,
  row 2 the optical depth at N_H = 1e22 cm^-2, i.e. sigma in units of 1e-22 cm^2).

Units of ``tbabs.data``: the reference code (``red_factor`` in
``codes/muwclass_library.py``) evaluates ``exp(-nH * 1e-3 * sigma)`` with nH in 1e21
cm^-2, i.e. it reads the table in units of 1e-24 cm^2. Physically the values are in
1e-22 cm^2: read so, the table agrees with Morrison & McCammon (1983) within about 5% in
effective optical depth on every CSC band (``tests/catalog/test_absorption.py``), while
read in 1e-24 cm^2 it is 100 times below every published cross section (2.4e-22 cm^2 at
1 keV). The reference therefore under-absorbed its reddened AGN by a factor of 100 in
N_H; livecat uses the physical units.

Band transmission (:func:`band_transmission`) is the ratio of absorbed to unabsorbed
*energy* flux in a band for a power-law photon spectrum ``N(E) ~ E^-Gamma``; the
reference pipeline assumed Gamma = 2 (``red_factor`` in ``codes/muwclass_library.py``),
which is our default too.

Every cross section here carries two attributes the band integrals of
:mod:`catalog.spectra` read: ``name`` (recorded with each converted flux, e.g. ``mm83``)
and ``edges_kev`` (energies where sigma is not smooth: the absorption edges where it jumps,
and for a table every tabulated energy; a quadrature places a panel boundary at each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV

CrossSection = Callable[[np.ndarray], np.ndarray]

# Morrison & McCammon (1983), Table 2: lower edge of each range (keV), c0, c1, c2.
_MM83 = np.array(
    [
        (0.030, 17.3, 608.1, -2150.0),
        (0.100, 34.6, 267.9, -476.1),
        (0.284, 78.1, 18.8, 4.3),
        (0.400, 71.4, 66.8, -51.4),
        (0.532, 95.5, 145.8, -61.1),
        (0.707, 308.9, -380.6, 294.0),
        (0.867, 120.6, 169.3, -47.7),
        (1.303, 141.3, 146.8, -31.5),
        (1.840, 202.7, 104.7, -17.0),
        (2.471, 342.7, 18.7, 0.0),
        (3.210, 352.2, 18.7, 0.0),
        (4.038, 433.9, -2.4, 0.75),
        (7.111, 629.0, 30.9, 0.0),
        (8.331, 701.2, 25.2, 0.0),
    ]
)


def sigma_mm83(energy_kev: np.ndarray) -> np.ndarray:
    """Photoelectric cross section per H atom of Morrison & McCammon (1983).

    Parameters
    ----------
    energy_kev : array_like
        Photon energies in keV; valid 0.03-10 keV (extrapolated above 10 keV).

    Returns
    -------
    numpy.ndarray
        Cross section in cm^2 per hydrogen atom.
    """
    e = np.asarray(energy_kev, dtype=float)
    if np.any(e < _MM83[0, 0]):
        raise ValueError("Morrison & McCammon (1983) is defined from 0.03 keV upwards")
    idx = np.searchsorted(_MM83[:, 0], e, side="right") - 1
    c0, c1, c2 = _MM83[idx, 1], _MM83[idx, 2], _MM83[idx, 3]
    return (c0 + c1 * e + c2 * e**2) / e**3 * 1e-24


sigma_mm83.name = "mm83"
# the fit is discontinuous at the boundaries of its energy ranges (the absorption edges)
sigma_mm83.edges_kev = tuple(float(x) for x in _MM83[1:, 0])


class TabulatedCrossSection:
    """Cross section interpolated (log-log, linear) from a table.

    Parameters
    ----------
    energy_kev, sigma_cm2 : array_like
        Tabulated energies (keV, increasing) and cross sections (cm^2 per H).
    name : str
        Recorded with every flux converted with it (e.g. ``"tbabs"``).
    extrapolate_high : bool
        Above the last tabulated energy, continue the log-log slope of the last two
        points instead of raising (``tbabs.data`` stops at 10 keV, while the XMM bands
        reach 12 keV; above the last edge the cross section is a smooth power law, so the
        error is small). Off by default: an energy outside the table is an error.

    Attributes
    ----------
    edges_kev : tuple of float
        Every tabulated energy: the log-log interpolant has a kink at each, so a
        quadrature converges only with its panels aligned on them (the true absorption
        edges are the table intervals over which sigma rises).
    """

    def __init__(self, energy_kev: np.ndarray, sigma_cm2: np.ndarray, name: str = "table",
                 extrapolate_high: bool = False) -> None:
        self.energy_kev = np.asarray(energy_kev, dtype=float)
        self.sigma_cm2 = np.asarray(sigma_cm2, dtype=float)
        if self.energy_kev.shape != self.sigma_cm2.shape or self.energy_kev.ndim != 1:
            raise ValueError("energy and cross-section tables must be 1-d of equal length")
        if self.energy_kev.size < 2 or np.any(self.energy_kev <= 0) or np.any(self.sigma_cm2 <= 0):
            raise ValueError("a cross-section table needs >= 2 points, all energies and "
                             "cross sections > 0")
        order = np.argsort(self.energy_kev)
        self.energy_kev, self.sigma_cm2 = self.energy_kev[order], self.sigma_cm2[order]
        self.name = name
        self.extrapolate_high = extrapolate_high
        self._loge, self._logs = np.log(self.energy_kev), np.log(self.sigma_cm2)
        self.edges_kev = tuple(float(x) for x in self.energy_kev)
        self._slope_high = ((self._logs[-1] - self._logs[-2])
                            / (self._loge[-1] - self._loge[-2]))

    @classmethod
    def from_file(cls, path: str | Path, unit_cm2: float = 1e-22, name: str | None = None,
                  extrapolate_high: bool = False) -> "TabulatedCrossSection":
        """Read a two-row table (energy in keV; sigma in ``unit_cm2``), as ``tbabs.data``.

        Parameters
        ----------
        path : str or Path
            Whitespace-separated file, first row energies, second row cross sections.
        unit_cm2 : float
            Unit of the second row in cm^2 (``tbabs.data``: 1e-22, see module notes).
        name : str, optional
            Name recorded with converted fluxes (default: the file name without suffix).
        extrapolate_high : bool
            See the class.
        """
        rows = np.loadtxt(path)
        if rows.ndim != 2 or rows.shape[0] != 2:
            raise ValueError(f"{path}: expected two rows (energy, sigma), got shape {rows.shape}")
        return cls(rows[0], rows[1] * unit_cm2, name=name or Path(path).stem,
                   extrapolate_high=extrapolate_high)

    def __call__(self, energy_kev: np.ndarray) -> np.ndarray:
        e = np.asarray(energy_kev, dtype=float)
        top = self.energy_kev[-1]
        outside = (e < self.energy_kev[0]) | ((e > top) & (not self.extrapolate_high))
        if np.any(outside):
            raise ValueError(
                f"energies outside the table range {self.energy_kev[0]:.3g}-{top:.3g} keV "
                f"(e.g. {e[outside].flat[0]:.4g} keV)")
        loge = np.log(e)
        out = np.interp(loge, self._loge, self._logs)
        if self.extrapolate_high:
            out = np.where(e > top, self._logs[-1] + self._slope_high * (loge - self._loge[-1]),
                           out)
        return np.exp(out)


def transmission(energy_kev: np.ndarray, nh_cm2: float, sigma: CrossSection = sigma_mm83) -> np.ndarray:
    """Fraction of photons transmitted, ``exp(-N_H sigma(E))``."""
    return np.exp(-nh_cm2 * sigma(np.asarray(energy_kev, dtype=float)))


def band_transmission(
    nh_cm2: float | np.ndarray,
    band_kev: tuple[float, float],
    gamma: float = 2.0,
    sigma: CrossSection = sigma_mm83,
    n_grid: int = 2000,
) -> np.ndarray:
    """Ratio of absorbed to unabsorbed energy flux in a band for a power law.

    Parameters
    ----------
    nh_cm2 : float or array_like
        Hydrogen column density(ies) in cm^-2.
    band_kev : (float, float)
        Band limits in keV.
    gamma : float
        Photon index of the assumed spectrum ``N(E) ~ E^-gamma`` (reference: 2).
    sigma : callable
        Cross section per H (cm^2) as a function of energy (keV).
    n_grid : int
        Number of logarithmic integration points.

    Returns
    -------
    numpy.ndarray
        Transmission factor(s) in (0, 1], same shape as ``nh_cm2``.
    """
    lo, hi = band_kev
    loge = np.linspace(np.log(lo), np.log(hi), n_grid)
    e = np.exp(loge)
    # energy flux per unit ln E: E * E * N(E) = E^(2 - gamma)
    weight = e ** (2.0 - gamma)
    sig = sigma(e)
    nh = np.asarray(nh_cm2, dtype=float)
    absorbed = np.exp(-np.multiply.outer(nh, sig)) * weight
    return np.trapezoid(absorbed, loge, axis=-1) / np.trapezoid(weight, loge)


def csc_band_transmissions(
    nh_cm2: float,
    gamma: float = 2.0,
    sigma: CrossSection = sigma_mm83,
) -> dict[str, float]:
    """Transmission factors for the CSC s, m, h and b bands at one N_H."""
    return {
        band: float(band_transmission(nh_cm2, CSC_BANDS_KEV[band], gamma=gamma, sigma=sigma))
        for band in COMMON_BANDS
    }
