"""Request bodies: read with a size cap, parse into a model, describe in the OpenAPI spec.

Routes that take JSON read the raw body themselves (so an oversized one is refused before it is
held in memory) and parse it here; a malformed one is a 422 naming the first bad field.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab and newline: typed text loses them (PostgreSQL refuses a
NUL, the voice fails on one)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it passes ``limit`` bytes."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"too large; the limit is {max(1, limit // 1_000_000)} MB")
    return bytes(data)


def parse_model(model: type[M], body: bytes) -> M:
    """``body`` as ``model`` (an empty body is ``{}``); a 422 naming the first bad field."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as e:
        first = e.errors()[0]
        raise HTTPException(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


async def json_model(request: Request, model: type[M]) -> M:
    """Read (capped by the server's upload limit) and parse a JSON body."""
    limit: int = request.app.state.mi.settings.server.max_upload_bytes
    return parse_model(model, await read_body(request, limit))


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that parses ``model`` from its raw body itself.

    Such routes read the body directly (to cap its size first), so FastAPI cannot see what they
    take; this puts it in the OpenAPI spec for clients and for the schemathesis fuzz tests.
    """
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def raw_body(media_type: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose raw body is text or a file (see `json_body`)."""
    schema: dict[str, Any] = {"type": "string"}
    if not media_type.startswith("text/"):
        schema["format"] = "binary"
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: {"schema": schema}},
        }
    }
