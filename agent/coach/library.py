"""The flows a candidate can pick: the shipped ones plus those coaches saved in the browser.

Owns the coach-flow folder (``<data dir>/flows/<id>.yaml``): validating an edited flow into
line-numbered issues for the editor, a preview of what the interview will ask, saving (never
over a shipped flow's id), and finding a flow by id for a new interview. Only ids are accepted
from the web, never file paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agent.coach.loader import MAX_FLOW_BYTES, parse_flow_text, shipped_flows
from agent.coach.schema import Flow, is_slug
from agent.errors import FlowError

_ISSUE = re.compile(r"^(?P<src>[^:]*):(?P<line>\d+): (?P<msg>.*)$", re.DOTALL)
_SAVE_ISSUES = 10
"""Problems named in a refused save's message (the editor's check lists them all)."""


@dataclass(frozen=True, slots=True)
class Checked:
    """An edited flow after validation: the flow, or the issues with their lines."""

    flow: Flow | None
    issues: tuple[dict[str, Any], ...]


def check_flow_text(text: str) -> Checked:
    """Validate flow YAML from the editor into a flow or line-numbered issues."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FLOW_BYTES:
        return Checked(None, ({"line": 1, "message": "the flow is larger than 512 KB"},))
    try:
        return Checked(parse_flow_text(text, source="flow"), ())
    except FlowError as e:
        issues = []
        for raw in e.issues:
            m = _ISSUE.match(raw)
            if m:
                issues.append({"line": int(m["line"]), "message": m["msg"]})
            else:
                issues.append({"line": 1, "message": raw.removeprefix("flow: ")})
        return Checked(None, tuple(issues))


def preview(flow: Flow) -> dict[str, Any]:
    """What the interview will be like: sections, how many questions each, their wording."""
    return {
        "id": flow.id,
        "title": flow.title,
        "role": flow.role,
        "minutes": flow.duration_minutes,
        "interviewer": flow.interviewer_name,
        "persona": flow.persona,
        "max_questions": flow.budget.max_questions,
        "sections": [
            {
                "title": s.title,
                "kind": s.kind,
                "pick": s.pick,
                "questions": [
                    {"id": q.id, "text": q.text, "type": q.type, "key_points": len(q.key_points)}
                    for q in s.questions
                ],
            }
            for s in flow.sections
        ],
    }


class FlowLibrary:
    """Shipped flows plus the coach flows saved in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def coach_flows(self) -> dict[str, Flow]:
        """Saved coach flows by id (files that no longer validate are skipped)."""
        out: dict[str, Flow] = {}
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                flow = parse_flow_text(path.read_text(encoding="utf-8"), source=path.name)
            except (FlowError, OSError, UnicodeDecodeError):
                continue
            out[flow.id] = flow
        return out

    def all(self) -> list[tuple[Flow, str]]:
        """Every flow with its source ("shipped" or "coach")."""
        flows = [(f, "shipped") for f in shipped_flows().values()]
        return flows + [(f, "coach") for f in self.coach_flows().values()]

    def get(self, flow_id: str) -> Flow:
        """A flow by id.

        Raises:
            FlowError: no such flow.
        """
        if flow_id in shipped_flows():
            return shipped_flows()[flow_id]
        if is_slug(flow_id) and flow_id in (coach := self.coach_flows()):
            return coach[flow_id]
        raise FlowError(f"unknown flow '{flow_id}'")

    def text(self, flow_id: str) -> str:
        """The YAML of a flow, to start editing from."""
        if flow_id in shipped_flows():
            folder = resources.files("agent.coach") / "flows"
            for entry in folder.iterdir():
                if entry.name.endswith((".yaml", ".yml")):
                    text = entry.read_text(encoding="utf-8")
                    if parse_flow_text(text, source=entry.name).id == flow_id:
                        return text
        if is_slug(flow_id) and (path := self.folder / f"{flow_id}.yaml").is_file():
            return path.read_text(encoding="utf-8")
        raise FlowError(f"unknown flow '{flow_id}'")

    def save(self, text: str) -> Flow:
        """Validate and save a coach flow under its id.

        Raises:
            FlowError: invalid, or the id belongs to a shipped flow.
        """
        checked = check_flow_text(text)
        if checked.flow is None:
            lines = [f"line {i['line']}: {i['message']}" for i in checked.issues[:_SAVE_ISSUES]]
            if len(checked.issues) > _SAVE_ISSUES:
                lines.append(f"and {len(checked.issues) - _SAVE_ISSUES} more")
            raise FlowError("the flow has errors: " + "; ".join(lines))
        flow = checked.flow
        if flow.id in shipped_flows():
            raise FlowError(
                f"'{flow.id}' is a shipped flow; give your version its own id to save it"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{flow.id}.yaml.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.folder / f"{flow.id}.yaml")
        return flow
