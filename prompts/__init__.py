"""Versioned prompt and phrase files, loaded by name and version with their hash recorded.

Files are named ``name.vN.md`` (a `string.Template` prompt) or ``name.vN.yaml`` (structured
phrase banks). Every use records a `PromptRef` (name, version, sha256) so a stored result can be
reproduced. This package imports nothing else of ours.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.(?P<ext>md|yaml)$")


@dataclass(frozen=True, slots=True)
class PromptRef:
    """Identity of a prompt as used: recorded with every result it shaped."""

    name: str
    version: int
    sha256: str

    def as_dict(self) -> dict[str, str | int]:
        """JSON-friendly form."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Prompt:
    """A loaded prompt file."""

    ref: PromptRef
    text: str
    kind: str
    """'md' (template text) or 'yaml' (structured data)."""

    @property
    def variables(self) -> frozenset[str]:
        """Template variables used in a markdown prompt (``$name`` / ``${name}``)."""
        found = set()
        for m in string.Template.pattern.finditer(self.text):
            name = m.group("named") or m.group("braced")
            if name:
                found.add(name)
        return frozenset(found)

    def render(self, **variables: str) -> str:
        """Substitute variables; raises KeyError when one is missing."""
        return string.Template(self.text).substitute(variables)

    def data(self) -> Any:
        """Parsed YAML content of a structured prompt file."""
        if self.kind != "yaml":
            raise TypeError(f"{self.ref.name} v{self.ref.version} is not a YAML prompt")
        return yaml.safe_load(self.text)


def available() -> dict[str, list[int]]:
    """Prompt names and their versions shipped in this package."""
    out: dict[str, list[int]] = {}
    for entry in resources.files(__name__).iterdir():
        m = _FILE.match(entry.name)
        if m:
            out.setdefault(m["name"], []).append(int(m["version"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


@functools.cache
def load(name: str, version: int | None = None) -> Prompt:
    """Load a prompt by name; the newest version unless one is given.

    Raises:
        KeyError: when no such prompt or version exists.
    """
    versions = available().get(name)
    if not versions:
        raise KeyError(f"no prompt named {name!r}")
    v = versions[-1] if version is None else version
    if v not in versions:
        raise KeyError(f"prompt {name!r} has no version {v} (have {versions})")
    for ext in ("md", "yaml"):
        entry = resources.files(__name__) / f"{name}.v{v}.{ext}"
        if entry.is_file():
            text = entry.read_text(encoding="utf-8")
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            return Prompt(PromptRef(name, v, digest), text, ext)
    raise KeyError(f"prompt {name!r} v{v} not found")
