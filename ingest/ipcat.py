"""K. Mukai's catalogue of intermediate polars: parse the HTML table, normalize to CV/IP.

Source: "The Intermediate Polars" catalogue kept by Koji Mukai at NASA/GSFC,
https://asd.gsfc.nasa.gov/Koji.Mukai/iphome/catalog/alpha.html, with its explanatory
notes at https://asd.gsfc.nasa.gov/Koji.Mukai/iphome/catalog/catnotes.html.

The page is one HTML table (after navigation elements) with the columns
``No.``, ``Var. Name``, ``Alt. Name(s)``, ``RA`` and ``Dec`` (J2000, sexagesimal with
blanks: ``00 22 57.63``, ``+61 41 07.8``, at varying precision), ``P_orb (h)``,
``P_spin (s)`` and ``Level`` (one to five asterisks). Quirks the parser handles:

- Objects without a variable-star name have an empty ``Var. Name``; the first
  alternative name becomes the name.
- Several alternative names share one cell, separated by line breaks (``<br>``),
  commas/semicolons, or only by blanks (``IGR J00234+6141 1RXS J002258.3+614111``); the
  last case is split before each token that starts a new survey designation.
- Periods may carry question marks (``1974?``, ``2520??``): the marker is kept with the
  number.
- Rows without a number are candidates (the notes page: objects proposed as IPs in a
  refereed paper stay in the catalogue even when later shown not to be IPs; they carry
  low ratings). The star rating is the catalogue's confidence: five stars "ironclad"
  (orbital period measured directly), four "confirmed", fewer for weaker cases.
- Tags may be upper or lower case and cells may lack closing tags; ``&nbsp;`` fills
  empty cells.

Only the standard library's :mod:`html.parser` is used.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pandas as pd

from catalog.coords import parse_sexagesimal
from catalog.errors import InputError, SourceError
from ingest import class_rules
from ingest.normalized import (
    LITERATURE_COLUMNS,
    NormalizedCatalog,
    rejects_frame,
    text_columns_as_object,
)
from ingest.spec import Reading

CATALOG = "ipcat"
SOURCE_URL = "https://asd.gsfc.nasa.gov/Koji.Mukai/iphome/catalog/alpha.html"
#: Reference recorded for every object (the catalogue has no bibcode of its own).
REFERENCE = "Mukai K., The Intermediate Polars catalogue (NASA/GSFC), " + SOURCE_URL

#: Parsed column -> pattern matched against the header text (case-insensitive).
COLUMN_PATTERNS: dict[str, str] = {
    "number": r"^no\.?$",
    "var_name": r"var",
    "alt_names": r"alt",
    "ra": r"^r\.?a\.?\b",
    "dec": r"^dec",
    "porb_h": r"orb",
    "pspin_s": r"spin",
    "level": r"level|rating|conf",
}
PARSED_COLUMNS = ["row_number", *COLUMN_PATTERNS]


# --------------------------------------------------------------------------------------
# HTML -> rows of cell texts
# --------------------------------------------------------------------------------------


class _TableParser(HTMLParser):
    """Collect every table as a list of rows of cell texts (``<br>`` -> newline)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.closed: list[bool] = []  # per table: was its </table> seen
        self.html_closed = False
        self._stack: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def _close_cell(self) -> None:
        if self._cell is not None and self._stack:
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._stack[-1][-1].append("".join(self._cell))
        self._cell = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self._close_cell()
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._close_cell()
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack:
            self._close_cell()
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._close_cell()
        elif tag == "tr":
            self._close_cell()
        elif tag == "table" and self._stack:
            self._close_cell()
            self.tables.append([r for r in self._stack.pop() if r])
            self.closed.append(True)
        elif tag == "html":
            self.html_closed = True

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        while self._stack:  # unclosed tables
            self._close_cell()
            self.tables.append([r for r in self._stack.pop() if r])
            self.closed.append(False)


def _clean_cell(text: str) -> str:
    lines = [" ".join(part.replace("\xa0", " ").split()) for part in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _header_map(header: list[str]) -> dict[str, int] | None:
    mapping: dict[str, int] = {}
    for idx, text in enumerate(header):
        label = " ".join(text.split()).lower()
        for col, pattern in COLUMN_PATTERNS.items():
            if col not in mapping and re.search(pattern, label):
                mapping[col] = idx
                break
    required = {"var_name", "alt_names", "ra", "dec"}
    return mapping if required <= mapping.keys() else None


def parse_ipcat_html(html: str) -> pd.DataFrame:
    """Parse the IP catalogue page into one row per table row, as published.

    Parameters
    ----------
    html : str
        The page's HTML.

    Returns
    -------
    pandas.DataFrame
        Columns ``row_number`` (1-based data row), ``number``, ``var_name``,
        ``alt_names`` (list of str), ``ra``, ``dec``, ``porb_h``, ``pspin_s``, ``level``;
        all but ``row_number`` and ``alt_names`` are the cell text with blanks
        normalised ("" for an empty cell).

    Raises
    ------
    catalog.errors.SourceError
        If the page holds no table with the catalogue's columns (at least Var. Name,
        Alt. Name(s), RA and Dec), or the page is truncated (the table or the page is not
        closed).
    """
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    for table, closed in zip(parser.tables, parser.closed):
        if not table:
            continue
        header = [_clean_cell(c).replace("\n", " ") for c in table[0]]
        mapping = _header_map(header)
        if mapping is None:
            continue
        if not (closed and parser.html_closed):
            raise SourceError(
                "the IP catalogue page is truncated: "
                + ("its table has no closing </TABLE>" if not closed
                   else "the page has no closing </HTML>")
                + f" after {len(table) - 1} rows; download it again")
        rows = []
        for cells in table[1:]:
            texts = [_clean_cell(c) for c in cells]
            if not any(texts):
                continue
            if _header_map([t.replace("\n", " ") for t in texts]) is not None:
                continue  # a repeated header row
            row = {"row_number": len(rows) + 1}
            for col in COLUMN_PATTERNS:
                idx = mapping.get(col)
                value = texts[idx] if idx is not None and idx < len(texts) else ""
                row[col] = value
            row["alt_names"] = split_alt_names(row["alt_names"])
            row["var_name"] = row["var_name"].replace("\n", " ")
            rows.append(row)
        return pd.DataFrame(rows, columns=PARSED_COLUMNS)
    raise SourceError(
        "no intermediate-polar table found in the HTML: expected a table whose header has "
        "No., Var. Name, Alt. Name(s), RA, Dec, P_orb, P_spin and Level "
        f"(the layout of {SOURCE_URL} may have changed)")


#: Designation prefixes that start a new name in a blank-separated list of names.
_DESIGNATION = re.compile(
    r"^(\d?RXS?|RX|IGR|Swift|SWIFT|XSS|PBC|AX|CXOU?|XMMU|\dXMM|XMMSL\d?|1E|2E|1H|2A|3A|"
    r"4U|H\d|EXO|SAX|XTE|MAXI|ASASSN|ASAS-SN|ZTF|Gaia|CSS|SSS|MLS|SDSS|2MASS|USNO|"
    r"GSC|HD|BD|LAMOST|Nova|NSV|Paloma|eRASSU?|SRGA|SRGe|HS|PG|KUV|EC|CTCV|FBS|1WGA|"
    r"WGA|1SWXRT|2SXPS|GALEX|DDE|TYC|IPHAS)$")


def split_alt_names(text: str) -> list[str]:
    """Split an ``Alt. Name(s)`` cell into names.

    Line breaks, commas and semicolons separate names. A line with no separator is
    split before each token that starts a survey designation (``IGR``, ``1RXS``,
    ``RX``, ``Swift``, ``Nova`` ...) once the name being built is complete (two tokens,
    or one token that is not a bare prefix), so ``IGR J00234+6141 1RXS J002258.3+614111``
    and ``H0253+193 1WGA J0256.1+1925`` give two names while ``Nova Persei 1901`` stays
    one.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
    """
    names: list[str] = []
    for chunk in re.split(r"[\n,;]", text):
        tokens = chunk.split()
        current: list[str] = []
        for tok in tokens:
            complete = len(current) >= 2 or (current and not _DESIGNATION.match(current[0]))
            if complete and _DESIGNATION.match(tok):
                names.append(" ".join(current))
                current = []
            current.append(tok)
        if current:
            names.append(" ".join(current))
    return [n for n in names if n]


# --------------------------------------------------------------------------------------
# Normalize
# --------------------------------------------------------------------------------------

def parse_period(text: str) -> dict | None:
    """Read a period cell: a number with optional question marks.

    Parameters
    ----------
    text : str
        E.g. ``"563.5"``, ``"1974?"``, ``"2520??"``, ``""``.

    Returns
    -------
    dict or None
        ``{"value": float or None, "marker": str or None, "text": str}`` (value None
        when the text holds no number), or None for an empty cell.
    """
    raw = text.strip()
    if not raw:
        return None
    m = re.fullmatch(r"\(?\s*(\d+(?:\.\d*)?|\.\d+)\s*\)?\s*(\?*)", raw)
    if not m:
        return {"value": None, "marker": None, "text": raw}
    return {"value": float(m.group(1)), "marker": m.group(2) or None, "text": raw}


def parse_level(text: str) -> int | None:
    """Count the asterisks of a Level cell (1-5).

    Parameters
    ----------
    text : str

    Returns
    -------
    int or None
        None for an empty cell.

    Raises
    ------
    catalog.errors.InputError
        If the cell is not one to five asterisks.
    """
    raw = "".join(text.split())
    if not raw:
        return None
    if not re.fullmatch(r"\*{1,5}", raw):
        raise InputError(f"level {text!r} is not one to five asterisks")
    return len(raw)


def normalize_ipcat(df: pd.DataFrame) -> NormalizedCatalog:
    """Normalize parsed IP-catalogue rows to literature objects (class CV/IP).

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse_ipcat_html`.

    Returns
    -------
    ingest.normalized.NormalizedCatalog
        ``kind="literature"``: ``native_id``/``name`` the variable-star name or, when
        empty, the first alternative name; ICRS ``ra``/``dec`` (J2000 as published);
        ``pos_err_arcsec`` one unit of the last quoted digit of the coarser coordinate
        (RA times cos dec); class ``CV``/``IP`` (rule ``ipcat-ip``); ``confidence`` the
        star rating; ``params`` the catalogue number, candidate flag (no number),
        alternative names, periods (value, question-mark marker, text) and level.
        Rows with no name, an unreadable or out-of-range position, a level that is not
        asterisks, or a duplicate name are rejected with the reason.
    """
    kept, rejects, seen = [], [], set()
    for _, row in df.iterrows():
        rowno = int(row["row_number"])
        alt = list(row["alt_names"]) if isinstance(row["alt_names"], list) else []
        name = row["var_name"] or (alt[0] if alt else "")
        if not name:
            rejects.append((rowno, None, f"row {rowno}: no Var. Name and no Alt. Name: "
                            "expected at least one name"))
            continue
        if name in seen:
            rejects.append((rowno, name, f"row {rowno}: duplicate name {name!r}; the first "
                            "row with this name was kept"))
            continue
        try:
            ra, ra_unit = parse_sexagesimal(row["ra"], hours=True)
            dec, dec_unit = parse_sexagesimal(row["dec"], hours=False)
            level = parse_level(row["level"])
        except InputError as exc:
            rejects.append((rowno, name, f"row {rowno} ({name}): {exc}"))
            continue
        seen.add(name)
        assignment = class_rules.classify_ip(level)
        number = row["number"].strip()
        params = {
            "number": int(number) if number.isdigit() else (number or None),
            "candidate": not number,
            "alt_names": alt,
            "porb_h": parse_period(row["porb_h"]),
            "pspin_s": parse_period(row["pspin_s"]),
            "level": level,
            "ra_text": row["ra"], "dec_text": row["dec"],
            "class_rule": assignment.rule,
        }
        stars = "*" * level if level else "no level"
        kept.append({
            "native_id": name, "name": name, "ra": ra, "dec": dec,
            "pos_err_arcsec": max(ra_unit * math.cos(math.radians(dec)), dec_unit),
            "livecat_class": assignment.livecat_class, "subclass": assignment.subclass,
            "native_type": f"IP {stars}" + (" (candidate, unnumbered)" if not number else ""),
            "reference": REFERENCE,
            "confidence": float(level) if level else None,
            "params": params,
        })
    sources = pd.DataFrame(kept, columns=LITERATURE_COLUMNS)
    for col in ("ra", "dec", "pos_err_arcsec", "confidence"):
        sources[col] = sources[col].astype(float)
    sources = text_columns_as_object(
        sources, ["native_id", "name", "livecat_class", "subclass", "native_type",
                  "reference", "params"])
    result = NormalizedCatalog(kind="literature", sources=sources, n_read=len(df),
                               rejects=rejects_frame(rejects))
    result.check_counts()
    return result



def read_release(fetched, args=None, reporter=None) -> Reading:
    """The read stage: the page (UTF-8, else Latin-1) -> literature objects. The page
    names no release: the content hash names it."""
    data = fetched.result.read_bytes()
    try:
        html = data.decode("utf-8")
    except UnicodeDecodeError:
        html = data.decode("latin-1")
    return Reading(chunks=normalize_ipcat(parse_ipcat_html(html)))
