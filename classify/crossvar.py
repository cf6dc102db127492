"""The cross-mission variability of the sources' sky objects, as classifier input.

``livecat objects build`` stores, per object seen more than once, the ratio of the
highest to the lowest common-band flux of its members and its significance
(``xray_object.var_band``, ``var_ratio``, ``var_sigma``; :mod:`catalog.variability`). This
module reads them for the sources a classifier run trains on or labels and checks whether
there are enough of them to measure the feature
(:func:`classify.features.cross_mission_features`, off by default):

* :func:`variability_by_source`: per ``xray_source`` id, its object's columns, through the
  source's current association (``xray_association`` with ``ended_run_id IS NULL`` ->
  ``xray_object``). A source of a catalog kept out of the object build (the MUWCLASS
  training set's ``muwclass-csc`` copies, :data:`associate.store.GIVEN_COUNTERPARTS`)
  takes the object of the real CSC source it names (``extra.csc_native_id``);
* :func:`variability_by_name`: the same, keyed by CSC designation (``CSCv2_name`` of a
  ``TD_train.csv``);
* :func:`read_variability_csv`: a file of ``CSCv2_name,var_ratio,var_sigma[,
  var_is_lower_limit]`` (e.g. computed elsewhere from the XMM, eRASS1 and Swift
  catalogs), validated;
* :func:`coverage` and :func:`check_coverage`: how many training sources have a ratio,
  per class, and the refusal below :data:`MIN_COVERED_FRACTION` /
  :data:`MIN_COVERED_PER_CLASS`.

``var_is_lower_limit`` (``xray_object``, written by the build with
:mod:`catalog.variability`'s rule): the ratio is a lower limit when a member's flux in
``var_band`` is an upper limit below the faintest detection of the object in that band.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from associate.store import GIVEN_COUNTERPARTS
from catalog.errors import InputError
from catalog.settings import SCHEMA
from classify.features import CROSS_MISSION_COLUMNS

#: Columns of :func:`variability_by_source` besides :data:`CROSS_MISSION_COLUMNS`.
OBJECT_COLUMNS = ("object_id", "var_band")
#: Least share of the training set with a ratio for a with/without comparison to mean
#: anything: the cross-validated accuracies of TD_train.csv move by ~0.015 from seed to
#: seed (classify.model.LIVECAT_PARAMS); a feature present for a share f of the sources
#: can change overall accuracy by at most f, and by much less in practice (only the
#: covered sources that were misclassified can be corrected). Below 5 % (118 of the 2,352
#: TD_train.csv sources) the change cannot rise above the seed-to-seed noise unless a
#: third of the covered sources flip, which no single feature has done on this set
#: (P_intra/P_inter, present for most sources, moved overall accuracy by 0.009).
MIN_COVERED_FRACTION = 0.05
#: Least covered sources in a class for it to count, and least such classes: a forest
#: split (and SMOTE's 4 neighbours) cannot learn a class's variability from a handful of
#: sources, and a feature seen in one class only just marks that class's coverage.
MIN_COVERED_PER_CLASS = 10
MIN_COVERED_CLASSES = 2

_OBJECT_SQL = f"""
WITH src AS (SELECT * FROM unnest(CAST(:ids AS bigint[])) AS t(source_id)),
own AS (
    SELECT src.source_id, COALESCE(a.object_id, (
               SELECT ca.object_id FROM {SCHEMA}.xray_source c
                 JOIN {SCHEMA}.xray_association ca ON ca.xray_source_id = c.id
                      AND ca.ended_run_id IS NULL
                WHERE s.catalog = ANY(:given) AND c.catalog = 'csc' AND c.is_current
                  AND c.native_id = s.extra->>'csc_native_id'
                ORDER BY c.id LIMIT 1)) AS object_id
      FROM src
      JOIN {SCHEMA}.xray_source s ON s.id = src.source_id
      LEFT JOIN {SCHEMA}.xray_association a ON a.xray_source_id = s.id
           AND a.ended_run_id IS NULL)
SELECT own.source_id, o.id AS object_id, o.var_band, o.var_ratio, o.var_sigma,
       o.var_is_lower_limit
  FROM own LEFT JOIN {SCHEMA}.xray_object o ON o.id = own.object_id AND o.is_current
 ORDER BY own.source_id"""


def variability_by_source(conn: Connection | Engine, source_ids) -> pd.DataFrame:
    """The cross-mission variability of these X-ray sources' objects.

    Parameters
    ----------
    conn : Connection or Engine
    source_ids : array_like of int
        ``xray_source`` ids.

    Returns
    -------
    pandas.DataFrame
        Index ``source_id`` (one row per id given that exists): ``object_id`` (NaN: no
        current association), ``var_band``, ``var_ratio``, ``var_sigma``,
        ``var_is_lower_limit`` (NaN where the object was seen once or there is none).
    """
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return variability_by_source(c, source_ids)
    rows = conn.execute(sa.text(_OBJECT_SQL), {
        "ids": [int(i) for i in source_ids], "given": list(GIVEN_COUNTERPARTS)}).all()
    frame = pd.DataFrame(rows, columns=["source_id", *OBJECT_COLUMNS, *CROSS_MISSION_COLUMNS])
    return _typed(frame.set_index("source_id"))


def variability_by_name(conn: Connection | Engine, names) -> pd.DataFrame:
    """The cross-mission variability keyed by CSC designation (``2CXO J...``).

    A name is looked up as a current ``csc`` source and as a source of the catalogs
    kept out of the object build (``muwclass-csc``, which points at its CSC source);
    the CSC source's own association wins.

    Returns
    -------
    pandas.DataFrame
        Index = the names found (unknown names are absent), columns as
        :func:`variability_by_source`.
    """
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return variability_by_name(c, names)
    ids = pd.DataFrame(conn.execute(sa.text(
        f"SELECT native_id, id, catalog = 'csc' AS is_csc FROM {SCHEMA}.xray_source "
        f"WHERE is_current AND native_id = ANY(:names) "
        f"AND (catalog = 'csc' OR catalog = ANY(:given))"),
        {"names": [str(n) for n in names], "given": list(GIVEN_COUNTERPARTS)}).all(),
        columns=["name", "source_id", "is_csc"])
    var = variability_by_source(conn, ids["source_id"].to_numpy(np.int64))
    ids = ids.join(var, on="source_id")
    ids = ids.sort_values(["name", "is_csc"], ascending=[True, False], kind="stable")
    return ids.drop_duplicates("name").set_index("name").drop(columns=["source_id", "is_csc"])


def read_variability_csv(path: str | Path) -> pd.DataFrame:
    """Per-source cross-mission variability from a CSV keyed by ``CSCv2_name``.

    Columns: ``CSCv2_name``, ``var_ratio`` (F_max / F_min >= 1; empty = seen once),
    ``var_sigma`` (empty = unknown) and optionally ``var_is_lower_limit`` (true/false/1/0;
    absent or empty = unknown).

    Raises
    ------
    InputError
        A missing file or column, a duplicate name, or a value that is not a number
        (ratio < 1, negative significance), naming the line and value.
    """
    path = Path(path).expanduser()
    try:
        table = pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str)
    except OSError as exc:
        raise InputError(f"variability file {path}: {exc.strerror or exc}") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"variability file {path} is not a readable CSV: {exc}") from None
    missing = [c for c in ("CSCv2_name", "var_ratio", "var_sigma") if c not in table]
    if missing:
        raise InputError(f"variability file {path} lacks column(s) {', '.join(missing)} "
                         f"(expected CSCv2_name,var_ratio,var_sigma[,var_is_lower_limit])")
    dup = table["CSCv2_name"].duplicated(keep=False) & table["CSCv2_name"].notna()
    if dup.any():
        line = int(np.flatnonzero(dup)[1]) + 2
        raise InputError(f"variability file {path}, line {line}: "
                         f"{table['CSCv2_name'][dup].iloc[1]} appears more than once")
    out = pd.DataFrame(index=table["CSCv2_name"].to_numpy())
    for col, lowest in (("var_ratio", 1.0), ("var_sigma", 0.0)):
        raw = table[col]
        num = pd.to_numeric(raw.str.strip(), errors="coerce")
        bad = (num.isna() & raw.notna()) | (num < lowest) | np.isinf(num)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"variability file {path}, line {i + 2} "
                             f"({table['CSCv2_name'].iloc[i]}): {col} {raw.iloc[i]!r} is not "
                             f"a number >= {lowest:g}")
        out[col] = num.to_numpy(float)
    flag = table["var_is_lower_limit"] if "var_is_lower_limit" in table else None
    out["var_is_lower_limit"] = np.nan if flag is None else _flags(flag, path)
    if table["CSCv2_name"].isna().any():
        line = int(np.flatnonzero(table["CSCv2_name"].isna())[0]) + 2
        raise InputError(f"variability file {path}, line {line}: empty CSCv2_name")
    return out


def _flags(column: pd.Series, path: Path) -> np.ndarray:
    words = {"true": 1.0, "1": 1.0, "t": 1.0, "false": 0.0, "0": 0.0, "f": 0.0}
    out = np.full(len(column), np.nan)
    for i, v in enumerate(column):
        if pd.isna(v):
            continue
        key = str(v).strip().lower()
        if key.endswith(".0"):
            key = key[:-2]
        if key not in words:
            raise InputError(f"variability file {path}, line {i + 2}: var_is_lower_limit "
                             f"{v!r} is not true/false")
        out[i] = words[key]
    return out


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ("var_ratio", "var_sigma"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["var_is_lower_limit"] = pd.to_numeric(
        frame["var_is_lower_limit"].astype(object), errors="coerce").astype(float)
    return frame


def attach_variability(table: pd.DataFrame, var: pd.DataFrame,
                       key: pd.Series | np.ndarray | None = None) -> pd.DataFrame:
    """``table`` with :data:`CROSS_MISSION_COLUMNS` from ``var`` (missing, never zero, for
    a row ``var`` does not cover).

    Parameters
    ----------
    table : pandas.DataFrame
    var : pandas.DataFrame
        Indexed like ``key`` (or like ``table`` without ``key``).
    key : array_like, optional
        Per row of ``table``, the index value of ``var`` to take (e.g. its ``CSCv2_name``).
    """
    out = table.copy()
    keys = table.index if key is None else pd.Index(np.asarray(key))
    got = var.reindex(keys) if len(var) else pd.DataFrame(index=keys)
    for col in CROSS_MISSION_COLUMNS:
        out[col] = (got[col].astype(float).to_numpy() if col in got
                    else np.full(len(out), np.nan))
    return out


@dataclass
class Coverage:
    """How many training sources have a cross-mission ratio."""

    n_sources: int
    n_covered: int
    n_lower_limit: int
    per_class: dict[str, int]
    class_sizes: dict[str, int]

    @property
    def fraction(self) -> float:
        """Covered share of the sources."""
        return self.n_covered / self.n_sources if self.n_sources else 0.0

    def line(self) -> str:
        """One human-readable line."""
        per = ", ".join(f"{c} {self.per_class.get(c, 0)}/{n}"
                        for c, n in self.class_sizes.items())
        return (f"cross-mission variability: {self.n_covered} of {self.n_sources} sources "
                f"({100 * self.fraction:.2f} %) have a flux ratio ({self.n_lower_limit} lower "
                f"limits); per class {per}")


def coverage(table: pd.DataFrame, labels) -> Coverage:
    """Count the sources of ``table`` (with :data:`CROSS_MISSION_COLUMNS`) that have a
    ratio, overall and per class."""
    ratio = table["var_ratio"].astype(float).to_numpy()
    has = np.isfinite(ratio) & (ratio >= 1)
    labels = np.asarray(labels).astype(str)
    flag = table["var_is_lower_limit"].astype(float).to_numpy()
    sizes = pd.Series(labels).value_counts().sort_index()
    covered = pd.Series(labels[has]).value_counts()
    return Coverage(n_sources=len(table), n_covered=int(has.sum()),
                    n_lower_limit=int((has & (flag > 0)).sum()),
                    per_class={str(c): int(covered.get(c, 0)) for c in sizes.index},
                    class_sizes={str(c): int(n) for c, n in sizes.items()})


def check_coverage(cov: Coverage, min_fraction: float = MIN_COVERED_FRACTION,
                   min_per_class: int = MIN_COVERED_PER_CLASS,
                   min_classes: int = MIN_COVERED_CLASSES) -> None:
    """Refuse a with/without measurement the coverage cannot support.

    Raises
    ------
    InputError
        When fewer than ``min_fraction`` of the sources, or fewer than ``min_classes``
        classes with ``min_per_class`` sources each, have a ratio; the message says how
        many there are and what data would raise the coverage.
    """
    classes = [c for c, n in cov.per_class.items() if n >= min_per_class]
    if cov.fraction >= min_fraction and len(classes) >= min_classes:
        return
    raise InputError(
        f"{cov.line()}: too few to measure the feature (need at least "
        f"{100 * min_fraction:g} % of the sources, i.e. {int(np.ceil(min_fraction * cov.n_sources))}, "
        f"and {min_classes} classes with {min_per_class} or more; classes with enough: "
        f"{', '.join(classes) or 'none'}). A with/without difference this small could not "
        f"be told from the seed-to-seed spread (~0.015). Ingest the XMM (4XMM/5XMM), "
        f"eRASS1 and 2SXPS catalogs over the training sources' sky with the CSC, run "
        f"`livecat objects build`, and give that database, or a CSV of "
        f"CSCv2_name,var_ratio,var_sigma[,var_is_lower_limit]")


def with_training_variability(engine: Engine | None, table: pd.DataFrame) -> pd.DataFrame:
    """A training table with :data:`CROSS_MISSION_COLUMNS`.

    A table that already has ``var_ratio`` and ``var_sigma`` (a training CSV made with
    them: hashed with the file, so a run stays reproducible) is kept as it is; otherwise
    they are read from the database: by ``CSCv2_name`` for a ``TD_train.csv`` table, else
    by the table's index, the ``xray_source`` ids of a frozen training set's members
    (:func:`classify.members.training_table_from_members`).

    Raises
    ------
    InputError
        When the values must come from the database and none is given.
    """
    if {"var_ratio", "var_sigma"} <= set(table.columns):
        return attach_variability(table, table[[c for c in CROSS_MISSION_COLUMNS
                                                if c in table]])
    if engine is None:
        raise InputError("cross-mission variability: the training table has no var_ratio/"
                         "var_sigma columns and no database is given to read them from")
    if "CSCv2_name" in table:
        return attach_variability(table, variability_by_name(engine, table["CSCv2_name"]),
                                  key=table["CSCv2_name"])
    return attach_variability(table, variability_by_source(engine, table.index))
