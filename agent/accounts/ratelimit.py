"""Sign-in rate limiting: failed attempts per key in a sliding window (in this process)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    """Counts failed sign-ins per key (an account or a network address).

    A key with ``limit`` failures inside ``window_s`` is refused until the oldest one ages out.
    """

    def __init__(
        self, *, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        q = self._recent(key)
        if len(q) < self.limit:
            return None
        return max(1, math.ceil(self.window_s - (self._clock() - q[0])))

    def failed(self, key: str) -> None:
        """Record a failed attempt."""
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())
        if len(self._failures) > 100_000:  # bounded memory under a spray of keys
            oldest = next(iter(self._failures))
            del self._failures[oldest]

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` after a successful sign-in."""
        self._failures.pop(key, None)
