"""A small synchronous TAP client on the standard library (:mod:`urllib.request`).

One verb, :func:`tap_sync`: an HTTP POST of an ADQL query to ``{base_url}/sync`` and the
raw answer back as bytes (parsing stays with the catalog modules, e.g.
:func:`ingest.csc.parse`). :class:`TapService` bundles a service's base URL, a
human-readable name and the row limit the caller wants to stay under.

Protocol followed
-----------------
* IVOA Table Access Protocol 1.1 (Recommendation 2019-09-27,
  https://www.ivoa.net/documents/TAP/20190927/): the synchronous endpoint ``/sync``
  takes ``REQUEST=doQuery``, ``LANG=ADQL``, ``QUERY``, the output format and ``MAXREC``
  (the maximum number of rows wanted) as form parameters of a POST. TAP 1.0 services
  (the CXC's, http://cda.cfa.harvard.edu/csc21tap, says it implements TAP 1.0 and
  documents ``FORMAT=votable``) name the format ``FORMAT``; TAP 1.1 / DALI 1.1 name it
  ``RESPONSEFORMAT``. Both are sent with the same value (DALI services ignore parameters
  they do not know).
* Status of a VOTable answer (TAP 1.1 "VOTable" output section; DALI 1.1,
  https://www.ivoa.net/documents/DALI/20170517/, "Overflow" and "Error documents"; TAP 1.0
  Erratum 5, https://wiki.ivoa.net/twiki/bin/view/IVOA/TAP-1_0-Err-5): the
  ``RESOURCE type="results"`` holds ``<INFO name="QUERY_STATUS" value="OK|ERROR">``
  before the table; a failed query has ``value="ERROR"`` with the service's message as the
  INFO's text and usually no TABLE; a result truncated at ``MAXREC`` (or at the service's
  own limit) carries a second ``<INFO name="QUERY_STATUS" value="OVERFLOW"/>`` *after* the
  TABLE (some older services put it before the table instead; both places are checked).

Errors
------
Everything raises :class:`catalog.errors.SourceError` (subclass :class:`TapOverflow` for
an overflow), with the sync URL and the problem in the message: HTTP status (and the
service's error text when the body is a VOTable error document), refused connection,
timeout, an answer that is not a VOTable, or an ERROR status.
"""

from __future__ import annotations

import html
import http.client
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from catalog.errors import SourceError

#: Seconds to wait for a TAP service to answer one synchronous query.
DEFAULT_TIMEOUT_S = 300.0
USER_AGENT = "livecat-tap/0.1 (urllib; IVOA TAP 1.1 sync client)"

#: ``<INFO ...>`` start tags (any namespace prefix, self-closing or not).
_INFO_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?INFO\b([^>]*?)(/?)>", re.S)
_INFO_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?INFO\s*>")
_ATTR = re.compile(rb"""([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_VOTABLE_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?VOTABLE\b")


class TapOverflow(SourceError):
    """A TAP answer was truncated: ``QUERY_STATUS`` is ``OVERFLOW``.

    Attributes
    ----------
    url : str
        The sync URL that was queried.
    maxrec : int or None
        The ``MAXREC`` sent (None when the service applied its own limit).
    body : bytes
        The truncated answer (a valid VOTable with the first rows).
    """

    def __init__(self, message: str, *, url: str, maxrec: int | None, body: bytes):
        super().__init__(message)
        self.url = url
        self.maxrec = maxrec
        self.body = body


@dataclass(frozen=True)
class TapService:
    """A TAP service to query.

    Attributes
    ----------
    base_url : str
        Service root, without ``/sync`` (e.g. ``http://cda.cfa.harvard.edu/csc21tap``).
    name : str
        Human-readable name used in messages and manifests.
    row_limit : int or None
        Rows per query the caller stays under; sent as ``MAXREC`` so that a larger
        result comes back as an explicit overflow rather than silently truncated.
    """

    base_url: str
    name: str
    row_limit: int | None = None

    @property
    def sync_url(self) -> str:
        """The synchronous query endpoint, ``{base_url}/sync``."""
        return sync_url(self.base_url)

    def query(self, adql: str, fmt: str = "votable",
              timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
        """Run ``adql`` with ``MAXREC = row_limit`` (see :func:`tap_sync`)."""
        return tap_sync(self.base_url, adql, fmt=fmt, maxrec=self.row_limit,
                        timeout=timeout)


def sync_url(base_url: str) -> str:
    """Return ``{base_url}/sync`` (a base URL already ending in ``/sync`` is kept)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/sync") else base + "/sync"


def sync_params(adql: str, fmt: str = "votable",
                maxrec: int | None = None) -> dict[str, str]:
    """The form parameters of a TAP 1.1 synchronous ADQL query.

    Parameters
    ----------
    adql : str
        The query.
    fmt : str
        Output format (``votable`` by default); sent as ``FORMAT`` (TAP 1.0) and
        ``RESPONSEFORMAT`` (TAP 1.1 / DALI).
    maxrec : int, optional
        Maximum rows wanted; omitted when None (the service default applies).

    Returns
    -------
    dict of str to str
    """
    if not adql or not adql.strip():
        raise ValueError("empty ADQL query")
    params = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql,
              "FORMAT": fmt, "RESPONSEFORMAT": fmt}
    if maxrec is not None:
        if int(maxrec) < 0:
            raise ValueError(f"MAXREC must be >= 0, got {maxrec}")
        params["MAXREC"] = str(int(maxrec))
    return params


def query_status(body: bytes) -> list[tuple[str, str]]:
    """Return the ``QUERY_STATUS`` INFOs of a VOTable, in document order.

    A regular-expression scan of the raw bytes (no tree is built: an answer may hold
    tens of megabytes of rows; ``<`` cannot occur unescaped inside cell text).

    Parameters
    ----------
    body : bytes
        A VOTable document.

    Returns
    -------
    list of (value, message)
        ``value`` upper-cased (``OK``, ``ERROR``, ``OVERFLOW``), ``message`` the INFO's
        text content (XML entities resolved, whitespace collapsed; may be empty).
    """
    out = []
    for m in _INFO_TAG.finditer(body):
        attrs = {k.decode("ascii", "replace"): _text(a or b)
                 for k, a, b in _ATTR.findall(m.group(1))}
        if attrs.get("name") != "QUERY_STATUS":
            continue
        message = b""
        if not m.group(2):  # not self-closing: text up to </INFO>
            end = _INFO_END.search(body, m.end())
            if end is not None:
                message = body[m.end():end.start()]
        message = " ".join(_text(message).split())
        out.append((attrs.get("value", "").strip().upper(), message))
    return out


def _text(raw: bytes) -> str:
    """XML text or attribute bytes -> str with entities resolved."""
    return html.unescape(raw.decode("utf-8", "replace"))


def is_votable(body: bytes) -> bool:
    """True when ``body`` looks like a VOTable (a ``<VOTABLE`` element near the top)."""
    return _VOTABLE_TAG.search(body[:4096]) is not None


def check_votable_status(body: bytes, url: str, maxrec: int | None = None) -> None:
    """Raise for a VOTable answer whose ``QUERY_STATUS`` is ERROR or OVERFLOW.

    Parameters
    ----------
    body : bytes
        The answer.
    url : str
        The sync URL (for messages).
    maxrec : int, optional
        The ``MAXREC`` sent (for the overflow message).

    Raises
    ------
    catalog.errors.SourceError
        ``QUERY_STATUS`` is ``ERROR`` (message: the service's text).
    TapOverflow
        ``QUERY_STATUS`` is ``OVERFLOW``.
    """
    statuses = query_status(body)
    errors = [msg for value, msg in statuses if value == "ERROR"]
    if errors:
        text = "; ".join(e for e in errors if e) or "no message given"
        raise SourceError(f"TAP query to {url} failed: the service answered "
                          f"QUERY_STATUS=ERROR: {text}")
    if any(value == "OVERFLOW" for value, _ in statuses):
        limit = f"MAXREC={maxrec}" if maxrec is not None else "the service's row limit"
        raise TapOverflow(f"TAP query to {url} overflowed: the result was truncated at "
                          f"{limit} (QUERY_STATUS=OVERFLOW); query a smaller region",
                          url=url, maxrec=maxrec, body=body)


def tap_sync(base_url: str, adql: str, fmt: str = "votable", maxrec: int | None = None,
             timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Run one synchronous ADQL query and return the answer's bytes.

    Parameters
    ----------
    base_url : str
        TAP service root (``/sync`` is appended).
    adql : str
        The ADQL query.
    fmt : str
        Output format; the status checks below apply to ``votable``.
    maxrec : int, optional
        ``MAXREC``: the most rows wanted.
    timeout : float
        Seconds to wait for the connection and for each read.

    Returns
    -------
    bytes
        The answer (a VOTable with ``QUERY_STATUS`` OK when ``fmt="votable"``).

    Raises
    ------
    catalog.errors.SourceError
        HTTP error status, refused connection, timeout, an answer that is not a VOTable,
        or ``QUERY_STATUS=ERROR``; the message names the URL and the service's text.
    TapOverflow
        ``QUERY_STATUS=OVERFLOW``: the result was truncated.
    """
    url = sync_url(base_url)
    data = urllib.parse.urlencode(sync_params(adql, fmt, maxrec)).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "User-Agent": USER_AGENT,
        "Content-Type": "application/x-www-form-urlencoded",
    })
    body = _post(request, url, timeout)
    if fmt.lower().startswith("votable") or fmt.lower() in ("application/x-votable+xml",
                                                            "text/xml"):
        if not is_votable(body):
            head = body[:120].decode("utf-8", "replace").strip()
            raise SourceError(f"TAP query to {url} returned something that is not a "
                              f"VOTable (starts with {head!r}); expected a VOTable "
                              "document — is the URL a TAP service root?")
        check_votable_status(body, url, maxrec)
    return body


def _post(request: urllib.request.Request, url: str, timeout: float) -> bytes:
    """Send ``request``; map every transport failure to a SourceError naming ``url``."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise SourceError(_http_error_message(exc, url)) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise SourceError(f"TAP query to {url} timed out after {timeout:g} s; retry "
                              "later or query a smaller region") from exc
        raise SourceError(f"TAP service {url} is unreachable ({reason}); check the URL "
                          "and the network, or retry later") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise SourceError(f"TAP query to {url} timed out after {timeout:g} s; retry "
                          "later or query a smaller region") from exc
    except (ConnectionError, OSError, http.client.HTTPException) as exc:
        # HTTPException: IncompleteRead when the service drops the connection mid-answer
        raise SourceError(f"TAP query to {url} failed while reading the answer "
                          f"({exc!r}); retry later") from exc


def _http_error_message(exc: urllib.error.HTTPError, url: str) -> str:
    """Message for an HTTP error status, with the service's VOTable error text if any."""
    try:
        body = exc.read() or b""
    except Exception:  # noqa: BLE001 - the status line is enough
        body = b""
    detail = ""
    if is_votable(body):
        texts = [msg for value, msg in query_status(body) if value == "ERROR" and msg]
        if texts:
            detail = ": " + "; ".join(texts)
    elif body:
        snippet = " ".join(body[:200].decode("utf-8", "replace").split())
        detail = f" (body starts {snippet!r})" if snippet else ""
    return f"TAP query to {url} failed: HTTP {exc.code} {exc.reason}{detail}"
