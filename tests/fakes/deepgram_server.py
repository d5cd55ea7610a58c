"""A local stand-in for Deepgram's live STT and Aura TTS APIs, driven by the real livekit plugin.

The plugin takes a base URL, so tests point it here. Speech recognition speaks the streaming
protocol (``/v1/listen`` WebSocket: linear16 audio in; ``Results`` JSON out; ``KeepAlive``,
``Finalize`` and ``CloseStream`` honoured). It cannot recognise words, so it finds speech by
energy and, when an utterance ends (0.8 s of quiet, Finalize or CloseStream), answers with the
next line of ``script`` (or ``default_line``) spread over the speech as word timings, with an interim result per
second of speech (``interim_every_s``). ``stt_mode`` injects faults: ``drop`` (close the socket after
``fault_after_s`` of speech) and ``stall`` (go silent after ``fault_after_s`` of speech);
``stt_delay_s`` delays every result by that much, like a slow but healthy service.

Speech synthesis accepts the WebSocket (``Speak``/``Flush``/``Close``) and HTTP shapes and
returns a quiet tone whose length follows the text; ``tts_mode`` ``"500"`` refuses and
``"stall"`` never answers. Every connection, its query and headers, and every spoken text are
recorded.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from tests.fakes.serve import BackgroundServer

SPEECH_RMS = 0.01
END_SILENCE_S = 0.8
TTS_RATE = 24000


def tone(text: str, rate: int = TTS_RATE) -> bytes:
    """A quiet 220 Hz tone, 60 ms per character (at most 8 s): the fake's "speech"."""
    seconds = min(8.0, max(0.2, 0.06 * len(text)))
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 220 * t) * 3000).astype(np.int16).tobytes()


class _Listener:
    """One recognition connection's state: where speech is, what was said."""

    def __init__(self, server: FakeDeepgram, rate: int, channels: int) -> None:
        self.server = server
        self.rate = rate
        self.channels = channels
        self.pos = 0.0  # seconds of audio received
        self.speech_start: float | None = None
        self.last_voice = 0.0
        self.speech_s = 0.0
        self.next_interim = server.interim_every_s
        self.faulted = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16).astype(np.float32)
        if self.channels > 1:
            pcm = pcm[: len(pcm) // self.channels * self.channels].reshape(-1, self.channels)
            pcm = pcm.mean(axis=1)
        dur = len(pcm) / self.rate
        rms = float(np.sqrt(np.mean((pcm / 32768.0) ** 2))) if len(pcm) else 0.0
        out: list[dict[str, Any]] = []
        if rms >= SPEECH_RMS:
            if self.speech_start is None:
                self.speech_start = self.pos
                self.speech_s = 0.0
                self.next_interim = self.server.interim_every_s
            self.last_voice = self.pos + dur
            self.speech_s += dur
            if self.speech_s >= self.next_interim:
                self.next_interim += self.server.interim_every_s
                out.append(self.result(final=False))
        self.pos += dur
        if self.speech_start is not None and self.pos - self.last_voice >= END_SILENCE_S:
            out.append(self.result(final=True))
        return out

    def finish(self) -> list[dict[str, Any]]:
        return [self.result(final=True)] if self.speech_start is not None else []

    def result(self, *, final: bool) -> dict[str, Any]:
        start = self.speech_start if self.speech_start is not None else self.pos
        end = self.last_voice if final else self.pos
        script = self.server.script
        fallback = self.server.default_line
        line = (
            (script[0] if script else fallback)
            if not final
            else (script.popleft() if script else fallback)
        )
        words = line.split()
        if not final:
            words = words[: max(1, int(len(words) * min(1.0, self.speech_s / 4)))]
        step = (end - start) / max(1, len(words))
        if final:
            self.speech_start = None
            self.server.finals.append(line)
        return {
            "type": "Results",
            "is_final": final,
            "speech_final": final,
            "start": start,
            "duration": end - start,
            "metadata": {"request_id": "fake-request"},
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(words),
                        "confidence": 0.99,
                        "words": [
                            {
                                "word": w.lower().strip(".,?!"),
                                "punctuated_word": w,
                                "start": round(start + i * step, 3),
                                "end": round(start + (i + 1) * step, 3),
                                "confidence": 0.99,
                            }
                            for i, w in enumerate(words)
                        ],
                    }
                ]
            },
        }


class FakeDeepgram(BackgroundServer):
    """The fake server in a background thread; set the modes and ``script`` between uses."""

    def __init__(self) -> None:
        self.stt_mode = "normal"
        self.tts_mode = "normal"
        self.fault_after_s = 1.0
        self.stt_delay_s = 0.0
        """Each recognition result is sent this long after it was due (in order)."""
        self.interim_every_s = 1.0
        """An interim result per this many seconds of speech."""
        self.script: collections.deque[str] = collections.deque()
        self.default_line = ""
        """Transcript of utterances once ``script`` is used up (the load benchmark sets one)."""
        self.finals: list[str] = []
        self.connections: list[dict[str, Any]] = []
        self.spoken: list[str] = []
        self.fault_times: list[float] = []
        """`time.monotonic()` of each injected fault (drop or stall)."""
        super().__init__()

    @property
    def listen_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/listen"

    @property
    def speak_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/speak"

    def _record(self, kind: str, query: dict[str, str], headers: Any) -> None:
        self.connections.append(
            {"kind": kind, "query": query, "authorization": headers.get("authorization", "")}
        )

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.websocket("/v1/listen")
        async def listen(ws: WebSocket) -> None:
            query = dict(ws.query_params)
            self._record("listen", query, ws.headers)
            await ws.accept()
            conn = _Listener(
                self, int(query.get("sample_rate", 16000)), int(query.get("channels", 1))
            )
            outbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

            async def send_later() -> None:
                while True:
                    due, text = await outbox.get()
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    await ws.send_text(text)
                    outbox.task_done()

            sender = asyncio.create_task(send_later())

            async def send(item: dict[str, Any]) -> None:
                if self.stt_delay_s > 0:
                    outbox.put_nowait((time.monotonic() + self.stt_delay_s, json.dumps(item)))
                else:
                    await ws.send_text(json.dumps(item))

            try:
                while True:
                    msg = await ws.receive()
                    if msg.get("type") == "websocket.disconnect":
                        return
                    if msg.get("bytes") is not None:
                        if conn.faulted:
                            continue  # stalled: audio goes nowhere
                        out = conn.feed(msg["bytes"])
                        if (
                            self.stt_mode in ("drop", "stall")
                            and conn.speech_s >= self.fault_after_s
                        ):
                            conn.faulted = True
                            self.fault_times.append(time.monotonic())
                            if self.stt_mode == "drop":
                                await ws.close(code=1011)
                                return
                            continue
                        for item in out:
                            await send(item)
                        continue
                    kind = json.loads(msg.get("text") or "{}").get("type")
                    if conn.faulted or kind == "KeepAlive":
                        continue
                    if kind in ("Finalize", "CloseStream"):
                        for item in conn.finish():
                            await send(item)
                    if kind == "CloseStream":
                        await outbox.join()  # the delayed results go out first
                        await ws.close()
                        return
            except (WebSocketDisconnect, RuntimeError):
                return
            finally:
                sender.cancel()

        @app.websocket("/v1/speak")
        async def speak_ws(ws: WebSocket) -> None:
            query = dict(ws.query_params)
            self._record("speak", query, ws.headers)
            if self.tts_mode == "500":
                await ws.close(code=1011)
                return
            await ws.accept()
            text: list[str] = []
            rate = int(query.get("sample_rate", TTS_RATE))
            try:
                while True:
                    msg = json.loads(await ws.receive_text())
                    if msg.get("type") == "Speak":
                        text.append(msg.get("text", ""))
                    elif msg.get("type") == "Flush":
                        if self.tts_mode == "500":
                            await ws.close(code=1011)  # fails on an open connection too
                            return
                        if self.tts_mode == "stall":
                            continue
                        said = "".join(text).strip()
                        text.clear()
                        self.spoken.append(said)
                        await ws.send_bytes(tone(said, rate))
                        await ws.send_text(json.dumps({"type": "Flushed", "sequence_id": 0}))
                    elif msg.get("type") == "Close":
                        await ws.close()
                        return
            except (WebSocketDisconnect, RuntimeError):
                return

        @app.post("/v1/speak")
        async def speak_http(request: Request) -> Response:
            query = dict(request.query_params)
            self._record("speak-http", query, request.headers)
            if self.tts_mode == "500":
                return Response(status_code=500)
            if self.tts_mode == "stall":
                await asyncio.sleep(30)
            said = str((await request.json()).get("text", ""))
            self.spoken.append(said)
            return Response(
                tone(said, int(query.get("sample_rate", TTS_RATE))), media_type="audio/l16"
            )

        return app
