"""Write ngc3532_2mass_r10.csv: a CDS XMatch answer (RESPONSEFORMAT=csv) for the NGC 3532
X-ray sources against vizier:II/246/out within 10", built from the real samples.

Format: that of astroquery's recorded XMatch answer for II/246/out
(astroquery_query_res.csv here, a copy of astroquery 0.4.11
``astroquery/xmatch/tests/data/query_res.csv``): angDist (arcsec, 6 decimals), the uploaded
columns as uploaded, then XMatch's II/246/out columns 2MASS, RAJ2000, DEJ2000 (6 decimals),
errHalfMaj, errHalfMin (3 decimals), errPosAng (integer), Jmag, Hmag, Kmag, e_Jmag, e_Hmag,
e_Kmag (3 decimals, empty when null), Qfl, Rfl, X, MeasureJD (4 decimals).
The uploaded columns are livecat's (ingest.xmatch.UPLOAD_COLUMNS: xray_id = the 1-based row
of the source in csc/NGC3532_ave.csv, xray_ra/xray_dec = its ra/dec written as
ingest.xmatch uploads them, Python float repr).

Values: ../shared/samples/mw/NGC3532_2mass.csv (VizieR II/246/out columns of the counterpart
the reference pipeline chose for each source: errMaj/errMin/errPA, Qflg, Rflg, Xflg and JD
(astroquery id _tab1_36) -> XMatch's errHalfMaj/errHalfMin/errPosAng, Qfl, Rfl, X,
MeasureJD); angDist is the haversine separation of the two positions. The samples hold only
the chosen counterpart, so this answer has at most one pair per X-ray source, where the
real service would list every 2MASS source within 10".

Run from the repository root: python tests/data/xmatch/make_ngc3532_2mass.py
"""

import csv
import math
from pathlib import Path

import pandas as pd

from catalog.coords import angular_separation_deg

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2].parent / "shared" / "samples"
COLUMNS = ["angDist", "xray_id", "xray_ra", "xray_dec", "2MASS", "RAJ2000", "DEJ2000",
           "errHalfMaj", "errHalfMin", "errPosAng", "Jmag", "Hmag", "Kmag", "e_Jmag",
           "e_Hmag", "e_Kmag", "Qfl", "Rfl", "X", "MeasureJD"]


def fmt(value, decimals=None, integer=False):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if integer:
        return str(int(round(float(value))))
    return f"{float(value):.{decimals}f}" if decimals is not None else str(value)


def main():
    ave = pd.read_csv(SAMPLES / "csc" / "NGC3532_ave.csv")
    mw = pd.read_csv(SAMPLES / "mw" / "NGC3532_2mass.csv")
    rows = []
    for _, m in mw.iterrows():
        if pd.isna(m["_2MASS_2mass"]):
            continue
        q = int(m["_q"])
        ra, dec = float(ave["ra"].iloc[q - 1]), float(ave["dec"].iloc[q - 1])
        sep = float(angular_separation_deg(ra, dec, m["RAJ2000_2mass"],
                                           m["DEJ2000_2mass"])) * 3600.0
        rows.append([
            fmt(sep, 6), str(q), repr(ra), repr(dec), m["_2MASS_2mass"],
            fmt(m["RAJ2000_2mass"], 6), fmt(m["DEJ2000_2mass"], 6),
            fmt(m["errMaj_2mass"], 3), fmt(m["errMin_2mass"], 3),
            fmt(m["errPA_2mass"], integer=True),
            fmt(m["Jmag_2mass"], 3), fmt(m["Hmag_2mass"], 3), fmt(m["Kmag_2mass"], 3),
            fmt(m["e_Jmag_2mass"], 3), fmt(m["e_Hmag_2mass"], 3), fmt(m["e_Kmag_2mass"], 3),
            m["Qflg_2mass"], fmt(m["Rflg_2mass"], integer=True),
            fmt(m["Xflg_2mass"], integer=True), fmt(m["_tab1_36_2mass"], 4)])
    with open(HERE / "ngc3532_2mass_r10.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"{len(rows)} pairs")


if __name__ == "__main__":
    main()
