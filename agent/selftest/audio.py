"""Audio mode of the persona battery: personas voiced by local TTS through the real voice pipeline.

Owns running a persona as a speaker: its replies are synthesized with Piper (parts separated by
real silences, a silent persona is an open microphone in a quiet room) and played in real time
into the in-process voice pipeline (VAD, turn detection, Whisper, the interview graph, TTS),
via `agent.voice.harness.AudioHarness`. The same policy invariants are checked afterwards, plus
the turn-taking ones that only exist with audio:

    no_cut_off    a planted thinking pause inside an answer does not end the turn
    no_talk_over  the interviewer's audio never starts while the candidate is speaking

Spoken replies are capped (``max_reply_s``) so a rambling persona does not hold the battery
for minutes, and each case stops after ``max_turns`` answers by ending the interview the way
a candidate would (the End button), which still has to produce a proper wrap-up and report.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Sequence

import numpy as np

from agent.coach.schema import Flow
from agent.config import Settings
from agent.interview import InterviewRunner, open_runner
from agent.selftest.battery import BatteryResult, check, collect, profile_for, prompt_for
from agent.selftest.personas import PERSONAS, Persona, Reply
from agent.selftest.record import Case
from agent.voice.harness import RATE, AudioHarness, silence, to_pcm16
from agent.voice.session import VoiceRuntime, build_voice_runtime
from agent.voice.tts_piper import PiperTTS

CI_PERSONAS = ("strong", "thinker", "empty")
"""The small audio subset the test suite runs (a full answer, a planted pause, silence)."""
TALK_OVER_GRACE_S = 0.3
"""Interviewer audio this soon after the candidate starts is a race, not talking over."""


async def synth(tts: PiperTTS, text: str) -> bytes:
    """16 kHz mono PCM16 of ``text`` in the local voice."""
    frames = [ev.frame async for ev in tts.synthesize(text)]
    pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
    return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)


def _cap(text: str, max_s: float, wpm: float = 160.0) -> str:
    words = text.split()
    keep = int(max_s * wpm / 60)
    return text if len(words) <= keep else " ".join(words[:keep]) + "."


async def _speak(
    h: AudioHarness, tts: PiperTTS, reply: Reply, *, quiet_s: float, max_reply_s: float
) -> list[tuple[float, float]]:
    """Play a reply; returns the (start, end) times of actual speech."""
    if not reply.text:
        await h.speak(silence(quiet_s))
        return []
    spans = []
    pauses = list(reply.pauses_s)
    for i, part in enumerate(p for p in reply.parts if p):
        pcm = await synth(tts, _cap(part, max_reply_s))
        start = time.monotonic()
        end = await h.speak(pcm)
        spans.append((start, min(end, start + len(pcm) / 2 / RATE)))
        gap = pauses[i] if i < len(pauses) else 0.1
        await h.speak(silence(gap))
    return spans


def _turn_taking(
    h: AudioHarness, speech: list[tuple[float, float]], reply: Reply, answered: str | None
) -> list[str]:
    problems = []
    for start, end in speech:
        over = [at for at, _ in h.captured.audio_frames if start + TALK_OVER_GRACE_S < at < end]
        if over:
            problems.append(f"talk_over: interviewer audio {over[0] - start:.1f} s into an answer")
    if len(reply.parts) > 1 and reply.pauses_s and answered is not None:
        last_words = [w for w in reply.parts[-1].lower().split() if len(w) > 5][:3]
        if last_words and not any(w.strip(".,") in answered.lower() for w in last_words):
            problems.append(
                f"cut_off: the answer after a {reply.pauses_s[0]:.1f} s pause was lost: "
                f"{answered[:60]!r}"
            )
    return problems


async def run_audio_case(
    *,
    runtime: VoiceRuntime,
    runner: InterviewRunner,
    settings: Settings,
    tts: PiperTTS,
    persona: Persona,
    flow: Flow,
    session_id: str,
    max_turns: int = 2,
    max_reply_s: float = 40.0,
) -> Case:
    """One persona speaking one flow through the real pipeline."""
    case = Case(persona=persona.name, flow=flow, mode="audio")
    turn_taking: list[str] = []
    await runner.start(session_id=session_id, flow=flow, profile=profile_for(flow))
    h = AudioHarness(
        runtime=runtime, runner=runner, settings=settings, session_id=session_id, playout_speed=8
    )
    quiet_s = settings.voice.no_answer_after_s + 6.0
    try:
        await h.start()
        last = 0.0
        for n in range(max_turns):
            last = await h.wait_listening(within=120, after=last)
            if h.voice.agent.finished:
                break
            state = await runner.values(session_id)
            pending = state.get("pending")
            if not pending:
                break
            case.asked_at_s.append(float(state.get("elapsed_s", 0.0)))
            reply = persona.answer(prompt_for(state, n))
            t0 = time.monotonic()
            speech = await _speak(h, tts, reply, quiet_s=quiet_s, max_reply_s=max_reply_s)
            submitted = await h.wait_for(
                lambda e: e["type"] == "answer_submitted", within=90, after=t0
            )
            reply_to = await h.wait_for(
                lambda e: e["type"] in ("question", "finished"), within=90, after=submitted["at"]
            )
            answers = [
                e
                for e in h.captured.events
                if e["type"] == "answer_submitted" and t0 <= e["at"] <= reply_to["at"]
            ]
            if len(answers) > 1:
                turn_taking.append(f"cut_off: one reply was taken as {len(answers)} answers")
            turn_taking += _turn_taking(h, speech, reply, answers[0]["text"] if answers else None)
            last = reply_to["at"]
            if reply_to["type"] == "finished":
                break
        if not h.voice.agent.finished:
            await h.voice.end()  # the candidate presses End
        await h.wait_for(lambda e: e["type"] == "finished", within=60)
        await collect(runner, session_id, case)
        case.said = [e["text"] for e in h.captured.events if e["type"] == "agent_said"]
    except Exception as e:  # recorded as a violation, the battery goes on
        case.error = f"{type(e).__name__}: {e}"
        case.audio["traceback"] = traceback.format_exc(limit=6)
    finally:
        await h.aclose()
    case.audio["turn_taking"] = turn_taking
    return case


def no_cut_off(case: Case) -> list[str]:
    """A thinking pause inside an answer did not end the turn (audio cases only)."""
    return [p for p in case.audio.get("turn_taking", []) if p.startswith("cut_off")]


def no_talk_over(case: Case) -> list[str]:
    """The interviewer never started talking while the candidate spoke (audio cases only)."""
    return [p for p in case.audio.get("turn_taking", []) if p.startswith("talk_over")]


async def run_audio_battery(
    settings: Settings,
    flows: Sequence[Flow],
    personas: Sequence[str] | None = None,
    *,
    max_turns: int = 2,
    parallel: int = 1,
) -> BatteryResult:
    """The chosen personas (default: all) voiced on each flow, then every check.

    ``parallel`` cases run at once (each is real time, so this divides the wall time; every
    case has its own session, and the load it adds is what a few concurrent users add).
    """
    names = list(personas or PERSONAS)
    # A silent persona should not cost half a minute per question.
    voice = settings.voice.model_copy(
        update={"no_answer_after_s": min(settings.voice.no_answer_after_s, 8.0)}
    )
    settings = settings.model_copy(update={"voice": voice})
    runtime = await asyncio.to_thread(build_voice_runtime, settings)
    await asyncio.to_thread(runtime.stt.prewarm)
    tts = PiperTTS.from_dir(settings.models.dir / "piper-joe", deterministic=True)
    gate = asyncio.Semaphore(max(1, parallel))
    async with open_runner(settings, durable=False, use_db=False) as runner:

        async def one(flow: Flow, name: str) -> Case:
            async with gate:
                return await run_audio_case(
                    runtime=runtime,
                    runner=runner,
                    settings=settings,
                    tts=tts,
                    persona=PERSONAS[name],
                    flow=flow,
                    session_id=f"selftest-audio-{flow.id}-{name}",
                    max_turns=max_turns,
                )

        cases = list(await asyncio.gather(*(one(f, n) for f in flows for n in names)))
    return check(cases, extra={"no_cut_off": no_cut_off, "no_talk_over": no_talk_over})
