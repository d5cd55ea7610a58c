"""Early speech: a brain step may hand a checked first sentence to the voice before it is done.

The voice layer opens `speaking_early` around one graph step with a sink that speaks a line at
once; a brain that streams its wording (the Gemini follow-up) calls `say_early` as soon as its
first sentence has passed the checks. The step's final line still contains that sentence; the
voice speaks only what remains (`remainder`). Without a sink (text mode, tests, the persona
battery) nothing happens. A context variable carries the sink, so concurrent interviews never
see each other's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

EarlySink = Callable[[str], None]

_SINK: ContextVar[EarlySink | None] = ContextVar("mockint_early_speech", default=None)


@contextmanager
def speaking_early(sink: EarlySink) -> Iterator[None]:
    """Let brain steps started inside this block speak a first sentence early through ``sink``."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


def early_sink() -> EarlySink | None:
    """The sink of the current step, or None when nobody is listening."""
    return _SINK.get()


def remainder(line: str, spoken_early: str) -> str:
    """What is left of ``line`` to say once ``spoken_early`` was said (the whole line if absent)."""
    if not spoken_early:
        return line
    at = line.find(spoken_early)
    if at < 0:
        return line
    return " ".join((line[:at] + " " + line[at + len(spoken_early) :]).split())
