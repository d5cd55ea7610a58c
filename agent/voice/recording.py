"""Opt-in answer recordings: the candidate's microphone audio of one interview, as WAV files.

Owns writing recordings and finding them again. Nothing here runs unless the candidate switched
"Keep a recording of my answers on this computer" on at the start page; by default no audio is
written anywhere.

Files (16 kHz mono 16-bit PCM WAV, readable by the candidate only) live in
``Settings.recordings_dir``: ``<session_id>.wav`` for the first connection, then
``<session_id>-part2.wav``, ``<session_id>-part3.wav``, ... for each reconnection (a dropped
connection, a reloaded page, a server restarted after a crash). ``<session_id>*.wav`` is
therefore every recording of an interview, which is what deleting an interview's data removes.
The files are also the record that the candidate asked for recording: `start_recording`
creates the first one (still empty) when the interview is created, so a reconnection, even in
a new server process, keeps recording.

Audio is handed over from the event loop without blocking (`MicRecorder.write` only queues it)
and written by one background thread per connection. The WAV header is rewritten after every
write, so a killed process leaves a playable file holding everything received until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import threading
import wave
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger("mockint.agent.voice")

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2
MAX_PENDING_CHUNKS = 3000
"""Chunks queued for the writer at most (minutes of browser audio); beyond it audio is dropped
and counted instead of growing memory while the disk stalls."""
_WAV_HEADER_BYTES = 44


def recording_paths(directory: Path, session_id: str) -> list[Path]:
    """An interview's recordings in order (first connection first); empty when none exist.

    Args:
        directory: ``Settings.recordings_dir``.
        session_id: The interview.
    """
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(session_id)}(?:-part(\d+))?\.wav$")
    found = []
    for p in directory.iterdir():
        if (m := pattern.match(p.name)) is not None and p.is_file():
            found.append((int(m.group(1) or 1), p))
    return [p for _, p in sorted(found)]


def start_recording(directory: Path, session_id: str, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """Create an interview's first, still empty recording (the candidate switched recording on).

    Blocking file I/O: call it from a thread when on an event loop.
    """
    path = directory / f"{session_id}.wav"
    with _open_private(path) as f:
        _write_wav(f, b"", sample_rate)
    return path


def wav_seconds(path: Path) -> float:
    """Length of a recording in seconds (0.0 when it cannot be read)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, EOFError, wave.Error):
        return 0.0


def recording_note(directory: Path, session_id: str) -> dict[str, Any] | None:
    """What the report says about kept recordings, or None when nothing was recorded.

    Returns:
        ``{"kept": True, "where": folder, "files": [{"path", "seconds"}], "seconds": total}``.
    """
    paths = recording_paths(directory, session_id)
    if not paths:
        return None
    seconds = [wav_seconds(p) for p in paths]
    return {
        "kept": True,
        "where": str(directory),
        "files": [
            {"path": str(p), "seconds": round(s, 1)} for p, s in zip(paths, seconds, strict=True)
        ],
        "seconds": round(sum(seconds), 1),
    }


class MicRecorder:
    """Streams one connection's microphone PCM into a WAV file from a background thread."""

    def __init__(self, path: Path, *, sample_rate: int = SAMPLE_RATE) -> None:
        """A recorder for ``path`` (created, or replaced if it holds no audio, on first audio).

        Args:
            path: The WAV file to write.
            sample_rate: Rate of the 16-bit mono PCM that `write` receives.
        """
        self.path = path
        self.sample_rate = sample_rate
        self.dropped_chunks = 0
        """Chunks not written because the writer fell far behind."""
        self.failed = False
        """True when the file could not be written (the interview carries on unrecorded)."""
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=MAX_PENDING_CHUNKS)
        self._stopped = False
        self._written = 0
        self._thread: threading.Thread | None = None
        """Started by the first audio: a connection that sends none leaves no file."""

    @classmethod
    def resume(
        cls, directory: Path, session_id: str, *, sample_rate: int = SAMPLE_RATE
    ) -> MicRecorder | None:
        """A recorder for a new connection of an interview being recorded, else None.

        The first connection fills the empty file `start_recording` made; each later one gets
        the next numbered part, so earlier audio is never rewritten. Blocking file I/O: call
        it from a thread when on an event loop.
        """
        paths = recording_paths(directory, session_id)
        if not paths:
            return None  # recording is off for this interview
        last = paths[-1]
        if last.stat().st_size > _WAV_HEADER_BYTES:
            last = directory / f"{session_id}-part{len(paths) + 1}.wav"
        return cls(last, sample_rate=sample_rate)

    @property
    def seconds(self) -> float:
        """Audio written so far."""
        return self._written / SAMPLE_WIDTH / self.sample_rate

    def write(self, pcm: bytes) -> None:
        """Queue microphone PCM for the file; never blocks (call it from the event loop)."""
        if self._stopped or not pcm:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"recording-{self.path.stem}", daemon=True
            )
            self._thread.start()
        try:
            self._queue.put_nowait(pcm)
        except queue.Full:
            self.dropped_chunks += 1

    def stop(self) -> None:
        """Take no more audio (the interview finished); the file is completed in the background."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._put_end()

    async def aclose(self) -> None:
        """Stop and wait until the file is complete and closed."""
        self.stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def _put_end(self) -> None:
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()  # the end marker must get in: drop the oldest
                    self.dropped_chunks += 1

    def _run(self) -> None:
        try:
            with _open_private(self.path) as f, wave.open(f, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(SAMPLE_WIDTH)
                w.setframerate(self.sample_rate)
                w.writeframes(b"")  # the header now: a valid (empty) file from the start
                done = False
                while not done:
                    parts = [self._queue.get()]
                    with contextlib.suppress(queue.Empty):
                        while len(parts) < 50:
                            parts.append(self._queue.get_nowait())
                    done = parts[-1] is None  # the end marker is always queued last
                    data = b"".join(p for p in parts if p is not None)
                    data = data[: len(data) // SAMPLE_WIDTH * SAMPLE_WIDTH]
                    if data:
                        # writeframes rewrites the header's sizes each time: a crash loses
                        # nothing already written.
                        w.writeframes(data)
                        f.flush()
                        self._written += len(data)
        except OSError:
            self.failed = True
            self._stopped = True
            logger.exception("the answer recording could not be written; continuing unrecorded")
        if self.dropped_chunks:
            logger.warning(
                "the answer recording fell behind; some audio was not recorded",
                extra={"dropped_chunks": self.dropped_chunks},
            )


def _open_private(path: Path) -> BinaryIO:
    """Open ``path`` for writing, readable by this user only (its folder too)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


def _write_wav(f: BinaryIO, pcm: bytes, sample_rate: int) -> None:
    with wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
