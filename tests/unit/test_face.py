"""Tests for perception.face: both detector backends on real faces, composites and bad input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from perception.face import (
    FaceBox,
    FaceDetection,
    FaceDetector,
    blazeface_available,
    primary_priority,
)

pytestmark = pytest.mark.unit

FACES_DEV = Path(os.environ["MOCKINT_TEST_FACES_DEV"])  # set in conftest.py
REPO_FACES = Path(__file__).resolve().parents[1] / "data" / "faces"  # 12 of them, in the repo
ASTRONAUT_BOX = (177, 66, 95, 95)  # Haar's box in skimage's 512x512 astronaut
BACKENDS = ("blazeface", "haar")
STATUSES = {"ok", "no_face", "several_faces", "too_dark", "bad_frame"}


@pytest.fixture(scope="module", params=BACKENDS)
def detector(request: pytest.FixtureRequest) -> Iterator[FaceDetector]:
    det = FaceDetector(request.param)
    yield det
    det.close()


@pytest.fixture(scope="module")
def blazeface() -> Iterator[FaceDetector]:
    det = FaceDetector("blazeface")
    yield det
    det.close()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def face_paths(every: int = 17) -> list[Path]:
    """Every n-th faces-dev image by sorted path, else the repository's 12 test faces."""
    dev = sorted(FACES_DEV.glob("*/*.jpg"))[::every]
    return dev or sorted(REPO_FACES.glob("*/*.jpg"))


def one_face() -> np.ndarray:
    paths = face_paths()
    if not paths:
        pytest.skip(f"no test faces in {FACES_DEV} or {REPO_FACES}")
    return cv2.imread(str(paths[0]))


def two_faces() -> tuple[np.ndarray, np.ndarray]:
    """Two different people's photos (faces-dev's 1st and 51st, or two repository faces)."""
    paths = (
        sorted(FACES_DEV.glob("*/*.jpg"))[::50][:2] or sorted(REPO_FACES.glob("*/*.jpg"))[::3][:2]
    )
    if len(paths) < 2:
        pytest.skip(f"no test faces in {FACES_DEV} or {REPO_FACES}")
    a, b = (cv2.imread(str(p)) for p in paths)
    return a, b


def iou(a: FaceBox, b: tuple[int, int, int, int]) -> float:
    bx, by, bw, bh = b
    w = min(a.x + a.w, bx + bw) - max(a.x, bx)
    h = min(a.y + a.h, by + bh) - max(a.y, by)
    inter = max(0, w) * max(0, h)
    return inter / (a.w * a.h + bw * bh - inter)


def canvas(*faces: tuple[np.ndarray, int, int, int]) -> np.ndarray:
    """A grey 640x480 frame with each image resized to ``side`` and pasted at (x, y)."""
    frame = np.full((480, 640, 3), 128, np.uint8)
    for img, side, x, y in faces:
        frame[y : y + side, x : x + side] = cv2.resize(
            img, (side, side), interpolation=cv2.INTER_AREA
        )
    return frame


def test_mediapipe_backend_is_installed() -> None:
    assert blazeface_available()
    with FaceDetector() as det:
        assert det.backend == "blazeface"


def test_astronaut_has_one_face_at_the_known_place(
    detector: FaceDetector, astronaut: np.ndarray
) -> None:
    det = detector.detect(astronaut)
    assert det.status == "ok"
    assert len(det.faces) == 1 and det.primary is det.faces[0]
    assert iou(det.primary, ASTRONAUT_BOX) > 0.7
    assert 0.0 < det.primary.score <= 1.0
    assert 100 < det.brightness < 130


@pytest.mark.parametrize("path", face_paths(), ids=lambda p: p.stem)
def test_faces_dev_portraits_have_one_central_face(detector: FaceDetector, path: Path) -> None:
    img = cv2.imread(str(path))
    # (frame, expected face width range in pixels): 675x675 original, ~0.5 m and ~1.5 m webcam
    cases = [
        (img, 200, 330),
        (canvas((img, 480, 80, 0)), 140, 240),
        (canvas((img, 160, 240, 160)), 45, 80),
    ]
    for frame, lo, hi in cases:
        det = detector.detect(frame)
        assert det.status == "ok", frame.shape
        assert det.primary is not None
        h, w = frame.shape[:2]
        cx, cy = det.primary.centre
        assert abs(cx - w / 2) < 0.1 * w and abs(cy - h / 2) < 0.15 * h
        assert lo < det.primary.w < hi


@pytest.mark.parametrize("value", [0, 8])
def test_black_frames_are_too_dark(detector: FaceDetector, value: int) -> None:
    det = detector.detect(np.full((480, 640, 3), value, np.uint8))
    assert det == FaceDetection("too_dark", (), None, float(value))


@pytest.mark.parametrize("value", [60, 128, 255])
def test_blank_and_noise_frames_have_no_face(detector: FaceDetector, value: int) -> None:
    assert detector.detect(np.full((480, 640, 3), value, np.uint8)).status == "no_face"
    noise = np.random.default_rng(value).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise).status == "no_face"


def test_dark_frame_with_a_face_is_too_dark_but_lists_it(blazeface: FaceDetector) -> None:
    img = one_face()
    det = blazeface.detect((img * 0.06).astype(np.uint8))
    assert det.status == "too_dark" and det.brightness < 15
    assert det.primary is not None  # BlazeFace still finds it; callers decide


def test_two_faces_primary_is_the_larger(detector: FaceDetector) -> None:
    a, b = two_faces()
    det = detector.detect(canvas((a, 240, 20, 120), (b, 340, 290, 70)))
    assert det.status == "several_faces" and len(det.faces) == 2
    assert det.primary is det.faces[0]
    assert det.primary.x > 320  # b, the larger one on the right
    det = detector.detect(canvas((a, 340, 10, 70), (b, 240, 380, 120)))
    assert det.status == "several_faces" and len(det.faces) == 2
    assert det.primary is not None and det.primary.x < 320


def test_two_equal_faces_primary_is_the_central_one(blazeface: FaceDetector) -> None:
    for img in two_faces():  # the same photo twice: equal faces, one central, one in a corner
        det = blazeface.detect(canvas((img, 240, 0, 0), (img, 240, 200, 120)))
        assert det.status == "several_faces" and det.primary is not None
        assert det.primary.x > 240
        det = blazeface.detect(canvas((img, 240, 400, 240), (img, 240, 200, 120)))
        assert det.status == "several_faces" and det.primary is not None
        assert det.primary.x < 400


def test_primary_priority_prefers_large_then_central() -> None:
    central = FaceBox(270, 190, 100, 100, 0.9)
    corner = FaceBox(0, 0, 100, 100, 0.9)
    big_corner = FaceBox(0, 0, 150, 150, 0.9)
    assert primary_priority(central, 640, 480) == pytest.approx(100 * 100)
    assert primary_priority(corner, 640, 480) < primary_priority(central, 640, 480)
    assert primary_priority(big_corner, 640, 480) > primary_priority(central, 640, 480)


def test_grey_rgba_and_other_dtypes_are_accepted(
    detector: FaceDetector, astronaut: np.ndarray
) -> None:
    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    variants: list[np.ndarray] = [
        grey,
        grey[:, :, None],
        cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA),
        cv2.cvtColor(astronaut, cv2.COLOR_BGR2RGBA),
        astronaut.astype(np.float32) / 255.0,
        astronaut.astype(np.uint16) * 257,
        np.asfortranarray(astronaut),
        np.pad(astronaut, ((0, 0), (0, 0), (0, 1)))[:, :, :3],  # non-contiguous view
    ]
    for frame in variants:
        det = detector.detect(frame)
        assert det.status == "ok", (frame.shape, frame.dtype)
        assert det.primary is not None and iou(det.primary, ASTRONAUT_BOX) > 0.6


def test_boxes_are_in_input_pixels_for_large_frames(blazeface: FaceDetector) -> None:
    img = one_face()
    small = blazeface.detect(canvas((img, 480, 80, 0)))
    big = blazeface.detect(cv2.resize(canvas((img, 480, 80, 0)), (1920, 1440)))
    assert small.primary is not None and big.primary is not None
    for attr in ("x", "y", "w", "h"):
        assert getattr(big.primary, attr) == pytest.approx(3 * getattr(small.primary, attr), abs=9)


@pytest.mark.parametrize(
    "frame",
    [
        [[0, 1], [2, 3]],
        np.zeros(10, np.uint8),
        np.zeros((4, 20, 20, 3), np.uint8),
        np.zeros((20, 20, 2), np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((0, 640), np.uint8),
        np.zeros((20, 20, 3), bool),
        np.zeros((20, 20, 3), np.int32),
        np.zeros((20, 20), np.complex64),
        np.full((20, 20), "a"),
        np.full((20, 20), None, object),
        np.full((40, 40, 3), np.nan, np.float32),
        np.full((40, 40), np.inf),
    ],
    ids=lambda f: f"{type(f).__name__}-{getattr(f, 'shape', '')}-{getattr(f, 'dtype', '')}",
)
def test_invalid_frames_raise_value_error(blazeface: FaceDetector, frame: Any) -> None:
    with pytest.raises(ValueError, match="frame"):
        blazeface.detect(frame)


@pytest.mark.parametrize("shape", [(8, 8, 3), (15, 640, 3), (640, 1)])
def test_tiny_frames_are_bad_frames(detector: FaceDetector, shape: tuple[int, ...]) -> None:
    det = detector.detect(np.full(shape, 128, np.uint8))
    assert det.status == "bad_frame" and det.faces == () and det.primary is None


def test_closed_detector_refuses_frames() -> None:
    det = FaceDetector("blazeface")
    det.close()
    det.close()
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="backend"):
        FaceDetector("yunet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_confidence"):
        FaceDetector("haar", min_confidence=1.5)


_DTYPES = st.sampled_from(
    [np.uint8, np.uint16, np.int16, np.float32, np.float64, np.bool_, np.complex64]
)


@st.composite
def frames(draw: st.DrawFn) -> np.ndarray:
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(0, 48), min_size=ndim, max_size=ndim)))
    if ndim == 3 and draw(st.booleans()):
        shape = (*shape[:2], draw(st.sampled_from([1, 3, 4])))
    dtype = np.dtype(draw(_DTYPES))
    if dtype.kind == "f":
        special = st.sampled_from([float("nan"), float("inf"), -float("inf")])
        elements = st.one_of(st.floats(-2.0, 3.0, width=32), special)
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames())
def test_any_array_gives_value_error_or_a_valid_detection(frame: np.ndarray) -> None:
    det = _shared_blazeface()
    try:
        result = det.detect(frame)
    except ValueError:
        return
    assert result.status in STATUSES
    assert 0.0 <= result.brightness <= 255.0
    h, w = frame.shape[:2]
    for box in result.faces:
        assert 0 <= box.x < w and 0 <= box.y < h and box.w >= 1 and box.h >= 1
        assert box.x + box.w <= w and box.y + box.h <= h
    assert (result.primary is None) == (not result.faces)


_DETECTOR: list[FaceDetector] = []


def _shared_blazeface() -> FaceDetector:
    """One detector for all hypothesis examples (fixtures don't mix with @given)."""
    if not _DETECTOR:
        _DETECTOR.append(FaceDetector("blazeface"))
    return _DETECTOR[0]
