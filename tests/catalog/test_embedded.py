"""The embedded PostgreSQL server (pgserver) in LIVECAT_HOME.

Two livecat processes starting at the same moment on an empty LIVECAT_HOME both succeed,
and data written through the embedded server survives a stop and restart; a reader needs
its password; a killed server is restarted by the next command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
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


def _postmaster_pid(home) -> int:
    return int((home / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def _gone(pid: int, timeout: float = 30.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.1)
                continue
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)


def test_a_reader_needs_its_password_and_the_owner_none(home):
    _run(["db", "upgrade"], home)
    refused = _run(["db", "create-reader", "colleague"], home, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("Error: the embedded server asks every role but "
                                      "livecat's own for its password: give --password or "
                                      "--prompt")
    out = _run(["db", "create-reader", "colleague", "--password", "s3cret:x y"], home).stdout
    assert out.strip() == "created read-only role colleague"
    owner_url = _run(["db", "url"], home).stdout.strip()
    url = _run(["db", "url", "--user", "colleague"], home).stdout.strip()
    socket_dir = (home / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
    assert url == f"postgresql://colleague@/livecat?host={socket_dir}"

    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(url)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, password="s3cret:x")
    with psycopg.connect(url, password="s3cret:x y") as conn:
        assert conn.execute("SELECT current_user, count(*) FROM literature_object"
                            ).fetchone() == ("colleague", 0)
    with psycopg.connect(owner_url) as conn:  # the owner, on the socket, without one
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"

    # the README's command, with psql's password from the environment instead of a prompt
    from pgserver._commands import POSTGRES_BIN_PATH

    env = _env(home)
    env["PATH"] = os.pathsep.join([str(POSTGRES_BIN_PATH), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    env["PGPASSWORD"] = "s3cret:x y"
    psql = subprocess.run(["bash", "-c", 'psql "$(livecat db url --user colleague)" -Atc '
                           '"SELECT current_user"'], env=env, capture_output=True, text=True,
                          timeout=120)
    assert psql.stdout.strip() == "colleague", psql.stderr


def test_a_killed_server_is_restarted_by_the_next_command(home):
    _run(["db", "upgrade"], home)
    _run(["cone", "1.5", "-2.5", "1", "--table", "literature_object"], home)
    for _ in range(2):  # at once, while the dead postmaster may still be a zombie
        os.kill(_postmaster_pid(home), signal.SIGKILL)
        proc = _run(["db", "status", "--format", "json"], home, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["revision"] == HEAD

    # postmaster.pid naming a live process that is not the server (its pid reused)
    pid = _postmaster_pid(home)
    os.kill(pid, signal.SIGKILL)
    _gone(pid)
    pidfile = home / "pgdata" / "postmaster.pid"
    lines = pidfile.read_text().splitlines()
    pidfile.write_text("\n".join([str(os.getpid())] + lines[1:]) + "\n")
    proc = _run(["db", "status", "--format", "json"], home, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _postmaster_pid(home) != os.getpid()


def test_a_server_that_cannot_start_is_one_error_line(home, monkeypatch):
    from helpers import invoke

    import catalog.embedded

    _run(["db", "upgrade"], home)
    _run(["db", "stop"], home)
    with open(home / "pgdata" / "postgresql.conf", "a") as conf:
        conf.write("\nno_such_parameter_of_postgres = 1\n")
    monkeypatch.setattr(catalog.embedded, "START_TIMEOUT", 1.0)
    monkeypatch.delenv("LIVECAT_DATABASE_URL", raising=False)
    monkeypatch.setenv("LIVECAT_HOME", str(home))
    res = invoke(["db", "status"], monkeypatch)
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: could not start the embedded PostgreSQL server in {home / 'pgdata'}: "
        "pg_ctl start failed (exit status 1); see ")
