"""Helpers shared by the test modules (pytest puts tests/ on sys.path: ``from helpers import``)."""

from __future__ import annotations

import json
import re
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from ingest.normalized import XRAY_FLUX_COLUMNS, XRAY_SOURCE_COLUMNS

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
"""Real catalog samples, ../shared/samples beside the checkout (never copied in)."""
DATA = Path(__file__).resolve().parent / "data"
"""Hand-written fixtures and recorded answers of the tests (tests/data)."""
PAUSE_RUNNER = Path(__file__).resolve().parent / "pause_before_commit.py"
"""Runs livecat pausing each load before it commits (see that file)."""
PAUSE_MARKER = "livecat-load: paused before commit"


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


def mark_searched(engine, source_ids=None, surveys=("gaia_dr3", "2mass", "allwise"),
                  radius_arcsec: float = 10.0) -> None:
    """Record X-ray sources (default: all) as searched for counterparts in ``surveys``
    (a ``mw_coverage`` row each, in a test release of each survey), as
    ``livecat counterparts fetch`` would: the classifier labels only searched sources."""
    with engine.begin() as conn:
        for survey in surveys:
            release = conn.execute(sa.text(
                "INSERT INTO livecat.catalog_release (catalog, version, state) VALUES "
                "(:s, 'test', 'partial') ON CONFLICT (catalog, version) DO UPDATE SET "
                "state = EXCLUDED.state RETURNING id"), {"s": survey}).scalar_one()
            conn.execute(sa.text(
                "INSERT INTO livecat.mw_coverage (xray_source_id, survey, ra, dec, "
                "radius_arcsec, release_id) SELECT id, :s, ra, dec, :r, :rel "
                "FROM livecat.xray_source WHERE (CAST(:ids AS bigint[]) IS NULL "
                "OR id = ANY(CAST(:ids AS bigint[]))) ON CONFLICT DO NOTHING"),
                {"s": survey, "r": radius_arcsec, "rel": release,
                 "ids": None if source_ids is None else [int(i) for i in source_ids]})


#: The cross-mission samples: catalog -> (folder, file): 3C 273 in CSC, 5XMM and 2SXPS,
#: Proxima Cen in eRASS1.
MISSION_SAMPLES = {
    "csc": ("csc", "heasarc_csc_3c273.vot"),
    "xmm": ("xmm", "heasarc_xmmssc_5xmm_3c273.vot"),
    "2sxps": ("sxps", "tapvizier_2sxps_3c273.json"),
    "erass1": ("erass1", "tapvizier_erass1m_proxima.json"),
}


def ingest_mission_samples(engine) -> None:
    """Ingest :data:`MISSION_SAMPLES` as complete releases ``sample``."""
    from ingest.pipeline import ingest

    for catalog, (folder, name) in MISSION_SAMPLES.items():
        ingest(engine, catalog, file=sample_path(folder, name), release="sample",
               complete_release=True)


def insert_td_sources(engine, td: pd.DataFrame, catalog: str = "csc",
                      searched: bool = True) -> list[int]:
    """Insert TD rows as xray_source + xray_flux (s, m, h with value +/- error), recorded
    as searched for counterparts (:func:`mark_searched`) unless ``searched`` is False."""
    ids = []
    with engine.begin() as conn:
        for i, row in enumerate(td.itertuples(index=False)):
            flags = str(row.CSCv2_flags) if isinstance(row.CSCv2_flags, str) else ""
            sid = conn.execute(sa.text(
                "INSERT INTO livecat.xray_source (catalog, native_id, name, ra, dec, flags) "
                "VALUES (:c, :n, :n, :ra, :dec, CAST(:f AS jsonb)) RETURNING id"),
                {"c": catalog, "n": f"{row.CSCv2_name}#{i}", "ra": row.CSCv2_RA,
                 "dec": row.CSCv2_DEC,
                 "f": json.dumps({"extended": "extent" in flags, "confused": "conf" in flags,
                                  "pileup": "pileup" in flags})}).scalar_one()
            ids.append(sid)
            for band, lo, hi, v, e in (("s", 0.5, 1.2, row.Fs, row.e_Fs),
                                       ("m", 1.2, 2.0, row.Fm, row.e_Fm),
                                       ("h", 2.0, 7.0, row.Fh, row.e_Fh)):
                conn.execute(sa.text(
                    "INSERT INTO livecat.xray_flux (source_id, band, kind, band_lo_kev, "
                    "band_hi_kev, value, value_lo, value_hi) "
                    "VALUES (:s, :b, 'energy_flux', :lo, :hi, :v, :vlo, :vhi)"),
                    {"s": sid, "b": band, "lo": lo, "hi": hi, "v": v, "vlo": v - e, "vhi": v + e})
    if searched:
        mark_searched(engine, ids)
    return ids


def td_excerpt(per_class: int = 10, classes=("AGN", "CV", "NS", "YSO")) -> pd.DataFrame:
    """The first ``per_class`` rows of each class of the real MUWCLASS training set."""
    td = pd.read_csv(sample_path("muwclass", "TD_train.csv"))
    return pd.concat([td[td["True_Class"] == c].head(per_class)
                      for c in classes]).reset_index(drop=True)


#: An ADQL RA/Dec box tile query as livecat's TAP fetch writes it (no geometry functions):
#: ``SELECT cols FROM table WHERE ra >= a AND ra < b AND dec >= c AND dec < d`` (``<=``
#: for the tile that reaches the north pole).
TAP_BOX = re.compile(
    r"^SELECT (?P<cols>.+?) FROM (?P<table>\S+) WHERE "
    r"(?P<ra>\w+) >= (?P<ra_lo>\S+) AND (?P=ra) < (?P<ra_hi>\S+) AND "
    r"(?P<dec>\w+) >= (?P<dec_lo>\S+) AND (?P=dec) (?P<op><=?) (?P<dec_hi>\S+)$", re.DOTALL)


def tap_error_doc(message: str) -> bytes:
    """VOTable 1.4 error document (TAP 1.1 / DALI 1.1: QUERY_STATUS=ERROR, no TABLE)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            ' <RESOURCE type="results">\n'
            f'  <INFO name="QUERY_STATUS" value="ERROR">{message}</INFO>\n'
            ' </RESOURCE>\n</VOTABLE>\n').encode()


def use_private_home(tmp_path, monkeypatch) -> None:
    """A private LIVECAT_HOME (download and TAP caches) and no proxy for local servers."""
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class LocalServer:
    """A threaded ``http.server`` on 127.0.0.1 (the OS picks the port) that serves recorded
    responses to the fetch layer in tests: subclasses build a request handler and call
    :meth:`start_with`; use as a context manager. Never reaches beyond this machine."""

    path = ""  # URL prefix the service lives under, e.g. "/csc21tap"

    def start_with(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def invoke(args: list[str], monkeypatch, url: str | None = None):
    """Run the ``livecat`` command line in-process on the database ``url`` (if given)."""
    from typer.testing import CliRunner

    from catalog.cli import build_app

    if url:
        monkeypatch.setenv("LIVECAT_DATABASE_URL", url)
    return CliRunner().invoke(build_app(args), args)


def summary(output: str) -> dict[str, int]:
    """The counts of the summary table printed by an ingest command."""
    names = ["read", "inserted", "updated", "unchanged", "rejected", "retired"]
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│|").split("│")]
        if len(cells) == 6 and all(c.isdigit() for c in cells):
            return dict(zip(names, map(int, cells)))
    raise AssertionError(f"no summary table in:\n{output}")


#: Survey key -> suffix of the NGC 3532 survey samples (../shared/samples/mw).
NGC3532_SURVEY_FILES = {"gaia_dr3": "gaia", "2mass": "2mass", "allwise": "allwise",
                        "catwise2020": "catwise"}


def fetch_ngc3532_samples(db_url, monkeypatch) -> None:
    """``livecat counterparts fetch SURVEY --file`` of the four NGC 3532 survey samples
    around the CSC sources (the reference pipeline searched 10")."""
    for survey, suffix in NGC3532_SURVEY_FILES.items():
        res = invoke(["counterparts", "fetch", survey, "--file",
                      str(sample_path("mw", f"NGC3532_{suffix}.csv")), "--catalog", "csc",
                      "--radius", "10"], monkeypatch, db_url)
        assert res.exit_code == 0, res.output
        assert "X-ray sources searched within 10 arcsec" in res.stdout
