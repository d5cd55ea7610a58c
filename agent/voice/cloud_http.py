"""HTTP sessions for the cloud speech plugins when they run outside a LiveKit job.

The livekit Deepgram plugins take their aiohttp session from the job context, which only
exists inside a LiveKit worker. The embedded transport (and the tests) run the same plugins in
our own server, so `bind_session` gives a plugin one session per event loop there; inside a job
the plugin keeps using the job's session.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp
from livekit.agents.utils import http_context

_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def bind_session(plugin: Any) -> None:
    """Make sure ``plugin`` (a Deepgram STT or TTS) has a usable session on this loop."""
    try:
        http_context.http_session()
        return  # inside a LiveKit job: the plugin finds the job's session itself
    except RuntimeError:
        pass
    loop = asyncio.get_running_loop()
    current: aiohttp.ClientSession | None = getattr(plugin, "_session", None)
    if current is not None and not current.closed and current._loop is loop:
        return
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession()
        _SESSIONS[loop] = session
    plugin._session = session  # the plugins' own attribute (see their _ensure_session)


async def close_sessions() -> None:
    """Close this loop's session (at shutdown)."""
    session = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()
