"""The embedded PostgreSQL server (the ``pgserver`` package) inside LIVECAT_HOME.

Started on first use and left running so later commands reuse it (pgserver's
``cleanup_mode=None``); its data directory persists across restarts. Two livecat
processes starting at the same moment are serialised by an exclusive lock file in
LIVECAT_HOME (pgserver itself also holds a global inter-process lock while it starts a
server): the first initialises and starts the server, the second finds it running.

Authentication (``pg_hba.conf``, rewritten by :func:`embedded_url` when it differs): the
owner role ``postgres`` connects on the local socket without a password, as livecat
does; every other role, such as a reader made by ``livecat db create-reader``, needs its
password (SCRAM-SHA-256). pgserver's own setup trusts everyone.

A server that died without cleaning up (``kill -9`` of the postmaster) leaves its
``postmaster.pid``. pgserver takes any live process with that pid, a zombie included, for
the server; :func:`embedded_url` removes the file (and the socket's lock file) when its
process is gone, a zombie or another program, and no process still holds the server's
shared memory (PostgreSQL needs the file to refuse to start beside orphaned backends), then
starts the server again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ConfigError
from .files import write_atomic

DATABASE = "livecat"
OWNER = "postgres"
"""The superuser pgserver creates; livecat connects as this role."""

START_TIMEOUT = 30.0
"""Seconds :func:`embedded_url` keeps trying to reach or restart the server (orphaned
backends of a killed server take a moment to exit) before it gives up."""

HBA_CONF = f"""\
# Written by livecat (catalog/embedded.py); rewritten when it differs.
# The owner on the local socket without a password (livecat itself); every other role,
# such as a reader made by `livecat db create-reader NAME --password ...`, by its password.
local   all   {OWNER}                 trust
local   all   all                      scram-sha-256
host    all   all   127.0.0.1/32       scram-sha-256
host    all   all   ::1/128            scram-sha-256
"""

_log = logging.getLogger(__name__)


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".embedded.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _quiet_pgserver() -> Iterator[None]:
    """pgserver logs a failed start with the whole server log; livecat says one line."""
    logger = logging.getLogger("pgserver")
    level = logger.level
    if not os.environ.get("LIVECAT_DEBUG"):
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _server_alive(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a running (not zombie) postmaster of ``pgdata``.

    A negative pid is PostgreSQL's mark of a standalone backend (initdb's, or
    ``postgres --single``): alive while that process runs.
    """
    import psutil

    try:
        proc = psutil.Process(abs(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        try:
            return Path(proc.cwd()).resolve() == pgdata.resolve()  # the postmaster's cwd
        except psutil.AccessDenied:
            return "postgres" in proc.name()
    except (psutil.NoSuchProcess, ValueError):
        return False


def _read_pidfile(pgdata: Path) -> list[str] | None:
    """The lines of ``postmaster.pid`` (PostgreSQL's miscadmin.h: pid, data directory, start
    time, port, socket directory, listen address, shared memory key and id, status), or
    None when there is none."""
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def _pid(lines: list[str] | None) -> int | None:
    try:
        return int(lines[0])
    except (TypeError, IndexError, ValueError):
        return None


def _shared_memory_in_use(shmid: int) -> bool:
    """Whether processes are attached to SysV shared memory segment ``shmid`` (Linux's
    /proc/sysvipc/shm; elsewhere assumed not)."""
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 6 and fields[1] == str(shmid):
            return int(fields[6]) > 0
    return False


def _remove_stale_pid(pgdata: Path) -> bool:
    """Remove ``postmaster.pid`` if its server is dead and unused; return whether it did."""
    pidfile = pgdata / "postmaster.pid"
    lines = _read_pidfile(pgdata)
    if lines is None:
        return False
    pid = _pid(lines)
    if pid is not None and _server_alive(pid, pgdata):
        return False
    try:  # line 7: shared memory key and id (PostgreSQL's miscadmin.h LOCK_FILE_LINE_SHMEM_KEY)
        shmid = int(lines[6].split()[1])
    except (IndexError, ValueError):
        shmid = None
    if shmid is not None and _shared_memory_in_use(shmid):
        return False  # orphaned backends still run: wait for them
    # the socket's lock file names the same postmaster; PostgreSQL refuses to start while
    # that pid exists, a zombie included (lines 4 and 5: port and socket directory)
    if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        try:
            if int(socket_lock.read_text().splitlines()[0]) == pid:
                socket_lock.unlink()
        except (OSError, IndexError, ValueError):
            pass
    _log.info("removing stale %s (pid %s is not a running server)", pidfile, pid)
    pidfile.unlink(missing_ok=True)
    return True


def _forget_server(pgdata: Path) -> None:
    """Drop pgserver's in-process handle of a server that failed, so the next attempt
    starts afresh."""
    import atexit

    from pgserver.postgres_server import PostgresServer

    stale = PostgresServer._instances.pop(pgdata.resolve(), None)
    if stale is not None:
        atexit.unregister(stale._cleanup)


def _reason(exc: BaseException) -> str:
    """One line saying why a start attempt failed."""
    if isinstance(exc, subprocess.CalledProcessError):
        return f"pg_ctl start failed (exit status {exc.returncode})"
    if isinstance(exc, subprocess.TimeoutExpired):
        return "pg_ctl start timed out"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _connect_admin(pgdata: Path):
    """Start (or find running) the server and return an autocommit connection as the
    owner, restarting a server that was killed; ConfigError after START_TIMEOUT."""
    import pgserver
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        _remove_stale_pid(pgdata)
        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            return psycopg.connect(server.get_uri(OWNER), autocommit=True, connect_timeout=10)
        except (psycopg.OperationalError, subprocess.SubprocessError, AssertionError,
                ValueError) as exc:  # ValueError: psutil on a pid file being written
            _forget_server(pgdata)
            if time.monotonic() > deadline:
                raise ConfigError(f"could not start the embedded PostgreSQL server in "
                                  f"{pgdata}: {_reason(exc)}; see {pgdata / 'log'} or set "
                                  f"LIVECAT_DATABASE_URL") from exc
            time.sleep(0.5)
        except Exception as exc:
            _forget_server(pgdata)
            raise ConfigError(f"could not start the embedded PostgreSQL server in {pgdata}: "
                              f"{exc}; see {pgdata / 'log'} or set LIVECAT_DATABASE_URL") \
                from exc


def _require_passwords(pgdata: Path, conn) -> None:
    """Write :data:`HBA_CONF` if pg_hba.conf differs, reload, and wait until new sessions
    use it. The file keeps its owner and mode (the server may run as another user)."""
    hba = pgdata / "pg_hba.conf"
    if hba.read_text() == HBA_CONF:
        return
    st = hba.stat()
    write_atomic(hba, HBA_CONF.encode())
    os.chown(hba, st.st_uid, st.st_gid)
    os.chmod(hba, stat.S_IMODE(st.st_mode))
    errors = conn.execute("SELECT line_number, error FROM pg_hba_file_rules "
                          "WHERE error IS NOT NULL").fetchall()
    if errors:
        raise ConfigError(f"{hba}: line {errors[0][0]}: {errors[0][1]}")
    loaded = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
    conn.execute("SELECT pg_reload_conf()")
    import psycopg

    for _ in range(100):  # the postmaster reloads asynchronously; new sessions then see it
        with psycopg.connect(conn.info.dsn, autocommit=True) as fresh:
            if fresh.execute("SELECT pg_conf_load_time()").fetchone()[0] > loaded:
                return
        time.sleep(0.05)
    raise ConfigError(f"the embedded server did not reload {hba}")


def embedded_url(home: Path) -> str:
    """Start (or find running) the embedded server and return its SQLAlchemy URL.

    Creates the ``livecat`` database on first use, and makes every role but the owner
    authenticate with its password.

    Parameters
    ----------
    home : pathlib.Path
        LIVECAT_HOME; the server's data lives in ``home / "pgdata"``.

    Returns
    -------
    str
        ``postgresql+psycopg://postgres:@/livecat?host=<socket dir>``.
    """
    try:
        import pgserver  # noqa: F401
    except ImportError as exc:  # pragma: no cover - pgserver is a hard dependency
        raise ConfigError("the embedded server needs the 'pgserver' package "
                          "(pip install pgserver) or set LIVECAT_DATABASE_URL") from exc

    pgdata = home / "pgdata"
    with _home_lock(home), _quiet_pgserver():
        with _connect_admin(pgdata) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                _log.info("creating database %s in the embedded server", DATABASE)
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            _require_passwords(pgdata, conn)
            socket_dir = conn.info.host  # the socket directory the owner connected through
    return f"postgresql+psycopg://{OWNER}:@/{DATABASE}?host={socket_dir}"


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server of ``home`` if it runs; return whether it was running.

    Data stays in ``home / "pgdata"``; the next livecat command starts the server again.
    """
    import pwd
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pgserver._commands import pg_ctl

    pgdata = home / "pgdata"
    with _home_lock(home):
        pid = _pid(_read_pidfile(pgdata))
        if pid is None or pid < 0 or not _server_alive(pid, pgdata):
            return False
        # pgserver runs the server as the system user 'pgserver' when livecat runs as root
        user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("pgserver")
                user = "pgserver"
            except KeyError:
                user = None
        pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
        return True
