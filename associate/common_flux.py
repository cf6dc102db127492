"""Common-band fluxes in the database: every source's fluxes in the CSC bands.

:func:`update_common_fluxes` reads the selected sources' band fluxes (``xray_flux``) and
positions, converts them with :func:`catalog.flux_convert.convert_fluxes` (an absorbed
power law, photon index 2, Galactic N_H from the source's own ``nh_gal_cm2`` when the
catalog gives one, else the HI4PI map) and replaces their rows of
``xray_source_common_flux`` (read as the view ``xray_common_flux``): per source and band, a
value (native or converted, with the band it came from, the factor and the model) or the
reason there is none. :func:`store_conversion_table` writes the
inspectable table of conversion factors (``band_conversion``).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from catalog import idsets
from catalog.bands import COMMON_BANDS, MISSION_BANDS
from catalog.engine import plan_for_values
from catalog.flux_convert import convert_fluxes, reason_code
from catalog.flux_plan import conversion_table
from catalog.pgcopy import (bigint_array, decode_array, labels_at, read_columns,
                             stage_columns)
from catalog.settings import SCHEMA
from catalog.spectra import prepare_galactic_nh

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
    ids = bigint_array(source_ids)
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
    sources["catalog"] = labels_at(cats, sources["catalog"].to_numpy())
    return sources, _read_flux_arrays(dbapi, ids)


def _read_flux_arrays(dbapi, ids: str) -> pd.DataFrame:
    """The ``xray_flux`` rows of these sources, from their ``xray_source_flux`` arrays.

    A catalog's sources share a few layouts (the band, kind and edge arrays): each
    distinct layout is read once, and per source only its layout and its value arrays,
    concatenated in PostgreSQL's binary array form (``array_send``: a 20-byte header,
    then per element a 4-byte length and the float8; NULL elements sent as NaN, so every
    element is 12 bytes) and decoded by numpy. (The view ``xray_flux`` unnests the arrays
    row by row: 2.7 s for 44,000 eRASS1/XMM/CSC sources against 0.3 s.)
    ``f`` is scanned twice rather than materialized: a materialized chunk spills to
    disk and is sorted there for the join (1.9 s against 1.1 s for 50,000 eRASS1 sources).
    """
    values = ("value", "value_lo", "value_hi")
    sql = f"""
        WITH f AS NOT MATERIALIZED (SELECT * FROM {SCHEMA}.xray_source_flux
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


def _read_rows(conn: Connection, ids: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`read_band_fluxes` row by row, names as stored (``ids``:
    :func:`catalog.pgcopy.bigint_array`)."""
    sources = pd.DataFrame(conn.execute(sa.text(
        f"SELECT id AS source_id, catalog, ra, dec, nh_gal_cm2 AS nh_cm2 "
        f"FROM {SCHEMA}.xray_source WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"),
        {"ids": ids}).all(),
        columns=["source_id", "catalog", "ra", "dec", "nh_cm2"])
    fluxes = pd.DataFrame(conn.execute(sa.text(
        f"SELECT {', '.join(FLUX_COLUMNS)} FROM {SCHEMA}.xray_flux "
        f"WHERE source_id = ANY(CAST(:ids AS bigint[]))"), {"ids": ids}).all(),
        columns=list(FLUX_COLUMNS))
    sources["nh_cm2"] = sources["nh_cm2"].astype(float)
    return sources, fluxes


class ConversionAhead:
    """Read and convert sources' band fluxes in the background, for
    :func:`update_common_fluxes` to write.

    Two threads: a reader on its own connection (``conn.engine``; plans for the values
    given, a new snapshot per chunk) reads the chunks of :data:`CHUNK` sources
    (:func:`read_band_fluxes`), a converter turns them into common-band rows
    (:func:`catalog.flux_convert.convert_fluxes`), at most two chunks waiting at each
    step. Reading (PostgreSQL), converting (Python) and the caller's writes then overlap;
    the build does not change the rows read (``xray_source``, ``xray_source_flux``). Once
    there is anything to convert, the converter first loads the HI map
    (:func:`catalog.spectra.prepare_galactic_nh`), while the caller mostly waits on the
    database.

    Parameters
    ----------
    conn : Connection
        The caller's (its engine opens the reader's connection).
    ids : sequence of int, optional
        The sources to convert.
    find_ids : callable, optional
        Instead of ``ids``: ``find_ids(connection)`` -> the ids, run first by the reader
        (so that finding them overlaps the caller's work too).
    """

    def __init__(self, conn: Connection, ids=None, find_ids=None):
        self._engine = conn.engine
        self._find_ids = find_ids
        self._ids_known = threading.Event()
        self.ids = None if ids is None else idsets.unique(ids)
        self._read: queue.Queue = queue.Queue(maxsize=2)
        self._converted: queue.Queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._reader, daemon=True,
                                          name="livecat-common-flux-reader"),
                         threading.Thread(target=self._converter, daemon=True,
                                          name="livecat-common-flux-converter")]
        for t in self._threads:
            t.start()

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def _reader(self) -> None:
        try:
            with self._engine.connect() as reader:
                plan_for_values(reader)
                if self._find_ids is not None:
                    self.ids = idsets.unique(self._find_ids(reader))
                self._ids_known.set()
                for start in range(0, len(self.ids), CHUNK):
                    reader.rollback()  # a new snapshot per chunk
                    plan_for_values(reader)
                    chunk = self.ids[start:start + CHUNK]
                    if not self._put(self._read, (chunk, *read_band_fluxes(reader, chunk))):
                        return
            self._put(self._read, None)
        except BaseException as exc:  # handed on, raised in the caller's thread
            self._ids_known.set()
            self._put(self._read, exc)

    def _converter(self) -> None:
        try:
            self._ids_known.wait()
            if self.ids is not None and len(self.ids):
                # what the first conversion would import, while the caller's own thread
                # mostly waits on the database
                prepare_galactic_nh()
            while True:
                item = self._read.get()
                if item is None or isinstance(item, BaseException):
                    self._put(self._converted, item)
                    return
                chunk, sources, fluxes = item
                if not self._put(self._converted, (chunk, convert_fluxes(fluxes, sources))):
                    return
        except BaseException as exc:
            self._put(self._converted, exc)

    def source_ids(self) -> np.ndarray:
        """The sources converted (waits for ``find_ids``)."""
        self._ids_known.wait()
        return self.ids if self.ids is not None else np.zeros(0, np.int64)

    def __iter__(self):
        """``(chunk ids, convert_fluxes output)`` in order; raises what a thread raised."""
        try:
            while True:
                item = self._converted.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the threads (also when the caller gave up half way)."""
        self._stop.set()
        for q in (self._read, self._converted):
            try:
                while True:
                    q.get_nowait()
            except queue.Empty:
                pass
        for t in self._threads:
            t.join()


@dataclass
class CommonFluxUpdate:
    """What :func:`update_common_fluxes` wrote.

    Attributes
    ----------
    counts : collections.Counter
        Values written (``"value"``) and each reason a band has none
        (``"h: upper limit only"``).
    band : pandas.DataFrame or None
        With ``band=``: ``source_id, value, value_lo, value_hi`` of every converted
        source in that band (NaN where it has no value).
    """

    counts: Counter = field(default_factory=Counter)
    band: pd.DataFrame | None = None


def update_common_fluxes(conn: Connection, source_ids, run_id: int, progress=None,
                         band: str | None = None) -> CommonFluxUpdate:
    """Replace the common-band fluxes of these sources.

    The reads and conversions run ahead in the background (:class:`ConversionAhead`);
    only this connection writes, inside the caller's transaction.

    Parameters
    ----------
    conn : Connection
        Inside the caller's transaction.
    source_ids : sequence of int or ConversionAhead
        The sources, or their conversion already started.
    run_id : int
        The object build run writing them.
    progress : callable, optional
        ``progress(n_done)`` after each chunk.
    band : str, optional
        A CSC band whose values to return (:attr:`CommonFluxUpdate.band`).

    Returns
    -------
    CommonFluxUpdate
    """
    ahead = (source_ids if isinstance(source_ids, ConversionAhead)
             else ConversionAhead(conn, ids=source_ids))
    result = CommonFluxUpdate()
    kept = []
    dbapi = conn.connection.dbapi_connection
    done = 0
    for chunk, out in ahead:
        conn.execute(sa.text(f"DELETE FROM {SCHEMA}.xray_source_common_flux "
                             f"WHERE source_id = ANY(CAST(:ids AS bigint[]))"),
                     {"ids": bigint_array(chunk)})
        if len(out):
            _write_rows(dbapi, out, int(run_id))
            reasons = out["reason"].dropna()
            result.counts.update(f"{b}: {reason_code(r)}"
                                 for b, r in zip(out.loc[reasons.index, "band"], reasons))
            result.counts["value"] += int(out["value"].notna().sum())
            if band is not None:
                kept.append(out.loc[out["band"].to_numpy() == band,
                                    ["source_id", "value", "value_lo", "value_hi"]])
        done += len(chunk)
        if progress:
            progress(done)
    if band is not None:
        result.band = (pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(
            {c: np.zeros(0, np.int64 if c == "source_id" else float)
             for c in ("source_id", "value", "value_lo", "value_hi")}))
    return result


#: Per-band columns of ``xray_source_common_flux`` by how they are staged.
_FLOAT_ARRAYS = ("value", "value_lo", "value_hi", "from_lo_kev", "from_hi_kev", "factor",
                 "coverage", "measured_fraction")
_BOOL_ARRAYS = ("native", "extrapolated")
_TEXT_ARRAYS = ("from_band", "reason")
#: The arrays of ``xray_source_common_flux``, in its column order.
_ARRAY_COLUMNS = ("value", "value_lo", "value_hi", "native", "from_band", "from_lo_kev",
                  "from_hi_kev", "factor", "coverage", "measured_fraction", "extrapolated",
                  "reason")


def _source_models(out: pd.DataFrame, nb: int) -> np.ndarray:
    """The one model string of each source's converted bands (not native, with a factor;
    None when it has none), checked to be the only one the rows give."""
    model = out["model"].to_numpy(dtype=object).reshape(-1, nb)
    converted = (~out["native"].to_numpy(dtype=bool)
                 & out["factor"].notna().to_numpy()).reshape(-1, nb)
    has = pd.notna(model)
    first = np.where(has.any(axis=1), model[np.arange(len(model)), has.argmax(axis=1)], None)
    if (has != converted).any() or (has & (model != first[:, None])).any():
        raise ValueError("a source's converted bands must share one model, and only they")
    return first


def _write_rows(dbapi, out: pd.DataFrame, run_id: int) -> None:
    """Insert :func:`convert_fluxes` output (one row per source and CSC band, bands in
    :data:`catalog.bands.COMMON_BANDS` order) as ``xray_source_common_flux`` rows.

    Staged one row per source in a temporary table by binary COPY (a column per band and
    quantity; NULL as NaN, text as its 1-based position in a list of the distinct ones,
    0 = NULL), then turned into the arrays in one ``INSERT ... SELECT``: no per-row
    Python work (psycopg's row writer took 208 s for 8.8 million rows at the catalogs'
    real sizes). The model strings (one per source, thousands of distinct ones) are
    joined, not subscripted: subscripting a long text array walks it.
    """
    nb = len(COMMON_BANDS)
    if len(out) % nb or not (out["band"].to_numpy()
                             == np.tile(np.array(COMMON_BANDS, dtype=object),
                                        len(out) // nb)).all():
        raise ValueError("common-band rows must come as s, m, h, b per source")
    cols: dict[str, np.ndarray] = {"source_id": out["source_id"].to_numpy(np.int64)[::nb]}
    params: dict[str, list] = {}
    for c in _FLOAT_ARRAYS:
        grid = out[c].to_numpy(dtype=float).reshape(-1, nb)
        cols.update({f"{c}_{k}": grid[:, k].copy() for k in range(nb)})
    for c in _BOOL_ARRAYS:
        grid = out[c].to_numpy(dtype=bool).reshape(-1, nb)
        cols.update({f"{c}_{k}": grid[:, k].copy() for k in range(nb)})
    for c in _TEXT_ARRAYS:
        codes, uniques = pd.factorize(out[c], use_na_sentinel=True)
        grid = (codes.astype(np.int32) + 1).reshape(-1, nb)  # NULL (-1) -> 0
        cols.update({f"{c}_{k}": grid[:, k].copy() for k in range(nb)})
        params[c] = [str(u) for u in uniques]
    model_codes, models = pd.factorize(pd.Series(_source_models(out, nb), dtype=object),
                                       use_na_sentinel=True)
    cols["model"] = (model_codes + 1).astype(np.int32)
    stage_columns(dbapi, "livecat_common_flux_stage", cols)
    with dbapi.cursor() as cur:
        def array(c, expr):
            return "ARRAY[" + ", ".join(expr.format(f"t.{c}_{k}") for k in range(nb)) + "]"

        selects = []
        for c in _ARRAY_COLUMNS:
            if c in _FLOAT_ARRAYS:
                selects.append(array(c, "nullif({}, 'NaN')"))
            elif c in _BOOL_ARRAYS:
                selects.append(array(c, "{}"))
            else:
                selects.append(array(c, f"(CAST(%({c})s AS text[]))[{{}}]"))
        cur.execute(
            f"INSERT INTO {SCHEMA}.xray_source_common_flux (source_id, run_id, model, "
            f"{', '.join(_ARRAY_COLUMNS)}) SELECT t.source_id, %(run)s, m.model, "
            f"{', '.join(selects)} FROM livecat_common_flux_stage t "
            f"LEFT JOIN unnest(CAST(%(models)s AS text[])) WITH ORDINALITY AS m(model, code) "
            f"ON m.code = t.model", {**params, "models": [str(m) for m in models],
                                      "run": run_id})


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
