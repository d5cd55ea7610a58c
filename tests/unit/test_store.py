from __future__ import annotations

import pytest
from sqlmodel import Session

from agent.brain.types import CandidateProfile
from agent.errors import ConfigError, SessionNotFoundError
from agent.interview import open_runner
from agent.store import repo
from agent.store.db import init_db, make_engine

pytestmark = pytest.mark.unit


def test_repo_roundtrip_in_memory() -> None:
    engine = make_engine("sqlite://")
    init_db(engine)
    with Session(engine) as db:
        cand = repo.get_or_create_candidate(session=db, name="")
        assert repo.get_or_create_candidate(session=db, name="").id == cand.id
        repo.create_session(
            session=db,
            session_id="s1",
            candidate_id=cand.id,
            flow_id="backend",
            role="Backend engineer",
            seniority="mid",
            skills=["python"],
            brain="offline",
        )
        turn = {
            "index": 0,
            "kind": "main",
            "qid": "q1",
            "question": "Q?",
            "answer": "A.",
            "follow_up_of": None,
            "target": None,
            "score": 50.0,
            "thread_score": 50.0,
            "features": {"word_count": 1},
            "evidence": ["because"],
        }
        repo.upsert_turn(session=db, session_id="s1", turn=turn)
        repo.upsert_turn(session=db, session_id="s1", turn={**turn, "answer": "A2."})
        turns = repo.list_turns(session=db, session_id="s1")
        assert [t.answer for t in turns] == ["A2."]
        report = {
            "schema_version": "1.3",
            "overall_score": 61.0,
            "critique": "c",
            "scoring_version": "1.0",
            "prompts": [],
            "questions": [{"kind": "main", "question_id": "q1", "score": 61.0, "evidence": ["e"]}],
        }
        repo.save_report(session=db, session_id="s1", report=report)
        assert repo.load_report(session=db, session_id="s1") == report
        row = repo.get_session(session=db, session_id="s1")
        assert row.status == "finished" and row.overall_score == 61.0
        assert {s.name for s in repo.list_scores(session=db, session_id="s1")} == {
            "overall",
            "content:q1",
        }
        with pytest.raises(SessionNotFoundError):
            repo.get_session(session=db, session_id="missing")


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x"])
def test_bad_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        make_engine(url)


async def test_runner_records_turns_and_report(settings, brain, mini_flow) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain) as r:
        await r.start(session_id="x1", flow=mini_flow, profile=CandidateProfile(skills=("python",)))
        await r.answer(
            "x1", "I'm a backend engineer with five years of Python experience at a bank."
        )
        step = await r.end("x1")
        assert step.finished
    engine = make_engine(settings.database_url)
    with Session(engine) as db:
        turns = repo.list_turns(session=db, session_id="x1")
        assert len(turns) == 1 and turns[0].answer.startswith("I'm a backend")
        assert turns[0].features["word_count"] > 5
        assert repo.load_report(session=db, session_id="x1")["schema_version"] == "1.3"
        assert repo.get_session(session=db, session_id="x1").skills == ["python"]
    assert settings.checkpoint_path.exists()
    assert not list(settings.data_dir.rglob("*.wav"))
