"""Offline interview planning: choose questions from a coach flow for one candidate.

Ranks each section's pool by the candidate's skills, skills named in the job description, and
the distance between a question's difficulty and the candidate's level; adds a "tell me about X"
question for a project found in the résumé; keeps the unchosen questions as a reserve for moving
difficulty up or down during the interview.
"""

from __future__ import annotations

import re

from agent.brain.types import CandidateProfile, InterviewPlan, PlannedQuestion
from agent.coach.schema import Flow, KeyPoint, Question, Section

LEVEL_OF = {"junior": 1, "mid": 2, "senior": 3, "lead": 3}

_HEADING = re.compile(
    r"^\s*#*\s*(projects?|selected projects|personal projects|side projects)\s*:?\s*$",
    re.IGNORECASE,
)
_OTHER_HEADING = re.compile(
    r"^\s*#*\s*(experience|work experience|employment|education|skills|summary|profile|"
    r"certifications?|awards|publications|languages|interests|references|contact)\s*:?\s*$",
    re.IGNORECASE,
)
_PROJECT_LINE = re.compile(r"^\s*(?:project|side project)\s*[:\-–—]\s*(.+)$", re.IGNORECASE)
_ACHIEVEMENT = re.compile(
    r"^\s*[-*•·]?\s*(built|led|designed|developed|created|launched|migrated|architected|"
    r"shipped|implemented|founded|redesigned|rebuilt|introduced)\s+(.+)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[-*•·]\s*")
_CUT = re.compile(r"\s+[-–—|]\s+|:\s|\(|,\s|;\s|\.\s|\s+using\s+|\s+with\s+|\s+in\s+\d")


def target_level(seniority: str) -> int:
    """Difficulty level (1-3) matching a seniority."""
    return LEVEL_OF.get(seniority, 2)


def _clean_name(text: str, max_words: int = 9) -> str:
    text = _BULLET.sub("", text).strip()
    text = _CUT.split(text, maxsplit=1)[0].strip(" .,;:")
    words = text.split()
    return " ".join(words[:max_words])


def resume_projects(resume_text: str, limit: int = 3) -> list[str]:
    """Find project names in résumé text (a Projects section, 'Project:' lines, or achievements)."""
    found: list[str] = []
    in_projects = False
    achievements: list[str] = []
    for line in resume_text.splitlines():
        if not line.strip():
            continue
        if _HEADING.match(line):
            in_projects = True
            continue
        if _OTHER_HEADING.match(line):
            in_projects = False
            continue
        m = _PROJECT_LINE.match(line)
        if m:
            found.append(_clean_name(m.group(1)))
            continue
        if in_projects and (_BULLET.match(line) or len(line.split()) <= 14):
            name = _clean_name(line)
            if len(name.split()) >= 1:
                found.append(name)
            continue
        a = _ACHIEVEMENT.match(line)
        if a:
            achievements.append(_clean_name(a.group(2)))
    names = [n for n in found if 1 <= len(n.split()) and len(n) >= 3]
    if not names:
        names = [n for n in achievements if len(n.split()) >= 2]
    return list(dict.fromkeys(names))[:limit]


def _tag_in(tag: str, text: str) -> bool:
    variants = {tag, tag.replace("-", " "), tag.replace("-", "")}
    return any(re.search(r"\b" + re.escape(v) + r"\b", text) for v in variants if v)


def jd_skills(jd_text: str, flow: Flow) -> set[str]:
    """Flow skill tags that the job description mentions."""
    text = jd_text.lower()
    tags = {s for sec in flow.sections for q in sec.questions for s in q.skills}
    return {t for t in tags if _tag_in(t, text)}


def _planned(q: Question, section: Section, why: str = "") -> PlannedQuestion:
    return PlannedQuestion(
        qid=q.id,
        section_id=section.id,
        section_kind=section.kind,
        section_title=section.title,
        text=q.text,
        type=q.type,
        difficulty=q.difficulty,
        skills=q.skills,
        key_points=q.key_points,
        follow_ups=q.follow_ups,
        rephrase=q.rephrase,
        expected_seconds=q.expected_seconds,
        why=why,
    )


def _resume_question(name: str, index: int, level: int) -> PlannedQuestion:
    return PlannedQuestion(
        qid=f"resume-project-{index + 1}",
        section_id="resume",
        section_kind="behavioural",
        section_title="Your experience",
        text=(
            f"I saw {name} on your résumé. Walk me through it: what was your part, what was "
            "the hardest decision, and how did it turn out?"
        ),
        type="behavioural",
        difficulty=level,
        key_points=(
            KeyPoint(
                text="Explains the project's goal and their own role and ownership",
                probe="What exactly were you responsible for on that project?",
                keywords=("my role", "i was responsible", "i owned", "i led", "goal", "my part"),
            ),
            KeyPoint(
                text="Describes a key decision and the trade-off behind it",
                probe="What was a decision you had to make there, and what did you weigh up?",
                keywords=("decided", "trade-off", "instead of", "chose", "because", "option"),
            ),
            KeyPoint(
                text="States the outcome or impact, ideally measured",
                probe="How did you know whether it worked? What changed because of it?",
                keywords=("result", "impact", "reduced", "increased", "users", "percent"),
            ),
            KeyPoint(
                text="Reflects on what they learned or would do differently",
                probe="Looking back, what would you do differently today?",
                keywords=("learned", "differently", "next time", "in hindsight", "lesson"),
            ),
        ),
        rephrase=f"Tell me a bit about {name}. What did you do on it?",
        expected_seconds=150,
        origin="resume",
        why="from your résumé",
    )


def plan_interview(
    *, flow: Flow, profile: CandidateProfile
) -> tuple[list[PlannedQuestion], list[PlannedQuestion], list[str]]:
    """Choose the questions to ask.

    Returns:
        (planned questions in order, reserve questions, planning notes)
    """
    level = target_level(profile.seniority)
    cand = set(profile.skills)
    jd = jd_skills(profile.jd_text, flow) if profile.jd_text else set()
    notes: list[str] = []
    if jd:
        notes.append("Job description skills pulled forward: " + ", ".join(sorted(jd)))
    planned: list[PlannedQuestion] = []
    reserve: list[PlannedQuestion] = []
    for section in flow.sections:
        scored: list[tuple[float, int, Question, str]] = []
        for order, q in enumerate(section.questions):
            skill_hits = sorted(cand & set(q.skills))
            jd_hits = sorted(jd & set(q.skills))
            score = 3.0 * len(skill_hits) + 4.0 * len(jd_hits) - 2.0 * abs(q.difficulty - level)
            reasons = []
            if jd_hits:
                reasons.append("job description: " + ", ".join(jd_hits))
            if skill_hits:
                reasons.append("your skills: " + ", ".join(skill_hits))
            scored.append((score, order, q, "; ".join(reasons)))
        scored.sort(key=lambda t: (-t[0], t[1]))
        chosen = scored[: section.pick]
        rest = scored[section.pick :]
        if section.kind == "technical":
            chosen.sort(key=lambda t: (t[2].difficulty, -t[0], t[1]))
        else:
            chosen.sort(key=lambda t: t[1])
        planned.extend(_planned(q, section, why) for _, _, q, why in chosen)
        reserve.extend(_planned(q, section, why) for _, _, q, why in rest)

    projects = resume_projects(profile.resume_text) if profile.resume_text else []
    if projects:
        rq = _resume_question(projects[0], 0, level)
        insert_at = next(
            (i for i, p in enumerate(planned) if p.section_kind != "intro"), len(planned)
        )
        planned.insert(insert_at, rq)
        notes.append(f"Résumé project to discuss: {projects[0]}")

    budget = flow.budget.max_questions
    while len(planned) > budget:
        # Drop the least relevant non-intro, non-closing question (last technical, then any).
        droppable = [
            i
            for i, p in enumerate(planned)
            if p.section_kind not in ("intro", "closing") and p.origin == "flow"
        ]
        idx = droppable[-1] if droppable else len(planned) - 1
        reserve.append(planned.pop(idx))
    return planned, reserve, notes


def build_plan(*, flow: Flow, profile: CandidateProfile, greeting: str) -> InterviewPlan:
    """Plan an interview and wrap it with the greeting."""
    planned, reserve, notes = plan_interview(flow=flow, profile=profile)
    return InterviewPlan(
        greeting=greeting,
        questions=tuple(planned),
        reserve=tuple(reserve),
        level=target_level(profile.seniority),
        persona=flow.persona,
        notes=tuple(notes),
    )
