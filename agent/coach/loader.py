"""Loading and validating coach flow files with line-precise errors.

YAML is composed into a node tree first so that every value keeps its line; pydantic validation
errors are then mapped back from their location path to the line of the offending key. Nothing in
here raises anything but `FlowError`, whose message lists ``file:line: problem`` entries: not for
bad scalars (``2020-13-45``, unknown ``!tags``, 5000-digit numbers), deep nesting, recursive or
exploding aliases ("billion laughs"), nor for any other text an editor can send.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.coach.schema import Flow
from agent.errors import FlowError

MAX_FLOW_BYTES = 512 * 1024
MAX_DEPTH = 48
"""Deepest nesting accepted (a real flow is about 9 levels deep)."""
MAX_VALUES = 20_000
"""Most values a flow may hold, aliases expanded (a shipped flow has about 1 300): also bounds
the time the pure-Python YAML reader spends on a hostile file to a second or two."""
MAX_ISSUES = 100
"""Problems reported at most; the rest are summed up in one line."""

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


class _TooBig(Exception):
    """The document expands to more than `MAX_VALUES` values."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _FlowYAMLLoader(yaml.SafeLoader):
    """The safe loader with nesting and size limits, so hostile documents fail clearly and fast.

    Deep nesting would otherwise end in a RecursionError, and a file of 200 000 tiny values
    keeps the pure-Python reader busy for tens of seconds.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self.alias_lines: dict[tuple[int, int], int] = {}
        """Line of each alias (``*name``), by (id of the containing node, index or id of key):
        the composer hands back the anchored node itself, whose marks are the anchor's."""

    def _next_mark(self) -> yaml.Mark:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in PyYAML's stubs
        mark: yaml.Mark = event.start_mark
        return mark

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node (refusing past `MAX_DEPTH` levels or `MAX_VALUES` nodes)."""
        if parent is not None and index is not None and self.check_event(yaml.AliasEvent):
            where = index if isinstance(index, int) else id(index)
            self.alias_lines[(id(parent), where)] = self._next_mark().line + 1
        self._nodes += 1
        if self._nodes > MAX_VALUES:
            raise _TooBig(self._next_mark().line + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"the flow is nested more than {MAX_DEPTH} levels deep",
                    self._next_mark(),
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _short(value: object, limit: int = 40) -> str:
    """A user-supplied value, shortened for an error message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline."""

_PLAIN_TAGS = (
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
)


def _tag_problem(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return f"the YAML tag '{_short(shown)}' is not supported in flows"


class _Builder:
    """Turns a composed node tree into plain data, recording lines and every problem found.

    Aliases are expanded (each expansion counts against `MAX_VALUES`, and a blow-up is reported
    at the alias that started it) and an alias that refers to a node it sits inside is reported
    at that alias instead of followed.
    """

    def __init__(
        self,
        lines: _LineMap,
        issues: list[tuple[int, str]],
        alias_lines: dict[tuple[int, int], int],
    ) -> None:
        self.lines = lines
        self.issues = issues
        self.alias_lines = alias_lines
        self.count = 0
        self._open: set[int] = set()
        self._site: int | None = None
        """Line of the outermost alias being expanded, if any."""
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc, alias_line: int | None = None) -> Any:
        """Plain data for ``node`` at location ``loc`` (reached through an alias on a line)."""
        line = node.start_mark.line + 1
        outer = self._site
        if alias_line is not None and outer is None:
            self._site = alias_line
        try:
            self.count += 1
            if self.count > MAX_VALUES:
                raise _TooBig(self._site or line)
            self.lines.value_lines.setdefault(loc, alias_line or line)
            if isinstance(node, yaml.ScalarNode):
                return self._scalar(node, line)
            if node.tag not in _PLAIN_TAGS:
                self.issues.append((line, _tag_problem(node.tag)))
            if id(node) in self._open:
                self.issues.append(
                    (alias_line or line, "an alias refers to a value it is part of (recursive)")
                )
                return None
            self._open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, loc)
                if isinstance(node, yaml.SequenceNode):
                    return self._sequence(node, loc)
                return None
            finally:
                self._open.discard(id(node))
        finally:
            self._site = outer

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = self.build(key_node, (*loc, "<key>"))
            if not isinstance(key, str | int):
                self.issues.append((key_line, "mapping keys must be plain text"))
                continue
            if key in out:
                self.issues.append((key_line, f"duplicate key '{_short(key)}'"))
                continue
            child = (*loc, key)
            self.lines.key_lines[child] = key_line
            out[key] = self.build(value_node, child, self.alias_lines.get((id(node), id(key_node))))
        return out

    def _sequence(self, node: yaml.SequenceNode, loc: Loc) -> list[Any]:
        items = []
        for i, item in enumerate(node.value):
            child = (*loc, i)
            alias_line = self.alias_lines.get((id(node), i))
            self.lines.key_lines[child] = alias_line or item.start_mark.line + 1
            items.append(self.build(item, child, alias_line))
        return items

    def _scalar(self, node: yaml.ScalarNode, line: int) -> Any:
        try:
            value = self._scalars.construct_object(node, deep=True)
            if isinstance(value, str) and (bad := _CONTROL.search(value)):
                # only reachable through escapes ("\0", "\x1b"): the reader refuses raw ones;
                # the voice fails on them and pages show them as garbage
                self.issues.append((line, f"control character #x{ord(bad[0]):04x} in text"))
            return value
        except yaml.constructor.ConstructorError as e:
            if str(e.problem).startswith("could not determine a constructor"):
                problem = _tag_problem(node.tag)
            else:
                problem = _short(e.problem or "cannot be read", 120)
            self.issues.append((line, f"'{_short(node.value)}': {problem}"))
        except Exception:
            # SafeConstructor's converters fail in assorted ways on malformed scalars
            # (ValueError for '2020-13-45', IndexError for an empty '!!int', OverflowError…).
            kind = node.tag.rsplit(":", 1)[-1]
            self.issues.append(
                (
                    line,
                    f"'{_short(node.value)}' is not a valid {kind}; "
                    "put it in quotes if it is meant as text",
                )
            )
        return node.value


def _format_loc(loc: Loc) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + _short(p))
    return "".join(parts) or "(top level)"


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """The part of a pydantic error location that is a real path in ``data``.

    Pydantic adds pseudo-segments for unions and validators ("function-after[...]"); a segment is
    kept when it names a key or index present in the data, or when it is the last one (a missing
    or unknown key), so a coach's own key is never mistaken for one.
    """
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif i < len(loc) - 1 or not isinstance(part, str | int):
            continue
        out.append(part)
    return tuple(out)


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
        questions = section.get("questions")
        for qi, q in enumerate(questions if isinstance(questions, list) else []):
            if not isinstance(q, dict) or not isinstance(q.get("id"), str):
                continue
            line = lines.line_for(("sections", si, "questions", qi, "id"))
            qid = q["id"]
            if qid in seen_q:
                found.append((line, f"duplicate question id '{qid}' (first on line {seen_q[qid]})"))
            else:
                seen_q[qid] = line
    return found


def _too_big(source: str, line: int) -> FlowError:
    return FlowError(
        f"{source}:{line}: the flow has more than {MAX_VALUES} values, aliases expanded "
        "(a real flow has a few thousand)"
    )


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
    loader: _FlowYAMLLoader | None = None
    try:
        loader = _FlowYAMLLoader(text)  # checks the characters at once
        node = loader.get_single_node()
        alias_lines = loader.alias_lines
    except _TooBig as e:
        raise _too_big(source, e.line) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        problem = e.problem or str(e)
        if e.context and e.problem:
            problem = f"{e.problem} ({e.context})"
        raise FlowError(f"{source}:{line}: invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(e.position, 0)) + 1
        char = f" #x{e.character:04x}" if isinstance(e.character, int) else ""
        raise FlowError(
            f"{source}:{line}: invalid YAML: character{char} is not allowed "
            "(control characters and unpaired surrogates cannot appear in a flow)"
        ) from None
    except yaml.YAMLError as e:
        raise FlowError(f"{source}:1: invalid YAML: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise FlowError(f"{source}:1: the file is empty")
    lines = _LineMap()
    raw: list[tuple[int, str]] = []
    try:
        data = _Builder(lines, raw, alias_lines).build(node, ())
    except _TooBig as e:
        raise _too_big(source, e.line) from None
    if not isinstance(data, dict):
        raise FlowError(f"{source}:1: a flow must be a mapping of keys (metadata and sections)")
    raw.extend(_duplicate_id_issues(data, lines))
    issues = [FlowIssue(source, line, msg) for line, msg in dict.fromkeys(raw)]
    try:
        flow = Flow.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        deep = [_clean_loc(x["loc"], data) for x in errors]
        for err, loc in zip(errors, deep, strict=True):
            if err["type"] == "too_short" and any(
                len(d) > len(loc) and d[: len(loc)] == loc for d in deep
            ):
                continue  # the pool only looks short because its items failed: report those
            msg = err["msg"].removeprefix("Value error, ")
            if msg.startswith("duplicate ") and any(i.message.startswith(msg) for i in issues):
                continue
            if err["type"] == "extra_forbidden" and loc:
                msg = f"unknown key '{_short(loc[-1])}'"
            elif err["type"] == "missing" and loc:
                msg = f"missing required field '{loc[-1]}'"
                issues.append(FlowIssue(source, lines.line_for(loc[:-1]), msg))
                continue
            issues.append(FlowIssue(source, lines.line_for(loc), f"{_format_loc(loc)}: {msg}"))
        flow = None
    if issues:
        issues.sort(key=lambda i: i.line)
        if len(issues) > MAX_ISSUES:
            more = len(issues) - MAX_ISSUES
            last = issues[MAX_ISSUES - 1].line
            issues = [
                *issues[:MAX_ISSUES],
                FlowIssue(source, last, f"… and {more} more problems after line {last}"),
            ]
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
