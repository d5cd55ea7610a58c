"""The confidence coach: answers a candidate's question from the knowledge base and their data.

Owns one reply: triage (`agent.chat.scope`) → retrieval (`agent.chat.knowledge`) → the
candidate's figures (`agent.chat.grounding`) → a specific answer with citations (entry ids and
titles) and links to report sections. It can also rewrite one of the candidate's past answers in
STAR form (`agent.chat.rewrite`, their own words only) and pick a question for a one-question
drill. Crisis language, requests for a diagnosis and harmful requests get fixed, safe replies
that never depend on a model. With a Gemini client, advice is written by Gemini from the same
retrieved entries and figures (citations checked, unsafe output rejected); any fault falls back
to the offline answer. Nothing here logs message text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agent.brain.analysis import Encoder
from agent.brain.gemini import as_data
from agent.brain.gemini_client import GeminiClient, GeminiError
from agent.brain.guard import unsafe
from agent.chat.grounding import Figure, Finished, figures_for
from agent.chat.knowledge import Entry, Hit, KnowledgeBase
from agent.chat.rewrite import star_rewrite
from agent.chat.scope import is_off_topic, triage
from prompts import load as load_prompt

logger = logging.getLogger("mockint.agent.chat")

Kind = Literal["advice", "rewrite", "drill", "refusal", "care", "greeting", "no_data"]

CHAT_PROMPT = "coach_chat"
GEMINI_TIMEOUT_S = 8.0
PICK_SIMILARITY = 0.35
"""A past question this similar to the message is the one it refers to."""
_SCORE_WORDS = ("score", "scored", "mark", "rating", "grade", "low", "badly", "worse")


class Citation(BaseModel):
    """A knowledge-base entry the reply draws on."""

    id: str
    title: str


class FigureOut(BaseModel):
    """One of the candidate's own figures, with where it comes from."""

    metric: str
    text: str
    link: str
    value: float | None = None


class DrillTarget(BaseModel):
    """The question a one-question practice would ask."""

    session_id: str
    flow_id: str
    question_id: str
    question: str
    score: float | None = None


class RewriteOut(BaseModel):
    """A past answer rewritten in STAR form."""

    session_id: str
    question_index: int
    question: str
    original: str
    text: str
    missing: list[str]
    tips: list[str]


class CoachReply(BaseModel):
    """The coach's answer to one message."""

    kind: Kind
    text: str
    citations: list[Citation] = Field(default_factory=list)
    figures: list[FigureOut] = Field(default_factory=list)
    drill: DrillTarget | None = None
    rewrite: RewriteOut | None = None
    by: str = "offline"
    injection: bool = False
    """The message contained instructions aimed at the coach; they were ignored."""
    prompt: dict[str, Any] | None = None
    """The prompt file (name, version, sha256) when a model wrote the reply."""


class _GeminiAdvice(BaseModel):
    answer: str = Field(min_length=20, max_length=2500)
    cited: list[str] = Field(default_factory=list, max_length=4)


CRISIS_TEXT = (
    "I'm really sorry you're feeling like this. You deserve support right now, and it matters "
    "more than any interview. If you might act on these thoughts or you are in danger, please "
    "call your local emergency number now. You can also talk to a crisis line (in the US call "
    "or text 988; in the UK and Ireland call Samaritans on 116 123), a doctor, or someone you "
    "trust. I'm a practice tool and can't give you the help you need with this, but I'll be "
    "here for interview practice whenever you want it."
)
DIAGNOSIS_TEXT = (
    "I can't diagnose anxiety or any other condition, and nothing in your practice reports is "
    "a medical measure. If nerves are affecting your sleep, work or daily life, or you are "
    "thinking about medication, please talk to a doctor or a licensed mental-health "
    "professional; they can properly help. What I can help with is interview nerves:"
)
HARMFUL_TEXT = (
    "I can't help with that. I can help you prepare honest, strong answers, practise them "
    "and handle nerves. For example, ask me how to talk about a gap in your experience or how "
    "to answer a question you are unsure about."
)
OFF_TOPIC_TEXT = (
    "I can only help with interview practice and confidence: nerves, pacing, filler words, eye "
    "contact, structuring answers, tricky questions, salary talks and the like. Ask me about "
    "any of those, or about your own practice reports."
)
GREETING_TEXT = (
    'Hi! Ask me anything about interviews and confidence, for example "how do I stop saying '
    'um?" or "why did I score low on structure?". I use your own practice reports where they '
    'help. I can also rewrite one of your past answers in STAR form ("rewrite my answer to '
    'the conflict question") or set up a quick one-question drill ("let me try that again").'
)
_NOT_FOUND = (
    "I couldn't find a question like that in your recent interviews, so let's use your "
    "weakest recent answer instead. "
)
NO_DATA_TEXT = (
    "You have no finished practice interviews yet, so there is no answer of yours to work "
    "with. Do a practice interview first, then ask me again."
)


class Coach:
    """Answers coach-chat messages for one candidate's finished interviews."""

    def __init__(
        self,
        *,
        kb: KnowledgeBase,
        encoder: Encoder,
        gemini: GeminiClient | None = None,
    ) -> None:
        self.kb = kb
        self._encoder = encoder
        self.gemini = gemini

    async def reply(self, message: str, done: Sequence[Finished]) -> CoachReply:
        """Answer ``message`` using the candidate's finished interviews (oldest first)."""
        t = triage(message)
        extra = {"injection": t.injection}
        if t.intent == "crisis":
            return self._fixed("care", CRISIS_TEXT, ["anxiety-professional-help"], **extra)
        if t.intent == "harmful" or (t.injection and not t.text):
            # Only instructions aimed at the coach: nothing about interviews to answer.
            if not t.text:
                return self._fixed("refusal", OFF_TOPIC_TEXT, [], **extra)
            return self._fixed("refusal", HARMFUL_TEXT, [], **extra)
        if t.intent == "diagnosis":
            entry = self.kb.by_id.get("anxiety-professional-help")
            text = f"{DIAGNOSIS_TEXT} {entry.body}" if entry else DIAGNOSIS_TEXT
            return self._fixed("care", text, ["anxiety-professional-help"], **extra)
        if t.intent == "greeting":
            return self._fixed("greeting", GREETING_TEXT, [], **extra)
        if t.intent == "rewrite":
            return self._rewrite(t.text, done, injection=t.injection)
        if t.intent == "drill":
            return self._drill(t.text, done, injection=t.injection)
        hits = await asyncio.to_thread(self.kb.search, t.text, 3)
        if not hits or is_off_topic(t.text, hits[0].dense):
            return self._fixed("refusal", OFF_TOPIC_TEXT, [], **extra)
        offline = self._advice(t.text, hits, done, injection=t.injection)
        if self.gemini is None:
            return offline
        return await self._gemini_advice(t.text, hits, offline)

    # ------------------------------------------------------------------ fixed replies

    def _fixed(self, kind: Kind, text: str, ids: list[str], *, injection: bool) -> CoachReply:
        return CoachReply(
            kind=kind,
            text=text,
            citations=[self._cite(self.kb.by_id[i]) for i in ids if i in self.kb.by_id],
            injection=injection,
        )

    @staticmethod
    def _cite(e: Entry) -> Citation:
        return Citation(id=e.id, title=e.title)

    # ------------------------------------------------------------------ advice

    def _advice(
        self, text: str, hits: list[Hit], done: Sequence[Finished], *, injection: bool
    ) -> CoachReply:
        main = hits[0].entry
        related = [h.entry for h in hits[1:] if h.score >= 0.85 * hits[0].score][:1]
        metric = main.metric
        lower = text.lower()
        if metric is None and any(w in lower for w in _SCORE_WORDS):
            metric = "overall"
        figures = figures_for(metric, done)
        parts = []
        if figures:
            parts.append("From your practice interviews: " + " ".join(f.text for f in figures))
        parts.append(main.body)
        if related:
            parts.append(f"Related: {related[0].title}.")
        return CoachReply(
            kind="advice",
            text="\n\n".join(parts),
            citations=[self._cite(e) for e in (main, *related)],
            figures=[_figure_out(f) for f in figures],
            injection=injection,
        )

    async def _gemini_advice(self, text: str, hits: list[Hit], offline: CoachReply) -> CoachReply:
        assert self.gemini is not None
        entries = [h.entry for h in hits]
        prompt = load_prompt(CHAT_PROMPT)
        context = "\n\n".join(f"[{e.id}] {e.title}\n{e.body}" for e in entries)
        figures = "\n".join(f"- {f.text}" for f in offline.figures) or "- (no figures yet)"
        rendered = prompt.render(entries=context, figures=figures, question=as_data(text))
        system, user = rendered.split("\n---\n", 1)
        try:
            out = await asyncio.wait_for(
                self.gemini.json(system=system, user=user, schema=_GeminiAdvice), GEMINI_TIMEOUT_S
            )
        except (TimeoutError, GeminiError) as e:
            kind = "timeout" if isinstance(e, TimeoutError) else e.kind
            logger.warning("coach chat: gemini fell back to the offline answer (%s)", kind)
            return offline.model_copy(update={"by": f"offline (gemini {kind})"})
        known = {e.id: e for e in entries}
        cited = [known[i] for i in out.cited if i in known]
        if unsafe(out.answer) or not cited or len(cited) != len(out.cited):
            logger.warning("coach chat: gemini answer not used (uncited or unsafe)")
            return offline.model_copy(update={"by": "offline (gemini unusable)"})
        return offline.model_copy(
            update={
                "text": out.answer.strip(),
                "citations": [self._cite(e) for e in cited],
                "by": "gemini",
                "prompt": prompt.ref.as_dict(),
            }
        )

    # ------------------------------------------------------------------ actions

    def _pick(
        self, text: str, done: Sequence[Finished], *, flow_only: bool = False
    ) -> tuple[Finished, dict[str, Any], bool] | None:
        """The past main answer the message refers to (matched=True), else the weakest recent.

        ``flow_only`` keeps questions from a flow (drillable), not ones tailored from a résumé.
        """
        recent = list(done)[-5:]
        options = [
            (f, q)
            for f in recent
            for q in f.report.get("questions", [])
            if q.get("kind") == "main"
            and str(q.get("answer") or "").strip()
            and (not flow_only or q.get("question_origin", "flow") == "flow")
        ]
        if not options:
            return None
        vecs = np.asarray(
            self._encoder.encode([text, *(str(q["question"]) for _, q in options)]), np.float32
        )
        sims = vecs[1:] @ vecs[0]
        best = int(np.argmax(sims))
        if float(sims[best]) >= PICK_SIMILARITY:
            return (*options[best], True)
        latest = [o for o in options if o[0] is recent[-1]] or options
        weakest = min(latest, key=lambda o: float(o[1].get("score", 0)))
        return (*weakest, False)

    def _rewrite(self, text: str, done: Sequence[Finished], *, injection: bool) -> CoachReply:
        picked = self._pick(text, done)
        if picked is None:
            return self._fixed("no_data", NO_DATA_TEXT, ["star-basics"], injection=injection)
        f, q, matched = picked
        rw = star_rewrite(str(q["question"]), str(q["answer"]))
        ids = ["star-basics"] + (["star-results"] if "result" in rw.missing else [])
        intro = "" if matched else _NOT_FOUND
        intro += (
            f"Here is your answer to “{q['question']}” ({f.when.strftime('%d %b')}), restructured "
            "as Situation, Task, Action, Result using only your own words. Square brackets mark "
            "what to add."
        )
        body = "\n\n".join([intro, rw.text, *(f"Tip: {tip}" for tip in rw.tips)])
        return CoachReply(
            kind="rewrite",
            text=body,
            citations=[self._cite(self.kb.by_id[i]) for i in ids if i in self.kb.by_id],
            rewrite=RewriteOut(
                session_id=f.session_id,
                question_index=int(q["index"]),
                question=str(q["question"]),
                original=str(q["answer"]),
                text=rw.text,
                missing=list(rw.missing),
                tips=list(rw.tips),
            ),
            injection=injection,
        )

    def _drill(self, text: str, done: Sequence[Finished], *, injection: bool) -> CoachReply:
        picked = self._pick(text, done, flow_only=True)
        if picked is None:
            return self._fixed("no_data", NO_DATA_TEXT, ["practice-routine"], injection=injection)
        f, q, matched = picked
        target = DrillTarget(
            session_id=f.session_id,
            flow_id=str(f.report.get("flow_id", "")),
            question_id=str(q["question_id"]),
            question=str(q["question"]),
            score=float(q["score"]) if q.get("score") is not None else None,
        )
        text_out = ("" if matched else _NOT_FOUND) + (
            f"Let's try this one again: “{q['question']}”. Last time it scored "
            f"{float(q.get('score', 0)):.0f}/100. Take a breath, aim for a clear Situation, "
            "Task, Action and Result, and finish with what changed because of you. Start the "
            "one-question practice when you're ready."
        )
        return CoachReply(
            kind="drill",
            text=text_out,
            citations=[
                self._cite(self.kb.by_id[i]) for i in ("star-basics",) if i in self.kb.by_id
            ],
            drill=target,
            injection=injection,
        )


def _figure_out(f: Figure) -> FigureOut:
    return FigureOut(metric=f.metric, text=f.text, link=f.link, value=f.value)
