"""The Gemini brain: the offline brain's judgement, with Gemini's questions, grades and words.

Every step starts from the offline brain (deterministic, local) and asks Gemini to improve it:

* plan: the offline plan, with its résumé-based questions replaced by questions Gemini tailors
  to the résumé, job description and skills;
* analyse: the rubric's features and score, with the content score moved towards Gemini's grade
  by at most `GeminiSettings.score_band` points (so no reply can turn a weak answer into a
  strong one), and only from evidence quotes that really are in the answer;
* decide: the offline policy chooses follow-up / next / wrap-up and what to probe; Gemini words
  the follow-up with the candidate's own words (streamed, cut at two sentences; a checked first
  sentence is handed to the voice at once through `agent.brain.speech`);
* summarise: the rubric's overall score; Gemini writes strengths, improvements and critique,
  whose “quotes” must be the candidate's real words.

The candidate's answer reaches Gemini only with injected instructions removed and wrapped as
data. Every generated line is checked before it is used (no key point, note or rubric talk, no
abuse). Any fault (timeout, 429/5xx, slow stream, malformed or unsafe output) falls back to the
offline result for that step within `step_timeout_s`, and the result records which brain made it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from pydantic import BaseModel, Field

from agent.brain.analysis import sentences_of, text_facts
from agent.brain.gemini_client import GeminiClient, GeminiError
from agent.brain.guard import leaked, normalise, unsafe
from agent.brain.offline import OfflineBrain
from agent.brain.policy import InterviewView, ThreadView
from agent.brain.speech import early_sink
from agent.brain.types import CandidateProfile, Decision, InterviewPlan, PlannedQuestion
from agent.coach.schema import Flow, KeyPoint
from agent.config import GeminiSettings
from prompts import PromptRef
from prompts import load as load_prompt
from scoring import AnswerFeatures, InterviewSummary, ScoredQuestion, SubScore

logger = logging.getLogger("mockint.agent.brain")

R = TypeVar("R")

PROMPTS = ("gemini_system", "gemini_plan", "gemini_grade", "gemini_follow_up", "gemini_critique")
_QUOTE = re.compile(r"“([^”]{2,})”")
GENERIC_PROBE = "Can you say more about that, with a specific example from your own work?"
"""How a missing point of a generated question is probed (Gemini then words it for the answer)."""
OUTAGES = frozenset({"timeout", "rate_limited", "server", "network"})
"""Faults that suggest the next call would fail too (a malformed or unusable reply does not)."""
_NO_GRADE_FLAGS = frozenset({"empty", "non_answer", "gibberish", "off_language"})


class _PlannedOut(BaseModel):
    text: str = Field(min_length=10, max_length=400)
    skills: list[str] = Field(default_factory=list, max_length=3)
    key_points: list[str] = Field(min_length=1, max_length=4)
    why: str = Field(default="", max_length=300)


class _PlanOut(BaseModel):
    questions: list[_PlannedOut] = Field(min_length=1, max_length=4)


class _GradeOut(BaseModel):
    score: int = Field(ge=0, le=100)
    covered: list[int] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list, max_length=5)
    feedback: str = Field(default="", max_length=400)


class _CritiqueOut(BaseModel):
    strengths: list[str] = Field(min_length=1, max_length=4)
    improvements: list[str] = Field(min_length=1, max_length=4)
    critique: str = Field(min_length=20, max_length=1500)


class UnusableOutput(Exception):
    """Gemini replied, but the reply may not be used (leak, unsafe, fabricated quote)."""


def as_data(text: str) -> str:
    """Candidate text made safe to sit between data delimiters."""
    return text.replace("<", "‹").replace(">", "›").strip()


def speakable(text: str, *, max_words: int = 45) -> bool:
    """Whether a generated line reads as plain speech (no JSON, markup or code; short)."""
    words = text.split()
    if not 3 <= len(words) <= max_words or any(c in text for c in "{}[]<>`#*|_\\"):
        return False
    letters = sum(c.isalpha() for c in text)
    return letters >= 0.6 * len(text.replace(" ", ""))


def fallback_label(kind: str) -> str:
    """How a step's producer is recorded after a Gemini fault."""
    return f"offline (gemini {kind})"


class GeminiBrain:
    """Gemini on top of the offline brain, falling back step by step."""

    name = "gemini"

    def __init__(
        self,
        *,
        offline: OfflineBrain,
        client: GeminiClient,
        settings: GeminiSettings,
    ) -> None:
        self.offline = offline
        self.client = client
        self.settings = settings
        self._prompts = {n: load_prompt(n) for n in PROMPTS}
        self.faults: dict[str, int] = {}
        """Fallbacks so far by kind (for benchmarks and logs; no candidate data)."""
        self._down_until = 0.0
        """After an outage-like fault, steps go straight to the offline brain until then."""

    @property
    def prompt_refs(self) -> tuple[PromptRef, ...]:
        """Every prompt file this brain may use, with version and hash."""
        return (*self.offline.prompt_refs, *(p.ref for p in self._prompts.values()))

    def recover(self) -> None:
        """Forget a past outage: the next step tries Gemini again."""
        self._down_until = 0.0

    # ------------------------------------------------------------------ plumbing

    def _system(self, flow: Flow, role: str = "", seniority: str = "mid") -> str:
        return self._prompts["gemini_system"].render(
            interviewer=flow.interviewer_name, role=role or flow.role, seniority=seniority
        )

    async def _guarded(
        self, step: str, attempt: Callable[[], Awaitable[R]], *, retry_malformed: bool = True
    ) -> tuple[R | None, str]:
        """Run a Gemini step within the deadline; (result, producer) or (None, fallback label)."""
        if time.monotonic() < self._down_until:
            self.faults["unavailable"] = self.faults.get("unavailable", 0) + 1
            return None, fallback_label("unavailable")
        deadline = time.monotonic() + self.settings.step_timeout_s
        tries = 2 if retry_malformed else 1
        kind = "timeout"
        for _ in range(tries):
            left = deadline - time.monotonic()
            if left <= 0.05:
                break  # no time for the retry: the last fault stands
            try:
                return await asyncio.wait_for(attempt(), timeout=left), "gemini"
            except TimeoutError:
                kind = "timeout"
                break
            except GeminiError as e:
                kind = e.kind
                if e.kind != "malformed":
                    break
            except UnusableOutput as e:
                kind = "unusable"
                logger.warning("gemini %s output not used: %s", step, e)
                break
        self.faults[kind] = self.faults.get(kind, 0) + 1
        if kind in OUTAGES:
            # Do not make the candidate wait for every step of a turn while Gemini is down.
            self._down_until = time.monotonic() + self.settings.cooldown_s
        logger.warning("gemini %s fell back to the offline brain (%s)", step, kind)
        return None, fallback_label(kind)

    # ------------------------------------------------------------------ plan

    async def plan(self, *, flow: Flow, profile: CandidateProfile) -> InterviewPlan:
        """The offline plan with its résumé questions tailored by Gemini."""
        base = await self.offline.plan(flow=flow, profile=profile)
        slots = [i for i, q in enumerate(base.questions) if q.origin == "resume"]
        if not slots or not (profile.resume_text.strip() or profile.jd_text.strip()):
            return base
        skills = sorted({*profile.skills, *(s for q in base.questions for s in q.skills)})
        user = self._prompts["gemini_plan"].render(
            count=str(len(slots)),
            seniority=profile.seniority,
            skills=", ".join(skills) or "general",
            resume=as_data(profile.resume_text[:6000]) or "(none)",
            jd=as_data(profile.jd_text[:4000]) or "(none)",
        )
        system = self._system(flow, profile.role, profile.seniority)

        async def attempt() -> _PlanOut:
            out = await self.client.json(system=system, user=user, schema=_PlanOut)
            for q in out.questions:
                if why := unsafe(q.text) or leaked(q.text, [], []):
                    raise UnusableOutput(f"planned question {why}")
            return out

        out, by = await self._guarded("plan", attempt)
        if out is None:
            return base.model_copy(update={"by": by})
        questions = list(base.questions)
        for slot, made in zip(slots, out.questions, strict=False):
            old = questions[slot]
            text = made.text.strip()
            questions[slot] = old.model_copy(
                update={
                    "qid": f"{old.qid}-g",
                    "origin": "gemini",
                    "text": text if text.endswith("?") else text.rstrip(".") + "?",
                    "skills": tuple(s.lower() for s in made.skills) or old.skills,
                    "key_points": tuple(
                        KeyPoint(text=k, probe=GENERIC_PROBE) for k in made.key_points
                    ),
                    "why": made.why or old.why,
                }
            )
        return base.model_copy(update={"questions": tuple(questions), "by": by})

    # ------------------------------------------------------------------ analyse

    async def analyse(
        self, *, flow: Flow, question: PlannedQuestion, answer: str
    ) -> tuple[AnswerFeatures, SubScore]:
        """The rubric's analysis, with the score moved towards Gemini's grade (bounded)."""
        features, score = await self.offline.analyse(flow=flow, question=question, answer=answer)
        facts = text_facts(answer)
        if features.flags & _NO_GRADE_FLAGS or not facts.clean_text:
            return features, score  # nothing to grade: the rubric's zero stands
        points = "\n".join(f"{i}. {k.text}" for i, k in enumerate(question.key_points, 1))
        user = self._prompts["gemini_grade"].render(
            question=question.text,
            question_type=question.type,
            key_points=points or "(none: judge relevance, specificity and structure)",
            answer=as_data(facts.clean_text),
        )
        clean = normalise(facts.clean_text)

        async def attempt() -> _GradeOut:
            out = await self.client.json(system=self._system(flow), user=user, schema=_GradeOut)
            real = [q for q in out.evidence if normalise(q) and normalise(q) in clean]
            if out.score > score.value + 10 and not real:
                raise UnusableOutput("a higher grade without evidence from the answer")
            if why := unsafe(out.feedback) or leaked(
                out.feedback, [("key point", k.text) for k in question.key_points], [answer]
            ):
                raise UnusableOutput(f"feedback {why}")
            return out.model_copy(update={"evidence": real})

        out, by = await self._guarded("grade", attempt)
        if out is None:
            return features, replace(score, source=by)
        band = self.settings.score_band
        value = min(max(float(out.score), score.value - band), score.value + band)
        value = round(min(max(value, 0.0), 100.0), 1)
        because = list(score.because)
        if out.evidence:
            because.append("Gemini's grade rests on: " + "; ".join(f"“{q}”" for q in out.evidence))
        if out.feedback:
            because.append(out.feedback.strip())
        components = {**score.components, "rubric": score.value, "gemini": float(out.score)}
        return features, SubScore(
            score.name, value, tuple(because), components=components, source=by
        )

    # ------------------------------------------------------------------ decide

    async def decide(
        self, *, flow: Flow, thread: ThreadView, view: InterviewView, injection: bool
    ) -> Decision:
        """The offline policy's decision; Gemini words follow-ups in the candidate's terms."""
        decision = await self.offline.decide(
            flow=flow, thread=thread, view=view, injection=injection
        )
        if decision.action != "follow_up" or decision.target in ("rephrase", "language"):
            return decision
        answer = text_facts(thread.answer).clean_text
        if not answer:
            return decision
        q = thread.question
        user = self._prompts["gemini_follow_up"].render(
            question=q.text,
            intent=decision.question_text,
            delivery=thread.delivery,
            answer=as_data(answer),
        )
        secrets = [("key point", k.text) for k in q.key_points]
        public = [q.text, decision.question_text, answer, *(k.probe for k in q.key_points)]
        prefix = decision.say[: len(decision.say) - len(decision.question_text)]
        earlier = {normalise(t) for t in (*view.asked_texts, *view.said)}
        sink = early_sink()
        early: list[str] = []

        def check(text: str) -> None:
            if why := unsafe(text) or leaked(text, secrets, public):
                raise UnusableOutput(f"follow-up {why}")
            if not speakable(text):
                raise UnusableOutput("follow-up is not a short spoken line")
            if normalise(text) in earlier:
                raise UnusableOutput("follow-up repeats an earlier line")

        def first_sentence_ready(first: str) -> None:
            """Speak a checked first sentence while the rest is still being generated."""
            if sink is None or early:
                return
            try:
                check(first)
            except UnusableOutput:
                return  # not spoken early; the whole line is checked at the end
            early.append(first)
            sink(prefix + first)

        async def attempt() -> str:
            text = await self._first_sentences(
                system=self._system(flow), user=user, on_first=first_sentence_ready
            )
            if early and not text.startswith(early[0]):
                text = early[0]
            try:
                check(text)
            except UnusableOutput:
                if not early:
                    raise
                text = early[0]  # the part already spoken stands; the rest is dropped
            return text

        text, by = await self._guarded("follow_up", attempt, retry_malformed=False)
        if text is None and early:
            # A fault after the first sentence was spoken: finish it with the planned question
            # unless it already asks one.
            text = early[0] if early[0].endswith("?") else f"{early[0]} {decision.question_text}"
            by = "gemini (first sentence)"
        if text is None:
            return decision.model_copy(update={"by": by})
        return decision.model_copy(update={"say": prefix + text, "question_text": text, "by": by})

    async def _first_sentences(
        self,
        *,
        system: str,
        user: str,
        limit: int = 2,
        on_first: Callable[[str], None] | None = None,
    ) -> str:
        """Stream the reply and stop after ``limit`` sentences (the rest is never waited for).

        ``on_first`` gets the first sentence as soon as a second one has begun (so it is
        complete), while the stream goes on.
        """
        text = ""
        told = False
        async for chunk in self.client.stream(system=system, user=user):
            text += chunk
            parts = sentences_of(" ".join(text.split()))
            if on_first is not None and not told and len(parts) > 1:
                told = True
                on_first(parts[0])
            if len(parts) > limit:
                break
        said = " ".join(sentences_of(" ".join(text.split()))[:limit]).strip()
        if not said:
            raise GeminiError("malformed", "empty follow-up")
        return said

    # ------------------------------------------------------------------ summarise

    async def summarise(self, *, questions: Sequence[ScoredQuestion]) -> InterviewSummary:
        """The rubric's summary, with strengths, improvements and critique written by Gemini."""
        base = await self.offline.summarise(questions=questions)
        if not questions or not any(q.answer.strip() for q in questions):
            return base
        blocks = []
        for i, q in enumerate(questions, 1):
            blocks.append(
                f"Question {i} ({q.question_type}): {q.question}\n"
                f"Score: {q.score:.0f}/100; follow-ups asked: {q.follow_ups}\n"
                f"<answer>\n{as_data(text_facts(q.answer).clean_text) or '(no answer)'}\n</answer>"
            )
        user = self._prompts["gemini_critique"].render(
            overall=f"{base.overall:.0f}", questions="\n\n".join(blocks)
        )
        spoken = normalise(" ".join(q.answer for q in questions))
        system = self._prompts["gemini_system"].render(
            interviewer="the interviewer", role="the practised role", seniority="the chosen"
        )

        async def attempt() -> _CritiqueOut:
            out = await self.client.json(system=system, user=user, schema=_CritiqueOut)
            for line in (*out.strengths, *out.improvements, out.critique):
                if why := unsafe(line) or leaked(line, [], []):
                    raise UnusableOutput(f"critique {why}")
                for quote in _QUOTE.findall(line):
                    if normalise(quote) not in spoken:
                        raise UnusableOutput("critique quotes words the candidate did not say")
            return out

        out, by = await self._guarded("critique", attempt)
        if out is None:
            return replace(base, source=by)
        return replace(
            base,
            strengths=tuple(s.strip() for s in out.strengths),
            improvements=tuple(s.strip() for s in out.improvements),
            critique=out.critique.strip(),
            source="gemini",
        )
