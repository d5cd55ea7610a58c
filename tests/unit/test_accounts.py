"""Accounts mode: sign-in, roles, CSRF, rate limiting, sharing, and no reaching others' data.

The app runs in-process with a real SQLite database and the real interview runner; interviews are
finished with typed answers. Every "someone else's id" answers exactly like a missing id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.accounts.passwords import AccountError, check_password, hash_password, verify_password
from agent.accounts.ratelimit import LoginLimiter
from agent.config import Settings

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery"
ANSWER = (
    "I led the payments team: we measured the slow endpoint, added an index, cached the hot "
    "reads in Redis and cut p95 latency from 1.2 seconds to 180 milliseconds."
)
MINI_FLOW = (Path(__file__).parents[1] / "data" / "mini_flow.yaml").read_text()


class Browser:
    """One browser's cookie jar over the app's single test client (one event loop for all)."""

    def __init__(self, client: TestClient, cookies: dict[str, str] | None = None) -> None:
        self.client = client
        self.cookies = dict(cookies or {})

    def request(self, method: str, url: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.client.cookies.clear()
        r = self.client.request(method, url, headers=headers, **kw)
        for k, v in self.client.cookies.items():
            self.cookies[k] = v
        for header in r.headers.get_list("set-cookie"):
            name = header.split("=", 1)[0]
            if "max-age=0" in header.lower() or '=""' in header:
                self.cookies.pop(name, None)
        self.client.cookies.clear()
        return r

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def websocket_connect(self, url: str, headers: dict[str, str] | None = None) -> Any:
        headers = dict(headers or {})
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.client.cookies.clear()
        return self.client.websocket_connect(url, headers=headers)


class User:
    """A signed-up user in their own browser."""

    def __init__(self, client: TestClient, name: str, role: str = "candidate") -> None:
        self.http = Browser(client)
        self.name = name
        r = self.http.post(
            "/api/auth/register", json={"username": name, "password": PASSWORD, "role": role}
        )
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf"]

    def post(self, url: str, **kw: Any) -> Any:
        return self.http.request("POST", url, headers={"x-csrf-token": self.csrf}, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.http.request("PUT", url, headers={"x-csrf-token": self.csrf}, **kw)

    def delete(self, url: str) -> Any:
        return self.http.request("DELETE", url, headers={"x-csrf-token": self.csrf})

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def interview(self, flow: str = "mini") -> str:
        r = self.post("/api/interviews", json={"flow": flow, "consent": True})
        assert r.status_code == 200, r.text
        sid: str = r.json()["session_id"]
        step = self.get(f"/api/interviews/{sid}").json()["pending"]
        for _ in range(20):
            step = self.post(
                f"/api/interviews/{sid}/answers", json={"text": ANSWER, "turn": step["turn"]}
            ).json()
            if step["finished"]:
                return sid
        raise AssertionError("the interview did not finish")


@pytest.fixture
def accounts_settings(settings: Settings) -> Settings:
    settings.auth.mode = "accounts"
    return settings


@pytest.fixture
def app(accounts_settings: Settings, brain: Any) -> Iterator[TestClient]:
    from agent.api.app import create_app
    from agent.interview import open_runner
    from agent.voice.session import VoiceRuntime

    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]
    app = create_app(
        accounts_settings,
        runtime=no_voice,
        runner_factory=lambda: open_runner(accounts_settings, brain=brain),
    )
    with TestClient(app) as client:  # one lifespan and one event loop for every browser
        yield client


def _db(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "interviewer.db")


# ------------------------------------------------------------------------------- pure parts


def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) == (True, False)
    assert verify_password(stored, PASSWORD + "x")[0] is False
    assert verify_password("not a hash", PASSWORD)[0] is False
    for weak in ("short", "password123", "alice-is-great-1"):
        with pytest.raises(AccountError):
            check_password(weak, "alice")


def test_limiter_window() -> None:
    now = [0.0]
    lim = LoginLimiter(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("k") is None
        lim.failed("k")
    assert lim.retry_after("k") == 60
    now[0] = 30
    assert lim.retry_after("k") == 30
    assert lim.retry_after("other") is None
    now[0] = 61
    assert lim.retry_after("k") is None
    lim.failed("k")
    lim.succeeded("k")
    assert lim.retry_after("k") is None


# ------------------------------------------------------------------------------- sign-in


def test_signed_out_requests_are_refused_or_sent_to_sign_in(app: Any) -> None:
    anon = Browser(app)
    assert anon.get("/health").json() == {"status": "ok"}
    assert anon.get("/login").status_code == 200
    page = anon.get("/history", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fhistory"
    for method, url in [
        ("GET", "/api/history"),
        ("GET", "/api/interviews/abc"),
        ("POST", "/api/interviews"),
        ("POST", "/api/chat"),
        ("DELETE", "/api/my-data"),
    ]:
        assert anon.request(method, url).status_code == 401, url
    report = anon.get("/interviews/abc/report.json", follow_redirects=False)
    assert report.status_code == 303 and report.headers["location"].startswith("/login?next=")
    assert anon.get("/api/auth/me").json() == {"mode": "accounts", "signed_in": False}
    with anon.websocket_connect("/ws/interviews/abc") as ws:
        assert "sign in" in ws.receive_json()["message"]


def test_cookies_passwords_and_sign_out(app: Any, accounts_settings: Settings) -> None:
    http = Browser(app)
    r = http.post("/api/auth/register", json={"username": "Alice", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["username"] == "alice"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("mi_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    assert "Secure" not in session  # plain http on localhost; https marks it Secure
    csrf = next(c for c in cookies if c.startswith("mi_csrf="))
    assert "HttpOnly" not in csrf
    with _db(accounts_settings) as db:
        (stored,) = db.execute("select password_hash from account").fetchone()
        tokens = [t for (t,) in db.execute("select token_hash from login_session")]
    assert stored.startswith("$argon2id$")
    token = http.cookies["mi_session"]
    assert token not in tokens and len(tokens) == 1  # only a hash of the token is kept
    dup = http.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert dup.status_code == 422 and "taken" in dup.json()["detail"]
    weak = http.post("/api/auth/register", json={"username": "zed", "password": "short"})
    assert weak.status_code == 422
    admin = http.post(
        "/api/auth/register", json={"username": "root", "password": PASSWORD, "role": "admin"}
    )
    assert admin.status_code == 422  # admins are made on the command line only

    assert http.get("/api/history").status_code == 200
    out = http.post("/api/auth/logout", headers={"x-csrf-token": r.json()["csrf"]})
    assert out.status_code == 200
    assert http.get("/api/history").status_code == 401
    stolen = Browser(app, {"mi_session": token})
    assert stolen.get("/api/history").status_code == 401  # signed out on the server too


def test_state_changes_need_the_csrf_token_and_the_same_site(app: Any) -> None:
    alice = User(app, "alice")
    body = {"flow": "backend", "consent": True}
    assert alice.http.post("/api/interviews", json=body).status_code == 403
    wrong = alice.http.post("/api/interviews", json=body, headers={"x-csrf-token": "nope"})
    assert wrong.status_code == 403
    evil = alice.http.post(
        "/api/interviews",
        json=body,
        headers={"x-csrf-token": alice.csrf, "origin": "https://evil.example"},
    )
    assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
    same = alice.http.post(
        "/api/interviews",
        json=body,
        headers={"x-csrf-token": alice.csrf, "origin": "http://testserver"},
    )
    assert same.status_code == 200
    with alice.http.websocket_connect(
        f"/ws/interviews/{same.json()['session_id']}",
        headers={"origin": "https://evil.example"},
    ) as ws:
        assert ws.receive_json()["type"] == "error"


def test_failed_sign_ins_are_rate_limited(app: Any) -> None:
    User(app, "alice")
    User(app, "bob")
    http = Browser(app)
    for _ in range(5):
        bad = http.post("/api/auth/login", json={"username": "alice", "password": "wrong-guess-1"})
        assert bad.status_code == 401 and bad.json()["detail"] == "wrong user name or password"
    unknown = http.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert unknown.json()["detail"] == "wrong user name or password"  # no user enumeration
    limited = http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    # another account from the same address can still sign in
    assert http.post("/api/auth/login", json={"username": "bob", "password": PASSWORD}).is_success


# ------------------------------------------------------------------------------- isolation


def test_nobody_reaches_another_candidates_interview(app: Any) -> None:
    carol = User(app, "carol", role="coach")
    alice = User(app, "alice")
    bob = User(app, "bob")
    assert alice.put("/api/flows", content=MINI_FLOW).status_code == 403  # candidates don't author
    assert carol.put("/api/flows", content=MINI_FLOW).status_code == 200
    done = alice.interview()
    pending = alice.post("/api/interviews", json={"flow": "mini", "consent": True}).json()
    open_sid = pending["session_id"]
    chat = alice.post("/api/chat", json={"message": "How do I stop saying um?"}).json()

    missing = bob.get("/api/interviews/000000000000")
    assert missing.status_code == 404
    for sid in (done, open_sid):
        for url in (
            f"/api/interviews/{sid}",
            f"/api/interviews/{sid}/report",
            f"/interviews/{sid}/report",
            f"/interviews/{sid}/report.json",
        ):
            r = bob.get(url)
            assert r.status_code == 404 and sid in r.text, url  # the same answer as a missing id
        assert bob.post(f"/api/interviews/{sid}/answers", json={"text": "x"}).status_code == 404
        with bob.http.websocket_connect(f"/ws/interviews/{sid}") as ws:
            assert ws.receive_json()["message"] == f"no interview '{sid}'"
        with bob.http.websocket_connect(f"/ws/interviews/{sid}/video") as ws:
            assert ws.receive_json()["message"] == f"no interview '{sid}'"
    assert bob.get(f"/api/chat/{chat['conversation_id']}").status_code == 404
    assert bob.get("/api/history").json()["interviews"] == []
    # bob asking in alice's conversation gets a conversation of his own
    own = bob.post(
        "/api/chat", json={"message": "any tips?", "conversation_id": chat["conversation_id"]}
    )
    assert own.json()["conversation_id"] != chat["conversation_id"]
    assert len(alice.get(f"/api/chat/{chat['conversation_id']}").json()["messages"]) == 2
    # a coach without a share sees nothing either
    assert carol.get(f"/api/interviews/{done}/report").status_code == 404
    # alice still reaches all of hers
    assert alice.get(f"/api/interviews/{done}/report").status_code == 200
    assert [r["session_id"] for r in alice.get("/api/history").json()["interviews"]] == [done]


def test_coach_reads_reports_only_while_shared(app: Any) -> None:
    carol = User(app, "carol", role="coach")
    alice = User(app, "alice")
    bob = User(app, "bob")
    assert carol.put("/api/flows", content=MINI_FLOW).status_code == 200
    sid = alice.interview()
    bob.interview()
    assert carol.get("/api/shared").json() == {"candidates": []}
    assert alice.get("/api/shared").status_code == 403
    assert alice.post("/api/shares", json={"coach": "bob"}).status_code == 404  # not a coach
    assert alice.post("/api/shares", json={"coach": "carol"}).json() == {"coaches": ["carol"]}

    shared = carol.get("/api/shared").json()["candidates"]
    assert [c["candidate"] for c in shared] == ["alice"]
    assert [i["session_id"] for i in shared[0]["interviews"]] == [sid]
    assert carol.get(f"/api/interviews/{sid}/report").status_code == 200
    page = carol.get(f"/interviews/{sid}/report")
    assert page.status_code == 200 and "not a hiring" in page.text.lower()
    # reading is all a share allows
    assert carol.get(f"/api/interviews/{sid}").status_code == 404
    assert carol.post(f"/api/interviews/{sid}/answers", json={"text": "x"}).status_code == 404

    assert alice.delete("/api/shares/carol").json() == {"coaches": []}
    assert carol.get(f"/api/interviews/{sid}/report").status_code == 404
    assert carol.get("/api/shared").json() == {"candidates": []}


def test_admin_manages_accounts_without_reading_reports(
    app: Any, accounts_settings: Settings
) -> None:
    from agent.accounts.service import Accounts
    from agent.store.db import make_engine

    engine = make_engine(accounts_settings.database_url)
    Accounts(engine, accounts_settings.auth).create("root", PASSWORD, "admin")
    engine.dispose()
    admin = Browser(app)
    r = admin.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
    csrf = {"x-csrf-token": r.json()["csrf"]}
    carol = User(app, "carol", role="coach")
    carol.put("/api/flows", content=MINI_FLOW)
    bob = User(app, "bob")
    sid = bob.interview()
    assert bob.get("/api/admin/accounts").status_code == 403
    listed = admin.get("/api/admin/accounts").json()["accounts"]
    assert {a["username"]: a["role"] for a in listed} == {
        "bob": "candidate",
        "carol": "coach",
        "root": "admin",
    }
    assert all("password" not in k for a in listed for k in a)
    assert admin.get(f"/api/interviews/{sid}/report").status_code == 404
    bob_id = next(a["id"] for a in listed if a["username"] == "bob")
    promoted = admin.request(
        "PUT", f"/api/admin/accounts/{bob_id}/role", json={"role": "coach"}, headers=csrf
    )
    assert promoted.status_code == 200
    assert bob.put("/api/flows", content=MINI_FLOW).status_code == 200
    gone = admin.request("DELETE", f"/api/admin/accounts/{bob_id}", headers=csrf)
    assert gone.status_code == 200 and gone.json()["deleted"]["sessions"] == 1
    assert bob.get("/api/history").status_code == 401
    with _db(accounts_settings) as db:
        assert db.execute("select count(*) from interview_session").fetchone() == (0,)


def test_delete_my_data_takes_only_mine(app: Any, accounts_settings: Settings) -> None:
    carol = User(app, "carol", role="coach")
    carol.put("/api/flows", content=MINI_FLOW)
    alice = User(app, "alice")
    bob = User(app, "bob")
    mine = alice.interview()
    alice.post("/api/chat", json={"message": "How can I sound more confident?"})
    alice.post("/api/shares", json={"coach": "carol"})
    theirs = bob.interview()
    bob.post("/api/chat", json={"message": "How should I prepare for a system design round?"})
    recordings = accounts_settings.recordings_dir
    recordings.mkdir(parents=True)
    for sid in (mine, theirs):
        (recordings / f"{sid}.wav").write_bytes(b"RIFF")
        (accounts_settings.reports_dir / sid).mkdir(parents=True)
        (accounts_settings.reports_dir / sid / "report.html").write_text("<html>")

    r = alice.delete("/api/my-data")
    assert r.status_code == 200, r.text
    deleted = r.json()["deleted"]
    assert deleted["sessions"] == 1 and deleted["chat_messages"] == 2 and deleted["files"] == 2
    assert not (recordings / f"{mine}.wav").exists()
    assert not (accounts_settings.reports_dir / mine).exists()
    assert alice.get("/api/history").json()["interviews"] == []
    assert alice.get(f"/api/interviews/{mine}/report").status_code == 404
    assert carol.get("/api/shared").json()["candidates"][0]["interviews"] == []
    # bob's data is untouched
    assert bob.get(f"/api/interviews/{theirs}/report").status_code == 200
    assert (recordings / f"{theirs}.wav").exists()
    with _db(accounts_settings) as db:
        assert db.execute("select count(*) from chat_message").fetchone() == (2,)
    with sqlite3.connect(accounts_settings.checkpoint_path) as cp:
        threads = {t for (t,) in cp.execute("select distinct thread_id from checkpoints")}
    assert mine not in threads and theirs in threads
    # alice can practise on; closing the account signs her out for good
    assert alice.post("/api/interviews", json={"flow": "mini", "consent": True}).is_success
    closed = alice.delete("/api/my-data?account=true")
    assert closed.json()["account_closed"] is True
    assert alice.get("/api/history").status_code == 401
    again = Browser(app).post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert again.status_code == 401


def test_livekit_tokens_only_for_the_owner_and_never_the_secret(
    accounts_settings: Settings, brain: Any
) -> None:
    import jwt
    from pydantic import SecretStr

    from agent.api.app import create_app
    from agent.interview import open_runner
    from agent.voice.session import VoiceRuntime

    secret = "k" * 40
    accounts_settings.livekit.url = "wss://lk.example"
    accounts_settings.livekit.api_key = "devkey"
    accounts_settings.livekit.api_secret = SecretStr(secret)
    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]
    app = create_app(
        accounts_settings,
        runtime=no_voice,
        runner_factory=lambda: open_runner(accounts_settings, brain=brain),
    )
    with TestClient(app) as client:
        alice, bob = User(client, "alice"), User(client, "bob")
        sid = alice.post("/api/interviews", json={"flow": "backend", "consent": True}).json()[
            "session_id"
        ]
        assert bob.post(f"/api/interviews/{sid}/livekit-token").status_code == 404
        grant = alice.post(f"/api/interviews/{sid}/livekit-token")
        assert grant.status_code == 200 and secret not in grant.text
        claims = jwt.decode(grant.json()["token"], secret, algorithms=["HS256"])
        assert claims["video"]["room"] == grant.json()["room"] == f"interview-{sid}"
        assert claims["exp"] - claims["nbf"] <= 600
