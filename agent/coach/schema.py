"""The coach flow schema: what a role-specific interview flow file may contain.

A flow file is YAML. Every model here forbids unknown keys so a typo in a coach's file is reported
instead of silently ignored. The loader (`agent.coach.loader`) turns validation errors into
``file:line: message`` lines.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FLOW_SCHEMA_VERSION = 1

SLUG = r"^[a-z0-9][a-z0-9-]{0,47}$"
_SLUG_RE = re.compile(SLUG)

QuestionType = Literal["intro", "technical", "behavioural", "situational", "motivation", "closing"]
"""Behavioural questions (past experience) are checked for STAR structure; situational ones
(hypothetical "what would you do if…") are scored like technical ones, on reasoning."""

SectionKind = Literal["intro", "technical", "behavioural", "closing", "other"]
Seniority = Literal["junior", "mid", "senior", "lead"]
Persona = Literal["friendly", "neutral", "challenging"]

FollowUpCondition = Literal[
    "vague",
    "no_example",
    "no_numbers",
    "no_outcome",
    "missing_star",
    "too_short",
    "off_topic",
]
"""Answer gaps a coach can attach a scripted follow-up to."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class KeyPoint(_Strict):
    """One thing a good answer covers, and how to probe for it when it is missing."""

    text: str = Field(min_length=3, description="What a strong answer covers (never spoken).")
    probe: str = Field(
        min_length=8,
        description="Follow-up question asked when the point is missing. Must not give it away.",
    )
    keywords: tuple[str, ...] = Field(
        default=(), description="Words or short phrases that signal the point (lower case)."
    )


class FollowUpRule(_Strict):
    """A scripted follow-up for a kind of gap in the answer."""

    when: FollowUpCondition
    ask: str = Field(min_length=8)


class Question(_Strict):
    """A question in a section's pool."""

    id: str = Field(pattern=SLUG)
    text: str = Field(min_length=10)
    type: QuestionType
    difficulty: int = Field(ge=1, le=3, description="1 easy, 2 medium, 3 hard.")
    skills: tuple[str, ...] = Field(default=(), description="Skill tags (lower case).")
    key_points: tuple[KeyPoint, ...] = Field(default=())
    follow_ups: tuple[FollowUpRule, ...] = Field(default=())
    rephrase: str | None = Field(
        default=None, min_length=10, description="A simpler wording offered after a non-answer."
    )
    expected_seconds: int = Field(default=120, ge=15, le=900)

    @field_validator("skills")
    @classmethod
    def _lower_skills(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s.strip().lower() for s in v if s.strip())

    @model_validator(mode="after")
    def _needs_key_points(self) -> Question:
        if self.type not in ("intro", "closing") and len(self.key_points) < 2:
            raise ValueError(f"a {self.type} question needs at least 2 key_points")
        return self


class Section(_Strict):
    """A part of the interview with its own pool of questions."""

    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=2)
    kind: SectionKind
    pick: int = Field(ge=1, le=20, description="How many questions to ask from the pool.")
    questions: tuple[Question, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _pick_fits_pool(self) -> Section:
        if self.pick > len(self.questions):
            raise ValueError(
                f"pick is {self.pick} but the pool has only {len(self.questions)} question(s)"
            )
        return self


class Budget(_Strict):
    """Hard limits the interviewer keeps to."""

    max_questions: int = Field(default=8, ge=1, le=40, description="Main questions, no follow-ups.")
    max_follow_ups_per_question: int = Field(default=2, ge=0, le=4)
    max_turns: int = Field(default=20, ge=1, le=100, description="Questions plus follow-ups.")


class ScoringWeights(_Strict):
    """Relative weights of the content sub-scores (normalised when used)."""

    coverage: float = Field(default=0.4, ge=0, allow_inf_nan=False)
    relevance: float = Field(default=0.15, ge=0, allow_inf_nan=False)
    structure: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    specificity: float = Field(default=0.15, ge=0, allow_inf_nan=False)
    depth: float = Field(default=0.1, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ScoringWeights:
        total = self.coverage + self.relevance + self.structure + self.specificity + self.depth
        if total <= 0:
            raise ValueError("at least one scoring weight must be positive")
        if not math.isfinite(total):
            raise ValueError("the scoring weights are too large; only their ratios matter")
        return self


class FlowScoring(_Strict):
    """Scoring settings a coach may override per flow."""

    weights: ScoringWeights = Field(default_factory=ScoringWeights)


class Flow(_Strict):
    """A role-specific interview flow written by a coach."""

    schema_version: Literal[1] = 1
    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=2)
    role: str = Field(min_length=2)
    description: str = Field(default="")
    seniority: tuple[Seniority, ...] = Field(default=("junior", "mid", "senior"), min_length=1)
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    duration_minutes: int = Field(default=30, ge=3, le=180)
    persona: Persona = "friendly"
    interviewer_name: str = Field(default="Alex", min_length=1)
    budget: Budget = Field(default_factory=Budget)
    scoring: FlowScoring = Field(default_factory=FlowScoring)
    sections: tuple[Section, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Flow:
        seen_sections: set[str] = set()
        seen_questions: set[str] = set()
        for s in self.sections:
            if s.id in seen_sections:
                raise ValueError(f"duplicate section id '{s.id}'")
            seen_sections.add(s.id)
            for q in s.questions:
                if q.id in seen_questions:
                    raise ValueError(f"duplicate question id '{q.id}'")
                seen_questions.add(q.id)
        return self

    def question(self, question_id: str) -> Question:
        """Return the question with this id.

        Raises:
            KeyError: when the flow has no such question.
        """
        for s in self.sections:
            for q in s.questions:
                if q.id == question_id:
                    return q
        raise KeyError(question_id)

    def section_of(self, question_id: str) -> Section:
        """Return the section holding the question with this id."""
        for s in self.sections:
            if any(q.id == question_id for q in s.questions):
                return s
        raise KeyError(question_id)

    @property
    def question_count(self) -> int:
        """Number of questions in all pools."""
        return sum(len(s.questions) for s in self.sections)


def is_slug(value: str) -> bool:
    """Whether ``value`` is a valid flow/section/question id."""
    return bool(_SLUG_RE.match(value))
