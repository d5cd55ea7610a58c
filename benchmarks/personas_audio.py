"""The whole persona battery voiced through the real voice pipeline (the CI runs a subset).

Every persona speaks (local Piper voice, real-time playback into VAD, turn detection, Whisper,
the interview graph and TTS) on the chosen flows; the policy invariants and the turn-taking ones
(no cut-off inside a planted pause, no talking over the candidate) are checked on each case.
Prints one line per case and ends with `RESULT {json}` (`cases`, `violations`, per-invariant
counts, scores, wall time).

Usage: .venv/bin/python benchmarks/personas_audio.py [--flow backend ...] [--max-turns 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from agent.coach.loader import resolve_flow
from agent.config import Settings
from agent.selftest.audio import run_audio_battery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flow", action="append", default=None)
    parser.add_argument("--max-turns", type=int, default=3)
    args = parser.parse_args()
    flows = [resolve_flow(f) for f in (args.flow or ["backend"])]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    t0 = time.perf_counter()
    result = asyncio.run(run_audio_battery(settings, flows, max_turns=args.max_turns))
    wall = time.perf_counter() - t0
    for case in result.cases:
        failed = {n: v for n, v in result.violations.get(case.key, {}).items() if v}
        score = "-" if case.score is None else f"{case.score:.0f}"
        print(f"{case.key:40s} score {score:>3}  {'ok' if not failed else 'FAIL'}")
        for name, lines in failed.items():
            for line in lines:
                print(f"    {name}: {line}")
    summary = result.summary() | {"wall_s": round(wall, 1)}
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
