"""Interview turn-taking rules over transcripts: repeats, "let me think", backchannels, echo.

Pure functions; the voice agent applies them to every completed user turn before anything is
handed to the interview graph.
"""

from __future__ import annotations

import re
from typing import Literal

UtteranceKind = Literal["empty", "repeat", "hold", "backchannel", "answer"]

_REPEAT = re.compile(
    r"\b(could|can|would) you (please )?(repeat|say that again|rephrase)|"
    r"\brepeat (the|that|your) question\b|\bsay (it|that) again\b|\bpardon\b|"
    r"\b(didn'?t|did not) (catch|hear|get) (that|the question|it)\b|"
    r"\bwhat was the question\b|\bsorry,? what\?",
    re.IGNORECASE,
)
_HOLD = re.compile(
    r"\b(let me (think|see|consider)|give me (a|one) (moment|second|sec|minute)|"
    r"(one|just a) (moment|second|sec|minute)|hold on|bear with me|"
    r"let me gather my thoughts|i need (a|one) (moment|second|minute)|thinking)\b",
    re.IGNORECASE,
)
_HESITATION = frozenset(
    # hesitation sounds as Whisper spells them ("Hmm" often comes out as "Hem" or "M-M-M")
    "m mm mmm hmm hmmm hm um umm uh uhm er erm ah eh hem hum m-m".split()
)
_BACKCHANNEL = _HESITATION | frozenset(
    "mhm mm-hm mmhm uh-huh uhhuh okay ok yeah yes yep right sure cool alright got it i see".split()
)
_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)?")
# Words that carry no answer content around a hold request ("Hmm, that's a good question, let
# me think about it for a second").
_HOLD_FILLER = frozenset(
    """um umm uh er erm hmm hm mm mhm ah oh so well okay ok alright like you know i mean just
    actually right yeah yes good great nice tough hard interesting question that's thats that
    it this about for a an the moment second sec minute bit little while please sorry""".split()
)


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def classify_utterance(text: str) -> UtteranceKind:
    """What a completed user turn is, for the interviewer's purposes."""
    w = words(text)
    if not w:
        return "empty"
    if len(w) <= 12 and _REPEAT.search(text):
        return "repeat"
    if len(w) <= 20 and _HOLD.search(text):
        rest = [x for x in words(_HOLD.sub(" ", text)) if x not in _HOLD_FILLER]
        if len(rest) <= 2:
            return "hold"
    if len(w) <= 2 and all(x in _BACKCHANNEL for x in w):
        return "backchannel"
    if all(x in _HESITATION for x in w):
        return "backchannel"
    return "answer"


_CONTINUATION = frozenset(
    """a an the and or but so because to of for with in on at by from that which who whose
    my our their your his her its is was were are be been being am um uh er erm like then if
    when while as into than very really some more most this these those i we you they he she
    would could should will can just also not about around between through over under after
    before during without such where how what why whether either neither both each every
    any no nor yet since until unless although though whereas""".split()
)


def looks_unfinished(text: str) -> bool:
    """Whether a transcript stops mid-sentence (a thinking pause, not the end of the answer).

    Speech recognisers often add a full stop at any pause, so the last word decides: an answer
    ending on a conjunction, preposition, article or filler ("for about…", "and um…") has more
    to come.
    """
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped.endswith((",", "...", "…", "-", "—")):
        return True
    w = words(stripped)
    return bool(w) and (w[-1] in _CONTINUATION or w[-2:] == ["let", "me"])


def is_echo(transcript: str, spoken: str, *, min_overlap: float = 0.6) -> bool:
    """Whether a transcript is mostly the interviewer's own words picked up by the microphone.

    Args:
        transcript: What the STT heard.
        spoken: What the interviewer was saying at the time.
        min_overlap: Share of transcript words that must appear in ``spoken``.
    """
    heard = words(transcript)
    said = set(words(spoken))
    if len(heard) < 3 or not said:
        return False
    overlap = sum(1 for w in heard if w in said) / len(heard)
    return overlap >= min_overlap
