"""The confidence-coach chat page in a real browser: typed and spoken questions, rewrites, drills.

Playwright drives Debian's chromium against `interviewer serve` (its own temporary data
directory). Finished interviews are put into the server's database through the real interview
runner, as a candidate's practice would leave them; spoken questions come from chromium's fake
microphone playing speech synthesised with the local Piper voice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [
    pytest.mark.unit,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None, reason="Debian chromium is not installed (make setup)"
    ),
]

CHROMIUM = shutil.which("chromium")
REPLY_TIMEOUT = 30_000  # ms; offline replies take well under a second, but machines get busy
ANSWER = (
    "There was a disagreement in my team about the database. We talked about it and in the end "
    "we used PostgreSQL for the orders API and it was fine."
)
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                   && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map((e) => e.id || e.outerHTML.slice(0, 60))"""
OVERFLOW = """() => [...document.querySelectorAll('body *')]
    .filter((e) => { const r = e.getBoundingClientRect();
                     return r.width > 0 && (r.right > 361 || r.left < -1)
                            && getComputedStyle(e).position !== 'fixed'
                            && !e.closest('.scroll-x'); })
    .map((e) => e.id || e.tagName + '.' + e.className)"""


def finished_interview(served: Served, encoder_and_vocab: Any, sid: str) -> None:
    """One finished spoken interview (three answers with delivery figures) in the server's db."""
    from tests.conftest import seed_interviews

    seed_interviews(
        served.data_dir,
        encoder_and_vocab,
        [(sid, ANSWER, 150.0)],
        fillers_per_min=4.0,
        camera=False,
    )


def speech(text: str) -> bytes:
    """``text`` in the local Piper voice as 16 kHz mono PCM16."""
    from agent.config import Settings
    from agent.voice.harness import to_pcm16
    from agent.voice.tts_piper import PiperTTS

    async def synth() -> bytes:
        folder = Settings(_env_file=None).models.dir / "piper-joe"
        tts = PiperTTS.from_dir(folder, deterministic=True)
        frames = [ev.frame async for ev in tts.synthesize(text)]
        pcm = b"".join(bytes(f.data.cast("B")) for f in frames)
        return to_pcm16(np.frombuffer(pcm, dtype=np.int16), frames[0].sample_rate)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, synth()).result()


@contextlib.contextmanager
def launch(args: list[str], **context: Any) -> Iterator[Any]:
    """A page in headless chromium started with ``args``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser.new_page(**context)
        finally:
            browser.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `interviewer serve` for this module, warmed up by a first question.

    Starting a server loads the speech models and the coach loads its encoder and knowledge base
    on the first question, so the tests share one server. Each test puts in the interviews it
    needs under its own ids and assumes nothing about what the others left behind.
    """
    from tests.conftest import PROVIDER_KEYS, _models_dir, serve_app

    tmp = tmp_path_factory.mktemp("chat")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("MOCKINT_") and not key.startswith("MOCKINT_TEST_"):
                mp.delenv(key)
            elif key in PROVIDER_KEYS or key.startswith("LIVEKIT_"):
                mp.delenv(key)
        mp.setenv("MOCKINT_MODELS__DIR", str(_models_dir()))
        with serve_app(tmp) as s:
            warm = urllib.request.Request(
                s.base + "/api/chat",
                data=json.dumps({"message": "How do I sound confident?"}).encode(),
                headers={"content-type": "application/json"},
            )
            urllib.request.urlopen(warm, timeout=600).close()
            yield s


@pytest.fixture
def page(served: Served, chromium_args: list[str]) -> Iterator[Any]:
    with launch(chromium_args) as pg:
        yield pg


def ask(page: Any, text: str) -> Any:
    """Type ``text``, press Enter and return the coach's reply (the last message)."""
    from playwright.sync_api import expect

    replies = page.locator("#chat-log li.coach")
    before = replies.count()
    box = page.get_by_label("Your question")
    box.fill(text)
    box.press("Enter")
    expect(replies).to_have_count(before + 1, timeout=REPLY_TIMEOUT)
    return replies.last


def test_a_question_about_fillers_is_answered_with_a_source_and_survives_a_reload(
    page: Any, served: Served
) -> None:
    from playwright.sync_api import expect

    page.goto(served.base + "/chat")
    note = page.get_by_role("note")
    expect(note).to_contain_text("not a hiring assessment")
    expect(note).to_contain_text("not medical")
    assert page.evaluate(UNLABELLED) == []
    assert page.locator("h1").count() == 1

    reply = ask(page, "How do I stop saying um so much when I answer?")
    expect(reply).to_contain_text("pause")
    expect(reply.locator(".sources")).to_contain_text("Cutting down on")
    expect(page.locator("#chat-log li.candidate")).to_contain_text("stop saying um")
    expect(page).to_have_url(re.compile(r"/chat\?c=[a-f0-9]+$"))
    cid = page.url.split("c=")[1]
    expect(page.get_by_label("Your question")).to_have_value("")

    # Shift+Enter is a new line, not a send
    box = page.get_by_label("Your question")
    box.fill("first line")
    box.press("Shift+Enter")
    assert "\n" in box.input_value()
    expect(page.locator("#chat-log li.candidate")).to_have_count(1)

    page.reload()
    expect(page.locator("#chat-status")).to_contain_text("earlier conversation")
    expect(page.locator("#chat-log li.candidate")).to_contain_text("stop saying um")
    expect(page.locator("#chat-log li.coach .sources")).to_contain_text("Cutting down on")
    # the next question continues the same conversation
    ask(page, "And how do I slow down when I talk too fast?")
    assert page.url.endswith(f"c={cid}")
    assert [m["role"] for m in served.get(f"/api/chat/{cid}")["messages"]] == [
        "candidate",
        "coach",
        "candidate",
        "coach",
    ]


def test_an_off_topic_question_gets_a_polite_refusal(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    page.goto(served.base + "/chat")
    reply = ask(page, "what's a good pasta recipe?")
    expect(reply).to_contain_text("I can only help with interview practice and confidence")
    assert reply.get_attribute("data-kind") == "refusal"
    expect(reply.locator(".sources")).to_have_count(0)
    # a suggested question sends straight away
    page.get_by_role("button", name="How do I calm my nerves before a panel?").click()
    expect(page.locator("#chat-log li.coach")).to_have_count(2, timeout=REPLY_TIMEOUT)
    expect(page.locator("#chat-log li.coach").last.locator(".sources")).not_to_be_empty()
    # an empty message is refused in the page
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-error")).to_contain_text("Please type a question")
    # a refused request shows the server's reason and keeps the question to send again
    page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=400, content_type="application/json", body='{"error": "please type a question"}'
        ),
    )
    box = page.get_by_label("Your question")
    box.fill("How do I answer salary questions?")
    box.press("Enter")
    expect(page.locator("#chat-error")).to_have_text("please type a question")
    expect(box).to_have_value("How do I answer salary questions?")
    expect(page.locator("#chat-log li.candidate")).to_have_count(2)


def test_rewrite_figures_and_a_drill_from_a_finished_interview(
    page: Any, served: Served, encoder_and_vocab: Any
) -> None:
    from playwright.sync_api import expect

    finished_interview(served, encoder_and_vocab, "rewrite1")
    page.goto(served.base + "/chat")
    page.get_by_role("button", name="Give me a better answer to the conflict question").click()
    expect(page.locator("#chat-log li.coach")).to_have_count(1, timeout=REPLY_TIMEOUT)
    reply = page.locator("#chat-log li.coach").last
    assert reply.get_attribute("data-kind") == "rewrite"
    quote = reply.locator("blockquote.rewrite")
    expect(quote).to_contain_text("orders API")
    assert reply.inner_text().count("orders API") == 1  # the rewrite is shown once, quoted
    expect(reply.locator(".sources")).to_contain_text("STAR")

    reply = ask(page, "How do I stop saying um?")
    figures = reply.locator("ul.figures a")
    expect(figures.first).to_contain_text("4.0 per minute")
    assert figures.first.get_attribute("href") == "/interviews/rewrite1/report#pace-h"
    assert reply.inner_text().count(figures.first.inner_text()) == 1  # listed, not repeated

    reply = ask(page, "Let me try that again")
    assert reply.get_attribute("data-kind") == "drill"
    start = reply.get_by_role("button", name=re.compile("one-question practice.*practice only"))
    start.click()
    expect(page).to_have_url(re.compile(r"/\?session=[a-f0-9]+$"), timeout=15_000)
    sid = page.url.split("session=")[1]
    drill = served.get(f"/api/interviews/{sid}")
    assert drill["finished"] is False and drill["pending"]["turn"] == 0


def test_a_spoken_question_is_transcribed_answered_and_read_aloud(
    served: Served, fake_mic: Callable[..., list[str]]
) -> None:
    from playwright.sync_api import expect

    voice = speech("How do I stop saying um so much?")
    silence = bytes(16000 * 2 // 2)
    args = fake_mic(silence + voice + bytes(16000 * 2 * 3), loop=False)
    with launch(args) as page:
        page.goto(served.base + "/chat")
        page.get_by_label("Read answers aloud").check()
        # hold to speak: press, speak, let go
        page.get_by_role("button", name="Speak a question").hover()
        page.mouse.down()
        expect(page.get_by_role("button", name="Stop and send")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(page.locator("#chat-status")).to_contain_text("Recording")
        page.wait_for_timeout(len(voice) / 32 + 900)  # the clip's length, then a little silence
        with page.expect_response("**/api/chat/speak", timeout=REPLY_TIMEOUT) as spoken:
            page.mouse.up()
            heard = page.locator("#chat-log li.candidate")
            expect(heard).to_contain_text(re.compile(r"stop saying", re.I), timeout=REPLY_TIMEOUT)
            expect(heard).to_contain_text("You (spoken)")
            reply = page.locator("#chat-log li.coach")
            expect(reply).to_have_count(1)
            expect(reply.locator(".sources")).to_contain_text("Cutting down on")
        assert spoken.value.status == 200
        assert spoken.value.header_value("content-type") == "audio/wav"
        expect(page.locator("#chat-status")).to_contain_text("aloud")
        mic = page.locator("#chat-mic")
        expect(mic).to_have_attribute("aria-pressed", "false")
        expect(mic).to_have_text("Speak a question")
        expect(page).to_have_url(re.compile(r"\?c=[a-f0-9]+$"))

        # by keyboard it is a toggle; a slip of a press is not sent
        mic.focus()
        page.keyboard.press("Enter")
        expect(mic).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chat-status")).to_contain_text("Recording")
        page.keyboard.press("Enter")
        expect(mic).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#chat-error")).to_contain_text("too short")
        expect(page.locator("#chat-log li.candidate")).to_have_count(1)
        assert page.evaluate("document.activeElement.id") == "chat-mic"


def test_the_chat_fits_a_phone_and_works_by_keyboard(
    served: Served, encoder_and_vocab: Any, chromium_args: list[str]
) -> None:
    from playwright.sync_api import expect

    finished_interview(served, encoder_and_vocab, "phone1")
    cid = served.post("/api/chat", {"message": "rewrite my answer"})["conversation_id"]
    for message in ("Why did I score low on structure?", "let me try that again"):
        served.post("/api/chat", {"message": message, "conversation_id": cid})
    with launch(chromium_args, viewport={"width": 360, "height": 740}, is_mobile=True) as page:
        page.goto(f"{served.base}/chat?c={cid}")
        expect(page.locator("#chat-log li.coach")).to_have_count(3)
        expect(page.locator("blockquote.rewrite")).to_be_visible()
        expect(page.locator("#chat-log .drill button")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(OVERFLOW) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 361
        # by keyboard alone: Tab to the question box, type, Enter sends
        page.locator("body").focus()
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "chat-input":
                break
        assert page.evaluate("document.activeElement.id") == "chat-input"
        page.keyboard.type("How do I keep eye contact on a video call?")
        page.keyboard.press("Enter")
        expect(page.locator("#chat-log li.coach")).to_have_count(4, timeout=REPLY_TIMEOUT)
        assert page.evaluate(OVERFLOW) == []


def test_delete_my_data_empties_the_history_and_the_old_conversation_is_gone(
    page: Any, served: Served, encoder_and_vocab: Any
) -> None:
    from playwright.sync_api import expect

    finished_interview(served, encoder_and_vocab, "delete1")
    before = len(served.get("/api/history")["interviews"])
    assert before >= 1
    page.goto(served.base + "/chat")
    ask(page, "How do I stop saying um?")
    old = page.url
    assert "?c=" in old
    delete = page.get_by_role("button", name="Delete my data")

    page.once("dialog", lambda d: d.dismiss())
    delete.click()
    expect(page.locator("#delete-status")).to_contain_text("Nothing was deleted")
    assert len(served.get("/api/history")["interviews"]) == before

    page.once("dialog", lambda d: d.accept())
    delete.click()
    status = page.locator("#delete-status")
    expect(status).to_contain_text(re.compile(r"Deleted \d+ interviews?, "), timeout=15_000)
    expect(status).to_contain_text(re.compile(r"\d+ chat messages"))
    expect(page.locator("#chat-log li")).to_have_count(0)
    assert "?c=" not in page.url
    assert served.get("/api/history")["interviews"] == []
    cid = old.split("c=")[1]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{served.base}/api/chat/{cid}", timeout=10)
    assert err.value.code == 404

    page.goto(old)
    expect(page.locator("#chat-status")).to_contain_text("not found")
    expect(page.locator("#chat-log li")).to_have_count(0)
