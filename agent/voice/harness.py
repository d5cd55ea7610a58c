"""In-process audio harness: drive a real spoken interview with synthesized candidate audio.

Used by tests, the latency benchmark and the audio mode of evaluations. Candidate audio goes
through the real pipeline (VAD, turn detection, STT, interview graph, TTS); the interviewer's
audio is captured instead of played, optionally on a faster playout clock so long questions
don't slow tests down (the candidate's audio always runs in real time).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc

from agent.config import Settings
from agent.interview import InterviewRunner
from agent.voice.local_io import FRAME_MS, PacedAudioOutput, QueueAudioInput
from agent.voice.session import VoiceInterview, VoiceRuntime

RATE = 16000
CHUNK_MS = 20
"""Microphone chunk the harness pushes (the page's worklet sends 20 ms)."""


@dataclass
class Captured:
    """What the harness observed."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio_frames: list[tuple[float, rtc.AudioFrame]] = field(default_factory=list)
    cleared_at: list[float] = field(default_factory=list)


class _FastOutput(PacedAudioOutput):
    """A paced output whose playout clock runs ``speed`` times faster than real time."""

    def __init__(self, *, speed: float, **kw: Any) -> None:
        super().__init__(**kw)
        self._speed = speed

    async def _finish_after(self, started: float, duration: float) -> None:
        await super()._finish_after(started, duration / self._speed)


def silence(seconds: float) -> bytes:
    """Mono 16-bit silence at 16 kHz."""
    return bytes(int(RATE * seconds) * 2)


def to_pcm16(samples: np.ndarray, rate: int) -> bytes:
    """Float or int16 mono samples at any rate to 16 kHz 16-bit PCM."""
    x = samples.astype(np.float32)
    if samples.dtype == np.int16:
        x = x / 32768.0
    if rate != RATE:
        n = int(round(len(x) * RATE / rate))
        x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes()


class AudioHarness:
    """One spoken interview fed from PCM and observed through its events and audio."""

    def __init__(
        self,
        *,
        runtime: VoiceRuntime,
        runner: InterviewRunner,
        settings: Settings,
        session_id: str,
        playout_speed: float = 1.0,
    ) -> None:
        self.captured = Captured()
        self.mic = QueueAudioInput(sample_rate=RATE)
        self._changed = asyncio.Event()

        async def sink(frame: rtc.AudioFrame) -> None:
            self.captured.audio_frames.append((time.monotonic(), frame))
            self._changed.set()

        async def on_clear() -> None:
            self.captured.cleared_at.append(time.monotonic())
            self._changed.set()

        self.speaker = _FastOutput(speed=playout_speed, sink=sink, on_clear=on_clear)
        self.voice = VoiceInterview(
            runtime=runtime,
            runner=runner,
            session_id=session_id,
            settings=settings,
            audio_in=self.mic,
            audio_out=self.speaker,
            emit=self._on_event,
        )

    def _on_event(self, ev: dict[str, Any]) -> None:
        self.captured.events.append({**ev, "at": time.monotonic()})
        self._changed.set()

    async def start(self) -> None:
        """Start the session (the interviewer greets and asks the first question)."""
        await self.voice.start()

    async def aclose(self) -> None:
        """Stop the session."""
        self.mic.close()
        await self.voice.aclose()

    async def speak(self, pcm: bytes) -> float:
        """Play candidate audio in real time; returns when its last frame has been consumed.

        The audio is pushed 20 ms at a time on a real-time clock, as the browser page's
        microphone streams it (the microphone queue hands over whatever has arrived).
        """
        chunk = RATE * 2 * CHUNK_MS // 1000  # bytes of 16-bit mono audio
        started = time.monotonic()
        for k, i in enumerate(range(0, len(pcm), chunk)):
            self.mic.push_pcm(pcm[i : i + chunk])
            await asyncio.sleep(max(0.0, started + (k + 1) * CHUNK_MS / 1000 - time.monotonic()))
        while self.mic.pending_seconds > 0:  # noqa: ASYNC110  # the session's reader drains it
            await asyncio.sleep(FRAME_MS / 1000)
        return time.monotonic()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float, after: float = 0.0
    ) -> dict[str, Any]:
        """Wait for an event matching ``predicate`` that happened after ``after``."""
        deadline = time.monotonic() + within
        while True:
            for ev in self.captured.events:
                if ev["at"] >= after and predicate(ev):
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("event not seen in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            except TimeoutError:
                continue

    async def wait_listening(self, *, within: float = 60.0, after: float = 0.0) -> float:
        """Wait until the interviewer has spoken (after ``after``) and listens again."""
        spoke = await self.wait_for(
            lambda e: e["type"] == "agent_state" and e["state"] == "speaking",
            within=within,
            after=after,
        )
        done = await self.wait_for(
            lambda e: e["type"] == "agent_state" and e["state"] == "listening",
            within=within,
            after=spoke["at"],
        )
        return float(done["at"])

    def first_audio_after(self, t: float) -> float | None:
        """Time of the first interviewer audio frame sent after ``t``."""
        for at, _ in self.captured.audio_frames:
            if at >= t:
                return at
        return None
