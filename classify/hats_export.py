"""``livecat export hats WHAT``: any livecat catalog as a HATS catalog with a margin cache.

WHAT is an X-ray catalog held (``csc``, ``muwclass-csc``, ...: its current sources with
their fluxes, :func:`catalog.hats.xray_table`), a survey (``gaia_dr3``, ``2mass``, ...:
its ``mw_source`` rows, :func:`catalog.hats.survey_table`) or ``classifications`` (the
labels of the promoted classifier run with their probabilities, the table
``livecat classify export`` writes, :func:`classify.export.label_table`).

This module sits at the top layer because it composes the three: the tables of the
catalog layer and the labels of this one; :mod:`catalog.hats` writes the catalog.

Provenance in the properties (``livecat_<key>``): ``what`` (``xray:csc``,
``survey:gaia_dr3``, ``classifications``), ``catalog``, the releases the rows were last
seen in (``releases``, ``release_ids``, ``release_checksums``) or the run
(``run_id``, ``training_set``, ``training_set_hash``, ``run_code_version``), the content
hash of the rows, and ``version`` (the livecat package that wrote it; not the git state,
so that unchanged data exports the same).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from catalog.hats import (DEFAULT_MARGIN_ARCSEC, DEFAULT_PIXEL_THRESHOLD, HatsCatalog,
                          survey_table, write_hats, xray_table)
from catalog.settings import SCHEMA
from catalog.surveys import SURVEYS
from classify.export import label_table, promoted_run_id
from classify.runs import get_run
from curation.tablefiles import livecat_version

CLASSIFICATIONS = "classifications"
#: What a survey export holds (``livecat_completeness``): livecat fetches a survey only
#: around X-ray sources, so the catalog is complete only within the cones searched then.
SURVEY_COMPLETENESS = "only around the X-ray sources searched (mw_coverage), not the survey"


def exportable(engine: Engine) -> list[str]:
    """Every WHAT that can be exported now: the X-ray catalogs and surveys held, and
    ``classifications``."""
    with engine.connect() as conn:
        xray = conn.execute(sa.text(
            f"SELECT DISTINCT catalog FROM {SCHEMA}.xray_source ORDER BY 1")).scalars().all()
        surveys = conn.execute(sa.text(
            f"SELECT DISTINCT catalog FROM {SCHEMA}.mw_source ORDER BY 1")).scalars().all()
    return [*xray, *surveys, CLASSIFICATIONS]


def export_table(engine: Engine, what: str):
    """The rows, key columns and provenance of WHAT (see the module docstring)."""
    if what == CLASSIFICATIONS:
        run = get_run(engine, promoted_run_id(engine))
        provenance = {"what": CLASSIFICATIONS, "catalog": CLASSIFICATIONS, "run_id": run.id,
                      "training_set": run.training_set,
                      "training_set_hash": run.training_set_sha256 or "",
                      "run_code_version": run.code_version}
        return label_table(engine, run), ("catalog", "native_id"), provenance
    held = exportable(engine)
    if what not in held:
        raise InputError(f"nothing to export as {what!r}: expected one of "
                         f"{', '.join(held)}")
    if what in SURVEYS:
        frame, provenance = survey_table(engine, what)
        provenance["completeness"] = SURVEY_COMPLETENESS
        kind = "survey"
    else:
        frame, provenance = xray_table(engine, what)
        kind = "xray"
    return frame, ("native_id",), {"what": f"{kind}:{what}", "catalog": what, **provenance}


def export_hats(engine: Engine, what: str, out_dir, *,
                margin_arcsec: float = DEFAULT_MARGIN_ARCSEC,
                pixel_threshold: int = DEFAULT_PIXEL_THRESHOLD, client=None) -> HatsCatalog:
    """Write WHAT as the HATS collection ``out_dir/<WHAT>`` (catalog + margin cache).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    what : str
        An X-ray catalog, a survey, or ``classifications``.
    out_dir : path
    margin_arcsec, pixel_threshold, client
        See :func:`catalog.hats.write_hats`.

    Returns
    -------
    catalog.hats.HatsCatalog

    Raises
    ------
    catalog.errors.InputError
        Nothing held under WHAT, no promoted run, or an output directory that is not a
        livecat export.
    """
    frame, key, provenance = export_table(engine, what)
    provenance["version"] = livecat_version()
    return write_hats(frame, out_dir, what, provenance, sort_columns=key,
                      margin_arcsec=margin_arcsec, pixel_threshold=pixel_threshold,
                      client=client)
