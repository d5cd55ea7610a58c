"""Coach flows from the browser: validation with lines, preview, save, ids only, API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.coach.library import FlowLibrary, check_flow_text, preview
from agent.errors import FlowError

pytestmark = pytest.mark.unit

MINI = (Path(__file__).resolve().parents[1] / "data" / "mini_flow.yaml").read_text()


def test_check_gives_line_numbers_and_preview() -> None:
    ok = check_flow_text(MINI)
    assert ok.flow is not None and not ok.issues
    pv = preview(ok.flow)
    assert pv["id"] == "mini" and pv["sections"] and pv["sections"][0]["questions"]
    broken = MINI.replace("type: technical", "type: tecnical", 1)
    bad = check_flow_text(broken)
    assert bad.flow is None
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "tecnical" in text)
    assert any(i["line"] == line and "type" in i["message"] for i in bad.issues), bad.issues
    assert check_flow_text(": : :\n  - [").issues[0]["line"] >= 1
    assert check_flow_text("x" * 600_000).issues[0]["message"].startswith("the flow is larger")


def test_save_get_and_refuse_shipped_ids_and_paths(tmp_path: Path) -> None:
    lib = FlowLibrary(tmp_path / "flows")
    flow = lib.save(MINI)
    assert lib.get("mini") == flow and lib.text("mini") == MINI
    assert [src for f, src in lib.all() if f.id == "mini"] == ["coach"]
    with pytest.raises(FlowError, match="shipped flow"):
        lib.save(MINI.replace("id: mini", "id: backend", 1))
    with pytest.raises(FlowError, match="has errors"):
        lib.save("id: nope")
    for ref in ("../../etc/passwd", "/etc/hosts", "nope"):
        with pytest.raises(FlowError, match="unknown flow"):
            lib.get(ref)
    (tmp_path / "flows" / "broken.yaml").write_text("id: [")
    assert "broken" not in lib.coach_flows()  # a damaged file is skipped, not fatal


def test_flow_api(client: TestClient) -> None:
    r = client.post("/api/flows/check", content=MINI.replace("type: technical", "type: x", 1))
    assert r.status_code == 200 and not r.json()["ok"] and r.json()["issues"][0]["line"] > 1
    r = client.put("/api/flows", content=MINI)
    assert r.status_code == 200 and r.json()["share_url"] == "/?flow=mini"
    assert any(
        f["id"] == "mini" and f["source"] == "coach" for f in client.get("/api/flows").json()
    )
    assert "sections:" in client.get("/api/flows/mini/yaml").json()["yaml"]
    assert client.get("/api/flows/backend/yaml").json()["yaml"].startswith("#")
    assert client.get("/api/flows/..%2F..%2Fetc/yaml").status_code == 404
    r = client.post("/api/interviews", json={"flow": "mini", "consent": True})
    assert r.status_code == 200 and r.json()["flow"] == "mini"
    r = client.post("/api/interviews", json={"flow": "/etc/passwd", "consent": True})
    assert r.status_code == 400 and "unknown flow" in r.text
    assert client.put("/api/flows", content=b"\xff\xfe\x00").status_code == 422
    assert client.put("/api/flows", content=b"a" * 600_000).status_code == 413
    r = client.post("/api/flows/dry-run", content=MINI)
    assert r.status_code == 200 and r.json()["cases"] == 10 and r.json()["violations"] == 0
