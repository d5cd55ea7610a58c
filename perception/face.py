"""Face detection: where the candidate's face is in a camera frame, and whether the frame is usable.

This module owns turning one video frame (a numpy array) into a :class:`FaceDetection`: every face
found, the *primary* face (the candidate: the largest, most central one), the mean brightness and a
status (``ok``, ``no_face``, ``several_faces``, ``too_dark``, ``bad_frame``).

Backends (chosen with ``FaceDetector(backend=...)``):

* ``"blazeface"`` (default when mediapipe imports): MediaPipe BlazeFace from mediapipe 0.10.21's
  legacy ``solutions.face_detection``. The full-range model (``model_selection=1``) runs first; the
  short-range model runs only when the full-range one finds nothing, which recovers very close
  faces (face wider than about half the frame).
* ``"haar"``: OpenCV's ``haarcascade_frontalface_default.xml`` (scaleFactor 1.1, minNeighbors 5,
  minSize 24 px at working size); grey frames darker than mean 30 are histogram-equalised first.
  Used automatically when mediapipe cannot be imported. Haar sometimes fires on the neck just
  below the face; its raw hit counts do not separate such hits from weak real faces (about 6
  against 8-20), so they are not used to filter.

Frames are downscaled so that their longer side is at most ``work_size`` (320) pixels before
detection; boxes are mapped back to input-frame pixels. A box sharing more than 10% of its area
with a stronger one is dropped (duplicate hits, and Haar's false hits on chin and neck).

Measured on the 204 faces of ``faces-dev`` (102 adults), each portrait scaled and placed in the
middle of a grey 640x480 frame; columns are the face width in that frame (BlazeFace's box; a face
about 180 px wide is a person roughly 0.5 m from a laptop webcam, 50 px roughly 2 m). Counts are
frames with status ``ok`` and the face found (no frame gave ``several_faces``); time is the median
of ``detect`` per 640x480 frame on a 2-core machine:

============  =======  =======  =======  ======  ==========  ===========
backend       675x675  180 px   87 px    49 px   35 px       time/frame
============  =======  =======  =======  ======  ==========  ===========
blazeface     204      204      204      204     191         6-7 ms
haar          203      204      201      196     55          7-16 ms
============  =======  =======  =======  ======  ==========  ===========

Misses concentrate on darker skin: BlazeFace at 35 px finds 18 of 26 Black faces (173/178 of the
rest); Haar misses one Black man's portrait at full size and finds 20 of 26 Black faces at 49 px.
The short-range BlazeFace model alone finds 204 at 87 px but only 5 at 49 px, hence full range
first. BlazeFace keeps finding faces down to a frame mean brightness of about 7/255; Haar stops
near 20 without equalisation (about 180/204 with it). The astronaut test image gives one face at
about [177, 66, 95, 95] with both backends.

Input policy: ``detect`` raises ``ValueError`` for input that is not an image at all (not an
ndarray, wrong number of dimensions or channels, empty, unsupported dtype, NaN/inf values). A
well-typed frame that is too small to hold a detectable face (shorter side under 16 px) gives
status ``bad_frame``. Accepted: BGR or BGRA/RGBA-ordered ``uint8`` (H, W, 3|4) frames as OpenCV
delivers them, grey (H, W) or (H, W, 1); ``uint16`` (scaled to 8 bits) and float frames in [0, 1]
(clipped) are also accepted. 4-channel frames are treated as BGRA: the alpha channel is dropped
(the channel order of the first three barely matters to either detector).

A ``FaceDetector`` owns native mediapipe graphs that are not thread-safe: use one detector from one
thread at a time (one per worker), and call :meth:`FaceDetector.close` when done.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from perception.mp_compat import import_mediapipe

logger = logging.getLogger("mockint.perception")

FaceStatus = Literal["ok", "no_face", "several_faces", "too_dark", "bad_frame"]
Backend = Literal["blazeface", "haar"]

Image = npt.NDArray[Any]
"""A uint8 image as OpenCV returns it (numpy and OpenCV stubs disagree on dtypes)."""

WORK_SIZE = 320
"""Longer side, in pixels, of the frame the detectors see."""
DARK_THRESHOLD = 15.0
"""Mean grey level (0-255) below which a frame is reported as ``too_dark``."""
MIN_SIDE = 16
"""Frames with a shorter side below this many pixels are ``bad_frame``."""
MAX_OVERLAP = 0.1
"""A box sharing more than this fraction of its area with a stronger box is dropped."""
CENTRE_WEIGHT = 0.5
"""How much a face at the frame's corner loses in the primary-face ranking (0 = size only)."""

_HAAR_FILE = "haarcascade_frontalface_default.xml"
_HAAR_SCALE = 1.1
_HAAR_NEIGHBOURS = 5
_HAAR_MIN_SIZE = 24
_HAAR_EQUALISE_BELOW = 30.0
_HAAR_HITS_SCALE = 50.0  # merged raw hits: 6-20 on false or weak faces, 50-150 on clear ones


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One face, as an axis-aligned box in pixels of the input frame (clipped to the frame)."""

    x: int
    """Left edge."""
    y: int
    """Top edge."""
    w: int
    """Width (at least 1)."""
    h: int
    """Height (at least 1)."""
    score: float
    """Detector confidence in [0, 1]; for Haar ``1 - exp(-hits / 50)`` from its merged raw hits."""

    @property
    def area(self) -> int:
        """Box area in square pixels."""
        return self.w * self.h

    @property
    def centre(self) -> tuple[float, float]:
        """Box centre ``(cx, cy)`` in pixels."""
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """What one frame shows: faces found, the candidate's face and whether the frame is usable."""

    status: FaceStatus
    """``ok``: exactly one face. ``several_faces``: more than one (``primary`` is still chosen).
    ``no_face``: none. ``too_dark``: mean brightness under the threshold (detection still ran, so
    ``faces`` may be filled). ``bad_frame``: too small to analyse."""
    faces: tuple[FaceBox, ...]
    """Every face found, highest primary-ranking first."""
    primary: FaceBox | None
    """The candidate's face: the largest, most central one, or ``None``."""
    brightness: float
    """Mean grey level of the frame, 0-255."""


def _import_mediapipe() -> ModuleType:
    """Import mediapipe with its legacy ``solutions`` API (0.10.21), via the protobuf shim.

    Raises:
        ImportError: If mediapipe (or its legacy ``solutions`` API) is not available.
    """
    mp = import_mediapipe()
    if not hasattr(mp, "solutions"):
        raise ImportError("this mediapipe has no legacy 'solutions' API (need 0.10.21)")
    return mp


def blazeface_available() -> bool:
    """Whether the BlazeFace backend can be used here."""
    try:
        _import_mediapipe()
    except Exception:  # any import-time failure (ImportError, protobuf clash) means "no"
        return False
    return True


def as_uint8_image(frame: np.ndarray) -> Image:
    """Validate a frame and return it as uint8 grey (H, W) or 3-channel (H, W, 3).

    Args:
        frame: BGR/BGRA uint8 (H, W, 3|4), grey (H, W) or (H, W, 1); uint16 or float in [0, 1]
            are converted. The alpha channel of a 4-channel frame is dropped.

    Returns:
        A C-contiguous uint8 array (the input itself when nothing needed converting).

    Raises:
        ValueError: If ``frame`` is not an image array (see the module docstring).
    """
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3):
        raise ValueError(f"frame must be (H, W) or (H, W, 3|4), got shape {frame.shape}")
    if frame.ndim == 3 and frame.shape[2] not in (3, 4):
        raise ValueError(f"frame must have 1, 3 or 4 channels, got shape {frame.shape}")
    if frame.size == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    u8 = _as_uint8(frame)
    if u8.ndim == 3 and u8.shape[2] == 4:
        u8 = u8[:, :, :3]
    return np.ascontiguousarray(u8)


def to_gray(image: Image) -> Image:
    """Grey version of a validated uint8 image (see :func:`as_uint8_image`)."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _as_uint8(frame: np.ndarray) -> Image:
    """Convert a supported dtype to uint8, rejecting anything else with ``ValueError``."""
    dt = frame.dtype
    if dt == np.uint8:
        return frame
    if dt == np.uint16:
        return (frame >> 8).astype(np.uint8)
    if np.issubdtype(dt, np.floating):
        if not np.isfinite(frame).all():
            raise ValueError("frame contains NaN or infinite values")
        scaled: Image = np.clip(frame.astype(np.float32), 0.0, 1.0) * 255.0
        return np.rint(scaled).astype(np.uint8)
    raise ValueError(f"unsupported frame dtype {dt}: use uint8, uint16 or float in [0, 1]")


class FaceDetector:
    """Finds faces in frames with BlazeFace (mediapipe) or OpenCV Haar.

    Load once and reuse: models are loaded in the constructor. Not thread-safe: use one detector
    per thread.

    Args:
        backend: ``"blazeface"`` or ``"haar"``; ``None`` picks BlazeFace when mediapipe imports and
            Haar otherwise.
        min_confidence: BlazeFace score threshold.
        work_size: Longer side of the downscaled frame the detector sees.
        dark_threshold: Mean grey level under which the status is ``too_dark``.

    Raises:
        ImportError: If ``backend="blazeface"`` is asked for and mediapipe cannot be imported.
        ValueError: For an unknown backend or out-of-range arguments.
    """

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        min_confidence: float = 0.5,
        work_size: int = WORK_SIZE,
        dark_threshold: float = DARK_THRESHOLD,
    ) -> None:
        if not 0.0 < min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in (0, 1), got {min_confidence}")
        if work_size < 64:
            raise ValueError(f"work_size must be at least 64, got {work_size}")
        self.work_size = work_size
        self.dark_threshold = dark_threshold
        self._graphs: list[Any] = []
        self._haar: cv2.CascadeClassifier | None = None
        if backend is None:
            backend = "blazeface" if blazeface_available() else "haar"
            if backend == "haar":
                logger.warning("mediapipe is not importable; face detection uses OpenCV Haar")
        if backend == "blazeface":
            mp = _import_mediapipe()
            fd = mp.solutions.face_detection
            self._graphs = [
                fd.FaceDetection(model_selection=1, min_detection_confidence=min_confidence),
                fd.FaceDetection(model_selection=0, min_detection_confidence=min_confidence),
            ]
        elif backend == "haar":
            path = str(cv2.data.haarcascades) + _HAAR_FILE  # type: ignore[attr-defined]
            haar = cv2.CascadeClassifier(path)
            if haar.empty():
                raise ValueError(f"cannot load the OpenCV cascade {path}")
            self._haar = haar
        else:
            raise ValueError(f"unknown face detector backend {backend!r}")
        self.backend: Backend = backend

    def close(self) -> None:
        """Release the native detector graphs. The detector cannot be used afterwards."""
        for graph in self._graphs:
            graph.close()
        self._graphs = []
        self._haar = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, frame: np.ndarray) -> FaceDetection:
        """Find the faces in one frame.

        Args:
            frame: BGR uint8 (H, W, 3) as OpenCV delivers it, grey (H, W), or 4-channel; see
                the module docstring for the other accepted dtypes.

        Returns:
            The detection, with boxes in pixels of ``frame``.

        Raises:
            ValueError: If ``frame`` is not an image array.
            RuntimeError: If the detector was closed.
        """
        image = as_uint8_image(frame)
        height, width = image.shape[:2]
        if min(height, width) < MIN_SIDE:
            return FaceDetection("bad_frame", (), None, 0.0)
        scale = min(1.0, self.work_size / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        gray = to_gray(image)
        brightness = float(gray.mean())
        if self.backend == "blazeface":
            raw = self._detect_blazeface(image)
        else:
            raw = self._detect_haar(gray, brightness)
        faces = _rank(_suppress_overlaps(_to_boxes(raw, 1.0 / scale, width, height)), width, height)
        primary = faces[0] if faces else None
        status: FaceStatus
        if brightness < self.dark_threshold:
            status = "too_dark"
        elif not faces:
            status = "no_face"
        elif len(faces) > 1:
            status = "several_faces"
        else:
            status = "ok"
        return FaceDetection(status, faces, primary, brightness)

    def _detect_blazeface(self, image: Image) -> list[tuple[float, float, float, float, float]]:
        """Boxes ``(x, y, w, h, score)`` in working-frame pixels from BlazeFace."""
        if not self._graphs:
            raise RuntimeError("FaceDetector is closed")
        code = cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB
        rgb = np.ascontiguousarray(cv2.cvtColor(image, code))
        height, width = rgb.shape[:2]
        for graph in self._graphs:
            detections = graph.process(rgb).detections
            if detections:
                out = []
                for det in detections:
                    bb = det.location_data.relative_bounding_box
                    score = float(det.score[0]) if det.score else 0.0
                    out.append(
                        (
                            bb.xmin * width,
                            bb.ymin * height,
                            bb.width * width,
                            bb.height * height,
                            score,
                        )
                    )
                return out
        return []

    def _detect_haar(
        self, gray: Image, brightness: float
    ) -> list[tuple[float, float, float, float, float]]:
        """Boxes ``(x, y, w, h, score)`` in working-frame pixels from the Haar cascade."""
        if self._haar is None:
            raise RuntimeError("FaceDetector is closed")
        if brightness < _HAAR_EQUALISE_BELOW:
            gray = cv2.equalizeHist(gray)
        boxes, hits = self._haar.detectMultiScale2(
            gray,
            scaleFactor=_HAAR_SCALE,
            minNeighbors=_HAAR_NEIGHBOURS,
            minSize=(_HAAR_MIN_SIZE, _HAAR_MIN_SIZE),
        )
        return [
            (float(x), float(y), float(w), float(h), 1.0 - math.exp(-float(n) / _HAAR_HITS_SCALE))
            for (x, y, w, h), n in zip(boxes, hits, strict=True)
        ]


def _to_boxes(
    raw: list[tuple[float, float, float, float, float]], inv_scale: float, width: int, height: int
) -> list[FaceBox]:
    """Map working-frame boxes to input-frame pixels, clipped to the frame; drop empty ones."""
    boxes = []
    for x, y, w, h, score in raw:
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            continue
        x0 = max(0, min(width - 1, round(x * inv_scale)))
        y0 = max(0, min(height - 1, round(y * inv_scale)))
        x1 = max(0, min(width, round((x + w) * inv_scale)))
        y1 = max(0, min(height, round((y + h) * inv_scale)))
        if x1 > x0 and y1 > y0:
            boxes.append(FaceBox(x0, y0, x1 - x0, y1 - y0, max(0.0, min(1.0, score))))
    return boxes


def _suppress_overlaps(boxes: list[FaceBox]) -> list[FaceBox]:
    """Drop boxes that overlap a stronger box by more than :data:`MAX_OVERLAP` of their area.

    This removes duplicate hits on one face and Haar's typical false hit on the chin and neck;
    two real faces in a webcam frame hardly ever overlap that much.
    """
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: (b.score, b.area), reverse=True):
        if all(_intersection(box, k) <= MAX_OVERLAP * box.area for k in kept):
            kept.append(box)
    return kept


def _intersection(a: FaceBox, b: FaceBox) -> int:
    """Area shared by two boxes."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h)


def primary_priority(box: FaceBox, width: int, height: int) -> float:
    """Ranking score of a face as the candidate's: area, reduced with distance from the centre.

    The distance of the box centre from the frame centre is normalised by the half-diagonal
    (0 at the centre, 1 at a corner); the area is multiplied by ``1 - CENTRE_WEIGHT * distance``,
    so a face in a corner must be twice as large to outrank a central one.
    """
    cx, cy = box.centre
    dist = math.hypot(cx - width / 2.0, cy - height / 2.0) / math.hypot(width / 2.0, height / 2.0)
    return box.area * (1.0 - CENTRE_WEIGHT * min(1.0, dist))


def _rank(boxes: list[FaceBox], width: int, height: int) -> tuple[FaceBox, ...]:
    """Faces sorted by :func:`primary_priority`, highest first."""
    return tuple(sorted(boxes, key=lambda b: primary_priority(b, width, height), reverse=True))
