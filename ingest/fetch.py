"""The one fetch layer of every catalog: HTTP downloads into a cache, or local replacements.

Three modes, chosen by the caller (the CLI's ``--file`` and ``--mirror`` options):

remote (default)
    HTTP(S) GET of ``url`` with :mod:`urllib.request` into the cache
    ``$LIVECAT_HOME/cache/<host>/<url path>``. Next to each cached file a
    ``<name>.meta.json`` keeps the ETag, Last-Modified, SHA-256, size and time of the last
    download; the next fetch of the same URL sends ``If-None-Match`` / ``If-Modified-Since``
    and a ``304 Not Modified`` answer returns the cached file with ``not_modified=True``,
    so the caller can skip parsing and loading. A download is written to ``<name>.part``
    and renamed only when complete, so an interrupted download never leaves a truncated
    file in the cache; the next fetch resumes it with an HTTP range request
    (``Range`` + ``If-Range``: a file that changed meanwhile is downloaded anew).
file
    ``file=PATH``: the local file stands for the remote one; nothing is downloaded.
mirror
    ``mirror=DIR``: a directory laid out like the remote, the URL path becoming the file
    path: ``https://host/a/b/c.tar.gz`` is ``DIR/a/b/c.tar.gz`` (``DIR/host/a/b/c.tar.gz``
    is accepted too).

In every mode the result carries the file's SHA-256, which the loader records as the
release checksum, and a :meth:`FetchResult.remote_meta` dict for ``catalog_release``.
Errors (HTTP status, refused connection, timeout, missing file) raise
:class:`catalog.errors.SourceError` naming the URL or path and the problem.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from catalog.errors import SourceError
from catalog.files import sha256_file
from catalog.settings import Settings

#: Bytes read per chunk while downloading or hashing.
CHUNK = 1 << 20
#: Seconds to wait for the server to answer (and between chunks).
DEFAULT_TIMEOUT_S = 60.0
USER_AGENT = "livecat-fetch/0.1 (+https://github.com/livecat; urllib)"

#: Called with (bytes done, total bytes or None) while a download runs.
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class FetchResult:
    """What a fetch produced.

    Attributes
    ----------
    url : str or None
        The remote URL the content stands for (None for a bare ``--file`` without URL).
    path : pathlib.Path
        Local file holding the content (cache entry, ``--file`` path or mirror file).
    sha256 : str
        Hex SHA-256 of the content.
    size : int
        Bytes.
    mode : {"remote", "file", "mirror"}
    not_modified : bool
        True when the server answered 304 to a conditional request: ``path`` is the
        cached copy, identical to the remote one.
    etag, last_modified : str or None
        Validators the server sent (remote mode only).
    """

    url: str | None
    path: Path
    sha256: str
    size: int
    mode: str
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None

    @property
    def origin(self) -> str:
        """The URL (remote) or the local path the content came from, for the release row."""
        if self.mode == "remote":
            return str(self.url)
        return str(self.path)

    def read_bytes(self) -> bytes:
        """Return the content."""
        return self.path.read_bytes()

    def remote_meta(self) -> dict:
        """Return a JSON-serialisable description for ``catalog_release.remote_meta``."""
        meta = {"mode": self.mode, "url": self.url, "sha256": self.sha256, "size": self.size}
        if self.etag:
            meta["etag"] = self.etag
        if self.last_modified:
            meta["last_modified"] = self.last_modified
        if self.mode != "remote":
            meta["path"] = str(self.path)
        return meta


# --------------------------------------------------------------------------------------
# Paths and hashes
# --------------------------------------------------------------------------------------


def cache_root(settings: Settings | None = None) -> Path:
    """Return the download cache directory, ``$LIVECAT_HOME/cache``."""
    return (settings or Settings.from_env()).home / "cache"


def _safe_parts(url: str) -> list[str]:
    """URL path segments, refusing ones that would leave the target directory."""
    parsed = urllib.parse.urlsplit(url)
    parts = [urllib.parse.unquote(p) for p in parsed.path.split("/") if p]
    if not parts:
        raise SourceError(f"URL {url!r} names no file (its path is empty)")
    if any(p in (".", "..") or "/" in p or "\\" in p for p in parts):
        raise SourceError(f"URL {url!r} has a path segment that is not a plain name")
    return parts


def cache_path(url: str, root: Path) -> Path:
    """Return the cache file of ``url``: ``root/<host>/<url path>`` (query hashed in).

    Parameters
    ----------
    url : str
    root : pathlib.Path
        The cache directory (see :func:`cache_root`).

    Returns
    -------
    pathlib.Path
    """
    parsed = urllib.parse.urlsplit(url)
    host = (parsed.hostname or "local") + (f"_{parsed.port}" if parsed.port else "")
    parts = _safe_parts(url)
    if parsed.query:
        digest = hashlib.sha256(parsed.query.encode()).hexdigest()[:12]
        parts[-1] = f"{parts[-1]}.q{digest}"
    return root.joinpath(host, *parts)


def mirror_path(url: str, mirror: Path) -> Path:
    """Return the file in ``mirror`` that stands for ``url``.

    The URL path becomes the file path under ``mirror``; a mirror that keeps the host as
    its first directory (``mirror/<host>/<path>``) is accepted too.

    Raises
    ------
    catalog.errors.SourceError
        If neither layout holds the file.
    """
    mirror = Path(mirror)
    if not mirror.is_dir():
        raise SourceError(f"mirror directory {mirror} does not exist")
    parts = _safe_parts(url)
    host = urllib.parse.urlsplit(url).hostname or ""
    candidates = [mirror.joinpath(*parts), mirror.joinpath(host, *parts)]
    for path in candidates:
        if path.is_file():
            return path
    raise SourceError(f"mirror {mirror} has no copy of {url}: expected "
                      f"{candidates[0]} (the URL path under the mirror directory)")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_cache_meta(path: Path) -> dict | None:
    """Return the metadata of a cache entry, or None when there is no usable entry."""
    meta_file = _meta_path(path)
    if not (path.is_file() and meta_file.is_file()):
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_cache_meta(path: Path, meta: dict) -> None:
    tmp = _meta_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, _meta_path(path))


# --------------------------------------------------------------------------------------
# Local modes
# --------------------------------------------------------------------------------------


def fetch_file(path: str | Path, url: str | None = None) -> FetchResult:
    """Use a local file in place of the remote one.

    Raises
    ------
    catalog.errors.SourceError
        If the file does not exist or cannot be read.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(f"input file {path} does not exist (or is not a file)")
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise SourceError(f"cannot read input file {path}: {exc.strerror or exc}") from exc
    return FetchResult(url=url, path=path, sha256=digest, size=path.stat().st_size,
                       mode="file")


def fetch_mirror(url: str, mirror: str | Path) -> FetchResult:
    """Use the copy of ``url`` in a mirror directory (see :func:`mirror_path`)."""
    path = mirror_path(url, Path(mirror).expanduser())
    result = fetch_file(path, url=url)
    return FetchResult(url=url, path=path, sha256=result.sha256, size=result.size,
                       mode="mirror")


# --------------------------------------------------------------------------------------
# Remote mode
# --------------------------------------------------------------------------------------


def conditional_headers(meta: dict | None) -> dict[str, str]:
    """Request headers that ask the server to answer 304 when nothing changed.

    Parameters
    ----------
    meta : dict or None
        The cache entry's metadata (``etag``, ``last_modified``).

    Returns
    -------
    dict
        ``If-None-Match`` and/or ``If-Modified-Since`` (empty without a cache entry).
    """
    headers: dict[str, str] = {}
    if meta:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    return headers


def _describe_url_error(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"host name could not be resolved ({reason.strerror or reason})"
    text = getattr(reason, "strerror", None) or str(reason)
    return text or type(reason).__name__


def _part_meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def resume_headers(part: Path) -> dict[str, str]:
    """Headers that ask for the rest of an interrupted download, if one can be resumed.

    A ``.part`` file is resumable when the response that started it named a validator
    (ETag or Last-Modified), kept in ``<name>.part.json``: the request then carries
    ``Range: bytes=<size>-`` and ``If-Range: <validator>``, so a server whose file changed
    in between sends the whole new file instead (200) and the download starts over.
    """
    if not part.is_file():
        return {}
    try:
        meta = json.loads(_part_meta_path(part).read_text())
    except (OSError, ValueError):
        return {}
    validator = meta.get("etag") or meta.get("last_modified")
    size = part.stat().st_size
    if not validator or size == 0:
        return {}
    return {"Range": f"bytes={size}-", "If-Range": validator}


def _download(response, part: Path, progress: ProgressCallback | None) -> tuple[str, int]:
    """Stream the response body into ``part``; return the SHA-256 and size of the file.

    A ``206 Partial Content`` answer is appended to what ``part`` already holds; any
    other answer replaces it. The validators of the response are kept beside ``part``
    so that an interrupted download can be resumed (:func:`resume_headers`).
    """
    digest, done = hashlib.sha256(), 0
    resumed = response.status == 206
    if resumed:
        with open(part, "rb") as held:
            for block in iter(lambda: held.read(CHUNK), b""):
                digest.update(block)
                done += len(block)
    else:
        _part_meta_path(part).write_text(json.dumps({
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified")}))
    start = done
    length = response.headers.get("Content-Length")
    expected = start + int(length) if length and length.isdigit() else None
    with open(part, "ab" if resumed else "wb") as out:
        while True:
            block = response.read(CHUNK)
            if not block:
                break
            out.write(block)
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, expected)
    if expected is not None and done != expected:
        raise SourceError(f"download of {response.geturl()} stopped after {done} of "
                          f"{expected} bytes (run again to resume it)")
    _part_meta_path(part).unlink(missing_ok=True)
    return digest.hexdigest(), done


def fetch_remote(url: str, *, root: Path | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 force: bool = False, progress: ProgressCallback | None = None) -> FetchResult:
    """Download ``url`` into the cache unless the cached copy is still current.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL.
    root : pathlib.Path, optional
        Cache directory; default :func:`cache_root`.
    timeout : float, optional
        Seconds to wait for the server.
    force : bool, optional
        Download even when a cached copy exists (no conditional headers).
    progress : callable, optional
        Called with (bytes done, total or None) during the download.

    Returns
    -------
    FetchResult
        ``not_modified=True`` when the server answered 304.

    Raises
    ------
    catalog.errors.SourceError
        On an HTTP error status, a refused connection, a timeout or a broken download.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise SourceError(f"cannot fetch {url!r}: only http and https URLs are supported "
                          "(use --file for a local file)")
    path = cache_path(url, root or cache_root())
    part = path.with_name(path.name + ".part")
    meta = None if force else read_cache_meta(path)
    headers = {"User-Agent": USER_AGENT, **conditional_headers(meta), **resume_headers(part)}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                digest, size = _download(response, part, progress)
            except (OSError, http.client.HTTPException) as exc:
                raise SourceError(f"download of {url} failed: "
                                  f"{_describe_url_error(exc)}") from exc
            os.replace(part, path)
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and meta is not None:
            return _not_modified(url, path, meta, exc.headers)
        raise SourceError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise SourceError(f"cannot fetch {url}: {_describe_url_error(exc)}") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise SourceError(f"cannot fetch {url}: timed out after {timeout:g} s") from exc
    _write_cache_meta(path, {"url": url, "etag": etag, "last_modified": last_modified,
                             "sha256": digest, "size": size,
                             "fetched_at": datetime.now(timezone.utc).isoformat()})
    return FetchResult(url=url, path=path, sha256=digest, size=size, mode="remote",
                       etag=etag, last_modified=last_modified)


def _not_modified(url: str, path: Path, meta: dict, headers) -> FetchResult:
    """The result of a 304 answer: the cached copy, its validators refreshed."""
    etag = headers.get("ETag") or meta.get("etag")
    last_modified = headers.get("Last-Modified") or meta.get("last_modified")
    digest = meta.get("sha256") or sha256_file(path)
    size = path.stat().st_size
    _write_cache_meta(path, {**meta, "etag": etag, "last_modified": last_modified,
                             "sha256": digest, "size": size,
                             "checked_at": datetime.now(timezone.utc).isoformat()})
    return FetchResult(url=url, path=path, sha256=digest, size=size, mode="remote",
                       not_modified=True, etag=etag, last_modified=last_modified)


def fetch(url: str | None, *, file: str | Path | None = None,
          mirror: str | Path | None = None, root: Path | None = None,
          timeout: float = DEFAULT_TIMEOUT_S, force: bool = False,
          progress: ProgressCallback | None = None) -> FetchResult:
    """Fetch a catalog file: from ``file``, from ``mirror``, or from ``url`` via the cache.

    Parameters
    ----------
    url : str or None
        The remote location (required unless ``file`` is given).
    file : path, optional
        Local file that replaces the network (``--file``).
    mirror : path, optional
        Directory laid out like the remote (``--mirror``).
    root, timeout, force, progress
        See :func:`fetch_remote`.

    Returns
    -------
    FetchResult

    Raises
    ------
    catalog.errors.SourceError
        When the content cannot be obtained; the message names the URL or path.
    """
    if file is not None and mirror is not None:
        raise SourceError("give either --file or --mirror, not both")
    if file is not None:
        return fetch_file(file, url=url)
    if url is None:
        raise SourceError("no URL to fetch and no --file given")
    if mirror is not None:
        return fetch_mirror(url, mirror)
    return fetch_remote(url, root=root, timeout=timeout, force=force, progress=progress)


__all__ = ["FetchResult", "cache_root", "cache_path", "mirror_path",
           "read_cache_meta", "conditional_headers", "resume_headers", "fetch", "fetch_file",
           "fetch_mirror", "fetch_remote"]
