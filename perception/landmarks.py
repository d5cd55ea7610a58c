"""Facial landmarks with iris: head pose, iris position and eye openness for one face.

Owns running MediaPipe's face mesh (the legacy ``solutions.face_mesh`` of mediapipe 0.10.21, the
last release that bundles its TFLite models, with the iris refinement) on a crop around the
candidate's face, and turning its 478 landmarks into a small `FaceGeometry`: head yaw/pitch/roll
from the face's axes in the 3-D landmarks, the iris centre relative to each eye's
corners and lids, and the eye aspect ratio (EAR). Calibration and decisions (eye contact,
blinks) live in `perception.gaze`.

One `LandmarkModel` belongs to one thread: MediaPipe graphs are not thread-safe.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from perception.mp_compat import import_mediapipe

logger = logging.getLogger("mockint.perception")

# Face-mesh landmark indices (canonical MediaPipe topology; 468-477 are the irises).
_FOREHEAD = 10
_CHIN = 152
_EYE_OUTER_R = 33  # the subject's right eye, on the image's left
_EYE_INNER_R = 133
_EYE_OUTER_L = 263
_EYE_INNER_L = 362
# EAR points per eye: corner, two upper-lid points, corner, two lower-lid points.
_EAR_R = (33, 160, 158, 133, 153, 144)
_EAR_L = (362, 385, 387, 263, 373, 380)
_IRIS_R = 468  # centre of the subject's right iris
_IRIS_L = 473
_LID_R = (159, 145)  # upper, lower lid midpoints
_LID_L = (386, 374)

CROP_SCALE = 2.0
"""Side of the square crop given to the mesh, as a multiple of the face box's larger side."""
CROP_SIZE = 256
"""The crop is resized to this many pixels square before running the mesh."""


@dataclass(frozen=True, slots=True)
class FaceGeometry:
    """What the landmarks say about one face in one frame.

    Attributes:
        yaw: Head turn left/right in degrees (0 facing the camera).
        pitch: Head tilt up/down in degrees (0 facing the camera).
        roll: Head roll in degrees.
        ear: Mean eye aspect ratio of both eyes (openness; ~0.25-0.35 open, near 0 closed).
        iris_h: Mean horizontal iris position between the eye corners, 0 at the image-left
            corner and 1 at the image-right corner (about 0.5 when looking straight ahead).
        iris_v: Mean vertical iris position between the upper (0) and lower (1) lid.
        landmarks: The 478 landmarks in frame pixels (x, y, z), for drawing and debugging only.
    """

    yaw: float
    pitch: float
    roll: float
    ear: float
    iris_h: float
    iris_v: float
    landmarks: npt.NDArray[np.float32]


def _dist(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.hypot(*(a - b)))


def eye_aspect_ratio(points: npt.NDArray[np.float64]) -> float:
    """EAR of one eye from six points (corner, upper, upper, corner, lower, lower).

    Args:
        points: (6, 2) pixel coordinates in the order of ``_EAR_R`` / ``_EAR_L``.

    Returns:
        (|p2-p6| + |p3-p5|) / (2 |p1-p4|), or 0 for a degenerate eye.
    """
    width = _dist(points[0], points[3])
    if width <= 1e-6:
        return 0.0
    return (_dist(points[1], points[5]) + _dist(points[2], points[4])) / (2.0 * width)


def _ratio(
    p: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> float:
    """Position of ``p`` projected on the segment a→b (0 at a, 1 at b)."""
    ab = b - a
    n = float(ab @ ab)
    if n <= 1e-9:
        return 0.5
    return float((p - a) @ ab / n)


def geometry_from_landmarks(pts3d: npt.NDArray[np.float64]) -> FaceGeometry:
    """Head pose, EAR and iris position from 478 landmarks.

    Args:
        pts3d: (478, 3) landmarks: x, y in frame pixels, z depth in the same scale.

    Returns:
        The geometry.

    Raises:
        ValueError: If ``pts`` does not hold 478 finite points.
    """
    if pts3d.shape != (478, 3) or not np.all(np.isfinite(pts3d)):
        raise ValueError("expected 478 finite (x, y, z) landmarks")
    pts = pts3d[:, :2]
    ear = (eye_aspect_ratio(pts[list(_EAR_R)]) + eye_aspect_ratio(pts[list(_EAR_L)])) / 2.0
    # Horizontal: between the image-left and image-right corner of each eye.
    h_r = _ratio(pts[_IRIS_R], pts[_EYE_OUTER_R], pts[_EYE_INNER_R])
    h_l = _ratio(pts[_IRIS_L], pts[_EYE_INNER_L], pts[_EYE_OUTER_L])
    v_r = _ratio(pts[_IRIS_R], pts[_LID_R[0]], pts[_LID_R[1]])
    v_l = _ratio(pts[_IRIS_L], pts[_LID_L[0]], pts[_LID_L[1]])
    yaw, pitch, roll = head_pose(pts3d)
    return FaceGeometry(
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        ear=ear,
        iris_h=(h_r + h_l) / 2.0,
        iris_v=(v_r + v_l) / 2.0,
        landmarks=pts.astype(np.float32),
    )


def head_pose(pts3d: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from 3-D landmarks (x, y right/down in pixels, z depth).

    The face's own axes come from the outer eye corners (left-right) and chin to forehead
    (up-down); their angles against the camera's axes give the pose. This needs no camera
    model and is stable for frontal faces, where PnP with a generic face is not.

    Args:
        pts3d: (478, 3) landmarks, z in the same units as x (MediaPipe's convention).

    Returns:
        (yaw, pitch, roll), about 0 for a frontal face; a mirrored image gives the opposite
        yaw and roll. Roll > 0 when the head tilts clockwise in the image.
    """
    x_axis = pts3d[_EYE_OUTER_L] - pts3d[_EYE_OUTER_R]
    y_axis = pts3d[_FOREHEAD] - pts3d[_CHIN]
    nx = float(np.linalg.norm(x_axis))
    ny = float(np.linalg.norm(y_axis))
    if nx <= 1e-9 or ny <= 1e-9:
        return 0.0, 0.0, 0.0
    x_axis = x_axis / nx
    y_axis = y_axis / ny
    yaw = math.degrees(math.atan2(-x_axis[2], x_axis[0]))
    pitch = math.degrees(math.atan2(-y_axis[2], -y_axis[1]))
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    return yaw, pitch, roll


class LandmarkModel:
    """MediaPipe face mesh with iris refinement, run on a crop around one face."""

    def __init__(self, *, min_confidence: float = 0.5, tracking: bool = True) -> None:
        """Load the bundled face-mesh model once.

        Args:
            min_confidence: Detection and tracking confidence thresholds.
            tracking: Track between frames (faster); False treats every frame independently.

        Raises:
            ImportError: If mediapipe is not installed.
        """
        mp = import_mediapipe()

        self._mesh: Any = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not tracking,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def measure(
        self, frame_bgr: npt.NDArray[np.uint8], box: tuple[int, int, int, int] | None = None
    ) -> FaceGeometry | None:
        """Landmarks and geometry for the face in ``box`` (x, y, w, h), or the whole frame.

        Args:
            frame_bgr: (H, W, 3) uint8 BGR frame.
            box: The candidate's face box in frame pixels; None uses the whole frame.

        Returns:
            The geometry, or None when the mesh finds no face.
        """
        h, w = frame_bgr.shape[:2]
        if box is not None:
            bx, by, bw, bh = box
            side = int(max(bw, bh) * CROP_SCALE)
            cx, cy = bx + bw / 2.0, by + bh / 2.0
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        else:
            side = max(h, w)
            x0, y0 = (w - side) // 2, (h - side) // 2
        crop = _square_crop(frame_bgr, x0, y0, side)
        size = min(CROP_SIZE, side) if side > 0 else CROP_SIZE
        small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        result = self._mesh.process(rgb)
        faces = result.multi_face_landmarks
        if not faces:
            return None
        lm = faces[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
        if pts.shape[0] < 478:
            return None
        pts = pts[:478] * side + np.array([x0, y0, 0.0], dtype=np.float64)
        return geometry_from_landmarks(pts)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._mesh.close()


def _square_crop(
    frame: npt.NDArray[np.uint8], x0: int, y0: int, side: int
) -> npt.NDArray[np.uint8]:
    """A ``side``-pixel square from (x0, y0), padded with black where it leaves the frame."""
    h, w = frame.shape[:2]
    out = np.zeros((side, side, frame.shape[2]), dtype=frame.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    return out
