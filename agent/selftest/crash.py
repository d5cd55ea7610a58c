"""Crash-and-resume drill: SIGKILL a real `interviewer serve` at random points, restart, check.

Owns the harness that `benchmarks/crash_resume.py` and the test suite share: starting, killing
and restarting the serving process on one data directory; driving typed interviews over HTTP
(`POST /api/interviews`, `POST /api/interviews/{sid}/answers`); choosing kill points from a
seeded RNG; and checking after every restart that

- the interview waits at the expected question: the one after the last answer acknowledged with
  a 200, or the next one when the answer in flight at the kill was applied (its ``turn`` tells);
- every acknowledged answer is already in the database when the process dies (``turn`` table),
  and in the final report at its place; a missing or changed one counts as lost;
- no answer is applied twice and every interview still finishes with a report.

Kill points: ``idle`` (waiting at a question), ``in_request`` (during an answer request, at a
random delay within 1.25x its usual duration, a fifth of them within 30 ms of sending),
``after_response`` (as soon as a 200 arrives). The resume time runs from starting the new
process to `GET /api/interviews/{sid}` returning the pending question. Answer text is never
logged.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

logger = logging.getLogger("mockint.agent.selftest")

KillPoint = Literal["idle", "in_request", "after_response"]
KILL_POINTS: tuple[KillPoint, ...] = ("idle", "in_request", "after_response")
InFlight = Literal["none", "acked", "applied", "not_applied"]
"""What became of the answer request in flight at a kill (``none``: there was none)."""

STARTUP_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0
POLL_S = 0.05
EARLY_KILL_SHARE = 0.2
"""Share of ``in_request`` kills within 30 ms of sending (most arrive, some do not)."""
_DROPPED_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "DEEPGRAM_API_KEY")

ANSWERS: tuple[str, ...] = (
    "I'm a backend engineer with six years of Python and PostgreSQL; I lead a team of four that "
    "owns a payments API, and I want to go deeper on distributed systems.",
    "First I measure with metrics, traces and EXPLAIN ANALYZE to find the bottleneck, then I add "
    "the missing index or remove an N+1 query, and cache hot reads in Redis with a TTL.",
    "Idempotency means repeating a request has the same effect as doing it once, which matters "
    "because clients retry after timeouts; I use idempotency keys stored with the result.",
    "I'd use a token bucket per client with the counters in Redis shared by every server, an "
    "atomic Lua script for the check, and return 429 with a Retry-After header.",
    "We disagreed about moving the job queue to Kafka; we built two prototypes, benchmarked them "
    "with production-like data, and the Postgres version handled five times our peak.",
    "For consistency I keep the write path in one transaction and publish events through an "
    "outbox table, so a crash never leaves the database and the queue disagreeing.",
    "I'm not sure, I haven't done that before.",
    "I would start simple, put it behind a feature flag, watch the error rate and latency "
    "dashboards during the rollout, and roll back automatically if the SLO burns too fast.",
)
"""Answer texts (a mark with the turn and a counter is appended to make each one unique)."""


class CrashDrillError(RuntimeError):
    """The drill itself could not run (the server did not start, an unexpected HTTP reply)."""


def free_port() -> int:
    """A free local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_models_dir() -> Path:
    """Where the provisioned models are (the settings' default, ignoring any .env)."""
    from agent.config import Settings

    return Settings(_env_file=None).models.dir


class ServerProcess:
    """`interviewer serve` as a subprocess on a fixed port and data directory."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        log_path: Path,
        models_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        bytecode_cache: Path | None = None,
    ) -> None:
        """Prepare (not start) the server.

        Args:
            data_dir: Its data directory (database, checkpoints), the same across restarts.
            port: The local port, the same across restarts.
            log_path: Its stdout/stderr are appended here (one file for every start).
            models_dir: The provisioned models (default: the settings' default).
            env: Extra environment variables.
            bytecode_cache: Let the server cache compiled bytecode in this folder (as an
                installed product would have it) even where ``PYTHONDONTWRITEBYTECODE`` is set.
        """
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.starts = 0
        full = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith("MOCKINT_") and not k.startswith("MOCKINT_TEST_"))
            and k not in _DROPPED_ENV
            and not k.startswith("LIVEKIT_")
        }
        full.update(
            MOCKINT_DATA_DIR=str(data_dir),
            MOCKINT_MODELS__DIR=str(models_dir or default_models_dir()),
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        if bytecode_cache is not None:
            full.pop("PYTHONDONTWRITEBYTECODE", None)
            full["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
        full.update(env or {})
        self._env = full
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running process id (None when stopped)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> None:
        """Start the process (returns at once; see `wait_healthy`)."""
        if self.pid is not None:
            raise CrashDrillError("the server is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            # its own session: a Ctrl-C in the driver's terminal does not reach the server
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "serve", "--port", str(self.port)],
                env=self._env,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self._proc = None

    def stop(self) -> None:
        """Stop the process politely (SIGTERM, then SIGKILL after 20 s)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._proc = None

    def check_alive(self) -> None:
        """Raise with the log's tail when the process has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._proc = None
            raise CrashDrillError(f"`interviewer serve` exited with {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Wait until `/health` answers."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            self.check_alive()
            if time.monotonic() > deadline:
                raise CrashDrillError(f"no /health after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def call(
        self, method: str, path: str, body: Any = None, *, timeout: float = REQUEST_TIMEOUT_S
    ) -> tuple[int, Any]:
        """One HTTP request; returns (status, parsed JSON). Connection errors propagate."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return int(r.status), json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return int(e.code), json.loads(raw or b"null")
            except ValueError:
                return int(e.code), raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Pending:
    """The question an interview waits on."""

    turn: int
    question: str


@dataclass
class Interview:
    """The driver's view of one interview: what was shown and what was acknowledged."""

    session_id: str
    pending: Pending | None
    """None once finished."""
    acked: dict[int, str] = field(default_factory=dict)
    """Turn index → answer text acknowledged with a 200."""
    applied: dict[int, str] = field(default_factory=dict)
    """Turn index → answer text applied although its request died with the server."""
    shown: dict[int, str] = field(default_factory=dict)
    """Turn index → the question the driver was shown for it."""
    retry: str | None = None
    """An answer whose request died unapplied: the next answer re-sends it, as a client would."""

    @property
    def finished(self) -> bool:
        """Whether the interview has finished."""
        return self.pending is None


@dataclass(frozen=True, slots=True)
class Trial:
    """One kill, restart and check."""

    index: int
    session_id: str
    kill_point: KillPoint
    delay_s: float
    """Seconds from sending the answer (in_request) or from the response (idle) to the kill."""
    in_flight: InFlight
    expected_turn: int
    """The pending turn expected if the request in flight was not applied."""
    resumed_turn: int | None
    """The turn waited on after restart (None: the interview had finished)."""
    resume_s: float
    lost: int
    """Acknowledged answers missing from the database at the kill."""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No answer lost and nothing unexpected."""
        return self.lost == 0 and not self.problems

    def line(self) -> str:
        """A one-line summary (no answer text)."""
        got = "finished" if self.resumed_turn is None else f"turn {self.resumed_turn}"
        status = "ok" if self.ok else f"LOST {self.lost} " + "; ".join(self.problems)
        return (
            f"trial {self.index:>4} {self.session_id} {self.kill_point:<14} "
            f"delay {self.delay_s:5.2f}s in-flight {self.in_flight:<11} expected turn "
            f"{self.expected_turn:>2}, resumed at {got:<8} in {self.resume_s:5.2f}s  {status}"
        )


@dataclass
class DrillResult:
    """Every trial and the end-of-interview checks."""

    seed: int
    trials: list[Trial] = field(default_factory=list)
    interviews: int = 0
    finished: int = 0
    answers_acked: int = 0
    lost_in_reports: int = 0
    """Acknowledged answers missing or changed in a finished interview's report."""
    duplicates: int = 0
    """Answers that appear at more than one place in a report."""
    question_mismatches: int = 0
    """Questions in a report that differ from what the driver was shown at that turn."""
    problems: list[str] = field(default_factory=list)
    first_start_s: float = 0.0
    answer_latency_s: list[float] = field(default_factory=list)

    @property
    def lost_answers(self) -> int:
        """Acknowledged answers lost: missing from the DB at a kill, or from the final report."""
        return sum(t.lost for t in self.trials) + self.lost_in_reports

    @property
    def ok(self) -> bool:
        """No answer lost, no duplicate, every interview finished, every resume as expected."""
        return (
            self.lost_answers == 0
            and self.duplicates == 0
            and self.question_mismatches == 0
            and not self.problems
            and all(t.ok for t in self.trials)
            and self.finished == self.interviews
        )

    def summary(self) -> dict[str, Any]:
        """Figures for the `RESULT` line."""
        resume = sorted(t.resume_s for t in self.trials)
        lat = sorted(self.answer_latency_s)
        return {
            "trials": len(self.trials),
            "lost_answers": self.lost_answers,
            "resume_p50_s": _round(_pct(resume, 50)),
            "resume_p95_s": _round(_pct(resume, 95)),
            "resume_max_s": _round(resume[-1] if resume else None),
            "resume_over_10s": sum(1 for r in resume if r > 10.0),
            "kill_points": dict(Counter(t.kill_point for t in self.trials)),
            "in_flight": dict(Counter(t.in_flight for t in self.trials if t.in_flight != "none")),
            "answers_acked": self.answers_acked,
            "interviews": self.interviews,
            "interviews_finished": self.finished,
            "duplicates": self.duplicates,
            "question_mismatches": self.question_mismatches,
            "wrong_resume": sum(1 for t in self.trials if t.problems),
            "problems": len(self.problems) + sum(len(t.problems) for t in self.trials),
            "first_start_s": _round(self.first_start_s),
            "answer_p50_s": _round(_pct(lat, 50)),
            "seed": self.seed,
        }


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def db_answers(data_dir: Path, session_id: str) -> dict[int, str]:
    """Turn index → answer in the interview database (read while the server is down)."""
    db = data_dir / "interviewer.db"
    if not db.is_file():
        return {}
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            'SELECT "index", answer FROM turn WHERE session_id = ?', (session_id,)
        ).fetchall()
    finally:
        con.close()
    return {int(i): str(a) for i, a in rows}


def missing_answers(acked: Mapping[int, str], stored: Mapping[int, str]) -> list[int]:
    """Turns whose acknowledged answer is not stored at that turn, unchanged."""
    return sorted(i for i, text in acked.items() if stored.get(i) != text)


class CrashDrill:
    """Runs interviews against a real server and kills it at random points."""

    def __init__(
        self,
        work_dir: Path,
        *,
        seed: int = 0,
        flow: str = "backend",
        models_dir: Path | None = None,
        answers_between: tuple[int, int] = (0, 2),
        kill_points: Sequence[KillPoint] | None = None,
        flow_yaml: str | None = None,
        env: Mapping[str, str] | None = None,
        bytecode_cache: bool = False,
    ) -> None:
        """Prepare a drill in ``work_dir`` (its data directory and the server log live there).

        Args:
            work_dir: A fresh folder for this drill.
            seed: Seeds the kill points, delays, answers and answers between kills.
            flow: The flow id to interview with (shipped or saved in this data directory).
            models_dir: The provisioned models (default: the settings' default).
            answers_between: Range of plain answers between two kills.
            kill_points: Kill points to cycle through instead of drawing them at random.
            flow_yaml: A flow to save (`PUT /api/flows`) and interview with instead of ``flow``.
            env: Extra environment for the server.
            bytecode_cache: Let the server cache compiled bytecode under ``work_dir``.
        """
        self.rng = random.Random(seed)
        self.flow = flow
        self.answers_between = answers_between
        self.kill_points = tuple(kill_points) if kill_points else None
        self.server = ServerProcess(
            data_dir=work_dir / "data",
            port=free_port(),
            log_path=work_dir / "server.log",
            models_dir=models_dir,
            env=env,
            bytecode_cache=work_dir / "pycache" if bytecode_cache else None,
        )
        self.flow_yaml = flow_yaml
        self.result = DrillResult(seed=seed)
        self.interviews: list[Interview] = []
        """Every interview driven, with what was shown, acknowledged and applied."""
        self._n_answers = 0

    # ------------------------------------------------------------------------------ running

    def run(self, trials: int, *, on_trial: Callable[[Trial], None] | None = None) -> DrillResult:
        """Run ``trials`` kills (across as many interviews as needed), finish, and check.

        A drill that cannot go on (the server does not come back, an unexpected HTTP reply)
        stops early with the reason in ``DrillResult.problems``.

        Args:
            trials: How many times to kill and restart the server.
            on_trial: Called after each trial (e.g. to print progress).
        """
        t0 = time.monotonic()
        self.server.start()
        try:
            self.server.wait_healthy()
            self.result.first_start_s = time.monotonic() - t0
            if self.flow_yaml is not None:
                self.flow = self._save_flow(self.flow_yaml)
            iv: Interview | None = None
            while len(self.result.trials) < trials:
                if iv is None or iv.finished:
                    iv = self._start_interview()
                for _ in range(self.rng.randint(*self.answers_between)):
                    self._answer(iv)
                    if iv.finished:
                        break
                if iv.finished:
                    self._check_report(iv)
                    continue
                trial = self._trial(iv, len(self.result.trials))
                self.result.trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
                if iv.finished:
                    self._check_report(iv)
            if iv is not None and not iv.finished:
                while not iv.finished:
                    self._answer(iv)
                self._check_report(iv)
        except CrashDrillError as e:
            self.result.problems.append(f"the drill stopped: {e}")
        finally:
            self.server.stop()
        return self.result

    def _save_flow(self, text: str) -> str:
        req = urllib.request.Request(
            self.server.base + "/api/flows",
            data=text.encode("utf-8"),
            method="PUT",
            headers={"content-type": "text/yaml"},
        )
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as r:
                return str(json.loads(r.read())["id"])
        except urllib.error.HTTPError as e:
            raise CrashDrillError(f"saving the flow: HTTP {e.code} {e.read()!r}") from None

    def _start_interview(self) -> Interview:
        status, body = self.server.call(
            "POST", "/api/interviews", {"flow": self.flow, "consent": True}
        )
        if status != 200:
            raise CrashDrillError(f"starting an interview: HTTP {status} {body}")
        sid = str(body["session_id"])
        self.result.interviews += 1
        iv = Interview(session_id=sid, pending=None)
        self.interviews.append(iv)
        iv.pending = self._pending(sid)
        if iv.pending is None:
            raise CrashDrillError(f"interview {sid} finished before its first answer")
        iv.shown[iv.pending.turn] = iv.pending.question
        return iv

    def _pending(self, sid: str) -> Pending | None:
        status, body = self.server.call("GET", f"/api/interviews/{sid}")
        if status != 200:
            raise CrashDrillError(f"GET /api/interviews/{sid}: HTTP {status} {body}")
        p = body.get("pending")
        return None if p is None else Pending(turn=int(p["turn"]), question=str(p["question"]))

    def _next_text(self, iv: Interview) -> str:
        if iv.retry is not None:
            return iv.retry
        self._n_answers += 1
        assert iv.pending is not None
        base = self.rng.choice(ANSWERS)
        return f"{base} (mark {iv.pending.turn}-{self._n_answers})"

    def _post_answer(self, iv: Interview, text: str) -> tuple[int, Any]:
        assert iv.pending is not None
        return self.server.call(
            "POST",
            f"/api/interviews/{iv.session_id}/answers",
            {"text": text, "turn": iv.pending.turn},
        )

    def _acknowledged(self, iv: Interview, text: str, body: Mapping[str, Any]) -> None:
        """Book a 200 reply: the answer is acknowledged and the interview moves on."""
        assert iv.pending is not None
        iv.acked[iv.pending.turn] = text
        iv.retry = None
        self.result.answers_acked += 1
        if body["finished"]:
            iv.pending = None
        else:
            iv.pending = Pending(turn=int(body["turn"]), question=str(body["question"]))
            iv.shown[iv.pending.turn] = iv.pending.question

    def _answer(self, iv: Interview) -> None:
        """A plain answer that must get a 200."""
        text = self._next_text(iv)
        t = time.monotonic()
        status, body = self._post_answer(iv, text)
        if status != 200:
            raise CrashDrillError(f"answer to {iv.session_id}: HTTP {status} {body}")
        self.result.answer_latency_s.append(time.monotonic() - t)
        self._acknowledged(iv, text, body)

    def _typical_answer_s(self) -> float:
        lat = self.result.answer_latency_s[-50:]
        return statistics.median(lat) if lat else 0.3

    def _trial(self, iv: Interview, index: int) -> Trial:
        assert iv.pending is not None
        point = (
            self.kill_points[index % len(self.kill_points)]
            if self.kill_points
            else self.rng.choice(KILL_POINTS)
        )
        in_flight: InFlight = "none"
        sent: str | None = None
        delay = 0.0
        if point == "idle":
            delay = self.rng.uniform(0.0, 0.5)
            time.sleep(delay)
            self.server.kill()
        elif point == "after_response":
            self._answer(iv)
            self.server.kill()
        else:
            sent = self._next_text(iv)
            # a few kills land before the request reaches the interview (the retry path)
            early = self.rng.random() < EARLY_KILL_SHARE
            delay = self.rng.uniform(0.0, 0.03 if early else 1.25 * self._typical_answer_s())
            reply: list[tuple[int, Any]] = []

            def send() -> None:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    reply.append(self._post_answer(iv, sent))

            th = threading.Thread(target=send, name="crash-drill-answer", daemon=True)
            th.start()
            th.join(delay)
            self.server.kill()
            th.join(REQUEST_TIMEOUT_S)
            if reply and reply[0][0] == 200:
                in_flight = "acked"
                self._acknowledged(iv, sent, reply[0][1])
            elif reply:
                raise CrashDrillError(f"answer to {iv.session_id}: HTTP {reply[0]}")
        # the server is down: every acknowledged answer must already be in the database
        stored = db_answers(self.server.data_dir, iv.session_id)
        lost = missing_answers(iv.acked, stored)
        expected = iv.pending.turn if iv.pending is not None else -1

        t0 = time.monotonic()
        self.server.start()
        now = self._wait_resumed(iv.session_id)
        resume_s = time.monotonic() - t0

        problems: list[str] = []
        resumed_turn = None if now is None else now.turn
        if sent is not None and in_flight == "none":
            # the request died with the server: applied before the kill, or not at all
            assert iv.pending is not None
            if now is not None and now.turn == expected:
                in_flight = "not_applied"
                iv.retry = sent
                if now.question != iv.pending.question:
                    problems.append(f"turn {expected} came back as a different question")
            elif now is None or now.turn == expected + 1:
                in_flight = "applied"
                iv.applied[expected] = sent
                iv.retry = None
                iv.pending = now
                if now is not None:
                    iv.shown[now.turn] = now.question
            else:
                problems.append(
                    f"resumed at turn {now.turn}, expected {expected} or {expected + 1}"
                )
                iv.pending = now
        elif iv.pending is None:
            if now is not None:
                problems.append(f"a finished interview resumed at turn {now.turn}")
                iv.pending = now
        elif now is None or now.turn != expected or now.question != iv.pending.question:
            got = "finished" if now is None else f"turn {now.turn}"
            problems.append(f"resumed at {got}, expected the same question at turn {expected}")
            iv.pending = now
        if lost:
            logger.error(
                "acknowledged answers missing after a kill",
                extra={"session_id": iv.session_id, "turns": lost},
            )
        return Trial(
            index=index,
            session_id=iv.session_id,
            kill_point=point,
            delay_s=delay,
            in_flight=in_flight,
            expected_turn=expected,
            resumed_turn=resumed_turn,
            resume_s=resume_s,
            lost=len(lost),
            problems=tuple(problems),
        )

    def _wait_resumed(self, sid: str) -> Pending | None:
        """Poll the interview until the restarted server answers for it."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                status, body = self.server.call("GET", f"/api/interviews/{sid}", timeout=30)
            except (OSError, http.client.HTTPException):
                self.server.check_alive()
                if time.monotonic() > deadline:
                    raise CrashDrillError(
                        f"the restarted server did not answer in {STARTUP_TIMEOUT_S:.0f} s:\n"
                        f"{self.server.log_tail()}"
                    ) from None
                time.sleep(POLL_S)
                continue
            if status != 200:
                raise CrashDrillError(f"GET /api/interviews/{sid} after restart: HTTP {status}")
            p = body.get("pending")
            return None if p is None else Pending(turn=int(p["turn"]), question=str(p["question"]))

    def _check_report(self, iv: Interview) -> None:
        """A finished interview's report holds every answer at its place, each once."""
        status, report = self.server.call("GET", f"/api/interviews/{iv.session_id}/report")
        if status != 200:
            self.result.problems.append(f"{iv.session_id}: no report (HTTP {status})")
            return
        self.result.finished += 1
        questions = cast(list[dict[str, Any]], report.get("questions", []))
        in_report = {int(q["index"]): str(q["answer"]) for q in questions}
        missing = missing_answers(iv.acked, in_report)
        self.result.lost_in_reports += len(missing)
        if missing:
            self.result.problems.append(f"{iv.session_id}: acknowledged turns {missing} missing")
        unexpected = missing_answers(iv.applied, in_report)
        if unexpected:
            self.result.problems.append(
                f"{iv.session_id}: applied turns {unexpected} missing from the report"
            )
        counts = Counter(in_report.values())
        self.result.duplicates += sum(n - 1 for n in counts.values() if n > 1)
        for q in questions:
            shown = iv.shown.get(int(q["index"]))
            if shown is not None and shown != q["question"]:
                self.result.question_mismatches += 1
        known = set(iv.acked) | set(iv.applied)
        extra = sorted(set(in_report) - known)
        if extra:
            self.result.problems.append(f"{iv.session_id}: report has unsent turns {extra}")
