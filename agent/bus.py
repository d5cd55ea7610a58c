"""In-process event bus for one interview: typed events, bounded per-subscriber queues.

Owns the event types that cross from perception and the voice loop to their consumers (the live
UI feed, the per-answer aggregator, persistence) and the fan-out. Each subscriber gets its own
bounded `asyncio.Queue`. High-rate perception events are dropped oldest-first when a subscriber
falls behind; control events (phase changes, degradation notices, the end of the session) are
never dropped: a full queue grows for them instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

logger = logging.getLogger("mockint.agent")


class _Event(BaseModel):
    session_id: str
    t: float
    """Seconds on the interview clock."""


class FrameAnalysed(_Event):
    """One analysed camera frame (no image data, only derived numbers)."""

    type: Literal["frame_analysed"] = "frame_analysed"
    status: str
    n_faces: int
    eye_contact: bool | None = None
    expression: str | None = None
    blink: bool = False


class FluencyMeasured(_Event):
    """Delivery figures for one finished answer."""

    type: Literal["fluency_measured"] = "fluency_measured"
    turn: int
    wpm: float | None = None
    fillers_per_min: float | None = None
    status: str


class PerceptionDegraded(_Event):
    """A perception worker stopped or fell behind; the interview goes on without it."""

    type: Literal["perception_degraded"] = "perception_degraded"
    worker: str
    status: str
    reason: str | None = None


class PhaseChanged(_Event):
    """The interview moved to another phase (question asked, answer taken, finished)."""

    type: Literal["phase_changed"] = "phase_changed"
    phase: str
    turn: int | None = None


BusEvent = Annotated[
    FrameAnalysed | FluencyMeasured | PerceptionDegraded | PhaseChanged,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[BusEvent] = TypeAdapter(BusEvent)

_DROPPABLE = (FrameAnalysed,)


class Subscription:
    """One subscriber's bounded queue."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[BusEvent] = asyncio.Queue()
        self.maxsize = maxsize
        self.dropped = 0

    def offer(self, event: BusEvent) -> None:
        """Enqueue; perception events evict the oldest perception event when full."""
        if self.queue.qsize() >= self.maxsize and isinstance(event, _DROPPABLE):
            kept: list[BusEvent] = []
            evicted = False
            while not self.queue.empty():
                e = self.queue.get_nowait()
                if not evicted and isinstance(e, _DROPPABLE):
                    evicted = True
                    continue
                kept.append(e)
            for e in kept:
                self.queue.put_nowait(e)
            if not evicted:
                self.dropped += 1  # nothing droppable queued: drop the newcomer instead
                return
            self.dropped += 1
        self.queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[BusEvent]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)


class EventBus:
    """Fan-out of events to subscribers."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def subscribe(self, *, maxsize: int = 256) -> Subscription:
        """A new subscription holding at most ``maxsize`` perception events."""
        sub = Subscription(self, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscription (idempotent)."""
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: BusEvent) -> None:
        """Deliver to every subscriber without blocking."""
        for sub in list(self._subs):
            sub.offer(event)
