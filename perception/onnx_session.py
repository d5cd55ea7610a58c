"""ONNX Runtime sessions for the perception models: CPU only, sequential, no busy-waiting threads.

This module owns how every perception model file is opened: the CPU execution provider,
sequential execution, a fixed number of intra-op threads (default 1, from settings in the
product) and one inter-op thread, with intra-op spinning disabled so that idle inference threads
don't burn a core of the 2-core target machines. A missing or unreadable file raises
:class:`ModelFileError` (:class:`ModelNotFoundError`, also a ``FileNotFoundError``, when the
file does not exist) with the path in the message.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


class ModelFileError(Exception):
    """A model file is missing, unreadable or not a valid ONNX model."""


class ModelNotFoundError(ModelFileError, FileNotFoundError):
    """The model file does not exist (not provisioned, or a wrong path)."""


def new_inference_session(path: Path, *, threads: int = 1) -> ort.InferenceSession:
    """Open an ONNX model for CPU inference.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads (at least 1).

    Returns:
        The session. ONNX Runtime sessions may be shared by threads for ``run``.

    Raises:
        ModelNotFoundError: If the file does not exist (a :class:`ModelFileError`).
        ModelFileError: If ONNX Runtime cannot load it.
        ValueError: If ``threads`` is below 1.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    so = ort.SessionOptions()
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped error classes
        raise ModelFileError(f"cannot load model {path}: {type(e).__name__}") from e
