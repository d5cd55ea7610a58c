"""Face mesh geometry on real faces: head pose, iris position, eye openness."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from perception.landmarks import LandmarkModel, eye_aspect_ratio, geometry_from_landmarks

pytestmark = pytest.mark.unit

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


@pytest.fixture(scope="module")
def mesh() -> LandmarkModel:
    m = LandmarkModel(tracking=False)
    yield m  # type: ignore[misc]
    m.close()


def _faces(n: int) -> list[Path]:
    files = sorted(FACES.glob("*/*.jpg"))
    if not files:
        pytest.skip("faces-dev data not present")
    return files[:: max(1, len(files) // n)][:n]


def test_frontal_faces_have_small_pose_centred_irises_and_open_eyes(mesh: LandmarkModel) -> None:
    yaws = []
    for f in _faces(12):
        g = mesh.measure(cv2.imread(str(f)))
        assert g is not None, f.name
        yaws.append(g.yaw)
        assert abs(g.roll) < 12, f.name
        assert 0.4 < g.iris_h < 0.6, f.name
        assert 0.15 < g.ear < 0.45, f.name
    assert float(np.median(np.abs(yaws))) < 8.0


def test_mirroring_flips_yaw_and_iris_side(mesh: LandmarkModel) -> None:
    for f in _faces(6):
        img = cv2.imread(str(f))
        a = mesh.measure(img)
        b = mesh.measure(np.ascontiguousarray(img[:, ::-1]))
        assert a is not None and b is not None
        assert a.yaw + b.yaw == pytest.approx(0.0, abs=4.0), f.name
        assert a.iris_h + b.iris_h == pytest.approx(1.0, abs=0.05), f.name


def test_rotation_shows_as_roll_and_crop_box_is_respected(mesh: LandmarkModel) -> None:
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    g = mesh.measure(astro, (177, 66, 95, 95))
    assert g is not None
    x, y = g.landmarks[:, 0], g.landmarks[:, 1]
    assert 150 < x.mean() < 300 and 60 < y.mean() < 200  # landmarks mapped back to the frame
    rot = cv2.warpAffine(astro, cv2.getRotationMatrix2D((256, 256), 20, 1.0), (512, 512))
    r = mesh.measure(rot)
    assert r is not None and -25 < r.roll < -12


def test_no_face_gives_none(mesh: LandmarkModel) -> None:
    assert mesh.measure(np.zeros((480, 640, 3), np.uint8)) is None
    assert mesh.measure(np.zeros((480, 640, 3), np.uint8), (600, 400, 100, 100)) is None


def test_geometry_rejects_bad_landmarks_and_ear_handles_degenerate_eyes() -> None:
    with pytest.raises(ValueError):
        geometry_from_landmarks(np.zeros((10, 3)))
    bad = np.zeros((478, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        geometry_from_landmarks(bad)
    assert eye_aspect_ratio(np.zeros((6, 2))) == 0.0
    eye = np.array([[0, 0], [3, -1], [7, -1], [10, 0], [7, 1], [3, 1]], dtype=float)
    assert eye_aspect_ratio(eye) == pytest.approx(0.2)
