"""What one persona's interview produced: the record every invariant is checked against.

Owns the `Case` data (flow, persona, every line the interviewer said, the graph's turns with
their analysis, the elapsed time whenever a question was asked, the report) so that the
invariants in `agent.selftest.invariants` stay pure functions over plain data, in text and audio
mode alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.coach.schema import Flow


@dataclass
class Case:
    """One interview of one persona on one flow.

    Attributes:
        persona: Persona name.
        flow: The flow that ran.
        mode: "text" or "audio".
        said: Every line the interviewer said, in order (greeting and questions included,
            closing last).
        turns: The graph's turns (question, answer, kind, qid, target, features, ...).
        plan: The planned questions as data (``PlannedQuestion`` dumps, reserve included).
        asked_at_s: The interview's estimated elapsed seconds when each turn was asked.
        finished: Whether the interview ended with a report.
        closing: The wrap-up line.
        report: The report data, or None when it never came.
        notes: The interviewer's hidden notes (never to be spoken).
        error: A crash while running, if any.
        audio: Audio-mode observations (turn-taking), empty in text mode.
    """

    persona: str
    flow: Flow
    mode: str = "text"
    said: list[str] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    asked_at_s: list[float] = field(default_factory=list)
    finished: bool = False
    closing: str = ""
    report: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    audio: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``persona@flow`` (with the mode for audio cases)."""
        suffix = "" if self.mode == "text" else f" ({self.mode})"
        return f"{self.persona}@{self.flow.id}{suffix}"

    @property
    def score(self) -> float | None:
        """The overall score, when there is a report."""
        if self.report is None:
            return None
        return float(self.report["overall_score"])
