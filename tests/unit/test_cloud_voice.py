"""A spoken interview with the Deepgram providers (local fake) through the real voice pipeline.

The cloud voice speaks the greeting; the candidate's answer is cut off by a Deepgram drop
mid-sentence and still reaches the interview whole (local Whisper, replayed audio); with the
cloud voice refusing, the next line is spoken by the local voice.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import SecretStr

from agent.brain.types import CandidateProfile
from agent.config import Settings
from agent.interview import open_runner
from agent.voice.cloud_http import close_sessions
from agent.voice.harness import AudioHarness, silence, to_pcm16
from agent.voice.providers import piper_dir
from agent.voice.session import build_voice_runtime
from agent.voice.stt_cloud import CloudFirstSTT
from agent.voice.tts_piper import PiperTTS
from tests.fakes.deepgram_server import FakeDeepgram

pytestmark = [pytest.mark.unit, pytest.mark.slow]

ANSWER = "I am a backend engineer with five years of Python experience at a payments company."


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


async def test_deepgram_outage_mid_answer_loses_nothing_and_cloud_voice_falls_back(
    deepgram: FakeDeepgram,
    settings: Settings,
    brain,
    mini_flow,  # type: ignore[no-untyped-def]
) -> None:
    settings.voice = settings.voice.model_copy(
        update={
            "deepgram_api_key": SecretStr("test-key"),
            "deepgram_base_url": f"http://127.0.0.1:{deepgram.port}",
        }
    )
    runtime = build_voice_runtime(settings)
    assert isinstance(runtime.stt, CloudFirstSTT)
    runtime.stt.prewarm()
    piper = PiperTTS.from_dir(piper_dir(settings.models.dir), deterministic=True)
    frames = [ev.frame async for ev in piper.synthesize(ANSWER)]
    pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
    answer = to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)

    deepgram.stt_mode, deepgram.fault_after_s = "drop", 1.5
    deepgram.tts_mode = "normal"
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        await runner.start(session_id="c", flow=mini_flow, profile=CandidateProfile())
        h = AudioHarness(
            runtime=runtime, runner=runner, settings=settings, session_id="c", playout_speed=8.0
        )
        await h.start()
        try:
            await h.wait_listening(within=90)
            assert any("slow" not in s and s for s in deepgram.spoken), "greeting by cloud voice"
            greeting_lines = len(deepgram.spoken)
            deepgram.tts_mode = "500"  # the cloud voice is down from now on
            t_end = await h.speak(silence(0.3) + answer + silence(0.1))
            said = await h.wait_for(lambda e: e["type"] == "agent_said", within=60, after=t_end)
            heard = " ".join(
                e["text"] for e in h.captured.events if e["type"] == "user_said"
            ).lower()
            for word in ("engineer", "python", "experience", "payments"):
                assert word in heard, heard
            assert deepgram.fault_times, "the Deepgram drop was injected"
            assert runtime.stt.health.switch_latencies_s[-1] <= 2.0
            assert "slow API endpoint" in said["text"]  # the graph moved on
            await h.wait_listening(within=60, after=said["at"] - 0.001)
            assert h.first_audio_after(said["at"]) is not None, "the local voice spoke it"
            assert len(deepgram.spoken) == greeting_lines  # nothing more from the cloud voice
        finally:
            await h.aclose()
            await close_sessions()
