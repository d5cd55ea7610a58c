"""The coach's curated knowledge base and its retrieval (local sentence encoder + word overlap).

Owns loading ``agent/chat/knowledge.yaml`` (validated: unique ids, known topics and metrics,
bodies of a readable length) and ranking its entries for a question. Each entry is embedded
once as "title + asks + body"; its score blends that similarity with a BM25 word-overlap score
(scaled to the best similarity) so rare, specific words ("salary", "panel", "gap") count.
Pure apart from the encoder.

Embedding the entries takes tens of seconds on two cores, so their vectors ship beside the file
(``knowledge.npz``, keyed by the file's SHA-256 and a probe embedding of the encoder); when
either differs they are recomputed (and ``interviewer coach-index`` rewrites the shipped file).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.brain.analysis import Encoder
from agent.errors import ConfigError

KB_PATH = Path(__file__).with_name("knowledge.yaml")
PROBE = "How do I answer interview questions with confidence?"

Metric = Literal[
    "fillers", "pace", "pauses", "eye_contact", "presence", "structure", "content", "overall"
]

DENSE_WEIGHT = 0.75
"""Share of the dense (encoder) similarity in an entry's score; the rest is word overlap."""
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    "a an and are as at be but by can do does for from how i i'm if in into is it its me my "
    "of on or so that the their them then there they this to was we what when where which who "
    "why will with you your im dont get got just about really should would could".split()
)


class Entry(BaseModel):
    """One piece of advice."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str = Field(min_length=5, max_length=120)
    topic: str = Field(min_length=3)
    metric: Metric | None = None
    asks: tuple[str, ...] = Field(min_length=1, max_length=8)
    body: str = Field(min_length=200, max_length=2000)

    @field_validator("asks")
    @classmethod
    def _asks_not_blank(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not a.strip() for a in v):
            raise ValueError("asks must not be blank")
        return v


class _KBFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    entries: list[Entry] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry and how well it matched."""

    entry: Entry
    score: float
    dense: float
    lexical: float


def _tokens(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP or len(w) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):  # a light stem: "pauses" ~ "pause"
            if len(w) > len(suffix) + 3 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        out.append(w)
    return out


class KnowledgeBase:
    """The loaded entries with their embeddings and word statistics."""

    def __init__(
        self,
        entries: Sequence[Entry],
        encoder: Encoder,
        *,
        version: int = 1,
        vectors: np.ndarray | None = None,
    ) -> None:
        self.entries = tuple(entries)
        self.version = version
        self.by_id = {e.id: e for e in self.entries}
        if len(self.by_id) != len(self.entries):
            dupes = [i for i, n in Counter(e.id for e in self.entries).items() if n > 1]
            raise ConfigError(f"knowledge base: duplicate entry ids {dupes}")
        self._encoder = encoder
        docs = [f"{e.title}. {' '.join(e.asks)} {e.body}" for e in self.entries]
        if vectors is None or vectors.shape[0] != len(docs):
            vectors = np.asarray(encoder.encode(docs), np.float32)
        self._doc_vecs = np.asarray(vectors, np.float32)
        # BM25 over title + asks + body.
        self._doc_tokens = [Counter(_tokens(d)) for d in docs]
        self._avg_len = float(np.mean([sum(c.values()) for c in self._doc_tokens]))
        df: Counter[str] = Counter()
        for c in self._doc_tokens:
            df.update(c.keys())
        n = len(docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def _bm25(self, query: str) -> np.ndarray:
        q = set(_tokens(query))
        scores = np.zeros(len(self.entries), np.float32)
        k1, b = 1.2, 0.75
        for i, c in enumerate(self._doc_tokens):
            length = sum(c.values())
            s = 0.0
            for t in q:
                f = c.get(t, 0)
                if f:
                    s += (
                        self._idf[t]
                        * f
                        * (k1 + 1)
                        / (f + k1 * (1 - b + b * length / self._avg_len))
                    )
            scores[i] = s
        top = float(scores.max()) if len(scores) else 0.0
        return scores / top if top > 0 else scores

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The ``k`` best entries for a question, best first."""
        qv = np.asarray(self._encoder.encode([question]), np.float32)[0]
        dense = self._doc_vecs @ qv
        lexical = self._bm25(question)
        score = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical * float(dense.max())
        order = np.argsort(-score)[:k]
        return [
            Hit(self.entries[i], float(score[i]), float(dense[i]), float(lexical[i])) for i in order
        ]


def load_entries(path: Path = KB_PATH) -> tuple[int, list[Entry]]:
    """Read and validate a knowledge-base file; raises `ConfigError` with the reason."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _KBFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise ConfigError(f"knowledge base {path.name} is invalid: {e}") from e
    return parsed.version, parsed.entries


_BUILT: dict[tuple[Path, int], KnowledgeBase] = {}


def vectors_path(path: Path) -> Path:
    """Where the precomputed entry vectors of a knowledge-base file live."""
    return path.with_suffix(".npz")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_vectors(path: Path, encoder: Encoder) -> np.ndarray | None:
    """The shipped vectors if they belong to this file and this encoder, else None."""
    store = vectors_path(path)
    if not store.is_file():
        return None
    try:
        with np.load(store) as z:
            sha, probe, vectors = str(z["sha256"]), z["probe"], z["vectors"]
    except (OSError, KeyError, ValueError):
        return None
    if sha != _sha(path):
        return None
    now = np.asarray(encoder.encode([PROBE]), np.float32)[0]
    if probe.shape != now.shape or float(np.abs(probe - now).max()) > 1e-4:
        return None
    return np.asarray(vectors, np.float32)


def write_vectors(kb: KnowledgeBase, path: Path = KB_PATH) -> Path:
    """Store the entry vectors beside the knowledge-base file (after editing it)."""
    probe = np.asarray(kb._encoder.encode([PROBE]), np.float32)[0]
    store = vectors_path(path)
    with store.open("wb") as f:
        np.savez(f, sha256=np.array(_sha(path)), probe=probe, vectors=kb._doc_vecs)
    return store


def knowledge_base(encoder: Encoder, path: Path = KB_PATH) -> KnowledgeBase:
    """The knowledge base embedded with ``encoder`` (built once per process and encoder)."""
    key = (path, id(encoder))
    if key not in _BUILT:
        version, entries = load_entries(path)
        _BUILT[key] = KnowledgeBase(
            entries, encoder, version=version, vectors=stored_vectors(path, encoder)
        )
    return _BUILT[key]
