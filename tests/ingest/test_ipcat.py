"""Tests for ingest.ipcat against the recorded page layout in tests/data/ipcat/alpha.html."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from catalog.errors import InputError, SourceError
from ingest import ipcat

from helpers import DATA

FIXTURE = DATA / "ipcat" / "alpha.html"


@pytest.fixture(scope="module")
def html() -> str:
    return FIXTURE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parsed(html) -> pd.DataFrame:
    return ipcat.parse_ipcat_html(html)


@pytest.fixture(scope="module")
def normalized(parsed):
    return ipcat.normalize_ipcat(parsed)


def by_name(nc, name):
    rows = nc.sources[nc.sources["native_id"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0]


def test_fixture_parses_to_the_published_rows(parsed):
    assert len(parsed) == 13
    assert list(parsed.columns) == ipcat.PARSED_COLUMNS
    rows = {r.row_number: r for r in parsed.itertuples()}
    expected = [  # the rows quoted in issue 4
        (1, "001", "V1033 Cas", ["IGR J00234+6141", "1RXS J002258.3+614111"],
         "00 22 57.63", "+61 41 07.8", "4.033", "563.5", "*****"),
        (3, "004", "", ["1RXS J015317.9+744641", "RX J0153.3+7446"],
         "01 53 20.76", "+74 46 22.2", "3.9396", "1974?", "***"),
        (4, "", "TT Ari", [], "02 06 53.08", "+15 17 41.8", "3.3012", "", "*"),
        (6, "006", "GK Per", ["Nova Persei 1901"], "03 31 12.0", "+43 54 17",
         "47.9233", "351", "*****"),
        (7, "", "AH Eri", [], "04 22 38.10", "-13 21 30.2", "5.7384", "2520??", "*"),
    ]
    for rowno, number, var, alt, ra, dec, porb, pspin, level in expected:
        r = rows[rowno]
        assert (r.number, r.var_name, r.alt_names, r.ra, r.dec, r.porb_h, r.pspin_s,
                r.level) == (number, var, alt, ra, dec, porb, pspin, level)


def test_navigation_table_is_skipped_and_unclosed_lowercase_cells_read(parsed):
    assert "IP Home" not in set(parsed["var_name"])
    v405 = parsed[parsed["var_name"] == "V405 Aur"].iloc[0]
    assert (v405.number, v405.ra, v405.dec, v405.level) == (
        "008", "05 57 59.28", "+53 53 45.0", "****")
    assert v405.alt_names == ["RX J0558.0+5353"]


def test_alt_names_separated_by_commas(parsed):
    ex = parsed[parsed["var_name"] == "EX Hya"].iloc[0]
    assert ex.alt_names == ["4U 1228-29", "2A 1228-290"]


@pytest.mark.parametrize("text,names", [
    ("IGR J00234+6141 1RXS J002258.3+614111", ["IGR J00234+6141", "1RXS J002258.3+614111"]),
    ("1RXS J015317.9+744641 RX J0153.3+7446", ["1RXS J015317.9+744641", "RX J0153.3+7446"]),
    ("Nova Persei 1901", ["Nova Persei 1901"]),
    ("H0253+193 1WGA J0256.1+1925", ["H0253+193", "1WGA J0256.1+1925"]),
    ("2A 0526-328", ["2A 0526-328"]),
    ("H0253+193\n1WGA J0256.1+1925", ["H0253+193", "1WGA J0256.1+1925"]),
    ("4U 1228-29, 2A 1228-290", ["4U 1228-29", "2A 1228-290"]),
    ("", []),
])
def test_split_alt_names(text, names):
    assert ipcat.split_alt_names(text) == names


def test_normalize_fixture(normalized):
    nc = normalized
    s = nc.sources
    assert nc.kind == "literature"
    assert nc.n_read == 13 and len(s) == 13 and len(nc.rejects) == 0
    assert set(s["livecat_class"]) == {"CV"} and set(s["subclass"]) == {"IP"}
    assert s["native_id"].is_unique
    json.dumps(list(s["params"]), allow_nan=False)


def test_missing_name_uses_first_alt_name(normalized):
    r = by_name(normalized, "1RXS J015317.9+744641")
    assert r["name"] == "1RXS J015317.9+744641"
    assert r["params"]["alt_names"] == ["1RXS J015317.9+744641", "RX J0153.3+7446"]
    assert r["params"]["number"] == 4 and r["params"]["candidate"] is False
    assert r["confidence"] == 3.0


def test_positions_and_errors_from_quoted_precision(normalized):
    r = by_name(normalized, "V1033 Cas")
    assert r["ra"] == pytest.approx((22 * 60 + 57.63) / 3600 * 15, abs=1e-9)
    assert r["dec"] == pytest.approx(61 + 41 / 60 + 7.8 / 3600, abs=1e-9)
    # RA to 0.01 s -> 0.15" * cos(dec) = 0.071"; Dec to 0.1": the larger, 0.1"
    assert r["pos_err_arcsec"] == pytest.approx(0.1)
    gk = by_name(normalized, "GK Per")  # RA to 0.1 s, Dec to 1"
    assert gk["pos_err_arcsec"] == pytest.approx(
        max(1.5 * math.cos(math.radians(gk["dec"])), 1.0))
    ax = by_name(normalized, "AX J1740.1-2847")  # RA to 1 s, Dec to 0.1 arcmin
    assert ax["dec"] == pytest.approx(-(28 + 47.4 / 60))
    assert ax["pos_err_arcsec"] == pytest.approx(15 * math.cos(math.radians(ax["dec"])))
    ae = by_name(normalized, "AE Aqr")  # "-00 52 15.1": the sign of a zero degree field
    assert ae["dec"] == pytest.approx(-(52 / 60 + 15.1 / 3600))
    eri = by_name(normalized, "AH Eri")
    assert eri["dec"] < 0


def test_periods_keep_question_marks(normalized):
    p = by_name(normalized, "1RXS J015317.9+744641")["params"]
    assert p["pspin_s"] == {"value": 1974.0, "marker": "?", "text": "1974?"}
    p = by_name(normalized, "AH Eri")["params"]
    assert p["pspin_s"] == {"value": 2520.0, "marker": "??", "text": "2520??"}
    assert p["porb_h"] == {"value": 5.7384, "marker": None, "text": "5.7384"}
    assert by_name(normalized, "TT Ari")["params"]["pspin_s"] is None
    assert by_name(normalized, "AX J1740.1-2847")["params"]["porb_h"] is None


def test_unnumbered_rows_are_candidates(normalized):
    s = normalized.sources.set_index("native_id")
    candidates = {n for n, p in s["params"].items() if p["candidate"]}
    assert candidates == {"TT Ari", "AH Eri", "AX J1740.1-2847", "V533 Her"}
    assert s.loc["TT Ari", "params"]["number"] is None
    assert "candidate" in s.loc["TT Ari", "native_type"]
    assert s.loc["GK Per", "params"]["number"] == 6


def test_level_is_confidence(normalized):
    s = normalized.sources.set_index("native_id")
    assert s.loc["V1033 Cas", "confidence"] == 5.0
    assert s.loc["V405 Aur", "confidence"] == 4.0
    assert s.loc["AX J1740.1-2847", "confidence"] == 2.0
    assert s.loc["TT Ari", "confidence"] == 1.0
    assert s.loc["GK Per", "reference"].endswith("alpha.html")


def test_bad_rows_are_rejected_with_reasons(html):
    bad = html.replace("<TD>02 56 08.10</TD>", "<TD>25 56 08.10</TD>")  # XY Ari
    bad = bad.replace("<TD>04 22 38.10</TD>", "<TD>04h22x</TD>")       # AH Eri
    bad = bad.replace("<TD>&nbsp;</TD><TD>&nbsp;</TD><TD>AX J1740.1-2847</TD>",
                      "<TD>&nbsp;</TD><TD>&nbsp;</TD><TD>&nbsp;</TD>")  # no name at all
    bad = bad.replace("<TD>63.63?</TD><TD>*</TD>", "<TD>63.63?</TD><TD>*?</TD>")  # V533 Her
    bad = bad.replace("</TABLE>\n<HR>",
                      "<TR><TD>099</TD><TD>GK Per</TD><TD></TD><TD>03 31 12.0</TD>"
                      "<TD>+43 54 17</TD><TD></TD><TD></TD><TD>*</TD></TR>\n</TABLE>\n<HR>")
    nc = ipcat.normalize_ipcat(ipcat.parse_ipcat_html(bad))
    assert nc.n_read == 14
    assert len(nc.sources) == 9
    reasons = dict(zip(nc.rejects["row_number"], nc.rejects["reason"]))
    assert set(reasons) == {5, 7, 11, 12, 14}
    assert "XY Ari" in reasons[5] and "24 h" in reasons[5]
    assert "AH Eri" in reasons[7] and "sexagesimal" in reasons[7]
    assert "no Var. Name and no Alt. Name" in reasons[11]
    assert "asterisks" in reasons[12]
    assert "duplicate" in reasons[14]


def test_page_without_the_table_is_a_source_error():
    with pytest.raises(SourceError, match="no intermediate-polar table"):
        ipcat.parse_ipcat_html("<html><body><table><tr><td>x</td></tr></table></body></html>")


def test_parse_level():
    assert ipcat.parse_level(" *** ") == 3
    assert ipcat.parse_level("") is None
    with pytest.raises(InputError, match="asterisks"):
        ipcat.parse_level("******")
