"""The offline interviewer's decisions: follow up, move on (with adaptive difficulty) or wrap up.

Pure functions over a view of the interview so far. A follow-up always targets something the
answer lacked (a missing key point's probe, a missing STAR part, numbers, an example, a
rephrase after a non-answer); nothing spoken ever contains key-point text, rubric or notes.
Budgets (main questions, total turns, follow-ups per question, minutes) are hard limits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.brain.types import Decision, PlannedQuestion
from scoring import AnswerFeatures

_STAR_TYPES = frozenset({"behavioural"})
_LIGHT_TYPES = frozenset({"intro", "closing", "motivation"})
_NON_ANSWER = frozenset({"empty", "non_answer", "gibberish"})


@dataclass(frozen=True, slots=True)
class ThreadView:
    """The current main question and what has happened on it."""

    question: PlannedQuestion
    last: AnswerFeatures
    """Features of the latest answer alone."""
    combined: AnswerFeatures
    """Features of all answers on this question together."""
    score: float
    """Content score of the combined thread."""
    targets_asked: tuple[str, ...] = ()
    """Targets of follow-ups already asked on this question."""
    answer: str = ""
    """The latest answer's text (for brains that word follow-ups from it)."""
    delivery: str = "none"
    """How the latest answer was delivered, in words (`agent.brain.cues.delivery_note`)."""


@dataclass(frozen=True, slots=True)
class InterviewView:
    """Budgets and history the decision needs."""

    plan: tuple[PlannedQuestion, ...]
    cursor: int
    """Index in ``plan`` of the current main question."""
    reserve: tuple[PlannedQuestion, ...]
    asked_texts: frozenset[str]
    turns_so_far: int
    elapsed_s: float
    level: int
    max_turns: int
    max_follow_ups: int
    duration_s: float
    level_up_score: float = 75.0
    level_down_score: float = 45.0
    speaking_wpm: float = 140.0
    asked_qids: frozenset[str] = field(default_factory=frozenset)
    said: tuple[str, ...] = ()
    """Everything the interviewer has said so far."""


class Phrases:
    """The persona's phrase bank with deterministic variety."""

    def __init__(self, bank: Mapping[str, Any], persona: str) -> None:
        personas = bank["personas"]
        self._p: Mapping[str, Any] = personas.get(persona) or personas["friendly"]

    def pick(self, key: str, n: int, **fmt: str) -> str:
        """The n-th variant (cycled) of a phrase list, formatted."""
        value = self._lookup(key)
        if isinstance(value, str):
            return value.format(**fmt)
        return str(value[n % len(value)]).format(**fmt)

    def _lookup(self, key: str) -> Any:
        value: Any = self._p
        for part in key.split("."):
            value = value[part]
        return value

    def variants(self, key: str, **fmt: str) -> list[str]:
        """All variants of a phrase list, formatted."""
        value = self._lookup(key)
        if isinstance(value, str):
            return [value.format(**fmt)]
        return [str(v).format(**fmt) for v in value]


def estimate_seconds(text: str, wpm: float) -> float:
    """Rough speaking time of a text."""
    return len(text.split()) * 60.0 / wpm + 2.0


def _fresh(options: Sequence[str], asked: frozenset[str]) -> str | None:
    for o in options:
        if o not in asked:
            return o
    return None


def choose_follow_up(
    thread: ThreadView, phrases: Phrases, asked: frozenset[str]
) -> tuple[str, str] | None:
    """Pick (target, question text) for a follow-up, or None to move on."""
    q = thread.question
    last, comb = thread.last, thread.combined
    done = set(thread.targets_asked)

    if last.flags & _NON_ANSWER:
        if "rephrase" in done:
            return None
        wording = q.rephrase or q.text
        text = _fresh(phrases.variants("rephrase", question=wording), asked)
        return ("rephrase", text) if text else None
    if "off_language" in last.flags:
        if "language" in done:
            return None
        text = _fresh(phrases.variants("off_language", question=q.rephrase or q.text), asked)
        return ("language", text) if text else None
    if "evasive" in last.flags:
        return None
    if "off_topic" in comb.flags and "rule:off_topic" not in done and "off_topic" not in done:
        rule = next((r for r in q.follow_ups if r.when == "off_topic"), None)
        if rule and rule.ask not in asked:
            return ("rule:off_topic", rule.ask)
        text = _fresh(phrases.variants("follow_up.off_topic", question=q.text), asked)
        return ("off_topic", text) if text else None
    if thread.score >= 80:
        return None
    if "rephrase" in done and thread.score < 20:
        return None  # a rephrase did not help: probing further only adds pressure

    conditions = {
        "vague": "vague" in comb.flags,
        "no_example": not comb.has_example,
        "no_numbers": not comb.has_numbers,
        "no_outcome": not comb.has_outcome,
        "missing_star": bool(comb.star and comb.star.missing()),
        "too_short": "too_short" in last.flags,
    }
    for rule in q.follow_ups:
        target = f"rule:{rule.when}"
        if conditions.get(rule.when) and target not in done and rule.ask not in asked:
            return (target, rule.ask)

    candidates: list[tuple[str, list[str]]] = []
    covered_share = (
        sum(k.covered for k in comb.key_points) / len(comb.key_points) if comb.key_points else 0.0
    )
    if q.type in _STAR_TYPES and comb.star is not None and covered_share < 0.67:
        missing = comb.star.missing()
        # Action and result matter most; ask for context only when the story lacks most parts.
        parts = (
            ("action", "result", "situation", "task") if len(missing) >= 3 else ("action", "result")
        )
        for part in parts:
            if part in missing:
                candidates.append((f"star:{part}", phrases.variants(f"follow_up.{part}")))
    for i, kp in enumerate(comb.key_points):
        if not kp.covered:
            candidates.append((f"kp:{i}", [q.key_points[i].probe]))
    if "too_short" in last.flags:
        candidates.append(("too_short", phrases.variants("follow_up.too_short")))
    if q.type not in _LIGHT_TYPES:
        if not comb.has_example:
            candidates.append(("example", phrases.variants("follow_up.example")))
        if (
            q.type in _STAR_TYPES
            and comb.has_outcome
            and not comb.has_numbers
            and "star:result" not in done
        ):
            candidates.append(("numbers", phrases.variants("follow_up.numbers")))
    for target, options in candidates:
        if target in done:
            continue
        text = _fresh(options, asked)
        if text:
            return (target, text)
    return None


def _level_after(view: InterviewView, thread: ThreadView) -> int:
    if thread.question.type in _LIGHT_TYPES:
        return view.level
    if thread.score >= view.level_up_score:
        return min(3, view.level + 1)
    if thread.score <= view.level_down_score:
        return max(1, view.level - 1)
    return view.level


def _adapt(
    nxt: PlannedQuestion, level: int, view: InterviewView
) -> tuple[PlannedQuestion, str | None]:
    """Swap the next question for a reserve one closer to ``level`` in the same section."""
    if nxt.section_kind not in ("technical", "behavioural") or nxt.difficulty == level:
        return nxt, None
    options = [
        r
        for r in view.reserve
        if r.section_id == nxt.section_id
        and r.qid not in view.asked_qids
        and r.text not in view.asked_texts
        and abs(r.difficulty - level) < abs(nxt.difficulty - level)
    ]
    if not options:
        return nxt, None
    overlap = set(nxt.skills)
    best = min(
        options,
        key=lambda r: (abs(r.difficulty - level), -len(overlap & set(r.skills)), r.qid),
    )
    return best, ("harder" if best.difficulty > nxt.difficulty else "easier")


def decide(
    *,
    thread: ThreadView,
    view: InterviewView,
    phrases: Phrases,
    injection: bool = False,
) -> Decision:
    """Decide what to say after the latest answer."""
    n = view.turns_so_far
    notice = phrases.pick("injection_notice", n)
    prefix = notice + " " if injection and not any(notice in x for x in view.said) else ""
    remaining_s = view.duration_s - view.elapsed_s
    follow_ups_done = len(thread.targets_asked)
    room_for_follow_up = (
        follow_ups_done < view.max_follow_ups
        and view.turns_so_far + 1 < view.max_turns
        and remaining_s > 90
    )
    if room_for_follow_up:
        picked = choose_follow_up(thread, phrases, view.asked_texts)
        if picked:
            target, text = picked
            return Decision(
                action="follow_up",
                say=prefix + text,
                question_text=text,
                target=target,
                level=view.level,
                reason=f"follow-up on {target}",
            )

    level = _level_after(view, thread)
    if thread.last.flags & _NON_ANSWER and "rephrase" in thread.targets_asked:
        ack = phrases.pick("move_on_after_non_answer", n)
    elif thread.last.flags & (_NON_ANSWER | {"off_language", "evasive"}):
        ack = phrases.pick("ack_weak", n)
    elif thread.score >= 75:
        ack = phrases.pick("ack_strong", n)
    elif thread.score >= 45:
        ack = phrases.pick("ack_ok", n)
    else:
        ack = phrases.pick("ack_weak", n)

    wrap = Decision(
        action="wrap_up",
        say=prefix + phrases.pick("wrap_up", n),
        level=level,
        reason="plan complete",
    )
    if view.turns_so_far >= view.max_turns:
        return wrap.model_copy(update={"reason": "turn budget reached"})
    upcoming = [
        p
        for p in view.plan[view.cursor + 1 :]
        if p.qid not in view.asked_qids and p.text not in view.asked_texts
    ]
    if not upcoming:
        return wrap
    nxt = upcoming[0]
    lead = ""
    needed = estimate_seconds(nxt.text, 150) + nxt.expected_seconds
    if view.elapsed_s + needed > view.duration_s:
        closing = next((p for p in upcoming if p.section_kind == "closing"), None)
        if closing is None or remaining_s < 45:
            return wrap.model_copy(update={"reason": "time budget reached"})
        nxt = closing
        lead = phrases.pick("time_short", n) + " "
    nxt, change = _adapt(nxt, level, view)
    current = view.plan[view.cursor]
    if not lead and nxt.section_id != current.section_id:
        kind = (
            nxt.section_kind
            if nxt.section_kind in ("technical", "behavioural", "closing")
            else "other"
        )
        lead = phrases.pick(f"transition.{kind}", n, topic=nxt.section_title.lower()) + " "
    elif change:
        lead = phrases.pick(change, n) + " "
    return Decision(
        action="next",
        say=f"{prefix}{ack} {lead}{nxt.text}".strip(),
        question_text=nxt.text,
        next_question=nxt,
        level=level,
        reason=f"next question ({change or 'as planned'})",
    )
