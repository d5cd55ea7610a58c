"""The interview graph's state: plain JSON-friendly data so checkpoints stay portable."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

Phase = Literal["planning", "asking", "wrap_up", "done"]


def merge_turns(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reducer: a turn with a known index replaces the old one; new indexes append."""
    out = list(left or [])
    for turn in right or []:
        idx = turn["index"]
        if idx < len(out):
            out[idx] = turn
        elif idx == len(out):
            out.append(turn)
        else:
            raise ValueError(f"turn index {idx} skips ahead of {len(out)} recorded turns")
    return out


class Pending(TypedDict):
    """The line the interviewer is waiting on an answer for."""

    say: str
    """Everything spoken, including acknowledgement and transition."""
    question: str
    """The question part only."""
    kind: Literal["main", "follow_up"]
    qid: str
    follow_up_of: int | None
    """Turn index of the main question this follows up, or None."""
    target: str | None
    asked_by: NotRequired[str]
    """What worded the line: "offline", "gemini" or "offline (gemini <fault>)"."""


class InterviewState(TypedDict, total=False):
    """State of one interview (one LangGraph thread per session id)."""

    session_id: str
    profile: dict[str, Any]
    """`CandidateProfile` as data."""
    flow: dict[str, Any]
    """The coach flow as data, frozen at start so a resumed interview is unchanged."""
    brain: str
    planned_by: str
    """What planned the questions (the brain, or the offline fallback after a fault)."""
    plan: list[dict[str, Any]]
    """`PlannedQuestion`s in order (may be adapted as difficulty moves)."""
    reserve: list[dict[str, Any]]
    cursor: int
    """Index in ``plan`` of the current main question."""
    main_turn: int
    """Turn index of the current main question."""
    level: int
    turns: Annotated[list[dict[str, Any]], merge_turns]
    pending: Pending | None
    elapsed_s: float
    """Estimated interview time so far (speaking time of questions and answers)."""
    phase: Phase
    notes: list[str]
    closing: str
    report: dict[str, Any] | None
    end_requested: bool
    delivery_prefs: dict[str, Any]
    """Fairness switches for delivery scoring (see scoring.delivery.DeliveryPrefs)."""
    cues: list[str]
    """Delivery cues already given (each kind at most once)."""
    """The candidate asked to stop; the interview wraps up with what it has."""
