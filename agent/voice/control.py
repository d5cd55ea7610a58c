"""Candidate control messages (end, pause, resume, ping), shared by both transports.

The local WebSocket and the LiveKit data channel (topic ``control``) carry the same small JSON
messages; `apply_control` acts on one and returns the reply to send back, if any. Whatever arrives
(oversized, not JSON, nested thousands deep, a list, a number, an unknown type), the reply is a
clear ``error`` event and the connection carries on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent.errors import InterviewerError

if TYPE_CHECKING:
    from agent.voice.session import VoiceInterview

CONTROL_TOPIC = "control"
EVENT_TOPIC = "interview"
MAX_CONTROL_BYTES = 4096
MAX_CONTROL_DEPTH = 32
"""Deepest JSON nesting read (real control messages are one flat object)."""


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


def _nesting(text: str | bytes) -> int:
    """How deep the brackets outside JSON strings go.

    json.loads recurses once per level, so thousands of levels end in a RecursionError whose
    threshold depends on the caller's stack; this keeps the answer the same everywhere.
    """
    chars = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    depth = deepest = 0
    in_string = escaped = False
    for ch in chars:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


async def apply_control(voice: VoiceInterview, text: str | bytes) -> dict[str, Any] | None:
    """Act on one control message; returns the reply event (None when there is nothing to say)."""
    if len(text) > MAX_CONTROL_BYTES:
        return _error("control message too large")
    if _nesting(text) > MAX_CONTROL_DEPTH:
        return _error("control messages are flat JSON objects")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return _error("messages must be JSON")
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "end":
        try:
            await voice.end()
        except InterviewerError as e:
            return _error(f"could not end the interview: {e}")
        return None
    if kind == "ping":
        return {"type": "pong"}
    if kind in ("pause", "resume"):
        voice.agent.set_paused(kind == "pause")
        return {"type": "paused", "paused": kind == "pause"}
    if isinstance(kind, str):
        shown = repr(kind if len(kind) <= 40 else kind[:39] + "…")
    else:  # never repr() a nested value: it may be hundreds of levels deep
        shown = "None" if kind is None else f"of JSON type {type(kind).__name__}"
    return _error(f"unknown message type {shown}")
