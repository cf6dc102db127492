"""Survey tables (Gaia DR3, Bailer-Jones distances, 2MASS, AllWISE, CatWISE2020): parse +
normalize to the survey-source contract (:data:`ingest.normalized.SURVEY_SOURCE_COLUMNS`).

Inputs understood by :func:`parse_survey`
-----------------------------------------
Any table :func:`ingest.readers.read_input` reads (CSV, VOTable, FITS, TAPVizieR JSON)
holding one survey's columns, in any of the spellings :mod:`catalog.surveys` knows:

* VizieR answers through astroquery (the ``../shared/samples/mw/`` files), with or without
  the ``_<suffix>`` the samples append to every column (``Gmag_gaia``). Their reference
  columns ``_q`` (row of the X-ray source), ``_r``/``_rs`` (separations) describe the
  pairing, not the survey source.
* CDS XMatch answers (:mod:`ingest.xmatch`): ``angDist``, then the uploaded X-ray columns,
  then the survey's (XMatch spells some differently: ``errHalfMaj``, ``MeasureJD``,
  ``RAdeg`` ..., renamed by :func:`catalog.surveys.canonical_columns`).

The pairing columns (``angDist`` and the uploaded ones, or ``_q``/``_r``/``_rs``) are
dropped by :func:`parse_survey` (their names stay in ``df.attrs["pair_columns"]``); the
pairs themselves are what :func:`ingest.xmatch.read_answers` returns.

Bad input
---------
* A table of another survey (its columns identify it: ``Survey.signature``, or the
  samples' column suffix) -> :class:`catalog.errors.SourceError` naming the survey it looks
  like; a table without the identifier or position columns -> SourceError naming them.
* Rows whose survey columns (those the survey reads: identifier, position, errors,
  magnitudes, extra columns) are all empty (the samples' rows where the reference pipeline
  found no counterpart; outer-join rows) are not survey sources: they are dropped and
  counted, not rejected. ``n_read`` counts survey-source rows only.
* The same survey source on several rows (one Gaia star near two X-ray sources) is one
  source: the repeats are dropped and counted (``n_read`` counts it once). A repeated id
  with a *different* position is a conflict and rejected with the row it contradicts.
* Missing or malformed ids (e.g. a Gaia source id rounded through a float), NaN or
  out-of-range positions, negative errors and unparseable numbers are rejects with reasons.

The counts are in ``NormalizedCatalog.sources.attrs``: ``n_rows`` (rows of the parsed
input), ``n_without_counterpart`` (all-empty rows), ``n_repeated`` (repeats dropped);
``n_rows = n_read + n_without_counterpart + n_repeated``.

Normalization (see :mod:`catalog.surveys` for each survey's columns, units and sources)
-----------------------------------------------------------------------------------------
* ``ra``/``dec`` at ``epoch`` (Julian year): Gaia 2016.0; 2MASS the row's JD (else Date);
  AllWISE MJD 55400; CatWISE2020 the motion-fit position at MJD 57170 (the stationary fit
  at the row's MJD where there is no motion fit; ``extra["position_fit"]`` says which).
* ``err_maj_arcsec/err_min_arcsec/err_pa_deg``: 1-sigma ellipse, PA east of north; built
  from RA*cos(Dec)/Dec errors and their correlation where the survey gives those (Gaia:
  mas -> arcsec; CatWISE: WISE co-sigma).
* ``pmra``/``pmdec``/``e_*`` in mas/yr (CatWISE arcsec/yr x 1000); ``plx`` in mas.
* Magnitudes as published (Vega). A 2MASS/AllWISE magnitude flagged as an upper limit
  (``Qflg``/``qph`` letter ``U``) is not a measurement: the contract column is NaN and the
  limit is kept in ``extra["<mag>_upper_limit"]``.
* ``rgeo``/``rgeo_lo``/``rgeo_hi`` (pc) from Bailer-Jones ``rgeo``/``b_rgeo``/``B_rgeo``.
* ``extra``: ``Survey.extra_columns`` present in the input (numbers as floats, text as
  text), JSON-safe, missing values left out.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from catalog.errors import SourceError
from catalog.surveys import (SURVEYS, Survey, canonical_columns, cosigma_to_correlation,
                             ellipse_from_radec, get_survey, mjd_to_year)
from ingest import readers as R
from ingest import tables as T
from ingest.normalized import SURVEY_SOURCE_COLUMNS, NormalizedCatalog

#: The samples' pairing columns (after the suffix is removed).
SAMPLE_PAIR_COLUMNS = ("_q", "_r", "_rs")
#: XMatch's separation column (arcsec), the first column of every XMatch answer.
ANGDIST = "angDist"
#: Two rows of one id are the same source when their positions agree this well (deg).
SAME_POSITION_DEG = 1e-7
_FLOAT_INT = re.compile(r"^\d+\.0$")
#: Rows per chunk of :func:`iter_normalize_survey`.
CHUNK_ROWS = 200_000

_FLOAT_COLUMNS = [c for c in SURVEY_SOURCE_COLUMNS if c not in ("native_id", "name", "extra")]


def _text(series: pd.Series) -> pd.Series:
    """Identifier-like text (:func:`ingest.tables.id_text`) with None, never NaN, for
    missing cells."""
    return pd.Series([v if isinstance(v, str) else None for v in T.id_text(series)],
                     index=series.index, dtype=object)


def _as_survey(survey) -> Survey:
    return survey if isinstance(survey, Survey) else get_survey(survey)


# --------------------------------------------------------------------------- parse

def parse_survey(path_or_bytes, survey, fmt: str | None = None) -> pd.DataFrame:
    """Read one survey's table.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
    survey : catalog.surveys.Survey or str
        The survey (or its key) the table is expected to hold.
    fmt : {"csv", "votable", "fits", "json"}, optional
        Force the format (sniffed when omitted).

    Returns
    -------
    pandas.DataFrame
        The survey's columns under their canonical names (suffix removed, other spellings
        renamed); pairing columns dropped. ``attrs``: ``source``, ``format``, ``units``,
        ``survey`` (key), ``pair_columns`` (names dropped), ``suffix`` (removed or None).

    Raises
    ------
    catalog.errors.SourceError
        Unreadable input, a table of another survey, or missing identifier/position
        columns.
    """
    survey = _as_survey(survey)
    return prepare_table(R.read_input(path_or_bytes, fmt), survey, keep_pairs=False)


def prepare_table(df: pd.DataFrame, survey: Survey, keep_pairs: bool = False) -> pd.DataFrame:
    """Canonical columns of a read survey table (the work of :func:`parse_survey`).

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`ingest.readers.read_input` (or of this function: idempotent).
    survey : catalog.surveys.Survey
    keep_pairs : bool
        Keep the pairing columns (``angDist``, uploaded X-ray columns, ``_q``...) as
        columns instead of dropping them.
    """
    where = df.attrs.get("source", "<table>")
    attrs = dict(df.attrs)
    df = _strip_suffix(df, survey, where, attrs)
    pairs = list(attrs.get("pair_columns") or []) if attrs.get("survey") == survey.key \
        else _pair_columns(df.columns, survey)
    pairs = [c for c in pairs if c in df.columns]
    rename = canonical_columns([c for c in df.columns if c not in pairs], survey)
    df = df.rename(columns=rename)
    if not keep_pairs:
        df = df.drop(columns=pairs)
    df.attrs = attrs
    df.attrs["units"] = {rename.get(k, k): v for k, v in attrs.get("units", {}).items()}
    df.attrs["survey"] = survey.key
    df.attrs["pair_columns"] = pairs
    _check_identity(df, survey, where, pairs)
    return df


def _strip_suffix(df: pd.DataFrame, survey: Survey, where: str, attrs: dict) -> pd.DataFrame:
    """Remove the samples' ``_<suffix>``; a file with another survey's suffix is refused."""
    counts = {s.key: sum(str(c).endswith(f"_{s.suffix}") for c in df.columns)
              for s in SURVEYS.values() if s.suffix}
    key, n = max(counts.items(), key=lambda kv: kv[1])
    if n == 0 or n < len(df.columns) / 2:
        attrs.setdefault("suffix", None)
        return df
    found = SURVEYS[key]
    if found.suffix != survey.suffix:
        example = next(c for c in df.columns if str(c).endswith(f"_{found.suffix}"))
        raise SourceError(
            f"{where}: this looks like a {found.title} table (its columns carry the suffix "
            f"_{found.suffix}, e.g. {example}), not {survey.title}; read it as survey "
            f"{found.key!r}")
    cut = len(found.suffix) + 1
    attrs["suffix"] = found.suffix
    return df.rename(columns={c: c[:-cut] for c in df.columns
                              if str(c).endswith(f"_{found.suffix}")})


def _pair_columns(columns, survey: Survey) -> list[str]:
    """The pairing columns: the samples' ``_q/_r/_rs``, or XMatch's ``angDist`` and the
    uploaded columns (those before the first column of the survey)."""
    cols = list(columns)
    pairs = [c for c in cols if c in SAMPLE_PAIR_COLUMNS]
    if ANGDIST in cols:
        known = survey.known_columns() | set(survey.alias_map())
        first = next((i for i, c in enumerate(cols) if c in known), len(cols))
        pairs += [c for c in cols[:first] if c not in pairs]
        if ANGDIST not in pairs:
            pairs.append(ANGDIST)
    return pairs


def _check_identity(df: pd.DataFrame, survey: Survey, where: str, pairs) -> None:
    """Refuse another survey's table and a table without id or position columns."""
    cols = set(df.columns) - set(pairs)
    if not all(c in cols for c in survey.signature):
        for other in SURVEYS.values():
            if other is survey:
                continue
            renamed = {canonical_columns(cols, other).get(c, c) for c in cols}
            if all(c in renamed for c in other.signature):
                raise SourceError(
                    f"{where}: this looks like a {other.title} table (it has "
                    f"{', '.join(other.signature)}), not {survey.title} (which has "
                    f"{', '.join(survey.signature)}); read it as survey {other.key!r}")
    R.require_columns(df, survey.required, f"a {survey.title} table")
    positions = [(survey.ra_column, survey.dec_column)]
    if survey.fallback_position:
        positions.append(survey.fallback_position[:2])
    if not any(ra in cols and dec in cols for ra, dec in positions):
        wanted = " or ".join(f"{ra}/{dec}" for ra, dec in positions)
        shown = ", ".join(list(map(str, df.columns))[:12])
        raise SourceError(f"{where}: missing position columns {wanted}; expected a "
                          f"{survey.title} table with positions in degrees (columns found: "
                          f"{shown}{', ...' if len(df.columns) > 12 else ''})")


# --------------------------------------------------------------------------- normalize

def normalize_survey(df: pd.DataFrame, survey) -> NormalizedCatalog:
    """Map a parsed survey table to the survey-source contract, splitting off bad rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse_survey` or :func:`ingest.xmatch.read_answers`.
    survey : catalog.surveys.Survey or str

    Returns
    -------
    NormalizedCatalog
        ``kind="survey"``; ``n_read`` counts survey-source rows (module docstring).
    """
    parts = list(iter_normalize_survey(df, survey, chunk_rows=max(len(df), 1)))
    return parts[0]


def iter_normalize_survey(df: pd.DataFrame, survey, chunk_rows: int = CHUNK_ROWS):
    """:func:`normalize_survey` chunk by chunk (bounded memory for large tables).

    Rows without a counterpart and repeated sources are found over the whole table first,
    so a repeat is recognised across chunks; reject row numbers are those of the whole
    parsed table (1-based).

    Yields
    ------
    NormalizedCatalog
        One per ``chunk_rows`` input rows; the ``n_read`` and the ``attrs`` counts add up
        to those of one :func:`normalize_survey` call.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    survey = _as_survey(survey)
    df = prepare_table(df, survey, keep_pairs=True).reset_index(drop=True)
    pairs = df.attrs["pair_columns"]
    empty = _empty_rows(df.drop(columns=pairs), survey)
    repeated, conflicts = _repeats(df, survey, empty)
    for start in range(0, max(len(df), 1), chunk_rows):
        stop = min(start + chunk_rows, len(df))
        pos = np.arange(start, stop)
        keep = pos[~(empty[start:stop] | repeated[start:stop])]
        out = _normalize_rows(df.iloc[keep], survey, keep + 1,
                              [conflicts.get(int(i)) for i in keep])
        out.sources.attrs.update({
            "n_rows": stop - start, "n_without_counterpart": int(empty[start:stop].sum()),
            "n_repeated": int(repeated[start:stop].sum())})
        yield out
        if stop >= len(df):
            break


def _empty_rows(frame: pd.DataFrame, survey: Survey) -> np.ndarray:
    """True where every cell of the survey's columns is missing (NaN, None, blank text).

    The columns looked at are those the survey reads (identifier, position, errors,
    magnitudes, extra columns): a 230-column Gaia answer is not scanned cell by cell.
    """
    known = survey.known_columns() | set(survey.alias_map())
    cols = [c for c in frame.columns if c in known] or list(frame.columns)
    blank = np.ones(len(frame), dtype=bool)
    for col in cols:
        s = frame[col]
        if s.dtype == object:
            miss = s.isna().to_numpy() | s.fillna("").astype(str).str.strip().eq("").to_numpy()
        else:
            miss = s.isna().to_numpy()
        blank &= miss
    return blank


def _row_positions(df: pd.DataFrame, survey: Survey):
    """(ra, dec) as floats, the fallback position filling rows without the primary one."""
    ra, _ = T.to_float(df[survey.ra_column]) if survey.ra_column in df.columns \
        else (T.nan_series(len(df)), None)
    dec, _ = T.to_float(df[survey.dec_column]) if survey.dec_column in df.columns \
        else (T.nan_series(len(df)), None)
    ra, dec = ra.to_numpy(), dec.to_numpy()
    if survey.fallback_position:
        fra, fdec = survey.fallback_position[:2]
        if fra in df.columns and fdec in df.columns:
            use = np.isnan(ra) & np.isnan(dec)
            ra = np.where(use, T.to_float(df[fra])[0].to_numpy(), ra)
            dec = np.where(use, T.to_float(df[fdec])[0].to_numpy(), dec)
            return ra, dec, use
    return ra, dec, np.zeros(len(df), dtype=bool)


def _repeats(df: pd.DataFrame, survey: Survey, empty: np.ndarray):
    """Rows repeating an earlier row's source (same id and position), and conflicts.

    Returns
    -------
    repeated : numpy.ndarray of bool
        Rows to drop (same source as an earlier row).
    conflicts : dict
        Positional row -> reject reason (same id, different position).
    """
    ids = _text(df[survey.id_column])
    ra, dec, _ = _row_positions(df, survey)
    repeated = np.zeros(len(df), dtype=bool)
    conflicts: dict[int, str] = {}
    candidates = ~empty & ids.notna().to_numpy() & ids.duplicated(keep=False).to_numpy()
    first: dict[str, int] = {}
    for i in np.flatnonzero(candidates):
        key = ids.iloc[i]
        j = first.setdefault(key, int(i))
        if j == i:
            continue
        same = (np.isnan(ra[i]) and np.isnan(ra[j])) or (
            abs(ra[i] - ra[j]) < SAME_POSITION_DEG and abs(dec[i] - dec[j]) < SAME_POSITION_DEG)
        if same:
            repeated[i] = True
        else:
            conflicts[int(i)] = (
                f"duplicate id: {survey.id_column}={key} already appears in row {j + 1} at "
                f"({ra[j]!r}, {dec[j]!r}) deg, here at ({ra[i]!r}, {dec[i]!r}); expected "
                "one position per source")
    return repeated, conflicts


def _numeric_columns(survey: Survey) -> list[str]:
    """Native columns read as numbers (the contract's inputs)."""
    cols = [survey.ra_column, survey.dec_column]
    if survey.error:
        cols += [c for c in survey.error.columns if c]
    if survey.epoch.column and survey.epoch.fmt in ("jd", "mjd"):
        cols.append(survey.epoch.column)
    if survey.fallback_position:
        ra, dec, ep, err = survey.fallback_position
        cols += [ra, dec, *(c for c in err.columns if c)]
        if ep.column and ep.fmt in ("jd", "mjd"):
            cols.append(ep.column)
    for group in (survey.pm, survey.plx):
        cols += list(group or ())
    for _, col, ecol in survey.mags:
        cols += [col, ecol]
    cols += [col for _, col in survey.distances]
    return list(dict.fromkeys(cols))


def _error_columns(survey: Survey) -> list[str]:
    """Native uncertainty columns that must not be negative."""
    cols = []
    for err in (survey.error, survey.fallback_position[3] if survey.fallback_position else None):
        if err:
            cols += list(err.columns[:2])
    if survey.pm:
        cols += list(survey.pm[2:])
    if survey.plx:
        cols.append(survey.plx[1])
    cols += [ecol for _, _, ecol in survey.mags]
    return cols


def _normalize_rows(df: pd.DataFrame, survey: Survey, row_numbers: np.ndarray,
                    conflicts: list) -> NormalizedCatalog:
    """Normalize survey-source rows (already freed of empty and repeated rows)."""
    df = df.reset_index(drop=True)
    n = len(df)
    ids = _text(df[survey.id_column])
    rc = T.RejectCollector(n, ids)
    missing = ids.isna().to_numpy()
    rc.add(missing, f"missing id: column {survey.id_column} is empty; expected a "
                    f"{survey.title} identifier")
    if survey.id_pattern:
        pattern = re.compile(survey.id_pattern)
        bad_id = np.array([v is not None and not pattern.match(v) for v in ids], dtype=bool)
        rc.add(bad_id, lambda i: (
            f"malformed id: {survey.id_column}={ids.iloc[i]!r}; expected an identifier "
            f"matching {survey.id_pattern} (an id rounded through a float cannot be used)"))
    rc.add(np.array([c is not None for c in conflicts], dtype=bool),
           lambda i: conflicts[i])
    num = T.coerce_numeric(rc, df, _numeric_columns(survey))
    nan = T.nan_series(n)

    ra, dec, use_fallback = _row_positions(df, survey)
    ra_col, dec_col = survey.ra_column, survey.dec_column
    raw_ra = df[ra_col] if ra_col in df.columns else pd.Series([None] * n)
    raw_dec = df[dec_col] if dec_col in df.columns else pd.Series([None] * n)
    if survey.fallback_position and use_fallback.any():
        fra, fdec = survey.fallback_position[:2]
        raw_ra = raw_ra.where(~use_fallback, df[fra])
        raw_dec = raw_dec.where(~use_fallback, df[fdec])
        ra_col, dec_col = f"{ra_col} (or {fra})", f"{dec_col} (or {fdec})"
    T.check_position(rc, pd.Series(ra), pd.Series(dec), raw_ra, raw_dec, ra_col, dec_col)
    for col in _error_columns(survey):
        if col in num:
            T.check_nonnegative(rc, num[col], col)

    epoch = _epoch(rc, df, num, survey.epoch, n)
    maj, mnr, pa = _ellipse(num, survey.error, n)
    if survey.fallback_position and use_fallback.any():
        _, _, fep, ferr = survey.fallback_position
        f_epoch = _epoch(rc, df, num, fep, n)
        f_maj, f_min, f_pa = _ellipse(num, ferr, n)
        epoch = np.where(use_fallback, f_epoch, epoch)
        maj = np.where(use_fallback, f_maj, maj)
        mnr = np.where(use_fallback, f_min, mnr)
        pa = np.where(use_fallback, f_pa, pa)

    cols: dict[str, np.ndarray] = {
        "ra": ra, "dec": dec, "epoch": epoch,
        "err_maj_arcsec": maj, "err_min_arcsec": mnr, "err_pa_deg": pa}
    if survey.pm:
        for contract, col in zip(("pmra", "pmdec", "e_pmra", "e_pmdec"), survey.pm):
            cols[contract] = num.get(col, nan).to_numpy() * survey.pm_to_mas_yr
    if survey.plx:
        cols["plx"] = num.get(survey.plx[0], nan).to_numpy()
        cols["e_plx"] = num.get(survey.plx[1], nan).to_numpy()
    for contract, col in survey.distances:
        cols[contract] = num.get(col, nan).to_numpy()
    extra = _extra(df, survey, n)
    upper = _upper_limits(df, survey, n)
    for contract, col, ecol in survey.mags:
        value = num.get(col, nan).to_numpy()
        error = num.get(ecol, nan).to_numpy()
        ul = upper.get(contract, np.zeros(n, dtype=bool))
        if ul.any():
            extra[f"{contract}_upper_limit"] = np.where(ul, value, np.nan)
            value, error = np.where(ul, np.nan, value), np.where(ul, np.nan, error)
        cols[contract], cols[f"e_{contract}"] = value, error
    if survey.fallback_position:
        extra["position_fit"] = np.where(use_fallback, "stationary", "motion")

    good = ~rc.bad
    g = np.flatnonzero(good)
    sources = _finish(cols, _names(df, survey, ids), ids, T.records(extra.iloc[g],
                                                                    drop_missing=True), good)
    rejects = rc.frame()
    rejects["row_number"] = pd.array(
        np.asarray(row_numbers, dtype=np.int64)[rejects["row_number"].to_numpy(dtype=int) - 1],
        dtype="Int64")
    out = NormalizedCatalog(kind="survey", sources=sources, rejects=rejects, n_read=n)
    out.check_counts()
    return out


def _epoch(rc: T.RejectCollector, df: pd.DataFrame, num: dict, spec, n: int) -> np.ndarray:
    """Per-row Julian-year epoch from a :class:`catalog.surveys.Epoch`."""
    out = np.full(n, np.nan if spec.year is None else spec.year)
    for col, fmt in ((spec.fallback_column, spec.fallback_fmt), (spec.column, spec.fmt)):
        if not col or col not in df.columns:
            continue
        if fmt in ("jd", "mjd"):
            value = num[col].to_numpy() if col in num else T.to_float(df[col])[0].to_numpy()
            years = mjd_to_year(value - 2400000.5 if fmt == "jd" else value)
        else:
            years = _date_years(rc, df[col], col)
        out = np.where(np.isnan(years), out, years)
    return out


def _date_years(rc: T.RejectCollector, raw: pd.Series, col: str) -> np.ndarray:
    """Julian years of ISO dates (``YYYY-MM-DD`` at 0h UT); unparseable text rejected."""
    text = raw.reset_index(drop=True).astype(object)
    null = text.map(lambda v: v is None or (isinstance(v, float) and np.isnan(v))
                    or (isinstance(v, str) and v.strip().lower() in T.NULL_TOKENS)
                    ).to_numpy(dtype=bool)
    when = pd.to_datetime(text.where(~null, None), format="%Y-%m-%d", errors="coerce")
    bad = when.isna().to_numpy() & ~null
    rc.add(bad, lambda i: f"unparseable value: {col}={text.iloc[i]!r}; expected a date "
                          "YYYY-MM-DD")
    mjd = (when - pd.Timestamp("1858-11-17")) / pd.Timedelta(days=1)
    return mjd_to_year(mjd.to_numpy(dtype=float))


def _ellipse(num: dict, spec, n: int):
    """1-sigma ellipse (arcsec, deg) from a :class:`catalog.surveys.PositionError`."""
    nan = np.full(n, np.nan)
    if spec is None:
        return nan, nan, nan

    def col(name):
        return num[name].to_numpy() if name and name in num else nan

    a, b, c = (col(name) for name in (list(spec.columns) + [None])[:3])
    if spec.kind == "ellipse":
        return a * spec.to_arcsec, b * spec.to_arcsec, c
    corr = cosigma_to_correlation(a, b, c) if spec.correlation == "cosigma" else c
    major, minor, pa = ellipse_from_radec(a, b, corr)
    return major * spec.to_arcsec, minor * spec.to_arcsec, pa


def _upper_limits(df: pd.DataFrame, survey: Survey, n: int) -> dict[str, np.ndarray]:
    """Contract magnitude -> rows where it is an upper limit (flag letter)."""
    if not survey.upper_limit_flag or survey.upper_limit_flag[0] not in df.columns:
        return {}
    col, letter, index = survey.upper_limit_flag
    flags = df[col].map(lambda v: v if isinstance(v, str) else "")
    return {mag: flags.map(lambda f, k=k: len(f) > k and f[k] == letter).to_numpy(dtype=bool)
            for mag, k in index.items()}


def _extra(df: pd.DataFrame, survey: Survey, n: int) -> pd.DataFrame:
    """The survey's extra columns: numbers where the whole column reads as numbers."""
    out = {}
    for col in survey.extra_columns:
        if col not in df.columns:
            continue
        values, bad = T.to_float(df[col])
        if bad.any() or col in survey.text_columns:
            # an integer code written through a float column ("826880716.0") loses ".0"
            out[col] = T.id_text(df[col]).map(
                lambda v: v[:-2] if isinstance(v, str) and _FLOAT_INT.match(v) else v
            ).to_numpy(dtype=object)
        else:
            out[col] = values.to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def _names(df: pd.DataFrame, survey: Survey, ids: pd.Series) -> pd.Series:
    """Published designations: the name column (prefixed if it lacks the prefix), or
    prefix + id."""
    prefix = survey.name_prefix
    names = _text(df[survey.name_column]) if survey.name_column in df.columns \
        else pd.Series([None] * len(df), dtype=object)
    return pd.Series([
        (n if n.startswith(prefix.strip()) else prefix + n) if n is not None
        else (prefix + i if i is not None else None)
        for n, i in zip(names, ids)], dtype=object)


def _finish(cols: dict, names: pd.Series, ids: pd.Series, extra: list,
            good: np.ndarray) -> pd.DataFrame:
    """The sources frame: contract columns in order, float64 numbers, object text."""
    k = int(good.sum())
    out = {"native_id": pd.Series(ids[good].tolist(), dtype=object),
           "name": pd.Series(names[good].tolist(), dtype=object)}
    for col in _FLOAT_COLUMNS:
        value = cols.get(col)
        out[col] = np.full(k, np.nan) if value is None \
            else np.asarray(value, dtype="float64")[good]
    out["extra"] = pd.Series(extra, dtype=object)
    return pd.DataFrame(out)[SURVEY_SOURCE_COLUMNS]

