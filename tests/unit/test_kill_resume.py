"""Kill-and-resume: real processes are SIGKILLed mid-interview and continued.

`interviewer practice` (the CLI's `--continue`) and `interviewer serve` (typed answers over
HTTP, killed at each kill point of `agent.selftest.crash`, the harness the crash-resume
benchmark runs 200 times). The interview's checkpoint must bring the candidate back to exactly
the question they were waiting on, the finalized answers must already be in the database when
the process dies, and the final report must contain the answers given before the crash.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.selftest.crash import CrashDrill, db_answers, missing_answers

pytestmark = [pytest.mark.unit, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MINI_FLOW = REPO / "tests" / "data" / "mini_flow.yaml"
INTERVIEWER = Path(sys.executable).parent / "interviewer"
READ_TIMEOUT_S = 60.0

INTERVIEWER_LINE = re.compile(r"Interviewer: ([^\n]*)\n")

ANSWER_1 = (
    "I'm a backend engineer with six years of experience in Python and PostgreSQL; I lead a team "
    "of four that owns a payments API serving two million requests a day, and I want to go deeper "
    "on distributed systems, which is what this role is about."
)
ANSWER_2 = (
    "First I measure: metrics, traces and EXPLAIN ANALYZE on the slow queries to find the "
    "bottleneck. Then I add the missing index or rewrite the query to remove an N+1 pattern, and "
    "if the same data is read on every request I put a Redis cache in front with a TTL and "
    "invalidation on writes. On our orders endpoint that took p95 from 1.2 s to 180 ms."
)
ANSWER_3 = (
    "I once disagreed with a teammate about moving our job queue to Kafka; we built two "
    "prototypes, benchmarked them with production-like data, and the Postgres fix handled five "
    "times our peak, so we shipped on time."
)


class LiveProcess:
    """A subprocess whose stdout/stderr are drained by threads into searchable buffers."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self._out = bytearray()
        self._err = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self._out, True)),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self._err, False)),
        ]
        for t in self._threads:
            t.daemon = True
            t.start()

    def _drain(self, stream, buf: bytearray, is_stdout: bool) -> None:  # type: ignore[no-untyped-def]
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            with self._cond:
                if chunk:
                    buf.extend(chunk)
                elif is_stdout:
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    @property
    def stdout(self) -> str:
        with self._cond:
            return self._out.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        with self._cond:
            return self._err.decode("utf-8", errors="replace")

    def wait_for(
        self, pattern: re.Pattern[str], *, start: int = 0, timeout: float = READ_TIMEOUT_S
    ) -> re.Match[str]:
        """First match of ``pattern`` in stdout at or after character ``start``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = self._out.decode("utf-8", errors="replace")
                m = pattern.search(text, start)
                if m:
                    return m
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
        raise AssertionError(
            f"timed out or EOF waiting for {pattern.pattern!r} from {' '.join(self.args[1:])}\n"
            f"exit code: {self.proc.poll()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )

    def next_question(self, start: int) -> re.Match[str]:
        """The next complete 'Interviewer:' line after ``start`` and the 'You: ' prompt after it."""
        m = self.wait_for(INTERVIEWER_LINE, start=start)
        self.wait_for(re.compile(r"You: "), start=m.end())
        return m

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        for t in self._threads:
            t.join(timeout=5)


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)  # the autouse fixture already removed the developer's MOCKINT_*
    env.update(
        MOCKINT_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.pop("FORCE_COLOR", None)
    return env


def _turns(db: Path, session_id: str) -> list[tuple[int, str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            'SELECT "index", question, answer FROM turn WHERE session_id = ? ORDER BY "index"',
            (session_id,),
        ).fetchall()
    finally:
        con.close()


def test_sigkill_mid_interview_then_continue(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)

    # --- first run: two answers, then SIGKILL while the third line is pending -----------------
    first = LiveProcess(
        [
            str(INTERVIEWER),
            "practice",
            "--text",
            "--flow",
            str(MINI_FLOW),
            "--seniority",
            "mid",
            "--skills",
            "python",
        ],
        env=env,
        cwd=tmp_path,
    )
    try:
        sid_match = first.wait_for(re.compile(r"Practice interview ([0-9a-f]{12})\b"))
        session_id = sid_match.group(1)

        q1 = first.next_question(sid_match.end())
        first.send(ANSWER_1)
        q2 = first.next_question(q1.end())
        first.send(ANSWER_2)
        q3 = first.next_question(q2.end())  # printed only after answer 2 was finalized
        pending = q3.group(1)
        assert pending.strip()

        os.kill(first.proc.pid, signal.SIGKILL)
        assert first.proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        first.close()
    assert "Traceback" not in first.stderr

    # --- the database already holds both finalized turns ---------------------------------------
    db = data_dir / "interviewer.db"
    assert db.is_file()
    turns = _turns(db, session_id)
    assert [(i, a) for i, _, a in turns] == [(0, ANSWER_1), (1, ANSWER_2)]
    assert turns[0][1] in q1.group(1)
    assert turns[1][1] in q2.group(1)

    # --- second run: continue, same pending line, finish -----------------------------------------
    second = LiveProcess(
        [str(INTERVIEWER), "practice", "--continue", session_id], env=env, cwd=tmp_path
    )
    try:
        cont = second.wait_for(re.compile(r"Continuing interview " + re.escape(session_id)))
        r1 = second.next_question(cont.end())
        assert r1.group(1) == pending, "the resumed interview did not repeat the pending question"
        second.send(ANSWER_3)
        second.next_question(r1.end())
        second.send("/end")
        done = second.wait_for(re.compile(r"Report written to (\S+report\.json) and (\S+)\n"))
        assert second.proc.wait(timeout=READ_TIMEOUT_S) == 0, second.stderr
    finally:
        second.close()
    assert "Traceback" not in second.stderr
    # the report is printed only once: no question of the first run is asked again
    assert q1.group(1) not in second.stdout
    assert q2.group(1) not in second.stdout

    report_path = Path(done.group(1))
    assert report_path == data_dir / "reports" / session_id / "report.json"
    assert Path(done.group(2)).is_file()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["session_id"] == session_id
    answers = [q["answer"] for q in report["questions"]]
    assert answers[:3] == [ANSWER_1, ANSWER_2, ANSWER_3]
    assert report["questions"][2]["said"] == pending
    assert 0 <= report["overall_score"] <= 100

    # the database now holds the finished session with every turn
    assert [a for _, _, a in _turns(db, session_id)][:3] == [ANSWER_1, ANSWER_2, ANSWER_3]
    con = sqlite3.connect(db)
    try:
        row = con.execute(
            "SELECT status, overall_score FROM interview_session WHERE id = ?", (session_id,)
        ).fetchone()
    finally:
        con.close()
    assert row is not None and row[0] == "finished"
    assert row[1] == pytest.approx(report["overall_score"])


def test_continue_unknown_session_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(INTERVIEWER), "practice", "--continue", "0123456789ab"],
        env=_env(tmp_path / "data"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=READ_TIMEOUT_S,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "0123456789ab" in proc.stderr
    assert "error:" in proc.stderr


def test_served_interview_survives_sigkill_at_every_kill_point(tmp_path: Path) -> None:
    drill = CrashDrill(
        tmp_path / "drill",
        seed=7,
        flow_yaml=MINI_FLOW.read_text(encoding="utf-8"),
        answers_between=(0, 1),
        kill_points=("after_response", "in_request", "idle"),
    )
    result = drill.run(3)

    assert [t.kill_point for t in result.trials] == ["after_response", "in_request", "idle"]
    for trial in result.trials:
        assert trial.ok, trial.line()
    assert result.lost_answers == 0 and result.duplicates == 0
    assert result.question_mismatches == 0 and not result.problems, result.problems
    assert result.interviews == result.finished == 1, "the interview did not finish"
    assert result.ok

    # every acknowledged answer is in the database, and the check would see one that is not
    (iv,) = drill.interviews
    assert len(iv.acked) >= 3 and iv.finished
    stored = db_answers(drill.server.data_dir, iv.session_id)
    assert missing_answers(iv.acked, stored) == []
    assert missing_answers({**iv.acked, 99: "never sent"}, stored) == [99]
    first = min(iv.acked)
    assert missing_answers(iv.acked, {**stored, first: "changed"}) == [first]
