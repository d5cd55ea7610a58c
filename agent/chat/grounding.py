"""The candidate's own figures for the coach: trends and the answers behind them, with links.

Pure functions over finished interviews' reports (oldest first), turning one advice metric
(fillers, pace, pauses, eye contact, presence, structure, content, overall) into a few short
statements with real numbers and a link to the report section they come from. "Not measured"
is said as such, never counted as zero. No text from answers is quoted here except question
titles (the candidate's own report shows the rest).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.brain.analysis import _STAR, sentences_of

Report = Mapping[str, Any]

SECTION = {
    "fillers": "pace-h",
    "pace": "pace-h",
    "pauses": "timeline-h",
    "eye_contact": "eyes-h",
    "presence": "eyes-h",
    "structure": "qs-h",
    "content": "qs-h",
    "overall": "critique-h",
}
"""The report section (HTML id) where each metric's evidence is shown."""


@dataclass(frozen=True, slots=True)
class Finished:
    """One finished interview."""

    session_id: str
    when: datetime
    report: Report


@dataclass(frozen=True, slots=True)
class Figure:
    """One grounded statement."""

    metric: str
    text: str
    link: str
    value: float | None = None


def _link(f: Finished, section: str) -> str:
    return f"/interviews/{f.session_id}/report#{section}"


def _qlink(f: Finished, index: int) -> str:
    return f"/interviews/{f.session_id}/report#q{index}"


def _day(f: Finished) -> str:
    return f.when.strftime("%d %b")


def _short(question: str, n: int = 9) -> str:
    words = question.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


def _mains(r: Report) -> list[Mapping[str, Any]]:
    return [q for q in r.get("questions", []) if q.get("kind") == "main"]


def _ok(q: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    block = q.get(key) or {}
    return block if block.get("status") == "ok" else None


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _series(done: Sequence[Finished], key: str, field: str) -> list[tuple[Finished, float]]:
    out = []
    for f in done:
        vals = [
            float(b[field])
            for q in _mains(f.report)
            if (b := _ok(q, key)) is not None and isinstance(b.get(field), int | float)
        ]
        if vals:
            out.append((f, statistics.fmean(vals)))
    return out


def _trend(series: list[tuple[Finished, float]], unit: str, what: str, fmt: str = "{:.1f}") -> str:
    last_f, last = series[-1]
    text = f"Your {what}: {fmt.format(last)}{unit} in your latest interview ({_day(last_f)})"
    if len(series) > 1:
        first_f, first = series[0]
        direction = "down from" if last < first else "up from" if last > first else "the same as"
        text += f", {direction} {fmt.format(first)}{unit} in your first ({_day(first_f)})"
    return text + "."


def figures_for(metric: str | None, done: Sequence[Finished]) -> list[Figure]:
    """Up to three statements about ``metric`` from the candidate's finished interviews."""
    if not done or metric is None:
        return []
    latest = done[-1]
    section = SECTION.get(metric, "critique-h")
    if metric in ("fillers", "pace", "pauses"):
        field = {"fillers": "fillers_per_min", "pace": "wpm", "pauses": "long_pauses"}[metric]
        series = _series(done, "fluency", field)
        if not series:
            return [
                Figure(
                    metric,
                    "Your voice was not measured yet (text-only interviews).",
                    _link(latest, section),
                )
            ]
        unit, what, fmt = {
            "fillers": (" per minute", "filler words", "{:.1f}"),
            "pace": (" words per minute", "speaking pace", "{:.0f}"),
            "pauses": (" per answer", "long pauses", "{:.1f}"),
        }[metric]
        out = [
            Figure(
                metric,
                _trend(series, unit, what, fmt),
                _link(series[-1][0], section),
                round(series[-1][1], 1),
            )
        ]
        f_last = series[-1][0]
        worst = max(
            (
                (float(b[field]), q)
                for q in _mains(f_last.report)
                if (b := _ok(q, "fluency")) is not None and isinstance(b.get(field), int | float)
            ),
            key=lambda x: x[0],
            default=None,
        )
        if worst is not None and len(_mains(f_last.report)) > 1:
            value, q = worst
            out.append(
                Figure(
                    metric,
                    f"The most was {fmt.format(value)}{unit} in your answer to "
                    f"“{_short(q['question'])}”.",
                    _qlink(f_last, int(q["index"])),
                    round(value, 1),
                )
            )
        return out
    if metric in ("eye_contact", "presence"):
        series = _series(done, "presence", "eye_contact_ratio")
        if not series:
            return [
                Figure(
                    metric,
                    "Eye contact was not measured yet: the camera was off in your "
                    "interviews (it is always optional).",
                    _link(latest, section),
                )
            ]
        series_pct = [(f, v * 100) for f, v in series]
        return [
            Figure(
                metric,
                _trend(series_pct, "% of the time", "eye contact", "{:.0f}"),
                _link(series[-1][0], section),
                round(series_pct[-1][1], 1),
            )
        ]
    if metric == "structure":
        return _structure(latest)
    if metric == "content":
        mains = [q for q in _mains(latest.report) if q.get("answer")]
        if not mains:
            return []
        low = min(mains, key=lambda q: float(q["score"]))
        missed = [k["text"] for k in low.get("key_points", []) if not k.get("covered")]
        text = (
            f"Your lowest-scoring answer last time was “{_short(low['question'])}” "
            f"({float(low['score']):.0f}/100)"
        )
        text += f"; it did not cover: {'; '.join(missed[:2])}." if missed else "."
        return [Figure(metric, text, _qlink(latest, int(low["index"])), float(low["score"]))]
    scores = [(f, float(f.report["overall_score"])) for f in done]
    return [
        Figure(
            "overall",
            _trend(scores, "/100", "overall score", "{:.0f}"),
            _link(latest, "score-trend"),
            scores[-1][1],
        )
    ]


def star_missing(answer: str) -> tuple[str, ...]:
    """STAR parts an answer has no sentence for (situation, task, action, result)."""
    text = " ".join(sentences_of(answer))
    return tuple(p for p in ("situation", "task", "action", "result") if not _STAR[p].search(text))


_PAST_EXPERIENCE = re.compile(
    r"\b(tell me about a time|describe a (time|situation)|give (me )?an example|have you ever|"
    r"a time (when|you)|talk me through a time|walk me through a time|when did you)\b",
    re.I,
)
"""Questions about past experience (behavioural): the ones a STAR structure fits."""


def _or_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _structure(latest: Finished) -> list[Figure]:
    out: list[Figure] = []
    answered = [q for q in _mains(latest.report) if str(q.get("answer") or "").strip()]
    for q in answered:
        flags = set(q.get("flags") or [])
        missing = (
            star_missing(str(q["answer"])) if _PAST_EXPERIENCE.search(str(q["question"])) else ()
        )
        if "rambling" in flags:
            why = "ran long and drifted from the question"
        elif missing:
            why = f"had no clear {_or_list(missing)}"
        else:
            continue
        out.append(
            Figure(
                "structure",
                f"Your answer to “{_short(q['question'])}” {why}.",
                _qlink(latest, int(q["index"])),
            )
        )
        if len(out) == 3:
            break
    if not out and answered:
        out.append(
            Figure(
                "structure",
                "Your answers last time had a clear structure.",
                _link(latest, "qs-h"),
            )
        )
    return out
