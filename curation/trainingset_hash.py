"""The content hash of a training set: its members in one canonical text, hashed.

The members, sorted by X-ray catalog and native id, are serialised canonically (JSON,
sorted keys, no spaces, NaN as null, every number as a float) and hashed with SHA-256.
Only catalog identifiers (X-ray and literature catalog and native id), the label and the
frozen values enter it (:data:`HASH_KEYS`), never database-local ids (``xray_source.id``,
candidate or event ids), so the same members give the same hash in any database.
(Versions created before this rule, without ``hash_scheme`` in their provenance, were
hashed with those ids too: :data:`HASH_SCHEME` 1.) Pure functions, no database.
"""

from __future__ import annotations

import hashlib
import json

from catalog.output import jsonable

#: What identifies and labels a member outside this database: the exported identifier
#: columns, and (with ``features``) what the content hash covers.
KEY_COLUMNS = ("xray_catalog", "xray_native_id", "livecat_class", "subclass",
               "literature_catalog", "literature_native_id")
HASH_KEYS = (*KEY_COLUMNS, "features")
#: Content hash schemes: 1 hashed every member column (database ids included), 2 only
#: :data:`HASH_KEYS`.
HASH_SCHEME = 2


def _floats(value):
    """Every number as a float: JSONB keeps 8.9e21 as the integer 8900...0, so the
    canonical form must not depend on whether a number was read back as int or float."""
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def canonical_json(obj) -> str:
    """The canonical text that is hashed: sorted keys, no spaces, NaN as null, numbers
    as floats."""
    return json.dumps(_floats(jsonable(obj)), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True)


def content_hash(members: list[dict], scheme: int = HASH_SCHEME) -> str:
    """SHA-256 of the canonical member list (members sorted by X-ray catalog, native id).

    Scheme 2 (the default) hashes :data:`HASH_KEYS` of every member: catalog identifiers,
    label and frozen values, nothing local to one database. Scheme 1 (versions created
    before it) hashed every member column.
    """
    ordered = sorted(members, key=lambda m: (m["xray_catalog"], m["xray_native_id"]))
    if scheme >= 2:
        ordered = [{k: m.get(k) for k in HASH_KEYS} for m in ordered]
    return hashlib.sha256(canonical_json(ordered).encode()).hexdigest()
