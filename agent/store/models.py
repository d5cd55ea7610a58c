"""Database tables (SQLModel): interviews and what they produced, chats, accounts and shares.

Candidates, interviews, turns, scores, reports and coach chats; in multi-user mode also the
accounts, their sign-ins and the report shares between candidates and coaches.

Only per-turn text and derived features are stored: never raw audio or video.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A new random id (UUID4 hex)."""
    return uuid.uuid4().hex


class Candidate(SQLModel, table=True):
    """Someone practising."""

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=_now)


class InterviewSession(SQLModel, table=True):
    """One interview (also the LangGraph thread id)."""

    __tablename__ = "interview_session"

    id: str = Field(primary_key=True)
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    flow_id: str = Field(index=True)
    role: str
    seniority: str
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    brain: str = "offline"
    status: str = Field(default="active", index=True)
    """'active', 'finished' or 'abandoned'."""
    overall_score: float | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class Turn(SQLModel, table=True):
    """A question asked and the answer given (text and derived features only)."""

    __table_args__ = (UniqueConstraint("session_id", "index"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="interview_session.id", index=True)
    index: int
    kind: str
    question_id: str
    question: str
    answer: str
    follow_up_of: int | None = None
    target: str | None = None
    score: float | None = None
    thread_score: float | None = None
    features: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=_now)


class Score(SQLModel, table=True):
    """A stored score with its evidence and the versions that produced it."""

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="interview_session.id", index=True)
    name: str
    value: float
    because: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    scoring_version: str
    prompts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=_now)


class ReportRecord(SQLModel, table=True):
    """The final report of a session."""

    __tablename__ = "report"

    session_id: str = Field(foreign_key="interview_session.id", primary_key=True)
    schema_version: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=_now)


class ChatMessage(SQLModel, table=True):
    """One message of a coach-chat conversation (the candidate's or the coach's)."""

    __tablename__ = "chat_message"

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    conversation_id: str = Field(index=True, max_length=32)
    role: str
    """'candidate' or 'coach'."""
    text: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """The coach's citations, figures, drill or rewrite (empty for the candidate's messages)."""
    created_at: datetime = Field(default_factory=_now)


class Account(SQLModel, table=True):
    """A sign-in for multi-user mode; each account practises as its own candidate."""

    id: str = Field(default_factory=new_id, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    """Lower-case; letters, digits and . _ - only."""
    password_hash: str
    """argon2id (never the password)."""
    role: str = Field(default="candidate", max_length=16)
    """'candidate', 'coach' or 'admin'."""
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    created_at: datetime = Field(default_factory=_now)


class LoginSession(SQLModel, table=True):
    """A signed-in browser. Only a hash of the cookie's token is stored."""

    __tablename__ = "login_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="account.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_now)
    expires_at: datetime


class ReportShare(SQLModel, table=True):
    """A candidate lets a coach read their interview reports (until they revoke it)."""

    __tablename__ = "report_share"
    __table_args__ = (UniqueConstraint("candidate_id", "coach_account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    coach_account_id: str = Field(foreign_key="account.id", index=True)
    created_at: datetime = Field(default_factory=_now)
