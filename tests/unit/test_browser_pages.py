"""The start page's uploads, the report page's charts and the history page, in a real browser.

Playwright drives Debian's chromium against `interviewer serve`. Finished interviews are seeded
into the server's own database through the real interview runner (spoken delivery figures
included), so the pages show what a candidate would see after practising.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
sys.path.insert(0, str(Path(__file__).parent))
from test_documents import make_docx, make_pdf  # noqa: E402

GOOD = (
    "In my last role I owned the orders API in Python and PostgreSQL. Requests were slow, so I "
    "profiled them, added an index and a cache, and p95 latency fell from 900 to 120 ms."
)


def seed(served: Served, encoder_and_vocab: Any, sessions: list[tuple[str, str, float]]) -> None:
    """Finished spoken interviews in the server's database: (id, answer, wpm) each."""
    from tests.conftest import seed_interviews

    seed_interviews(served.data_dir, encoder_and_vocab, sessions)


@pytest.fixture
def page(served: Served, chromium_args: list[str]):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args)
        pg = browser.new_page()
        try:
            yield pg
        except Exception:
            pg.screenshot(path=str(served.data_dir.parent / "failure.png"))
            raise
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_upload_a_resume_and_get_clear_errors_for_bad_files(
    page: Any, served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    pdf = tmp_path / "cv.pdf"
    pdf.write_bytes(make_pdf(["Jane Doe", "Backend engineer, Python and PostgreSQL"]))
    docx = tmp_path / "jd.docx"
    docx.write_bytes(make_docx(["We need a backend engineer", "Kafka and Go are a plus"]))
    junk = tmp_path / "photo.pdf"
    junk.write_bytes(b"%PDF-1.4 this is not really a pdf" + bytes(range(256)))
    big = tmp_path / "huge.txt"
    big.write_bytes(b"word " * 500_000)
    page.goto(served.base + "/")
    status = page.locator("#upload-status")
    page.set_input_files("#resume-file", str(pdf))
    expect(page.locator("#resume")).to_have_value(
        "Jane Doe\nBackend engineer, Python and PostgreSQL"
    )
    expect(status).to_contain_text("Read 7 words from cv.pdf")
    page.set_input_files("#jd-file", str(docx))
    expect(page.locator("#jd")).to_have_value("We need a backend engineer\nKafka and Go are a plus")
    page.set_input_files("#resume-file", str(junk))
    expect(status).to_contain_text("photo.pdf: the PDF could not be read")
    expect(page.locator("#resume")).to_have_value(
        "Jane Doe\nBackend engineer, Python and PostgreSQL"
    )
    page.set_input_files("#jd-file", str(big))
    expect(status).to_contain_text("too large")
    expect(page.locator("#jd")).to_have_value("We need a backend engineer\nKafka and Go are a plus")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_report_charts_and_history_trends(
    page: Any, served: Served, encoder_and_vocab: Any
) -> None:
    from playwright.sync_api import expect

    seed(served, encoder_and_vocab, [("h1", "I would add an index.", 190.0), ("h2", GOOD, 150.0)])
    page.goto(served.base + "/interviews/h2/report")
    expect(page.locator("#pace-chart .bar-wpm")).to_have_count(
        page.locator("#pace-chart .bar-wpm").count()
    )
    assert page.locator("#pace-chart .bar-wpm").count() >= 1
    assert page.locator("#eye-chart .bar-eyes").count() >= 1
    assert page.locator("#timeline .tl-answer").count() >= 1
    assert page.locator("#timeline .tl-filler").count() >= 1
    assert page.locator("#timeline .tl-look_away").count() >= 1
    assert page.locator("#expression-chart .expr-happy").count() >= 1
    expect(page.locator("#expr-h")).to_be_visible()
    expect(page.locator("#pace-chart")).to_contain_text("150")
    expect(page.locator(".subscore[data-name=delivery]")).to_be_visible()
    # score trend: both interviews up to this one, this one last
    expect(page.locator("#score-trend circle")).to_have_count(2)
    assert "this interview" in (page.locator("#score-trend").text_content() or "")
    # every timeline span links to its answer, which exists on the page
    hrefs = page.locator("#timeline a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(page.locator(h).count() == 1 for h in set(hrefs))
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download JSON").click()
    assert dl.value.suggested_filename == "report-h2.json"

    page.get_by_role("link", name="Your history").click()
    expect(page.locator("#history-status")).to_contain_text("2 finished interview(s)")
    charts = page.locator("#metric-charts figure")
    expect(charts.first).to_be_visible()
    titles = charts.locator("figcaption").all_text_contents()
    assert "Overall score" in titles and "Pace (words per minute)" in titles
    pace = charts.filter(has_text="Pace").locator("svg").get_attribute("aria-label") or ""
    assert "190" in pace and "150" in pace
    assert page.locator("#skill-charts figure").count() >= 1
    rows = page.locator("#past-table tbody tr")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/interviews/h[12]/report$"))
    expect(page.locator("h1")).to_contain_text("practice interview")
    page.goto(served.base + "/interviews/h1/report")  # the first interview has no trend yet
    expect(page.locator("#score-trend")).to_have_count(0)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_history_with_no_interviews_says_so(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    page.goto(served.base + "/history")
    expect(page.locator("#history-status")).to_contain_text("No finished interviews yet")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_coach_edits_validates_saves_and_shares_a_flow(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    page.goto(served.base + "/coach")
    page.locator("#base").select_option("behavioural")
    editor = page.locator("#yaml")
    expect(editor).to_have_value(re.compile(r"id: behavioural"))
    expect(page.locator("#issues")).to_contain_text("No errors.")
    expect(page.locator("#preview")).to_contain_text("main questions")
    text = editor.input_value()
    editor.fill(text.replace("difficulty: 1", "difficulty: 7", 1))
    bad_line = next(
        i for i, line in enumerate(editor.input_value().splitlines(), 1) if "difficulty: 7" in line
    )
    expect(page.locator("#issues")).to_contain_text(f"Line {bad_line}:")
    expect(page.locator("#save")).to_be_disabled()
    editor.fill(text.replace("id: behavioural", "id: my-behavioural", 1))
    expect(page.locator("#issues")).to_contain_text("No errors.")
    page.locator("#save").click()
    share = page.locator("#share-link")
    expect(share).to_contain_text("/?flow=my-behavioural")
    share.click()
    expect(page.locator("#flow")).to_have_value("my-behavioural")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_interview_room_progress_controls_and_a_second_tab(
    served: Served,
    tmp_path: Path,
    fake_mic: Callable[..., list[str]],
    start_interview: Callable[..., None],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    args = fake_mic(bytes(16000 * 2 * 5))  # a quiet room
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()
        try:
            start_interview(page, served.base, flow="behavioural")
            expect(page.locator("#progress")).to_contain_text(
                re.compile(r"Question 1 of \d+"), timeout=60_000
            )
            expect(page.locator("#captions")).not_to_be_empty()
            first = page.locator("#elapsed").text_content()
            page.wait_for_timeout(2_200)
            assert page.locator("#elapsed").text_content() != first
            mute = page.get_by_role("button", name="Mute microphone")
            mute.click()
            expect(page.get_by_role("button", name="Unmute microphone")).to_have_attribute(
                "aria-pressed", "true"
            )
            page.get_by_role("button", name="Take a break").click()
            expect(page.locator("#status")).to_contain_text("Paused")
            page.get_by_role("button", name="Resume").click()
            url = page.url
            assert "session=" in url
            second = browser.new_page()
            second.goto(url)
            expect(second.locator("#status")).to_contain_text(
                "already open in another tab", timeout=30_000
            )
            second.wait_for_timeout(3_000)  # it does not keep retrying over the message
            expect(second.locator("#status")).to_contain_text("already open in another tab")
            sid = url.split("session=")[1]
            assert served.get(f"/api/interviews/{sid}")["live"] is True  # first tab unaffected
            # closing the tab mid-interview pauses it; opening the link again continues it
            second.close()
            page.close()
            deadline = time.monotonic() + 20
            while served.get(f"/api/interviews/{sid}")["live"] and time.monotonic() < deadline:
                time.sleep(0.3)
            assert served.get(f"/api/interviews/{sid}")["live"] is False
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("#notice")).to_contain_text(
                "continuing where you left off", timeout=30_000
            )
            expect(page.locator("#progress")).to_contain_text("Question 1 of", timeout=30_000)
            assert served.get(f"/api/interviews/{sid}")["pending"]["turn"] == 0
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_microphone_and_echo_checks(served: Served, fake_mic: Callable[..., list[str]]) -> None:
    import numpy as np
    from playwright.sync_api import expect, sync_playwright

    t = np.arange(16000 * 8) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    args = fake_mic((voice * 32767).astype(np.int16).tobytes())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()
        try:
            page.goto(served.base + "/")
            page.get_by_role("button", name="Check microphone").click()
            expect(page.locator("#check-status")).to_contain_text("Say a few words")
            expect(page.locator("#check-status")).to_contain_text("We can hear you", timeout=15_000)
            page.get_by_role("button", name="Check for echo").click()
            # a file-fed fake microphone cannot hear the speakers
            expect(page.locator("#check-status")).to_contain_text(
                "No echo detected", timeout=15_000
            )
            # laptop speakers next to the microphone: what the page plays reaches the mic
            echoing = browser.new_page()
            echoing.add_init_script(SPEAKERS_INTO_MIC)
            echoing.goto(served.base + "/")
            echoing.get_by_role("button", name="Check for echo").click()
            expect(echoing.locator("#check-status")).to_contain_text(
                "Headphones are recommended", timeout=15_000
            )
        finally:
            browser.close()


SPEAKERS_INTO_MIC = """
(() => {
  // Acoustic coupling for the test: everything sent to the speakers also feeds the microphone.
  const room = new AudioContext();
  const mic = room.createMediaStreamDestination();
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (dest, ...rest) {
    const out = connect.call(this, dest, ...rest);
    if (dest instanceof AudioDestinationNode) {
      const tap = this.context.createMediaStreamDestination();
      connect.call(this, tap);
      connect.call(room.createMediaStreamSource(tap.stream), mic);
    }
    return out;
  };
  navigator.mediaDevices.getUserMedia = async () => mic.stream;
})();
"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_every_page_is_labelled_and_the_start_works_by_keyboard(
    served: Served, tmp_path: Path, chromium_args: list[str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    unlabelled = """() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                       && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map((e) => e.id || e.outerHTML.slice(0, 60))"""
    args = [*chromium_args, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()
        try:
            for path in ("/", "/history", "/coach"):
                page.goto(served.base + path)
                assert page.evaluate(unlabelled) == [], path
                assert page.locator("h1").count() == 1
            page.goto(served.base + "/")
            for target in ("consent", "start"):
                for _ in range(60):
                    page.keyboard.press("Tab")
                    if page.evaluate("document.activeElement.id") == target:
                        break
                assert page.evaluate("document.activeElement.id") == target
                page.keyboard.press("Space" if target == "consent" else "Enter")
            expect(page.locator("#room")).to_be_visible(timeout=30_000)
            assert page.evaluate("document.activeElement.id") == "room-h"
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_pages_fit_a_phone_screen(
    served: Served, encoder_and_vocab: Any, chromium_args: list[str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    seed(served, encoder_and_vocab, [("p1", GOOD, 150.0)])
    overflow = """() => [...document.querySelectorAll('body *')]
        .filter((e) => { const r = e.getBoundingClientRect();
                         return r.width > 0 && (r.right > 361 || r.left < -1)
                                && getComputedStyle(e).position !== 'fixed'
                                && !e.closest('.scroll-x'); })
        .map((e) => e.id || e.tagName + '.' + e.className)"""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args)
        page = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
        try:
            for path in ("/", "/history", "/coach", "/interviews/p1/report"):
                page.goto(served.base + path)
                page.wait_for_load_state("networkidle")
                assert page.evaluate(overflow) == [], path
                assert page.evaluate("document.documentElement.scrollWidth") <= 361, path
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
