from __future__ import annotations

import socket
import subprocess
import sys
import time

import jwt  # PyJWT ships with livekit-api
import pytest
from pydantic import SecretStr

from agent.config import LiveKitSettings, Settings
from agent.errors import ConfigError
from agent.voice.livekit_worker import (
    build_server,
    candidate_token,
    probe_livekit,
    room_for,
    session_for,
)

pytestmark = pytest.mark.unit

LK = LiveKitSettings(url="ws://127.0.0.1:7880", api_key="devkey", api_secret=SecretStr("s" * 32))


def test_candidate_token_is_room_scoped_with_minimal_grants() -> None:
    token = candidate_token(LK, session_id="abc123", identity="cand-abc123")
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"])
    video = claims["video"]
    assert video["room"] == "interview-abc123"
    assert video["roomJoin"] is True
    assert video.get("canPublish", True) and video.get("canSubscribe", True)
    assert video.get("canPublishData", True)
    for admin in ("roomAdmin", "roomCreate", "roomList", "roomRecord"):
        assert not video.get(admin, False)
    assert claims["sub"] == "cand-abc123"
    assert 0 < claims["exp"] - time.time() <= 600
    assert video["canPublishSources"] == ["microphone"]  # no camera without opt-in
    assert [a["agentName"] for a in claims["roomConfig"]["agents"]] == ["mock-interviewer"]


def test_camera_opt_in_lets_the_token_publish_video() -> None:
    token = candidate_token(LK, session_id="abc123", identity="cand-abc123", camera=True)
    video = jwt.decode(token, "s" * 32, algorithms=["HS256"])["video"]
    assert sorted(video["canPublishSources"]) == ["camera", "microphone"]


def test_token_needs_configuration() -> None:
    with pytest.raises(ConfigError, match="LIVEKIT_API_SECRET"):
        candidate_token(LiveKitSettings(url="ws://x", api_key="k"), session_id="s", identity="c")


def test_room_names_round_trip() -> None:
    assert session_for(room_for("xyz")) == "xyz"


def test_env_names_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "wss://lk.example")
    monkeypatch.setenv("LIVEKIT_API_KEY", "k")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "secret")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.livekit.configured and s.livekit.url == "wss://lk.example"


def test_worker_builds_without_a_server() -> None:
    settings = Settings(_env_file=None, livekit=LK)  # type: ignore[call-arg]
    server = build_server(settings)
    assert type(server).__name__ == "AgentServer"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_livekit_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot reach the LiveKit server"):
        probe_livekit(f"ws://127.0.0.1:{_closed_port()}", timeout_s=1)


def test_worker_cli_reports_unreachable_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MOCKINT_DATA_DIR": str(tmp_path),
        "LIVEKIT_URL": f"ws://127.0.0.1:{_closed_port()}",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "worker", "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot reach the LiveKit server" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "agent.cli", "worker", "dev"],
        env={k: v for k, v in env.items() if not k.startswith("LIVEKIT")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "LIVEKIT_URL" in missing.stderr
