"""Eye contact and blinks from per-frame face geometry, calibrated to the person.

Owns two small state machines fed with `perception.landmarks.FaceGeometry` values over time:

- `GazeTracker` decides whether the candidate looks at the screen/camera. It first collects a
  short calibration (the first seconds with a face, when people look at the interviewer they
  just started), takes the median head pose and iris position as "looking at the screen", and
  then calls a frame "away" when the head or the eyes leave a tolerance around that baseline.
  Before calibration completes it answers None (not measured), never a guess.
- `BlinkDetector` counts blinks from the eye aspect ratio (EAR) relative to the person's own
  open-eye EAR (a running upper percentile), with hysteresis, instead of a fixed 0.2: eye
  shapes differ a lot between people.

Pure Python over floats; no I/O.
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GazeBaseline:
    """Where this person's head and eyes point when looking at the screen.

    Attributes:
        yaw: Median head yaw in degrees.
        pitch: Median head pitch in degrees.
        iris_h: Median horizontal iris position.
        iris_v: Median vertical iris position.
    """

    yaw: float
    pitch: float
    iris_h: float
    iris_v: float


@dataclass(frozen=True, slots=True)
class GazeSettings:
    """Tolerances for eye contact.

    Attributes:
        calibration_s: Seconds of face samples collected before deciding anything.
        min_calibration_samples: At least this many samples, too.
        yaw_tol_deg: Head turn away from the baseline still counted as looking at the screen.
        pitch_tol_deg: Head tilt tolerance.
        iris_h_tol: Horizontal iris shift tolerance (fraction of eye width).
        iris_v_tol: Vertical iris shift tolerance (fraction of lid opening).
    """

    calibration_s: float = 3.0
    min_calibration_samples: int = 8
    yaw_tol_deg: float = 18.0
    pitch_tol_deg: float = 15.0
    iris_h_tol: float = 0.09
    iris_v_tol: float = 0.2


@dataclass(slots=True)
class GazeTracker:
    """Per-person eye-contact decision with a short calibration."""

    settings: GazeSettings = field(default_factory=GazeSettings)
    baseline: GazeBaseline | None = None
    _samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    _first_t: float | None = None

    def reset(self) -> None:
        """Forget the calibration (e.g. the candidate moved the camera)."""
        self.baseline = None
        self._samples.clear()
        self._first_t = None

    def update(
        self, t: float, yaw: float, pitch: float, iris_h: float, iris_v: float, *, blinking: bool
    ) -> bool | None:
        """Feed one frame; returns True (looking at the screen), False (away) or None.

        Args:
            t: Frame time in seconds.
            yaw: Head yaw in degrees.
            pitch: Head pitch in degrees.
            iris_h: Horizontal iris position.
            iris_v: Vertical iris position.
            blinking: The eyes are closed in this frame (iris position is meaningless then).

        Returns:
            None while calibrating or during a blink, else the decision.
        """
        if self.baseline is None:
            if blinking:
                return None
            if self._first_t is None:
                self._first_t = t
            self._samples.append((yaw, pitch, iris_h, iris_v))
            s = self.settings
            if (
                t - self._first_t >= s.calibration_s
                and len(self._samples) >= s.min_calibration_samples
            ):
                self.baseline = _robust_baseline(self._samples)
                self._samples.clear()
            return None
        b, s = self.baseline, self.settings
        if abs(yaw - b.yaw) > s.yaw_tol_deg or abs(pitch - b.pitch) > s.pitch_tol_deg:
            return False
        if blinking:
            return None
        return abs(iris_h - b.iris_h) <= s.iris_h_tol and abs(iris_v - b.iris_v) <= s.iris_v_tol


def _robust_baseline(samples: list[tuple[float, float, float, float]]) -> GazeBaseline:
    """Median of each component (robust to a few glances away during calibration)."""
    cols = list(zip(*samples, strict=True))
    return GazeBaseline(*(statistics.median(c) for c in cols))


@dataclass(frozen=True, slots=True)
class BlinkSettings:
    """Blink detection relative to the person's open-eye EAR.

    Attributes:
        window_s: Seconds of EAR history for the open-eye reference.
        open_percentile: Percentile of recent EAR taken as "eyes open".
        close_ratio: EAR below this fraction of the open reference = eyes closing.
        reopen_ratio: EAR above this fraction = open again (hysteresis).
        max_blink_s: Closures longer than this are eyes shut, not a blink.
        min_history: Samples needed before any blink is counted.
    """

    window_s: float = 10.0
    open_percentile: float = 0.8
    close_ratio: float = 0.65
    reopen_ratio: float = 0.8
    max_blink_s: float = 0.6
    min_history: int = 10


@dataclass(slots=True)
class BlinkDetector:
    """Counts blinks in a stream of EAR values."""

    settings: BlinkSettings = field(default_factory=BlinkSettings)
    blinks: int = 0
    _history: collections.deque[tuple[float, float]] = field(default_factory=collections.deque)
    _closed_since: float | None = None

    def open_reference(self) -> float | None:
        """The person's current open-eye EAR, or None without enough history."""
        if len(self._history) < self.settings.min_history:
            return None
        values = sorted(e for _, e in self._history)
        k = min(len(values) - 1, int(self.settings.open_percentile * len(values)))
        return values[k]

    def update(self, t: float, ear: float) -> bool:
        """Feed one frame's EAR; returns True when a blink just ended.

        Args:
            t: Frame time in seconds.
            ear: Eye aspect ratio (non-finite or negative values are ignored).

        Returns:
            Whether this frame completed a blink.
        """
        if not (ear == ear) or ear < 0 or ear == float("inf"):  # NaN-safe
            return False
        s = self.settings
        ref = self.open_reference()
        self._history.append((t, ear))
        while self._history and t - self._history[0][0] > s.window_s:
            self._history.popleft()
        if ref is None or ref <= 0:
            return False
        if self._closed_since is None:
            if ear < s.close_ratio * ref:
                self._closed_since = t
            return False
        if ear > s.reopen_ratio * ref:
            closed_for = t - self._closed_since
            self._closed_since = None
            if closed_for <= s.max_blink_s:
                self.blinks += 1
                return True
        return False

    @property
    def eyes_closed(self) -> bool:
        """Whether the eyes are currently closed (mid-blink or shut)."""
        return self._closed_since is not None
