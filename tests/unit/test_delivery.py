"""Delivery and presence scoring, cues, and their path through the graph into the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.brain.cues import delivery_cue
from agent.brain.types import CandidateProfile
from agent.interview import open_runner
from agent.report.schema import Report
from agent.voice.delivery import DeliveryCollector, fluency_settings_for
from agent.voice.stt_incremental import HeardPiece
from perception.fluency import FluencySettings
from scoring.delivery import DeliveryPrefs, delivery_score, presence_score

pytestmark = pytest.mark.unit


def fluency(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "ok",
        "wpm": 140.0,
        "fillers_per_min": 1.0,
        "long_pauses": 0,
        "repetition_count": 0,
        "pace": "ok",
        "events": [],
    }
    return base | kw


def presence(ratio: float | None, **kw: Any) -> dict[str, Any]:
    return {"status": "ok", "eye_contact_ratio": ratio, "look_away": []} | kw


def test_delivery_score_orders_clean_over_messy_with_evidence() -> None:
    clean = delivery_score([{"fluency": fluency()} for _ in range(3)])
    messy = delivery_score(
        [{"fluency": fluency(wpm=215.0, fillers_per_min=12.0, long_pauses=3, repetition_count=6)}]
        * 3
    )
    assert clean is not None and messy is not None
    assert clean.value >= 95 and messy.value < 60
    assert any("215 words per minute" in b for b in messy.because)
    assert any("filler" in b for b in messy.because)


def test_not_measured_answers_are_left_out_not_scored_low() -> None:
    mixed = delivery_score(
        [{"fluency": fluency()}, {"fluency": {"status": "not_measured", "reason": "silent"}}]
    )
    assert mixed is not None and mixed.value >= 95
    assert delivery_score([{"fluency": {"status": "not_measured"}}, {}]) is None
    assert presence_score([{"presence": {"status": "not_measured", "reason": "no face"}}]) is None


def test_fairness_switches() -> None:
    stutter = [{"fluency": fluency(repetition_count=8, long_pauses=2)}]
    assert (
        delivery_score(stutter, DeliveryPrefs(stutter_aware=True)).value
        > delivery_score(stutter).value
    )  # type: ignore[union-attr]
    slow = [{"fluency": fluency(wpm=95.0)}]
    assert delivery_score(slow, DeliveryPrefs(non_native_pace=True)).value == 100.0  # type: ignore[union-attr]
    assert delivery_score(slow).value < 100.0  # type: ignore[union-attr]
    faces = [{"presence": presence(0.2)}]
    assert presence_score(faces, DeliveryPrefs(score_face=False)) is None
    low = presence_score(faces)
    assert low is not None and low.value < 100 and "20%" in low.because[0]


def test_cues_are_rare_kind_and_need_clear_signals() -> None:
    fast = {"fluency": fluency(wpm=215.0)}
    assert (
        delivery_cue(fast, given=[], max_cues=2, pace_band_top=170, weak_answer=False)
        == "slow_down"
    )
    assert (
        delivery_cue(fast, given=["slow_down"], max_cues=2, pace_band_top=170, weak_answer=False)
        is None
    )
    away = {"fluency": fluency(), "presence": presence(0.2)}
    assert (
        delivery_cue(away, given=["slow_down"], max_cues=2, pace_band_top=170, weak_answer=False)
        == "eye_contact"
    )
    assert (
        delivery_cue(
            away, given=["slow_down", "x"], max_cues=2, pace_band_top=170, weak_answer=False
        )
        is None
    )
    hesitant = {"fluency": fluency(long_pauses=3)}
    assert (
        delivery_cue(hesitant, given=[], max_cues=2, pace_band_top=170, weak_answer=True)
        == "take_time"
    )
    assert (
        delivery_cue(hesitant, given=[], max_cues=2, pace_band_top=170, weak_answer=False) is None
    )
    unmeasured = {
        "fluency": {"status": "not_measured", "wpm": 300.0},
        "presence": {"status": "not_measured"},
    }
    assert (
        delivery_cue(unmeasured, given=[], max_cues=2, pace_band_top=170, weak_answer=True) is None
    )


async def test_spoken_delivery_reaches_the_report_with_a_timeline_and_one_cue(
    settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    answer = (
        "In my last role I owned the orders API in Python and PostgreSQL. Requests were slow, "
        "so I profiled them, added an index and a cache, and p95 latency fell from 900 to 120 ms."
    )
    events = [
        {"kind": "filler", "start": 12.0, "end": 12.2, "detail": "um"},
        {"kind": "long_pause", "start": 14.0, "end": 16.5, "detail": "2.5 s"},
    ]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        step = await runner.start(
            session_id="d", flow=mini_flow, profile=CandidateProfile(), delivery_prefs={}
        )
        said = [step.say]
        t = 10.0
        while not step.finished:
            step = await runner.answer(
                "d",
                answer,
                delivery={
                    "fluency": fluency(wpm=220.0, events=events),
                    "presence": presence(0.3, look_away=[{"start": t + 1, "end": t + 4}]),
                },
                span=(t, t + 20.0),
            )
            said.append(step.say)
            t += 40.0
        report = Report.model_validate(step.report)
    tips = [s for s in said if "speaking quite fast" in s]
    assert len(tips) == 1, said  # the slow-down cue is given once
    assert report.delivery is not None and report.delivery.value < 90
    assert any("220 words per minute" in b for b in report.delivery.because)
    assert report.presence is not None and "30%" in report.presence.because[0]
    kinds = {e.kind for e in report.timeline}
    assert {"answer", "filler", "long_pause", "look_away"} <= kinds
    starts = [e.start for e in report.timeline]
    assert starts == sorted(starts)
    assert report.questions[0].span == (10.0, 30.0)
    assert report.questions[0].fluency is not None


async def test_typed_interviews_have_no_delivery_scores(settings, brain, mini_flow) -> None:  # type: ignore[no-untyped-def]
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        step = await runner.start(session_id="t", flow=mini_flow, profile=CandidateProfile())
        while not step.finished:
            step = await runner.answer("t", "I would add an index and measure the latency.")
        report = Report.model_validate(step.report)
    assert report.delivery is None and report.presence is None and report.timeline == []


def test_live_fluency_settings_follow_the_candidates_switches() -> None:
    base = FluencySettings(pace_band_wpm=(110.0, 170.0))
    plain = fluency_settings_for(base, {})
    assert plain.stutter_aware is False and plain.pace_band_wpm == (110.0, 170.0)
    both = fluency_settings_for(base, {"stutter_aware": True, "non_native_pace": True})
    assert both.stutter_aware is True
    assert both.pace_band_wpm == DeliveryPrefs(non_native_pace=True).band
    assert both.pace_band_wpm[0] < 110.0 < 170.0 < both.pace_band_wpm[1]


async def test_non_native_pace_widens_the_slow_down_cue_and_prefs_are_kept(
    settings, brain, mini_flow
) -> None:  # type: ignore[no-untyped-def]
    """190 wpm earns a slow-down cue in the default band (top 170 + margin) but not when widened."""
    answer = "I profiled the orders API, added an index and a cache, and p95 fell to 120 ms."
    said: dict[bool, list[str]] = {}
    async with open_runner(settings, brain=brain, durable=False, use_db=False) as runner:
        for non_native in (False, True):
            sid = f"nn{int(non_native)}"
            step = await runner.start(
                session_id=sid,
                flow=mini_flow,
                profile=CandidateProfile(),
                delivery_prefs={"non_native_pace": non_native, "stutter_aware": True},
            )
            prefs = await runner.delivery_prefs(sid)
            assert prefs == {"non_native_pace": non_native, "stutter_aware": True}
            step = await runner.answer(
                sid,
                answer,
                delivery={"fluency": fluency(wpm=190.0, events=[]), "presence": None},
                span=(1.0, 10.0),
            )
            said[non_native] = [step.say]
    assert "speaking quite fast" in said[False][0]
    assert "speaking quite fast" not in said[True][0]


def _piece(text: str) -> HeardPiece:
    return HeardPiece(t0=0.0, pcm=np.zeros(1600, np.int16), sample_rate=16000, words=(), text=text)


def test_a_used_piece_cancels_one_late_copy_of_itself() -> None:
    collector = DeliveryCollector()
    collector.add_piece(_piece("I think so."))
    collector.add_piece(_piece("We shipped it in May."))
    assert collector.take_text() == "I think so. We shipped it in May."
    # The session's late turn repeats pieces already submitted: only new words are left.
    assert collector.fresh_text("We shipped it in May. And then") == "And then"
    # Each used piece cancels one copy: the same words said again are kept.
    assert collector.fresh_text("We shipped it in May.") == "We shipped it in May."
