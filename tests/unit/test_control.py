"""Candidate control messages, as both transports apply them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.voice.control import apply_control

pytestmark = pytest.mark.unit


class FakeAgent:
    def __init__(self) -> None:
        self.paused: list[bool] = []

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)


class FakeVoice:
    def __init__(self) -> None:
        self.agent = FakeAgent()
        self.ended = 0

    async def end(self) -> None:
        self.ended += 1


def run(voice: FakeVoice, text: str | bytes) -> dict[str, Any] | None:
    return asyncio.run(apply_control(voice, text))  # type: ignore[arg-type]


def test_control_messages_act_and_reply() -> None:
    voice = FakeVoice()
    assert run(voice, '{"type": "pause"}') == {"type": "paused", "paused": True}
    assert run(voice, b'{"type": "resume"}') == {"type": "paused", "paused": False}
    assert voice.agent.paused == [True, False]
    assert run(voice, '{"type": "ping"}') == {"type": "pong"}
    assert run(voice, '{"type": "end"}') is None and voice.ended == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "messages must be JSON"),
        ("[1, 2]", "unknown message type None"),
        ('{"type": "drop tables"}', "unknown message type 'drop tables'"),
        ('{"type": "end", "pad": "' + "x" * 5000 + '"}', "too large"),
    ],
)
def test_bad_control_messages_get_a_clear_error(text: str, message: str) -> None:
    voice = FakeVoice()
    reply = run(voice, text)
    assert reply is not None and reply["type"] == "error" and message in reply["message"]
    assert voice.ended == 0 and voice.agent.paused == []
