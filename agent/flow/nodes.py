"""Interview graph nodes: plan, ask (waits for the answer), analyse, route, critique.

Each node takes ``(state, runtime)`` and returns a partial update or a `Command`. The ask node
is the only one that waits: it calls `interrupt()` with the line to say, and the caller resumes
it with ``Command(resume=answer_text)``.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent.brain.codec import features_from_dict, features_to_dict
from agent.brain.cues import delivery_cue, delivery_note
from agent.brain.offline import PHRASES_PROMPT
from agent.brain.policy import InterviewView, Phrases, ThreadView, estimate_seconds
from agent.brain.types import CandidateProfile, PlannedQuestion
from agent.coach.schema import Flow
from agent.flow.context import InterviewContext
from agent.flow.state import InterviewState, Pending
from agent.report.build import build_report
from prompts import load as load_prompt
from scoring.delivery import NON_NATIVE_EXTRA_WPM

CUES_PROMPT = "delivery_cues"


def _flow(state: InterviewState) -> Flow:
    return Flow.model_validate(state["flow"])


def _plan(state: InterviewState) -> list[PlannedQuestion]:
    return [PlannedQuestion.model_validate(p) for p in state.get("plan", [])]


def _reserve(state: InterviewState) -> list[PlannedQuestion]:
    return [PlannedQuestion.model_validate(p) for p in state.get("reserve", [])]


async def plan_node(state: InterviewState, runtime: Runtime[InterviewContext]) -> dict[str, Any]:
    """Plan the interview and set the first question."""
    flow = _flow(state)
    profile = CandidateProfile.model_validate(state["profile"])
    plan = await runtime.context.brain.plan(flow=flow, profile=profile)
    if not plan.questions:
        raise ValueError("the plan has no questions")
    first = plan.questions[0]
    pending: Pending = {
        "say": f"{plan.greeting} {first.text}",
        "question": first.text,
        "kind": "main",
        "qid": first.qid,
        "follow_up_of": None,
        "target": None,
    }
    return {
        "brain": runtime.context.brain.name,
        "planned_by": plan.by,
        "plan": [q.model_dump(mode="json") for q in plan.questions],
        "reserve": [q.model_dump(mode="json") for q in plan.reserve],
        "cursor": 0,
        "main_turn": 0,
        "level": plan.level,
        "pending": pending,
        "elapsed_s": 0.0,
        "phase": "asking",
        "notes": list(plan.notes),
        "turns": [],
    }


async def ask_node(state: InterviewState, runtime: Runtime[InterviewContext]) -> dict[str, Any]:
    """Say the pending line and wait for the candidate's answer."""
    pending = state["pending"]
    assert pending is not None
    turns = state.get("turns", [])
    answer = interrupt({**pending, "turn": len(turns)})
    if isinstance(answer, dict) and answer.get("action") == "end":
        return {"end_requested": True}
    delivery: dict[str, Any] | None = None
    span: list[float] | None = None
    if isinstance(answer, dict):
        delivery = answer.get("delivery") if isinstance(answer.get("delivery"), dict) else None
        raw_span = answer.get("span")
        if isinstance(raw_span, list | tuple) and len(raw_span) == 2:
            span = [float(raw_span[0]), float(raw_span[1])]
        answer = answer.get("text", "")
    text = answer if isinstance(answer, str) else ""
    truncated = len(text) > runtime.context.max_answer_chars
    text = text[: runtime.context.max_answer_chars]
    wpm = runtime.context.scoring.speaking_wpm
    elapsed = (
        state.get("elapsed_s", 0.0)
        + estimate_seconds(pending["say"], 150)
        + (len(text.split()) * 60.0 / wpm)
    )
    turn: dict[str, Any] = {
        "index": len(turns),
        "kind": pending["kind"],
        "qid": pending["qid"],
        "question": pending["question"],
        "say": pending["say"],
        "answer": text,
        "truncated": truncated,
        "follow_up_of": pending["follow_up_of"],
        "target": pending["target"],
        "features": None,
        "score": None,
        "evidence": [],
        "thread_score": None,
        "thread_features": None,
        "thread_evidence": [],
        "delivery": delivery,
        "span": span,
        "asked_by": pending.get("asked_by", "offline"),
    }
    update: dict[str, Any] = {"turns": [turn], "elapsed_s": round(elapsed, 2)}
    if pending["kind"] == "main":
        update["main_turn"] = turn["index"]
    return update


def _thread(state: InterviewState, main_turn: int) -> list[dict[str, Any]]:
    return [
        t
        for t in state.get("turns", [])
        if t["index"] == main_turn or t["follow_up_of"] == main_turn
    ]


async def analyse_node(state: InterviewState, runtime: Runtime[InterviewContext]) -> dict[str, Any]:
    """Analyse the latest answer alone and the question's whole thread."""
    if state.get("end_requested"):
        return {}
    flow = _flow(state)
    plan = _plan(state)
    question = plan[state["cursor"]]
    turns = state["turns"]
    last = dict(turns[-1])
    brain = runtime.context.brain
    feats, score = await brain.analyse(flow=flow, question=question, answer=last["answer"])
    thread = _thread(state, state["main_turn"])
    combined = " ".join(t["answer"] for t in thread if t["answer"].strip())
    if len(thread) > 1:
        t_feats, t_score = await brain.analyse(flow=flow, question=question, answer=combined)
    else:
        t_feats, t_score = feats, score
    last.update(
        features=features_to_dict(feats),
        score=score.value,
        evidence=list(score.because),
        thread_features=features_to_dict(t_feats),
        thread_score=t_score.value,
        thread_evidence=list(t_score.because),
        graded_by=score.source,
    )
    return {"turns": [last]}


async def route_node(
    state: InterviewState, runtime: Runtime[InterviewContext]
) -> Command[Literal["ask", "critique"]]:
    """Decide: follow up, next question (adapting difficulty) or wrap up."""
    flow = _flow(state)
    if state.get("end_requested"):
        phrases = Phrases(load_prompt(PHRASES_PROMPT).data(), flow.persona)
        notes = [*state.get("notes", []), "Ended early at the candidate's request."]
        return Command(
            goto="critique",
            update={
                "pending": None,
                "closing": phrases.pick("wrap_up", 0),
                "phase": "wrap_up",
                "notes": notes,
            },
        )
    plan = _plan(state)
    reserve = _reserve(state)
    cursor = state["cursor"]
    turns = state["turns"]
    last = turns[-1]
    main_turn = state["main_turn"]
    thread = _thread(state, main_turn)
    sc = runtime.context.scoring
    thread_view = ThreadView(
        question=plan[cursor],
        last=features_from_dict(last["features"]),
        combined=features_from_dict(last["thread_features"]),
        score=float(last["thread_score"]),
        targets_asked=tuple(t["target"] for t in thread if t["target"]),
        answer=last["answer"],
        delivery=delivery_note(last.get("delivery"), pace_band_top=runtime.context.pace_band_top),
    )
    asked_texts = frozenset(t["question"] for t in turns)
    view = InterviewView(
        plan=tuple(plan),
        cursor=cursor,
        reserve=tuple(reserve),
        asked_texts=asked_texts,
        asked_qids=frozenset(t["qid"] for t in turns if t["kind"] == "main"),
        turns_so_far=len(turns),
        elapsed_s=state.get("elapsed_s", 0.0),
        level=state.get("level", 2),
        max_turns=flow.budget.max_turns,
        max_follow_ups=flow.budget.max_follow_ups_per_question,
        duration_s=flow.duration_minutes * 60.0,
        level_up_score=sc.level_up_score,
        level_down_score=sc.level_down_score,
        speaking_wpm=sc.speaking_wpm,
        said=tuple(t["say"] for t in turns),
    )
    injection = "injection" in last["features"]["flags"]
    decision = await runtime.context.brain.decide(
        flow=flow, thread=thread_view, view=view, injection=injection
    )
    notes = list(state.get("notes", []))
    cues = list(state.get("cues", []))
    cue_line = ""
    if decision.action in ("follow_up", "next"):
        non_native = bool(state.get("delivery_prefs", {}).get("non_native_pace"))
        non_native_extra = NON_NATIVE_EXTRA_WPM if non_native else 0.0
        cue = delivery_cue(
            last.get("delivery"),
            given=cues,
            max_cues=runtime.context.max_cues,
            pace_band_top=runtime.context.pace_band_top + non_native_extra,
            weak_answer=float(last["thread_score"]) <= sc.level_down_score,
        )
        if cue is not None:
            cues.append(cue)
            cue_line = str(load_prompt(CUES_PROMPT).data()[cue]).strip() + " "
    if decision.action == "follow_up":
        pending: Pending = {
            "say": cue_line + decision.say,
            "question": decision.question_text,
            "kind": "follow_up",
            "qid": plan[cursor].qid,
            "follow_up_of": main_turn,
            "target": decision.target,
            "asked_by": decision.by,
        }
        return Command(goto="ask", update={"pending": pending, "cues": cues})
    if decision.action == "next" and decision.next_question is not None:
        nxt = decision.next_question
        new_plan = list(plan)
        new_reserve = list(reserve)
        idx = next((i for i, p in enumerate(new_plan) if p.qid == nxt.qid), None)
        if idx is None:
            # Adaptive swap: the reserve question takes the place of the one after the cursor.
            idx = cursor + 1
            swapped = new_plan[idx]
            new_plan[idx] = nxt
            new_reserve = [r for r in new_reserve if r.qid != nxt.qid] + [swapped]
            notes.append(
                f"Difficulty moved to level {decision.level}: asked '{nxt.qid}' "
                f"instead of '{swapped.qid}'."
            )
        pending = {
            "say": cue_line + decision.say,
            "question": nxt.text,
            "kind": "main",
            "qid": nxt.qid,
            "follow_up_of": None,
            "target": None,
        }
        return Command(
            goto="ask",
            update={
                "pending": pending,
                "plan": [p.model_dump(mode="json") for p in new_plan],
                "reserve": [r.model_dump(mode="json") for r in new_reserve],
                "cursor": idx,
                "level": decision.level,
                "notes": notes,
                "cues": cues,
            },
        )
    if decision.reason != "plan complete":
        notes.append(f"Ended early: {decision.reason}.")
    return Command(
        goto="critique",
        update={
            "pending": None,
            "closing": decision.say,
            "phase": "wrap_up",
            "level": decision.level,
            "notes": notes,
        },
    )


async def critique_node(
    state: InterviewState, runtime: Runtime[InterviewContext]
) -> dict[str, Any]:
    """Score the interview and build the report."""
    report = await build_report(state, runtime.context.brain)
    return {"report": report, "phase": "done"}
