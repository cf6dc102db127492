"""Run the reference implementation, NWAY (PyPI ``nway``, AGPL), on livecat's inputs.

Test and benchmark code only: livecat's associate package never imports nwaylib.

NWAY's command line reads one FITS binary table per catalogue (first extension), each
with an ``ID`` (primary), ``RA``, ``DEC`` and a positional-error column, and the header
keyword ``SKYAREA`` (square degrees covered) from which it derives the source density
N / SKYAREA (NWAY README, "Input catalogue format"). Its prior uses (N + 1) / SKYAREA,
so livecat's density for the same prior is ``(N + 1) / area``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

NWAY_CLI = Path(sys.executable).with_name("nway.py")
#: Runs nway.py in a fresh interpreter and reports that process's own peak RSS
#: (VmHWM of its memory map; getrusage would count the parent's pages at fork).
_WRAPPER = ("import atexit, runpy, sys\n"
            "def _hwm():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            sys.stderr.write('NWAY_PEAK_KB ' + line.split()[1] + '\\n')\n"
            "atexit.register(_hwm)\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
SQDEG_PER_SR = (180.0 / np.pi) ** 2


def write_catalog(path: Path, name: str, table: pd.DataFrame, area_sr: float) -> None:
    """Write one NWAY input catalogue (EXTNAME = name, SKYAREA in deg^2)."""
    t = Table({"ID": table["id"].to_numpy(), "RA": table["ra"].to_numpy(float),
               "DEC": table["dec"].to_numpy(float),
               "pos_err": table["pos_err_arcsec"].to_numpy(float)})
    hdu = fits.BinTableHDU(t, name=name)
    hdu.header["SKYAREA"] = area_sr * SQDEG_PER_SR
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def nway_density_sr(table: pd.DataFrame, area_sr: float) -> float:
    """The density NWAY's prior uses for a catalogue of this size, per steradian."""
    return (len(table) + 1) / area_sr


def run_nway_cli(workdir: Path, primary: pd.DataFrame, surveys: dict[str, pd.DataFrame],
                 area_sr: float, radius_arcsec: float, completeness: list[float],
                 areas: dict[str, float] | None = None,
                 extra_args: tuple[str, ...] = ()) -> tuple[pd.DataFrame, float]:
    """Run ``nway.py`` in workdir; return its output table and its wall time (s).

    The output's ``attrs["peak_rss_mb"]`` holds the nway process's peak RSS.

    ``area_sr`` is every catalogue's area unless ``areas`` names a survey's own.

    The output's columns are renamed to livecat's: primary_id, <survey>_id (-1 for
    none, as NWAY writes it), p_i, p_any, match_flag, log_bf (dist_bayesfactor), ncat.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # NWAY would otherwise try to ask PyPI for a newer version
    (workdir / "I_will_check_for_NWAY_updates_myself_thank_you").touch()
    args = [sys.executable, "-c", _WRAPPER, str(NWAY_CLI), "--radius",
            repr(float(radius_arcsec)),
            # one value per survey (NWAY splits a single value c into c**(1/K))
            "--prior-completeness", ":".join(repr(float(c)) for c in completeness)]
    if len(completeness) != len(surveys):
        raise ValueError("one completeness per survey")
    write_catalog(workdir / "PRIM.fits", "PRIM", primary, area_sr)
    files = ["PRIM.fits", ":pos_err"]
    for name, table in surveys.items():
        write_catalog(workdir / f"{name.upper()}.fits", name.upper(), table,
                      (areas or {}).get(name, area_sr))
        files += [f"{name.upper()}.fits", ":pos_err"]
    if len(surveys) == 1:
        args[-1] = repr(float(completeness[0]))
    args += ["--out", "out.fits", *extra_args, *files]
    env = dict(os.environ, MPLBACKEND="Agg")
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"nway failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    with fits.open(workdir / "out.fits") as hdul:
        data = Table(hdul[1].data)
    out = pd.DataFrame({"primary_id": np.asarray(data["PRIM_ID"], dtype=np.int64)})
    for name in surveys:
        sid = np.asarray(data[f"{name.upper()}_ID"], dtype=np.int64)
        out[f"{name}_id"] = np.where(sid == -99, -1, sid)  # NWAY writes -99 for none
    for col, src in (("p_i", "p_i"), ("p_any", "p_any"), ("match_flag", "match_flag"),
                     ("log_bf", "dist_bayesfactor"), ("ncat", "ncat")):
        out[col] = np.asarray(data[src], dtype=float if col != "match_flag" else int)
    if "dist_bayesfactor_corrected" in data.colnames:
        out["log_bf"] = np.asarray(data["dist_bayesfactor_corrected"], dtype=float)
    peaks = [int(line.split()[1]) for line in proc.stderr.splitlines()
             if line.startswith("NWAY_PEAK_KB ")]
    out.attrs["peak_rss_mb"] = peaks[-1] / 1024.0 if peaks else float("nan")
    return out, wall


def compare(ours: pd.DataFrame, ref: pd.DataFrame, survey_names: list[str]):
    """Join livecat's and NWAY's combinations; return (joined, per-source p_any diffs).

    Combinations are matched on (primary_id, <survey>_id...) with none as -1.
    """
    keys = ["primary_id"] + [f"{s}_id" for s in survey_names]
    mine = ours[keys + ["p_i", "p_any", "log_bf", "match_flag"]].copy()
    for s in survey_names:
        mine[f"{s}_id"] = mine[f"{s}_id"].astype("Int64").fillna(-1).astype(np.int64)
    joined = mine.merge(ref[keys + ["p_i", "p_any", "log_bf", "match_flag"]], on=keys,
                        how="outer", suffixes=("", "_nway"), indicator=True)
    src = joined.groupby("primary_id").agg(p_any=("p_any", "first"),
                                           p_any_nway=("p_any_nway", "first"))
    return joined, src
