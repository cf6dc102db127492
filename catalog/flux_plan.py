"""Which native bands of each catalog reach each CSC band, and with which factor.

A *route* to a CSC band (s 0.5-1.2, m 1.2-2, h 2-7, b 0.5-7 keV) is one native
energy-flux band of a catalog, or a chain of adjacent ones (each band's upper edge is the
next one's lower edge) whose fluxes are summed. For a route over ``[nlo, nhi]`` to a
target ``[tlo, thi]``:

* ``coverage`` = the fraction of the target (in keV) inside ``[nlo, nhi]``;
* ``purity`` = the fraction of ``[nlo, nhi]`` (in keV) inside the target;
* ``factor`` = F(target) / F(nlo, nhi), observed fluxes of the source's absorbed power law
  (:func:`catalog.spectra.conversion_factor`);
* ``measured_fraction`` = F(overlap) / F(target): how much of the model's flux in the
  target the measured bands hold (1 when ``coverage`` is 1).

Routes are ranked: full coverage first, then by ``coverage x purity`` (the least
model-dependent conversion), then fewer bands. A route with ``coverage < 1`` extrapolates
(flagged) and is allowed only when ``measured_fraction >= 0.5`` for the source's spectrum;
otherwise it is refused with a reason. So XMM h (2-7 keV) comes from bands 4+5 (2-12 keV),
XMM b from 9+5 (0.5-12), eRASS1 Hard h from band 3 (2.3-5) alone, and a CSC band from
itself (factor 1, ``exact``).

Reasons a CSC band gets no value are phrases of :data:`REASONS`; a reason is the phrase
alone or ``"<phrase>: <detail>"`` (:func:`reason_code` gives the phrase back).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from catalog.absorption import CrossSection, sigma_mm83
from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV, MISSION_BANDS, MissionBands
from catalog.errors import InputError
from catalog.spectra import band_energy_flux, cross_section_name

#: The measured bands must hold at least this fraction of the model's flux in a CSC band
#: for an extrapolation to it to be made.
MIN_MEASURED_FRACTION = 0.5
#: Photon indices and N_H (cm^-2) of the default :func:`conversion_table`.
DEFAULT_GAMMAS = (1.4, 1.7, 2.0, 2.3)
DEFAULT_NH_GRID = (0.0, 1e20, 1e21, 1e22, 1e23)

#: Why a CSC band has no value (``value`` NULL); a reason reads "<phrase>" or
#: "<phrase>: <detail>".
REASONS: dict[str, str] = {
    "upper limit only": "the bands that reach it hold only upper limits: value_hi is the "
                        "converted upper limit (exactly this phrase, no detail)",
    "unreachable": "none of the bands that reach it was measured for this source; the "
                   "detail names the missing bands of the best route",
    "extrapolation refused": "the measured bands cover only part of it and hold less than "
                             "50 % of the model's flux in it (the detail says how much)",
    "no energy flux": "the catalog stores no energy flux for this source, only count rates",
    "no measured value": "the source has no usable flux in any band (no row, or a row "
                         "without a value or an upper bound)",
    "no N_H": "the conversion needs N_H and the source has neither N_H nor a position",
}


def reason_code(reason: str | None) -> str | None:
    """The :data:`REASONS` phrase a reason starts with (None for None)."""
    if reason is None:
        return None
    code = reason.split(":", 1)[0]
    if code not in REASONS:
        raise ValueError(f"{reason!r} does not start with one of {', '.join(REASONS)}")
    return code


@dataclass(frozen=True)
class Route:
    """One way to a CSC band: a native band or a chain of adjacent ones, summed."""

    band_set: str
    target: str
    bands: tuple[str, ...]
    native_kev: tuple[float, float]
    coverage: float
    purity: float
    rank: int

    @property
    def name(self) -> str:
        """The bands joined by ``+`` (``"4+5"``)."""
        return "+".join(self.bands)

    @property
    def target_kev(self) -> tuple[float, float]:
        return CSC_BANDS_KEV[self.target]

    @property
    def extrapolated(self) -> bool:
        """True when the native bands do not cover the whole target band."""
        return self.coverage < 1.0

    @property
    def exact(self) -> bool:
        """True when the route is the target band itself (a CSC band, factor 1)."""
        return len(self.bands) == 1 and self.native_kev == self.target_kev

    @property
    def overlap_kev(self) -> tuple[float, float]:
        """The part of the target band the native bands measure."""
        (nlo, nhi), (tlo, thi) = self.native_kev, self.target_kev
        return max(nlo, tlo), min(nhi, thi)


def find_band_set(name: str) -> MissionBands:
    """The band set called ``name`` (``"xmm"``, ``"erass1-hard"``, ...)."""
    for sets in MISSION_BANDS.values():
        for bs in sets:
            if bs.band_set == name:
                return bs
    known = ", ".join(bs.band_set for sets in MISSION_BANDS.values() for bs in sets)
    raise InputError(f"unknown band set {name!r}: expected one of {known}")


@lru_cache(maxsize=None)
def routes(band_set: str, target: str) -> tuple[Route, ...]:
    """Every route from band set ``band_set``'s energy-flux bands to CSC band ``target``,
    best first (rank 1).

    Parameters
    ----------
    band_set : str
        A :class:`catalog.bands.MissionBands` ``band_set`` name.
    target : str
        One of :data:`catalog.bands.COMMON_BANDS`.

    Returns
    -------
    tuple of Route
        Routes with some overlap with the target; empty when none overlaps.
    """
    if target not in COMMON_BANDS:
        raise InputError(f"unknown target band {target!r}: expected one of "
                         f"{', '.join(COMMON_BANDS)}")
    bands = find_band_set(band_set).energy_flux
    tlo, thi = CSC_BANDS_KEV[target]
    candidates = []
    for chain in _chains(bands):
        nlo, nhi = bands[chain[0]][0], bands[chain[-1]][1]
        overlap = min(nhi, thi) - max(nlo, tlo)
        if overlap <= 0:
            continue
        coverage = min(1.0, overlap / (thi - tlo))
        purity = min(1.0, overlap / (nhi - nlo))
        candidates.append((chain, (nlo, nhi), coverage, purity))
    candidates.sort(key=lambda c: (c[2] < 1.0, -round(c[2] * c[3], 12), len(c[0]), c[1],
                                   c[0]))
    return tuple(Route(band_set, target, chain, kev, cov, pur, rank)
                 for rank, (chain, kev, cov, pur) in enumerate(candidates, start=1))


def _chains(bands: dict[str, tuple[float, float]]) -> list[tuple[str, ...]]:
    """Every single band and every chain of adjacent bands (energy order)."""
    def follow(chain):
        yield chain
        top = bands[chain[-1]][1]
        for name, (lo, _) in bands.items():
            if np.isclose(lo, top, rtol=0, atol=1e-9):
                yield from follow(chain + (name,))
    return [c for name in bands for c in follow((name,))]


def route_fractions(route: Route, gamma, nh_cm2, *, observed: bool = True,
                    cross_section: CrossSection = sigma_mm83):
    """Conversion factor and measured fraction of ``route`` for spectra (vectorised).

    Returns
    -------
    factor, measured_fraction : numpy.ndarray
        ``F(target) / F(native)`` and ``F(overlap) / F(target)`` (1 for full coverage).
    """
    kw = {"observed": observed, "cross_section": cross_section}
    (tlo, thi), (nlo, nhi), (olo, ohi) = route.target_kev, route.native_kev, route.overlap_kev
    target = band_energy_flux(tlo, thi, gamma, nh_cm2, **kw)
    factor = target / band_energy_flux(nlo, nhi, gamma, nh_cm2, **kw)
    if not route.extrapolated:
        return factor, np.ones_like(factor)
    return factor, band_energy_flux(olo, ohi, gamma, nh_cm2, **kw) / target


def refusal(route: Route, fraction: float) -> str:
    """The reason an extrapolation along ``route`` is refused at ``fraction``."""
    (nlo, nhi), (tlo, thi) = route.native_kev, route.target_kev
    return (f"extrapolation refused: band {route.name} ({nlo:g}-{nhi:g} keV) holds "
            f"{fraction:.0%} of the model flux in {route.target} ({tlo:g}-{thi:g} keV), "
            f"below {MIN_MEASURED_FRACTION:.0%}")


TABLE_COLUMNS = ["band_set", "catalog", "target_band", "target_lo_kev", "target_hi_kev",
                 "rank", "native_bands", "native_lo_kev", "native_hi_kev", "coverage",
                 "extrapolated", "gamma", "nh_cm2", "observed", "cross_section",
                 "measured_fraction", "factor", "reason"]


def conversion_table(catalogs=None, gammas=DEFAULT_GAMMAS, nh_grid=DEFAULT_NH_GRID, *,
                     observed: bool = True,
                     cross_section: CrossSection = sigma_mm83) -> pd.DataFrame:
    """Every route of every catalog to every CSC band on a grid of spectra.

    Parameters
    ----------
    catalogs : iterable of str, optional
        livecat catalog keys (default: all of :data:`catalog.bands.MISSION_BANDS`).
    gammas, nh_grid : iterable of float
        Photon indices and hydrogen columns (cm^-2) of the grid.
    observed : bool
        Factors between observed (absorbed) fluxes, as the catalogs quote them.
    cross_section : callable
        See :func:`catalog.spectra.band_energy_flux`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`: one row per band set, target band, route (``rank``
        1 is the best; a source uses the best-ranked route that its bands allow and that
        is not refused), photon index and N_H. ``factor`` is NaN exactly when ``reason``
        is set (an extrapolation refused, or no route at all: ``rank`` NA).
    """
    keys = list(MISSION_BANDS) if catalogs is None else list(catalogs)
    unknown = [k for k in keys if k not in MISSION_BANDS]
    if unknown:
        raise InputError(f"unknown catalog(s) {', '.join(map(repr, unknown))}: expected "
                         f"one of {', '.join(MISSION_BANDS)}")
    grid_g, grid_nh = np.meshgrid(np.asarray(gammas, float), np.asarray(nh_grid, float),
                                  indexing="ij")
    grid_g, grid_nh = grid_g.ravel(), grid_nh.ravel()
    n = grid_g.size
    xs = cross_section_name(cross_section)
    frames = []
    for key in keys:
        for bs in MISSION_BANDS[key]:
            for target in COMMON_BANDS:
                tlo, thi = CSC_BANDS_KEV[target]
                base = {"band_set": bs.band_set, "catalog": key, "target_band": target,
                        "target_lo_kev": tlo, "target_hi_kev": thi, "gamma": grid_g,
                        "nh_cm2": grid_nh, "observed": observed, "cross_section": xs}
                found = routes(bs.band_set, target)
                if not found:
                    frames.append(pd.DataFrame({
                        **base, "rank": pd.NA, "native_bands": None, "native_lo_kev": np.nan,
                        "native_hi_kev": np.nan, "coverage": 0.0, "extrapolated": True,
                        "measured_fraction": 0.0, "factor": np.nan,
                        "reason": f"unreachable: no band of {bs.band_set} overlaps "
                                  f"{target} ({tlo:g}-{thi:g} keV)"}, index=range(n)))
                for route in found:
                    factor, frac = route_fractions(route, grid_g, grid_nh, observed=observed,
                                                   cross_section=cross_section)
                    refused = frac < MIN_MEASURED_FRACTION
                    frames.append(pd.DataFrame({
                        **base, "rank": route.rank, "native_bands": route.name,
                        "native_lo_kev": route.native_kev[0],
                        "native_hi_kev": route.native_kev[1], "coverage": route.coverage,
                        "extrapolated": route.extrapolated, "measured_fraction": frac,
                        "factor": np.where(refused, np.nan, factor),
                        "reason": [refusal(route, f) if r else None
                                   for f, r in zip(frac, refused)]}, index=range(n)))
    out = pd.concat(frames, ignore_index=True)[TABLE_COLUMNS]
    out["rank"] = out["rank"].astype("Int64")
    for col in ("native_bands", "reason"):  # None for NULL (not pandas 3's "str" NaN)
        out[col] = pd.Series(out[col].to_numpy(dtype=object), dtype=object).where(
            out[col].notna(), None)
    out["extrapolated"] = out["extrapolated"].astype(bool)
    out["observed"] = out["observed"].astype(bool)
    return out
