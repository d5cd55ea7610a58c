"""Answer analysis for the offline brain: text checks plus sentence-encoder coverage.

Turns one answer (or a question's whole thread of answers) into `scoring.AnswerFeatures`:
key-point coverage by cosine similarity between key points and answer spans (with keyword
hits as a second signal), relevance to the question, STAR parts, numbers, examples, outcomes,
hedges and flags (non-answer, gibberish, off-language, off-topic, evasive, prompt injection).
The candidate's text is data: injected instructions are detected, removed before scoring, and
never followed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.coach.schema import KeyPoint
from scoring import AnswerFeatures, KeyPointMatch, StarParts


class Encoder(Protocol):
    """Sentence encoder returning unit vectors."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode texts to an (n, dim) float32 array of unit vectors."""
        ...


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """Thresholds for analysis (from settings.scoring)."""

    coverage_threshold: float = 0.5
    coverage_floor: float = 0.2
    off_topic_relevance: float = 0.18
    min_words: int = 25
    ramble_words: int = 450
    speaking_wpm: float = 140.0


_WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+|\d+(?:[.,]\d+)?")
_SENT_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")

_INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\b.{0,40}\b(instruction|prompt|rule|guideline|previous|above)"
    r"|\b(system prompt|your prompt|your rubric|the rubric|expected answers?|hidden notes?)\b"
    r"|\b(rate|score|grade|mark|give)\s+(me|this( answer)?)\s+(a\s+)?"
    r"(100|10|ten|hundred|perfect|full marks|top marks|maximum)"
    r"|\byou are now\b|\bact as\b|\bnew instructions\b|\bdeveloper mode\b",
    re.IGNORECASE,
)
_NON_ANSWER = re.compile(
    r"^\W*(i\s+(really\s+)?(do\s*n[o']?t|dont)\s+know|no idea|not sure|i have no (idea|clue)|"
    r"pass|skip|next( question)?|nothing|n/?a|no comment|i can'?t answer)\b",
    re.IGNORECASE,
)
_EVASIVE = re.compile(
    r"\b(rather not (say|answer|talk|discuss|go into)|prefer not to|can'?t (share|discuss|say)|"
    r"not comfortable (sharing|answering|discussing)|confidential|none of your business|"
    r"won'?t (say|answer|go into))\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|half|double|triple|"
    r"twice|percent)\b",
    re.IGNORECASE,
)
_EXAMPLE = re.compile(
    r"\b(for example|for instance|e\.g\.|such as|in my (last|previous|current|first) "
    r"(job|role|team|company|project|position)|at my (last|previous|current)|when i (was|worked)|"
    r"one time|once,? (i|we)|last (year|quarter|month)|in \d{4}|at \w+,? (i|we) |"
    r"i (built|led|designed|implemented|wrote|created|migrated|fixed|ran|launched|shipped|owned|"
    r"managed|introduced|set up|rolled out|debugged|refactored|automated|reduced|negotiated|"
    r"handled|organised|organized|coordinated|analysed|analyzed|tested))\b",
    re.IGNORECASE,
)
_OUTCOME = re.compile(
    r"\b(result(ed|s)?|as a result|outcome|in the end|eventually|ended up|which (meant|led)|"
    r"led to|so that|reduc(ed|ing)|increas(ed|ing)|improv(ed|ing)|cut|saved|grew|dropped|"
    r"decreas(ed|ing)|went (up|down|from)|achiev(ed|ing)|deliver(ed|ing)|shipped|won|"
    r"closed|resolved|fixed|succeeded|success|impact|learn(ed|t)|feedback was|reached|"
    r"thanked|grateful|lesson|looking back|in hindsight|since then|afterwards|finally|"
    r"turned out|came back|renewed|stayed|kept|doubled|halved|tripled|hit (our|the|my))\b",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(because|since|so that|therefore|trade-?offs?|depends on|it depends|the reason|"
    r"which means|otherwise|downside|upside|instead of|rather than|pros?|cons?|whereas|"
    r"versus|vs\.?|on the other hand|the risk|at the cost)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(maybe|perhaps|probably|i guess|i suppose|kind of|sort of|i think maybe|stuff|"
    r"things like that|or something|whatever|basically|etc)\b",
    re.IGNORECASE,
)
_STAR = {
    "situation": re.compile(
        r"\b(when i was|at my (last|previous|current|old|first)|at my (job|company|work)|"
        r"i noticed|we noticed|we (had|were|faced)|there was|there were|the context|"
        r"when (a|an|our|my)|"
        r"back (then|in)|in my (last|previous|current|first)|a (few|couple of) (years|months) ago|"
        r"last (year|quarter|month)|once|one time|the situation|our team|the project|"
        r"during|while (i|we) (was|were))\b",
        re.IGNORECASE,
    ),
    "task": re.compile(
        r"\b(my (role|job|task|responsibility|goal)|i was (responsible|asked|tasked|in charge)|"
        r"nobody (had )?asked|no one (had )?asked|i wanted to|i decided to|i set out to|"
        r"i (had|needed) to|we (had|needed) to|the goal|the task|the challenge|the problem was|"
        r"the aim|our goal|i owned|needed to|had to)\b",
        re.IGNORECASE,
    ),
    "action": re.compile(
        r"\b(i (?!was\b|had\b|did not\b|didn't\b)\w+ed\b|we (built|launched|shipped|ran|"
        r"added|moved|changed|rolled|tested|interviewed|redesigned|decided|agreed)\b|"
        r"i (did|went|spoke|stayed|took|made|ran|wrote|told|sat|gave|set|put|brought|got|"
        r"decided|started|built|led|set up|created|organi[sz]ed|proposed|wrote|talked|spoke|"
        r"met|reached out|scheduled|asked|suggested|analy[sz]ed|implemented|designed|"
        r"introduced|listened|explained|negotiated|escalated|prioriti[sz]ed|took|made|ran|"
        r"worked|changed|called|brought|split|broke|focused|gathered|documented|tested|"
        r"shipped|rolled|migrated|pushed|volunteered|coached|mentored|presented|compromised))\b",
        re.IGNORECASE,
    ),
    "result": _OUTCOME,
}
_EN_FUNCTION_WORDS = frozenset(
    "the and to of a i in is that it we was for on with my as at be this have but not they "
    "you so our had were would are an by or from what how when if which there about can "
    "did do me then just also them their more will been has".split()
)


@dataclass(frozen=True, slots=True)
class TextFacts:
    """Cheap text facts about an answer, before any model runs."""

    clean_text: str
    """The answer with injected instructions removed."""
    words: tuple[str, ...]
    sentences: tuple[str, ...]
    pairs: tuple[str, ...]
    """Two sentences that follow each other in the answer as said (a point spread over two
    sentences still matches; evidence quoted from a pair is a real span)."""
    injection: bool
    non_answer: bool
    evasive: bool
    gibberish: bool
    off_language: bool


def words_of(text: str) -> list[str]:
    """Word tokens of a text (letters, apostrophes, numbers)."""
    return _WORD.findall(text)


def sentences_of(text: str) -> list[str]:
    """Split text into sentences (keeps long run-ons as one)."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and s.strip()]


def text_facts(answer: str, vocabulary: frozenset[str] = frozenset()) -> TextFacts:
    """Compute the model-free facts of an answer.

    Args:
        answer: The candidate's answer, possibly empty or hostile.
        vocabulary: Lower-case known English words (whole words); enables gibberish detection.
    """
    raw_sents = sentences_of(answer)
    is_kept = [not _INJECTION.search(s) for s in raw_sents]
    kept = [s for s, k in zip(raw_sents, is_kept, strict=True) if k]
    pairs = tuple(
        f"{raw_sents[i]} {raw_sents[i + 1]}"
        for i in range(len(raw_sents) - 1)
        if is_kept[i] and is_kept[i + 1]
    )
    injection = len(kept) != len(raw_sents)
    clean = " ".join(kept)
    words = tuple(words_of(clean))
    lower = [w.lower() for w in words]
    alpha = [w for w in lower if w.isalpha()]
    n = len(words)
    non_answer = n == 0 or (n <= 12 and bool(_NON_ANSWER.search(clean)))
    evasive = bool(_EVASIVE.search(clean)) and n <= 40
    gibberish = False
    off_language = False
    if len(alpha) >= 3:
        function_share = sum(w in _EN_FUNCTION_WORDS for w in alpha) / len(alpha)
        if vocabulary:
            known_share = sum(w in vocabulary for w in alpha) / len(alpha)
            non_ascii = sum(not w.isascii() for w in alpha) / len(alpha)
            if known_share < 0.45 and function_share < 0.1:
                if non_ascii > 0.15 or known_share >= 0.2:
                    off_language = True
                else:
                    gibberish = True
        elif len(alpha) >= 6 and function_share < 0.05:
            off_language = True
        if len(alpha) >= 6 and function_share < 0.05 and not gibberish:
            off_language = True
    return TextFacts(
        clean_text=clean,
        words=words,
        sentences=tuple(kept),
        pairs=pairs,
        injection=injection,
        non_answer=non_answer and not gibberish,
        evasive=evasive,
        gibberish=gibberish,
        off_language=off_language and not gibberish,
    )


_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "e", "y")
_META = re.compile(
    r"^(names|explains|describes|mentions|states|gives|shows|reflects on|discusses|identifies|"
    r"covers|uses|considers|talks about|notes|recogni[sz]es|acknowledges|suggests|proposes|"
    r"chooses|defines|outlines|quantifies|compares|justifies|walks through|owns|admits)\s+",
    re.IGNORECASE,
)


def _stem(word: str) -> str:
    """Crude stem so 'linter' matches 'linting' and 'scaling' matches 'scale'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _keyword_hits(lower_text: str, keywords: Sequence[str]) -> int:
    hits = 0
    for kw in keywords:
        kw = kw.strip().lower()
        if not kw:
            continue
        parts = kw.split()
        parts[-1] = _stem(parts[-1])
        pattern = r"\b" + r"\s+".join(re.escape(x) for x in parts)
        if re.search(pattern, lower_text):
            hits += 1
    return hits


def _rubric_to_content(text: str) -> str:
    """Drop the rubric verb ("Explains …") so the point embeds closer to spoken answers."""
    return _META.sub("", text).strip() or text


def analyse_answer(
    *,
    question: str,
    question_type: str,
    key_points: Sequence[KeyPoint],
    answer: str,
    expected_seconds: int,
    encoder: Encoder,
    config: AnalysisConfig,
    vocabulary: frozenset[str] = frozenset(),
) -> AnswerFeatures:
    """Analyse an answer to a question and return scoring features."""
    facts = text_facts(answer, vocabulary)
    flags: set[str] = set()
    if facts.injection:
        flags.add("injection")
    wc = len(facts.words)
    expected_words = int(expected_seconds * config.speaking_wpm / 60)
    if not answer.strip() or (wc == 0 and not facts.injection):
        flags.add("empty")
    elif wc == 0 and facts.injection:
        flags.add("non_answer")
    if facts.gibberish:
        flags.add("gibberish")
    elif facts.off_language:
        flags.add("off_language")
    elif facts.non_answer and wc > 0:
        flags.add("non_answer")
    elif 0 < wc <= 2 and question_type not in ("intro", "closing", "motivation"):
        flags.add("non_answer")
    if facts.evasive:
        flags.add("evasive")

    sentences = list(facts.sentences)
    matches: list[KeyPointMatch] = []
    relevance = 0.0
    off_share = 0.0
    on_topic_text = facts.clean_text
    usable = wc > 0 and not (flags & {"gibberish", "off_language", "empty"})
    any_point_touched = False
    if usable:
        sents = sentences or [facts.clean_text]
        kp_texts = [_rubric_to_content(k.text) for k in key_points]
        pair_spans = list(facts.pairs)
        texts = [question, *kp_texts, *sents, *pair_spans]
        vecs = encoder.encode(texts)
        q_vec = vecs[0]
        kp_vecs = vecs[1 : 1 + len(key_points)]
        sent_vecs = vecs[1 + len(key_points) : 1 + len(key_points) + len(sents)]
        span_vecs = vecs[1 + len(key_points) :]
        spans = [*sents, *pair_spans]
        ref = q_vec
        if len(key_points):
            ref = q_vec + kp_vecs.mean(axis=0)
            ref = ref / (np.linalg.norm(ref) + 1e-9)
        # Relevance sentence by sentence: a long tangent must not ride on an on-topic opening.
        sent_rel = np.clip(sent_vecs @ ref, 0.0, 1.0)
        if len(key_points):
            sent_rel = np.maximum(sent_rel, np.clip(sent_vecs @ kp_vecs.T, 0, 1).max(axis=1))
        weights = np.array([max(1, len(words_of(x))) for x in sents], dtype=np.float32)
        on_topic = sent_rel >= config.off_topic_relevance
        long_answer = wc > 0.8 * expected_words
        if long_answer and len(sents) >= 3 and on_topic.any():
            off_share = float(weights[~on_topic].sum() / weights.sum())
            on_topic_text = " ".join(x for x, keep in zip(sents, on_topic, strict=True) if keep)
        top = np.sort(sent_rel)[::-1][: max(1, min(3, len(sents)))]
        relevance = float(np.clip(top.mean() * (1.0 - 0.6 * off_share), 0.0, 1.0))
        sims = kp_vecs @ span_vecs.T if len(key_points) else np.zeros((0, len(spans)))
        for i, kp in enumerate(key_points):
            row = np.clip(sims[i], 0.0, 1.0) if sims.shape[1] else np.zeros(1)
            j = int(np.argmax(row))
            sim = float(row[j])
            hit_spans = [n for n, sp in enumerate(spans) if _keyword_hits(sp.lower(), kp.keywords)]
            hits = _keyword_hits(on_topic_text.lower(), kp.keywords)
            kw_needed = 2 if len(kp.keywords) >= 4 else 1
            # Key points are rubric descriptions ("Names the trade-off…") that embed far from
            # concrete answers, so keyword evidence carries a point whose similarity is only
            # weakly positive, while similarity alone must be high and from a substantial span.
            strong_sim = sim >= config.coverage_threshold + 0.1 and len(words_of(spans[j])) >= 8
            covered = (
                strong_sim
                or (hits >= kw_needed and sim >= 0.1)
                or (hits >= 1 and sim >= config.coverage_floor + 0.05)
            )
            evidence = None
            if covered:
                if hit_spans and not strong_sim:
                    j = max(hit_spans, key=lambda n: row[n] if n < len(row) else 0.0)
                evidence = spans[j]
            any_point_touched = any_point_touched or hits > 0 or sim >= config.coverage_floor + 0.1
            matches.append(
                KeyPointMatch(
                    text=kp.text,
                    similarity=round(sim, 3),
                    keyword_hits=hits,
                    covered=covered,
                    evidence=evidence,
                )
            )
    else:
        matches = [KeyPointMatch(k.text, 0.0, 0, False) for k in key_points]

    light = question_type in ("intro", "closing", "motivation")
    if (
        usable
        and relevance < config.off_topic_relevance
        and not light
        and not any_point_touched
        and not flags & {"non_answer", "evasive"}
    ):
        flags.add("off_topic")
    if usable and wc < (config.min_words if not light else max(8, config.min_words // 2)):
        flags.add("too_short")
    if wc > max(config.ramble_words, 2.5 * expected_words) or (
        off_share >= 0.3 and wc > 1.2 * expected_words
    ):
        flags.add("rambling")
    text = on_topic_text
    hedges = len(_HEDGE.findall(text.lower()))
    has_example = bool(_EXAMPLE.search(text))
    has_numbers = bool(_NUMBER.search(text))
    has_outcome = bool(_OUTCOME.search(text))
    if usable and not light and not has_example and not has_numbers and (hedges >= 2 or wc < 60):
        flags.add("vague")

    star = None
    if question_type == "behavioural":
        star = StarParts(
            situation=bool(_STAR["situation"].search(text)),
            task=bool(_STAR["task"].search(text)),
            action=bool(_STAR["action"].search(text)),
            result=bool(_STAR["result"].search(text)) and wc >= 12,
        )
    return AnswerFeatures(
        question_type=question_type,
        word_count=wc,
        expected_words=expected_words,
        key_points=tuple(matches),
        relevance=round(relevance, 3),
        has_numbers=has_numbers and usable,
        has_example=has_example and usable,
        has_outcome=has_outcome and usable,
        has_reasoning=bool(_REASONING.search(text)) and usable,
        hedge_count=hedges,
        star=star,
        flags=frozenset(flags),
    )
