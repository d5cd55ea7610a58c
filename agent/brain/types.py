"""Boundary types of the interview brain: profile, planned questions, plan and decisions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.coach.schema import FollowUpRule, KeyPoint, Persona, QuestionType, Seniority

MAX_PROFILE_TEXT = 20_000
"""Résumé and job-description text beyond this many characters is ignored."""


class CandidateProfile(BaseModel):
    """Who is practising and for what."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(default="", max_length=80)
    role: str = Field(default="Backend engineer", min_length=2, max_length=120)
    seniority: Seniority = "mid"
    skills: tuple[str, ...] = ()
    resume_text: str = ""
    jd_text: str = ""

    @field_validator("skills", mode="before")
    @classmethod
    def _split_skills(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.split(",")
        if isinstance(v, list | tuple):
            return tuple(dict.fromkeys(str(s).strip().lower() for s in v if str(s).strip()))
        return v

    @field_validator("resume_text", "jd_text")
    @classmethod
    def _cap_text(cls, v: str) -> str:
        return v[:MAX_PROFILE_TEXT]


class PlannedQuestion(BaseModel):
    """A question the interviewer intends to ask (from a flow or generated from the résumé)."""

    model_config = ConfigDict(frozen=True)

    qid: str
    section_id: str
    section_kind: str
    section_title: str
    text: str
    type: QuestionType
    difficulty: int = Field(ge=1, le=3)
    skills: tuple[str, ...] = ()
    key_points: tuple[KeyPoint, ...] = ()
    follow_ups: tuple[FollowUpRule, ...] = ()
    rephrase: str | None = None
    expected_seconds: int = 120
    origin: Literal["flow", "resume", "gemini"] = "flow"
    why: str = ""
    """Why the planner chose it (skill match, JD match, résumé project); shown in the report."""


class InterviewPlan(BaseModel):
    """The brain's plan for one interview."""

    greeting: str
    questions: tuple[PlannedQuestion, ...]
    reserve: tuple[PlannedQuestion, ...] = ()
    """Unchosen questions, used to move difficulty up or down."""
    level: int = Field(ge=1, le=3)
    persona: Persona = "friendly"
    notes: tuple[str, ...] = ()
    by: str = "offline"
    """What planned it: "offline", "gemini" or "offline (gemini <fault>)"."""


FollowUpTarget = str
"""What a follow-up probes: 'kp:N', 'star:<part>', 'rule:<when>', 'rephrase', 'language'."""


class Decision(BaseModel):
    """What the interviewer does after an answer."""

    action: Literal["follow_up", "next", "wrap_up"]
    say: str
    """The full line to speak (acknowledgement + question), never containing hidden notes."""
    question_text: str = ""
    """Just the question part of ``say``."""
    target: FollowUpTarget | None = None
    next_question: PlannedQuestion | None = None
    level: int = Field(default=2, ge=1, le=3)
    reason: str = ""
    by: str = "offline"
    """What worded it: "offline", "gemini" or "offline (gemini <fault>)"."""
