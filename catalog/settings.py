"""livecat settings, read from the environment.

``LIVECAT_DATABASE_URL``
    SQLAlchemy URL of an external PostgreSQL server
    (``postgresql+psycopg://user@host:5432/db``; a plain ``postgresql://`` URL is accepted
    and given the psycopg 3 driver). Unset: livecat runs an embedded server.
``LIVECAT_HOME``
    livecat's data directory: the embedded server's data, caches, model artifacts.
    Default: the user data directory (``platformdirs.user_data_dir("livecat")``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

SCHEMA = "livecat"
"""The PostgreSQL schema that holds every livecat table, view and function."""


def normalize_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named.

    Parameters
    ----------
    url : str
        ``postgresql://...``, ``postgres://...`` or ``postgresql+psycopg://...``.
    """
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    """Resolved configuration.

    Attributes
    ----------
    database_url : str or None
        External server URL, or None for the embedded server.
    home : pathlib.Path
        livecat's data directory.
    """

    database_url: str | None
    home: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        url = env.get("LIVECAT_DATABASE_URL") or None
        home = env.get("LIVECAT_HOME") or platformdirs.user_data_dir("livecat")
        return cls(database_url=normalize_url(url) if url else None,
                   home=Path(home).expanduser().resolve())

    @property
    def embedded_pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL server."""
        return self.home / "pgdata"


def login_name(default: str = "unknown") -> str:
    """The operating-system login name, or ``default`` where there is none (containers
    without a passwd entry): what runs and decisions record as who did them."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError, KeyError or ImportError depending on why
        return default
