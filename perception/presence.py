"""Per-frame vision results and their summary over one answer (presence on camera).

Owns the `FrameAnalysis` record that the vision pipeline produces for each sampled frame and
`summarise_presence`, which turns the frames inside one answer's time span into a
`PresenceSummary`: how much of the time a face was visible, the share of decided frames with
eye contact, look-away spans, blink rate, mean expression probabilities and head movement. A
window without enough usable frames is "not measured" with the reason (camera off, no face,
several faces, too dark), which is different from a low value and never scored as one.

Pure functions over dataclasses; no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

FrameStatus = Literal["ok", "no_face", "several_faces", "too_dark", "bad_frame"]

LOOK_AWAY_MIN_S = 1.5
"""Away stretches at least this long become look-away spans on the timeline."""
MIN_DECIDED_FRAMES = 5
"""Fewer eye-contact decisions than this in a window: eye contact is not measured."""
MIN_FACE_RATIO = 0.5
"""Below this share of frames with the candidate's face, the window is not measured."""


@dataclass(frozen=True, slots=True)
class FrameAnalysis:
    """What the vision pipeline saw in one frame.

    Attributes:
        t: Frame time in seconds on the interview clock.
        status: Frame-level state (see `FrameStatus`).
        n_faces: Faces found.
        expression: Smoothed expression probabilities by label, or None without a face.
        eye_contact: True/False when decided, None while calibrating, blinking or faceless.
        yaw: Head yaw in degrees, or None.
        pitch: Head pitch in degrees, or None.
        ear: Eye aspect ratio, or None.
        blink: A blink ended in this frame.
    """

    t: float
    status: FrameStatus
    n_faces: int
    expression: dict[str, float] | None = None
    eye_contact: bool | None = None
    yaw: float | None = None
    pitch: float | None = None
    ear: float | None = None
    blink: bool = False


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of the interview clock.

    Attributes:
        start: Seconds.
        end: Seconds.
    """

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class PresenceSummary:
    """Presence on camera during one answer.

    Attributes:
        status: "ok", or "not_measured" (see ``reason``).
        reason: Why not measured: "camera off", "no face", "several faces", "too dark",
            "too little data"; None when measured.
        frames: Frames in the window.
        face_ratio: Share of frames with the candidate's face visible.
        eye_contact_ratio: Share of decided frames looking at the screen, or None.
        look_away: Away stretches of at least `LOOK_AWAY_MIN_S`.
        blinks_per_min: Blink rate over the span with a face, or None.
        expression: Mean expression probabilities over frames with a face, or None.
        dominant_expression: The label with the highest mean, or None.
        head_motion_deg: Standard deviation of head yaw and pitch combined, or None.
    """

    status: Literal["ok", "not_measured"]
    reason: str | None
    frames: int
    face_ratio: float
    eye_contact_ratio: float | None
    look_away: tuple[Span, ...]
    blinks_per_min: float | None
    expression: dict[str, float] | None
    dominant_expression: str | None
    head_motion_deg: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        out = asdict(self)
        out["look_away"] = [{"start": s.start, "end": s.end} for s in self.look_away]
        return out


def not_measured(reason: str, frames: int = 0, face_ratio: float = 0.0) -> PresenceSummary:
    """A summary that says why nothing was measured."""
    return PresenceSummary(
        status="not_measured",
        reason=reason,
        frames=frames,
        face_ratio=face_ratio,
        eye_contact_ratio=None,
        look_away=(),
        blinks_per_min=None,
        expression=None,
        dominant_expression=None,
        head_motion_deg=None,
    )


def summarise_presence(
    frames: Sequence[FrameAnalysis], start: float, end: float
) -> PresenceSummary:
    """Summarise the frames whose time lies in [start, end].

    Args:
        frames: Frame analyses in any order (those outside the window are ignored).
        start: Window start on the interview clock.
        end: Window end.

    Returns:
        The summary; "not measured" with a reason when the window has too little to go on.
    """
    window = sorted((f for f in frames if start <= f.t <= end), key=lambda f: f.t)
    n = len(window)
    if n == 0:
        return not_measured("camera off")
    with_face = [f for f in window if f.status in ("ok", "several_faces")]
    face_ratio = len(with_face) / n
    if face_ratio < MIN_FACE_RATIO:
        dark = sum(f.status == "too_dark" for f in window)
        reason = "too dark" if dark >= n / 2 else "no face"
        return not_measured(reason, n, face_ratio)
    several = sum(f.status == "several_faces" for f in window)
    if several > len(with_face) / 2:
        return not_measured("several faces", n, face_ratio)

    decided = [f for f in with_face if f.eye_contact is not None]
    eye_ratio = (
        sum(bool(f.eye_contact) for f in decided) / len(decided)
        if len(decided) >= MIN_DECIDED_FRAMES
        else None
    )
    look_away = _away_spans(decided) if eye_ratio is not None else ()
    face_span = with_face[-1].t - with_face[0].t
    blinks = sum(f.blink for f in with_face)
    blink_rate = blinks * 60.0 / face_span if face_span >= 5.0 else None
    probs = [f.expression for f in with_face if f.expression]
    expression: dict[str, float] | None = None
    dominant: str | None = None
    if probs:
        labels = list(probs[0])
        expression = {k: sum(p.get(k, 0.0) for p in probs) / len(probs) for k in labels}
        dominant = max(expression, key=lambda k: expression[k] if expression else 0.0)
    yaws = [f.yaw for f in with_face if f.yaw is not None]
    pitches = [f.pitch for f in with_face if f.pitch is not None]
    motion = (
        (statistics.pstdev(yaws) ** 2 + statistics.pstdev(pitches) ** 2) ** 0.5
        if len(yaws) >= 2 and len(pitches) >= 2
        else None
    )
    if eye_ratio is None and expression is None:
        return not_measured("too little data", n, face_ratio)
    return PresenceSummary(
        status="ok",
        reason=None,
        frames=n,
        face_ratio=face_ratio,
        eye_contact_ratio=eye_ratio,
        look_away=look_away,
        blinks_per_min=blink_rate,
        expression=expression,
        dominant_expression=dominant,
        head_motion_deg=motion,
    )


def _away_spans(decided: Sequence[FrameAnalysis]) -> tuple[Span, ...]:
    """Continuous runs of "away" frames lasting at least `LOOK_AWAY_MIN_S`."""
    spans: list[Span] = []
    run_start: float | None = None
    last_away = 0.0
    for f in decided:
        if f.eye_contact is False:
            if run_start is None:
                run_start = f.t
            last_away = f.t
        elif run_start is not None:
            end = f.t  # away until the frame that looked back
            if end - run_start >= LOOK_AWAY_MIN_S:
                spans.append(Span(run_start, end))
            run_start = None
    if run_start is not None and last_away - run_start >= LOOK_AWAY_MIN_S:
        spans.append(Span(run_start, last_away))
    return tuple(spans)
