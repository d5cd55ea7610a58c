"""Fluency core: rates, pauses, fillers, repetitions, voice measures, robustness, real speech."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perception.fluency import (
    FluencyEvent,
    FluencyReport,
    FluencySettings,
    TimedWord,
    analyse_fluency,
    warm_up,
)

pytestmark = pytest.mark.unit

SR = 16_000


# --- helpers ------------------------------------------------------------------------------------


def tone(f0: float, seconds: float, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    """A voice-like harmonic tone (5 harmonics, 1/k amplitudes) with 10 ms fades."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    y = amp * y / np.max(np.abs(y))
    fade = min(int(0.01 * sr), y.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    return y.astype(np.float32)


def silence(seconds: float, sr: int = SR) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


def bursts(
    f0s: Sequence[float], amps: Sequence[float], burst_s: float = 0.4, gap_s: float = 0.3
) -> np.ndarray:
    """Tone bursts separated by silences, with silence before and after."""
    parts = [silence(gap_s)]
    for f0, amp in zip(f0s, amps, strict=True):
        parts += [tone(f0, burst_s, amp), silence(gap_s)]
    return np.concatenate(parts)


def spaced(
    text: str, start: float = 0.0, word_s: float = 0.3, gap_s: float = 0.0
) -> list[TimedWord]:
    """Words from a text, each ``word_s`` long, separated by ``gap_s``."""
    words = []
    t = start
    for token in text.split():
        words.append(TimedWord(token, t, t + word_s))
        t += word_s + gap_s
    return words


def timed(*items: tuple[str, float, float]) -> list[TimedWord]:
    return [TimedWord(text, start, end) for text, start, end in items]


def kinds(report: FluencyReport, kind: str) -> list[FluencyEvent]:
    return [e for e in report.events if e.kind == kind]


def details(report: FluencyReport, kind: str) -> list[str]:
    return [e.detail for e in kinds(report, kind)]


def assert_finite_or_none(report: FluencyReport) -> None:
    for name, value in report.to_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), name
    for event in report.events:
        assert math.isfinite(event.start) and math.isfinite(event.end)
        assert event.end >= event.start
    assert 0.0 <= report.clipped_fraction <= 1.0
    assert report.speech_s >= 0.0 and report.pause_total_s >= 0.0


FILLER_FREE = "we moved the billing service to a queue and the latency dropped by half overall"


# --- rates and pauses from word timings ---------------------------------------------------------


def test_wpm_and_articulation_arithmetic() -> None:
    words = spaced(" ".join(["word"] * 10), word_s=0.6)  # 10 words in 6 s, no gaps
    report = analyse_fluency(None, SR, words)
    assert report.status == "ok" and report.reason is None
    assert report.wpm == pytest.approx(100.0)
    assert report.articulation_wpm == pytest.approx(100.0)
    assert report.pause_count == 0 and report.speech_s == pytest.approx(6.0)

    gap = [*words[:5], *(TimedWord(w.text, w.start + 1.0, w.end + 1.0) for w in words[5:])]
    report = analyse_fluency(None, SR, gap)
    assert report.wpm == pytest.approx(10 / 7 * 60)
    assert report.articulation_wpm == pytest.approx(100.0)
    assert report.pause_count == 1 and report.pause_total_s == pytest.approx(1.0)
    assert report.duration_s == pytest.approx(7.0)
    assert report.fillers_per_min == 0.0


def test_pause_counts_and_long_pauses() -> None:
    words = timed(
        ("we", 0.0, 0.5),
        ("moved", 0.6, 1.0),  # 0.1 s: not a pause
        ("the", 1.3, 1.5),  # 0.3 s
        ("service", 2.0, 2.6),  # 0.5 s
        ("to", 5.1, 5.3),  # 2.5 s: long
        ("a", 5.3, 5.4),
        ("queue", 5.4, 6.0),
    )
    report = analyse_fluency(None, SR, words)
    assert report.pause_count == 3 and report.long_pauses == 1
    assert report.pause_total_s == pytest.approx(3.3)
    assert [(e.kind, e.start, e.end) for e in report.events] == [
        ("pause", 1.0, 1.3),
        ("pause", 1.5, 2.0),
        ("long_pause", 2.6, 5.1),
    ]
    assert kinds(report, "long_pause")[0].detail == "2.5 s"
    strict = analyse_fluency(None, SR, words, settings=FluencySettings(pause_min_s=0.4))
    assert strict.pause_count == 2


def test_offset_is_added_to_every_event() -> None:
    words = timed(
        ("Um,", 0.0, 0.3), ("the", 0.4, 0.6), ("the", 0.6, 0.8), ("cache", 1.5, 2.0),
        ("was", 2.0, 2.2), ("slow", 2.2, 2.6),
    )  # fmt: skip
    base = analyse_fluency(None, SR, words)
    shifted = analyse_fluency(None, SR, words, offset_s=120.5)
    assert {e.kind for e in base.events} == {"filler", "repetition", "pause"}
    assert len(base.events) == len(shifted.events) == 3
    for a, b in zip(base.events, shifted.events, strict=True):
        assert (b.kind, b.detail) == (a.kind, a.detail)
        assert b.start == pytest.approx(a.start + 120.5) and b.end == pytest.approx(a.end + 120.5)


def test_unsorted_overlapping_and_negative_word_times() -> None:
    words = spaced(FILLER_FREE, start=0.0, word_s=0.35)
    shuffled = [words[i] for i in np.random.default_rng(1).permutation(len(words))]
    assert analyse_fluency(None, SR, shuffled).wpm == analyse_fluency(None, SR, words).wpm
    odd = [TimedWord("we", -1.0, 0.2), TimedWord("moved", 0.5, 0.1), *words[2:]]
    report = analyse_fluency(None, SR, odd)
    assert report.n_words == len(words) == 15 and report.status == "ok"
    assert report.wpm == pytest.approx(15 / 5.25 * 60)  # clamped to 0, swapped, then sorted
    assert_finite_or_none(report)
    nan = analyse_fluency(None, SR, [TimedWord("lost", math.nan, 1.0), *words])
    assert nan.n_words == len(words)


def test_any_word_object_with_text_start_end_is_accepted() -> None:
    @dataclass(frozen=True)
    class WhisperWord:  # like agent.voice.stt_whisper.Word
        text: str
        start: float
        end: float
        prob: float

    words = [WhisperWord(w.text, w.start, w.end, 0.9) for w in spaced("um " + FILLER_FREE)]
    report = analyse_fluency(None, SR, words)  # type: ignore[arg-type]
    assert report.filler_count == 1 and report.n_words == len(words)


@pytest.mark.parametrize(
    ("wpm_words", "band", "pace"),
    [(10, (110.0, 170.0), "slow"), (14, (110.0, 170.0), "ok"), (20, (110.0, 170.0), "fast"),
     (20, (90.0, 210.0), "ok")],
)  # fmt: skip
def test_pace_relative_to_band(wpm_words: int, band: tuple[float, float], pace: str) -> None:
    words = spaced(" ".join(["word"] * wpm_words), word_s=6.0 / wpm_words)  # wpm = 10 * n
    report = analyse_fluency(None, SR, words, settings=FluencySettings(pace_band_wpm=band))
    assert report.wpm == pytest.approx(10.0 * wpm_words)
    assert report.pace == pace


# --- fillers ------------------------------------------------------------------------------------


def test_single_word_fillers_with_punctuation_and_spellings() -> None:
    text = "Um, so umm the uh cache, uhh erm was er ah hmm mm Uhm... slow"
    report = analyse_fluency(None, SR, spaced(text))
    assert details(report, "filler") == [
        "um", "umm", "uh", "uhh", "erm", "er", "ah", "hmm", "mm", "uhm",
    ]  # fmt: skip
    assert report.filler_count == 10
    assert report.n_words == 15


def test_like_only_as_a_filler() -> None:
    assert (
        analyse_fluency(None, SR, spaced("I like Python and it looks like a good fit")).filler_count
        == 0
    )
    report = analyse_fluency(None, SR, spaced("I like, um, Python a lot really"))
    assert details(report, "filler") == ["um"]
    report = analyse_fluency(None, SR, spaced("it was, like, really slow for us"))
    assert details(report, "filler") == ["like"]
    # "like" followed by a 0.4 s pause counts, unless a verb comes before it.
    words = timed(("it", 0.0, 0.2), ("was", 0.2, 0.4), ("like", 0.4, 0.6), ("really", 1.0, 1.3),
                  ("slow", 1.3, 1.6))  # fmt: skip
    assert details(analyse_fluency(None, SR, words), "filler") == ["like"]
    words = timed(("it", 0.0, 0.2), ("looks", 0.2, 0.4), ("like", 0.4, 0.6), ("a", 1.0, 1.3),
                  ("bug", 1.3, 1.6))  # fmt: skip
    assert analyse_fluency(None, SR, words).filler_count == 0


def test_multiword_fillers_only_when_used_as_fillers() -> None:
    counted = "so you know, the cache was, I mean, it was kind of, slow"
    report = analyse_fluency(None, SR, spaced(counted))
    assert details(report, "filler") == ["you know", "i mean", "kind of"]
    literal = "do you know what I mean when a kind of cache is kind of slow"
    assert analyse_fluency(None, SR, spaced(literal)).filler_count == 0
    # At a pause in the word timings instead of a comma.
    words = timed(("you", 0.0, 0.2), ("know", 0.2, 0.4), ("the", 1.0, 1.2), ("cache", 1.2, 1.6))
    assert details(analyse_fluency(None, SR, words), "filler") == ["you know"]
    # A multi-word TimedWord is split.
    report = analyse_fluency(None, SR, [TimedWord("I mean,", 0.0, 0.5), *spaced("it works", 0.5)])
    assert details(report, "filler") == ["i mean"] and report.n_words == 4


# --- repetitions --------------------------------------------------------------------------------


def test_repetitions_and_stammers() -> None:
    text = "I I think the the problem was b-b-but th- the cache I-I mean in the in the end"
    report = analyse_fluency(None, SR, spaced(text))
    assert details(report, "repetition") == [
        "i i", "the the", "b-b-but", "th the", "i-i", "in the in the",
    ]  # fmt: skip
    assert report.repetition_count == 6
    assert all(e.penalise for e in report.events)


def test_legit_doubles_are_not_repetitions() -> None:
    text = "I think that that was very very hard and we re-read the co-op so-so t-test docs"
    assert analyse_fluency(None, SR, spaced(text)).repetition_count == 0
    report = analyse_fluency(None, SR, spaced("um um I I I went"))
    assert report.filler_count == 2 and details(report, "repetition") == ["i i i"]


def test_stutter_aware_reports_but_does_not_penalise() -> None:
    words = timed(
        ("I", 0.0, 0.2), ("went", 0.2, 0.5), ("to", 0.5, 0.7), ("b-b-build", 1.7, 2.1),
        ("the", 2.1, 2.3), ("the", 2.3, 2.5), ("service", 2.5, 3.0), ("um", 3.5, 3.8),
        ("today", 3.8, 4.2),
    )  # fmt: skip
    plain = analyse_fluency(None, SR, words)
    aware = analyse_fluency(None, SR, words, settings=FluencySettings(stutter_aware=True))
    assert plain.repetition_count == aware.repetition_count == 2
    assert plain.to_dict()["pause_count"] == aware.pause_count == 2
    assert all(e.penalise for e in plain.events) and not plain.stutter_aware
    assert aware.stutter_aware
    penalised = {(e.kind, e.start): e.penalise for e in aware.events}
    assert penalised == {
        ("pause", 0.7): False,  # the block before the stammer
        ("repetition", 1.7): False,
        ("repetition", 2.1): False,
        ("pause", 3.0): True,
        ("filler", 3.5): True,
    }


# --- not measured -------------------------------------------------------------------------------


def test_warm_up_runs() -> None:
    warm_up()  # also pays librosa's start-up once for the tests below


def test_not_measured_reasons() -> None:
    silent = analyse_fluency(silence(2.0), SR, [])
    assert (silent.status, silent.reason) == ("not_measured", "silent")
    assert silent.pitch_median_hz is None and silent.snr_db is None and silent.wpm is None
    assert analyse_fluency(np.zeros(0, np.int16), SR, []).reason == "silent"
    assert analyse_fluency(None, SR, []).reason == "no words"
    assert analyse_fluency(tone(150, 1.0), SR, []).reason == "no words"

    few = analyse_fluency(None, SR, timed(("Um,", 0, 0.3), ("yes", 1.0, 1.4), ("yes", 1.4, 1.8)))
    assert (few.status, few.reason) == ("not_measured", "too little speech")
    assert few.n_words == 3 and few.filler_count == 1 and few.repetition_count == 0
    assert few.pause_count == 1
    assert few.wpm is None and few.articulation_wpm is None
    assert few.fillers_per_min is None and few.pace is None

    quick = analyse_fluency(None, SR, spaced("one two three four five six", word_s=0.3))
    assert quick.reason == "too little speech" and quick.speech_s == pytest.approx(1.8)


def test_report_is_json_ready() -> None:
    report = analyse_fluency(bursts([150] * 8, [0.3] * 8), SR, spaced("um the the " + FILLER_FREE))
    data = json.loads(json.dumps(report.to_dict()))
    assert isinstance(data["events"], list) and data["events"][0].keys() == {
        "kind", "start", "end", "detail", "penalise",
    }  # fmt: skip
    assert set(data) == set(FluencyReport.__slots__)


# --- audio measures -----------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [150.0, 220.0])
def test_pitch_median_of_a_voiced_tone(f0: float) -> None:
    audio = np.concatenate([silence(0.5), tone(f0, 2.0), silence(0.5)])
    report = analyse_fluency(audio, SR, [])
    assert report.pitch_median_hz == pytest.approx(f0, rel=0.03)
    assert report.pitch_variability_st is not None and report.pitch_variability_st < 0.5
    assert report.loudness_variation_db is not None and report.loudness_variation_db < 3.0
    assert report.snr_db is not None and report.snr_db > 40
    assert report.clipped_fraction == 0.0


def test_pitch_variability_of_alternating_pitch() -> None:
    flat = analyse_fluency(bursts([150] * 8, [0.3] * 8), SR, [])
    varied = analyse_fluency(bursts([150, 220] * 4, [0.3] * 8), SR, [])
    assert flat.pitch_variability_st is not None and varied.pitch_variability_st is not None
    # Half the frames at 150 Hz, half at 220 Hz: std = 12 * log2(220/150) / 2 = 3.3 st.
    assert varied.pitch_variability_st == pytest.approx(3.3, abs=0.5)
    assert flat.pitch_variability_st < 0.5


def test_loudness_variation_larger_for_alternating_levels() -> None:
    steady = analyse_fluency(bursts([150] * 8, [0.3] * 8), SR, [])
    alternating = analyse_fluency(bursts([150] * 8, [0.3, 0.03] * 4), SR, [])
    assert steady.loudness_variation_db is not None
    assert alternating.loudness_variation_db is not None
    assert alternating.loudness_variation_db > steady.loudness_variation_db + 6.0


def test_dtypes_layouts_and_rates_agree() -> None:
    audio = np.concatenate([silence(0.3), tone(150, 1.5), silence(0.3)])
    ref = analyse_fluency(audio, SR, [])
    assert ref.pitch_median_hz is not None
    pcm = np.round(audio * 32767).astype(np.int16)
    stereo = np.stack([audio, audio], axis=1).astype(np.float64)
    t = np.arange(int(2.1 * 44_100)) / 44_100
    hi_rate = np.where((t > 0.3) & (t < 1.8), 0.3 * np.sin(2 * np.pi * 150 * t), 0.0)
    for variant, rate in [(pcm, SR), (stereo, SR), (stereo.T, SR), (hi_rate, 44_100)]:
        report = analyse_fluency(variant, rate, [])
        assert report.pitch_median_hz == pytest.approx(150.0, rel=0.03)
        assert report.duration_s == pytest.approx(audio.size / SR, abs=0.01)


def test_clipping_is_measured() -> None:
    loud = np.clip(tone(150, 2.0, amp=3.0), -1.0, 1.0)
    report = analyse_fluency(loud, SR, [])
    assert report.clipped_fraction > 0.2
    pcm = np.full(1000, 32767, np.int16)
    pcm[:500] = 0
    assert analyse_fluency(pcm, SR, []).clipped_fraction == pytest.approx(0.5)
    assert analyse_fluency(tone(150, 1.0), SR, []).clipped_fraction == 0.0


def test_snr_estimate_and_noise_is_not_voiced() -> None:
    rng = np.random.default_rng(7)
    clean = bursts([150] * 8, [0.3] * 8)
    noise = rng.normal(0.0, 1.0, clean.size).astype(np.float32)
    signal_power = float(np.mean(tone(150, 1.0) ** 2))
    noise *= math.sqrt(signal_power / 10 ** (20 / 10))  # 20 dB below the tone
    report = analyse_fluency(clean + noise, SR, [])
    assert report.snr_db == pytest.approx(20.0, abs=3.0)
    assert report.pitch_median_hz == pytest.approx(150.0, rel=0.03)
    only_noise = analyse_fluency(noise * 10, SR, [])
    assert only_noise.pitch_median_hz is None and only_noise.loudness_variation_db is None


def test_nan_inf_and_short_audio_do_not_crash() -> None:
    audio = bursts([150] * 4, [0.3] * 4)
    audio[::7] = np.nan
    audio[3::11] = np.inf
    report = analyse_fluency(audio, SR, spaced(FILLER_FREE))
    assert_finite_or_none(report)
    assert report.pitch_median_hz is not None
    short = analyse_fluency(tone(150, 0.1), SR, spaced("yes"))
    assert short.pitch_median_hz is None and short.snr_db is None
    assert short.duration_s == pytest.approx(0.1)
    assert short.reason == "too little speech"


def test_audio_finds_a_pause_hidden_in_a_stretched_word() -> None:
    # Speech 0.3-1.3 s, silence 1.3-2.8 s, speech 2.8-4.8 s; Whisper-like timings stretch
    # "then" over the silence, so only the audio shows the pause.
    audio = np.concatenate(
        [silence(0.3), tone(150, 1.0), silence(1.5), tone(150, 2.0), silence(0.2)]
    )
    words = timed(
        ("we", 0.3, 0.6), ("fixed", 0.6, 1.0), ("it", 1.0, 1.3), ("then", 1.3, 3.1),
        ("we", 3.1, 3.4), ("shipped", 3.4, 3.9), ("the", 3.9, 4.1), ("release", 4.1, 4.8),
    )  # fmt: skip
    assert analyse_fluency(None, SR, words).pause_count == 0
    report = analyse_fluency(audio, SR, words, offset_s=10.0)
    assert report.pause_count == 1
    (pause,) = kinds(report, "pause")
    assert pause.start == pytest.approx(11.3, abs=0.1) and pause.end == pytest.approx(12.8, abs=0.1)
    assert report.speech_s == pytest.approx(4.5 - 1.5, abs=0.15)


def test_noisy_pieces_joined_with_digital_silence() -> None:
    # Like the live pipeline: two recorded pieces (speech with microphone noise 30 dB down)
    # joined by exact zeros. The pauses inside the pieces are noise, not silence.
    rng = np.random.default_rng(3)
    voice = tone(150, 1.0)
    noise_rms = math.sqrt(float(np.mean(voice**2))) / 10 ** (30 / 20)

    def noisy(x: np.ndarray) -> np.ndarray:
        return (x + rng.normal(0.0, noise_rms, x.size)).astype(np.float32)

    piece = noisy(np.concatenate([silence(0.3), voice, silence(0.6), voice, silence(0.3)]))
    audio = np.concatenate([piece, silence(1.0), piece])  # tones at 0.3, 1.9, 4.5 and 6.1 s
    words = timed(
        ("we", 0.3, 0.8), ("fixed", 0.8, 1.9),  # stretched over the noisy pause
        ("the", 1.9, 2.4), ("queue", 2.4, 2.9),
        ("and", 4.5, 5.0), ("then", 5.0, 6.1),  # stretched again
        ("shipped", 6.1, 6.6), ("it", 6.6, 7.1),
    )  # fmt: skip
    report = analyse_fluency(audio, SR, words)
    assert report.snr_db == pytest.approx(30.0, abs=4.0)
    spans = [(e.start, e.end) for e in report.events if e.kind in ("pause", "long_pause")]
    assert len(spans) == 3, spans
    for (start, end), (want_start, want_end) in zip(
        spans, [(1.3, 1.9), (2.9, 4.5), (5.5, 6.1)], strict=True
    ):
        assert start == pytest.approx(want_start, abs=0.1)
        assert end == pytest.approx(want_end, abs=0.1)


def test_audio_overrules_a_word_gap_over_speech() -> None:
    audio = np.concatenate([silence(0.2), tone(150, 4.0), silence(0.2)])
    words = timed(("we", 0.2, 0.6), ("fixed", 0.6, 1.0), ("it", 2.0, 2.4), ("and", 2.4, 3.0),
                  ("shipped", 3.0, 3.6), ("it", 3.6, 4.2))  # fmt: skip
    assert analyse_fluency(None, SR, words).pause_count == 1
    assert analyse_fluency(audio, SR, words).pause_count == 0
    # Silent audio cannot confirm anything: the word timings stand.
    assert analyse_fluency(silence(4.4), SR, words).pause_count == 1


# --- invalid input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "rate", "words"),
    [
        (np.zeros((10, 10, 2)), SR, []),
        (np.zeros((10, 20)), SR, []),
        (np.zeros(10), 0, []),
        (np.zeros(10), -16_000, []),
        (np.zeros(10), 16_000.0, []),
        (np.zeros(10), True, []),
        (None, 100, []),
        (np.zeros(10, dtype=complex), SR, []),
        (np.zeros(10, dtype=bool), SR, []),
        (np.array(["a", "b"]), SR, []),
        ([0.0, 0.1], SR, []),
        (None, SR, "um so"),
        (None, SR, [("um", 0.0, 0.2)]),
        (None, SR, [TimedWord(None, 0.0, 0.2)]),  # type: ignore[arg-type]
        (None, SR, [TimedWord("um", "0", 0.2)]),  # type: ignore[arg-type]
    ],
)
def test_invalid_input_raises_value_error(audio: object, rate: object, words: object) -> None:
    with pytest.raises(ValueError):
        analyse_fluency(audio, rate, words)  # type: ignore[arg-type]


def test_invalid_settings_and_offset() -> None:
    for kwargs in [{"pause_min_s": 0.0}, {"pause_min_s": math.nan}, {"long_pause_s": 0.1},
                   {"pace_band_wpm": (170.0, 110.0)}, {"pace_band_wpm": (0.0, 1.0)}]:  # fmt: skip
        with pytest.raises(ValueError):
            FluencySettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        analyse_fluency(None, SR, [], offset_s=math.inf)


# --- properties ---------------------------------------------------------------------------------

_word = st.builds(
    TimedWord,
    text=st.one_of(
        st.sampled_from(["um", "Um,", "like,", "like", "I", "I-I", "the", "b-b-but", "th-", ",",
                         "...", "you", "know,", "mean", "kind", "of", "", "  ", "so-so"]),
        st.text(max_size=12),
    ),
    start=st.floats(allow_nan=True, allow_infinity=True, width=32),
    end=st.floats(min_value=-5, max_value=60, allow_nan=False, width=32),
)  # fmt: skip


@st.composite
def _noisy_audio(draw: st.DrawFn) -> np.ndarray | None:
    """Random audio: a random-length mix of tone, noise, silence, NaN/inf and full-scale values."""
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    dtype = draw(st.sampled_from([np.int16, np.float32, np.float64]))
    n = draw(st.sampled_from([0, 1, 7, 511, 2048, 4_800, 16_000, 40_000]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, draw(st.sampled_from([0.0, 1e-4, 0.05, 0.5, 3.0])), n)
    x += 0.3 * np.sin(2 * np.pi * draw(st.floats(40, 600)) * np.arange(n) / SR)
    if np.issubdtype(dtype, np.integer):
        audio = np.clip(x * 32767, -32768, 32767).astype(dtype)
    else:
        audio = x.astype(dtype)
        specials = draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e30]), max_size=5))
        for k, value in enumerate(specials):
            if n:
                audio[(k * 997) % n] = value
    if draw(st.booleans()) and n:
        audio = np.stack([audio, audio[::-1]], axis=1)
    return audio


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    audio=_noisy_audio(),
    rate=st.sampled_from([8_000, 16_000, 22_050, 44_100, 48_000]),
    words=st.lists(_word, max_size=30),
    offset=st.floats(-1e4, 1e4),
    stutter=st.booleans(),
)
def test_property_never_crashes_and_outputs_are_finite(
    audio: np.ndarray | None,
    rate: int,
    words: list[TimedWord],
    offset: float,
    stutter: bool,
) -> None:
    report = analyse_fluency(
        audio, rate, words, offset_s=offset, settings=FluencySettings(stutter_aware=stutter)
    )
    assert_finite_or_none(report)
    assert report.status in ("ok", "not_measured")
    assert (report.reason is None) == (report.status == "ok")
    if report.status == "ok":
        assert report.wpm is not None and report.wpm > 0 and report.pace is not None
    assert report.pause_count == len(kinds(report, "pause")) + len(kinds(report, "long_pause"))
    assert report.filler_count == len(kinds(report, "filler"))
    assert report.repetition_count == len(kinds(report, "repetition"))
    pauses = [e for e in report.events if e.kind in ("pause", "long_pause")]
    assert sum(e.end - e.start for e in pauses) == pytest.approx(report.pause_total_s)
    assert all(a.end <= b.start for a, b in zip(pauses, pauses[1:], strict=False))
    if report.n_words and report.status != "ok":
        assert report.reason == "too little speech"
    json.dumps(report.to_dict())


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from([(3, 3, 3), (0, 0), (0, 20), (20, 20), ()]),
    rate=st.one_of(st.integers(-10, 3_999), st.integers(384_001, 10**7)),
)
def test_property_invalid_arrays_and_rates_raise_value_error(
    shape: tuple[int, ...], rate: int
) -> None:
    with pytest.raises(ValueError):
        analyse_fluency(np.zeros(shape, np.float32), rate, [])
    with pytest.raises(ValueError):
        analyse_fluency(np.zeros(shape, np.float32), SR, [])


# --- real speech: Piper voice, Whisper timings --------------------------------------------------


async def test_real_speech_with_fillers_and_an_inserted_pause() -> None:
    from agent.config import Settings
    from agent.voice.stt_whisper import load_whisper_model, to_mono_16k, transcribe_pcm
    from agent.voice.tts_piper import PiperTTS

    models = Settings(_env_file=None).models.dir  # type: ignore[call-arg]
    if not list((models / "piper-joe").glob("*.onnx")) or not (models / "whisper-base").is_dir():
        pytest.fail("the Piper voice or the Whisper model is not provisioned: run 'make setup'")
    voice = PiperTTS.from_dir(models / "piper-joe", deterministic=True)
    frame = await voice.synthesize("Um, so, uh, I think the main challenge was scaling.").collect()
    speech = to_mono_16k(np.frombuffer(frame.data, dtype=np.int16), frame.sample_rate)

    # Insert 1.5 s of silence at the quietest 30 ms in the second half, where speech runs on.
    energy = np.convolve(speech**2, np.ones(480) / 480, mode="valid")
    lo, hi = int(0.5 * speech.size), int(0.75 * speech.size)
    cut = lo + int(np.argmin(energy[lo:hi])) + 240
    audio = np.concatenate([speech[:cut], silence(1.5), speech[cut:]])
    cut_s = cut / SR

    model = load_whisper_model(models / "whisper-base")
    transcript = transcribe_pcm(model, audio)
    words = [TimedWord(w.text, w.start, w.end) for w in transcript.words]
    assert len(words) >= 8

    report = analyse_fluency(audio, SR, words, offset_s=100.0)
    assert report.filler_count >= 1
    assert set(details(report, "filler")) <= {"um", "umm", "uh", "uhh", "uhm"}
    pauses = [e for e in report.events if e.kind in ("pause", "long_pause")]
    near = [e for e in pauses if abs(e.start - 100.0 - cut_s) <= 0.3]
    assert near, (cut_s, [(e.start, e.end) for e in pauses])
    assert near[0].end - 100.0 == pytest.approx(cut_s + 1.5, abs=0.3)
    assert report.pitch_median_hz is not None and 70.0 < report.pitch_median_hz < 250.0
    assert report.n_words == len(words)
    assert_finite_or_none(report)
