"""Common-band fluxes in the database: every source's fluxes in the CSC bands.

:func:`update_common_fluxes` reads the selected sources' band fluxes (``xray_flux``) and
positions, converts them with :func:`catalog.flux_convert.convert_fluxes` (an absorbed
power law, photon index 2, Galactic N_H from the source's own ``nh_gal_cm2`` when the
catalog gives one, else the HI4PI map) and replaces their rows of ``xray_common_flux``: a
value (native or converted, with the band it came from, the factor and the model) or the
reason there is none, per source and band. :func:`store_conversion_table` writes the
inspectable table of conversion factors (``band_conversion``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from catalog.bands import MISSION_BANDS
from catalog.flux_convert import convert_fluxes, reason_code
from catalog.flux_plan import conversion_table
from catalog.pgcopy import decode_array, read_columns
from catalog.settings import SCHEMA

#: Columns of ``xray_common_flux`` written from :func:`convert_fluxes` output.
COMMON_COLUMNS = ("source_id", "band", "value", "value_lo", "value_hi", "native",
                  "from_band", "from_lo_kev", "from_hi_kev", "factor", "coverage",
                  "measured_fraction", "model", "extrapolated", "reason")
FLUX_COLUMNS = ("source_id", "band", "kind", "band_lo_kev", "band_hi_kev", "value",
                "value_lo", "value_hi")
#: Sources converted per database round trip.
CHUNK = 50_000


def read_band_fluxes(conn: Connection, source_ids) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sources (id, catalog, ra, dec, nh_cm2) and their ``xray_flux`` rows.

    Read as whole columns: the sources with :func:`catalog.pgcopy.read_columns` (the
    catalog as its position in :data:`catalog.bands.MISSION_BANDS`; another catalog is
    read row by row, for :func:`catalog.flux_convert.convert_fluxes` to name it), the
    fluxes with :func:`_read_flux_arrays`: no per-row Python work.
    """
    ids = [int(i) for i in source_ids]
    dbapi = conn.connection.dbapi_connection
    cats = list(MISSION_BANDS)
    src = read_columns(dbapi, f"""
        SELECT id, coalesce(array_position(CAST(%(cats)s AS text[]), catalog), 0), ra,
               dec, coalesce(nh_gal_cm2, 'NaN') FROM {SCHEMA}.xray_source
         WHERE id = ANY(CAST(%(ids)s AS bigint[]))""",
        {"source_id": "int64", "catalog": "int32", "ra": "float64", "dec": "float64",
         "nh_cm2": "float64"}, {"ids": ids, "cats": cats})
    if (src["catalog"] == 0).any():
        return _read_rows(conn, ids)
    order = np.argsort(src["source_id"], kind="stable")
    sources = pd.DataFrame({c: v[order] for c, v in src.items()})
    sources["catalog"] = np.asarray(cats, dtype=object)[sources["catalog"].to_numpy() - 1]
    return sources, _read_flux_arrays(dbapi, ids)


def _read_flux_arrays(dbapi, ids: list) -> pd.DataFrame:
    """The ``xray_flux`` rows of these sources, from their ``xray_source_flux`` arrays.

    A catalog's sources share a few layouts (the band, kind and edge arrays): each
    distinct layout is read once, and per source only its layout and its value arrays,
    concatenated in PostgreSQL's binary array form (``array_send``: a 20-byte header,
    then per element a 4-byte length and the float8; NULL elements sent as NaN, so every
    element is 12 bytes) and decoded by numpy. (The view ``xray_flux`` unnests the arrays
    row by row: 2.7 s for 44,000 eRASS1/XMM/CSC sources against 0.3 s.)
    """
    values = ("value", "value_lo", "value_hi")
    sql = f"""
        WITH f AS (SELECT * FROM {SCHEMA}.xray_source_flux
                    WHERE source_id = ANY(CAST(%(ids)s AS bigint[]))),
             lay AS (SELECT (row_number() OVER ())::int AS no, d.*
                       FROM (SELECT DISTINCT band, kind, band_lo_kev, band_hi_kev FROM f) d)
        SELECT (SELECT json_agg(json_build_array(no, band, kind, band_lo_kev, band_hi_kev))
                  FROM lay), count(*), array_send(array_agg(f.source_id)),
               array_send(array_agg(l.no)),
               {", ".join(f"string_agg(array_send(array_replace(f.{c}, NULL, 'NaN')), "
                          f"''::bytea)" for c in values)}
          FROM f JOIN lay l USING (band, kind, band_lo_kev, band_hi_kev)"""
    with dbapi.cursor() as cur:
        layouts, count, sid_blob, no_blob, *blobs = cur.execute(sql, {"ids": ids}).fetchone()
    if not count:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("band", "kind") else float)
                             for c in FLUX_COLUMNS})
    sid = decode_array(sid_blob, "int64", count, "source_id")
    no = decode_array(no_blob, "int32", count, "layout")
    lay = {int(r[0]): r[1:] for r in layouts}
    n = np.zeros(max(lay) + 1, dtype=np.int64)
    for k, (band, _, _, _) in lay.items():
        n[k] = len(band)
    per_row = n[no]
    first = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    within = np.arange(per_row.sum()) - np.repeat(first, per_row)
    out = {"source_id": np.repeat(sid, per_row)}
    row_no = np.repeat(no, per_row)
    for j, col in enumerate(("band", "kind", "band_lo_kev", "band_hi_kev")):
        table = {k: np.asarray(v[j], dtype=object if j < 2 else float) for k, v in lay.items()}
        col_out = np.empty(len(row_no), dtype=object if j < 2 else float)
        for k, arr in table.items():
            at = row_no == k
            col_out[at] = arr[within[at]]
        out[col] = col_out
    starts = np.concatenate([[0], np.cumsum(20 + 12 * per_row)[:-1]])
    pos = np.repeat(starts + 20, per_row) + 12 * within + 4
    for col, blob in zip(values, blobs):
        raw = np.frombuffer(blob, dtype=np.uint8)
        if raw.size != int((20 + 12 * per_row).sum()):
            raise ValueError(f"xray_source_flux.{col}: unexpected binary array layout")
        out[col] = raw[pos[:, None] + np.arange(8)].copy().view(">f8").ravel().astype(float)
    return pd.DataFrame(out)[list(FLUX_COLUMNS)]


def _read_rows(conn: Connection, ids: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`read_band_fluxes` row by row, names as stored."""
    sources = pd.DataFrame(conn.execute(sa.text(
        f"SELECT id AS source_id, catalog, ra, dec, nh_gal_cm2 AS nh_cm2 "
        f"FROM {SCHEMA}.xray_source WHERE id = ANY(:ids) ORDER BY id"), {"ids": ids}).all(),
        columns=["source_id", "catalog", "ra", "dec", "nh_cm2"])
    fluxes = pd.DataFrame(conn.execute(sa.text(
        f"SELECT {', '.join(FLUX_COLUMNS)} FROM {SCHEMA}.xray_flux "
        f"WHERE source_id = ANY(:ids)"), {"ids": ids}).all(), columns=list(FLUX_COLUMNS))
    sources["nh_cm2"] = sources["nh_cm2"].astype(float)
    return sources, fluxes


def update_common_fluxes(conn: Connection, source_ids, run_id: int,
                         progress=None) -> Counter:
    """Replace the common-band fluxes of these sources; return the count of each reason
    a band has no value (``{"h: upper limit only": 12, ...}``) and of values written
    (``"value"``).

    Parameters
    ----------
    conn : Connection
        Inside the caller's transaction.
    source_ids : sequence of int
    run_id : int
        The object build run writing them.
    progress : callable, optional
        ``progress(n_done)`` after each chunk.
    """
    ids = np.unique(np.asarray(list(source_ids), dtype=np.int64))
    counts: Counter = Counter()
    dbapi = conn.connection.dbapi_connection
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        sources, fluxes = read_band_fluxes(conn, chunk)
        out = convert_fluxes(fluxes, sources)
        conn.execute(sa.text(f"DELETE FROM {SCHEMA}.xray_common_flux "
                             f"WHERE source_id = ANY(:ids)"), {"ids": chunk.tolist()})
        if len(out):
            _copy_rows(dbapi, out, int(run_id))
            reasons = out["reason"].dropna()
            counts.update(f"{b}: {reason_code(r)}"
                          for b, r in zip(out.loc[reasons.index, "band"], reasons))
            counts["value"] += int(out["value"].notna().sum())
        if progress:
            progress(min(start + CHUNK, len(ids)))
    return counts


def _copy_rows(dbapi, out: pd.DataFrame, run_id: int) -> None:
    """COPY the converted rows (text values and NULLs, so not the binary numeric path;
    psycopg's row writer is faster here than a CSV text from pandas: 20 against 33 s for
    880,000 rows in ``scripts/bench_missions.py --database --scale 0.1``)."""
    frame = out[list(COMMON_COLUMNS)].astype(object)
    frame = frame.where(out[list(COMMON_COLUMNS)].notna(), None)
    cols = ", ".join(COMMON_COLUMNS) + ", run_id"
    with dbapi.cursor() as cur:
        with cur.copy(f"COPY {SCHEMA}.xray_common_flux ({cols}) FROM STDIN") as copy:
            for row in frame.itertuples(index=False, name=None):
                copy.write_row((*row, run_id))


def store_conversion_table(conn: Connection) -> int:
    """Replace ``band_conversion`` with :func:`catalog.flux_plan.conversion_table`."""
    table = conversion_table()
    conn.execute(sa.text(f"DELETE FROM {SCHEMA}.band_conversion"))
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    if rows:
        cols = list(table.columns)
        conn.execute(sa.text(
            f"INSERT INTO {SCHEMA}.band_conversion ({', '.join(cols)}) "
            f"VALUES ({', '.join(':' + c for c in cols)})"), rows)
    return len(rows)
