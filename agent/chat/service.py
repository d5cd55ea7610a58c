"""Coach chat for a candidate: loads their interviews, answers, stores the conversation.

The seam the web app and the CLI share. In local single-user mode the candidate is the local
user and their data is every finished interview on this machine (the same as the history page);
with accounts, a signed-in candidate's own interviews and conversations only.
Each message and reply is stored with the candidate (`ChatMessage`), so "delete my data"
removes conversations too. Database work runs in a thread; nothing logs message text.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.brain.gemini_client import GeminiClient
from agent.brain.offline import load_encoder
from agent.chat.coach import Coach, CoachReply
from agent.chat.grounding import Finished
from agent.chat.knowledge import knowledge_base
from agent.config import Settings
from agent.errors import InterviewerError
from agent.store import repo
from agent.store.db import init_db, make_engine

MAX_MESSAGE_CHARS = 2000
LOCAL_CANDIDATE = ""
"""The local single user's candidate name (see `repo.get_or_create_candidate`)."""


class ChatInputError(InterviewerError):
    """A message the coach cannot take (empty or too long)."""


class CoachService:
    """Answers and stores coach-chat messages."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine or make_engine(settings.database_url)
        self._own_engine = engine is None
        init_db(self._engine)
        encoder, _ = load_encoder(settings.models.dir)
        gemini = GeminiClient(settings.gemini) if settings.gemini.configured else None
        self.coach = Coach(kb=knowledge_base(encoder), encoder=encoder, gemini=gemini)

    def close(self) -> None:
        """Release the database engine (when this service created it)."""
        if self._own_engine:
            self._engine.dispose()

    def _finished(self, candidate_id: str | None) -> list[Finished]:
        with Session(self._engine) as db:
            rows = repo.finished_interviews(session=db, limit=100, candidate_id=candidate_id)
        return [Finished(sid, when, rep) for sid, when, rep in reversed(rows)]

    async def ask(
        self,
        message: str,
        conversation_id: str | None = None,
        *,
        candidate_id: str | None = None,
    ) -> tuple[str, CoachReply]:
        """Answer one message; returns the conversation id and the reply (both stored).

        ``candidate_id`` is a signed-in candidate (None: the local user, who owns everything).
        """
        text = message.strip()
        if not text:
            raise ChatInputError("please type a question")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ChatInputError(
                f"that message is too long ({len(text)} characters); the limit is "
                f"{MAX_MESSAGE_CHARS}"
            )
        if conversation_id and candidate_id is not None:
            # a conversation id that is someone else's starts a new conversation instead
            mine = await asyncio.to_thread(self.conversation, conversation_id, candidate_id)
            anyone = await asyncio.to_thread(self.conversation, conversation_id)
            if anyone and not mine:
                conversation_id = None
        cid = conversation_id or uuid.uuid4().hex[:16]
        done = await asyncio.to_thread(self._finished, candidate_id)
        reply = await self.coach.reply(text, done)
        await asyncio.to_thread(self._store, cid, text, reply, candidate_id)
        return cid, reply

    def _store(self, cid: str, text: str, reply: CoachReply, candidate_id: str | None) -> None:
        with Session(self._engine) as db:
            owner = (
                candidate_id or repo.get_or_create_candidate(session=db, name=LOCAL_CANDIDATE).id
            )
            repo.add_chat_message(
                session=db, candidate_id=owner, conversation_id=cid, role="candidate", text=text
            )
            repo.add_chat_message(
                session=db,
                candidate_id=owner,
                conversation_id=cid,
                role="coach",
                text=reply.text,
                data=reply.model_dump(exclude={"text"}),
            )

    def conversation(
        self, conversation_id: str, candidate_id: str | None = None
    ) -> list[dict[str, Any]]:
        """A stored conversation, oldest message first (only the candidate's own when given)."""
        with Session(self._engine) as db:
            rows = repo.list_chat(
                session=db, conversation_id=conversation_id, candidate_id=candidate_id
            )
            return [
                {
                    "role": m.role,
                    "text": m.text,
                    "at": m.created_at.isoformat(timespec="seconds"),
                    **m.data,
                }
                for m in rows
            ]
