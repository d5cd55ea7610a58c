"""Loading and validating coach flow files with line-precise errors.

YAML is composed into a node tree first so that every value keeps its line; pydantic validation
errors are then mapped back from their location path to the line of the offending key. Nothing in
here raises anything but `FlowError`, whose message lists ``file:line: problem`` entries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.coach.schema import Flow
from agent.errors import FlowError

MAX_FLOW_BYTES = 512 * 1024
_SCALARS = yaml.constructor.SafeConstructor()

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class FlowIssue:
    """One problem found in a flow file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class _LineMap:
    """Maps location paths inside a YAML document to 1-based line numbers."""

    def __init__(self) -> None:
        self.key_lines: dict[Loc, int] = {}
        self.value_lines: dict[Loc, int] = {}

    def line_for(self, loc: Loc) -> int:
        """Best line for a location: the key itself, else the closest known parent."""
        probe = loc
        while probe:
            if probe in self.key_lines:
                return self.key_lines[probe]
            if probe in self.value_lines:
                return self.value_lines[probe]
            probe = probe[:-1]
        return self.value_lines.get((), 1)


def _walk(node: yaml.Node, loc: Loc, lines: _LineMap, issues: list[tuple[int, str]]) -> Any:
    """Convert a composed node to plain data, recording lines and duplicate keys."""
    lines.value_lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _walk(key_node, (*loc, "<key>"), lines, issues)
            if not isinstance(key, str | int):
                issues.append((key_node.start_mark.line + 1, "mapping keys must be plain text"))
                continue
            if key in out:
                issues.append((key_node.start_mark.line + 1, f"duplicate key '{key}'"))
                continue
            child = (*loc, key)
            lines.key_lines[child] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, child, lines, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = (*loc, i)
            lines.key_lines[child] = item.start_mark.line + 1
            items.append(_walk(item, child, lines, issues))
        return items
    return _SCALARS.construct_object(node, deep=True)


def _format_loc(loc: Loc) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + p)
    return "".join(parts) or "(top level)"


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    # Pydantic adds pseudo-segments for unions/validators ("function-after[...]"); drop them.
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "[")))


def _duplicate_id_issues(data: Any, lines: _LineMap) -> list[tuple[int, str]]:
    """Find repeated section/question ids and point at the repeat."""
    found: list[tuple[int, str]] = []
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        return found
    seen_s: dict[str, int] = {}
    seen_q: dict[str, int] = {}
    for si, section in enumerate(data["sections"]):
        if not isinstance(section, dict):
            continue
        sid = section.get("id")
        if isinstance(sid, str):
            line = lines.line_for(("sections", si, "id"))
            if sid in seen_s:
                found.append((line, f"duplicate section id '{sid}' (first on line {seen_s[sid]})"))
            else:
                seen_s[sid] = line
        for qi, q in enumerate(section.get("questions") or []):
            if not isinstance(q, dict) or not isinstance(q.get("id"), str):
                continue
            line = lines.line_for(("sections", si, "questions", qi, "id"))
            qid = q["id"]
            if qid in seen_q:
                found.append((line, f"duplicate question id '{qid}' (first on line {seen_q[qid]})"))
            else:
                seen_q[qid] = line
    return found


def parse_flow_text(text: str, *, source: str) -> Flow:
    """Parse and validate flow YAML text.

    Args:
        text: The YAML document.
        source: File name used in error messages.

    Raises:
        FlowError: with every problem found, each as ``source:line: message``.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_FLOW_BYTES:
        raise FlowError(f"{source}:1: file is larger than {MAX_FLOW_BYTES // 1024} KB")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise FlowError(f"{source}:{line}: invalid YAML: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise FlowError(f"{source}:1: invalid YAML: {e}") from None
    if node is None:
        raise FlowError(f"{source}:1: the file is empty")
    lines = _LineMap()
    raw: list[tuple[int, str]] = []
    data = _walk(node, (), lines, raw)
    if not isinstance(data, dict):
        raise FlowError(f"{source}:1: a flow must be a mapping of keys (metadata and sections)")
    raw.extend(_duplicate_id_issues(data, lines))
    issues = [FlowIssue(source, line, msg) for line, msg in raw]
    try:
        flow = Flow.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        deep = [_clean_loc(x["loc"]) for x in errors]
        for err in errors:
            loc = _clean_loc(err["loc"])
            if err["type"] == "too_short" and any(
                len(d) > len(loc) and d[: len(loc)] == loc for d in deep
            ):
                continue  # the pool only looks short because its items failed: report those
            msg = err["msg"].removeprefix("Value error, ")
            if msg.startswith("duplicate ") and any(i.message.startswith(msg) for i in issues):
                continue
            if err["type"] == "extra_forbidden":
                msg = f"unknown key '{loc[-1]}'"
            elif err["type"] == "missing":
                msg = f"missing required field '{loc[-1]}'"
                issues.append(FlowIssue(source, lines.line_for(loc[:-1]), msg))
                continue
            issues.append(FlowIssue(source, lines.line_for(loc), f"{_format_loc(loc)}: {msg}"))
        flow = None
    if issues:
        issues.sort(key=lambda i: i.line)
        raise FlowError("\n".join(str(i) for i in issues), issues=tuple(map(str, issues)))
    assert flow is not None
    return flow


def load_flow_file(path: Path) -> Flow:
    """Read and validate one flow file.

    Raises:
        FlowError: when the file cannot be read or is invalid.
    """
    try:
        if path.stat().st_size > MAX_FLOW_BYTES:
            raise FlowError(f"{path}:1: file is larger than {MAX_FLOW_BYTES // 1024} KB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FlowError(f"{path}: is a directory, expected a .yaml file") from None
    except UnicodeDecodeError:
        raise FlowError(f"{path}:1: not UTF-8 text") from None
    except OSError as e:
        raise FlowError(f"{path}: cannot read ({e.strerror})") from None
    return parse_flow_text(text, source=str(path))


@functools.cache
def shipped_flows() -> dict[str, Flow]:
    """The flows that ship with the product, keyed by id."""
    out: dict[str, Flow] = {}
    folder = resources.files("agent.coach") / "flows"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            flow = parse_flow_text(entry.read_text(encoding="utf-8"), source=entry.name)
            out[flow.id] = flow
    return out


def resolve_flow(ref: str) -> Flow:
    """Find a flow by shipped id or by file path.

    Raises:
        FlowError: when neither a shipped id nor a readable valid file matches.
    """
    flows = shipped_flows()
    if ref in flows:
        return flows[ref]
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_flow_file(path)
    known = ", ".join(sorted(flows))
    raise FlowError(f"unknown flow '{ref}': use a file path or one of: {known}")


def flow_for_role(role: str) -> Flow:
    """Pick the shipped flow that best matches a free-text role name."""
    flows = shipped_flows()
    words = {w for w in role.lower().replace("/", " ").replace("-", " ").split() if len(w) > 1}
    best: tuple[int, str] = (0, "behavioural" if "behavioural" in flows else next(iter(flows)))
    for fid, flow in flows.items():
        hay = f"{flow.id} {flow.role} {flow.title}".lower().replace("-", " ")
        score = sum(1 for w in words if w in hay)
        if score > best[0]:
            best = (score, fid)
    return flows[best[1]]
