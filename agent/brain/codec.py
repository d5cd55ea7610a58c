"""Converting scoring features to and from plain JSON data (graph state, database, reports)."""

from __future__ import annotations

from typing import Any

from scoring import AnswerFeatures, KeyPointMatch, StarParts


def features_to_dict(f: AnswerFeatures) -> dict[str, Any]:
    """JSON-friendly form of answer features."""
    return {
        "question_type": f.question_type,
        "word_count": f.word_count,
        "expected_words": f.expected_words,
        "key_points": [
            {
                "text": k.text,
                "similarity": k.similarity,
                "keyword_hits": k.keyword_hits,
                "covered": k.covered,
                "evidence": k.evidence,
            }
            for k in f.key_points
        ],
        "relevance": f.relevance,
        "has_numbers": f.has_numbers,
        "has_example": f.has_example,
        "has_outcome": f.has_outcome,
        "has_reasoning": f.has_reasoning,
        "hedge_count": f.hedge_count,
        "star": None
        if f.star is None
        else {
            "situation": f.star.situation,
            "task": f.star.task,
            "action": f.star.action,
            "result": f.star.result,
        },
        "flags": sorted(f.flags),
    }


def features_from_dict(d: dict[str, Any]) -> AnswerFeatures:
    """Inverse of `features_to_dict`."""
    star = d.get("star")
    return AnswerFeatures(
        question_type=d["question_type"],
        word_count=int(d["word_count"]),
        expected_words=int(d["expected_words"]),
        key_points=tuple(KeyPointMatch(**k) for k in d["key_points"]),
        relevance=float(d["relevance"]),
        has_numbers=bool(d["has_numbers"]),
        has_example=bool(d["has_example"]),
        has_outcome=bool(d["has_outcome"]),
        has_reasoning=bool(d["has_reasoning"]),
        hedge_count=int(d["hedge_count"]),
        star=None if star is None else StarParts(**star),
        flags=frozenset(d.get("flags", ())),
    )
