"""Lightweight offline text-to-speech: pyttsx3's espeak-ng driver behind livekit's TTS API.

This module owns rendering speech with pyttsx3 safely. pyttsx3 blocks, keeps process-wide
espeak state and can hang (its ``runAndWait`` loop never ends if espeak never reports the end
of an utterance), so:

* one dedicated daemon thread owns the pyttsx3 engine and runs one request at a time;
* a watchdog (``timeout_s`` plus ``timeout_per_char_s`` per character) bounds every request;
  on a hang the worker is abandoned (asked to stop, never joined) and a fresh engine is built
  for the next request; after ``max_abandoned`` hangs pyttsx3 is no longer used;
* on a hang or an engine error, the request is rendered by calling ``espeak-ng --stdout``
  directly (what pyttsx3 wraps) in a subprocess that is killed on timeout; only if that also
  fails is a livekit ``APIConnectionError`` raised.

pyttsx3 can only render to a file, so each request uses a private temporary WAV (``mkstemp``,
mode 0600) that the worker thread itself creates, reads and deletes in one job, so it is gone
at once even when the caller timed out or was cancelled meanwhile (a permanently hung engine
can leave at most an empty file). The fallback passes the text on stdin (not the command
line, where other users could see it) and reads the audio from a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    tts,
    utils,
)

from agent.voice.tts_piper import MAX_CHARS, clip_text

logger = logging.getLogger("mockint.agent.voice")

SAMPLE_RATE = 22_050
"""espeak-ng's native rate; pyttsx3's espeak driver writes WAVs at this rate."""

DEFAULT_VOICE = "gmw/en-us"
"""pyttsx3 voice id for US English (pyttsx3's default is ``gmw/en``, British)."""

DEFAULT_RATE = 160
"""Words per minute."""

ESPEAK_CLI_VOICE = "en-us"


class EngineLike(Protocol):
    """The part of ``pyttsx3.Engine`` this module uses (lets tests inject a fake engine)."""

    def save_to_file(self, text: str, filename: str) -> None:
        """Queue rendering ``text`` into the WAV file ``filename``."""

    def runAndWait(self) -> None:  # noqa: N802 - pyttsx3's name
        """Run the queued commands; blocks until done (or forever, when it hangs)."""

    def stop(self) -> None:
        """Stop the current utterance."""


EngineFactory = Callable[[], EngineLike]


def _silence_driver_print() -> None:
    """pyttsx3's espeak driver calls ``print("Audio saved to <path>")``; route it to DEBUG."""
    from pyttsx3.drivers import espeak  # type: ignore[import-untyped]  # no type hints

    def _to_debug(*args: object, **_kwargs: object) -> None:
        logger.debug("pyttsx3: %s", " ".join(str(a) for a in args))

    # A module global shadows the builtin for that module only (thread-safe, unlike
    # redirecting sys.stdout).
    espeak.print = _to_debug


def make_pyttsx3_engine(*, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> EngineLike:
    """Create a new pyttsx3 engine on the espeak driver (call it from the thread that uses it).

    A new ``pyttsx3.engine.Engine`` is built each time (``pyttsx3.init`` would hand back a
    cached, possibly hung, instance).

    Args:
        voice: espeak voice id; ignored with a log line when not installed.
        rate: Words per minute.

    Returns:
        The engine.
    """
    from pyttsx3.engine import Engine  # type: ignore[import-untyped]  # no type hints

    _silence_driver_print()
    engine = Engine("espeak")
    voice_ids = {str(v.id) for v in engine.getProperty("voices")}
    if voice in voice_ids:
        engine.setProperty("voice", voice)
    else:
        logger.info("espeak voice not installed, using the default", extra={"voice": voice})
    engine.setProperty("rate", rate)
    return engine  # type: ignore[no-any-return]  # pyttsx3 is untyped


class _EngineWorker:
    """A daemon thread that owns one engine and renders one request at a time.

    A daemon thread (not a ``ThreadPoolExecutor``, whose threads are joined at interpreter exit)
    so that a hung engine never blocks shutdown.
    """

    def __init__(self, factory: EngineFactory, temp_dir: Path | None) -> None:
        self._factory = factory
        self._temp_dir = temp_dir
        self._jobs: queue.SimpleQueue[tuple[str, Future[bytes]] | None] = queue.SimpleQueue()
        self._engine: EngineLike | None = None
        self._thread = threading.Thread(target=self._loop, name="pyttsx3-worker", daemon=True)
        self._thread.start()

    def submit(self, text: str) -> Future[bytes]:
        """Queue rendering ``text``; the future resolves to the WAV file's bytes."""
        fut: Future[bytes] = Future()
        self._jobs.put((text, fut))
        return fut

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            text, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(self._render(text))
            except Exception as exc:
                self._engine = None  # rebuilt for the next request
                fut.set_exception(exc)

    def _render(self, text: str) -> bytes:
        fd, name = tempfile.mkstemp(prefix="mockint-tts-", suffix=".wav", dir=self._temp_dir)
        os.close(fd)
        wav_path = Path(name)
        try:
            if self._engine is None:
                self._engine = self._factory()
            self._engine.save_to_file(text, name)
            self._engine.runAndWait()
            return wav_path.read_bytes()
        finally:
            wav_path.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Ask the thread to end after its current job and try to unblock a hung engine."""
        self._jobs.put(None)
        engine = self._engine
        if engine is None:
            return
        for name in ("stop", "endLoop"):  # endLoop ends pyttsx3's busy loop
            method = getattr(engine, name, None)
            if callable(method):
                with contextlib.suppress(Exception):
                    method()

    def close(self) -> None:
        """End the thread after the queued jobs."""
        self._jobs.put(None)


def wav_to_pcm16(data: bytes, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Decode a 16-bit PCM WAV (as written by espeak-ng) to mono 16-bit PCM at ``sample_rate``.

    Tolerates espeak-ng's streaming header (placeholder sizes).

    Args:
        data: WAV file bytes.
        sample_rate: Output rate; the audio is resampled when it differs.

    Returns:
        Raw little-endian int16 mono samples.

    Raises:
        ValueError: If the data is not a 16-bit PCM WAV.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"expected 16-bit WAV, got {8 * wav.getsampwidth()}-bit")
            channels = wav.getnchannels()
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a WAV file: {exc}") from exc
    pcm = np.frombuffer(frames[: len(frames) - len(frames) % (2 * channels)], dtype=np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate == sample_rate or pcm.size == 0:
        return pcm.tobytes()
    resampler = rtc.AudioResampler(rate, sample_rate, num_channels=1)
    out = resampler.push(rtc.AudioFrame(pcm.tobytes(), rate, 1, pcm.size)) + resampler.flush()
    return b"".join(bytes(f.data.cast("B")) for f in out)


class Pyttsx3TTS(tts.TTS[Any]):
    """livekit TTS plugin using pyttsx3 (espeak-ng), with a watchdog and an espeak-ng fallback."""

    def __init__(
        self,
        *,
        voice: str = DEFAULT_VOICE,
        rate: int = DEFAULT_RATE,
        timeout_s: float = 10.0,
        timeout_per_char_s: float = 0.01,
        max_chars: int = MAX_CHARS,
        max_abandoned: int = 2,
        engine_factory: EngineFactory | None = None,
        espeak_binary: str = "espeak-ng",
        temp_dir: Path | None = None,
    ) -> None:
        """Create the plugin (the engine is built lazily in its worker thread).

        Args:
            voice: pyttsx3/espeak voice id.
            rate: Words per minute (also used by the fallback).
            timeout_s: Watchdog budget per request, plus...
            timeout_per_char_s: ...this much per character of text.
            max_chars: Longest text per request (longer text is cut, with a warning).
            max_abandoned: After this many hung engines, stop using pyttsx3 and call espeak-ng
                directly.
            engine_factory: Builds an engine (default: `make_pyttsx3_engine`); for tests.
            espeak_binary: The espeak-ng executable used by the fallback.
            temp_dir: Where the short-lived WAV files go (default: the system temp dir).
        """
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self._voice = voice
        self._rate = rate
        self._timeout_s = timeout_s
        self._timeout_per_char_s = timeout_per_char_s
        self._max_chars = max_chars
        self._max_abandoned = max_abandoned
        self._factory: EngineFactory = engine_factory or (
            lambda: make_pyttsx3_engine(voice=voice, rate=rate)
        )
        self._espeak_binary = espeak_binary
        self._temp_dir = temp_dir
        self._worker: _EngineWorker | None = None
        self._abandoned = 0
        self._lock = asyncio.Lock()

    @property
    def model(self) -> str:
        """The voice id."""
        return self._voice

    @property
    def provider(self) -> str:
        """The provider name used in metrics."""
        return "pyttsx3-espeak-ng"

    @property
    def max_chars(self) -> int:
        """Longest text synthesised per request."""
        return self._max_chars

    @property
    def pyttsx3_enabled(self) -> bool:
        """False once too many engines hung (requests then go straight to espeak-ng)."""
        return self._abandoned < self._max_abandoned

    def watchdog_timeout(self, text: str) -> float:
        """Seconds a request for ``text`` may take before it counts as hung."""
        return self._timeout_s + self._timeout_per_char_s * len(text)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> Pyttsx3ChunkedStream:
        """Synthesise ``text``; iterate the stream (or ``await .collect()``) for audio frames.

        Args:
            text: Text to speak (cut to `max_chars`).
            conn_options: livekit retry options (failures are raised as non-retryable).

        Returns:
            The chunked stream.
        """
        return Pyttsx3ChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    async def render(self, text: str) -> bytes:
        """Render text to mono 16-bit PCM at `SAMPLE_RATE`, with watchdog and fallback.

        Args:
            text: Non-empty text (already length-limited).

        Returns:
            Raw int16 samples.

        Raises:
            APIConnectionError: If pyttsx3 and the espeak-ng fallback both fail.
        """
        timeout = self.watchdog_timeout(text)
        if self.pyttsx3_enabled:
            async with self._lock:
                try:
                    return await self._render_pyttsx3(text, timeout)
                except TimeoutError:
                    self._abandon_worker()
                    logger.warning(
                        "pyttsx3 hung, engine abandoned; using espeak-ng directly",
                        extra={"timeout_s": round(timeout, 2), "hung_engines": self._abandoned},
                    )
                except Exception as exc:
                    logger.warning(
                        "pyttsx3 failed; using espeak-ng directly",
                        extra={"error": type(exc).__name__, "detail": str(exc)[:200]},
                    )
        return await self._render_cli(text, timeout)

    async def _render_pyttsx3(self, text: str, budget_s: float) -> bytes:
        if self._worker is None:
            self._worker = _EngineWorker(self._factory, self._temp_dir)
        fut = self._worker.submit(text)
        data = await asyncio.wait_for(asyncio.wrap_future(fut), budget_s)
        return await asyncio.to_thread(wav_to_pcm16, data)

    def _abandon_worker(self) -> None:
        if self._worker is not None:
            self._worker.abandon()
            self._worker = None
        self._abandoned += 1
        if not self.pyttsx3_enabled:
            logger.warning(
                "pyttsx3 disabled after repeated hangs; espeak-ng is called directly",
                extra={"hung_engines": self._abandoned},
            )

    async def _render_cli(self, text: str, budget_s: float) -> bytes:
        binary = shutil.which(self._espeak_binary)
        if binary is None:
            raise APIConnectionError(
                f"{self._espeak_binary} is not installed (apt-get install espeak-ng)",
                retryable=False,
            )
        cmd = [binary, "-v", ESPEAK_CLI_VOICE, "-s", str(self._rate), "-b", "1", "--stdin"]
        cmd.append("--stdout")
        try:
            proc = await asyncio.to_thread(
                subprocess.run,
                cmd,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=budget_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
            raise APIConnectionError("espeak-ng timed out", retryable=False) from exc
        except OSError as exc:
            raise APIConnectionError(f"espeak-ng failed to start: {exc}", retryable=False) from exc
        if proc.returncode != 0 or not proc.stdout:
            raise APIConnectionError(f"espeak-ng failed (exit {proc.returncode})", retryable=False)
        try:
            return await asyncio.to_thread(wav_to_pcm16, proc.stdout)
        except ValueError as exc:
            raise APIConnectionError(
                f"espeak-ng returned unreadable audio: {exc}", retryable=False
            ) from exc

    async def aclose(self) -> None:
        """Let the worker thread end (a hung one is left to die with the process)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None


class Pyttsx3ChunkedStream(tts.ChunkedStream):
    """One synthesis request; espeak renders far faster than real time, so audio is pushed once."""

    def __init__(
        self, *, tts: Pyttsx3TTS, input_text: str, conn_options: APIConnectOptions
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._espeak = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        """Render and push the audio.

        Raises:
            APIConnectionError: If both pyttsx3 and the espeak-ng fallback failed.
        """
        output_emitter.initialize(
            request_id=utils.shortuuid("espeak_"),
            sample_rate=self._espeak.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        text = self.input_text
        if len(text) > self._espeak.max_chars:
            logger.warning(
                "tts text too long, cut",
                extra={"chars": len(text), "max_chars": self._espeak.max_chars},
            )
            text = clip_text(text, self._espeak.max_chars)
        if not text.strip():  # pyttsx3 would loop forever on empty text
            return
        pcm = await self._espeak.render(text)
        if not pcm:
            pcm = np.zeros(SAMPLE_RATE // 20, dtype=np.int16).tobytes()
        output_emitter.push(pcm)
        output_emitter.flush()
