"""Fetch survey sources around X-ray sources through the CDS XMatch service.

:func:`fetch_around` uploads the X-ray positions to CDS XMatch
(http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync, through
:class:`astroquery.xmatch.XMatchClass`) and stores each answer as a file; :func:`read_answers`
reads the files back as one table of (X-ray source, survey source) pairs, in the survey's
canonical columns (:func:`ingest.surveys.parse_survey`'s), ready for
:func:`ingest.surveys.normalize_survey`.

Chunks and the cache
--------------------
The positions are sorted by their HEALPix NESTED pixel (order 29, :mod:`catalog.healpix`),
so each chunk is a compact patch of sky, and cut into ``chunk_rows`` rows. A chunk is
uploaded as CSV with the columns :data:`UPLOAD_COLUMNS` (``cat1``), against
``cat2 = survey.xmatch`` within ``max_distance = radius``; its answer is written to
``cache_dir/<survey>-r<radius>-<hash>.csv`` (through ``.part`` and a rename,
:func:`catalog.files.write_atomic`), the hash being that of the survey table, the radius
and the uploaded bytes (ids and positions). A re-run, or a fetch restarted after being
killed, finds the answers it has and asks only for the missing chunks; a changed position
makes a new chunk. ``mirror`` is a directory holding such answer files: nothing is asked,
a missing file is an error.

The answer format
-----------------
XMatch answers in the format of its ``RESPONSEFORMAT`` parameter; astroquery asks for
VOTable unless told otherwise, livecat asks for CSV (:data:`RESPONSE_FORMAT`): the format
of astroquery's own recorded answer (``astroquery/xmatch/tests/data/query_res.csv``), one
row per pair, columns ``angDist`` (arcsec), the uploaded columns, then the survey table's
(in XMatch's spelling, see :mod:`catalog.surveys`). A VOTable answer file (e.g. in a
mirror) is read as well.

Errors (HTTP status, refused connection, timeout, an error document, an answer that is not
an XMatch table) raise :class:`catalog.errors.SourceError` naming the service, the survey
and the chunk. Acknowledge "the cross-match service provided by CDS, Strasbourg".
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from catalog.errors import InputError, SourceError
from catalog.files import write_atomic
from catalog.healpix import radec_to_hpx
from catalog.surveys import Survey, get_survey
from ingest import readers as R
from ingest.surveys import ANGDIST, prepare_table

#: The CDS XMatch synchronous endpoint (astroquery's ``conf.url``).
XMATCH_URL = "http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync"
SERVICE = "CDS XMatch"
#: Columns of the uploaded table (``cat1``): X-ray id and position (deg).
UPLOAD_COLUMNS = ("xray_id", "xray_ra", "xray_dec")
#: The answer format asked for (XMatch ``RESPONSEFORMAT``).
RESPONSE_FORMAT = "csv"
#: XMatch's largest search radius (astroquery refuses more).
MAX_RADIUS_ARCSEC = 180.0
#: Seconds to wait for an answer (astroquery's default).
TIMEOUT_S = 300
#: Version of the cache key; bump when the upload or the answer handling changes.
CACHE_KEY_VERSION = "livecat-xmatch-1"


@dataclass(frozen=True)
class Chunk:
    """One upload.

    Attributes
    ----------
    index, total : int
        1-based chunk number and number of chunks.
    ids : tuple of str
        X-ray ids uploaded, in HEALPix order.
    hpx : tuple of int
        Their order-29 HEALPix NESTED pixels.
    upload : bytes
        The uploaded CSV.
    name : str
        Answer file name (content hash).
    """

    index: int
    total: int
    ids: tuple
    hpx: tuple
    upload: bytes
    name: str

    def describe(self) -> str:
        """``chunk 2/5 (5000 X-ray positions, ids a..b)`` for messages."""
        return (f"chunk {self.index}/{self.total} ({len(self.ids)} X-ray positions, "
                f"ids {self.ids[0]}..{self.ids[-1]}, answer file {self.name})")


#: Called as ``progress(chunk, event)``, event "cached", "fetched" or "mirror".
Progress = Callable[[Chunk, str], None]


def default_cache_dir(settings=None) -> Path:
    """``$LIVECAT_HOME/cache/xmatch``: the answers' home beside the download cache."""
    from ingest.fetch import cache_root

    return cache_root(settings) / "xmatch"


def plan_chunks(positions: pd.DataFrame, survey: Survey, radius_arcsec: float,
                chunk_rows: int = 5000) -> list[Chunk]:
    """The uploads of :func:`fetch_around`, in HEALPix order (no I/O).

    Raises
    ------
    catalog.errors.InputError
        Positions without ``id``/``ra``/``dec``, a missing, repeated or non-finite value,
        an out-of-range position or radius, ``chunk_rows < 1``.
    """
    radius = _check_radius(radius_arcsec)
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be >= 1, got {chunk_rows}")
    ids, ra, dec = _check_positions(positions)
    hpx = radec_to_hpx(ra, dec)
    order = np.lexsort((ids.astype(str), hpx))
    starts = range(0, len(order), chunk_rows)
    total = len(starts)
    chunks = []
    for k, start in enumerate(starts, 1):
        sel = order[start:start + chunk_rows]
        upload = _upload_csv(ids[sel], ra[sel], dec[sel])
        chunks.append(Chunk(index=k, total=total, ids=tuple(ids[sel].tolist()),
                            hpx=tuple(int(h) for h in hpx[sel]), upload=upload,
                            name=answer_name(survey, radius, upload)))
    return chunks


def answer_name(survey: Survey, radius_arcsec: float, upload: bytes) -> str:
    """Cache file name of the answer to ``upload`` (hash of survey, radius, upload)."""
    digest = hashlib.sha256()
    for part in (CACHE_KEY_VERSION, survey.xmatch, repr(float(radius_arcsec)),
                 RESPONSE_FORMAT):
        digest.update(part.encode() + b"\n")
    digest.update(upload)
    return f"{survey.key}-r{radius_arcsec:g}-{digest.hexdigest()[:24]}.{RESPONSE_FORMAT}"


def fetch_around(positions: pd.DataFrame, survey: Survey, radius_arcsec: float, *,
                 cache_dir: Path, mirror: Path | None = None, chunk_rows: int = 5000,
                 url: str | None = None, progress: Progress | None = None) -> list[Path]:
    """Fetch the survey sources within ``radius_arcsec`` of every X-ray position.

    Parameters
    ----------
    positions : pandas.DataFrame
        ``id`` (unique), ``ra``, ``dec`` (deg, ICRS).
    survey : catalog.surveys.Survey or str
    radius_arcsec : float
        Search radius, 0 < r <= 180 (XMatch's limit).
    cache_dir : pathlib.Path
        Where the answers are kept (created if missing), e.g. :func:`default_cache_dir`.
    mirror : pathlib.Path, optional
        Directory of answer files standing for the service (nothing is asked).
    chunk_rows : int
        X-ray positions per upload.
    url : str, optional
        XMatch endpoint (default :data:`XMATCH_URL`).
    progress : callable, optional
        ``progress(chunk, event)``.

    Returns
    -------
    list of pathlib.Path
        One answer file per chunk, in HEALPix order.

    Raises
    ------
    catalog.errors.InputError
        Bad positions or radius (see :func:`plan_chunks`).
    catalog.errors.SourceError
        The service failed or answered something else than an XMatch table, or the mirror
        lacks a chunk; the message names the chunk. Chunks answered before the failure
        stay in the cache.
    """
    survey = survey if isinstance(survey, Survey) else get_survey(survey)
    chunks = plan_chunks(positions, survey, radius_arcsec, chunk_rows)
    url = url or XMATCH_URL
    paths: list[Path] = []
    client = None
    if mirror is None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
    for chunk in chunks:
        if mirror is not None:
            path = Path(mirror) / chunk.name
            if not path.is_file():
                raise SourceError(f"mirror {mirror} has no {SERVICE} answer for "
                                  f"{survey.key} {chunk.describe()}: expected {path}")
            check_answer(path.read_bytes(), f"{path} ({survey.key} {chunk.describe()})")
            event = "mirror"
        else:
            path = cache_dir / chunk.name
            if path.is_file():
                event = "cached"
            else:
                client = client or _Client(url)
                body = _ask(client, chunk, survey, radius_arcsec, url)
                write_atomic(path, body)
                event = "fetched"
        paths.append(path)
        if progress:
            progress(chunk, event)
    return paths


def read_answers(paths, survey) -> pd.DataFrame:
    """Concatenate XMatch answer files: one row per (X-ray source, survey source) pair.

    Parameters
    ----------
    paths : iterable of path
        Answer files (:func:`fetch_around`'s, CSV or VOTable).
    survey : catalog.surveys.Survey or str

    Returns
    -------
    pandas.DataFrame
        ``angDist`` (arcsec) and the uploaded columns (``xray_id``, ``xray_ra``,
        ``xray_dec`` for livecat's uploads) followed by the survey's canonical columns;
        ``attrs["pair_columns"]`` names the pairing columns.

    Raises
    ------
    catalog.errors.SourceError
        A file that is not an XMatch answer of this survey.
    """
    survey = survey if isinstance(survey, Survey) else get_survey(survey)
    frames = []
    for path in paths:
        check_answer(Path(path).read_bytes(), str(path))
        frames.append(prepare_table(R.read_input(path), survey, keep_pairs=True))
    if not frames:
        return pd.DataFrame(columns=[ANGDIST, *UPLOAD_COLUMNS])
    pairs = list(dict.fromkeys(c for f in frames for c in f.attrs["pair_columns"]))
    attrs = {"survey": survey.key, "pair_columns": pairs,
             "sources": [str(p) for p in paths], "source": str(paths[0]) if len(paths) == 1
             else f"{len(paths)} {SERVICE} answers", "format": frames[0].attrs.get("format")}
    for f in frames:
        f.attrs = {}
    out = pd.concat(frames, ignore_index=True)
    out.attrs = attrs
    return out


def check_answer(body: bytes, where: str) -> None:
    """Refuse an error document or anything that is not an XMatch answer table.

    Raises
    ------
    catalog.errors.SourceError
    """
    head = body[:4096].lstrip()
    if R.sniff_format(body) == "votable":
        message = _votable_error(body)
        if message is not None:
            raise SourceError(f"{where}: {SERVICE} answered an error: {message}")
        if b"angDist" not in body[:65536]:
            raise SourceError(f"{where}: the VOTable is not a {SERVICE} answer (no angDist "
                              "column)")
        return
    first = head.split(b"\n", 1)[0].strip()
    if not first.startswith(ANGDIST.encode()):
        shown = first[:80].decode("utf-8", "replace")
        raise SourceError(f"{where}: not a {SERVICE} answer: expected a CSV table whose "
                          f"first column is angDist, got {shown!r}")


def _votable_error(body: bytes) -> str | None:
    """The message of a VOTable whose QUERY_STATUS is ERROR, else None."""
    import re

    m = re.search(rb'<INFO[^>]*name="QUERY_STATUS"[^>]*value="ERROR"[^>]*>(.*?)</INFO>',
                  body, re.S)
    if m is None and re.search(rb'value="ERROR"[^>]*name="QUERY_STATUS"', body):
        return "QUERY_STATUS=ERROR"
    return None if m is None else " ".join(m.group(1).decode("utf-8", "replace").split())


# --------------------------------------------------------------------------- helpers

def _check_radius(radius_arcsec) -> float:
    try:
        radius = float(radius_arcsec)
    except (TypeError, ValueError):
        raise InputError(f"search radius {radius_arcsec!r} is not a number; expected "
                         "arcseconds") from None
    if not (0.0 < radius <= MAX_RADIUS_ARCSEC):
        raise InputError(f"search radius {radius:g} arcsec is out of range; {SERVICE} "
                         f"accepts 0 < radius <= {MAX_RADIUS_ARCSEC:g} arcsec")
    return radius


def _check_positions(positions: pd.DataFrame):
    missing = [c for c in ("id", "ra", "dec") if c not in positions.columns]
    if missing:
        raise InputError(f"X-ray positions lack column(s) {', '.join(missing)}; expected "
                         "id, ra, dec (degrees)")
    ids = positions["id"].map(lambda v: None if pd.isna(v) else str(v).strip()).to_numpy(
        dtype=object)
    bad = [i for i, v in enumerate(ids) if not v]
    if bad:
        raise InputError(f"X-ray position row {bad[0] + 1} has no id; expected an id on "
                         "every row")
    dup = pd.Series(ids).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"X-ray id {ids[i]!r} appears twice (row {i + 1}); expected "
                         "unique ids")
    ra = pd.to_numeric(positions["ra"], errors="coerce").to_numpy(dtype=float)
    dec = pd.to_numeric(positions["dec"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        out = ~np.isfinite(ra) | ~np.isfinite(dec) | (ra < 0) | (ra >= 360) | (np.abs(dec) > 90)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(f"X-ray id {ids[i]!r}: position ({positions['ra'].iloc[i]!r}, "
                         f"{positions['dec'].iloc[i]!r}) is not 0 <= ra < 360, "
                         "-90 <= dec <= 90 degrees")
    return ids, ra, dec


def _upload_csv(ids, ra, dec) -> bytes:
    """The uploaded table: header :data:`UPLOAD_COLUMNS`, positions as exact reprs."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(UPLOAD_COLUMNS)
    for i, a, d in zip(ids, ra, dec):
        writer.writerow((i, repr(float(a)), repr(float(d))))
    return buf.getvalue().encode()


class _Client:
    """astroquery's XMatch client on ``url``, without astroquery's own cache, asking the
    service's table list once."""

    def __init__(self, url: str):
        from astroquery.xmatch import XMatchClass

        class _XMatch(XMatchClass):
            _tables = None

            def get_available_tables(self, *, cache=False):
                if self._tables is None:
                    self._tables = super().get_available_tables(cache=False)
                return self._tables

        self.xmatch = _XMatch()
        self.xmatch.URL = url
        self.xmatch.TIMEOUT = TIMEOUT_S


def _ask(client: _Client, chunk: Chunk, survey: Survey, radius_arcsec: float,
         url: str) -> bytes:
    """Upload one chunk; the answer's bytes (checked)."""
    import astropy.units as u

    where = f"{SERVICE} ({url}), {survey.key} {chunk.describe()}"
    try:
        response = client.xmatch.query_async(
            cat1=io.StringIO(chunk.upload.decode()), cat2=survey.xmatch,
            max_distance=radius_arcsec * u.arcsec, colRA1=UPLOAD_COLUMNS[1],
            colDec1=UPLOAD_COLUMNS[2], cache=False, RESPONSEFORMAT=RESPONSE_FORMAT)
    except Exception as exc:  # requests, astroquery and votable errors alike
        raise SourceError(f"{where}: {_reason(exc)}") from exc
    check_answer(response.content, where)
    return response.content


def _reason(exc: BaseException) -> str:
    """A one-line reason from an exception chain: the HTTP status and the service's
    message where there are, else the root cause (e.g. "connection refused")."""
    seen, status, service, texts = set(), None, None, []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(getattr(exc, "response", None), "status_code", None)
        text = " ".join(str(exc).split())[:300]
        if code is not None:
            status = status or code
        elif type(exc).__name__ == "InvalidQueryError":  # astroquery: the error document
            service = service or text
        elif text:
            texts.append(f"{type(exc).__name__}: {text}")
        exc = exc.__cause__ or exc.__context__
    if status is not None:
        return f"HTTP {status}" + (f": {service}" if service else "")
    return service or (texts[-1] if texts else "request failed")  # the root cause
