"""Confirm the published MUWCLASS training set's pairs, as the curator ``muwclass-import``.

The ingest (:mod:`ingest.muwclass`, ``livecat ingest muwclass-td``) loads the training
set's X-ray sources (catalog ``muwclass-csc``), its labelled literature objects (catalog
``muwclass``) and counterparts. Which source is each object's counterpart is a curation
decision, made here through the same decision API a person uses
(:func:`curation.decisions.decide_in`): every current ``muwclass`` object gets a
candidate pairing it with the ``muwclass-csc`` source of the same CSCv2 name (separation
0, match probability 1: the training set's own pairing), and each undecided candidate is
confirmed. A candidate that already has a decision (a re-import, or a curator who changed
it since) is left alone, so re-running changes nothing.

``livecat curate import-muwclass [FILE]`` runs the ingest and then this, in two
transactions: if the confirmation fails, the ingest stays and the next run confirms
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from catalog.settings import login_name
from curation.decisions import decide_in
from ingest.muwclass import CATALOG, MATCHED_BY, REFERENCE, XRAY_CATALOG

#: The curator name of the training set's own decisions.
CURATOR = "muwclass-import"


@dataclass
class Confirmation:
    """What one confirmation pass did."""

    candidates_new: int = 0
    confirmed: int = 0
    already_decided: int = 0

    def summary_row(self) -> dict:
        """The row of the import's summary table."""
        return {"part": "confirmed counterparts", "read": None, "inserted": self.confirmed,
                "updated": 0, "unchanged": self.already_decided, "rejected": None,
                "retired": None}


def confirm_training_pairs(engine: Engine, invoked_by: str | None = None) -> Confirmation:
    """Create the missing candidates of the training set's pairs and confirm the
    undecided ones, in one transaction (see the module docstring)."""
    result = Confirmation()
    with engine.connect() as conn, conn.begin():
        cur = conn.connection.dbapi_connection.cursor()
        result.candidates_new = _add_candidates(cur, invoked_by or login_name())
        cur.execute(
            "SELECT c.id, l.name, l.livecat_class, l.reference, EXISTS (SELECT 1 FROM "
            "livecat.curation_event e WHERE e.candidate_id = c.id) "
            "FROM livecat.counterpart_candidate c "
            "JOIN livecat.literature_object l ON l.id = c.literature_id "
            "JOIN livecat.xray_source x ON x.id = c.xray_source_id "
            "WHERE l.catalog = %s AND x.catalog = %s AND l.native_id = x.native_id "
            "AND l.is_current ORDER BY c.id", (CATALOG, XRAY_CATALOG))
        pairs = cur.fetchall()
        for cid, name, cls, ref, decided in pairs:
            if decided:
                result.already_decided += 1
                continue
            decide_in(conn, cid, "confirm", CURATOR, source=MATCHED_BY,
                      note=f"MUWCLASS training set ({REFERENCE}): {name} is {cls}"
                           + (f" ({ref})" if ref else ""))
            result.confirmed += 1
    return result


def _add_candidates(cur, invoked_by: str) -> int:
    """Candidates (literature object, its own training-set source) that do not exist yet."""
    cur.execute(
        "SELECT l.id, x.id, l.native_id, x.native_id, x.pos_err_arcsec, l.ra, l.dec, "
        "l.pos_err_arcsec, l.livecat_class, l.subclass, x.ra, x.dec "
        "FROM livecat.literature_object l JOIN livecat.xray_source x ON x.catalog = %s "
        "AND x.native_id = l.native_id WHERE l.catalog = %s AND l.is_current "
        "AND NOT EXISTS (SELECT 1 FROM livecat.counterpart_candidate c "
        "WHERE c.literature_id = l.id AND c.xray_source_id = x.id) ORDER BY l.id",
        (XRAY_CATALOG, CATALOG))
    new = cur.fetchall()
    if not new:
        return 0
    cur.execute("INSERT INTO livecat.candidate_run (invoked_by, literature_catalog, "
                "xray_catalog, params, n_pairs, n_new) VALUES (%s, %s, %s, %s::jsonb, "
                "%s, %s) RETURNING id",
                (invoked_by, CATALOG, XRAY_CATALOG,
                 json.dumps({"model": "muwclass-td: the training set's own pairing",
                             "curator": CURATOR}), len(new), len(new)))
    run = cur.fetchone()[0]
    with cur.copy("COPY livecat.counterpart_candidate (literature_id, xray_source_id, "
                  "literature_catalog, literature_native_id, xray_catalog, "
                  "xray_native_id, separation_arcsec, sigma_arcsec, norm_sep, "
                  "match_prob, snapshot, created_run_id) FROM STDIN") as copy:
        for lid, xid, lnid, xnid, xerr, lra, ldec, lerr, lcls, lsub, xra, xdec in new:
            snap = {"literature": {"ra": lra, "dec": ldec, "pos_err_arcsec": lerr,
                                   "livecat_class": lcls, "subclass": lsub},
                    "xray": {"ra": xra, "dec": xdec, "pos_err_arcsec": xerr}}
            copy.write_row((lid, xid, CATALOG, lnid, XRAY_CATALOG, xnid, 0.0,
                            float(xerr) if xerr is not None else 0.0, 0.0, 1.0,
                            json.dumps(snap), run))
    return len(new)


def import_muwclass(engine: Engine, args=None, reporter=None):
    """Ingest the training set (:mod:`ingest.muwclass`), then confirm its pairs.

    Returns
    -------
    (ingest.muwclass.ImportResult, Confirmation)
    """
    from ingest.pipeline import run
    from ingest.registry import get_spec

    ingested = run(engine, get_spec(CATALOG), args, reporter)
    return ingested, confirm_training_pairs(engine)


def summary(ingested, confirmation: Confirmation) -> pd.DataFrame:
    """One table: the ingest's parts and the confirmations."""
    frame = ingested.summary() if ingested.status != "skipped" else pd.DataFrame()
    frame = pd.concat([frame, pd.DataFrame([confirmation.summary_row()])],
                      ignore_index=True)
    for col in frame.columns[1:]:
        frame[col] = frame[col].astype("Int64")
    return frame
