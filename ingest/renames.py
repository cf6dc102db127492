"""Renames between releases: the same X-ray source under a new designation.

A source whose native id vanished from the new release and a new native id whose
position agrees with it - mutual nearest neighbours, separation within
:data:`RENAME_SIGMA` times the combined 1-sigma position errors - are taken to be the
same object with a new designation (CSC 2.1.1 renamed about 400 of 2.1's sources). The
existing row keeps its livecat id and takes the new native id (counted as updated, not
as inserted plus retired); the old native id and name go to ``xray_source_alias``, and
the previous row to ``source_history`` with change ``renamed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.footprint import Footprint
from ingest.rows import XRAY_SPEC
from ingest.upsert import history_sql

#: Rename rule: separation within this many combined 1-sigma position errors.
RENAME_SIGMA = 3.0


def detect_renames(cur, conn_params: dict, footprint: Footprint) -> pd.DataFrame:
    """Pairs (old id, new native id) of X-ray sources this load renamed: held sources
    inside ``footprint`` that vanished, matched with new native ids (:func:`match_renames`)."""
    inside, fp_params = footprint.sql("t")
    cur.execute("SELECT t.id, t.native_id, t.name, t.ra, t.dec, t.pos_err_arcsec "
                "FROM livecat.xray_source t WHERE t.catalog = %(cat)s AND t.is_current "
                "AND NOT EXISTS (SELECT 1 FROM stg s WHERE s.native_id = t.native_id) "
                f"AND {inside}", {**conn_params, **fp_params})
    gone = pd.DataFrame(cur.fetchall(), columns=["id", "native_id", "name", "ra", "dec",
                                                 "err"])
    if gone.empty:
        return gone
    cur.execute("SELECT s.native_id, s.ra, s.dec, s.pos_err_arcsec FROM stg s "
                "WHERE NOT EXISTS (SELECT 1 FROM livecat.xray_source t "
                "WHERE t.catalog = %(cat)s AND t.native_id = s.native_id)", conn_params)
    new = pd.DataFrame(cur.fetchall(), columns=["native_id", "ra", "dec", "err"])
    return match_renames(gone, new)


def match_renames(gone: pd.DataFrame, new: pd.DataFrame,
                  sigma: float = RENAME_SIGMA) -> pd.DataFrame:
    """Pair vanished and new sources that are the same object under a new name.

    Parameters
    ----------
    gone : pandas.DataFrame
        Vanished rows: ``id``, ``native_id``, ``name``, ``ra``, ``dec``, ``err`` (1-sigma
        arcsec).
    new : pandas.DataFrame
        New rows: ``native_id``, ``ra``, ``dec``, ``err``.
    sigma : float
        Accept a pair when the separation is at most ``sigma * hypot(err_old, err_new)``.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``old_native_id``, ``old_name``, ``new_native_id``, ``separation_arcsec``
        for mutual nearest neighbours within the limit (rows without errors never match).
    """
    cols = ["id", "old_native_id", "old_name", "new_native_id", "separation_arcsec"]
    gone = gone[np.isfinite(gone["err"].astype(float))].reset_index(drop=True)
    new = new[np.isfinite(new["err"].astype(float))].reset_index(drop=True)
    if gone.empty or new.empty:
        return pd.DataFrame(columns=cols)
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c_gone = SkyCoord(gone["ra"].astype(float).to_numpy() * u.deg,
                      gone["dec"].astype(float).to_numpy() * u.deg)
    c_new = SkyCoord(new["ra"].astype(float).to_numpy() * u.deg,
                     new["dec"].astype(float).to_numpy() * u.deg)
    idx_new, sep, _ = c_gone.match_to_catalog_sky(c_new)
    idx_back, _, _ = c_new.match_to_catalog_sky(c_gone)
    sep_arcsec = sep.arcsec
    limit = sigma * np.hypot(gone["err"].astype(float).to_numpy(),
                             new["err"].astype(float).to_numpy()[idx_new])
    rows = [(int(gone.at[i, "id"]), gone.at[i, "native_id"], gone.at[i, "name"],
             new.at[int(j), "native_id"], float(sep_arcsec[i]))
            for i, j in enumerate(idx_new)
            if idx_back[j] == i and sep_arcsec[i] <= limit[i]]
    return pd.DataFrame(rows, columns=cols)


def apply_renames(cur, renames: pd.DataFrame, params: dict) -> None:
    """Give each renamed row its new native id; keep the old one as an alias and the
    previous row in the history (change ``renamed``)."""
    for rec in renames.itertuples(index=False):
        p = {**params, "id": rec.id, "new": rec.new_native_id}
        cur.execute(history_sql(XRAY_SPEC, "xray", "'renamed'", "WHERE t.id = %(id)s"), p)
        cur.execute("INSERT INTO livecat.xray_source_alias (source_id, catalog, native_id, "
                    "name, separation_arcsec, until_release_id, run_id) VALUES "
                    "(%(id)s, %(cat)s, %(old)s, %(old_name)s, %(sep)s, %(rel)s, %(run)s)",
                    {**p, "old": rec.old_native_id, "old_name": rec.old_name,
                     "sep": rec.separation_arcsec})
        cur.execute("UPDATE livecat.xray_source SET native_id = %(new)s WHERE id = %(id)s", p)
