"""The published MUWCLASS training set (Yang et al. 2022, ApJ 941, 104): ``livecat ingest muwclass-td``.

The training set (``files/TD.csv`` of github.com/huiyang-astro/MUWCLASS_CSCv2) is one row
per Chandra Source Catalog 2.0 source with its X-ray fluxes, the optical/IR counterpart
the MUWCLASS pipeline chose, and, for labelled rows, the literature object and class. One
import writes, in ONE transaction (a failure anywhere leaves the database as it was):

1. the X-ray sources: ``xray_source`` rows of catalog ``csc`` keyed by the CSCv2 name,
   through the shared loader as a *partial* release ``muwclass-td sha256:<12 hex>`` (no
   other CSC source is retired): position, 1-sigma position error (``CSCv2_PU`` is the 95 %
   radius: divided by 2.4477, :func:`ingest.tables.sigma_from_radius`), significance
   (``CSCv2_S/N``), variability probabilities (``P_intra``, ``P_inter``, when the file has
   them), flags (``CSCv2_flags`` words ``extent``, ``conf``, ``pileup`` -> ``extended``,
   ``confused``, ``pileup``), and the four CSC energy fluxes ``Fs``/``Fm``/``Fh``/``Fb``
   (bands s 0.5-1.2, m 1.2-2, h 2-7, b 0.5-7 keV, kind ``energy_flux``, erg/cm2/s) with
   the interval value -/+ error;
2. the literature objects: ``literature_object`` rows of catalog ``muwclass`` (a complete
   release ``sha256:<12 hex>``), one per labelled row, keyed by the CSCv2 name (the
   training set pairs one object with one source; ``Catalog_name`` is not unique),
   named ``Catalog_name``, class ``True_Class`` (validated against the taxonomy: a class
   outside it is an error naming it and its row, nothing is written), reference
   ``Class_ref``; the training set publishes no literature position, so the object takes
   the X-ray position (``params.position_from = "CSCv2"``, no position error);
3. the multiwavelength counterparts: ``mw_counterpart`` rows (``matched_by =
   "muwclass-td"``, ``is_best``, no survey designation or position: the file does not
   publish them): ``gaia_dr3`` (``Gmag``, ``BPmag``, ``RPmag`` with errors, ``Plx``,
   ``e_Plx``, ``PM``, Bailer-Jones ``rgeo`` with ``b_rgeo``/``B_rgeo`` as ``rgeo_lo``/
   ``rgeo_hi``; MUWCLASS used Gaia EDR3, whose photometry and astrometry DR3 repeats),
   ``2mass`` (``Jmag``, ``Hmag``, ``Kmag``), ``allwise`` (``W1mag``-``W3mag``), each
   only when the row has a value for that survey;
4. the confirmed training counterparts: for every labelled row a
   ``counterpart_candidate`` (literature object, X-ray source; separation 0, match
   probability 1) confirmed through :func:`curation.decisions.decide_in` by the curator
   ``muwclass-import``. A candidate that already has a decision (a re-import, or a
   curator who changed it since) is left alone.

Rows without ``True_Class`` come in as unlabelled sources (steps 1 and 3 only) to be
classified. Bad rows (missing name, bad position, unparseable number, negative error)
are rejected with the reason, in both ingest runs.

Idempotent: the X-ray and literature rows go through the shared loader's change
detection, counterparts are upserted only when a value differs, decisions only for
undecided candidates; a second import reports 0 inserted and 0 updated everywhere (without
``--force`` the same file is skipped outright).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from catalog.errors import InputError

CATALOG = "muwclass"
XRAY_CATALOG = "csc"
CURATOR = "muwclass-import"
MATCHED_BY = "muwclass-td"
#: ``files/TD.csv`` of the MUWCLASS_CSCv2 repository (default branch).
SOURCE_URL = "https://raw.githubusercontent.com/huiyang-astro/MUWCLASS_CSCv2/HEAD/files/TD.csv"
REFERENCE = "2022ApJ...941..104Y"

#: CSC energy bands of the training set: flux column -> (band, lo keV, hi keV).
FLUX_BANDS = {"Fs": ("s", 0.5, 1.2), "Fm": ("m", 1.2, 2.0), "Fh": ("h", 2.0, 7.0),
              "Fb": ("b", 0.5, 7.0)}
#: Counterpart columns per survey: mw_counterpart column -> training-set column.
SURVEYS: dict[str, dict[str, str]] = {
    "gaia_dr3": {"gmag": "Gmag", "e_gmag": "e_Gmag", "bpmag": "BPmag", "e_bpmag": "e_BPmag",
                 "rpmag": "RPmag", "e_rpmag": "e_RPmag", "plx": "Plx", "e_plx": "e_Plx",
                 "pm": "PM", "rgeo": "rgeo", "rgeo_lo": "b_rgeo", "rgeo_hi": "B_rgeo"},
    "2mass": {"jmag": "Jmag", "e_jmag": "e_Jmag", "hmag": "Hmag", "e_hmag": "e_Hmag",
              "kmag": "Kmag", "e_kmag": "e_Kmag"},
    "allwise": {"w1mag": "W1mag", "e_w1mag": "e_W1mag", "w2mag": "W2mag",
                "e_w2mag": "e_W2mag", "w3mag": "W3mag", "e_w3mag": "e_W3mag"},
}
MW_VALUE_COLUMNS = tuple(dict.fromkeys(c for cols in SURVEYS.values() for c in cols))
#: Error columns (must not be negative).
ERROR_COLUMNS = tuple(c for c in ["e_Fs", "e_Fm", "e_Fh", "e_Fb", "CSCv2_PU"]
                      + [v for cols in SURVEYS.values() for k, v in cols.items()
                         if k.startswith("e_")])
REQUIRED = ("CSCv2_name", "CSCv2_RA", "CSCv2_DEC", "CSCv2_PU", "Fs", "e_Fs", "Fm", "e_Fm",
            "Fh", "e_Fh", "Fb", "e_Fb", "True_Class")
FLAG_WORDS = {"extent": "extended", "conf": "confused", "pileup": "pileup"}
CONF95 = 0.95


@dataclass
class TrainingSet:
    """Output of :func:`normalize_td`: the four parts of one import."""

    xray: object                 # NormalizedCatalog (kind xray)
    literature: object           # NormalizedCatalog (kind literature)
    counterparts: pd.DataFrame   # native_id, survey, MW_VALUE_COLUMNS
    n_read: int
    class_counts: dict = field(default_factory=dict)


@dataclass
class ImportResult:
    """What one ``muwclass-td`` import did."""

    xray: object = None            # LoadResult of csc
    literature: object = None      # LoadResult of muwclass
    mw_inserted: int = 0
    mw_updated: int = 0
    mw_unchanged: int = 0
    mw_removed: int = 0
    candidates_new: int = 0
    confirmed: int = 0
    already_decided: int = 0
    status: str = "running"
    note: str | None = None
    seconds: float = 0.0

    def summary(self) -> pd.DataFrame:
        """One row per part: read / inserted / updated / unchanged / rejected / retired."""
        rows = []
        for label, r in (("csc sources", self.xray), ("muwclass objects", self.literature)):
            if r is not None:
                rows.append({"part": label, **r.counts()})
        rows.append({"part": "mw counterparts", "read": None, "inserted": self.mw_inserted,
                     "updated": self.mw_updated, "unchanged": self.mw_unchanged,
                     "rejected": None, "retired": self.mw_removed})
        rows.append({"part": "confirmed counterparts", "read": None,
                     "inserted": self.confirmed, "updated": 0,
                     "unchanged": self.already_decided, "rejected": None, "retired": None})
        frame = pd.DataFrame(rows)
        for col in frame.columns[1:]:
            frame[col] = frame[col].astype("Int64")
        return frame


# --------------------------------------------------------------------------------------
# Parse + normalize (pure)
# --------------------------------------------------------------------------------------


def parse_td(data) -> pd.DataFrame:
    """Read the training-set CSV (path or bytes) with every cell as text.

    Raises
    ------
    catalog.errors.SourceError
        Unreadable input or a missing required column.
    """
    from ingest import tables as T

    df = T.read_input(data, "csv")
    T.require_columns(df, REQUIRED, "the MUWCLASS training set (files/TD.csv)")
    return df


def _flags(text) -> dict:
    words = set() if text is None or (isinstance(text, float) and np.isnan(text)) \
        else {w.strip() for w in str(text).split("|") if w.strip()}
    unknown = words - set(FLAG_WORDS)
    out = {name: (word in words) for word, name in FLAG_WORDS.items()}
    if unknown:
        out["other"] = sorted(unknown)
    return out


def _text_or_none(series: pd.Series) -> pd.Series:
    """Text cells with None (never NaN) where missing."""
    return pd.Series([None if v is None or (isinstance(v, float) and np.isnan(v)) else v
                      for v in series.tolist()], index=series.index, dtype=object)


def normalize_td(df: pd.DataFrame) -> TrainingSet:
    """The parsed training set -> the X-ray, literature and counterpart rows.

    Raises
    ------
    catalog.errors.InputError
        A ``True_Class`` outside the taxonomy (names the class, its row and source).
    """
    from ingest import tables as T
    from ingest.normalized import LITERATURE_COLUMNS, NormalizedCatalog
    from catalog.taxonomy import allowed_classes, validate_class

    df = df.reset_index(drop=True)
    n = len(df)
    ids = T.id_text(df["CSCv2_name"])
    rc = T.RejectCollector(n, ids)
    T.check_ids(rc, ids, "CSCv2_name")
    numeric = [c for c in df.columns if c not in ("CSCv2_name", "CSCv2_flags", "Catalog_name",
                                                  "True_Class", "Class_ref")]
    num = T.coerce_numeric(rc, df, numeric)
    T.check_position(rc, num["CSCv2_RA"], num["CSCv2_DEC"], df["CSCv2_RA"], df["CSCv2_DEC"],
                     "CSCv2_RA", "CSCv2_DEC")
    for col in ERROR_COLUMNS:
        if col in num:
            T.check_nonnegative(rc, num[col], col)

    labels = _text_or_none(T.id_text(df["True_Class"]))
    classes: list = [None] * n
    for i, label in enumerate(labels.tolist()):
        if label is None:
            continue
        try:
            classes[i] = validate_class(label)[0]
        except InputError:
            raise InputError(
                f"unknown True_Class {label!r} in row {i + 1} ({ids.iloc[i]}): expected one "
                f"of {', '.join(allowed_classes())}; nothing was written") from None
    labelled = labels.notna().to_numpy()
    good = ~rc.bad
    g = np.flatnonzero(good)
    nan = T.nan_series(n)

    # 1. X-ray sources and fluxes
    flags = [_flags(v) for v in (df["CSCv2_flags"].iloc[g].tolist()
                                 if "CSCv2_flags" in df else [None] * len(g))]
    extra = [{"CSCv2_PU_arcsec": pu, "origin": "MUWCLASS training set"}
             for pu in num["CSCv2_PU"].to_numpy()[g].tolist()]
    xray_sources = T.finish_sources({
        "native_id": ids.iloc[g].tolist(), "name": ids.iloc[g].tolist(),
        "ra": num["CSCv2_RA"].to_numpy()[g], "dec": num["CSCv2_DEC"].to_numpy()[g],
        "pos_err_arcsec": T.sigma_from_radius(num["CSCv2_PU"].to_numpy()[g], CONF95),
        "significance": num.get("CSCv2_S/N", nan).to_numpy()[g],
        "var_intra_prob": num.get("P_intra", nan).to_numpy()[g],
        "var_inter_prob": num.get("P_inter", nan).to_numpy()[g],
        "flags": flags,
        "extended": [f["extended"] for f in flags],
        "extra": extra,
    }, len(g))
    bands = []
    for col, (band, lo, hi) in FLUX_BANDS.items():
        v_lo, v_hi = T.symmetric_bounds(num[col].to_numpy()[g], num["e_" + col].to_numpy()[g])
        bands.append({"band": band, "lo": lo, "hi": hi, "kind": "energy_flux",
                      "value": num[col].to_numpy()[g], "value_lo": v_lo, "value_hi": v_hi})
    fluxes = T.long_fluxes(ids.iloc[g].to_numpy(dtype=object), bands)
    rejects = rc.frame()
    xray = NormalizedCatalog(kind="xray", sources=xray_sources, fluxes=fluxes,
                             rejects=rejects, n_read=n)
    xray.check_counts()

    # 2. literature objects (labelled rows)
    lg = np.flatnonzero(good & labelled)
    names = _text_or_none(T.id_text(df["Catalog_name"])) if "Catalog_name" in df else ids
    refs = _text_or_none(T.id_text(df["Class_ref"])) if "Class_ref" in df \
        else pd.Series([None] * n, dtype=object)
    lit = pd.DataFrame({
        "native_id": pd.Series(ids.iloc[lg].tolist(), dtype=object),
        "name": pd.Series([names.iloc[i] or ids.iloc[i] for i in lg], dtype=object),
        "ra": num["CSCv2_RA"].to_numpy()[lg], "dec": num["CSCv2_DEC"].to_numpy()[lg],
        "pos_err_arcsec": np.full(len(lg), np.nan),
        "livecat_class": pd.Series([classes[i] for i in lg], dtype=object),
        "subclass": pd.Series([None] * len(lg), dtype=object),
        "native_type": pd.Series(labels.iloc[lg].tolist(), dtype=object),
        "reference": pd.Series(refs.iloc[lg].tolist(), dtype=object),
        "confidence": np.full(len(lg), np.nan),
        "params": pd.Series([{"xray_name": ids.iloc[i], "position_from": "CSCv2",
                              "training_set": REFERENCE} for i in lg], dtype=object),
    })[LITERATURE_COLUMNS]
    rows = rejects["row_number"].to_numpy(dtype="int64") - 1
    bad_labelled = rejects[labelled[rows]].reset_index(drop=True) if len(rejects) \
        else rejects
    literature = NormalizedCatalog(kind="literature", sources=lit, rejects=bad_labelled,
                                   n_read=int(labelled.sum()))
    literature.check_counts()

    # 3. counterparts, one row per source and survey with any value
    parts = []
    for survey, cols in SURVEYS.items():
        frame = pd.DataFrame({mine: num[theirs].to_numpy()[g] if theirs in num
                              else np.full(len(g), np.nan) for mine, theirs in cols.items()})
        has = frame.notna().any(axis=1).to_numpy()
        frame = frame[has].reset_index(drop=True)
        frame.insert(0, "survey", survey)
        frame.insert(0, "native_id", ids.iloc[g].to_numpy(dtype=object)[has])
        parts.append(frame)
    mw = pd.concat(parts, ignore_index=True)
    mw = mw.reindex(columns=["native_id", "survey", *MW_VALUE_COLUMNS])
    counts = pd.Series([classes[i] for i in lg], dtype=object).value_counts().to_dict()
    return TrainingSet(xray=xray, literature=literature, counterparts=mw, n_read=n,
                       class_counts={str(k): int(v) for k, v in counts.items()})


# --------------------------------------------------------------------------------------
# Load (one transaction)
# --------------------------------------------------------------------------------------


def _load_part(cur, catalog, normalized, *, version, fetched, complete, wait, invoked_by,
               command, progress):
    """One shared-loader step inside the caller's transaction.

    :func:`ingest.load.load_catalog` opens its own transaction; the import needs its X-ray
    and literature loads, counterparts and decisions to commit together, so it runs the
    loader's transaction body (:func:`ingest.load.load_in_transaction`) on its own cursor.
    """
    from ingest.load import SPECS, STAGING_TABLES, LoadResult, load_in_transaction

    spec = SPECS[normalized.kind]
    result = LoadResult(catalog=catalog, version=version, kind=normalized.kind)
    load_in_transaction(cur, catalog, normalized, iter(()), spec, result,
                        origin=fetched.origin, checksum=fetched.sha256,
                        remote_meta=fetched.remote_meta(), complete=complete, wait=wait,
                        invoked_by=invoked_by, command=command, progress=progress)
    # the loader's staging tables live until commit; the next step creates its own
    cur.execute(f"DROP TABLE IF EXISTS {', '.join(STAGING_TABLES)}")
    result.status = "succeeded"
    return result


def _load_counterparts(cur, mw: pd.DataFrame, run_id: int, result: ImportResult) -> None:
    """Upsert the counterpart rows (matched_by muwclass-td) of the imported sources."""
    cols = list(MW_VALUE_COLUMNS)
    defs = ", ".join(f"{c} float8" for c in cols)
    cur.execute(f"CREATE TEMP TABLE stg_mw (native_id text, survey text, {defs}) "
                "ON COMMIT DROP")
    with cur.copy(f"COPY stg_mw (native_id, survey, {', '.join(cols)}) FROM STDIN") as copy:
        values = mw[["native_id", "survey"] + cols]
        for row in values.itertuples(index=False, name=None):
            copy.write_row([None if isinstance(v, float) and np.isnan(v) else v for v in row])
    cur.execute("CREATE TEMP TABLE stg_mw_src ON COMMIT DROP AS "
                "SELECT DISTINCT x.id FROM livecat.xray_source x JOIN stg_mw s "
                "ON x.catalog = %s AND x.native_id = s.native_id", (XRAY_CATALOG,))
    set_cols = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
    differs = " OR ".join(f"m.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in cols)
    cur.execute(
        f"WITH up AS (INSERT INTO livecat.mw_counterpart AS m (xray_source_id, survey, "
        f"survey_id, {', '.join(cols)}, is_best, matched_by, run_id) "
        f"SELECT x.id, s.survey, NULL, {', '.join('s.' + c for c in cols)}, true, %(by)s, "
        f"%(run)s FROM stg_mw s JOIN livecat.xray_source x ON x.catalog = %(cat)s "
        f"AND x.native_id = s.native_id ORDER BY x.id, s.survey "
        f"ON CONFLICT ON CONSTRAINT mw_counterpart_key DO UPDATE SET {set_cols}, "
        f"is_best = true, matched_by = EXCLUDED.matched_by, run_id = EXCLUDED.run_id, "
        f"updated_at = now() WHERE m.matched_by = EXCLUDED.matched_by AND ({differs} "
        f"OR NOT m.is_best) RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
        {"by": MATCHED_BY, "run": run_id, "cat": XRAY_CATALOG})
    result.mw_inserted, result.mw_updated = cur.fetchone()
    result.mw_unchanged = len(mw) - result.mw_inserted - result.mw_updated
    # a survey the new file no longer gives for an imported source: its row goes
    cur.execute(
        "DELETE FROM livecat.mw_counterpart m USING stg_mw_src i WHERE m.xray_source_id = i.id "
        "AND m.matched_by = %(by)s AND m.survey_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
        "stg_mw s JOIN livecat.xray_source x ON x.catalog = %(cat)s AND x.native_id = "
        "s.native_id WHERE x.id = m.xray_source_id AND s.survey = m.survey)",
        {"by": MATCHED_BY, "cat": XRAY_CATALOG})
    result.mw_removed = cur.rowcount


def _confirm_counterparts(conn, cur, literature_rows: pd.DataFrame, result: ImportResult,
                          invoked_by: str) -> None:
    """Candidates for the labelled rows, confirmed by ``muwclass-import`` when undecided."""
    from curation.decisions import decide_in

    ids = literature_rows["native_id"].tolist()
    cur.execute(
        "SELECT l.id, x.id, l.native_id, x.native_id, x.pos_err_arcsec, l.ra, l.dec, "
        "l.pos_err_arcsec, l.livecat_class, l.subclass, x.ra, x.dec, l.name, l.reference "
        "FROM livecat.literature_object l JOIN livecat.xray_source x ON x.catalog = %s "
        "AND x.native_id = l.native_id WHERE l.catalog = %s AND l.native_id = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM livecat.counterpart_candidate c "
        "WHERE c.literature_id = l.id AND c.xray_source_id = x.id) ORDER BY l.id",
        (XRAY_CATALOG, CATALOG, ids))
    new = cur.fetchall()
    if new:
        cur.execute("INSERT INTO livecat.candidate_run (invoked_by, literature_catalog, "
                    "xray_catalog, params, n_pairs, n_new) VALUES (%s, %s, %s, %s::jsonb, "
                    "%s, %s) RETURNING id",
                    (invoked_by, CATALOG, XRAY_CATALOG,
                     json.dumps({"model": "muwclass-td: the training set's own pairing",
                                 "curator": CURATOR}), len(new), len(new)))
        run = cur.fetchone()[0]
        with cur.copy("COPY livecat.counterpart_candidate (literature_id, xray_source_id, "
                      "literature_catalog, literature_native_id, xray_catalog, "
                      "xray_native_id, separation_arcsec, sigma_arcsec, norm_sep, "
                      "match_prob, snapshot, created_run_id) FROM STDIN") as copy:
            for (lid, xid, lnid, xnid, xerr, lra, ldec, lerr, lcls, lsub, xra, xdec,
                 _name, _ref) in new:
                snap = {"literature": {"ra": lra, "dec": ldec, "pos_err_arcsec": lerr,
                                       "livecat_class": lcls, "subclass": lsub},
                        "xray": {"ra": xra, "dec": xdec, "pos_err_arcsec": xerr}}
                copy.write_row((lid, xid, CATALOG, lnid, XRAY_CATALOG, xnid, 0.0,
                                float(xerr) if xerr is not None else 0.0, 0.0, 1.0,
                                json.dumps(snap), run))
        result.candidates_new = len(new)
    cur.execute(
        "SELECT c.id, l.name, l.livecat_class, l.reference FROM livecat.counterpart_candidate c "
        "JOIN livecat.literature_object l ON l.id = c.literature_id "
        "JOIN livecat.xray_source x ON x.id = c.xray_source_id "
        "WHERE l.catalog = %s AND x.catalog = %s AND l.native_id = x.native_id "
        "AND l.native_id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM livecat.curation_event e "
        "WHERE e.candidate_id = c.id) ORDER BY c.id", (CATALOG, XRAY_CATALOG, ids))
    undecided = cur.fetchall()
    for cid, name, cls, ref in undecided:
        decide_in(conn, cid, "confirm", CURATOR, source=MATCHED_BY,
                  note=f"MUWCLASS training set ({REFERENCE}): {name} is {cls}"
                       + (f" ({ref})" if ref else ""))
    result.confirmed = len(undecided)
    result.already_decided = len(ids) - len(undecided)


def load_training_set(engine, td: TrainingSet, fetched, *, release: str | None = None,
                      wait: bool = False, invoked_by: str | None = None,
                      command: str | None = None, progress=None) -> ImportResult:
    """Write the four parts of a normalized training set in one transaction."""
    from catalog.settings import login_name
    from ingest.load import ingest_transaction

    version = release or f"sha256:{fetched.sha256[:12]}"
    xray_version = f"muwclass-td {version}"
    invoked_by = invoked_by or login_name()
    command = command or " ".join(sys.argv)
    result = ImportResult()
    started = time.monotonic()

    def failed_runs():
        result.status = "failed"
        return [(XRAY_CATALOG, xray_version, result.xray), (CATALOG, version, result.literature)]

    with ingest_transaction(engine, failed_runs, invoked_by, command) as (conn, cur):
        result.xray = _load_part(cur, XRAY_CATALOG, td.xray, version=xray_version,
                                 fetched=fetched, complete=False, wait=wait,
                                 invoked_by=invoked_by, command=command, progress=progress)
        result.literature = _load_part(cur, CATALOG, td.literature, version=version,
                                       fetched=fetched, complete=True, wait=wait,
                                       invoked_by=invoked_by, command=command,
                                       progress=progress)
        _load_counterparts(cur, td.counterparts, result.xray.run_id, result)
        _confirm_counterparts(conn, cur, td.literature.sources, result, invoked_by)
    result.status = "succeeded"
    result.seconds = time.monotonic() - started
    return result


def ingest_muwclass_td(engine, *, file=None, mirror=None, release: str | None = None,
                       wait: bool = False, force: bool = False, reporter=None) -> ImportResult:
    """Fetch (or read) the MUWCLASS training set and import it (the library API).

    Returns
    -------
    ImportResult
        ``status == "skipped"`` when this exact file is already held (unless ``force``).
    """
    from ingest.fetch import fetch
    from ingest.load import check_not_locked, held_release, record_skipped_run

    report = reporter.log if reporter else (lambda message: None)
    fetched = fetch(SOURCE_URL, file=file, mirror=mirror,
                    progress=reporter.download if reporter else None)
    if not force:
        held = held_release(engine, CATALOG, fetched.sha256)
        if held is not None:
            why = (f"{CATALOG} {held} is already held with the same content (sha256 "
                   f"{fetched.sha256[:12]}); nothing to do (use --force to reload)")
            report(why)
            record_skipped_run(engine, CATALOG, held, why)
            return ImportResult(status="skipped", note=why)
    if not wait:
        check_not_locked(engine, XRAY_CATALOG)
        check_not_locked(engine, CATALOG)
    report(f"{CATALOG}: parsing {fetched.origin}")
    td = normalize_td(parse_td(fetched.path))
    report(f"{CATALOG}: {len(td.xray.sources)} sources ({len(td.literature.sources)} labelled), "
           f"{len(td.counterparts)} counterparts, {len(td.xray.rejects)} rejected; loading")
    return load_training_set(engine, td, fetched, release=release, wait=wait,
                             progress=reporter.update if reporter else None)


# --------------------------------------------------------------------------------------
# Command
# --------------------------------------------------------------------------------------


def register(app) -> None:
    """Add ``muwclass-td`` to the ``livecat ingest`` command group."""
    import typer

    from catalog.cli import handle_errors

    @app.command("muwclass-td")
    @handle_errors
    def muwclass_td_command(
            file: Optional[Path] = typer.Argument(
                None, help="Local TD.csv (default: download files/TD.csv of "
                           "huiyang-astro/MUWCLASS_CSCv2)."),
            mirror: Optional[Path] = typer.Option(
                None, "--mirror", help="Directory laid out like the remote."),
            release: Optional[str] = typer.Option(
                None, "--release", help="Release name (default: sha256:<12 hex>)."),
            wait: bool = typer.Option(False, "--wait", help="Wait for running ingests of "
                                                            "csc/muwclass."),
            force: bool = typer.Option(False, "--force", help="Import even when this exact "
                                                              "file is already held."),
    ) -> None:
        """Import the MUWCLASS training set: CSC sources, fluxes, counterparts, classes, confirmations.

        Examples: livecat ingest muwclass-td ;
        livecat ingest muwclass-td ../shared/samples/muwclass/TD_train.csv
        """
        from catalog.output import render
        from ingest.cli import Reporter, _check_source_options, _engine

        _check_source_options(file, mirror)
        engine = _engine()
        with Reporter() as reporter:
            result = ingest_muwclass_td(engine, file=file, mirror=mirror, release=release,
                                        wait=wait, force=force, reporter=reporter)
        if result.status == "skipped":
            typer.echo(f"{CATALOG}: skipped - {result.note}")
            return
        title = (f"{CATALOG} {result.literature.version}: runs {result.xray.run_id} (csc), "
                 f"{result.literature.run_id} (muwclass) {result.status} in "
                 f"{result.seconds:.1f} s")
        render(result.summary(), "table", title=title)
