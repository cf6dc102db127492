"""Which X-ray fluxes a source is classified with when it has no CSC bands of its own.

The MUWCLASS features are built from the CSC soft, medium and hard energy fluxes. A source
that has them (a CSC source) is classified with its own (``native``). Otherwise, in order:

1. ``object``: its cross-mission object (``xray_association``, ``livecat objects build``)
   has a current CSC member with s/m/h fluxes (native, or converted from that member's
   other CSC bands): the object is labelled from its CSC fluxes, whatever member is
   asked about;
2. ``converted``: its own bands converted to the CSC bands (``xray_common_flux``, an
   absorbed power law: :mod:`associate.common_flux`);
3. none: the source is skipped, counted under the reason the conversion gave per band
   (``h: upper limit only``), or ``no common-band fluxes`` when ``livecat objects build``
   has not converted it yet.

:func:`fill_from_other_fluxes` applies that to the rows of the measurement table that
have no native band and returns, per row, where the fluxes came from.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import sqlalchemy as sa

from catalog.bands import CSC_BANDS_KEV, MUWCLASS_BANDS
from catalog.settings import SCHEMA

#: Reason counted for a source no object build has given common-band fluxes.
NOT_CONVERTED = "no common-band fluxes (run livecat objects build)"
FLUX_COLUMNS = [f"F{b}" for b in MUWCLASS_BANDS]
ERROR_COLUMNS = [f"e_F{b}" for b in MUWCLASS_BANDS]


def native_band_sql(alias: str = "s") -> tuple[str, str]:
    """SQL joins and select list of the CSC s/m/h energy fluxes of ``xray_source``
    ``alias`` (matched by their band edges) with their errors, half the quoted interval."""
    joins, cols = [], []
    for b in MUWCLASS_BANDS:
        lo, hi = CSC_BANDS_KEV[b]
        a = f"f{b}"
        joins.append(
            f"LEFT JOIN {SCHEMA}.xray_flux {a} ON {a}.source_id = {alias}.id "
            f"AND {a}.kind = 'energy_flux' "
            f"AND abs({a}.band_lo_kev - {lo}) < 1e-6 AND abs({a}.band_hi_kev - {hi}) < 1e-6")
        cols.append(f"{a}.value AS \"F{b}\", ({a}.value_hi - {a}.value_lo) / 2.0 AS \"e_F{b}\"")
    return " ".join(joins), ", ".join(cols)


def _object_csc_fluxes(conn, ids: list[int]) -> pd.DataFrame:
    """Per source: the CSC member of its current object (nearest first) and that member's
    s/m/h fluxes in ``xray_common_flux`` (its own bands: native, or converted from its
    other CSC bands, e.g. b only for a piled-up source)."""
    joins = " ".join(
        f"LEFT JOIN {SCHEMA}.xray_common_flux f{b} ON f{b}.source_id = m.id "
        f"AND f{b}.band = '{b}'" for b in MUWCLASS_BANDS)
    cols = ", ".join(f"f{b}.value AS \"F{b}\", (f{b}.value_hi - f{b}.value_lo) / 2.0 "
                     f"AS \"e_F{b}\"" for b in MUWCLASS_BANDS)
    rows = conn.execute(sa.text(f"""
        SELECT DISTINCT ON (a.xray_source_id) a.xray_source_id AS source_id,
               m.id AS flux_source_id, {cols}
          FROM {SCHEMA}.xray_association a
          JOIN {SCHEMA}.xray_association c ON c.object_id = a.object_id
               AND c.ended_run_id IS NULL AND c.catalog = 'csc'
               AND c.xray_source_id <> a.xray_source_id
          JOIN {SCHEMA}.xray_source m ON m.id = c.xray_source_id AND m.is_current
          {joins}
         WHERE a.ended_run_id IS NULL AND a.xray_source_id = ANY(:ids)
           AND ({' OR '.join(f'f{b}.value IS NOT NULL' for b in MUWCLASS_BANDS)})
         ORDER BY a.xray_source_id, c.separation_arcsec NULLS FIRST, m.id"""),
        {"ids": ids})
    return pd.DataFrame(rows.all(), columns=list(rows.keys()))


def _converted_fluxes(conn, ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Converted s/m/h fluxes (wide, with errors) and the reasons of the missing ones."""
    rows = conn.execute(sa.text(
        f"SELECT source_id, band, value, value_lo, value_hi, reason "
        f"FROM {SCHEMA}.xray_common_flux WHERE source_id = ANY(:ids) AND band = ANY(:bands)"),
        {"ids": ids, "bands": list(MUWCLASS_BANDS)})
    long = pd.DataFrame(rows.all(), columns=["source_id", "band", "value", "value_lo",
                                             "value_hi", "reason"])
    long["err"] = (long["value_hi"].astype(float) - long["value_lo"].astype(float)) / 2.0
    if not len(long):
        return pd.DataFrame(columns=FLUX_COLUMNS + ERROR_COLUMNS, dtype=float), long
    wide = long.pivot(index="source_id", columns="band", values=["value", "err"])
    out = pd.DataFrame(index=wide.index)
    for b in MUWCLASS_BANDS:
        out[f"F{b}"] = wide["value"][b].astype(float) if b in wide["value"] else np.nan
        out[f"e_F{b}"] = wide["err"][b].astype(float) if b in wide["err"] else np.nan
    return out, long[long["reason"].notna()]


def fill_from_other_fluxes(conn, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame,
                                                               Counter]:
    """Fill the s/m/h fluxes of the rows without native ones (see the module docstring).

    Parameters
    ----------
    conn : Connection
    frame : pandas.DataFrame
        Measurement rows with ``source_id`` and the native ``Fs``... ``e_Fh`` columns.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame, collections.Counter)
        ``frame`` with fluxes filled where another origin has them; per ``source_id`` the
        ``flux_origin`` (native, object, converted or None) and ``flux_source_id``; the
        reasons of the rows left without any flux.
    """
    frame = frame.copy()
    native = frame[FLUX_COLUMNS].notna().any(axis=1).to_numpy()
    origin = pd.DataFrame({"source_id": frame["source_id"].to_numpy(),
                           "flux_origin": np.where(native, "native", None),
                           "flux_source_id": np.where(native, frame["source_id"], None)})
    reasons: Counter = Counter()
    need = frame.loc[~native, "source_id"].astype(int).tolist()
    if not need:
        return frame, origin, reasons
    pos = pd.Series(np.arange(len(frame)), index=frame["source_id"].to_numpy())
    cols = FLUX_COLUMNS + ERROR_COLUMNS
    via_object = _object_csc_fluxes(conn, need)
    if len(via_object):
        rows = pos.loc[via_object["source_id"]].to_numpy()
        frame.iloc[rows, [frame.columns.get_loc(c) for c in cols]] = \
            via_object[cols].astype(float).to_numpy()
        origin.loc[rows, "flux_origin"] = "object"
        origin.loc[rows, "flux_source_id"] = via_object["flux_source_id"].to_numpy()
    rest = sorted(set(need) - set(via_object["source_id"].astype(int)))
    if rest:
        converted, why = _converted_fluxes(conn, rest)
        usable = converted[converted[FLUX_COLUMNS].notna().any(axis=1)]
        if len(usable):
            rows = pos.loc[usable.index].to_numpy()
            frame.iloc[rows, [frame.columns.get_loc(c) for c in cols]] = usable[cols].to_numpy()
            origin.loc[rows, "flux_origin"] = "converted"
            origin.loc[rows, "flux_source_id"] = usable.index.to_numpy()
        left = sorted(set(rest) - set(usable.index.astype(int)))
        why = why[why["source_id"].isin(left)]
        reasons.update((why["band"] + ": " + why["reason"]).tolist())
        reasons[NOT_CONVERTED] += len(set(left) - set(why["source_id"].astype(int)))
        if not reasons[NOT_CONVERTED]:
            del reasons[NOT_CONVERTED]
    return frame, origin, reasons
