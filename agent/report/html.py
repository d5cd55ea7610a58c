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


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML document."""
    main = [q for q in report["questions"] if q["kind"] == "main"]
    return _env().get_template("report.html.j2").render(r=report, main=main)
