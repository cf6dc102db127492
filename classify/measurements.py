"""The measurement table of X-ray sources in the database, as the classifier reads it.

:func:`load_measurements` builds, for the selected ``xray_source`` rows, the measurement
table that :func:`classify.montecarlo.sample_measurements` expects:

* ``Fs``, ``Fm``, ``Fh`` from the ``xray_flux`` rows of kind ``energy_flux`` whose band
  is the CSC soft (0.5-1.2 keV), medium (1.2-2) and hard (2-7) band (matched by their
  energy edges, so any catalog quoting those bands qualifies); the error is half the
  quoted interval, ``(value_hi - value_lo) / 2`` (68 % limits in CSC 2.1; value +/- error
  in the MUWCLASS averages). A source measured in one or two of the bands is classified
  with the others taken as non-detections, as the MUWCLASS training set holds them
  (:func:`classify.features.fill_nondetections`; the label records them in
  ``xray_bands_missing``). A source with none of the three fluxes, or with a flux but
  no interval, is skipped and counted (``skipped_no_bands``, ``skipped_no_errors``);
* ``P_intra``, ``P_inter`` from ``var_intra_prob`` / ``var_inter_prob``;
* ``CSCv2_flags`` (``extent|conf|pileup``) from the ``flags`` JSON (``extended``,
  ``confused``, ``pileup``);
* optical/IR magnitudes, Gaia parallax, proper motion and distance from the ``mw_best``
  view (best counterpart per survey, training-set column names) when it exists
  (see :func:`counterpart_table`); otherwise missing, as for a source without
  counterpart -- never zero. "No counterpart" is said only of a searched source: a source
  that was never searched in every survey the features need (:data:`FEATURE_SURVEYS`,
  ``mw_coverage``) is skipped and counted (``skipped_not_searched``), unless its catalog
  comes with its counterparts (the MUWCLASS training set's ``muwclass-csc``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from associate.store import GIVEN_COUNTERPARTS
from catalog.bands import CSC_BANDS_KEV, MUWCLASS_BANDS
from catalog.errors import InputError
from catalog.settings import SCHEMA
from classify.features import COUNTERPART_MEASUREMENTS, fill_nondetections
from classify.flux_origin import band_flux_sql, fill_from_other_fluxes

#: The CSC bands the features need: column -> (band_lo_kev, band_hi_kev).
REQUIRED_BANDS = {f"F{b}": CSC_BANDS_KEV[b] for b in MUWCLASS_BANDS}
#: xray_source.flags key -> the CSCv2_flags word of the training set.
FLAG_WORDS = {"extended": "extent", "confused": "conf", "pileup": "pileup"}


#: The surveys whose counterparts the features use (Gaia, 2MASS, AllWISE); CatWISE2020
#: only adds W1/W2, which AllWISE has too.
FEATURE_SURVEYS = ("gaia_dr3", "2mass", "allwise")


@dataclass
class Selection:
    """Which X-ray sources to classify (all given criteria must hold).

    Attributes
    ----------
    catalogs : list of str
        ``xray_source.catalog`` values (e.g. ``csc``); empty = any.
    region : (ra_deg, dec_deg, radius_arcsec) or None
        A cone (the SQL ``cone_search`` of the catalog core).
    where : str or None
        A SQL condition on the ``xray_source`` row, aliased ``s``
        (e.g. ``s.significance > 5``), run in a read-only transaction.
    """

    catalogs: list[str] = field(default_factory=list)
    region: tuple[float, float, float] | None = None
    where: str | None = None

    def sql(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause (on alias ``s``) and its parameters."""
        parts, params = ["true"], {}
        if self.catalogs:
            parts.append("s.catalog = ANY(:catalogs)")
            params["catalogs"] = list(self.catalogs)
        if self.region is not None:
            ra, dec, radius = (float(v) for v in self.region)
            if not (-90 <= dec <= 90) or not (0 < radius <= 648000):
                raise InputError(f"region ({ra}, {dec}, {radius}): need -90 <= DEC <= 90 and "
                                 f"0 < RADIUS <= 648000 arcsec")
            parts.append(f"s.id IN (SELECT id FROM {SCHEMA}.cone_search('xray_source', "
                         f":ra, :dec, :radius))")
            params.update(ra=ra % 360.0, dec=dec, radius=radius)
        if self.where:
            parts.append(f"({self.where})")
        return " AND ".join(parts), params


@dataclass
class Measurements:
    """The measurement table of the selected sources and what was left out.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per classifiable source (index = xray_source id, ascending).
    n_selected : int
        Sources the selection matched.
    skipped_labelled : int
        Already labelled by the run.
    skipped_no_bands : int
        With none of the s, m, h energy fluxes, native, from its object's CSC member or
        converted (:mod:`classify.flux_origin`).
    skipped_no_errors : int
        With a flux but no interval (or a negative one) in one of those bands.
    skipped_not_searched : int
        Never searched for counterparts in every survey the features need.
    counterparts : str
        Where counterpart magnitudes were read from (``mw_best view``), else why not.
    skipped_reasons : collections.Counter
        Why the skipped_no_bands sources have no flux, per band (``h: upper limit only``).
    flux_origin : pandas.DataFrame
        Per row of ``table``: ``flux_origin`` (native, object, converted) and
        ``flux_source_id`` (the source whose fluxes were used).
    bands_missing : pandas.Series
        Per row of ``table``: the bands taken as non-detections (``"h"``, ``"s,m"``), None
        when all three were measured.
    """

    table: pd.DataFrame
    n_selected: int = 0
    skipped_labelled: int = 0
    skipped_no_bands: int = 0
    skipped_no_errors: int = 0
    skipped_not_searched: int = 0
    counterparts: str = "none (no mw_best view of the counterparts)"
    bands_missing: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    skipped_reasons: Counter = field(default_factory=Counter)
    flux_origin: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["flux_origin", "flux_source_id"]))

    def n_missing_band(self) -> dict[str, int]:
        """Labelled sources per band taken as a non-detection."""
        lists = [v.split(",") for v in self.bands_missing.dropna()]
        return {b: sum(b in v for v in lists) for b in MUWCLASS_BANDS}


def table_exists(conn, name: str) -> bool:
    """Whether ``livecat.<name>`` (a table or view) exists."""
    return conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"),
                        {"n": f"{SCHEMA}.{name}"}).scalar_one()


def counterpart_table(conn) -> tuple[str | None, str]:
    """SQL selecting the best counterpart's measurements per source, if the tables allow.

    The ``livecat.mw_best`` view (migration 0005: the best counterpart of every survey
    side by side, in the training-set column names ``Gmag``, ``e_Gmag``, ..., ``Plx``,
    ``PM``, ``rgeo``, ``b_rgeo``, ``B_rgeo``) is read when it exists; without it every
    counterpart quantity is missing.

    Returns
    -------
    (str or None, str)
        A SELECT returning ``source_id`` and the training-set column names, or None; and a
        description of what was used.
    """
    if table_exists(conn, "mw_best"):
        names = conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = 'mw_best'"), {"s": SCHEMA}).scalars().all()
        found = [c for c in COUNTERPART_MEASUREMENTS if c in names]
        if "xray_source_id" in names and found:
            select = ", ".join(f'b."{c}"::float8 AS "{c}"' for c in found)
            return (f"SELECT b.xray_source_id AS source_id, {select} FROM {SCHEMA}.mw_best b",
                    f"mw_best view ({len(found)} columns)")
    return None, "none (no mw_best view of the counterparts)"


def load_measurements(engine: Engine, selection: Selection,
                      run_id: int | None = None) -> Measurements:
    """Measurement table of the selected X-ray sources (see the module docstring).

    Parameters
    ----------
    engine : Engine
    selection : Selection
    run_id : int, optional
        Leave out sources this run has already labelled.

    Returns
    -------
    Measurements
    """
    where, params = selection.sql()
    band_joins, band_cols = band_flux_sql("s")
    flag_expr = "concat_ws('|', " + ", ".join(
        f"CASE WHEN (s.flags->>'{k}')::boolean THEN '{w}' END" for k, w in FLAG_WORDS.items()) + ")"
    labelled = "false"
    if run_id is not None:
        labelled = (f"EXISTS (SELECT 1 FROM {SCHEMA}.classification c "
                    f"WHERE c.run_id = :run_id AND c.source_id = s.id)")
        params["run_id"] = int(run_id)
    params["feature_surveys"] = list(FEATURE_SURVEYS)
    params["given"] = list(GIVEN_COUNTERPARTS)
    searched = (f"(s.catalog = ANY(:given) OR (SELECT count(DISTINCT c.survey) FROM "
                f"{SCHEMA}.mw_coverage c WHERE c.xray_source_id = s.id AND c.kind = 'source' "
                f"AND c.survey = ANY(:feature_surveys)) = {len(FEATURE_SURVEYS)})")
    sql = f"""
        SELECT s.id AS source_id, {labelled} AS labelled, {searched} AS searched,
               s.var_intra_prob AS "P_intra", s.var_inter_prob AS "P_inter",
               {flag_expr} AS "CSCv2_flags", {band_cols}
          FROM {SCHEMA}.xray_source s {band_joins}
         WHERE {where}
         ORDER BY s.id"""
    with engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        try:
            res = conn.execute(sa.text(sql), params)
        except sa.exc.DBAPIError as exc:
            if not selection.where:
                raise
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise InputError(f"--where {selection.where!r}: the database refused the "
                             f"selection: {first} (write a SQL condition on xray_source "
                             f"aliased s, e.g. \"s.significance > 5\")") from None
        frame = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
        out = Measurements(table=frame, n_selected=len(frame))
        labelled_mask = frame.pop("labelled").astype(bool).to_numpy()
        out.skipped_labelled = int(labelled_mask.sum())
        searched_mask = frame.pop("searched").astype(bool).to_numpy()
        out.skipped_not_searched = int((~searched_mask & ~labelled_mask).sum())
        frame = frame[~labelled_mask & searched_mask]
        frame, origin, out.skipped_reasons = fill_from_other_fluxes(conn, frame)
        cp_sql, out.counterparts = counterpart_table(conn)
        cp = pd.read_sql_query(sa.text(cp_sql), conn) if cp_sql else None
        conn.rollback()
    fluxes = frame[list(REQUIRED_BANDS)].to_numpy(float)
    errors = frame[[f"e_{c}" for c in REQUIRED_BANDS]].to_numpy(float)
    measured = ~np.isnan(fluxes)
    no_band = ~measured.any(axis=1)
    no_err = ~no_band & (measured & (np.isnan(errors) | (errors < 0))).any(axis=1)
    out.skipped_no_bands = int(no_band.sum())
    out.skipped_no_errors = int(no_err.sum())
    keep = ~no_band & ~no_err
    out.flux_origin = origin[keep].set_index("source_id")
    frame = frame[keep].set_index("source_id")
    frame, out.bands_missing = fill_nondetections(frame)
    if cp is not None and len(cp):
        frame = frame.join(cp.set_index("source_id"), how="left")
    for name in COUNTERPART_MEASUREMENTS:
        if name not in frame:
            frame[name] = np.nan
    for col in ("P_intra", "P_inter", *COUNTERPART_MEASUREMENTS):
        frame[col] = frame[col].astype(float)
    out.table = frame
    return out
