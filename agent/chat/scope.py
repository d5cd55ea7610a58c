"""What a coach-chat message asks for, and whether the coach should answer it at all.

Owns the pure, rule-based triage that runs before retrieval: crisis language (→ care and where
to get help now), requests for a diagnosis (→ no diagnosis, suggest a professional), harmful or
dishonest requests (→ a short refusal), greetings, and the two actions (rewrite an answer, start
a drill). Injected instructions ("ignore previous instructions…") are removed from the message
first and never change the triage. Off-topic detection needs retrieval scores, so `is_off_topic`
takes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Intent = Literal["crisis", "diagnosis", "harmful", "greeting", "rewrite", "drill", "advice"]

_CRISIS = re.compile(
    r"\b(kill(ing)? myself|suicid\w*|end (it all|my life)|self[- ]harm|hurt(ing)? myself|"
    r"don'?t want to (live|be alive)|no reason to live)\b",
    re.I,
)
_DIAGNOSIS = re.compile(
    r"\b(do i have|have i got|diagnos\w*|am i (autistic|depressed|bipolar)|is (this|it) "
    r"(an? )?(anxiety|panic) (disorder|attack)|(anxiety|panic|mental health) disorder|adhd|"
    r"social anxiety disorder|medication|meds\b|prescri\w+|beta[- ]?blockers?)\b",
    re.I,
)
_HARMFUL = re.compile(
    r"\b(cheat\w*|lie (on|about) my|fake (a |my )?(reference|degree|experience|certificate)|"
    r"fabricat\w+|make up (a|some) (job|experience|degree)|someone else (to )?(take|do) the|"
    r"answer (for me )?(live|in real time) during|feed me answers|hidden earpiece|"
    r"get back at|revenge on|threaten\w*|hurt (the|my) (interviewer|boss|manager)|weapon)",
    re.I,
)
_INJECTION = re.compile(
    r"(ignore|disregard|forget) (all |any |the |your )?(previous|prior|above|earlier)? ?"
    r"(instructions|rules|prompts?|messages)[^.?!]*[.?!]?|you are now [^.?!]*[.?!]?|"
    r"(reveal|print|show) (me )?(your|the) (system )?(prompt|instructions)[^.?!]*[.?!]?|"
    r"\bsystem prompt\b|\bjailbreak\b|\bDAN mode\b",
    re.I,
)
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|thanks?( you)?( so much)?|cheers|ok(ay)?|"
    r"great|cool)\W*$",
    re.I,
)
_REWRITE = re.compile(
    r"\b(rewrite|re-write|better (version|answer)|improve (my|that|the) answer|model answer|"
    r"stronger (answer|version)|how should i have answered|what should i have said|"
    r"fix my answer|redo my answer|polish my answer|example answer)\b",
    re.I,
)
_DRILL = re.compile(
    r"\b(drill|try (\w+ ){0,3}again|(practi[cs]e|redo|retry|repeat|retake) (\w+ ){0,3}"
    r"(question|answer|again)|one more (go|try)|another (go|attempt)|let me (retry|redo)|"
    r"quiz me|ask me (that|the|this) question)\b",
    re.I,
)
_INTERVIEW_WORDS = re.compile(
    r"\b(interview\w*|answer\w*|question\w*|nervous|nerves|anxious|anxiety|confiden\w*|"
    r"recruiter|hiring|job|role|offer|salary|pay|star|report|score\w*|filler|um+|uh+|pace|"
    r"pause\w*|eye contact|camera|posture|resume|résumé|cv|career|manager|interviewer|panel|"
    r"speak\w*|talk\w*|voice|practi[cs]e|feedback|weakness\w*|strength\w*|story|stories|"
    r"company|boss|colleague|team|project|mock|technical|coding|whiteboard|portfolio)\b",
    re.I,
)

OFF_TOPIC_SIMILARITY = 0.3
"""Below this best retrieval similarity, a message with no interview words is off topic."""


@dataclass(frozen=True, slots=True)
class Triage:
    """The cleaned message and what it asks for."""

    text: str
    intent: Intent
    injection: bool


def clean_message(message: str) -> tuple[str, bool]:
    """The message without injected instructions, and whether there were any."""
    cleaned, n = _INJECTION.subn(" ", message)
    return " ".join(cleaned.split()), n > 0


def triage(message: str) -> Triage:
    """Decide what the message asks for (the safety intents first)."""
    text, injected = clean_message(message)
    if _CRISIS.search(text):
        intent: Intent = "crisis"
    elif _HARMFUL.search(text):
        intent = "harmful"
    elif _DIAGNOSIS.search(text):
        intent = "diagnosis"
    elif not text or _GREETING.match(text):
        intent = "greeting"
    elif _REWRITE.search(text):
        intent = "rewrite"
    elif _DRILL.search(text):
        intent = "drill"
    else:
        intent = "advice"
    return Triage(text=text, intent=intent, injection=injected)


def is_off_topic(text: str, best_similarity: float) -> bool:
    """Whether an advice question is outside interview practice and confidence."""
    return best_similarity < OFF_TOPIC_SIMILARITY and not _INTERVIEW_WORDS.search(text)
