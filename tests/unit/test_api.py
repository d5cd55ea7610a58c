from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit


def start(client: TestClient, **kw):  # type: ignore[no-untyped-def]
    body = {
        "role": "Backend engineer",
        "seniority": "mid",
        "skills": "python",
        "consent": True,
        **kw,
    }
    return client.post("/api/interviews", json=body)


def test_page_and_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "not a hiring assessment" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../pyproject.toml").status_code == 404
    assert client.get("/static/secret.py").status_code == 404
    flows = client.get("/api/flows").json()
    assert any(f["id"] == "backend" for f in flows)


def test_start_requires_consent_and_valid_input(client: TestClient) -> None:
    assert start(client, consent=False).status_code == 400
    assert start(client, seniority="wizard").status_code == 422
    assert start(client, flow="no-such-flow").status_code == 400
    assert start(client, resume_text="x" * 30_000).status_code == 422
    r = client.post(
        "/api/interviews", content=b"not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    huge = client.post("/api/interviews", content=b"x" * (3 * 1024 * 1024))
    assert huge.status_code == 413


def test_start_status_and_report_flow(client: TestClient) -> None:
    r = start(client, flow="backend")
    assert r.status_code == 200
    sid = r.json()["session_id"]
    status = client.get(f"/api/interviews/{sid}").json()
    assert status["finished"] is False and "Priya" in status["pending"]["say"]
    assert client.get(f"/api/interviews/{sid}/report").status_code == 409
    assert client.get("/api/interviews/nope").status_code == 404
    assert client.post(f"/api/interviews/{sid}/livekit-token").status_code == 404


def test_websocket_rejects_unknown_interview(client: TestClient) -> None:
    with client.websocket_connect("/ws/interviews/unknown") as ws:
        msg = ws.receive_json()
        assert msg["type"] == "error"


def test_camera_is_off_unless_the_candidate_opts_in(client: TestClient) -> None:
    off = start(client).json()
    assert off["camera"] is False
    with client.websocket_connect(f"/ws/interviews/{off['session_id']}/video") as ws:
        msg = ws.receive_json()
        assert msg["type"] == "error" and "camera analysis is off" in msg["message"]
    on = start(client, camera=True, stutter_aware=True).json()
    assert on["camera"] is True
    with client.websocket_connect(f"/ws/interviews/{on['session_id']}/video") as ws:
        ws.send_bytes(b"x" * 2_100_000)  # oversized frame: a clear error, the socket stays open
        assert "too large" in ws.receive_json()["message"]
        ws.send_bytes(b"\xff\xd8not really a jpeg")  # no live interview yet: ignored, no crash


def test_typed_answers_run_an_interview_to_its_report(client: TestClient) -> None:
    sid = start(client, flow="backend").json()["session_id"]
    pending = client.get(f"/api/interviews/{sid}").json()["pending"]
    assert client.post(f"/api/interviews/{sid}/answers", json={"text": ""}).status_code == 422
    blank = client.post(f"/api/interviews/{sid}/answers", json={"text": "\x00\x07 "})
    assert blank.status_code == 422 and "empty" in blank.json()["detail"]
    assert client.post("/api/interviews/nope/answers", json={"text": "hi"}).status_code == 404
    turn = pending["turn"]
    step = client.post(
        f"/api/interviews/{sid}/answers",
        json={"text": "I build payment\x00 APIs in Python and lead a team of four.", "turn": turn},
    ).json()
    assert step["turn"] != turn and step["question"]
    assert not client.app.state.mi._locks  # type: ignore[attr-defined]  # no lock outlives its use
    # a retried request for the answered question never answers the next one
    stale = client.post(f"/api/interviews/{sid}/answers", json={"text": "again", "turn": turn})
    assert stale.status_code == 409 and "already answered" in stale.json()["detail"]
    for _ in range(40):
        if step["finished"]:
            break
        step = client.post(
            f"/api/interviews/{sid}/answers",
            json={
                "text": "I would measure first, then add an index and a cache.",
                "turn": step["turn"],
            },
        ).json()
    assert step["finished"] and step["report_url"] == f"/interviews/{sid}/report"
    report = client.get(f"/api/interviews/{sid}/report").json()
    assert "payment  APIs" in report["questions"][0]["answer"]  # the NUL became a space
    assert client.post(f"/api/interviews/{sid}/answers", json={"text": "x"}).status_code == 409
