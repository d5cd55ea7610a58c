"""Drives interviews through the checkpointed graph and records every finalized answer.

`InterviewRunner` is what the CLI (and later the voice layer) talks to: start an interview,
read the line the interviewer is waiting on, submit an answer, end early, and continue after a
crash. The graph's checkpoint is the source of truth for where an interview is; the database
holds turns, scores and reports for history.

It also owns where checkpoints live (a SQLite file by default, the same PostgreSQL database when
the database URL is PostgreSQL) and riding out a briefly unavailable database: storage faults
are retried for a few seconds, then reported as `StorageUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Command
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.brain.base import InterviewBrain
from agent.brain.types import CandidateProfile
from agent.coach.schema import Flow
from agent.config import Settings
from agent.errors import (
    ConfigError,
    InterviewerError,
    SessionNotFoundError,
    StorageUnavailableError,
)
from agent.flow.context import InterviewContext
from agent.flow.graph import build_graph
from agent.flow.state import InterviewState
from agent.store import repo
from agent.store.db import (
    describe_url,
    init_db,
    is_postgres,
    is_transient_storage_error,
    libpq_conninfo,
    make_engine,
)

logger = logging.getLogger("mockint.agent")


@dataclass(frozen=True, slots=True)
class Step:
    """Where an interview is: the line being waited on, or the finished report."""

    session_id: str
    say: str
    """What the interviewer says now (the question with any acknowledgement), or the closing."""
    question: str = ""
    kind: str = ""
    turn: int = 0
    finished: bool = False
    report: dict[str, Any] | None = None


def deterministic_session_id(*parts: object) -> str:
    """A stable id derived from inputs (used by `simulate` for reproducible reports)."""
    digest = hashlib.sha256(
        json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    return f"sim-{digest[:16]}"


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """How the runner rides out a briefly unavailable database."""

    retry_s: float = 5.0
    """Keep retrying a storage operation that failed this long (with backoff) before reporting
    `StorageUnavailableError`: a restarting server or a short lock goes unnoticed."""
    busy_timeout_s: float = 5.0
    """SQLite: how long one statement waits for another writer's lock."""
    connect_timeout_s: float = 3.0
    """PostgreSQL: how long one attempt to get a connection may take."""
    pool_size: int = 8
    """PostgreSQL: most checkpoint connections open at once."""


_SAVED = (
    "your answer was saved, but storage is unavailable right now; the interview continues at "
    "the next question in a moment"
)
_NOT_SAVED = (
    "storage is unavailable right now, so your answer was not saved; please send it again in a "
    "moment"
)
_UNAVAILABLE = (
    "storage is unavailable right now; please try again in a moment (nothing already saved is lost)"
)
_ENDED = (
    "the interview was ended, but storage is unavailable right now; the report follows in a moment"
)

T = TypeVar("T")


class InterviewRunner:
    """Runs interviews on one compiled graph with a checkpointer and a database.

    Every public method rides out a briefly unavailable database: a failed storage operation
    is retried with backoff for `StoragePolicy.retry_s`, then reported as
    `StorageUnavailableError`. Retries are idempotent: an answer is applied to the question it
    was given for and never to the next one, whatever point the failed attempt had reached.
    """

    def __init__(
        self,
        *,
        checkpointer: BaseCheckpointSaver[Any],
        brain: InterviewBrain,
        settings: Settings,
        engine: Engine | None,
        storage: StoragePolicy | None = None,
    ) -> None:
        self._graph = build_graph(checkpointer=checkpointer)
        self._checkpointer = checkpointer
        self._ctx = InterviewContext(
            brain=brain,
            scoring=settings.scoring,
            max_cues=settings.perception.max_cues,
            pace_band_top=settings.perception.pace_band_wpm[1],
        )
        self._engine = engine
        self._brain = brain
        self._storage = storage or StoragePolicy()
        self._unrecorded: set[str] = set()
        """Interviews whose last database write failed (written again on the next read)."""

    def _config(self, session_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": session_id}}

    async def _retrying(
        self,
        op: Callable[[], Awaitable[T]],
        *,
        message: str = _UNAVAILABLE,
        saved: Callable[[], bool] | None = None,
        saved_message: str = _SAVED,
    ) -> T:
        """Run ``op``, again while storage is briefly unavailable, until the retry window ends.

        Raises:
            StorageUnavailableError: storage stayed unavailable for the whole window.
        """
        deadline = time.monotonic() + self._storage.retry_s
        delay = 0.05
        attempts = 0
        while True:
            attempts += 1
            try:
                return await op()
            except Exception as e:
                if not is_transient_storage_error(e):
                    raise
                # Only the error's type is logged: SQL errors can carry answer text.
                error = type(e).__name__
            await self._after_storage_error()
            left = deadline - time.monotonic()
            if left <= 0:
                answer_saved = saved() if saved is not None else False
                logger.warning(
                    "storage unavailable: giving up",
                    extra={"attempts": attempts, "error": error, "answer_saved": answer_saved},
                )
                raise StorageUnavailableError(
                    saved_message if answer_saved else message, answer_saved=answer_saved
                )
            logger.info(
                "storage unavailable: retrying", extra={"attempt": attempts, "error": error}
            )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 1.0)

    async def _after_storage_error(self) -> None:
        """Leave no half-open SQLite transaction behind (its stale snapshot could never write)."""
        saver = self._checkpointer
        if isinstance(saver, AsyncSqliteSaver):
            async with saver.lock:
                if saver.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the next attempt reports it
                        await saver.conn.rollback()

    async def forget(self, session_id: str) -> None:
        """Delete an interview's checkpoints (its state in the graph), e.g. on "delete my data"."""

        async def attempt() -> None:
            if isinstance(self._checkpointer, AsyncSqliteSaver):
                await self._checkpointer.setup()  # a fresh database has no tables yet
            await self._checkpointer.adelete_thread(session_id)

        await self._retrying(attempt)

    async def exists(self, session_id: str) -> bool:
        """Whether a checkpoint exists for this interview."""
        return await self._retrying(lambda: self._exists(session_id))

    async def _exists(self, session_id: str) -> bool:
        snap = await self._graph.aget_state(self._config(session_id))
        return bool(snap.values)

    async def start(
        self,
        *,
        session_id: str,
        flow: Flow,
        profile: CandidateProfile,
        delivery_prefs: dict[str, Any] | None = None,
        candidate_id: str | None = None,
    ) -> Step:
        """Start a new interview and return its first question.

        Args:
            session_id: A new interview id.
            flow: The coach flow to run.
            profile: Role, seniority, skills, résumé and job description.
            delivery_prefs: The candidate's fairness switches for delivery scoring
                (``scoring.delivery.DeliveryPrefs`` fields).
            candidate_id: Whose interview this is (a signed-in account's candidate); by default
                the local candidate named in the profile.
        """
        began = False

        async def attempt() -> Step:
            nonlocal began
            if await self._exists(session_id):
                if began:  # an earlier attempt saved the first checkpoint: carry on from it
                    return await self._current(session_id)
                raise InterviewerError(
                    f"interview '{session_id}' already exists; continue it instead"
                )
            began = True
            if self._engine is not None:
                await asyncio.to_thread(self._create_row, session_id, flow, profile, candidate_id)
            state: InterviewState = {
                "session_id": session_id,
                "profile": profile.model_dump(mode="json"),
                "flow": flow.model_dump(mode="json"),
                "delivery_prefs": dict(delivery_prefs or {}),
            }
            await self._graph.ainvoke(state, self._config(session_id), context=self._ctx)
            return await self._current(session_id)

        return await self._retrying(attempt)

    def _create_row(
        self, session_id: str, flow: Flow, profile: CandidateProfile, candidate_id: str | None
    ) -> None:
        assert self._engine is not None
        with Session(self._engine) as db:
            owner = candidate_id or repo.get_or_create_candidate(session=db, name=profile.name).id
            repo.create_session(
                session=db,
                session_id=session_id,
                candidate_id=owner,
                flow_id=flow.id,
                role=profile.role,
                seniority=profile.seniority,
                skills=list(profile.skills),
                brain=self._brain.name,
            )

    @property
    def brain_name(self) -> str:
        """The brain this runner uses ("offline" or "gemini")."""
        return self._brain.name

    async def values(self, session_id: str) -> dict[str, Any]:
        """A copy of the interview's current graph state (for evaluation and inspection)."""
        snap = await self._retrying(lambda: self._graph.aget_state(self._config(session_id)))
        if not snap.values:
            raise SessionNotFoundError(f"no interview '{session_id}'")
        return dict(snap.values)

    async def delivery_prefs(self, session_id: str) -> dict[str, Any]:
        """The candidate's fairness switches for this interview (empty when none were set)."""
        snap = await self._retrying(lambda: self._graph.aget_state(self._config(session_id)))
        if not snap.values:
            raise SessionNotFoundError(f"no interview '{session_id}' to continue")
        return dict(snap.values.get("delivery_prefs") or {})

    async def current(self, session_id: str) -> Step:
        """The line the interview is waiting on (after a crash too), or its report."""
        return await self._retrying(lambda: self._current(session_id))

    async def _current(self, session_id: str) -> Step:
        cfg = self._config(session_id)
        for _ in range(3):
            snap = await self._graph.aget_state(cfg)
            if not snap.values:
                raise SessionNotFoundError(f"no interview '{session_id}' to continue")
            report = snap.values.get("report")
            finished = report is not None and not snap.next
            if finished or session_id in self._unrecorded:
                await self._record_async(session_id, snap.values)
            if snap.interrupts:
                payload = snap.interrupts[0].value
                return Step(
                    session_id=session_id,
                    say=payload["say"],
                    question=payload["question"],
                    kind=payload["kind"],
                    turn=int(payload["turn"]),
                )
            if finished:
                return Step(
                    session_id=session_id,
                    say=snap.values.get("closing", ""),
                    finished=True,
                    report=report,
                )
            # Killed mid-step: finish the interrupted work from the last checkpoint.
            await self._graph.ainvoke(None, cfg, context=self._ctx)
        raise InterviewerError(f"interview '{session_id}' could not be resumed")

    async def answer(
        self,
        session_id: str,
        text: str,
        *,
        delivery: dict[str, Any] | None = None,
        span: tuple[float, float] | None = None,
    ) -> Step:
        """Submit the candidate's answer to the pending question.

        Args:
            session_id: The interview.
            text: What the candidate said or typed.
            delivery: Spoken answers: ``{"fluency": ..., "presence": ...}`` measurement dicts.
            span: Spoken answers: (start, end) seconds on the interview clock.

        Raises:
            StorageUnavailableError: storage stayed unavailable; ``answer_saved`` tells whether
                the answer reached the checkpoint (then it is not to be sent again).
        """
        resume: str | dict[str, Any] = text
        if delivery is not None or span is not None:
            resume = {"text": text, "delivery": delivery, "span": list(span) if span else None}
        return await self._resume(session_id, resume, message=_NOT_SAVED, saved_message=_SAVED)

    async def end(self, session_id: str) -> Step:
        """End the interview now and produce the report from the answers so far."""
        return await self._resume(
            session_id, {"action": "end"}, message=_UNAVAILABLE, saved_message=_ENDED
        )

    async def _resume(
        self, session_id: str, resume: str | dict[str, Any], *, message: str, saved_message: str
    ) -> Step:
        """Resume the pending question once, however many attempts storage faults take."""
        # The question this resume is for (read by the first attempt that got that far), and
        # whether the checkpoint holds the resume (a later attempt found the interview moved on).
        turn: int | None = None
        applied = False

        async def attempt() -> Step:
            nonlocal turn, applied
            step = await self._current(session_id)
            if turn is None:
                if step.finished:
                    return step
                turn = step.turn
            if not applied and not step.finished and step.turn == turn:
                await self._graph.ainvoke(
                    Command(resume=resume), self._config(session_id), context=self._ctx
                )
            applied = True
            return await self._after(session_id)

        return await self._retrying(
            attempt, message=message, saved=lambda: applied, saved_message=saved_message
        )

    async def _after(self, session_id: str) -> Step:
        snap = await self._graph.aget_state(self._config(session_id))
        await self._record_async(session_id, snap.values)
        return await self._current(session_id)

    async def _record_async(self, session_id: str, values: dict[str, Any]) -> None:
        """`_record` off the event loop, remembering a failure so a later read catches up."""
        try:
            await asyncio.to_thread(self._record, session_id, values)
        except BaseException:
            self._unrecorded.add(session_id)
            raise
        self._unrecorded.discard(session_id)

    def _record(self, session_id: str, values: dict[str, Any]) -> None:
        """Write analysed turns (and the report when there is one) to the database.

        Idempotent (upserts): after a storage fault the next call writes whatever was missed.
        """
        if self._engine is None:
            return
        with Session(self._engine) as db:
            for turn in values.get("turns", []):
                if turn.get("features") is not None:
                    repo.upsert_turn(session=db, session_id=session_id, turn=turn)
            report = values.get("report")
            if report is not None:
                repo.save_report(session=db, session_id=session_id, report=report)


def write_report_files(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into a folder; returns both paths."""
    from agent.report.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    html_path = out_dir / "report.html"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def build_offline_brain(settings: Settings) -> InterviewBrain:
    """The offline brain with the provisioned encoder."""
    from agent.brain.offline import OfflineBrain, load_encoder

    encoder, vocab = load_encoder(settings.models.dir)
    return OfflineBrain(encoder=encoder, scoring=settings.scoring, vocabulary=vocab)


def build_brain(settings: Settings) -> InterviewBrain:
    """Gemini over the offline brain when a key is set, else the offline brain alone."""
    offline = build_offline_brain(settings)
    if not settings.gemini.configured:
        return offline
    from agent.brain.gemini import GeminiBrain
    from agent.brain.gemini_client import GeminiClient
    from agent.brain.offline import OfflineBrain

    assert isinstance(offline, OfflineBrain)
    return GeminiBrain(
        offline=offline, client=GeminiClient(settings.gemini), settings=settings.gemini
    )


@asynccontextmanager
async def open_runner(
    settings: Settings,
    *,
    brain: InterviewBrain | None = None,
    durable: bool = True,
    use_db: bool = True,
    storage: StoragePolicy | None = None,
) -> AsyncIterator[InterviewRunner]:
    """A runner on the configured database, with durable checkpoints unless ``durable=False``.

    Checkpoints live in PostgreSQL when the database URL is PostgreSQL (the same database),
    otherwise in the SQLite file ``settings.checkpoint_path``; in memory when not durable.

    Raises:
        ConfigError: the database cannot be reached or opened at start.
    """
    policy = storage or StoragePolicy()
    brain = brain or build_brain(settings)
    url = settings.database_url
    async with AsyncExitStack() as stack:
        engine = None
        if use_db:
            engine = make_engine(
                url,
                echo=settings.db.echo,
                busy_timeout_s=policy.busy_timeout_s,
                connect_timeout_s=policy.connect_timeout_s,
            )
            stack.callback(engine.dispose)
            await asyncio.to_thread(init_db, engine)
        saver: BaseCheckpointSaver[Any]
        if not durable:
            saver = InMemorySaver()
        elif is_postgres(url):
            saver = await stack.enter_async_context(_postgres_saver(url, policy))
        else:
            saver = await stack.enter_async_context(_sqlite_saver(settings.checkpoint_path, policy))
        yield InterviewRunner(
            checkpointer=saver, brain=brain, settings=settings, engine=engine, storage=policy
        )


@asynccontextmanager
async def _sqlite_saver(path: Path, policy: StoragePolicy) -> AsyncIterator[AsyncSqliteSaver]:
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(str(path), timeout=policy.busy_timeout_s) as conn:
        yield AsyncSqliteSaver(conn)


@asynccontextmanager
async def _postgres_saver(url: str, policy: StoragePolicy) -> AsyncIterator[AsyncPostgresSaver]:
    """Checkpoints in PostgreSQL through a connection pool that outlives a server restart.

    Each connection is checked before use, so ones a restart broke are replaced; a failed
    reconnection is given up quickly (``reconnect_timeout``) so the next request tries afresh
    instead of waiting out a long backoff.
    """
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        libpq_conninfo(url),
        open=False,
        min_size=1,
        max_size=max(1, policy.pool_size),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=AsyncConnectionPool.check_connection,
        timeout=policy.connect_timeout_s,
        reconnect_timeout=policy.connect_timeout_s,
        name="mockint-checkpoints",
    )
    try:
        await pool.open(wait=True, timeout=policy.connect_timeout_s)
    except PoolTimeout:
        await pool.close()
        raise ConfigError(
            f"cannot reach the PostgreSQL database {describe_url(url)} for interview "
            f"checkpoints (no connection within {policy.connect_timeout_s:g} s)"
        ) from None
    try:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        yield saver
    finally:
        await pool.close()
