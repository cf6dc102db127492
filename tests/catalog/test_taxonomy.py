"""Tests for catalog.taxonomy: the eight MUWCLASS classes and their subclasses."""

from __future__ import annotations

import csv

import pytest

from catalog.errors import InputError
from catalog import taxonomy
from catalog.taxonomy import CLASSES, SUBCLASSES, parse_class, validate_class

from helpers import SAMPLES


def test_classes_are_the_muwclass_training_set_classes():
    td = SAMPLES / "muwclass" / "TD_train.csv"
    assert td.is_file(), f"missing sample {td} (see ../shared/samples/README.md)"
    with td.open(newline="") as fh:
        published = {row["True_Class"] for row in csv.DictReader(fh) if row["True_Class"]}
    assert published == set(CLASSES)
    assert len(CLASSES) == 8


def test_every_class_has_a_description_and_subclass_list():
    assert set(SUBCLASSES) == set(CLASSES)
    for name, text in CLASSES.items():
        assert len(text) > 100, name
    assert "IP" in SUBCLASSES["CV"]
    assert {"magnetar", "XINS"} <= set(SUBCLASSES["NS"])
    assert {"redback", "black-widow"} <= set(SUBCLASSES["LMXB"])


def test_validate_class_canonicalises_case_and_blanks():
    assert validate_class("cv", "ip") == ("CV", "IP")
    assert validate_class(" HM-STAR ") == ("HM-STAR", None)
    assert validate_class("LMXB", "") == ("LMXB", None)


def test_unknown_class_error_names_it_and_lists_the_allowed_ones():
    with pytest.raises(InputError) as info:
        validate_class("XRB")
    message = str(info.value)
    assert "'XRB'" in message
    for name in CLASSES:
        assert name in message


def test_unknown_subclass_error_names_it_and_the_class():
    with pytest.raises(InputError) as info:
        validate_class("CV", "magnetar")
    message = str(info.value)
    assert "'magnetar'" in message and "CV" in message and "IP" in message


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_missing_class_is_an_error(bad):
    with pytest.raises(InputError):
        validate_class(bad)


def test_parse_class():
    assert parse_class("CV/IP") == ("CV", "IP")
    assert parse_class("NS") == ("NS", None)
    assert parse_class("lmxb/Redback") == ("LMXB", "redback")
    assert taxonomy.format_class("cv", "ip") == "CV/IP"
    with pytest.raises(InputError, match="'Star'"):
        parse_class("Star/flare")
    with pytest.raises(InputError, match="'foo'"):
        parse_class("NS/foo")
