"""catalog.flux_convert.convert_fluxes on the real 3C 273 and Proxima Cen rows, format-faithful
fixtures, upper limits, every reason, and bad input."""

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, sample_path
from xray_fixtures import write_fits_fixture

from catalog.absorption import TabulatedCrossSection
from catalog.errors import InputError
from catalog.flux_convert import OUTPUT_COLUMNS, REASONS, convert_fluxes, reason_code, \
    reason_counts
from catalog.spectra import conversion_factor, galactic_nh_cm2
from ingest import csc, erass, sxps, xmm

M3C273 = ("csc", "heasarc_csc_3c273.vot"), ("xmm", "heasarc_xmmssc_5xmm_3c273.vot"), \
    ("sxps", "tapvizier_2sxps_3c273.json")
MODULES = {"csc": csc, "xmm": xmm, "erass1": erass, "2sxps": sxps}


def frames(*inputs):
    """(catalog key, path) pairs -> (fluxes, sources) as the xray_flux view gives them."""
    fluxes, sources, start = [], [], 1
    for catalog, path in inputs:
        out = MODULES[catalog].normalize(MODULES[catalog].parse(path))
        ids = dict(zip(out.sources["native_id"], range(start, start + len(out.sources))))
        start += len(ids)
        src = out.sources[["native_id", "ra", "dec"]].assign(catalog=catalog)
        src["source_id"] = src["native_id"].map(ids)
        fx = out.fluxes.assign(source_id=out.fluxes["native_id"].map(ids))
        sources.append(src.drop(columns="native_id"))
        fluxes.append(fx.drop(columns="native_id"))
    return pd.concat(fluxes, ignore_index=True), pd.concat(sources, ignore_index=True)


def by_band(out, source_id):
    return out[out["source_id"] == source_id].set_index("band")


def check_invariants(out, sources):
    assert list(out.columns) == OUTPUT_COLUMNS
    assert len(out) == 4 * len(sources)
    assert out["source_id"].tolist() == np.repeat(sources["source_id"].to_numpy(), 4).tolist()
    assert out["band"].tolist() == ["s", "m", "h", "b"] * len(sources)
    assert (out["value"].isna() == out["reason"].notna()).all()
    assert out["reason"].dtype == object and out["model"].dtype == object
    assert all(reason_code(r) in REASONS for r in out["reason"].dropna())
    assert out["native"].dtype == bool and out["extrapolated"].dtype == bool
    converted = out["value"].notna() & ~out["native"]
    assert out.loc[converted, "model"].notna().all()
    assert out.loc[out["native"], "model"].isna().all()


@pytest.fixture(scope="module")
def c3c273():
    fluxes, sources = frames(*[({"sxps": "2sxps"}.get(d, d), sample_path(d, f))
                               for d, f in M3C273])
    return convert_fluxes(fluxes, sources), sources


def test_3c273_b_fluxes_of_three_missions(c3c273):
    out, sources = c3c273
    check_invariants(out, sources)
    chandra, xmm_, swift = (by_band(out, i).loc["b"] for i in (1, 2, 3))
    assert chandra["native"] and chandra["factor"] == 1.0 and chandra["model"] is None
    assert chandra["value"] == pytest.approx(1.416805e-11, rel=1e-6)  # copied unchanged
    assert xmm_["from_band"] == "8" and swift["from_band"] == "0"
    assert xmm_["value"] == pytest.approx(9.87e-11, rel=2e-3)
    assert swift["value"] == pytest.approx(1.72e-10, rel=2e-3)
    # XMM and Swift agree within a factor 2; the CSC flux of this saturated, piled-up
    # source (sat_src_flag and pileup_flag T in the HEASARC row) is 3-30 times below
    assert 0.5 < xmm_["value"] / swift["value"] < 2
    for other in (xmm_, swift):
        assert 3 < other["value"] / chandra["value"] < 30
    nh = galactic_nh_cm2(sources["ra"][0], sources["dec"][0])
    assert xmm_["model"] == f"powerlaw gamma=2 nh={nh:.3e} xsect=mm83 observed"
    assert xmm_["model"].startswith("powerlaw gamma=2 nh=1.72")
    assert xmm_["factor"] == pytest.approx(float(conversion_factor(0.2, 12, 0.5, 7, 2.0, nh)))
    # bounds scale with the factor: 5XMM quotes a 1-sigma error
    assert xmm_["value_hi"] - xmm_["value"] == pytest.approx(xmm_["factor"] * 2.82e-14,
                                                             rel=0.01)


def test_3c273_csc_other_bands_come_from_its_b_band(c3c273):
    out, _ = c3c273
    chandra = by_band(out, 1)
    for band in "smh":
        row = chandra.loc[band]
        assert not row["native"] and row["from_band"] == "b" and row["reason"] is None
    assert chandra.loc[["s", "m", "h"], "value"].sum() == pytest.approx(
        chandra.loc["b", "value"], rel=1e-12)


@pytest.fixture(scope="module")
def proxima():
    return frames(("erass1", sample_path("erass1", "tapvizier_erass1m_proxima.json")))


def test_proxima_hard_and_broad_bands_are_refused(proxima):
    fluxes, sources = proxima
    out = convert_fluxes(fluxes, sources)
    check_invariants(out, sources)
    row = by_band(out, 1)
    assert row.loc["s", "from_band"] == "P2+P3" and row.loc["m", "from_band"] == "P3"
    p = fluxes.set_index("band")["value"]
    assert row.loc["s", "value"] == pytest.approx(row.loc["s", "factor"] * (p["P2"] + p["P3"]))
    for band, share in (("h", 0.09), ("b", 0.27)):
        reason = row.loc[band, "reason"]
        assert reason_code(reason) == "extrapolation refused"
        assert f"holds {share:.0%} of the model flux in {band}" in reason
        assert "P4, P5 of the best route" in reason and row.loc[band, "from_band"] == "1"
        assert row.loc[band, "measured_fraction"] == pytest.approx(share, abs=0.005)
    # HI4PI gives ~1e22 cm^-2 towards this Galactic-plane star, which is 1.3 pc away
    assert "nh=9.6" in row.loc["s", "model"]


def test_proxima_at_its_own_negligible_column(proxima):
    fluxes, sources = proxima
    out = by_band(convert_fluxes(fluxes, sources.assign(nh_cm2=0.0)), 1)
    assert out.loc["b", "extrapolated"] and out.loc["b", "value"] > 0
    assert out.loc["b", "measured_fraction"] == pytest.approx(np.log(4.6) / np.log(14),
                                                              rel=1e-9)
    assert reason_code(out.loc["h", "reason"]) == "extrapolation refused"
    assert "nh=0.000e+00" in out.loc["b", "model"]


def test_a_full_erass1_row_with_p4_p5_reaches_h(tmp_path):
    bands = ("1", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")
    row = {"IAUNAME": "1eRASS J120000.0-300000", "UID": 112345600001, "RA": 180.0,
           "DEC": -30.0, "POS_ERR": 2.0, "DET_LIKE_0": 40.0}
    for b, f in zip(bands, (3e-13, 5e-14, 1e-13, 8e-14, 2e-13, 1e-13, 1.5e-13, 1e-14,
                            1e-14, 1e-14)):
        row[f"ML_FLUX_{b}"], row[f"ML_FLUX_ERR_{b}"] = f, 0.2 * f
    path = write_fits_fixture(tmp_path / "main.fits", [row], main_bands=bands)
    fluxes, sources = frames(("erass1", path))
    out = convert_fluxes(fluxes, sources)
    check_invariants(out, sources)
    h = by_band(out, 1).loc["h"]
    assert h["from_band"] == "P4+P5" and not h["extrapolated"] and h["reason"] is None
    assert h["value"] == pytest.approx(h["factor"] * 3e-13, rel=1e-6)
    err = h["factor"] * np.hypot(0.2 * 2e-13, 0.2 * 1e-13)
    assert h["value"] - h["value_lo"] == pytest.approx(err, rel=1e-5)
    assert by_band(out, 1).loc["b", "from_band"] == "P2+P3+P4+P5"


def test_erass1_hard_h_from_band_3_alone(tmp_path):
    row = {"IAUNAME": "1eRASS J010000.0+100000", "UID": 212345600001, "RA": 15.0,
           "DEC": 10.0, "POS_ERR": 3.0}
    for b, f in zip("0123", (6e-13, 1e-13, 2e-13, 3e-13)):
        row[f"ML_FLUX_{b}"], row[f"ML_FLUX_ERR_{b}"] = f, 0.3 * f
    fluxes, sources = frames(("erass1", write_fits_fixture(tmp_path / "h.fits", [row],
                                                           hard=True)))
    h = by_band(convert_fluxes(fluxes, sources), 1).loc["h"]
    assert h["from_band"] == "3" and h["extrapolated"] and h["coverage"] == pytest.approx(0.54)
    assert h["measured_fraction"] > 0.5


def xmm_frames(values, errors=None, catalog="xmm", source_id=7, ra=10.0, dec=-20.0):
    """One XMM-like source: band -> value (rows as ingest.xmm stores them: value -/+ err)."""
    kev = {"1": (0.2, 0.5), "2": (0.5, 1.0), "3": (1.0, 2.0), "4": (2.0, 4.5),
           "5": (4.5, 12.0), "8": (0.2, 12.0), "9": (0.5, 4.5)}
    errors = errors or {b: 0.1 * v if v > 0 else 1e-15 for b, v in values.items()}
    fluxes = pd.DataFrame([{"source_id": source_id, "band": b, "kind": "energy_flux",
                            "band_lo_kev": kev[b][0], "band_hi_kev": kev[b][1], "value": v,
                            "value_lo": v - errors[b], "value_hi": v + errors[b]}
                           for b, v in values.items()])
    sources = pd.DataFrame({"source_id": [source_id], "catalog": [catalog], "ra": [ra],
                            "dec": [dec]})
    return fluxes, sources


FULL = {"1": 2e-14, "2": 3e-14, "3": 4e-14, "4": 3e-14, "5": 2e-14, "8": 1.3e-13,
        "9": 1.0e-13}


def test_xmm_routes_and_summed_errors():
    out = by_band(convert_fluxes(*xmm_frames(FULL)), 7)
    h = out.loc["h"]
    assert h["from_band"] == "4+5" and (h["from_lo_kev"], h["from_hi_kev"]) == (2.0, 12.0)
    assert h["value"] == pytest.approx(h["factor"] * 5e-14, rel=1e-12)
    assert h["value"] - h["value_lo"] == pytest.approx(h["factor"] * np.hypot(3e-15, 2e-15),
                                                       rel=1e-9)
    assert out.loc["b", "from_band"] == "9+5" and out.loc["m", "from_band"] == "3"


def test_a_missing_or_upper_limit_band_falls_back_to_the_next_route():
    for five in ({"5": 0.0}, {}):  # band 5 an upper limit (0 -/+ err), or absent
        values = {**{k: v for k, v in FULL.items() if k != "5"}, **five}
        out = by_band(convert_fluxes(*xmm_frames(values)), 7)
        assert out.loc["h", "from_band"] == "8" and not out.loc["h", "extrapolated"]
        assert out.loc["b", "from_band"] == "2+3+4" or out.loc["b", "from_band"] == "8"


def test_only_upper_limits_give_a_converted_upper_limit():
    values = {"4": 0.0, "5": 0.0}
    out = by_band(convert_fluxes(*xmm_frames(values, {"4": 2e-15, "5": 3e-15})), 7)
    h = out.loc["h"]
    assert h["reason"] == "upper limit only" and np.isnan(h["value"])
    assert np.isnan(h["value_lo"]) and h["from_band"] == "4+5"
    assert h["value_hi"] == pytest.approx(h["factor"] * 5e-15, rel=1e-12)
    assert reason_code(out.loc["s", "reason"]) == "unreachable"
    assert "bands 2, 3 of the best route 2+3" in out.loc["s", "reason"]


def test_csc_non_detections_stay_upper_limits():
    fluxes, sources = frames(("csc", sample_path("csc", "NGC3532_conesearch.csv")))
    out = convert_fluxes(fluxes, sources)
    check_invariants(out, sources)
    stored = fluxes.set_index(["source_id", "band"])
    zero_h = stored.xs("h", level="band").query("value == 0 and value_lo == 0")
    assert len(zero_h) > 100  # the hard band of this field is mostly a non-detection
    rows = out[(out["band"] == "h") & out["source_id"].isin(zero_h.index)]
    assert (rows["reason"] == "upper limit only").all() and rows["native"].all()
    assert np.allclose(rows["value_hi"], zero_h.loc[rows["source_id"], "value_hi"])
    detected = out[out["native"] & out["value"].notna()]
    joined = stored.loc[list(zip(detected["source_id"], detected["band"]))]
    assert np.array_equal(detected["value"].to_numpy(), joined["value"].to_numpy())
    assert np.array_equal(detected["value_lo"].to_numpy(), joined["value_lo"].to_numpy(),
                          equal_nan=True)


def test_every_other_reason():
    rates = pd.DataFrame([{"source_id": 1, "band": "1", "kind": "count_rate",
                           "band_lo_kev": 0.3, "band_hi_kev": 1.0, "value": 0.01,
                           "value_lo": 0.008, "value_hi": 0.012}])
    no_value = pd.DataFrame([{"source_id": 3, "band": "0", "kind": "energy_flux",
                              "band_lo_kev": 0.3, "band_hi_kev": 10.0, "value": np.nan,
                              "value_lo": 1e-14, "value_hi": np.nan}])
    soft_only, _ = xmm_frames({"1": 1e-14}, source_id=4)
    nowhere, _ = xmm_frames({"4": 1e-14}, source_id=5)
    fluxes = pd.concat([rates, no_value, soft_only, nowhere], ignore_index=True)
    sources = pd.DataFrame({"source_id": [1, 2, 3, 4, 5], "catalog": ["2sxps", "lsxps",
                                                                      "2sxps", "xmm", "xmm"],
                            "ra": [1.0, 2.0, 3.0, 4.0, np.nan], "dec": [0.0] * 4 + [np.nan]})
    out = convert_fluxes(fluxes, sources)
    check_invariants(out, sources)
    first = out.groupby("source_id")["reason"].first()
    assert first[1].startswith("no energy flux: the catalog stores only count rates")
    assert first[2] == "no measured value: the source has no flux rows"
    assert first[3].startswith("no measured value: no band holds a value")
    assert first[4] == ("unreachable: bands 2, 3 of the best route 2+3 (0.5-2 keV) not "
                        "measured")
    h = out[out["band"] == "h"].set_index("source_id")["reason"]
    assert h[5] == "no N_H: the conversion needs N_H; the source has none and no position"
    counts = reason_counts(out)
    assert list(counts.index) == list(REASONS)
    assert counts.sum() == out["reason"].notna().sum()


def test_own_spectrum_and_cross_section_are_used():
    fluxes, sources = xmm_frames(FULL)
    tbabs = TabulatedCrossSection.from_file(sample_path("muwclass", "tbabs.data"),
                                            extrapolate_high=True)
    out = by_band(convert_fluxes(fluxes, sources.assign(gamma=1.5, nh_cm2=3e21),
                                 cross_section=tbabs), 7)
    assert out.loc["h", "model"] == "powerlaw gamma=1.5 nh=3.000e+21 xsect=tbabs observed"
    assert out.loc["h", "factor"] == pytest.approx(float(conversion_factor(
        2, 12, 2, 7, 1.5, 3e21, cross_section=tbabs)), rel=1e-12)
    fixed = by_band(convert_fluxes(fluxes, sources, gamma=1.7, nh_cm2=1e20), 7)
    assert fixed.loc["b", "model"] == "powerlaw gamma=1.7 nh=1.000e+20 xsect=mm83 observed"


def test_a_batch_equals_one_source_at_a_time(c3c273):
    fluxes, sources = frames(("xmm", sample_path("xmm", "heasarc_xmmssc_5xmm_3c273.vot")),
                             ("2sxps", DATA / "sxps" / "2SXPS_Sources_excerpt.csv"),
                             ("erass1", sample_path("erass1", "tapvizier_erass1m_proxima.json")))
    together = convert_fluxes(fluxes, sources)
    alone = pd.concat([convert_fluxes(fluxes[fluxes["source_id"] == i],
                                      sources[sources["source_id"] == i])
                       for i in sources["source_id"]], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)


@pytest.mark.parametrize("change, message", [
    (lambda f, s: (f, s.assign(catalog="chandra")), r"sources row 0 .*unknown catalog 'chandra'"),
    (lambda f, s: (f.assign(band_lo_kev=0.3), s),
     r"fluxes row 0 \(source_id 7\): energy_flux band '4' 0.3-4.5 keV is not a band of "
     r"catalog 'xmm' \(expected one of: 1 0.2-0.5 keV"),
    (lambda f, s: (f.assign(value_hi=f["value_lo"]), s), r"fluxes row 0 .*bounds not around"),
    (lambda f, s: (pd.concat([f, f.iloc[:1]]), s), r"fluxes row 2 .*a second row"),
    (lambda f, s: (f.assign(source_id=8), s), r"fluxes row 0 \(source_id 8.*not in sources"),
    (lambda f, s: (f, s.assign(nh_cm2=-1.0)), r"sources row 0 .*negative N_H"),
    (lambda f, s: (f.assign(value=["x", 1e-14]), s), r"fluxes row 0 .*value is not a number"),
    (lambda f, s: (f.assign(kind="photon_flux"), s), r"fluxes row 0 .*kind is not one of"),
    (lambda f, s: (f.drop(columns="value_hi"), s), r"fluxes lacks column\(s\) value_hi"),
    (lambda f, s: (f, pd.concat([s, s])), r"sources row 1: source_id 7 appears twice"),
    (lambda f, s: (f, s.assign(dec=95.0)), r"sources row 0 .*position outside"),
])
def test_bad_input_names_the_row(change, message):
    fluxes, sources = xmm_frames({"4": 1e-14, "5": 2e-14})
    with pytest.raises(InputError, match=message):
        convert_fluxes(*change(fluxes, sources))


def test_erass1_main_and_hard_rows_of_one_source_are_an_error():
    main = {"source_id": 1, "kind": "energy_flux", "value": 1e-14, "value_lo": np.nan,
            "value_hi": np.nan}
    fluxes = pd.DataFrame([{**main, "band": "P4", "band_lo_kev": 2.0, "band_hi_kev": 5.0},
                           {**main, "band": "3", "band_lo_kev": 2.3, "band_hi_kev": 5.0}])
    sources = pd.DataFrame({"source_id": [1], "catalog": ["erass1"], "ra": [1.0],
                            "dec": [2.0]})
    with pytest.raises(InputError, match="source_id 1: fluxes from two band sets "
                                         r"\(erass1-hard, erass1-main\)"):
        convert_fluxes(fluxes, sources)
