"""The training table of frozen training-set members (``training_member.features``).

Curation freezes each member's X-ray source with its flux rows, variability, flags,
position and multiwavelength counterparts as JSON; :func:`training_table_from_members`
turns those into the measurement table :func:`classify.montecarlo.sample_measurements`
expects, by the same rules as :func:`classify.measurements.load_measurements` reads the
database. Pure functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from classify.features import COUNTERPART_MEASUREMENTS, MAG_COLUMNS, fill_nondetections
from classify.measurements import FLAG_WORDS, REQUIRED_BANDS

#: Survey order when two best counterparts measure the same quantity (as the mw_best view).
SURVEY_PRIORITY = ("gaia_dr3", "2mass", "allwise", "catwise2020")
#: Training-set column -> (mw_counterpart column, column that must be present).
COUNTERPART_COLUMNS = {
    **{m: (m.lower(), m.lower()) for m in MAG_COLUMNS},
    **{f"e_{m}": (f"e_{m.lower()}", m.lower()) for m in MAG_COLUMNS},
    "Plx": ("plx", "plx"), "e_Plx": ("e_plx", "plx"), "PM": ("pm", "pm"),
    "rgeo": ("rgeo", "rgeo"), "b_rgeo": ("rgeo_lo", "rgeo"), "B_rgeo": ("rgeo_hi", "rgeo"),
}


def training_table_from_members(members) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Measurement table of frozen training members (``training_member.features`` JSON).

    The X-ray fluxes are the ``energy_flux`` entries with the CSC s/m/h band edges (error =
    half the quoted interval), variability from ``var_intra_prob``/``var_inter_prob``,
    flags from ``flags``, positions ``ra``/``dec`` (for AGN reddening), and the best
    counterparts' magnitudes (missing without one). A member measured in one or two of
    the bands gets the others as non-detections
    (:func:`classify.features.fill_nondetections`), as ``classify run`` does; members
    with none of the three fluxes, or a flux without its interval, are left out.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray, int)
        The table (index = xray_source id), the classes, the number left out.
    """
    rows, labels, skipped = [], [], 0
    for m in members:
        f = m["features"] or {}
        rec: dict[str, Any] = {"source_id": int(m["xray_source_id"]),
                               "ra": f.get("ra"), "dec": f.get("dec")}
        fluxes = list((f.get("fluxes") or {}).items())
        unusable = True
        for col, (lo, hi) in REQUIRED_BANDS.items():
            hit = next((v for k, v in fluxes if k.startswith("energy_flux")
                        and abs(float(v.get("band_lo_kev") or -1) - lo) < 1e-6
                        and abs(float(v.get("band_hi_kev") or -1) - hi) < 1e-6
                        and v.get("value") is not None), None)
            if hit is None:
                rec[col] = rec["e_" + col] = np.nan
                continue
            if hit.get("value_lo") is None or hit.get("value_hi") is None:
                unusable = True
                break
            unusable = False
            rec[col] = float(hit["value"])
            rec["e_" + col] = (float(hit["value_hi"]) - float(hit["value_lo"])) / 2
        if unusable:  # no band at all, or a flux without its interval
            skipped += 1
            continue
        rec.update(best_counterpart_values(f.get("counterparts") or []))
        rec["P_intra"] = f.get("var_intra_prob")
        rec["P_inter"] = f.get("var_inter_prob")
        flags = f.get("flags") or {}
        rec["CSCv2_flags"] = "|".join(w for k, w in FLAG_WORDS.items() if flags.get(k))
        rows.append(rec)
        labels.append(str(m["livecat_class"]))
    table = pd.DataFrame(rows)
    if len(table):
        table = fill_nondetections(table.set_index("source_id"))[0]
        table["ra"] = pd.to_numeric(table["ra"], errors="coerce").astype(float)
        table["dec"] = pd.to_numeric(table["dec"], errors="coerce").astype(float)
        for col in ("P_intra", "P_inter"):
            table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
            if table[col].isna().all():
                table = table.drop(columns=col)
        for col in COUNTERPART_MEASUREMENTS:
            table[col] = (pd.to_numeric(table[col], errors="coerce").astype(float)
                          if col in table else np.nan)
    return table, np.asarray(labels), skipped


def best_counterpart_values(rows: list[dict]) -> dict[str, float]:
    """Training-set columns from frozen ``mw_counterpart`` rows, as the ``mw_best`` view.

    Only rows flagged ``is_best`` count; when several surveys measure a quantity, the
    first of :data:`SURVEY_PRIORITY` wins, value and error from the same row.
    """
    best = [r for r in rows if r.get("is_best")]
    order = {s: i for i, s in enumerate(SURVEY_PRIORITY)}
    best.sort(key=lambda r: (order.get(r.get("survey"), len(order)), str(r.get("survey"))))
    out: dict[str, float] = {}
    for name, (col, present) in COUNTERPART_COLUMNS.items():
        for r in best:
            if r.get(present) is not None:
                v = r.get(col)
                out[name] = np.nan if v is None else float(v)
                break
    return out
