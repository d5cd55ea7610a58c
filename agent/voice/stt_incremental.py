"""Streaming wrapper that hides offline STT cost: transcribe while the candidate is talking.

livekit's own `StreamAdapter` transcribes a whole utterance when the VAD reports its end, so a
30-second answer costs seconds of decoding after the candidate stops. `IncrementalSTT` cuts the
utterance at natural pauses while it is still going on and transcribes the finished pieces in
the background (one at a time, in order), so at the end of speech only the tail is left to
decode. Each piece is emitted as a FINAL transcript; livekit joins them into the user's turn.
Word timings are shifted onto the utterance's clock. When the recogniser is busy with other
interviews' pieces, a piece still being spoken keeps growing instead of being cut (fewer,
longer pieces: the cost of a Whisper call hardly depends on its length).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.vad import VAD, VADEvent, VADEventType

logger = logging.getLogger("mockint.agent.voice")

_NO_RETRY = APIConnectOptions(max_retry=0, timeout=DEFAULT_API_CONNECT_OPTIONS.timeout)


@dataclass(frozen=True, slots=True)
class HeardPiece:
    """A transcribed piece of the candidate's speech, kept in memory for delivery analysis.

    Attributes:
        t0: `time.monotonic()` when the piece's first audio frame arrived.
        pcm: Mono int16 samples.
        sample_rate: Their rate.
        words: (text, start, end) with times in seconds from ``t0``.
        text: The piece's transcript, exactly as passed on as a final transcript.
    """

    t0: float
    pcm: npt.NDArray[np.int16]
    sample_rate: int
    words: tuple[tuple[str, float, float], ...]
    text: str = ""


@dataclass
class RecognizerLoad:
    """Pieces being recognised right now, shared by every session's copy of one recogniser."""

    running: int = 0


class IncrementalSTT(stt.STT[Any]):
    """Wraps a non-streaming STT with VAD-driven, incremental transcription."""

    def __init__(
        self,
        *,
        stt_: stt.STT[Any],
        vad: VAD,
        chunk_min_s: float = 8.0,
        pause_s: float = 0.2,
        preroll_s: float = 0.4,
        capacity: int = 2,
        max_piece_s: float = 12.0,
        load: RecognizerLoad | None = None,
        drop_if: Callable[[str], bool] | None = None,
        on_piece: Callable[[HeardPiece], None] | None = None,
    ) -> None:
        """Create the wrapper.

        Args:
            stt_: A non-streaming STT (e.g. Whisper) used for each piece.
            vad: The VAD that finds speech and pauses.
            chunk_min_s: Shortest piece worth transcribing on its own. Whisper is more
                accurate with more context (short pieces misheard words at their edges), and
                an utterance already ends at a pause of the VAD's silence (0.3 s), so this only
                splits long stretches of speech without such a pause.
            pause_s: A pause at least this long is a safe place to cut.
            preroll_s: Audio kept from before speech was detected (word onsets).
            capacity: Recognitions the wrapped STT runs at once. While that many pieces (of
                any session) are being recognised, a piece still being spoken is not cut at a
                pause but grows, up to ``max_piece_s``: each Whisper call costs a whole 30 s
                window whatever the piece's length, so fewer, longer pieces is what lets
                several interviews share the recogniser.
            max_piece_s: Longest piece held back that way.
            load: Shared in-flight count (copies made by `with_filter` share the parent's).
            drop_if: Transcripts for which this returns True are discarded (used to drop the
                interviewer's own voice picked up by the candidate's microphone).
            on_piece: Gets each kept piece's audio and word timings (memory only; used for
                fluency analysis).
        """
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self._stt = stt_
        self._vad = vad
        self.chunk_min_s = chunk_min_s
        self.pause_s = pause_s
        self.preroll_s = preroll_s
        self.capacity = max(1, capacity)
        self.max_piece_s = max_piece_s
        self.load = load or RecognizerLoad()
        self.drop_if = drop_if
        self.on_piece = on_piece
        self._backlog = 0  # utterances in progress + pieces not yet transcribed, all streams

    @property
    def transcribing(self) -> bool:
        """Whether speech already heard is still on its way to a transcript."""
        return self._backlog > 0

    def with_filter(
        self,
        drop_if: Callable[[str], bool],
        on_piece: Callable[[HeardPiece], None] | None = None,
    ) -> IncrementalSTT:
        """A copy for one session that shares the wrapped model and VAD."""
        return IncrementalSTT(
            stt_=self._stt,
            vad=self._vad,
            chunk_min_s=self.chunk_min_s,
            pause_s=self.pause_s,
            preroll_s=self.preroll_s,
            capacity=self.capacity,
            max_piece_s=self.max_piece_s,
            load=self.load,
            drop_if=drop_if,
            on_piece=on_piece,
        )

    @property
    def model(self) -> str:
        """The wrapped model's name."""
        return self._stt.model

    @property
    def provider(self) -> str:
        """The wrapped provider's name."""
        return self._stt.provider

    @property
    def wrapped(self) -> stt.STT[Any]:
        """The non-streaming STT doing the work."""
        return self._stt

    def prewarm(self) -> None:
        """Load the wrapped model early."""
        self._stt.prewarm()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        return await self._stt.recognize(
            buffer=buffer, language=language, conn_options=conn_options
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        """A stream that emits FINAL transcripts piece by piece."""
        del conn_options  # local pieces are never retried
        return _IncrementalStream(self, language=language)


def _heard(frame: rtc.AudioFrame, data: stt.SpeechData, t0: float) -> HeardPiece:
    pcm = np.frombuffer(bytes(frame.data.cast("B")), dtype=np.int16)
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    words = tuple(
        (str(w), float(w.start_time), float(w.end_time))
        for w in data.words or ()
        if utils.is_given(w.start_time) and utils.is_given(w.end_time)
    )
    return HeardPiece(
        t0=t0, pcm=pcm, sample_rate=frame.sample_rate, words=words, text=data.text.strip()
    )


def _pause_s(ev: VADEvent) -> float:
    """How long the candidate has been quiet inside an utterance that is still going on.

    livekit's VAD reports that as ``raw_accumulated_silence``; its ``silence_duration``
    only counts once the utterance has ended.
    """
    return max(float(getattr(ev, "raw_accumulated_silence", 0.0) or 0.0), ev.silence_duration)


def _duration(frames: list[rtc.AudioFrame]) -> float:
    return sum(f.samples_per_channel / f.sample_rate for f in frames)


def _shift(data: stt.SpeechData, offset: float) -> stt.SpeechData:
    words = getattr(data, "words", None)
    if words:
        shifted = []
        for w in words:
            try:
                shifted.append(
                    type(w)(
                        str(w),
                        start_time=w.start_time + offset,
                        end_time=w.end_time + offset,
                        confidence=getattr(w, "confidence", None),
                    )
                )
            except TypeError:
                shifted.append(w)
        data.words = shifted
    data.start_time = data.start_time + offset
    data.end_time = data.end_time + offset
    return data


class _IncrementalStream(stt.RecognizeStream):
    def __init__(self, parent: IncrementalSTT, *, language: NotGivenOr[str]) -> None:
        super().__init__(stt=parent, conn_options=_NO_RETRY)
        self._parent = parent
        self._language = language

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:
            pass

    async def _run(self) -> None:
        p = self._parent
        vad_stream = p._vad.stream()
        # Every input frame with its position in the stream (seconds) and arrival time. The
        # VAD may lag the input on a busy machine, so speech is located by stream position
        # (the VAD's own processed audio), never by "what arrived recently".
        buf: collections.deque[tuple[float, float, rtc.AudioFrame]] = collections.deque()
        in_pos = 0.0  # stream position after the last input frame
        vad_pos = 0.0  # stream position the VAD has processed up to
        in_speech = False
        seg_start = 0.0  # stream position where the current utterance (with preroll) starts
        cut_pos = 0.0  # stream position up to which the utterance was sent for transcription
        pieces: asyncio.Queue[tuple[list[rtc.AudioFrame], float, float] | None] = asyncio.Queue()

        async def forward_input() -> None:
            nonlocal in_pos
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                    continue
                vad_stream.push_frame(item)
                buf.append((in_pos, time.monotonic(), item))
                in_pos += item.samples_per_channel / item.sample_rate
            vad_stream.end_input()

        def trim() -> None:
            """Forget audio the VAD has passed that no utterance can still need."""
            keep_from = (seg_start if in_speech else vad_pos) - p.preroll_s - 0.5
            while buf and buf[0][0] + _duration([buf[0][2]]) < keep_from:
                buf.popleft()

        backlog = 0  # this stream's share of the parent's backlog

        def track(delta: int) -> None:
            nonlocal backlog
            backlog += delta
            p._backlog += delta

        def cut(upto: float) -> None:
            nonlocal cut_pos
            chosen = [(pos, at, f) for pos, at, f in buf if cut_pos <= pos < upto]
            if chosen:
                track(1)
                frames = [f for _, _, f in chosen]
                pieces.put_nowait((frames, chosen[0][0] - seg_start, chosen[0][1]))
                cut_pos = chosen[-1][0] + _duration([frames[-1]])
            else:
                cut_pos = max(cut_pos, upto)

        async def watch_vad() -> None:
            nonlocal in_speech, seg_start, cut_pos, vad_pos
            async for ev in vad_stream:
                if ev.type == VADEventType.INFERENCE_DONE:
                    vad_pos += _duration(ev.frames)
                if ev.type == VADEventType.START_OF_SPEECH:
                    in_speech = True
                    track(1)
                    seg_start = max(
                        buf[0][0] if buf else 0.0, vad_pos - ev.speech_duration - p.preroll_s
                    )
                    cut_pos = seg_start
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                elif ev.type == VADEventType.INFERENCE_DONE and in_speech:
                    pending = vad_pos - cut_pos
                    free = p.load.running < p.capacity or pending >= p.max_piece_s
                    pause = _pause_s(ev)
                    if pause >= p.pause_s and pending >= p.chunk_min_s and free:
                        cut(vad_pos - pause / 2)  # the middle of the pause
                elif ev.type == VADEventType.END_OF_SPEECH and in_speech:
                    in_speech = False
                    track(-1)
                    speech_end = time.time() - ev.silence_duration - ev.inference_duration
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end
                        )
                    )
                    cut(vad_pos)
                trim()
            pieces.put_nowait(None)

        async def transcribe() -> None:
            while (item := await pieces.get()) is not None:
                try:
                    await transcribe_piece(*item)
                finally:
                    track(-1)

        async def transcribe_piece(frames: list[rtc.AudioFrame], offset: float, t0: float) -> None:
            merged = utils.merge_frames(frames)
            p.load.running += 1
            try:
                ev = await p._stt.recognize(buffer=merged, language=self._language)
            except Exception:
                logger.exception("speech recognition failed for a piece of an answer")
                return
            finally:
                p.load.running -= 1
            if not ev.alternatives or not ev.alternatives[0].text.strip():
                return
            if p.drop_if is not None and p.drop_if(ev.alternatives[0].text):
                logger.info("dropped a transcript that echoed the interviewer")
                return
            if p.on_piece is not None:
                p.on_piece(_heard(merged, ev.alternatives[0], t0))
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                    alternatives=[_shift(ev.alternatives[0], offset)],
                )
            )

        tasks = [
            asyncio.create_task(forward_input(), name="incremental_stt_input"),
            asyncio.create_task(watch_vad(), name="incremental_stt_vad"),
            asyncio.create_task(transcribe(), name="incremental_stt_recognize"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
            track(-backlog)
