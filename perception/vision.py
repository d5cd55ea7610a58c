"""The per-frame vision pipeline: face → expression → landmarks → eye contact and blinks.

Owns composing the analysers for one candidate's camera stream into a `FrameAnalysis` per
frame: the face detector finds the candidate (largest, most central face) and says when there
is no face, several faces or too little light; the expression model scores the candidate's
face (smoothed over time); the face mesh gives head pose, iris position and eye openness, from
which the calibrated `GazeTracker` and `BlinkDetector` decide eye contact and blinks.

One `VisionPipeline` serves one candidate and one thread (it holds MediaPipe graphs and
per-person calibration). Build it inside the worker thread (see `perception.worker`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from perception.expression import ExpressionModel, ExpressionSmoother
from perception.face import FaceDetector
from perception.gaze import BlinkDetector, GazeTracker
from perception.landmarks import LandmarkModel
from perception.presence import FrameAnalysis

logger = logging.getLogger("mockint.perception")


class _Closable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class VisionConfig:
    """What the pipeline runs.

    Attributes:
        expression_model: Path of the expression ONNX file, or None to skip expressions.
        landmarks: Run the face mesh (eye contact, head pose, blinks).
        detector_backend: "blazeface" or "haar".
        smoothing_s: Time constant of expression smoothing.
    """

    expression_model: Path | None
    landmarks: bool = True
    detector_backend: str = "blazeface"
    smoothing_s: float = 1.0


class VisionPipeline:
    """Face, expression and gaze analysis for one candidate's frames."""

    def __init__(self, config: VisionConfig, *, expression: ExpressionModel | None = None) -> None:
        """Load the models (call from the thread that will use the pipeline).

        Args:
            config: What to run.
            expression: A shared, already loaded expression model (its ONNX session may be
                used from several threads); loaded from ``config`` when None.
        """
        self._detector = FaceDetector(backend=config.detector_backend)  # type: ignore[arg-type]  # validated by FaceDetector
        self._expression = expression
        self._owns_expression = False
        if self._expression is None and config.expression_model is not None:
            self._expression = ExpressionModel(config.expression_model, threads=1)
            self._owns_expression = True
        self._smoother = ExpressionSmoother(time_constant_s=config.smoothing_s)
        self._mesh = LandmarkModel() if config.landmarks else None
        self.gaze = GazeTracker()
        self.blinks = BlinkDetector()

    def analyse(self, frame_bgr: npt.NDArray[np.uint8], t: float) -> FrameAnalysis:
        """Analyse one BGR frame taken at interview time ``t``."""
        det = self._detector.detect(frame_bgr)
        face = det.primary
        if face is None or det.status in ("no_face", "bad_frame"):
            return FrameAnalysis(t=t, status=det.status, n_faces=len(det.faces))
        if det.status == "too_dark":
            return FrameAnalysis(t=t, status="too_dark", n_faces=len(det.faces))
        expression: dict[str, float] | None = None
        if self._expression is not None:
            scores = self._expression.predict(frame_bgr, face)
            expression = self._smoother.update(t, scores.probs)
        geometry = None
        if self._mesh is not None:
            geometry = self._mesh.measure(frame_bgr, (face.x, face.y, face.w, face.h))
        if geometry is None:
            return FrameAnalysis(
                t=t, status=det.status, n_faces=len(det.faces), expression=expression
            )
        blink = self.blinks.update(t, geometry.ear)
        eye_contact = self.gaze.update(
            t,
            geometry.yaw,
            geometry.pitch,
            geometry.iris_h,
            geometry.iris_v,
            blinking=self.blinks.eyes_closed or blink,
        )
        return FrameAnalysis(
            t=t,
            status=det.status,
            n_faces=len(det.faces),
            expression=expression,
            eye_contact=eye_contact,
            yaw=round(geometry.yaw, 2),
            pitch=round(geometry.pitch, 2),
            ear=round(geometry.ear, 4),
            blink=blink,
        )

    def close(self) -> None:
        """Release the models this pipeline loaded."""
        closables: list[_Closable] = [self._detector]
        if self._mesh is not None:
            closables.append(self._mesh)
        for c in closables:
            try:
                c.close()
            except Exception:
                logger.exception("closing a vision model failed")
