"""Admission control: the capacity gate's rules, and refusals through the app with live voice."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agent.api.admission import RESERVE_S, Admission
from agent.config import Settings

pytestmark = pytest.mark.unit

BUSY_1 = (
    "1 interview is in progress on this server, which is its limit; please try again in a "
    "few minutes."
)


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def gate(*, voice: int = 1, camera: int = 1, grace_s: float = 60.0) -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(max_voice=voice, max_camera=camera, grace_s=grace_s, clock=clock), clock


# --- the gate on its own -------------------------------------------------------------------


def test_beyond_the_limit_new_interviews_are_refused_with_a_clear_message() -> None:
    adm, _ = gate(voice=2)
    assert adm.check_start(camera=False) is None
    assert adm.admit("a", camera=False) is None
    assert adm.check_start(camera=False) is None
    assert adm.admit("b", camera=False) is None
    refusal = adm.check_start(camera=False)
    assert refusal is not None
    assert refusal.message == (
        "2 interviews are in progress on this server, which is its limit; please try again in "
        "a few minutes."
    )
    refused = adm.admit("c", camera=False)
    assert refused is not None and refused.resource == "voice"
    assert adm.voice.state("c") is None  # a refused interview holds nothing
    one, _ = gate(voice=1)
    one.admit("a", camera=False)
    refusal = one.check_start(camera=False)
    assert refusal is not None and refusal.message == BUSY_1


def test_a_reservation_keeps_the_slot_for_its_interview_until_it_lapses() -> None:
    adm, clock = gate(voice=1)
    adm.reserve("a", camera=False)
    # reservations do not refuse creating interviews (typed ones cost nothing) ...
    assert adm.check_start(camera=False) is None
    adm.reserve("b", camera=False)  # no free slot: b has no reservation
    assert adm.voice.state("b") is None
    # ... but when audio connects, the reserved interview comes first
    assert adm.admit("b", camera=False) is not None
    clock.t += RESERVE_S - 1
    assert adm.admit("a", camera=False) is None
    assert adm.voice.state("a") == "live"
    # a reservation nobody picks up lapses
    other, clock2 = gate(voice=1)
    other.reserve("a", camera=False)
    clock2.t += RESERVE_S + 0.1
    assert other.admit("b", camera=False) is None


def test_a_dropped_interview_keeps_its_place_for_the_grace_period() -> None:
    adm, clock = gate(voice=1, grace_s=60)
    assert adm.admit("a", camera=False) is None
    adm.leave("a")
    assert adm.voice.state("a") == "away"
    refused = adm.check_start(camera=False)
    assert refused is not None and refused.message == BUSY_1
    assert adm.admit("b", camera=False) is not None
    clock.t += 59
    assert adm.admit("a", camera=False) is None  # the page reconnected: never refused
    adm.leave("a")
    clock.t += 30
    adm.leave("a")  # a second close does not extend the grace period
    clock.t += 31
    assert adm.voice.state("a") is None
    assert adm.admit("b", camera=False) is None


def test_a_finished_interview_gives_up_its_slot_when_the_page_disconnects() -> None:
    adm, _ = gate(voice=1)
    adm.admit("a", camera=False)
    adm.finish("a")
    assert adm.admit("b", camera=False) is not None  # still connected: still running
    adm.leave("a")
    assert adm.voice.state("a") is None
    assert adm.admit("b", camera=False) is None
    no_grace, _ = gate(voice=1, grace_s=0)
    no_grace.admit("a", camera=False)
    no_grace.leave("a")
    assert no_grace.admit("b", camera=False) is None


def test_camera_sessions_have_their_own_limit_and_take_both_slots_or_none() -> None:
    adm, _ = gate(voice=3, camera=1)
    adm.reserve("a", camera=True)
    assert adm.voice.state("a") == "reserved" and adm.camera.state("a") == "reserved"
    assert adm.admit("a", camera=True) is None
    refusal = adm.check_start(camera=True)
    assert refusal is not None and refusal.resource == "camera"
    assert refusal.message.startswith("1 interview with camera analysis is in progress")
    assert "start without camera analysis" in refusal.message
    assert adm.check_start(camera=False) is None  # voice-only still fits
    assert adm.admit("b", camera=True) is not None
    assert adm.voice.taken == 1  # b took no voice slot either
    adm.reserve("c", camera=True)  # no camera slot: no voice reservation alone
    assert adm.voice.state("c") is None
    assert adm.admit("c", camera=False) is None


def test_limits_come_from_the_environment_and_default_to_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent import config

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    local = Admission.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert local.voice.limit == max(1, int(config.VOICE_SESSIONS_PER_CORE * cores))
    assert local.camera.limit == max(1, int(config.CAMERA_SESSIONS_PER_CORE * cores))
    # With Deepgram doing the speech recognition a server holds more interviews.
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-key")
    cloud = Admission.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert cloud.voice.limit == max(1, int(config.CLOUD_VOICE_SESSIONS_PER_CORE * cores))
    assert cloud.camera.limit == max(1, int(config.CLOUD_CAMERA_SESSIONS_PER_CORE * cores))
    assert cloud.voice.limit > local.voice.limit
    monkeypatch.setenv("MOCKINT_SERVER__MAX_VOICE_SESSIONS", "5")
    monkeypatch.setenv("MOCKINT_SERVER__MAX_CAMERA_SESSIONS", "2")
    monkeypatch.setenv("MOCKINT_SERVER__RECONNECT_GRACE_S", "0")
    adm = Admission.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert (adm.voice.limit, adm.camera.limit) == (5, 2)
    adm.admit("a", camera=False)
    adm.leave("a")
    assert adm.voice.state("a") is None  # no grace period
    with pytest.raises(ValueError):
        Admission(max_voice=0, max_camera=1, grace_s=1)


# --- through the app, with real voice sessions ---------------------------------------------


@pytest.fixture(scope="module")
def runtime():  # type: ignore[no-untyped-def]
    """The real voice models (VAD endpointing: the turn detector is not needed here)."""
    from agent.voice.session import build_voice_runtime

    return build_voice_runtime(Settings(_env_file=None), turn_detector=False)  # type: ignore[call-arg]


@pytest.fixture
def app_with(runtime, settings: Settings, brain) -> Iterator[Callable[..., TestClient]]:  # type: ignore[no-untyped-def]
    """The app in-process with live voice and the given server limits."""
    from agent.api.app import create_app
    from agent.interview import open_runner

    clients: list[TestClient] = []

    def make(**server: Any) -> TestClient:
        s = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
        app = create_app(s, runtime=runtime, runner_factory=lambda: open_runner(s, brain=brain))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def start(client: TestClient, **kw: Any) -> Any:
    return client.post("/api/interviews", json={"flow": "backend", "consent": True, **kw})


def until(ws: Any, kind: str, limit: int = 20_000) -> dict[str, Any]:
    """Read messages (events and interviewer audio) until an event of ``kind``."""
    for _ in range(limit):
        msg = ws.receive()
        if msg["type"] == "websocket.close":
            raise AssertionError(f"closed before a {kind!r} event")
        if msg.get("text") is not None:
            event: dict[str, Any] = json.loads(msg["text"])
            if event["type"] == kind:
                return event
    raise AssertionError(f"no {kind!r} event")


def until_audio(ws: Any, limit: int = 20_000) -> bytes:
    """Read messages until the interviewer's audio arrives."""
    for _ in range(limit):
        msg = ws.receive()
        if msg["type"] == "websocket.close":
            raise AssertionError("closed before any audio")
        if msg.get("bytes"):
            return bytes(msg["bytes"])
    raise AssertionError("no audio")


def assert_refused(client: TestClient, sid: str, message: str) -> None:
    """The audio connection is refused before any audio: an error event, then close 1013."""
    with client.websocket_connect(f"/ws/interviews/{sid}") as ws:
        first = ws.receive()
        assert first.get("text") is not None, "no audio before the refusal"
        event = json.loads(first["text"])
        assert event == {"type": "error", "code": "busy", "message": message}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1013


def wait_not_live(client: TestClient, sid: str) -> None:
    """Until the server has processed the page's disconnect."""
    deadline = time.monotonic() + 30
    while client.get(f"/api/interviews/{sid}").json()["live"]:
        assert time.monotonic() < deadline, "the disconnect was not processed"
        time.sleep(0.05)


def test_a_second_interview_is_refused_while_the_first_runs_and_admitted_after_it_ends(
    app_with: Callable[..., TestClient],
) -> None:
    client = app_with(max_voice_sessions=1, max_camera_sessions=1, reconnect_grace_s=60)
    a = start(client).json()["session_id"]
    b = start(client).json()["session_id"]  # created before a connected: allowed, not reserved
    assert_refused(client, b, BUSY_1)  # a's reservation comes first
    with client.websocket_connect(f"/ws/interviews/{a}") as ws:
        assert until(ws, "hello")["resumed"] is False
        refused = start(client)
        assert refused.status_code == 503 and refused.json()["detail"] == BUSY_1
        assert refused.headers["retry-after"] == "120"
        assert_refused(client, b, BUSY_1)
        # the first interview carries on undisturbed: it is greeted aloud and answers controls
        assert until(ws, "agent_said")["text"]
        assert until_audio(ws)
        ws.send_json({"type": "ping"})
        until(ws, "pong")
        assert client.get(f"/api/interviews/{a}").json()["live"] is True
    wait_not_live(client, a)
    # dropped, not finished: its place is kept, and it is let back in
    assert_refused(client, b, BUSY_1)
    assert start(client).status_code == 503
    with client.websocket_connect(f"/ws/interviews/{a}") as ws:
        assert until(ws, "hello")["resumed"] is True
        ws.send_json({"type": "end"})
        until(ws, "report_ready")
    wait_not_live(client, a)
    with client.websocket_connect(f"/ws/interviews/{b}") as ws:  # the next one is admitted
        assert until(ws, "hello")["session_id"] == b
        ws.send_json({"type": "ping"})
        until(ws, "pong")


def test_camera_interviews_have_their_own_limit(app_with: Callable[..., TestClient]) -> None:
    client = app_with(max_voice_sessions=2, max_camera_sessions=1)
    a = start(client, camera=True).json()["session_id"]
    with client.websocket_connect(f"/ws/interviews/{a}") as ws_a:
        until(ws_a, "hello")
        refused = start(client, camera=True)
        assert refused.status_code == 503
        assert refused.json()["detail"] == (
            "1 interview with camera analysis is in progress on this server, which is its "
            "limit; please try again in a few minutes, or start without camera analysis."
        )
        voice_only = start(client, camera=False)
        assert voice_only.status_code == 200
        b = voice_only.json()["session_id"]
        with client.websocket_connect(f"/ws/interviews/{b}") as ws_b:
            until(ws_b, "hello")
            full = start(client)
            assert full.status_code == 503
            assert full.json()["detail"].startswith("2 interviews are in progress")
            ws_a.send_json({"type": "ping"})
            until(ws_a, "pong")
