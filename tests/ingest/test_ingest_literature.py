"""`livecat ingest atnf|ipcat|list` end to end: local files, recorded remote responses,
a mirror, one-line errors, a concurrent ingest, and a SIGKILL in the middle of a load."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import tarfile
import threading
import time

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from conftest import sample_path
from helpers import DATA, PAUSE_MARKER, PAUSE_RUNNER, invoke, summary
from test_fetch import RecordedServer
from test_load import snapshot

from catalog import migrate
from catalog.engine import create_engine
from catalog.errors import ConflictError
from ingest import atnf, load
from ingest.normalized import NormalizedCatalog

IPCAT_FIXTURE = DATA / "ipcat" / "alpha.html"


def psrj_names(version: str) -> set[str]:
    """PSRJ names of a release, read straight from the file (independent of the parser)."""
    text = sample_path("atnf", f"psrcat-{version}.db").read_text(encoding="latin-1")
    return {line.split()[1] for line in text.splitlines() if line.startswith("PSRJ ")}


def psrcat_tarball(version: str) -> bytes:
    """A psrcat_pkg.tar.gz like ATNF's (psrcat_tar/psrcat.db) holding a sample release."""
    data = sample_path("atnf", f"psrcat-{version}.db").read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("psrcat_tar/psrcat.db")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch, tmp_path):
    """A private LIVECAT_HOME (the download cache) and no proxy for the local server."""
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------------------
# the IP catalogue
# --------------------------------------------------------------------------------------

def test_ipcat_from_file_and_reingest(clean_tables, db_url, monkeypatch):
    res = invoke(["ingest", "ipcat", "--file", str(IPCAT_FIXTURE)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert summary(res.stdout) == {"read": 13, "inserted": 13, "updated": 0, "unchanged": 0,
                                   "rejected": 0, "retired": 0}
    with clean_tables.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT native_id, livecat_class, subclass, confidence, params "
            "FROM livecat.literature_object WHERE catalog = 'ipcat' ORDER BY native_id")).all()
        version = conn.execute(sa.text(
            "SELECT version FROM livecat.catalog_release WHERE catalog = 'ipcat'")).scalar()
    assert len(rows) == 13 and {(r[1], r[2]) for r in rows} == {("CV", "IP")}
    by_name = {r[0]: r for r in rows}
    assert by_name["V1033 Cas"][3] == 5.0
    assert by_name["AH Eri"][4]["pspin_s"] == {"value": 2520.0, "marker": "??",
                                               "text": "2520??"}
    assert by_name["TT Ari"][4]["candidate"] is True
    assert version.startswith("sha256:")

    again = invoke(["ingest", "ipcat", "--file", str(IPCAT_FIXTURE)], monkeypatch, db_url)
    assert again.exit_code == 0 and "skipped" in again.stdout and "already held" in again.stdout
    forced = invoke(["ingest", "ipcat", "--file", str(IPCAT_FIXTURE), "--force"],
                    monkeypatch, db_url)
    assert forced.exit_code == 0, forced.output
    assert summary(forced.stdout) == {"read": 13, "inserted": 0, "updated": 0,
                                      "unchanged": 13, "rejected": 0, "retired": 0}


# --------------------------------------------------------------------------------------
# ATNF
# --------------------------------------------------------------------------------------

def test_atnf_releases_from_files_and_list(clean_tables, db_url, monkeypatch):
    old, new = psrj_names("1.58"), psrj_names("1.59")
    res = invoke(["ingest", "atnf", "--file", str(sample_path("atnf", "psrcat-1.58.db"))],
                 monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert summary(res.stdout)["inserted"] == len(old) == 2636
    assert "atnf 1.58: run" in res.stdout
    res = invoke(["ingest", "atnf", "--file", str(sample_path("atnf", "psrcat-1.59.db"))],
                 monkeypatch, db_url)
    counts = summary(res.stdout)
    assert counts["inserted"] == len(new - old) and counts["retired"] == len(old - new)
    assert counts["updated"] + counts["unchanged"] == len(old & new)
    assert counts["read"] == len(new) == 2659

    listing = invoke(["ingest", "list", "--format", "json"], monkeypatch, db_url)
    assert listing.exit_code == 0, listing.output
    rows = {r["catalog"]: r for r in json.loads(listing.stdout)}
    assert rows["atnf"]["releases"] == "1.59, 1.58 (superseded)"
    assert (rows["atnf"]["rows"], rows["atnf"]["current"]) == (len(old | new), len(new))
    assert rows["atnf"]["status"] == "succeeded" and rows["atnf"]["kind"] == "literature"
    assert rows["ipcat"]["status"] == "never ingested" and rows["ipcat"]["rows"] == 0
    table = invoke(["ingest", "list"], monkeypatch, db_url)
    assert "atnf" in table.stdout and "1.58 (superseded)" in table.stdout


def test_atnf_remote_tarball_then_not_modified(clean_tables, db_url, monkeypatch):
    with RecordedServer({"/psrcat/psrcat_pkg.tar.gz": (psrcat_tarball("1.58"), '"pkg-158"')}) \
            as server:
        monkeypatch.setattr(atnf, "PACKAGE_URL", server.base + "/psrcat/psrcat_pkg.tar.gz")
        res = invoke(["ingest", "atnf"], monkeypatch, db_url)
        assert res.exit_code == 0, res.output
        assert summary(res.stdout)["inserted"] == 2636
        again = invoke(["ingest", "atnf"], monkeypatch, db_url)
        assert again.exit_code == 0, again.output
        assert server.requests[-1][1].get("If-None-Match") == '"pkg-158"'
        assert "skipped" in again.stdout
    with clean_tables.connect() as conn:
        origin, meta = conn.execute(sa.text(
            "SELECT origin, remote_meta FROM livecat.catalog_release WHERE version = '1.58'")
        ).one()
        statuses = conn.execute(sa.text(
            "SELECT status FROM livecat.ingest_run ORDER BY id")).scalars().all()
    assert origin.endswith("/psrcat/psrcat_pkg.tar.gz") and meta["etag"] == '"pkg-158"'
    assert statuses == ["succeeded", "skipped"]


def test_atnf_from_mirror(clean_tables, db_url, monkeypatch, tmp_path):
    target = tmp_path / "mirror" / "research" / "pulsar" / "psrcat" / "downloads" \
        / "psrcat_pkg.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(psrcat_tarball("1.59"))
    res = invoke(["ingest", "atnf", "--mirror", str(tmp_path / "mirror")], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert summary(res.stdout)["inserted"] == 2659
    assert "atnf 1.59: run" in res.stdout


# --------------------------------------------------------------------------------------
# errors: one line each
# --------------------------------------------------------------------------------------

def _error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) >= 1 and lines[-1].startswith("Error: ")
    return lines[-1]


def test_cli_errors_are_one_line(clean_tables, db_url, monkeypatch, tmp_path, database_factory):
    res = invoke(["ingest", "atnf", "--file", str(tmp_path / "nope.db")], monkeypatch, db_url)
    assert res.stderr.strip() == f"Error: input file {tmp_path / 'nope.db'} does not exist " \
                                 "(or is not a file)"
    res = invoke(["ingest", "ipcat", "--file", "a", "--mirror", "b"], monkeypatch, db_url)
    assert res.stderr.strip() == "Error: give either --file or --mirror, not both"

    junk = tmp_path / "junk.db"
    junk.write_text("this is not psrcat\n")
    line = _error_line(invoke(["ingest", "atnf", "--file", str(junk)], monkeypatch, db_url))
    assert line.startswith("Error: not a psrcat database")

    html = tmp_path / "page.html"
    html.write_text("<html><body><p>moved</p></body></html>")
    line = _error_line(invoke(["ingest", "ipcat", "--file", str(html)], monkeypatch, db_url))
    assert line.startswith("Error: no intermediate-polar table found in the HTML")

    empty_db = database_factory()  # never migrated
    res = invoke(["ingest", "list"], monkeypatch, empty_db)
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert res.stderr.strip() == (f"Error: the database schema is at revision none, not "
                                  f"{head}: run `livecat db upgrade` first")
    with clean_tables.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM livecat.literature_object")
                            ).scalar() == 0


# --------------------------------------------------------------------------------------
# SIGKILL mid-load, and a concurrent ingest while the first one holds the lock
# --------------------------------------------------------------------------------------

def _wait_for_marker(proc, timeout: float) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr],
                     daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if PAUSE_MARKER in line:
            return "".join(seen)
    proc.kill()
    raise AssertionError("the ingest never reached the commit point:\n" + "".join(seen))


def test_sigkill_mid_load_leaves_database_unchanged(clean_tables, db_url, monkeypatch):
    engine = clean_tables
    first = invoke(["ingest", "atnf", "--file", str(sample_path("atnf", "psrcat-1.58.db"))],
                   monkeypatch, db_url)
    assert first.exit_code == 0, first.output
    before = snapshot(engine, skip=())

    file_159 = str(sample_path("atnf", "psrcat-1.59.db"))
    env = {**os.environ, "LIVECAT_DATABASE_URL": db_url}
    proc = subprocess.Popen(
        [sys.executable, str(PAUSE_RUNNER), "120", "cli", "ingest", "atnf",
         "--file", file_159], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        log = _wait_for_marker(proc, timeout=120)
        assert "upsert" in log  # it did the whole load and is about to commit

        # meanwhile a second ingest of the same catalog fails clearly
        other = create_engine(db_url)
        with pytest.raises(ConflictError, match="another ingest of atnf is running"):
            load.load_catalog(other, "atnf", NormalizedCatalog(
                "literature", pd.DataFrame(columns=["native_id", "ra", "dec"]), 0),
                version="x")
        other.dispose()
        res = invoke(["ingest", "atnf", "--file", file_159, "--force"], monkeypatch, db_url)
        assert res.stderr.strip() == ("Error: another ingest of atnf is running; try again "
                                      "when it has finished, or pass --wait to wait for it")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    after = snapshot(engine, skip=())
    run_rows = {k: v for k, v in after.items() if k != "ingest_run"}
    assert run_rows == {k: v for k, v in before.items() if k != "ingest_run"}
    with engine.connect() as conn:
        statuses = conn.execute(sa.text(
            "SELECT status, error FROM livecat.ingest_run ORDER BY id")).all()
    # the killed run left no row at all; the two refused attempts are recorded as failed
    assert [s for s, _ in statuses] == ["succeeded", "failed", "failed"]
    assert all("another ingest of atnf is running" in e for s, e in statuses[1:])

    rerun = invoke(["ingest", "atnf", "--file", file_159, "--wait"], monkeypatch, db_url)
    assert rerun.exit_code == 0, rerun.output
    counts = summary(rerun.stdout)
    old, new = psrj_names("1.58"), psrj_names("1.59")
    assert counts["inserted"] == len(new - old) and counts["retired"] == len(old - new)
