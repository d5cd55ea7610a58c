"""Offline neural text-to-speech: a Piper voice (ONNX) behind livekit's TTS API.

This module owns loading one Piper voice once (lazily, thread-safely), synthesising text in a
worker thread sentence by sentence, and pushing each sentence's 16-bit PCM to livekit's
``AudioEmitter`` as soon as it is ready, so the first audio plays before the whole reply is
rendered. Input text is length-limited. No audio is written to disk.

`PiperTTS` is non-streaming; ``AgentSession`` wraps it in ``tts.StreamAdapter``, which splits
the LLM's reply into sentences and calls `PiperTTS.synthesize` per sentence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    tts,
    utils,
)

from agent.errors import ModelLoadError

if TYPE_CHECKING:
    from piper import AudioChunk, PiperVoice

logger = logging.getLogger("mockint.agent.voice")

MAX_CHARS = 1000
"""Longest text synthesised in one request; longer text is cut at a word boundary."""

_SILENCE_S = 0.05
# Piper's espeak phonemiser is a process-wide C library: synthesise one text at a time.
_SYNTH_LOCK = threading.Lock()


def clip_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """Limit text to ``max_chars``, cutting at the last space before the limit when possible.

    Args:
        text: Text to speak.
        max_chars: Maximum length.

    Returns:
        The text, unchanged when short enough.
    """
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars // 2 else cut


def _quiet_piper_logging() -> None:
    """Piper logs the input text at DEBUG ("text=..."): keep its logger at INFO or above."""
    piper_logger = logging.getLogger("piper")
    if piper_logger.getEffectiveLevel() < logging.INFO:
        piper_logger.setLevel(logging.INFO)


def read_voice_sample_rate(config_path: Path) -> int:
    """Read a Piper voice's output sample rate from its ``.onnx.json`` config.

    Args:
        config_path: The voice config.

    Returns:
        The sample rate in Hz (22050 for ``en_US-joe-medium``).

    Raises:
        ModelLoadError: If the file is missing or malformed.
    """
    try:
        cfg = json.loads(config_path.read_text(encoding="utf-8"))
        return int(cfg["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot read Piper voice config {config_path}: {exc}") from exc


def find_voice(voice_dir: Path) -> tuple[Path, Path] | None:
    """Find the ``.onnx`` model and its ``.onnx.json`` config in a voice directory.

    Args:
        voice_dir: E.g. the provisioned ``piper-joe`` directory.

    Returns:
        ``(model_path, config_path)``, or None when no complete voice is there.
    """
    if not voice_dir.is_dir():
        return None
    for onnx in sorted(voice_dir.glob("*.onnx")):
        config = onnx.with_name(onnx.name + ".json")
        if onnx.is_file() and config.is_file():
            return onnx, config
    return None


class PiperTTS(tts.TTS[Any]):
    """livekit TTS plugin running a Piper voice locally (non-streaming, 16-bit mono PCM)."""

    def __init__(
        self,
        model_path: Path,
        config_path: Path | None = None,
        *,
        max_chars: int = MAX_CHARS,
        length_scale: float | None = None,
        deterministic: bool = False,
    ) -> None:
        """Create the plugin; reads the config but does not load the ONNX model yet.

        Args:
            model_path: The voice's ``.onnx`` file.
            config_path: Its ``.onnx.json`` (default: next to the model).
            max_chars: Longest text per request (longer text is cut, with a warning).
            length_scale: Speaking rate (<1 faster, >1 slower); None keeps the voice's own.
            deterministic: Switch off Piper's sampling noise so the same text always gives the
                same audio (flatter prosody; for tests and scripted candidates).

        Raises:
            ModelLoadError: If the model or config is missing or unreadable.
        """
        config = config_path or model_path.with_name(model_path.name + ".json")
        if not model_path.is_file():
            raise ModelLoadError(f"Piper voice model {model_path} is missing")
        sample_rate = read_voice_sample_rate(config)
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        _quiet_piper_logging()
        self._model_path = model_path
        self._config_path = config
        self._max_chars = max_chars
        self._length_scale = length_scale
        self._noise = 0.0 if deterministic else None
        self._voice: PiperVoice | None = None
        self._load_lock = threading.Lock()
        self._prewarm_thread: threading.Thread | None = None

    @classmethod
    def from_dir(cls, voice_dir: Path, **kwargs: Any) -> PiperTTS:
        """Create the plugin from a voice directory (see `find_voice`).

        Args:
            voice_dir: Directory with ``<voice>.onnx`` and ``<voice>.onnx.json``.
            **kwargs: Passed to the constructor (``max_chars``, ``length_scale``,
                ``deterministic``).

        Returns:
            The plugin.

        Raises:
            ModelLoadError: If no complete voice is in the directory.
        """
        found = find_voice(voice_dir)
        if found is None:
            raise ModelLoadError(f"no Piper voice (.onnx + .onnx.json) in {voice_dir}")
        return cls(found[0], found[1], **kwargs)

    @property
    def model(self) -> str:
        """The voice name, e.g. ``en_US-joe-medium``."""
        return self._model_path.stem

    @property
    def provider(self) -> str:
        """The provider name used in metrics."""
        return "piper"

    @property
    def max_chars(self) -> int:
        """Longest text synthesised per request."""
        return self._max_chars

    def load(self) -> PiperVoice:
        """Load the voice if needed and return it. Blocking (about 0.5 s) and thread-safe.

        Returns:
            The loaded Piper voice.

        Raises:
            ModelLoadError: If onnxruntime cannot load the model.
        """
        if self._voice is not None:
            return self._voice
        with self._load_lock:
            if self._voice is None:
                from piper import PiperVoice

                try:
                    self._voice = PiperVoice.load(
                        str(self._model_path), config_path=str(self._config_path)
                    )
                except Exception as exc:  # onnxruntime raises its own exception types
                    raise ModelLoadError(
                        f"cannot load Piper voice {self._model_path}: {exc}"
                    ) from exc
                logger.info("piper voice loaded", extra={"voice": self.model})
            return self._voice

    def prewarm(self) -> None:
        """Start loading the voice in a background thread and return at once.

        livekit calls this on the event loop when a session starts, so it must not block.
        """
        if self._voice is not None or self._prewarm_thread is not None:
            return

        def _load() -> None:
            try:
                self.load()
            except Exception:
                logger.exception("piper prewarm failed")

        self._prewarm_thread = threading.Thread(target=_load, name="piper-prewarm", daemon=True)
        self._prewarm_thread.start()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        """Synthesise ``text``; iterate the stream (or ``await .collect()``) for audio frames.

        Args:
            text: Text to speak (cut to `max_chars`).
            conn_options: livekit retry options (retries are pointless locally; errors are
                raised as non-retryable).

        Returns:
            The chunked stream.
        """
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def _sentences(self, text: str) -> Iterator[AudioChunk]:
        """Piper's per-sentence generator (call its ``next`` only via `_next_pcm`)."""
        from piper import SynthesisConfig

        voice = self.load()
        config = SynthesisConfig(
            length_scale=self._length_scale, noise_scale=self._noise, noise_w_scale=self._noise
        )
        return iter(voice.synthesize(text, config))

    @staticmethod
    def _next_pcm(chunks: Iterator[AudioChunk]) -> bytes | None:
        """Render the next sentence (blocking, serialised); None when done."""
        with _SYNTH_LOCK:
            chunk = next(chunks, None)
        return None if chunk is None else chunk.audio_int16_bytes


class PiperChunkedStream(tts.ChunkedStream):
    """One synthesis request: pushes audio sentence by sentence as Piper renders it."""

    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        """Synthesise in a worker thread and push 16-bit PCM chunks as they are ready.

        Raises:
            APIConnectionError: If the voice cannot be loaded or synthesis fails
                (non-retryable; the message never contains the text).
        """
        output_emitter.initialize(
            request_id=utils.shortuuid("piper_"),
            sample_rate=self._piper.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        text = self.input_text
        if len(text) > self._piper.max_chars:
            logger.warning(
                "tts text too long, cut",
                extra={"chars": len(text), "max_chars": self._piper.max_chars},
            )
            text = clip_text(text, self._piper.max_chars)
        if not text.strip():
            return
        try:
            chunks = await asyncio.to_thread(self._piper._sentences, text)
            pushed = False
            while (pcm := await asyncio.to_thread(PiperTTS._next_pcm, chunks)) is not None:
                if pcm:
                    output_emitter.push(pcm)
                    pushed = True
        except ModelLoadError as exc:
            raise APIConnectionError(str(exc), retryable=False) from exc
        except Exception as exc:
            raise APIConnectionError(
                f"piper synthesis failed ({type(exc).__name__})", retryable=False
            ) from exc
        if not pushed:
            # Text with nothing speakable (e.g. "..."): livekit treats a request that pushed
            # no audio as an error whose message quotes the text, so push a moment of silence.
            n = int(self._piper.sample_rate * _SILENCE_S)
            output_emitter.push(np.zeros(n, dtype=np.int16).tobytes())
        output_emitter.flush()
