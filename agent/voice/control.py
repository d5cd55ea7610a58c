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


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


async def apply_control(voice: VoiceInterview, text: str | bytes) -> dict[str, Any] | None:
    """Act on one control message; returns the reply event (None when there is nothing to say)."""
    if len(text) > MAX_CONTROL_BYTES:
        return _error("control message too large")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
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
