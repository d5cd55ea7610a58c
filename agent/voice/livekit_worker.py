"""Production transport: the same interviewer as a LiveKit agent worker, plus candidate tokens.

`build_server` returns a livekit `AgentServer` whose room sessions run the interview graph with
the shared voice models (loaded once per worker process in the setup hook). Room names are
``interview-<session id>``; a session started through the HTTP API continues in its room, and a
room without a known session starts a new interview from the room's metadata (JSON profile).
`candidate_token` mints a room-scoped token (at most 10 minutes) that may publish the microphone,
and the camera only when the candidate opted in to camera analysis, and that dispatches this
agent to the room. The candidate's control messages (end, pause, resume) arrive on the data topic
``control``; UI events go out on ``interview``, the same JSON as the local WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from livekit import api, rtc

from agent.brain.types import CandidateProfile
from agent.coach.loader import flow_for_role, resolve_flow
from agent.config import LiveKitSettings, Settings
from agent.errors import ConfigError, SessionNotFoundError
from agent.voice.control import CONTROL_TOPIC, EVENT_TOPIC, apply_control

if TYPE_CHECKING:
    from agent.voice.session import VoiceInterview

logger = logging.getLogger("mockint.agent.voice")

ROOM_PREFIX = "interview-"
AGENT_NAME = "mock-interviewer"


def room_for(session_id: str) -> str:
    """The LiveKit room of an interview."""
    return f"{ROOM_PREFIX}{session_id}"


def session_for(room: str) -> str:
    """The interview id of a LiveKit room."""
    return room.removeprefix(ROOM_PREFIX)


def require_livekit(lk: LiveKitSettings) -> tuple[str, str, str]:
    """URL, key and secret, or a clear error naming what is missing."""
    missing = [
        name
        for name, value in (
            ("LIVEKIT_URL", lk.url),
            ("LIVEKIT_API_KEY", lk.api_key),
            ("LIVEKIT_API_SECRET", lk.api_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"LiveKit is not configured: set {', '.join(missing)}")
    assert lk.url and lk.api_key and lk.api_secret
    return lk.url, lk.api_key, lk.api_secret.get_secret_value()


def candidate_token(
    lk: LiveKitSettings, *, session_id: str, identity: str, camera: bool = False
) -> str:
    """A JWT letting one candidate join one interview room (no admin, no recording).

    Args:
        lk: LiveKit settings (key and secret sign the token; neither leaves the server).
        session_id: The interview; the token is valid for its room only.
        identity: The candidate's participant identity.
        camera: Whether the candidate opted in to camera analysis; without it the token cannot
            publish video at all.
    """
    _, key, secret = require_livekit(lk)
    grants = api.VideoGrants(
        room_join=True,
        room=room_for(session_id),
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_publish_sources=["microphone", "camera"] if camera else ["microphone"],
        room_create=False,
        room_list=False,
        room_record=False,
        room_admin=False,
    )
    dispatch = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=AGENT_NAME)])
    return (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name("Candidate")
        .with_grants(grants)
        .with_room_config(dispatch)
        .with_ttl(timedelta(seconds=min(lk.token_ttl_s, 600)))
        .to_jwt()
    )


def probe_livekit(url: str, *, timeout_s: float = 3.0) -> None:
    """Fail fast with a clear message when the LiveKit server cannot be reached."""
    http_url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    try:
        httpx.get(http_url, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise ConfigError(
            f"cannot reach the LiveKit server at {url} ({type(e).__name__}); check LIVEKIT_URL"
        ) from None


def _profile_from_metadata(metadata: str) -> tuple[CandidateProfile, str | None]:
    try:
        data: dict[str, Any] = json.loads(metadata) if metadata else {}
    except ValueError:
        data = {}
    flow = data.pop("flow", None)
    try:
        return CandidateProfile.model_validate(data), flow
    except ValueError:
        return CandidateProfile(), flow


def build_server(settings: Settings) -> Any:
    """The LiveKit agent server running spoken interviews (no connection is made here)."""
    from livekit.agents import AgentServer, JobContext, JobProcess

    from agent.interview import open_runner
    from agent.voice.session import VoiceInterview, build_voice_runtime
    from agent.voice.vision import VisionFactory

    url, key, secret = require_livekit(settings.livekit)
    vision = VisionFactory(settings)

    def prewarm(proc: JobProcess) -> None:
        proc.userdata["voice"] = build_voice_runtime(settings)

    server = AgentServer(ws_url=url, api_key=key, api_secret=secret, setup_fnc=prewarm)

    @server.rtc_session(agent_name=AGENT_NAME)
    async def entrypoint(ctx: JobContext) -> None:
        await ctx.connect()
        sid = session_for(ctx.room.name)
        done = asyncio.Event()
        async with open_runner(settings) as runner:
            try:
                await runner.current(sid)
            except SessionNotFoundError:
                profile, flow_ref = _profile_from_metadata(ctx.room.metadata)
                flow = resolve_flow(flow_ref) if flow_ref else flow_for_role(profile.role)
                await runner.start(session_id=sid, flow=flow, profile=profile)

            tasks: set[asyncio.Task[Any]] = set()

            def spawn(coro: Any) -> None:
                task = asyncio.create_task(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            def emit(event: dict[str, Any]) -> None:
                payload = json.dumps({k: v for k, v in event.items() if k != "t"})
                spawn(ctx.room.local_participant.publish_data(payload, topic=EVENT_TOPIC))

            voice = VoiceInterview(
                runtime=ctx.proc.userdata["voice"],
                runner=runner,
                session_id=sid,
                settings=settings,
                audio_in=None,
                audio_out=None,
                emit=emit,
                on_finished=lambda _step: done.set(),
            )

            async def control(packet: rtc.DataPacket) -> None:
                if (reply := await apply_control(voice, packet.data)) is not None:
                    emit(reply)

            def on_data(packet: rtc.DataPacket) -> None:
                if packet.topic == CONTROL_TOPIC and packet.participant is not None:
                    spawn(control(packet))

            def on_track(
                track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
            ) -> None:
                # Only a candidate who opted in holds a token that may publish a camera track.
                if track.kind == rtc.TrackKind.KIND_VIDEO and who.kind != AGENT_KIND:
                    voice.enable_camera(vision(), fps=settings.perception.video_fps)
                    spawn(pump_video(voice, track, fps=settings.perception.video_fps))

            ctx.room.on("data_received", on_data)
            ctx.room.on("track_subscribed", on_track)
            ctx.room.on("disconnected", lambda *_: done.set())
            await voice.start(room=ctx.room)
            await done.wait()
            await asyncio.sleep(5)  # let the wrap-up line play out
            await voice.aclose()
            for task in list(tasks):
                task.cancel()

    return server


AGENT_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


async def pump_video(voice: VoiceInterview, track: rtc.Track, *, fps: float) -> None:
    """Camera frames from a LiveKit track into the interview's video worker, at most ``fps``.

    Frames are converted to RGB natively and only when one is due; none is kept or written.
    """
    stream = rtc.VideoStream(track, capacity=1, format=rtc.VideoBufferType.RGB24)
    interval = 1.0 / max(fps, 0.1)
    last = -interval
    try:
        async for event in stream:
            now = time.monotonic()
            if now - last < interval * 0.95:
                continue
            last = now
            frame = event.frame
            rgb = np.frombuffer(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 3)
            voice.submit_frame(np.ascontiguousarray(rgb[:, :, ::-1]))
    finally:
        await stream.aclose()
