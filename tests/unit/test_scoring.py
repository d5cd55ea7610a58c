from __future__ import annotations

import pytest

from scoring import (
    AnswerFeatures,
    ContentWeights,
    CoverageThresholds,
    KeyPointMatch,
    ScoredQuestion,
    StarParts,
    band,
    content_score,
    depth_credit,
    overall_score,
    point_credit,
    summarise_interview,
)

pytestmark = pytest.mark.unit

W = ContentWeights()
T = CoverageThresholds()


def feats(
    *,
    qtype: str = "technical",
    words: int = 150,
    covered: tuple[bool, ...] = (True, True, True),
    sims: tuple[float, ...] | None = None,
    relevance: float = 0.6,
    numbers: bool = True,
    example: bool = True,
    outcome: bool = True,
    reasoning: bool = True,
    hedges: int = 0,
    star: StarParts | None = None,
    flags: frozenset[str] = frozenset(),
) -> AnswerFeatures:
    sims = sims or tuple(0.7 if c else 0.1 for c in covered)
    kps = tuple(
        KeyPointMatch(f"point {i}", s, 0, c, "span" if c else None)
        for i, (c, s) in enumerate(zip(covered, sims, strict=True))
    )
    return AnswerFeatures(
        question_type=qtype,
        word_count=words,
        expected_words=280,
        key_points=kps,
        relevance=relevance,
        has_numbers=numbers,
        has_example=example,
        has_outcome=outcome,
        has_reasoning=reasoning,
        hedge_count=hedges,
        star=star,
        flags=flags,
    )


FULL_STAR = StarParts(True, True, True, True)
NO_RESULT = StarParts(True, True, True, False)


@pytest.mark.parametrize(
    ("name", "f", "low", "high"),
    [
        ("complete technical", feats(), 85, 100),
        ("no coverage", feats(covered=(False, False, False)), 20, 65),
        ("partial coverage", feats(covered=(True, False, False)), 45, 85),
        ("no reasoning/example", feats(reasoning=False, example=False, numbers=False), 55, 85),
        ("empty", feats(words=0, covered=(False,) * 3, flags=frozenset({"empty"})), 0, 0),
        ("non answer", feats(words=3, flags=frozenset({"non_answer"})), 0, 5),
        ("gibberish", feats(flags=frozenset({"gibberish"})), 0, 3),
        ("off topic", feats(relevance=0.05, flags=frozenset({"off_topic"})), 0, 20),
        ("evasive", feats(flags=frozenset({"evasive"})), 0, 15),
        ("star complete", feats(qtype="behavioural", star=FULL_STAR), 85, 100),
        ("star no result", feats(qtype="behavioural", star=NO_RESULT, outcome=False), 60, 92),
        ("intro no key points", feats(qtype="intro", covered=()), 60, 100),
    ],
)
def test_content_score_table(name: str, f: AnswerFeatures, low: float, high: float) -> None:
    s = content_score(features=f, weights=W, thresholds=T)
    assert low <= s.value <= high, (name, s.value, s.because)
    assert s.because, "every score explains itself"


def test_missing_points_are_named_in_evidence() -> None:
    s = content_score(features=feats(covered=(True, False, True)), weights=W, thresholds=T)
    assert any("Missed: point 1" in b for b in s.because)
    assert any("Covered 2 of 3" in b for b in s.because)


def test_star_missing_result_is_explained() -> None:
    s = content_score(
        features=feats(qtype="behavioural", star=NO_RESULT, outcome=False), weights=W, thresholds=T
    )
    assert any("missing result" in b for b in s.because)


def test_injection_does_not_change_score() -> None:
    base = feats()
    inj = feats(flags=frozenset({"injection"}))
    a = content_score(features=base, weights=W, thresholds=T).value
    b = content_score(features=inj, weights=W, thresholds=T).value
    assert a == b


def test_weights_move_scores() -> None:
    f = feats(covered=(False, False, False))
    coverage_heavy = ContentWeights(coverage=1, relevance=0, structure=0, specificity=0, depth=0)
    assert content_score(features=f, weights=coverage_heavy, thresholds=T).value < 10


@pytest.mark.parametrize(
    ("sim", "covered", "expected"),
    [(0.9, True, 1.0), (0.1, False, 0.0), (0.2, False, 0.0), (0.5, False, 0.8), (0.35, False, 0.4)],
)
def test_point_credit(sim: float, covered: bool, expected: float) -> None:
    assert point_credit(sim, covered, T) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("words", "expected"), [(0, 0.0), (98, 1.0), (300, 1.0), (5000, 0.5)])
def test_depth_credit(words: int, expected: float) -> None:
    assert depth_credit(words, 280) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: point_credit(1.5, False, T),
        lambda: CoverageThresholds(covered=0.2, floor=0.3),
        lambda: ContentWeights(0, 0, 0, 0, 0),
        lambda: ContentWeights(coverage=-1),
        lambda: feats(relevance=1.2),
        lambda: feats(flags=frozenset({"made_up"})),
        lambda: band(101),
    ],
)
def test_range_checks(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        bad()


def sq(question: str, score: float, f: AnswerFeatures) -> ScoredQuestion:
    return ScoredQuestion(question=question, question_type=f.question_type, score=score, features=f)


def test_overall_weights_light_questions_half() -> None:
    qs = [sq("intro", 100, feats(qtype="intro", covered=())), sq("tech", 40, feats())]
    assert overall_score(qs) == pytest.approx((0.5 * 100 + 40) / 1.5, abs=0.1)
    assert overall_score([]) == 0.0


def test_summary_orders_strong_above_weak_and_quotes_real_spans() -> None:
    strong = summarise_interview([sq("Tell me about caching", 90, feats())])
    weak = summarise_interview(
        [sq("Tell me about caching", 20, feats(covered=(False,) * 3, numbers=False, example=False))]
    )
    assert strong.overall > weak.overall
    assert "span" in strong.critique  # the quote is the evidence span, not invented text
    assert strong.strengths and weak.improvements
    assert "not a hiring assessment" in strong.critique


def test_summary_with_no_answers() -> None:
    s = summarise_interview(
        [sq("q", 0, feats(words=0, covered=(False,) * 3, flags=frozenset({"empty"})))]
    )
    assert s.overall == 0
    assert s.improvements
    assert "No answers" in s.critique


@pytest.mark.parametrize(
    ("score", "name"),
    [(95, "strong"), (70, "solid"), (55, "mixed"), (35, "needs work"), (5, "early stage")],
)
def test_band(score: float, name: str) -> None:
    assert band(score) == name
