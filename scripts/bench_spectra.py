#!/usr/bin/env python
"""Benchmark the conversion of XMM-like band fluxes to the four CSC bands.

Synthetic XMM sources (default 50,000) at random sky positions, each with the seven 4XMM
energy-flux bands (1-5, 8, 9) stored as ``ingest.xmm`` stores them (value -/+ 1-sigma
error), 5 % of the band-5 fluxes zero (upper limits, so some sources fall back to other
routes). Prints:

* sources/s of :func:`catalog.flux_convert.convert_fluxes` (HI4PI N_H at every source,
  Morrison & McCammon absorption, Gamma = 2) to s, m, h and b;
* the same for a baseline measured in the same run: a per-source loop that computes each
  source's four factors with :func:`catalog.spectra.conversion_factor` (the obvious
  implementation), on a subsample, and the ratio of the two;
* the largest relative difference between the two on that subsample (they must agree).

Usage: python scripts/bench_spectra.py [--sources 50000] [--baseline 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.bands import COMMON_BANDS, CSC_BANDS_KEV, MISSION_BANDS  # noqa: E402
from catalog.flux_convert import convert_fluxes  # noqa: E402
from catalog.spectra import conversion_factor, galactic_nh_cm2  # noqa: E402


def xmm_like(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``xray_flux``-shaped rows and sources for ``n`` synthetic XMM sources."""
    rng = np.random.default_rng(seed)
    sources = pd.DataFrame({"source_id": np.arange(n), "catalog": "xmm",
                            "ra": rng.uniform(0, 360, n),
                            "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n)))})
    rows = []
    for band, (lo, hi) in MISSION_BANDS["xmm"][0].energy_flux.items():
        value = 10 ** rng.uniform(-15, -12, n)
        if band == "5":
            value[rng.random(n) < 0.05] = 0.0
        err = np.where(value > 0, value, 1e-15) * rng.uniform(0.05, 0.5, n)
        rows.append(pd.DataFrame({"source_id": sources["source_id"], "band": band,
                                  "kind": "energy_flux", "band_lo_kev": lo, "band_hi_kev": hi,
                                  "value": value, "value_lo": value - err,
                                  "value_hi": value + err}))
    return pd.concat(rows, ignore_index=True), sources


def baseline(fluxes: pd.DataFrame, sources: pd.DataFrame) -> dict:
    """Per-source loop: the four factors of each source's rank-1 routes, one call each."""
    native = {"s": (0.5, 2.0), "m": (1.0, 2.0), "h": (2.0, 12.0), "b": (0.5, 12.0)}
    out = {}
    for row in sources.itertuples():
        nh = float(galactic_nh_cm2(row.ra, row.dec))
        for band in COMMON_BANDS:
            out[row.source_id, band] = float(conversion_factor(
                *native[band], *CSC_BANDS_KEV[band], 2.0, nh))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=50_000)
    ap.add_argument("--baseline", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    fluxes, sources = xmm_like(args.sources, args.seed)
    convert_fluxes(fluxes[fluxes["source_id"] < 10], sources.iloc[:10])  # imports, map loading
    t = time.perf_counter()
    out = convert_fluxes(fluxes, sources)
    dt = time.perf_counter() - t
    rate = args.sources / dt
    print(f"convert_fluxes: {args.sources:,} XMM-like sources (7 bands) -> s, m, h, b in "
          f"{dt:.2f} s = {rate:,.0f} sources/s")
    counts = out.groupby("band")["from_band"].value_counts().unstack(fill_value=0)
    print("routes used:", {b: {k: int(v) for k, v in counts.loc[b].items() if v}
                           for b in COMMON_BANDS})

    sub = sources.iloc[:args.baseline]
    t = time.perf_counter()
    factors = baseline(fluxes[fluxes["source_id"].isin(sub["source_id"])], sub)
    dt_base = time.perf_counter() - t
    base_rate = len(sub) / dt_base
    print(f"baseline (per-source conversion_factor loop): {base_rate:,.0f} sources/s "
          f"({len(sub)} sources)")
    print(f"ratio: convert_fluxes is {rate / base_rate:.0f}x the baseline")
    mine = out[out["source_id"].isin(sub["source_id"])]
    first = mine[mine["from_band"].isin(["2+3", "3", "4+5", "9+5"])]
    diff = max(abs(r.factor / factors[r.source_id, r.band] - 1) for r in first.itertuples())
    print(f"largest relative factor difference on the rank-1 routes: {diff:.1e}")


if __name__ == "__main__":
    main()
