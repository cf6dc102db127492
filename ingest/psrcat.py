"""The ``psrcat.db`` format of the ATNF Pulsar Catalogue: records, values, uncertainties.

Format (Manchester et al. 2005, AJ 129, 1993; the catalogue's help page
https://www.atnf.csiro.au/research/pulsar/psrcat/psrcat_help.html, Appendix A
"The Pulsar Parameters", B "Pulsar Types", C "Binary Companion Types"):

- A header line ``#CATALOGUE <version>`` and other ``#`` comment lines.
- One block per pulsar; blocks are separated by a line starting with ``@``
  (``@-----...``).
- Each line of a block is ``NAME  value  [uncertainty]  [reference]`` in
  whitespace-separated columns. The uncertainty is in units of the last quoted digit of
  the value (``F0 8.6682478274 1`` means +-1e-10; ``RAJ 00:02:58.17 2`` means +-0.02 s
  of time); an uncertainty written with a decimal point (``RM -245.8 1.0``) or a sign is
  absolute. This is the reading of psrqpy (``psrqpy.utils.get_catalogue``,
  github.com/mattpitkin/psrqpy), the reference Python reader of ``psrcat.db``.
  A third column that is not a number is the reference.
- An uncertainty of ``0`` (``RAJ 00:25 0 mss+20``, 194 lines in release 1.67) means
  that none is known and is read as missing.
- A parameter may repeat within a block (an older or alternative value); the first
  occurrence is the catalogue's value, later ones are kept as alternatives.
- Positions are ``RAJ``/``DECJ`` (J2000 sexagesimal, ``hh:mm[:ss.s]`` and
  ``[+-]dd[:mm[:ss.s]]``; the sign of a positive declination may be missing) or
  ``ELONG``/``ELAT`` (ecliptic longitude/latitude in degrees). Pulsar timing packages
  use barycentric ecliptic coordinates with the mean ecliptic and equinox of J2000 and
  the IERS 2003 obliquity 84381.4059" (tempo2 ``tempo2.h``, ``ECLIPTIC_OBLIQUITY_VAL``);
  astropy's ``BarycentricMeanEcliptic(equinox="J2000")`` uses the IAU 2006 value
  84381.406", a 0.1 mas difference, and is used here to convert to ICRS.
- ``TYPE``, ``BINCOMP``, ``ASSOC`` and ``SURVEY`` hold comma-separated lists whose items
  may carry bracketed references and an uncertainty marker: ``HE[cck+16]``,
  ``AXP[esy+20],HE[kdk+20]``, ``CO(?)[jbo+07]``, ``BINARY?[pqm+21]``,
  ``GRS:4FGL_J0002.8+6217[fermi21],XRS:[bhc+17]``, ``XRS:[bgh+06,fhc+14]``; a whole-line
  reference may instead sit in the reference column (``HE  pbh+17``).

- The file ends with the ``@`` line that closes the last record: a file that does not
  is truncated and refused.

The release is distributed as ``psrcat_pkg.tar.gz`` (``psrcat_tar/psrcat.db`` inside),
https://www.atnf.csiro.au/research/pulsar/psrcat/download.html. :mod:`ingest.atnf`
turns the records into livecat's literature objects.
"""

from __future__ import annotations

import io
import math
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from catalog.coords import parse_sexagesimal
from catalog.errors import InputError, SourceError

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eEdD][-+]?\d+)?")


# --------------------------------------------------------------------------------------
# Low-level value parsing
# --------------------------------------------------------------------------------------


def last_digit_unit(value: str) -> float:
    """Return the size of one unit in the last quoted digit of a number.

    Parameters
    ----------
    value : str
        A decimal number as written, e.g. ``"8.6682478274"``, ``"-0.448354E-12"``,
        ``"735"``, or a sexagesimal string whose last field is used (``"00:02:58.17"``).

    Returns
    -------
    float
        ``1e-10`` for ``"8.6682478274"``, ``1e-18`` for ``"-0.448354E-12"``, ``1`` for
        ``"735"``, ``0.01`` for ``"00:02:58.17"``.

    Raises
    ------
    catalog.errors.InputError
        If the (last field of the) value is not a number.
    """
    last = value.strip().split(":")[-1]
    if not _NUMBER.fullmatch(last):
        raise InputError(f"value {value!r} is not a number: expected e.g. 1.25 or 3.1E-12")
    mant, exp = (re.split(r"[eEdD]", last) + [""])[:2]
    decimals = len(mant.split(".", 1)[1]) if "." in mant else 0
    try:
        return 10.0 ** (int(exp or 0) - decimals)
    except OverflowError:
        raise InputError(f"value {value!r} is out of range: expected a number within "
                         "the range of a double (about 1e308)") from None


def absolute_uncertainty(value: str, uncertainty: str) -> float:
    """Convert a psrcat uncertainty to an absolute uncertainty in the value's units.

    Parameters
    ----------
    value : str
        The value as written (for sexagesimal values the unit is that of the last field).
    uncertainty : str
        The uncertainty column: an integer in units of the last quoted digit, or, when
        written with a decimal point or a sign, already absolute.

    Returns
    -------
    float

    Raises
    ------
    catalog.errors.InputError
        If either string is not a number.

    Examples
    --------
    >>> absolute_uncertainty("8.6682478274", "1")
    1e-10
    """
    if not _NUMBER.fullmatch(uncertainty):
        raise InputError(f"uncertainty {uncertainty!r} of value {value!r} is not a number")
    err = parse_float(uncertainty)
    if "." in uncertainty or uncertainty[0] in "+-":
        return abs(err)
    return err * last_digit_unit(value)


def parse_float(text: str) -> float:
    """Parse a psrcat number (``E`` or Fortran ``D`` exponent).

    Parameters
    ----------
    text : str

    Returns
    -------
    float

    Raises
    ------
    catalog.errors.InputError
        If the text is not a number.
    """
    if not _NUMBER.fullmatch(text.strip()):
        raise InputError(f"{text!r} is not a number")
    value = float(text.strip().replace("D", "E").replace("d", "e"))
    if not math.isfinite(value):
        raise InputError(f"{text!r} is out of range: expected a number within the range "
                         "of a double (about 1e308)")
    return value


@dataclass
class ListItem:
    """One item of a psrcat list parameter (TYPE, BINCOMP, ASSOC, SURVEY).

    Attributes
    ----------
    value : str
        The item without its references and uncertainty marker (``"HE"``,
        ``"GRS:4FGL_J0002.8+6217"``).
    uncertain : bool
        True when the item carried ``(?)`` or a trailing ``?``.
    refs : list of str
        Bracketed references of the item.
    """

    value: str
    uncertain: bool = False
    refs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return a JSON-serialisable dict."""
        return {"value": self.value, "uncertain": self.uncertain, "refs": list(self.refs)}


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and parentheses.

    Parameters
    ----------
    text : str
    sep : str, optional

    Returns
    -------
    list of str
    """
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_list_value(text: str) -> list[ListItem]:
    """Parse a psrcat list value such as ``AXP[esy+20],HE[kdk+20]``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of ListItem

    Examples
    --------
    >>> [i.as_dict() for i in parse_list_value("CO(?)[jbo+07]")]
    [{'value': 'CO', 'uncertain': True, 'refs': ['jbo+07']}]
    """
    items = []
    for part in split_top_level(text):
        refs: list[str] = []
        m = re.search(r"\[([^\[\]]*)\]\s*$", part)
        if m:
            refs = [r.strip() for r in m.group(1).split(",") if r.strip()]
            part = part[: m.start()].rstrip()
        uncertain = False
        if part.endswith("(?)"):
            uncertain, part = True, part[:-3].rstrip()
        elif part.endswith("?"):
            uncertain, part = True, part[:-1].rstrip()
        items.append(ListItem(part, uncertain, refs))
    return items


def parse_assoc_item(item: ListItem) -> dict:
    """Split an ASSOC item into kind and name (``GRS:4FGL_J0002.8+6217``).

    The kind is the text before the first ``:`` (a ``;`` typo is accepted, as in
    ``XRS;1XSPS_110500.3-603713``); an item without a kind gets ``kind=None``; an
    empty name (``XRS:[bhc+17]``) means "an X-ray source, see the reference".

    Parameters
    ----------
    item : ListItem

    Returns
    -------
    dict
        ``kind``, ``name``, ``uncertain``, ``refs``.
    """
    m = re.match(r"^([A-Za-z]+)[:;](.*)$", item.value)
    kind, name = (m.group(1), m.group(2)) if m else (None, item.value)
    return {"kind": kind, "name": name or None, "uncertain": item.uncertain,
            "refs": list(item.refs)}


# --------------------------------------------------------------------------------------
# Parse
# --------------------------------------------------------------------------------------


def _read_text(text_or_path: str | Path | bytes) -> str:
    """The file's text: a Path is read, bytes are decoded, a str is the text itself (never
    taken for a path: a file whose content is a path must not read that path)."""
    if isinstance(text_or_path, bytes):
        return text_or_path.decode("latin-1")
    if isinstance(text_or_path, Path):
        try:
            return text_or_path.read_bytes().decode("latin-1")
        except OSError as exc:
            raise SourceError(f"cannot read psrcat database {text_or_path}: {exc}") from exc
    if isinstance(text_or_path, str):
        return text_or_path
    raise TypeError(f"expected text, bytes or a path, got {type(text_or_path).__name__}")


def psrcat_version(text: str) -> str | None:
    """Read the catalogue release from the ``#CATALOGUE <version>`` header line.

    Parameters
    ----------
    text : str
        The file's text (only the leading comment lines are looked at).

    Returns
    -------
    str or None
        E.g. ``"1.58"``; None when the header has no version.
    """
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        m = re.match(r"#\s*CATALOGUE\s+(\S+)", line, flags=re.IGNORECASE)
        if m:
            return m.group(1)
    return None


def parse_psrcat_db(text_or_path: str | Path | bytes) -> pd.DataFrame:
    """Parse a ``psrcat.db`` file into one row per pulsar record.

    Parameters
    ----------
    text_or_path : str, pathlib.Path or bytes
        The file's text (str) or bytes, or a :class:`pathlib.Path` to it.

    Returns
    -------
    pandas.DataFrame
        One row per record, in file order, with columns

        - ``record`` (1-based record number) and ``line`` (line of its first entry);
        - for each parameter ``P`` met: ``P`` (the value as written, str),
          ``P_ERR`` (absolute uncertainty, float, NaN when none; for ``RAJ`` in
          seconds of time, for ``DECJ`` in arcseconds, otherwise in the value's units)
          and ``P_REF`` (reference code, str or None);
        - ``alternatives``: dict of parameter -> list of ``{"value", "err", "ref"}``
          for repeated parameters (the first occurrence is in the columns);
        - ``problems``: the lines of the record that could not be read, as dicts
          ``{"line", "param", "reason", "text"}`` (the normalize stage rejects a record
          whose name, position, type or orbit lines are unreadable and keeps the
          others, listing the problems in ``params``).

        ``attrs["version"]`` holds the release from the header (or None).

    Raises
    ------
    catalog.errors.SourceError
        If a path cannot be read, the text holds no PSRJ/PSRB line at all (not a
        psrcat database), or the last record is not closed by an ``@`` line (truncated).
    """
    text = _read_text(text_or_path)
    records: list[dict] = []
    current: dict | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            records.append(current)
        current = None

    for lineno, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#"):
            continue
        if raw.startswith("@"):
            close()
            continue
        tokens = raw.split()
        if not tokens:
            continue
        if current is None:
            current = {"record": len(records) + 1, "line": lineno, "alternatives": {},
                       "problems": []}
        entry = _parse_line(tokens)
        if isinstance(entry, str):
            current["problems"].append(
                {"line": lineno, "param": tokens[0], "reason": entry, "text": raw.strip()})
            continue
        name, value, err, ref = entry
        if name in current:
            current["alternatives"].setdefault(name, []).append(
                {"value": value, "err": None if math.isnan(err) else err, "ref": ref})
            continue
        current[name] = value
        current[name + "_ERR"] = err
        current[name + "_REF"] = ref
    if not any("PSRJ" in r or "PSRB" in r for r in records + [current or {}]):
        raise SourceError(
            "not a psrcat database: no PSRJ or PSRB line found (expected blocks of "
            "'NAME value [uncertainty] [reference]' lines separated by '@' lines)")
    if current is not None:
        raise SourceError(
            f"the psrcat database is truncated: record {current['record']} (from line "
            f"{current['line']}) is not closed by an '@' line, and every psrcat.db ends "
            "with one; download the file again")
    df = pd.DataFrame.from_records(records)
    df.attrs["version"] = psrcat_version(text)
    return df


def _parse_line(tokens: list[str]) -> tuple[str, str, float, str | None] | str:
    """Read one ``NAME value [uncertainty] [reference]`` line, or say what is wrong."""
    name = tokens[0]
    if len(tokens) < 2:
        return f"parameter {name} has no value"
    if len(tokens) > 4:
        return (f"expected 'NAME value [uncertainty] [reference]', got {len(tokens)} "
                "columns")
    value, err, ref = tokens[1], math.nan, None
    rest = tokens[2:]
    if rest and _NUMBER.fullmatch(rest[0]):
        try:
            err = _uncertainty_in_units(name, value, rest[0])
        except InputError as exc:
            return f"{name}: {exc}"
        if err == 0.0:
            err = math.nan  # "0" is written where no uncertainty is known
        rest = rest[1:]
    if rest:
        if len(rest) > 1 or _NUMBER.fullmatch(rest[0]):
            return f"{name}: cannot tell the uncertainty from the reference"
        ref = rest[0]
    return name, value, err, ref


def _uncertainty_in_units(name: str, value: str, uncertainty: str) -> float:
    """Absolute uncertainty; RAJ in seconds of time, DECJ in arcseconds."""
    if name in ("RAJ", "DECJ"):
        _, unit_arcsec = parse_sexagesimal(value, hours=(name == "RAJ"))
        if "." in uncertainty or uncertainty[0] in "+-":
            # absolute, in units of the last field
            unit_arcsec /= last_digit_unit(value.split(":")[-1])
        err_arcsec = float(uncertainty) * unit_arcsec
        return err_arcsec / 15.0 if name == "RAJ" else err_arcsec
    return absolute_uncertainty(value, uncertainty)


def extract_psrcat_db(tarball_bytes: bytes) -> str:
    """Return the text of ``psrcat.db`` from a ``psrcat_pkg.tar.gz`` tarball.

    Parameters
    ----------
    tarball_bytes : bytes
        The downloaded tarball (gzip-compressed tar; plain tar is accepted too).

    Returns
    -------
    str
        The database text (``psrcat_tar/psrcat.db`` in the ATNF package; any member
        named ``psrcat.db`` is accepted).

    Raises
    ------
    catalog.errors.SourceError
        If the bytes are not a tar archive or hold no ``psrcat.db``.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball_bytes), mode="r:*") as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and Path(m.name).name == "psrcat.db"]
            if not members:
                names = ", ".join(m.name for m in tar.getmembers()[:10])
                raise SourceError(
                    "psrcat tarball holds no psrcat.db (expected psrcat_tar/psrcat.db); "
                    f"it has: {names or 'no files'}")
            members.sort(key=lambda m: (m.name != "psrcat_tar/psrcat.db", len(m.name)))
            handle = tar.extractfile(members[0])
            assert handle is not None
            return handle.read().decode("latin-1")
    except tarfile.TarError as exc:
        raise SourceError(f"psrcat package is not a readable tar.gz archive: {exc}") from exc
