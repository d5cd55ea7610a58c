"""Evaluation of face detection plus expression recognition on a folder of labelled images.

This module owns :func:`evaluate_fer`, behind ``interviewer eval fer DIR``. The folder holds one
sub-folder per label, ``DIR/<label>/*.png|jpg|jpeg`` (extensions in any case), with labels among
:data:`perception.expression.LABELS`. Every image goes through the product's own path: the face
detector, its primary face, the expression crop and the model.

Decisions:

* Sub-folders with other names are listed under ``unknown_labels`` (with their image counts) and
  not scored. Files that OpenCV cannot decode are listed under ``unreadable``.
* An image where no face is found counts in ``no_face`` and is **excluded** from accuracy (the
  expression model never saw a face, so scoring it would measure detection, which
  ``face_found_rate`` already reports).
* Small images are usually already tight face crops (FER-2013 is 48x48), on which a detector
  may find nothing. If no face is found and the image's longer side is at most ``small_side``
  (100 px), the whole image is used as the face crop; these count in ``whole_image``, not in
  ``no_face``. When a face *is* found in a small image its box is used as usual: on 48x48
  tight crops of faces-dev BlazeFace found all 204 faces, and its box gave 0.735 (7-class)
  against 0.770 for the whole image, a difference within noise on one small set.
* Macro-F1 averages the F1 of the labels present in the data (as true labels); the confusion
  matrix always covers all seven labels (rows true, columns predicted).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.expression import LABELS, ExpressionModel
from perception.face import Backend, FaceDetector

logger = logging.getLogger("mockint.perception")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
SMALL_SIDE = 100
"""Images whose longer side is at most this, with no face found, are used whole."""


def _images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def evaluate_fer(
    folder: Path,
    *,
    model_path: Path,
    detector_backend: Backend | None = None,
    threads: int = 1,
    small_side: int = SMALL_SIDE,
) -> dict[str, Any]:
    """Detect, crop and classify every labelled image in ``folder`` and score the predictions.

    Args:
        folder: ``folder/<label>/*.{png,jpg,jpeg}``.
        model_path: The expression ONNX file.
        detector_backend: ``"blazeface"``, ``"haar"`` or ``None`` (BlazeFace when available).
        threads: ONNX Runtime intra-op threads.
        small_side: See the module docstring.

    Returns:
        A JSON-serialisable dict: ``n`` (images scored), ``accuracy``, ``macro_f1``,
        ``per_class_recall`` and ``per_class_f1`` (labels present), ``confusion`` (7x7, rows
        true), ``labels``, ``accuracy_happy_neutral`` (happy vs neutral by the larger of the two
        probabilities, over those two labels, or ``None`` if either is absent), ``no_face``,
        ``whole_image``, ``face_found_rate``, ``unknown_labels``, ``unreadable``, ``images``
        (all image files seen under known labels), ``detector``, ``ms_per_image`` and
        ``predictions`` (one dict per image).

    Raises:
        NotADirectoryError: If ``folder`` is not a directory.
        perception.onnx_session.ModelFileError: If the model cannot be loaded.
    """
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    index = {label: i for i, label in enumerate(LABELS)}
    work: list[tuple[str, Path]] = []
    unknown: list[dict[str, Any]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = _images(sub)
        if sub.name.lower() in index:
            work.extend((sub.name.lower(), path) for path in files)
        else:
            unknown.append({"label": sub.name, "images": len(files)})
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    hn_total = hn_correct = 0
    predictions: list[dict[str, Any]] = []
    unreadable: list[str] = []
    no_face = whole = found = 0
    busy = 0.0
    backend: str | None = detector_backend
    if work:
        model = ExpressionModel(model_path, threads=threads)
        detector = FaceDetector(detector_backend)
        backend = detector.backend
        try:
            for label, path in work:
                rel = str(path.relative_to(folder))
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    unreadable.append(rel)
                    continue
                t0 = time.perf_counter()
                det = detector.detect(frame)
                box = det.primary
                if box is not None:
                    source = "face"
                    found += 1
                elif max(frame.shape[:2]) <= small_side:
                    source = "whole_image"
                    whole += 1
                else:
                    busy += time.perf_counter() - t0
                    no_face += 1
                    predictions.append(
                        {"file": rel, "label": label, "predicted": None, "status": det.status}
                    )
                    continue
                scores = model.predict(frame, box)
                busy += time.perf_counter() - t0
                confusion[index[label], index[scores.top]] += 1
                if label in ("happy", "neutral"):
                    hn_total += 1
                    smiling = scores.probs["happy"] > scores.probs["neutral"]
                    hn_correct += (label == "happy") == smiling
                predictions.append(
                    {
                        "file": rel,
                        "label": label,
                        "predicted": scores.top,
                        "confidence": round(scores.confidence, 4),
                        "status": det.status,
                        "source": source,
                        "probs": {k: round(v, 4) for k, v in scores.probs.items()},
                    }
                )
        finally:
            detector.close()
    return {
        **_scores(confusion),
        "accuracy_happy_neutral": (
            hn_correct / hn_total
            if confusion[index["happy"]].sum() and confusion[index["neutral"]].sum()
            else None
        ),
        "no_face": no_face,
        "whole_image": whole,
        "face_found_rate": found / (found + whole + no_face) if found + whole + no_face else None,
        "unknown_labels": unknown,
        "unreadable": unreadable,
        "images": len(work),
        "detector": backend,
        "ms_per_image": 1000.0 * busy / max(1, found + whole + no_face),
        "predictions": predictions,
    }


def _scores(confusion: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall/F1 from a confusion matrix (rows true)."""
    n = int(confusion.sum())
    correct = int(np.trace(confusion))
    recall: dict[str, float] = {}
    f1: dict[str, float] = {}
    for i, label in enumerate(LABELS):
        true = int(confusion[i].sum())
        if not true:
            continue
        predicted = int(confusion[:, i].sum())
        tp = int(confusion[i, i])
        recall[label] = tp / true
        precision = tp / predicted if predicted else 0.0
        f1[label] = 2 * precision * recall[label] / (precision + recall[label]) if tp else 0.0
    return {
        "n": n,
        "accuracy": correct / n if n else None,
        "macro_f1": sum(f1.values()) / len(f1) if f1 else None,
        "per_class_recall": recall,
        "per_class_f1": f1,
        "labels": list(LABELS),
        "confusion": confusion.astype(int).tolist(),
    }
