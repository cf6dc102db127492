"""eROSITA-DE all-sky survey catalogues (DR1 = eRASS1; DR2 = eRASS:3): parse + normalize.

Inputs understood by :func:`parse`
----------------------------------
* The official FITS catalogues ``eRASS1_Main.v1.1.fits`` (1B detection, 0.2-2.3 keV) and
  ``eRASS1_Hard.v1.0.fits`` (3B detection, 2.3-5 keV), HDU 1 ``CATALOGUE``; DR2
  (eRASS:3) catalogues with the same layout plus a ``UID_DR1`` link column.
* TAPVizieR ``FORMAT=json`` answers for ``J/A+A/682/A34/erass1-m`` (Main) and
  ``.../erass1-h`` (Hard). VizieR labels (``RA_ICRS``, ``posErr``, ``MLFlux1``,
  ``MLFluxP1``, ``b_MJD`` ...) are renamed to the FITS names that VizieR quotes at the end
  of each description (``(POS_ERR)``, ``(ML_FLUX_1)``, ``(MJD_MIN)``...), see
  :func:`ingest.tables.rename_vizier_to_original`; after that both inputs share one
  mapping.

Column definitions followed (official descriptions, looked up with the search tool):
* Merloni et al. 2024, A&A 682, A34, Table D.1 "eRASS1 catalogs column description"
  (https://www.aanda.org/articles/aa/full_html/2024/02/aa47165-23/T11.html): "All errors are
  provided as 68% confidence intervals (1-sigma)"; ``POS_ERR`` "1-sigma position
  uncertainty"; ``UID`` = CatID*1e11 + SKYTILE*1e5 + ID_SRC with CatID 1 for Main and 2
  for Hard (so Main and Hard UIDs never collide); ``UID_Hard``/``UID_1B`` cross-links
  (negative = weak association, 0 = none).
* MPE data model pages, e.g.
  https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/eRASS1_Hard.html
  (names, FITS types, units).
* HEASARC ERASS1HARD, https://heasarc.gsfc.nasa.gov/W3Browse/erosita/erass1hard.html: Hard
  catalogue bands 0: 0.2-5.0, 1: 0.2-0.6, 2: 0.6-2.3, 3: 2.3-5.0 keV.
Cite Merloni et al. 2024, A&A 682, A34.

Normalization choices
---------------------
* ``native_id`` = ``UID`` as text. The VizieR Main table does not carry ``UID``; then
  ``IAUNAME`` is used and ``extra["id_column"]`` says so (fetch should request UID so
  that both paths give the same identifiers).
* ``pos_err_arcsec`` = ``POS_ERR`` unchanged (already 1-sigma, Table D.1).
* ``significance`` = ``DET_LIKE_0`` (the detection likelihood summed over the detection
  bands); the per-band ``DET_LIKE_n`` of the Hard catalogue stay in ``extra``.
* ``extended`` = ``EXT > 0``: ermldet fits an extent only above its extent-likelihood
  threshold, otherwise ``EXT = 0``; ``EXT``/``EXT_LIKE`` are in ``extra``.
* Bands: Main ``1`` 0.2-2.3 keV and the forced-photometry bands ``P1`` 0.2-0.5, ``P2``
  0.5-1.0, ``P3`` 1.0-2.0 keV (verified in the VizieR descriptions); ``P4`` 2.0-5.0,
  ``P5`` 5.0-8.0, ``P6`` 4.0-10.0, ``P7`` 5.1-6.1, ``P8`` 6.2-7.1, ``P9`` 7.2-8.2 keV as
  listed in Table D.1 (not re-verified here). Hard ``0``-``3`` as above. ``ML_FLUX_n``
  -> ``energy_flux`` (erg/cm2/s = mW/m2), ``ML_RATE_n`` -> ``count_rate``; bounds from
  ``_LOWERR``/``_UPERR`` when given, otherwise from the symmetric ``_ERR``.
* ``flags``: ``extended`` and the ``FLAG_*`` columns, lower-cased without the ``FLAG_``
  prefix (``sp_snr``, ``sp_bps``, ``sp_scl``, ``sp_lga``, ``sp_gc_cons``,
  ``no_radec_err``, ``no_ext_err``, ``no_cts_err``, ``opt``).
* ``extra``: every other native column (IDs such as ``UID_Hard``/``UID_1B``/``UID_DR1``,
  ``DETUID``, ``DET_LIKE_*``, ``EXT*``, ``MJD*``, counts, exposures, backgrounds ...),
  lower-cased names, plus ``catalogue`` ("main"/"hard") and ``release``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ingest import readers as R
from ingest import tables as T
from ingest.normalized import NormalizedCatalog

CATALOG = "erass1"
RELEASES = ("DR1", "DR2")
DEFAULT_RELEASE = "DR1"

MAIN_BANDS = {"1": (0.2, 2.3), "P1": (0.2, 0.5), "P2": (0.5, 1.0), "P3": (1.0, 2.0),
              "P4": (2.0, 5.0), "P5": (5.0, 8.0), "P6": (4.0, 10.0), "P7": (5.1, 6.1),
              "P8": (6.2, 7.1), "P9": (7.2, 8.2)}
HARD_BANDS = {"0": (0.2, 5.0), "1": (0.2, 0.6), "2": (0.6, 2.3), "3": (2.3, 5.0)}

FLAG_COLUMNS = ("FLAG_SP_SNR", "FLAG_SP_BPS", "FLAG_SP_SCL", "FLAG_SP_LGA", "FLAG_SP_GC",
                "FLAG_SP_GC_CONS", "FLAG_NO_RADEC_ERR", "FLAG_NO_EXT_ERR",
                "FLAG_NO_CTS_ERR", "FLAG_OPT")
REQUIRED = ("RA", "DEC")
_MEASURE = re.compile(r"^ML_(FLUX|RATE)_(?:(?:ERR|LOWERR|UPERR)_)?(P?\d)$")
_POSITION = {"RA", "DEC", "IAUNAME", "UID"}


def parse(path_or_bytes, fmt: str | None = None) -> pd.DataFrame:
    """Read an eRASS FITS catalogue or a TAPVizieR JSON answer.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
    fmt : {"fits", "json", "votable", "csv"}, optional

    Returns
    -------
    pandas.DataFrame
        FITS column names (VizieR labels renamed).

    Raises
    ------
    catalog.errors.SourceError
        Unreadable input, or no ``RA``/``DEC`` and no ``UID``/``IAUNAME``.
    """
    df = R.read_input(path_or_bytes, fmt)
    if df.attrs.get("original_names"):
        df = R.rename_vizier_to_original(df)
    R.require_columns(df, REQUIRED, "an eROSITA eRASS catalogue (FITS or TAPVizieR)")
    if "UID" not in df.columns and "IAUNAME" not in df.columns:
        R.require_columns(df, ["UID"], "an eROSITA eRASS catalogue with UID or IAUNAME")
    return df


def catalogue_kind(df: pd.DataFrame) -> str:
    """Return ``"hard"`` for the 3B (Hard) catalogue layout, else ``"main"``."""
    hard_markers = {"UID_1B", "DET_LIKE_3", "ML_FLUX_3", "ML_FLUX_0"}
    return "hard" if hard_markers & set(df.columns) else "main"


def normalize(df: pd.DataFrame, release: str | None = None) -> NormalizedCatalog:
    """Map parsed eRASS rows to livecat's X-ray contract, splitting off bad rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse`.
    release : str, optional
        ``"DR1"`` or ``"DR2"`` (default DR1, or DR2 when a ``UID_DR1`` column exists).

    Returns
    -------
    NormalizedCatalog
    """
    R.require_columns(df, REQUIRED, "an eROSITA eRASS catalogue")
    df = df.reset_index(drop=True)
    n = len(df)
    release = release or ("DR2" if "UID_DR1" in df.columns else DEFAULT_RELEASE)
    kind = catalogue_kind(df)
    bands = HARD_BANDS if kind == "hard" else MAIN_BANDS
    id_col = "UID" if "UID" in df.columns else "IAUNAME"
    ids = T.id_text(df[id_col])
    rc = T.RejectCollector(n, ids)
    T.check_ids(rc, ids, id_col)
    ra, ra_bad = T.to_float(df["RA"])
    dec, dec_bad = T.to_float(df["DEC"])
    T.check_position(rc, ra, dec, df["RA"], df["DEC"], "RA", "DEC", ra_bad, dec_bad)

    measure_cols = [c for c in df.columns if _MEASURE.match(c)]
    flag_cols = [c for c in FLAG_COLUMNS if c in df.columns]
    text_cols = [c for c in df.columns if c in ("DETUID",)]
    other = [c for c in df.columns if c not in _POSITION and c not in measure_cols
             and c not in flag_cols and c not in text_cols and c != "match_dist"]
    num = T.coerce_numeric(rc, df, measure_cols + other)
    flags_raw = T.coerce_bool(rc, df, flag_cols)
    for col in num:  # every eRASS error column is a 1-sigma magnitude (Table D.1)
        if "ERR" in col:
            T.check_nonnegative(rc, num[col], col)

    good = ~rc.bad
    g = np.flatnonzero(good)
    nan = T.nan_series(n)
    ext = num.get("EXT", nan).to_numpy()
    extended = pd.array(np.where(np.isnan(ext), None, ext > 0), dtype="boolean")
    flags = pd.DataFrame({"extended": extended,
                          **{c[len("FLAG_"):].lower(): flags_raw[c] for c in flag_cols}})
    extra = pd.DataFrame({c.lower(): num[c] for c in other if c in num})
    for c in ("UID_HARD", "UID_1B", "UID_DR1", "SKYTILE", "ID_SRC", "ID_CLUSTER"):
        if c.lower() in extra:
            extra[c.lower()] = extra[c.lower()].astype("Float64").round().astype("Int64")
    for c in text_cols:
        extra[c.lower()] = T.id_text(df[c])
    extra["id_column"] = id_col
    extra["catalogue"] = kind
    extra["release"] = release
    names = T.id_text(df["IAUNAME"]) if "IAUNAME" in df.columns else ids

    sources = T.finish_sources({
        "native_id": ids[good], "name": names[good],
        "ra": ra[good], "dec": dec[good],
        "pos_err_arcsec": num.get("POS_ERR", nan)[good],
        "significance": num.get("DET_LIKE_0", nan)[good],
        "extended": extended[good],
        "flags": T.records(flags.iloc[g]),
        "extra": T.records(extra.iloc[g]),
    }, len(g))
    fluxes = T.long_fluxes(ids[good].to_numpy(dtype=object), _bands(num, bands, good))
    out = NormalizedCatalog(kind="xray", sources=sources, fluxes=fluxes,
                            rejects=rc.frame(), n_read=n)
    out.check_counts()
    return out


def id_column(df: pd.DataFrame) -> str:
    """``UID`` when present, else ``IAUNAME`` (TAPVizieR Main table)."""
    return "UID" if "UID" in df.columns else "IAUNAME"


def _bands(num: dict, bands: dict, good: np.ndarray) -> list[dict]:
    """Band dicts (energy flux and count rate) for the bands present in ``num``."""
    out = []
    for what, kind in (("FLUX", "energy_flux"), ("RATE", "count_rate")):
        for band, (lo, hi) in bands.items():
            vcol = f"ML_{what}_{band}"
            if vcol not in num:
                continue
            pick = {k: (num[c].to_numpy()[good] if c in num else None) for k, c in (
                ("err", f"ML_{what}_ERR_{band}"), ("low", f"ML_{what}_LOWERR_{band}"),
                ("up", f"ML_{what}_UPERR_{band}"))}
            value = num[vcol].to_numpy()[good]
            vlo, vhi = T.bounds_from_errors(value, pick["low"], pick["up"], pick["err"])
            out.append({"band": band, "lo": lo, "hi": hi, "kind": kind,
                        "value": value, "value_lo": vlo, "value_hi": vhi})
    return out
