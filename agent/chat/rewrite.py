"""STAR rewrite of one past answer, for the coach chat ("give me a better answer to that").

Owns turning a spoken behavioural answer into situation -> task -> action -> result order using
only what the candidate said: filler words and meta remarks ("that's all") are taken out,
repeated words collapsed, each remaining sentence assigned to a STAR part with the cue regexes
of `agent.brain.analysis`, long answers trimmed to their most concrete sentences, and every
missing part marked with a bracketed prompt instead of invented content. Sentences that talk
to the grader (prompt injection) are dropped. Pure functions: no I/O, no logging, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.brain.analysis import (
    _EN_FUNCTION_WORDS,
    _HEDGE,
    _INJECTION,
    _NON_ANSWER,
    _STAR,
    sentences_of,
    words_of,
)
from perception import fluency  # the same filler and stammer word lists as delivery

PARTS: tuple[str, ...] = ("situation", "task", "action", "result")
"""STAR parts in the order they are told."""

MIN_WORDS = 8
"""Answers with fewer usable words than this get a skeleton, not a rewrite."""

RAMBLE_WORDS = 250
"""Above this many cleaned words (about two minutes spoken) the rewrite is trimmed."""

KEEP_AT_MOST: dict[str, int] = {"situation": 2, "task": 2, "action": 4, "result": 2}
"""Sentences kept per part when a long answer is trimmed."""

SPEAKING_WPM = 140
"""Words per minute used to say how long the rewrite takes to say."""

_RUN_ON_WORDS = 40
"""A sentence longer than this is split at clause boundaries ("..., so we ...")."""

_MIN_PIECE_WORDS = 6

_NON_ANSWER_WORDS = 20
"""An answer this short that opens with "I don't know" / "not sure" has nothing to rewrite."""

_PROMPTS: dict[str, str] = {
    "situation": (
        "[Situation: where were you working, and what was going on? "
        "One or two sentences of context.]"
    ),
    "task": "[Task: what was your job here: the goal you owned or the problem you had to solve?]",
    "action": (
        '[Action: what did you do yourself, step by step? Say "I", and name the people or '
        "tools involved.]"
    ),
    "result": (
        "[Result: what changed because of what you did? Give a number if you have one, "
        "such as time saved or errors reduced.]"
    ),
}
_THEMED_PROMPTS: dict[str, dict[str, str]] = {
    "conflict": {
        "action": (
            '[Action: what did you say and do yourself to sort it out, step by step? Say "I".]'
        ),
        "result": (
            "[Result: how was it settled, and how did you work together afterwards? "
            "Give a number if you have one, such as a deadline kept or time saved.]"
        ),
    },
    "failure": {
        "result": (
            "[Result: how did it end, what did you learn, and what do you do differently now? "
            "Give a number if you have one.]"
        ),
    },
}
_THEMES = (
    (
        "conflict",
        re.compile(
            r"\b(conflict|disagree\w*|disagreement|argument|difficult (colleague|co-?worker|"
            r"person|stakeholder|manager|customer|client)|clash\w*|tension|push-?back)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "failure",
        re.compile(r"\b(fail\w*|mistake|went wrong|regret|setback|missed)\b", re.IGNORECASE),
    ),
)

_MISSING_TIPS: dict[str, str] = {
    "situation": (
        "Open with one or two sentences of context: where you were working and what was "
        "going on, so the interviewer can follow the story."
    ),
    "task": (
        "Say what your job was in this: the goal you owned or the problem you were asked to "
        "solve. It tells the interviewer why your actions mattered."
    ),
    "action": (
        "The middle of the answer is missing: walk through the two or three things you did "
        "yourself, in order. That is the part interviewers score most."
    ),
    "result": (
        "Finish with the result: what changed because of what you did. If you have a real "
        "number (time saved, errors reduced, people helped), say it."
    ),
}

# --- cue strength ----------------------------------------------------------------------------

_STRONG: dict[str, re.Pattern[str]] = {
    "situation": re.compile(
        r"\b(when i was|at my (last|previous|current|old|first)|at my (job|company|work)|"
        r"i noticed|we noticed|the context|back (then|in)|in my (last|previous|current|first)|"
        r"a (few|couple of) (years|months) ago|last (year|quarter|month)|the situation|"
        r"one time|while (i|we) (was|were))\b",
        re.IGNORECASE,
    ),
    "task": re.compile(
        r"\b(my (role|job|task|responsibility|goal)|i was (responsible|asked|tasked|in charge)|"
        r"nobody (had )?asked|no one (had )?asked|i set out to|the goal|the task|the challenge|"
        r"the problem was|the aim|our goal|i owned)\b",
        re.IGNORECASE,
    ),
    "action": re.compile(
        r"\b(we (built|launched|shipped|ran|added|moved|changed|rolled|tested|interviewed|"
        r"redesigned|decided|agreed)|i (spoke|ran|wrote|decided|started|built|led|set up|created|"
        r"organi[sz]ed|proposed|talked|met|reached out|scheduled|asked|suggested|analy[sz]ed|"
        r"implemented|designed|introduced|listened|explained|negotiated|escalated|"
        r"prioriti[sz]ed|changed|called|split|broke|focused|gathered|documented|tested|shipped|"
        r"rolled|migrated|pushed|volunteered|coached|mentored|presented|compromised))\b",
        re.IGNORECASE,
    ),
    "result": re.compile(
        r"\b(result(ed|s)?|as a result|outcome|in the end|ended up|which (meant|led)|"
        r"led to|reduc(ed|ing)|increas(ed|ing)|improv(ed|ing)|saved|grew|dropped|"
        r"decreas(ed|ing)|went (up|down|from)|learn(ed|t)|feedback was|since then|"
        r"turned out|doubled|halved|tripled|lesson|looking back|in hindsight|resolved|"
        r"succeeded|hit (our|the|my)|thanked|feedback)\b",
        re.IGNORECASE,
    ),
}
"""Cues that say a part clearly; a match of `_STAR` without one of these is a weak cue."""

_CENTRE = {"situation": 0.0, "task": 0.25, "action": 0.6, "result": 1.0}
"""Where in an answer (0 = start, 1 = end) each part usually sits."""

_ACTION_EXTRA = re.compile(
    r"\b(i|we)\s+(?:then\s+|also\s+|first\s+|finally\s+|quickly\s+)?"
    r"(?!was\b|were\b|had\b|needed\b|wanted\b|used\b|called\b|named\b)"
    r"(\w{3,}ed|set|wrote|built|made|ran|took|met|spoke|gave|told|sat|put|brought|got|led|"
    r"went|began|chose|drew|found|held|sent|spent|taught|broke|split|rewrote|drove|sought)\b",
    re.IGNORECASE,
)
"""Extra (weak) action cue: "I" or "we" and a past-tense verb ("we wrote", "I set up")."""
_TASK_EXTRA = re.compile(
    r"\b((asked|wanted|told|needed|got|expected) me to|i was given|it was (up to me|on me)|"
    r"fell to me|i volunteered to|i offered to)\b",
    re.IGNORECASE,
)
"""Extra (weak) task cue: someone gave the candidate the job ("my manager asked me to")."""

_STRONG_CUE = 2.0
_WEAK_CUE = 1.0
_POSITION_WEIGHT = 1.5
_STAY_SCORE = 0.5
"""Score for staying in the previous part when the sentence has no cue for it."""
_START_SCORE = 0.3
"""Score for opening with the situation when the first sentence has no situation cue."""
_BACKWARD_PENALTY = {_WEAK_CUE: 1.0, _STRONG_CUE: 0.3}
"""Cost of going back to an earlier part: small for a clear cue ("My task was ..."), larger for
a weak one ("there was"), which late in a story is usually narrative, not a new situation."""
_HAD_TO = re.compile(r"\b(had|needed) to\b", re.IGNORECASE)

# --- cleaning --------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_TOKEN = re.compile(r"^([\"'(\[]*)(.*?)([.,!?;:\u2026)\"\]\u2014\u2013-]*)$")
_FILLER_WORD = re.compile(r"(?:u+h*m+|u+h+|e+r+m*|a+h+|h+m+|m+h+m+|m{2,})", re.IGNORECASE)
_TRANSCRIPT_NOTE = re.compile(r"\[[^\]]*\]")
_STRAY_BRACKET = re.compile(r"[\[\]]")
_BREAK_CHARS = frozenset(",;:\u2026\u2014\u2013-")
_END_CHARS = frozenset(".?!")
_ABBREVIATIONS = re.compile(
    r"\b(e\.g|i\.e|etc|vs|mr|mrs|ms|dr|prof|approx|incl|no)\.$", re.IGNORECASE
)
_PHRASE_BLOCK_PREV = fluency._PHRASE_BLOCK_PREV | {"as", "by", "how", "who"}
"""Before "you know"/"I mean", these make the phrase literal ("do you know", "what I mean")."""
_LITERAL_NEXT = frozenset(
    {"what", "how", "why", "where", "when", "who", "whether", "if", "that", "about", "it"}
    | {"him", "her", "them", "me", "us", "this", "those", "these", "the", "a", "an", "my"}
    | {"our", "your", "his", "their", "to", "business", "nothing", "each"}
)
"""After "you know"/"I mean" without a comma, these make the phrase literal ("you know the
drill", "I mean it")."""
_DETERMINERS = frozenset(
    {"a", "an", "the", "what", "this", "that", "these", "those", "some", "any", "which", "every"}
    | {"each", "no", "one", "same", "different", "another", "other", "certain", "particular"}
    | {"whatever", "my", "your", "our", "their", "his", "her", "its", "all", "of"}
)
"""Before "kind of"/"sort of", these make the phrase literal ("a kind of cache")."""
_LIKE_BLOCK_PREV = frozenset(
    {"i", "you", "we", "they", "he", "she", "it", "people", "would", "i'd", "you'd", "we'd"}
    | {"they'd", "he'd", "she'd", "do", "does", "did", "don't", "doesn't", "didn't", "not"}
    | {"really", "just", "also", "look", "looks", "looked", "looking", "seem", "seems"}
    | {"seemed", "feel", "feels", "felt", "sound", "sounds", "sounded", "something", "more"}
    | {"much", "things", "stuff", "anything", "nothing", "everything", "would've", "i'll"}
)
"""Before "like", these make it a verb or a comparison ("I'd like to", "looks like")."""
_LIKE_FILLER_PREV = frozenset({"and", "but", "so", "because", "or", "then", "um", "uh"})
_LIKE_COMMA_PREV = _LIKE_FILLER_PREV | {"was", "were", "is", "are", "it's", "that's", "had"}
"""Before "like," (with a comma), these make it a filler ("it was like, really slow"); after
other words it may be an example ("tools like, Jira") and is kept."""
_PRONOUNS = frozenset({"i", "we", "they", "he", "she", "you", "there", "it", "i'm", "we're"})
_SAID = frozenset(
    {"said", "say", "mentioned", "told", "explained", "agreed", "discussed", "planned", "did"}
    | {"expected", "promised", "do", "always", "usually"}
)
"""After "like I/we", these make it mean "as" ("like I said") and it is kept."""
_LEAD_MARKERS = frozenset({"yeah", "okay", "ok", "so", "well", "right", "alright", "anyway"})
_META_PHRASE = (
    r"(?:yeah|yes|okay|ok|so|right|anyway|um|"
    r"that'?s (?:pretty much |basically |really )?(?:all|it|about it|everything|my answer|"
    r"the story)"
    r"(?: really| i think| for now| from me| i guess| i have| i've got| i can think of)?|"
    r"i think that'?s (?:it|all|about it)|i guess that'?s (?:it|all|about it)|"
    r"i (?:do ?n'?t|dont) know what else (?:to say|i can say|to add)|"
    r"(?:i )?hope (?:that|this) (?:answers|helps|makes sense).*|"
    r"(?:does|did) that (?:make sense|answer.*)|if that makes sense|you know what i mean|"
    r"(?:that'?s |what )?a (?:good|great|tough|hard|difficult) question|"
    r"(?:good|great|tough|hard) question|"
    r"let me think(?: about (?:it|that))?(?: for a (?:second|moment|sec))?|"
    r"(?:hmm )?where was i|sorry|(?:can|could) you repeat (?:the|that) question)"
)
_META = re.compile(
    rf"(?:(?:so|well|and|yeah|okay|ok|um|right|anyway|but)\s+)*{_META_PHRASE}"
    rf"(?:\s+(?:(?:so|and|yeah|but)\s+)*{_META_PHRASE})*"
)
"""Whole sentences that are talk about the answer, not the answer."""
_RUN_ON_BREAK = frozenset({"so", "but", "then"})
_AND_CLAUSE = frozenset({"then", "so", "i", "we", "my", "our"})
"""After "and", these start a new clause a run-on sentence can be split before."""

# --- trimming --------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|half|double|twice|percent)\b",
    re.IGNORECASE,
)
_I_DID = re.compile(
    r"\bI\s+(?:also\s+|then\s+|just\s+|first\s+|finally\s+)?"
    r"(?!(?:think|guess|mean|was|am|suppose|believe|feel|felt|don't|didn't|wasn't|know|"
    r"remember|hope|had|have|would|could|should|might|must|can|will|want|wanted|need|needed)\b)"
    r"\w+"
)
_NAMED = re.compile(r"(?<=\s)(?:[A-Z][\w+#.-]*[A-Za-z0-9+#]|[a-z]+[A-Z0-9][\w]*)")
_I_WORDS = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "myself"})
_WE_WORDS = frozenset({"we", "we're", "we've", "we'd", "we'll", "us", "our"})
_GENERAL = re.compile(
    r"\b(always|usually|generally|in general|normally|typically|tend to|i would|i'd|"
    r"i believe|i think)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class StarRewrite:
    """A STAR-ordered rewrite of one answer, built only from what the candidate said."""

    question: str
    """The question the answer was given to."""
    original: str
    """The answer as said (transcript)."""
    parts: dict[str, tuple[str, ...]]
    """For "situation", "task", "action" and "result": the candidate's own cleaned sentences
    kept for that part, in the order they were said (after trimming, if any)."""
    missing: tuple[str, ...]
    """STAR parts with nothing from the answer, in STAR order."""
    text: str
    """The rewritten answer in S -> T -> A -> R order; each missing part is one bracketed
    prompt in its place."""
    tips: tuple[str, ...]
    """One to four short tips about what changed and what to add."""


@dataclass(slots=True)
class _Token:
    lead: str
    core: str
    trail: str

    @property
    def low(self) -> str:
        return self.core.lower()

    def render(self) -> str:
        return f"{self.lead}{self.core}{self.trail}"


@dataclass(slots=True)
class _Cleaning:
    """What cleaning took out, for the tips."""

    fillers: list[str] = field(default_factory=list)
    meta_last: bool = False
    injection: bool = False


def star_rewrite(question: str, answer: str) -> StarRewrite:
    """Rewrite a behavioural answer in STAR order without adding any facts.

    Args:
        question: The question the answer was given to (tailors the prompts for missing parts).
        answer: The candidate's transcript; may be empty, rambling, gibberish or hostile.

    Returns:
        The rewrite: cleaned sentences per STAR part, the missing parts, the spoken text with a
        bracketed prompt per missing part, and one to four tips.
    """
    cleaning = _Cleaning()
    sentences = _clean_sentences(answer, cleaning)
    theme = _theme(question)
    n_words = sum(len(words_of(s)) for s in sentences)
    if n_words < MIN_WORDS or _looks_gibberish(sentences) or _no_example(sentences, n_words):
        return _skeleton(question, answer, theme, n_words, sentences, cleaning)

    labels = _assign(sentences)
    grouped: dict[str, list[str]] = {p: [] for p in PARTS}
    for sentence, label in zip(sentences, labels, strict=True):
        grouped[label].append(sentence)
    trimmed_from = 0
    if n_words > RAMBLE_WORDS:
        trimmed_from = len(words_of(answer))
        grouped = {p: _keep_concrete(grouped[p], p, KEEP_AT_MOST[p]) for p in PARTS}
    parts = {p: tuple(grouped[p]) for p in PARTS}
    missing = tuple(p for p in PARTS if not parts[p])
    text = _render(parts, theme)
    tips = _tips(
        sentences=sentences,
        labels=labels,
        parts=parts,
        missing=missing,
        trimmed_from=trimmed_from,
        cleaning=cleaning,
    )
    return StarRewrite(
        question=question, original=answer, parts=parts, missing=missing, text=text, tips=tips
    )


# --- sentences -------------------------------------------------------------------------------


def _clean_sentences(answer: str, cleaning: _Cleaning) -> list[str]:
    """Split, drop injected and meta sentences, clean fillers, split run-ons, de-duplicate."""
    # Square brackets mark prompts in the rewrite; transcript notes ("[laughs]") are not speech.
    text = _STRAY_BRACKET.sub(" ", _TRANSCRIPT_NOTE.sub(" ", answer.translate(_APOSTROPHES)))
    raw = _merge_abbreviations(sentences_of(text))
    out: list[str] = []
    seen: set[str] = set()
    meta_at: list[int] = []
    for i, sentence in enumerate(raw):
        if _INJECTION.search(sentence):
            cleaning.injection = True
            continue
        cleaned = _clean(sentence, cleaning.fillers)
        if cleaned is None or _INJECTION.search(cleaned):
            cleaning.injection = cleaning.injection or cleaned is not None
            continue
        if _is_meta(cleaned):
            meta_at.append(i)
            continue
        for piece in _split_run_on(cleaned):
            key = " ".join(w.lower() for w in words_of(piece))
            if key and key not in seen:
                seen.add(key)
                out.append(piece)
    cleaning.meta_last = bool(meta_at) and meta_at[-1] == len(raw) - 1
    return out


def _merge_abbreviations(pieces: list[str]) -> list[str]:
    """Re-join sentences that `sentences_of` split after "e.g." or "Dr."."""
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATIONS.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def _tokens(sentence: str) -> list[_Token]:
    tokens: list[_Token] = []
    for raw in sentence.split():
        m = _TOKEN.match(raw)
        lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", raw, "")
        if not core:
            if tokens:
                # A dash on its own ("it - well - broke") is a spoken pause: a comma in text.
                dash = raw.strip("-\u2014\u2013") == ""
                tokens[-1].trail += "," if dash else lead + trail
            continue
        tokens.append(_Token(lead, core, trail))
    return tokens


def _has_break(trail: str) -> bool:
    return any(c in _BREAK_CHARS or c in _END_CHARS for c in trail) or "..." in trail


def _filler_spans(tokens: Sequence[_Token]) -> list[tuple[int, int]]:
    """Token ranges (inclusive) that are fillers, phrases only when used as fillers."""
    spans: list[tuple[int, int]] = []
    n = len(tokens)
    i = 0
    while i < n:
        core = tokens[i].low
        prev = tokens[i - 1].low if i else ""
        at_boundary = i == 0 or _has_break(tokens[i - 1].trail)
        nxt = tokens[i + 1].low if i + 1 < n else ""
        after = tokens[i + 2].low if i + 2 < n else ""
        if all(_FILLER_WORD.fullmatch(part) for part in core.split("-")) or core == "basically":
            spans.append((i, i))
        elif (core, nxt) in {("you", "know"), ("i", "mean")}:
            closed = i + 1 == n - 1 or _has_break(tokens[i + 1].trail)
            opened = at_boundary or prev in _LIKE_FILLER_PREV
            blocked = prev in _PHRASE_BLOCK_PREV and not at_boundary
            if not blocked and (closed or (opened and after not in _LITERAL_NEXT)):
                spans.append((i, i + 1))
                i += 2
                continue
        elif core in {"kind", "sort"} and nxt == "of" and i + 2 < n:
            if prev not in _DETERMINERS or at_boundary:
                spans.append((i, i + 1))
                i += 2
                continue
        elif core == "like" and i + 1 < n and not _DIGIT.search(tokens[i + 1].core):
            blocked = prev in _LIKE_BLOCK_PREV and not at_boundary
            said = after in _SAID
            comma = _has_break(tokens[i].trail) and (at_boundary or prev in _LIKE_COMMA_PREV)
            leads = (at_boundary or prev in _LIKE_FILLER_PREV) and nxt in _PRONOUNS
            if not blocked and not said and (comma or leads):
                spans.append((i, i))
        i += 1
    return spans


def _stammer(core: str) -> str:
    """Undo a stammer: "I-I" -> "I", "w-we" -> "we"; "re-read" and "t-test" stay."""
    parts = core.split("-")
    if len(parts) < 2 or not all(parts) or core.lower() in fluency._HYPHEN_WORDS:
        return core
    *heads, last = parts
    low_last = last.lower()
    if all(h.lower() == low_last for h in heads):
        return core if low_last in fluency._DOUBLE_OK else last
    if len(heads) == 1 and heads[0].lower() in fluency._PREFIXES:
        return core
    if all(len(h) <= 2 and low_last.startswith(h.lower()) for h in heads):
        return last
    return core


def _drop(tokens: list[_Token], remove: set[int]) -> list[_Token]:
    """Remove tokens, keeping punctuation tidy ("we had, um, a problem" -> "we had a problem")."""
    out: list[_Token] = []
    for i, tok in enumerate(tokens):
        if i not in remove:
            out.append(tok)
            continue
        if "," in tok.trail and out and out[-1].trail.endswith(","):
            out[-1].trail = out[-1].trail[:-1]
        if out and not (i + 1 < len(tokens) and i + 1 not in remove) and tok.trail:
            if any(c in _END_CHARS for c in tok.trail):
                # "..., you know?" is not a question once the filler is gone.
                out[-1].trail = out[-1].trail.rstrip(",;:?") + "."
        if i + 1 < len(tokens) and tok.lead and i + 1 not in remove:
            tokens[i + 1].lead = tok.lead + tokens[i + 1].lead
    return out


def _collapse_repeats(tokens: list[_Token]) -> list[_Token]:
    """Collapse repeated words and word pairs ("I I", "the, the", "I went I went")."""
    out: list[_Token] = []
    for tok in tokens:
        if (
            out
            and out[-1].low == tok.low
            and tok.low not in fluency._DOUBLE_OK
            and not _DIGIT.search(tok.core)
            and not any(c in _END_CHARS for c in out[-1].trail)
        ):
            tok.lead = out[-1].lead or tok.lead
            out[-1] = tok
            continue
        out.append(tok)
        if (
            len(out) >= 4
            and (out[-4].low, out[-3].low) == (out[-2].low, out[-1].low)
            and not _DIGIT.search(out[-1].core + out[-2].core)
            and not any(c in _END_CHARS for c in out[-3].trail)
        ):
            del out[-4:-2]
    return out


def _strip_lead_markers(tokens: list[_Token], fillers: list[str]) -> list[_Token]:
    """Drop opening discourse markers set off by a comma ("So, yeah, at my last job")."""
    while len(tokens) > 1 and tokens[0].low in _LEAD_MARKERS and _has_break(tokens[0].trail):
        fillers.append(tokens[0].low)
        tokens = tokens[1:]
        tokens[0].lead = ""
    return tokens


def _clean(sentence: str, fillers: list[str]) -> str | None:
    """Clean one sentence; None when nothing but filler is left."""
    tokens = _tokens(sentence)
    for tok in tokens:
        tok.core = _stammer(tok.core)
    tokens = _strip_lead_markers(tokens, fillers)
    spans = _filler_spans(tokens)
    remove: set[int] = set()
    for a, b in spans:
        remove.update(range(a, b + 1))
        fillers.append(" ".join(t.low for t in tokens[a : b + 1]))
    tokens = _drop(tokens, remove)
    tokens = _strip_lead_markers(_collapse_repeats(tokens), fillers)
    if not words_of(" ".join(t.core for t in tokens)):
        return None
    return _tidy(" ".join(t.render() for t in tokens))


def _tidy(text: str) -> str:
    """Fix spacing, the pronoun "I", the first capital and the final full stop."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    text = re.sub(r",\s*,+", ",", text)
    text = re.sub(r"[,;:]+([.!?])", r"\1", text)
    text = re.sub(r"^[\s,;:.!?\u2014\u2013-]+", "", text)
    text = re.sub(r"\bi\b(?!\.)", "I", text)
    text = re.sub(r"[\s,;:\u2014\u2013-]+$", "", text)
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?\"')":
        text += "."
    return text


def _is_meta(sentence: str) -> bool:
    plain = " ".join(w.lower() for w in re.findall(r"[A-Za-z']+", sentence))
    return bool(_META.fullmatch(plain))


def _split_run_on(sentence: str) -> list[str]:
    """Split a very long spoken sentence before ", so", ", but" or "and I/we/then" clauses."""
    tokens = sentence.split()
    if len(tokens) <= _RUN_ON_WORDS:
        return [sentence]
    cuts: list[int] = []
    last = 0
    for i in range(1, len(tokens)):
        word = tokens[i].lower().strip(",")
        prev = tokens[i - 1]
        comma_break = prev.endswith(",") and word in _RUN_ON_BREAK
        and_clause = prev.lower() == "and" and word in _AND_CLAUSE
        if (comma_break or and_clause) and i - 1 - last >= _MIN_PIECE_WORDS:
            if len(tokens) - i >= _MIN_PIECE_WORDS:
                cuts.append(i)
                last = i
    if not cuts:
        return [sentence]
    pieces: list[str] = []
    for a, b in zip([0, *cuts], [*cuts, len(tokens)], strict=True):
        chunk = tokens[a:b]
        if b < len(tokens) and chunk[-1].lower() == "and":
            chunk = chunk[:-1]
        pieces.append(_tidy(" ".join(chunk)))
    return [p for p in pieces if p]


def _no_example(sentences: Sequence[str], n_words: int) -> bool:
    """A short "I don't know" / "never had that" with no story in it."""
    text = " ".join(sentences)
    if n_words > _NON_ANSWER_WORDS or not _NON_ANSWER.search(text):
        return False
    return not (_STRONG["situation"].search(text) or _STRONG["action"].search(text))


def _looks_gibberish(sentences: Sequence[str]) -> bool:
    """No English function words, no numbers and no STAR cue: nothing to rewrite."""
    text = " ".join(sentences)
    alpha = [w.lower() for w in words_of(text) if w.isalpha()]
    if len(alpha) < 4 or _DIGIT.search(text):
        return False
    function_share = sum(w in _EN_FUNCTION_WORDS for w in alpha) / len(alpha)
    return function_share < 0.05 and not any(rx.search(text) for rx in _STAR.values())


# --- assignment ------------------------------------------------------------------------------


def _cue(sentence: str, part: str) -> float:
    """How clearly a sentence says a part: 0 (no cue), weak or strong."""
    probe = _HAD_TO.sub("-", sentence) if part == "situation" else sentence
    if not _STAR[part].search(probe):
        if part == "action" and _ACTION_EXTRA.search(probe):
            return _WEAK_CUE
        if part == "task" and _TASK_EXTRA.search(probe):
            return _WEAK_CUE
        return 0.0
    if _STRONG[part].search(probe):
        return _STRONG_CUE
    if part == "result" and (_DIGIT.search(probe) or _NUMBER_WORD.search(probe)):
        return _STRONG_CUE
    return _WEAK_CUE


def _assign(sentences: Sequence[str]) -> list[str]:
    """STAR part per sentence: cue strength, where the sentence sits, and the previous part.

    Only parts the sentence has a cue for compete, plus the previous sentence's part (situation
    for the first); a sentence with no cue therefore stays with the previous part. Each cue is
    discounted by how far the sentence sits from where that part usually goes, so early
    sentences lean situation/task and late ones result, and ties go to the earlier part. Going
    back to an earlier part costs a little, so a weak cue ("there was") late in the story does
    not pull it back to the situation.
    """
    labels: list[str] = []
    n = len(sentences)
    for i, sentence in enumerate(sentences):
        pos = i / (n - 1) if n > 1 else 0.5
        prev = labels[-1] if labels else "situation"
        prev_k = PARTS.index(prev)
        best = prev
        best_score = float("-inf")
        for k, part in enumerate(PARTS):
            cue = _cue(sentence, part)
            if cue:
                score = cue - _POSITION_WEIGHT * abs(pos - _CENTRE[part])
                if k < prev_k:
                    score -= _BACKWARD_PENALTY[cue]
            elif part == prev:
                score = _STAY_SCORE if labels else _START_SCORE
            else:
                continue
            if score > best_score:
                best, best_score = part, score
        labels.append(best)
    return labels


# --- trimming --------------------------------------------------------------------------------


def _concreteness(sentence: str, part: str) -> float:
    """How much checkable detail a sentence carries (numbers, names, "I" + verb)."""
    measured = 1.0 if part == "result" else 0.0
    score = 0.0
    if _DIGIT.search(sentence):
        score += 2.0 + measured
    elif _NUMBER_WORD.search(sentence):
        score += 1.0 + measured
    names = [m for m in _NAMED.findall(sentence) if m.lower() not in _I_WORDS]
    score += min(2, len(names))
    if _I_DID.search(sentence):
        score += 1.5 if part == "action" else 0.5
    score += _cue(sentence, part)
    score -= 0.5 * len(_HEDGE.findall(sentence))
    if len(words_of(sentence)) > 45:
        score -= 1.0
    return score


def _keep_concrete(sentences: list[str], part: str, k: int) -> list[str]:
    """The k most concrete sentences, in the order they were said."""
    if len(sentences) <= k:
        return sentences
    late_first = part == "result"
    ranked = sorted(
        range(len(sentences)),
        key=lambda i: (-_concreteness(sentences[i], part), -i if late_first else i),
    )
    keep = sorted(ranked[:k])
    return [sentences[i] for i in keep]


# --- output ----------------------------------------------------------------------------------


def _theme(question: str) -> str | None:
    for name, rx in _THEMES:
        if rx.search(question):
            return name
    return None


def _prompt(part: str, theme: str | None) -> str:
    return _THEMED_PROMPTS.get(theme or "", {}).get(part, _PROMPTS[part])


def _render(parts: dict[str, tuple[str, ...]], theme: str | None) -> str:
    chunks: list[str] = []
    for part in PARTS:
        chunks.extend(parts[part] or (_prompt(part, theme),))
    return " ".join(chunks)


def _skeleton(
    question: str,
    answer: str,
    theme: str | None,
    n_words: int,
    sentences: Sequence[str],
    cleaning: _Cleaning,
) -> StarRewrite:
    no_example = n_words >= MIN_WORDS and _no_example(sentences, n_words)
    if no_example:
        first = (
            "Your answer was too short to rewrite: it had no example in it yet, so here is a "
            "STAR outline to fill in."
        )
    elif n_words >= MIN_WORDS:
        first = (
            "Your answer was too short to rewrite: none of it read as clear English sentences, "
            "so here is a STAR outline to fill in."
        )
    else:
        said = "nothing" if n_words == 0 else f"{n_words} word{'s' if n_words != 1 else ''}"
        first = (
            f"Your answer was too short to rewrite ({said} to work with), so here is a STAR "
            "outline to fill in."
        )
    second = (
        "If you have never had exactly this situation, use the closest real one: a school or "
        "side project, a volunteer role or a part-time job all count."
        if no_example
        else None
    )
    tips = [
        first,
        *([second] if second else []),
        "Pick one real example and say one or two sentences for each part, in order; about "
        "one and a half to two minutes is enough.",
    ]
    if cleaning.injection:
        tips.append(_INJECTION_TIP)
    return StarRewrite(
        question=question,
        original=answer,
        parts=dict.fromkeys(PARTS, ()),
        missing=PARTS,
        text=_render(dict.fromkeys(PARTS, ()), theme),
        tips=tuple(tips),
    )


_INJECTION_TIP = (
    "Left out a sentence aimed at the scoring system rather than the interviewer; in a real "
    "interview it would only count against you."
)


def _has_word(sentences: Iterable[str], vocab: frozenset[str]) -> bool:
    return any(w.lower() in vocab for s in sentences for w in words_of(s))


def _tips(
    *,
    sentences: Sequence[str],
    labels: Sequence[str],
    parts: dict[str, tuple[str, ...]],
    missing: tuple[str, ...],
    trimmed_from: int,
    cleaning: _Cleaning,
) -> tuple[str, ...]:
    """Up to four tips, most useful first."""
    tips: list[str] = []
    if trimmed_from:
        kept = sum(len(words_of(s)) for p in PARTS for s in parts[p])
        seconds = round(kept / SPEAKING_WPM * 60 / 10) * 10
        tips.append(
            f"Trimmed from about {trimmed_from} to {kept} words (roughly {seconds} seconds "
            "spoken), keeping the sentences with concrete detail: numbers, names and what you "
            "did. Long answers lose the interviewer; stop after the result."
        )
    if len(missing) == 1:
        tips.append(_MISSING_TIPS[missing[0]])
    elif missing:
        names = _join_names(missing)
        tips.append(
            f"Your answer had no {names} yet. Fill in the bracketed parts with what really "
            "happened; they are prompts, not text to read out."
        )
    actions = parts["action"] or tuple(s for p in PARTS for s in parts[p])
    if _has_word(actions, _WE_WORDS) and not _has_word(actions, _I_WORDS):
        tips.append(
            'You said "we" for the actions but never "I". Say which steps you took yourself '
            '("I wrote the migration plan"): the interviewer is hiring you, not the team. '
            'The rewrite keeps "we" because only you know who did what.'
        )
    kept_text = " ".join(sentences)
    if ("situation" in missing or "action" in missing) and not _STRONG["situation"].search(
        kept_text
    ):
        if _GENERAL.search(kept_text) and not _DIGIT.search(kept_text):
            tips.append(
                "Your answer talks in general terms. STAR works with one specific time it "
                "happened: when it was, where you were, what you did."
            )
    if len(missing) > 1 and "result" in missing:
        tips.append(_MISSING_TIPS["result"])
    order = [PARTS.index(label) for label in labels]
    if any(b < a for a, b in zip(order, order[1:], strict=False)):
        first_back = next(j for j in range(1, len(order)) if order[j] < max(order[:j]))
        later = PARTS[max(order[:first_back])]
        earlier = PARTS[order[first_back]]
        tips.append(
            f"Put the story in order: you gave the {later} before the {earlier}. Situation, "
            "task, action, result is easier to follow."
        )
    if cleaning.injection:
        tips.append(_INJECTION_TIP)
    if parts["result"] and not any(
        _DIGIT.search(s) or _NUMBER_WORD.search(s) for s in parts["result"]
    ):
        tips.append(
            "Your result has no number. If you have a real one (time saved, errors reduced, "
            "people affected), add it; if not, say what changed in concrete terms."
        )
    if len(cleaning.fillers) >= 2:
        shown = _join_names(tuple(dict.fromkeys(f'"{f}"' for f in cleaning.fillers))[:3], "and")
        tips.append(
            f"Took out {len(cleaning.fillers)} filler words ({shown}); a short pause sounds "
            "more confident than a filler."
        )
    if cleaning.meta_last:
        tips.append(
            'End on the result and stop; closing lines like "that\'s all" weaken a strong finish.'
        )
    if not tips:
        tips.append(
            "Your answer already follows situation, task, action, result; the rewrite only "
            "tidies it. Keep it this way and stop after the result."
        )
    return tuple(tips[:4])


def _join_names(names: Sequence[str], conj: str = "or") -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conj} {names[-1]}"
