"""Gaze calibration, blinks, presence summaries, the video worker and the event bus."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.bus import EventBus, FrameAnalysed, PerceptionDegraded
from perception.gaze import BlinkDetector, GazeTracker
from perception.presence import FrameAnalysis, summarise_presence
from perception.worker import VideoWorker, decode_frame

pytestmark = pytest.mark.unit


def test_gaze_waits_for_calibration_then_decides_relative_to_the_person() -> None:
    g = GazeTracker()
    # This person's "looking at the screen" is a little turned and the eyes a bit left.
    for i in range(25):  # 3 s at 8 fps
        assert g.update(i * 0.125, 8.0, -5.0, 0.45, 0.5, blinking=False) is None
    assert g.baseline is not None and g.baseline.yaw == pytest.approx(8.0)
    assert g.update(4.0, 9.0, -4.0, 0.46, 0.5, blinking=False) is True
    assert g.update(4.1, 35.0, -4.0, 0.46, 0.5, blinking=False) is False  # head turned away
    assert g.update(4.2, 8.0, -5.0, 0.62, 0.5, blinking=False) is False  # eyes to the side
    assert g.update(4.3, 8.0, -5.0, 0.62, 0.5, blinking=True) is None  # no guess mid-blink


def test_gaze_calibration_is_robust_to_a_glance_away() -> None:
    g = GazeTracker()
    for i in range(30):
        yaw = 40.0 if i in (5, 6, 7) else 0.0
        g.update(i * 0.125, yaw, 0.0, 0.5, 0.5, blinking=False)
    assert g.baseline is not None and abs(g.baseline.yaw) < 1.0


def _ear_stream(open_ear: float, blinks_at: list[float], fps: float = 10.0, seconds: float = 30.0):
    t = 0.0
    while t < seconds:
        closed = any(b <= t < b + 0.15 for b in blinks_at)
        yield t, (open_ear * 0.3 if closed else open_ear + 0.01 * np.sin(t * 7))
        t += 1.0 / fps


@pytest.mark.parametrize("open_ear", [0.18, 0.3, 0.4])  # narrow to wide eyes: no fixed 0.2
def test_blinks_counted_relative_to_the_persons_open_eye(open_ear: float) -> None:
    blinks_at = [3.0, 7.05, 11.0, 15.05, 20.0, 26.05]
    d = BlinkDetector()
    ended = [t for t, ear in _ear_stream(open_ear, blinks_at) if d.update(t, ear)]
    assert d.blinks == len(blinks_at), ended


def test_eyes_shut_for_long_is_not_a_blink_and_nan_is_ignored() -> None:
    d = BlinkDetector()
    for i in range(50):
        d.update(i * 0.1, 0.3)
    for i in range(50, 70):  # two seconds shut
        d.update(i * 0.1, 0.05)
    d.update(7.0, float("nan"))
    d.update(7.1, 0.3)
    assert d.blinks == 0


def _frames(
    n: int, *, eye: bool | None = True, status: str = "ok", t0: float = 0.0, fps: float = 8
):
    return [
        FrameAnalysis(
            t=t0 + i / fps,
            status=status,  # type: ignore[arg-type]
            n_faces=1 if status == "ok" else (2 if status == "several_faces" else 0),
            expression={"happy": 0.6, "neutral": 0.4} if status == "ok" else None,
            eye_contact=eye if status == "ok" else None,
            yaw=0.0,
            pitch=0.0,
        )
        for i in range(n)
    ]


def test_presence_summary_measures_eye_contact_and_look_away_spans() -> None:
    frames = _frames(40, eye=True) + _frames(24, eye=False, t0=5.0) + _frames(16, eye=True, t0=8.0)
    s = summarise_presence(frames, 0.0, 10.0)
    assert s.status == "ok"
    assert s.eye_contact_ratio == pytest.approx(56 / 80)
    assert len(s.look_away) == 1
    assert s.look_away[0].start == pytest.approx(5.0) and s.look_away[0].end == pytest.approx(8.0)
    assert s.dominant_expression == "happy"


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([], "camera off"),
        (_frames(40, status="no_face"), "no face"),
        (_frames(40, status="too_dark"), "too dark"),
        (_frames(40, status="several_faces"), "several faces"),
    ],
)
def test_presence_not_measured_is_distinct_from_low(
    frames: list[FrameAnalysis], reason: str
) -> None:
    s = summarise_presence(frames, 0.0, 10.0)
    assert s.status == "not_measured" and s.reason == reason
    assert s.eye_contact_ratio is None


@given(
    st.lists(
        st.tuples(
            st.floats(-10, 100, allow_nan=False),
            st.sampled_from(["ok", "no_face", "several_faces", "too_dark", "bad_frame"]),
            st.one_of(st.none(), st.booleans()),
            st.booleans(),
        ),
        max_size=60,
    ),
    st.floats(-5, 50, allow_nan=False),
    st.floats(0, 60, allow_nan=False),
)
@settings(max_examples=80, deadline=None)
def test_presence_summary_never_crashes(rows, start: float, length: float) -> None:  # type: ignore[no-untyped-def]
    frames = [
        FrameAnalysis(t=t, status=s, n_faces=1, eye_contact=e, blink=b, yaw=1.0, pitch=2.0)  # type: ignore[arg-type]
        for t, s, e, b in rows
    ]
    out = summarise_presence(frames, start, start + length)
    d = out.to_dict()
    assert d["status"] in ("ok", "not_measured")
    if out.eye_contact_ratio is not None:
        assert 0.0 <= out.eye_contact_ratio <= 1.0


class _SlowPipeline:
    def __init__(self, delay: float, fail: bool = False) -> None:
        self.delay, self.fail, self.seen = delay, fail, 0

    def analyse(self, frame, t):  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.fail:
            raise RuntimeError("boom")
        time.sleep(self.delay)
        return FrameAnalysis(t=t, status="ok", n_faces=1)

    def close(self) -> None:
        pass


def _jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


async def test_video_worker_samples_keeps_newest_and_reports_falling_behind() -> None:
    results: list[FrameAnalysis] = []
    statuses: list[str] = []
    pipe = _SlowPipeline(delay=0.3)
    worker = VideoWorker(
        lambda: pipe, on_result=results.append, on_status=lambda s, r: statuses.append(s), fps=10
    )
    async with worker:
        for i in range(40):  # 20 fps offered for 2 s
            worker.submit(_jpeg(), i * 0.05)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    assert worker.stats.sampled_out >= 15  # sampling to 10 fps
    assert worker.stats.dropped > 0  # slow pipeline: older frames replaced, never queued
    assert 3 <= worker.stats.analysed <= 10
    assert "behind" in statuses
    assert [r.t for r in results] == sorted(r.t for r in results)


async def test_video_worker_gives_up_after_repeated_failures_and_rejects_garbage() -> None:
    statuses: list[tuple[str, str | None]] = []
    worker = VideoWorker(
        lambda: _SlowPipeline(0, fail=True),
        on_result=lambda r: None,
        on_status=lambda s, r: statuses.append((s, r)),
        fps=100,
        max_failures=3,
    )
    async with worker:
        worker.submit(b"not an image", 0.0)
        await asyncio.sleep(0.1)
        for i in range(1, 6):
            worker.submit(_jpeg(), i * 0.1)
            await asyncio.sleep(0.1)
    assert worker.stats.rejected == 1
    assert statuses[-1][0] == "failed" and not worker.alive
    assert worker.submit(_jpeg(), 9.0) is False


async def test_video_worker_reports_a_pipeline_that_cannot_load() -> None:
    statuses: list[str] = []

    def broken():  # type: ignore[no-untyped-def]
        raise FileNotFoundError("no model")

    async with VideoWorker(
        broken, on_result=lambda r: None, on_status=lambda s, r: statuses.append(s)
    ) as w:
        await asyncio.sleep(0.2)
    assert statuses[-1] == "failed" and not w.alive


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="needs per-thread priorities (Linux)")
async def test_video_worker_runs_at_lower_priority_than_the_voice_pipeline() -> None:
    """Analysis yields the CPU to speech recognition and synthesis on a busy machine."""
    seen: list[int] = []
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    class Probe(_SlowPipeline):
        def analyse(self, frame, t):  # type: ignore[no-untyped-def]
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().analyse(frame, t)

    async with VideoWorker(lambda: Probe(0), on_result=lambda r: None, fps=100) as worker:
        worker.submit(_jpeg(), 0.0)
        await asyncio.sleep(0.3)
    assert seen and seen[0] == min(19, base + 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # loop untouched


@pytest.mark.parametrize("data", [b"", b"\xff\xd8garbage", b"x" * 3_000_000])
def test_decode_frame_rejects_bad_input_clearly(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_frame(data)


async def test_bus_drops_oldest_perception_events_but_never_control_events() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=5)
    bus.publish(PerceptionDegraded(session_id="s", t=0, worker="video", status="behind"))
    for i in range(20):
        bus.publish(FrameAnalysed(session_id="s", t=float(i), status="ok", n_faces=1))
    bus.publish(PerceptionDegraded(session_id="s", t=21, worker="video", status="failed"))
    got = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    control = [e for e in got if isinstance(e, PerceptionDegraded)]
    frames = [e.t for e in got if isinstance(e, FrameAnalysed)]
    assert [c.status for c in control] == ["behind", "failed"]
    assert frames == sorted(frames) and frames[-1] == 19.0 and len(frames) <= 5
    assert sub.dropped >= 15
    sub.close()
    bus.publish(FrameAnalysed(session_id="s", t=30, status="ok", n_faces=1))
    assert sub.queue.empty()
