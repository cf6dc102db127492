"""Training data of a classifier run: a MUWCLASS CSV or a frozen training set, hashed.

Training-set references
-----------------------
``file:PATH``
    A CSV in the format of the MUWCLASS ``TD_train.csv`` (measurement columns of
    :func:`classify.montecarlo.sample_measurements` plus ``True_Class``). Recorded as
    ``file:<file name>@sha256:<hex of the file's bytes>``; a run's evaluation refuses a
    file whose bytes changed since.
``NAME`` or ``NAME@N``
    A frozen training set of the curation tables (``livecat.training_set``), turned into
    a measurement table by :func:`classify.members.training_table_from_members`; see
    :func:`resolve_training_set`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import ConflictError, InputError
from catalog.settings import SCHEMA
from classify.features import COUNTERPART_MEASUREMENTS
from classify.measurements import table_exists
from classify.members import training_table_from_members

LABEL_COLUMN = "True_Class"


@dataclass
class TrainingData:
    """A resolved training set.

    Attributes
    ----------
    ref : str
        The reference recorded on the run (``NAME@N`` or ``file:NAME@sha256:<hex>``).
    sha256 : str
        Content hash of the training data.
    table : pandas.DataFrame
        Measurements and errors, one row per training source.
    labels : numpy.ndarray
        True classes.
    """

    ref: str
    sha256: str
    table: pd.DataFrame
    labels: np.ndarray
    location: str | None = None
    skipped: int = 0


def read_training_csv(path: str | Path) -> TrainingData:
    """Read a training set CSV (``TD_train.csv`` format) and hash its bytes.

    Raises
    ------
    InputError
        When the file is missing, unreadable or has no ``True_Class`` column.
    """
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"training set file {path}: {exc.strerror or exc}") from None
    try:
        table = pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        raise InputError(f"training set file {path} is not a readable CSV: {exc}") from None
    required = {LABEL_COLUMN, "Fs", "e_Fs", "Fm", "e_Fm", "Fh", "e_Fh"}
    missing = sorted(required - set(table.columns))
    if missing:
        raise InputError(f"training set file {path} lacks column(s) {', '.join(missing)} "
                         f"(expected the MUWCLASS TD_train.csv format)")
    if table[LABEL_COLUMN].isna().any():
        row = int(np.flatnonzero(table[LABEL_COLUMN].isna())[0]) + 2
        raise InputError(f"training set file {path}, line {row}: empty {LABEL_COLUMN}")
    # columns a CSV may lack (no counterpart data at all) are missing values, never zero
    for col in COUNTERPART_MEASUREMENTS:
        if col not in table:
            table[col] = np.nan
    if "CSCv2_flags" not in table:
        table["CSCv2_flags"] = ""
    digest = hashlib.sha256(data).hexdigest()
    return TrainingData(ref=f"file:{path.name}@sha256:{digest}", sha256=digest, table=table,
                        labels=table[LABEL_COLUMN].astype(str).to_numpy(),
                        location=str(path.resolve()))


def resolve_training_set(engine: Engine | None, ref: str) -> TrainingData:
    """Resolve a training-set reference into its data.

    Parameters
    ----------
    engine : Engine or None
        Database (needed for ``NAME[@N]``).
    ref : str
        ``file:PATH`` (a CSV in the TD_train.csv format), or ``NAME`` / ``NAME@N`` of a
        frozen training set. A ``file:NAME@sha256:<hex>`` reference as recorded on a run
        is accepted when ``NAME`` is a readable path whose bytes still have that hash.

    Raises
    ------
    InputError
        Unknown or unreadable reference.
    ConflictError
        A recorded file reference whose file changed since.
    """
    if ref.startswith("file:"):
        body = ref[len("file:"):]
        path, _, expected = body.partition("@sha256:")
        data = read_training_csv(path)
        if expected and data.sha256 != expected:
            raise ConflictError(f"training set file {path} has SHA-256 {data.sha256}, not the "
                                f"{expected} recorded: the file changed since the run was trained")
        return data
    name, _, version = ref.partition("@")
    if not name:
        raise InputError(f"training set reference {ref!r}: give NAME[@N] or file:PATH")
    if engine is None:
        raise InputError(f"training set {ref!r} lives in the database: no database given")
    if version and (not version.isdigit() or int(version) < 1):
        raise InputError(f"training set version {version!r} in {ref!r} must be a positive "
                         f"integer, e.g. {name}@1")
    with engine.connect() as conn:
        if not table_exists(conn, "training_set"):
            raise InputError(
                f"training set {ref!r}: this database has no training_set table yet "
                f"(curation's training sets are not available); use --training-set "
                f"file:PATH with a CSV in the TD_train.csv format")
        row = conn.execute(sa.text(
            f"SELECT id, name, version, content_hash FROM {SCHEMA}.training_set "
            f"WHERE name = :n AND (CAST(:v AS int) IS NULL OR version = CAST(:v AS int)) "
            f"ORDER BY version DESC LIMIT 1"),
            {"n": name, "v": int(version) if version else None}).mappings().first()
        if row is None:
            known = conn.execute(sa.text(
                f"SELECT string_agg(DISTINCT name, ', ') FROM {SCHEMA}.training_set")).scalar()
            raise InputError(f"unknown training set {ref!r}: known sets are {known or '(none)'} "
                             f"(livecat trainingset list)")
        members = conn.execute(sa.text(
            f"SELECT xray_source_id, livecat_class, features FROM {SCHEMA}.training_member "
            f"WHERE training_set_id = :i ORDER BY xray_source_id"),
            {"i": row["id"]}).mappings().all()
    table, labels, skipped = training_table_from_members(members)
    if not len(table):
        raise InputError(f"training set {row['name']}@{row['version']}: none of its "
                         f"{len(members)} members has the CSC s/m/h energy fluxes with errors")
    return TrainingData(ref=f"{row['name']}@{row['version']}", sha256=row["content_hash"],
                        table=table, labels=labels, location=f"training_set:{row['id']}",
                        skipped=skipped)


def training_ebv(data: TrainingData) -> np.ndarray:
    """E(B-V) (0.86 x SFD) at every training source's position, for evaluating a run that
    reddens AGN (positions from ``CSCv2_RA``/``CSCv2_DEC`` of a TD_train.csv file, or the
    ``ra``/``dec`` frozen with training-set members).

    Raises
    ------
    InputError
        When the training data has no positions or a source lacks one.
    """
    from classify.reddening import ebv_sfd

    table = data.table
    for ra, dec in (("CSCv2_RA", "CSCv2_DEC"), ("ra", "dec")):
        if {ra, dec} <= set(table.columns):
            pos = table[[ra, dec]].apply(pd.to_numeric, errors="coerce")
            if pos.isna().any(axis=None):
                first = pos.index[pos.isna().any(axis=1)][0]
                raise InputError(f"training set {data.ref}: source {first} has no position "
                                 f"({ra}, {dec}); AGN reddening needs every line of sight")
            return np.asarray(ebv_sfd(pos[ra].to_numpy(float), pos[dec].to_numpy(float)),
                              dtype=float)
    raise InputError(f"training set {data.ref} has no positions (CSCv2_RA/CSCv2_DEC or "
                     f"ra/dec): AGN reddening needs every source's line of sight")
