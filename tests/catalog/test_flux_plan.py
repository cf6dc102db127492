"""catalog.flux_plan: which native bands reach each CSC band, and the conversion table."""

import numpy as np
import pandas as pd
import pytest

from catalog.absorption import TabulatedCrossSection
from catalog.bands import band_sets
from catalog.errors import InputError
from catalog.flux_plan import (
    MIN_MEASURED_FRACTION,
    REASONS,
    TABLE_COLUMNS,
    conversion_table,
    reason_code,
    route_fractions,
    routes,
)
from catalog.spectra import conversion_factor
from helpers import sample_path


def best(band_set, target):
    return routes(band_set, target)[0]


def test_the_routes_of_the_report():
    assert best("xmm", "h").name == "4+5"
    assert best("xmm", "b").name == "9+5"  # ties 2+3+4+5 on purity, fewer bands
    assert best("xmm", "m").name == "3"
    assert best("erass1-hard", "h").name == "3"  # 2.3-5 keV: coverage 0.54 x purity 1
    assert best("erass1-main", "h").name == "P4+P5"
    assert best("2sxps", "s").name == "0"
    for target in "smhb":
        route = best("csc", target)
        assert route.exact and route.name == target and route.rank == 1


def test_ranking_full_coverage_first_then_coverage_times_purity_then_fewer_bands():
    for bs in band_sets():
        for target in "smhb":
            found = routes(bs.band_set, target)
            assert [r.rank for r in found] == list(range(1, len(found) + 1))
            keys = [(r.coverage < 1, -round(r.coverage * r.purity, 12), len(r.bands))
                    for r in found]
            assert keys == sorted(keys)
            assert all(0 < r.coverage <= 1 and 0 < r.purity <= 1 for r in found)


def test_chains_are_adjacent_bands():
    for route in routes("xmm", "b"):
        kev = [{"1": (0.2, 0.5), "2": (0.5, 1.0), "3": (1.0, 2.0), "4": (2.0, 4.5),
                "5": (4.5, 12.0), "8": (0.2, 12.0), "9": (0.5, 4.5)}[b] for b in route.bands]
        assert all(a[1] == b[0] for a, b in zip(kev, kev[1:]))
        assert route.native_kev == (kev[0][0], kev[-1][1])


def test_unknown_names_are_errors():
    with pytest.raises(InputError, match="unknown band set 'xmm2'"):
        routes("xmm2", "h")
    with pytest.raises(InputError, match="unknown target band 'u'"):
        routes("xmm", "u")
    with pytest.raises(InputError, match="unknown catalog"):
        conversion_table(["chandra"])


def test_route_factor_is_the_band_flux_ratio():
    route = best("xmm", "h")
    factor, frac = route_fractions(route, 2.0, 1e21)
    assert factor == pytest.approx(float(conversion_factor(2.0, 12.0, 2.0, 7.0, 2.0, 1e21)))
    assert frac == 1.0


def test_extrapolation_needs_half_of_the_model_flux():
    # eRASS1 Main band 1 (0.2-2.3 keV) to h (2-7 keV): 2-2.3 keV holds ~10 % of it
    route = next(r for r in routes("erass1-main", "h") if r.name == "1")
    assert route.extrapolated and route.overlap_kev == (2.0, 2.3)
    _, frac = route_fractions(route, 2.0, 0.0)
    assert frac == pytest.approx(np.log(2.3 / 2.0) / np.log(3.5), rel=1e-12)
    assert frac < MIN_MEASURED_FRACTION
    # to b (0.5-7): 58 % of an unabsorbed Gamma = 2 power law, but absorption by
    # N_H ~1e22 removes the soft part the band measures
    route = next(r for r in routes("erass1-main", "b") if r.name == "1")
    (open_frac,), (absorbed,) = (route_fractions(route, [2.0], [nh])[1] for nh in (0, 9.6e21))
    assert open_frac > MIN_MEASURED_FRACTION > absorbed


@pytest.fixture(scope="module")
def table():
    return conversion_table()


def test_conversion_table_schema(table):
    assert list(table.columns) == TABLE_COLUMNS
    assert str(table["rank"].dtype) == "Int64"
    assert table["extrapolated"].dtype == bool and table["observed"].dtype == bool
    assert table["reason"].dtype == object and table["native_bands"].dtype == object
    for col in ("target_lo_kev", "native_hi_kev", "coverage", "gamma", "nh_cm2",
                "measured_fraction", "factor"):
        assert pd.api.types.is_float_dtype(table[col]), col
    assert set(table["cross_section"]) == {"mm83"} and table["observed"].all()
    assert ((table["coverage"] > 0) & (table["coverage"] <= 1)).all()
    assert table["measured_fraction"].between(0, 1).all()


def test_conversion_table_value_or_reason(table):
    refused = table["factor"].isna()
    assert (refused == table["reason"].notna()).all()
    assert refused.any() and (~refused).any()
    assert {reason_code(r) for r in table.loc[refused, "reason"]} == {"extrapolation refused"}
    assert (table.loc[refused, "measured_fraction"] < MIN_MEASURED_FRACTION).all()
    assert table.loc[refused, "extrapolated"].all()
    # a full-coverage route is never refused, and every band set reaches every CSC band
    # up to N_H = 1e22; behind 1e23 the eRASS1 Hard bands (to 5 keV) miss most of a hard
    # source's 2-7 keV flux, which has moved above 5 keV
    assert not table.loc[~table["extrapolated"], "factor"].isna().any()
    reached = table.groupby(["band_set", "target_band", "gamma", "nh_cm2"])["factor"].apply(
        lambda f: f.notna().any())
    assert reached.xs(1e22, level="nh_cm2").all()
    assert set(reached[~reached].index.get_level_values("band_set")) == {"erass1-hard"}


def test_conversion_table_covers_the_grid(table):
    n_routes = sum(len(routes(bs.band_set, t)) for bs in band_sets() for t in "smhb")
    assert len(table) == n_routes * 4 * 5
    xmm_h = table[(table["catalog"] == "xmm") & (table["target_band"] == "h")
                  & (table["rank"] == 1) & (table["gamma"] == 2.0) & (table["nh_cm2"] == 1e21)]
    assert xmm_h[["native_bands", "native_lo_kev", "native_hi_kev"]].values.tolist() == [
        ["4+5", 2.0, 12.0]]
    assert xmm_h["factor"].iloc[0] == pytest.approx(float(conversion_factor(
        2.0, 12.0, 2.0, 7.0, 2.0, 1e21)), rel=1e-12)
    csc = table[(table["catalog"] == "csc") & (table["rank"] == 1)]
    assert (csc["factor"] == 1.0).all()


def test_conversion_table_with_another_cross_section():
    tbabs = TabulatedCrossSection.from_file(sample_path("muwclass", "tbabs.data"),
                                            name="tbabs", extrapolate_high=True)
    t = conversion_table(["2sxps"], gammas=[2.0], nh_grid=[1e22], cross_section=tbabs)
    assert set(t["cross_section"]) == {"tbabs"} and len(t) == 4


def test_reason_codes():
    assert reason_code("upper limit only") == "upper limit only"
    assert reason_code("unreachable: band 4 missing") == "unreachable"
    assert reason_code(None) is None
    assert set(REASONS) == {"upper limit only", "unreachable", "extrapolation refused",
                            "no energy flux", "no measured value", "no N_H"}
    with pytest.raises(ValueError):
        reason_code("it broke")
