"""Offline speech-to-text: faster-whisper (Whisper base, CTranslate2) behind livekit's STT API.

This module owns:

* loading the provisioned CTranslate2 Whisper model from a local directory (never the model
  hub: the directory path is passed and ``local_files_only=True`` is set);
* turning audio (livekit frames, or any sample rate / channel count) into 16 kHz mono float32;
* the one set of transcription settings the product uses (`transcribe_pcm`), shared by the live
  pipeline (`WhisperSTT`) and the offline evaluation (`agent.voice.eval_stt`), so both measure
  the same thing;
* not inventing text for silence or noise: an energy gate and a speech gate (the Silero VAD
  model bundled in the faster-whisper wheel, about 6 ms per call) skip Whisper entirely when
  nothing was said, and Whisper's typical hallucinations ("Thank you.", "Thanks for
  watching!", word loops) are dropped from what it does return.

`WhisperSTT` is non-streaming: livekit's ``AgentSession`` wraps it in ``stt.StreamAdapter`` with
the session's VAD and calls `WhisperSTT.recognize` once per detected utterance. Word timings
and ``SpeechData.start_time``/``end_time`` are seconds from the start of the recognised buffer
(the VAD segment), not from the start of the session.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    NotGivenOr,
    stt,
    utils,
)
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, TimedString

from agent.errors import ModelLoadError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]  # no type hints

logger = logging.getLogger("mockint.agent.voice")

F32 = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
"""Sample rate Whisper expects."""

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
"""Files a CTranslate2 Whisper directory must hold (tokenizer.json avoids a hub download)."""

DISFLUENCY_PROMPT = "Umm, let me think, uh, like, you know, so I mean..."
"""Initial prompt that nudges Whisper to keep fillers, which the coaching needs to count."""

MIN_AUDIO_S = 0.2
"""Buffers shorter than this are returned as an empty transcript without running Whisper."""

MIN_PEAK_RMS = 0.003
"""RMS of the loudest 50 ms window below which a buffer counts as silence (about -50 dBFS)."""

_RMS_WINDOW_S = 0.05

SPEECH_GATE_THRESHOLD = 0.5
"""Silero speech probability above which a 32 ms window counts as speech (the speech gate)."""

MIN_SPEECH_MS = 100
"""Shortest speech run the speech gate accepts."""

TEMPERATURES = (0.0, 0.4)
"""Greedy first; one sampled retry when the greedy result looks broken (loop, low logprob).

Whisper's default ladder (0.0-1.0 in six steps) spent up to 20 s on 2 s of noise here, and
sampled outputs on noise sometimes passed the filters, so the ladder is short and segments
decoded at a temperature above 0 are filtered more strictly."""

# Segment filters (a second line of defence behind the speech gate). Measured on this model
# at temperature 0: real speech (Piper and espeak-ng voices, fillers, one-word answers) had
# avg_logprob >= -1.0 and no_speech_prob <= 0.2; hallucinations on silence and white/pink
# noise had no_speech_prob 0.4-0.62 and either avg_logprob <= -1.08 or a word loop
# (compression ratio > 2.4).
_NO_SPEECH_HIGH = 0.6
_NO_SPEECH_SOME = 0.3
_LOGPROB_LOW = -1.0
_LOGPROB_VERY_LOW = -1.5
_COMPRESSION_MAX = 2.4
_HALLUCINATION_NO_SPEECH = 0.15
_HALLUCINATION_LOGPROB = -0.6
_SAMPLED_NO_SPEECH_MAX = 0.4
_SAMPLED_LOGPROB_MIN = -0.8
_SAMPLED_COMPRESSION_MAX = 2.0

_HALLUCINATIONS = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "thank you for listening",
        "please subscribe",
        "subscribe",
        "like and subscribe",
        "bye",
        "bye bye",
        "you",
        "the end",
        "subtitles by the amara org community",
    }
)
"""Whisper's usual output on silence, dropped when the segment's scores also look unsure.

Short real answers and fillers ("yeah", "okay", "hmm") are deliberately not listed."""

_NON_WORD = re.compile(r"[^a-z0-9' ]+")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its timing.

    Attributes:
        text: The word as Whisper wrote it (punctuation attached, no leading space).
        start: Start in seconds from the beginning of the audio.
        end: End in seconds from the beginning of the audio.
        prob: Whisper's probability for the word, 0-1.
    """

    text: str
    start: float
    end: float
    prob: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """The result of transcribing one piece of audio.

    Attributes:
        text: The transcript; empty for silence, noise or too-short audio.
        words: Word timings, in order, within ``[0, duration]``.
        duration: Length of the audio in seconds.
        confidence: 0-1, from the segments' average log-probability (0 when empty).
    """

    text: str
    words: tuple[Word, ...]
    duration: float
    confidence: float = 0.0

    @property
    def is_empty(self) -> bool:
        """Whether nothing was recognised."""
        return not self.text


def check_model_dir(model_dir: Path) -> None:
    """Check that a directory holds a complete CTranslate2 Whisper model.

    Args:
        model_dir: The provisioned ``whisper-base`` directory.

    Raises:
        ModelLoadError: If the directory or one of `REQUIRED_FILES` is missing.
    """
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"Whisper model in {model_dir} is incomplete (missing {', '.join(missing)}); "
            "run 'make setup' to provision the offline models"
        )


def load_whisper_model(
    model_dir: Path, *, cpu_threads: int = 2, num_workers: int = 1
) -> WhisperModel:
    """Load the Whisper model from a local directory, int8 on CPU, without touching the network.

    Blocking (about 0.5-2 s): call it from a worker thread when an event loop is running.

    Args:
        model_dir: Directory with `REQUIRED_FILES`.
        cpu_threads: Threads CTranslate2 may use for one transcription.
        num_workers: Transcriptions that may run at once (from different threads); one
            serializes them.

    Returns:
        The loaded ``faster_whisper.WhisperModel``.

    Raises:
        ModelLoadError: If files are missing or CTranslate2 cannot load them.
    """
    check_model_dir(model_dir)
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=True,
        )
    except Exception as exc:  # CTranslate2 raises plain RuntimeError/ValueError
        raise ModelLoadError(f"cannot load the Whisper model from {model_dir}: {exc}") from exc


def to_mono_16k(samples: npt.NDArray[np.generic], sample_rate: int) -> F32:
    """Convert audio to 16 kHz mono float32 in [-1, 1].

    Uses the same resampler (livekit's soxr-based ``rtc.AudioResampler``, high quality) as the
    live pipeline.

    Args:
        samples: ``(n,)`` or ``(n, channels)`` samples, int16 or float in [-1, 1].
        sample_rate: Their sample rate in Hz.

    Returns:
        1-D float32 samples at `SAMPLE_RATE`.

    Raises:
        ValueError: For a non-positive sample rate or more than two dimensions.
    """
    if sample_rate <= 0:
        raise ValueError(f"invalid sample rate {sample_rate}")
    if samples.ndim > 2:
        raise ValueError(f"expected 1-D or 2-D audio, got shape {samples.shape}")
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(2 ** (8 * samples.dtype.itemsize - 1))
        if np.issubdtype(samples.dtype, np.unsignedinteger):  # 8-bit WAV is unsigned
            mono = (samples.astype(np.float32) - scale) / scale
        else:
            mono = samples.astype(np.float32) / scale
    else:
        mono = np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if mono.ndim == 2:
        mono = mono.mean(axis=1, dtype=np.float32)
    mono = np.clip(mono, -1.0, 1.0)
    if sample_rate == SAMPLE_RATE or mono.size == 0:
        return np.ascontiguousarray(mono, dtype=np.float32)
    pcm = (mono * 32767.0).astype(np.int16)
    resampler = rtc.AudioResampler(
        sample_rate, SAMPLE_RATE, num_channels=1, quality=rtc.AudioResamplerQuality.HIGH
    )
    frames = resampler.push(rtc.AudioFrame(pcm.tobytes(), sample_rate, 1, pcm.size))
    frames += resampler.flush()
    if not frames:
        return np.zeros(0, dtype=np.float32)
    out = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    return (out.astype(np.float32) / 32768.0).astype(np.float32)


def frames_to_mono_16k(buffer: utils.AudioBuffer) -> F32:
    """Combine livekit audio frames and convert them to 16 kHz mono float32.

    Args:
        buffer: One ``rtc.AudioFrame`` or a list of them (same rate and channel count).

    Returns:
        1-D float32 samples at `SAMPLE_RATE` (empty for an empty buffer).
    """
    if isinstance(buffer, list) and not buffer:
        return np.zeros(0, dtype=np.float32)
    frame = rtc.combine_audio_frames(buffer)
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels)
    return to_mono_16k(pcm, frame.sample_rate)


def _peak_rms(samples: F32) -> float:
    """RMS of the loudest short window (robust to silence padding around speech)."""
    win = max(1, int(_RMS_WINDOW_S * SAMPLE_RATE))
    n = samples.size // win
    if n == 0:
        if samples.size == 0:
            return 0.0
        return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    blocks = samples[: n * win].astype(np.float64).reshape(n, win)
    return float(np.sqrt(np.square(blocks).mean(axis=1).max()))


def _max_new_tokens(duration: float) -> int:
    """Token budget per 30 s window: ample for fast speech (~9 tokens/s), stops runaway loops."""
    return min(int(10 * min(duration, 30.0)) + 20, 320)


def has_speech(samples_16k: F32) -> bool:
    """Whether the Silero VAD bundled with faster-whisper finds any speech in the audio.

    If the VAD cannot run, the audio is assumed to contain speech (Whisper then decides).

    Args:
        samples_16k: 1-D float32 samples at 16 kHz.

    Returns:
        True when at least `MIN_SPEECH_MS` of speech was detected.
    """
    try:
        from faster_whisper.vad import (  # type: ignore[import-untyped]  # no type hints
            VadOptions,
            get_speech_timestamps,
        )

        chunks = get_speech_timestamps(
            samples_16k,
            VadOptions(threshold=SPEECH_GATE_THRESHOLD, min_speech_duration_ms=MIN_SPEECH_MS),
        )
    except Exception:
        logger.warning("speech gate failed; transcribing anyway", exc_info=True)
        return True
    return bool(chunks)


def _normalised(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower().replace("-", " ")).split())


def _keep_segment(
    text: str,
    avg_logprob: float,
    no_speech_prob: float,
    compression_ratio: float,
    temperature: float = 0.0,
) -> bool:
    """Whether a Whisper segment looks like real speech rather than a hallucination."""
    norm = _normalised(text)
    if not norm:
        return False
    if temperature > 0 and (
        no_speech_prob > _SAMPLED_NO_SPEECH_MAX
        or avg_logprob < _SAMPLED_LOGPROB_MIN
        or compression_ratio > _SAMPLED_COMPRESSION_MAX
    ):
        return False
    if no_speech_prob > _NO_SPEECH_HIGH and avg_logprob < -0.5:
        return False
    if avg_logprob < _LOGPROB_LOW and no_speech_prob > _NO_SPEECH_SOME:
        return False
    if avg_logprob < _LOGPROB_VERY_LOW:
        return False
    if compression_ratio > _COMPRESSION_MAX:
        return False
    unsure = no_speech_prob > _HALLUCINATION_NO_SPEECH or avg_logprob < _HALLUCINATION_LOGPROB
    return not (unsure and norm in _HALLUCINATIONS)


_PROMPT_WORDS = tuple(_normalised(w) for w in DISFLUENCY_PROMPT.split())
PROMPT_ECHO_MIN_WORDS = 5
"""A run of this many words copied in order from the initial prompt is Whisper echoing it."""
PROMPT_ECHO_KEEP = 3


def drop_prompt_echo(words: list[Word]) -> list[Word]:
    """Remove runs of words that repeat the initial prompt verbatim.

    Whisper sometimes continues its prompt instead of transcribing; a real answer practically
    never reproduces five or more of the prompt's words in the same order. The run's first few
    words stay, since a candidate may really have said them.
    """
    tokens = [_normalised(w.text) for w in words]
    drop = [False] * len(words)
    i = 0
    while i < len(tokens):
        best = 0
        for j in range(len(_PROMPT_WORDS)):
            n = 0
            while (
                i + n < len(tokens)
                and j + n < len(_PROMPT_WORDS)
                and tokens[i + n] == _PROMPT_WORDS[j + n]
            ):
                n += 1
            best = max(best, n)
        if best >= PROMPT_ECHO_MIN_WORDS:
            # Keep a short opening ("um, let me think"): people do say that much.
            for k in range(i + PROMPT_ECHO_KEEP, i + best):
                drop[k] = True
            i += best
        else:
            i += 1
    return [w for w, d in zip(words, drop, strict=True) if not d]


def _whisper_language(language: str) -> str:
    """Whisper wants a bare ISO 639-1 code ("en"), livekit may pass "en-US"."""
    return LanguageCode(language).language or "en"


def transcribe_pcm(
    model: WhisperModel,
    samples_16k: npt.NDArray[np.floating],
    *,
    language: str = "en",
    beam_size: int = 1,
) -> Transcript:
    """Transcribe 16 kHz mono audio with the product's settings. Blocking; never raises on audio.

    Settings: greedy/beam decoding with ``beam_size``, word timestamps on, Whisper's own VAD
    filter off (livekit's VAD already cut the utterance; pauses stay in the timings), no
    conditioning on previous text, a disfluency-keeping initial prompt, a short temperature
    ladder (`TEMPERATURES`) and a token budget proportional to the duration. Audio shorter
    than `MIN_AUDIO_S`, quieter than `MIN_PEAK_RMS` or without speech (`has_speech`) gives an
    empty `Transcript` without running Whisper; hallucination segments are dropped.

    Args:
        model: A model from `load_whisper_model`.
        samples_16k: 1-D float samples in [-1, 1] at 16 kHz.
        language: Language code (``"en"`` or ``"en-US"``).
        beam_size: 1 (greedy, lowest latency) or more.

    Returns:
        The transcript with word timings.
    """
    samples = np.nan_to_num(np.asarray(samples_16k, dtype=np.float32).reshape(-1))
    samples = np.clip(samples, -1.0, 1.0)
    duration = samples.size / SAMPLE_RATE
    empty = Transcript(text="", words=(), duration=duration)
    if duration < MIN_AUDIO_S or _peak_rms(samples) < MIN_PEAK_RMS or not has_speech(samples):
        return empty

    segments, _info = model.transcribe(
        samples,
        language=_whisper_language(language),
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,
        initial_prompt=DISFLUENCY_PROMPT,
        temperature=list(TEMPERATURES),
        max_new_tokens=_max_new_tokens(duration),
    )
    texts: list[str] = []
    words: list[Word] = []
    weighted_prob = 0.0
    weight = 0.0
    last_start = 0.0
    for seg in segments:  # a generator: decoding happens while iterating
        seg_text = str(seg.text).strip()
        if not _keep_segment(
            seg_text,
            float(seg.avg_logprob),
            float(seg.no_speech_prob),
            float(seg.compression_ratio),
            float(seg.temperature or 0.0),
        ):
            continue
        texts.append(seg_text)
        seg_len = max(float(seg.end) - float(seg.start), 1e-3)
        weighted_prob += math.exp(float(seg.avg_logprob)) * seg_len
        weight += seg_len
        for w in seg.words or ():
            token = str(w.word).strip()
            if not token:
                continue
            start = min(max(float(w.start), last_start, 0.0), duration)
            end = min(max(float(w.end), start), duration)
            last_start = start
            words.append(Word(text=token, start=start, end=end, prob=float(w.probability)))
    kept = drop_prompt_echo(words)
    if len(kept) != len(words):
        words = kept
        texts = [" ".join(w.text for w in kept)]
    if not texts or not "".join(texts).strip():
        return empty
    confidence = min(max(weighted_prob / weight, 0.0), 1.0) if weight else 0.0
    return Transcript(
        text=" ".join(texts), words=tuple(words), duration=duration, confidence=confidence
    )


class WhisperSTT(stt.STT[Any]):
    """livekit STT plugin running faster-whisper locally (non-streaming, word-aligned).

    The model loads once, lazily and thread-safely, on first use; `prewarm` starts loading it in
    the background and `load` loads it synchronously. Recognition runs in a worker thread.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        language: str = "en",
        cpu_threads: int = 2,
        beam_size: int = 1,
        model: WhisperModel | None = None,
        workers: int = 1,
    ) -> None:
        """Create the plugin (does not load the model).

        Args:
            model_dir: The provisioned ``whisper-base`` directory.
            language: Default recognition language.
            cpu_threads: CTranslate2 threads per transcription.
            beam_size: 1 for lowest latency; 5 gains little on this model (see module docs).
            model: An already loaded model to share (then ``model_dir`` is only a label).
            workers: Transcriptions run at once (several interviews on one server); the rest
                wait in this recogniser's own queue, not in the event loop's shared threads.
        """
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=False,
                interim_results=False,
                aligned_transcript="word",
                offline_recognize=True,
            )
        )
        self._model_dir = model_dir
        self._language = language
        self._cpu_threads = cpu_threads
        self._beam_size = beam_size
        self._whisper: WhisperModel | None = model
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="whisper")
        self._load_lock = threading.Lock()
        self._prewarm_thread: threading.Thread | None = None

    @property
    def model(self) -> str:
        """The model's name (its directory name, e.g. ``whisper-base``)."""
        return self._model_dir.name

    @property
    def provider(self) -> str:
        """The provider name used in metrics."""
        return "faster-whisper"

    @property
    def beam_size(self) -> int:
        """Beam size used for decoding."""
        return self._beam_size

    @property
    def workers(self) -> int:
        """Transcriptions run at once."""
        return self._workers

    def load(self) -> WhisperModel:
        """Load the model if needed and return it. Blocking and thread-safe.

        Returns:
            The loaded model.

        Raises:
            ModelLoadError: If the model cannot be loaded.
        """
        if self._whisper is not None:
            return self._whisper
        with self._load_lock:
            if self._whisper is None:
                self._whisper = load_whisper_model(
                    self._model_dir, cpu_threads=self._cpu_threads, num_workers=self._workers
                )
                logger.info("whisper model loaded", extra={"model": self.model})
            return self._whisper

    def prewarm(self) -> None:
        """Start loading the model in a background thread and return at once.

        livekit calls this synchronously on the event loop when a session starts, so it must
        not block. Errors are logged here and raised again on first recognition.
        """
        if self._whisper is not None or self._prewarm_thread is not None:
            return

        def _load() -> None:
            try:
                self.load()
            except Exception:
                logger.exception("whisper prewarm failed")

        self._prewarm_thread = threading.Thread(target=_load, name="whisper-prewarm", daemon=True)
        self._prewarm_thread.start()

    def _transcribe_buffer(
        self, model: WhisperModel, buffer: utils.AudioBuffer, language: str
    ) -> Transcript:
        """Convert and transcribe (runs in a worker thread)."""
        samples = frames_to_mono_16k(buffer)
        return transcribe_pcm(model, samples, language=language, beam_size=self._beam_size)

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        """Transcribe one utterance in a worker thread.

        ``conn_options.timeout`` is not enforced: local decoding of a long utterance (up to the
        VAD's 60 s) may take longer than a network timeout and cannot be cancelled midway.
        """
        del conn_options  # no network, no retries: see above
        lang = language if isinstance(language, str) else self._language
        try:
            model = await asyncio.to_thread(self.load)
        except ModelLoadError as exc:
            raise APIConnectionError(str(exc), retryable=False) from exc
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._transcribe_buffer, model, buffer, lang
        )
        words = [
            TimedString(w.text, start_time=w.start, end_time=w.end, confidence=w.prob)
            for w in result.words
        ]
        data = stt.SpeechData(
            language=LanguageCode(lang),
            text=result.text,
            start_time=result.words[0].start if result.words else 0.0,
            end_time=result.words[-1].end if result.words else 0.0,
            confidence=result.confidence,
            words=words or None,
        )
        logger.debug(
            "whisper recognised an utterance",
            extra={
                "audio_s": round(result.duration, 3),
                "n_words": len(result.words),
                "pii.transcript": result.text,
            },
        )
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("whisper_"),
            alternatives=[data],
        )
