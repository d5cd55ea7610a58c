"""The offline interview brain: question bank + coach flows + rubric + local sentence encoder.

Deterministic for the same inputs. Heavy work (the encoder) runs in a thread so the event loop
stays free.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path

from agent.brain.analysis import AnalysisConfig, Encoder, analyse_answer
from agent.brain.planner import build_plan
from agent.brain.policy import InterviewView, Phrases, ThreadView, decide
from agent.brain.types import CandidateProfile, Decision, InterviewPlan, PlannedQuestion
from agent.coach.schema import Flow
from agent.config import ScoringSettings
from agent.errors import ModelLoadError
from prompts import PromptRef
from prompts import load as load_prompt
from scoring import (
    AnswerFeatures,
    ContentWeights,
    CoverageThresholds,
    InterviewSummary,
    ScoredQuestion,
    SubScore,
    content_score,
    summarise_interview,
)

PHRASES_PROMPT = "offline_interviewer"


def analysis_config(s: ScoringSettings) -> AnalysisConfig:
    """Analysis thresholds from settings."""
    return AnalysisConfig(
        coverage_threshold=s.coverage_threshold,
        coverage_floor=s.coverage_floor,
        off_topic_relevance=s.off_topic_relevance,
        min_words=s.min_words,
        ramble_words=s.ramble_words,
        speaking_wpm=s.speaking_wpm,
    )


def load_vocabulary(path: Path) -> frozenset[str]:
    """Whole English words from a WordPiece vocab file (for gibberish detection)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and w.isascii() and len(w) > 1 or w in "ai")


@functools.cache
def _minilm(model_dir: Path) -> Encoder:
    from agent.nlp.encoder import MiniLMEncoder

    try:
        return MiniLMEncoder.load(model_dir)
    except (FileNotFoundError, OSError, ValueError) as e:
        raise ModelLoadError(
            f"the sentence encoder is not available in {model_dir} ({e}); run "
            "'interviewer models install'"
        ) from None


def load_encoder(models_dir: Path) -> tuple[Encoder, frozenset[str]]:
    """The provisioned MiniLM encoder (cached per process) and its vocabulary."""
    folder = models_dir / "minilm"
    return _minilm(folder), load_vocabulary(folder / "vocab.txt")


class OfflineBrain:
    """The default brain: no network, deterministic."""

    name = "offline"

    def __init__(
        self,
        *,
        encoder: Encoder,
        scoring: ScoringSettings,
        vocabulary: frozenset[str] = frozenset(),
    ) -> None:
        self._encoder = encoder
        self._scoring = scoring
        self._config = analysis_config(scoring)
        self._vocab = vocabulary
        self._phrases_prompt = load_prompt(PHRASES_PROMPT)
        self._bank = self._phrases_prompt.data()

    @property
    def prompt_refs(self) -> tuple[PromptRef, ...]:
        """Prompt files this brain used."""
        return (self._phrases_prompt.ref,)

    def phrases(self, flow: Flow) -> Phrases:
        """The phrase bank for the flow's persona."""
        return Phrases(self._bank, flow.persona)

    async def plan(self, *, flow: Flow, profile: CandidateProfile) -> InterviewPlan:
        """Plan questions from the flow and the candidate's profile."""
        ph = self.phrases(flow)
        draft = build_plan(flow=flow, profile=profile, greeting="")
        name = f", {profile.name.split()[0]}" if profile.name.strip() else ""
        greeting = ph.pick(
            "greeting",
            0,
            name=name,
            interviewer=flow.interviewer_name,
            role=profile.role or flow.role,
            minutes=str(flow.duration_minutes),
            count=str(len(draft.questions)),
        )
        greeting = f"{greeting} {ph.pick('first_question', 0)}"
        return draft.model_copy(update={"greeting": greeting})

    def _weights(self, flow: Flow) -> ContentWeights:
        w = flow.scoring.weights
        return ContentWeights(
            coverage=w.coverage,
            relevance=w.relevance,
            structure=w.structure,
            specificity=w.specificity,
            depth=w.depth,
        )

    def analyse_sync(
        self, *, flow: Flow, question: PlannedQuestion, answer: str
    ) -> tuple[AnswerFeatures, SubScore]:
        """Blocking analysis (encoder on this thread)."""
        features = analyse_answer(
            question=question.text,
            question_type=question.type,
            key_points=question.key_points,
            answer=answer,
            expected_seconds=question.expected_seconds,
            encoder=self._encoder,
            config=self._config,
            vocabulary=self._vocab,
        )
        score = content_score(
            features=features,
            weights=self._weights(flow),
            thresholds=CoverageThresholds(
                covered=self._scoring.coverage_threshold, floor=self._scoring.coverage_floor
            ),
        )
        return features, score

    async def analyse(
        self, *, flow: Flow, question: PlannedQuestion, answer: str
    ) -> tuple[AnswerFeatures, SubScore]:
        """Analyse off the event loop."""
        return await asyncio.to_thread(
            self.analyse_sync, flow=flow, question=question, answer=answer
        )

    async def decide(
        self, *, flow: Flow, thread: ThreadView, view: InterviewView, injection: bool
    ) -> Decision:
        """Apply the offline follow-up and pacing policy."""
        return decide(thread=thread, view=view, phrases=self.phrases(flow), injection=injection)

    async def summarise(self, *, questions: Sequence[ScoredQuestion]) -> InterviewSummary:
        """Rubric-based summary."""
        return summarise_interview(questions)
