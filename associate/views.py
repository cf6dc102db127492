"""What ``livecat counterparts show`` and ``runs`` (and the curators' views) read."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError

#: The magnitude shown for a candidate of each survey (the survey's reddest common band).
SHOWN_MAG = {"gaia_dr3": "gmag", "2mass": "kmag", "allwise": "w1mag",
             "catwise2020": "w1mag"}


def resolve_source(conn, text: str) -> int:
    """An X-ray source id from ``ID`` or ``CATALOG:NATIVE_ID``."""
    if text.strip().isdigit():
        sid = conn.execute(sa.text("SELECT id FROM livecat.xray_source WHERE id = :i"),
                           {"i": int(text)}).scalar()
    else:
        catalog, sep, native = text.partition(":")
        if not sep:
            raise InputError(f"X-ray source {text!r}: expected a livecat id or "
                             "CATALOG:NATIVE_ID (e.g. 'csc:2CXO J110435.9-584520')")
        sid = conn.execute(sa.text(
            "SELECT id FROM livecat.xray_source WHERE catalog = :c AND native_id = :n"),
            {"c": catalog.strip(), "n": native.strip()}).scalar()
    if sid is None:
        raise InputError(f"no X-ray source {text!r}")
    return int(sid)


def candidates_of(conn, source_id: int, run_id: int | None = None) -> pd.DataFrame:
    """The candidates of one X-ray source in an association run (default: the newest run
    that has it): survey, survey id, position, separation, probabilities, best, the
    survey's shown magnitude."""
    if run_id is None:
        run_id = conn.execute(sa.text(
            "SELECT max(run_id) FROM livecat.mw_association WHERE xray_source_id = :s"),
            {"s": source_id}).scalar()
    if run_id is None:
        return pd.DataFrame(columns=["run_id", "survey", "survey_id", "ra", "dec",
                                     "separation_arcsec", "sep_sigma", "p_i", "p_any",
                                     "p_match", "best", "mag", "e_mag"])
    mag = " ".join(f"WHEN '{k}' THEN s.{v}" for k, v in SHOWN_MAG.items())
    emag = " ".join(f"WHEN '{k}' THEN s.e_{v}" for k, v in SHOWN_MAG.items())
    rows = conn.execute(sa.text(
        "SELECT a.run_id, a.survey, s.native_id AS survey_id, s.ra, s.dec, "
        "a.separation_arcsec, a.sep_sigma, a.p_i, a.p_any, a.p_match, a.best, "
        f"CASE a.survey {mag} END AS mag, CASE a.survey {emag} END AS e_mag "
        "FROM livecat.mw_association a JOIN livecat.mw_source s ON s.id = a.mw_source_id "
        "WHERE a.run_id = :r AND a.xray_source_id = :s ORDER BY a.survey, a.p_i DESC"),
        {"r": run_id, "s": source_id}).mappings().all()
    return pd.DataFrame(rows)


def source_candidates(engine: Engine, text: str, run_id: int | None = None):
    """A heading line, the coverage and the candidates of one X-ray source."""
    with engine.connect() as conn:
        sid = resolve_source(conn, text)
        src = conn.execute(sa.text(
            "SELECT catalog, native_id, ra, dec, pos_err_arcsec FROM livecat.xray_source "
            "WHERE id = :s"), {"s": sid}).one()
        coverage = pd.DataFrame(conn.execute(sa.text(
            "SELECT c.survey, r.version AS release, c.radius_arcsec, c.searched_at "
            "FROM livecat.mw_coverage c JOIN livecat.catalog_release r ON r.id = c.release_id "
            "WHERE c.xray_source_id = :s AND c.kind = 'source' ORDER BY c.survey"),
            {"s": sid}).mappings().all(), columns=["survey", "release", "radius_arcsec",
                                                   "searched_at"])
        candidates = candidates_of(conn, sid, run_id)
    head = (f"{src.catalog}:{src.native_id} (id {sid}) at {src.ra:.6f} {src.dec:+.6f}, "
            f"1-sigma {src.pos_err_arcsec or float('nan'):.2f} arcsec; "
            + ("never searched for counterparts" if coverage.empty
               else f"searched in {', '.join(coverage['survey'])}"))
    return head, coverage, candidates


def list_runs(engine: Engine) -> pd.DataFrame:
    """The association runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id AS run, created_at, invoked_by, array_to_string(xray_catalogs, ',') "
            "AS catalogs, array_to_string(surveys, ',') AS surveys, n_sources, n_pairs, "
            "n_best, p_any_cutoff::text AS p_any_cutoff, seconds "
            "FROM livecat.mw_association_run ORDER BY id DESC")).mappings().all()
    return pd.DataFrame(rows, columns=["run", "created_at", "invoked_by", "catalogs",
                                       "surveys", "n_sources", "n_pairs", "n_best",
                                       "p_any_cutoff", "seconds"])
