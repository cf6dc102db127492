"""The nightly job: change checks, one JSON-lines report, failures isolated (no network).

Remotes are a local http.server serving recorded bodies with ETags (tests/test_fetch.py's
RecordedServer): a second night gets 304 Not Modified and skips; a catalog whose remote
fails (HTTP 404, unreadable content) is reported ``failed`` while the others succeed, and
the command exits 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_fetch import RecordedServer
from xray_fixtures import write_fits_fixture, write_slim_fits_fixture
from test_ingest_xray import SXPS_2, erass_rows, tar_gz
from typer.testing import CliRunner

from ingest import nightly
from catalog.cli import build_app
from ingest.registry import XMM_SLIM_URLS


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "LIVECAT_NIGHTLY_CATALOGS", "LIVECAT_2SXPS_URL",
                 "LIVECAT_LSXPS_URL"):
        monkeypatch.delenv(name, raising=False)


def read_report(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_nightly_one_failure_does_not_stop_the_others(clean_tables, tmp_path):
    engine = clean_tables
    slim = write_slim_fits_fixture(tmp_path / "slim.fits", 200, seed=11).read_bytes()
    main = write_fits_fixture(tmp_path / "main.fits", erass_rows(5)).read_bytes()
    routes = {"/xmm/slim.fits": (slim, '"x1"'),
              "/erass/eRASS1_Main.tar.gz": (tar_gz("eRASS1_Main.v1.1.fits", main), '"e1"'),
              "/swift/2SXPS_Sources.csv": (SXPS_2.read_bytes(), '"s1"'),
              "/broken/eRASS1_Main.tar.gz": (b"<html>maintenance</html>", '"b1"')}
    report = tmp_path / "report.jsonl"
    with RecordedServer(routes) as server:
        options = {"xmm": {"url": server.base + "/xmm/slim.fits"},
                   "erass1": {"url": server.base + "/erass/eRASS1_Main.tar.gz"},
                   "2sxps": {"url": server.base + "/swift/2SXPS_Sources.csv"},
                   "lsxps": {"url": server.base + "/missing/LSXPS_Sources.csv"}}
        lines = nightly.run_nightly(engine, ["xmm", "lsxps", "erass1", "2sxps"],
                                    report_path=report, options=options)
        assert [(ln["catalog"], ln["status"]) for ln in lines] == [
            ("xmm", "succeeded"), ("lsxps", "failed"), ("erass1", "succeeded"),
            ("2sxps", "succeeded")]
        assert read_report(report) == lines
        failed = lines[1]
        assert "HTTP 404" in failed["error"] and failed["counts"] is None
        assert lines[0]["counts"]["inserted"] == 200 and lines[0]["release"] == "4XMM-DR14"
        assert lines[2]["counts"]["inserted"] == 5 and lines[3]["counts"]["inserted"] == 3

        # the second night: every remote answers 304 -> skipped, nothing parsed or loaded
        n_requests = len(server.requests)
        options["erass1"] = {"url": server.base + "/broken/eRASS1_Main.tar.gz"}
        second = nightly.run_nightly(engine, ["xmm", "2sxps", "erass1"],
                                     report_path=report, options=options)
        assert [ln["status"] for ln in second] == ["skipped", "skipped", "failed"]
        assert all("304" in ln["error"] for ln in second[:2])
        assert "eRASS1_Main.tar.gz" in second[2]["error"]
        assert all("If-None-Match" in h for _, h in server.requests[n_requests:n_requests + 2])
    assert len(read_report(report)) == 7
    with engine.connect() as conn:
        statuses = conn.execute(sa.text(
            "SELECT catalog, status FROM livecat.ingest_run ORDER BY id")).all()
    assert ("xmm", "skipped") in [tuple(s) for s in statuses]


def test_nightly_command_exit_code_and_report(clean_tables, db_url, tmp_path, monkeypatch):
    """The CLI over a --mirror: xmm and 2sxps present, erass1 missing -> exit 1."""
    mirror = tmp_path / "mirror"
    xmm_url = XMM_SLIM_URLS["4XMM-DR14"]
    target = mirror / xmm_url.split("://", 1)[1].split("/", 1)[1]
    target.parent.mkdir(parents=True)
    write_slim_fits_fixture(target, 50, seed=12)
    monkeypatch.setenv("LIVECAT_2SXPS_URL", "https://data.example.org/sxps/2SXPS_Sources.csv")
    (mirror / "sxps").mkdir()
    shutil.copy(SXPS_2, mirror / "sxps" / "2SXPS_Sources.csv")
    monkeypatch.setenv("LIVECAT_DATABASE_URL", db_url)
    report = tmp_path / "night.jsonl"
    args = ["nightly", "--catalogs", "xmm,erass1", "--catalogs", "2sxps", "--mirror",
            str(mirror), "--report", str(report)]
    res = CliRunner().invoke(build_app(args), args)
    assert res.exit_code == 1, res.output
    assert res.stderr.strip().splitlines()[-1] == "Error: nightly ingest failed for erass1"
    lines = read_report(report)
    # the ingests, then livecat nightly's own objects build and curate recheck steps
    assert [(ln["catalog"], ln["status"]) for ln in lines] == [
        ("xmm", "succeeded"), ("erass1", "failed"), ("2sxps", "succeeded"),
        ("objects build", "succeeded"), ("curate recheck", "succeeded")]
    assert lines[3]["counts"]["objects"] > 0 and lines[3]["counts"]["ended"] == 0
    assert lines[4]["counts"] == {"flagged": 0}
    assert "eRASS1_Main.tar.gz" in lines[1]["error"]
    assert set(lines[0]) >= {"catalog", "status", "counts", "error", "release", "run_id"}
    # all present -> exit 0
    args = ["nightly", "--catalogs", "xmm,2sxps", "--mirror", str(mirror), "--report",
            str(report)]
    ok = CliRunner().invoke(build_app(args), args)
    assert ok.exit_code == 0, ok.output
    assert [ln["status"] for ln in read_report(report)[5:]] == ["skipped", "skipped",
                                                                  "succeeded", "succeeded"]


def test_configured_catalogs(monkeypatch):
    assert nightly.configured_catalogs(["csc, xmm", "2sxps"]) == ["csc", "xmm", "2sxps"]
    monkeypatch.setenv("LIVECAT_NIGHTLY_CATALOGS", "xmm,erass1")
    assert nightly.configured_catalogs(None) == ["xmm", "erass1"]
    monkeypatch.delenv("LIVECAT_NIGHTLY_CATALOGS")
    monkeypatch.setenv("LIVECAT_LSXPS_URL", "https://example.org/LSXPS_Sources.csv")
    assert nightly.configured_catalogs(None) == ["atnf", "ipcat", "csc", "xmm", "erass1",
                                                 "lsxps"]


def test_unknown_catalog_is_a_failed_line(clean_tables):
    lines = nightly.run_nightly(clean_tables, ["nosuch"])
    assert lines[0]["status"] == "failed" and "unknown catalog 'nosuch'" in lines[0]["error"]
