"""Finding charts for counterpart review (matplotlib, Agg backend, PNG).

The chart is centred on the literature position, in arcsec offsets on the tangent plane
(east to the left, north up): the literature position (cross) with its 1-sigma error
circle, every X-ray source in the field with its error ellipse (the published ellipse
when the catalog gives one, e.g. the CSC's 95 % ellipse, else the 1-sigma circle) - the
candidates labelled with their id and probability - multiwavelength counterparts when
the database has them, a scale bar and the N/E arrows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog.errors import InputError
from catalog.sky import cone_search
from curation.candidates import mw_counterparts, survey_candidates


def offsets_arcsec(ra, dec, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic offsets (east, north) in arcsec of (ra, dec) from (ra0, dec0)."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cosc = np.sin(d0) * np.sin(dec) + np.cos(d0) * np.cos(dec) * np.cos(ra - a0)
    x = np.cos(dec) * np.sin(ra - a0) / cosc
    y = (np.cos(d0) * np.sin(dec) - np.sin(d0) * np.cos(dec) * np.cos(ra - a0)) / cosc
    return np.degrees(x) * 3600.0, np.degrees(y) * 3600.0


def scale_bar_length(field_arcsec: float) -> float:
    """A round scale bar length (1, 2, 5 x 10^k arcsec) about a quarter of the field."""
    target = field_arcsec / 4.0
    k = math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * 10 ** k <= target:
            return float(m * 10 ** k)
    return float(10 ** k)


def draw_chart(lit: dict, xray: pd.DataFrame, out: str | Path, radius_arcsec: float,
               mw: pd.DataFrame | None = None, title: str | None = None) -> Path:
    """Draw a finding chart (pure: no database).

    Parameters
    ----------
    lit : dict
        ``ra, dec, pos_err_arcsec, name``.
    xray : pandas.DataFrame
        ``ra, dec, pos_err_arcsec, err_maj_arcsec, err_min_arcsec, err_pa_deg, label,
        is_candidate``.
    out : path
        PNG to write.
    radius_arcsec : float
        Half width of the field.
    mw : pandas.DataFrame, optional
        ``ra, dec, survey`` of multiwavelength counterparts; with ``p_i`` (the survey
        candidates of an association run) each is labelled with its probability.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Ellipse

    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    r = radius_arcsec
    ax.set_xlim(r, -r)  # east to the left
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_xlabel("east offset (arcsec)")
    ax.set_ylabel("north offset (arcsec)")
    err = lit.get("pos_err_arcsec")
    if err is not None and np.isfinite(err):
        ax.add_patch(Circle((0, 0), err, fill=False, ls="--", color="tab:red"))
    ax.plot([0], [0], marker="+", ms=14, mew=2, color="tab:red", ls="none",
            label=f"literature: {lit.get('name', '')}")
    if len(xray):
        x, y = offsets_arcsec(xray["ra"], xray["dec"], lit["ra"], lit["dec"])
        for xi, yi, rec in zip(x, y, xray.to_dict("records")):
            color = "tab:blue" if rec.get("is_candidate") else "0.6"
            maj, mn = rec.get("err_maj_arcsec"), rec.get("err_min_arcsec")
            if maj is not None and mn is not None and np.isfinite(maj) and np.isfinite(mn):
                pa = rec.get("err_pa_deg") or 0.0
                # position angle east of north; matplotlib angles are from +x (here west)
                ax.add_patch(Ellipse((xi, yi), 2 * mn, 2 * maj, angle=-float(pa),
                                     fill=False, color=color))
            elif rec.get("pos_err_arcsec") is not None and np.isfinite(rec["pos_err_arcsec"]):
                ax.add_patch(Circle((xi, yi), rec["pos_err_arcsec"], fill=False, color=color))
            ax.plot([xi], [yi], marker="x", color=color, ls="none")
            if rec.get("label"):
                ax.annotate(rec["label"], (xi, yi), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=color)
    if mw is not None and len(mw):
        markers = {"gaia_dr3": "o", "2mass": "s", "allwise": "^", "catwise2020": "v"}
        for survey, group in mw.groupby(mw["survey"] if "survey" in mw else [""] * len(mw)):
            mx, my = offsets_arcsec(group["ra"], group["dec"], lit["ra"], lit["dec"])
            ax.plot(mx, my, marker=markers.get(survey, "o"), ms=5, ls="none",
                    fillstyle="none", label=survey or "multiwavelength")
            if "p_i" in group:
                for xi, yi, p in zip(mx, my, group["p_i"]):
                    if p >= 0.01:
                        ax.annotate(f"{p:.2f}", (xi, yi), xytext=(3, -9),
                                    textcoords="offset points", fontsize=6)
    bar = scale_bar_length(2 * r)
    x0, y0 = r * 0.9, -r * 0.85
    ax.plot([x0, x0 - bar], [y0, y0], color="k", lw=2)
    ax.text(x0 - bar / 2, y0 + r * 0.03, f'{bar:g}"', ha="center", fontsize=8)
    base = (-r * 0.85, -r * 0.85)  # bottom right; north up, east to the left
    for label, tip, align in (("N", (base[0], base[1] + r * 0.25), {"va": "bottom",
                                                                    "ha": "center"}),
                              ("E", (base[0] + r * 0.25, base[1]), {"va": "center",
                                                                    "ha": "right"})):
        ax.annotate("", xy=tip, xytext=base, arrowprops={"arrowstyle": "->"})
        ax.text(*tip, label, fontsize=8, **align)
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(title or "", fontsize=9)
    out = Path(out)
    fig.savefig(out, format="png", metadata={"Software": None})
    return out


def chart_directory(path: str | Path) -> Path:
    """The directory charts go to, created (with its parents) when missing.

    Raises
    ------
    InputError
        When the path exists and is not a directory, or cannot be created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--charts {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--charts {path}: cannot create the directory "
                         f"({exc.strerror or exc})") from None
    return path


def chart_path(out: str | Path) -> Path:
    """``out`` as a Path, refused when its directory does not exist (InputError)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"chart {out}: directory {out.parent} does not exist")
    return out


def finding_chart(engine: Engine, candidate_id: int, out: str | Path,
                  radius_arcsec: float | None = None) -> Path:
    """Draw the finding chart of a candidate's literature object and its candidates.

    The field half-width defaults to 1.5 times the farthest candidate of the object
    (at least 5 arcsec).

    Raises
    ------
    InputError
        Unknown candidate, or the directory of ``out`` does not exist.
    """
    out = chart_path(out)
    with engine.connect() as conn:
        lit = conn.execute(sa.text(
            "SELECT l.id, l.ra, l.dec, l.pos_err_arcsec, l.catalog || ' ' || l.native_id "
            "FROM livecat.counterpart_candidate c JOIN livecat.literature_object l "
            "ON l.id = c.literature_id WHERE c.id = :c"), {"c": candidate_id}).first()
        if lit is None:
            raise InputError(f"unknown candidate {candidate_id}: see `livecat curate queue`")
        cands = conn.execute(sa.text(
            "SELECT xray_source_id, id, match_prob, separation_arcsec FROM "
            "livecat.counterpart_candidate WHERE literature_id = :l"), {"l": lit[0]}).all()
    far = max([c[3] for c in cands] + [0.0])
    radius = radius_arcsec or max(5.0, 1.5 * far)
    field = cone_search(engine, "xray_source", lit[1], lit[2], radius * math.sqrt(2))
    by_src = {c[0]: c for c in cands}
    field["is_candidate"] = field["id"].isin(by_src)
    field["label"] = [f"#{by_src[i][1]} P={by_src[i][2]:.2f}" if i in by_src else ""
                      for i in field["id"]]
    for col in ("err_maj_arcsec", "err_min_arcsec", "err_pa_deg", "pos_err_arcsec"):
        field[col] = pd.to_numeric(field.get(col), errors="coerce")
    with engine.connect() as conn:
        mw = survey_candidates(conn, [c[0] for c in cands])  # with p_i, from the run
        if not len(mw):
            mw = mw_counterparts(conn, [c[0] for c in cands])
    if mw is not None and (not {"ra", "dec"} <= set(mw.columns) or not len(mw)):
        mw = None
    elif mw is not None:
        mw = mw[mw["ra"].notna()]
    return draw_chart({"ra": lit[1], "dec": lit[2], "pos_err_arcsec": lit[3], "name": lit[4]},
                      field, out, radius, mw,
                      title=f"candidate {candidate_id}: {lit[4]}")
