"""A real browser's camera (a Y4M made from a real face photo) analysed by `interviewer serve`.

Playwright drives Debian's chromium with fake media devices: the microphone is silent and the
camera plays a still portrait from tests/data/faces. The server must find the face in the frames
the page sends over the video WebSocket (presence events reach the page as live indicators), and
without the candidate's opt-in no frame is analysed at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
FACE_SEEN = ("eye contact", "calibrating eye contact", "looking away")


def write_y4m(path: Path, image: Path, *, seconds: float = 2.0, fps: int = 15) -> None:
    """A 640×480 I420 Y4M clip of a portrait at webcam size (Chromium loops it)."""
    face = cv2.resize(cv2.imread(str(image)), (320, 320), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 110, np.uint8)
    frame[80:400, 160:480] = face
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(int(seconds * fps)):
            f.write(b"FRAME\n" + yuv)


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (make setup installs it)"
)
@pytest.mark.parametrize("opt_in", [True, False], ids=["camera-on", "camera-off"])
def test_camera_frames_from_a_real_browser(
    tmp_path: Path,
    served: Served,
    opt_in: bool,
    chromium_args: list[str],
    start_interview: Callable[..., None],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    video = tmp_path / "face.y4m"
    write_y4m(video, FACES / "neutral" / "london_019_neutral_front.jpg")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *chromium_args,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        page = browser.new_page()
        try:
            start_interview(page, served.base, camera=opt_in)
            expect(page.locator("#room")).to_be_visible(timeout=30_000)
            indicators = page.locator("#indicators")
            if opt_in:
                expect(page.locator("#self-view")).to_be_visible(timeout=15_000)
                # The server decodes the page's JPEG frames and finds the face in them.
                page.wait_for_function(
                    "(words) => words.some((w) => document.getElementById('indicators')"
                    ".textContent.includes(w))",
                    arg=list(FACE_SEEN),
                    timeout=45_000,
                )
                assert "no face" not in (indicators.text_content() or "")
            else:
                page.wait_for_timeout(6_000)
                expect(page.locator("#self-view")).to_be_hidden()
                assert not any(w in (indicators.text_content() or "") for w in FACE_SEEN)
            sid = page.evaluate("window.interviewClient.sessionId")
            assert served.get(f"/api/interviews/{sid}")["camera"] is opt_in
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()
    assert not list(served.data_dir.rglob("*.jp*g"))  # frames are analysed in memory only
    assert not list(served.data_dir.rglob("*.y4m"))
