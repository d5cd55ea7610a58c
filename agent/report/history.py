"""Progress over time: the candidate's finished interviews turned into trends.

Owns the pure summary behind the history page: one row per finished interview (oldest first)
with its overall score and delivery figures, plus series per skill (the mean score of the main
questions tagged with it) and per delivery metric (pace, fillers, eye contact, sub-scores).
"Not measured" stays out of a series instead of counting as zero.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

METRICS = ("overall", "delivery", "presence", "wpm", "fillers_per_min", "eye_contact")
"""Delivery and score series the history page can chart."""


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if isinstance(v, int | float)]
    return round(statistics.fmean(kept), 2) if kept else None


def interview_row(session_id: str, when: datetime, report: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one finished interview."""
    mains = [q for q in report.get("questions", []) if q.get("kind") == "main"]
    fluency = [q.get("fluency") or {} for q in mains]
    presence = [q.get("presence") or {} for q in mains]
    ok_f = [f for f in fluency if f.get("status") == "ok"]
    ok_p = [p for p in presence if p.get("status") == "ok"]
    skills: dict[str, list[float]] = {}
    for q in mains:
        for skill in q.get("skills") or []:
            skills.setdefault(skill, []).append(float(q["score"]))
    return {
        "session_id": session_id,
        "date": when.isoformat(timespec="seconds"),
        "flow_title": report.get("flow_title", ""),
        "role": report.get("role", ""),
        "band": report.get("band", ""),
        "overall": float(report["overall_score"]),
        "delivery": (report.get("delivery") or {}).get("value"),
        "presence": (report.get("presence") or {}).get("value"),
        "wpm": _mean(f.get("wpm") for f in ok_f),
        "fillers_per_min": _mean(f.get("fillers_per_min") for f in ok_f),
        "eye_contact": _mean(p.get("eye_contact_ratio") for p in ok_p),
        "skills": {k: round(statistics.fmean(v), 1) for k, v in sorted(skills.items())},
    }


def history_summary(
    finished: Iterable[tuple[str, datetime, Mapping[str, Any]]],
) -> dict[str, Any]:
    """Rows (oldest first) and the series per metric and per skill.

    Args:
        finished: (session id, when it started, report) for each finished interview.
    """
    ordered = sorted(finished, key=lambda f: f[1])  # full precision: same-second starts keep order
    rows = [interview_row(sid, when, rep) for sid, when, rep in ordered]
    metrics: dict[str, list[dict[str, Any]]] = {}
    for m in METRICS:
        points = [
            {"date": r["date"], "session_id": r["session_id"], "value": r[m]}
            for r in rows
            if r[m] is not None
        ]
        if points:
            metrics[m] = points
    skills: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for skill, score in r["skills"].items():
            skills.setdefault(skill, []).append(
                {"date": r["date"], "session_id": r["session_id"], "value": score}
            )
    return {"interviews": rows, "metrics": metrics, "skills": dict(sorted(skills.items()))}
