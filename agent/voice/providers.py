"""Chooses the speech providers: Deepgram or Whisper for STT; Deepgram, Piper or espeak for TTS.

This module owns the provider decision and nothing else; it takes plain arguments (not the
settings object) so callers and tests can use it directly. Nothing here touches the network:
the Deepgram plugins only connect when a stream starts, and they are only built when a key is
given (they would otherwise read ``DEEPGRAM_API_KEY`` from the environment themselves).

STT with a Deepgram key is `CloudFirstSTT` (Deepgram, then local Whisper through
`IncrementalSTT`): on an outage the audio Deepgram never confirmed is replayed to Whisper, so
the utterance in progress is not lost. TTS with a key (``auto`` or ``deepgram``) is Deepgram
Aura inside livekit's ``tts.FallbackAdapter`` with the local voice behind it. ``base_url`` is
Deepgram's API root (``https://api.deepgram.com``); ``/v1/listen`` and ``/v1/speak`` are
derived from it (tests point it at a local fake).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import aiohttp
from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.agents import vad as lk_vad
from livekit.plugins import deepgram

from agent.errors import ConfigError
from agent.models.registry import PIPER_JOE, WHISPER_BASE
from agent.voice.cloud_http import bind_session
from agent.voice.stt_cloud import CloudFirstSTT
from agent.voice.stt_incremental import IncrementalSTT
from agent.voice.stt_whisper import WhisperSTT, check_model_dir
from agent.voice.tts_espeak import Pyttsx3TTS
from agent.voice.tts_piper import PiperTTS, find_voice

logger = logging.getLogger("mockint.agent.voice")

TtsChoice = Literal["auto", "deepgram", "piper", "espeak"]

DEEPGRAM_MODEL = "nova-3"
DEEPGRAM_VOICE = "aura-2-thalia-en"
DEEPGRAM_ROOT = "https://api.deepgram.com"


def deepgram_urls(base_url: str | None) -> tuple[str, str]:
    """The listen and speak endpoints under a Deepgram API root (a full listen URL also works)."""
    root = (base_url or DEEPGRAM_ROOT).rstrip("/")
    for suffix in ("/v1/listen", "/v1/speak", "/v1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    return f"{root}/v1/listen", f"{root}/v1/speak"


class DeepgramSTT(deepgram.STT):
    """The Deepgram plugin, usable outside a LiveKit job (the embedded transport)."""

    def _ensure_session(self) -> aiohttp.ClientSession:
        bind_session(self)
        return super()._ensure_session()


class DeepgramTTS(deepgram.TTS):
    """The Deepgram Aura plugin, usable outside a LiveKit job (the embedded transport)."""

    def _ensure_session(self) -> aiohttp.ClientSession:
        bind_session(self)
        return super()._ensure_session()


def whisper_dir(models_dir: Path) -> Path:
    """The provisioned Whisper model directory under ``models_dir``."""
    return models_dir / WHISPER_BASE.name


def piper_dir(models_dir: Path) -> Path:
    """The provisioned Piper voice directory under ``models_dir``."""
    return models_dir / PIPER_JOE.name


def build_stt(
    *,
    models_dir: Path,
    deepgram_api_key: str | None = None,
    deepgram_base_url: str | None = None,
    language: str = "en",
    cpu_threads: int = 2,
    workers: int = 1,
    beam_size: int = 1,
    fallback: bool = True,
    vad: lk_vad.VAD | None = None,
) -> lk_stt.STT[Any]:
    """Build the speech-to-text provider.

    Args:
        models_dir: Folder with the provisioned offline models.
        deepgram_api_key: Deepgram key; without one, local Whisper is used.
        deepgram_base_url: Deepgram's API root (e.g. a local fake in tests).
        language: Recognition language.
        cpu_threads: Threads for local Whisper.
        workers: Local Whisper transcriptions at once (interviews sharing the server).
        beam_size: Whisper beam size (1 is fastest).
        fallback: With a key, wrap Deepgram and Whisper in `CloudFirstSTT` (when the
            Whisper model is provisioned). False returns the bare Deepgram plugin.
        vad: VAD the fallback uses to watch the cloud and cut utterances for Whisper
            (default: a new local ``inference.VAD()``).

    Returns:
        `WhisperSTT`, the Deepgram plugin, or a `CloudFirstSTT` over both.

    Raises:
        ModelLoadError: Without a key, if the Whisper model is not provisioned.
    """
    local_dir = whisper_dir(models_dir)

    def _whisper() -> WhisperSTT:
        return WhisperSTT(
            local_dir,
            language=language,
            cpu_threads=cpu_threads,
            beam_size=beam_size,
            workers=workers,
        )

    if not deepgram_api_key:
        check_model_dir(local_dir)
        return _whisper()

    cloud = DeepgramSTT(
        api_key=deepgram_api_key,
        base_url=deepgram_urls(deepgram_base_url)[0],
        model=DEEPGRAM_MODEL,
        language=language,
        filler_words=True,
    )
    if not fallback:
        return cloud
    try:
        check_model_dir(local_dir)
    except Exception:
        logger.warning("whisper model not provisioned: no offline fallback for Deepgram")
        return cloud
    if vad is None:
        from livekit.agents import inference

        vad = inference.VAD(min_silence_duration=0.3)
    local = IncrementalSTT(stt_=_whisper(), vad=vad, capacity=workers)
    return CloudFirstSTT(cloud=cloud, local=local, vad=vad)


def build_tts(
    *,
    models_dir: Path,
    tts: TtsChoice = "auto",
    deepgram_api_key: str | None = None,
    deepgram_base_url: str | None = None,
) -> lk_tts.TTS[Any]:
    """Build the text-to-speech provider.

    Args:
        models_dir: Folder with the provisioned offline models.
        tts: ``"auto"``: Deepgram Aura when a key is given, else Piper when its voice is
            provisioned, else espeak-ng (with one warning). ``"deepgram"`` requires the key;
            ``"piper"`` requires the voice; ``"espeak"`` is pyttsx3/espeak-ng.
        deepgram_api_key: Deepgram key (cloud voice with the local voice as fallback).
        deepgram_base_url: Deepgram's API root (e.g. a local fake in tests).

    Returns:
        `PiperTTS`, `Pyttsx3TTS`, or a ``FallbackAdapter`` of Deepgram Aura then the local voice.

    Raises:
        ConfigError: If ``"piper"`` is asked for but the voice is not provisioned, or
            ``"deepgram"`` without a key.
    """
    if tts == "deepgram" and not deepgram_api_key:
        raise ConfigError("the Deepgram voice needs DEEPGRAM_API_KEY; or choose piper or espeak")
    local = _local_tts(models_dir, "auto" if tts == "deepgram" else tts)
    if tts in ("auto", "deepgram") and deepgram_api_key:
        cloud = DeepgramTTS(
            api_key=deepgram_api_key,
            base_url=deepgram_urls(deepgram_base_url)[1],
            model=DEEPGRAM_VOICE,
        )
        # No retries on the cloud voice: a failed line is spoken by the local voice at once.
        return lk_tts.FallbackAdapter([cloud, local], max_retry_per_tts=0)
    return local


def _local_tts(models_dir: Path, tts: TtsChoice) -> lk_tts.TTS[Any]:
    """Piper or espeak-ng (see `build_tts`)."""
    if tts == "espeak":
        return Pyttsx3TTS()
    found = find_voice(piper_dir(models_dir))
    if found is not None:
        return PiperTTS(found[0], found[1])
    if tts == "piper":
        raise ConfigError(
            f"the Piper voice is not provisioned in {piper_dir(models_dir)}; "
            "run 'make setup' or choose the espeak voice"
        )
    logger.warning(
        "Piper voice not provisioned: falling back to pyttsx3/espeak-ng TTS",
        extra={"fallback": "espeak", "missing": str(piper_dir(models_dir))},
    )
    return Pyttsx3TTS()
