"""Real audio through the real voice pipeline (VAD, turn detection, Whisper, graph, Piper)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from agent.brain.speech import early_sink
from agent.brain.types import CandidateProfile
from agent.config import Settings
from agent.interview import open_runner
from agent.voice.harness import AudioHarness, silence, to_pcm16
from agent.voice.session import build_voice_runtime
from agent.voice.tts_piper import PiperTTS

pytestmark = [pytest.mark.unit, pytest.mark.slow]


@pytest.fixture(scope="module")
def runtime():  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    rt = build_voice_runtime(settings)
    rt.stt.prewarm()
    return rt


@pytest.fixture(scope="module")
def voice() -> PiperTTS:
    return PiperTTS.from_dir(Settings(_env_file=None).models.dir / "piper-joe", deterministic=True)  # type: ignore[call-arg]


async def say(tts: PiperTTS, text: str) -> bytes:
    frames = [ev.frame async for ev in tts.synthesize(text)]
    pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
    return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)


async def harness(runtime, settings, brain, mini_flow, runner, speed: float = 8.0) -> AudioHarness:  # type: ignore[no-untyped-def]
    await runner.start(session_id="v", flow=mini_flow, profile=CandidateProfile())
    h = AudioHarness(
        runtime=runtime, runner=runner, settings=settings, session_id="v", playout_speed=speed
    )
    await h.start()
    return h


def user_turns(h: AudioHarness, after: float = 0.0) -> list[str]:
    return [e["text"] for e in h.captured.events if e["type"] == "user_said" and e["at"] >= after]


async def test_spoken_answer_reaches_the_graph_and_gets_a_spoken_reply(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, settings, brain, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            greeting_audio = len(h.captured.audio_frames)
            assert greeting_audio > 0, "the greeting was spoken"
            pcm = await say(
                voice,
                "I am a backend engineer with five years of Python experience at a payments company.",
            )
            t_end = await h.speak(pcm + silence(0.1))
            said = await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t_end)
            heard = " ".join(user_turns(h)).lower()
            for word in ("engineer", "python", "experience", "years"):
                assert word in heard, heard
            assert "slow API endpoint" in said["text"]  # the graph moved to the next question
            delivery = [e for e in h.captured.events if e["type"] == "delivery"]
            assert len(delivery) == 1 and 80 < delivery[0]["wpm"] < 260, delivery
            assert delivery[0]["eye_contact"] is None  # camera off: not measured
            await h.wait_listening(within=60, after=said["at"] - 0.001)
            assert h.first_audio_after(said["at"]) is not None  # and it was spoken
            state = await runner.current("v")
            assert state.turn == 1
        finally:
            await h.aclose()


async def test_two_second_thinking_pause_does_not_end_the_turn(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, settings, brain, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            first = await say(voice, "I have worked as a backend engineer for about")
            second = await say(voice, "five years, mostly building payment systems in Python.")
            t0 = await h.speak(first + silence(2.0))
            await h.speak(second + silence(0.1))
            await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t0)
            answers = [e["text"] for e in h.captured.events if e["type"] == "answer_submitted"]
            timeline = [
                (round(e["at"] - t0, 2), e["type"], e.get("state") or e.get("text"))
                for e in h.captured.events
                if e["at"] >= t0 - 5
                and e["type"] in ("user_state", "user_said", "answer_submitted")
            ]
            assert len(answers) == 1, timeline
            assert "payment" in answers[0].lower(), timeline
            assert "engineer" in answers[0].lower(), timeline
        finally:
            await h.aclose()


async def test_the_same_words_twice_answer_two_questions(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    """Words already used are only dropped from late transcripts, not from a new answer."""
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, settings, brain, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            pcm = await say(voice, "I have five years of Python experience at a payments company.")
            for turn in (1, 2):
                t_end = await h.speak(pcm + silence(0.1))
                said = await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t_end)
                await h.wait_listening(within=60, after=said["at"] - 0.001)
                state = await runner.current("v")
                assert state.turn == turn
            answers = [e["text"] for e in h.captured.events if e["type"] == "answer_submitted"]
            assert len(answers) == 2 and all("python" in a.lower() for a in answers), answers
        finally:
            await h.aclose()


async def test_barge_in_stops_playback_and_repeat_request_repeats(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(
            runtime, settings, brain, mini_flow, runner, speed=1.0
        )  # real-time greeting
        try:
            await h.wait_for(
                lambda e: e["type"] == "agent_state" and e["state"] == "speaking", within=60
            )
            await asyncio.sleep(2.0)
            pcm = await say(voice, "Sorry, could you repeat the question please?")
            t_end = await h.speak(pcm + silence(0.1))
            said = await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t_end - 3)
            assert h.captured.cleared_at, "the interviewer's playback was cut"
            assert said["text"].startswith("Of course.")
            assert "Tell me a bit about yourself" in said["text"]
            assert (await runner.current("v")).turn == 0  # nothing was taken as an answer
        finally:
            await h.aclose()


async def test_let_me_think_waits_quietly(runtime, voice, settings, brain, mini_flow) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, settings, brain, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            t_end = await h.speak(await say(voice, "Hmm, let me think.") + silence(0.1))
            said = await h.wait_for(lambda e: e["type"] == "agent_said", within=30, after=t_end)
            heard = [(e["text"], e["kind"]) for e in h.captured.events if e["type"] == "user_said"]
            assert said["text"] == "Sure, take your time.", heard
            live = " ".join(e["text"] for e in h.captured.events if e["type"] == "hearing")
            assert "think" in live.lower()  # the page's live transcript saw the words first
            assert (await runner.current("v")).turn == 0
            assert h.voice.agent.answers_submitted == 0
        finally:
            await h.aclose()


async def test_silence_after_a_question_is_no_answer_not_a_hang(
    runtime, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    """A candidate who says nothing gets a simpler wording, then the interview moves on."""
    quiet = settings.model_copy(
        update={"voice": settings.voice.model_copy(update={"no_answer_after_s": 5.0})}
    )
    async with open_runner(quiet, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, quiet, brain, mini_flow, runner)
        try:
            t0 = await h.wait_listening(within=90)
            h.mic.push_pcm(silence(12.0))  # an open microphone in a quiet room
            no_answer = await h.wait_for(lambda e: e["type"] == "no_answer", within=20, after=t0)
            assert no_answer["at"] - t0 >= 4.5
            said = await h.wait_for(lambda e: e["type"] == "agent_said", within=30, after=t0)
            step = await runner.current("v")
            assert step.turn == 1 and step.kind == "follow_up", said["text"]
            state = await runner.values("v")
            assert state["turns"][0]["answer"] == "" and state["pending"]["target"] == "rephrase"
        finally:
            await h.aclose()


async def test_a_break_suspends_the_no_answer_wait(runtime, settings, brain, mini_flow) -> None:  # type: ignore[no-untyped-def]
    quiet = settings.model_copy(
        update={"voice": settings.voice.model_copy(update={"no_answer_after_s": 5.0})}
    )
    async with open_runner(quiet, brain=brain, durable=False, use_db=False) as runner:
        h = await harness(runtime, quiet, brain, mini_flow, runner)
        try:
            t0 = await h.wait_listening(within=90)
            h.voice.agent.set_paused(True)
            h.mic.push_pcm(silence(8.0))
            await asyncio.sleep(7.0)
            assert not [e for e in h.captured.events if e["type"] == "no_answer"]
            h.voice.agent.set_paused(False)
            ev = await h.wait_for(lambda e: e["type"] == "no_answer", within=15, after=t0)
            assert ev["at"] - t0 >= 11.5
        finally:
            await h.aclose()


class SlowBrain:
    """The offline brain, but deciding what to say next takes a while (a slow cloud step)."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self._inner = inner
        self.name = inner.name
        self.prompt_refs = inner.prompt_refs
        self._delay_s = delay_s

    async def plan(self, **kw: Any) -> Any:
        return await self._inner.plan(**kw)

    async def analyse(self, **kw: Any) -> Any:
        return await self._inner.analyse(**kw)

    async def decide(self, **kw: Any) -> Any:
        await asyncio.sleep(self._delay_s)
        return await self._inner.decide(**kw)

    async def summarise(self, **kw: Any) -> Any:
        return await self._inner.summarise(**kw)


async def test_a_late_next_line_gets_a_short_acknowledgement_first(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    from prompts import load as load_prompt

    acks = load_prompt("voice_lines").data()["late_ack"]
    quick = settings.model_copy(
        update={"voice": settings.voice.model_copy(update={"ack_after_s": 0.8})}
    )
    slow = SlowBrain(brain, delay_s=3.0)
    async with open_runner(quick, brain=slow, durable=False, use_db=False) as runner:  # type: ignore[arg-type]
        h = await harness(runtime, quick, slow, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            pcm = await say(voice, "I am a backend engineer with five years of Python experience.")
            t_end = await h.speak(pcm + silence(0.1))
            ack = await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t_end)
            assert ack["text"] in acks
            nxt = await h.wait_for(
                lambda e: e["type"] == "agent_said" and e["text"] not in acks,
                within=45,
                after=ack["at"],
            )
            assert nxt["text"].endswith("?")  # then the next question itself
            assert h.voice.agent.late_acks_said == 1
        finally:
            await h.aclose()


class EarlyBrain(SlowBrain):
    """Hands a first sentence to the voice at once, then takes a while for the rest."""

    EARLY = "Thanks, that gives me useful context."

    async def decide(self, **kw: Any) -> Any:
        sink = early_sink()
        if sink is not None:
            sink(self.EARLY)
        await asyncio.sleep(self._delay_s)
        decision = await self._inner.decide(**kw)
        return decision.model_copy(update={"say": f"{self.EARLY} {decision.say}"})


async def test_an_early_first_sentence_is_spoken_before_the_rest_of_the_line(
    runtime, voice, settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    early = EarlyBrain(brain, delay_s=2.5)
    async with open_runner(settings, brain=early, durable=False, use_db=False) as runner:  # type: ignore[arg-type]
        h = await harness(runtime, settings, early, mini_flow, runner)
        try:
            await h.wait_listening(within=90)
            pcm = await say(voice, "I am a backend engineer with five years of Python experience.")
            t_end = await h.speak(pcm + silence(0.1))
            first = await h.wait_for(lambda e: e["type"] == "agent_said", within=45, after=t_end)
            assert first["text"] == EarlyBrain.EARLY
            rest = await h.wait_for(
                lambda e: e["type"] == "agent_said", within=45, after=first["at"] + 1e-6
            )
            assert rest["at"] - first["at"] >= 2.0  # the early sentence did not wait for it
            assert EarlyBrain.EARLY not in rest["text"] and rest["text"].endswith("?")
            assert h.voice.agent.late_acks_said == 0  # no "one moment" when already talking
            state = await runner.values("v")
            assert state["pending"]["say"].startswith(EarlyBrain.EARLY)  # the record is whole
        finally:
            await h.aclose()
