"""Tests for the offline voice providers with the real models (no mocks of the models).

Piper renders speech, faster-whisper transcribes it, pyttsx3/espeak-ng renders the fallback
voice; a fake hanging engine exercises the pyttsx3 watchdog. Whisper and Piper load once per
module.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectionError, stt

from agent.config import Settings
from agent.errors import ConfigError
from agent.voice.eval_stt import (
    evaluate_stt,
    normalise_text,
    number_to_words,
    read_wav,
    word_errors,
)
from agent.voice.providers import build_stt, build_tts, piper_dir, whisper_dir
from agent.voice.stt_cloud import CloudFirstSTT
from agent.voice.stt_whisper import (
    WhisperSTT,
    Word,
    _keep_segment,
    drop_prompt_echo,
    has_speech,
    transcribe_pcm,
)
from agent.voice.tts_espeak import Pyttsx3TTS
from agent.voice.tts_piper import PiperTTS, clip_text

pytestmark = pytest.mark.unit

SENTENCE = "I have five years of experience as a software engineer."
MODELS = Settings(_env_file=None).models.dir  # type: ignore[call-arg]


def _rms(frame: rtc.AudioFrame) -> float:
    pcm = np.frombuffer(frame.data, dtype=np.int16).astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(pcm**2))) if pcm.size else 0.0


def _to_16k_frames(frame: rtc.AudioFrame, frame_ms: int = 20) -> list[rtc.AudioFrame]:
    """Resample to 16 kHz and cut into short frames, like a microphone stream."""
    rs = rtc.AudioResampler(frame.sample_rate, 16000, quality=rtc.AudioResamplerQuality.HIGH)
    out = rs.push(frame) + rs.flush()
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out])
    step = 16000 * frame_ms // 1000
    return [
        rtc.AudioFrame(pcm[i : i + step].tobytes(), 16000, 1, len(pcm[i : i + step]))
        for i in range(0, len(pcm), step)
    ]


def _frames_from_float(samples: np.ndarray, rate: int = 16000) -> list[rtc.AudioFrame]:
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    return [rtc.AudioFrame(pcm.tobytes(), rate, 1, len(pcm))]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _tts_temp_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("mockint-tts-*")}


@pytest.fixture(scope="module")
def whisper_stt() -> WhisperSTT:
    folder = whisper_dir(MODELS)
    if not (folder / "model.bin").is_file():
        pytest.fail("the Whisper model is not provisioned: run 'make setup'")
    plugin = WhisperSTT(folder)
    plugin.load()
    return plugin


@pytest.fixture(scope="module")
def piper() -> PiperTTS:
    folder = piper_dir(MODELS)
    if not list(folder.glob("*.onnx")):
        pytest.fail("the Piper voice is not provisioned: run 'make setup'")
    plugin = PiperTTS.from_dir(folder, deterministic=True)
    plugin.load()
    return plugin


@pytest.fixture(scope="module")
def sentence_audio(piper: PiperTTS) -> rtc.AudioFrame:
    """SENTENCE rendered by Piper once (22050 Hz)."""

    async def _render() -> rtc.AudioFrame:
        return await piper.synthesize(SENTENCE).collect()

    return asyncio.run(_render())


# --- (a) Piper -------------------------------------------------------------------------------


async def test_piper_synthesizes_sentence_in_chunks(piper: PiperTTS) -> None:
    started = time.perf_counter()
    first_at: float | None = None
    frames: list[rtc.AudioFrame] = []
    async for ev in piper.synthesize(SENTENCE):
        if first_at is None:
            first_at = time.perf_counter() - started
        frames.append(ev.frame)
    assert frames and first_at is not None
    assert all(f.sample_rate == 22050 and f.num_channels == 1 for f in frames)
    audio = rtc.combine_audio_frames(frames)
    assert 2.0 < audio.duration < 6.0
    assert _rms(audio) > 0.02
    assert piper.sample_rate == 22050 and not piper.capabilities.streaming


async def test_piper_empty_and_unspeakable_text_do_not_fail(piper: PiperTTS) -> None:
    assert [ev async for ev in piper.synthesize("   ")] == []
    silence = await piper.synthesize("...").collect()
    assert silence.duration < 0.2


def test_clip_text_cuts_at_a_word_boundary() -> None:
    text = "word " * 300
    clipped = clip_text(text, 1000)
    assert len(clipped) <= 1000 and clipped.endswith("word")
    assert clip_text("short", 1000) == "short"


# --- (b) Whisper on Piper audio ---------------------------------------------------------------


async def test_whisper_transcribes_piper_speech_with_word_timings(
    whisper_stt: WhisperSTT, sentence_audio: rtc.AudioFrame
) -> None:
    frames = _to_16k_frames(sentence_audio)
    duration = sum(f.duration for f in frames)
    ev = await whisper_stt.recognize(frames)
    assert ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    alt = ev.alternatives[0]
    text = alt.text.lower()
    for word in ("five", "years", "experience", "engineer"):
        assert word in text
    assert alt.language == "en"
    assert 0.3 < alt.confidence <= 1.0
    assert alt.words
    starts = [float(w.start_time) for w in alt.words]  # type: ignore[arg-type]
    ends = [float(w.end_time) for w in alt.words]  # type: ignore[arg-type]
    assert starts == sorted(starts)
    assert all(0.0 <= s <= e <= duration + 1e-6 for s, e in zip(starts, ends, strict=True))
    assert alt.start_time == starts[0] and alt.end_time == ends[-1]
    assert whisper_stt.capabilities.aligned_transcript == "word"
    assert not whisper_stt.capabilities.streaming


async def test_whisper_accepts_stereo_48k_frames(
    whisper_stt: WhisperSTT, sentence_audio: rtc.AudioFrame
) -> None:
    rs = rtc.AudioResampler(22050, 48000, num_channels=1)
    mono = np.concatenate(
        [np.frombuffer(f.data, dtype=np.int16) for f in rs.push(sentence_audio) + rs.flush()]
    )
    stereo = np.repeat(mono[:, None], 2, axis=1)
    frame = rtc.AudioFrame(stereo.tobytes(), 48000, 2, len(mono))
    ev = await whisper_stt.recognize(frame)
    assert "experience" in ev.alternatives[0].text.lower()


# --- (c)/(d) silence, noise, very short audio -------------------------------------------------


@pytest.mark.parametrize("kind", ["silence", "white_noise", "quiet_noise", "empty"])
async def test_whisper_returns_empty_for_non_speech(whisper_stt: WhisperSTT, kind: str) -> None:
    rng = np.random.default_rng(7)
    frames: list[rtc.AudioFrame]
    if kind == "silence":
        frames = _frames_from_float(np.zeros(32000))
    elif kind == "white_noise":
        frames = _frames_from_float(rng.standard_normal(32000) * 0.1)
    elif kind == "quiet_noise":
        frames = _frames_from_float(rng.standard_normal(48000) * 0.001)
    else:
        frames = []
    ev = await whisper_stt.recognize(frames)
    assert ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert ev.alternatives[0].text == ""
    assert not ev.alternatives[0].words


async def test_whisper_returns_empty_for_a_tenth_of_a_second(
    whisper_stt: WhisperSTT, sentence_audio: rtc.AudioFrame
) -> None:
    frames = _to_16k_frames(sentence_audio, frame_ms=10)[30:40]  # 0.1 s from inside speech
    assert abs(sum(f.duration for f in frames) - 0.1) < 1e-6
    ev = await whisper_stt.recognize(frames)
    assert ev.alternatives[0].text == ""


async def test_whisper_keeps_fillers(whisper_stt: WhisperSTT, piper: PiperTTS) -> None:
    audio = await piper.synthesize("Um, so, uh, I think the main challenge was scaling.").collect()
    ev = await whisper_stt.recognize(_to_16k_frames(audio))
    words = normalise_text(ev.alternatives[0].text).split()
    assert "um" in words and "uh" in words


async def test_whisper_hears_speech_in_background_noise(
    whisper_stt: WhisperSTT, sentence_audio: rtc.AudioFrame
) -> None:
    frames = _to_16k_frames(sentence_audio)
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames]) / 32768.0
    noisy = pcm + np.random.default_rng(3).standard_normal(pcm.size) * 0.03
    assert has_speech(noisy.astype(np.float32))
    ev = await whisper_stt.recognize(_frames_from_float(noisy))
    assert "experience" in ev.alternatives[0].text.lower()


def test_prompt_echo_is_dropped_but_real_words_stay() -> None:
    def ws(text: str) -> list[Word]:
        return [Word(text=t, start=i, end=i + 0.5, prob=0.9) for i, t in enumerate(text.split())]

    echoed = ws("Hmm, let me think, uh, like, you know, so I mean...")
    assert [w.text for w in drop_prompt_echo(echoed)] == ["Hmm,", "let", "me", "think,"]
    real = ws("Um, let me think. I would, uh, like to add an index, you know.")
    assert drop_prompt_echo(real) == real


@pytest.mark.parametrize(
    ("text", "logprob", "no_speech", "compression", "temperature", "keep"),
    [
        ("I have five years of experience.", -0.23, 0.001, 0.9, 0.0, True),
        ("Um, so, uh, I think so.", -0.4, 0.02, 0.99, 0.0, True),
        ("No.", -1.0, 0.18, 0.27, 0.0, True),
        ("Okay, thank you.", -0.54, 0.01, 0.67, 0.0, True),
        ("Thank you.", -0.5, 0.05, 0.5, 0.0, True),  # said clearly: kept
        ("Thank you.", -0.7, 0.3, 0.5, 0.0, False),  # unsure: the classic silence hallucination
        ("Thanks for watching!", -0.4, 0.2, 0.6, 0.0, False),
        ("I'm not going to be able to do it.", -1.6, 0.5, 0.87, 0.0, False),
        ("Yeah, yeah, yeah, yeah, yeah.", -1.55, 0.52, 1.6, 0.0, False),
        ("I'm sorry. I'm sorry. I'm sorry. I'm sorry.", -0.5, 0.55, 2.9, 0.0, False),
        ("I-I-I-I-I-I-I-I-I", -0.42, 0.54, 2.12, 0.8, False),
        ("...", -0.2, 0.01, 0.5, 0.0, False),
    ],
)
def test_hallucination_filter(
    text: str, logprob: float, no_speech: float, compression: float, temperature: float, keep: bool
) -> None:
    assert _keep_segment(text, logprob, no_speech, compression, temperature) is keep


def test_transcribe_pcm_survives_garbage(whisper_stt: WhisperSTT) -> None:
    model = whisper_stt.load()
    garbage = np.full(16000, np.nan, dtype=np.float32)
    garbage[::2] = np.inf
    assert transcribe_pcm(model, garbage).text == ""
    assert transcribe_pcm(model, np.zeros(0, dtype=np.float32)).duration == 0.0


# --- (e) pyttsx3 ------------------------------------------------------------------------------


async def test_pyttsx3_renders_audio_and_leaves_no_temp_files(tmp_path: Path) -> None:
    private = tmp_path / "tts"
    private.mkdir()
    before = _tts_temp_files()
    tts = Pyttsx3TTS(temp_dir=private)
    started = time.perf_counter()
    frame = await tts.synthesize("Tell me about a project you are proud of.").collect()
    elapsed = time.perf_counter() - started
    await tts.aclose()
    assert frame.sample_rate == 22050 and frame.num_channels == 1
    assert frame.duration > 1.0 and _rms(frame) > 0.02
    assert elapsed < 5.0
    assert _files(private) == []
    assert _tts_temp_files() <= before
    assert tts.pyttsx3_enabled


async def test_pyttsx3_default_temp_dir_is_cleaned() -> None:
    before = _tts_temp_files()
    tts = Pyttsx3TTS()
    frame = await tts.synthesize("Hello.").collect()
    await tts.aclose()
    assert frame.duration > 0.2
    assert _tts_temp_files() <= before


# --- (f) watchdog -----------------------------------------------------------------------------


class HangingEngine:
    """Fake pyttsx3 engine whose runAndWait hangs until endLoop (or 30 s)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.paths: list[str] = []

    def save_to_file(self, text: str, filename: str) -> None:
        self.paths.append(filename)

    def runAndWait(self) -> None:  # noqa: N802
        self.released.wait(30)

    def stop(self) -> None:
        pass

    def endLoop(self) -> None:  # noqa: N802
        self.released.set()


class BrokenEngine:
    def save_to_file(self, text: str, filename: str) -> None:
        raise RuntimeError("driver exploded")

    def runAndWait(self) -> None:  # noqa: N802
        pass

    def stop(self) -> None:
        pass


async def test_watchdog_cuts_a_hang_and_espeak_fallback_speaks(tmp_path: Path) -> None:
    engines: list[HangingEngine] = []

    def factory() -> HangingEngine:
        engines.append(HangingEngine())
        return engines[-1]

    tts = Pyttsx3TTS(
        timeout_s=0.5, timeout_per_char_s=0.0, engine_factory=factory, temp_dir=tmp_path
    )
    started = time.perf_counter()
    frame = await tts.synthesize("Can you walk me through your last project?").collect()
    elapsed = time.perf_counter() - started
    assert 0.5 <= elapsed < 5.0  # watchdog at 0.5 s, then espeak-ng
    assert frame.duration > 1.0 and _rms(frame) > 0.02
    assert engines[0].released.is_set()  # the hung engine was told to end its loop

    # a second hang uses a fresh engine, then pyttsx3 is switched off (max_abandoned=2)
    await tts.synthesize("Second question.").collect()
    assert len(engines) == 2 and not tts.pyttsx3_enabled
    frame = await tts.synthesize("Third question.").collect()
    assert frame.duration > 0.5
    assert len(engines) == 2  # no third engine: pyttsx3 was skipped

    for _ in range(50):  # the released workers delete their own temp files
        if not _files(tmp_path):
            break
        await asyncio.sleep(0.02)
    assert _files(tmp_path) == []
    await tts.aclose()


async def test_engine_error_falls_back_and_engine_is_rebuilt(tmp_path: Path) -> None:
    built: list[BrokenEngine] = []

    def factory() -> BrokenEngine:
        built.append(BrokenEngine())
        return built[-1]

    tts = Pyttsx3TTS(engine_factory=factory, temp_dir=tmp_path)
    for _ in range(2):
        frame = await tts.synthesize("Hello there.").collect()
        assert frame.duration > 0.3
    assert len(built) == 2 and tts.pyttsx3_enabled
    assert _files(tmp_path) == []
    await tts.aclose()


async def test_hang_with_broken_fallback_raises_api_error(tmp_path: Path) -> None:
    tts = Pyttsx3TTS(
        timeout_s=0.3,
        timeout_per_char_s=0.0,
        engine_factory=HangingEngine,
        espeak_binary="no-such-espeak-binary",
        temp_dir=tmp_path,
    )
    with pytest.raises(APIConnectionError):
        await tts.synthesize("Hello.").collect()
    await tts.aclose()


# --- (g) factory ------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def _refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)


def test_build_stt_without_key_is_local_whisper(no_network: None) -> None:
    plugin = build_stt(models_dir=MODELS)
    assert isinstance(plugin, WhisperSTT)
    assert plugin.model == "whisper-base" and plugin.beam_size == 1


def test_build_stt_with_key_is_deepgram_without_network(no_network: None) -> None:
    from livekit.plugins import deepgram

    bare = build_stt(
        models_dir=MODELS,
        deepgram_api_key="test-key",
        deepgram_base_url="http://127.0.0.1:9/v1/listen",
        fallback=False,
    )
    assert isinstance(bare, deepgram.STT)
    assert bare.model == "nova-3" and bare.provider == "Deepgram"
    assert bare.capabilities.streaming

    wrapped = build_stt(models_dir=MODELS, deepgram_api_key="test-key")
    assert isinstance(wrapped, CloudFirstSTT)
    assert wrapped.model == "nova-3" and wrapped.provider == "Deepgram"
    assert wrapped.capabilities.streaming


def test_build_stt_needs_whisper_without_key(tmp_path: Path) -> None:
    from agent.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        build_stt(models_dir=tmp_path)


def test_build_tts_prefers_piper_and_falls_back_to_espeak(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(build_tts(models_dir=MODELS), PiperTTS)
    assert isinstance(build_tts(models_dir=MODELS, tts="espeak"), Pyttsx3TTS)
    with caplog.at_level("WARNING", logger="mockint.agent.voice"):
        fallback = build_tts(models_dir=tmp_path, tts="auto")
    assert isinstance(fallback, Pyttsx3TTS)
    warnings = [r for r in caplog.records if r.name == "mockint.agent.voice"]
    assert len(warnings) == 1 and "espeak" in warnings[0].getMessage()
    with pytest.raises(ConfigError):
        build_tts(models_dir=tmp_path, tts="piper")


# --- (6) evaluation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("We cut latency by 40%!", "we cut latency by forty percent"),
        ("Twenty-one engineers & 3 managers.", "twenty one engineers and three managers"),
        ("I was 1st, then 22nd.", "i was first then twenty second"),
        (
            "It cost $1,200, about 3.5x more",
            "it cost one thousand two hundred dollars about three point five x more",
        ),
        ("OK, I’m done.", "okay i'm done"),
        ("0 to 100", "zero to one hundred"),
        ("  Um... so, uh -- yeah?  ", "um so uh yeah"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_number_to_words() -> None:
    assert [number_to_words(n) for n in (0, 7, 13, 20, 45, 99, 100)] == [
        "zero",
        "seven",
        "thirteen",
        "twenty",
        "forty five",
        "ninety nine",
        "one hundred",
    ]
    assert number_to_words(2025) == "two thousand twenty five"


def test_word_errors_counts_each_kind() -> None:
    same = word_errors("The cat sat.", "the cat sat")
    assert same.edits == 0 and same.wer == 0.0
    dele = word_errors("the cat sat on the mat", "the cat sat on mat")
    assert (dele.substitutions, dele.deletions, dele.insertions) == (0, 1, 0)
    assert dele.reference_words == 6
    mixed = word_errors("a b c", "a x c d")
    assert (mixed.substitutions, mixed.deletions, mixed.insertions) == (1, 0, 1)
    assert mixed.wer == pytest.approx(2 / 3)
    assert word_errors("five years", "5 years").edits == 0
    assert word_errors("", "").wer == 0.0
    assert word_errors("", "hello").wer == 1.0
    assert word_errors("one two three", "").deletions == 3


def _write_wav_float32_stereo(path: Path, samples: np.ndarray, rate: int) -> None:
    data = np.repeat(samples.astype("<f4")[:, None], 2, axis=1).tobytes()
    fmt = struct.pack("<HHIIHH", 3, 2, rate, rate * 8, 8, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _write_wav_24bit(path: Path, samples: np.ndarray, rate: int) -> None:
    ints = np.clip(samples * (2**23 - 1), -(2**23), 2**23 - 1).astype("<i4")
    data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 3, 3, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_read_wav_formats(tmp_path: Path) -> None:
    tone = (0.5 * np.sin(np.linspace(0, 200 * np.pi, 8000))).astype(np.float32)
    _write_wav_float32_stereo(tmp_path / "f.wav", tone, 8000)
    samples, rate = read_wav(tmp_path / "f.wav")
    assert rate == 8000 and samples.shape == (8000, 2)
    assert np.allclose(samples[:, 0], tone, atol=1e-6)
    _write_wav_24bit(tmp_path / "p24.wav", tone[:800], 8000)
    s24, _ = read_wav(tmp_path / "p24.wav")
    assert np.allclose(s24, tone[:800], atol=1e-5)
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError):
        read_wav(tmp_path / "bad.wav")


def test_evaluate_stt_on_piper_clips(
    tmp_path: Path, piper: PiperTTS, whisper_stt: WhisperSTT
) -> None:
    refs = {
        "intro": "I have five years of experience as a software engineer.",
        "team": "I led a team of four engineers and we shipped the release on time.",
        "skills": "My strongest skills are Python, databases and testing.",
    }

    async def _render(text: str) -> rtc.AudioFrame:
        return await piper.synthesize(text).collect()

    for i, (name, text) in enumerate(refs.items()):
        frame = asyncio.run(_render(text))
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        if i == 1:  # one clip as 32-bit float stereo, the others as 16-bit mono
            _write_wav_float32_stereo(tmp_path / f"{name}.wav", pcm / 32768.0, frame.sample_rate)
        else:
            with wave.open(str(tmp_path / f"{name}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(frame.sample_rate)
                w.writeframes(pcm.tobytes())
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "orphan.wav").write_bytes(b"RIFF")
    (tmp_path / "lonely.txt").write_text("no audio", encoding="utf-8")

    result = evaluate_stt(tmp_path, model_dir=whisper_dir(MODELS), model=whisper_stt.load())
    assert result["n"] == 3
    assert result["wer"] < 0.25
    assert result["rtf"] > 0
    assert {s["name"] for s in result["skipped"]} == {"orphan.wav", "lonely.txt"}
    assert [f["name"] for f in result["per_file"]] == ["intro", "skills", "team"]
    assert result["mode"] == "live"
    whole = evaluate_stt(
        tmp_path, model_dir=whisper_dir(MODELS), model=whisper_stt.load(), live=False
    )
    assert whole["mode"] == "whole" and whole["n"] == 3 and whole["wer"] < 0.25


async def test_incremental_stt_transcribes_pieces_and_reports_its_backlog(
    whisper_stt: WhisperSTT, piper: PiperTTS
) -> None:
    from livekit.agents import inference

    from agent.voice.stt_incremental import IncrementalSTT

    inc = IncrementalSTT(stt_=whisper_stt, vad=inference.VAD(min_silence_duration=0.3))
    first = await piper.synthesize("We moved the reports to a read replica.").collect()
    second = await piper.synthesize("Then the dashboard loaded in one second.").collect()
    quiet = rtc.AudioFrame(bytes(2 * 16000), 16000, 1, 16000)  # 1 s of silence
    frames = [
        *_to_16k_frames(quiet),
        *_to_16k_frames(first),
        *_to_16k_frames(rtc.AudioFrame(bytes(2 * 8000), 16000, 1, 8000)),
        *_to_16k_frames(second),
        *_to_16k_frames(quiet),
        *_to_16k_frames(quiet),
    ]
    stream = inc.stream()
    finals: list[str] = []
    seen_busy = False

    async def read() -> None:
        async for ev in stream:
            if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(ev.alternatives[0].text)

    reader = asyncio.create_task(read())
    for f in frames:
        stream.push_frame(f)
        seen_busy = seen_busy or inc.transcribing
        await asyncio.sleep(0.005)
    for _ in range(300):
        if not inc.transcribing and finals:
            break
        seen_busy = seen_busy or inc.transcribing
        await asyncio.sleep(0.05)
    stream.end_input()
    await asyncio.wait_for(reader, timeout=30)
    assert seen_busy
    assert not inc.transcribing
    heard = normalise_text(" ".join(finals))
    assert "replica" in heard and "dashboard" in heard, finals


class _PieceLengths(stt.STT[Any]):
    """A recogniser that records how long each piece it was given is (a fake, no model)."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.seconds: list[float] = []

    async def _recognize_impl(self, buffer: Any, *, language: Any, conn_options: Any) -> Any:
        self.seconds.append(round(rtc.combine_audio_frames(buffer).duration, 2))
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language="en", text="piece")],
        )


@pytest.mark.parametrize(
    ("others_running", "max_piece_s", "cut_at_pause"),
    [(0, 12.0, True), (2, 12.0, False), (2, 1.0, True)],
    ids=["idle: cut at the pause", "busy: one longer piece", "busy but too long: cut"],
)
async def test_incremental_stt_grows_pieces_while_the_recogniser_is_busy(
    piper: PiperTTS, others_running: int, max_piece_s: float, cut_at_pause: bool
) -> None:
    from livekit.agents import inference

    from agent.voice.stt_incremental import IncrementalSTT, RecognizerLoad

    fake = _PieceLengths()
    shared = IncrementalSTT(
        stt_=fake,
        vad=inference.VAD(min_silence_duration=0.6),
        chunk_min_s=1.0,
        capacity=2,
        max_piece_s=max_piece_s,
        load=RecognizerLoad(running=others_running),  # other interviews' pieces
    )
    inc = shared.with_filter(lambda _t: False)
    first = await piper.synthesize("We moved the reports to a read replica.").collect()
    second = await piper.synthesize("Then the dashboard loaded in one second.").collect()
    quiet = rtc.AudioFrame(bytes(2 * 16000), 16000, 1, 16000)
    frames = [
        *_to_16k_frames(first),
        *_to_16k_frames(rtc.AudioFrame(bytes(2 * 6400), 16000, 1, 6400)),  # a 0.4 s pause
        *_to_16k_frames(second),
        *_to_16k_frames(quiet),
    ]
    stream = inc.stream()
    for f in frames:
        stream.push_frame(f)
        await asyncio.sleep(0.002)
    stream.end_input()
    async for _ in stream:
        pass
    # The first sentence is about 2.3 s, the pause 0.4 s, both about 5 s.
    first_piece = fake.seconds[0]
    assert (first_piece < 3.0) is cut_at_pause, fake.seconds
    assert sum(fake.seconds) > 4.5  # all of the speech was sent, however it was cut
