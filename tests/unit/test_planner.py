from __future__ import annotations

import pytest

from agent.brain.planner import jd_skills, plan_interview, resume_projects, target_level
from agent.brain.types import CandidateProfile

pytestmark = pytest.mark.unit


def test_seniority_picks_matching_difficulty(mini_flow) -> None:  # type: ignore[no-untyped-def]
    junior, _, _ = plan_interview(flow=mini_flow, profile=CandidateProfile(seniority="junior"))
    senior, _, _ = plan_interview(flow=mini_flow, profile=CandidateProfile(seniority="senior"))
    tech = lambda plan: [q for q in plan if q.section_kind == "technical"][0]  # noqa: E731
    assert tech(junior).difficulty == 1
    assert tech(senior).difficulty == 3


def test_jd_skills_pull_questions_forward(mini_flow) -> None:  # type: ignore[no-untyped-def]
    profile = CandidateProfile(
        seniority="junior", jd_text="We need someone strong in caching and SQL performance."
    )
    assert {"caching", "sql"} <= jd_skills(profile.jd_text, mini_flow)
    plan, _, notes = plan_interview(flow=mini_flow, profile=profile)
    tech = [q for q in plan if q.section_kind == "technical"][0]
    assert tech.qid == "mini-cache"
    assert "job description" in tech.why
    assert any("Job description" in n for n in notes)


def test_resume_project_question_is_added_within_budget(mini_flow) -> None:  # type: ignore[no-untyped-def]
    resume = "Jane Doe\nExperience\n- Backend at Acme\nProjects\n- Ledger Sync: reconciled payments nightly\n"
    plan, reserve, notes = plan_interview(
        flow=mini_flow, profile=CandidateProfile(resume_text=resume)
    )
    assert any(q.origin == "resume" and "Ledger Sync" in q.text for q in plan)
    assert len(plan) <= mini_flow.budget.max_questions
    assert plan[0].section_kind == "intro"
    assert plan[-1].section_kind == "closing"
    assert len({q.qid for q in plan}) == len(plan)
    assert not {q.qid for q in plan} & {q.qid for q in reserve}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "PROJECTS\n- Ledger Sync - nightly reconciliation\n- Fraud Radar: ML alerts\n",
            ["Ledger Sync", "Fraud Radar"],
        ),
        ("Project: Realtime Chat Server (Go, Redis)\n", ["Realtime Chat Server"]),
        (
            "Experience\n- Built a real-time fraud detection pipeline using Kafka\n",
            ["a real-time fraud detection pipeline"],
        ),
        ("Education\nBSc Computer Science\n", []),
        ("", []),
    ],
)
def test_resume_projects(text: str, expected: list[str]) -> None:
    assert resume_projects(text) == expected


def test_levels() -> None:
    assert [target_level(s) for s in ("junior", "mid", "senior", "lead")] == [1, 2, 3, 3]


def test_profile_validation() -> None:
    p = CandidateProfile(skills="Python, SQL ,python,,")  # type: ignore[arg-type]
    assert p.skills == ("python", "sql")
    with pytest.raises(ValueError):
        CandidateProfile(seniority="wizard")  # type: ignore[arg-type]
    assert len(CandidateProfile(resume_text="x" * 50_000).resume_text) == 20_000
