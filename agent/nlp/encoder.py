"""Torch-free all-MiniLM-L6-v2 sentence encoder (numpy BERT forward pass).

This module owns turning text into 384-d unit sentence embeddings for semantic matching (e.g.
answer text against rubric key points). It reads the sentence-transformers model directory
(``model.safetensors``, ``tokenizer.json``, ``config.json``), runs the BERT encoder in float32
numpy, mean-pools over the attention mask and L2-normalises, matching the
sentence-transformers ``all-MiniLM-L6-v2`` pipeline. Identical strings are served from a bounded
LRU cache.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]

MAX_SEQ_LENGTH = 256
DEFAULT_CACHE_SIZE = 4096
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")
_MASK_BIAS = np.float32(-1e9)
_PREFIX_PROBE = "embeddings.word_embeddings.weight"


def _erf(x: F32) -> F32:
    """Vectorised erf (Abramowitz & Stegun 7.1.26; max abs error ~5e-7 in float32)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t
            * (
                np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429))
            )
        )
    )
    return np.asarray(np.sign(x) * (1.0 - poly * np.exp(-a * a)), np.float32)


def _gelu(x: F32) -> F32:
    """Exact (erf) GELU, as used by BERT's ``hidden_act="gelu"``."""
    return np.asarray(0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476))), np.float32)


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    """LayerNorm over the last axis."""
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return np.asarray(xc / np.sqrt(var + np.float32(eps)) * gamma + beta, np.float32)


@dataclass(frozen=True)
class _Layer:
    """Weights of one transformer layer, linear weights stored ``[in, out]``."""

    qkv_w: F32
    qkv_b: F32
    attn_out_w: F32
    attn_out_b: F32
    ln1_g: F32
    ln1_b: F32
    ffn_in_w: F32
    ffn_in_b: F32
    ffn_out_w: F32
    ffn_out_b: F32
    ln2_g: F32
    ln2_b: F32


@dataclass(frozen=True)
class _Bert:
    """BERT encoder weights and hyper-parameters."""

    word: F32
    position: F32
    token_type: F32
    emb_ln_g: F32
    emb_ln_b: F32
    layers: tuple[_Layer, ...]
    heads: int
    eps: float

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], config: dict[str, object]) -> _Bert:
        """Build from a safetensors state dict, whatever its key prefix.

        Args:
            state: Tensors by name, e.g. ``encoder.layer.0.attention.self.query.weight``,
                optionally prefixed (``bert.``, ``0.auto_model.``, ...).
            config: Parsed Hugging Face ``config.json``.

        Returns:
            The encoder weights.

        Raises:
            ValueError: If the state dict or config is not a BERT encoder this code can run.
        """
        probe = [k for k in state if k.endswith(_PREFIX_PROBE)]
        if len(probe) != 1:
            raise ValueError(f"cannot find a unique '{_PREFIX_PROBE}' in model.safetensors")
        prefix = probe[0][: -len(_PREFIX_PROBE)]
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {config.get('hidden_act')!r}")

        def get(name: str) -> F32:
            return np.ascontiguousarray(state[prefix + name], np.float32)

        def lin(name: str) -> F32:
            return np.ascontiguousarray(get(name + ".weight").T)

        layers = []
        for i in range(int(str(config["num_hidden_layers"]))):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate([lin(att + n) for n in ("query", "key", "value")], 1)
                    ),
                    qkv_b=np.concatenate(
                        [get(att + n + ".bias") for n in ("query", "key", "value")]
                    ),
                    attn_out_w=lin(p + "attention.output.dense"),
                    attn_out_b=get(p + "attention.output.dense.bias"),
                    ln1_g=get(p + "attention.output.LayerNorm.weight"),
                    ln1_b=get(p + "attention.output.LayerNorm.bias"),
                    ffn_in_w=lin(p + "intermediate.dense"),
                    ffn_in_b=get(p + "intermediate.dense.bias"),
                    ffn_out_w=lin(p + "output.dense"),
                    ffn_out_b=get(p + "output.dense.bias"),
                    ln2_g=get(p + "output.LayerNorm.weight"),
                    ln2_b=get(p + "output.LayerNorm.bias"),
                )
            )
        return cls(
            word=get("embeddings.word_embeddings.weight"),
            position=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight"),
            emb_ln_g=get("embeddings.LayerNorm.weight"),
            emb_ln_b=get("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
            heads=int(str(config["num_attention_heads"])),
            eps=float(str(config.get("layer_norm_eps", 1e-12))),
        )

    @property
    def dim(self) -> int:
        """Hidden size."""
        return int(self.word.shape[1])

    def forward(self, ids: np.ndarray, type_ids: np.ndarray, mask: np.ndarray) -> F32:
        """Run the encoder and mean-pool.

        Args:
            ids: int ``[B, T]`` token ids.
            type_ids: int ``[B, T]`` segment ids.
            mask: ``[B, T]`` attention mask (1 for real tokens, 0 for padding).

        Returns:
            float32 ``[B, dim]`` L2-normalised mean-pooled embeddings.
        """
        b, t = ids.shape
        d, nh = self.dim, self.heads
        hd = d // nh
        h = self.word[ids] + self.position[None, :t] + self.token_type[type_ids]
        h = _layer_norm(h, self.emb_ln_g, self.emb_ln_b, self.eps)
        maskf = mask.astype(np.float32)
        bias = ((1.0 - maskf) * _MASK_BIAS)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        for layer in self.layers:
            qkv = (h @ layer.qkv_w + layer.qkv_b).reshape(b, t, 3, nh, hd).transpose(2, 0, 3, 1, 4)
            scores = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, t, d)
            h = _layer_norm(
                h + ctx @ layer.attn_out_w + layer.attn_out_b, layer.ln1_g, layer.ln1_b, self.eps
            )
            ffn = _gelu(h @ layer.ffn_in_w + layer.ffn_in_b) @ layer.ffn_out_w + layer.ffn_out_b
            h = _layer_norm(h + ffn, layer.ln2_g, layer.ln2_b, self.eps)
        pooled = (h * maskf[:, :, None]).sum(1) / np.maximum(maskf.sum(1, keepdims=True), 1e-9)
        norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled / norm, np.float32)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence encoder with an LRU cache of per-string embeddings."""

    def __init__(
        self, tokenizer: Tokenizer, bert: _Bert, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        """Wrap a configured tokenizer and loaded weights; prefer :meth:`load`.

        Args:
            tokenizer: Tokenizer with truncation and padding enabled.
            bert: Encoder weights.
            cache_size: Maximum number of cached strings (0 disables caching).
        """
        self._tokenizer = tokenizer
        self._bert = bert
        self._cache_size = cache_size
        self._cache: OrderedDict[str, F32] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        max_seq_length: int = MAX_SEQ_LENGTH,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> MiniLMEncoder:
        """Load the model directory of a sentence-transformers MiniLM model.

        Args:
            model_dir: Directory holding ``model.safetensors``, ``tokenizer.json`` and
                ``config.json``.
            max_seq_length: Truncation length in tokens, special tokens included.
            cache_size: Maximum number of cached strings.

        Returns:
            A ready encoder.

        Raises:
            FileNotFoundError: If the directory or one of the required files is missing.
            ValueError: If the weights do not describe a supported BERT encoder.
        """
        model_dir = Path(model_dir)
        missing = [n for n in REQUIRED_FILES if not (model_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"MiniLM model directory {model_dir} is missing: {', '.join(missing)}"
            )
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        bert = _Bert.from_state(load_file(str(model_dir / "model.safetensors")), config)
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        max_len = min(max_seq_length, int(bert.position.shape[0]))
        tokenizer.enable_truncation(max_length=max_len)
        pad_id = int(config.get("pad_token_id", 0))
        pad_token = tokenizer.id_to_token(pad_id) or "[PAD]"
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        return cls(tokenizer, bert, cache_size=cache_size)

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for all-MiniLM-L6-v2)."""
        return self._bert.dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> F32:
        """Embed texts as L2-normalised vectors.

        Args:
            texts: Strings to embed; duplicates and previously seen strings hit the cache.
            batch_size: Maximum number of strings per forward pass.

        Returns:
            float32 ``[len(texts), dim]`` unit vectors (shape ``(0, dim)`` for no texts).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        found: dict[str, F32] = {}
        with self._lock:
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
                    found[text] = self._cache[text]
        todo = sorted({t for t in texts if t not in found}, key=len, reverse=True)
        for start in range(0, len(todo), max(1, batch_size)):
            chunk = todo[start : start + max(1, batch_size)]
            encs = self._tokenizer.encode_batch(chunk)
            ids = np.array([e.ids for e in encs], np.int64)
            type_ids = np.array([e.type_ids for e in encs], np.int64)
            mask = np.array([e.attention_mask for e in encs], np.int64)
            vecs = self._bert.forward(ids, type_ids, mask)
            for text, vec in zip(chunk, vecs, strict=True):
                vec = vec.copy()
                vec.setflags(write=False)
                found[text] = vec
            self._remember(chunk, found)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def _remember(self, texts: Sequence[str], vecs: dict[str, F32]) -> None:
        """Insert fresh embeddings into the LRU cache, evicting the oldest entries."""
        if self._cache_size <= 0:
            return
        with self._lock:
            for text in texts:
                self._cache[text] = vecs[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def cosine(a: np.ndarray, b: np.ndarray) -> F32:
    """Cosine similarity matrix between two sets of vectors.

    Inputs are expected to be unit vectors (as returned by :meth:`MiniLMEncoder.encode`) but are
    re-normalised defensively; zero vectors give similarity 0.

    Args:
        a: ``[n, d]`` or ``[d]`` vectors.
        b: ``[m, d]`` or ``[d]`` vectors.

    Returns:
        float32 ``[n, m]`` similarities.
    """
    a2 = np.atleast_2d(np.asarray(a, np.float32))
    b2 = np.atleast_2d(np.asarray(b, np.float32))
    a2 = a2 / np.maximum(np.linalg.norm(a2, axis=1, keepdims=True), 1e-12)
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=1, keepdims=True), 1e-12)
    return np.asarray(a2 @ b2.T, np.float32)
