"""A whole short interview through the page: Debian chromium, a WAV of synthesized speech as the
microphone, `interviewer serve` with the real voice pipeline, and the report at the end."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")


def _speech(text: str) -> bytes:
    """``text`` in the local voice as 16 kHz mono PCM16."""
    import asyncio

    from agent.config import Settings
    from agent.voice.harness import to_pcm16
    from agent.voice.tts_piper import PiperTTS

    async def synth() -> bytes:
        tts = PiperTTS.from_dir(
            Settings(_env_file=None).models.dir / "piper-joe", deterministic=True
        )  # type: ignore[call-arg]
        frames = [ev.frame async for ev in tts.synthesize(text)]
        pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
        return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)

    return asyncio.run(synth())


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (make setup installs it)"
)
def test_a_short_interview_end_to_end_through_the_page(
    tmp_path: Path,
    served: Served,
    fake_mic: Callable[..., list[str]],
    start_interview: Callable[..., None],
) -> None:
    """Set up, consent, speak (fake microphone), get a follow-up, end, read the report."""
    import re

    from playwright.sync_api import expect, sync_playwright

    # The greeting and first question take about 20 s; the candidate answers after them.
    # A non-answer always earns a follow-up (a simpler wording), whatever the first question is.
    speech = _speech("I don't know, I have no idea about that.")
    args = fake_mic(bytes(16000 * 2 * 24) + speech + bytes(16000 * 2 * 15), loop=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()
        try:
            start_interview(page, served.base, flow="backend")
            transcript = page.locator("#transcript")
            expect(transcript.locator("li.you")).to_contain_text(
                "idea", timeout=90_000, ignore_case=True
            )
            expect(page.locator("#progress")).to_contain_text("(follow-up)", timeout=60_000)
            assert transcript.locator("li.interviewer").count() >= 2
            page.get_by_role("button", name="End interview").click()
            link = page.get_by_role("link", name="Open your report")
            expect(link).to_be_visible(timeout=60_000)
            link.click()
            expect(page.locator("h1")).to_contain_text("practice interview")
            expect(page.locator("#pace-chart")).to_be_visible()  # measured or "not measured"
            expect(page.locator("#timeline .tl-answer")).to_have_count(1)
            expect(page.locator("blockquote").first).to_contain_text(re.compile("idea", re.I))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()
    db = sqlite3.connect(served.data_dir / "interviewer.db")
    answer = db.execute('select answer from turn where "index" = 0').fetchone()[0].lower()
    for word in ("know", "idea"):
        assert word in answer, answer
    assert not list(served.data_dir.rglob("*.wav"))  # no raw audio on disk
