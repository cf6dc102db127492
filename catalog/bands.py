"""X-ray energy bands livecat speaks of everywhere.

The Chandra Source Catalog's science bands (Evans et al. 2010, ApJS 189, 37, Sect. 3.1;
CSC 2 column descriptions ``flux_aper_<band>``): the MUWCLASS method's X-ray features are
the fluxes in the soft, medium and hard bands and their hardness ratios, so these are
also livecat's common bands, into which other missions' fluxes are converted.
"""

from __future__ import annotations

#: CSC science bands: letter -> (lo, hi) keV. ``u`` and ``w`` are the HRC bands.
CSC_BANDS_KEV: dict[str, tuple[float, float]] = {
    "b": (0.5, 7.0), "s": (0.5, 1.2), "m": (1.2, 2.0), "h": (2.0, 7.0),
    "u": (0.2, 0.5), "w": (0.1, 10.0),
}

#: The bands of the MUWCLASS features (soft, medium, hard) and the broad band.
MUWCLASS_BANDS = ("s", "m", "h")
COMMON_BANDS = ("s", "m", "h", "b")
