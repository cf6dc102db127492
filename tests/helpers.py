"""Helpers shared by the test modules (pytest puts tests/ on sys.path: ``from helpers import``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.normalized import XRAY_FLUX_COLUMNS, XRAY_SOURCE_COLUMNS

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
"""Real catalog samples, ../shared/samples beside the checkout (never copied in)."""


def sample_path(*parts: str) -> Path:
    """Path of a real sample under ../shared/samples; a missing sample fails the test."""
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"sample {path} is missing: tests read real catalog samples from "
                    f"../shared/samples beside the checkout")
    return path


def assert_xray_contract(out) -> None:
    """Assert that a NormalizedCatalog of kind xray follows ingest.normalized's contract."""
    assert list(out.sources.columns) == XRAY_SOURCE_COLUMNS
    assert list(out.fluxes.columns) == XRAY_FLUX_COLUMNS
    out.check_counts()
    assert out.sources["native_id"].is_unique
    json.dumps(list(out.sources["extra"]), allow_nan=False)
    json.dumps(list(out.sources["flags"]), allow_nan=False)
