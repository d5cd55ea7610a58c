"""HTTP routes of the coach chat: page, typed or spoken messages, read-aloud, drills, deletion.

Spoken questions arrive as one recorded clip (any format the browser records; decoded in a
thread, never written to disk) and are transcribed with the same speech recogniser as
interviews; read-aloud renders the reply with the interviewer's voice as WAV. A drill starts a
one-question interview and returns where to open it.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
import wave
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from livekit import rtc
from livekit.agents import APIError
from pydantic import BaseModel, Field
from sqlmodel import Session

from agent.api.auth import principal
from agent.api.bodies import CONTROL_CHARS, json_body, json_model, raw_body, read_body
from agent.brain.types import CandidateProfile
from agent.chat.coach import CoachReply
from agent.chat.drill import DrillError, drill_flow
from agent.chat.service import ChatInputError, CoachService
from agent.errors import FlowError
from agent.store import repo

router = APIRouter()

WEB_CLIENT = Path(__file__).resolve().parents[2] / "web_client"

MAX_SPEAK_CHARS = 3000
MAX_CLIP_SECONDS = 120


class ChatRequest(BaseModel):
    """A typed question."""

    message: str = Field(max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=32, pattern=r"^[a-f0-9]+$")


class SpeakRequest(BaseModel):
    """Text to read aloud."""

    text: str = Field(min_length=1, max_length=MAX_SPEAK_CHARS)


class DrillRequest(BaseModel):
    """Which past question to practise again."""

    flow_id: str = Field(min_length=1, max_length=64)
    question_id: str = Field(min_length=1, max_length=64)
    consent: bool = False


def _state(request: Request) -> Any:
    return request.app.state.mi


def _transport(state: Any) -> str:
    return "livekit" if state.settings.livekit.configured else "local"


def _coach(request: Request) -> CoachService:
    state = _state(request)
    service: CoachService | None = getattr(state, "coach", None)
    if service is None:
        service = CoachService(state.settings)
        state.coach = service
    return service


async def _ask(request: Request, message: str, cid: str | None) -> tuple[str, CoachReply]:
    try:
        return await _coach(request).ask(message, cid, candidate_id=principal(request).candidate_id)
    except ChatInputError as e:
        raise HTTPException(422, str(e)) from None


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request) -> FileResponse:
    """The coach chat page."""
    del request
    return FileResponse(WEB_CLIENT / "chat.html")


@router.post("/api/chat", openapi_extra=json_body(ChatRequest))
async def chat(request: Request) -> dict[str, Any]:
    """Answer a typed question (stored with the candidate's data)."""
    req = await json_model(request, ChatRequest)
    cid, reply = await _ask(request, req.message, req.conversation_id)
    return {"conversation_id": cid, "reply": reply.model_dump()}


@router.get("/api/chat/{conversation_id}")
async def conversation(conversation_id: str, request: Request) -> dict[str, Any]:
    """A stored conversation."""
    messages = await asyncio.to_thread(
        _coach(request).conversation, conversation_id, principal(request).candidate_id
    )
    if not messages:
        raise HTTPException(404, "no such conversation")
    return {"conversation_id": conversation_id, "messages": messages}


def _decode(clip: bytes) -> np.ndarray:
    """Any recorded clip (webm/opus, ogg, wav, mp4…) to mono float32 at 16 kHz, in memory.

    Decoding stops as soon as the clip is longer than `MAX_CLIP_SECONDS`: 2 MB of FLAC silence
    is three hours of audio, which decoding whole would take seconds and gigabytes.
    """
    import av

    limit = (MAX_CLIP_SECONDS + 1) * 16000
    parts: list[np.ndarray] = []
    size = 0
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    try:
        with av.open(io.BytesIO(clip), mode="r", metadata_errors="ignore") as container:
            frames = iter(container.decode(audio=0))
            while size <= limit:
                try:
                    frame = next(frames)
                except StopIteration:
                    frame = None
                except av.InvalidDataError:  # a damaged packet: skip it, as Whisper's decoder does
                    continue
                if frame is not None:
                    frame.pts = None
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    size += len(parts[-1])
                if frame is None:
                    break
    except Exception:
        if len(clip) < 2000:
            raise HTTPException(422, "the recording is too short; please try again") from None
        raise HTTPException(422, "could not read that recording; please try again") from None
    if size < 8000:
        raise HTTPException(422, "the recording is too short; hold the button while you speak")
    if size > MAX_CLIP_SECONDS * 16000:
        raise HTTPException(413, f"please keep spoken questions under {MAX_CLIP_SECONDS} seconds")
    return np.concatenate(parts).astype(np.float32) / 32768.0


@router.post(
    "/api/chat/voice",
    openapi_extra=raw_body("application/octet-stream", "One recorded clip (webm, ogg, wav…)."),
)
async def chat_voice(request: Request, conversation_id: str | None = None) -> dict[str, Any]:
    """Answer a spoken question (one recorded clip, transcribed in memory)."""
    if conversation_id is not None and not re.fullmatch(r"[a-f0-9]{1,32}", conversation_id):
        raise HTTPException(422, "conversation_id: invalid")
    clip = await read_body(request, _state(request).settings.server.max_upload_bytes)
    if not clip:
        raise HTTPException(422, "no recording received")
    audio = await asyncio.to_thread(_decode, clip)
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    frame = rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm))
    stt = _state(request).voice.stt
    if stt is None:
        raise HTTPException(503, "speech recognition is not available here; type your question")
    try:
        event = await stt.recognize(buffer=frame)
    except APIError:
        raise HTTPException(503, "speech recognition failed; please try again or type") from None
    heard = event.alternatives[0].text.strip() if event.alternatives else ""
    if not heard:
        raise HTTPException(422, "I couldn't hear a question in that recording; please try again")
    cid, reply = await _ask(request, heard, conversation_id)
    return {"conversation_id": cid, "heard": heard, "reply": reply.model_dump()}


@router.post("/api/chat/speak", openapi_extra=json_body(SpeakRequest))
async def speak(request: Request) -> Response:
    """Read a reply aloud with the interviewer's voice (WAV)."""
    req = await json_model(request, SpeakRequest)
    tts = _state(request).voice.tts
    if tts is None:
        raise HTTPException(503, "reading aloud is not available here")
    text = CONTROL_CHARS.sub(" ", req.text).strip()  # a NUL made the voice fail outright
    if not text:
        raise HTTPException(422, "text: there is nothing to read aloud")
    try:
        frame = await tts.synthesize(text).collect()
    except APIError:
        raise HTTPException(503, "the voice could not read this aloud; please try again") from None
    except ValueError:  # no audio at all ("buffer is empty"): only symbols the voice skips
        raise HTTPException(422, "text: there is nothing to read aloud") from None
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(frame.num_channels)
        w.setsampwidth(2)
        w.setframerate(frame.sample_rate)
        w.writeframes(bytes(frame.data.cast("B")))
    return Response(buf.getvalue(), media_type="audio/wav")


@router.post("/api/drills", openapi_extra=json_body(DrillRequest))
async def start_drill(request: Request) -> dict[str, Any]:
    """Start a one-question practice of a past question."""
    req = await json_model(request, DrillRequest)
    if not req.consent:
        raise HTTPException(400, "please confirm the consent notice before starting")
    state = _state(request)
    try:
        flow = drill_flow(state.flows.get(req.flow_id), req.question_id)
    except FlowError as e:
        raise HTTPException(404, str(e)) from None
    except DrillError as e:
        raise HTTPException(422, str(e)) from None
    sid = uuid.uuid4().hex[:12]
    step = await state.runner.start(
        session_id=sid,
        flow=flow,
        profile=CandidateProfile(role=flow.role),
        candidate_id=principal(request).candidate_id,
    )
    return {
        "session_id": sid,
        "first_question": step.question,
        "url": f"/?session={sid}",
        "transport": _transport(state),
    }


@router.delete("/api/my-data")
async def delete_my_data(request: Request, account: bool = False) -> dict[str, Any]:
    """Delete everything stored about me: interviews, reports, recordings, chats, checkpoints.

    Local mode: everything on this machine. With accounts: the signed-in candidate's data, and
    with ``account=true`` the account itself (signed out).
    """
    from agent.data_rights import erase_candidates

    state = _state(request)
    who = principal(request)
    if who.local:

        def everyone() -> list[str]:
            with Session(state.engine) as db:
                return repo.all_candidate_ids(session=db)

        candidates = await asyncio.to_thread(everyone)
    else:
        candidates = [who.candidate_id] if who.candidate_id else []

    def open_interviews() -> list[str]:
        with Session(state.engine) as db:
            mine = {
                s
                for c in candidates
                for s in repo.candidate_session_ids(session=db, candidate_id=c)
            }
        return sorted(mine & set(state.live))

    if await asyncio.to_thread(open_interviews):
        raise HTTPException(409, "an interview is still open; end it, then delete your data")
    closed = False
    if account and not who.local and who.account_id is not None:
        await asyncio.to_thread(state.accounts.delete, who.account_id)
        closed = True
    erased = await erase_candidates(
        state.settings,
        state.runner,
        state.engine,
        candidates,
        keep_candidate=not who.local and not closed,
    )
    return {
        "deleted": erased,
        "checkpoints": erased.get("checkpoints", 0),
        "account_closed": closed,
    }
