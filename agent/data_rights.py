"""Erasing data: "delete my data" and the retention purge, across every place data lives.

An interview's data sits in four places: database rows (session, turns, scores, report), the
graph's checkpoints, report files under ``reports/<id>/`` and, only if the candidate switched
recording on, ``recordings/<id>*.wav``. Coach chats are rows too. Every erase goes through here
so none of the four is forgotten.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.config import Settings
from agent.store import repo

SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Forgets(Protocol):
    """Deletes an interview's checkpoints (`InterviewRunner.forget`)."""

    async def forget(self, session_id: str) -> None:
        """Delete the checkpoints of one interview."""


def session_files(settings: Settings, session_id: str) -> list[Path]:
    """Files kept for an interview: its report folder and any opt-in recordings."""
    if not SAFE_ID.fullmatch(session_id):
        return []
    found: list[Path] = []
    folder = settings.reports_dir / session_id
    if folder.exists():
        found.append(folder)
    if settings.recordings_dir.is_dir():
        found += sorted(settings.recordings_dir.glob(f"{session_id}*.wav"))
    return found


def _remove_files(settings: Settings, session_ids: Iterable[str]) -> int:
    removed = 0
    for sid in session_ids:
        for path in session_files(settings, sid):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


async def _forget_and_remove(
    settings: Settings, runner: Forgets, session_ids: list[str]
) -> dict[str, int]:
    """After the rows: the interviews' checkpoints and files."""
    for sid in session_ids:
        await runner.forget(sid)
    files = await asyncio.to_thread(_remove_files, settings, session_ids)
    return {"checkpoints": len(session_ids), "files": files}


async def erase_sessions(
    settings: Settings, runner: Forgets, engine: Engine, session_ids: list[str]
) -> dict[str, int]:
    """Erase interviews everywhere; returns counts of what went."""

    def rows() -> dict[str, int]:
        with Session(engine) as db:
            return repo.delete_sessions(session=db, session_ids=session_ids)

    counts = await asyncio.to_thread(rows)
    return counts | await _forget_and_remove(settings, runner, session_ids)


async def erase_candidates(
    settings: Settings,
    runner: Forgets,
    engine: Engine,
    candidate_ids: list[str],
    *,
    keep_candidate: bool = False,
) -> dict[str, int]:
    """Erase everything of these candidates: interviews (everywhere) and chats."""

    def rows() -> tuple[dict[str, int], list[str]]:
        totals: dict[str, int] = {}
        sessions: list[str] = []
        with Session(engine) as db:
            for cid in candidate_ids:
                sessions += repo.candidate_session_ids(session=db, candidate_id=cid)
                counts = repo.delete_candidate_data(
                    session=db, candidate_id=cid, keep_candidate=keep_candidate
                )
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
        return totals, sessions

    totals, sessions = await asyncio.to_thread(rows)
    return totals | await _forget_and_remove(settings, runner, sessions)


async def purge_expired(
    settings: Settings,
    runner: Forgets,
    engine: Engine,
    *,
    now: datetime | None = None,
    skip: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Delete interviews and chats older than the retention period (none when it is 0).

    ``skip`` names interviews that must stay (open right now).
    """
    if settings.retention_days <= 0:
        return {}
    cutoff = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=settings.retention_days)

    def stale() -> list[str]:
        with Session(engine) as db:
            return [s for s in repo.stale_session_ids(session=db, before=cutoff) if s not in skip]

    ids = await asyncio.to_thread(stale)
    counts = await erase_sessions(settings, runner, engine, ids) if ids else {}

    def chats() -> int:
        with Session(engine) as db:
            return repo.delete_chats_before(session=db, before=cutoff)

    counts["chat_messages"] = await asyncio.to_thread(chats)
    return counts
