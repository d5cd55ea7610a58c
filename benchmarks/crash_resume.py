"""Crash-resume benchmark: SIGKILL `interviewer serve` at random points of typed interviews.

Each trial kills the real serving process while it waits at a question (``idle``), during an
answer request at a random delay within its usual duration (``in_request``), or right after a
200 (``after_response``); restarts it on the same data directory and port; and times how long
`GET /api/interviews/{sid}` takes to return the pending question again. After every kill the
database must already hold every acknowledged answer, the interview must wait at the expected
question, and every interview must finish with a report holding each answer once. The harness
is `agent.selftest.crash` (the test suite runs a few trials of it).

Prints a line every ``--every`` trials (and every failing one), the figures, and one
`RESULT {json}` line with `trials`, `lost_answers` (target 0), `resume_p50_s`, `resume_p95_s`
(target <= 10) and `resume_max_s`, the kill-point mix and what became of the requests in
flight. Exits 1 if an answer was lost or any check failed.

Usage: .venv/bin/python benchmarks/crash_resume.py [--trials 200] [--seed 0] [--flow backend]
       [--bytecode-cache]   # cache bytecode in the work folder instead of using the set-up's

The server reads the bytecode `scripts/setup.sh` compiles for the environment and our packages
(it never writes any: PYTHONDONTWRITEBYTECODE is set here), so each restart imports like an
installed product does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from agent.selftest.crash import CrashDrill, Trial


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200, help="kills (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="seeds kill points, delays and answers")
    ap.add_argument("--flow", default="backend", help="flow id (default backend)")
    ap.add_argument("--every", type=int, default=20, help="print every Nth trial (default 20)")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep data and the server log")
    ap.add_argument(
        "--bytecode-cache",
        action="store_true",
        help="let the server cache compiled bytecode in the work folder (not the set-up's)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="crash-resume-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        drill = CrashDrill(work, seed=args.seed, flow=args.flow, bytecode_cache=args.bytecode_cache)

        def progress(t: Trial) -> None:
            if not t.ok or t.index % max(1, args.every) == 0:
                print(t.line(), flush=True)

        began = time.monotonic()
        result = drill.run(args.trials, on_trial=progress)
        wall = time.monotonic() - began
        summary = result.summary()
        summary["bytecode_cache"] = args.bytecode_cache
        summary["wall_s"] = round(wall, 1)

    print()
    print(
        f"{summary['trials']} kills over {summary['interviews']} interviews "
        f"({summary['interviews_finished']} finished), {summary['answers_acked']} answers "
        f"acknowledged, in {wall / 60:.1f} min"
    )
    print(f"kill points: {summary['kill_points']}; requests in flight: {summary['in_flight']}")
    print(
        f"resume (restart -> pending question): p50 {summary['resume_p50_s']} s, "
        f"p95 {summary['resume_p95_s']} s, max {summary['resume_max_s']} s, "
        f"{summary['resume_over_10s']} over 10 s; first start {summary['first_start_s']} s; "
        f"answer p50 {summary['answer_p50_s']} s"
    )
    print(
        f"lost answers: {summary['lost_answers']}; duplicates: {summary['duplicates']}; "
        f"question mismatches: {summary['question_mismatches']}; wrong resumes: "
        f"{summary['wrong_resume']}"
    )
    for line in result.problems:
        print("problem:", line)
    print("RESULT " + json.dumps(summary))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
