"""The persona battery: every persona through the interviewer on a set of flows, then the checks.

Owns running the cases (text mode here; audio mode in `agent.selftest.audio`), checking every
invariant on them, and the result table with its `RESULT` summary. Deterministic: the offline
brain, no network, fixed session ids.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.brain.types import CandidateProfile, PlannedQuestion
from agent.coach.schema import Flow
from agent.interview import InterviewRunner
from agent.selftest.invariants import CASE_CHECKS, CROSS_CHECKS
from agent.selftest.personas import PERSONAS, Persona, Prompt
from agent.selftest.record import Case

INVARIANTS: tuple[str, ...] = (*CASE_CHECKS, *CROSS_CHECKS)


def profile_for(flow: Flow) -> CandidateProfile:
    """The candidate profile the battery uses: the flow's role at its middle seniority."""
    levels = list(flow.seniority)
    return CandidateProfile(role=flow.role, seniority=levels[len(levels) // 2])


def planned_question(state: dict[str, Any], qid: str) -> PlannedQuestion:
    """The planned question ``qid`` from an interview's state (plan or reserve)."""
    for p in [*state.get("plan", []), *state.get("reserve", [])]:
        if p["qid"] == qid:
            return PlannedQuestion.model_validate(p)
    raise KeyError(qid)


def prompt_for(state: dict[str, Any], n: int) -> Prompt:
    """What the persona hears for the line the interview is waiting on."""
    pending = state["pending"]
    return Prompt(
        question=planned_question(state, pending["qid"]),
        asked=pending["question"],
        kind=pending["kind"],
        target=pending.get("target"),
        n=n,
    )


async def run_text_case(
    runner: InterviewRunner, persona: Persona, flow: Flow, *, session_id: str
) -> Case:
    """One persona answering one flow by text, recorded for the checks."""
    case = Case(persona=persona.name, flow=flow)
    try:
        step = await runner.start(session_id=session_id, flow=flow, profile=profile_for(flow))
        n = 0
        while not step.finished:
            state = await runner.values(session_id)
            case.said.append(step.say)
            case.asked_at_s.append(float(state.get("elapsed_s", 0.0)))
            reply = persona.answer(prompt_for(state, n))
            n += 1
            step = await runner.answer(session_id, reply.text)
        await collect(runner, session_id, case)
    except Exception as e:  # recorded as a violation, the battery goes on
        case.error = f"{type(e).__name__}: {e}"
        case.audio["traceback"] = traceback.format_exc(limit=6)
    return case


async def collect(runner: InterviewRunner, session_id: str, case: Case) -> None:
    """Copy the finished interview's state into the case."""
    state = await runner.values(session_id)
    case.turns = list(state.get("turns", []))
    case.plan = [*state.get("plan", []), *state.get("reserve", [])]
    case.notes = list(state.get("notes", []))
    case.closing = str(state.get("closing", ""))
    case.report = state.get("report")
    case.finished = case.report is not None
    if case.closing:
        case.said.append(case.closing)


@dataclass
class BatteryResult:
    """The checked cases: per case and invariant, the violations found."""

    cases: list[Case]
    violations: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """case key -> invariant -> violation lines (only cases where the invariant applied)."""

    @property
    def total_violations(self) -> int:
        """Number of (case, invariant) pairs that failed."""
        return sum(1 for per in self.violations.values() for v in per.values() if v)

    @property
    def invariants(self) -> list[str]:
        """The invariants checked, in table order."""
        names = list(INVARIANTS)
        for per in self.violations.values():
            names += [n for n in per if n not in names]
        return names

    def per_invariant(self) -> dict[str, dict[str, int]]:
        """For each invariant, how many cases passed and failed."""
        out = {name: {"pass": 0, "fail": 0} for name in self.invariants}
        for per in self.violations.values():
            for name, lines in per.items():
                out[name]["fail" if lines else "pass"] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """The `RESULT` figures."""
        scores: dict[str, dict[str, float | None]] = {}
        for c in self.cases:
            scores.setdefault(c.flow.id, {})[c.persona if c.mode == "text" else c.key] = c.score
        return {
            "cases": len(self.cases),
            "violations": self.total_violations,
            "invariants": self.per_invariant(),
            "scores": scores,
        }


def check(
    cases: Sequence[Case], extra: Mapping[str, Callable[[Case], list[str]]] | None = None
) -> BatteryResult:
    """Run every invariant (and the ``extra`` per-case ones) over the cases."""
    result = BatteryResult(cases=list(cases))
    per_case = {**CASE_CHECKS, **(extra or {})}
    for c in cases:
        result.violations[c.key] = {name: fn(c) for name, fn in per_case.items()}
    for name, cross in CROSS_CHECKS.items():
        for key, lines in cross(cases).items():
            result.violations.setdefault(key, {})[name] = lines
    return result


async def run_text_battery(
    runner: InterviewRunner, flows: Sequence[Flow], personas: Sequence[str] | None = None
) -> BatteryResult:
    """Every persona (or the chosen ones) on every flow, by text, then all the checks."""
    names = list(personas or PERSONAS)
    cases = []
    for flow in flows:
        for name in names:
            sid = f"selftest-{flow.id}-{name}"
            cases.append(await run_text_case(runner, PERSONAS[name], flow, session_id=sid))
    return check(cases)
