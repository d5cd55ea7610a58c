"""Schemathesis against the app's own OpenAPI spec: no operation answers with a server error.

The spec is what the app serves at ``/openapi.json`` (routes that read their raw body declare it
with ``openapi_extra``, so bodies are generated too). Every operation gets schema-conforming
(positive) and schema-violating (negative) cases, sent in-process through the same TestClient
that runs the app's lifespan, and each response goes through schemathesis' ``not_a_server_error``
check. All operations run before the test reports, so one run lists every failing operation.
Default (local, single-user) mode; deterministic; ``MOCKINT_FUZZ_EXAMPLES`` deepens the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

pytestmark = pytest.mark.unit

_DEEP = int(os.environ.get("MOCKINT_FUZZ_EXAMPLES", "0"))
EXAMPLES = max(1, _DEEP // 10) if _DEEP else 6
"""Cases per operation and generation mode."""

NO_VOICE = {("POST", "/api/chat/speak"), ("POST", "/api/chat/voice")}
"""Need the speech models, which this HTTP-only app does not load: a clear 503 is right."""


def send(client: TestClient, case: Any) -> Any:
    """Send a schemathesis case through the TestClient (in-process, with the app's lifespan)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, str | bytes):
        body["content"] = data
    elif data is not None:
        body["data"] = data
    if kwargs.get("files"):
        body["files"] = kwargs["files"]
    client.cookies.clear()
    return client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        cookies=kwargs.get("cookies") or None,
        **body,
    )


def fuzz_operation(client: TestClient, operation: Any, mode: GenerationMode) -> None:
    """Send ``EXAMPLES`` cases of one operation; raise on the first server error."""
    no_voice = (operation.method.upper(), operation.path) in NO_VOICE

    @settings(
        max_examples=EXAMPLES,
        derandomize=not _DEEP,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = send(client, case)
        if response.status_code == 503 and no_voice:
            assert "not available here" in response.json()["detail"]
            return
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_operation_in_the_openapi_spec_answers_with_a_server_error(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    schema = schemathesis.openapi.from_dict(spec.json())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the spec itself is valid
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(client, operation, mode)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing in it can be invalid
            except (Exception, BaseExceptionGroup) as e:  # report every failing operation
                first = str(e).strip().splitlines()[:12]
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode}):\n" + "\n".join(first)
                )
    assert operations >= 30, operations
    assert not failures, "\n\n".join(failures)


def test_the_spec_is_served_with_sign_in_on_and_declares_every_raw_body(
    settings: Any, brain: Any
) -> None:
    from agent.api.app import create_app
    from agent.config import AuthSettings
    from agent.interview import open_runner
    from agent.voice.session import VoiceRuntime

    accounts = settings.model_copy(update={"auth": AuthSettings(mode="accounts")})
    no_voice = VoiceRuntime(stt=None, tts=None, vad=None, turn_detector=None)  # type: ignore[arg-type]  # HTTP only
    app = create_app(
        accounts, runtime=no_voice, runner_factory=lambda: open_runner(accounts, brain=brain)
    )
    with TestClient(app) as client:
        assert client.get("/api/flows").status_code == 401  # signed out: refused...
        spec = client.get("/openapi.json")  # ...but the spec is public
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    bodies = {
        ("post", "/api/interviews"): "application/json",
        ("post", "/api/interviews/{sid}/answers"): "application/json",
        ("post", "/api/flows/check"): "text/plain",
        ("put", "/api/flows"): "text/plain",
        ("post", "/api/flows/dry-run"): "text/plain",
        ("post", "/api/documents"): "application/octet-stream",
        ("post", "/api/chat"): "application/json",
        ("post", "/api/chat/voice"): "application/octet-stream",
        ("post", "/api/chat/speak"): "application/json",
        ("post", "/api/drills"): "application/json",
    }
    for (method, path), media in bodies.items():
        assert media in paths[path][method]["requestBody"]["content"], (method, path)
    start = paths["/api/interviews"]["post"]["requestBody"]["content"]["application/json"]
    assert "consent" in start["schema"]["properties"]
