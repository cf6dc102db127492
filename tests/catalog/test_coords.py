"""catalog.coords: the one sexagesimal parser, radii, regions and the angular separation.

The parser cases of psrcat (RAJ/DECJ, colon separated) and of the IP catalogue (blank
separated) that used to have parsers of their own are here, unchanged, next to the forms
a person types on the command line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catalog.coords import (Region, angular_separation_deg, parse_dec, parse_ra,
                            parse_radius_arcsec, parse_region, parse_sexagesimal,
                            sexagesimal_to_deg)
from catalog.errors import InputError


@pytest.mark.parametrize("text,hours,deg,unit_arcsec", [
    # psrcat RAJ/DECJ
    ("00:02:58.17", True, (2 * 60 + 58.17) / 240, 0.15),
    ("+62:16:09.4", False, 62 + 16 / 60 + 9.4 / 3600, 0.1),
    ("47:46:33.4", False, 47 + 46 / 60 + 33.4 / 3600, 0.1),  # unsigned (release 1.67)
    ("-27:51", False, -(27 + 51 / 60), 60.0),
    ("17:46", True, (17 + 46 / 60) * 15, 900.0),
    ("+57", False, 57.0, 3600.0),
    # the IP catalogue page
    ("00 22 57.63", True, (22 * 60 + 57.63) / 240, 0.15),
    ("+43 54 17", False, 43 + 54 / 60 + 17 / 3600, 1.0),
    ("-28 47.4", False, -(28 + 47.4 / 60), 6.0),
    ("17:40:09", True, (17 + 40 / 60 + 9 / 3600) * 15, 15.0),
    # unit letters: hours for RA unless marked as degrees
    ("12h30m", True, 12.5 * 15, 900.0),
    ("11h05m07.2s", True, (11 + 5 / 60 + 7.2 / 3600) * 15, 1.5),
    ("166d16m48s", True, 166 + 16 / 60 + 48 / 3600, 1.0),
    ("-58d51m00s", False, -(58 + 51 / 60), 1.0),
    ("-58°51′00″", False, -(58 + 51 / 60), 1.0),
])
def test_parse_sexagesimal(text, hours, deg, unit_arcsec):
    value, unit = parse_sexagesimal(text, hours=hours)
    assert value == pytest.approx(deg, abs=1e-12)
    assert unit == pytest.approx(unit_arcsec)


@pytest.mark.parametrize("text,hours", [
    ("-01:00:00", True), ("24:00:00", True), ("12:61:00", True), ("+91:00:00", False),
    ("", False), ("+01 00 00", True), ("12 60 00", True), ("24 00 00", True), ("ab", True),
    ("12.5 30", True), ("10h00m", False), ("400d", True),
])
def test_parse_sexagesimal_rejects(text, hours):
    with pytest.raises(InputError) as info:
        parse_sexagesimal(text, hours=hours)
    assert repr(text) in str(info.value)


def test_ra_in_any_sexagesimal_form_is_hours():
    expected = (11 + 5 / 60 + 7.2 / 3600) * 15
    for text in ("11 05 07.2", "11:05:07.2", "11h05m07.2s", " 11 05 07.2 "):
        assert parse_ra(text) == pytest.approx(expected, abs=1e-12), text
    assert parse_dec("-58 51 00") == pytest.approx(-58.85)
    assert parse_ra("166.28") == 166.28 and parse_dec("-58.85") == -58.85


@pytest.mark.parametrize("ra", ["400", "360", "-1", "nan", "inf"])
def test_ra_out_of_range_is_refused(ra):
    with pytest.raises(InputError, match="RA"):
        parse_ra(ra)


@pytest.mark.parametrize("dec", ["91", "-90.5", "+95 00 00"])
def test_dec_out_of_range_is_refused(dec):
    with pytest.raises(InputError, match="declination"):
        parse_dec(dec)


@pytest.mark.parametrize("text,arcsec", [
    ("60", 60.0), ("12arcmin", 720.0), ("0.2deg", 720.0), ("30 arcsec", 30.0), (5, 5.0),
    ("1.5e-3", 1.5e-3),
])
def test_radius(text, arcsec):
    assert parse_radius_arcsec(text) == pytest.approx(arcsec)


@pytest.mark.parametrize("text", ["0", "-3", "12 furlongs", "1kg", "200deg", "nan"])
def test_bad_radius_is_refused(text):
    with pytest.raises(InputError, match="radius"):
        parse_radius_arcsec(text)


def test_region_contains_and_describes():
    region = parse_region("11 05 07.2", "-58 51 00", "12arcmin")
    assert isinstance(region, Region)
    assert region.radius_arcsec == pytest.approx(720.0)
    inside = region.contains([region.ra, region.ra + 1.0], [region.dec, region.dec])
    assert inside.tolist() == [True, False]


def test_column_parser_reads_numbers_and_sexagesimal_and_flags_the_rest():
    column = pd.Series(["00 22 57.63", "18:16:13.25", "187.2779154", None, "bogus",
                        "25 00 00", "400"])
    values, bad = sexagesimal_to_deg(column, hours=True)
    assert values[0] == pytest.approx((22 / 60 + 57.63 / 3600) * 15)
    assert values[1] == pytest.approx((18 + 16 / 60 + 13.25 / 3600) * 15)
    assert values[2] == 187.2779154
    assert np.isnan(values[3]) and not bad[3]
    assert bad[4] and np.isnan(values[4])
    assert bad[5]                     # 25 h is not an RA
    assert values[6] == 400 and not bad[6]  # a number: the position check names it


def test_angular_separation_is_the_haversine():
    assert angular_separation_deg(0, 0, 0, 1) == pytest.approx(1.0)
    assert angular_separation_deg(359.5, 0, 0.5, 0) == pytest.approx(1.0)
    assert angular_separation_deg(10, 89.9, 190, 89.9) == pytest.approx(0.2)
