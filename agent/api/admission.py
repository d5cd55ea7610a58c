"""Admission control: how many live interviews this server runs at once.

Owns the capacity gate in front of the expensive part of an interview. A live spoken session
runs voice activity detection, turn detection, speech recognition and the interviewer's voice on
this machine's CPU, and camera analysis adds a vision pipeline on top; past a measured number of
sessions every one of them gets slower (see ``benchmarks/load.py``). So beyond capacity a new
interview is refused with a clear message, never started in a degraded state. There are two
limits: live voice sessions (every spoken interview) and, separately, interviews with camera
analysis (which also count as voice sessions).

A slot belongs to an interview, not to a connection:

- `Admission.reserve` (when the interview is created) keeps a slot for ``RESERVE_S`` so the
  candidate who was just let in is not overtaken while their browser asks for the microphone
  and connects;
- `Admission.admit` (when the audio connection opens) turns that reservation, or a free slot,
  into a live one; an interview that already holds a slot is always let back in;
- `Admission.leave` (when the connection closes) keeps the slot for ``grace_s`` so a dropped or
  reloaded page continues its interview; an interview that has finished gives it up at once.

New interviews are refused (`Admission.check_start`) only when the slots are held by connected
or briefly disconnected interviews; a reservation that nobody picks up does not block starting
an interview (typed interviews over HTTP cost next to nothing), it only has priority when audio
connects. Expired holds are dropped on every call, so there is no background task. Nothing here
does I/O and the clock is injected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.config import Settings

Clock = Callable[[], float]
Resource = Literal["voice", "camera"]
HoldState = Literal["reserved", "live", "away"]

RESERVE_S = 30.0
"""How long a newly created interview keeps its slot while the page connects its audio."""


@dataclass(slots=True)
class Hold:
    """One interview's claim on a slot."""

    state: HoldState
    """reserved: created, audio not connected yet; live: connected; away: disconnected."""
    until: float = math.inf
    """When a reserved or away hold lapses (monotonic seconds); live holds never lapse."""
    finished: bool = False
    """The interview has ended: its slot is released as soon as the connection closes."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an interview cannot start or connect now."""

    resource: Resource
    in_progress: int
    """Interviews holding this resource's slots."""
    limit: int

    @property
    def message(self) -> str:
        """What the candidate is told."""
        n = self.in_progress
        who = f"{n} interview{'s' if n != 1 else ''}"
        verb = "are" if n != 1 else "is"
        if self.resource == "camera":
            return (
                f"{who} with camera analysis {verb} in progress on this server, which is its "
                "limit; please try again in a few minutes, or start without camera analysis."
            )
        return (
            f"{who} {verb} in progress on this server, which is its limit; please try again "
            "in a few minutes."
        )


class CapacityGate:
    """Slots for one resource, each held by an interview (by session id)."""

    def __init__(
        self,
        limit: int,
        *,
        grace_s: float,
        reserve_s: float = RESERVE_S,
        clock: Clock = time.monotonic,
    ) -> None:
        """Create a gate.

        Args:
            limit: Slots available (at least 1).
            grace_s: How long a disconnected interview keeps its slot.
            reserve_s: How long a created interview keeps its slot before its audio connects.
            clock: Monotonic seconds (injected in tests).
        """
        if limit < 1:
            raise ValueError("a capacity limit must be at least 1")
        self.limit = limit
        self._grace_s = grace_s
        self._reserve_s = reserve_s
        self._clock = clock
        self._holds: dict[str, Hold] = {}

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, h in self._holds.items() if h.until <= now]:
            del self._holds[sid]

    def state(self, sid: str) -> HoldState | None:
        """The interview's hold on this resource, if any."""
        self._expire()
        hold = self._holds.get(sid)
        return hold.state if hold is not None else None

    @property
    def active(self) -> int:
        """Slots held by connected or briefly disconnected interviews."""
        self._expire()
        return sum(1 for h in self._holds.values() if h.state != "reserved")

    @property
    def taken(self) -> int:
        """Slots held in any way, reservations included."""
        self._expire()
        return len(self._holds)

    def has_room_for_new(self) -> bool:
        """Whether a new interview may be created (reservations do not count)."""
        return self.active < self.limit

    def can_admit(self, sid: str) -> bool:
        """Whether the interview's audio may connect: it holds a slot, or one is free."""
        self._expire()
        return sid in self._holds or len(self._holds) < self.limit

    def reserve(self, sid: str) -> bool:
        """Keep a free slot for a newly created interview; False when none is free."""
        self._expire()
        if sid in self._holds:
            return True
        if len(self._holds) >= self.limit:
            return False
        self._holds[sid] = Hold("reserved", until=self._clock() + self._reserve_s)
        return True

    def admit(self, sid: str) -> None:
        """The interview's audio connected (call only after `can_admit`)."""
        self._expire()
        hold = self._holds.get(sid)
        if hold is None:
            if len(self._holds) >= self.limit:
                raise RuntimeError("no free slot: check can_admit first")
            self._holds[sid] = Hold("live")
        else:
            hold.state, hold.until = "live", math.inf

    def finish(self, sid: str) -> None:
        """The interview ended: its slot goes when its connection closes (at once if closed)."""
        hold = self._holds.get(sid)
        if hold is None:
            return
        if hold.state == "live":
            hold.finished = True
        else:
            del self._holds[sid]

    def leave(self, sid: str) -> None:
        """The interview's audio disconnected: keep its slot for the grace period.

        Idempotent: a second call does not extend the grace period.
        """
        hold = self._holds.get(sid)
        if hold is None or hold.state != "live":
            return
        if hold.finished or self._grace_s <= 0:
            del self._holds[sid]
        else:
            hold.state, hold.until = "away", self._clock() + self._grace_s

    def release(self, sid: str) -> None:
        """Give up the interview's slot now."""
        self._holds.pop(sid, None)


class Admission:
    """The server's two gates: live voice sessions and camera analysis."""

    def __init__(
        self,
        *,
        max_voice: int,
        max_camera: int,
        grace_s: float,
        reserve_s: float = RESERVE_S,
        clock: Clock = time.monotonic,
    ) -> None:
        """Create both gates.

        Args:
            max_voice: Live spoken interviews at once (camera ones included).
            max_camera: Live interviews with camera analysis at once.
            grace_s: How long a disconnected interview keeps its slots.
            reserve_s: How long a created interview keeps its slots before its audio connects.
            clock: Monotonic seconds (injected in tests).
        """
        self.voice = CapacityGate(max_voice, grace_s=grace_s, reserve_s=reserve_s, clock=clock)
        self.camera = CapacityGate(max_camera, grace_s=grace_s, reserve_s=reserve_s, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        """The gates configured by ``MOCKINT_SERVER__*`` (defaults follow the speech set-up)."""
        server = settings.server
        voice, camera = server.session_limits(
            cloud_speech=settings.voice.deepgram_api_key is not None
        )
        return cls(max_voice=voice, max_camera=camera, grace_s=server.reconnect_grace_s)

    def check_start(self, *, camera: bool) -> Refusal | None:
        """May a new interview be created? None when it may, else why not."""
        if not self.voice.has_room_for_new():
            return Refusal("voice", self.voice.active, self.voice.limit)
        if camera and not self.camera.has_room_for_new():
            return Refusal("camera", self.camera.active, self.camera.limit)
        return None

    def reserve(self, sid: str, *, camera: bool) -> None:
        """Keep slots for a newly created interview while they are free (best effort)."""
        if self.voice.reserve(sid) and camera and not self.camera.reserve(sid):
            self.voice.release(sid)  # both or neither: a voice-only slot would not be used

    def admit(self, sid: str, *, camera: bool) -> Refusal | None:
        """Let an interview's audio connect: None when admitted (slots taken), else why not.

        Both slots are taken or neither, so a refused interview holds nothing.
        """
        if not self.voice.can_admit(sid):
            return Refusal("voice", self.voice.taken, self.voice.limit)
        if camera and not self.camera.can_admit(sid):
            return Refusal("camera", self.camera.taken, self.camera.limit)
        self.voice.admit(sid)
        if camera:
            self.camera.admit(sid)
        return None

    def finish(self, sid: str) -> None:
        """The interview ended; its slots go when its connection closes."""
        self.voice.finish(sid)
        self.camera.finish(sid)

    def leave(self, sid: str) -> None:
        """The interview's audio disconnected (idempotent)."""
        self.voice.leave(sid)
        self.camera.leave(sid)
