"""Trends over time: rows oldest first, series per metric and skill, not-measured left out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from agent.report.history import history_summary

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, 0)


def report(
    score: float, *, wpm: float | None, eye: float | None, skills: list[str]
) -> dict[str, Any]:
    fluency = (
        {"status": "ok", "wpm": wpm, "fillers_per_min": 2.0} if wpm else {"status": "not_measured"}
    )
    presence = (
        {"status": "ok", "eye_contact_ratio": eye}
        if eye is not None
        else {"status": "not_measured", "reason": "camera off"}
    )
    return {
        "overall_score": score,
        "band": "developing",
        "flow_title": "Backend",
        "role": "Backend engineer",
        "delivery": {"value": 70.0} if wpm else None,
        "presence": None,
        "questions": [
            {
                "kind": "main",
                "score": score,
                "skills": skills,
                "fluency": fluency,
                "presence": presence,
            },
            {
                "kind": "follow_up",
                "score": 0.0,
                "skills": skills,
                "fluency": None,
                "presence": None,
            },
        ],
    }


def test_series_are_oldest_first_and_skip_what_was_not_measured() -> None:
    out = history_summary(
        [
            ("b", T0 + timedelta(days=2), report(70, wpm=150, eye=None, skills=["sql", "apis"])),
            ("a", T0, report(40, wpm=None, eye=None, skills=["sql"])),
            ("c", T0 + timedelta(days=5), report(85, wpm=140, eye=0.7, skills=["apis"])),
        ]
    )
    assert [r["session_id"] for r in out["interviews"]] == ["a", "b", "c"]
    assert [p["value"] for p in out["metrics"]["overall"]] == [40.0, 70.0, 85.0]
    assert [p["session_id"] for p in out["metrics"]["wpm"]] == [
        "b",
        "c",
    ]  # typed interview: no pace
    assert [p["value"] for p in out["metrics"]["eye_contact"]] == [0.7]  # camera off is not 0 %
    assert "presence" not in out["metrics"]
    assert out["skills"]["sql"] == [
        {"date": "2026-11-01T09:00:00", "session_id": "a", "value": 40.0},
        {"date": "2026-11-03T09:00:00", "session_id": "b", "value": 70.0},
    ]
    assert [p["value"] for p in out["skills"]["apis"]] == [70.0, 85.0]  # follow-ups not counted


def test_no_interviews() -> None:
    assert history_summary([]) == {"interviews": [], "metrics": {}, "skills": {}}


def test_trend_points_scale_scores_into_the_chart() -> None:
    from agent.report.html import trend_points

    assert trend_points([{"value": 50}], width=600, height=120) == []
    pts = trend_points([{"value": 0}, {"value": 100}, {"value": 50}], width=600, height=120)
    assert [(p["x"], p["y"]) for p in pts] == [(20, 130), (320, 10), (620, 70)]
