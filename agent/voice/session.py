"""Builds and runs one spoken interview: AgentSession + interviewer agent + audio I/O.

`VoiceRuntime` holds the process-wide models (STT, TTS, VAD, turn detector), loaded once and
shared by every interview. `VoiceInterview` wires one session to any audio input/output (the
browser transport, a LiveKit room, or the in-process test harness) and publishes UI events.
Nothing here records audio: AgentSession's recorder is switched off.
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
from livekit.agents import AgentSession, APIConnectOptions, inference, stt, tts, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
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
from perception.presence import FrameAnalysis
from perception.worker import FramePipeline, VideoWorker, WorkerStatus

logger = logging.getLogger("mockint.agent.voice")

CLOUD_TTS_TIMEOUT_S = 2.0


@dataclass
class VoiceRuntime:
    """Models shared by all spoken interviews in this process."""

    stt: stt.STT[Any]
    tts: tts.TTS[Any]
    vad: vad.VAD
    turn_detector: Any | None
    """livekit's local audio end-of-turn model, or None for VAD-only endpointing."""


def build_voice_runtime(settings: Settings, *, turn_detector: bool = True) -> VoiceRuntime:
    """Load STT, TTS, VAD and the turn detector once (call at start-up, not per session)."""
    key = settings.voice.deepgram_api_key
    stt_ = build_stt(
        models_dir=settings.models.dir,
        deepgram_api_key=key.get_secret_value() if key else None,
        deepgram_base_url=settings.voice.deepgram_base_url,
        cpu_threads=settings.voice.stt_threads,
        beam_size=settings.voice.stt_beam_size,
        language=settings.voice.language,
    )
    tts_ = build_tts(
        models_dir=settings.models.dir,
        tts=settings.voice.tts,
        deepgram_api_key=key.get_secret_value() if key else None,
        deepgram_base_url=settings.voice.deepgram_base_url,
    )
    vad_ = inference.VAD(min_silence_duration=0.3)
    if not stt_.capabilities.streaming:
        stt_ = IncrementalSTT(stt_=stt_, vad=inference.VAD(min_silence_duration=0.3))
    detector = inference.TurnDetector(version="v1-mini") if turn_detector else None
    return VoiceRuntime(stt=stt_, tts=tts_, vad=vad_, turn_detector=detector)


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
    ) -> None:
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
        self.session: AgentSession[None] = AgentSession(
            stt=session_stt,
            tts=runtime.tts,
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
        self._cap_task: asyncio.Task[None] | None = None
        self._max_s = settings.voice.max_session_minutes * 60

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if ev.old_state == "speaking":
            self._spoke_until = time.monotonic()
        self._agent_state = ev.new_state
        self._emit({"type": "agent_state", "state": ev.new_state})
        if ev.new_state == "listening":
            self.agent.listening()

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

    def enable_camera(self, make_pipeline: Callable[[], FramePipeline], *, fps: float) -> None:
        """Start analysing camera frames (only after the candidate opted in).

        Args:
            make_pipeline: Builds the vision pipeline inside the worker thread.
            fps: Frames analysed per second at most.
        """
        if self.video is not None:
            return
        self.collector.camera_enabled = True
        sub = self.bus.subscribe(maxsize=32)
        self._page_task = asyncio.create_task(self._forward_to_page(sub))
        self._page_sub = sub
        self.video = VideoWorker(
            make_pipeline, on_result=self._on_frame, on_status=self._on_video_status, fps=fps
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
            self.collector.camera_enabled = False  # later answers: camera not measured
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

    async def aclose(self) -> None:
        """Stop the session; the interview stays checkpointed and can be continued."""
        if self._cap_task is not None:
            self._cap_task.cancel()
        self.agent.cancel_timers()
        if self.video is not None:
            await self.video.aclose()
        if self._page_task is not None:
            self._page_task.cancel()
        if self._page_sub is not None:
            self._page_sub.close()
        await self.session.aclose()
