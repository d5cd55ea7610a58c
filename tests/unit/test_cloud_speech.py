"""Deepgram speech recognition and voice through the real livekit plugins against a local fake.

Real Piper speech is streamed in real time into `CloudFirstSTT` (Deepgram plugin + local Whisper
behind it). The fake Deepgram answers with scripted words (it cannot recognise speech) or
injects a fault mid-utterance; the words of a faulted utterance must still arrive, recognised
by local Whisper from the audio the cloud never confirmed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, inference, stt
from livekit.agents import tts as lk_tts

from agent.config import Settings
from agent.errors import ConfigError
from agent.voice.cloud_http import close_sessions
from agent.voice.providers import build_stt, build_tts, piper_dir
from agent.voice.stt_cloud import CloudFirstSTT, CloudHealth
from agent.voice.stt_incremental import HeardPiece, IncrementalSTT
from agent.voice.tts_piper import PiperTTS
from tests.fakes.deepgram_server import FakeDeepgram

pytestmark = pytest.mark.unit

ANSWER = (
    "I led the migration of our billing service to a new database, and I checked the error "
    "rate every week until it dropped by half."
)
CLOUD_SAYS = "Um, I led the billing migration and we halved the error rate."
MODELS = Settings(_env_file=None).models.dir  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture(scope="module")
def answer_frames() -> list[rtc.AudioFrame]:
    """ANSWER spoken by Piper, at 16 kHz in 20 ms frames like a microphone."""
    voice = PiperTTS.from_dir(piper_dir(MODELS), deterministic=True)
    voice.load()

    async def render() -> rtc.AudioFrame:
        return await voice.synthesize(ANSWER).collect()

    frame = asyncio.run(render())
    rs = rtc.AudioResampler(frame.sample_rate, 16000, quality=rtc.AudioResamplerQuality.HIGH)
    pcm = np.concatenate([np.frombuffer(f.data, np.int16) for f in rs.push(frame) + rs.flush()])
    pcm = np.concatenate([np.zeros(8000, np.int16), pcm, np.zeros(32000, np.int16)])
    return [
        rtc.AudioFrame(pcm[i : i + 320].tobytes(), 16000, 1, 320)
        for i in range(0, len(pcm) - 319, 320)
    ]


def _stt(url: str) -> CloudFirstSTT:
    built = build_stt(
        models_dir=MODELS,
        deepgram_api_key="test-key",
        deepgram_base_url=url,
        vad=inference.VAD(min_silence_duration=0.3),
    )
    assert isinstance(built, CloudFirstSTT)
    built.health = CloudHealth()  # each test starts with a healthy cloud
    return built


async def _run(
    recogniser: stt.STT[Any], frames: list[rtc.AudioFrame]
) -> tuple[list[stt.SpeechEvent], Any]:
    """Stream the frames in real time; return the events and the stream."""
    stream = recogniser.stream()
    events: list[stt.SpeechEvent] = []

    async def collect() -> None:
        async for ev in stream:
            events.append(ev)

    reader = asyncio.create_task(collect())
    started = time.monotonic()
    for i, frame in enumerate(frames):
        stream.push_frame(frame)
        await asyncio.sleep(max(0.0, started + (i + 1) * 0.02 - time.monotonic()))
    stream.end_input()
    await asyncio.wait_for(reader, 30)
    await stream.aclose()
    await close_sessions()
    return events, stream


def _finals(events: list[stt.SpeechEvent]) -> str:
    return " ".join(
        e.alternatives[0].text
        for e in events
        if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT and e.alternatives
    )


def _content_words_heard(text: str) -> float:
    want = {w for w in re.findall(r"[a-z]+", ANSWER.lower()) if len(w) > 3}
    got = set(re.findall(r"[a-z]+", text.lower()))
    return len(want & got) / len(want)


async def test_cloud_transcripts_pass_through_with_fillers_and_fluency_pieces(
    deepgram: FakeDeepgram, answer_frames: list[rtc.AudioFrame]
) -> None:
    deepgram.stt_mode = "normal"
    deepgram.script.clear()
    deepgram.script.append(CLOUD_SAYS)
    pieces: list[HeardPiece] = []
    recogniser = _stt(deepgram.listen_url).with_filter(lambda _t: False, on_piece=pieces.append)
    before = len(deepgram.connections)
    events, stream = await _run(recogniser, answer_frames)
    assert _finals(events) == CLOUD_SAYS
    assert stream.mode == "cloud" and recogniser.health.switches == 0
    conn = deepgram.connections[before]
    assert conn["authorization"] == "Token test-key"
    assert conn["query"]["filler_words"] == "true" and conn["query"]["model"] == "nova-3"
    # The cloud's words and the buffered audio make a piece for delivery analysis.
    assert len(pieces) == 1 and pieces[0].text == CLOUD_SAYS
    assert [w for w, _, _ in pieces[0].words][0] == "Um,"
    audio_s = len(pieces[0].pcm) / pieces[0].sample_rate
    assert 3.0 < audio_s < 12.0
    assert all(0 <= s <= e <= audio_s + 0.1 for _, s, e in pieces[0].words)
    types = [e.type for e in events]
    assert types.count(stt.SpeechEventType.START_OF_SPEECH) == 1
    assert stt.SpeechEventType.INTERIM_TRANSCRIPT in types


async def test_a_slow_but_healthy_cloud_is_not_taken_for_a_stalled_one(
    deepgram: FakeDeepgram, answer_frames: list[rtc.AudioFrame]
) -> None:
    """Sparse interim results, each 0.5 s late (a busy machine or network): no switch.

    The final comes 0.8 s of quiet plus the delay after the speech, well over
    ``switch_after_s`` after the last interim result; that is not a stall.
    """
    deepgram.stt_mode = "normal"
    deepgram.stt_delay_s = 0.5
    deepgram.interim_every_s = 2.0
    deepgram.script.clear()
    deepgram.script.append(CLOUD_SAYS)
    try:
        recogniser = _stt(deepgram.listen_url)
        events, stream = await _run(recogniser, answer_frames)
    finally:
        deepgram.stt_delay_s = 0.0
        deepgram.interim_every_s = 1.0
    assert recogniser.health.switches == 0, recogniser.health.last_reason
    assert stream.mode == "cloud"
    assert _finals(events) == CLOUD_SAYS


@pytest.mark.parametrize("fault", ["drop", "stall"])
async def test_mid_utterance_outage_switches_to_local_within_2s_and_loses_nothing(
    deepgram: FakeDeepgram, answer_frames: list[rtc.AudioFrame], fault: str
) -> None:
    deepgram.stt_mode = fault
    deepgram.fault_after_s = 1.5
    deepgram.script.clear()
    deepgram.script.append(CLOUD_SAYS)
    faults_before = len(deepgram.fault_times)
    recogniser = _stt(deepgram.listen_url)
    events, stream = await _run(recogniser, answer_frames)
    assert len(deepgram.fault_times) == faults_before + 1, "the fault was not injected"
    assert stream.mode == "local"
    assert recogniser.health.switches == 1
    # From the fault to local Whisper taking over (the replayed audio) within 2 s.
    switch_s = recogniser.health.switch_latencies_s[-1]
    assert switch_s <= 2.0
    # The utterance the cloud never confirmed was recognised locally: nothing lost.
    heard = _finals(events)
    assert _content_words_heard(heard) >= 0.8, heard
    assert CLOUD_SAYS not in heard
    # A new stream inside the retry window starts locally at once.
    assert not recogniser.health.available()


async def test_cloud_refused_from_the_start_uses_local(
    answer_frames: list[rtc.AudioFrame],
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    built = _stt(f"http://127.0.0.1:{port}/v1/listen")
    events, stream = await _run(built, answer_frames)
    assert stream.mode == "local"
    assert built.health.switch_latencies_s[-1] <= 2.0
    assert _content_words_heard(_finals(events)) >= 0.8


def test_build_stt_wraps_deepgram_with_local_fallback() -> None:
    built = build_stt(
        models_dir=MODELS,
        deepgram_api_key="test-key",
        deepgram_base_url="http://127.0.0.1:9/v1/listen",
        vad=inference.VAD(min_silence_duration=0.3),
    )
    assert isinstance(built, CloudFirstSTT)
    assert isinstance(built.local, IncrementalSTT)
    assert built.provider == "Deepgram"


@pytest.mark.parametrize("fault", ["normal", "stall", "500"])
async def test_cloud_voice_speaks_and_a_failing_one_hands_the_line_to_the_local_voice(
    deepgram: FakeDeepgram, fault: str
) -> None:
    voice = build_tts(
        models_dir=MODELS,
        deepgram_api_key="test-key",
        deepgram_base_url=f"http://127.0.0.1:{deepgram.port}",
    )
    assert isinstance(voice, lk_tts.FallbackAdapter)
    deepgram.tts_mode = fault
    before = len(deepgram.spoken)
    started = time.monotonic()
    try:
        async with voice.stream(conn_options=APIConnectOptions(max_retry=0, timeout=2.0)) as s:
            s.push_text("Tell me about a project you are proud of.")
            s.end_input()
            frames = [ev.frame async for ev in s]
    finally:
        await voice.aclose()
        await close_sessions()
    took = time.monotonic() - started
    assert sum(f.duration for f in frames) > 1.0, "the line was spoken"
    if fault == "normal":
        assert deepgram.spoken[before:] == ["Tell me about a project you are proud of."]
        assert deepgram.connections[-1]["query"]["model"] == "aura-2-thalia-en"
    else:
        assert deepgram.spoken[before:] == []
        assert took < 6.0  # a 2 s cloud timeout, then the local voice


def test_deepgram_voice_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        build_tts(models_dir=MODELS, tts="deepgram")
