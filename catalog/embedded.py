"""The embedded PostgreSQL server (the ``pgserver`` package) inside LIVECAT_HOME.

Started on first use and left running so later commands reuse it (pgserver's
``cleanup_mode=None``); its data directory persists across restarts. Two livecat
processes starting at the same moment are serialised by an exclusive lock file in
LIVECAT_HOME (pgserver itself also holds a global inter-process lock while it starts a
server): the first initialises and starts the server, the second finds it running.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ConfigError

DATABASE = "livecat"
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


def embedded_url(home: Path) -> str:
    """Start (or find running) the embedded server and return its SQLAlchemy URL.

    Creates the ``livecat`` database on first use.

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
        import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a hard dependency
        raise ConfigError("the embedded server needs the 'pgserver' package "
                          "(pip install pgserver) or set LIVECAT_DATABASE_URL") from exc
    import psycopg

    pgdata = home / "pgdata"
    with _home_lock(home):
        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:
            raise ConfigError(f"could not start the embedded PostgreSQL server in {pgdata}: "
                              f"{exc}; see {pgdata / 'log'} or set LIVECAT_DATABASE_URL") from exc
        admin_uri = server.get_uri("postgres")
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                _log.info("creating database %s in the embedded server", DATABASE)
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        uri = server.get_uri(DATABASE)
    return "postgresql+psycopg://" + uri.split("://", 1)[1]


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server of ``home`` if it runs; return whether it was running.

    Data stays in ``home / "pgdata"``; the next livecat command starts the server again.
    """
    import os
    import pwd
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pgserver._commands import pg_ctl
        from pgserver.utils import PostmasterInfo

    pgdata = home / "pgdata"
    with _home_lock(home):
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
        if info is None or not info.is_running():
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
