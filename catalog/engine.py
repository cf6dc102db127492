"""SQLAlchemy engine for livecat: the external server or the embedded one."""

from __future__ import annotations

import warnings
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from .errors import ConfigError
from .settings import SCHEMA, Settings

# Every livecat session: livecat's schema first on the search path; JIT off, because it adds
# milliseconds to the short index range scans that cone searches are made of; and generic
# plans for prepared statements (psycopg prepares a statement run 5 times on a connection):
# livecat's repeated statements (cone searches, id lookups) are index probes whose plan does
# not depend on the values, and replanning each call costs more than the query itself
# (scripts/bench_sky.py: 0.46 -> 0.33 ms per 5-arcsec cone).
SESSION_OPTIONS = f"-c search_path={SCHEMA},public -c jit=off -c plan_cache_mode=force_generic_plan"


def plan_for_values(conn) -> None:
    """Plan this transaction's statements for the values they are given, not
    generically (:data:`SESSION_OPTIONS`): for bulk work whose best plan depends on them.
    A generic plan of ``updated_at >= $1`` or ``id = ANY($1)`` guesses a third of the
    table and scans it (0.6 s against 0.03 s for the sources changed since the last
    object build at the catalogs' real sizes).

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        Inside a transaction (``SET LOCAL``: it ends with it).
    """
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def resolve_url(settings: Settings) -> str:
    """Return the database URL livecat uses: the configured one or the embedded server's."""
    if settings.database_url:
        return settings.database_url
    from .embedded import embedded_url

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        return embedded_url(settings.home)


def display_url(url: str) -> str:
    """Return ``url`` as a libpq URL that ``psql`` accepts (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def url_for_role(url: str, role: str) -> str:
    """``url`` (libpq form) with ``role`` as its user and no password: the URL a colleague's
    ``psql`` connects with (it asks for the password)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}@{host}"))


def create_engine(url: str) -> Engine:
    """Create an engine on ``url`` with livecat's session options.

    Raises
    ------
    ConfigError
        When the URL cannot be parsed or the server cannot be reached.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
    engine = sa.create_engine(parsed, connect_args={"options": SESSION_OPTIONS},
                              pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        safe = parsed.render_as_string(hide_password=True)
        raise ConfigError(f"cannot reach the database at {safe}: {reason}") from exc
    return engine


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return create_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    """Return the (cached) engine for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    return _engine_for(resolve_url(settings))
