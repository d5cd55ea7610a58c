"""Cloud speech recognition (Deepgram) that falls back to local Whisper without losing words.

`CloudFirstSTT` streams to the cloud recogniser and keeps, in memory, the audio the cloud has
not yet confirmed with a final transcript. When the cloud stream fails (connection refused or
dropped, an error) or stalls (speech was heard and nothing came back: for ``switch_after_s``
after the speech ended, or for ``switch_after_s`` plus the usual gap between interim results
while it goes on), the stream switches to the local recogniser and *replays* that unconfirmed
audio into it, so the utterance in progress is transcribed locally instead of being lost. A
stream that switched stays local (a session keeps one stream), and new streams try the cloud
again after ``retry_cloud_after_s``.

The local side is an `IncrementalSTT`; a per-session copy made by `with_filter` applies the
same echo filter and fluency hook to cloud transcripts too (the cloud's word timings and the
buffered audio make the `HeardPiece`). Audio lives only in memory and is trimmed as soon as a
final transcript covers it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.vad import VAD, VADEventType

from agent.voice.stt_incremental import HeardPiece, IncrementalSTT, _heard

logger = logging.getLogger("mockint.agent.voice")

_NO_RETRY = APIConnectOptions(max_retry=0, timeout=DEFAULT_API_CONNECT_OPTIONS.timeout)
_KEEP_BEFORE_S = 0.3
"""Audio kept before the last confirmed position (a word's onset can start a little early)."""
_MIN_SPEECH_S = 0.4
"""Speech shorter than this (a cough, a click) does not arm the stall watchdog."""
_INTERIM_GAP_S = 1.5
"""How long a healthy cloud may go between transcripts while the candidate keeps speaking
(interim results come about once per second of speech, later when the words are sparse)."""


@dataclass
class CloudHealth:
    """Shared by every stream of one process: when the cloud may be tried again."""

    down_until: float = 0.0
    switches: int = 0
    last_reason: str = ""
    switch_latencies_s: list[float] = field(default_factory=list)
    """Seconds from each detected fault to the local recogniser taking over."""

    def available(self) -> bool:
        """Whether new streams should start on the cloud."""
        return time.monotonic() >= self.down_until


class CloudFirstSTT(stt.STT[Any]):
    """Cloud STT first, local STT on failure, with the unconfirmed audio replayed locally."""

    def __init__(
        self,
        *,
        cloud: stt.STT[Any],
        local: IncrementalSTT,
        vad: VAD,
        switch_after_s: float = 1.5,
        retry_cloud_after_s: float = 60.0,
        health: CloudHealth | None = None,
        drop_if: Callable[[str], bool] | None = None,
        on_piece: Callable[[HeardPiece], None] | None = None,
    ) -> None:
        """Create the wrapper.

        Args:
            cloud: A streaming cloud recogniser (the Deepgram plugin).
            local: The local incremental recogniser used after a fault.
            vad: Finds speech in the input, so a silent cloud can be told from a stalled one.
            switch_after_s: Connection timeout, and how long after heard speech ends the cloud
                may go without a transcript before it counts as stalled.
            retry_cloud_after_s: After a fault, how long to stay local.
            health: Shared fault state (one per process).
            drop_if: Cloud transcripts for which this returns True are discarded (echo).
            on_piece: Gets each cloud-transcribed piece's audio and word timings (memory only).
        """
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))
        self._cloud = cloud
        self._local = local
        self._vad = vad
        self.switch_after_s = switch_after_s
        self.retry_cloud_after_s = retry_cloud_after_s
        self.health = health or CloudHealth()
        self.drop_if = drop_if
        self.on_piece = on_piece
        self._pending = 0  # cloud utterances heard but not yet confirmed, all streams

    @property
    def model(self) -> str:
        """The cloud model's name."""
        return self._cloud.model

    @property
    def provider(self) -> str:
        """The cloud provider's name."""
        return self._cloud.provider

    @property
    def local(self) -> IncrementalSTT:
        """The local fallback recogniser."""
        return self._local

    @property
    def transcribing(self) -> bool:
        """Whether speech already heard is still on its way to a transcript."""
        return self._pending > 0 or self._local.transcribing

    def with_filter(
        self,
        drop_if: Callable[[str], bool],
        on_piece: Callable[[HeardPiece], None] | None = None,
    ) -> CloudFirstSTT:
        """A copy for one session (shares the models, the VAD and the fault state)."""
        return CloudFirstSTT(
            cloud=self._cloud,
            local=self._local.with_filter(drop_if, on_piece),
            vad=self._vad,
            switch_after_s=self.switch_after_s,
            retry_cloud_after_s=self.retry_cloud_after_s,
            health=self.health,
            drop_if=drop_if,
            on_piece=on_piece,
        )

    def prewarm(self) -> None:
        """Load the local model early (the fallback must be ready when needed)."""
        self._local.prewarm()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        del conn_options  # one bounded attempt, then local
        if self.health.available():
            try:
                return await asyncio.wait_for(
                    self._cloud.recognize(buffer=buffer, language=language, conn_options=_NO_RETRY),
                    self.switch_after_s * 4,
                )
            except Exception as exc:
                self._mark_down(type(exc).__name__)
        return await self._local.recognize(buffer=buffer, language=language)

    def _mark_down(self, reason: str) -> None:
        self.health.down_until = time.monotonic() + self.retry_cloud_after_s
        self.health.switches += 1
        self.health.last_reason = reason
        logger.warning(
            "cloud speech recognition unavailable (%s): using local Whisper for %.0f s",
            reason,
            self.retry_cloud_after_s,
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        """A stream that starts on the cloud (when healthy) and can switch to local."""
        del conn_options  # retries are replaced by the switch to local
        return _CloudFirstStream(self, language=language)


class _CloudFirstStream(stt.RecognizeStream):
    def __init__(self, parent: CloudFirstSTT, *, language: NotGivenOr[str]) -> None:
        super().__init__(stt=parent, conn_options=_NO_RETRY)
        self._parent = parent
        self._language = language
        self.mode = "cloud"

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:
            pass

    async def _run(self) -> None:  # noqa: C901  # one state machine, kept together
        p = self._parent
        # Input frames not yet confirmed by a cloud final: (stream position s, arrival, frame).
        buf: collections.deque[tuple[float, float, rtc.AudioFrame]] = collections.deque()
        in_pos = 0.0
        confirmed = 0.0  # stream position up to which cloud finals (or silence) cover the audio
        vad_pos = 0.0  # stream position the VAD has processed
        last_cloud = time.monotonic()  # when the cloud last sent a transcript
        speaking = False  # what the session was told (START/END_OF_SPEECH)
        heard_since: float | None = None  # monotonic time unanswered speech began
        voiced = False  # whether the VAD hears speech now
        quiet_since = 0.0  # monotonic time the VAD last heard speech end
        vad_stream = p._vad.stream()
        pending = 0
        closing: set[asyncio.Future[None]] = set()
        switched = asyncio.Event()
        ended = False

        def track(delta: int) -> None:
            nonlocal pending
            pending += delta
            p._pending += delta

        def open_cloud() -> stt.RecognizeStream:
            return p._cloud.stream(
                language=self._language,
                conn_options=APIConnectOptions(max_retry=0, timeout=p.switch_after_s),
            )

        active: stt.RecognizeStream = (
            open_cloud() if p.health.available() else p._local.stream(language=self._language)
        )
        if not p.health.available():
            self.mode = "local"

        def trim() -> None:
            keep_from = confirmed - _KEEP_BEFORE_S
            while buf and buf[0][0] + _dur(buf[0][2]) < keep_from:
                buf.popleft()

        def switch_to_local(reason: str, fault_at: float) -> None:
            """Hand the stream to local Whisper and replay what the cloud never confirmed."""
            nonlocal active, heard_since
            if self.mode != "cloud":
                return
            old = active
            p._mark_down(reason)
            self.mode = "local"
            local = p._local.stream(language=self._language)
            replay_from = max(confirmed - _KEEP_BEFORE_S, 0.0)
            for pos, _, frame in buf:
                if pos + _dur(frame) > replay_from:
                    local.push_frame(frame)
            if ended:
                local.end_input()
            active = local
            heard_since = None
            if pending:
                track(-pending)
            buf.clear()
            p.health.switch_latencies_s.append(round(time.monotonic() - fault_at, 3))
            closer = asyncio.ensure_future(old.aclose())
            closing.add(closer)
            closer.add_done_callback(closing.discard)
            switched.set()

        def forward(ev: stt.SpeechEvent, *, from_cloud: bool) -> None:
            nonlocal speaking, confirmed, heard_since, last_cloud
            if ev.type == stt.SpeechEventType.START_OF_SPEECH:
                if speaking:
                    return
                speaking = True
            elif ev.type == stt.SpeechEventType.END_OF_SPEECH:
                if not speaking:
                    return
                speaking = False
            elif from_cloud and ev.type in (
                stt.SpeechEventType.FINAL_TRANSCRIPT,
                stt.SpeechEventType.INTERIM_TRANSCRIPT,
            ):
                heard_since = None
                last_cloud = time.monotonic()
                if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    if pending:
                        track(-pending)
                    if not ev.alternatives:
                        return
                    data = ev.alternatives[0]
                    end = data.end_time if data.end_time > 0 else in_pos
                    start = data.start_time
                    confirmed = max(confirmed, end)
                    text = data.text.strip()
                    if text and p.drop_if is not None and p.drop_if(text):
                        logger.info("dropped a transcript that echoed the interviewer")
                        trim()
                        return
                    if text and p.on_piece is not None:
                        piece = _piece(buf, start, end, data)
                        if piece is not None:
                            p.on_piece(piece)
                    trim()
            self._event_ch.send_nowait(ev)

        async def forward_input() -> None:
            nonlocal in_pos, ended
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    active.flush()
                    vad_stream.flush()
                    continue
                if self.mode == "cloud":
                    buf.append((in_pos, time.monotonic(), item))
                    vad_stream.push_frame(item)
                    if len(buf) > 3000:
                        buf.popleft()  # ~60 s never confirmed: keep memory bounded
                in_pos += _dur(item)
                active.push_frame(item)
            ended = True
            vad_stream.end_input()
            active.end_input()

        async def watch_vad() -> None:
            nonlocal heard_since, vad_pos, confirmed, voiced, quiet_since
            async for ev in vad_stream:
                if self.mode != "cloud":
                    continue
                if ev.type == VADEventType.END_OF_SPEECH:
                    voiced, quiet_since = False, time.monotonic()
                elif ev.type == VADEventType.START_OF_SPEECH:
                    voiced = True
                if ev.type != VADEventType.INFERENCE_DONE:
                    continue
                vad_pos += sum(_dur(f) for f in ev.frames)
                if ev.speaking:
                    if heard_since is None and ev.speech_duration >= _MIN_SPEECH_S:
                        # Unanswered speech: since it began, or since the cloud last spoke.
                        began = time.monotonic() - (ev.speech_duration - _MIN_SPEECH_S)
                        heard_since = max(began, last_cloud)
                        if not pending:
                            track(1)
                elif heard_since is None and not pending:
                    # Quiet and nothing owed by the cloud: this audio never needs a replay.
                    confirmed = max(confirmed, vad_pos - 0.5)
                    trim()

        def overdue_at() -> float | None:
            """When the cloud's silence about heard speech becomes a stall (None: owes nothing).

            While the candidate speaks, a healthy cloud sends an interim result at least every
            ``_INTERIM_GAP_S`` plus ``switch_after_s``; once the speech ends, the final is due
            ``switch_after_s`` after the end (an end soon after the last interim must not
            count as a stall), never later than the speaking bound.
            """
            if heard_since is None:
                return None
            if voiced:
                return heard_since + _INTERIM_GAP_S + p.switch_after_s
            ended_at = min(max(heard_since, quiet_since), heard_since + _INTERIM_GAP_S)
            return ended_at + p.switch_after_s

        async def watchdog() -> None:
            while self.mode == "cloud":
                await asyncio.sleep(0.05)
                due = overdue_at()
                if due is not None and time.monotonic() > due:
                    switch_to_local("stalled", due)

        async def pump() -> None:
            nonlocal heard_since
            while True:
                stream = active
                from_cloud = self.mode == "cloud"
                started = time.monotonic()
                try:
                    async for ev in _until(stream, switched):
                        forward(ev, from_cloud=from_cloud)
                    if from_cloud and self.mode == "cloud" and not ended:
                        switch_to_local("closed", time.monotonic())
                except Exception as exc:
                    if from_cloud and self.mode == "cloud":
                        # A refused or dropped connection surfaces here at once.
                        switch_to_local(type(exc).__name__, max(started, time.monotonic()))
                    else:
                        raise
                if self.mode == "cloud" or stream is active:
                    return
                switched.clear()

        tasks = [
            asyncio.create_task(forward_input(), name="cloud_stt_input"),
            asyncio.create_task(watch_vad(), name="cloud_stt_vad"),
            asyncio.create_task(watchdog(), name="cloud_stt_watchdog"),
            asyncio.create_task(pump(), name="cloud_stt_events"),
        ]
        try:
            await tasks[3]
            await tasks[0]
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
            await active.aclose()
            if pending:
                track(-pending)


async def _until(stream: stt.RecognizeStream, switched: asyncio.Event) -> Any:
    """Events of ``stream`` until it ends or the stream switched away from it."""
    it = stream.__aiter__()
    stop = asyncio.ensure_future(switched.wait())
    nxt: asyncio.Future[Any] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return
    finally:
        stop.cancel()
        if nxt is not None:
            if nxt.done():
                # Read the outcome (end of stream, or an error handled elsewhere) so it is
                # never reported as an exception nobody retrieved.
                if not nxt.cancelled():
                    nxt.exception()
            else:
                nxt.cancel()


def _dur(frame: rtc.AudioFrame) -> float:
    return frame.samples_per_channel / frame.sample_rate


def _piece(
    buf: collections.deque[tuple[float, float, rtc.AudioFrame]],
    start: float,
    end: float,
    data: stt.SpeechData,
) -> HeardPiece | None:
    """The buffered audio of one cloud final with its words on the piece's own clock."""
    chosen = [(pos, at, f) for pos, at, f in buf if pos + _dur(f) > start and pos < end]
    if not chosen:
        return None
    first_pos, first_at, _ = chosen[0]
    merged = utils.merge_frames([f for _, _, f in chosen])
    shift = start - first_pos  # cloud times are on the stream's clock; make them piece-relative
    shifted = stt.SpeechData(
        language=data.language,
        text=data.text,
        start_time=0.0,
        end_time=end - first_pos,
        words=[
            type(w)(
                str(w),
                start_time=w.start_time - data.start_time + shift,
                end_time=w.end_time - data.start_time + shift,
            )
            for w in (data.words or [])
            if utils.is_given(w.start_time) and utils.is_given(w.end_time)
        ],
    )
    return _heard(merged, shifted, first_at)
