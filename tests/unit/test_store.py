"""Storage plumbing: engines, URLs, telling brief outages from real errors, runner records.

The storage functions themselves run on SQLite and PostgreSQL in test_postgres.py.
"""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy import exc, text
from sqlmodel import Session

from agent.brain.types import CandidateProfile
from agent.errors import ConfigError
from agent.interview import open_runner
from agent.store import repo
from agent.store.db import (
    describe_url,
    init_db,
    is_postgres,
    is_transient_storage_error,
    libpq_conninfo,
    make_engine,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x"])
def test_bad_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        make_engine(url)


async def test_runner_records_turns_and_report(settings, brain, mini_flow) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain) as r:
        await r.start(session_id="x1", flow=mini_flow, profile=CandidateProfile(skills=("python",)))
        await r.answer(
            "x1", "I'm a backend engineer with five years of Python experience at a bank."
        )
        step = await r.end("x1")
        assert step.finished
    engine = make_engine(settings.database_url)
    with Session(engine) as db:
        turns = repo.list_turns(session=db, session_id="x1")
        assert len(turns) == 1 and turns[0].answer.startswith("I'm a backend")
        assert turns[0].features["word_count"] > 5
        assert repo.load_report(session=db, session_id="x1")["schema_version"] == "1.3"
        assert repo.get_session(session=db, session_id="x1").skills == ["python"]
    assert settings.checkpoint_path.exists()
    assert not list(settings.data_dir.rglob("*.wav"))


@pytest.mark.parametrize(
    ("url", "conninfo"),
    [
        (
            "postgresql+psycopg://me:p%40ss%20word@db.example:5433/interviews?sslmode=require",
            "sslmode=require host=db.example port=5433 user=me password='p@ss word' "
            "dbname=interviews",
        ),
        (
            "postgresql://me@/interviews?host=/run/postgresql",
            "host=/run/postgresql user=me dbname=interviews",
        ),
        ("postgresql+psycopg://h/d?connect_timeout=3", "connect_timeout=3 host=h dbname=d"),
    ],
)
def test_postgres_url_to_libpq_conninfo(url: str, conninfo: str) -> None:
    assert is_postgres(url)
    assert libpq_conninfo(url) == conninfo
    shown = describe_url(url)
    assert "ss word" not in shown and "ss%20word" not in shown


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql://h/d?no_such_option=1", "not a url"]
)
def test_non_postgres_or_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        libpq_conninfo(url)


def test_transient_storage_errors_are_told_apart() -> None:
    locked = sqlite3.OperationalError("database is locked")
    assert is_transient_storage_error(locked)
    assert is_transient_storage_error(psycopg.OperationalError("server closed the connection"))
    assert is_transient_storage_error(PoolTimeout("couldn't get a connection after 1 s"))
    assert is_transient_storage_error(exc.OperationalError("INSERT ...", {}, locked))
    assert not is_transient_storage_error(sqlite3.OperationalError("no such table: turn"))
    assert not is_transient_storage_error(
        exc.IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    )
    assert not is_transient_storage_error(ValueError("not storage"))


def test_real_locked_sqlite_file_is_transient(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_s=0.05)
    init_db(engine)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(exc.OperationalError) as err, Session(engine) as db:
            repo.get_or_create_candidate(session=db, name="someone")
        assert is_transient_storage_error(err.value)
        with engine.connect() as conn:  # a broken query is not
            with pytest.raises(exc.OperationalError) as bad:
                conn.execute(text("SELECT * FROM no_such_table"))
        assert not is_transient_storage_error(bad.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
        engine.dispose()


def test_unopenable_sqlite_database_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "a-folder"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder}")  # a folder, not a file
    with pytest.raises(ConfigError, match="cannot reach the database"):
        init_db(engine)
