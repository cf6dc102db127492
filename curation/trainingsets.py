"""Versioned, immutable training sets: create, list, show, diff, verify.

``create`` freezes every confirmed counterpart (status ``confirmed``; candidates flagged
for re-review are left out unless asked for) into version ``NAME@N``: one member per X-ray
source, labelled with the curator's class override or else the literature class, with the
X-ray source's features (position, errors, significance, variability, flags and every
flux row) copied as they are at that moment. When several confirmed candidates name the
same X-ray source with the same class, the first literature object by catalog and native
id names the member.

Each version records the content hash of its members (:mod:`curation.trainingset_hash`);
:func:`verify_content_hash` recomputes it by the version's own hash scheme. The database
refuses any later UPDATE or DELETE of a version or its members, and any member added
outside the creating transaction. Exports are :mod:`curation.trainingset_export`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from catalog.errors import InputError
from catalog.output import jsonable
from curation.trainingset_hash import HASH_SCHEME, content_hash

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

#: X-ray source columns frozen with each member (plus its flux rows).
FEATURE_COLUMNS = ("ra", "dec", "pos_err_arcsec", "err_maj_arcsec", "err_min_arcsec",
                   "err_pa_deg", "significance", "extended", "var_intra_prob",
                   "var_inter_prob", "n_obs", "nh_gal_cm2", "flags")
MEMBER_COLUMNS = ("xray_catalog", "xray_native_id", "xray_source_id", "livecat_class",
                  "subclass", "literature_catalog", "literature_native_id", "literature_id",
                  "candidate_id", "event_id")


@dataclass(frozen=True)
class Ref:
    """A training set reference ``NAME`` or ``NAME@VERSION``."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str) -> Ref:
    """Parse ``NAME`` or ``NAME@N``.

    Raises
    ------
    InputError
        When the name has characters outside letters, digits, ``_ . -`` or N is not a
        positive integer.
    """
    name, at, version = str(text).strip().partition("@")
    if not _NAME.match(name):
        raise InputError(f"training set name {name!r}: use letters, digits, '_', '.' and "
                         f"'-' (at most 63), e.g. muwclass-csc")
    if not at:
        return Ref(name)
    if not version.isdigit() or int(version) < 1:
        raise InputError(f"training set version {version!r} in {text!r} must be a positive "
                         f"integer, e.g. {name}@1")
    return Ref(name, int(version))


def _text(value) -> str | None:
    """Text or None: pandas 3 reads a missing text cell back as NaN, which is truthy and
    does not compare with strings."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def stable_key(rec) -> tuple:
    """Order of confirmed candidates (or anything naming one) by catalog identifiers, not
    database ids: X-ray catalog and native id, then literature catalog and native id."""
    return tuple(str(rec[k]) for k in ("xray_catalog", "xray_native_id",
                                        "literature_catalog", "literature_native_id"))


def choose_members(confirmed: pd.DataFrame, classes: list[str] | None = None,
                   min_level: float | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Pick one labelled member per X-ray source from the confirmed candidates.

    Parameters
    ----------
    confirmed : pandas.DataFrame
        One row per confirmed candidate: ``xray_source_id, label, sublabel, confidence,
        literature_catalog, literature_native_id, candidate_id, ...``.
    classes : list of str, optional
        Keep only these labels.
    min_level : float, optional
        Leave out objects whose literature confidence is known and below this (objects
        without a confidence, e.g. pulsars, are kept).

    Returns
    -------
    members : pandas.DataFrame
    excluded : list of dict
        ``{"candidate_id", "reason"}`` for every confirmed candidate left out.
    """
    excluded = []
    keep = []
    records = confirmed.to_dict("records")
    for rec in records:
        rec["label"], rec["sublabel"] = _text(rec["label"]), _text(rec["sublabel"])
    for rec in sorted(records, key=stable_key):
        if not rec["label"]:
            excluded.append({"candidate_id": int(rec["candidate_id"]),
                             "reason": "no class: the literature object has none and the "
                                       "decision gave no override"})
        elif classes and rec["label"] not in classes:
            continue
        elif min_level is not None and rec["confidence"] is not None \
                and not pd.isna(rec["confidence"]) and rec["confidence"] < min_level:
            excluded.append({"candidate_id": int(rec["candidate_id"]),
                             "reason": f"confidence {rec['confidence']:g} < --min-level "
                                       f"{min_level:g}"})
        else:
            keep.append(rec)
    members = []
    by_source: dict = {}
    for rec in keep:  # in stable order: the first literature object names the member
        by_source.setdefault(rec["xray_source_id"], []).append(rec)
    for grp in by_source.values():
        labels = sorted({(r["label"], r["sublabel"] or "") for r in grp})
        if len({lab for lab, _ in labels}) > 1:
            for r in grp:
                excluded.append({"candidate_id": int(r["candidate_id"]), "reason":
                                 f"X-ray source {r['xray_catalog']} {r['xray_native_id']} is "
                                 f"confirmed with different classes ("
                                 + ", ".join(lab + ("/" + s if s else "") for lab, s in labels)
                                 + ")"})
            continue
        members.append(grp[0])
    out = pd.DataFrame(members, columns=confirmed.columns).reset_index(drop=True)
    return out, excluded


def _confirmed(conn: Connection, include_flagged: bool) -> pd.DataFrame:
    rows = conn.execute(sa.text(
        "SELECT c.id AS candidate_id, s.last_event_id AS event_id, c.xray_source_id, "
        "x.catalog AS xray_catalog, x.native_id AS xray_native_id, c.literature_id, "
        "l.catalog AS literature_catalog, l.native_id AS literature_native_id, "
        "coalesce(s.class_override, l.livecat_class) AS label, "
        "CASE WHEN s.class_override IS NOT NULL THEN s.subclass_override ELSE l.subclass END "
        "AS sublabel, l.confidence, s.flagged, x.last_release_id AS xray_release_id, "
        "l.last_release_id AS literature_release_id "
        "FROM livecat.curation_state s "
        "JOIN livecat.counterpart_candidate c ON c.id = s.candidate_id "
        "JOIN livecat.xray_source x ON x.id = c.xray_source_id "
        "JOIN livecat.literature_object l ON l.id = c.literature_id "
        "WHERE s.status = 'confirmed' AND (:f OR NOT s.flagged) ORDER BY c.id"),
        {"f": include_flagged}).mappings().all()
    return pd.DataFrame([dict(r) for r in rows],
                        columns=["candidate_id", "event_id", "xray_source_id", "xray_catalog",
                                 "xray_native_id", "literature_id", "literature_catalog",
                                 "literature_native_id", "label", "sublabel", "confidence",
                                 "flagged", "xray_release_id", "literature_release_id"])


def _features(conn: Connection, source_ids: list[int]) -> dict[int, dict]:
    cols = ", ".join(FEATURE_COLUMNS)
    out = {}
    for row in conn.execute(sa.text(
            f"SELECT id, {cols} FROM livecat.xray_source WHERE id = ANY(:ids)"),
            {"ids": source_ids}).mappings():
        out[row["id"]] = {c: row[c] for c in FEATURE_COLUMNS} | {"fluxes": {}}
    for row in conn.execute(sa.text(
            "SELECT source_id, band, kind, band_lo_kev, band_hi_kev, value, value_lo, value_hi "
            "FROM livecat.xray_flux WHERE source_id = ANY(:ids) ORDER BY source_id, band, kind"),
            {"ids": source_ids}).mappings():
        out[row["source_id"]]["fluxes"][f"{row['kind']}_{row['band']}"] = {
            k: row[k] for k in ("band_lo_kev", "band_hi_kev", "value", "value_lo", "value_hi")}
    from curation.candidates import mw_counterparts

    mw = mw_counterparts(conn, source_ids)
    if mw is not None:
        for rec in mw.to_dict("records"):
            sid = rec.pop("xray_source_id")
            out[sid].setdefault("counterparts", []).append(
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in rec.items()})
    return {k: jsonable(v) for k, v in out.items()}


def _member_record(rec, features: dict) -> dict:
    return jsonable({"xray_catalog": rec.xray_catalog, "xray_native_id": rec.xray_native_id,
                   "xray_source_id": int(rec.xray_source_id), "livecat_class": rec.label,
                   "subclass": _text(rec.sublabel),
                   "literature_catalog": rec.literature_catalog,
                   "literature_native_id": rec.literature_native_id,
                   "literature_id": int(rec.literature_id),
                   "candidate_id": int(rec.candidate_id), "event_id": int(rec.event_id),
                   "features": features[int(rec.xray_source_id)]})


def _releases(conn: Connection, ids: set[int]) -> list[dict]:
    rows = conn.execute(sa.text(
        "SELECT catalog, version, checksum FROM livecat.catalog_release WHERE id = ANY(:i) "
        "ORDER BY catalog, version"), {"i": sorted(ids)}).all()
    return [{"catalog": c, "version": v, "checksum": h} for c, v, h in rows]


def create_training_set(engine: Engine, name: str, curator: str, *,
                        classes: list[str] | None = None, min_level: float | None = None,
                        note: str | None = None, include_flagged: bool = False) -> dict:
    """Freeze the confirmed counterparts into the next version of ``name``.

    Returns
    -------
    dict
        The new version as :func:`get_training_set` shows it (without members).

    Raises
    ------
    InputError
        Bad name or class; no confirmed counterpart matches.
    """
    ref = parse_ref(name)
    if ref.version is not None:
        raise InputError(f"create takes a name without a version ({ref.name}); the next "
                         f"version number is chosen for you")
    if classes:
        from catalog.taxonomy import validate_class

        classes = [validate_class(c)[0] for c in classes]
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('livecat:ts:' || :n))"),
                     {"n": ref.name})
        confirmed = _confirmed(conn, include_flagged)
        members, excluded = choose_members(confirmed, classes, min_level)
        if not len(members):
            raise InputError(f"no confirmed counterpart to freeze into {ref.name}"
                             + (f" for classes {', '.join(classes)}" if classes else "")
                             + ": confirm candidates first (`livecat curate queue`)")
        feats = _features(conn, [int(i) for i in members["xray_source_id"]])
        records = [_member_record(r, feats) for r in members.itertuples(index=False)]
        records.sort(key=lambda m: (m["xray_catalog"], m["xray_native_id"]))
        counts = dict(sorted(pd.Series([m["livecat_class"] for m in records])
                             .value_counts().items()))
        releases = set(members["xray_release_id"].dropna().astype(int)) | set(
            members["literature_release_id"].dropna().astype(int))
        provenance = {"hash_scheme": HASH_SCHEME, "releases": _releases(conn, releases),
                      "events": sorted(int(e) for e in members["event_id"]),
                      "excluded": excluded, "include_flagged": include_flagged,
                      "n_flagged_left_out": int(0 if include_flagged else conn.execute(sa.text(
                          "SELECT count(*) FROM livecat.curation_state WHERE "
                          "status = 'confirmed' AND flagged")).scalar())}
        version = conn.execute(sa.text(
            "SELECT coalesce(max(version), 0) + 1 FROM livecat.training_set WHERE name = :n"),
            {"n": ref.name}).scalar_one()
        ts_id = conn.execute(sa.text(
            "INSERT INTO livecat.training_set (name, version, curator, note, classes, "
            "min_level, n_members, class_counts, content_hash, provenance) VALUES (:n, :v, "
            ":cur, :note, :cls, :ml, :nm, CAST(:cc AS jsonb), :h, CAST(:p AS jsonb)) "
            "RETURNING id"),
            {"n": ref.name, "v": version, "cur": curator, "note": note, "cls": classes,
             "ml": min_level, "nm": len(records), "cc": json.dumps(counts),
             "h": content_hash(records), "p": json.dumps(provenance)}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO livecat.training_member (training_set_id, xray_source_id, "
            "xray_catalog, xray_native_id, literature_id, literature_catalog, "
            "literature_native_id, candidate_id, event_id, livecat_class, subclass, features) "
            "VALUES (:ts, :xray_source_id, :xray_catalog, :xray_native_id, :literature_id, "
            ":literature_catalog, :literature_native_id, :candidate_id, :event_id, "
            ":livecat_class, :subclass, CAST(:features AS jsonb))"),
            [{**m, "ts": ts_id, "features": json.dumps(m["features"])} for m in records])
    return get_training_set(engine, f"{ref.name}@{version}", members=False)


def _resolve(conn: Connection, ref: Ref) -> dict:
    row = conn.execute(sa.text(
        "SELECT id, name, version, created_at, curator, note, classes, min_level, n_members, "
        "class_counts, content_hash, provenance FROM livecat.training_set WHERE name = :n "
        "AND (CAST(:v AS int) IS NULL OR version = :v) ORDER BY version DESC LIMIT 1"),
        {"n": ref.name, "v": ref.version}).mappings().first()
    if row is None:
        known = conn.execute(sa.text(
            "SELECT string_agg(DISTINCT name, ', ') FROM livecat.training_set")).scalar()
        raise InputError(f"unknown training set {ref}: known sets are {known or '(none)'}")
    return dict(row)


def get_training_set(engine: Engine, ref: str, members: bool = True) -> dict:
    """A version's metadata (``NAME`` = newest) and, by default, its members.

    ``members`` is a list of dicts (as hashed) sorted by X-ray catalog and native id.
    """
    r = parse_ref(ref)
    with engine.connect() as conn:
        info = _resolve(conn, r)
        if members:
            rows = conn.execute(sa.text(
                f"SELECT {', '.join(MEMBER_COLUMNS)}, features FROM livecat.training_member "
                "WHERE training_set_id = :i ORDER BY xray_catalog, xray_native_id"),
                {"i": info["id"]}).mappings().all()
            info["members"] = [dict(m) for m in rows]
    return info


def list_training_sets(engine: Engine) -> pd.DataFrame:
    """Every version: name, version, created_at, curator, members, class counts, hash."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT name, version, created_at, curator, n_members, class_counts, "
            "left(content_hash, 16) AS content_hash, note FROM livecat.training_set "
            "ORDER BY name, version")).all()
    frame = pd.DataFrame(rows, columns=["name", "version", "created_at", "curator",
                                        "n_members", "class_counts", "content_hash", "note"])
    frame["class_counts"] = [", ".join(f"{k} {v}" for k, v in c.items())
                             for c in frame["class_counts"]]
    return frame


def diff_training_sets(engine: Engine, a: str, b: str) -> pd.DataFrame:
    """Members added, removed and relabelled from version ``a`` to version ``b``.

    Members are matched by X-ray source (livecat id, so renamed sources match).

    Returns
    -------
    pandas.DataFrame
        ``change, xray_catalog, xray_native_id, class_a, class_b``, sorted.
    """
    ma = {m["xray_source_id"]: m for m in get_training_set(engine, a)["members"]}
    mb = {m["xray_source_id"]: m for m in get_training_set(engine, b)["members"]}
    rows = []

    def label(m):
        return m["livecat_class"] + (f"/{m['subclass']}" if m["subclass"] else "")

    for sid in sorted(set(ma) | set(mb)):
        x, y = ma.get(sid), mb.get(sid)
        if x is None:
            rows.append(("added", y["xray_catalog"], y["xray_native_id"], None, label(y)))
        elif y is None:
            rows.append(("removed", x["xray_catalog"], x["xray_native_id"], label(x), None))
        elif label(x) != label(y):
            rows.append(("relabelled", y["xray_catalog"], y["xray_native_id"], label(x),
                         label(y)))
    frame = pd.DataFrame(rows, columns=["change", "xray_catalog", "xray_native_id", "class_a",
                                        "class_b"], dtype=object)
    return frame.sort_values(["change", "xray_catalog", "xray_native_id"]).reset_index(drop=True)


def verify_content_hash(engine: Engine, ref: str) -> bool:
    """Recompute a version's content hash from its stored members (by the version's own
    hash scheme)."""
    info = get_training_set(engine, ref)
    scheme = int(info["provenance"].get("hash_scheme", 1))
    return content_hash(info["members"], scheme) == info["content_hash"]
