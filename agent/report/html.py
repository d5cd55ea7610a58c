"""Renders a report as a self-contained HTML page (inline CSS and SVG, no external assets)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("agent.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: dict[str, Any], *, trend: list[dict[str, Any]] | None = None) -> str:
    """The report as one HTML document.

    Args:
        report: The stored report.
        trend: Overall scores of the candidate's interviews up to this one (oldest first,
            ``{"session_id", "date", "value"}``), drawn as a score trend when there are two.
    """
    main = [q for q in report["questions"] if q["kind"] == "main"]
    points = trend_points(trend or [], width=600, height=120)
    return _env().get_template("report.html.j2").render(r=report, main=main, trend=points)


def trend_points(
    series: list[dict[str, Any]], *, width: float, height: float
) -> list[dict[str, Any]]:
    """Chart coordinates for a 0-100 score series (empty when fewer than two points)."""
    if len(series) < 2:
        return []
    step = width / (len(series) - 1)
    return [
        {
            **p,
            "x": round(20 + i * step, 1),
            "y": round(10 + (100 - float(p["value"])) / 100 * height, 1),
        }
        for i, p in enumerate(series)
    ]
