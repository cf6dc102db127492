"""ATNF Pulsar Catalogue: its records (:mod:`ingest.psrcat`) as livecat literature objects.

The catalogue (Manchester et al. 2005, AJ 129, 1993) is read by :mod:`ingest.psrcat`,
which documents the ``psrcat.db`` format. Positions are ``RAJ``/``DECJ`` (J2000) or
``ELONG``/``ELAT`` (ecliptic longitude/latitude in degrees). Pulsar timing packages use
barycentric ecliptic coordinates with the mean ecliptic and equinox of J2000 and the IERS
2003 obliquity 84381.4059" (tempo2 ``tempo2.h``, ``ECLIPTIC_OBLIQUITY_VAL``); astropy's
``BarycentricMeanEcliptic(equinox="J2000")`` uses the IAU 2006 value 84381.406", a 0.1
mas difference, and is used here to convert to ICRS. Classes come from
:mod:`ingest.class_rules`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import BarycentricMeanEcliptic, SkyCoord

from catalog.coords import parse_sexagesimal
from catalog.errors import InputError
from ingest import class_rules
from ingest.psrcat import (ListItem, extract_psrcat_db, last_digit_unit, parse_assoc_item,
                           parse_float, parse_list_value, parse_psrcat_db, psrcat_version)
from ingest.spec import Reading
from ingest.normalized import (LITERATURE_COLUMNS, NormalizedCatalog, rejects_frame,
                               text_columns_as_object)

CATALOG = "atnf"
#: The ATNF distribution package holding ``psrcat_tar/psrcat.db`` (the URL psrqpy uses).
PACKAGE_URL = "https://www.atnf.csiro.au/research/pulsar/psrcat/downloads/psrcat_pkg.tar.gz"
#: Bibcode of the catalogue paper, used as the reference when a pulsar has none.
CATALOG_BIBCODE = "2005AJ....129.1993M"


# --------------------------------------------------------------------------------------
# Normalize
# --------------------------------------------------------------------------------------

#: Numeric parameters copied into ``params`` (value and absolute uncertainty),
#: with their units (psrcat help, Appendix A).
PARAM_UNITS: dict[str, str] = {
    "P0": "s", "P1": "", "F0": "Hz", "F1": "s^-2", "F2": "s^-3", "DM": "cm^-3 pc",
    "RM": "rad m^-2", "PB": "d", "FB0": "Hz", "A1": "lt-s", "ECC": "", "OM": "deg",
    "T0": "MJD", "TASC": "MJD", "M2": "Msun", "PX": "mas", "PMRA": "mas/yr",
    "PMDEC": "mas/yr", "PMELONG": "mas/yr", "PMELAT": "mas/yr", "POSEPOCH": "MJD",
    "PEPOCH": "MJD", "DIST_DM": "kpc", "DIST_DM1": "kpc", "DIST_A": "kpc",
    "DIST_AMN": "kpc", "DIST_AMX": "kpc", "W50": "ms", "W10": "ms", "S400": "mJy",
    "S1400": "mJy", "S2000": "mJy", "TAU_SC": "s", "NGLT": "",
}


#: Parameters that decide a record's identity, position or class: a record with an
#: unreadable line for one of these is rejected.
CRITICAL_PARAMS = frozenset(("PSRJ", "PSRB", "RAJ", "DECJ", "ELONG", "ELAT", "TYPE",
                             "BINCOMP", "PB", "FB0", "A1"))


def _format_problem(problem: dict) -> str:
    return f"line {problem['line']} ({problem['reason']}): {problem['text']!r}"


def _num(row: pd.Series, name: str) -> float:
    value = row.get(name)
    if not isinstance(value, str):
        return math.nan
    try:
        return parse_float(value)
    except InputError:
        return math.nan


def _err(row: pd.Series, name: str) -> float:
    value = row.get(name + "_ERR")
    return float(value) if value is not None and not pd.isna(value) else math.nan


def _clean(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _list(row: pd.Series, name: str) -> list[ListItem]:
    value = row.get(name)
    if not isinstance(value, str):
        return []
    items = parse_list_value(value)
    ref = row.get(name + "_REF")
    if isinstance(ref, str):
        for item in items:
            if not item.refs:
                item.refs = [ref]
    return items


def _position(row: pd.Series) -> dict:
    """ICRS position and its error from RAJ/DECJ or ELONG/ELAT (raises InputError)."""
    ra_s, dec_s = row.get("RAJ"), row.get("DECJ")
    if isinstance(ra_s, str) and isinstance(dec_s, str):
        ra, ra_unit = parse_sexagesimal(ra_s, hours=True)
        dec, dec_unit = parse_sexagesimal(dec_s, hours=False)
        e_ra_s, e_dec = _err(row, "RAJ"), _err(row, "DECJ")
        # RA error along the sky: seconds of time * 15 * cos(dec)
        cosd = math.cos(math.radians(dec))
        from_precision = math.isnan(e_ra_s) or math.isnan(e_dec)
        e_ra_arcsec = (ra_unit if math.isnan(e_ra_s) else e_ra_s * 15.0) * cosd
        e_dec_arcsec = dec_unit if math.isnan(e_dec) else e_dec
        return {"ra": ra % 360.0, "dec": dec, "ra_err_arcsec": e_ra_arcsec,
                "dec_err_arcsec": e_dec_arcsec, "frame": "equatorial",
                "pos_err_from_precision": from_precision,
                "ref": row.get("RAJ_REF") if isinstance(row.get("RAJ_REF"), str) else None}
    lon_s, lat_s = row.get("ELONG"), row.get("ELAT")
    if isinstance(lon_s, str) and isinstance(lat_s, str):
        lon, lat = parse_float(lon_s), parse_float(lat_s)
        if not (-90.0 <= lat <= 90.0) or not math.isfinite(lon):
            raise InputError(f"ecliptic position ELONG={lon_s} ELAT={lat_s} is out of range")
        e_lon, e_lat = _err(row, "ELONG"), _err(row, "ELAT")
        from_precision = math.isnan(e_lon) or math.isnan(e_lat)
        if math.isnan(e_lon):
            e_lon = last_digit_unit(lon_s)
        if math.isnan(e_lat):
            e_lat = last_digit_unit(lat_s)
        return {"ecl": (lon, lat), "ra_err_arcsec": e_lon * 3600.0 * math.cos(math.radians(lat)),
                "dec_err_arcsec": e_lat * 3600.0, "frame": "ecliptic",
                "pos_err_from_precision": from_precision,
                "ref": row.get("ELONG_REF") if isinstance(row.get("ELONG_REF"), str) else None}
    raise InputError("no position: expected RAJ and DECJ, or ELONG and ELAT")


def ecliptic_to_icrs(elong_deg, elat_deg) -> tuple[np.ndarray, np.ndarray]:
    """Convert J2000 barycentric mean ecliptic coordinates to ICRS.

    Parameters
    ----------
    elong_deg, elat_deg : float or array-like
        Ecliptic longitude and latitude (deg), mean ecliptic and equinox of J2000.

    Returns
    -------
    tuple of numpy.ndarray
        ICRS right ascension and declination (deg).
    """
    ecl = SkyCoord(lon=np.atleast_1d(elong_deg) * u.deg, lat=np.atleast_1d(elat_deg) * u.deg,
                   frame=BarycentricMeanEcliptic(equinox="J2000"))
    icrs = ecl.icrs
    return icrs.ra.deg, icrs.dec.deg


def _binary_evidence(row: pd.Series, types: list[ListItem]) -> bool:
    if any(isinstance(row.get(p), str) for p in ("PB", "FB0", "A1", "BINARY", "BINCOMP")):
        return True
    return any(t.value.upper() == "BINARY" for t in types)


def _params(row: pd.Series, pos: dict, version: str | None) -> dict:
    params: dict = {}
    for name, unit in PARAM_UNITS.items():
        value = _num(row, name)
        if math.isnan(value):
            continue
        entry = {"value": value}
        err = _err(row, name)
        if not math.isnan(err):
            entry["err"] = err
        ref = row.get(name + "_REF")
        if isinstance(ref, str):
            entry["ref"] = ref
        if unit:
            entry["unit"] = unit
        params[name] = entry
    for name in ("PSRB", "BINARY", "RAJ", "DECJ", "ELONG", "ELAT"):
        if isinstance(row.get(name), str):
            params[name] = row[name]
    params["pos_frame"] = pos["frame"]
    params["ra_err_arcsec"] = pos["ra_err_arcsec"]
    params["dec_err_arcsec"] = pos["dec_err_arcsec"]
    params["pos_err_from_precision"] = pos["pos_err_from_precision"]
    for name in ("TYPE", "BINCOMP", "SURVEY"):
        items = _list(row, name)
        if items:
            params[name] = [i.as_dict() for i in items]
    assoc = _list(row, "ASSOC") + _list(row, "ASSOCIATION")
    if assoc:
        params["ASSOC"] = [parse_assoc_item(i) for i in assoc]
    alts = row.get("alternatives")
    if isinstance(alts, dict) and alts:
        params["alternatives"] = alts
    problems = [_format_problem(p) for p in row.get("problems") or []]
    problems += [f"{name} value {row[name]!r} is not a number" for name in PARAM_UNITS
                 if isinstance(row.get(name), str) and math.isnan(_num(row, name))]
    if problems:
        params["problems"] = problems
    if version:
        params["catalog_version"] = version
    return params


def _native_type(types: list[ListItem], row: pd.Series) -> str | None:
    parts = []
    if isinstance(row.get("TYPE"), str):
        parts.append(f"TYPE={row['TYPE']}")
    if isinstance(row.get("BINCOMP"), str):
        parts.append(f"BINCOMP={row['BINCOMP']}")
    if not parts and _binary_evidence(row, types):
        parts.append("binary")
    return "; ".join(parts) or None


def normalize_psrcat(df: pd.DataFrame) -> NormalizedCatalog:
    """Normalize parsed psrcat records to livecat literature objects.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`parse_psrcat_db`.

    Returns
    -------
    ingest.normalized.NormalizedCatalog
        ``kind="literature"``. ``native_id`` and ``name`` are the PSRJ name (PSRB when
        there is no PSRJ); ``ra``/``dec`` ICRS degrees (ecliptic positions converted);
        ``pos_err_arcsec`` the larger of the RA (times cos dec) and Dec 1-sigma errors
        (from the quoted uncertainties, or one unit of the last quoted digit when none is
        quoted); class and subclass from :func:`ingest.class_rules.classify_pulsar` with
        the rule kept in ``params["class_rule"]``; ``native_type`` the TYPE/BINCOMP
        text; ``reference`` the position's reference code, else the catalogue bibcode;
        ``params`` the numeric parameters with uncertainties and the parsed lists.
        Records without a name, without a position, with an unreadable name, position,
        type or orbit line, or with a duplicate name are rejected with the reason; other
        unreadable lines are listed in ``params["problems"]``.
    """
    version = df.attrs.get("version")
    kept, rejects, seen = [], [], set()
    for _, row in df.iterrows():
        recno = int(row["record"])
        native_id = row.get("PSRJ") if isinstance(row.get("PSRJ"), str) else None
        if native_id is None and isinstance(row.get("PSRB"), str):
            native_id = row["PSRB"]
        problems = row.get("problems") if isinstance(row.get("problems"), list) else []
        critical = [p for p in problems if p["param"] in CRITICAL_PARAMS]
        if critical:
            label = f"pulsar {native_id}" if native_id else f"record {recno}"
            rejects.append((recno, native_id, f"{label}: unreadable "
                            + "; ".join(_format_problem(p) for p in critical)))
            continue
        if native_id is None:
            rejects.append((recno, None, f"record {recno} (line {row.get('line')}) has no "
                            "PSRJ or PSRB name"))
            continue
        if native_id in seen:
            rejects.append((recno, native_id, f"duplicate pulsar name {native_id}: the first "
                            "record with this name was kept"))
            continue
        try:
            pos = _position(row)
        except InputError as exc:
            rejects.append((recno, native_id, f"pulsar {native_id}: {exc}"))
            continue
        seen.add(native_id)
        types, comps = _list(row, "TYPE"), _list(row, "BINCOMP")
        assoc = [i.value for i in _list(row, "ASSOC") + _list(row, "ASSOCIATION")]
        pb = _num(row, "PB")
        if math.isnan(pb) and not math.isnan(_num(row, "FB0")) and _num(row, "FB0") > 0:
            pb = 1.0 / _num(row, "FB0") / 86400.0
        mmin = class_rules.minimum_companion_mass(pb, _num(row, "A1"))
        p0 = _num(row, "P0")
        if math.isnan(p0) and _num(row, "F0") > 0:
            p0 = 1.0 / _num(row, "F0")
        assignment = class_rules.classify_pulsar(
            [(t.value.upper(), t.uncertain) for t in types],
            [(c.value, c.uncertain) for c in comps],
            is_binary=_binary_evidence(row, types), pb_days=pb,
            min_companion_mass_msun=mmin, p0_s=p0, associations=assoc)
        params = _params(row, pos, version)
        params["class_rule"] = assignment.rule
        if not math.isnan(mmin):
            params["min_companion_mass_msun"] = mmin
        kept.append({
            "native_id": native_id, "name": native_id,
            "ra": pos.get("ra"), "dec": pos.get("dec"), "_ecl": pos.get("ecl"),
            "pos_err_arcsec": max(pos["ra_err_arcsec"], pos["dec_err_arcsec"]),
            "livecat_class": assignment.livecat_class, "subclass": assignment.subclass,
            "native_type": _native_type(types, row),
            "reference": pos["ref"] or CATALOG_BIBCODE,
            "confidence": None, "params": params,
        })
    sources = pd.DataFrame(kept, columns=LITERATURE_COLUMNS + ["_ecl"])
    ecl_rows = [i for i, e in enumerate(sources["_ecl"]) if isinstance(e, tuple)]
    if ecl_rows:
        lon = [sources.at[i, "_ecl"][0] for i in ecl_rows]
        lat = [sources.at[i, "_ecl"][1] for i in ecl_rows]
        ra, dec = ecliptic_to_icrs(lon, lat)
        sources.loc[ecl_rows, "ra"] = ra
        sources.loc[ecl_rows, "dec"] = dec
    sources = sources.drop(columns="_ecl")
    sources = text_columns_as_object(
        sources, ["native_id", "name", "livecat_class", "subclass", "native_type",
                  "reference", "params"])
    sources["ra"] = sources["ra"].astype(float)
    sources["dec"] = sources["dec"].astype(float)
    sources["pos_err_arcsec"] = sources["pos_err_arcsec"].astype(float)
    result = NormalizedCatalog(kind="literature", sources=sources, n_read=len(df),
                               rejects=rejects_frame(rejects))
    result.check_counts()
    return result



def read_release(fetched, args=None, reporter=None) -> Reading:
    """The read stage: the psrcat package tarball or a bare ``psrcat.db`` -> literature
    objects, with the release the file names itself (``#CATALOGUE``)."""
    data = fetched.result.read_bytes()
    is_archive = (data[:2] == b"\x1f\x8b" or data[:3] == b"BZh"
                  or data[:6] == b"\xfd7zXZ\x00" or data[257:262] == b"ustar")
    text = extract_psrcat_db(data) if is_archive else data.decode("latin-1")
    return Reading(chunks=normalize_psrcat(parse_psrcat_db(text)),
                   version=psrcat_version(text))
