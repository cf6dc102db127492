"""What each X-ray catalogue's position error means, and the systematic floor to add.

Counterpart association (Gaia/2MASS/WISE around X-ray sources) and the cross-mission
matching of X-ray catalogues both need a per-axis 1-sigma position error. livecat's
loaders store it as ``xray_source.pos_err_arcsec``, converted from each catalogue's native
error (see the ``ingest`` module of each catalogue); :data:`MISSIONS` records, per livecat
X-ray catalog key, what that native error is (which columns, which confidence level, radial
or per axis), how it converts, and the systematic 1-sigma error to add in quadrature
(:func:`systematic_floor_arcsec`).

The conversion assumes a circular 2-D Gaussian of per-axis sigma ``s``: the radial offset
follows a Rayleigh distribution, ``P(r < R) = 1 - exp(-R**2 / (2 s**2))``, so a radius
containing probability ``p`` is ``R = s * sqrt(-2 ln(1 - p))`` (95 %: 2.4477 s; 90 %:
2.1460 s; ``1 - 1/e`` = 63.2 %: sqrt(2) s; a per-axis 1-sigma "radius" contains
``1 - exp(-1/2)`` = 39.3 %). An ellipse is reduced to the circle of the same mean variance,
``sqrt((a**2 + b**2) / 2)``, as :mod:`ingest.csc` does.

The floors. Every catalogue here documents its native error as *including* the absolute
(frame) astrometric error, so the floor to add is 0; the documented systematic component is
kept in ``Mission.systematic_in_native_arcsec`` where the documentation gives a number. A
floor would be double counting for these catalogues. What was and was not verified is in
each entry's ``unverified``.

Cross-mission floors. Matching one X-ray catalogue against another
(:mod:`associate.objects`) compares two independently calibrated frames, and a catalogue
whose unique-source error is the error of a *mean* over many detections can quote less
than the residual of its own frame rectification: the 5XMM row of 3C 273 (42 detections)
has ``SC_POSERR`` = 0.046", i.e. 0.033" per axis, while the XMM field rectification itself
leaves a systematic 0.35" per detection (SAS ``catcorr`` documentation). Such an error
would make the same object in two missions look like two. :attr:`Mission.cross_match_floor_arcsec`
is the 1-sigma per axis added in quadrature for that matching only
(:func:`cross_match_floor_arcsec`); it is 0 where the documented error already carries the
frame term after combination (CSC, eRASS1, Swift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Containment of a per-axis 1-sigma circle for a circular 2-D Gaussian.
ONE_SIGMA_2D = 1.0 - math.exp(-0.5)
#: Containment of the radius sqrt(2) sigma (XMM "63 %" POSERR).
SQRT2_SIGMA_2D = 1.0 - math.exp(-1.0)


@dataclass(frozen=True)
class Mission:
    """Position-error convention of one X-ray catalogue.

    Attributes
    ----------
    catalog : str
        livecat X-ray catalog key (``xray_source.catalog``).
    title : str
    native_columns : tuple of str
        The catalogue's own error columns.
    shape : {"ellipse", "circle"}
        ``ellipse``: semi-axes (reduced to ``sqrt((a**2 + b**2) / 2)``); ``circle``: one
        radius.
    confidence : float
        Probability that the true position lies within the native radius (2-D).
    meaning : str
        The native error in the documentation's words.
    systematic_included : bool
        Whether the documented native error includes the absolute astrometric error.
    systematic_in_native_arcsec : float or None
        That systematic component, where the documentation quotes it (arcsec, as quoted).
    floor_arcsec : float
        Systematic 1-sigma per axis to add in quadrature to ``pos_err_arcsec``.
    references : tuple of str
        Documentation followed (bibcodes, URLs).
    unverified : str
        What could not be checked.
    cross_match_floor_arcsec : float
        Systematic 1-sigma per axis added in quadrature when this catalogue is matched
        against another X-ray catalogue (:mod:`associate.objects`).
    cross_match_floor_source : str
        Where that floor comes from.
    """

    catalog: str
    title: str
    native_columns: tuple
    shape: str
    confidence: float
    meaning: str
    systematic_included: bool
    floor_arcsec: float
    references: tuple
    systematic_in_native_arcsec: float | None = None
    unverified: str = ""
    cross_match_floor_arcsec: float = 0.0
    cross_match_floor_source: str = ""

    @property
    def radius_per_sigma(self) -> float:
        """Native radius in units of the per-axis sigma (Rayleigh quantile)."""
        return math.sqrt(-2.0 * math.log(1.0 - self.confidence))

    def sigma_per_axis(self, native_major, native_minor=None):
        """Per-axis 1-sigma (arcsec) of a native error (vectorised).

        Parameters
        ----------
        native_major : array_like
            The native radius, or the ellipse's semi-major axis (arcsec).
        native_minor : array_like, optional
            The ellipse's semi-minor axis (``shape == "ellipse"``); the major one is used
            for both when omitted.
        """
        a = np.asarray(native_major, dtype=float)
        b = a if native_minor is None else np.asarray(native_minor, dtype=float)
        radius = np.sqrt((a ** 2 + b ** 2) / 2.0) if self.shape == "ellipse" else a
        return radius / self.radius_per_sigma

    def with_floor(self, pos_err_arcsec):
        """``pos_err_arcsec`` with :attr:`floor_arcsec` added in quadrature."""
        s = np.asarray(pos_err_arcsec, dtype=float)
        return np.sqrt(s ** 2 + self.floor_arcsec ** 2)


_CSC_REFS = (
    "https://cxc.cfa.harvard.edu/csc/columns/positions.html (err_ellipse_r0/r1/ang: 95% "
    "confidence position error ellipse)",
    "2024ApJS..274...22E (Evans et al. 2024, the CSC Release 2 series)",
    "http://cxc.harvard.edu/csc2/pd2/ (CSC 2 error budget: 'the estimate of the systematic "
    "error for the absolute astrometry has been increased from 0.19 to 0.29 arcsec')",
    "2011ApJS..192....8R (Rots & Budavari 2011: the residual absolute astrometric error is "
    "added to the published CSC position errors from release 1.1 on)",
)

CSC = Mission(
    catalog="csc", title="Chandra Source Catalog 2.x (master sources)",
    native_columns=("err_ellipse_r0", "err_ellipse_r1", "err_ellipse_ang"), shape="ellipse",
    confidence=0.95,
    meaning="95% confidence position error ellipse (semi-axes r0 >= r1, PA)",
    systematic_included=True, systematic_in_native_arcsec=0.29, floor_arcsec=0.0,
    references=_CSC_REFS,
    unverified="the 0.29 arcsec systematic is quoted from the CSC 2.0 preliminary-detections "
               "page; the CSC 2.1 column page itself was not read (not in the search index)",
    cross_match_floor_arcsec=0.0,
    cross_match_floor_source="0: the residual absolute astrometric error is added to the "
                             "published CSC position errors from release 1.1 on (Rots & "
                             "Budavari 2011: 0.16\"; CSC 2: 0.29\"), and it survives the "
                             "master-source combination (3C 273, 6 ACIS observations, S/N "
                             "288: r0 = 0.648\" at 95%, 0.26\" per axis)",
)

XMM = Mission(
    catalog="xmm", title="XMM-Newton serendipitous source catalogue (4XMM-DR13/DR14, 5XMM)",
    native_columns=("SC_POSERR",), shape="circle", confidence=SQRT2_SIGMA_2D,
    meaning="POSERR = sqrt(RADEC_ERR**2 + SYSERRCC**2), total radial uncertainty; 'for a "
            "2-dimensional Gaussian error distribution, this radius reflects a 63% "
            "probability' (i.e. sqrt(2) sigma per axis)",
    systematic_included=True, systematic_in_native_arcsec=None, floor_arcsec=0.0,
    references=(
        "http://xmmssc.irap.omp.eu/Catalogue/4XMM-DR13/Coordinates.html (POSERR, SYSERRCC)",
        "https://xmm-tools.cosmos.esa.int/external/sas/current/doc/catcorr/node10.html "
        "(SYSERRCC per detection; 1.29 arcsec where the field could not be rectified)",
        "2020A&A...641A.136W (Webb et al. 2020, 4XMM)",
    ),
    unverified="SYSERRCC varies per detection (fit of the field rectification, or 1.29 "
               "arcsec): no single number; the 4XMM-DR14 page was not read (DR13's was)",
    cross_match_floor_arcsec=0.35 / math.sqrt(2.0),
    cross_match_floor_source="catcorr adds 'an additional systematic error determined to be "
                             "0.35 arc-seconds' in quadrature to the radial RADEC_ERR when "
                             "it rectifies a field (https://xmm-tools.cosmos.esa.int/"
                             "external/sas/current/doc/catcorr/node4.html): the residual "
                             "of a rectified frame, 0.35/sqrt(2) per axis. SC_POSERR, the "
                             "error of the mean of a source's detections, falls below it "
                             "for sources seen many times (3C 273 in 5XMM-DR15: 0.046\")",
)

ERASS1 = Mission(
    catalog="erass1", title="eROSITA-DE eRASS1 Main catalogue (DR1)",
    native_columns=("POS_ERR",), shape="circle", confidence=ONE_SIGMA_2D,
    meaning="'1-sigma position uncertainty' (POS_ERR), as opposed to RADEC_ERR, 'combined "
            "positional error, raw output from PSF fitting'; positions RA/DEC 'corrected'",
    systematic_included=True, systematic_in_native_arcsec=None, floor_arcsec=0.0,
    references=(
        "2024A&A...682A..34M (Merloni et al. 2024), Table D.1, "
        "https://www.aanda.org/articles/aa/full_html/2024/02/aa47165-23/T11.html",
        "https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/"
        "eRASS1_Hard.html (data model: POS_ERR '1-sigma positional uncertainty')",
    ),
    unverified="the calibration that turns RADEC_ERR into POS_ERR (and whether it adds a "
               "systematic term) is in Merloni et al. 2024's text, which was not read; "
               "POS_ERR is read as per-axis 1 sigma, as ingest.erass does",
    cross_match_floor_arcsec=0.0,
    cross_match_floor_source="0: POS_ERR is the calibrated 1-sigma uncertainty of the "
                             "corrected position, as opposed to the raw fit error "
                             "RADEC_ERR (Merloni et al. 2024, Table D.1); eRASS1 errors "
                             "(~1-10\") dwarf any sub-arcsecond frame term",
)

_SXPS_MEANING = ("Err90: 'position uncertainty, 90% confidence, radial, assumed to be "
                 "Rayleigh-distributed', 'including systematics'")

SXPS2 = Mission(
    catalog="2sxps", title="Swift-XRT 2SXPS point sources", native_columns=("Err90",),
    shape="circle", confidence=0.90, meaning=_SXPS_MEANING,
    systematic_included=True, floor_arcsec=0.0,
    references=("https://www.swift.ac.uk/2SXPS/docs.php",
                "2020ApJS..247...54E (Evans et al. 2020, 2SXPS)",
                "VizieR IX/58/2sxps description of Err90 (the recorded TAPVizieR answer)"),
    unverified="the size of the included systematic term was not looked up",
    cross_match_floor_arcsec=0.0,
    cross_match_floor_source="0: Err90 'including systematics' (2SXPS documentation; "
                             "VizieR IX/58 description of Err90)",
)

LSXPS = Mission(
    catalog="lsxps", title="Swift-XRT LSXPS (live) point sources", native_columns=("Err90",),
    shape="circle", confidence=0.90, meaning=_SXPS_MEANING,
    systematic_included=True, floor_arcsec=0.0,
    references=("https://www.swift.ac.uk/LSXPS/docs.php",
                "2023MNRAS.518..174E (Evans et al. 2023, LSXPS)"),
    unverified="LSXPS is taken to share 2SXPS's Err90 definition (same table layout); the "
               "LSXPS column page was not read",
    cross_match_floor_arcsec=0.0,
    cross_match_floor_source="0: as 2SXPS (Err90 including systematics)",
)

MUWCLASS_CSC = Mission(
    catalog="muwclass-csc", title="MUWCLASS training-set X-ray sources (CSC 2.0)",
    native_columns=("CSCv2_PU",), shape="circle", confidence=0.95,
    meaning="CSCv2_PU: the CSC 2.0 positional uncertainty, the 95% error-ellipse major "
            "radius (err_ellipse_r0) used as a circle",
    systematic_included=True, systematic_in_native_arcsec=0.29, floor_arcsec=0.0,
    references=("2022ApJ...941..104Y (Yang et al. 2022, MUWCLASS)", *_CSC_REFS),
    unverified="that CSCv2_PU is err_ellipse_r0 is from the MUWCLASS pipeline code "
               "(huiyang-astro/MUWCLASS_CSCv2: r0 treated as the 95% radius), not the paper",
    cross_match_floor_arcsec=0.0,
    cross_match_floor_source="0: as the CSC",
)

#: X-ray catalog key -> position-error convention.
MISSIONS: dict[str, Mission] = {m.catalog: m for m in (CSC, XMM, ERASS1, SXPS2, LSXPS,
                                                       MUWCLASS_CSC)}


def get_mission(catalog: str) -> Mission:
    """The convention of X-ray catalog ``catalog``.

    Raises
    ------
    catalog.errors.InputError
        Unknown catalog key.
    """
    from catalog.errors import InputError

    try:
        return MISSIONS[catalog]
    except KeyError:
        raise InputError(f"no position-error convention for X-ray catalog {catalog!r}; "
                         f"expected one of {', '.join(MISSIONS)}") from None


def systematic_floor_arcsec(catalog: str) -> float:
    """Systematic 1-sigma (arcsec, per axis) to add in quadrature to ``pos_err_arcsec``.

    Raises
    ------
    catalog.errors.InputError
        Unknown catalog key.
    """
    return get_mission(catalog).floor_arcsec


def cross_match_floor_arcsec(catalog: str) -> float:
    """Systematic 1-sigma (arcsec, per axis) added in quadrature when X-ray catalog
    ``catalog`` is matched against another X-ray catalog (see the module docstring).

    Raises
    ------
    catalog.errors.InputError
        Unknown catalog key.
    """
    return get_mission(catalog).cross_match_floor_arcsec
