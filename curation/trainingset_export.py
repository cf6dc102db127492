"""Export a training set version: a flat table in CSV, Parquet, FITS or VOTable, plus a
manifest.

The members become one row each (fixed column order, rows sorted; catalog identifiers, no
database ids; :func:`member_table`), written by :mod:`curation.tablefiles`, plus
``<PATH>.manifest.json`` (version, creation time, curator, content hash, SHA-256 of the
data file, class counts, the catalog releases and the decisions it came from, named by
catalog identifiers). FITS and VOTable files carry column units and the provenance
(training set name and version, content hash, livecat version, creation time of the
version, releases). Nothing depends on the moment of export or on database ids: the same
version exports the same bytes, and the same members in another database export the same
bytes (FITS and VOTable differ only in the creation time they record).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.errors import InputError
from catalog.files import sha256_file
from curation.tablefiles import (
    EXTENSIONS,
    FORMATS,
    Card,
    column_unit,
    livecat_version,
    resolve_out,
    text_column,
    write_manifest,
    write_table,
)
from curation.trainingset_hash import KEY_COLUMNS, canonical_json
from curation.trainingsets import FEATURE_COLUMNS, get_training_set, stable_key


def best_counterparts(rows: list[dict]) -> dict:
    """Numeric columns of the best counterpart per survey, as ``mw_<survey>_<column>``.

    The best row of a survey is the one flagged ``best``/``is_best``, else the first in
    the frozen (deterministic) order; without a ``survey`` column all rows are one survey.
    """
    out: dict = {}
    by_survey: dict[str, list[dict]] = {}
    for r in rows:
        by_survey.setdefault(str(r.get("survey") or "any"), []).append(r)
    for survey, group in sorted(by_survey.items()):
        flagged = [r for r in group if r.get("best") or r.get("is_best")]
        best = (flagged or group)[0]
        for k, v in sorted(best.items()):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in (
                    "best", "is_best"):
                out[f"mw_{survey}_{k}".lower()] = v
    return out


def member_table(members: list[dict]) -> pd.DataFrame:
    """Flatten members into one row each: identifiers, label, features, flux columns.

    Column order is fixed (:data:`curation.trainingset_hash.KEY_COLUMNS`: catalog
    identifiers and label, no database ids; :data:`curation.trainingsets.FEATURE_COLUMNS`
    with ``flags`` as JSON text and ``extended`` as 1/0/NaN; the best multiwavelength
    counterpart's numbers per survey (:func:`best_counterparts`, sorted); then
    ``<kind>_<band>``, ``_lo``, ``_hi``, ``_band_lo_kev``, ``_band_hi_kev`` for every flux
    present, sorted). Text columns hold ``""`` for missing values so every format stores
    them alike.
    """
    members = sorted(members, key=lambda m: (m["xray_catalog"], m["xray_native_id"]))
    flux_keys = sorted({k for m in members for k in m["features"].get("fluxes", {})})
    best = [best_counterparts(m["features"].get("counterparts", [])) for m in members]
    mw_keys = sorted({k for b in best for k in b})
    rows = []
    for m, mw in zip(members, best):
        f = m["features"]
        row = {c: m[c] for c in KEY_COLUMNS}
        for c in FEATURE_COLUMNS:
            v = f.get(c)
            if c == "flags":
                v = canonical_json(v or {})
            elif c == "extended":
                v = np.nan if v is None else float(bool(v))
            row[c] = v
        row.update({k: mw.get(k) for k in mw_keys})
        for k in flux_keys:
            fl = f.get("fluxes", {}).get(k, {})
            row[k] = fl.get("value")
            row[f"{k}_lo"] = fl.get("value_lo")
            row[f"{k}_hi"] = fl.get("value_hi")
            row[f"{k}_band_lo_kev"] = fl.get("band_lo_kev")
            row[f"{k}_band_hi_kev"] = fl.get("band_hi_kev")
        rows.append(row)
    frame = pd.DataFrame(rows)
    text = [*KEY_COLUMNS, "flags"]
    for col in frame.columns:
        if col in text:
            frame[col] = text_column(frame[col])
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def default_file_name(name: str, version: int, fmt: str) -> str:
    """File name an export into a directory gets: ``<name>-v<version>.<ext>``."""
    return f"{name}-v{version}.{EXTENSIONS[fmt]}"


def provenance_cards(info: dict) -> list[Card]:
    """FITS keywords / VOTable INFOs of a version: name, version, content hash, livecat
    version, creation time and the catalog releases (one card each)."""
    cards = [
        Card("TSNAME", "training_set", info["name"], "livecat training set name"),
        Card("TSVERS", "training_set_version", str(info["version"]), "its version"),
        Card("TSHASH", "content_hash", info["content_hash"],
             "SHA-256 of the canonical members (livecat content hash)"),
        Card("TSCREAT", "created_at", info["created_at"].isoformat(),
             "creation time of the version"),
        Card("LCVERS", "livecat_version", livecat_version(), "livecat that wrote the file"),
    ]
    for i, rel in enumerate(info["provenance"].get("releases", []), start=1):
        text = f"{rel['catalog']} {rel['version']}"
        if rel.get("checksum"):
            text += f" sha256:{rel['checksum']}"
        cards.append(Card(f"TSREL{i}", f"release_{i}", text, "catalog release it came from"))
    return cards


def _decisions(conn: Connection, event_ids: list[int]) -> list[dict]:
    """The confirming decisions of the members, named by catalog identifiers."""
    rows = conn.execute(sa.text(
        "SELECT c.literature_catalog, c.literature_native_id, c.xray_catalog, "
        "c.xray_native_id, e.action, e.status, e.class_override, e.subclass_override, "
        "e.curator, e.created_at FROM livecat.curation_event e "
        "JOIN livecat.counterpart_candidate c ON c.id = e.candidate_id "
        "WHERE e.id = ANY(:ids)"), {"ids": [int(i) for i in event_ids]}).mappings().all()
    out = [{**{k: v for k, v in r.items() if k != "created_at"},
            "decided_at": r["created_at"].isoformat()} for r in rows]
    return sorted(out, key=stable_key)


def _excluded(conn: Connection, excluded: list[dict]) -> list[dict]:
    """Left-out candidates named by catalog identifiers, with the reason."""
    keys = {r[0]: dict(r._mapping) for r in conn.execute(sa.text(
        "SELECT id, literature_catalog, literature_native_id, xray_catalog, xray_native_id "
        "FROM livecat.counterpart_candidate WHERE id = ANY(:ids)"),
        {"ids": [int(e["candidate_id"]) for e in excluded]})}
    out = [{**{k: v for k, v in keys[int(e["candidate_id"])].items() if k != "id"},
            "reason": e["reason"]} for e in excluded]
    return sorted(out, key=lambda r: (*stable_key(r), r["reason"]))


def export_training_set(engine: Engine, ref: str, fmt: str, out: str | Path) -> tuple[Path, Path]:
    """Write a version's members in ``fmt`` to ``out`` and its manifest beside it.

    ``out`` may be an existing directory: the file is then written inside it as
    :func:`default_file_name` (``<name>-v<version>.<ext>``). An existing file is
    replaced.

    Returns
    -------
    (data path, manifest path)
    """
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    info = get_training_set(engine, ref)
    out = resolve_out(out, default_file_name(info["name"], info["version"], fmt))
    frame = member_table(info["members"])
    units = {c: u for c in frame.columns if (u := column_unit(c))}
    write_table(frame, fmt, out, units, provenance_cards(info))
    prov = info["provenance"]
    with engine.connect() as conn:
        decisions = _decisions(conn, prov.get("events", []))
        excluded = _excluded(conn, prov.get("excluded", []))
    manifest = {
        "name": info["name"], "version": info["version"],
        "ref": f"{info['name']}@{info['version']}",
        "created_at": info["created_at"].isoformat(), "curator": info["curator"],
        "note": info["note"], "classes_filter": info["classes"],
        "min_level": info["min_level"], "n_members": info["n_members"],
        "class_counts": info["class_counts"], "content_hash": info["content_hash"],
        "hash_scheme": prov.get("hash_scheme", 1), "livecat_version": livecat_version(),
        "format": fmt, "file": out.name, "sha256": sha256_file(out),
        "columns": list(frame.columns), "units": units,
        "releases": prov.get("releases", []),
        "decisions": decisions,
        "excluded": excluded,
    }
    return out, write_manifest(out, manifest)
