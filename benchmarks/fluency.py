"""Fluency benchmark: real-time factor of `perception.fluency.analyse_fluency` on a long answer.

Builds about 60 s of answer audio: sentences with fillers spoken by the Piper voice (22.05 kHz
int16, so resampling is included), joined by pauses of 0.4-2.5 s, with word timings spread over
each sentence's sounding part in proportion to the word lengths. Without the Piper voice it falls
back to voice-like harmonic tone bursts. It times the first (cold) call, which pays librosa's
lazy imports and numba set-up (`perception.fluency.warm_up` does that at prewarm), then warm
calls, and prints the figures and the report. Ends with one `RESULT {json}` line: rtf (warm
median), cold_s, audio_s, runs.

Usage: .venv/bin/python benchmarks/fluency.py [--seconds 60] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np

from perception.fluency import TimedWord, analyse_fluency

SENTENCES = [
    "Um, so, the main challenge was scaling the billing service.",
    "We had, like, a single database, and it was, uh, falling over at peak.",
    "I mean, the first thing I did was profile the slow queries.",
    "We added an index on the customer id, and the latency dropped a lot.",
    "Then, uh, we moved the invoice jobs to a queue, you know, so the web tier stayed fast.",
    "The the hardest part was, um, convincing the team to change the schema.",
    "In the end we cut the failed checkouts in half, and on-call pages went down.",
    "If I did it again, I would, uh, add load tests much earlier.",
]
PAUSES_S = (0.4, 0.8, 1.5, 2.5, 0.6, 1.0)


def spread_words(text: str, start: float, end: float) -> list[TimedWord]:
    """Word timings over [start, end], in proportion to the word lengths."""
    tokens = text.split()
    weights = np.array([len(t) + 1 for t in tokens], dtype=float)
    edges = start + (end - start) * np.concatenate(([0.0], np.cumsum(weights) / weights.sum()))
    return [
        TimedWord(tok, float(a), float(b))
        for tok, a, b in zip(tokens, edges[:-1], edges[1:], strict=True)
    ]


def sounding(pcm: np.ndarray, rate: int) -> tuple[int, int]:
    """First and last sample of the sounding part (above 2 % of the peak, 10 ms windows)."""
    win = max(1, rate // 100)
    n = pcm.size // win
    level = np.abs(pcm[: n * win].astype(np.float64)).reshape(n, win).max(axis=1)
    loud = np.flatnonzero(level > 0.02 * level.max())
    return int(loud[0]) * win, (int(loud[-1]) + 1) * win


def assemble(
    clips: list[tuple[str, np.ndarray]], rate: int, seconds: float
) -> tuple[np.ndarray, list[TimedWord]]:
    """Join clips with pauses until ``seconds`` of audio; word timings per clip."""
    parts: list[np.ndarray] = []
    words: list[TimedWord] = []
    t = 0.0
    k = 0
    while t < seconds:
        text, pcm = clips[k % len(clips)]
        first, last = sounding(pcm, rate)
        words += spread_words(text, t + first / rate, t + last / rate)
        gap = np.zeros(int(PAUSES_S[k % len(PAUSES_S)] * rate), dtype=pcm.dtype)
        parts += [pcm, gap]
        t += (pcm.size + gap.size) / rate
        k += 1
    audio = np.concatenate(parts)[: int(seconds * rate)]
    return audio, [w for w in words if w.end <= audio.size / rate]


async def piper_clips() -> tuple[list[tuple[str, np.ndarray]], int]:
    from agent.config import Settings
    from agent.voice.tts_piper import PiperTTS

    models = Settings(_env_file=None).models.dir  # type: ignore[call-arg]
    voice = PiperTTS.from_dir(models / "piper-joe", deterministic=True)
    clips = []
    for text in SENTENCES:
        frame = await voice.synthesize(text).collect()
        clips.append((text, np.frombuffer(frame.data, dtype=np.int16).copy()))
    return clips, voice.sample_rate


def tone_clips(rate: int = 16_000) -> list[tuple[str, np.ndarray]]:
    """Voice-like stand-ins: per word a harmonic burst, gliding pitch, with short gaps."""
    rng = np.random.default_rng(0)
    clips = []
    for text in SENTENCES:
        pieces = []
        for _ in text.split():
            n = int(rate * rng.uniform(0.18, 0.35))
            f0 = rng.uniform(100, 180) * np.linspace(1.0, rng.uniform(0.9, 1.1), n)
            phase = 2 * np.pi * np.cumsum(f0) / rate
            burst = sum(np.sin(k * phase) / k for k in range(1, 6)) * rng.uniform(0.1, 0.3) / 2
            pieces += [burst, np.zeros(int(rate * rng.uniform(0.02, 0.08)))]
        clips.append((text, (np.concatenate(pieces) * 32767).astype(np.int16)))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    try:
        clips, rate = asyncio.run(piper_clips())
        source = "piper"
    except Exception as exc:  # no voice provisioned: synthetic stand-in
        print(f"Piper voice unavailable ({type(exc).__name__}); using synthetic voiced tones")
        clips, rate, source = tone_clips(), 16_000, "tones"
    audio, words = assemble(clips, rate, args.seconds)
    audio_s = audio.size / rate
    print(f"audio: {audio_s:.1f} s of {source} at {rate} Hz {audio.dtype}, {len(words)} words")

    t0 = time.perf_counter()
    report = analyse_fluency(audio, rate, words)
    cold_s = time.perf_counter() - t0
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        report = analyse_fluency(audio, rate, words)
        times.append(time.perf_counter() - t0)
    warm = statistics.median(times)
    rtf = warm / audio_s

    summary = {k: v for k, v in report.to_dict().items() if k != "events"}
    print(f"cold call (first in the process: lazy librosa/scipy imports, numba): {cold_s:.2f} s")
    print(
        f"warm: median {warm * 1000:.0f} ms, min {min(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {args.runs} runs -> rtf {rtf:.4f} (target <= 0.05)"
    )
    print("report:", json.dumps(summary, default=str))
    print("events:", {k: sum(e.kind == k for e in report.events) for k in
                      ("pause", "long_pause", "filler", "repetition")})  # fmt: skip
    result = {
        "rtf": round(rtf, 5),
        "cold_s": round(cold_s, 3),
        "audio_s": round(audio_s, 2),
        "runs": args.runs,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
