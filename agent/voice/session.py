"""Builds and runs one spoken interview: AgentSession + interviewer agent + audio I/O.

`VoiceRuntime` holds the process-wide models (STT, TTS, VAD, turn detector), loaded once and
shared by every interview. `VoiceInterview` wires one session to any audio input/output (the
browser transport, a LiveKit room, or the in-process test harness) and publishes UI events.
Nothing here records audio: AgentSession's recorder is switched off.

The local speech models get deadlines here (`BoundedRecognizer`, `BoundedVoice`): a piece of
speech that is not transcribed in time is given up instead of blocking every later piece, and a
line the voice does not render in time is cut short (its caption was already shown) instead of
holding up the session. A voice failure and a session that stops on repeated errors are told to
the page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    AgentSession,
    APIConnectOptions,
    APITimeoutError,
    inference,
    stt,
    tts,
    utils,
    vad,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    CloseEvent,
    ErrorEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)
from livekit.agents.voice.io import AudioInput, AudioOutput
from livekit.agents.voice.turn import TurnHandlingOptions

from agent.bus import EventBus, FrameAnalysed, PerceptionDegraded, Subscription
from agent.config import Settings
from agent.interview import InterviewRunner, Step
from agent.voice.delivery import DeliveryCollector, fluency_settings_for
from agent.voice.interviewer import EventSink, InterviewerAgent, SpokenReference

# Imported here, not lazily: the app builds the runtime in a worker thread, and livekit plugins
# (Deepgram) must be registered on the main thread, which imports this module.
from agent.voice.providers import build_stt, build_tts
from agent.voice.stt_cloud import CloudFirstSTT
from agent.voice.stt_incremental import IncrementalSTT
from agent.voice.turns import is_echo
from perception.fluency import FluencySettings
from perception.fluency import warm_up as warm_up_fluency
from perception.presence import FrameAnalysis
from perception.worker import CAMERA_STALL_S, FramePipeline, VideoWorker, WorkerStatus

logger = logging.getLogger("mockint.agent.voice")

CLOUD_TTS_TIMEOUT_S = 2.0
RECOGNIZE_TIMEOUT_S = 30.0
"""A piece of speech is given up when not transcribed within this (plus the next figure)."""
RECOGNIZE_TIMEOUT_PER_AUDIO_S = 2.0
"""Extra recognition time per second of the piece's audio."""
VOICE_STALL_S = 10.0
"""A line fails when the local voice produces no audio for this long (first audio included)."""
VOICE_FAILED = (
    "The interviewer's voice failed for that line; it is shown in the captions. The interview "
    "continues."
)
SESSION_STOPPED = (
    "The voice connection stopped working. Your answers so far are saved; reload the page to "
    "continue."
)


class _Wraps:
    """Names and warm-up of the wrapped recogniser or voice (``inner``)."""

    inner: stt.STT[Any] | tts.TTS[Any]

    @property
    def model(self) -> str:
        """The wrapped model's name."""
        return self.inner.model

    @property
    def provider(self) -> str:
        """The wrapped provider's name."""
        return self.inner.provider

    def prewarm(self) -> None:
        """Load the wrapped model early."""
        self.inner.prewarm()


class BoundedRecognizer(_Wraps, stt.STT[Any]):
    """A non-streaming recogniser whose calls end: a piece not transcribed in time fails.

    Recognition runs in a worker thread that cannot be interrupted; giving up on a stuck call
    lets the incremental wrapper move on to the pieces after it.
    """

    inner: stt.STT[Any]

    def __init__(
        self,
        inner: stt.STT[Any],
        *,
        timeout_s: float = RECOGNIZE_TIMEOUT_S,
        per_audio_s: float = RECOGNIZE_TIMEOUT_PER_AUDIO_S,
    ) -> None:
        """Wrap ``inner`` (e.g. Whisper).

        Args:
            inner: The non-streaming recogniser.
            timeout_s: Deadline of a call, plus ``per_audio_s`` per second of audio.
            per_audio_s: See ``timeout_s``.
        """
        super().__init__(capabilities=inner.capabilities)
        self.inner = inner
        self.timeout_s = timeout_s
        self.per_audio_s = per_audio_s

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        limit = self.timeout_s + self.per_audio_s * utils.audio.calculate_audio_duration(buffer)
        try:
            return await asyncio.wait_for(
                self.inner.recognize(buffer=buffer, language=language, conn_options=conn_options),
                limit,
            )
        except TimeoutError:
            raise APITimeoutError("speech recognition took too long", retryable=False) from None


class BoundedVoice(_Wraps, tts.TTS[Any]):
    """One interview's view of a non-streaming voice: a line that stalls or crashes is cut short.

    The line ends after the audio it already has (a moment of silence when it has none) and
    ``on_failure`` is told; livekit sees a finished line, so a failing voice never closes the
    session and the interview goes on with its captions. One wrapper per interview, because
    livekit delivers a voice's errors to every session using that voice object.
    """

    inner: tts.TTS[Any]

    def __init__(
        self,
        inner: tts.TTS[Any],
        *,
        stall_s: float = VOICE_STALL_S,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """Wrap ``inner`` (e.g. Piper, shared by all interviews).

        Args:
            inner: The non-streaming voice.
            stall_s: Longest wait for the next piece of audio (the first one included).
            on_failure: Gets the kind of failure ("stalled" or the error's type name).
        """
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=inner.sample_rate,
            num_channels=inner.num_channels,
        )
        self.inner = inner
        self.stall_s = stall_s
        self.on_failure = on_failure

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        """Synthesise one line through the wrapped voice, with the stall deadline."""
        return _BoundedStream(voice=self, input_text=text, conn_options=conn_options)


class _BoundedStream(tts.ChunkedStream):
    def __init__(self, *, voice: BoundedVoice, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=voice, input_text=input_text, conn_options=conn_options)
        self._voice = voice

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        voice = self._voice
        started = False
        failure: str | None = None
        try:
            async with voice.inner.synthesize(self.input_text) as inner:
                events = inner.__aiter__()
                while True:
                    try:
                        ev = await asyncio.wait_for(events.__anext__(), voice.stall_s)
                    except StopAsyncIteration:
                        break
                    if not started:
                        output_emitter.initialize(
                            request_id=ev.request_id,
                            sample_rate=ev.frame.sample_rate,
                            num_channels=ev.frame.num_channels,
                            mime_type="audio/pcm",
                        )
                        started = True
                    output_emitter.push(bytes(ev.frame.data.cast("B")))
        except TimeoutError:
            failure = "stalled"
        except Exception as exc:  # any voice failure: the line is cut, the interview goes on
            failure = type(exc).__name__
        if failure is not None:
            logger.warning("the voice failed a line", extra={"failure": failure})
            if voice.on_failure is not None:
                voice.on_failure(failure)
        if not started:
            output_emitter.initialize(
                request_id=utils.shortuuid("voice_"),
                sample_rate=voice.sample_rate,
                num_channels=voice.num_channels,
                mime_type="audio/pcm",
            )
            n = int(voice.sample_rate * 0.05) * voice.num_channels
            output_emitter.push(np.zeros(n, dtype=np.int16).tobytes())
        output_emitter.flush()


@dataclass
class VoiceRuntime:
    """Models shared by all spoken interviews in this process."""

    stt: stt.STT[Any]
    tts: tts.TTS[Any]
    vad: vad.VAD
    turn_detector: Any | None
    """livekit's local audio end-of-turn model, or None for VAD-only endpointing."""
    voice_stall_s: float = VOICE_STALL_S
    """Each interview's line fails when the local voice produces no audio for this long."""


def build_voice_runtime(settings: Settings, *, turn_detector: bool = True) -> VoiceRuntime:
    """Load STT, TTS, VAD and the turn detector once (call at start-up, not per session)."""
    key = settings.voice.deepgram_api_key
    stt_ = build_stt(
        models_dir=settings.models.dir,
        deepgram_api_key=key.get_secret_value() if key else None,
        deepgram_base_url=settings.voice.deepgram_base_url,
        cpu_threads=settings.voice.stt_threads,
        workers=settings.voice.stt_workers,
        beam_size=settings.voice.stt_beam_size,
        language=settings.voice.language,
    )
    tts_ = build_tts(
        models_dir=settings.models.dir,
        tts=settings.voice.tts,
        deepgram_api_key=key.get_secret_value() if key else None,
        deepgram_base_url=settings.voice.deepgram_base_url,
    )
    detector = inference.TurnDetector(version="v1-mini") if turn_detector else None
    warm_up_fluency()  # librosa's first call takes seconds: not in the first answer
    return assemble_runtime(stt_=stt_, tts_=tts_, turn_detector=detector)


def assemble_runtime(
    *,
    stt_: stt.STT[Any],
    tts_: tts.TTS[Any],
    turn_detector: Any | None,
    vad_: vad.VAD | None = None,
    recognize_timeout_s: float = RECOGNIZE_TIMEOUT_S,
    recognize_per_audio_s: float = RECOGNIZE_TIMEOUT_PER_AUDIO_S,
    voice_stall_s: float = VOICE_STALL_S,
) -> VoiceRuntime:
    """Wrap built providers for live use.

    A non-streaming (local) recogniser gets a deadline and is made incremental; each interview
    wraps a non-streaming (local) voice in its own `BoundedVoice` with ``voice_stall_s``. Cloud
    providers keep their own timeouts.

    Args:
        stt_: The recogniser from `build_stt`.
        tts_: The voice from `build_tts`.
        turn_detector: livekit's end-of-turn model, or None.
        vad_: The VAD (default: a new local one).
        recognize_timeout_s: Base deadline of one local recognition call.
        recognize_per_audio_s: Added to it per second of the call's audio.
        voice_stall_s: Longest wait for the local voice's next audio.
    """
    vad_ = vad_ or inference.VAD(min_silence_duration=0.3)
    if not stt_.capabilities.streaming:
        stt_ = IncrementalSTT(
            stt_=BoundedRecognizer(
                stt_, timeout_s=recognize_timeout_s, per_audio_s=recognize_per_audio_s
            ),
            vad=vad_,
            capacity=getattr(stt_, "workers", 1),
        )
    return VoiceRuntime(
        stt=stt_, tts=tts_, vad=vad_, turn_detector=turn_detector, voice_stall_s=voice_stall_s
    )


def turn_handling(settings: Settings, *, detector: Any | None) -> TurnHandlingOptions:
    """Turn-taking tuned for interviews: patient inside answers, hard to interrupt by accident."""
    v = settings.voice
    return {
        "turn_detection": detector if detector is not None else "vad",
        "endpointing": {"min_delay": v.min_endpointing_s, "max_delay": v.answer_pause_s},
        "interruption": {
            "enabled": True,
            "mode": "vad",
            "min_words": v.min_interruption_words,
            "min_duration": v.min_interruption_s,
            "resume_false_interruption": True,
            "false_interruption_timeout": 1.5,
        },
        "preemptive_generation": {"enabled": False},
    }


class VoiceInterview:
    """One spoken interview bound to an audio input and output."""

    def __init__(
        self,
        *,
        runtime: VoiceRuntime,
        runner: InterviewRunner,
        session_id: str,
        settings: Settings,
        audio_in: AudioInput | None,
        audio_out: AudioOutput | None,
        emit: EventSink,
        on_finished: Callable[[Step], None] | None = None,
        collector: DeliveryCollector | None = None,
        resumed: bool = False,
    ) -> None:
        """Bind an interview to its audio.

        ``resumed`` marks a reconnect of an interview already spoken on this server: the
        interviewer continues with the pending question instead of greeting again.
        """
        self.session_id = session_id
        self._runner = runner
        self.bus = EventBus()
        """Perception events of this interview (bounded per subscriber, see agent.bus)."""
        self._page_task: asyncio.Task[None] | None = None
        self._page_sub: Subscription | None = None
        self.video: VideoWorker | None = None
        self._last_presence_emit = -1e9
        self.collector = collector or DeliveryCollector(
            fluency_settings=FluencySettings(
                long_pause_s=settings.perception.long_pause_s,
                pace_band_wpm=settings.perception.pace_band_wpm,
            )
        )
        self._emit = emit
        self._agent_state = "initializing"
        self._spoke_until = 0.0
        self.spoken = SpokenReference()
        self.agent = InterviewerAgent(
            runner=runner,
            session_id=session_id,
            emit=emit,
            spoken=self.spoken,
            on_finished=on_finished,
            hold_prompt_after_s=settings.voice.hold_prompt_after_s,
            no_answer_after_s=settings.voice.no_answer_after_s,
            continue_wait_s=max(
                0.5, settings.voice.answer_pause_s - settings.voice.min_endpointing_s
            ),
            collector=self.collector,
            ack_after_s=settings.voice.ack_after_s,
            resumed=resumed,
        )
        session_stt = runtime.stt
        if isinstance(session_stt, IncrementalSTT | CloudFirstSTT):
            spoken = self.spoken
            session_stt = session_stt.with_filter(
                lambda text: (
                    self._recently_speaking() and is_echo(text, spoken.text, min_overlap=0.7)
                ),
                on_piece=self.collector.add_piece,
            )
            incremental = session_stt
            self.agent.set_transcribing_probe(lambda: incremental.transcribing)
        session_tts = runtime.tts
        if session_tts is not None and not session_tts.capabilities.streaming:
            session_tts = BoundedVoice(
                session_tts, stall_s=runtime.voice_stall_s, on_failure=self._voice_failed
            )
        self.session: AgentSession[None] = AgentSession(
            stt=session_stt,
            tts=session_tts,
            vad=runtime.vad,
            turn_handling=turn_handling(settings, detector=runtime.turn_detector),
            user_away_timeout=None,
            conn_options=SessionConnectOptions(
                # A cloud voice that has not answered in 2 s hands the line to the local voice.
                tts_conn_options=APIConnectOptions(max_retry=0, timeout=CLOUD_TTS_TIMEOUT_S),
            ),
        )
        if audio_in is not None:
            self.session.input.audio = audio_in
        if audio_out is not None:
            self.session.output.audio = audio_out
        self.session.on("agent_state_changed", self._on_agent_state)
        self.session.on("user_state_changed", self._on_user_state)
        self.session.on("user_input_transcribed", self._on_transcribed)
        self.session.on("error", self._on_error)
        self.session.on("close", self._on_close)
        self._cap_task: asyncio.Task[None] | None = None
        self._max_s = settings.voice.max_session_minutes * 60
        self._closing = False

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if ev.old_state == "speaking":
            self._spoke_until = time.monotonic()
        self._agent_state = ev.new_state
        self._emit({"type": "agent_state", "state": ev.new_state})
        if ev.new_state == "listening":
            self.agent.listening()
        elif ev.new_state == "speaking":
            self.agent.speaking()

    def _voice_failed(self, failure: str) -> None:
        """A line the voice could not speak: the page says so (its caption was shown)."""
        logger.info("a line was not spoken", extra={"session": self.session_id, "failure": failure})
        self._emit({"type": "error", "code": "voice_failed", "message": VOICE_FAILED})

    def _on_error(self, ev: ErrorEvent) -> None:
        """A line the cloud voice could not speak: the page says so (its caption was shown)."""
        if getattr(ev.error, "type", None) == "tts_error" and not ev.error.recoverable:
            self._voice_failed(type(ev.error.error).__name__)

    def _on_close(self, ev: CloseEvent) -> None:
        """The session closed by itself (livekit gives up after repeated errors): pause clearly."""
        if self._closing or ev.error is None:
            return
        logger.error(
            "the voice session stopped",
            extra={"session": self.session_id, "reason": str(ev.reason)},
        )
        self.agent.closing = True
        self.agent.cancel_timers()
        self._emit({"type": "error", "code": "session_stopped", "message": SESSION_STOPPED})

    def _recently_speaking(self, tail_s: float = 0.8) -> bool:
        """Whether the interviewer is speaking or just stopped (echo may still arrive)."""
        return self._agent_state == "speaking" or time.monotonic() - self._spoke_until < tail_s

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.new_state == "speaking":
            self.agent.user_resumed()
        elif ev.new_state == "listening":
            self.agent.user_paused()
        self._emit({"type": "user_state", "state": ev.new_state})

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        """Words as they are recognised, for the page's live transcript (not the answer record)."""
        if ev.transcript.strip() and not self._recently_speaking():
            self._emit({"type": "hearing", "text": ev.transcript, "final": ev.is_final})

    async def start(self, *, room: rtc.Room | None = None) -> None:
        """Start the session; the interviewer greets and asks its first (or pending) question.

        Args:
            room: A connected LiveKit room (production transport); None for in-process I/O.
        """
        prefs = await self._runner.delivery_prefs(self.session_id)
        self.collector.fluency_settings = fluency_settings_for(
            self.collector.fluency_settings, prefs
        )
        if room is not None:
            await self.session.start(self.agent, room=room, record=False)
        else:
            await self.session.start(self.agent, record=False)
        self._cap_task = asyncio.create_task(self._hard_cap())

    async def _hard_cap(self) -> None:
        await asyncio.sleep(self._max_s)
        logger.info("spoken interview reached its time cap", extra={"session": self.session_id})
        await self.agent.end_now()

    async def end(self) -> None:
        """End the interview now (candidate pressed end)."""
        await self.agent.end_now()

    def enable_camera(
        self,
        make_pipeline: Callable[[], FramePipeline],
        *,
        fps: float,
        stall_after_s: float = CAMERA_STALL_S,
    ) -> None:
        """Start analysing camera frames (only after the candidate opted in).

        Args:
            make_pipeline: Builds the vision pipeline inside the worker thread.
            fps: Frames analysed per second at most.
            stall_after_s: One frame's analysis taking longer than this stops camera analysis.
        """
        if self.video is not None:
            return
        self.collector.camera_enabled = True
        sub = self.bus.subscribe(maxsize=32)
        self._page_task = asyncio.create_task(self._forward_to_page(sub))
        self._page_sub = sub
        self.video = VideoWorker(
            make_pipeline,
            on_result=self._on_frame,
            on_status=self._on_video_status,
            fps=fps,
            stall_after_s=stall_after_s,
        )
        self.video.start()

    def submit_frame(self, data: bytes | npt.NDArray[np.uint8]) -> bool:
        """Offer a camera frame, encoded or BGR (dropped unless the camera is on and due)."""
        if self.video is None:
            return False
        return self.video.submit(data, self.collector.now())

    def _on_frame(self, frame: FrameAnalysis) -> None:
        self.collector.add_frame(frame)  # kept in memory for the per-answer summaries
        top = max(frame.expression, key=frame.expression.__getitem__) if frame.expression else None
        self.bus.publish(
            FrameAnalysed(
                session_id=self.session_id,
                t=frame.t,
                status=frame.status,
                n_faces=frame.n_faces,
                eye_contact=frame.eye_contact,
                expression=top,
                blink=frame.blink,
            )
        )

    def _on_video_status(self, status: WorkerStatus, reason: str | None) -> None:
        if status == "failed":
            # later answers: presence not measured, and the report says why
            self.collector.camera_problem = "camera analysis stopped"
        self.bus.publish(
            PerceptionDegraded(
                session_id=self.session_id,
                t=self.collector.now(),
                worker="video",
                status=status,
                reason=reason,
            )
        )

    async def _forward_to_page(self, sub: Subscription) -> None:
        """Perception events to the page: presence at most once a second, every status change.

        The subscription is bounded: if the page falls behind, old frame events are dropped,
        never a status change.
        """
        async for ev in sub:
            if isinstance(ev, FrameAnalysed):
                if ev.t - self._last_presence_emit < 1.0:
                    continue
                self._last_presence_emit = ev.t
                self._emit(
                    {
                        "type": "presence",
                        "face": ev.status,
                        "eye_contact": ev.eye_contact,
                        "calibrating": ev.status == "ok" and ev.eye_contact is None,
                    }
                )
            elif isinstance(ev, PerceptionDegraded):
                self._emit(
                    {
                        "type": "perception",
                        "worker": ev.worker,
                        "status": ev.status,
                        "reason": ev.reason,
                    }
                )

    def disconnect(self) -> None:
        """The candidate's connection dropped: take no new answer and say nothing more.

        An answer already submitted is still recorded; speech heard before the drop that had
        not become an answer is not (the question is asked again on reconnect).
        """
        self._closing = True
        self.agent.closing = True
        self.agent.cancel_timers()

    async def aclose(self) -> None:
        """Stop the session; the interview stays checkpointed and can be continued.

        An answer already submitted is recorded first (within its steps' deadlines), so a
        connection that reopens finds it in the checkpoint.
        """
        self.disconnect()
        if self._cap_task is not None:
            self._cap_task.cancel()
        await self.agent.drain(within_s=3 * self.agent.step_timeout_s)
        if self.video is not None:
            await self.video.aclose()
        if self._page_task is not None:
            self._page_task.cancel()
        if self._page_sub is not None:
            self._page_sub.close()
        await self.session.aclose()
