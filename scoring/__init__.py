"""Pure scoring: typed answer features to 0-100 sub-scores with evidence; no I/O, clock or LLM."""

from __future__ import annotations

from scoring.aggregate import band, overall_score, summarise_interview
from scoring.content import content_score, depth_credit, point_credit
from scoring.types import (
    AnswerFeatures,
    ContentWeights,
    CoverageThresholds,
    InterviewSummary,
    KeyPointMatch,
    ScoredQuestion,
    StarParts,
    SubScore,
)

SCORING_VERSION = "1.0"

__all__ = [
    "SCORING_VERSION",
    "AnswerFeatures",
    "ContentWeights",
    "CoverageThresholds",
    "InterviewSummary",
    "KeyPointMatch",
    "ScoredQuestion",
    "StarParts",
    "SubScore",
    "band",
    "content_score",
    "depth_credit",
    "overall_score",
    "point_credit",
    "summarise_interview",
]
