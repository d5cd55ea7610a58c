"""Delivery cues: when a supportive remark about pace, eye contact or hesitation is due.

Owns the rule that turns one answer's delivery measurements into at most one cue, so that cues
stay rare, kind and well-timed: each kind at most once per interview, a small total budget, only
before another question (never in the wrap-up), and only on clear signals. "Not measured" never
triggers a cue. The wording lives in ``prompts/delivery_cues.v1.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

CueKind = Literal["slow_down", "eye_contact", "take_time"]

FAST_MARGIN_WPM = 15.0
"""A cue to slow down needs a pace this far above the band's top."""
LOOKING_AWAY_RATIO = 0.35
"""Eye contact below this share of an answer earns one gentle reminder."""
HESITATION_PAUSES = 2
"""Long pauses in one answer that, with a weak answer, earn a 'take your time' offer."""


def delivery_cue(
    delivery: Mapping[str, Any] | None,
    *,
    given: Sequence[str],
    max_cues: int,
    pace_band_top: float,
    weak_answer: bool,
) -> CueKind | None:
    """The cue to give after this answer, if any.

    Args:
        delivery: ``{"fluency": ..., "presence": ...}`` for the answer just given.
        given: Cue kinds already given in this interview.
        max_cues: Budget of cues per interview.
        pace_band_top: Upper end of the comfortable pace band (words per minute).
        weak_answer: Whether the answer was weak (hesitation cues only make sense then).

    Returns:
        The cue kind, or None.
    """
    if not delivery or len(given) >= max_cues:
        return None
    fluency = delivery.get("fluency") or {}
    presence = delivery.get("presence") or {}
    if fluency.get("status") == "ok":
        wpm = fluency.get("wpm")
        if (
            "slow_down" not in given
            and isinstance(wpm, int | float)
            and wpm > pace_band_top + FAST_MARGIN_WPM
        ):
            return "slow_down"
        if (
            "take_time" not in given
            and weak_answer
            and int(fluency.get("long_pauses") or 0) >= HESITATION_PAUSES
        ):
            return "take_time"
    if presence.get("status") == "ok" and "eye_contact" not in given:
        ratio = presence.get("eye_contact_ratio")
        if isinstance(ratio, int | float) and ratio < LOOKING_AWAY_RATIO:
            return "eye_contact"
    return None


def delivery_note(delivery: Mapping[str, Any] | None, *, pace_band_top: float = 170.0) -> str:
    """A few words on how the answer was delivered, for a brain wording the next line's tone.

    Only clear signals are named, without figures (the interviewer must not read numbers out);
    "none" when nothing was measured or nothing stood out.
    """
    if not delivery:
        return "none"
    fluency = delivery.get("fluency") or {}
    presence = delivery.get("presence") or {}
    notes: list[str] = []
    if fluency.get("status") == "ok":
        wpm = fluency.get("wpm")
        if isinstance(wpm, int | float) and wpm > pace_band_top + FAST_MARGIN_WPM:
            notes.append("spoke quickly")
        if int(fluency.get("long_pauses") or 0) >= HESITATION_PAUSES:
            notes.append("paused a lot, possibly unsure")
        fillers = fluency.get("fillers_per_min")
        if isinstance(fillers, int | float) and fillers >= 6:
            notes.append("many filler words, possibly nervous")
    if presence.get("status") == "ok":
        ratio = presence.get("eye_contact_ratio")
        if isinstance(ratio, int | float) and ratio < LOOKING_AWAY_RATIO:
            notes.append("often looked away from the camera")
    return "; ".join(notes) if notes else "none"
