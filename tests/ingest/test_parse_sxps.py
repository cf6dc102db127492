"""Parse + normalize of the Swift-XRT 2SXPS / LSXPS catalogues (no database, no network).

Fixtures: tests/data/sxps/*.csv (see its README); the real TAPVizieR answer is read from
``../shared/samples/sxps/`` (a missing sample fails).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from catalog.errors import SourceError
from ingest import sxps
from helpers import DATA, SAMPLES, assert_xray_contract

SAMPLE = (SAMPLES / "sxps"
          / "tapvizier_2sxps_3c273.json")
SXPS_DATA = DATA / "sxps"
TWO = SXPS_DATA / "2SXPS_Sources_excerpt.csv"
LIVE = SXPS_DATA / "LSXPS_Sources_excerpt.csv"
R90 = np.sqrt(-2 * np.log(0.1))  # 90 % radius / sigma, Rayleigh


def _rows(path: Path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _variant(path: Path, edits: dict[int, dict[str, str]]) -> bytes:
    header, rows = _rows(path)
    col = {h: i for i, h in enumerate(header)}
    for i, ch in edits.items():
        for k, v in ch.items():
            rows[i][col[k]] = v
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode()


def test_tapvizier_sample_3c273():
    assert SAMPLE.exists(), f"real sample missing: {SAMPLE}"
    df = sxps.parse(SAMPLE)
    assert {"2SXPS_ID", "RA", "Decl", "Err90", "DetFlag", "Rate_band0_neg",
            "PvarPchiSnapshot_band0", "PowFlux", "PowUnabsFlux"} <= set(df.columns)
    out = sxps.normalize(df)
    assert_xray_contract(out)
    s = out.sources.iloc[0]
    assert s.native_id == "13814" and s["name"] == "2SXPS J122906.6+020308"
    assert np.hypot((s.ra - 187.2779154) * np.cos(np.radians(2.05)),
                    s.dec - 2.0523883) * 3600 < s.pos_err_arcsec * 3
    assert s.pos_err_arcsec == pytest.approx(0.9 / R90)
    assert s.var_intra_prob == 1.0  # PvarPchiSnapshot_band0 = 0: certainly variable
    assert s["flags"]["det_good"] is True and s["flags"]["det_poor"] is False
    assert s["extra"]["PowUnabsFlux"] == pytest.approx(2.22e-10)  # CHAR(9) " 2.22e-10"
    assert s["extra"]["release"] == "2SXPS"
    rate = out.fluxes[out.fluxes.kind == "count_rate"].iloc[0]
    assert (rate.band, rate.band_lo_kev, rate.band_hi_kev) == ("0", 0.3, 10.0)
    assert rate.value == pytest.approx(4.73)
    assert rate.value_lo == pytest.approx(4.73 - 0.0079)  # e_CR0 quoted as -0.0079
    assert rate.value_hi == pytest.approx(4.73 + 0.0079)
    flux = out.fluxes[out.fluxes.kind == "energy_flux"].iloc[0]
    assert flux.value == pytest.approx(2.224e-10) and np.isnan(flux.value_lo)


def test_2sxps_csv_fixture():
    header, rows = _rows(TWO)
    out = sxps.normalize(sxps.parse(TWO))
    assert_xray_contract(out)
    assert out.sources.native_id.tolist() == [r[0] for r in rows]
    src = out.sources.set_index("native_id")
    a = src.loc["101"]
    assert a.var_intra_prob == pytest.approx(1 - 0.41)
    assert a.var_inter_prob == pytest.approx(1 - 0.002)
    assert a.n_obs == 4 and a["extra"]["FirstObsDate"] == "2006-03-01 10:11:12"
    assert a["flags"]["field_good"] is True and a["flags"]["optical_loading"] is False
    b = src.loc["102"]
    assert b["flags"]["det_good"] is False and b["flags"]["det_poor"] is False
    assert b["flags"]["optical_loading"] is True and b["flags"]["field_good"] is False
    assert np.isnan(b.var_inter_prob)
    c = src.loc["103"]
    assert c["flags"]["det_poor"] is True and c["flags"]["potential_alias"] is True
    assert c.dec == pytest.approx(-89.99972)
    fl = out.fluxes
    bands_101 = fl[(fl.native_id == "101") & (fl.kind == "count_rate")].set_index("band")
    assert list(bands_101.index) == ["0", "1", "2", "3"]
    assert tuple(bands_101.loc["1", ["band_lo_kev", "band_hi_kev"]]) == (0.3, 1.0)
    assert tuple(bands_101.loc["3", ["band_lo_kev", "band_hi_kev"]]) == (2.0, 10.0)
    assert bands_101.loc["2", "value_lo"] == pytest.approx(0.0140 - 0.0017)
    assert "1" not in set(fl[(fl.native_id == "102") & (fl.kind == "count_rate")].band)
    assert "3" not in set(fl[(fl.native_id == "103") & (fl.kind == "count_rate")].band)


def test_lsxps_csv_fixture():
    out = sxps.normalize(sxps.parse(LIVE))
    assert_xray_contract(out)
    s = out.sources.set_index("native_id").loc["5001"]
    assert s["extra"]["id_column"] == "LSXPS_ID" and s["extra"]["release"] == "LSXPS"
    assert s["extra"]["WhenModified"] == "2023-03-04 09:30:00"
    assert s.var_inter_prob == pytest.approx(1 - 1e-4)
    assert s.pos_err_arcsec == pytest.approx(4.1 / R90)


@pytest.mark.parametrize("edit, fragment", [
    ({"RA": ""}, "missing position: RA"),
    ({"Decl": "-90.5"}, "position out of range: Decl=-90.5"),
    ({"RA": "12h"}, "unparseable position: RA='12h'"),
    ({"2SXPS_ID": ""}, "missing id: column 2SXPS_ID is empty"),
    ({"2SXPS_ID": "101"}, "duplicate id: 2SXPS_ID=101 already appears in row 1"),
    ({"Err90": "-3"}, "negative error: Err90=-3.0"),
    ({"Rate_band0_pos": "-0.001"}, "negative error: Rate_band0_pos=-0.001"),
    ({"Rate_band0": "0.0o5"}, "unparseable value: Rate_band0='0.0o5'"),
])
def test_bad_rows(edit, fragment):
    out = sxps.normalize(sxps.parse(_variant(TWO, {1: edit})))
    assert len(out.sources) == 2 and out.rejects.row_number.tolist() == [2]
    assert fragment in out.rejects.reason.iloc[0]
    assert "expected" in out.rejects.reason.iloc[0]


def test_unreadable_inputs(tmp_path):
    header, rows = _rows(TWO)
    nodecl = tmp_path / "nodecl.csv"
    nodecl.write_text(",".join(h for h in header if h != "Decl") + "\n")
    with pytest.raises(SourceError, match=r"nodecl\.csv: missing required column\(s\) Decl"):
        sxps.parse(nodecl)
    noid = tmp_path / "noid.csv"
    noid.write_text("IAUName,RA,Decl\nx,1,2\n")
    with pytest.raises(SourceError, match=r"noid\.csv: missing required column\(s\) 2SXPS_ID"):
        sxps.parse(noid)
    binary = tmp_path / "table.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(SourceError, match=r"table\.bin: binary content where CSV"):
        sxps.parse(binary)
    gz = tmp_path / "table.fits.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 64)
    with pytest.raises(SourceError, match=r"table\.fits\.gz: gzip stream is truncated"):
        sxps.parse(gz)
