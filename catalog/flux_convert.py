"""Every source's fluxes in the CSC bands (s, m, h, b): native, converted, or why not.

:func:`convert_fluxes` takes the ``xray_flux`` rows of many sources and returns exactly
one row per source and CSC band. Each source goes through the best route
(:mod:`catalog.flux_plan`) that its own bands allow:

1. a route whose bands are all measured, in rank order, skipping extrapolations that the
   source's spectrum refuses (measured bands holding < 50 % of the model's flux in the
   target); the value is the sum of the bands' fluxes times the route's factor for the
   source's absorbed power law (photon index ``gamma``, Galactic ``N_H``), the bounds the
   sum's 1-sigma errors (added in quadrature) times the factor;
2. otherwise a route whose bands are measured or upper limits: ``value`` NULL,
   ``value_hi`` = factor x the sum of the bands' upper bounds, reason
   ``"upper limit only"``;
3. otherwise no value, with the reason (:data:`REASONS`).

A catalog's own measurement of the CSC band itself (CSC, ``muwclass-csc``) is copied
unchanged (``native`` true, factor 1, no model); a CSC band that is only an upper limit
stays an upper limit (no other band of the catalog overrides it). ``value`` is NaN
exactly when ``reason`` is set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from catalog.absorption import CrossSection, sigma_mm83
from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV, MissionBands
from catalog.flux_inputs import (
    LIMIT, MEASURED, NO_ROW, NO_VALUE, BandSetFluxes, prepare_fluxes, prepare_sources,
)
from catalog.flux_plan import (
    MIN_MEASURED_FRACTION, REASONS, Route, reason_code, refusal, routes,
)
from catalog.spectra import band_energy_flux, cross_section_name

__all__ = ["convert_fluxes", "reason_counts", "REASONS", "reason_code", "OUTPUT_COLUMNS"]

OUTPUT_COLUMNS = ["source_id", "band", "value", "value_lo", "value_hi", "native",
                  "from_band", "from_lo_kev", "from_hi_kev", "factor", "coverage",
                  "measured_fraction", "extrapolated", "model", "reason"]
_FLOATS = ("value", "value_lo", "value_hi", "from_lo_kev", "from_hi_kev", "factor",
           "coverage", "measured_fraction")
_OBJECTS = ("from_band", "model", "reason")
_BOOLS = ("native", "extrapolated")


def convert_fluxes(fluxes: pd.DataFrame, sources: pd.DataFrame, *, gamma: float = 2.0,
                   nh_cm2: float | None = None,
                   cross_section: CrossSection = sigma_mm83) -> pd.DataFrame:
    """Convert many sources' native band fluxes to the CSC bands.

    Parameters
    ----------
    fluxes : pandas.DataFrame
        ``xray_flux`` rows: ``source_id, band, kind, band_lo_kev, band_hi_kev, value,
        value_lo, value_hi``.
    sources : pandas.DataFrame
        One row per source: ``source_id, catalog`` (livecat catalog key), ``ra, dec``
        (deg), optionally ``gamma`` and ``nh_cm2`` (NaN: the defaults below).
    gamma : float
        Photon index of sources without their own.
    nh_cm2 : float, optional
        N_H of sources without their own; None: the HI4PI Galactic column at the source.
    cross_section : callable
        Absorption cross section (:mod:`catalog.absorption`).

    Returns
    -------
    pandas.DataFrame
        :data:`OUTPUT_COLUMNS`, one row per source (in ``sources`` order) and band
        s, m, h, b. ``value``/``value_lo``/``value_hi`` in erg cm^-2 s^-1 (bounds 1-sigma);
        ``from_band`` the native band(s) used (``"4+5"``), with their limits;
        ``measured_fraction`` the share of the model's flux in the band that they measure;
        ``model`` e.g. ``"powerlaw gamma=2 nh=1.723e+20 xsect=mm83 observed"`` for
        converted rows (None for native ones); ``reason`` a :data:`REASONS` phrase,
        set exactly when ``value`` is NaN.

    Raises
    ------
    catalog.errors.InputError
        A bad row (unknown catalog or band, bounds not around the value, duplicate,
        flux of an unknown source, ...), naming it.
    """
    src = prepare_sources(sources, gamma, nh_cm2)
    n, nt = len(src), len(COMMON_BANDS)
    out = {c: np.full(n * nt, np.nan) for c in _FLOATS}
    out.update({c: np.full(n * nt, None, dtype=object) for c in _OBJECTS})
    out.update({c: np.zeros(n * nt, dtype=bool) for c in _BOOLS})
    g_all, nh_all = src["gamma"].to_numpy(), src["nh_cm2"].to_numpy()
    for group in prepare_fluxes(fluxes, src):
        model = _ModelFluxes(group.band_set, g_all[group.rows], nh_all[group.rows],
                             cross_section)
        for t, target in enumerate(COMMON_BANDS):
            at = group.rows * nt + t
            for key, values in _convert_target(group, target, model).items():
                out[key][at] = values
        _write_models(out, group.rows, g_all, nh_all, cross_section_name(cross_section), nt)
    # object columns stay object with None (pandas 3 would infer "str" with NaN for NULL)
    frame = pd.DataFrame({"source_id": np.repeat(src["source_id"].to_numpy(), nt),
                          "band": np.tile(np.array(COMMON_BANDS, dtype=object), n),
                          **{k: pd.Series(v, dtype=object) if k in _OBJECTS else v
                             for k, v in out.items()}})
    return frame[OUTPUT_COLUMNS]


def _write_models(out: dict, rows: np.ndarray, g_all, nh_all, xs: str, nt: int) -> None:
    """The model string of every converted (not native, with a factor) row of ``rows``."""
    at = rows[:, None] * nt + np.arange(nt)
    use = ~out["native"][at] & ~np.isnan(out["factor"][at])
    some = use.any(axis=1)
    names = np.array([f"powerlaw gamma={g:g} nh={nh:.3e} xsect={xs} observed"
                      for g, nh in zip(g_all[rows[some]], nh_all[rows[some]])], dtype=object)
    full = np.full(rows.size, None, dtype=object)
    full[some] = names
    out["model"][at[use]] = np.broadcast_to(full[:, None], use.shape)[use]


class _ModelFluxes:
    """Observed model fluxes of one band set's sources between any two band edges.

    The integrals over the segments between consecutive edges are computed once per
    source (on first use) and summed: F(lo, hi) = C(hi) - C(lo).
    """

    def __init__(self, bs: MissionBands, gamma, nh, cross_section) -> None:
        edges = {e for lims in bs.energy_flux.values() for e in lims}
        edges |= {e for b in COMMON_BANDS for e in CSC_BANDS_KEV[b]}
        self.edges = np.array(sorted(edges))
        self.gamma, self.nh = gamma, nh
        self.ok = np.isfinite(gamma) & np.isfinite(nh)
        self.cross_section = cross_section
        self._cum = None
        self._routes: dict[Route, tuple] = {}

    def flux(self, lo: float, hi: float) -> np.ndarray:
        if self._cum is None:
            cum = np.full((self.gamma.size, self.edges.size), np.nan)
            if self.ok.any():
                seg = band_energy_flux(self.edges[None, :-1], self.edges[None, 1:],
                                       self.gamma[self.ok, None], self.nh[self.ok, None],
                                       cross_section=self.cross_section)
                cum[self.ok] = np.concatenate([np.zeros((seg.shape[0], 1)),
                                               np.cumsum(seg, axis=1)], axis=1)
            self._cum = cum
        i, j = np.searchsorted(self.edges, [lo, hi])
        return self._cum[:, j] - self._cum[:, i]

    def route(self, route: Route):
        """Factor and measured fraction of ``route`` for every source (NaN without N_H)."""
        if route not in self._routes:
            target = self.flux(*route.target_kev)
            factor = target / self.flux(*route.native_kev)
            frac = (self.flux(*route.overlap_kev) / target if route.extrapolated
                    else np.where(self.ok, 1.0, np.nan))
            self._routes[route] = (factor, frac)
        return self._routes[route]


def _convert_target(group: BandSetFluxes, target: str, model: _ModelFluxes) -> dict:
    """The columns of one CSC band for the sources of one band set."""
    n = group.rows.size
    found = routes(group.band_set.band_set, target)
    col = {b: i for i, b in enumerate(group.bands)}
    worst = [group.state[:, [col[b] for b in r.bands]].min(axis=1) for r in found]
    chosen = np.full(n, -1)
    factor, frac = np.full(n, np.nan), np.full(n, np.nan)
    refused, refused_frac = np.full(n, -1), np.full(n, np.nan)
    need_nh = np.zeros(n, dtype=bool)
    for least in (MEASURED, LIMIT):
        for k, route in enumerate(found):
            # the catalog's own measurement of the band: even a limit is final
            floor = LIMIT if route.exact and k == 0 else least
            cand = (chosen < 0) & (worst[k] >= floor)
            if not cand.any():
                continue
            if route.exact:
                fac, fr = np.ones(n), np.ones(n)
            else:
                fac, fr = model.route(route)
                need_nh |= cand & ~model.ok
            with np.errstate(invalid="ignore"):
                ok = cand & (fr >= MIN_MEASURED_FRACTION)
            new_refusal = cand & model.ok & ~ok & (refused < 0)
            refused[new_refusal], refused_frac[new_refusal] = k, fr[new_refusal]
            chosen[ok], factor[ok], frac[ok] = k, fac[ok], fr[ok]
    res = {c: np.full(n, np.nan) for c in _FLOATS}
    res.update({c: np.full(n, None, dtype=object) for c in _OBJECTS})
    res.update({c: np.zeros(n, dtype=bool) for c in _BOOLS})
    for k, route in enumerate(found):
        sel = np.flatnonzero(chosen == k)
        if sel.size:
            _fill_route(res, group, route, [col[b] for b in route.bands], sel, worst[k][sel],
                        factor[sel], frac[sel])
    _fill_reasons(res, group, target, found, col, chosen, refused, refused_frac, need_nh)
    return res


def _fill_route(res: dict, group: BandSetFluxes, route: Route, cols: list, sel, worst,
                factor, frac) -> None:
    """Values of the sources ``sel`` that go through ``route``."""
    measured = worst == MEASURED
    if route.exact:
        c = cols[0]
        value, lo, hi = (a[sel, c] for a in (group.value, group.value_lo, group.value_hi))
        limit_hi = group.upper[sel, c]
    else:
        total = group.value[np.ix_(sel, cols)].sum(axis=1)
        err_lo = np.sqrt((group.err_lo[np.ix_(sel, cols)] ** 2).sum(axis=1))
        err_hi = np.sqrt((group.err_hi[np.ix_(sel, cols)] ** 2).sum(axis=1))
        value, lo, hi = factor * total, factor * (total - err_lo), factor * (total + err_hi)
        limit_hi = factor * group.upper[np.ix_(sel, cols)].sum(axis=1)
    res["value"][sel] = np.where(measured, value, np.nan)
    res["value_lo"][sel] = np.where(measured, lo, np.nan)
    res["value_hi"][sel] = np.where(measured, hi, limit_hi)
    res["reason"][sel[~measured]] = "upper limit only"
    res["native"][sel] = route.exact
    res["from_band"][sel] = route.name
    res["from_lo_kev"][sel], res["from_hi_kev"][sel] = route.native_kev
    res["factor"][sel] = factor
    res["coverage"][sel] = route.coverage
    res["measured_fraction"][sel] = frac
    res["extrapolated"][sel] = route.extrapolated


def _fill_reasons(res: dict, group: BandSetFluxes, target: str, found, col, chosen,
                  refused, refused_frac, need_nh) -> None:
    """The reason of every source left without a route (see :data:`REASONS`)."""
    left = chosen < 0
    if not left.any():
        return
    state = group.state
    no_row = (state == NO_ROW).all(axis=1)
    no_value = (state <= NO_VALUE).all(axis=1) & ~no_row
    missing = _missing_text(state, found[0] if found else None, col)
    tlo, thi = CSC_BANDS_KEV[target]
    for i in np.flatnonzero(left):
        if no_row[i]:
            text = ("no energy flux: the catalog stores only count rates for this source"
                    if group.has_rate[i] else "no measured value: the source has no flux rows")
        elif no_value[i]:
            text = ("no measured value: no band holds a value or an upper bound ("
                    + ", ".join(b for b in group.bands if state[i, col[b]] == NO_VALUE) + ")")
        elif need_nh[i]:
            text = "no N_H: the conversion needs N_H; the source has none and no position"
        elif refused[i] >= 0:
            route = found[refused[i]]
            text = refusal(route, refused_frac[i]) + (f"; {missing[i]}" if missing[i] else "")
            res["from_band"][i] = route.name
            res["from_lo_kev"][i], res["from_hi_kev"][i] = route.native_kev
            res["coverage"][i], res["measured_fraction"][i] = route.coverage, refused_frac[i]
            res["extrapolated"][i] = True
        elif found:
            text = f"unreachable: {missing[i]}"
        else:
            text = (f"unreachable: no band of {group.band_set.band_set} overlaps {target} "
                    f"({tlo:g}-{thi:g} keV)")
        res["reason"][i] = text


def _missing_text(state: np.ndarray, best: Route | None, col: dict) -> np.ndarray:
    """Per source, which bands of the best route are not measured (text, or None)."""
    out = np.full(state.shape[0], None, dtype=object)
    if best is None:
        return out
    bs = best.bands
    cols = [col[b] for b in bs]
    lacking = state[:, cols] < LIMIT
    cache: dict[tuple, str] = {}
    for i in np.flatnonzero(lacking.any(axis=1)):
        key = tuple(lacking[i])
        if key not in cache:
            names = [b for b, lack in zip(bs, key) if lack]
            cache[key] = (f"band{'s' if len(names) > 1 else ''} {', '.join(names)} of the "
                          f"best route {best.name} ({best.native_kev[0]:g}-"
                          f"{best.native_kev[1]:g} keV) not measured")
        out[i] = cache[key]
    return out


def reason_counts(converted: pd.DataFrame) -> pd.Series:
    """How many rows of a :func:`convert_fluxes` result have each reason phrase."""
    codes = converted["reason"].dropna().map(reason_code)
    return codes.value_counts().reindex(list(REASONS), fill_value=0)
