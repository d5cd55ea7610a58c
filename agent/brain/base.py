"""The `InterviewBrain` seam: what the interview graph needs from a brain (offline or Gemini)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agent.brain.policy import InterviewView, ThreadView
from agent.brain.types import CandidateProfile, Decision, InterviewPlan, PlannedQuestion
from agent.coach.schema import Flow
from scoring import AnswerFeatures, InterviewSummary, ScoredQuestion, SubScore


class InterviewBrain(Protocol):
    """Plans questions, analyses answers, decides follow-ups and writes the critique."""

    name: str
    """Recorded in reports ("offline", "gemini", ...)."""

    async def plan(self, *, flow: Flow, profile: CandidateProfile) -> InterviewPlan:
        """Choose questions and the greeting for one interview."""
        ...

    async def analyse(
        self, *, flow: Flow, question: PlannedQuestion, answer: str
    ) -> tuple[AnswerFeatures, SubScore]:
        """Turn an answer into features and a content score."""
        ...

    async def decide(
        self, *, flow: Flow, thread: ThreadView, view: InterviewView, injection: bool
    ) -> Decision:
        """Follow up, move on or wrap up."""
        ...

    async def summarise(self, *, questions: Sequence[ScoredQuestion]) -> InterviewSummary:
        """Overall score, strengths, improvements and critique."""
        ...
