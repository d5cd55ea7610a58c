from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from agent.voice.local_io import PacedAudioOutput, QueueAudioInput, pcm16_frames
from agent.voice.turns import classify_utterance, is_echo

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Could you repeat that?", "repeat"),
        ("Sorry, can you repeat the question please", "repeat"),
        ("I didn't catch that.", "repeat"),
        ("Let me think.", "hold"),
        ("Hmm, give me a moment.", "hold"),
        ("Okay, one second", "hold"),
        ("Hmm, that's a good question, let me think about it for a second.", "hold"),
        ("Hmm, let me think, uh, like, you know, so I mean...", "hold"),
        ("Let me think. I would add an index on the user id column.", "answer"),
        ("mm-hm", "backchannel"),
        ("Okay.", "backchannel"),
        ("yeah", "backchannel"),
        ("Hem.", "backchannel"),
        ("Um...", "backchannel"),
        ("M-M-M-M-M-M-M-M-M-M-M", "backchannel"),
        (
            "Let me think about how we scaled the service: we sharded the database by customer id.",
            "answer",
        ),
        ("I'd use a cache with a short TTL.", "answer"),
        ("Yes, I have led a team of five engineers for two years.", "answer"),
    ],
)
def test_classify_utterance(text: str, kind: str) -> None:
    assert classify_utterance(text) == kind


def test_echo_detection() -> None:
    said = "Tell me about a time you disagreed with a teammate about a technical decision."
    assert is_echo("a time you disagreed with a teammate", said)
    assert not is_echo("We disagreed about Kafka, so I built a prototype and measured it.", said)
    assert not is_echo("yes", said)  # too short to judge
    assert not is_echo("tell me about", "")


def test_pcm_frames_split_and_pad() -> None:
    pcm = np.arange(400, dtype=np.int16).tobytes()  # 25 ms at 16 kHz
    frames = pcm16_frames(pcm, 16000)
    assert [f.samples_per_channel for f in frames] == [160, 160, 160]
    assert np.frombuffer(frames[-1].data, dtype=np.int16)[-1] == 0


async def test_queue_input_feeds_silence_then_audio() -> None:
    mic = QueueAudioInput(sample_rate=16000)
    first = await mic.__anext__()
    assert not np.frombuffer(first.data, dtype=np.int16).any()
    mic.push_pcm((np.ones(160, dtype=np.int16) * 1000).tobytes())
    frame = await mic.__anext__()
    assert np.frombuffer(frame.data, dtype=np.int16).max() == 1000
    with pytest.raises(ValueError):
        mic.push_pcm(b"\x00\x00", sample_rate=8000)
    mic.close()
    with pytest.raises(StopAsyncIteration):
        await mic.__anext__()


async def test_queue_input_catches_up_waits_out_jitter_and_fills_pauses_at_real_time() -> None:
    mic = QueueAudioInput(sample_rate=16000)
    loud = (np.ones(16000, dtype=np.int16) * 1000).tobytes()  # 1 s
    # A session that fell behind gets the backlog at once, not at real-time pace.
    mic.push_pcm(loud)
    t0 = time.monotonic()
    frames = [await mic.__anext__() for _ in range(100)]
    assert time.monotonic() - t0 < 0.5
    assert all(np.frombuffer(f.data, dtype=np.int16).min() == 1000 for f in frames)
    # A chunk a little late (jitter) is waited for, not replaced by a frame of silence.
    late = asyncio.get_running_loop().call_later(
        0.06, mic.push_pcm, (np.ones(320, dtype=np.int16) * 500).tobytes()
    )
    frame = await mic.__anext__()
    assert np.frombuffer(frame.data, dtype=np.int16).min() == 500
    late.cancel()
    await mic.__anext__()
    # A client that stops sending: silence at about real-time pace after a short wait.
    t0 = time.monotonic()
    quiet = [await mic.__anext__() for _ in range(30)]
    elapsed = time.monotonic() - t0
    assert not any(np.frombuffer(f.data, dtype=np.int16).any() for f in quiet)
    assert 0.3 <= elapsed <= 0.9, elapsed
    mic.close()


async def test_paced_output_reports_playout_and_barge_in() -> None:
    sent = []
    cleared = []

    async def sink(frame):  # type: ignore[no-untyped-def]
        sent.append(frame)

    async def on_clear() -> None:
        cleared.append(True)

    out = PacedAudioOutput(sink=sink, on_clear=on_clear)
    finished = []
    out.on("playback_finished", finished.append)
    for f in pcm16_frames(bytes(3200), 16000):  # 100 ms
        await out.capture_frame(f)
    out.flush()
    assert out.speaking
    await asyncio.sleep(0.25)
    assert not out.speaking
    assert finished and not finished[-1].interrupted
    assert finished[-1].playback_position == pytest.approx(0.1, abs=0.01)

    for f in pcm16_frames(bytes(32000), 16000):  # 1 s, then barge-in after 0.1 s
        await out.capture_frame(f)
    out.flush()
    await asyncio.sleep(0.1)
    out.clear_buffer()
    await asyncio.sleep(0.01)
    assert finished[-1].interrupted and finished[-1].playback_position < 0.5
    assert cleared
    assert len(sent) == 110


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("I have worked as a backend engineer for about.", True),
        ("We decided to use Redis and", True),
        ("So the first thing, um", True),
        ("The main reason was,", True),
        ("Hem, let me", True),
        ("I added an index and the query got ten times faster.", False),
        ("It took five years.", False),
        ("", False),
    ],
)
def test_looks_unfinished(text: str, unfinished: bool) -> None:
    from agent.voice.turns import looks_unfinished

    assert looks_unfinished(text) is unfinished
