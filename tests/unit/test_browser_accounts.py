"""Accounts mode in a real browser: sign up, practise, share with a coach, stop sharing, sign out.

Two browser contexts (a candidate and a coach, each with their own cookies) against
`interviewer serve` with ``MOCKINT_AUTH__MODE=accounts``. The interview is answered in writing
through the page's own fetch, so the CSRF token the page adds is exercised too.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Served

pytestmark = [pytest.mark.unit, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
PASSWORD = "a long practice password"

FINISH_BY_TYPING = """
async () => {
  let r = await fetch("/api/interviews", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({flow: "backend", consent: true})});
  const started = await r.json();
  if (!r.ok) return {error: started.detail || r.status};
  let step = (await (await fetch(`/api/interviews/${started.session_id}`)).json()).pending;
  for (let i = 0; i < 30; i++) {
    r = await fetch(`/api/interviews/${started.session_id}/answers`, {method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({turn: step.turn, text: "I profiled the slow endpoint, added an index and a cache, and p95 fell from 900 to 120 ms."})});
    step = await r.json();
    if (!r.ok) return {error: step.detail || r.status};
    if (step.finished) return {session_id: started.session_id};
  }
  return {error: "not finished"};
}
"""


def _sign_up(page: Any, base: str, name: str, role: str) -> None:
    page.goto(base + "/history")
    assert "/login?next=%2Fhistory" in page.url
    form = page.locator("#signup")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password").fill(PASSWORD)
    form.locator(f"input[value={role}]").check()
    form.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/history")
    page.get_by_text(f"Signed in as {name} ({role})").wait_for()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make setup)")
def test_candidate_shares_with_a_coach_and_takes_it_back(
    serve_with: Any, chromium_args: list[str]
) -> None:
    from playwright.sync_api import sync_playwright

    with serve_with({"MOCKINT_AUTH__MODE": "accounts"}) as served, sync_playwright() as pw:
        served_: Served = served
        base = served_.base
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args)
        try:
            coach = browser.new_context().new_page()
            cand = browser.new_context().new_page()
            _sign_up(coach, base, "carol", "coach")
            _sign_up(cand, base, "alice", "candidate")

            # a wrong password on the sign-in page is a clear message
            other = browser.new_context().new_page()
            other.goto(base + "/login")
            other.locator("#signin").get_by_label("User name").fill("alice")
            other.locator("#signin").get_by_label("Password").fill("not her password")
            other.locator("#signin").get_by_role("button", name="Sign in").click()
            other.get_by_text("wrong user name or password").wait_for()

            done = cand.evaluate(FINISH_BY_TYPING)
            assert "session_id" in done, done
            sid = done["session_id"]
            cand.reload()
            cand.locator("#past-table").get_by_role("link").first.wait_for()

            share = cand.locator("#sharing")
            share.get_by_label("Coach's user name").fill("nobody-here")
            share.get_by_role("button", name="Share").click()
            share.get_by_text("there is no coach called 'nobody-here'").wait_for()
            share.get_by_label("Coach's user name").fill("carol")
            share.get_by_role("button", name="Share").click()
            share.get_by_role("button", name="Stop sharing").wait_for()

            coach.goto(base + "/shared")
            coach.get_by_role("heading", name="alice").wait_for()
            coach.locator("#shared-list a").first.click()
            coach.wait_for_url(f"{base}/interviews/{sid}/report")
            assert "hiring" in coach.content().lower()

            share.get_by_role("button", name="Stop sharing").click()
            share.get_by_text("Not shared with anyone.").wait_for()
            coach.goto(base + "/shared")
            coach.get_by_text("No candidate shares their reports with you yet.").wait_for()
            assert coach.goto(f"{base}/api/interviews/{sid}/report").status == 404

            cand.get_by_role("button", name="Sign out").click()
            cand.wait_for_url(base + "/login")
            assert cand.goto(base + "/api/history").status == 401
        finally:
            browser.close()
