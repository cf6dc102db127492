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


def band_flux_sql(alias: str = "s", common: bool = False) -> tuple[str, str]:
    """SQL joins and select list of the s/m/h fluxes (``"Fs"``, ``"e_Fs"``, ...) of the
    ``xray_source`` row ``alias``, the error half the quoted interval: its own CSC energy
    fluxes (``xray_flux`` rows matched by their band edges), or with ``common`` its
    fluxes in the CSC bands (``xray_common_flux``: native or converted)."""
    joins, cols = [], []
    for b in MUWCLASS_BANDS:
        a = f"f{b}"
        if common:
            joins.append(f"LEFT JOIN {SCHEMA}.xray_common_flux {a} "
                         f"ON {a}.source_id = {alias}.id AND {a}.band = '{b}'")
        else:
            lo, hi = CSC_BANDS_KEV[b]
            joins.append(
                f"LEFT JOIN {SCHEMA}.xray_flux {a} ON {a}.source_id = {alias}.id "
                f"AND {a}.kind = 'energy_flux' "
                f"AND abs({a}.band_lo_kev - {lo}) < 1e-6 AND abs({a}.band_hi_kev - {hi}) < 1e-6")
        cols.append(f"{a}.value AS \"F{b}\", ({a}.value_hi - {a}.value_lo) / 2.0 AS \"e_F{b}\"")
    return " ".join(joins), ", ".join(cols)


def _any_flux(alias_prefix: str = "f") -> str:
    return " OR ".join(f"{alias_prefix}{b}.value IS NOT NULL" for b in MUWCLASS_BANDS)


def _object_csc_fluxes(conn, ids: list[int]) -> pd.DataFrame:
    """Per source: the CSC member of its current object (nearest first) and that member's
    s/m/h fluxes in ``xray_common_flux`` (its own bands: native, or converted from its
    other CSC bands, e.g. b only for a piled-up source)."""
    joins, cols = band_flux_sql("m", common=True)
    rows = conn.execute(sa.text(f"""
        SELECT DISTINCT ON (a.xray_source_id) a.xray_source_id AS source_id,
               m.id AS flux_source_id, {cols}
          FROM {SCHEMA}.xray_association a
          JOIN {SCHEMA}.xray_association c ON c.object_id = a.object_id
               AND c.ended_run_id IS NULL AND c.catalog = 'csc'
               AND c.xray_source_id <> a.xray_source_id
          JOIN {SCHEMA}.xray_source m ON m.id = c.xray_source_id AND m.is_current
          {joins}
         WHERE a.ended_run_id IS NULL AND a.xray_source_id = ANY(:ids) AND ({_any_flux()})
         ORDER BY a.xray_source_id, c.separation_arcsec NULLS FIRST, m.id"""),
        {"ids": ids})
    return pd.DataFrame(rows.all(), columns=list(rows.keys()))


def _converted_fluxes(conn, ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sources' own s/m/h fluxes in the CSC bands, for those with any (indexed by
    source_id, with errors), and the reasons of the missing ones."""
    joins, cols = band_flux_sql("s", common=True)
    res = conn.execute(sa.text(
        f"SELECT s.id AS source_id, {cols} FROM {SCHEMA}.xray_source s {joins} "
        f"WHERE s.id = ANY(:ids) AND ({_any_flux()}) ORDER BY s.id"), {"ids": ids})
    usable = pd.DataFrame(res.all(), columns=list(res.keys())).set_index("source_id")
    usable = usable.astype(float)
    why = pd.DataFrame(conn.execute(sa.text(
        f"SELECT source_id, band, reason FROM {SCHEMA}.xray_common_flux "
        f"WHERE source_id = ANY(:ids) AND band = ANY(:bands) AND reason IS NOT NULL"),
        {"ids": ids, "bands": list(MUWCLASS_BANDS)}).all(),
        columns=["source_id", "band", "reason"])
    return usable, why


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
        usable, why = _converted_fluxes(conn, rest)
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
