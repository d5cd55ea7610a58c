"""Offline speech-to-text evaluation: word error rate and real-time factor on a folder of clips.

This module owns measuring the local STT exactly as the live pipeline runs it: each clip is
converted with `agent.voice.stt_whisper.to_mono_16k` and, by default, streamed in 20 ms frames
through `agent.voice.stt_incremental.IncrementalSTT` (the same VAD cuts at pauses, the same
Whisper prompt, beam and filters per piece). ``live=False`` transcribes each clip whole with
`agent.voice.stt_whisper.transcribe_pcm` instead. It also owns the text
normalisation used for scoring (lower-case, punctuation stripped, numbers and "%" spelled out)
and the word-level edit distance.

A folder holds ``name.wav`` + ``name.txt`` pairs (the text is the reference transcript). WAVs
may be 8/16/24/32-bit PCM or 32/64-bit float, any rate, mono or stereo. Run it as
``python -m agent.voice.eval_stt FOLDER`` to print the result as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from agent.voice.stt_whisper import (
    SAMPLE_RATE,
    load_whisper_model,
    to_mono_16k,
    transcribe_pcm,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]  # no type hints

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_SPELLING = {"ok": "okay", "mr": "mister", "mrs": "missus", "dr": "doctor", "vs": "versus"}

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_MONEY = re.compile(r"\$(\d[\d,]*)")
_THOUSANDS = re.compile(r"(?<!\d)(\d{1,3}(?:,\d{3})+)(?!\d)")
_NUMBER = re.compile(r"\d+")
_NON_WORD = re.compile(r"[^a-z0-9' ]+")

_WAVE_PCM = 1
_WAVE_FLOAT = 3
_WAVE_EXTENSIBLE = 0xFFFE


def number_to_words(n: int) -> str:
    """Spell a non-negative integer below one billion in English words, without "and".

    Args:
        n: The number.

    Returns:
        E.g. ``"forty two"``, ``"one hundred"``, ``"two thousand twenty five"``.
    """
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for size, name in ((1_000_000, "million"), (1_000, "thousand"), (100, "hundred")):
        if n >= size:
            high, rest = divmod(n, size)
            return (
                number_to_words(high)
                + " "
                + name
                + ("" if rest == 0 else " " + number_to_words(rest))
            )
    raise AssertionError("unreachable")


def _ordinal_words(n: int) -> str:
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _spell_int(digits: str) -> str:
    n = int(digits)
    return number_to_words(n) if n < 1_000_000_000 else " ".join(_ONES[int(d)] for d in digits)


def normalise_text(text: str) -> str:
    """Normalise a transcript for scoring.

    Lower-cases; spells out "%" ("percent"), "&" ("and"), "$N" ("N dollars"), integers
    (including "1,000"), decimals ("3.5" -> "three point five") and ordinals ("2nd" ->
    "second"); turns hyphens into spaces; strips other punctuation (keeping apostrophes inside
    words, e.g. "i'm"); maps a few spellings ("ok" -> "okay"); collapses whitespace.

    Args:
        text: Reference or recognised text.

    Returns:
        Space-separated normalised words.
    """
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    t = t.replace("%", " percent ").replace("&", " and ")
    t = _MONEY.sub(lambda m: f"{m.group(1)} dollars", t)
    t = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), t)
    t = _ORDINAL.sub(lambda m: " " + _ordinal_words(int(m.group(1))) + " ", t)
    t = _DECIMAL.sub(
        lambda m: (
            f" {_spell_int(m.group(1))} point " + " ".join(_ONES[int(d)] for d in m.group(2)) + " "
        ),
        t,
    )
    t = _NUMBER.sub(lambda m: " " + _spell_int(m.group(0)) + " ", t)
    t = _NON_WORD.sub(" ", t.replace("-", " "))
    words = [w.strip("'") for w in t.split()]
    return " ".join(_SPELLING.get(w, w) for w in words if w)


@dataclass(frozen=True, slots=True)
class WordErrors:
    """Word-level edit counts between a reference and a hypothesis.

    Attributes:
        substitutions: Reference words replaced by other words.
        deletions: Reference words missing from the hypothesis.
        insertions: Extra words in the hypothesis.
        reference_words: Number of words in the (normalised) reference.
    """

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def edits(self) -> int:
        """Total edits (the word-level Levenshtein distance)."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Edits per reference word (may exceed 1 with many insertions)."""
        if self.reference_words == 0:
            return 0.0 if self.edits == 0 else 1.0
        return self.edits / self.reference_words


def word_errors(reference: str, hypothesis: str, *, normalise: bool = True) -> WordErrors:
    """Count word substitutions, deletions and insertions (minimum edit distance).

    Ties between equally short alignments prefer substitutions, then deletions.

    Args:
        reference: The correct transcript.
        hypothesis: The recognised transcript.
        normalise: Apply `normalise_text` to both first.

    Returns:
        The counts.
    """
    ref = (normalise_text(reference) if normalise else reference).split()
    hyp = (normalise_text(hypothesis) if normalise else hypothesis).split()
    # cost[j] = (edits, subs, dels, ins) aligning ref[:i] with hyp[:j]
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            if ref[i - 1] == hyp[j - 1]:
                cur.append(prev[j - 1])
                continue
            s, d, n = prev[j - 1], prev[j], cur[j - 1]
            cur.append(
                min(
                    (s[0] + 1, s[1] + 1, s[2], s[3]),
                    (d[0] + 1, d[1], d[2] + 1, d[3]),
                    (n[0] + 1, n[1], n[2], n[3] + 1),
                    key=lambda c: c[0],
                )
            )
        prev = cur
    _, subs, dels, ins = prev[-1]
    return WordErrors(substitutions=subs, deletions=dels, insertions=ins, reference_words=len(ref))


def read_wav(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    """Read a WAV file as float32 samples in [-1, 1].

    Supports PCM (8/16/24/32-bit), IEEE float (32/64-bit) and WAVE_FORMAT_EXTENSIBLE, any
    sample rate and channel count; tolerates streaming headers with placeholder sizes.

    Args:
        path: The file.

    Returns:
        ``(samples, sample_rate)``; samples are ``(n,)`` for mono, ``(n, channels)`` otherwise.

    Raises:
        ValueError: If the file is not a WAV file this function supports.
    """
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise ValueError("truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAVE_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first 2 bytes of the GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            return _decode(body, *fmt), fmt[2]
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def _decode(raw: bytes, tag: int, channels: int, rate: int, bits: int) -> npt.NDArray[np.float32]:
    if channels < 1 or rate < 1:
        raise ValueError(f"invalid format: {channels} channels at {rate} Hz")
    width = bits // 8
    raw = raw[: len(raw) - len(raw) % (width * channels)]
    samples: npt.NDArray[np.float32]
    if tag == _WAVE_FLOAT and bits in (32, 64):
        dtype = np.float32 if bits == 32 else np.float64
        samples = np.frombuffer(raw, dtype=f"<{np.dtype(dtype).char}").astype(np.float32)
    elif tag == _WAVE_PCM and bits == 8:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _WAVE_PCM and bits in (16, 32):
        ints = np.frombuffer(raw, dtype=f"<i{width}")
        samples = (ints.astype(np.float64) / float(2 ** (bits - 1))).astype(np.float32)
    elif tag == _WAVE_PCM and bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = (ints / float(1 << 23)).astype(np.float32)
    else:
        raise ValueError(f"unsupported WAV encoding (format {tag}, {bits}-bit)")
    samples = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    return samples.reshape(-1, channels) if channels > 1 else samples


FEED_SPEED = 4.0
"""How much faster than real time `transcribe_live` feeds a clip."""


def transcribe_live(
    samples_16k: npt.NDArray[np.float32],
    *,
    model: WhisperModel,
    model_dir: Path,
    language: str = "en",
    beam_size: int = 1,
) -> tuple[str, float]:
    """Transcribe a clip the way a live answer is transcribed: VAD-cut pieces, one at a time.

    Args:
        samples_16k: Mono float32 audio at 16 kHz.
        model: The loaded Whisper model.
        model_dir: Its directory (a label for the plugin).
        language: Recognition language.
        beam_size: Whisper beam size.

    Returns:
        The pieces' transcripts joined with spaces, and the seconds the recogniser spent on
        them (the clip is fed faster than real time, so wall time is not its cost).
    """
    return asyncio.run(
        _transcribe_live(
            samples_16k, model=model, model_dir=model_dir, language=language, beam_size=beam_size
        )
    )


async def _transcribe_live(
    samples_16k: npt.NDArray[np.float32],
    *,
    model: WhisperModel,
    model_dir: Path,
    language: str,
    beam_size: int,
) -> tuple[str, float]:
    from livekit import rtc
    from livekit.agents import inference, stt

    from agent.voice.stt_incremental import IncrementalSTT
    from agent.voice.stt_whisper import WhisperSTT

    whisper = WhisperSTT(model_dir, language=language, beam_size=beam_size, model=model)
    busy = [0.0]
    whisper.on("metrics_collected", lambda m: busy.__setitem__(0, busy[0] + m.duration))
    inc = IncrementalSTT(stt_=whisper, vad=inference.VAD(min_silence_duration=0.3))
    stream = inc.stream(language=language)
    pcm = (np.clip(samples_16k, -1.0, 1.0) * 32767).astype(np.int16)
    tail = np.zeros(SAMPLE_RATE, dtype=np.int16)  # a second of silence closes the last piece
    pcm = np.concatenate([pcm, tail])
    step = SAMPLE_RATE // 50
    texts: list[str] = []

    async def read() -> None:
        async for ev in stream:
            if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives:
                texts.append(ev.alternatives[0].text)

    reader = asyncio.create_task(read())
    for i in range(0, len(pcm), step):
        chunk = pcm[i : i + step]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, len(chunk)))
        # Four times real time: the VAD (which decides where pieces start) keeps up with the
        # input, as it does live; faster feeding would let speech onsets fall out of preroll.
        await asyncio.sleep(step / SAMPLE_RATE / FEED_SPEED)
    # The VAD lags its input a little: done once nothing is pending for a while.
    idle_since = time.perf_counter()
    deadline = idle_since + 120
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
        if inc.transcribing:
            idle_since = time.perf_counter()
        elif time.perf_counter() - idle_since > 0.5:
            break
    stream.end_input()
    await asyncio.wait_for(reader, timeout=60)
    return " ".join(t.strip() for t in texts if t.strip()), busy[0]


def evaluate_stt(
    folder: Path,
    *,
    model_dir: Path,
    model: WhisperModel | None = None,
    language: str = "en",
    beam_size: int = 1,
    cpu_threads: int = 2,
    live: bool = True,
) -> dict[str, Any]:
    """Transcribe every ``name.wav`` with a ``name.txt`` reference and score the result.

    Args:
        folder: Folder with the pairs (not searched recursively).
        model_dir: The Whisper model directory (loaded unless ``model`` is given).
        model: An already loaded model to reuse.
        language: Recognition language.
        beam_size: Whisper beam size (1 is what the live pipeline uses by default).
        cpu_threads: CTranslate2 threads when loading the model.
        live: Stream each clip through the live pipeline's incremental recogniser (default);
            False transcribes each clip in one piece.

    Returns:
        ``{"wer", "rtf", "n", "per_file", "skipped", "edits", "reference_words", "audio_s",
        "processing_s"}``: ``wer`` is total edits / total reference words, capped at 1;
        ``rtf`` is total processing time (resampling + transcription) / total audio
        duration; ``per_file`` has one dict per scored pair (name, reference, hypothesis,
        counts, wer, audio_s, processing_s, rtf); ``skipped`` lists ``{"name", "reason"}``
        for unpaired or unreadable files.

    Raises:
        ModelLoadError: If the model cannot be loaded.
    """
    wavs = {p.stem: p for p in folder.glob("*.wav") if p.is_file()}
    txts = {p.stem: p for p in folder.glob("*.txt") if p.is_file()}
    skipped: list[dict[str, str]] = [
        {"name": wavs[n].name, "reason": "no matching .txt reference"}
        for n in sorted(wavs.keys() - txts.keys())
    ]
    skipped += [
        {"name": txts[n].name, "reason": "no matching .wav audio"}
        for n in sorted(txts.keys() - wavs.keys())
    ]
    paired = sorted(wavs.keys() & txts.keys())
    whisper = model
    if whisper is None and paired:
        whisper = load_whisper_model(model_dir, cpu_threads=cpu_threads)

    per_file: list[dict[str, Any]] = []
    total_edits = total_ref = 0
    total_audio = total_proc = 0.0
    for name in paired:
        try:
            samples, rate = read_wav(wavs[name])
            reference = txts[name].read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            skipped.append({"name": wavs[name].name, "reason": f"unreadable: {exc}"})
            continue
        audio_s = samples.shape[0] / rate
        started = time.perf_counter()
        mono = to_mono_16k(samples, rate)
        if live:
            hypothesis, busy_s = transcribe_live(
                mono, model=whisper, model_dir=model_dir, language=language, beam_size=beam_size
            )
            # resampling + recognition; the paced feeding is not processing cost
            proc_s = (time.perf_counter() - started) if busy_s <= 0 else busy_s
        else:
            hypothesis = transcribe_pcm(whisper, mono, language=language, beam_size=beam_size).text
            proc_s = time.perf_counter() - started
        errors = word_errors(reference, hypothesis)
        total_edits += errors.edits
        total_ref += errors.reference_words
        total_audio += audio_s
        total_proc += proc_s
        per_file.append(
            {
                "name": name,
                "reference": reference,
                "hypothesis": hypothesis,
                "substitutions": errors.substitutions,
                "deletions": errors.deletions,
                "insertions": errors.insertions,
                "reference_words": errors.reference_words,
                "wer": errors.wer,
                "audio_s": audio_s,
                "processing_s": proc_s,
                "rtf": proc_s / audio_s if audio_s > 0 else 0.0,
            }
        )
    if total_ref:
        wer = min(total_edits / total_ref, 1.0)
    else:
        wer = 0.0 if total_edits == 0 else 1.0
    return {
        "wer": wer,
        "rtf": total_proc / total_audio if total_audio > 0 else 0.0,
        "n": len(per_file),
        "per_file": per_file,
        "skipped": skipped,
        "edits": total_edits,
        "reference_words": total_ref,
        "audio_s": total_audio,
        "processing_s": total_proc,
        "sample_rate": SAMPLE_RATE,
        "beam_size": beam_size,
        "mode": "live" if live else "whole",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: evaluate a folder and write the result as JSON to stdout.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code (0, or 2 when nothing could be scored).
    """
    from agent.config import get_settings
    from agent.voice.providers import whisper_dir

    parser = argparse.ArgumentParser(prog="python -m agent.voice.eval_stt", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="transcribe each clip in one piece")
    args = parser.parse_args(argv)
    model_dir = args.model_dir or whisper_dir(get_settings().models.dir)
    result = evaluate_stt(
        args.folder,
        model_dir=model_dir,
        beam_size=args.beam_size,
        cpu_threads=args.threads,
        live=not args.whole,
    )
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["n"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
