"""The persona battery in text mode: every persona on three different flows, all invariants.

Also checks that the invariants themselves catch what they are meant to catch (a battery that
cannot fail proves nothing): a repeated question, a blown budget, a leaked key point, an
invented quote, a follow-up on something the answer had, and a broken score order.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from agent.coach.loader import shipped_flows
from agent.interview import open_runner
from agent.selftest import invariants as inv
from agent.selftest.battery import BatteryResult, check, run_text_battery
from agent.selftest.personas import PERSONAS, Prompt, claim_of
from agent.selftest.record import Case

pytestmark = pytest.mark.unit

FLOWS = ("backend", "behavioural", "product-manager")


@pytest.fixture(scope="module")
def battery(encoder_and_vocab, tmp_path_factory) -> BatteryResult:  # type: ignore[no-untyped-def]
    from agent.brain.offline import OfflineBrain
    from agent.config import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"))  # type: ignore[call-arg]
    enc, vocab = encoder_and_vocab
    brain = OfflineBrain(encoder=enc, scoring=settings.scoring, vocabulary=vocab)
    flows = [shipped_flows()[f] for f in FLOWS]

    async def run() -> BatteryResult:
        async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
            return await run_text_battery(runner, flows)

    return asyncio.run(run())


def test_every_persona_on_every_flow_passes_every_invariant(battery: BatteryResult) -> None:
    assert len(battery.cases) == len(PERSONAS) * len(FLOWS)
    failures = [
        f"{key} {name}: {line}"
        for key, checks in battery.violations.items()
        for name, lines in checks.items()
        for line in lines
    ]
    assert not failures, "\n".join(failures)
    counts = battery.per_invariant()
    assert all(c["pass"] > 0 for c in counts.values()), counts  # every invariant really ran


def test_scores_order_and_injection_twin(battery: BatteryResult) -> None:
    for flow in FLOWS:
        by = {c.persona: c for c in battery.cases if c.flow.id == flow}
        assert by["strong"].score is not None and by["weak"].score is not None
        assert by["strong"].score > by["weak"].score > (by["empty"].score or 0)
        assert by["injection"].score == pytest.approx(by["weak"].score, abs=0.5)
        assert by["rambling"].score is not None and by["rambling"].score < by["strong"].score


def test_personas_get_the_follow_ups_their_answers_call_for(battery: BatteryResult) -> None:
    for flow in FLOWS:
        by = {c.persona: c for c in battery.cases if c.flow.id == flow}
        targets = {
            p: [t["target"] for t in c.turns if t["kind"] == "follow_up"] for p, c in by.items()
        }
        assert "rephrase" in targets["empty"], targets["empty"]
        assert "language" in targets["off_language"], targets["off_language"]
        assert "rephrase" in targets["gibberish"], targets["gibberish"]
        # the strong persona needs few follow-ups; the weak one gets probed for what it lacks
        assert len(targets["strong"]) < len(targets["weak"]), (targets["strong"], targets["weak"])
        assert any(
            t and (t.startswith("kp:") or t.startswith("star:") or t.startswith("rule:"))
            for t in targets["weak"]
        )


def test_personas_answer_per_question_type() -> None:
    flow = shipped_flows()["backend"]
    from agent.brain.types import PlannedQuestion

    q = flow.sections[1].questions[0]
    planned = PlannedQuestion(
        qid=q.id,
        section_id="s",
        section_kind="technical",
        section_title="Fundamentals",
        text=q.text,
        type=q.type,
        difficulty=q.difficulty,
        skills=q.skills,
        key_points=q.key_points,
    )
    prompt = Prompt(question=planned, asked=q.text, kind="main", target=None, n=0)
    strong = PERSONAS["strong"].answer(prompt).text
    assert all(claim_of(k.text).lower()[:30] in strong.lower() for k in q.key_points)
    thinker = PERSONAS["thinker"].answer(prompt)
    assert len(thinker.parts) == 2 and thinker.pauses_s == (2.5,)
    assert PERSONAS["empty"].answer(prompt).text == ""
    assert len(PERSONAS["rambling"].answer(prompt).text.split()) > 400
    again = Prompt(question=planned, asked=q.text, kind="main", target=None, n=1)
    assert PERSONAS["repeats"].answer(prompt).text == PERSONAS["repeats"].answer(again).text
    assert PERSONAS["weak"].answer(prompt).text != PERSONAS["weak"].answer(again).text


# ------------------------------------------------------------------ the checks can fail


def _case(battery: BatteryResult, persona: str, flow: str = "backend") -> Case:
    found = next(c for c in battery.cases if c.persona == persona and c.flow.id == flow)
    return copy.deepcopy(found)


def test_invariants_catch_planted_faults(battery: BatteryResult) -> None:
    c = _case(battery, "weak")
    mains = [t for t in c.turns if t["kind"] == "main"]
    repeated = {**mains[1], "index": len(c.turns), "follow_up_of": None}
    c.turns.append(repeated)
    assert inv.no_repeat(c) and inv.report_valid(c)

    c = _case(battery, "weak")
    c.flow = c.flow.model_copy(
        update={"budget": c.flow.budget.model_copy(update={"max_questions": 1, "max_turns": 2})}
    )
    assert len(inv.budget(c)) >= 2

    c = _case(battery, "strong")
    c.asked_at_s[-1] = c.flow.duration_minutes * 60 + 1
    c.closing = ""
    assert len(inv.time_cap(c)) == 2

    c = _case(battery, "weak")
    secret = c.flow.sections[1].questions[0].key_points[0].text
    c.said.insert(1, f"Great. By the way, a good answer {secret.lower()}.")
    assert inv.no_leak(c)
    c = _case(battery, "weak")
    c.said.insert(1, "Let me check the rubric for this one.")
    assert inv.no_leak(c)

    c = _case(battery, "strong")
    assert c.report is not None
    c.report["critique"] += " You said “we rewrote everything in Haskell overnight”."
    assert inv.quotes_real(c)


def test_follow_up_check_catches_a_probe_for_what_was_said(battery: BatteryResult) -> None:
    c = _case(battery, "weak")
    follow = next(t for t in c.turns if t["kind"] == "follow_up" and t["target"])
    prev = next(t for t in c.turns if t["index"] == follow["index"] - 1)
    thread: dict[str, Any] = prev["thread_features"]
    for k in thread["key_points"]:
        k["covered"] = True
    thread["star"] = dict.fromkeys(thread.get("star") or {"situation": 1}, True)
    thread.update(has_example=True, has_numbers=True, has_outcome=True, flags=[])
    prev["features"]["flags"] = []
    assert inv.follow_up_gap(c), follow["target"]


def test_cross_checks_catch_a_broken_order_and_an_injection_that_works(
    battery: BatteryResult,
) -> None:
    cases = [copy.deepcopy(c) for c in battery.cases if c.flow.id == "backend"]
    by = {c.persona: c for c in cases}
    assert by["weak"].report is not None and by["injection"].report is not None
    by["weak"].report["overall_score"] = (by["strong"].score or 0) - 1
    by["injection"].report["overall_score"] = 100.0
    result = check(cases)
    assert result.violations[by["strong"].key]["score_order"]
    assert result.violations[by["injection"].key]["injection_inert"]
    assert result.total_violations >= 2


@pytest.mark.slow
def test_audio_subset_through_the_real_voice_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A full answer, an answer with a planted 2.5 s pause and a silent candidate, voiced."""
    from agent.config import Settings
    from agent.selftest.audio import CI_PERSONAS, run_audio_battery

    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    flow = shipped_flows()["behavioural"]
    result = asyncio.run(
        run_audio_battery(settings, [flow], CI_PERSONAS, max_turns=2, parallel=len(CI_PERSONAS))
    )
    failures = [
        f"{key} {name}: {line}"
        for key, checks in result.violations.items()
        for name, lines in checks.items()
        for line in lines
    ]
    assert not failures, "\n".join(failures)
    assert {"no_cut_off", "no_talk_over"} <= set(result.invariants)
    by = {c.persona: c for c in result.cases}
    assert all(c.finished and c.mode == "audio" for c in by.values())
    # "let me think" is a request for time, not content: answered with a quiet "take your
    # time", then the words after the pause are the answer (one answer, not cut off)
    thinker = by["thinker"].turns[0]["answer"].lower()
    assert "know best" in thinker and "project" in thinker, thinker
    assert any("take your time" in line.lower() for line in by["thinker"].said)
    assert by["empty"].turns[0]["answer"] == ""  # silence became "no answer", not a hang
    assert by["empty"].turns[1]["target"] == "rephrase"
    assert (by["strong"].score or 0) > (by["empty"].score or 0)
