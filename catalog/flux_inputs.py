"""Check and arrange the inputs of :func:`catalog.flux_convert.convert_fluxes`.

``fluxes`` are rows of the ``xray_flux`` view (``source_id, band, kind, band_lo_kev,
band_hi_kev, value, value_lo, value_hi``), ``sources`` one row per source (``source_id,
catalog, ra, dec`` and optionally ``gamma``, ``nh_cm2``). Every bad row is an
:class:`catalog.errors.InputError` naming the row (its position in the frame, its
``source_id``, band and values) and what was expected.

What a stored flux means (the ingest modules store every catalog alike):

* ``value`` finite and > 0: a measurement; ``value_lo``/``value_hi`` are its bounds
  (``bounds_sigma`` 1-sigma errors away: :class:`catalog.bands.MissionBands`), NaN when
  the catalog quotes none;
* otherwise, ``value_hi`` finite and > 0: an upper limit ``value_hi`` (a NULL value with
  an upper bound, or a value of 0 whose interval reaches 0, as CSC ``flux_aper`` of a band
  where the source was not detected, or an LSXPS ``PowFlux`` of 0);
* otherwise no usable value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog.bands import MISSION_BANDS, MissionBands
from catalog.errors import InputError
from catalog.spectra import galactic_nh_cm2

FLUX_COLUMNS = ("source_id", "band", "kind", "band_lo_kev", "band_hi_kev", "value",
                "value_lo", "value_hi")
SOURCE_COLUMNS = ("source_id", "catalog", "ra", "dec")
KINDS = ("energy_flux", "count_rate")

#: State of a source's band: no row, a row without a usable value, an upper limit, a
#: measurement (ordered: a route is as good as its worst band).
NO_ROW, NO_VALUE, LIMIT, MEASURED = -1, 0, 1, 2


@dataclass
class BandSetFluxes:
    """The energy fluxes of the sources of one band set, one column per band.

    Attributes
    ----------
    band_set : MissionBands
    rows : numpy.ndarray
        Positions (in ``sources``) of the sources of this band set.
    bands : list of str
        The band set's energy-flux bands (the columns below).
    state : numpy.ndarray of int
        ``NO_ROW``, ``NO_VALUE``, ``LIMIT`` or ``MEASURED`` per source and band.
    value, value_lo, value_hi : numpy.ndarray of float
        The stored values (copied unchanged for an exact route).
    err_lo, err_hi : numpy.ndarray of float
        1-sigma errors of the measurements (NaN where unknown).
    upper : numpy.ndarray of float
        The upper bound a route through the band uses for an upper limit: ``value_hi``
        of a limit, ``value + err_hi`` (else ``value``) of a measurement.
    has_rate : numpy.ndarray of bool
        The source has count-rate rows.
    """

    band_set: MissionBands
    rows: np.ndarray
    bands: list
    state: np.ndarray
    value: np.ndarray
    value_lo: np.ndarray
    value_hi: np.ndarray
    err_lo: np.ndarray
    err_hi: np.ndarray
    upper: np.ndarray
    has_rate: np.ndarray


def prepare_sources(sources: pd.DataFrame, gamma: float, nh_cm2: float | None) -> pd.DataFrame:
    """Validated sources with the spectrum of each: ``gamma`` and ``nh_cm2`` filled.

    A source's own ``gamma``/``nh_cm2`` wins; NaN takes the default ``gamma`` and
    ``nh_cm2`` (None: the HI4PI column at the source, NaN without a position).
    """
    _require(sources, SOURCE_COLUMNS, "sources")
    src = sources.reset_index(drop=True)
    dup = src["source_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"sources row {i}: source_id {_show(src['source_id'][i])} appears twice "
                         "(expected one row per source)")
    bad = ~src["catalog"].isin(list(MISSION_BANDS))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"sources row {i} (source_id {_show(src['source_id'][i])}): unknown "
                         f"catalog {_show(src['catalog'][i])}, expected one of "
                         f"{', '.join(MISSION_BANDS)}")
    ra = _numbers(src, "ra", "sources")
    dec = _numbers(src, "dec", "sources")
    _check(src, (np.abs(dec) > 90) | (ra < 0) | (ra >= 360), "sources",
           "position outside ra [0, 360), dec [-90, 90] deg", ("ra", "dec"))
    if not np.isfinite(gamma):
        raise InputError(f"gamma must be a finite photon index, got {gamma!r}")
    g = _numbers(src, "gamma", "sources") if "gamma" in src else np.full(len(src), np.nan)
    g = np.where(np.isfinite(g), g, gamma)
    own = _numbers(src, "nh_cm2", "sources") if "nh_cm2" in src else np.full(len(src), np.nan)
    _check(src, own < 0, "sources", "negative N_H (expected cm^-2 >= 0)", ("nh_cm2",))
    if nh_cm2 is not None and not nh_cm2 >= 0:
        raise InputError(f"nh_cm2 must be >= 0 cm^-2 or None (the HI4PI map), got {nh_cm2!r}")
    need = ~np.isfinite(own)
    nh = own.copy()
    if need.any():
        nh[need] = (nh_cm2 if nh_cm2 is not None
                    else galactic_nh_cm2(ra[need], dec[need]))
    return pd.DataFrame({"source_id": src["source_id"], "catalog": src["catalog"],
                         "gamma": g, "nh_cm2": nh})


def prepare_fluxes(fluxes: pd.DataFrame, sources: pd.DataFrame) -> list[BandSetFluxes]:
    """Validate the flux rows and arrange them per band set (see :class:`BandSetFluxes`).

    Parameters
    ----------
    fluxes : pandas.DataFrame
        ``xray_flux`` rows.
    sources : pandas.DataFrame
        Output of :func:`prepare_sources`.
    """
    _require(fluxes, FLUX_COLUMNS, "fluxes")
    f = fluxes.reset_index(drop=True)
    pos = pd.Index(sources["source_id"]).get_indexer(f["source_id"])
    _check(f, pos < 0, "fluxes", "source_id not in sources", ())
    _check(f, ~f["kind"].isin(KINDS), "fluxes", f"kind is not one of {', '.join(KINDS)}",
           ("kind",))
    num = {c: _numbers(f, c, "fluxes") for c in ("band_lo_kev", "band_hi_kev", "value",
                                                 "value_lo", "value_hi")}
    v, lo, hi = num["value"], num["value_lo"], num["value_hi"]
    with np.errstate(invalid="ignore"):
        _check(f, (lo > v) | (hi < v) | (hi < 0), "fluxes",
               "bounds not around the value (expected value_lo <= value <= value_hi, "
               "value_hi >= 0)", ("value", "value_lo", "value_hi"))
    cat_code, cats = pd.factorize(sources["catalog"])
    set_code = _band_set_of_rows(f, cat_code[pos], np.asarray(cats, dtype=object),
                                 num["band_lo_kev"], num["band_hi_kev"])
    frame = pd.DataFrame({"pos": pos, "set": set_code, "band": f["band"].astype(str),
                          "kind": f["kind"], "value": v, "value_lo": lo, "value_hi": hi})
    dup = frame.duplicated(["pos", "band", "kind"])
    _check(f, dup.to_numpy(), "fluxes", "a second row for the same source, band and kind",
           ("band", "kind"))
    mixed = frame.groupby("pos")["set"].nunique()
    if (mixed > 1).any():
        p = int(mixed.index[mixed.to_numpy() > 1][0])
        names = sorted(_KNOWN_SETS[frame["set"][frame["pos"] == p].unique()])
        raise InputError(f"source_id {_show(sources['source_id'][p])}: fluxes from two band sets "
                         f"({', '.join(names)}); expected the bands of one catalogue layout")
    # a source without flux rows: its catalog's first band set
    source_set = np.array([_SET_CODE[MISSION_BANDS[c][0].band_set] for c in cats],
                          dtype=np.int64)[cat_code]
    first = frame.drop_duplicates("pos")
    source_set[first["pos"].to_numpy()] = first["set"].to_numpy()
    out = []
    for sets in MISSION_BANDS.values():
        for bs in sets:
            code = _SET_CODE[bs.band_set]
            rows = np.flatnonzero(source_set == code)
            if rows.size:
                out.append(_pivot(bs, rows, frame[frame["set"].to_numpy() == code]))
    return out


def _pivot(bs: MissionBands, rows: np.ndarray, frame: pd.DataFrame) -> BandSetFluxes:
    """One band set's rows as (source x band) arrays."""
    bands = list(bs.energy_flux)
    n, b = rows.size, len(bands)
    local = np.full(int(rows.max()) + 1, -1)
    local[rows] = np.arange(n)
    has_rate = np.zeros(n, dtype=bool)
    rate = frame[frame["kind"] == "count_rate"]
    has_rate[local[rate["pos"].to_numpy()]] = True
    ef = frame[frame["kind"] == "energy_flux"]
    i = local[ef["pos"].to_numpy()]
    j = pd.Index(bands).get_indexer(ef["band"])
    arrays = {}
    for col in ("value", "value_lo", "value_hi"):
        a = np.full((n, b), np.nan)
        a[i, j] = ef[col].to_numpy()
        arrays[col] = a
    v, lo, hi = arrays["value"], arrays["value_lo"], arrays["value_hi"]
    state = np.full((n, b), NO_ROW, dtype=np.int8)
    state[i, j] = NO_VALUE
    with np.errstate(invalid="ignore"):
        measured = np.isfinite(v) & (v > 0)
        limit = ~measured & np.isfinite(hi) & (hi > 0) & (state == NO_VALUE)
    state[limit] = LIMIT
    state[measured] = MEASURED
    err_lo = np.where(measured, (v - lo) / bs.bounds_sigma, np.nan)
    err_hi = np.where(measured, (hi - v) / bs.bounds_sigma, np.nan)
    upper = np.where(limit, hi, np.where(measured, np.where(np.isfinite(err_hi), v + err_hi,
                                                            v), np.nan))
    return BandSetFluxes(bs, rows, bands, state, v, lo, hi, err_lo, err_hi, upper, has_rate)


#: Every known flux band: catalog, kind, band name, limits (keV) and band set.
_KNOWN = pd.DataFrame([
    (key, kind, band, blo, bhi, bs.band_set)
    for key, sets in MISSION_BANDS.items() for bs in sets
    for kind, table in (("energy_flux", bs.energy_flux), ("count_rate", bs.count_rate))
    for band, (blo, bhi) in table.items()],
    columns=["catalog", "kind", "band", "blo", "bhi", "set"])
#: The band sets' names; a flux row's band set is its position here.
_KNOWN_SETS = np.array(list(dict.fromkeys(_KNOWN["set"])), dtype=object)
_SET_CODE = {name: i for i, name in enumerate(_KNOWN_SETS)}
#: The distinct values of the columns that key a known band.
_VOCAB = {c: pd.Index(list(dict.fromkeys(_KNOWN[c]))) for c in ("catalog", "kind", "band")}


def _key(cat: np.ndarray, kind: np.ndarray, band: np.ndarray) -> np.ndarray:
    """One integer per (catalog, kind, band), from their positions in :data:`_VOCAB`;
    -1 where any of them is -1 (unknown)."""
    key = (cat * len(_VOCAB["kind"]) + kind) * len(_VOCAB["band"]) + band
    return np.where((cat < 0) | (kind < 0) | (band < 0), -1, key)


def _known_by_key() -> tuple[np.ndarray, ...]:
    """The known bands sorted by :func:`_key`: the keys, limits and band-set codes."""
    key = _key(*(_VOCAB[c].get_indexer(_KNOWN[c]) for c in _VOCAB))
    order = np.argsort(key, kind="stable")
    return (key[order], _KNOWN["blo"].to_numpy(float)[order],
            _KNOWN["bhi"].to_numpy(float)[order],
            _KNOWN["set"].map(_SET_CODE).to_numpy(np.int64)[order])


_KNOWN_KEY, _KNOWN_LO, _KNOWN_HI, _KNOWN_SET_CODE = _known_by_key()


def _positions(values, vocabulary: pd.Index) -> np.ndarray:
    """Position of each of these (distinct) values in ``vocabulary`` (-1: not in it),
    with one -1 appended, for a factorized code -1 (missing) to take."""
    return np.append(vocabulary.get_indexer(np.asarray(values, dtype=object)), -1)


def _codes(values, vocabulary: pd.Index) -> np.ndarray:
    """Position of each value in ``vocabulary`` (-1: not in it, or missing); factorized
    first, so that only the distinct values are looked up."""
    codes, uniques = pd.factorize(values)
    return _positions(uniques, vocabulary)[codes]


def _band_set_of_rows(f: pd.DataFrame, cat_code: np.ndarray, cats: np.ndarray,
                      lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The band set (position in :data:`_KNOWN_SETS`) of each flux row, from its catalog
    (``cats[cat_code]``), kind, band and limits: the (catalog, kind, band) triples as
    integer keys, each row checked against the known bands of its key (a catalog may have
    two band sets naming a band alike, told apart by the limits)."""
    key = _key(_positions(cats, _VOCAB["catalog"])[cat_code], _codes(f["kind"], _VOCAB["kind"]),
               _codes(f["band"].astype(str), _VOCAB["band"]))
    start = np.searchsorted(_KNOWN_KEY, key, side="left")
    end = np.searchsorted(_KNOWN_KEY, key, side="right")
    set_of = np.full(len(f), -1, dtype=np.int64)
    for m in range(int((end - start).max(initial=0))):
        j = start + m
        has = np.flatnonzero((key >= 0) & (j < end))
        j = j[has]
        ok = (np.isclose(lo[has], _KNOWN_LO[j], rtol=1e-6, atol=0)
              & np.isclose(hi[has], _KNOWN_HI[j], rtol=1e-6, atol=0))
        set_of[has[ok]] = _KNOWN_SET_CODE[j[ok]]
    missing = np.flatnonzero(set_of < 0)
    if missing.size:
        i = int(missing[0])
        catalog = cats[cat_code[i]] if cat_code[i] >= 0 else None
        expected = ", ".join(f"{b} {blo:g}-{bhi:g} keV" for _, b, blo, bhi in _KNOWN[
            (_KNOWN["catalog"] == catalog) & (_KNOWN["kind"] == f["kind"][i])][
            ["band", "blo", "bhi"]].itertuples())
        raise InputError(f"fluxes row {i} (source_id {_show(f['source_id'][i])}): {f['kind'][i]} "
                         f"band {_show(f['band'][i])} {lo[i]:g}-{hi[i]:g} keV is not a band of "
                         f"catalog {_show(catalog)} (expected one of: {expected or 'none'})")
    return set_of


def _show(value) -> str:
    """``repr`` of a cell, numpy scalars as plain Python values (``7``, not ``np.int64(7)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _require(df: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)} (expected "
                         f"{', '.join(columns)})")


def _numbers(df: pd.DataFrame, col: str, what: str) -> np.ndarray:
    """Column ``col`` as floats (NULL -> NaN); a non-number is an error naming its row."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(values) & df[col].notna().to_numpy()
    _check(df, bad, what, f"{col} is not a number", (col,))
    return values


def _check(df: pd.DataFrame, bad: np.ndarray, what: str, problem: str, cols) -> None:
    """Raise naming the first row where ``bad`` holds, with its id and the columns."""
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    shown = ", ".join(f"{c} {_show(df[c].iloc[i])}"
                      for c in dict.fromkeys(("source_id", "band", *cols)) if c in df.columns)
    raise InputError(f"{what} row {i} ({shown}): {problem}"
                     + (f" ({int(bad.sum())} rows like it)" if bad.sum() > 1 else ""))
