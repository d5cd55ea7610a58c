"""The LiveKit room transport in a real browser, up to the signalling handshake.

No LiveKit server can run here, so a local stand-in records what the page's livekit-client (from
the npm registry, served by the app) sends to the configured LIVEKIT_URL and then refuses the
connection. The test checks the token the browser presents (room-scoped, microphone only,
dispatching our agent, short-lived), that nothing is fetched from outside the machine, and that a
room that cannot be joined leaves the candidate in the same interview on the local transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
SECRET = "lk-test-secret-" + "x" * 24
VENDOR = Path(__file__).parents[2] / "web_client/node_modules/livekit-client/dist"


class FakeSignal:
    """A WebSocket endpoint standing in for a LiveKit server: records requests, then refuses."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _run(self) -> None:
        from websockets.asyncio.server import serve

        async def main() -> None:
            self._stop = asyncio.Event()

            def refuse(connection: Any, request: Any) -> Any:
                self.paths.append(request.path)
                return connection.respond(503, "no SFU here\n")

            async def never(_ws: Any) -> None:  # every handshake is refused above
                return None

            async with serve(never, "127.0.0.1", self.port, process_request=refuse):
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())

    def __enter__(self) -> FakeSignal:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def tokens(self) -> list[str]:
        found = []
        for path in self.paths:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            found += query.get("access_token", [])
        return found


@pytest.fixture
def livekit_served(
    serve_with: Callable[[dict[str, str]], contextlib.AbstractContextManager[Served]],
) -> Iterator[tuple[Served, FakeSignal]]:
    with FakeSignal() as signal:
        env = {"LIVEKIT_URL": signal.url, "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": SECRET}
        with serve_with(env) as served:
            yield served, signal


def test_the_vendored_client_is_served_locally(livekit_served: tuple[Served, FakeSignal]) -> None:
    import urllib.request

    served, _ = livekit_served
    with urllib.request.urlopen(served.base + "/static/vendor/livekit-client.mjs") as r:
        assert r.headers["content-type"].startswith("text/javascript")
        body = r.read()
    assert body == (VENDOR / "livekit-client.esm.mjs").read_bytes()
    start = served.post("/api/interviews", {"role": "Backend engineer", "consent": True})
    assert start["transport"] == "livekit"
    grant = served.post(f"/api/interviews/{start['session_id']}/livekit-token", {})
    assert SECRET not in str(grant)  # the API secret never reaches the browser
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(served.base + "/static/vendor/other.js")
    assert missing.value.code == 404


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_page_joins_the_room_with_a_scoped_token_and_falls_back_to_local(
    livekit_served: tuple[Served, FakeSignal],
    fake_mic: Callable[..., list[str]],
    tmp_path: Path,
    start_interview: Callable[..., None],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    served, signal = livekit_served
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=fake_mic(bytes(16000 * 2 * 5))
        )
        page = browser.new_page()
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1"))
                else outside.append(r.url)
            ),
        )
        try:
            start_interview(page, served.base, flow="behavioural")
            expect(page.locator("#notice")).to_contain_text(
                "Could not join the LiveKit room", timeout=60_000
            )
            expect(page.locator("#notice")).to_contain_text("Continuing on this computer")
            # nothing lost: the same interview goes on over the local transport
            expect(page.locator("#progress")).to_contain_text("Question 1 of", timeout=60_000)
            expect(page.locator("#captions")).not_to_be_empty()
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()

    sid = page.url.split("session=")[1]
    assert outside == []
    tokens = signal.tokens()
    assert tokens, f"the page never reached the LiveKit URL: {signal.paths}"
    claims = jwt.decode(tokens[0], SECRET, algorithms=["HS256"])
    assert claims["video"]["room"] == f"interview-{sid}"
    assert claims["video"]["canPublishSources"] == ["microphone"]  # camera was not opted in
    assert [a["agentName"] for a in claims["roomConfig"]["agents"]] == ["mock-interviewer"]
    assert claims["exp"] - time.time() <= 600
    assert served.get(f"/api/interviews/{sid}")["pending"]["turn"] == 0
