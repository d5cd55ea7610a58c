"""Tests for the FER Keras-HDF5 to ONNX converter (needs the real model file)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from agent.models.fer_onnx import (
    EMOTION_LABELS,
    convert_fer_h5_to_onnx,
    reference_forward,
    verify_fer_onnx,
)

pytestmark = pytest.mark.unit

_ENV = "MOCKINT_TEST_FER_H5"


@pytest.fixture(scope="module")
def h5_path() -> Path:
    """Path of fer/data/emotion_model.hdf5 from the environment, else skip."""
    value = os.environ.get(_ENV)
    if not value:
        pytest.skip(f"{_ENV} not set (path to fer/data/emotion_model.hdf5)")
    path = Path(value)
    if not path.is_file():
        pytest.skip(f"{_ENV}={value} does not exist")
    return path


@pytest.fixture(scope="module")
def onnx_path(h5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Convert once per module into a temporary directory."""
    out = tmp_path_factory.mktemp("fer") / "sub" / "emotion.onnx"
    convert_fer_h5_to_onnx(h5_path, out)
    return out


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def test_labels() -> None:
    assert EMOTION_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_conversion_passes_checker_and_is_atomic(onnx_path: Path) -> None:
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 13
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probs"]
    assert 30 <= len(model.graph.node) <= 60
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert 50_000 < n_params < 62_000
    assert [p.name for p in onnx_path.parent.iterdir()] == [onnx_path.name]  # no temp left over


def test_matches_reference_forward(h5_path: Path, onnx_path: Path) -> None:
    assert verify_fer_onnx(h5_path, onnx_path) <= 1e-4
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, (5, 1, 64, 64)).astype(np.float32)
    got = _session(onnx_path).run(["probs"], {"input": x})[0]
    want = reference_forward(h5_path, x)
    assert got.shape == want.shape == (5, len(EMOTION_LABELS))
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_probabilities_sum_to_one(onnx_path: Path) -> None:
    rng = np.random.default_rng(11)
    for batch in (1, 4):
        x = rng.uniform(-1.0, 1.0, (batch, 1, 64, 64)).astype(np.float32)
        probs = _session(onnx_path).run(["probs"], {"input": x})[0]
        assert probs.dtype == np.float32
        assert probs.shape == (batch, 7)
        assert np.all(probs >= 0.0)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_asymmetric_pads_matter(h5_path: Path, onnx_path: Path, tmp_path: Path) -> None:
    """Moving the odd 'same' padding to top/left must be caught by verification."""
    model = onnx.load(str(onnx_path))
    changed = 0
    for node in model.graph.node:
        for attr in node.attribute:
            if (
                node.op_type == "MaxPool"
                and attr.name == "pads"
                and list(attr.ints) == [0, 0, 1, 1]
            ):
                attr.ints[:] = [1, 1, 0, 0]
                changed += 1
    assert changed > 0
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    assert verify_fer_onnx(h5_path, broken) > 1e-3


def test_rejects_file_without_model_config(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    bad = tmp_path / "weights_only.h5"
    with h5py.File(bad, "w") as f:
        f.create_group("model_weights")
    with pytest.raises(ValueError, match="model_config"):
        convert_fer_h5_to_onnx(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
