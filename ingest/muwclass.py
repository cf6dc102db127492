"""The published MUWCLASS training set (Yang et al. 2022, ApJ 941, 104): sources, objects.

The training set (``files/TD.csv`` of github.com/huiyang-astro/MUWCLASS_CSCv2) is one row
per Chandra Source Catalog 2.0 source with its X-ray fluxes, the optical/IR counterpart
the MUWCLASS pipeline chose, and, for labelled rows, the literature object and class. One
ingest writes, in ONE transaction (a failure anywhere leaves the database as it was):

1. the X-ray sources: ``xray_source`` rows of their own catalog ``muwclass-csc`` (never
   rows of a real ``csc`` ingest: the training set's values are the MUWCLASS averages,
   not the CSC's), keyed by the CSCv2 name and linked to the real CSC source by it
   (``extra.csc_native_id``): position, 1-sigma position error (``CSCv2_PU`` is the 95 %
   radius: divided by 2.4477, :func:`ingest.tables.sigma_from_radius`), significance
   (``CSCv2_S/N``), variability probabilities (``P_intra``, ``P_inter``, when the file has
   them), flags (``CSCv2_flags`` words ``extent``, ``conf``, ``pileup`` -> ``extended``,
   ``confused``, ``pileup``), and the four CSC energy fluxes ``Fs``/``Fm``/``Fh``/``Fb``
   (bands s 0.5-1.2, m 1.2-2, h 2-7, b 0.5-7 keV, kind ``energy_flux``, erg/cm2/s) with
   the interval value -/+ error;
2. the literature objects: ``literature_object`` rows of catalog ``muwclass``, one per
   labelled row, keyed by the CSCv2 name (the training set pairs one object with one
   source; ``Catalog_name`` is not unique), named ``Catalog_name``, class ``True_Class``
   (validated against the taxonomy: a class outside it is an error naming it and its row,
   nothing is written), reference ``Class_ref``; the training set publishes no literature
   position, so the object takes the X-ray position (``params.position_from = "CSCv2"``, no
   position error). The file speaks for the objects of the sources it lists: an object
   is retired only when its source is in the file and no longer labelled; a file without
   labels retires none;
3. the multiwavelength counterparts: ``mw_counterpart`` rows (``matched_by =
   "muwclass-td"``, ``is_best``, no survey designation or position: the file does not
   publish them): ``gaia_dr3`` (``Gmag``, ``BPmag``, ``RPmag`` with errors, ``Plx``,
   ``e_Plx``, ``PM``, Bailer-Jones ``rgeo`` with ``b_rgeo``/``B_rgeo`` as ``rgeo_lo``/
   ``rgeo_hi``; MUWCLASS used Gaia EDR3, whose photometry and astrometry DR3 repeats),
   ``2mass`` (``Jmag``, ``Hmag``, ``Kmag``), ``allwise`` (``W1mag``-``W3mag``), each
   only when the row has a value for that survey.

Confirming the training set's pairs is a curation action (the curator
``muwclass-import`` confirms each object's source through the same decision API as a
person): ``livecat curate import-muwclass`` runs this ingest and then
:mod:`curation.muwclass_import`.

Rows without ``True_Class`` come in as unlabelled sources (steps 1 and 3 only) to be
classified. Bad rows (missing name, bad position, unparseable number, negative error)
are rejected with the reason, in both ingest runs. Idempotent: a second ingest of the
same file reports 0 inserted and 0 updated everywhere (without ``--force`` the same file
is skipped outright).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV
from catalog.errors import InputError
from ingest.footprint import Footprint
from ingest.load import LoadOptions, Release, ingest_transaction, load_in_transaction
from ingest.runs import LoadResult
from ingest.spec import Reading
from ingest.staging import STAGING_TABLES

CATALOG = "muwclass"
#: The X-ray sources of the training set: a catalog of their own, linked to ``csc`` by name.
XRAY_CATALOG = "muwclass-csc"
MATCHED_BY = "muwclass-td"
#: ``files/TD.csv`` of the MUWCLASS_CSCv2 repository (default branch).
SOURCE_URL = "https://raw.githubusercontent.com/huiyang-astro/MUWCLASS_CSCv2/HEAD/files/TD.csv"
REFERENCE = "2022ApJ...941..104Y"

#: CSC energy bands of the training set: flux column -> (band, lo keV, hi keV).
FLUX_BANDS = {f"F{b}": (b, *CSC_BANDS_KEV[b]) for b in COMMON_BANDS}
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
    status: str = "running"
    note: str | None = None
    seconds: float = 0.0

    def summary(self) -> pd.DataFrame:
        """One row per part: read / inserted / updated / unchanged / rejected / retired."""
        rows = []
        for label, r in (("muwclass-csc sources", self.xray),
                         ("muwclass objects", self.literature)):
            if r is not None:
                rows.append({"part": label, **r.counts()})
        rows.append({"part": "mw counterparts", "read": None, "inserted": self.mw_inserted,
                     "updated": self.mw_updated, "unchanged": self.mw_unchanged,
                     "rejected": None, "retired": self.mw_removed})
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
    from ingest import readers as R

    df = R.read_input(data, "csv")
    R.require_columns(df, REQUIRED, "the MUWCLASS training set (files/TD.csv)")
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
    extra = [{"CSCv2_PU_arcsec": pu, "origin": "MUWCLASS training set", "csc_native_id": name}
             for pu, name in zip(num["CSCv2_PU"].to_numpy()[g].tolist(),
                                 ids.iloc[g].tolist())]
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


def _load_part(cur, release: Release, normalized, options: LoadOptions):
    """One shared-loader step inside the caller's transaction (the import's X-ray and
    literature loads and counterparts commit together)."""
    result = LoadResult(catalog=release.catalog, version=release.version, kind="")
    load_in_transaction(cur, release, normalized, result, options)
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


def load_training_set(engine, spec, fetched, reading, version: str, footprint, args,
                      reporter=None) -> ImportResult:
    """The load stage of the registry entry: the X-ray sources (a complete release of
    ``muwclass-csc``), the labelled objects (speaking for the sources the file lists) and
    the counterparts, in one transaction."""
    td: TrainingSet = reading.chunks
    fetch_result = fetched.result
    options = LoadOptions(wait=args.wait, allow_mass_retire=args.allow_mass_retire,
                          progress=reporter.update if reporter else None).resolved()
    meta = fetch_result.remote_meta()
    result = ImportResult()
    started = time.monotonic()
    xray_release = Release(XRAY_CATALOG, version, fetch_result.origin, fetch_result.sha256,
                           meta, Footprint.whole_sky())
    literature_release = Release(CATALOG, version, fetch_result.origin, fetch_result.sha256,
                                 meta, Footprint.ids(td.xray.sources["native_id"]))

    def failed_runs():
        result.status = "failed"
        return [(XRAY_CATALOG, version, result.xray), (CATALOG, version, result.literature)]

    with ingest_transaction(engine, failed_runs, options) as (_, cur):
        result.xray = _load_part(cur, xray_release, td.xray, options)
        if len(td.literature.sources) or len(td.literature.rejects):
            result.literature = _load_part(cur, literature_release, td.literature, options)
        _load_counterparts(cur, td.counterparts, result.xray.run_id, result)
    result.status = "succeeded"
    result.seconds = time.monotonic() - started
    return result


def read_release(fetched, args=None, reporter=None) -> Reading:
    """The read stage: TD.csv -> a :class:`TrainingSet` (no release name in the file)."""
    td = normalize_td(parse_td(fetched.result.path))
    if reporter:
        reporter.log(f"{CATALOG}: {len(td.xray.sources)} sources "
                     f"({len(td.literature.sources)} labelled), {len(td.counterparts)} "
                     f"counterparts, {len(td.xray.rejects)} rejected")
    return Reading(chunks=td)
