"""Privacy by default: no raw media on disk, recording only by opt-in, no transcripts in logs.

The main check runs two whole (one-question) spoken interviews at once through `interviewer serve` (real VAD,
turn detection, Whisper, Piper and vision; the candidates' speech is synthesised by Piper and
streamed in real time over the local WebSocket as the page does). Candidate A switches camera
analysis on (JPEG frames of a real face over the video WebSocket) and leaves recording off;
candidate B switches recording on. The server logs at DEBUG with stdout and stderr captured.
Afterwards:

- the data directory and the server's temp dir and working directory hold no raw media, by
  magic bytes or by shape (large or PCM-like data, SQLite cells included), except B's
  recording, which the same scan must find;
- the logs hold normal DEBUG lines but none of the answers, questions or face data;
- B's recording is a valid WAV that holds B's speech, whole.

Faster checks: the typed interview and the coach chat with every logger at DEBUG (our
messages hold no answer text, and what the log handler would print holds none either), the
log filter itself, the recorder (parts, crash-safe header), the API switch and the scanner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.config import Settings

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
FACE = TESTS / "data" / "faces" / "neutral" / "london_019_neutral_front.jpg"
RATE = 16000
CHUNK_S = 0.1

FLOW = """\
schema_version: 1
id: privacy-check
title: Privacy check
role: Backend engineer
description: One question, so a whole spoken interview fits in a test.
duration_minutes: 5
persona: neutral
budget:
  max_questions: 1
  max_follow_ups_per_question: 0
  max_turns: 1
sections:
  - id: intro
    title: Introduction
    kind: intro
    pick: 1
    questions:
      - id: pc-about
        text: Tell me a bit about yourself.
        type: intro
        difficulty: 1
"""

ANSWERS_A = (
    "I maintain the billing service for a bakery chain in Lisbon, mostly in Python, and "
    "next I want to learn how to run database migrations without any downtime.",
)
ANSWERS_B = (
    "I build the booking system for a sailing club in Gdansk, on Postgres and Django, and "
    "I would like to learn how to profile memory leaks in long running workers.",
)
PLANTED = ("bakery", "lisbon", "downtime", "sailing", "gdansk", "django", "leaks")
"""Rare words of the candidates' answers: none may reach a log."""


# ------------------------------------------------------------------------ raw media scanner

_MAGIC_AT_START = {
    b"RIFF": "RIFF (WAV/AVI/WebP)",
    b"OggS": "Ogg",
    b"\x1a\x45\xdf\xa3": "WebM/Matroska",
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"fLaC": "FLAC",
    b"ID3": "MP3 (ID3)",
    b"\xff\xfb": "MP3",
    b"\xff\xf3": "MP3",
    b"\xff\xf2": "MP3",
    b"YUV4MPEG2": "Y4M video",
    b"GIF8": "GIF",
}
_MAGIC_ANYWHERE = [
    (re.compile(rb"RIFF.{4}(?:WAVE|AVI |WEBP)", re.S), "RIFF (WAV/AVI/WebP)"),
    (re.compile(rb"OggS\x00"), "Ogg"),
    (re.compile(rb"\x1a\x45\xdf\xa3"), "WebM/Matroska"),
    (re.compile(rb"\xff\xd8\xff[\xdb\xe0-\xef]"), "JPEG"),
    (re.compile(rb"\x89PNG\r\n\x1a\n"), "PNG"),
    (re.compile(rb"fLaC\x00"), "FLAC"),
    (re.compile(rb"ID3[\x02-\x04]\x00"), "MP3 (ID3)"),
    (re.compile(rb"ftyp(?:isom|iso[2-9]|mp4[12]|M4A |M4V |qt  |dash|avc1|3gp)"), "MP4"),
    (re.compile(rb"YUV4MPEG2"), "Y4M video"),
]
_TEXT_FORMATS = (b"{", b"[", b"<!doctype", b"<html")
_SQLITE = b"SQLite format 3\x00"
_SQLITE_WAL = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
LARGE = 256 * 1024
"""Anything this large that is not a database, JSON or HTML is suspicious on its own."""
PCM_MIN = 32 * 1024


def media_signatures(data: bytes) -> list[str]:
    """Known audio/image/video formats in ``data`` (at its start, or embedded anywhere)."""
    found = {name for magic, name in _MAGIC_AT_START.items() if data.startswith(magic)}
    if data[4:8] == b"ftyp":
        found.add("MP4")
    found.update(name for pattern, name in _MAGIC_ANYWHERE if pattern.search(data))
    return sorted(found)


def looks_like_pcm(data: bytes) -> bool:
    """Whether ``data`` reads like raw 16-bit audio: mostly small, slowly changing samples.

    Speech and room noise at 16 kHz stay far below full scale and change little from one
    sample to the next; text, JSON, msgpack and compressed data read as int16 are large or
    jump around.
    """
    if len(data) < PCM_MIN:
        return False
    x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64)
    if not np.any(x):
        return True  # pure digital silence
    small = float(np.mean(np.abs(x) < 8192))
    centred = x - x.mean()
    spread = float(np.mean(np.abs(centred)))
    if small < 0.8 or spread == 0:
        return False
    smooth = float(np.mean(np.abs(np.diff(x)))) / spread
    return smooth < 0.9


def _is_text_format(data: bytes) -> bool:
    head = data.lstrip()[:16].lower()
    return head.startswith(_TEXT_FORMATS)


def scan_for_media(roots: list[Path]) -> dict[str, list[str]]:
    """Every raw-media suspect under ``roots``: ``{file or file#table.column: [why, ...]}``."""
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            why = media_signatures(data)
            is_db = data.startswith(_SQLITE) or data.startswith(_SQLITE_WAL)
            if not is_db and not _is_text_format(data):
                if len(data) > LARGE:
                    why.append(f"large file ({len(data) // 1024} KB) of no known text format")
                elif looks_like_pcm(data):
                    why.append("PCM-like data")
            if why:
                found[str(path)] = why
            if data.startswith(_SQLITE):
                found.update(_scan_sqlite(path))
    return found


def _scan_sqlite(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            cols = [r[1] for r in db.execute(f'pragma table_info("{table}")')]
            for row in db.execute(f'select * from "{table}"'):
                for col, value in zip(cols, row, strict=True):
                    if isinstance(value, str):
                        value = value.encode("utf-8", "surrogatepass")
                    if not isinstance(value, bytes):
                        continue
                    why = media_signatures(value)
                    if len(value) > LARGE and not _is_text_format(value):
                        why.append(f"large cell ({len(value) // 1024} KB)")
                    elif looks_like_pcm(value):
                        why.append("PCM-like cell")
                    if why:
                        found.setdefault(f"{path}#{table}.{col}", []).extend(why)
    finally:
        db.close()
    return found


def test_the_scanner_finds_media_wherever_it_hides(tmp_path: Path) -> None:
    """The scan can fail: media files, embedded media, raw PCM, big blobs are all found."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE * 2) / RATE
    voice = 3000 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    pcm = (voice + rng.normal(0, 30, len(t))).astype("<i2").tobytes()
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    import cv2

    jpeg = cv2.imencode(".jpg", cv2.imread(str(FACE)))[1].tobytes()
    (tmp_path / "a.wav").write_bytes(wav.getvalue())
    (tmp_path / "frame.bin").write_bytes(b"\x00\x01" + jpeg)
    (tmp_path / "raw.pcm").write_bytes(pcm)
    (tmp_path / "notes.yaml").write_text("answer: I like Python\n" * 20_000)
    (tmp_path / "state.json").write_text(json.dumps({"x": "y" * 400_000}))
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute("create table blobs (k text, v blob)")
    db.execute("insert into blobs values ('pcm', ?), ('jpeg', ?)", (pcm, b"msgpack" + jpeg))
    db.execute("insert into blobs values ('text', ?)", ("a normal answer " * 100,))
    db.commit()
    db.close()
    found = scan_for_media([tmp_path])
    flagged = {
        Path(k.split("#")[0]).name + ("#" + k.split("#")[1] if "#" in k else "") for k in found
    }
    assert {"a.wav", "frame.bin", "raw.pcm", "notes.yaml"} <= flagged, found
    assert "store.db#blobs.v" in flagged and "JPEG" in found[f"{tmp_path / 'store.db'}#blobs.v"]
    assert "PCM-like cell" in found[f"{tmp_path / 'store.db'}#blobs.v"]
    assert "state.json" not in flagged  # large JSON is a known text format
    assert not looks_like_pcm(json.dumps({"turns": ["an answer " * 50] * 200}).encode())


# ------------------------------------------------------------------------ text helpers


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _ngrams(text: str, n: int = 5) -> set[str]:
    w = _words(text)
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def leaked_text(log: str, texts: list[str], *, n: int = 5) -> list[str]:
    """Runs of ``n`` words from ``texts`` (or planted rare words) that occur in ``log``."""
    flat = " ".join(_words(log))
    hits = [g for t in texts for g in _ngrams(t, n) if f" {g} " in f" {flat} "]
    hits += [w for w in PLANTED if re.search(rf"\b{w}\b", flat)]
    return sorted(set(hits))


# ------------------------------------------------------------------------ the served interviews


def _speech(text: str) -> bytes:
    """``text`` in the local Piper voice as 16 kHz mono PCM16."""
    from agent.voice.harness import to_pcm16
    from agent.voice.tts_piper import PiperTTS

    async def synth() -> bytes:
        models = Settings(_env_file=None).models.dir  # type: ignore[call-arg]
        tts = PiperTTS.from_dir(models / "piper-joe", deterministic=True)
        frames = [ev.frame async for ev in tts.synthesize(text)]
        pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
        return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)

    return asyncio.run(synth())


def _camera_frame() -> bytes:
    """A 640x480 webcam-like JPEG of a real face (what the page's canvas sends)."""
    import cv2

    face = cv2.resize(cv2.imread(str(FACE)), (320, 320), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 110, np.uint8)
    frame[80:400, 160:480] = face
    return bytes(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes())


@dataclass
class Candidate:
    """One scripted spoken candidate and what they observed."""

    answers: tuple[str, ...]
    camera: bool
    record: bool
    speech: list[bytes] = field(default_factory=list)
    sid: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    sent: bytearray = field(default_factory=bytearray)
    """Every microphone byte sent before the report was announced."""
    frames_sent: int = 0
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServedRun:
    """What the two interviews left behind."""

    data_dir: Path
    tmp_dir: Path
    cwd: Path
    stdout: str
    stderr: str
    a: Candidate
    b: Candidate


def _post(base: str, path: str, body: bytes, *, method: str = "POST") -> dict[str, Any]:
    req = urllib.request.Request(
        base + path, data=body, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return dict(json.load(r))


async def _interview(base: str, port: int, c: Candidate, frame: bytes) -> None:
    """Start, then answer every question by voice in real time, as the page would."""
    from websockets.asyncio.client import connect

    start = _post(
        base,
        "/api/interviews",
        json.dumps(
            {
                "flow": "privacy-check",
                "consent": True,
                "camera": c.camera,
                "record_audio": c.record,
            }
        ).encode(),
    )
    c.sid = start["session_id"]
    changed = asyncio.Event()
    pending = bytearray()
    done = asyncio.Event()
    url = f"ws://127.0.0.1:{port}/ws/interviews/{c.sid}"
    async with contextlib.AsyncExitStack() as stack:
        ws = await stack.enter_async_context(connect(url, max_size=None))
        vws = (
            await stack.enter_async_context(connect(url + "/video", max_size=None))
            if c.camera
            else None
        )

        async def read() -> None:
            async for msg in ws:
                if isinstance(msg, str):
                    c.events.append(json.loads(msg))
                    if c.events[-1]["type"] == "report_ready":
                        done.set()
                    changed.set()

        async def microphone() -> None:
            n = int(RATE * CHUNK_S) * 2
            due = time.monotonic()
            while True:
                chunk = bytes(pending[:n]).ljust(n, b"\x00")
                del pending[:n]
                await ws.send(chunk)
                if not done.is_set():
                    c.sent += chunk
                due += CHUNK_S
                await asyncio.sleep(max(0.0, due - time.monotonic()))

        async def camera() -> None:
            assert vws is not None
            while True:
                await vws.send(frame)
                c.frames_sent += 1
                await asyncio.sleep(0.125)

        async def wait_for(pred: Callable[[dict[str, Any]], bool], after: int) -> int:
            deadline = time.monotonic() + 150
            while True:
                for i in range(after, len(c.events)):
                    if pred(c.events[i]):
                        return i
                changed.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"interview {c.sid} stalled: {c.events[-5:]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)

        jobs = [read(), microphone(), *([camera()] if c.camera else [])]
        tasks = [asyncio.create_task(j) for j in jobs]
        try:
            i = 0
            for pcm in c.speech:
                i = await wait_for(
                    lambda e: e["type"] == "agent_state" and e["state"] == "speaking", i
                )
                i = await wait_for(
                    lambda e: e["type"] == "agent_state" and e["state"] == "listening", i
                )
                pending.extend(pcm)
            await wait_for(lambda e: e["type"] == "report_ready", i)
            await asyncio.sleep(1.0)  # a page stays connected a moment after the end
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _server_env(data_dir: Path, tmp_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("MOCKINT_") and not k.startswith("MOCKINT_TEST_"))
        and k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "DEEPGRAM_API_KEY")
        and not k.startswith("LIVEKIT_")
    }
    env.update(
        MOCKINT_DATA_DIR=str(data_dir),
        MOCKINT_MODELS__DIR=str(Settings(_env_file=None).models.dir),  # type: ignore[call-arg]
        MOCKINT_LOG_LEVEL="DEBUG",
        MOCKINT_PERCEPTION__VIDEO_FPS="4",  # the page sends 8 a second; half keeps CPU for speech
        PYTHONUNBUFFERED="1",
        TMPDIR=str(tmp_dir),
    )
    return env


@contextlib.contextmanager
def _serve(root: Path) -> Iterator[tuple[str, int, Path, Path, Path, subprocess.Popen[bytes]]]:
    """`interviewer serve` with its output captured to files (conftest's `served` drops it)."""
    data_dir, tmp_dir, cwd = root / "data", root / "tmp", root / "cwd"
    for d in (tmp_dir, cwd):
        d.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    out, err = root / "stdout.txt", root / "stderr.txt"
    with out.open("wb") as fo, err.open("wb") as fe:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "serve", "--port", str(port)],
            env=_server_env(data_dir, tmp_dir),
            cwd=cwd,
            stdout=fo,
            stderr=fe,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`interviewer serve` did not start:\n{err.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base, port, data_dir, tmp_dir, cwd, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> ServedRun:
    """Two whole spoken interviews at once (A: camera on; B: recording on), then shut down."""
    root = tmp_path_factory.mktemp("privacy")
    a = Candidate(answers=ANSWERS_A, camera=True, record=False)
    b = Candidate(answers=ANSWERS_B, camera=False, record=True)
    frame = _camera_frame()
    import agent.voice.harness
    import agent.voice.tts_piper  # noqa: F401  # livekit plugins register on the main thread

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The candidates' voices are synthesised while the server loads its models.
        speech = pool.submit(lambda: [[_speech(t) for t in c.answers] for c in (a, b)])
        with _serve(root) as (base, port, data_dir, tmp_dir, cwd, _process):
            _post(base, "/api/flows", FLOW.encode(), method="PUT")
            a.speech, b.speech = speech.result()

            async def both() -> None:
                await asyncio.gather(
                    _interview(base, port, a, frame), _interview(base, port, b, frame)
                )

            asyncio.run(both())
            for c in (a, b):
                url = f"{base}/api/interviews/{c.sid}/report"
                with urllib.request.urlopen(url, timeout=30) as r:
                    c.report = dict(json.load(r))
    return ServedRun(
        data_dir=data_dir,
        tmp_dir=tmp_dir,
        cwd=cwd,
        stdout=(root / "stdout.txt").read_text(errors="replace"),
        stderr=(root / "stderr.txt").read_text(errors="replace"),
        a=a,
        b=b,
    )


@pytest.mark.slow
def test_a_full_spoken_interview_leaves_no_raw_media_on_disk(served_run: ServedRun) -> None:
    a, b = served_run.a, served_run.b
    assert [q["answer"] for q in a.report["questions"]], "A's interview was not answered"
    assert all(q["answer"].strip() for q in a.report["questions"])
    assert any(q.get("presence") for q in a.report["questions"]), "the camera was not analysed"
    assert a.frames_sent > 100
    assert "recording" not in a.report
    found = scan_for_media([served_run.data_dir, served_run.tmp_dir, served_run.cwd])
    recordings = served_run.data_dir / "recordings"
    kept = sorted(str(p) for p in recordings.glob(f"{b.sid}*.wav"))
    # Only candidate B asked for a recording; the scan finds it, so it would find others.
    assert kept and sorted(found) == kept, found
    assert all("RIFF (WAV/AVI/WebP)" in found[k] for k in kept)
    assert not list(recordings.glob(f"{a.sid}*"))


@pytest.mark.slow
def test_logs_hold_no_answers_questions_or_face_data(served_run: ServedRun) -> None:
    err, out = served_run.stderr, served_run.stdout
    # The logs were captured at DEBUG, including the records that carry a transcript in a
    # pii extra (so a leak would have shown up here).
    assert "Open http://" in out
    assert re.search(r"^DEBUG mockint\.agent\.voice: whisper recognised an utterance$", err, re.M)
    assert re.search(r"^DEBUG mockint\.perception: fluency measured$", err, re.M)
    logs = out + "\n" + err
    said = [
        e["text"]
        for c in (served_run.a, served_run.b)
        for e in c.events
        if e["type"] == "agent_said"
    ]
    answers = [
        *ANSWERS_A,
        *ANSWERS_B,
        *(q["answer"] for c in (served_run.a, served_run.b) for q in c.report["questions"]),
    ]
    assert said and len(answers) == 4
    assert leaked_text(logs, answers) == []
    assert leaked_text(logs, said, n=6) == []  # questions and the interviewer's other lines
    # Face data: no eye-contact or expression figures, landmark or embedding vectors, frames.
    presence = [q["presence"] for q in served_run.a.report["questions"] if q.get("presence")]
    figures = {repr(v) for p in presence for v in p["expression"].values()}
    figures |= {repr(p["head_motion_deg"]) for p in presence if p.get("head_motion_deg")}
    assert not [f for f in figures if len(f) > 6 and f in logs]
    assert not re.search(r"-?\d+\.\d+(?:[,;\s]+-?\d+\.\d+){3,}", logs)  # vectors of floats
    assert not re.search(r"eye.?contact\w*['\"]?\s*[:=]\s*\d", logs, re.I)
    assert not re.search(r"(?:\b[0-9a-f]{2} ){12}", logs)  # hex dumps of audio or JPEG bytes
    assert "ff d8 ff" not in logs.lower() and "BINARY" not in logs
    # uvicorn's own records went through the same handler and filter.
    assert re.search(r"^INFO uvicorn\.error: Application startup complete", err, re.M)


@pytest.mark.slow
def test_the_opt_in_recording_holds_the_candidates_speech(served_run: ServedRun) -> None:
    b = served_run.b
    note = b.report["recording"]
    assert note["kept"] is True
    paths = [Path(f["path"]) for f in note["files"]]
    assert paths[0] == served_run.data_dir / "recordings" / f"{b.sid}.wav"
    assert all(p.exists() for p in paths)
    assert paths[0].stat().st_mode & 0o077 == 0  # readable by the candidate only
    with wave.open(str(paths[0]), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        audio = w.readframes(w.getnframes())
    # Exactly what the microphone sent from connecting until the interview finished: the
    # answer whole and unaltered, nothing after the end.
    assert 0 < len(audio) <= len(b.sent)
    assert audio == bytes(b.sent[: len(audio)])
    for pcm in b.speech:
        assert audio.find(pcm) >= 0  # (not `in`: a failure would print megabytes)
    speech_s = sum(len(p) for p in b.speech) / 2 / RATE
    assert speech_s > 5
    assert note["seconds"] == pytest.approx(len(audio) / 2 / RATE, abs=0.1)


# ------------------------------------------------------------------------ logging, in process


TYPED_ANSWERS = (
    "At the bakery in Lisbon I run the billing service and its nightly invoice jobs; next I "
    "want to learn zero downtime migrations for the orders database.",
)


def _finish_typed_interview(client: Any, **start: Any) -> str:
    """A typed interview of the one-question flow over HTTP, to its report; returns its id."""
    assert client.put("/api/flows", content=FLOW.encode()).status_code == 200
    body = {"flow": "privacy-check", "consent": True, **start}
    sid = str(client.post("/api/interviews", json=body).json()["session_id"])
    turn = client.get(f"/api/interviews/{sid}").json()["pending"]["turn"]
    for text in TYPED_ANSWERS:
        r = client.post(f"/api/interviews/{sid}/answers", json={"text": text, "turn": turn})
        assert r.status_code == 200, r.text
        turn = r.json()["turn"]
    assert r.json()["finished"] is True
    return sid


def test_typed_interview_and_coach_chat_log_no_answer_text(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.cli import LOG_FORMAT, PrivacyFilter

    caplog.set_level(logging.DEBUG)  # every logger, ours and everyone else's
    _finish_typed_interview(client)
    question = "How do I stop saying um when I describe the bakery in Lisbon?"
    chat = client.post("/api/chat", json={"message": question})
    assert chat.status_code == 200, chat.text
    texts = [*TYPED_ANSWERS, question]
    records = list(caplog.records)
    assert records
    formatter = logging.Formatter(LOG_FORMAT)
    # Our own log calls: static messages, no answer text in messages or exception text.
    ours = [r for r in records if r.name.startswith("mockint")]
    for r in ours:
        shown = r.getMessage() + (formatter.formatException(r.exc_info) if r.exc_info else "")
        assert leaked_text(shown, texts) == [], (r.name, shown)
    # Other libraries do log answers at DEBUG (SQL parameters) ...
    assert any(leaked_text(r.getMessage(), texts) for r in records), "nothing to filter?"
    # ... and what the app's log handler prints has none of it.
    keep = PrivacyFilter()
    printed = "\n".join(formatter.format(r) for r in records if keep.filter(r))
    assert printed and leaked_text(printed, texts) == []


def test_the_log_filter_drops_user_text(tmp_path: Path) -> None:
    """The handler `configure_logging` installs, in a fresh process (pytest owns ours)."""
    script = """
import logging
from agent.cli import configure_logging
configure_logging("DEBUG")
mine = logging.getLogger("mockint.agent.voice")
mine.debug("recognised an utterance", extra={"pii.transcript": "SECRET-A"})
logging.getLogger("livekit.agents").info("turn", extra={"lk.pii.user_transcript": "SECRET-B"})
logging.getLogger("aiosqlite").debug("executing %s", ("SECRET-C",))
logging.getLogger("uvicorn.error").debug("< TEXT '%s'", "SECRET-D")
mine.warning("output not used: %s", ValueError("SECRET-E"))
try:
    raise KeyError("SECRET-F") from ValueError("SECRET-G")
except KeyError:
    mine.exception("analysis failed")
try:
    open("/nonexistent/model.onnx")
except OSError:
    mine.exception("model missing")
class Dump(logging.Formatter):
    def format(self, record):
        return super().format(record) + " " + repr(vars(record))
for h in logging.getLogger().handlers:
    h.setFormatter(Dump("%(levelname)s %(name)s: %(message)s"))
mine.info("with extras", extra={"pii.answer": "SECRET-H", "n_words": 7})
"""
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert "SECRET" not in err, err
    assert "DEBUG mockint.agent.voice: recognised an utterance" in err
    assert "INFO livekit.agents: turn" in err
    assert "aiosqlite" not in err and "TEXT" not in err  # third-party DEBUG never printed
    assert "WARNING mockint.agent.voice: output not used: ValueError (message not logged)" in err
    assert "MessageWithheld: builtins.KeyError <- builtins.ValueError" in err
    assert "Traceback" in err and "No such file or directory: '/nonexistent/model.onnx'" in err
    assert "'n_words': 7" in err  # other extras stay


# ------------------------------------------------------------------------ recording, in process


async def test_recorder_parts_and_crash_safe_header(tmp_path: Path) -> None:
    from agent.voice.recording import (
        MicRecorder,
        recording_note,
        recording_paths,
        start_recording,
    )

    folder = tmp_path / "recordings"
    assert MicRecorder.resume(folder, "abc123") is None and not folder.exists()  # off
    start_recording(folder, "abc123")
    first = MicRecorder.resume(folder, "abc123")
    assert first is not None and first.path == folder / "abc123.wav"  # fills the empty file
    tone = (1000 * np.sin(np.arange(RATE) / 5)).astype("<i2").tobytes()
    for i in range(0, len(tone), 3200):
        first.write(tone[i : i + 3200])
    for _ in range(200):  # the writer thread catches up (no sleep on the event loop's side)
        if first.seconds >= 1.0:
            break
        await asyncio.sleep(0.01)
    # Not closed yet (as if the process were killed): the file already says how long it is.
    with wave.open(str(first.path), "rb") as w:
        assert w.getnframes() == RATE and w.readframes(RATE) == tone
    await first.aclose()
    first.write(tone)  # after the end: ignored
    second = MicRecorder.resume(folder, "abc123")  # a reconnection
    assert second is not None and second.path == folder / "abc123-part2.wav"
    second.write(tone[:32000])
    await second.aclose()
    empty = MicRecorder.resume(folder, "abc123")
    assert empty is not None
    await empty.aclose()  # no audio: no file
    assert recording_paths(folder, "abc123") == [folder / "abc123.wav", folder / "abc123-part2.wav"]
    assert recording_paths(folder, "abc12") == []
    note = recording_note(folder, "abc123")
    assert note is not None and note["seconds"] == 2.0
    assert [f["seconds"] for f in note["files"]] == [1.0, 1.0]
    assert recording_note(folder, "other") is None


def test_recording_switch_is_off_by_default_and_reported_when_on(
    client: Any, settings: Settings
) -> None:
    off = _finish_typed_interview(client)
    assert not settings.recordings_dir.exists()
    assert "recording" not in client.get(f"/api/interviews/{off}/report").json()
    assert "Recording kept" not in client.get(f"/interviews/{off}/report").text
    start = client.post(
        "/api/interviews", json={"flow": "backend", "consent": True, "record_audio": True}
    ).json()
    assert start["record_audio"] is True
    path = settings.recordings_dir / f"{start['session_id']}.wav"
    with wave.open(str(path), "rb") as w:  # the candidate's choice, kept for reconnections
        assert w.getnframes() == 0 and w.getframerate() == RATE
    on = _finish_typed_interview(client, record_audio=True)  # typed: nothing to record
    note = client.get(f"/api/interviews/{on}/report").json()["recording"]
    assert note["kept"] is True and note["seconds"] == 0
    assert note["files"] == [{"path": str(settings.recordings_dir / f"{on}.wav"), "seconds": 0.0}]
    html = client.get(f"/interviews/{on}/report").text
    assert "Recording kept" in html and f"{on}.wav" in html
    page = client.get("/")
    assert "Keep a recording of my answers on this computer" in page.text
    assert 'id="record-audio"' in page.text and 'id="record-audio" checked' not in page.text
    assert "record_audio" in client.get("/static/app.js").text
