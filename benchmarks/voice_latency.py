"""Voice latency benchmark: end of candidate speech -> first interviewer audio (offline stack).

Runs spoken interviews in-process through the real pipeline (VAD, turn detection, incremental
Whisper STT, interview graph, Piper TTS) with candidate answers synthesized by Piper, and prints
p50/p95 of the total latency and of each stage:
  - eou_stt: end of speech -> the completed user turn reaches the interviewer (end-of-utterance
    delay plus the STT tail),
  - brain: interview graph step (analysis, scoring, decision),
  - tts_first: the line handed to TTS -> its first audio frame.
It then plays answers with planted thinking pauses of 1, 2 and 4 s in mid-sentence and reports
how often the interviewer cut in during the pause. Ends with one `RESULT {json}` line.

Usage: .venv/bin/python benchmarks/voice_latency.py [--turns 50] [--pause-trials 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time

import numpy as np

from agent.brain.types import CandidateProfile
from agent.coach.loader import shipped_flows
from agent.config import Settings
from agent.interview import open_runner
from agent.voice.harness import AudioHarness, silence, to_pcm16
from agent.voice.session import build_voice_runtime
from agent.voice.tts_piper import PiperTTS

ANSWERS = [
    "I'm a backend engineer with five years of experience building Python services.",
    "I would profile the endpoint first and look at the query plan to find the bottleneck.",
    "We added an index on the customer id column, and the query went from two seconds to "
    "eighty milliseconds.",
    "I'd cache the product page in Redis with a short time to live and invalidate it on writes.",
    "At my last job we had an outage because a queue filled up, so I added alerts on its depth.",
    "My role was to own the payments service, and I needed to cut failed checkouts in half.",
    "I would use a token bucket per client and keep the counters in Redis so every server agrees.",
    "The result was that on-call pages dropped from ten a week to about two.",
    "I'd like to learn how your team runs incidents and ship my first change in the first month.",
    "I think the main trade-off is consistency against latency, so it depends on the use case.",
]
PAUSED = [
    ("To speed it up I would start by", "profiling the endpoint and reading the query plan."),
    ("The first thing I would check is", "whether the database has the right indexes."),
    ("When we had that outage, what I did was", "roll back the release and page the owner."),
]


def pct(values: list[float], q: float) -> float:
    """Percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def synth(tts: PiperTTS, text: str) -> bytes:
    """Piper audio as 16 kHz PCM."""
    frames = [ev.frame async for ev in tts.synthesize(text)]
    pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
    return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)


async def run(turns: int, pause_trials: int) -> dict[str, object]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    runtime = await asyncio.to_thread(build_voice_runtime, settings)
    voice = PiperTTS.from_dir(settings.models.dir / "piper-joe")
    answers = [await synth(voice, a) for a in ANSWERS]
    paused = [(await synth(voice, a), await synth(voice, b)) for a, b in PAUSED]
    flow = shipped_flows()["backend"]
    rows: list[dict[str, float]] = []
    n_session = 0
    async with open_runner(settings, durable=False, use_db=False) as runner:
        while len(rows) < turns:
            n_session += 1
            sid = f"bench-{n_session}"
            await runner.start(session_id=sid, flow=flow, profile=CandidateProfile())
            h = AudioHarness(
                runtime=runtime, runner=runner, settings=settings, session_id=sid, playout_speed=8
            )
            await h.start()
            await h.wait_listening(within=120)
            for i in range(flow.budget.max_turns):
                if len(rows) >= turns:
                    break
                t_end = await h.speak(answers[(i + n_session) % len(answers)] + silence(0.05))
                try:
                    said = await h.wait_for(
                        lambda e: e["type"] == "agent_said", within=30, after=t_end
                    )
                except TimeoutError:
                    break
                heard = [e for e in h.captured.events if e["type"] == "answer_submitted"]
                brain = [e for e in h.captured.events if e["type"] == "brain_timing"]
                await h.wait_listening(within=120, after=said["at"] - 0.001)
                first = h.first_audio_after(said["at"])
                if first is None or not heard:
                    continue
                rows.append(
                    {
                        "total_ms": (first - t_end) * 1000,
                        "eou_stt_ms": (heard[-1]["at"] - t_end) * 1000,
                        "brain_ms": brain[-1]["ms"] if brain else 0.0,
                        "tts_first_ms": (first - said["at"]) * 1000,
                    }
                )
                print(f"turn {len(rows):3d}: total {rows[-1]['total_ms']:.0f} ms")
                if "wrap_up" in said.get("text", "") or h.voice.agent.finished:
                    break
            await h.aclose()

        cutoffs: dict[str, list[int]] = {"1": [], "2": [], "4": []}
        for trial in range(pause_trials):
            for pause in (1, 2, 4):
                n_session += 1
                sid = f"pause-{n_session}"
                await runner.start(session_id=sid, flow=flow, profile=CandidateProfile())
                h = AudioHarness(
                    runtime=runtime,
                    runner=runner,
                    settings=settings,
                    session_id=sid,
                    playout_speed=8,
                )
                await h.start()
                await h.wait_listening(within=120)
                first_half, second_half = paused[trial % len(paused)]
                t0 = time.monotonic()
                await h.speak(first_half + silence(pause))
                await h.speak(second_half + silence(0.05))
                await asyncio.sleep(settings.voice.answer_pause_s + 2)
                turns_seen = [
                    e
                    for e in h.captured.events
                    if e["type"] == "answer_submitted" and e["at"] >= t0
                ]
                cutoffs[str(pause)].append(int(len(turns_seen) > 1))
                await h.aclose()

    def stage(key: str) -> dict[str, float]:
        values = [r[key] for r in rows]
        return {"p50": round(pct(values, 50), 1), "p95": round(pct(values, 95), 1)}

    tolerance = settings.voice.answer_pause_s
    within = [v for k, vals in cutoffs.items() if float(k) <= tolerance for v in vals]
    result: dict[str, object] = {
        "turns": len(rows),
        "p50_ms": stage("total_ms")["p50"],
        "p95_ms": stage("total_ms")["p95"],
        "stages": {k: stage(k) for k in ("eou_stt_ms", "brain_ms", "tts_first_ms")},
        "cutoff_rate": round(sum(within) / len(within), 3) if within else None,
        "cutoff_by_pause_s": {k: (sum(v) / len(v) if v else None) for k, v in cutoffs.items()},
        "pause_tolerance_s": tolerance,
        "mean_total_ms": round(statistics.fmean(r["total_ms"] for r in rows), 1) if rows else None,
        "totals_ms": [round(r["total_ms"], 1) for r in rows],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--pause-trials", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(args.turns, args.pause_trials))
    print(json.dumps(result, indent=2))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
