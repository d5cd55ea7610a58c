"""Load benchmark: N concurrent spoken interviews against one `interviewer serve` on this machine.

Starts `interviewer serve` once (a subprocess with a temporary data directory and the
admission limits raised so it can be measured beyond them), then for each N runs N interviews
at once, each behaving like the browser page on the local transport: the microphone streams
16 kHz PCM in 20 ms chunks paced at real time (silence between answers), the candidate's
answers are synthesized with the local Piper voice (`agent.selftest.audio.synth`, the answer
texts of `benchmarks/voice_latency.py`), each answer starts a moment after the interviewer has
finished speaking, and camera sessions also send 640×480 JPEG frames at the configured rate
(real faces: ../shared/data/faces-dev, else the test faces in tests/data/faces, else a drawn
frame; the source is reported).

Response latency is end of the candidate's speech (the last 20 ms chunk holding speech was
sent) → the first byte of the interviewer's next audio, as the client sees it. For every N it
prints p50/p95 with a per-stage split (end of speech → the server hearing it end, the last final
transcript, the turn taken, the answer submitted; brain step; line → first audio; the
client's own lag) and the CPU use of the server and of this client, then finds the
largest N whose p95 stays within 1.2× the p95 of a single session (every smaller N passing
too). Two series: voice-only sessions, and full sessions with the camera on. Each level
collects at least ``--min-turns`` answers (small N run several rounds), the answer texts
said in turn; p50/p95 are taken over the same number of each answer (answers differ in how
soon their end is taken, so only the same mix compares levels fairly). A warm-up session
(discarded) loads the lazily loaded models first. Ends with one `RESULT {json}` line with
``max_voice_sessions``, ``max_full_sessions``, per-N figures and ``cores``.

``--speech cloud`` measures the Deepgram configuration instead: the server gets a Deepgram key
and the URL of the local fake Deepgram (tests/fakes/deepgram_server.py, run in this process),
which finds speech by energy and answers with a fixed transcript; its voice is a tone. What is
left on the server is what a worker does with cloud speech (VAD, turn detection, the brain,
perception), so it sizes workers for that set-up.

Usage: .venv/bin/python benchmarks/load.py [--max-voice 12] [--max-camera 5] [--answers 3]
       [--min-turns 12] [--seed 7] [--speech local|cloud]
Quick run: .venv/bin/python benchmarks/load.py --max-voice 2 --max-camera 1 --answers 1 \
       --min-turns 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np

from agent.config import Settings
from agent.selftest.audio import synth
from agent.voice.tts_piper import PiperTTS

_HERE = Path(__file__).resolve().parent

ROOT = _HERE.parent
FACES_DEV = ROOT.parent / "shared" / "data" / "faces-dev"
TEST_FACES = ROOT / "tests" / "data" / "faces"
MIC_RATE = 16000
CHUNK_S = 0.02
CHUNK_BYTES = int(MIC_RATE * CHUNK_S) * 2
SILENCE = bytes(CHUNK_BYTES)
TOLERANCE = 1.2
"""A level passes when its p95 is at most this times the single-session p95."""
TARGETS = {"voice": 8, "full": 3}
"""What the product aims for on 2 cores."""
STAGES = (
    "vad_end_ms",
    "final_ms",
    "turn_ms",
    "eou_stt_ms",
    "brain_ms",
    "tts_first_ms",
    "client_lag_ms",
)
"""Per-answer stages reported (see `Turn`); the first four count from the end of speech."""
WAIT_S = 90.0
"""Longest wait for any one interviewer reaction before a session counts as failed."""


def _sibling(name: str) -> Any:
    """Load another benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_vl = _sibling("voice_latency")
ANSWERS: list[str] = _vl.ANSWERS
pct: Callable[[list[float], float], float] = _vl.pct


def trim_silence(pcm: bytes, threshold: int = 300) -> bytes:
    """Drop trailing near-silence so the last sent chunk really ends the speech."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return pcm if not len(loud) else samples[: loud[-1] + 1].tobytes()


def chunks(pcm: bytes) -> list[bytes]:
    """20 ms chunks, the last one zero-padded, as the page's microphone worklet sends them."""
    out = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
    if out and len(out[-1]) < CHUNK_BYTES:
        out[-1] = out[-1] + bytes(CHUNK_BYTES - len(out[-1]))
    return out


def camera_jpegs(limit: int = 24) -> tuple[list[bytes], str]:
    """Webcam-like 640×480 JPEG frames (quality 0.7, as the page sends) and where they came from.

    A face photo scaled to about 300 px sits in a grey frame, like someone at a laptop camera.
    """
    for folder, source in ((FACES_DEV, "faces-dev"), (TEST_FACES, "tests/data/faces")):
        paths = sorted(folder.glob("*/*.jpg"))[:limit] if folder.is_dir() else []
        frames = []
        for path in paths:
            image = cv2.imread(str(path))
            if image is None:
                continue
            frame = np.full((480, 640, 3), 90, np.uint8)
            frame[90:390, 170:470] = cv2.resize(image, (300, 300), interpolation=cv2.INTER_AREA)
            frames.append(frame)
        if frames:
            return [_jpeg(f) for f in frames], source
    frame = np.full((480, 640, 3), 90, np.uint8)
    cv2.ellipse(frame, (320, 240), (90, 120), 0, 0, 360, (150, 180, 210), -1)
    return [_jpeg(frame)], "synthetic (no face photos found)"


def _jpeg(frame: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU seconds of a process (all threads) and its live children, from /proc."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir() if children else ():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child))
    return total


@contextlib.contextmanager
def serve(
    data_dir: Path, extra_env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`interviewer serve` with admission limits raised far beyond what is measured."""
    port = _free_port()
    env = {
        **os.environ,
        **(extra_env or {}),
        "MOCKINT_DATA_DIR": str(data_dir),
        "MOCKINT_SERVER__MAX_VOICE_SESSIONS": "1000",
        "MOCKINT_SERVER__MAX_CAMERA_SESSIONS": "1000",
        "MOCKINT_LOG_LEVEL": os.environ.get("LOAD_SERVER_LOG_LEVEL", "WARNING")
        if log is not None
        else "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log is not None else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_healthy(
    http: aiohttp.ClientSession, base: str, process: subprocess.Popen[bytes]
) -> None:
    """Until the server answers /health (model loading takes a few seconds)."""
    deadline = time.monotonic() + 180
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(base + "/health") as r:
                if r.status == 200:
                    return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("`interviewer serve` did not start")
        await asyncio.sleep(0.5)


@dataclass
class Turn:
    """One answered question as the candidate experienced it (milliseconds)."""

    total_ms: float
    eou_stt_ms: float | None
    brain_ms: float | None
    tts_first_ms: float | None
    first_is_next_line: bool
    answer: int = 0
    """Which of `ANSWERS` was said."""
    vad_end_ms: float | None = None
    """End of speech → the server's "listening" state (its VAD heard the speech end)."""
    final_ms: float | None = None
    """End of speech → the last final transcript before the turn was taken."""
    turn_ms: float | None = None
    """End of speech → the turn taken (the server's own clock on "user_said")."""
    client_lag_ms: float | None = None
    """Server clock on "user_said" → this client reading it (the client's own lag)."""
    """The first audio was the next question itself, not a "one moment" or another line."""


@dataclass
class Candidate:
    """One simulated candidate: the traffic of one browser page for one interview."""

    http: aiohttp.ClientSession
    base: str
    answers: list[list[bytes]]
    frames: list[bytes] | None
    fps: float
    rng: random.Random
    next_answer: Iterator[int]
    """Shared by a level's candidates, so every level says each answer equally often."""
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    audio_at: list[float] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    error: str | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _speech: deque[bytes] = field(default_factory=deque)
    _spoken: asyncio.Event = field(default_factory=asyncio.Event)
    _spoke_until: float = 0.0

    async def run(self, n_answers: int, start_delay: float) -> None:
        """Start an interview, answer ``n_answers`` questions by voice, then end it."""
        await asyncio.sleep(start_delay)
        body = {"flow": "backend", "consent": True, "camera": self.frames is not None}
        async with self.http.post(self.base + "/api/interviews", json=body) as r:
            if r.status != 200:
                self.error = f"start refused: HTTP {r.status} {await r.text()}"
                return
            sid = (await r.json())["session_id"]
        ws_url = self.base.replace("http", "ws", 1) + f"/ws/interviews/{sid}"
        tasks: list[asyncio.Task[None]] = []
        try:
            async with self.http.ws_connect(ws_url, max_msg_size=0) as ws:
                tasks.append(asyncio.create_task(self._read(ws)))
                await self._wait(lambda e: e["type"] == "hello", after=0.0)
                tasks.append(asyncio.create_task(self._microphone(ws)))
                if self.frames is not None:
                    tasks.append(asyncio.create_task(self._camera(ws_url + "/video")))
                greeting, _ = await self._wait(lambda e: e["type"] == "agent_said", after=0.0)
                await self._wait_spoken(after=greeting)
                for _ in range(n_answers):
                    # the candidate collects themselves after the question
                    await asyncio.sleep(self.rng.uniform(0.3, 0.8))
                    which = next(self.next_answer) % len(self.answers)
                    t_end = await self._say(self.answers[which])
                    first = await self._first_audio(after=t_end)
                    reply, event = await self._wait(
                        lambda e: e["type"] in ("question", "finished"), after=t_end
                    )
                    self.turns.append(self._turn(t_end, first, reply, which))
                    if event["type"] == "finished":
                        break
                    await self._wait_spoken(after=reply)
                await ws.send_str(json.dumps({"type": "end"}))
                await self._wait(lambda e: e["type"] == "report_ready", after=0.0)
        except Exception as e:  # a failed session is counted and reported; the run goes on
            self.error = f"{type(e).__name__}: {e}"
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _turn(self, t_end: float, first: float, reply: float, which: int) -> Turn:
        """Split one answer's wait using the events between its end and the next question."""
        within = [(t, e) for t, e in self.events if t_end < t <= reply]
        submitted = next((t for t, e in within if e["type"] == "answer_submitted"), None)
        brain = [float(e["ms"]) for _, e in within if e["type"] == "brain_timing"]
        said = next((t for t, e in self.events if t >= reply and e["type"] == "agent_said"), None)
        said_audio = next((t for t in self.audio_at if said is not None and t >= said), None)
        lines = [t for t, e in self.events if t <= first and e["type"] == "agent_said"]
        until = submitted if submitted is not None else reply
        vad_end = next(
            (t for t, e in within if e["type"] == "user_state" and e["state"] == "listening"),
            None,
        )
        finals = [t for t, e in within if t <= until and e["type"] == "hearing" and e["final"]]
        said_at = [(t, e) for t, e in within if t <= until and e["type"] == "user_said"]
        return Turn(
            total_ms=(first - t_end) * 1000,
            eou_stt_ms=(submitted - t_end) * 1000 if submitted is not None else None,
            brain_ms=brain[0] if brain else None,
            tts_first_ms=(said_audio - said) * 1000
            if said is not None and said_audio is not None
            else None,
            first_is_next_line=bool(lines) and lines[-1] >= reply,
            answer=which,
            vad_end_ms=(vad_end - t_end) * 1000 if vad_end is not None else None,
            final_ms=(finals[-1] - t_end) * 1000 if finals else None,
            turn_ms=(float(said_at[-1][1]["t"]) - t_end) * 1000 if said_at else None,
            client_lag_ms=(said_at[-1][0] - float(said_at[-1][1]["t"])) * 1000 if said_at else None,
        )

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            now = time.monotonic()
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.audio_at.append(now)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append((now, json.loads(msg.data)))
            self._changed.set()
        self.events.append((time.monotonic(), {"type": "closed"}))
        self._changed.set()

    async def _microphone(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """20 ms chunks at real time, like the page's worklet: speech when queued, else silence."""
        next_t = time.monotonic()
        while True:
            next_t += CHUNK_S
            delay = next_t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._speech:
                await ws.send_bytes(self._speech.popleft())
                if not self._speech:
                    self._spoke_until = time.monotonic()
                    self._spoken.set()
            else:
                await ws.send_bytes(SILENCE)

    async def _camera(self, url: str) -> None:
        assert self.frames is not None
        async with self.http.ws_connect(url) as vws:
            k = self.rng.randrange(len(self.frames))
            next_t = time.monotonic()
            while True:
                next_t += 1 / self.fps
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
                await vws.send_bytes(self.frames[k % len(self.frames)])
                k += 1

    async def _say(self, answer: list[bytes]) -> float:
        """Queue an answer on the microphone; returns when its last speech chunk was sent."""
        self._spoken.clear()
        self._speech.extend(answer)
        await self._spoken.wait()
        return self._spoke_until

    async def _wait(
        self, pred: Callable[[dict[str, Any]], bool], *, after: float
    ) -> tuple[float, dict[str, Any]]:
        """The first event matching ``pred`` received after ``after``, with its time."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for t, e in self.events:
                if t > after and pred(e):
                    return t, e
                if e["type"] == "closed":
                    raise TimeoutError("the server closed the connection")
            await self._changed_or(deadline)

    async def _first_audio(self, *, after: float) -> float:
        deadline = time.monotonic() + WAIT_S
        while True:
            for t in self.audio_at:
                if t > after:
                    return t
            await self._changed_or(deadline)

    async def _wait_spoken(self, *, after: float) -> None:
        """Until the interviewer's line said after ``after`` has played out (it listens again).

        The server sends audio faster than real time and reports "listening" once its playout
        clock has passed the end of the line, so: audio arrived after ``after`` and a
        listening state came after the last audio frame.
        """
        deadline = time.monotonic() + WAIT_S
        while True:
            if self.audio_at and self.audio_at[-1] > after:
                last = self.audio_at[-1]
                if any(
                    t > last and e["type"] == "agent_state" and e["state"] == "listening"
                    for t, e in self.events
                ):
                    return
            await self._changed_or(deadline)

    async def _changed_or(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no reaction from the interviewer in time")
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))


@dataclass
class Level:
    """Figures for one N."""

    n: int
    totals_ms: list[float]
    stages: dict[str, list[float]]
    failed: int
    server_cpu_cores: float
    errors: list[str]
    client_cpu_cores: float = 0.0
    """This benchmark's own process (the candidates, and the fake Deepgram in cloud mode)."""
    answer_ids: list[int] = field(default_factory=list)
    """`Turn.answer` of each of ``totals_ms``."""

    def balanced(self) -> list[float]:
        """The totals with every answer text equally often (the first k of each).

        Answers differ in how soon their end is taken (a falling tone is taken at once, an
        open-sounding end waits longer), so percentiles compare like with like only over the
        same mix. Falls back to all totals when some answer was never said.
        """
        by_answer: dict[int, list[float]] = {}
        for value, which in zip(self.totals_ms, self.answer_ids, strict=True):
            by_answer.setdefault(which, []).append(value)
        if len(by_answer) < len(ANSWERS):
            return self.totals_ms
        k = min(len(v) for v in by_answer.values())
        return [x for values in by_answer.values() for x in values[:k]]

    def p95(self) -> float:
        """p95 of the balanced totals (what the levels are compared on)."""
        return pct(self.balanced(), 95)

    next_line_first: int = 0
    """Answers whose first reply audio was the next question (not an acknowledgement)."""

    def summary(self) -> dict[str, Any]:
        """The level as it goes into RESULT."""

        def p(xs: list[float], q: float) -> float | None:
            return round(pct(xs, q), 1) if xs else None

        return {
            "turns": len(self.totals_ms),
            "turns_balanced": len(self.balanced()),
            "p50_ms": p(self.balanced(), 50),
            "p95_ms": p(self.balanced(), 95),
            "stages_p50_ms": {k: p(v, 50) for k, v in self.stages.items()},
            "stages_p95_ms": {k: p(v, 95) for k, v in self.stages.items()},
            "next_line_first": self.next_line_first,
            "failed_sessions": self.failed,
            "server_cpu_cores": round(self.server_cpu_cores, 2),
            "client_cpu_cores": round(self.client_cpu_cores, 2),
            "errors": self.errors[:3],
        }


async def run_level(
    *,
    http: aiohttp.ClientSession,
    base: str,
    pid: int,
    n: int,
    answers: list[list[bytes]],
    frames: list[bytes] | None,
    fps: float,
    n_answers: int,
    min_turns: int,
    stagger_s: float,
    rng: random.Random,
) -> Level:
    """N concurrent interviews, repeated in rounds until ``min_turns`` answers were timed."""
    totals: list[float] = []
    answer_ids: list[int] = []
    stages: dict[str, list[float]] = {key: [] for key in STAGES}
    failed, errors, next_line_first = 0, [], 0
    own0 = _cpu_seconds(os.getpid(), children=False)
    cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
    # Answers in turn from a random start: a level's mix of answers does not depend on luck
    # (some answers end on a falling tone and are taken at once, others wait for more).
    next_answer = itertools.count(rng.randrange(len(answers)))
    while len(totals) < min_turns:
        group = [
            Candidate(http, base, answers, frames, fps, random.Random(rng.random()), next_answer)
            for _ in range(n)
        ]
        await asyncio.gather(
            *(c.run(n_answers, rng.uniform(0, stagger_s) if n > 1 else 0.0) for c in group)
        )
        for c in group:
            for t in c.turns:
                totals.append(t.total_ms)
                answer_ids.append(t.answer)
                next_line_first += t.first_is_next_line
                for key in STAGES:
                    value = getattr(t, key)
                    if value is not None:
                        stages[key].append(value)
            if c.error is not None:
                failed += 1
                errors.append(c.error)
        if failed or not any(c.turns for c in group):
            break
    wall = time.monotonic() - wall0
    cpu = (_cpu_seconds(pid) - cpu0) / wall
    own = (_cpu_seconds(os.getpid(), children=False) - own0) / wall
    return Level(
        n,
        totals,
        stages,
        failed,
        cpu,
        errors,
        next_line_first=next_line_first,
        client_cpu_cores=own,
        answer_ids=answer_ids,
    )


def largest_within(levels: list[Level], limit_ms: float) -> int:
    """Largest N such that it and every smaller measured N kept p95 within the limit."""
    best = 0
    for level in sorted(levels, key=lambda lv: lv.n):
        if level.failed or not level.totals_ms or level.p95() > limit_ms:
            break
        best = level.n
    return best


async def series(
    name: str,
    sizes: list[int],
    run: Callable[[int], Any],
) -> tuple[list[Level], float | None, int]:
    """Run the levels of one series; stops after two failing levels in a row."""
    levels: list[Level] = []
    limit_ms: float | None = None
    misses = 0
    for n in sizes:
        level: Level = await run(n)
        levels.append(level)
        s = level.summary()
        print(
            f"{name:5s} N={n:2d}: p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms  "
            f"({s['turns']} answers, {s['next_line_first']} answered straight with the next "
            f"line, {level.failed} sessions failed, server {s['server_cpu_cores']} cores, "
            f"load client {s['client_cpu_cores']} cores)  "
            f"stages p50 {s['stages_p50_ms']}",
            flush=True,
        )
        if n == sizes[0] and level.totals_ms:
            limit_ms = TOLERANCE * level.p95()
        ok = (
            limit_ms is not None
            and not level.failed
            and bool(level.totals_ms)
            and level.p95() <= limit_ms
        )
        misses = 0 if ok else misses + 1
        if misses >= 2:
            break
    best = largest_within(levels, limit_ms) if limit_ms is not None else 0
    return levels, limit_ms, best


def sizes_up_to(maximum: int, steps: list[int]) -> list[int]:
    """The listed steps up to ``maximum``, then every 2 beyond them."""
    out = [s for s in steps if s <= maximum]
    n = (out[-1] if out else 0) + 2
    while n <= maximum:
        out.append(n)
        n += 2
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    fps = settings.perception.video_fps
    voice = PiperTTS.from_dir(settings.models.dir / "piper-joe", deterministic=True)
    answers = [chunks(trim_silence(await synth(voice, text))) for text in ANSWERS]
    frames, frames_source = camera_jpegs()
    rng = random.Random(args.seed)
    load_before = os.getloadavg()
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="mockint-load-"))
        env: dict[str, str] = {}
        if args.speech == "cloud":
            sys.path.insert(0, str(ROOT))
            from tests.fakes.deepgram_server import FakeDeepgram

            fake = stack.enter_context(FakeDeepgram())
            fake.default_line = ANSWERS[0]
            env = {
                "DEEPGRAM_API_KEY": "load-benchmark",
                "MOCKINT_VOICE__DEEPGRAM_BASE_URL": f"http://127.0.0.1:{fake.port}",
            }
        base, process = stack.enter_context(serve(Path(tmp), env, args.server_log))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await wait_healthy(http, base, process)
            print(f"server up at {base}; warming up (Whisper, vision models)…", flush=True)
            warm = Candidate(http, base, answers, frames, fps, random.Random(0), itertools.count())
            await warm.run(1, 0.0)
            if warm.error:
                raise RuntimeError(f"the warm-up session failed: {warm.error}")

            def level_runner(camera: bool) -> Callable[[int], Any]:
                def run(n: int) -> Any:
                    return run_level(
                        http=http,
                        base=base,
                        pid=process.pid,
                        n=n,
                        answers=answers,
                        frames=frames if camera else None,
                        fps=fps,
                        n_answers=args.answers,
                        min_turns=args.min_turns,
                        stagger_s=args.stagger_s,
                        rng=rng,
                    )

                return run

            voice_levels, voice_limit, max_voice = await series(
                "voice", sizes_up_to(args.max_voice, [1, 2, 4, 6, 8]), level_runner(False)
            )
            full_levels, full_limit, max_full = await series(
                "full", list(range(1, args.max_camera + 1)), level_runner(True)
            )
    cores = len(os.sched_getaffinity(0))
    result: dict[str, Any] = {
        "cores": cores,
        "speech": args.speech,
        "max_voice_sessions": max_voice,
        "max_full_sessions": max_full,
        "targets": TARGETS,
        "targets_met": max_voice >= TARGETS["voice"] and max_full >= TARGETS["full"],
        "tolerance": TOLERANCE,
        "voice_p95_limit_ms": round(voice_limit, 1) if voice_limit else None,
        "full_p95_limit_ms": round(full_limit, 1) if full_limit else None,
        "voice": {str(lv.n): lv.summary() for lv in voice_levels},
        "full": {str(lv.n): lv.summary() for lv in full_levels},
        "answers_per_session": args.answers,
        "min_turns": args.min_turns,
        "camera_fps": fps,
        "frames_source": frames_source,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - t0, 1),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-voice", type=int, default=12, help="largest voice-only N")
    parser.add_argument("--max-camera", type=int, default=5, help="largest N with camera")
    parser.add_argument("--answers", type=int, default=3, help="answers per session")
    parser.add_argument(
        "--min-turns",
        type=int,
        default=2 * len(ANSWERS),
        help="answers timed per level (at least once per answer text for balanced figures)",
    )
    parser.add_argument("--stagger-s", type=float, default=4.0, help="spread of session starts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--server-log", type=Path, default=None, help="append the server's warnings here"
    )
    parser.add_argument(
        "--speech",
        choices=("local", "cloud"),
        default="local",
        help="local: Whisper and Piper on this machine (the default product); cloud: Deepgram "
        "STT and voice, played by the local fake Deepgram (tests/fakes), so the server's own "
        "share is measured",
    )
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(
        f"largest N within {TOLERANCE}× single-session p95: voice-only "
        f"{result['max_voice_sessions']} (target {TARGETS['voice']}), with camera "
        f"{result['max_full_sessions']} (target {TARGETS['full']}) on {result['cores']} cores"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
