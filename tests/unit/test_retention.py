"""Retention: interviews and chats older than the setting are deleted everywhere, automatically."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.brain.types import CandidateProfile
from agent.config import Settings
from agent.data_rights import purge_expired
from agent.interview import open_runner
from agent.store import repo
from agent.store.db import make_engine

pytestmark = pytest.mark.unit

ANSWER = "I profiled the endpoint, added the missing index and cached the hot reads."


async def _interview(runner: Any, sid: str, flow: Any) -> None:
    step = await runner.start(session_id=sid, flow=flow, profile=CandidateProfile())
    for _ in range(10):
        step = await runner.answer(sid, ANSWER)
        if step.finished:
            return
    await runner.end(sid)


def _age(settings: Settings, sid: str, days: float) -> None:
    then = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(settings.data_dir / "interviewer.db") as db:
        db.execute("update interview_session set updated_at = ? where id = ?", (then, sid))
        db.execute("update chat_message set created_at = ?", (then,))


def _files(settings: Settings, sid: str) -> None:
    (settings.reports_dir / sid).mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / sid / "report.json").write_text("{}")
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    (settings.recordings_dir / f"{sid}.wav").write_bytes(b"RIFF")


def _threads(settings: Settings) -> set[str]:
    with sqlite3.connect(settings.checkpoint_path) as cp:
        return {t for (t,) in cp.execute("select distinct thread_id from checkpoints")}


async def test_purge_removes_old_interviews_everywhere(
    settings: Settings, brain: Any, mini_flow: Any
) -> None:
    async with open_runner(settings, brain=brain) as runner:
        for sid in ("old", "new"):
            await _interview(runner, sid, mini_flow)
            _files(settings, sid)
        engine = make_engine(settings.database_url)
        from sqlmodel import Session

        with Session(engine) as db:
            cand = repo.get_or_create_candidate(session=db, name="")
            repo.add_chat_message(
                session=db, candidate_id=cand.id, conversation_id="c1", role="candidate", text="hi"
            )
        _age(settings, "old", 31)

        settings.retention_days = 0
        assert await purge_expired(settings, runner, engine) == {}  # 0 keeps everything
        settings.retention_days = 30
        counts = await purge_expired(settings, runner, engine)
        assert counts["sessions"] == 1 and counts["chat_messages"] == 1
        assert counts["reports"] == 1 and counts["files"] == 2
        assert _threads(settings) == {"new"}
        assert not (settings.reports_dir / "old").exists()
        assert not (settings.recordings_dir / "old.wav").exists()
        assert (settings.recordings_dir / "new.wav").exists()
        with Session(engine) as db:
            assert [s.id for s in repo.list_sessions(session=db)] == ["new"]
            assert repo.load_report(session=db, session_id="new") is not None
        # an interview open right now is never purged, however old
        _age(settings, "new", 45)
        assert await purge_expired(settings, runner, engine, skip=frozenset({"new"})) == {
            "chat_messages": 0
        }
        engine.dispose()


def test_the_app_purges_on_start(settings: Settings, brain: Any, mini_flow: Any) -> None:
    import asyncio

    from agent.api.app import create_app
    from agent.voice.session import VoiceRuntime

    async def seed() -> None:
        async with open_runner(settings, brain=brain) as runner:
            await _interview(runner, "stale", mini_flow)

    asyncio.run(seed())
    _age(settings, "stale", 40)
    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]
    app = create_app(
        settings, runtime=no_voice, runner_factory=lambda: open_runner(settings, brain=brain)
    )
    with TestClient(app) as client:
        for _ in range(100):
            if client.get("/api/history").json()["interviews"] == []:
                break
            time.sleep(0.1)
        assert client.get("/api/history").json()["interviews"] == []
        assert client.get("/api/interviews/stale").status_code == 404
    assert "stale" not in _threads(settings)
