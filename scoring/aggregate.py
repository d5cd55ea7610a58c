"""Interview-level summary: overall score, strengths, improvements and the critique narrative.

Pure: from scored questions to an `InterviewSummary`. Quotes in the critique are always spans of
the candidate's own answers (taken from key-point evidence), never invented text.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.types import InterviewSummary, ScoredQuestion

_LIGHT_TYPES = frozenset({"intro", "closing", "motivation"})
_STAR_TYPES = frozenset({"behavioural"})


def _short(text: str, words: int = 10) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def band(score: float) -> str:
    """A plain-words band for a 0-100 score."""
    if not 0.0 <= score <= 100.0:
        raise ValueError(f"score out of range: {score}")
    if score >= 80:
        return "strong"
    if score >= 65:
        return "solid"
    if score >= 50:
        return "mixed"
    if score >= 30:
        return "needs work"
    return "early stage"


def overall_score(questions: Sequence[ScoredQuestion]) -> float:
    """Weighted mean of question scores; warm-up and closing questions count half."""
    if not questions:
        return 0.0
    num = den = 0.0
    for q in questions:
        w = 0.5 if q.question_type in _LIGHT_TYPES else 1.0
        num += w * q.score
        den += w
    return round(num / den, 1)


def _quote(q: ScoredQuestion) -> str | None:
    spans = [k.evidence for k in q.features.key_points if k.covered and k.evidence]
    if not spans:
        return None
    return _short(max(spans, key=len), 18)


def summarise_interview(questions: Sequence[ScoredQuestion]) -> InterviewSummary:
    """Summarise a finished interview."""
    overall = overall_score(questions)
    answered = [q for q in questions if "empty" not in q.features.flags]
    _no_answer = {"non_answer", "evasive", "gibberish", "off_language"}
    core = [
        q
        for q in answered
        if q.question_type not in _LIGHT_TYPES and not q.features.flags & _no_answer
    ]
    strengths: list[str] = []
    improvements: list[str] = []
    because: list[str] = [f"Overall {overall:.0f}/100 from {len(questions)} question(s)."]

    if not answered:
        return InterviewSummary(
            overall=overall,
            strengths=(),
            improvements=(
                "Answer the questions out loud, even briefly: there was nothing to "
                "assess in this session.",
            ),
            critique="No answers were given, so there is nothing to assess yet. Try again and "
            "answer each question, even briefly; a rough answer teaches more than none.",
            because=tuple(because),
        )

    best = max(answered, key=lambda q: q.score)
    worst = min(core or answered, key=lambda q: q.score)

    for q in sorted(answered, key=lambda q: -q.score)[:2]:
        if q.score >= 75:
            strengths.append(f"Strong answer to “{_short(q.question)}” ({q.score:.0f}/100).")
    star_qs = [
        q
        for q in core
        if q.question_type in _STAR_TYPES
        and q.features.star
        and not q.features.flags & {"non_answer", "evasive", "gibberish", "off_language"}
    ]
    if star_qs and any(q.features.star and q.features.star.count == 4 for q in star_qs):
        strengths.append("Told behavioural stories with a clear situation, action and result.")
    n = max(len(core), 1)
    if core and sum(q.features.has_numbers for q in core) / n >= 0.5:
        strengths.append("Backed claims with concrete numbers.")
    if core and sum(q.features.has_example for q in core) / n >= 0.6:
        strengths.append("Grounded answers in real examples from your experience.")
    tech = [q for q in core if q.question_type == "technical"]
    if tech and sum(q.features.has_reasoning for q in tech) / len(tech) >= 0.6:
        strengths.append("Explained the reasoning and trade-offs behind technical choices.")
    covs = [
        sum(k.covered for k in q.features.key_points) / len(q.features.key_points)
        for q in core
        if q.features.key_points
    ]
    if covs and sum(covs) / len(covs) >= 0.7:
        strengths.append("Covered most of what interviewers look for in each answer.")

    non = [
        q
        for q in questions
        if q.features.flags & {"empty", "non_answer", "evasive", "gibberish", "off_language"}
    ]
    if non:
        improvements.append(
            f"{len(non)} question(s) got no real answer. When you don't know, say how you would "
            "reason about it or find out; that still shows how you think."
        )
    if any("off_language" in q.features.flags for q in questions):
        improvements.append(
            "Answer in the interview's language (English here) so the answers can be assessed."
        )
    missing_result = [
        q for q in star_qs if q.features.star and "result" in q.features.star.missing()
    ]
    if missing_result:
        improvements.append(
            "Finish each story with the result: what changed, ideally with a number "
            f"(missing in “{_short(missing_result[0].question)}”)."
        )
    for q in sorted((q for q in core if q not in non), key=lambda q: q.score)[:2]:
        missed = [k.text for k in q.features.key_points if not k.covered]
        if missed and q.score < 75:
            improvements.append(
                f"On “{_short(q.question)}” you did not cover: {'; '.join(missed[:2])}."
            )
    if core and sum(q.features.has_numbers for q in core) / n < 0.3:
        improvements.append(
            "Quantify your impact: scale, time saved, error rates, revenue, users affected."
        )
    if core and sum(q.features.has_example for q in core) / n < 0.4:
        improvements.append(
            "Use specific examples (‘At my last job, when…’) instead of general statements."
        )
    short = [q for q in core if "too_short" in q.features.flags and q not in non]
    if len(short) >= 2:
        improvements.append(
            f"{len(short)} answers were very short; aim for one to two minutes with context, "
            "what you did and the outcome."
        )
    if any("rambling" in q.features.flags for q in questions):
        improvements.append("Some answers ran long; lead with the point, then give one example.")
    if sum(q.features.hedge_count for q in answered) >= 6:
        improvements.append(
            "Cut hedges like ‘maybe’ and ‘I guess’: state what you did and what you think."
        )
    if any("off_topic" in q.features.flags for q in questions):
        improvements.append("Answer the question asked first, then add context.")

    if not strengths:
        strengths.append(
            f"You answered {len(answered)} question(s); that practice is what builds fluency."
        )
    if not improvements:
        if not core:
            improvements.append(
                "Only warm-up or closing questions were answered: continue to the core "
                "questions next time, where most of the assessment happens."
            )
        elif overall < 65:
            improvements.append(
                "Go deeper on each core question: name the key considerations, explain why, and "
                "back it with one example from your own experience."
            )
        else:
            improvements.append(
                "Keep the same structure and push for even sharper numbers and trade-offs."
            )

    sentences = [f"Overall {overall:.0f}/100: {band(overall)}."]
    quote = _quote(best)
    best_line = f"Your best answer was to “{_short(best.question)}” ({best.score:.0f}/100)"
    sentences.append(best_line + (f", where you said “{quote}”." if quote else "."))
    if worst is not best:
        reasons = {
            "empty": "it was not answered",
            "non_answer": "it was not answered",
            "gibberish": "the answer could not be understood",
            "off_language": "it was not answered in English",
            "evasive": "it was declined",
            "off_topic": "it drifted off topic",
        }
        gap = next((b for b in reasons if b in worst.features.flags), None)
        reason = reasons.get(gap or "", "it left out key points")
        sentences.append(
            f"The weakest was “{_short(worst.question)}” ({worst.score:.0f}/100): {reason}."
        )
    sentences.append(f"Focus next on this: {improvements[0]}")
    sentences.append("This is self-practice coaching feedback, not a hiring assessment.")
    because.append(f"Best: {best.score:.0f}; weakest: {worst.score:.0f}.")
    return InterviewSummary(
        overall=overall,
        strengths=tuple(dict.fromkeys(strengths))[:5],
        improvements=tuple(dict.fromkeys(improvements))[:5],
        critique=" ".join(sentences),
        because=tuple(because),
    )
