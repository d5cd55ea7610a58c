"""Delivery (voice) and presence (camera) sub-scores with evidence lines.

Pure functions over per-answer measurement dicts (the JSON forms of
`perception.fluency.FluencyReport` and `perception.presence.PresenceSummary`, so scoring does not
depend on perception's classes). An answer whose measurement is "not measured" is left out
entirely: it never counts as a low value. With nothing measured the sub-score is None.

Scoring is deliberately gentle and explainable: each component starts at full marks and loses
points in proportion to how far a figure sits outside a comfortable band, and every lost point
comes with a "because" line that names the figure and, where known, the answer it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.types import SubScore

DELIVERY_VERSION = "1.0"
NON_NATIVE_SLOWER_WPM = 30.0
"""How much lower the pace band reaches with the non-native pace switch."""
NON_NATIVE_EXTRA_WPM = 10.0
"""How much higher the pace band reaches with the non-native pace switch."""


@dataclass(frozen=True, slots=True)
class DeliveryPrefs:
    """The candidate's fairness switches and the comfortable bands.

    Attributes:
        pace_band_wpm: Comfortable speaking rate.
        non_native_pace: Widen the pace band (slower speech is not penalised).
        stutter_aware: Repetitions and blocks are not penalised, and long pauses count less.
        score_face: Include presence (camera) in scoring at all.
        fillers_ok_per_min: Filler rate that costs nothing.
        eye_contact_ok: Eye-contact share that costs nothing.
    """

    pace_band_wpm: tuple[float, float] = (110.0, 170.0)
    non_native_pace: bool = False
    stutter_aware: bool = False
    score_face: bool = True
    fillers_ok_per_min: float = 3.0
    eye_contact_ok: float = 0.6

    @property
    def band(self) -> tuple[float, float]:
        """The pace band in effect."""
        lo, hi = self.pace_band_wpm
        if self.non_native_pace:
            return (lo - NON_NATIVE_SLOWER_WPM, hi + NON_NATIVE_EXTRA_WPM)
        return (lo, hi)


def _label(item: Mapping[str, Any], i: int) -> str:
    label = item.get("label")
    return str(label) if label else f"answer {i + 1}"


def _measured(items: Sequence[Mapping[str, Any]], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    out = []
    for i, item in enumerate(items):
        m = item.get(key)
        if isinstance(m, Mapping) and m.get("status") == "ok":
            out.append((i, m))
    return out


def delivery_score(
    answers: Sequence[Mapping[str, Any]], prefs: DeliveryPrefs | None = None
) -> SubScore | None:
    """Voice delivery over the interview: pace, fillers, pauses and stammers.

    Args:
        answers: One dict per answer with ``fluency`` (a FluencyReport dict) and optionally
            ``label`` (e.g. the question's topic) for evidence lines.
        prefs: Bands and fairness switches.

    Returns:
        The sub-score, or None when no answer had measurable speech.
    """
    p = prefs or DeliveryPrefs()
    measured = _measured(answers, "fluency")
    if not measured:
        return None
    lo, hi = p.band
    because: list[str] = []
    pace_pen = filler_pen = pause_pen = rep_pen = 0.0
    for i, f in measured:
        label = _label(answers[i], i)
        wpm = f.get("wpm")
        if isinstance(wpm, int | float):
            if wpm > hi:
                pace_pen += min((wpm - hi) / 60.0, 1.0)
                because.append(f"fast pace in {label}: {wpm:.0f} words per minute")
            elif wpm < lo:
                pace_pen += min((lo - wpm) / 60.0, 1.0)
                because.append(f"slow pace in {label}: {wpm:.0f} words per minute")
        fpm = f.get("fillers_per_min")
        if isinstance(fpm, int | float) and fpm > p.fillers_ok_per_min:
            filler_pen += min((fpm - p.fillers_ok_per_min) / 10.0, 1.0)
            because.append(f"{fpm:.1f} filler words per minute in {label}")
        long_pauses = int(f.get("long_pauses") or 0)
        if long_pauses:
            weight = 0.1 if p.stutter_aware else 0.25
            pause_pen += min(long_pauses * weight, 1.0)
            because.append(f"{long_pauses} long pause(s) in {label}")
        reps = int(f.get("repetition_count") or 0)
        if reps >= 2 and not p.stutter_aware:
            rep_pen += min(reps / 10.0, 1.0)
            because.append(f"{reps} repeated words in {label}")
    n = len(measured)
    components = {
        "pace": 100.0 * (1 - pace_pen / n),
        "fillers": 100.0 * (1 - filler_pen / n),
        "pauses": 100.0 * (1 - pause_pen / n),
        "repetitions": 100.0 * (1 - rep_pen / n),
    }
    weights = {"pace": 0.35, "fillers": 0.35, "pauses": 0.2, "repetitions": 0.1}
    if p.stutter_aware:
        weights = {"pace": 0.45, "fillers": 0.45, "pauses": 0.1, "repetitions": 0.0}
    value = sum(components[k] * w for k, w in weights.items()) / sum(weights.values())
    if not because:
        because.append(f"steady pace and few fillers across {n} measured answer(s)")
    return SubScore(
        name="delivery",
        value=round(min(max(value, 0.0), 100.0), 1),
        because=tuple(because),
        components={k: round(v, 1) for k, v in components.items()},
    )


def presence_score(
    answers: Sequence[Mapping[str, Any]], prefs: DeliveryPrefs | None = None
) -> SubScore | None:
    """On-camera presence: eye contact, and staying in view.

    Expressions are reported but never scored: a neutral face is not a fault, and expression
    models are least reliable exactly where people differ most.

    Args:
        answers: One dict per answer with ``presence`` (a PresenceSummary dict) and optionally
            ``label``.
        prefs: Fairness switches (``score_face=False`` returns None).

    Returns:
        The sub-score, or None when the candidate opted out or nothing was measured.
    """
    p = prefs or DeliveryPrefs()
    if not p.score_face:
        return None
    measured = [
        (i, m)
        for i, m in _measured(answers, "presence")
        if isinstance(m.get("eye_contact_ratio"), int | float)
    ]
    if not measured:
        return None
    because: list[str] = []
    total = 0.0
    ratios: list[float] = []
    for i, m in measured:
        ratio = float(m["eye_contact_ratio"])
        ratios.append(ratio)
        label = _label(answers[i], i)
        if ratio < p.eye_contact_ok:
            total += (p.eye_contact_ok - ratio) / p.eye_contact_ok
            because.append(f"looked at the screen {ratio:.0%} of the time during {label}")
    eye = 100.0 * (1 - total / len(measured))
    mean = sum(ratios) / len(ratios)
    if not because:
        because.append(f"kept eye contact {mean:.0%} of the time on average")
    return SubScore(
        name="presence",
        value=round(min(max(eye, 0.0), 100.0), 1),
        because=tuple(because),
        components={"eye_contact": round(eye, 1), "eye_contact_mean": round(100 * mean, 1)},
    )
