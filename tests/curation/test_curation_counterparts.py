"""Curators see the association: `curate show` lists the survey sources around a
candidate with their p_i, readable at 100 columns, and the finding chart draws them."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import fetch_ngc3532_samples, invoke, sample_path, use_private_home

from associate.match import match_counterparts
from ingest.load import load_catalog
from ingest.normalized import LITERATURE_COLUMNS, NormalizedCatalog
from ingest.pipeline import ingest

SOURCE = "2CXO J110510.3-585029"


@pytest.fixture
def candidate(clean_tables, db_url, monkeypatch, tmp_path):
    use_private_home(tmp_path, monkeypatch)
    engine = clean_tables
    ingest(engine, "csc", file=sample_path("csc", "NGC3532_ave.csv"), release="2.0")
    fetch_ngc3532_samples(db_url, monkeypatch)
    match_counterparts(engine, catalogs=["csc"])
    # one literature object 0.3" from the X-ray source
    obj = pd.DataFrame([{"native_id": "star 1", "name": "star 1", "ra": 166.29330,
                         "dec": -58.84144, "pos_err_arcsec": 0.1, "livecat_class": "LM-STAR",
                         "subclass": None, "native_type": "star", "reference": None,
                         "confidence": None, "params": {}}])[LITERATURE_COLUMNS]
    load_catalog(engine, "lit", NormalizedCatalog("literature", obj, 1), version="1")
    res = invoke(["curate", "candidates", "--catalog", "lit"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    return engine


def test_show_lists_survey_sources_with_their_probabilities(candidate, db_url, monkeypatch,
                                                            tmp_path):
    monkeypatch.setenv("COLUMNS", "100")
    res = invoke(["curate", "show", "1", "--chart", str(tmp_path / "c1.png")], monkeypatch,
                 db_url)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "survey sources around the X-ray candidates" in out
    for survey in ("gaia_dr3", "2mass", "allwise", "catwise2020"):
        assert survey in out
    assert "chosen multiwavelength counterparts" in out and "g=15.49" in out
    # the multiwavelength tables fit 100 columns (the columns are chosen, not truncated)
    start = out.index("chosen multiwavelength counterparts")
    assert max(len(line) for line in out[start:].splitlines()[:-1]) <= 100
    assert (tmp_path / "c1.png").stat().st_size > 5000
    details = invoke(["curate", "show", "1", "--format", "json"], monkeypatch, db_url)
    import json

    data = json.loads(details.stdout)
    ps = {r["survey"]: r["p_i"] for r in data["survey_candidates"]}
    assert set(ps) == {"gaia_dr3", "2mass", "allwise", "catwise2020"}
    assert all(p > 0.9 for p in ps.values())
