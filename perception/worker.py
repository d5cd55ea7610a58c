"""The video worker: samples camera frames and runs the vision pipeline off the event loop.

Owns the thin shell around a pure per-frame pipeline: a one-slot mailbox that always keeps the
newest frame (older ones are dropped: perception must never queue up behind real time), sampling
at a configured rate, JPEG decoding, running the pipeline in one dedicated thread (MediaPipe
graphs are bound to the thread that made them), and health reporting. Results and status
changes are handed to callbacks on the caller's event loop. If the pipeline cannot be built,
raises, keeps falling behind, or stops responding (one frame's analysis never returns), the
worker reports it and the interview goes on without vision.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from perception.presence import FrameAnalysis

logger = logging.getLogger("mockint.perception")

WorkerStatus = Literal["starting", "running", "behind", "failed", "stopped"]

MAX_FRAME_BYTES = 2_000_000
"""Larger encoded frames are rejected unread."""
MAX_FRAME_SIDE = 1920
"""Decoded frames larger than this on either side are rejected."""
CAMERA_STALL_S = 10.0
"""One frame's analysis taking longer than this means the pipeline stopped responding."""


class FramePipeline(Protocol):
    """A per-frame analyser (pure apart from its own smoothing state)."""

    def analyse(self, frame_bgr: npt.NDArray[np.uint8], t: float) -> FrameAnalysis:
        """Analyse one BGR frame taken at time ``t``."""
        ...

    def close(self) -> None:
        """Release models."""
        ...


@dataclass(slots=True)
class WorkerStats:
    """Counters for health reporting and benchmarks.

    Attributes:
        received: Frames offered to the worker.
        sampled_out: Frames skipped by the sampling rate.
        dropped: Frames replaced in the mailbox before being analysed.
        rejected: Frames that could not be decoded or were too large.
        analysed: Frames analysed.
        busy_s: Seconds spent analysing.
    """

    received: int = 0
    sampled_out: int = 0
    dropped: int = 0
    rejected: int = 0
    analysed: int = 0
    busy_s: float = 0.0


def decode_frame(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a JPEG/PNG/WebP camera frame into a BGR array.

    Args:
        data: The encoded image.

    Returns:
        (H, W, 3) uint8 BGR.

    Raises:
        ValueError: If the data is empty, too large, not an image, or an absurd size.
    """
    if not data:
        raise ValueError("empty frame")
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    if img.shape[0] > MAX_FRAME_SIDE or img.shape[1] > MAX_FRAME_SIDE:
        raise ValueError("frame dimensions too large")
    return np.ascontiguousarray(img, dtype=np.uint8)


class VideoWorker:
    """Runs a `FramePipeline` on sampled frames in its own thread."""

    def __init__(
        self,
        make_pipeline: Callable[[], FramePipeline],
        *,
        on_result: Callable[[FrameAnalysis], None],
        on_status: Callable[[WorkerStatus, str | None], None] | None = None,
        fps: float = 8.0,
        behind_factor: float = 2.0,
        max_failures: int = 3,
        niceness: int = 10,
        stall_after_s: float = CAMERA_STALL_S,
    ) -> None:
        """Create the worker (call `start` on the event loop that should get the callbacks).

        Args:
            make_pipeline: Builds the pipeline inside the worker thread.
            on_result: Gets each `FrameAnalysis` on the event loop.
            on_status: Gets status changes (with a short reason) on the event loop.
            fps: Frames analysed per second at most.
            behind_factor: Analysis slower than this many frame intervals (on average) is
                "behind"; the worker keeps going on the newest frames and says so.
            max_failures: Consecutive pipeline errors before the worker gives up ("failed").
            niceness: Scheduling niceness of the worker thread (and the threads its models
                start) on Linux, so speech recognition and synthesis win the CPU when the
                machine is busy; 0 leaves it alone.
            stall_after_s: A frame analysis running longer than this is a stuck pipeline: the
                worker reports "failed" (checked as frames arrive) and stops waiting for it.
        """
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._make_pipeline = make_pipeline
        self._on_result = on_result
        self._on_status = on_status
        self.interval = 1.0 / fps
        self._behind_after = behind_factor * self.interval
        self._max_failures = max_failures
        self.stats = WorkerStats()
        self.status: WorkerStatus = "stopped"
        self._slot: tuple[bytes | npt.NDArray[np.uint8], float] | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_accepted_t = -1e18
        self._ready = threading.Event()
        self._niceness = niceness
        self._stall_after = stall_after_s
        self._busy_since: float | None = None
        self._stalled = False

    async def __aenter__(self) -> VideoWorker:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        """Start the thread; callbacks go to the running event loop."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stop = False
        self._set_status("starting", None)
        self._thread = threading.Thread(target=self._run, name="video-worker", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether frames are still being analysed."""
        return self.status in ("starting", "running", "behind")

    def submit(self, frame: bytes | npt.NDArray[np.uint8], t: float) -> bool:
        """Offer a frame (encoded bytes or a BGR array) taken at time ``t``; never blocks.

        Returns:
            Whether the frame was accepted (not skipped by sampling or a dead worker).
        """
        self.stats.received += 1
        self._check_stalled()
        if not self.alive:
            return False
        if t - self._last_accepted_t < self.interval * 0.95:
            self.stats.sampled_out += 1
            return False
        self._last_accepted_t = t
        with self._cond:
            if self._slot is not None:
                self.stats.dropped += 1
            self._slot = (frame, t)
            self._cond.notify()
        return True

    def _check_stalled(self) -> None:
        """Give up on a pipeline whose current analysis has run far too long."""
        busy_since = self._busy_since
        if self._stalled or busy_since is None:
            return
        busy = time.perf_counter() - busy_since
        if busy > self._stall_after:
            self._stalled = True
            logger.warning("frame analysis stopped responding", extra={"busy_s": round(busy, 1)})
            self._set_status("failed", "frame analysis stopped responding")

    async def aclose(self) -> None:
        """Stop the thread and release the pipeline (a stuck thread is left to end by itself)."""
        self._check_stalled()
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 0.5 if self._stalled else 10.0)
            self._thread = None
        if self.status != "failed":
            self.status = "stopped"

    def _set_status(self, status: WorkerStatus, reason: str | None) -> None:
        if status == self.status:
            return
        self.status = status
        if self._on_status is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._on_status, status, reason)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

    def _deliver(self, result: FrameAnalysis) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._on_result, result)
            except RuntimeError:
                pass

    def _lower_priority(self) -> None:
        """Lower this thread's priority (Linux schedules threads individually)."""
        if self._niceness <= 0 or not hasattr(os, "setpriority"):
            return
        try:
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + self._niceness))
        except OSError:
            logger.debug("could not lower the video worker's priority")

    def _run(self) -> None:
        self._lower_priority()  # before the models start their own threads, which inherit it
        try:
            pipeline = self._make_pipeline()
        except Exception:
            logger.exception("the vision pipeline could not be started")
            self._set_status("failed", "vision models could not be loaded")
            return
        self._set_status("running", None)
        failures = 0
        avg = 0.0
        try:
            while True:
                with self._cond:
                    while self._slot is None and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    assert self._slot is not None
                    frame, t = self._slot
                    self._slot = None
                started = time.perf_counter()
                try:
                    img = decode_frame(frame) if isinstance(frame, bytes) else frame
                except ValueError:
                    self.stats.rejected += 1
                    continue
                self._busy_since = started
                try:
                    result = pipeline.analyse(img, t)
                except Exception:
                    failures += 1
                    logger.exception("frame analysis failed")
                    if failures >= self._max_failures:
                        self._set_status("failed", "frame analysis keeps failing")
                        return
                    continue
                finally:
                    self._busy_since = None
                if self._stalled:
                    return  # given up on while it was stuck: its late result is not used
                failures = 0
                spent = time.perf_counter() - started
                self.stats.analysed += 1
                self.stats.busy_s += spent
                avg = spent if self.stats.analysed == 1 else 0.8 * avg + 0.2 * spent
                if avg > self._behind_after:
                    if self.status != "behind":
                        logger.warning(
                            "inference is slower than realtime", extra={"delay": round(avg, 3)}
                        )
                    self._set_status("behind", "frame analysis is slower than the frame rate")
                elif self.status == "behind" and avg < self.interval:
                    self._set_status("running", None)
                self._deliver(result)
        finally:
            try:
                pipeline.close()
            except Exception:
                logger.exception("closing the vision pipeline failed")
