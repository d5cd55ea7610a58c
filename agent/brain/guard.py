"""Checks on what the interviewer is about to say: no leaked secrets or rubric talk, no abuse.

Pure functions shared by the Gemini brain (every generated line is checked before it is spoken)
and the persona battery's `no_leak` invariant. A *secret* is text the candidate must not hear:
key points, expected answers, hidden notes, planner reasons. A line leaks a secret when it shares
`LEAK_SHINGLE` consecutive words with it that are not also in a public text (the question, its
probes, the candidate's own answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LEAK_SHINGLE = 5
"""Consecutive words of a secret text that count as leaking it."""

RUBRIC_WORDS = re.compile(
    r"\b(rubric|key[ _]points?|expected answers?|hidden notes?|system prompt|scoring weights?)\b",
    re.IGNORECASE,
)
UNSAFE = re.compile(
    r"\b(kill yourself|suicide|self[- ]harm|fuck\w*|shit\w*|bitch\w*|retard\w*|nigg\w*|"
    r"faggot\w*|you(?:'re| are) (?:stupid|an idiot|useless|worthless)|"
    r"(?:your|the candidate's) (?:race|religion|ethnicity|sexual orientation|pregnan\w*|age)\b)",
    re.IGNORECASE,
)
"""Abuse, slurs, self-harm and protected characteristics: never said to a candidate."""

_WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> str:
    """Lower-case words joined by single spaces (punctuation dropped)."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, n: int = LEAK_SHINGLE) -> set[str]:
    """All runs of ``n`` consecutive words of ``text``."""
    words = normalise(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def leaked(line: str, secrets: Iterable[tuple[str, str]], public: Iterable[str]) -> str | None:
    """Why ``line`` may not be said (a leaked secret's label or rubric talk), or None."""
    if m := RUBRIC_WORDS.search(line):
        return f"says {m.group(0)!r}"
    allowed: set[str] = set()
    for text in public:
        allowed |= shingles(text)
    spoken = shingles(line) - allowed
    for label, secret in secrets:
        if spoken & shingles(secret):
            return f"leaks {label}"
    return None


def unsafe(line: str) -> str | None:
    """The unsafe phrase in ``line``, or None."""
    m = UNSAFE.search(line)
    return m.group(0) if m else None
