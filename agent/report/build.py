"""Builds the report (JSON data) from a finished interview's graph state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.brain.codec import features_from_dict
from agent.report.schema import (
    KeyPointResult,
    PromptUse,
    QuestionResult,
    Report,
    SubScoreResult,
    TimelineEvent,
)
from scoring import SCORING_VERSION, ScoredQuestion, band
from scoring.delivery import DeliveryPrefs, delivery_score, presence_score
from scoring.types import SubScore

if TYPE_CHECKING:
    from agent.brain.base import InterviewBrain
    from agent.flow.state import InterviewState


def _topic(turn: dict[str, Any]) -> str:
    """A short name for an answer in evidence lines ("the answer to question 3")."""
    return f"the answer to question {turn['index'] + 1}"


def _final_turn_of_thread(turns: list[dict[str, Any]], main_index: int) -> dict[str, Any]:
    thread = [t for t in turns if t["index"] == main_index or t["follow_up_of"] == main_index]
    return thread[-1]


async def build_report(state: InterviewState, brain: InterviewBrain) -> dict[str, Any]:
    """Score the interview and return the report as JSON-ready data."""
    turns = [t for t in state.get("turns", []) if t.get("features") is not None]
    plan = {p["qid"]: p for p in state.get("plan", [])}
    plan.update({p["qid"]: p for p in state.get("reserve", []) if p["qid"] not in plan})
    scored: list[ScoredQuestion] = []
    results: list[QuestionResult] = []
    for t in turns:
        if t["kind"] == "main":
            final = _final_turn_of_thread(turns, t["index"])
            feats = features_from_dict(final["thread_features"])
            n_follow = sum(1 for x in turns if x["follow_up_of"] == t["index"])
            scored.append(
                ScoredQuestion(
                    question=t["question"],
                    question_type=feats.question_type,
                    score=float(final["thread_score"]),
                    features=feats,
                    follow_ups=n_follow,
                    answer=" ".join(
                        x["answer"]
                        for x in turns
                        if x["index"] == t["index"] or x["follow_up_of"] == t["index"]
                    ),
                )
            )
            score = float(final["thread_score"])
            evidence = list(final["thread_evidence"])
            kps = [
                KeyPointResult(
                    text=k.text, covered=k.covered, similarity=k.similarity, evidence=k.evidence
                )
                for k in feats.key_points
            ]
        else:
            score = float(t["thread_score"])
            evidence = list(t["thread_evidence"])
            kps = []
        own = features_from_dict(t["features"])
        results.append(
            QuestionResult(
                index=t["index"],
                kind=t["kind"],
                question_id=t["qid"],
                section=plan.get(t["qid"], {}).get("section_title", ""),
                skills=list(plan.get(t["qid"], {}).get("skills", [])),
                question=t["question"],
                said=t["say"],
                answer=t["answer"],
                score=score,
                answer_score=float(t["score"]),
                evidence=evidence,
                follow_up_of=t["follow_up_of"],
                follow_up_target=t["target"],
                key_points=kps,
                flags=sorted(own.flags),
                word_count=own.word_count,
                truncated=bool(t.get("truncated")),
                span=_span(t),
                fluency=(t.get("delivery") or {}).get("fluency"),
                presence=(t.get("delivery") or {}).get("presence"),
                asked_by=t.get("asked_by", "offline"),
                graded_by=t.get("graded_by", "offline"),
                question_origin=plan.get(t["qid"], {}).get("origin", "flow"),
            )
        )
    summary = await brain.summarise(questions=scored)
    prefs = DeliveryPrefs(**state.get("delivery_prefs", {}))
    per_answer = [
        {
            "label": _topic(t),
            "fluency": (t.get("delivery") or {}).get("fluency"),
            "presence": (t.get("delivery") or {}).get("presence"),
        }
        for t in turns
    ]
    profile = state["profile"]
    flow = state["flow"]
    refs = getattr(brain, "prompt_refs", ())
    report = Report(
        session_id=state["session_id"],
        flow_id=flow["id"],
        flow_title=flow["title"],
        role=profile.get("role") or flow["role"],
        seniority=profile.get("seniority", "mid"),
        skills=list(profile.get("skills", [])),
        candidate_name=profile.get("name", ""),
        brain=state.get("brain", brain.name),
        planned_by=state.get("planned_by", "offline"),
        critique_by=summary.source,
        scoring_version=SCORING_VERSION,
        prompts=[PromptUse(name=r.name, version=r.version, sha256=r.sha256) for r in refs],
        overall_score=summary.overall,
        band=band(summary.overall),
        questions=results,
        strengths=list(summary.strengths),
        improvements=list(summary.improvements),
        critique=summary.critique,
        closing=state.get("closing", ""),
        notes=list(state.get("notes", [])),
        estimated_minutes=round(state.get("elapsed_s", 0.0) / 60.0, 1),
        delivery=_sub(delivery_score(per_answer, prefs)),
        presence=_sub(presence_score(per_answer, prefs)),
        timeline=timeline(turns),
    )
    return report.model_dump(mode="json")


def _span(turn: dict[str, Any]) -> tuple[float, float] | None:
    span = turn.get("span")
    if isinstance(span, list | tuple) and len(span) == 2:
        return float(span[0]), float(span[1])
    return None


def _sub(sub: SubScore | None) -> SubScoreResult | None:
    if sub is None:
        return None
    return SubScoreResult(
        name=sub.name, value=sub.value, because=list(sub.because), components=sub.components
    )


def timeline(turns: list[dict[str, Any]]) -> list[TimelineEvent]:
    """Answers, voice events and look-away spans on one clock, in time order."""
    events: list[TimelineEvent] = []
    for t in turns:
        span = _span(t)
        if span is None:
            continue
        events.append(
            TimelineEvent(kind="answer", start=span[0], end=span[1], question_index=t["index"])
        )
        delivery = t.get("delivery") or {}
        for ev in (delivery.get("fluency") or {}).get("events", []):
            if ev.get("kind") in ("long_pause", "filler", "repetition"):
                events.append(
                    TimelineEvent(
                        kind=str(ev["kind"]),
                        start=float(ev["start"]),
                        end=float(ev["end"]),
                        detail=str(ev.get("detail", "")),
                        question_index=t["index"],
                    )
                )
        for la in (delivery.get("presence") or {}).get("look_away", []):
            events.append(
                TimelineEvent(
                    kind="look_away",
                    start=float(la["start"]),
                    end=float(la["end"]),
                    question_index=t["index"],
                )
            )
    return sorted(events, key=lambda e: (e.start, e.end))
