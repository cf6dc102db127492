"""Tests for ingest.class_rules: the native-type -> class rules (ATNF pulsars, IP catalogue)."""

from __future__ import annotations

import math

import pytest

from catalog.taxonomy import validate_class
from ingest.class_rules import (IPCAT_RULES, PULSAR_RULES, classify_ip, classify_pulsar,
                                minimum_companion_mass)


def test_minimum_companion_mass_matches_the_mass_function():
    # PSR B1259-63 (J1302-6350): PB 1236.72 d, A1 1296.27 lt-s; ATNF lists MinMass ~3.1
    mmin = minimum_companion_mass(1236.724526, 1296.27448)
    assert 3.0 < mmin < 3.25
    # J0437-4715: PB 5.741 d, A1 3.3667 lt-s; a helium white dwarf, MinMass ~0.14
    mmin = minimum_companion_mass(5.741046, 3.36669)
    assert 0.12 < mmin < 0.16
    # the result solves (m sin i)^3/(mp+m)^2 = f exactly
    f = 4 * math.pi ** 2 * 3.36669 ** 3 / (4.925490947641267e-6 * (5.741046 * 86400) ** 2)
    assert mmin ** 3 / (1.35 + mmin) ** 2 == pytest.approx(f, rel=1e-9)
    assert math.isnan(minimum_companion_mass(math.nan, 1.0))
    assert math.isnan(minimum_companion_mass(1.0, 0.0))


# One case per pulsar rule: (kwargs, expected class, subclass, rule)
PULSAR_CASES = [
    (dict(types=[], companions=[("NS", False)], is_binary=True, pb_days=0.42,
          min_companion_mass_msun=1.1), "NS", "DNS", "psr-ns-companion"),
    (dict(types=[], companions=[("DNS", True)], is_binary=True), "NS", "DNS",
     "psr-ns-companion"),
    (dict(types=[], companions=[("MS", False)], is_binary=True, pb_days=1236.7,
          min_companion_mass_msun=3.1), "HMXB", None, "psr-massive-ms-companion"),
    (dict(types=[("HE", False)], companions=[("MS", False)], is_binary=True,
          associations=["OPT:Be-star"]), "HMXB", "gamma-ray-binary",
     "psr-massive-ms-companion"),
    (dict(types=[("HE", False)], companions=[("MS", False)], is_binary=True, pb_days=0.198,
          min_companion_mass_msun=0.13), "LMXB", "redback", "psr-redback"),
    (dict(types=[], companions=[("MS", True)], is_binary=True, pb_days=357.8,
          min_companion_mass_msun=0.65), "LMXB", None, "psr-low-mass-ms-companion"),
    (dict(types=[], companions=[("UL", False)], is_binary=True, pb_days=0.38,
          min_companion_mass_msun=0.02), "LMXB", "black-widow", "psr-black-widow"),
    (dict(types=[], companions=[("ULT", False)], is_binary=True, pb_days=66.5,
          min_companion_mass_msun=1e-5), "LMXB", None, "psr-ultralight-companion"),
    (dict(types=[], companions=[("He", False)], is_binary=True, pb_days=5.74),
     "LMXB", "MSP-WD", "psr-wd-companion"),
    (dict(types=[], companions=[("CO/NS", True)], is_binary=True, pb_days=8.7),
     "LMXB", "MSP-WD", "psr-wd-companion"),
    (dict(types=[], companions=[], is_binary=True, pb_days=2.0,
          min_companion_mass_msun=0.2), "LMXB", None, "psr-binary-low-mass"),
    (dict(types=[("BINARY", False)], companions=[], is_binary=True), None, None,
     "psr-binary-undetermined"),
    (dict(types=[], companions=[], is_binary=True, pb_days=18.8,
          min_companion_mass_msun=0.9), None, None, "psr-binary-undetermined"),
    (dict(types=[("AXP", False), ("NRAD", False)], companions=[], is_binary=False),
     "NS", "magnetar", "psr-magnetar"),
    (dict(types=[("XINS", False), ("NRAD", False)], companions=[], is_binary=False),
     "NS", "XINS", "psr-xins"),
    (dict(types=[("RRAT", False)], companions=[], is_binary=False), "NS", "RRAT",
     "psr-rrat"),
    (dict(types=[("NRAD", False), ("AXP", True)], companions=[], is_binary=False,
          p0_s=0.5), "NS", "pulsar", "psr-isolated"),
    (dict(types=[], companions=[], is_binary=False, p0_s=0.00155), "NS", "MSP",
     "psr-isolated"),
    (dict(types=[], companions=[], is_binary=False), "NS", "pulsar", "psr-isolated"),
]


@pytest.mark.parametrize("kwargs,cls,sub,rule", PULSAR_CASES)
def test_classify_pulsar_rules(kwargs, cls, sub, rule):
    result = classify_pulsar(**kwargs)
    assert (result.livecat_class, result.subclass, result.rule) == (cls, sub, rule)
    assert result.rule in PULSAR_RULES
    if cls is not None:
        assert validate_class(cls, sub) == (cls, sub)


def test_every_documented_pulsar_rule_is_exercised():
    assert {case[3] for case in PULSAR_CASES} == set(PULSAR_RULES)


def test_binary_evidence_beats_the_isolated_rules():
    # a spider that also has TYPE HE is still LMXB, never NS
    result = classify_pulsar([("HE", False)], [("UL", False)], is_binary=True,
                             pb_days=0.1)
    assert result.livecat_class == "LMXB"


def test_classify_ip():
    result = classify_ip(3)
    assert (result.livecat_class, result.subclass) == ("CV", "IP")
    assert result.rule in IPCAT_RULES
