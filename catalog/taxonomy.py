"""livecat's class taxonomy: the eight MUWCLASS classes and their subclasses.

The taxonomy is the eight classes of MUWCLASS (Yang et al. 2022, ApJ 941, 104,
"Classifying Unidentified X-Ray Sources in the Chandra Source Catalog Using a
Multiwavelength Machine-learning Approach", Section 2): AGN, CV, HM-STAR, LM-STAR, HMXB,
LMXB, NS and YSO. A class may carry a subclass from a short, fixed list per class
(``CV/IP``, ``NS/magnetar``, ``LMXB/redback`` ...); the text form is ``CLASS/SUBCLASS``.

The taxonomy is shared vocabulary: ingest maps native types onto it
(:mod:`ingest.class_rules`), curation validates decisions against it, classify predicts
its classes. The migration ``0002_history_taxonomy`` keeps a frozen copy in the tables
``livecat_class`` and ``livecat_subclass``.
"""


from __future__ import annotations

from catalog.errors import InputError

# --------------------------------------------------------------------------------------
# The taxonomy
# --------------------------------------------------------------------------------------

#: The eight MUWCLASS classes with a one-paragraph description each.
CLASSES: dict[str, str] = {
    "AGN": (
        "Active galactic nuclei: accreting supermassive black holes in galaxy centres "
        "(Seyferts, quasars, blazars). Extragalactic, so absorbed by the full Galactic "
        "column; X-ray spectra are power laws, optical/IR colours are red in WISE "
        "(W1-W2), and they vary on long time scales. The most common class among "
        "serendipitous X-ray sources away from the Galactic plane."
    ),
    "CV": (
        "Cataclysmic variables: a white dwarf accreting from a low-mass, Roche-lobe "
        "filling companion. Non-magnetic systems (dwarf novae, nova-likes) accrete "
        "through a disc; magnetic ones are polars (synchronised) and intermediate polars "
        "(a truncated disc, white-dwarf spin faster than the orbit). Hard, often "
        "absorbed thermal X-ray spectra; blue optical counterparts; variable."
    ),
    "HM-STAR": (
        "High-mass (O, B, Wolf-Rayet) stars whose X-rays come from shocks in their "
        "radiatively driven winds or from colliding winds in massive binaries. "
        "Soft thermal X-rays, very bright optical/IR counterparts, low X-ray to optical "
        "flux ratio; concentrated in young clusters and the Galactic plane."
    ),
    "LM-STAR": (
        "Low-mass (late-type, F-M) stars, including active binaries such as RS CVn and "
        "BY Dra systems, whose X-rays come from magnetically heated coronae; flares are "
        "common. Soft thermal X-ray spectra and bright optical counterparts with high "
        "proper motions and parallaxes (nearby)."
    ),
    "HMXB": (
        "High-mass X-ray binaries: a neutron star or black hole with a massive O/B "
        "companion (Be/X-ray binaries, supergiant systems), powered by accretion from "
        "the companion's wind or decretion disc; also the rotation-powered pulsars "
        "orbiting massive stars (gamma-ray binaries such as B1259-63). Hard, often "
        "absorbed X-rays, bright early-type optical counterparts, strong variability."
    ),
    "LMXB": (
        "Low-mass X-ray binaries: a neutron star or black hole with a low-mass "
        "companion, accreting by Roche-lobe overflow, and their descendants as MUWCLASS "
        "counts them: binary millisecond pulsars with white-dwarf, ultra-light (black "
        "widow) or low-mass main-sequence (redback) companions, including transitional "
        "millisecond pulsars. High X-ray to optical flux ratios; transients in outburst."
    ),
    "NS": (
        "Neutron stars that are not accreting from a companion: isolated "
        "rotation-powered pulsars (young and millisecond), rotating radio transients, "
        "magnetars (AXPs and SGRs), the X-ray dim isolated neutron stars (XINS) and "
        "central compact objects, and double neutron star binaries. Very high X-ray to "
        "optical flux ratios, usually no optical/IR counterpart."
    ),
    "YSO": (
        "Young stellar objects: pre-main-sequence stars (classical and weak-lined T "
        "Tauri stars, Herbig Ae/Be stars, protostars) with strong magnetic activity and "
        "flares; found in star-forming regions; infrared excess from discs and "
        "envelopes; thermal X-ray spectra hotter than older low-mass stars."
    ),
}

#: Allowed subclasses per class. ``None`` (no subclass) is always allowed.
SUBCLASSES: dict[str, tuple[str, ...]] = {
    "AGN": ("Seyfert", "QSO", "blazar", "LINER"),
    "CV": ("IP", "polar", "dwarf-nova", "nova-like", "nova", "AM-CVn"),
    "HM-STAR": ("OB", "Be", "WR", "colliding-wind"),
    "LM-STAR": ("flare-star", "RS-CVn", "BY-Dra", "W-UMa"),
    "HMXB": ("Be-XRB", "supergiant", "gamma-ray-binary"),
    "LMXB": ("redback", "black-widow", "MSP-WD", "tMSP", "AMXP", "BH"),
    "NS": ("pulsar", "MSP", "magnetar", "XINS", "RRAT", "CCO", "DNS"),
    "YSO": ("CTTS", "WTTS", "protostar", "HAeBe"),
}

_CLASS_BY_FOLD = {name.casefold(): name for name in CLASSES}


def allowed_classes() -> list[str]:
    """Return the class names in alphabetical order.

    Returns
    -------
    list of str
    """
    return sorted(CLASSES)


def validate_class(name: str, subclass: str | None = None) -> tuple[str, str | None]:
    """Check a class (and optional subclass) against the taxonomy.

    Matching ignores case and surrounding blanks; the canonical spelling is returned.

    Parameters
    ----------
    name : str
        Class name, e.g. ``"CV"`` or ``"hmxb"``.
    subclass : str, optional
        Subclass name, e.g. ``"IP"``; ``None`` or blank means none.

    Returns
    -------
    tuple of (str, str or None)
        The canonical class and subclass.

    Raises
    ------
    catalog.errors.InputError
        If the class is not one of the taxonomy's, or the subclass is not allowed for
        that class. The message names the value and lists the allowed ones.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            f"missing class {name!r}: expected one of {', '.join(allowed_classes())}")
    canonical = _CLASS_BY_FOLD.get(name.strip().casefold())
    if canonical is None:
        raise InputError(
            f"unknown class {name.strip()!r}: expected one of "
            f"{', '.join(allowed_classes())} (optionally CLASS/SUBCLASS, e.g. CV/IP)")
    if subclass is None or not str(subclass).strip():
        return canonical, None
    allowed = SUBCLASSES[canonical]
    folded = {s.casefold(): s for s in allowed}
    sub = folded.get(str(subclass).strip().casefold())
    if sub is None:
        raise InputError(
            f"unknown subclass {str(subclass).strip()!r} for class {canonical}: "
            f"expected one of {', '.join(allowed)}")
    return canonical, sub


def parse_class(text: str) -> tuple[str, str | None]:
    """Split and validate a ``CLASS`` or ``CLASS/SUBCLASS`` string.

    Parameters
    ----------
    text : str
        For example ``"CV/IP"``, ``"NS"``, ``"lmxb/redback"``.

    Returns
    -------
    tuple of (str, str or None)
        Canonical class and subclass, e.g. ``("CV", "IP")``.

    Raises
    ------
    catalog.errors.InputError
        If the class or subclass is not in the taxonomy.

    Examples
    --------
    >>> parse_class("CV/IP")
    ('CV', 'IP')
    """
    if not isinstance(text, str):
        raise InputError(f"class must be text like 'CV' or 'CV/IP', got {text!r}")
    cls, _, sub = text.strip().partition("/")
    return validate_class(cls, sub or None)


def format_class(name: str, subclass: str | None = None) -> str:
    """Return the ``CLASS/SUBCLASS`` text form (just ``CLASS`` without a subclass).

    Parameters
    ----------
    name : str
    subclass : str, optional

    Returns
    -------
    str
    """
    cls, sub = validate_class(name, subclass)
    return f"{cls}/{sub}" if sub else cls
