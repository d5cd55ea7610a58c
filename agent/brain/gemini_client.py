"""The narrow seam to Gemini: structured JSON calls and streamed text through google-genai.

Owns the SDK (google-genai, not the end-of-life google-generativeai), its settings (model, base
URL for local fakes, no SDK retries, thinking budget) and the translation of every failure into a
`GeminiError` with a short kind: ``timeout``, ``rate_limited``, ``server``, ``client``,
``network``, ``malformed`` or ``blocked``. Callers decide what to do about it (the Gemini brain
falls back to the offline brain for that step).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from agent.config import GeminiSettings

logger = logging.getLogger("mockint.agent.brain")

T = TypeVar("T", bound=BaseModel)


class GeminiError(Exception):
    """A Gemini call that produced nothing usable."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"gemini {kind}{': ' + detail if detail else ''}")
        self.kind = kind


def _kind_of(exc: BaseException) -> str:
    from google.genai import errors

    if isinstance(exc, asyncio.TimeoutError | httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, errors.APIError):
        code = int(getattr(exc, "code", 0) or 0)
        if code == 429:
            return "rate_limited"
        return "server" if code >= 500 else "client"
    if isinstance(exc, httpx.HTTPError | OSError):
        return "network"
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientError):
            return "network"
    except ImportError:  # pragma: no cover - aiohttp is optional for google-genai
        pass
    return "malformed"


class GeminiClient:
    """Calls one Gemini model; one instance per process, safe to share between interviews."""

    def __init__(self, settings: GeminiSettings) -> None:
        from google import genai
        from google.genai import types

        if settings.api_key is None:
            raise ValueError("GeminiClient needs an API key")
        self.settings = settings
        self.model = settings.model
        self._types = types
        self._client = genai.Client(
            api_key=settings.api_key.get_secret_value(),
            http_options=types.HttpOptions(
                base_url=settings.base_url,
                # The brain enforces its own deadline per step; this only bounds a stuck socket.
                timeout=int(max(settings.step_timeout_s, 1.0) * 4000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def _config(self, *, system: str, schema: type[BaseModel] | None) -> Any:
        t = self._types
        return t.GenerateContentConfig(
            system_instruction=system,
            temperature=0.3,
            max_output_tokens=self.settings.max_output_tokens,
            thinking_config=t.ThinkingConfig(thinking_budget=self.settings.thinking_budget),
            response_mime_type="application/json" if schema is not None else None,
            response_schema=schema,
        )

    async def json(self, *, system: str, user: str, schema: type[T]) -> T:
        """One structured call; the reply is validated against ``schema``.

        Raises:
            GeminiError: on any failure, including a reply that is not valid for ``schema``.
        """
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=user, config=self._config(system=system, schema=schema)
            )
        except Exception as e:
            raise GeminiError(_kind_of(e), type(e).__name__) from None
        text = response.text
        if not text:
            reason = _finish_reason(response)
            raise GeminiError(
                "blocked" if reason in ("SAFETY", "PROHIBITED_CONTENT") else "malformed"
            )
        try:
            return schema.model_validate_json(text)
        except ValidationError as e:
            raise GeminiError("malformed", f"{e.error_count()} validation error(s)") from None

    async def stream(self, *, system: str, user: str) -> AsyncIterator[str]:
        """Streamed plain text, chunk by chunk as the model writes it.

        Raises:
            GeminiError: when the stream cannot start or breaks off.
        """
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=self.model, contents=user, config=self._config(system=system, schema=None)
            )
            async for chunk in chunks:
                if chunk.text:
                    yield chunk.text
        except GeminiError:
            raise
        except Exception as e:
            raise GeminiError(_kind_of(e), type(e).__name__) from None

    async def aclose(self) -> None:
        """Release the HTTP client."""
        try:
            await self._client.aio.aclose()
        except Exception:  # closing is best effort
            logger.debug("closing the Gemini client failed", exc_info=True)


def _finish_reason(response: Any) -> str:
    try:
        reason = response.candidates[0].finish_reason
    except (AttributeError, IndexError, TypeError):
        return ""
    return str(getattr(reason, "value", reason) or "")
