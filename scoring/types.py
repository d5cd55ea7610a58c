"""Typed inputs and outputs of the scoring functions (no I/O, no models)."""

from __future__ import annotations

from dataclasses import dataclass, field

ANSWER_FLAGS = frozenset(
    {
        "empty",
        "non_answer",
        "gibberish",
        "off_topic",
        "off_language",
        "too_short",
        "rambling",
        "evasive",
        "injection",
        "vague",
    }
)
"""Flags answer analysis may raise; scoring caps or explains them."""


@dataclass(frozen=True, slots=True)
class KeyPointMatch:
    """How well an answer covered one expected key point."""

    text: str
    """The key point as the coach wrote it."""
    similarity: float
    """Best cosine similarity between the point and any answer span (0-1)."""
    keyword_hits: int
    """How many of the point's keywords appear in the answer."""
    covered: bool
    evidence: str | None = None
    """The answer span that best matches the point, when covered."""


@dataclass(frozen=True, slots=True)
class StarParts:
    """Which STAR parts a behavioural answer contains."""

    situation: bool
    task: bool
    action: bool
    result: bool

    def missing(self) -> tuple[str, ...]:
        """Names of the missing parts in STAR order."""
        return tuple(
            name
            for name, present in (
                ("situation", self.situation),
                ("task", self.task),
                ("action", self.action),
                ("result", self.result),
            )
            if not present
        )

    @property
    def count(self) -> int:
        """Number of parts present."""
        return 4 - len(self.missing())


@dataclass(frozen=True, slots=True)
class AnswerFeatures:
    """Everything scoring needs to know about one answer (or one question's whole thread)."""

    question_type: str
    word_count: int
    expected_words: int
    key_points: tuple[KeyPointMatch, ...]
    relevance: float
    has_numbers: bool
    has_example: bool
    has_outcome: bool
    has_reasoning: bool
    hedge_count: int
    star: StarParts | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.word_count < 0 or self.expected_words < 0:
            raise ValueError("word counts must be >= 0")
        if not 0.0 <= self.relevance <= 1.0:
            raise ValueError(f"relevance must be within [0, 1], got {self.relevance}")
        unknown = self.flags - ANSWER_FLAGS
        if unknown:
            raise ValueError(f"unknown answer flags: {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class ContentWeights:
    """Relative weights of the content components (normalised when used)."""

    coverage: float = 0.4
    relevance: float = 0.15
    structure: float = 0.2
    specificity: float = 0.15
    depth: float = 0.1

    def __post_init__(self) -> None:
        values = (self.coverage, self.relevance, self.structure, self.specificity, self.depth)
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")


@dataclass(frozen=True, slots=True)
class CoverageThresholds:
    """Similarity levels for key-point coverage."""

    covered: float = 0.5
    floor: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor < self.covered <= 1.0:
            raise ValueError("need 0 <= floor < covered <= 1")


@dataclass(frozen=True, slots=True)
class SubScore:
    """A 0-100 score with the evidence it rests on."""

    name: str
    value: float
    because: tuple[str, ...]
    components: dict[str, float] = field(default_factory=dict)
    source: str = "offline"
    """What produced it: "offline" (the rubric), "gemini", or "offline (gemini <fault>)"."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 100.0:
            raise ValueError(f"{self.name} score out of range: {self.value}")


@dataclass(frozen=True, slots=True)
class ScoredQuestion:
    """One main question's final score, the input to the interview-level summary."""

    question: str
    question_type: str
    score: float
    features: AnswerFeatures
    follow_ups: int = 0
    answer: str = ""
    """The candidate's words for this question (main answer and follow-ups), for the critique."""


@dataclass(frozen=True, slots=True)
class InterviewSummary:
    """Overall score, strengths, improvements and the critique narrative."""

    overall: float
    strengths: tuple[str, ...]
    improvements: tuple[str, ...]
    critique: str
    because: tuple[str, ...]
    source: str = "offline"
    """What wrote the strengths, improvements and critique (the overall score is the rubric's)."""
