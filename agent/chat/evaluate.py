"""Retrieval quality of the coach's knowledge base on a table of questions.

Owns reading an evaluation file (YAML: ``cases: [{question, expected: [entry ids]}]``, or a bare
list of such cases; ``expected`` may be one id) and measuring how often an expected entry is the
first result and among the first three. Unknown entry ids are an error, not a silent miss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.chat.knowledge import KnowledgeBase
from agent.errors import ConfigError


class Case(BaseModel):
    """One question and the entries that answer it."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=2, max_length=2000)
    expected: tuple[str, ...] = Field(min_length=1)

    @field_validator("expected", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


def load_cases(path: Path) -> list[Case]:
    """Read an evaluation file; raises `ConfigError` saying what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    items = raw.get("cases") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a list of cases (question + expected entry ids)")
    cases = []
    for i, item in enumerate(items, 1):
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise ConfigError(f"{path}: case {i}: {where}: {first['msg']}") from None
    return cases


def evaluate_retrieval(kb: KnowledgeBase, cases: list[Case], k: int = 3) -> dict[str, Any]:
    """Top-1 and top-k hit rates, with the misses."""
    unknown = sorted({i for c in cases for i in c.expected if i not in kb.by_id})
    if unknown:
        raise ConfigError(f"unknown knowledge-base entry ids: {', '.join(unknown)}")
    top1 = topk = 0
    misses = []
    for c in cases:
        got = [h.entry.id for h in kb.search(c.question, k)]
        top1 += got[0] in c.expected
        if set(got) & set(c.expected):
            topk += 1
        else:
            misses.append({"question": c.question, "expected": list(c.expected), "got": got})
    n = len(cases)
    return {
        "cases": n,
        "top1_hit_rate": round(top1 / n, 4),
        f"top{k}_hit_rate": round(topk / n, 4),
        "entries": len(kb.entries),
        "kb_version": kb.version,
        "misses": misses,
    }
