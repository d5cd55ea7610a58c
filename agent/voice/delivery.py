"""Per-answer delivery measurement for a spoken interview: audio, words and frames → dicts.

Owns the in-memory collection of what the candidate said since the last answer (the pieces
the incremental recogniser transcribed, with their audio and word timings) and the camera
frame analyses, and turns them into the ``delivery`` dict and time span that go into the
interview graph with each answer. A measurement that fails or takes too long is reported as
"not measured" with the reason, never guessed, and never holds up the answer. The interview
clock is seconds since the interview's origin (shared by transcript words, fluency events and
camera frames). Audio lives only in memory and
is dropped as soon as the answer is measured; nothing here writes to disk or logs content.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.voice.stt_incremental import HeardPiece
from perception.fluency import FluencyReport, FluencySettings, TimedWord, analyse_fluency
from perception.presence import FrameAnalysis, summarise_presence
from perception.presence import not_measured as presence_not_measured
from scoring.delivery import DeliveryPrefs

logger = logging.getLogger("mockint.agent.voice")

MAX_ANSWER_AUDIO_S = 300.0
"""Audio kept per answer for fluency analysis (older pieces are dropped)."""
MAX_FRAMES = 10 * 60 * 10
"""Frame analyses kept (about ten minutes at 10 fps)."""
MAX_GAP_S = 10.0
"""Silence between pieces is rebuilt up to this long (longer gaps are clipped)."""
FLUENCY_TIMEOUT_S = 30.0
"""Deadline of one answer's fluency analysis, plus `FLUENCY_TIMEOUT_PER_AUDIO_S` per second."""
FLUENCY_TIMEOUT_PER_AUDIO_S = 0.1


def fluency_settings_for(base: FluencySettings, prefs: Mapping[str, Any]) -> FluencySettings:
    """The live fluency settings for one candidate's fairness switches.

    Stutter-aware mode marks repetitions and blocks as not penalised; the non-native pace
    switch widens the pace band the same way the delivery score does.
    """
    band = DeliveryPrefs(
        pace_band_wpm=base.pace_band_wpm,
        non_native_pace=bool(prefs.get("non_native_pace", False)),
    ).band
    return dataclasses.replace(
        base, stutter_aware=bool(prefs.get("stutter_aware", False)), pace_band_wpm=band
    )


@dataclass(slots=True)
class DeliveryCollector:
    """Collects one interview's pieces and frames and measures each answer.

    Attributes:
        origin_mono: `time.monotonic()` value of interview time 0.
        fluency_settings: Pause thresholds, pace band, stutter awareness.
        camera_enabled: Whether the candidate opted in to camera analysis.
        camera_problem: Why camera analysis stopped (later answers: presence not measured).
        fluency_timeout_s: Base deadline of one answer's fluency analysis.
    """

    origin_mono: float = field(default_factory=time.monotonic)
    fluency_settings: FluencySettings = field(default_factory=FluencySettings)
    camera_enabled: bool = False
    camera_problem: str | None = None
    fluency_timeout_s: float = FLUENCY_TIMEOUT_S
    _pieces: list[HeardPiece] = field(default_factory=list)
    _texts: list[tuple[float, str]] = field(default_factory=list)
    _consumed: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=64))
    _frames: collections.deque[FrameAnalysis] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_FRAMES)
    )

    def now(self) -> float:
        """Current interview time in seconds."""
        return time.monotonic() - self.origin_mono

    def clock(self, mono: float) -> float:
        """Interview time of a `time.monotonic()` value."""
        return mono - self.origin_mono

    def add_piece(self, piece: HeardPiece) -> None:
        """Keep a transcribed piece of the current answer (memory only)."""
        if piece.text:
            self._texts.append((piece.t0, piece.text))
        self._pieces.append(piece)
        total = sum(len(p.pcm) / p.sample_rate for p in self._pieces)
        while len(self._pieces) > 1 and total > MAX_ANSWER_AUDIO_S:
            dropped = self._pieces.pop(0)
            total -= len(dropped.pcm) / dropped.sample_rate

    def add_frame(self, frame: FrameAnalysis) -> None:
        """Keep a camera frame analysis (its ``t`` is on the interview clock)."""
        self._frames.append(frame)

    def discard(self) -> None:
        """Forget the pieces heard so far (e.g. a hold request, not an answer)."""
        self._consumed.extend(t for _, t in self._texts)
        self._pieces.clear()
        self._texts.clear()

    @property
    def heard_text(self) -> str:
        """Everything transcribed of the current answer so far, in the order it was said."""
        return " ".join(t for _, t in sorted(self._texts, key=lambda x: x[0]))

    def take_text(self) -> str:
        """The current answer's transcript; its pieces count as used from now on."""
        text = self.heard_text
        self._consumed.extend(t for _, t in self._texts)
        self._texts.clear()
        return text

    def fresh_text(self, text: str) -> str:
        """``text`` without the pieces already used in an earlier answer.

        A transcript that finishes after its answer was submitted (a slow machine) still
        reaches the voice session as a late turn; its words already counted and must not
        become the answer to the next question.
        """
        for used in list(self._consumed):
            if used and used in text:
                text = text.replace(used, " ", 1)
                self._consumed.remove(used)  # one piece cancels one late copy of itself
        return " ".join(text.split())

    async def measure_answer(self) -> tuple[dict[str, Any] | None, tuple[float, float] | None]:
        """Measure the answer made of the pieces heard since the last call, then forget them.

        Returns:
            (delivery dict with "fluency" and "presence", (start, end) on the interview
            clock), or (None, None) when nothing was heard (a typed answer).
        """
        pieces, self._pieces = self._pieces, []
        if not pieces:
            return None, None
        pieces.sort(key=lambda p: p.t0)
        rate = pieces[0].sample_rate
        start_mono = pieces[0].t0
        audio, words = _join(pieces, rate)
        start = self.clock(start_mono)
        end = start + len(audio) / rate
        limit = self.fluency_timeout_s + FLUENCY_TIMEOUT_PER_AUDIO_S * (end - start)
        try:
            fluency = await asyncio.wait_for(
                asyncio.to_thread(
                    analyse_fluency,
                    audio,
                    rate,
                    words,
                    offset_s=start,
                    settings=self.fluency_settings,
                ),
                limit,
            )
        except TimeoutError:
            logger.warning("fluency analysis took too long for an answer", extra={"limit_s": limit})
            fluency = _not_measured(end - start, "analysis took too long", self.fluency_settings)
        except Exception:
            logger.exception("fluency analysis failed for an answer")
            fluency = _not_measured(end - start, "analysis failed", self.fluency_settings)
        presence: dict[str, Any]
        if not self.camera_enabled:
            presence = {"status": "not_measured", "reason": "camera off"}
        elif self.camera_problem is not None:
            presence = presence_not_measured(self.camera_problem).to_dict()
        else:
            presence = summarise_presence(list(self._frames), start, end).to_dict()
            if presence.get("status") != "ok" and presence.get("reason") == "camera off":
                # the camera was on: no frame of this answer was analysed in time
                presence["reason"] = "no camera frames analysed"
        return {"fluency": fluency.to_dict(), "presence": presence}, (
            round(start, 3),
            round(end, 3),
        )


def _not_measured(duration_s: float, reason: str, settings: FluencySettings) -> FluencyReport:
    """A fluency report that measured nothing, saying why."""
    return FluencyReport(
        status="not_measured",
        reason=reason,
        duration_s=round(duration_s, 3),
        speech_s=0.0,
        n_words=0,
        wpm=None,
        articulation_wpm=None,
        pause_count=0,
        pause_total_s=0.0,
        long_pauses=0,
        filler_count=0,
        fillers_per_min=None,
        repetition_count=0,
        pitch_median_hz=None,
        pitch_variability_st=None,
        loudness_variation_db=None,
        clipped_fraction=0.0,
        snr_db=None,
        pace=None,
        events=(),
        stutter_aware=settings.stutter_aware,
    )


def _join(pieces: list[HeardPiece], rate: int) -> tuple[np.ndarray[Any, Any], list[TimedWord]]:
    """One audio array on the first piece's clock, silence filling the gaps between pieces."""
    t0 = pieces[0].t0
    chunks: list[np.ndarray[Any, Any]] = []
    words: list[TimedWord] = []
    pos = 0  # samples written so far
    for p in pieces:
        pcm = p.pcm if p.sample_rate == rate else _resample(p.pcm, p.sample_rate, rate)
        at = int(round((p.t0 - t0) * rate))
        gap = min(max(at - pos, 0), int(MAX_GAP_S * rate))
        if gap:
            chunks.append(np.zeros(gap, dtype=np.int16))
            pos += gap
        piece_start_s = pos / rate
        words.extend(
            TimedWord(text=w, start=piece_start_s + s, end=piece_start_s + e) for w, s, e in p.words
        )
        chunks.append(pcm)
        pos += len(pcm)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16), words


def _resample(pcm: np.ndarray[Any, Any], src: int, dst: int) -> np.ndarray[Any, Any]:
    n = int(round(len(pcm) * dst / src))
    if n <= 0:
        return np.zeros(0, dtype=np.int16)
    x = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm.astype(np.float32))
    return np.asarray(x, dtype=np.int16)
