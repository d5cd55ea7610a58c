"""Per-answer content score: coverage of key points, relevance, structure, specificity, depth.

Pure functions only. Each component is 0-1; the score is their weighted mean times 100, capped
for non-answers. Every score carries "because" lines a candidate can act on.
"""

from __future__ import annotations

from scoring.types import AnswerFeatures, ContentWeights, CoverageThresholds, SubScore

_STAR_TYPES = frozenset({"behavioural"})
_OPEN_TYPES = frozenset({"intro", "closing", "motivation"})

_CAPS: tuple[tuple[str, float, str], ...] = (
    ("empty", 0.0, "No answer was given."),
    ("gibberish", 3.0, "The answer could not be understood as words."),
    ("non_answer", 5.0, "The answer did not attempt the question."),
    ("off_language", 10.0, "The answer was not in the interview's language."),
    ("evasive", 15.0, "The answer declined to go into the question."),
    ("off_topic", 20.0, "The answer did not address the question."),
)


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def point_credit(similarity: float, covered: bool, t: CoverageThresholds) -> float:
    """Credit 0-1 for one key point: full when covered, partial between floor and threshold."""
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be within [0, 1], got {similarity}")
    if covered:
        return 1.0
    return 0.8 * _clip01((similarity - t.floor) / (t.covered - t.floor))


def depth_credit(word_count: int, expected_words: int) -> float:
    """Credit 0-1 for answer length relative to what the question calls for."""
    if word_count <= 0:
        return 0.0
    expected = max(expected_words, 30)
    low, high = 0.35 * expected, 1.6 * expected
    if word_count < low:
        return _clip01(word_count / low)
    if word_count <= high:
        return 1.0
    return max(0.5, 1.0 - 0.5 * (word_count - high) / (2 * high))


def content_score(
    *,
    features: AnswerFeatures,
    weights: ContentWeights,
    thresholds: CoverageThresholds,
) -> SubScore:
    """Score one answer's content 0-100 with evidence lines."""
    f = features
    because: list[str] = []
    parts: dict[str, float] = {}
    w: dict[str, float] = {
        "coverage": weights.coverage,
        "relevance": weights.relevance,
        "structure": weights.structure,
        "specificity": weights.specificity,
        "depth": weights.depth,
    }

    if f.key_points:
        credits = [point_credit(k.similarity, k.covered, thresholds) for k in f.key_points]
        parts["coverage"] = sum(credits) / len(credits)
        hit = [k for k in f.key_points if k.covered]
        miss = [k for k in f.key_points if not k.covered]
        because.append(f"Covered {len(hit)} of {len(f.key_points)} expected points.")
        if hit:
            because.append("Covered: " + "; ".join(k.text for k in hit[:3]) + ".")
        if miss:
            because.append("Missed: " + "; ".join(k.text for k in miss[:3]) + ".")
    else:
        w["coverage"] = 0.0

    parts["relevance"] = _clip01((f.relevance - 0.1) / 0.45)
    if f.relevance < 0.25:
        because.append("Much of the answer was not about the question asked.")

    if f.question_type in _STAR_TYPES and f.star is not None:
        parts["structure"] = f.star.count / 4
        missing = f.star.missing()
        if missing:
            because.append(
                f"STAR structure: {f.star.count} of 4 parts; missing {', '.join(missing)}."
            )
        else:
            because.append("Clear STAR structure: situation, task, action and result.")
    elif f.question_type in _OPEN_TYPES:
        parts["structure"] = 0.5 + 0.25 * f.has_example + 0.25 * f.has_reasoning
    else:
        parts["structure"] = 0.2 + 0.45 * f.has_reasoning + 0.35 * f.has_example
        if f.has_reasoning:
            because.append("Explained the reasoning behind choices.")
        else:
            because.append("Stated what to do without explaining why or the trade-offs.")

    spec = (f.has_numbers + f.has_example + f.has_outcome) / 3
    hedge_penalty = min(0.3, 0.06 * f.hedge_count)
    parts["specificity"] = _clip01(spec - hedge_penalty)
    if f.has_numbers:
        because.append("Used concrete numbers.")
    if f.has_example:
        because.append("Grounded the answer in a real example.")
    elif f.question_type not in _OPEN_TYPES:
        because.append("No concrete example from your own experience.")
    if f.question_type in _STAR_TYPES and not f.has_outcome:
        because.append("Did not say how it turned out.")
    if f.hedge_count >= 3:
        because.append(f"Hedged often ({f.hedge_count} times: 'maybe', 'I guess', 'kind of').")

    parts["depth"] = depth_credit(f.word_count, f.expected_words)
    if "too_short" in f.flags:
        because.append(f"Short answer ({f.word_count} words) for this question.")
    if "rambling" in f.flags:
        because.append(f"Long answer ({f.word_count} words): tighten it to the key points.")

    total_w = sum(w.values())
    value = 100.0 * sum(parts[k] * w[k] for k in parts) / total_w
    for flag, cap, line in _CAPS:
        if flag in f.flags:
            value = min(value, cap)
            because.insert(0, line)
    if "injection" in f.flags:
        because.append("Instructions aimed at the interviewer were ignored and not scored.")
    return SubScore("content", round(value, 1), tuple(because), components=parts)
