"""Drives interviews through the checkpointed graph and records every finalized answer.

`InterviewRunner` is what the CLI (and later the voice layer) talks to: start an interview,
read the line the interviewer is waiting on, submit an answer, end early, and continue after a
crash. The graph's checkpoint is the source of truth for where an interview is; the database
holds turns, scores and reports for history.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.brain.base import InterviewBrain
from agent.brain.types import CandidateProfile
from agent.coach.schema import Flow
from agent.config import Settings
from agent.errors import InterviewerError, SessionNotFoundError
from agent.flow.context import InterviewContext
from agent.flow.graph import build_graph
from agent.flow.state import InterviewState
from agent.store import repo
from agent.store.db import init_db, make_engine

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


class InterviewRunner:
    """Runs interviews on one compiled graph with a checkpointer and a database."""

    def __init__(
        self,
        *,
        checkpointer: BaseCheckpointSaver[Any],
        brain: InterviewBrain,
        settings: Settings,
        engine: Engine | None,
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

    def _config(self, session_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": session_id}}

    async def forget(self, session_id: str) -> None:
        """Delete an interview's checkpoints (its state in the graph), e.g. on "delete my data"."""
        if isinstance(self._checkpointer, AsyncSqliteSaver):
            await self._checkpointer.setup()  # a fresh database has no tables yet
        await self._checkpointer.adelete_thread(session_id)

    async def exists(self, session_id: str) -> bool:
        """Whether a checkpoint exists for this interview."""
        snap = await self._graph.aget_state(self._config(session_id))
        return bool(snap.values)

    async def start(
        self,
        *,
        session_id: str,
        flow: Flow,
        profile: CandidateProfile,
        delivery_prefs: dict[str, Any] | None = None,
    ) -> Step:
        """Start a new interview and return its first question.

        Args:
            session_id: A new interview id.
            flow: The coach flow to run.
            profile: Role, seniority, skills, résumé and job description.
            delivery_prefs: The candidate's fairness switches for delivery scoring
                (``scoring.delivery.DeliveryPrefs`` fields).
        """
        if await self.exists(session_id):
            raise InterviewerError(f"interview '{session_id}' already exists; continue it instead")
        if self._engine is not None:
            with Session(self._engine) as db:
                cand = repo.get_or_create_candidate(session=db, name=profile.name)
                repo.create_session(
                    session=db,
                    session_id=session_id,
                    candidate_id=cand.id,
                    flow_id=flow.id,
                    role=profile.role,
                    seniority=profile.seniority,
                    skills=list(profile.skills),
                    brain=self._brain.name,
                )
        state: InterviewState = {
            "session_id": session_id,
            "profile": profile.model_dump(mode="json"),
            "flow": flow.model_dump(mode="json"),
            "delivery_prefs": dict(delivery_prefs or {}),
        }
        await self._graph.ainvoke(state, self._config(session_id), context=self._ctx)
        return await self.current(session_id)

    @property
    def brain_name(self) -> str:
        """The brain this runner uses ("offline" or "gemini")."""
        return self._brain.name

    async def values(self, session_id: str) -> dict[str, Any]:
        """A copy of the interview's current graph state (for evaluation and inspection)."""
        snap = await self._graph.aget_state(self._config(session_id))
        if not snap.values:
            raise SessionNotFoundError(f"no interview '{session_id}'")
        return dict(snap.values)

    async def delivery_prefs(self, session_id: str) -> dict[str, Any]:
        """The candidate's fairness switches for this interview (empty when none were set)."""
        snap = await self._graph.aget_state(self._config(session_id))
        if not snap.values:
            raise SessionNotFoundError(f"no interview '{session_id}' to continue")
        return dict(snap.values.get("delivery_prefs") or {})

    async def current(self, session_id: str) -> Step:
        """The line the interview is waiting on (after a crash too), or its report."""
        cfg = self._config(session_id)
        for _ in range(3):
            snap = await self._graph.aget_state(cfg)
            if not snap.values:
                raise SessionNotFoundError(f"no interview '{session_id}' to continue")
            if snap.interrupts:
                payload = snap.interrupts[0].value
                return Step(
                    session_id=session_id,
                    say=payload["say"],
                    question=payload["question"],
                    kind=payload["kind"],
                    turn=int(payload["turn"]),
                )
            report = snap.values.get("report")
            if report is not None and not snap.next:
                self._record(session_id, snap.values)
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
        """
        step = await self.current(session_id)
        if step.finished:
            return step
        resume: str | dict[str, Any] = text
        if delivery is not None or span is not None:
            resume = {"text": text, "delivery": delivery, "span": list(span) if span else None}
        await self._graph.ainvoke(
            Command(resume=resume),
            self._config(session_id),
            context=self._ctx,
        )
        return await self._after(session_id)

    async def end(self, session_id: str) -> Step:
        """End the interview now and produce the report from the answers so far."""
        step = await self.current(session_id)
        if step.finished:
            return step
        await self._graph.ainvoke(
            Command(resume={"action": "end"}),
            self._config(session_id),
            context=self._ctx,
        )
        return await self._after(session_id)

    async def _after(self, session_id: str) -> Step:
        snap = await self._graph.aget_state(self._config(session_id))
        self._record(session_id, snap.values)
        return await self.current(session_id)

    def _record(self, session_id: str, values: dict[str, Any]) -> None:
        """Write analysed turns (and the report when there is one) to the database."""
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
) -> AsyncIterator[InterviewRunner]:
    """A runner with a SQLite checkpointer (or in-memory) and the configured database."""
    brain = brain or build_brain(settings)
    engine = None
    if use_db:
        engine = make_engine(settings.database_url, echo=settings.db.echo)
        init_db(engine)
    try:
        if durable:
            settings.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            async with AsyncSqliteSaver.from_conn_string(str(settings.checkpoint_path)) as saver:
                yield InterviewRunner(
                    checkpointer=saver, brain=brain, settings=settings, engine=engine
                )
        else:
            yield InterviewRunner(
                checkpointer=InMemorySaver(), brain=brain, settings=settings, engine=engine
            )
    finally:
        if engine is not None:
            engine.dispose()
