"""Brain benchmark: per-step latency offline vs Gemini (real SDK, local fake server), and the
time each injected fault takes to fall back to the offline brain.

Steps: plan (with a résumé, so Gemini tailors questions), grade (one answer), follow-up wording
(streamed), critique (a finished interview's summary). The Gemini path runs the real google-genai
SDK against `tests/fakes/gemini_server.py` on localhost, so its figures are our overhead plus a
near-zero model time, not Google's latency. Faults: 429, 500, malformed JSON, a slow reply
(longer than the step deadline), a stalled stream, and unsafe/leaking output. Each fault run
checks the result came from the offline brain and records how long the step took; after an
outage-like fault the next step skips Gemini at once (`cooldown_step_ms`). With a 1 s pause
after a follow-up's first sentence, `first_sentence_s` is when that sentence reached the voice
and `whole_line_s` when the whole line was ready.

Ends with one `RESULT {json}` line: per-step p50 ms for offline and gemini, `fallback_s` (max
seconds per fault) and `fallback_max_s` (the worst, target < 3).

Usage: .venv/bin/python benchmarks/brain.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fakes"))

from gemini_server import FakeGemini  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from agent.brain.gemini import GeminiBrain  # noqa: E402
from agent.brain.gemini_client import GeminiClient  # noqa: E402
from agent.brain.offline import OfflineBrain, load_encoder  # noqa: E402
from agent.brain.policy import InterviewView, ThreadView  # noqa: E402
from agent.brain.speech import speaking_early  # noqa: E402
from agent.brain.types import CandidateProfile, PlannedQuestion  # noqa: E402
from agent.coach.loader import shipped_flows  # noqa: E402
from agent.coach.schema import Flow  # noqa: E402
from agent.config import GeminiSettings, Settings  # noqa: E402
from scoring import ScoredQuestion  # noqa: E402

ANSWER = (
    "I worked on the orders service in Python. The checkout endpoint was slow at peak, so I "
    "profiled it and found a missing index on the orders table."
)
PROFILE = CandidateProfile(
    resume_text="Led the payments reconciliation rewrite at Acme; cut failed payouts by 40%.",
    jd_text="Backend engineer: Python, PostgreSQL, payments.",
    skills=("python", "sql"),
)
FAULTS = ("429", "500", "malformed", "slow", "stall", "unsafe")


def _views(q: PlannedQuestion, brain: OfflineBrain, flow: Flow) -> tuple[ThreadView, InterviewView]:
    feats, score = brain.analyse_sync(flow=flow, question=q, answer=ANSWER)
    thread = ThreadView(question=q, last=feats, combined=feats, score=score.value, answer=ANSWER)
    view = InterviewView(
        plan=(q,),
        cursor=0,
        reserve=(),
        asked_texts=frozenset({q.text}),
        asked_qids=frozenset({q.qid}),
        turns_so_far=1,
        elapsed_s=60.0,
        level=2,
        max_turns=12,
        max_follow_ups=2,
        duration_s=1800.0,
        level_up_score=75.0,
        level_down_score=35.0,
        speaking_wpm=150.0,
        said=(q.text,),
    )
    return thread, view


async def _steps(
    brain: Any, offline: OfflineBrain, flow: Flow
) -> dict[str, Callable[[], Awaitable[str]]]:
    plan = await offline.plan(flow=flow, profile=PROFILE)
    q = next((x for x in plan.questions if x.key_points), plan.questions[0])
    thread, view = _views(q, offline, flow)
    feats, score = offline.analyse_sync(flow=flow, question=q, answer=ANSWER)
    scored = [ScoredQuestion(q.text, q.type, score.value, feats, answer=ANSWER)]

    async def plan_step() -> str:
        return (await brain.plan(flow=flow, profile=PROFILE)).by

    async def grade() -> str:
        return (await brain.analyse(flow=flow, question=q, answer=ANSWER))[1].source

    async def follow_up() -> str:
        return (await brain.decide(flow=flow, thread=thread, view=view, injection=False)).by

    async def critique() -> str:
        return (await brain.summarise(questions=scored)).source

    return {"plan": plan_step, "grade": grade, "follow_up": follow_up, "critique": critique}


async def _time(fn: Callable[[], Awaitable[str]], runs: int) -> tuple[float, str]:
    times, source = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        source = await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), source


async def main(runs: int) -> dict[str, Any]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    encoder, vocab = load_encoder(settings.models.dir)
    offline = OfflineBrain(encoder=encoder, scoring=settings.scoring, vocabulary=vocab)
    flow = shipped_flows()["backend"]
    result: dict[str, Any] = {"offline_ms": {}, "gemini_ms": {}, "fallback_s": {}}
    with FakeGemini(delay_s=6.0) as fake:
        gs = GeminiSettings(api_key=SecretStr("bench"), base_url=fake.base_url)
        gemini = GeminiBrain(offline=offline, client=GeminiClient(gs), settings=gs)
        for label, brain in (("offline", offline), ("gemini", gemini)):
            steps = await _steps(brain, offline, flow)
            for name, fn in steps.items():
                await fn()  # warm-up
                ms, source = await _time(fn, runs)
                result[f"{label}_ms"][name] = round(ms, 1)
                print(f"{label:8s} {name:10s} p50 {ms:8.1f} ms  ({source})")
        steps = await _steps(gemini, offline, flow)
        for fault in FAULTS:
            fake.mode = fault
            worst = 0.0
            for name, fn in steps.items():
                gemini.recover()  # each step meets the fault fresh (no outage cool-down)
                t0 = time.perf_counter()
                source = await fn()
                took = time.perf_counter() - t0
                if name == "plan" and fault == "stall":
                    continue  # not streamed: unaffected by a stalled stream
                if source == "gemini" and fault not in ("stall",):
                    raise SystemExit(f"{fault}: {name} did not fall back ({source})")
                worst = max(worst, took)
            result["fallback_s"][fault] = round(worst, 2)
            print(f"fault {fault:9s} worst step {worst:5.2f} s")
        # sentence streaming: a slow second sentence does not delay the first one
        fake.mode, fake.tail_delay_s = "slow_tail", 1.0
        gemini.recover()
        first_at: list[float] = []
        t0 = time.perf_counter()
        with speaking_early(lambda _line: first_at.append(time.perf_counter() - t0)):
            await steps["follow_up"]()
        whole = time.perf_counter() - t0
        result["first_sentence_s"] = round(first_at[0], 2) if first_at else None
        result["whole_line_s"] = round(whole, 2)
        print(
            f"follow-up with a 1 s pause after its first sentence: first sentence to the voice "
            f"at {result['first_sentence_s']} s, whole line at {result['whole_line_s']} s"
        )
        # after an outage the following steps skip Gemini at once (cool-down)
        fake.mode = "slow"
        gemini.recover()
        await steps["grade"]()
        t0 = time.perf_counter()
        source = await steps["follow_up"]()
        result["cooldown_step_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        print(f"next step during the cool-down: {result['cooldown_step_ms']} ms ({source})")
        fake.mode = "normal"
        await gemini.client.aclose()
    result["fallback_max_s"] = max(result["fallback_s"].values())
    result["step_timeout_s"] = gs.step_timeout_s
    result["runs"] = runs
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print("RESULT " + json.dumps(asyncio.run(main(args.runs))))
