"""The embedded PostgreSQL server (pgserver) in LIVECAT_HOME.

Two livecat processes starting at the same moment on an empty LIVECAT_HOME both succeed,
and data written through the embedded server survives a stop and restart.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alembic.script import ScriptDirectory

from catalog.migrate import alembic_config

LIVECAT = [sys.executable, "-c", "from catalog.cli import main; main()"]
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _env(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIVECAT_DATABASE_URL", "LIVECAT_TEST_DATABASE_URL")}
    env["LIVECAT_HOME"] = str(home)
    return env


def _run(args, home, check=True):
    proc = subprocess.run(LIVECAT + args, env=_env(home), capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"livecat {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    yield home
    _run(["db", "stop"], home, check=False)


def test_two_processes_start_at_once_and_data_persists(home):
    procs = [subprocess.Popen(LIVECAT + ["db", "upgrade"], env=_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
        assert f"database at revision {HEAD}" in out
    assert (home / "pgdata" / "PG_VERSION").exists()

    url = _run(["db", "url"], home).stdout.strip()
    assert url.startswith("postgresql://") and "/livecat" in url
    insert = (
        "import sqlalchemy as sa\n"
        "from catalog.engine import get_engine\n"
        "with get_engine().begin() as conn:\n"
        "    conn.execute(sa.text(\"INSERT INTO livecat.literature_object (catalog, native_id,"
        " ra, dec) VALUES ('persist', 'J0000+0000', 1.5, -2.5)\"))\n")
    subprocess.run([sys.executable, "-c", insert], env=_env(home), check=True, timeout=120)

    assert "embedded server stopped" in _run(["db", "stop"], home).stdout
    assert "not running" in _run(["db", "stop"], home).stdout

    # the next command starts the server again on the same data
    out = _run(["cone", "1.5", "-2.5", "1", "--table", "literature_object", "--format",
                "csv"], home).stdout
    assert "persist,J0000+0000" in out
    status = _run(["db", "status", "--format", "csv"], home).stdout
    assert "literature_object,1" in status
