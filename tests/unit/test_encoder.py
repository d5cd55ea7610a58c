"""Tests for the numpy all-MiniLM-L6-v2 sentence encoder (needs the real model directory)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from agent.nlp.encoder import MiniLMEncoder, _erf, cosine

pytestmark = pytest.mark.unit

_ENV = "MOCKINT_TEST_MINILM_DIR"


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """Directory holding model.safetensors, tokenizer.json, config.json, else skip."""
    value = os.environ.get(_ENV)
    if not value:
        pytest.skip(f"{_ENV} not set (directory with all-MiniLM-L6-v2 model.safetensors)")
    path = Path(value)
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"{_ENV}={value} has no model.safetensors")
    return path


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> MiniLMEncoder:
    """One loaded encoder per module."""
    return MiniLMEncoder.load(model_dir)


def test_erf_matches_math_erf() -> None:
    xs = np.linspace(-6.0, 6.0, 4001, dtype=np.float32)
    want = np.array([math.erf(float(v)) for v in xs])
    assert np.max(np.abs(_erf(xs) - want)) < 1e-6


def test_cosine_matrix() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    sims = cosine(a, np.array([1.0, 1.0], np.float32))
    assert sims.shape == (2, 1)
    np.testing.assert_allclose(sims[:, 0], [math.sqrt(0.5)] * 2, atol=1e-6)


def test_missing_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors.*tokenizer\.json"):
        MiniLMEncoder.load(tmp_path)


def test_unit_vectors(encoder: MiniLMEncoder) -> None:
    vecs = encoder.encode(["Hello world.", "", "x " * 600])  # includes > 256 tokens
    assert encoder.dim == 384
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_empty_input(encoder: MiniLMEncoder) -> None:
    out = encoder.encode([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_paraphrase_beats_unrelated(encoder: MiniLMEncoder) -> None:
    anchor, para, unrelated = encoder.encode(
        [
            "I reduced the API latency by adding a Redis cache",
            "We made the API faster by putting a Redis caching layer in front of it",
            "My favourite food is pizza",
        ]
    )
    s_para = float(cosine(anchor, para)[0, 0])
    s_unrel = float(cosine(anchor, unrelated)[0, 0])
    assert s_para > 0.7
    assert s_unrel < 0.3
    assert s_para - s_unrel > 0.4


def test_matches_published_sentence_transformers_scores(encoder: MiniLMEncoder) -> None:
    """Values printed by the sentence-transformers quickstart for all-MiniLM-L6-v2."""
    vecs = encoder.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    sims = cosine(vecs, vecs)
    np.testing.assert_allclose(
        [sims[0, 1], sims[0, 2], sims[1, 2]], [0.6660, 0.1046, 0.1411], atol=2e-3
    )


def test_batching_and_order_do_not_change_results(model_dir: Path) -> None:
    texts = [f"Sentence number {i} about {'distributed ' * (i % 5)}systems." for i in range(9)]
    fresh = MiniLMEncoder.load(model_dir, cache_size=0)
    a = fresh.encode(texts, batch_size=4)
    b = fresh.encode(texts[::-1], batch_size=32)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_cache_returns_identical_arrays(encoder: MiniLMEncoder) -> None:
    texts = ["Tell me about a time you disagreed with your manager.", "Cache me twice."]
    first = encoder.encode(texts)
    second = encoder.encode([texts[1], texts[0], texts[1]])
    np.testing.assert_array_equal(second, first[[1, 0, 1]])
    second[:] = 0.0  # callers may mutate results without corrupting the cache
    np.testing.assert_array_equal(encoder.encode(texts), first)


def test_cache_is_bounded(model_dir: Path) -> None:
    small = MiniLMEncoder.load(model_dir, cache_size=2)
    small.encode(["a", "b", "c"])
    assert len(small._cache) == 2
