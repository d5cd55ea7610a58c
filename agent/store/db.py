"""Engine factory and schema creation. SQLite file by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from agent.errors import ConfigError
from agent.store import models as _models  # noqa: F401  (registers the tables)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Raises:
        ConfigError: for a malformed URL or a missing database driver.
    """
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, object] = {"connect_args": {"check_same_thread": False}}
            if not path or path == ":memory:":
                kwargs["poolclass"] = StaticPool
            engine = create_engine(url, echo=echo, **kwargs)

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]  # DB-API hook
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=5000")
                if path and path != ":memory:":
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.close()

            return engine
        return create_engine(url, echo=echo, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as e:
        raise ConfigError(f"invalid database URL: {e}") from None
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"the database driver '{e.name}' is not installed (for Postgres install the "
            "'postgres' extra)"
        ) from None


def init_db(engine: Engine) -> None:
    """Create missing tables."""
    SQLModel.metadata.create_all(engine)
