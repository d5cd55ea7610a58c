"""Builds the camera analysis pipeline for a live interview (both transports).

The expression model is loaded once per process and shared; each camera stream gets its own
`VisionPipeline`, built inside its video worker thread. When the model file is missing the
pipeline still measures face, gaze and blinks, and expression is reported as not measured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from agent.config import Settings
from perception.vision import VisionConfig, VisionPipeline

logger = logging.getLogger("mockint.agent.voice")


class VisionFactory:
    """Makes vision pipelines that share one expression model."""

    def __init__(self, settings: Settings) -> None:
        self._path = settings.models.dir / "fer-emotion" / "emotion.onnx"
        self._expression: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Callable[[], VisionPipeline]:
        """A builder for one camera stream's pipeline."""
        from perception.expression import ExpressionModel

        with self._lock:
            if self._expression is None and self._path.is_file():
                try:
                    self._expression = ExpressionModel(self._path, threads=1)
                except Exception:
                    logger.exception("the expression model could not be loaded")
        expression = self._expression

        def make() -> VisionPipeline:
            return VisionPipeline(VisionConfig(expression_model=None), expression=expression)

        return make
