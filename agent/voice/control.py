"""Candidate control messages (end, pause, resume, ping), shared by both transports.

The local WebSocket and the LiveKit data channel (topic ``control``) carry the same small JSON
messages; `apply_control` acts on one and returns the reply to send back, if any.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.voice.session import VoiceInterview

CONTROL_TOPIC = "control"
EVENT_TOPIC = "interview"
MAX_CONTROL_BYTES = 4096


async def apply_control(voice: VoiceInterview, text: str | bytes) -> dict[str, Any] | None:
    """Act on one control message; returns the reply event (None when there is nothing to say)."""
    if len(text) > MAX_CONTROL_BYTES:
        return {"type": "error", "message": "control message too large"}
    try:
        msg = json.loads(text)
    except ValueError:
        return {"type": "error", "message": "messages must be JSON"}
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "end":
        await voice.end()
        return None
    if kind == "ping":
        return {"type": "pong"}
    if kind in ("pause", "resume"):
        voice.agent.set_paused(kind == "pause")
        return {"type": "paused", "paused": kind == "pause"}
    return {"type": "error", "message": f"unknown message type {kind!r}"}
