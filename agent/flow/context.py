"""Run-scoped dependencies injected into graph nodes (LangGraph `context_schema`)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.brain.base import InterviewBrain
from agent.config import ScoringSettings


@dataclass(frozen=True, slots=True)
class InterviewContext:
    """What nodes need besides state."""

    brain: InterviewBrain
    scoring: ScoringSettings
    max_answer_chars: int = 20_000
    """Longer answers are truncated before analysis (and the report says so)."""
    max_cues: int = 2
    """Delivery cues per interview at most."""
    pace_band_top: float = 170.0
    """Words per minute above which (plus a margin) a slow-down cue may be given."""
