"""Speech fluency of one answer, from its audio and its word timings (a pure, synchronous core).

This module owns the delivery measures of a single spoken answer:

* speaking rate and articulation rate (words per minute), and the pace relative to a band;
* pauses between words: word timings are the primary source, the audio energy confirms them and
  adds the silent stretches that Whisper hides by stretching a word over a silence;
* fillers ("um", "uh", ...) and filler phrases ("you know", "I mean", "like", "kind of"), the
  phrases only when they are used as fillers, conservatively;
* repetitions and stammers ("the the", "I think I think", "b-b-but", "th- the");
* voice measures from the audio: pitch median and variability (YIN), loudness variation,
  clipping and an SNR estimate;
* the events of all of the above, for the interview timeline.

It works on numpy arrays and plain word timings only: no I/O, no clock, no model files, no
knowledge of the agent. "not_measured" (with a reason) is kept apart from low values: an answer
with too little speech still gets its counts, but no rates. Invalid arguments raise
`ValueError`; anything a microphone can produce (silence, clipping, noise, NaN, odd lengths) is
measured or reported as not measured, never raised.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import librosa
import numpy as np
import numpy.typing as npt

logger = logging.getLogger("mockint.perception")

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

EventKind = Literal["pause", "long_pause", "filler", "repetition"]
Pace = Literal["slow", "ok", "fast"]

ANALYSIS_RATE = 16_000
"""Audio is resampled to this rate (soxr, quick quality) before analysis."""

HOP = 512
"""Analysis hop in samples at `ANALYSIS_RATE` (32 ms): energy frames and pitch frames share it."""

ENERGY_FRAME = 512
"""Window of the energy/flatness frames (32 ms, centred on the hop grid)."""

YIN_FRAME = 2048
"""YIN window (128 ms, centred on the hop grid)."""

FMIN_HZ = 65.0
FMAX_HZ = 400.0

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8

MIN_AUDIO_S = 0.3
"""Audio shorter than this gives no audio measures (clipping is still counted)."""

MIN_VOICED_S = 0.5
"""Pitch and loudness variation need at least this much voiced audio."""

MIN_WORDS = 5
MIN_SPEECH_S = 3.0
"""Fewer words or less speaking time than this: status "not_measured", "too little speech"."""

SILENCE_DB = -55.0
"""Audio whose loudest sustained 64 ms stays below this level (dBFS) is silent."""

DB_FLOOR = -100.0
"""Frame levels are floored here, so digital silence stays finite."""

SPEECH_OVER_NOISE_DB = 6.0
SPEECH_BELOW_PEAK_DB = 35.0
"""A frame is speech when it is this far above the noise floor and within this of the peak."""

RECORDED_QUIET_DB = 25.0
"""Recorded frames this far below the peak count as the microphone's own quiet stretches."""

NOISE_PERCENTILE = 10.0
"""The noise floor is this percentile of the frame levels (digital silence left out)."""

FLATNESS_MAX = 0.3
"""Frames with a flatter spectrum than this (noise, fricatives) are not voiced."""

OCTAVE_GUARD_ST = 12.0
"""Pitch frames further than this from the median (octave errors of YIN) are left out."""

CLIP_LEVEL = 0.99
"""Samples at or above this fraction of full scale count as clipped."""

MAX_TIME_S = 1e6
"""Word times are clamped into [0, MAX_TIME_S] seconds."""

_YIN_CHUNK_FRAMES = 1024
"""YIN runs over chunks of this many frames (about 33 s) to bound its memory."""

_MERGE_TOL_S = HOP / ANALYSIS_RATE
_BLOCK_NEAR_S = 0.3

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_FILLER_RE = re.compile(r"(?:u+h*m+|u+h+|e+r+m*|a+h+|h+m+|m+h+m+|m{2,})")
_BREAK_CHARS = frozenset(",;:\u2026\u2014\u2013")
_SENTENCE_END_CHARS = frozenset(".?!")

_DOUBLE_OK = frozenset(
    {"that", "had", "very", "really", "no", "bye", "yeah", "yes", "ha", "far", "many", "so"}
)
"""Words that are commonly doubled on purpose ("that that", "very very", "so-so")."""

_HYPHEN_WORDS = frozenset({"t-test", "t-tests"})
"""Hyphenated words that look like a stammer but are not."""

_PREFIXES = frozenset({"re", "de", "co", "pre", "pro", "un", "non", "sub", "bi", "ex", "in", "mis"})
"""Word prefixes that make "re-read" a word, not a stammer."""

_PHRASE_BLOCK_PREV = frozenset(
    {"do", "does", "did", "don't", "doesn't", "didn't", "if", "what", "whether", "to", "that"}
    | {"will", "would", "can", "could", "you", "we", "they", "i"}
)
"""Before "you know"/"I mean", these make the phrase literal ("do you know", "what I mean")."""

_DETERMINERS = frozenset(
    {"a", "an", "the", "what", "this", "that", "these", "those", "some", "any", "which", "every"}
    | {"each", "no", "one", "same", "different", "another", "other", "certain", "particular"}
    | {"whatever", "my", "your", "our", "their", "his", "her", "its", "all"}
)
"""Before "kind of"/"sort of", these make the phrase literal ("a kind of cache")."""

_LIKE_BLOCK_PREV = frozenset(
    {"i", "you", "we", "they", "he", "she", "it", "people", "would", "i'd", "you'd", "we'd"}
    | {"they'd", "he'd", "she'd", "do", "does", "did", "don't", "doesn't", "didn't", "not"}
    | {"really", "just", "also", "look", "looks", "looked", "looking", "seem", "seems"}
    | {"seemed", "sound", "sounds", "sounded", "feel", "feels", "felt", "feeling", "something"}
    | {"anything", "nothing", "things", "stuff", "more", "much", "exactly", "what", "would've"}
)
"""Before "like", these make it a verb or a comparison ("I like", "looks like")."""


@dataclass(frozen=True, slots=True)
class TimedWord:
    """A recognised word.

    Attributes:
        text: The word as recognised; punctuation may be attached ("Um," "like,").
        start: Start in seconds on the caller's clock (relative to the start of the audio).
        end: End in seconds on the same clock.
    """

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class FluencyEvent:
    """One fluency event, for the interview timeline.

    Attributes:
        kind: What happened.
        start: Start in seconds on the interview's clock (``offset_s`` applied).
        end: End in seconds on the interview's clock.
        detail: The filler or repeated words ("um", "the the"), or a pause length ("1.8 s").
        penalise: False when the event must not count against the candidate (repetitions and
            the pauses next to them when `FluencySettings.stutter_aware` is set).
    """

    kind: EventKind
    start: float
    end: float
    detail: str
    penalise: bool = True

    def to_dict(self) -> dict[str, object]:
        """The event as a JSON-ready dict."""
        return {
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "detail": self.detail,
            "penalise": self.penalise,
        }


@dataclass(frozen=True, slots=True)
class FluencySettings:
    """Thresholds for the fluency measures.

    Attributes:
        pause_min_s: A gap between words at least this long counts as a pause.
        long_pause_s: A pause at least this long counts as a long pause.
        stutter_aware: Repetitions, stammers and the pauses next to them (blocks) are still
            reported, but flagged not to be penalised.
        pace_band_wpm: The comfortable speaking-rate band (low, high) in words per minute; the
            caller picks it (a non-native speaker's band is wider).

    Raises:
        ValueError: On construction, for non-positive, non-finite or inverted thresholds.
    """

    pause_min_s: float = 0.25
    long_pause_s: float = 2.0
    stutter_aware: bool = False
    pace_band_wpm: tuple[float, float] = (110.0, 170.0)

    def __post_init__(self) -> None:
        if not (_is_real(self.pause_min_s) and 0.0 < self.pause_min_s < math.inf):
            raise ValueError(f"pause_min_s must be a positive number, got {self.pause_min_s!r}")
        if not (_is_real(self.long_pause_s) and self.pause_min_s <= self.long_pause_s < math.inf):
            raise ValueError(
                f"long_pause_s must be finite and >= pause_min_s, got {self.long_pause_s!r}"
            )
        band = self.pace_band_wpm
        if not (
            isinstance(band, tuple)
            and len(band) == 2
            and all(_is_real(v) and math.isfinite(v) for v in band)
            and 0.0 < band[0] < band[1]
        ):
            raise ValueError(f"pace_band_wpm must be (low, high) with 0 < low < high, got {band!r}")


@dataclass(frozen=True, slots=True)
class FluencyReport:
    """Fluency measures of one answer.

    Every float is finite or None; None means "not measured", never "zero".

    Attributes:
        status: "ok", or "not_measured" when the rates could not be measured.
        reason: Why not measured: "silent", "no words" or "too little speech"; None when ok.
        duration_s: Length of the audio (of the word span's end when no audio was given).
        speech_s: Speaking time: first word start to last word end, minus pauses.
        n_words: Recognised words (fillers included).
        wpm: Words per minute over first word start to last word end.
        articulation_wpm: Words per minute over the speaking time (pauses left out).
        pause_count: Pauses (long ones included).
        pause_total_s: Their total length.
        long_pauses: Pauses of at least `FluencySettings.long_pause_s`.
        filler_count: Fillers and filler phrases.
        fillers_per_min: Fillers per minute of the word span.
        repetition_count: Repetitions and stammers (a run such as "I I I" counts once).
        pitch_median_hz: Median f0 of the voiced frames.
        pitch_variability_st: Standard deviation of the voiced f0 in semitones.
        loudness_variation_db: Standard deviation of the voiced frames' level in dB.
        clipped_fraction: Fraction of samples at or above `CLIP_LEVEL` of full scale.
        snr_db: Speech level over the noise floor (over digital silence, -100 dBFS, when the
            pauses are exact zeros); None without enough speech or pauses.
        pace: The speaking rate relative to the pace band.
        events: Pauses, fillers and repetitions in time order, on the interview's clock.
        stutter_aware: Whether repetitions were flagged not to be penalised.
    """

    status: Literal["ok", "not_measured"]
    reason: str | None
    duration_s: float
    speech_s: float
    n_words: int
    wpm: float | None
    articulation_wpm: float | None
    pause_count: int
    pause_total_s: float
    long_pauses: int
    filler_count: int
    fillers_per_min: float | None
    repetition_count: int
    pitch_median_hz: float | None
    pitch_variability_st: float | None
    loudness_variation_db: float | None
    clipped_fraction: float
    snr_db: float | None
    pace: Pace | None
    events: tuple[FluencyEvent, ...]
    stutter_aware: bool = False

    def to_dict(self) -> dict[str, object]:
        """The report as a JSON-ready dict (events as a list of dicts)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["events"] = [e.to_dict() for e in self.events]
        return out


# --- audio: preprocess --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Audio:
    """Frame features of the answer's audio on the `HOP` grid (frame i centred at i * HOP)."""

    duration_s: float
    clipped_fraction: float
    measurable: bool
    silent: bool
    db: F64
    speech: Mask
    voiced: Mask
    f0: F64
    snr_db: float | None

    @property
    def hop_s(self) -> float:
        return HOP / ANALYSIS_RATE

    def frames_between(self, start: float, end: float) -> slice:
        """Frames whose centres lie in [start, end]."""
        first = max(0, math.ceil(start / self.hop_s))
        last = min(self.db.size, math.floor(end / self.hop_s) + 1)
        return slice(first, max(first, last))


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_sample_rate(sample_rate: object) -> int:
    if not isinstance(sample_rate, numbers.Integral) or isinstance(sample_rate, bool):
        raise ValueError(f"sample_rate must be an int, got {type(sample_rate).__name__}")
    rate = int(sample_rate)
    if rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {rate}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return rate


def _mono_float(audio: object) -> tuple[F32, float]:
    """Validate the audio and convert it to mono float32 in [-1, 1].

    Args:
        audio: ``(n,)``, ``(n, channels)`` or ``(channels, n)`` samples; integer PCM or float
            in [-1, 1].

    Returns:
        The mono samples (non-finite values replaced by 0) and the clipped fraction.

    Raises:
        ValueError: For a non-array, an unsupported dtype or shape.
    """
    if not isinstance(audio, np.ndarray):
        raise ValueError(f"audio must be a numpy array or None, got {type(audio).__name__}")
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D or 2-D (samples, channels), got shape {audio.shape}")
    if audio.ndim == 2:
        if not 1 <= audio.shape[1] <= MAX_CHANNELS:
            if 1 <= audio.shape[0] <= MAX_CHANNELS:
                audio = audio.T  # (channels, n), librosa's layout
            else:
                raise ValueError(
                    f"audio must be (samples, channels) with 1-{MAX_CHANNELS} channels, "
                    f"got shape {audio.shape}"
                )
    kind = audio.dtype.kind
    if kind == "f":
        finite = np.isfinite(audio)
        bad = audio.size - int(np.count_nonzero(finite))
        if bad:
            logger.warning("non-finite audio samples replaced by 0", extra={"count": bad})
            audio = np.where(finite, audio, 0.0)
        clipped = int(np.count_nonzero(np.abs(audio) >= CLIP_LEVEL))  # before the float32 cast
        samples = np.clip(audio, -1.0, 1.0).astype(np.float32)
    elif kind in "iu":
        half = np.float32(2 ** (8 * audio.dtype.itemsize - 1))
        samples = audio.astype(np.float32)
        samples = (samples - half) / half if kind == "u" else samples / half  # 8-bit is unsigned
        clipped = int(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL))
    else:
        raise ValueError(f"audio must hold integer or float samples, got dtype {audio.dtype}")
    clipped_fraction = clipped / audio.size if audio.size else 0.0
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32), clipped_fraction


def _resample(samples: F32, sample_rate: int) -> F32:
    """Resample to `ANALYSIS_RATE` with soxr's quick quality (cheap, fine for f0 < 400 Hz)."""
    if sample_rate == ANALYSIS_RATE or samples.size < 2:
        return samples
    out = librosa.resample(
        samples, orig_sr=sample_rate, target_sr=ANALYSIS_RATE, res_type="soxr_qq"
    )
    return np.ascontiguousarray(out, dtype=np.float32)


def _frame_levels(x: F32) -> tuple[F64, F64]:
    """Per-frame level (dBFS, floored at `DB_FLOOR`) and spectral flatness on the `HOP` grid."""
    n_frames = 1 + x.size // HOP
    half = ENERGY_FRAME // 2
    padded = np.pad(x, (half, half))
    frames = padded[: n_frames * HOP].reshape(n_frames, ENERGY_FRAME)  # HOP == ENERGY_FRAME
    window = np.hanning(ENERGY_FRAME).astype(np.float32)
    db = np.empty(n_frames)
    flatness = np.empty(n_frames)
    for first in range(0, n_frames, 4096):  # bounded temporaries for long answers
        chunk = frames[first : first + 4096].astype(np.float64)
        power = np.mean(chunk**2, axis=1)
        db[first : first + chunk.shape[0]] = 10.0 * np.log10(
            np.maximum(power, 10 ** (DB_FLOOR / 10))
        )
        spec = np.abs(np.fft.rfft(chunk * window, axis=1)) ** 2 + 1e-12
        geo = np.exp(np.mean(np.log(spec), axis=1))
        flatness[first : first + chunk.shape[0]] = geo / np.mean(spec, axis=1)
    return db, flatness


def _yin(x: F32, wanted: Mask) -> F64:
    """YIN f0 per frame on the `HOP` grid; NaN for chunks without any wanted frame."""
    n_frames = wanted.size
    f0 = np.full(n_frames, np.nan)
    half = YIN_FRAME // 2
    padded = np.pad(x, (half, half))
    for first in range(0, n_frames, _YIN_CHUNK_FRAMES):
        last = min(n_frames, first + _YIN_CHUNK_FRAMES)
        if not wanted[first:last].any():
            continue
        segment = padded[first * HOP : (last - 1) * HOP + YIN_FRAME]
        track = librosa.yin(
            segment,
            fmin=FMIN_HZ,
            fmax=FMAX_HZ,
            sr=ANALYSIS_RATE,
            frame_length=YIN_FRAME,
            hop_length=HOP,
            center=False,
        )
        f0[first:last] = track[: last - first]
    return f0


def _analyse_audio(audio: object, sample_rate: int) -> _Audio:
    """Preprocess the audio and compute its frame features."""
    mono, clipped_fraction = _mono_float(audio)
    duration = mono.size / sample_rate
    empty = np.zeros(0)
    none = np.zeros(0, dtype=bool)
    if duration < MIN_AUDIO_S:
        level = float(np.mean(np.square(mono, dtype=np.float64))) if mono.size else 0.0
        silent = 10.0 * math.log10(max(level, 10 ** (DB_FLOOR / 10))) < SILENCE_DB
        return _Audio(duration, clipped_fraction, False, silent, empty, none, none, empty, None)
    x = _resample(mono, sample_rate)
    db, flatness = _frame_levels(x)
    sustained = np.minimum(db[:-1], db[1:]) if db.size > 1 else db
    peak_db = float(sustained.max())
    # Digital silence (zeros padding a gap between recorded pieces) says nothing about the
    # microphone's noise: the recorded frames give the noise floor when they have quiet
    # stretches of their own (otherwise they are all signal, as in synthetic audio).
    digital = db <= DB_FLOOR + 0.5
    recorded = db[~digital]
    noise_db = float(np.percentile(db, NOISE_PERCENTILE))
    if digital.any() and recorded.size >= max(3, 0.1 * db.size):
        recorded_floor = float(np.percentile(recorded, NOISE_PERCENTILE))
        if recorded_floor <= peak_db - RECORDED_QUIET_DB:
            noise_db = recorded_floor
    threshold = max(noise_db + SPEECH_OVER_NOISE_DB, peak_db - SPEECH_BELOW_PEAK_DB, SILENCE_DB)
    threshold = min(threshold, peak_db - 3.0)  # a steady level with no pauses is all speech
    silent = peak_db < SILENCE_DB
    speech = (db >= threshold) & (not silent)
    f0 = _yin(x, speech)
    with np.errstate(invalid="ignore"):
        voiced = (
            speech
            & (flatness < FLATNESS_MAX)
            & np.isfinite(f0)
            & (f0 > FMIN_HZ * 1.02)
            & (f0 < FMAX_HZ * 0.98)
        )
    snr: float | None = None
    if speech.any() and np.count_nonzero(~speech) >= max(5, 0.1 * speech.size):
        speech_db = 10.0 * math.log10(float(np.mean(10.0 ** (db[speech] / 10.0))))
        heard_noise = np.count_nonzero(~speech & ~digital) >= 5
        snr = speech_db - (noise_db if heard_noise else DB_FLOOR)
    return _Audio(duration, clipped_fraction, True, silent, db, speech, voiced, f0, snr)


def _voice_measures(audio: _Audio) -> tuple[float | None, float | None, float | None]:
    """Pitch median (Hz), pitch variability (semitones) and loudness variation (dB)."""
    if not audio.measurable or np.count_nonzero(audio.voiced) * audio.hop_s < MIN_VOICED_S:
        return None, None, None
    f0 = audio.f0[audio.voiced]
    median = float(np.median(f0))
    semitones = 12.0 * np.log2(f0 / median)
    kept = semitones[np.abs(semitones) <= OCTAVE_GUARD_ST]
    loudness = float(np.std(audio.db[audio.voiced]))
    return median, float(np.std(kept)), loudness


# --- words: preprocess --------------------------------------------------------------------------


@dataclass(slots=True)
class _Token:
    """One normalised word: lower-case core without surrounding punctuation."""

    core: str
    start: float
    end: float
    trail: str


def _split_punct(text: str) -> tuple[str, str]:
    """Split a lower-cased word into its core (first to last alphanumeric) and trailing text."""
    first = next((i for i, c in enumerate(text) if c.isalnum()), None)
    if first is None:
        return "", text
    last = next(i for i in range(len(text) - 1, -1, -1) if text[i].isalnum())
    return text[first : last + 1], text[last + 1 :]


def _time(value: object, what: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"word {what} must be a number, got {type(value).__name__}")
    return float(value)


def _tokens(words: Sequence[TimedWord]) -> list[_Token]:
    """Validate and normalise the words: split, strip punctuation, clamp and sort the times.

    Words with non-finite times are dropped; reversed times are swapped; punctuation-only words
    are attached to the word before them.

    Raises:
        ValueError: If ``words`` is not a sequence of objects with ``text``, ``start``, ``end``.
    """
    if isinstance(words, str | bytes) or not isinstance(words, Sequence):
        raise ValueError(f"words must be a sequence of TimedWord, got {type(words).__name__}")
    tokens: list[_Token] = []
    dropped = 0
    for word in words:
        text = getattr(word, "text", None)
        if not isinstance(text, str):
            raise ValueError(f"word text must be a str, got {type(text).__name__}")
        start = _time(getattr(word, "start", None), "start")
        end = _time(getattr(word, "end", None), "end")
        if not (math.isfinite(start) and math.isfinite(end)):
            dropped += 1
            continue
        start, end = sorted((min(max(start, 0.0), MAX_TIME_S), min(max(end, 0.0), MAX_TIME_S)))
        parts = text.translate(_APOSTROPHES).lower().split()
        step = (end - start) / len(parts) if parts else 0.0
        for k, part in enumerate(parts):
            core, trail = _split_punct(part)
            if core:
                tokens.append(_Token(core, start + k * step, start + (k + 1) * step, trail))
            elif tokens:
                tokens[-1].trail += part
    if dropped:
        logger.warning("words with non-finite times dropped", extra={"count": dropped})
    tokens.sort(key=lambda t: (t.start, t.end))
    return tokens


# --- pauses -------------------------------------------------------------------------------------


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + _MERGE_TOL_S:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _silent_runs(audio: _Audio, lo: float, hi: float, min_s: float) -> list[tuple[float, float]]:
    """Runs of non-speech frames inside [lo, hi] lasting at least ``min_s``."""
    quiet = np.concatenate(([0], (~audio.speech).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(quiet))
    runs: list[tuple[float, float]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):  # frames a .. b-1 are quiet
        start = max(lo, (float(a) - 0.5) * audio.hop_s)
        end = min(hi, audio.duration_s, (float(b) - 0.5) * audio.hop_s)
        if end - start >= min_s:
            runs.append((start, end))
    return runs


def _pauses(
    tokens: list[_Token], audio: _Audio | None, settings: FluencySettings
) -> list[tuple[float, float]]:
    """Pauses inside the word span: word gaps (confirmed by the audio) plus silent stretches."""
    min_s = settings.pause_min_s
    gaps: list[tuple[float, float]] = []
    reach = tokens[0].end
    for token in tokens[1:]:
        if token.start - reach >= min_s:
            gaps.append((reach, token.start))
        reach = max(reach, token.end)
    lo, hi = tokens[0].start, reach
    if audio is None or not audio.measurable or audio.silent:
        return gaps
    in_span = audio.speech[audio.frames_between(lo, hi)]
    if in_span.size < 3 or float(np.mean(in_span)) < 0.2:
        return gaps  # the audio does not match the words; trust the words
    # A word gap stands unless the audio shows voice through most of it (a word the recogniser
    # left out); noise or unvoiced sounds in a gap do not cancel it.
    candidates: list[tuple[float, float]] = []
    for start, end in gaps:
        frames = audio.voiced[audio.frames_between(start, end)]
        if frames.size == 0 or float(np.mean(frames)) < 0.5:
            candidates.append((start, end))
    candidates += _silent_runs(audio, lo, hi, min_s)
    return [(a, b) for a, b in _merge(candidates) if b - a >= min_s]


def _pause_after(
    tokens: list[_Token], i: int, pauses: list[tuple[float, float]], min_s: float
) -> bool:
    """Whether a pause follows token ``i`` before the next token (timings or audio)."""
    if i + 1 >= len(tokens):
        return False
    here, after = tokens[i], tokens[i + 1]
    if after.start - here.end >= min_s:
        return True
    return any(here.start < a <= after.start + 0.1 and b - a >= min_s for a, b in pauses)


# --- fillers and repetitions --------------------------------------------------------------------


def _is_filler_word(core: str) -> bool:
    return all(_FILLER_RE.fullmatch(part) for part in core.split("-"))


def _has_break(trail: str) -> bool:
    return any(c in _BREAK_CHARS for c in trail) or "..." in trail or "--" in trail


def _boundary_before(tokens: list[_Token], i: int) -> bool:
    if i == 0:
        return True
    trail = tokens[i - 1].trail
    return _has_break(trail) or any(c in _SENTENCE_END_CHARS for c in trail)


def _fillers(
    tokens: list[_Token], pauses: list[tuple[float, float]], min_s: float
) -> list[tuple[int, int, str]]:
    """Fillers as (first token, last token, normalised text); phrases only when fillers."""
    found: list[tuple[int, int, str]] = []
    i = 0
    n = len(tokens)
    while i < n:
        core = tokens[i].core
        prev = tokens[i - 1].core if i else ""
        nxt = tokens[i + 1].core if i + 1 < n else ""
        if _is_filler_word(core):
            found.append((i, i, core))
        elif (core, nxt) in {("you", "know"), ("i", "mean")} and (
            prev not in _PHRASE_BLOCK_PREV or _boundary_before(tokens, i)
        ):
            if _has_break(tokens[i + 1].trail) or _pause_after(tokens, i + 1, pauses, min_s):
                found.append((i, i + 1, f"{core} {nxt}"))
                i += 2
                continue
        elif (
            core in {"kind", "sort"}
            and nxt == "of"
            and (prev not in _DETERMINERS or _boundary_before(tokens, i))
        ):
            if _has_break(tokens[i + 1].trail) or _pause_after(tokens, i + 1, pauses, min_s):
                found.append((i, i + 1, f"{core} of"))
                i += 2
                continue
        elif core == "like":
            framed = _boundary_before(tokens, i) and _has_break(tokens[i].trail)
            paused = prev not in _LIKE_BLOCK_PREV and _pause_after(tokens, i, pauses, min_s)
            if framed or paused:
                found.append((i, i, "like"))
        i += 1
    return found


def _is_stammer_word(core: str) -> bool:
    """Whether one hyphenated word is a stammer: "b-b-but", "th-the", "I-I" (not "re-read")."""
    parts = core.split("-")
    if len(parts) < 2 or not all(parts) or core in _HYPHEN_WORDS:
        return False
    *heads, last = parts
    if all(h == last for h in heads):
        return last not in _DOUBLE_OK
    if len(heads) == 1 and heads[0] in _PREFIXES:
        return False
    return all(h == last or (len(h) <= 3 and last.startswith(h)) for h in heads)


def _repeats(first: _Token, second: _Token) -> bool:
    if first.core == second.core:
        return first.core not in _DOUBLE_OK
    cut_off = first.trail.startswith(("-", "\u2014", "\u2013"))
    return cut_off and len(first.core) < len(second.core) and second.core.startswith(first.core)


def _repetitions(tokens: list[_Token], fillers: set[int]) -> list[tuple[int, int, str]]:
    """Repeated words and pairs, cut-off restarts and stammered words, as token ranges."""
    found: list[tuple[int, int, str]] = []
    n = len(tokens)
    i = 0
    while i < n:
        if i in fillers:
            i += 1
            continue
        j = i
        while j + 1 < n and j + 1 not in fillers and _repeats(tokens[j], tokens[j + 1]):
            j += 1
        if j > i:
            found.append((i, j, " ".join(t.core for t in tokens[i : j + 1])))
            i = j + 1
            continue
        pair = tokens[i : i + 4]
        if (
            len(pair) == 4
            and not fillers.intersection(range(i, i + 4))
            and (pair[0].core, pair[1].core) == (pair[2].core, pair[3].core)
        ):
            found.append((i, i + 3, " ".join(t.core for t in pair)))
            i += 4
            continue
        if _is_stammer_word(tokens[i].core):
            found.append((i, i, tokens[i].core))
        i += 1
    return found


# --- postprocess --------------------------------------------------------------------------------


def _pace(wpm: float, band: tuple[float, float]) -> Pace:
    if wpm < band[0]:
        return "slow"
    return "fast" if wpm > band[1] else "ok"


def _events(
    tokens: list[_Token],
    pauses: list[tuple[float, float]],
    fillers: list[tuple[int, int, str]],
    repetitions: list[tuple[int, int, str]],
    settings: FluencySettings,
    offset_s: float,
) -> tuple[FluencyEvent, ...]:
    aware = settings.stutter_aware
    reps = [(tokens[a].start, max(t.end for t in tokens[a : b + 1])) for a, b, _ in repetitions]
    events: list[FluencyEvent] = []
    for start, end in pauses:
        kind: EventKind = "long_pause" if end - start >= settings.long_pause_s else "pause"
        block = any(end >= r0 - _BLOCK_NEAR_S and start <= r1 for r0, r1 in reps)
        events.append(
            FluencyEvent(
                kind,
                start + offset_s,
                end + offset_s,
                f"{end - start:.1f} s",
                not (aware and block),
            )
        )
    for a, b, text in fillers:
        end = max(t.end for t in tokens[a : b + 1])
        events.append(FluencyEvent("filler", tokens[a].start + offset_s, end + offset_s, text))
    for (_a, _b, text), (start, end) in zip(repetitions, reps, strict=True):
        events.append(FluencyEvent("repetition", start + offset_s, end + offset_s, text, not aware))
    events.sort(key=lambda e: (e.start, e.end))
    return tuple(events)


def analyse_fluency(
    audio: np.ndarray | None,
    sample_rate: int,
    words: Sequence[TimedWord],
    *,
    offset_s: float = 0.0,
    settings: FluencySettings = FluencySettings(),
) -> FluencyReport:
    """Measure the fluency of one answer.

    Word timings are the primary source for rates, pauses, fillers and repetitions; the audio
    (when given) confirms pauses, adds silent stretches hidden inside stretched word timings, and
    gives the voice measures. Pure and synchronous (about 0.15 s for a minute of audio once
    warm, see `warm_up`): run it in a worker thread from async code.

    Args:
        audio: The answer's samples, ``(n,)``, ``(n, channels)`` or ``(channels, n)`` (up to
            8 channels, downmixed), int PCM or float in [-1, 1]; None for word-only measures.
            NaN/inf samples are replaced by 0.
        sample_rate: The audio's sample rate in Hz (4000-384000), also required without audio.
        words: Recognised words with times in seconds from the start of ``audio``; any order,
            may overlap. Words with non-finite times are dropped, negative times clamped to 0.
        offset_s: Added to every event time, to put the events on the interview's clock.
        settings: Thresholds.

    Returns:
        The report; status "not_measured" with a reason when there is too little speech.

    Raises:
        ValueError: For an invalid sample rate, audio type, dtype or shape, malformed words or
            a non-finite ``offset_s``.
    """
    rate = _check_sample_rate(sample_rate)
    if not (_is_real(offset_s) and math.isfinite(offset_s)):
        raise ValueError(f"offset_s must be a finite number, got {offset_s!r}")
    if not isinstance(settings, FluencySettings):
        raise ValueError(f"settings must be FluencySettings, got {type(settings).__name__}")
    tokens = _tokens(words)
    sound = None if audio is None else _analyse_audio(audio, rate)

    pauses = _pauses(tokens, sound, settings) if tokens else []
    fillers = _fillers(tokens, pauses, settings.pause_min_s)
    filler_tokens = {k for a, b, _ in fillers for k in range(a, b + 1)}
    repetitions = _repetitions(tokens, filler_tokens)
    events = _events(tokens, pauses, fillers, repetitions, settings, float(offset_s))

    span = max(t.end for t in tokens) - tokens[0].start if tokens else 0.0
    pause_total = sum(b - a for a, b in pauses)
    speech_s = max(span - pause_total, 0.0)
    n_words = len(tokens)
    reason: str | None = None
    if not tokens:
        reason = "silent" if sound is not None and sound.silent else "no words"
    elif n_words < MIN_WORDS or speech_s < MIN_SPEECH_S:
        reason = "too little speech"
    wpm = articulation = fillers_per_min = None
    pace: Pace | None = None
    if reason is None:
        wpm = n_words / span * 60.0
        articulation = n_words / speech_s * 60.0
        fillers_per_min = len(fillers) / span * 60.0
        pace = _pace(wpm, settings.pace_band_wpm)
    pitch, pitch_var, loudness = (None, None, None) if sound is None else _voice_measures(sound)
    duration = sound.duration_s if sound is not None else max((t.end for t in tokens), default=0.0)

    report = FluencyReport(
        status="ok" if reason is None else "not_measured",
        reason=reason,
        duration_s=duration,
        speech_s=speech_s,
        n_words=n_words,
        wpm=wpm,
        articulation_wpm=articulation,
        pause_count=len(pauses),
        pause_total_s=pause_total,
        long_pauses=sum(1 for a, b in pauses if b - a >= settings.long_pause_s),
        filler_count=len(fillers),
        fillers_per_min=fillers_per_min,
        repetition_count=len(repetitions),
        pitch_median_hz=pitch,
        pitch_variability_st=pitch_var,
        loudness_variation_db=loudness,
        clipped_fraction=sound.clipped_fraction if sound is not None else 0.0,
        snr_db=sound.snr_db if sound is not None and not sound.silent else None,
        pace=pace,
        events=events,
        stutter_aware=settings.stutter_aware,
    )
    logger.debug(
        "fluency measured",
        extra={"status": report.status, "n_words": n_words, "duration_s": round(duration, 2)},
    )
    return report


def warm_up() -> None:
    """Run one tiny analysis so the first real answer does not pay librosa's start-up.

    The first call in a process imports librosa's pitch code (and scipy.signal) lazily and
    loads numba functions, which takes seconds on a small machine. Blocking: call it from a
    prewarm hook or a worker thread.
    """
    t = np.arange(ANALYSIS_RATE) / ANALYSIS_RATE
    analyse_fluency((0.3 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32), ANALYSIS_RATE, [])
