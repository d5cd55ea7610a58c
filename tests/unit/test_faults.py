"""Fault injection in the spoken interview: real speech through the real pipeline, parts failing.

Each fault wrapper is a fake that delegates to the real part (Whisper, the Piper voice, the
offline brain, the vision pipeline, the fluency analysis) and crashes, hangs or is slow when the
test cues it. The product wraps these parts exactly as in production (`assemble_runtime`), with
tight deadlines so the faults resolve quickly. Every test checks the interview's reaction
(it continues, or pauses with a clear event to the page), that nothing already answered is lost
(the checkpoint and the database), and that no exception escaped into the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import numpy.typing as npt
import pytest
import uvicorn
import websockets
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, inference, stt, tts
from livekit.agents import utils as lk_utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from sqlmodel import Session, select

from agent.brain.types import CandidateProfile
from agent.config import Settings
from agent.interview import InterviewRunner, open_runner
from agent.store.db import make_engine
from agent.store.models import Turn
from agent.voice import delivery as delivery_module
from agent.voice.harness import AudioHarness, silence, to_pcm16
from agent.voice.interviewer import NOT_CAUGHT, STALLED_LINE
from agent.voice.local_io import pcm16_frames
from agent.voice.providers import build_stt, build_tts
from agent.voice.session import VOICE_STALL_S, BoundedRecognizer, VoiceRuntime, assemble_runtime
from agent.voice.stt_incremental import IncrementalSTT
from agent.voice.tts_piper import PiperTTS
from agent.voice.vision import VisionFactory
from perception.fluency import warm_up as warm_up_fluency
from perception.presence import FrameAnalysis

pytestmark = [pytest.mark.unit, pytest.mark.slow]

FACE = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "faces"
    / "neutral"
    / "london_019_neutral_front.jpg"
)
INTRO = "I have five years of Python experience."
CACHE = "I would add a database index and cache the results."
MORE = "Most of my work is on payment services."
OVER = "Honestly I love solving hard problems and my team ships payments."
TYPED = "I am a backend engineer and I build payment services in Python."
"""The first answer, typed, where the greeting is not what a test is about."""
SLOW_S = {"stt": 1.0, "tts": 1.5, "vision": 0.5}
"""How late a slow part answers (well inside the deadlines below, even on a busy machine)."""


# --- fault wrappers ----------------------------------------------------------------------------


class Faults:
    """What the wrapped parts do on their next calls, cued by the test as the interview goes."""

    def __init__(self) -> None:
        self._once: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._always: dict[str, str] = {}
        self.fired: list[tuple[str, str]] = []
        self.released = threading.Event()
        """Set at the end of a test: hung calls return (a hung thread must not outlive it)."""
        self._lock = threading.Lock()

    def once(self, part: str, mode: str) -> None:
        """The next call to ``part`` crashes ("raise"), hangs ("hang") or is slow ("slow")."""
        with self._lock:
            self._once[part].append(mode)

    def always(self, part: str, mode: str | None) -> None:
        """Every call to ``part`` (after any one-off cues) does ``mode``; None: behave."""
        with self._lock:
            if mode is None:
                self._always.pop(part, None)
            else:
                self._always[part] = mode

    def take(self, part: str) -> str | None:
        with self._lock:
            mode = self._once[part].popleft() if self._once[part] else self._always.get(part)
            if mode is not None:
                self.fired.append((part, mode))
            return mode

    def modes(self, part: str) -> list[str]:
        return [m for p, m in self.fired if p == part]

    async def act(self, part: str) -> None:
        """Apply the cue for ``part`` on the event loop."""
        mode = self.take(part)
        if mode == "raise":
            raise RuntimeError(f"injected {part} crash")
        if mode == "hang":
            while not self.released.is_set():  # noqa: ASYNC110  # a fake that never answers
                await asyncio.sleep(0.05)
            raise RuntimeError(f"injected {part} hang released")
        if mode == "slow":
            await asyncio.sleep(SLOW_S[part])

    def act_blocking(self, part: str) -> None:
        """Apply the cue for ``part`` in a worker thread."""
        mode = self.take(part)
        if mode == "raise":
            raise RuntimeError(f"injected {part} crash")
        if mode == "hang":
            self.released.wait(120)
            raise RuntimeError(f"injected {part} hang released")
        if mode == "slow":
            time.sleep(SLOW_S[part])


class FaultySTT(stt.STT[Any]):
    """The real recogniser (Whisper), crashing, hanging or slow on cue."""

    def __init__(self, inner: stt.STT[Any], faults: Faults) -> None:
        super().__init__(capabilities=inner.capabilities)
        self._inner = inner
        self._faults = faults

    async def _recognize_impl(
        self,
        buffer: lk_utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        await self._faults.act("stt")
        return await self._inner.recognize(
            buffer=buffer, language=language, conn_options=conn_options
        )


class FaultyTTS(tts.TTS[Any]):
    """The real voice (Piper), crashing, hanging or slow on cue (once per sentence)."""

    def __init__(self, inner: tts.TTS[Any], faults: Faults) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=inner.sample_rate,
            num_channels=inner.num_channels,
        )
        self.inner = inner
        self.faults = faults

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _FaultyStream(tts=self, input_text=text, conn_options=conn_options)


class _FaultyStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        voice = self._tts
        assert isinstance(voice, FaultyTTS)
        await voice.faults.act("tts")
        started = False
        async with voice.inner.synthesize(self.input_text) as inner:
            async for ev in inner:
                if not started:
                    output_emitter.initialize(
                        request_id=ev.request_id,
                        sample_rate=ev.frame.sample_rate,
                        num_channels=ev.frame.num_channels,
                        mime_type="audio/pcm",
                    )
                    started = True
                output_emitter.push(bytes(ev.frame.data.cast("B")))
        output_emitter.flush()


class FaultyBrain:
    """The offline brain, its analysis, decision or critique crashing, hanging or slow on cue."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self.name = inner.name
        self.prompt_refs = inner.prompt_refs

    async def plan(self, **kw: Any) -> Any:
        return await self._inner.plan(**kw)

    async def analyse(self, **kw: Any) -> Any:
        await self._faults.act("analyse")
        return await self._inner.analyse(**kw)

    async def decide(self, **kw: Any) -> Any:
        await self._faults.act("decide")
        return await self._inner.decide(**kw)

    async def summarise(self, **kw: Any) -> Any:
        await self._faults.act("summarise")
        return await self._inner.summarise(**kw)


class FaultyPipeline:
    """The real vision pipeline (face, gaze, expression), crashing, hanging or slow on cue."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def analyse(self, frame_bgr: npt.NDArray[np.uint8], t: float) -> FrameAnalysis:
        self._faults.act_blocking("vision")
        result: FrameAnalysis = self._inner.analyse(frame_bgr, t)
        return result

    def close(self) -> None:
        self._inner.close()


# --- real parts, shared by the module ----------------------------------------------------------


@pytest.fixture(scope="module")
def models() -> Path:
    return Settings(_env_file=None).models.dir  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def real_parts(models: Path, speech: dict[str, bytes]) -> dict[str, Any]:
    """Whisper, the Piper voice, the VAD and the turn detector, loaded and warmed once."""
    whisper = build_stt(models_dir=models)
    frames = pcm16_frames(speech[MORE], 16000)
    asyncio.run(whisper.recognize(buffer=frames))  # the first decoding pays for set-up
    warm_up_fluency()
    return {
        "stt": whisper,
        "tts": build_tts(models_dir=models, tts="piper"),
        "vad": inference.VAD(min_silence_duration=0.3),
        "detector": inference.TurnDetector(version="v1-mini"),
    }


@pytest.fixture(scope="module")
def speech(models: Path) -> dict[str, bytes]:
    """The candidate's answers, synthesised once (16 kHz mono PCM16)."""
    voice = PiperTTS.from_dir(models / "piper-joe", deterministic=True)

    async def synth(text: str) -> bytes:
        frames = [ev.frame async for ev in voice.synthesize(text)]
        pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
        return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)

    async def all_of() -> dict[str, bytes]:
        return {t: await synth(t) for t in (INTRO, CACHE, MORE, OVER)}

    return asyncio.run(all_of())


def faulty_runtime(
    parts: dict[str, Any], faults: Faults, *, voice_stall_s: float = VOICE_STALL_S
) -> VoiceRuntime:
    """The product's live wrapping of the real parts behind the fault wrappers."""
    return assemble_runtime(
        stt_=FaultySTT(parts["stt"], faults),
        tts_=FaultyTTS(parts["tts"], faults),
        turn_detector=parts["detector"],
        vad_=parts["vad"],
        voice_stall_s=voice_stall_s,
    )


def recognizer(runtime: VoiceRuntime) -> BoundedRecognizer:
    """The deadline-keeping recogniser inside the runtime (shared by its sessions)."""
    assert isinstance(runtime.stt, IncrementalSTT)
    bounded = runtime.stt.wrapped
    assert isinstance(bounded, BoundedRecognizer)
    return bounded


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Short waits so faults resolve quickly."""
    voice = settings.voice.model_copy(
        update={
            "no_answer_after_s": 5.0,
            "ack_after_s": 10.0,  # no "one moment" lines: each fault below hits a known line
        }
    )
    return settings.model_copy(update={"voice": voice})


# --- what escaped --------------------------------------------------------------------------------


class Trouble(logging.Handler):
    """Warnings and errors logged, and exceptions that reached the event loop's handler."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.loop_errors: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def check(self, *, spoken: tuple[str, ...] = ()) -> None:
        """Nothing unhandled, and the candidate's words appear in no log message."""
        gc.collect()  # "Task exception was never retrieved" is reported on collection
        assert not self.loop_errors, self.loop_errors
        unhandled = [
            r.getMessage()
            for r in self.records
            if r.name == "asyncio"
            or "never retrieved" in r.getMessage()
            or "error occurred during on_user_turn_completed" in r.getMessage()
            or "closing due to unrecoverable error" in r.getMessage()
        ]
        assert not unhandled, unhandled
        for r in self.records:
            message = r.getMessage().lower()
            for text in spoken:
                assert text.lower()[:30] not in message, r.getMessage()


@pytest.fixture
async def trouble() -> AsyncIterator[Trouble]:
    loop = asyncio.get_running_loop()
    t = Trouble()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: t.loop_errors.append(ctx))
    root = logging.getLogger()
    root.addHandler(t)
    try:
        yield t
    finally:
        root.removeHandler(t)
        loop.set_exception_handler(previous)


@contextlib.asynccontextmanager
async def interview(
    runtime: VoiceRuntime,
    runner: InterviewRunner,
    settings: Settings,
    mini_flow: Any,
    faults: Faults,
    *,
    greeting: bool = False,
) -> AsyncIterator[AudioHarness]:
    """A started spoken interview on the mini flow, with tight product deadlines.

    Without ``greeting`` the first question is answered in writing first, so the voice starts
    at the (short) second question (pending turn 1).
    """
    await runner.start(session_id="v", flow=mini_flow, profile=CandidateProfile())
    if not greeting:
        await runner.answer("v", TYPED)
    h = AudioHarness(
        runtime=runtime, runner=runner, settings=settings, session_id="v", playout_speed=20
    )
    agent = h.voice.agent
    agent.step_timeout_s = 4.0
    agent.stall_retry_s = 1.0
    agent.not_caught_after_s = 2.0
    try:
        await h.start()
        yield h
    finally:
        faults.released.set()
        await h.aclose()


def said_after(h: AudioHarness, t: float) -> list[str]:
    return [e["text"] for e in h.captured.events if e["type"] == "agent_said" and e["at"] >= t]


def submitted(h: AudioHarness) -> list[str]:
    return [e["text"] for e in h.captured.events if e["type"] == "answer_submitted"]


def errors(h: AudioHarness, code: str) -> list[dict[str, Any]]:
    return [e for e in h.captured.events if e["type"] == "error" and e.get("code") == code]


def db_answers(settings: Settings, session_id: str) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as db:
            rows = db.exec(select(Turn).where(Turn.session_id == session_id)).all()
            return [r.answer for r in sorted(rows, key=lambda r: r.index)]
    finally:
        engine.dispose()


# --- speech recognition ------------------------------------------------------------------------


async def test_recogniser_crash_or_hang_asks_again_and_a_slow_one_loses_nothing(
    real_parts, speech, quick, brain, mini_flow, trouble
) -> None:  # type: ignore[no-untyped-def]
    faults = Faults()
    runtime = faulty_runtime(real_parts, faults)
    bounded = recognizer(runtime)
    async with (
        open_runner(quick, brain=brain, durable=False, use_db=False) as runner,
        interview(runtime, runner, quick, mini_flow, faults) as h,
    ):
        await h.wait_listening(within=60)
        # The first piece of the answer crashes the recogniser, the piece after it hangs (given
        # up after a tight deadline).
        default_deadline = (bounded.timeout_s, bounded.per_audio_s)
        bounded.timeout_s, bounded.per_audio_s = 2.0, 0.0
        faults.once("stt", "raise")
        faults.always("stt", "hang")
        t1 = await h.speak(speech[INTRO] + silence(0.25) + speech[MORE] + silence(0.2))
        again = await h.wait_for(lambda e: e["type"] == "agent_said", within=30, after=t1)
        faults.always("stt", None)
        bounded.timeout_s, bounded.per_audio_s = default_deadline
        assert again["text"] == NOT_CAUGHT  # not a silent wait, not an empty answer
        assert {"raise", "hang"} <= set(faults.modes("stt"))
        assert submitted(h) == [] and (await runner.current("v")).turn == 1
        # Every piece is now recognised late: the answer still arrives whole, once.
        await h.wait_listening(within=30, after=again["at"])
        faults.always("stt", "slow")
        t2 = await h.speak(speech[INTRO] + silence(0.25) + speech[MORE] + silence(0.2))
        await h.wait_for(lambda e: e["type"] == "question" and e["turn"] == 2, within=60, after=t2)
        faults.always("stt", None)
        assert "slow" in faults.modes("stt")
        assert len(submitted(h)) == 1
        state = await runner.values("v")
        assert [t["index"] for t in state["turns"]] == [0, 1]
        answer = state["turns"][1]["answer"].lower()
        for word in ("five years", "python", "payment"):
            assert word in answer, answer
    trouble.check(spoken=(INTRO, MORE))


# --- the interviewer's voice ---------------------------------------------------------------------


async def test_voice_crash_hang_and_slowness_keep_the_questions_coming(
    real_parts, speech, quick, brain, mini_flow, trouble
) -> None:  # type: ignore[no-untyped-def]
    faults = Faults()
    # The greeting's first sentence crashes the voice, the second hangs, the rest are late.
    faults.once("tts", "raise")
    faults.once("tts", "hang")
    faults.always("tts", "slow")
    async with (
        open_runner(quick, brain=brain, durable=False, use_db=False) as runner,
        interview(
            faulty_runtime(real_parts, faults, voice_stall_s=6.0),
            runner,
            quick,
            mini_flow,
            faults,
            greeting=True,
        ) as h,
    ):
        first = await h.wait_for(lambda e: e["type"] == "question", within=30)
        caption = await h.wait_for(lambda e: e["type"] == "agent_said", within=5)
        assert first["turn"] == 0
        assert "Tell me a bit about yourself" in caption["text"]  # the page shows the question
        await h.wait_for(lambda _: len(errors(h, "voice_failed")) == 2, within=60)
        t0 = await h.wait_listening(within=90)  # the rest of the greeting was spoken, late
        assert faults.modes("tts")[:3] == ["raise", "hang", "slow"]
        assert h.first_audio_after(errors(h, "voice_failed")[-1]["at"]) is not None
        faults.always("tts", None)
        # The interview goes on: an answer, the next question, spoken.
        t1 = await h.speak(speech[INTRO] + silence(0.2))
        nxt = await h.wait_for(
            lambda e: e["type"] == "question" and e["turn"] == 1, within=60, after=t0
        )
        await h.wait_listening(within=60, after=max(t1, nxt["at"]) - 1)
        assert h.first_audio_after(nxt["at"]) is not None
        state = await runner.values("v")
        assert [t["answer"] for t in state["turns"]] == [INTRO], state["turns"]
        assert len(errors(h, "voice_failed")) == 2
    trouble.check(spoken=(INTRO,))


# --- the brain -----------------------------------------------------------------------------------


async def test_brain_crash_and_hang_continue_from_the_checkpoint_or_pause_clearly(
    real_parts, speech, quick, brain, mini_flow, trouble
) -> None:  # type: ignore[no-untyped-def]
    faults = Faults()
    faulty = FaultyBrain(brain, faults)
    async with (
        open_runner(quick, brain=faulty, durable=True, use_db=True) as runner,  # type: ignore[arg-type]
        interview(faulty_runtime(real_parts, faults), runner, quick, mini_flow, faults) as h,
    ):
        await h.wait_listening(within=60)
        # Grading the answer crashes once: the step continues from its checkpoint.
        faults.once("analyse", "raise")
        t1 = await h.speak(speech[INTRO] + silence(0.2))
        q1 = await h.wait_for(
            lambda e: e["type"] == "question" and e["turn"] == 2, within=60, after=t1 - 5
        )
        assert faults.modes("analyse") == ["raise"] and not errors(h, "interviewer_stalled")
        await h.wait_listening(within=30, after=q1["at"])
        # Deciding what to ask next hangs: past the deadline, retried, then a clear pause.
        faults.always("decide", "hang")
        t2 = await h.speak(speech[CACHE] + silence(0.2))
        stalled = await h.wait_for(
            lambda e: e["type"] == "error" and e.get("code") == "interviewer_stalled",
            within=60,
            after=t2 - 5,
        )
        assert STALLED_LINE in said_after(h, stalled["at"] - 1)
        state = await runner.values("v")  # both answers are in the checkpoint
        answers = [t["answer"].lower() for t in state["turns"]]
        assert len(answers) == 3 and "python" in answers[1] and "index" in answers[2], answers
        # The brain recovers: the interview carries on by itself at the next question.
        faults.always("decide", None)
        resumed = await h.wait_for(lambda e: e["type"] == "resumed", within=30, after=stalled["at"])
        q2 = await h.wait_for(
            lambda e: e["type"] == "question" and e["turn"] == 3, within=10, after=resumed["at"]
        )
        assert said_after(h, q2["at"])
        # Ending: the critique crashes once, and the report is still made.
        faults.once("summarise", "raise")
        await h.voice.end()
        done = await h.wait_for(lambda e: e["type"] == "finished", within=30)
        assert done["overall_score"] is not None and faults.modes("summarise")[0] == "raise"
        assert len(submitted(h)) == 2
    answers = db_answers(quick, "v")
    assert len(answers) == 3 and "index" in answers[2].lower(), answers
    trouble.check(spoken=(INTRO, CACHE))


# --- perception ----------------------------------------------------------------------------------


def face_frame() -> npt.NDArray[np.uint8]:
    face = cv2.resize(cv2.imread(str(FACE)), (320, 320), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 110, np.uint8)
    frame[80:400, 160:480] = face
    return frame


@contextlib.asynccontextmanager
async def camera(h: AudioHarness, fps: float = 4.0) -> AsyncIterator[None]:
    """A webcam in front of the candidate: a real face, frames at ``fps``."""
    frame = face_frame()

    async def feed() -> None:
        while True:
            h.voice.submit_frame(frame)
            await asyncio.sleep(1 / fps)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def crashing_fluency(monkeypatch: pytest.MonkeyPatch) -> Callable[[Faults], None]:
    """The real fluency analysis, crashing on cue (one attribute swapped)."""
    real = delivery_module.analyse_fluency

    def install(faults: Faults) -> None:
        def analyse(*args: Any, **kwargs: Any) -> Any:
            faults.act_blocking("fluency")
            return real(*args, **kwargs)

        monkeypatch.setattr(delivery_module, "analyse_fluency", analyse)

    return install


async def test_perception_faults_leave_signals_not_measured_never_invented(
    real_parts, speech, quick, brain, mini_flow, trouble, crashing_fluency
) -> None:  # type: ignore[no-untyped-def]
    faults = Faults()
    crashing_fluency(faults)
    make_real = VisionFactory(quick)()
    async with (
        open_runner(quick, brain=brain, durable=False, use_db=True) as runner,
        interview(faulty_runtime(real_parts, faults), runner, quick, mini_flow, faults) as h,
    ):
        h.voice.enable_camera(
            lambda: FaultyPipeline(make_real(), faults), fps=4.0, stall_after_s=1.5
        )
        async with camera(h):
            await h.wait_listening(within=60)
            # First answer: frame analysis is slower than the frame rate.
            faults.always("vision", "slow")
            t1 = await h.speak(speech[INTRO] + silence(0.25) + speech[MORE] + silence(0.2))
            await h.wait_for(
                lambda e: e["type"] == "question" and e["turn"] == 2, within=60, after=t1 - 5
            )
            await h.wait_listening(within=60, after=t1)
            # Second answer: a frame crashes the analysis, the next one hangs it; the fluency
            # analysis of this answer crashes too.
            faults.once("vision", "raise")
            faults.always("vision", "hang")
            faults.once("fluency", "raise")
            t2 = await h.speak(speech[CACHE] + silence(0.2))
            await h.wait_for(
                lambda e: e["type"] == "question" and e["turn"] == 3, within=60, after=t2 - 5
            )
            await h.voice.end()
            await h.wait_for(lambda e: e["type"] == "finished", within=30)
        assert h.voice.video is not None
        analysed = h.voice.video.stats.analysed
        page = [(e["status"], e["reason"]) for e in h.captured.events if e["type"] == "perception"]
        report = (await runner.current("v")).report
    assert {"slow", "raise", "hang"} <= set(faults.modes("vision"))
    assert ("failed", "frame analysis stopped responding") in page  # the page is told
    assert any(status == "behind" for status, _ in page)
    assert report is not None
    typed, slow, stuck = report["questions"]
    assert typed["fluency"] is None and typed["presence"] is None  # written: nothing measured
    assert "python" in slow["answer"].lower() and "index" in stuck["answer"].lower()
    # Slow analysis: presence from the frames really analysed, or honestly not measured.
    assert slow["presence"]["frames"] <= analysed
    assert slow["presence"]["status"] == "ok" or slow["presence"]["reason"] != "camera off"
    assert slow["fluency"]["status"] == "ok" and slow["fluency"]["wpm"] is not None
    # Stuck analysis and crashed fluency: not measured, saying why; no figure made up.
    assert stuck["presence"]["status"] == "not_measured"
    assert stuck["presence"]["reason"] == "camera analysis stopped"
    assert stuck["presence"]["eye_contact_ratio"] is None
    assert stuck["fluency"]["status"] == "not_measured"
    assert stuck["fluency"]["reason"] == "analysis failed" and stuck["fluency"]["wpm"] is None
    trouble.check(spoken=(INTRO, CACHE))


# --- the browser's connection ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Page:
    """What the page does over the local WebSocket: play the microphone, read the events."""

    def __init__(self, base: str, sid: str) -> None:
        self.url = base.replace("http", "ws") + f"/ws/interviews/{sid}"
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> dict[str, Any]:
        self.events = []
        self._ws = await websockets.connect(self.url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return await self.wait_for(lambda e: e["type"] == "hello")

    async def _read(self) -> None:
        import json

        with contextlib.suppress(websockets.ConnectionClosed):
            async for msg in self._ws:
                if isinstance(msg, str):
                    self.events.append({**json.loads(msg), "at": time.monotonic()})
                    self._changed.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 60.0, after: float = 0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for ev in self.events:
                if ev["at"] >= after and predicate(ev):
                    return ev
            if time.monotonic() > deadline:
                raise TimeoutError([e["type"] for e in self.events])
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.5)

    async def send_audio(self, pcm: bytes) -> None:
        """Stream microphone audio as the page does (about real time)."""
        chunk = 3200  # 0.1 s
        for i in range(0, len(pcm), chunk):
            await self._ws.send(pcm[i : i + chunk])
            await asyncio.sleep(0.1)

    async def drop(self) -> None:
        """The tab loses its connection."""
        await self._ws.close()
        if self._reader is not None:
            await self._reader


@contextlib.asynccontextmanager
async def served_app(
    settings: Settings, runtime: VoiceRuntime, brain: Any
) -> AsyncIterator[tuple[str, Any]]:
    from agent.api.app import create_app

    app = create_app(
        settings,
        runtime=runtime,
        runner_factory=lambda: open_runner(settings, brain=brain, durable=True, use_db=True),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110  # uvicorn exposes a flag only
            assert not task.done(), "the app did not start"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task


async def test_a_dropped_page_reconnects_to_the_pending_question_and_keeps_its_answers(
    real_parts, speech, quick, brain, trouble
) -> None:  # type: ignore[no-untyped-def]
    faults = Faults()
    async with served_app(quick, faulty_runtime(real_parts, faults), brain) as (base, app):
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.post("/api/interviews", json={"consent": True, "flow": "backend"})
            assert r.status_code == 200, r.text
            sid = r.json()["session_id"]
            # The greeting's question is answered in writing; the voice starts at the next one.
            r = await http.post(f"/api/interviews/{sid}/answers", json={"text": TYPED, "turn": 0})
            assert r.status_code == 200, r.text
        runner: InterviewRunner = app.state.mi.runner
        page = Page(base, sid)
        try:
            hello = await page.connect()
            assert hello["resumed"] is False
            # Dropped while the interviewer is asking the question.
            await page.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "speaking")
            await page.drop()
            hello = await page.connect()
            q = await page.wait_for(lambda e: e["type"] == "question")
            assert hello["resumed"] is True and q["turn"] == 1  # the same question, again
            said = await page.wait_for(lambda e: e["type"] == "agent_said", after=q["at"])
            assert said["text"].startswith("Welcome back.")  # not the acknowledgement again
            spoke = await page.wait_for(
                lambda e: e["type"] == "agent_state" and e["state"] == "speaking"
            )
            await page.wait_for(
                lambda e: e["type"] == "agent_state" and e["state"] == "listening",
                after=spoke["at"],
            )
            # The candidate answers; the page drops the moment the answer is taken.
            await page.send_audio(speech[OVER] + silence(0.3))
            taken = await page.wait_for(lambda e: e["type"] == "answer_submitted")
            await page.drop()
            hello = await page.connect()
            q = await page.wait_for(lambda e: e["type"] == "question")
            assert hello["resumed"] is True
            assert q["turn"] == 2  # the answer was kept: the interview moved on, once
            state = await runner.values(sid)
            answers = [t["answer"] for t in state["turns"]]
            assert answers == [TYPED, taken["text"]] and "love solving" in answers[1].lower()
            # Dropped half-way through the next answer: nothing half-heard is taken.
            half = speech[CACHE][: len(speech[CACHE]) // 2]
            await page.send_audio(half)
            await page.wait_for(lambda e: e["type"] == "user_state" and e["state"] == "speaking")
            await page.drop()
            hello = await page.connect()
            q = await page.wait_for(lambda e: e["type"] == "question")
            assert hello["resumed"] is True and q["turn"] == 2
            state = await runner.values(sid)
            assert [t["answer"] for t in state["turns"]] == answers
            await page.drop()
        finally:
            faults.released.set()
    trouble.check(spoken=(OVER, CACHE, TYPED))
