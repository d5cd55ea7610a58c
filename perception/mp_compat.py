"""Importing mediapipe 0.10.21 next to protobuf 6 (one place for the compatibility shim).

mediapipe 0.10.21 is the last release that bundles its face models, and it still calls
``MessageFactory.GetPrototype``, which protobuf 5 removed (``GetMessageClass`` replaced it).
`import_mediapipe` restores the old name as a thin alias before importing mediapipe; without it
every graph run prints an AttributeError (results are unaffected, but logs fill up).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def _get_prototype(self: Any, descriptor: Any) -> Any:  # noqa: ARG001  # bound-method shape
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def import_mediapipe() -> ModuleType:
    """Return the mediapipe module, with the protobuf compatibility alias in place.

    Raises:
        ImportError: If mediapipe is not installed.
    """
    from google.protobuf import message_factory

    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = _get_prototype  # type: ignore[attr-defined]  # compat alias
    import mediapipe  # type: ignore[import-untyped]  # no type hints

    return mediapipe  # type: ignore[no-any-return]  # untyped module
