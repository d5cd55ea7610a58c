"""Engine factory, schema creation and what a database URL means for the rest of the product.

SQLite file by default, any SQLAlchemy URL otherwise. This module also owns telling
"briefly unavailable" storage faults (a stopped or restarting server, a locked SQLite file)
apart from real errors, and turning a PostgreSQL URL into the libpq connection string the
LangGraph checkpointer needs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from agent.errors import ConfigError
from agent.store import models as _models  # noqa: F401  (registers the tables)

SQLITE_TRANSIENT = ("locked", "busy")
"""Words in a SQLite OperationalError that mean another writer holds the file for now."""


def make_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_s: float = 5.0,
    connect_timeout_s: float = 5.0,
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Args:
        url: A SQLAlchemy URL.
        echo: Log every SQL statement (development only).
        busy_timeout_s: SQLite: how long one statement waits for another writer's lock.
        connect_timeout_s: PostgreSQL: how long one connection attempt may take (libpq
            counts whole seconds, at least 2), unless the URL sets ``connect_timeout``.

    Raises:
        ConfigError: for a malformed URL or a missing database driver.
    """
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, object] = {
                "connect_args": {"check_same_thread": False, "timeout": busy_timeout_s}
            }
            if not path or path == ":memory:":
                kwargs["poolclass"] = StaticPool
            engine = create_engine(url, echo=echo, **kwargs)
            busy_ms = max(0, int(busy_timeout_s * 1000))

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]  # DB-API hook
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute(f"PRAGMA busy_timeout={busy_ms}")
                if path and path != ":memory:":
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.close()

            return engine
        parsed = make_url(url)
        connect_args: dict[str, object] = {}
        if is_postgres(url) and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = max(2, round(connect_timeout_s))
        return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError) as e:
        raise ConfigError(f"invalid database URL: {e}") from None
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"the database driver '{e.name}' is not installed (PostgreSQL URLs use psycopg: "
            "postgresql+psycopg://user:password@host/db)"
        ) from None


def init_db(engine: Engine) -> None:
    """Create missing tables.

    Raises:
        ConfigError: when the database cannot be reached or opened (a stopped server, a wrong
            host, port or password, an unwritable SQLite folder).
    """
    try:
        SQLModel.metadata.create_all(engine)
    except exc.OperationalError as e:
        detail = str(e.orig).strip().splitlines()[0] if e.orig is not None else type(e).__name__
        raise ConfigError(
            f"cannot reach the database {describe_url(engine.url)}: {detail}"
        ) from None


def is_postgres(url: str) -> bool:
    """Whether a SQLAlchemy URL points at PostgreSQL (any driver)."""
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def describe_url(url: str | URL) -> str:
    """A URL fit for messages and logs: the password is never shown."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(an invalid URL)"
    return parsed.render_as_string(hide_password=True)


def libpq_conninfo(url: str) -> str:
    """The libpq connection string for a SQLAlchemy PostgreSQL URL.

    ``postgresql+psycopg://user:pw@host:5432/db?sslmode=require`` becomes
    ``host=host port=5432 user=user password=pw dbname=db sslmode=require``; query
    parameters (``host=/run/postgresql`` for a unix socket, ``connect_timeout``, …) pass through.

    Raises:
        ConfigError: when the URL is not a PostgreSQL URL or has parameters libpq rejects.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(f"invalid database URL: {e}") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"not a PostgreSQL URL: {describe_url(parsed)}")
    params: dict[str, str | int | None] = {
        k: ",".join(v) if isinstance(v, tuple) else v for k, v in parsed.query.items()
    }
    for key, value in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("password", parsed.password),
        ("dbname", parsed.database),
    ):
        if value not in (None, ""):
            params[key] = value
    try:
        return make_conninfo("", **params)
    except psycopg.ProgrammingError as e:
        raise ConfigError(f"invalid PostgreSQL URL {describe_url(parsed)}: {e}") from None


def is_transient_storage_error(error: BaseException) -> bool:
    """Whether an error means storage is briefly unavailable, so the same work may be retried.

    True for a PostgreSQL server that is down, restarting or dropped the connection (any
    psycopg ``OperationalError``, including the pool's timeout), and for a SQLite file locked
    by another writer past the busy timeout; false for everything else (bad SQL, constraint
    violations, a missing table), whether raised directly or wrapped by SQLAlchemy.
    """
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if error.orig is not None:
            return is_transient_storage_error(error.orig)
        return isinstance(error, exc.OperationalError)
    if isinstance(error, exc.TimeoutError):  # SQLAlchemy's pool had no free connection
        return True
    if isinstance(error, psycopg.OperationalError):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(word in text for word in SQLITE_TRANSIENT)
    return False
