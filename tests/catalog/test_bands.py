"""catalog.bands.MISSION_BANDS repeats what the ingest modules store (catalog may not import
ingest): the two must not drift apart."""

import pytest
from helpers import DATA, sample_path

from catalog.bands import CSC_BANDS_KEV, MISSION_BANDS, band_sets
from ingest import csc, erass, muwclass, sxps, xmm
from ingest.registry import REGISTRY


def one(catalog):
    (bs,) = MISSION_BANDS[catalog]
    return bs


def test_every_xray_catalog_key_has_its_bands():
    xray = {name for name, spec in REGISTRY.items() if spec.kind == "xray"}
    assert set(MISSION_BANDS) == xray | {muwclass.XRAY_CATALOG}
    assert all(bs.catalog in MISSION_BANDS for bs in band_sets())
    names = [bs.band_set for bs in band_sets()]
    assert len(names) == len(set(names))


def test_bands_equal_the_ingest_modules():
    assert one("csc").energy_flux == csc.BANDS == CSC_BANDS_KEV
    assert one("csc").count_rate == {}
    assert one("xmm").energy_flux == {str(k): v for k, v in xmm.BANDS.items()}
    main, hard = MISSION_BANDS["erass1"]
    assert (main.band_set, hard.band_set) == ("erass1-main", "erass1-hard")
    assert main.energy_flux == main.count_rate == erass.MAIN_BANDS
    assert hard.energy_flux == hard.count_rate == erass.HARD_BANDS
    for key in ("2sxps", "lsxps"):
        assert one(key).count_rate == sxps.BANDS
        assert one(key).energy_flux == {"0": sxps.BANDS["0"]}  # PowFlux only
    assert one("muwclass-csc").energy_flux == {
        band: (lo, hi) for band, lo, hi in muwclass.FLUX_BANDS.values()}


def test_every_bound_is_one_sigma():
    # 68 % limits (CSC, eRASS1) and 1-sigma errors (XMM, Swift): nothing to rescale today
    assert {bs.bounds_sigma for bs in band_sets()} == {1.0}
    assert all(bs.reference for bs in band_sets())


def _rows(module, path):
    out = module.normalize(module.parse(path))
    return out.fluxes


@pytest.mark.parametrize("catalog, module, path", [
    ("csc", csc, ("csc", "heasarc_csc_3c273.vot")),
    ("csc", csc, ("csc", "NGC3532_conesearch.csv")),
    ("xmm", xmm, ("xmm", "heasarc_xmmssc_5xmm_3c273.vot")),
    ("erass1", erass, ("erass1", "tapvizier_erass1m_proxima.json")),
    ("2sxps", sxps, ("sxps", "tapvizier_2sxps_3c273.json")),
])
def test_stored_rows_of_the_samples_are_bands_of_their_set(catalog, module, path):
    fluxes = _rows(module, sample_path(*path))
    sets = MISSION_BANDS[catalog]
    for row in fluxes.itertuples():
        table = [bs.energy_flux if row.kind == "energy_flux" else bs.count_rate
                 for bs in sets]
        assert any(t.get(row.band) == (row.band_lo_kev, row.band_hi_kev) for t in table), row


def test_swift_fixture_rows_are_rates_in_four_bands_and_one_energy_flux():
    fluxes = _rows(sxps, DATA / "sxps" / "2SXPS_Sources_excerpt.csv")
    kinds = fluxes.groupby("kind")["band"].unique()
    assert sorted(kinds["count_rate"]) == ["0", "1", "2", "3"]
    assert list(kinds["energy_flux"]) == ["0"]
