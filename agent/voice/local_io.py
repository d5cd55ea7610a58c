"""In-process audio I/O for AgentSession: a queue-fed microphone and a paced speaker.

`QueueAudioInput` turns PCM pushed from anywhere (a browser WebSocket, a WAV file in a test)
into the 10 ms `rtc.AudioFrame`s the session reads. Audio that arrived is handed over at once
(a session that fell behind, e.g. on a busy server, catches up instead of staying behind);
when nothing arrives for a moment (a paused or disconnected client) it feeds silence at real
time so VAD and turn detection keep a running clock. A chunk that is merely late (network
jitter) is waited for, never replaced by silence: the pusher paces the audio, not this queue.
`PacedAudioOutput` accepts the interviewer's audio faster than real time, hands each frame to a
sink (the WebSocket, or a list in tests) and keeps a playout clock so the session learns when
playback really finished or where it was cut off by a barge-in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities

logger = logging.getLogger("mockint.agent.voice")

FRAME_MS = 10
JITTER_S = 0.15
"""How long the microphone may go quiet (no audio pushed) before silence is filled in."""


def pcm16_frames(pcm: bytes, sample_rate: int, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """Split mono 16-bit PCM into frames of ``frame_ms`` (the tail is zero-padded)."""
    n = sample_rate * frame_ms // 1000
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
    frames = []
    for start in range(0, len(samples), n):
        chunk = samples[start : start + n]
        if len(chunk) < n:
            chunk = np.pad(chunk, (0, n - len(chunk)))
        frames.append(rtc.AudioFrame(chunk.tobytes(), sample_rate, 1, n))
    return frames


class QueueAudioInput(AudioInput):
    """Microphone audio pushed by a transport; silence while the client sends nothing."""

    def __init__(self, *, sample_rate: int = 16000, label: str = "local-mic") -> None:
        super().__init__(label=label)
        self.sample_rate = sample_rate
        self._queue: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue(maxsize=3000)
        self._n = sample_rate * FRAME_MS // 1000
        self._silence = rtc.AudioFrame(bytes(self._n * 2), sample_rate, 1, self._n)
        self._fill_at: float | None = None  # when the next silence frame is due
        self._closed = False
        self.realtime_silence = True
        """Feed silence at real-time pace when the queue is empty (off in some tests)."""

    def push_pcm(self, pcm: bytes, sample_rate: int | None = None) -> None:
        """Queue mono 16-bit PCM (dropping the oldest audio if the session falls far behind)."""
        rate = sample_rate or self.sample_rate
        if rate != self.sample_rate:
            raise ValueError(f"expected {self.sample_rate} Hz audio, got {rate} Hz")
        for frame in pcm16_frames(pcm, rate):
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(frame)

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue one frame as is."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(frame)

    @property
    def pending_seconds(self) -> float:
        """Audio queued and not yet read by the session."""
        return self._queue.qsize() * FRAME_MS / 1000

    def close(self) -> None:
        """End the stream."""
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        if not self._queue.empty():
            self._fill_at = None
            return self._queue.get_nowait()
        if not self.realtime_silence:
            return await self._queue.get()
        now = time.monotonic()
        if self._fill_at is None:
            self._fill_at = now + JITTER_S
        try:
            frame = await asyncio.wait_for(self._queue.get(), max(0.0, self._fill_at - now))
        except TimeoutError:
            # The client is not sending: silence at real-time pace (never a catch-up burst).
            self._fill_at = max(self._fill_at + FRAME_MS / 1000, time.monotonic() - 0.05)
            return self._silence
        self._fill_at = None
        return frame


Sink = Callable[[rtc.AudioFrame], Awaitable[None]]
ClearHook = Callable[[], Coroutine[Any, Any, None]]


class PacedAudioOutput(AudioOutput):
    """Sends the interviewer's audio to a sink and tracks when it has played out."""

    def __init__(
        self,
        *,
        sink: Sink,
        on_clear: ClearHook | None = None,
        sample_rate: int | None = None,
        playout_margin_s: float = 0.05,
        label: str = "local-speaker",
    ) -> None:
        super().__init__(
            label=label, capabilities=AudioOutputCapabilities(pause=False), sample_rate=sample_rate
        )
        self._sink = sink
        self._on_clear = on_clear
        self._margin = playout_margin_s
        self._started_at: float | None = None
        self._pushed_s = 0.0
        self._finish_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.speaking = False
        """True from the first frame of a segment until it has played out or was cleared."""

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Send one frame to the sink and advance the playout clock."""
        await super().capture_frame(frame)
        if self._started_at is None:
            self._started_at = time.monotonic()
            self._pushed_s = 0.0
            self.speaking = True
            self.on_playback_started(created_at=time.time())
        self._pushed_s += frame.samples_per_channel / frame.sample_rate
        await self._sink(frame)

    def flush(self) -> None:
        """End the segment; playback finishes when its audio has had time to play."""
        super().flush()
        if self._started_at is None:
            return
        started, duration = self._started_at, self._pushed_s
        self._finish_task = asyncio.create_task(self._finish_after(started, duration))

    async def _finish_after(self, started: float, duration: float) -> None:
        remaining = started + duration + self._margin - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if self._started_at == started:
            self._started_at = None
            self.speaking = False
            self.on_playback_finished(playback_position=duration, interrupted=False)

    def clear_buffer(self) -> None:
        """Barge-in: stop now, tell the client to drop queued audio, report the position."""
        if self._started_at is None:
            return
        played = min(time.monotonic() - self._started_at, self._pushed_s)
        self._started_at = None
        self.speaking = False
        if self._finish_task is not None:
            self._finish_task.cancel()
            self._finish_task = None
        if self._on_clear is not None:
            task = asyncio.create_task(self._on_clear())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.on_playback_finished(playback_position=played, interrupted=True)
