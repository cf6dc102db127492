"""X-ray energy bands livecat speaks of everywhere.

The Chandra Source Catalog's science bands (Evans et al. 2010, ApJS 189, 37, Sect. 3.1;
CSC 2 column descriptions ``flux_aper_<band>``): the MUWCLASS method's X-ray features are
the fluxes in the soft, medium and hard bands and their hardness ratios, so these are
also livecat's common bands, into which other missions' fluxes are converted.

:data:`MISSION_BANDS` says, per livecat X-ray catalog, which of its stored bands are
energy fluxes (the ones :mod:`catalog.flux_plan` converts) and which only count rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: CSC science bands: letter -> (lo, hi) keV. ``u`` and ``w`` are the HRC bands.
CSC_BANDS_KEV: dict[str, tuple[float, float]] = {
    "b": (0.5, 7.0), "s": (0.5, 1.2), "m": (1.2, 2.0), "h": (2.0, 7.0),
    "u": (0.2, 0.5), "w": (0.1, 10.0),
}

#: The bands of the MUWCLASS features (soft, medium, hard) and the broad band.
MUWCLASS_BANDS = ("s", "m", "h")
COMMON_BANDS = ("s", "m", "h", "b")


@dataclass(frozen=True)
class MissionBands:
    """The bands one X-ray catalog stores, and which of them are energy fluxes.

    Attributes
    ----------
    catalog : str
        livecat catalog key (``xray_source.catalog``).
    band_set : str
        Name of this set of bands (a catalog with two layouts, eRASS1 Main and Hard, has
        two sets: ``erass1-main``, ``erass1-hard``); the conversion tables are per set.
    energy_flux : dict
        Band name -> (lo, hi) keV of the bands stored as ``energy_flux`` (erg cm^-2 s^-1,
        observed, i.e. absorbed by the Galaxy); the only ones :mod:`catalog.flux_plan`
        converts.
    count_rate : dict
        Band name -> (lo, hi) keV of the bands stored only or also as ``count_rate``.
    bounds_sigma : float
        How many 1-sigma errors ``value - value_lo`` and ``value_hi - value`` are (1: the
        catalog's bounds are 68 % / 1-sigma intervals).
    reference : str
        Where the bands and the meaning of the bounds are documented.
    """

    catalog: str
    band_set: str
    energy_flux: Mapping[str, tuple[float, float]]
    count_rate: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    bounds_sigma: float = 1.0
    reference: str = ""

    def bands(self) -> dict[str, tuple[float, float]]:
        """Every band of the set (energy flux or count rate) -> (lo, hi) keV."""
        return {**self.count_rate, **self.energy_flux}


_CSC_REF = ("Evans et al. 2010, ApJS 189, 37, Sect. 3.1 (bands); CSC 2 master table "
            "flux_aper_<band> with flux_aper_lolim/hilim_<band>, the 68 % lower/upper "
            "confidence limits (HEASARC csc field descriptions: 'Net Energy Flux ... (68% "
            "Lower Limit)')")
_XMM_BANDS = {"1": (0.2, 0.5), "2": (0.5, 1.0), "3": (1.0, 2.0), "4": (2.0, 4.5),
              "5": (4.5, 12.0), "8": (0.2, 12.0), "9": (0.5, 4.5)}
_ERASS_MAIN = {"1": (0.2, 2.3), "P1": (0.2, 0.5), "P2": (0.5, 1.0), "P3": (1.0, 2.0),
               "P4": (2.0, 5.0), "P5": (5.0, 8.0), "P6": (4.0, 10.0), "P7": (5.1, 6.1),
               "P8": (6.2, 7.1), "P9": (7.2, 8.2)}
_ERASS_HARD = {"0": (0.2, 5.0), "1": (0.2, 0.6), "2": (0.6, 2.3), "3": (2.3, 5.0)}
_ERASS_REF = ("Merloni et al. 2024, A&A 682, A34, Table D.1 (ML_FLUX_<band> and ML_RATE_"
              "<band>; 'All errors are provided as 68% confidence intervals (1-sigma)'); Hard "
              "bands from HEASARC ERASS1HARD")
_SXPS_RATES = {"0": (0.3, 10.0), "1": (0.3, 1.0), "2": (1.0, 2.0), "3": (2.0, 10.0)}
# PowFlux is PowECFO x Rate_band0 and PowFlux_pos/_neg are PowECFO x the 1-sigma
# Rate_band0_pos/_neg (so in every published LSXPS row, e.g. LSXPS_ID 209920: 1.0479e-4
# ct/s x 6.60189e-11 = 6.918e-15 erg/cm2/s, and 3.0695e-5 x 6.60189e-11 = 2.026e-15).
_SXPS_REF = ("Evans et al. 2020, ApJS 247, 54 and https://www.swift.ac.uk/2SXPS/docs.php: "
             "Rate_band0..3 (0.3-10, 0.3-1, 1-2, 2-10 keV) with 1-sigma _pos/_neg; PowFlux, "
             "the 0.3-10 keV observed flux of the power-law fit, is the only energy flux")

#: livecat X-ray catalog key -> its band sets. The ingest modules' BANDS dicts must agree
#: (``tests/catalog/test_bands.py``): catalog may not import ingest, so they are repeated.
MISSION_BANDS: dict[str, tuple[MissionBands, ...]] = {
    "csc": (MissionBands("csc", "csc", dict(CSC_BANDS_KEV), reference=_CSC_REF),),
    "muwclass-csc": (MissionBands(
        "muwclass-csc", "muwclass-csc", {b: CSC_BANDS_KEV[b] for b in COMMON_BANDS},
        reference="Yang et al. 2022, ApJ 941, 104: TD.csv Fs/Fm/Fh/Fb with 1-sigma e_F*"),),
    "xmm": (MissionBands(
        "xmm", "xmm", _XMM_BANDS,
        reference="4XMM-DR9 User Guide Sect. 4 (bands 1-5, 8, 9; SC_EP_<n>_FLUX with "
                  "1-sigma SC_EP_<n>_FLUX_ERR), Webb et al. 2020, A&A 641, A136"),),
    "erass1": (MissionBands("erass1", "erass1-main", _ERASS_MAIN, dict(_ERASS_MAIN),
                            reference=_ERASS_REF),
               MissionBands("erass1", "erass1-hard", _ERASS_HARD, dict(_ERASS_HARD),
                            reference=_ERASS_REF)),
    "2sxps": (MissionBands("2sxps", "2sxps", {"0": _SXPS_RATES["0"]}, dict(_SXPS_RATES),
                           reference=_SXPS_REF),),
    "lsxps": (MissionBands("lsxps", "lsxps", {"0": _SXPS_RATES["0"]}, dict(_SXPS_RATES),
                           reference="Evans et al. 2023, MNRAS 518, 174 and https://www."
                                     "swift.ac.uk/LSXPS/docs.php (the 2SXPS source-table "
                                     "layout: " + _SXPS_REF.split(": ", 1)[1] + ")"),),
}


def band_sets() -> list[MissionBands]:
    """Every band set of every catalog, in :data:`MISSION_BANDS` order."""
    return [bs for sets in MISSION_BANDS.values() for bs in sets]
