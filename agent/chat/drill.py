"""A one-question practice ("drill") built from a question the candidate answered before.

Owns turning a flow and one of its question ids into a small flow that asks just that question
(with at most one follow-up) in about five minutes, so the candidate can try it again straight
from the coach chat. Questions that were not in a flow (tailored from a résumé) cannot be
drilled this way; `DrillError` says so.
"""

from __future__ import annotations

from agent.coach.schema import Budget, Flow, Section
from agent.errors import InterviewerError


class DrillError(InterviewerError):
    """The question cannot be practised on its own."""


def drill_flow(flow: Flow, question_id: str) -> Flow:
    """A flow asking only ``question_id`` from ``flow``."""
    for section in flow.sections:
        for q in section.questions:
            if q.id == question_id:
                one = Section(
                    id=section.id, title=section.title, kind=section.kind, pick=1, questions=(q,)
                )
                return flow.model_copy(
                    update={
                        "id": f"{flow.id[:42]}-drill",
                        "title": f"Practice: {flow.title}",
                        "duration_minutes": 5,
                        "budget": Budget(
                            max_questions=1,
                            max_follow_ups_per_question=min(
                                1, flow.budget.max_follow_ups_per_question
                            ),
                            max_turns=2,
                        ),
                        "sections": (one,),
                    }
                )
    raise DrillError(
        f"question '{question_id}' is not in the flow '{flow.id}'. Questions written for one "
        "interview from your résumé cannot be practised on their own; start a new interview "
        "with the same résumé instead"
    )
