"""Chooses the speech providers: Deepgram or local Whisper for STT, Piper or espeak-ng for TTS.

This module owns the provider decision and nothing else; it takes plain arguments (not the
settings object) so callers and tests can use it directly. Nothing here touches the network:
the Deepgram plugin only connects when a stream starts, and it is only built when a key is
given (it would otherwise read ``DEEPGRAM_API_KEY`` from the environment itself).

STT with a Deepgram key is ``stt.FallbackAdapter([deepgram, whisper], vad=...)`` so that a
Deepgram outage falls back to local Whisper. livekit 1.8.9's FallbackAdapter wraps the
non-streaming Whisper in ``stt.StreamAdapter`` with the given VAD by itself (it raises without
one), so a VAD is required; a local ``inference.VAD()`` is created when none is passed. On a
switch mid-utterance the audio already sent to Deepgram is not replayed to Whisper, so that
utterance may be lost; later ones are transcribed locally.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.agents import vad as lk_vad

from agent.errors import ConfigError
from agent.models.registry import PIPER_JOE, WHISPER_BASE
from agent.voice.stt_whisper import WhisperSTT, check_model_dir
from agent.voice.tts_espeak import Pyttsx3TTS
from agent.voice.tts_piper import PiperTTS, find_voice

logger = logging.getLogger("mockint.agent.voice")

TtsChoice = Literal["auto", "piper", "espeak"]

DEEPGRAM_MODEL = "nova-3"


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
    beam_size: int = 1,
    fallback: bool = True,
    vad: lk_vad.VAD | None = None,
) -> lk_stt.STT[Any]:
    """Build the speech-to-text provider.

    Args:
        models_dir: Folder with the provisioned offline models.
        deepgram_api_key: Deepgram key; without one, local Whisper is used.
        deepgram_base_url: Override Deepgram's endpoint (e.g. a local fake in tests).
        language: Recognition language.
        cpu_threads: Threads for local Whisper.
        beam_size: Whisper beam size (1 is fastest).
        fallback: With a key, wrap Deepgram and Whisper in ``stt.FallbackAdapter`` (when the
            Whisper model is provisioned). False returns the bare Deepgram plugin.
        vad: VAD the fallback uses to cut utterances for Whisper (default: a new local
            ``inference.VAD()``).

    Returns:
        `WhisperSTT`, the Deepgram plugin, or a ``FallbackAdapter`` over both.

    Raises:
        ModelLoadError: Without a key, if the Whisper model is not provisioned.
    """
    local_dir = whisper_dir(models_dir)

    def _whisper() -> WhisperSTT:
        return WhisperSTT(
            local_dir, language=language, cpu_threads=cpu_threads, beam_size=beam_size
        )

    if not deepgram_api_key:
        check_model_dir(local_dir)
        return _whisper()

    from livekit.plugins import deepgram

    if deepgram_base_url:
        cloud = deepgram.STT(
            api_key=deepgram_api_key,
            base_url=deepgram_base_url,
            model=DEEPGRAM_MODEL,
            language=language,
            filler_words=True,
        )
    else:
        cloud = deepgram.STT(
            api_key=deepgram_api_key, model=DEEPGRAM_MODEL, language=language, filler_words=True
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

        vad = inference.VAD()
    return lk_stt.FallbackAdapter([cloud, _whisper()], vad=vad)


def build_tts(*, models_dir: Path, tts: TtsChoice = "auto") -> lk_tts.TTS[Any]:
    """Build the text-to-speech provider.

    Args:
        models_dir: Folder with the provisioned offline models.
        tts: ``"piper"`` (required), ``"espeak"`` (pyttsx3/espeak-ng), or ``"auto"``: Piper when
            its voice is provisioned, else espeak-ng with one warning.

    Returns:
        `PiperTTS` or `Pyttsx3TTS`.

    Raises:
        ConfigError: If ``"piper"`` is asked for but the voice is not provisioned.
    """
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
