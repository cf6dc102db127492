"""Every rule that turns a catalog's own type into a livecat class, in one place.

The classes themselves are :mod:`catalog.taxonomy`. The rules live together here so
that a reviewer can read all of them at once. Each rule has a short identifier (kept
with the classified row so a curator sees *why* an object got its class) and a
docstring-level description in :data:`PULSAR_RULES` / :data:`IPCAT_RULES`.

ATNF Pulsar Catalogue codes (Manchester et al. 2005, AJ 129, 1993; psrcat help page,
https://www.atnf.csiro.au/research/pulsar/psrcat/psrcat_help.html, Appendix B
"Pulsar Types" and Appendix C "Binary Companion Types"):

TYPE
    AXP (anomalous X-ray pulsar or soft gamma-ray repeater with detected pulsations),
    BINARY (has one or more stellar companions), HE (spin-powered, pulsed emission from
    radio to infrared or higher), NRAD (spin-powered, pulsed only at infrared or higher),
    RADIO, RRAT (intermittent radio pulses), XINS (isolated neutron star with pulsed
    thermal X-rays and no radio emission).
BINCOMP
    MS (main-sequence star), NS (neutron star), CO (CO or ONeMg white dwarf), He (helium
    white dwarf), UL (ultra-light companion or planet, mass < 0.08 Msun). The real files
    also contain ``DNS`` (double neutron star), a ``T`` suffix (``HeT``, ``ULT``: the
    companion of a triple/multiple system), alternatives separated by ``/``
    (``CO/NS(?)``) and an uncertainty marker ``(?)``.

How MUWCLASS treats pulsars (checked against its published training set, the
``TD_train.csv`` sample): isolated rotation-powered pulsars, magnetars and the double
neutron star B1534+12 are ``NS``; binary millisecond pulsars with white-dwarf,
ultra-light (black widow) or low-mass main-sequence (redback) companions are ``LMXB``
(J1614-2230 and J2222-0137 with CO white dwarfs, J1909-3744 with a He white dwarf,
B1957+20, J2051-0827 ...); massive-star binaries such as LS I +61 303 are ``HMXB``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


# --------------------------------------------------------------------------------------
# Mapping rules
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassAssignment:
    """The outcome of a mapping rule.

    Attributes
    ----------
    livecat_class : str or None
        A taxonomy class, or ``None`` when the native type does not determine one.
    subclass : str or None
    rule : str
        Identifier of the rule that decided (a key of :data:`PULSAR_RULES` or
        :data:`IPCAT_RULES`).
    """

    livecat_class: str | None
    subclass: str | None
    rule: str


#: A main-sequence companion at least this heavy (minimum mass) is a massive star.
MASSIVE_COMPANION_MIN_MSUN = 2.0
#: A binary without companion type whose minimum companion mass is below this is
#: counted as a low-mass-companion binary (white dwarfs of recycled pulsars are below).
LOW_MASS_COMPANION_MAX_MSUN = 0.8
#: Spider pulsars (redbacks, black widows) have orbits shorter than about a day;
#: 1.5 d admits the longest known redbacks (Strader et al. 2019, ApJ 872, 42).
SPIDER_MAX_PB_DAYS = 1.5
#: Isolated pulsars spinning faster than this are millisecond pulsars.
MSP_MAX_P0_S = 0.03
#: Neutron-star mass the ATNF catalogue assumes for its minimum companion mass.
PULSAR_MASS_MSUN = 1.35

#: Rules for ATNF pulsars, in the order :func:`classify_pulsar` applies them.
PULSAR_RULES: dict[str, str] = {
    "psr-ns-companion": (
        "Companion type NS or DNS (a double neutron star; first alternative of a '/' "
        "list): NS/DNS. Neither star accretes; MUWCLASS lists B1534+12 as NS."),
    "psr-massive-ms-companion": (
        "Companion type MS and the companion is massive: an OPT association naming a "
        "Be/O/B star, or a minimum companion mass (mass function, i = 90 deg, pulsar "
        f"1.35 Msun) of at least {MASSIVE_COMPANION_MIN_MSUN} Msun: HMXB "
        "(subclass gamma-ray-binary only when TYPE has HE). Examples: B1259-63, "
        "J0045-7319, J1740-3052, J2032+4127."),
    "psr-redback": (
        f"Companion type MS, not massive, orbital period below {SPIDER_MAX_PB_DAYS} d: "
        "LMXB/redback (e.g. J1023+0038, J1227-4853, J2339-0533)."),
    "psr-low-mass-ms-companion": (
        "Companion type MS, not massive, longer orbit: LMXB without subclass."),
    "psr-black-widow": (
        f"Companion type UL with an orbital period below {SPIDER_MAX_PB_DAYS} d: "
        "LMXB/black-widow (e.g. B1957+20, J2051-0827)."),
    "psr-ultralight-companion": (
        "Companion type UL in a longer orbit (planets, e.g. B1257+12): LMXB without "
        "subclass - a recycled pulsar with a low-mass companion."),
    "psr-wd-companion": (
        "Companion type He or CO (white dwarf; the T suffix of triples is ignored): "
        "LMXB/MSP-WD, as MUWCLASS counts J1614-2230, J1909-3744, J2222-0137."),
    "psr-binary-low-mass": (
        "Binary (PB/FB0/A1, BINARY model or TYPE BINARY) without a companion type whose "
        f"minimum companion mass is below {LOW_MASS_COMPANION_MAX_MSUN} Msun: LMXB without "
        "subclass."),
    "psr-binary-undetermined": (
        "Binary without a companion type and without a minimum companion mass below "
        f"{LOW_MASS_COMPANION_MAX_MSUN} Msun (no orbit, or a heavy companion that could be a "
        "neutron star, a massive white dwarf or a massive star): no class; a curator "
        "decides."),
    "psr-magnetar": (
        "Isolated, TYPE has AXP (certain, not 'AXP(?)'): NS/magnetar (AXPs and SGRs)."),
    "psr-xins": "Isolated, TYPE has XINS: NS/XINS.",
    "psr-rrat": "Isolated, TYPE has RRAT (certain): NS/RRAT.",
    "psr-isolated": (
        "Isolated rotation-powered pulsar (no binary evidence): NS/MSP when P0 is below "
        f"{MSP_MAX_P0_S} s, otherwise NS/pulsar."),
}

#: Words in an ``OPT:`` association that name a massive companion star.
_MASSIVE_STAR_WORDS = ("Be-star", "Be_star", "Be star", "O-star", "B-star", "OB-star",
                       "supergiant")

#: GM_sun / c^3 in seconds (IAU 2015 nominal solar mass parameter).
_T_SUN_S = 4.925490947641267e-6


def minimum_companion_mass(pb_days: float, a1_lts: float,
                           pulsar_mass_msun: float = PULSAR_MASS_MSUN) -> float:
    """Minimum companion mass from the binary mass function (inclination 90 deg).

    Solves ``f = (m_c sin i)^3 / (m_p + m_c)^2`` with ``sin i = 1``, where
    ``f = 4 pi^2 (a1 sin i)^3 / (T_sun PB^2)`` in solar masses, as the ATNF catalogue's
    ``MinMass`` (pulsar mass 1.35 Msun).

    Parameters
    ----------
    pb_days : float
        Orbital period (days).
    a1_lts : float
        Projected semi-major axis of the pulsar orbit (light seconds).
    pulsar_mass_msun : float, optional

    Returns
    -------
    float
        Minimum companion mass in solar masses, NaN if an input is missing or not
        positive.
    """
    if not (pb_days and a1_lts) or not (pb_days > 0 and a1_lts > 0):
        return math.nan
    if math.isnan(pb_days) or math.isnan(a1_lts):
        return math.nan
    pb_s = pb_days * 86400.0
    f = 4.0 * math.pi ** 2 * a1_lts ** 3 / (_T_SUN_S * pb_s ** 2)
    lo, hi = 0.0, 1.0
    while hi ** 3 / (pulsar_mass_msun + hi) ** 2 < f:
        hi *= 2.0
        if hi > 1e6:
            return math.nan
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mid ** 3 / (pulsar_mass_msun + mid) ** 2 < f:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _companion_code(code: str) -> str:
    """Reduce an ATNF companion code to its base type (MS, NS, CO, He, UL, DNS)."""
    first = code.split("/")[0].strip()
    for base in ("DNS", "MS", "NS", "CO", "He", "UL"):
        if first == base or first == base + "T":
            return base
    return first


def classify_pulsar(types: list[tuple[str, bool]], companions: list[tuple[str, bool]],
                    *, is_binary: bool, pb_days: float = math.nan,
                    min_companion_mass_msun: float = math.nan,
                    p0_s: float = math.nan,
                    associations: list[str] = ()) -> ClassAssignment:
    """Map an ATNF pulsar to a livecat class (rules in :data:`PULSAR_RULES`).

    Parameters
    ----------
    types : list of (str, bool)
        TYPE codes with an "uncertain" flag (``AXP(?)`` -> ``("AXP", True)``).
    companions : list of (str, bool)
        BINCOMP codes with an "uncertain" flag; the first entry is the catalogue's
        primary value.
    is_binary : bool
        Whether the record shows any binary evidence (orbit parameters, binary model,
        TYPE BINARY, companion type).
    pb_days : float, optional
        Orbital period (days).
    min_companion_mass_msun : float, optional
        Minimum companion mass (see :func:`minimum_companion_mass`).
    p0_s : float, optional
        Spin period (s).
    associations : sequence of str, optional
        Association texts (``"OPT:Be-star"``), used to recognise massive companions.

    Returns
    -------
    ClassAssignment
    """
    codes = {code: uncertain for code, uncertain in types}
    if companions:
        comp = _companion_code(companions[0][0])
        mmin = min_companion_mass_msun
        if comp in ("NS", "DNS"):
            return ClassAssignment("NS", "DNS", "psr-ns-companion")
        if comp == "MS":
            massive_assoc = any(
                a.upper().startswith("OPT:") and any(w.lower() in a.lower()
                                                     for w in _MASSIVE_STAR_WORDS)
                for a in associations)
            if massive_assoc or (not math.isnan(mmin) and mmin >= MASSIVE_COMPANION_MIN_MSUN):
                sub = "gamma-ray-binary" if "HE" in codes else None
                return ClassAssignment("HMXB", sub, "psr-massive-ms-companion")
            if not math.isnan(pb_days) and pb_days < SPIDER_MAX_PB_DAYS:
                return ClassAssignment("LMXB", "redback", "psr-redback")
            return ClassAssignment("LMXB", None, "psr-low-mass-ms-companion")
        if comp == "UL":
            if not math.isnan(pb_days) and pb_days < SPIDER_MAX_PB_DAYS:
                return ClassAssignment("LMXB", "black-widow", "psr-black-widow")
            return ClassAssignment("LMXB", None, "psr-ultralight-companion")
        if comp in ("He", "CO"):
            return ClassAssignment("LMXB", "MSP-WD", "psr-wd-companion")
        # An unknown companion code falls through to the generic binary rules.
    if is_binary or companions:
        if not math.isnan(min_companion_mass_msun) and \
                min_companion_mass_msun < LOW_MASS_COMPANION_MAX_MSUN:
            return ClassAssignment("LMXB", None, "psr-binary-low-mass")
        return ClassAssignment(None, None, "psr-binary-undetermined")
    if codes.get("AXP") is False:
        return ClassAssignment("NS", "magnetar", "psr-magnetar")
    if "XINS" in codes:
        return ClassAssignment("NS", "XINS", "psr-xins")
    if codes.get("RRAT") is False:
        return ClassAssignment("NS", "RRAT", "psr-rrat")
    if not math.isnan(p0_s) and p0_s < MSP_MAX_P0_S:
        return ClassAssignment("NS", "MSP", "psr-isolated")
    return ClassAssignment("NS", "pulsar", "psr-isolated")


#: Rules for K. Mukai's catalogue of intermediate polars.
IPCAT_RULES: dict[str, str] = {
    "ipcat-ip": (
        "Every row of the IP catalogue is CV/IP; the star rating (1-5, 'ironclad' = 5) "
        "is kept as confidence, and unnumbered rows are kept as candidates (params). "
        "Low ratings include objects later shown not to be IPs (the catalogue keeps "
        "everything once proposed in a refereed paper), so a consumer may cut on "
        "confidence."),
}


def classify_ip(level: int | None = None) -> ClassAssignment:
    """Class of an IP-catalogue row (rule ``ipcat-ip``): always CV/IP.

    Parameters
    ----------
    level : int, optional
        The star rating; recorded as confidence by the caller, not used here.

    Returns
    -------
    ClassAssignment
    """
    return ClassAssignment("CV", "IP", "ipcat-ip")
