"""Storage and interview checkpoints on SQLite and on a real PostgreSQL server, and storage faults.

The PostgreSQL server is a throwaway cluster from Debian's binaries (`tests/pg_server.py`); every
test gets its own empty database. The fault tests stop the real server mid-interview (``pg_ctl
stop -m fast``) or hold a SQLite file's write lock from another connection, and check what the
candidate sees and that no finalized answer is lost.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import Session

from agent.brain.types import CandidateProfile
from agent.config import DbSettings, Settings
from agent.errors import ConfigError, SessionNotFoundError, StorageUnavailableError
from agent.interview import InterviewRunner, StoragePolicy, open_runner
from agent.store import repo
from agent.store.db import init_db, libpq_conninfo, make_engine
from tests.pg_server import PgServer

pytestmark = pytest.mark.unit

ANSWERS = (
    "I'm a backend engineer with five years of Python at a bank, building payment APIs.",
    "I would profile the endpoint first, look at the query plan, add an index and a cache.",
)
QUICK = StoragePolicy(retry_s=0.6, busy_timeout_s=0.1, connect_timeout_s=1.0)
"""Gives up fast: for outages meant to outlast the retry window."""
PATIENT = StoragePolicy(retry_s=30.0, busy_timeout_s=0.1, connect_timeout_s=1.0)
"""Rides out the outages the tests end themselves."""


@dataclass
class Backend:
    """One storage backend under test."""

    kind: str
    """'sqlite-memory', 'sqlite' or 'postgres'."""
    url: str
    settings: Settings
    server: PgServer | None = None

    def checkpoint_rows(self, thread_id: str) -> int:
        """How many checkpoints the interview has where this backend keeps them."""
        query = "SELECT count(*) FROM checkpoints WHERE thread_id = "
        if self.server is not None:
            with psycopg.connect(libpq_conninfo(self.url)) as conn:
                row = conn.execute(query + "%s", (thread_id,)).fetchone()
        else:
            with sqlite3.connect(self.settings.checkpoint_path) as conn:
                row = conn.execute(query + "?", (thread_id,)).fetchone()
        assert row is not None
        return int(row[0])


def _backend(kind: str, request: pytest.FixtureRequest, settings: Settings) -> Iterator[Backend]:
    server: PgServer | None = None
    dbname = ""
    if kind == "postgres":
        server = request.getfixturevalue("pg_server")
        assert server is not None
        if not server.running:  # a fault test that failed half-way left it stopped
            server.start()
        dbname = server.new_database()
        url = server.url(dbname)
    elif kind == "sqlite":
        url = f"sqlite:///{settings.data_dir / 'interviewer.db'}"
    else:
        url = "sqlite://"
    yield Backend(
        kind=kind,
        url=url,
        settings=settings.model_copy(update={"db": DbSettings(url=url)}),
        server=server,
    )
    if server is not None:
        if not server.running:
            server.start()
        server.drop_database(dbname)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Backend]:
    """A durable backend: a SQLite file or a database on the PostgreSQL test server."""
    yield from _backend(request.param, request, settings)


@pytest.fixture(params=["sqlite-memory", "sqlite", "postgres"])
def any_backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Backend]:
    """Every database the storage functions run on (in-memory SQLite too)."""
    yield from _backend(request.param, request, settings)


@pytest.fixture
def pg(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Backend]:
    """A database on the PostgreSQL test server."""
    yield from _backend("postgres", request, settings)


def _turn(index: int, answer: str) -> dict[str, Any]:
    return {
        "index": index,
        "kind": "main",
        "qid": f"q{index}",
        "question": "Q?",
        "answer": answer,
        "follow_up_of": None,
        "target": None,
        "score": 50.0,
        "thread_score": 50.0,
        "features": {"word_count": 1, "note": "naïve café ✓"},
        "evidence": ["because"],
    }


def test_storage_functions_on_every_backend(any_backend: Backend) -> None:
    engine = make_engine(any_backend.url)
    init_db(engine)
    init_db(engine)  # a second start finds the tables in place
    try:
        with Session(engine) as db:
            cand = repo.get_or_create_candidate(session=db, name="")
            assert repo.get_or_create_candidate(session=db, name="").id == cand.id
            for sid in ("s1", "s2"):
                repo.create_session(
                    session=db,
                    session_id=sid,
                    candidate_id=cand.id,
                    flow_id="backend",
                    role="Backend engineer",
                    seniority="mid",
                    skills=["python", "sql"],
                    brain="offline",
                )
            again = repo.create_session(
                session=db,
                session_id="s1",
                candidate_id=cand.id,
                flow_id="other",
                role="x",
                seniority="x",
                skills=[],
                brain="x",
            )
            assert again.flow_id == "backend"  # idempotent for the same id
            repo.upsert_turn(session=db, session_id="s1", turn=_turn(1, "B."))
            repo.upsert_turn(session=db, session_id="s1", turn=_turn(0, "A."))
            repo.upsert_turn(session=db, session_id="s1", turn=_turn(0, "A2."))
            turns = repo.list_turns(session=db, session_id="s1")
            assert [(t.index, t.answer) for t in turns] == [(0, "A2."), (1, "B.")]
            assert turns[0].features["note"] == "naïve café ✓"
            report = {
                "schema_version": "1.3",
                "overall_score": 61.0,
                "critique": "c",
                "scoring_version": "1.0",
                "prompts": [{"name": "p", "version": 1}],
                "questions": [
                    {"kind": "main", "question_id": "q0", "score": 61.0, "evidence": ["e"]},
                    {"kind": "follow_up", "question_id": "q0", "score": 50.0, "evidence": []},
                ],
            }
            repo.save_report(session=db, session_id="s1", report=report)
            repo.save_report(session=db, session_id="s1", report=report)  # replaces, no dupes
            assert repo.load_report(session=db, session_id="s1") == report
            assert repo.load_report(session=db, session_id="s2") is None
            row = repo.get_session(session=db, session_id="s1")
            assert row.status == "finished" and row.overall_score == 61.0
            assert row.skills == ["python", "sql"]
            assert sorted(s.name for s in repo.list_scores(session=db, session_id="s1")) == [
                "content:q0",
                "overall",
            ]
            with pytest.raises(SessionNotFoundError):
                repo.get_session(session=db, session_id="missing")
            assert {r.id for r in repo.list_sessions(session=db)} == {"s1", "s2"}
            assert [f[0] for f in repo.finished_interviews(session=db)] == ["s1"]
            for role, text in (("candidate", "how do I stop saying um?"), ("coach", "Pause.")):
                repo.add_chat_message(
                    session=db,
                    candidate_id=cand.id,
                    conversation_id="c1",
                    role=role,
                    text=text,
                    data={"cites": ["fillers"]} if role == "coach" else None,
                )
            chat = repo.list_chat(session=db, conversation_id="c1")
            assert [(m.role, m.data) for m in chat] == [
                ("candidate", {}),
                ("coach", {"cites": ["fillers"]}),
            ]
            assert repo.all_candidate_ids(session=db) == [cand.id]
            assert sorted(repo.candidate_session_ids(session=db, candidate_id=cand.id)) == [
                "s1",
                "s2",
            ]
            counts = repo.delete_candidate_data(session=db, candidate_id=cand.id)
            assert counts == {
                "sessions": 2,
                "turns": 2,
                "scores": 2,
                "reports": 1,
                "chat_messages": 2,
            }
            assert repo.all_candidate_ids(session=db) == []
            assert repo.list_sessions(session=db) == []
            assert repo.list_chat(session=db, conversation_id="c1") == []
    finally:
        engine.dispose()


async def test_checkpoints_survive_a_new_runner_and_forget_removes_them(
    backend: Backend,
    brain: Any,
    mini_flow: Any,
) -> None:
    profile = CandidateProfile(skills=("python",))
    async with open_runner(backend.settings, brain=brain) as first:
        await first.start(session_id="p1", flow=mini_flow, profile=profile)
        pending = await first.answer("p1", ANSWERS[0])
        assert not pending.finished
    # A new runner (as after a restart of the app) continues at the same question.
    async with open_runner(backend.settings, brain=brain) as second:
        again = await second.current("p1")
        assert (again.turn, again.question) == (pending.turn, pending.question)
        await second.answer("p1", ANSWERS[1])
        done = await second.end("p1")
        assert done.finished and done.report is not None
        assert backend.checkpoint_rows("p1") > 0
        await second.forget("p1")
        assert backend.checkpoint_rows("p1") == 0
        assert not await second.exists("p1")
        with pytest.raises(SessionNotFoundError):
            await second.current("p1")
    engine = make_engine(backend.url)
    try:
        with Session(engine) as db:
            assert [t.answer for t in repo.list_turns(session=db, session_id="p1")] == list(ANSWERS)
            stored = repo.load_report(session=db, session_id="p1")
            assert stored is not None and stored == done.report
            assert [q["answer"] for q in stored["questions"]] == list(ANSWERS)
    finally:
        engine.dispose()
    # PostgreSQL keeps the checkpoints in the same database: no SQLite file on the side.
    assert backend.settings.checkpoint_path.exists() == (backend.kind == "sqlite")


async def test_unreachable_postgres_is_a_clear_config_error(settings: Settings, brain: Any) -> None:
    with socketless_port() as port:
        url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{port}/nowhere"
        down = settings.model_copy(update={"db": DbSettings(url=url)})
        with pytest.raises(ConfigError) as err:
            async with open_runner(down, brain=brain, storage=QUICK):
                pass
        # Without the history database, the checkpoint store says the same.
        with pytest.raises(ConfigError) as err_checkpoints:
            async with open_runner(down, brain=brain, storage=QUICK, use_db=False):
                pass
    for e in (err, err_checkpoints):
        text = str(e.value)
        assert f"127.0.0.1:{port}/nowhere" in text and "s3cret" not in text
        assert "cannot reach the" in text


class socketless_port:  # noqa: N801  (used like a function)
    """A local port nothing listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


async def _wait_for_retry(caplog: pytest.LogCaptureFixture, task: asyncio.Future[Any]) -> None:
    """Until the runner has met the fault and is retrying (or the task ended anyway)."""
    for _ in range(600):
        if task.done() or any("retrying" in r.getMessage() for r in caplog.records):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the runner never reported a retry")


def _stored_answers(backend: Backend, sid: str) -> list[str]:
    engine = make_engine(backend.url)
    try:
        with Session(engine) as db:
            return [t.answer for t in repo.list_turns(session=db, session_id=sid)]
    finally:
        engine.dispose()


async def test_postgres_restart_mid_interview_is_ridden_out(
    pg: Backend, brain: Any, mini_flow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert pg.server is not None
    caplog.set_level(logging.INFO, logger="mockint.agent")
    async with open_runner(pg.settings, brain=brain, storage=PATIENT) as runner:
        await runner.start(session_id="r1", flow=mini_flow, profile=CandidateProfile())
        before = await runner.answer("r1", ANSWERS[0])
        await asyncio.to_thread(pg.server.stop, "fast")
        task = asyncio.ensure_future(runner.answer("r1", ANSWERS[1]))
        await _wait_for_retry(caplog, task)
        assert not task.done(), "the answer went through with the server stopped"
        await asyncio.to_thread(pg.server.start)
        after = await task
        assert after.finished or after.turn == before.turn + 1
        done = await runner.end("r1")
    assert _stored_answers(pg, "r1") == list(ANSWERS)
    assert done.report is not None
    assert [q["answer"] for q in done.report["questions"]] == list(ANSWERS)
    assert all(ANSWERS[1] not in r.getMessage() for r in caplog.records)


def test_postgres_down_past_the_retry_window_is_a_503_and_nothing_is_lost(
    pg: Backend, brain: Any
) -> None:
    from fastapi.testclient import TestClient

    from agent.api.app import create_app
    from agent.voice.session import VoiceRuntime

    assert pg.server is not None
    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]  # HTTP only
    app = create_app(
        pg.settings,
        runtime=no_voice,
        runner_factory=lambda: open_runner(pg.settings, brain=brain, storage=QUICK),
    )
    with TestClient(app) as client:
        started = client.post(
            "/api/interviews",
            json={
                "role": "Backend engineer",
                "seniority": "mid",
                "skills": "python",
                "consent": True,
            },
        )
        sid = started.json()["session_id"]
        turn = client.get(f"/api/interviews/{sid}").json()["pending"]["turn"]
        first = client.post(
            f"/api/interviews/{sid}/answers", json={"text": ANSWERS[0], "turn": turn}
        ).json()
        pg.server.stop("fast")
        try:
            refused = client.post(
                f"/api/interviews/{sid}/answers", json={"text": ANSWERS[1], "turn": first["turn"]}
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"]
            body = refused.json()
            assert body["answer_saved"] is False
            assert "storage is unavailable" in body["error"] and "try again" in body["error"]
            assert ANSWERS[1] not in refused.text
            # reads say the same, not a bare 500
            history = client.get("/api/history")
            assert history.status_code == 503, history.text
            assert "storage is unavailable" in history.json()["error"]
        finally:
            pg.server.start()
        # Back: the interview is still at the question that failed, and sending it again works.
        pending = client.get(f"/api/interviews/{sid}").json()["pending"]
        assert pending["turn"] == first["turn"]
        nxt = client.post(
            f"/api/interviews/{sid}/answers", json={"text": ANSWERS[1], "turn": first["turn"]}
        )
        assert nxt.status_code == 200 and nxt.json()["turn"] == first["turn"] + 1
    assert _stored_answers(pg, sid) == list(ANSWERS)


class SqliteLock:
    """Another writer holding a SQLite file's write lock until released (then it commits)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        self._conn.execute("BEGIN IMMEDIATE")
        # It really writes: readers that started before its commit hold a stale snapshot.
        self._conn.execute("CREATE TABLE IF NOT EXISTS other_writer (n INTEGER)")
        self._conn.execute("INSERT INTO other_writer VALUES (1)")

    def release(self) -> None:
        """Commit and let the file go."""
        self._conn.execute("COMMIT")
        self._conn.close()


@pytest.fixture
def sqlite(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Backend]:
    """A SQLite file database (with its checkpoint file next to it)."""
    yield from _backend("sqlite", request, settings)


async def _interview_at_second_question(runner: InterviewRunner, sid: str, flow: Any) -> int:
    await runner.start(session_id=sid, flow=flow, profile=CandidateProfile())
    return (await runner.answer(sid, ANSWERS[0])).turn


async def test_sqlite_checkpoints_locked_past_the_busy_timeout(
    sqlite: Backend, brain: Any, mini_flow: Any
) -> None:
    async with open_runner(sqlite.settings, brain=brain, storage=QUICK) as runner:
        turn = await _interview_at_second_question(runner, "l1", mini_flow)
        lock = SqliteLock(sqlite.settings.checkpoint_path)
        try:
            with pytest.raises(StorageUnavailableError) as err:
                await runner.answer("l1", ANSWERS[1])
            assert not err.value.answer_saved and "send it again" in str(err.value)
            assert (await runner.current("l1")).turn == turn  # reads still work meanwhile
        finally:
            lock.release()
        step = await runner.answer("l1", ANSWERS[1])
        assert step.turn == turn + 1
    assert _stored_answers(sqlite, "l1") == list(ANSWERS)


async def test_sqlite_database_locked_after_the_answer_was_checkpointed(
    sqlite: Backend, brain: Any, mini_flow: Any
) -> None:
    db_file = Path(sqlite.url.split("///", 1)[1])
    async with open_runner(sqlite.settings, brain=brain, storage=QUICK) as runner:
        turn = await _interview_at_second_question(runner, "l2", mini_flow)
        lock = SqliteLock(db_file)
        try:
            with pytest.raises(StorageUnavailableError) as err:
                await runner.answer("l2", ANSWERS[1])
            assert err.value.answer_saved and "your answer was saved" in str(err.value)
        finally:
            lock.release()
        # The checkpoint has it: the interview moved on, and the next read writes the turn.
        step = await runner.current("l2")
        assert step.turn == turn + 1
        assert _stored_answers(sqlite, "l2") == list(ANSWERS)


async def test_sqlite_lock_released_within_the_window_goes_unnoticed(
    sqlite: Backend, brain: Any, mini_flow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mockint.agent")
    async with open_runner(sqlite.settings, brain=brain, storage=PATIENT) as runner:
        turn = await _interview_at_second_question(runner, "l3", mini_flow)
        lock = SqliteLock(sqlite.settings.checkpoint_path)
        task = asyncio.ensure_future(runner.answer("l3", ANSWERS[1]))
        try:
            await _wait_for_retry(caplog, task)
            assert not task.done(), "the answer went through with the file locked"
        finally:
            lock.release()
        step = await task
        assert step.turn == turn + 1
    assert _stored_answers(sqlite, "l3") == list(ANSWERS)


class OutageInDecide:
    """The real brain, except that the server stops while it decides after one chosen answer.

    The restart comes a second later, so the graph step in flight fails part-way (the answer
    saved, the analysis's writes refused): a retry must finish that step, not answer again.
    """

    def __init__(self, brain: Any, server: PgServer, *, on_call: int) -> None:
        self._brain = brain
        self._server = server
        self._on_call = on_call
        self.calls = 0
        self.restarts: set[asyncio.Task[None]] = set()
        self.name = brain.name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._brain, attr)

    async def decide(self, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == self._on_call:
            # The step before (the answer taken) is checkpointed in the background: let it land,
            # so the outage hits this step's own writes, after the answer was already saved.
            await asyncio.sleep(0.3)
            await asyncio.to_thread(self._server.stop, "fast")
            task = asyncio.ensure_future(self._restart_soon())
            self.restarts.add(task)
        return await self._brain.decide(**kw)

    async def _restart_soon(self) -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self._server.start)


async def test_postgres_stopping_inside_a_graph_step_applies_the_answer_once(
    pg: Backend, brain: Any, mini_flow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert pg.server is not None
    caplog.set_level(logging.INFO, logger="mockint.agent")
    faulty = OutageInDecide(brain, pg.server, on_call=2)
    async with open_runner(pg.settings, brain=faulty, storage=PATIENT) as runner:  # type: ignore[arg-type]  # a delegating fake
        await runner.start(session_id="m1", flow=mini_flow, profile=CandidateProfile())
        before = await runner.answer("m1", ANSWERS[0])
        after = await runner.answer("m1", ANSWERS[1])  # the server stops inside this step
        await asyncio.gather(*faulty.restarts)
        assert any("retrying" in r.getMessage() for r in caplog.records)
        assert after.finished or after.turn == before.turn + 1
        values = await runner.values("m1")
        assert [t["answer"] for t in values["turns"]] == list(ANSWERS)
        done = await runner.end("m1")
    assert _stored_answers(pg, "m1") == list(ANSWERS)
    assert done.report is not None
    assert [q["answer"] for q in done.report["questions"]] == list(ANSWERS)
