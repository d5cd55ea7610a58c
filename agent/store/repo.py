"""Keyword-only data functions over the tables. Callers own the SQLModel `Session`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from agent.errors import SessionNotFoundError
from agent.store.models import (
    Candidate,
    ChatMessage,
    InterviewSession,
    ReportRecord,
    Score,
    Turn,
)


def get_or_create_candidate(*, session: Session, name: str = "") -> Candidate:
    """The candidate with this name (the local single user when empty)."""
    found = session.exec(select(Candidate).where(Candidate.name == name)).first()
    if found:
        return found
    cand = Candidate(name=name)
    session.add(cand)
    session.commit()
    session.refresh(cand)
    return cand


def create_session(
    *,
    session: Session,
    session_id: str,
    candidate_id: str,
    flow_id: str,
    role: str,
    seniority: str,
    skills: list[str],
    brain: str,
) -> InterviewSession:
    """Record a new interview (idempotent for the same id)."""
    existing = session.get(InterviewSession, session_id)
    if existing:
        return existing
    row = InterviewSession(
        id=session_id,
        candidate_id=candidate_id,
        flow_id=flow_id,
        role=role,
        seniority=seniority,
        skills=skills,
        brain=brain,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def get_session(*, session: Session, session_id: str) -> InterviewSession:
    """Load an interview or raise `SessionNotFoundError`."""
    row = session.get(InterviewSession, session_id)
    if row is None:
        raise SessionNotFoundError(f"no interview session '{session_id}'")
    return row


def upsert_turn(*, session: Session, session_id: str, turn: dict[str, Any]) -> Turn:
    """Insert or update one analysed turn (by session and index)."""
    row = session.exec(
        select(Turn).where(Turn.session_id == session_id, Turn.index == turn["index"])
    ).first()
    if row is None:
        row = Turn(
            session_id=session_id,
            index=turn["index"],
            kind=turn["kind"],
            question_id=turn["qid"],
            question=turn["question"],
            answer=turn["answer"],
        )
    row.kind = turn["kind"]
    row.question_id = turn["qid"]
    row.question = turn["question"]
    row.answer = turn["answer"]
    row.follow_up_of = turn["follow_up_of"]
    row.target = turn["target"]
    row.score = turn.get("score")
    row.thread_score = turn.get("thread_score")
    row.features = turn.get("features") or {}
    row.evidence = list(turn.get("evidence") or [])
    session.add(row)
    parent = session.get(InterviewSession, session_id)
    if parent is not None:
        parent.updated_at = datetime.now(UTC)
        session.add(parent)
    session.commit()
    session.refresh(row)
    return row


def list_turns(*, session: Session, session_id: str) -> list[Turn]:
    """Turns of an interview in order."""
    return list(
        session.exec(
            select(Turn).where(Turn.session_id == session_id).order_by(col(Turn.index))
        ).all()
    )


def save_report(*, session: Session, session_id: str, report: dict[str, Any]) -> ReportRecord:
    """Store the final report and overall score; marks the interview finished."""
    rec = session.get(ReportRecord, session_id)
    if rec is None:
        rec = ReportRecord(session_id=session_id, schema_version=report["schema_version"])
    rec.data = report
    rec.schema_version = report["schema_version"]
    session.add(rec)
    existing = session.exec(select(Score).where(Score.session_id == session_id)).all()
    for s in existing:
        session.delete(s)
    session.add(
        Score(
            session_id=session_id,
            name="overall",
            value=report["overall_score"],
            because=[report["critique"]],
            scoring_version=report["scoring_version"],
            prompts=report["prompts"],
        )
    )
    for q in report["questions"]:
        if q["kind"] == "main":
            session.add(
                Score(
                    session_id=session_id,
                    name=f"content:{q['question_id']}",
                    value=q["score"],
                    because=q["evidence"],
                    scoring_version=report["scoring_version"],
                    prompts=report["prompts"],
                )
            )
    parent = get_session(session=session, session_id=session_id)
    parent.status = "finished"
    parent.overall_score = report["overall_score"]
    parent.updated_at = datetime.now(UTC)
    session.add(parent)
    session.commit()
    return rec


def load_report(*, session: Session, session_id: str) -> dict[str, Any] | None:
    """The stored report of an interview, if finished."""
    rec = session.get(ReportRecord, session_id)
    return None if rec is None else dict(rec.data)


def list_sessions(
    *, session: Session, limit: int = 50, candidate_id: str | None = None
) -> list[InterviewSession]:
    """Most recent interviews first (of one candidate when ``candidate_id`` is given)."""
    query = select(InterviewSession)
    if candidate_id is not None:
        query = query.where(InterviewSession.candidate_id == candidate_id)
    return list(
        session.exec(query.order_by(col(InterviewSession.created_at).desc()).limit(limit)).all()
    )


def list_scores(*, session: Session, session_id: str) -> list[Score]:
    """Stored scores of an interview."""
    return list(session.exec(select(Score).where(Score.session_id == session_id)).all())


def finished_interviews(
    *, session: Session, limit: int = 100, candidate_id: str | None = None
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """(id, start time, report) of the most recent finished interviews, newest first."""
    out = []
    for row in list_sessions(session=session, limit=limit, candidate_id=candidate_id):
        report = load_report(session=session, session_id=row.id)
        if report is not None:
            out.append((row.id, row.created_at, report))
    return out


def add_chat_message(
    *,
    session: Session,
    candidate_id: str,
    conversation_id: str,
    role: str,
    text: str,
    data: dict[str, Any] | None = None,
) -> ChatMessage:
    """Store one coach-chat message."""
    msg = ChatMessage(
        candidate_id=candidate_id,
        conversation_id=conversation_id,
        role=role,
        text=text,
        data=data or {},
    )
    session.add(msg)
    session.commit()
    session.refresh(msg)
    return msg


def list_chat(
    *, session: Session, conversation_id: str, candidate_id: str | None = None
) -> list[ChatMessage]:
    """A conversation's messages, oldest first (only the candidate's own when given)."""
    query = select(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
    if candidate_id is not None:
        query = query.where(ChatMessage.candidate_id == candidate_id)
    return list(session.exec(query.order_by(col(ChatMessage.id))).all())


def delete_sessions(*, session: Session, session_ids: list[str]) -> dict[str, int]:
    """Remove interviews with their turns, scores and reports; returns how many rows went.

    Interview checkpoints live in the checkpointer, not here (`InterviewRunner.forget`).
    """
    counts = {"sessions": 0, "turns": 0, "scores": 0, "reports": 0}
    rows = [r for sid in session_ids if (r := session.get(InterviewSession, sid)) is not None]
    for row in rows:
        for model, key in ((Turn, "turns"), (Score, "scores")):
            for item in session.exec(select(model).where(model.session_id == row.id)).all():
                session.delete(item)
                counts[key] += 1
        rec = session.get(ReportRecord, row.id)
        if rec is not None:
            session.delete(rec)
            counts["reports"] += 1
    session.flush()
    for row in rows:
        session.delete(row)
        counts["sessions"] += 1
    session.commit()
    return counts


def delete_candidate_data(
    *, session: Session, candidate_id: str, keep_candidate: bool = False
) -> dict[str, int]:
    """Remove everything stored about a candidate; returns how many rows of each kind went.

    Interview checkpoints live in the checkpointer, not here: callers delete those too
    (`InterviewRunner.forget`) for the ids `candidate_session_ids` gave before. An account's
    candidate row is kept (``keep_candidate``) so the account can go on practising.
    """
    ids = candidate_session_ids(session=session, candidate_id=candidate_id)
    counts = {**delete_sessions(session=session, session_ids=ids), "chat_messages": 0}
    for msg in session.exec(
        select(ChatMessage).where(ChatMessage.candidate_id == candidate_id)
    ).all():
        session.delete(msg)
        counts["chat_messages"] += 1
    session.flush()
    cand = session.get(Candidate, candidate_id)
    if cand is not None and not keep_candidate:
        session.delete(cand)
    session.commit()
    return counts


def candidate_session_ids(*, session: Session, candidate_id: str) -> list[str]:
    """Ids of a candidate's interviews."""
    return list(
        session.exec(
            select(InterviewSession.id).where(InterviewSession.candidate_id == candidate_id)
        ).all()
    )


def all_candidate_ids(*, session: Session) -> list[str]:
    """Every candidate stored (local single-user mode owns them all)."""
    return list(session.exec(select(Candidate.id)).all())


def stale_session_ids(*, session: Session, before: datetime) -> list[str]:
    """Interviews last touched before ``before`` (for the retention purge)."""
    return list(
        session.exec(
            select(InterviewSession.id).where(col(InterviewSession.updated_at) < before)
        ).all()
    )


def delete_chats_before(*, session: Session, before: datetime) -> int:
    """Remove coach-chat messages older than ``before``; returns how many went."""
    rows = session.exec(select(ChatMessage).where(col(ChatMessage.created_at) < before)).all()
    for msg in rows:
        session.delete(msg)
    session.commit()
    return len(rows)


def session_owner(*, session: Session, session_id: str) -> str | None:
    """The candidate id of an interview, or None when there is no such interview."""
    row = session.get(InterviewSession, session_id)
    return None if row is None else row.candidate_id
