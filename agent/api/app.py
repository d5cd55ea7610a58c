"""The local web app: serves the candidate page, starts interviews, and carries their audio.

Local transport (the embedded default): the browser streams microphone PCM (16 kHz, 16-bit mono)
over a WebSocket; the server feeds it to the interview's AgentSession and streams the
interviewer's voice back (24 kHz, 16-bit mono) with JSON events for captions and state. A
dropped connection pauses the interview; reconnecting continues at the pending question,
because the interview graph is checkpointed after every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from livekit import rtc
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from agent.accounts.service import Accounts
from agent.api import auth
from agent.api.admission import Admission
from agent.api.bodies import CONTROL_CHARS, json_body, json_model, raw_body, read_body
from agent.api.chat_routes import router as chat_router
from agent.brain.types import CandidateProfile
from agent.coach.library import FlowLibrary, check_flow_text, preview
from agent.coach.loader import MAX_FLOW_BYTES, flow_for_role
from agent.config import Settings
from agent.documents import MAX_UPLOAD_BYTES, DocumentError, document_text
from agent.errors import (
    FlowError,
    InterviewerError,
    SessionNotFoundError,
    StorageUnavailableError,
)
from agent.interview import InterviewRunner, Step, open_runner
from agent.report.html import render_html
from agent.store import repo
from agent.store.db import init_db, is_transient_storage_error, make_engine
from agent.voice.cloud_http import close_sessions
from agent.voice.control import apply_control
from agent.voice.local_io import PacedAudioOutput, QueueAudioInput
from agent.voice.recording import MicRecorder, recording_note, start_recording
from agent.voice.session import VoiceInterview, VoiceRuntime, build_voice_runtime
from agent.voice.vision import VisionFactory
from perception.vision import VisionPipeline
from perception.worker import MAX_FRAME_BYTES

logger = logging.getLogger("mockint.agent.api")

MIC_RATE = 16000
SPEAKER_RATE = 24000
WEB_CLIENT = Path(__file__).resolve().parents[2] / "web_client"
VENDOR = {
    "livekit-client.mjs": WEB_CLIENT / "node_modules/livekit-client/dist/livekit-client.esm.mjs",
}
"""Browser libraries installed from the npm registry by `make setup` and served locally."""


class StartRequest(BaseModel):
    """What the candidate chose on the start page."""

    role: str = Field(default="", max_length=120)
    flow: str | None = Field(default=None, max_length=64)
    seniority: str = "mid"
    skills: str = Field(default="", max_length=500)
    name: str = Field(default="", max_length=80)
    resume_text: str = Field(default="", max_length=20_000)
    jd_text: str = Field(default="", max_length=20_000)
    consent: bool = False
    """The candidate read what is measured and that this is practice, not assessment."""
    camera: bool = False
    """Opt-in to camera analysis (eye contact, expression); off unless switched on."""
    stutter_aware: bool = False
    """Repetitions and blocks are not penalised in delivery scoring."""
    non_native_pace: bool = False
    """A wider speaking-pace band."""
    score_face: bool = True
    """With the camera on: include presence in scoring (off keeps it informational)."""
    record_audio: bool = False
    """Opt-in: keep a WAV of the candidate's microphone audio on this computer
    (``recordings_dir/<id>*.wav``, see agent.voice.recording); off writes no audio at all."""


@dataclass
class _SidLock:
    """An interview's answer lock and how many requests hold or wait for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class AnswerRequest(BaseModel):
    """A typed answer to the pending question."""

    text: str = Field(min_length=1, max_length=20_000)
    turn: int | None = Field(default=None, ge=0)
    """The question being answered (from the last step). A retried request whose answer was
    already recorded names an earlier turn and is refused, so it never answers the next one."""

    @field_validator("text")
    @classmethod
    def _printable(cls, text: str) -> str:
        # control characters (a NUL is refused by PostgreSQL) become spaces; nothing else changes
        cleaned = CONTROL_CHARS.sub(" ", text)
        if not cleaned.strip():
            raise ValueError("the answer is empty")
        return cleaned


_FLOW_BODY = raw_body("text/plain", "The flow's YAML (UTF-8, at most 512 KB).")
"""OpenAPI body of the routes that take a coach flow's YAML."""


def _step_json(step: Step) -> dict[str, Any]:
    """A step as the API returns it."""
    return {
        "session_id": step.session_id,
        "finished": step.finished,
        "say": step.say,
        "question": step.question,
        "kind": step.kind,
        "turn": step.turn,
        "report_url": f"/interviews/{step.session_id}/report" if step.finished else None,
    }


@dataclass
class Live:
    """A connected spoken interview."""

    voice: VoiceInterview
    ws: WebSocket
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class AppState:
    """Process-wide state: settings, the runner, the voice models and live interviews."""

    def __init__(self, settings: Settings, runner: InterviewRunner, voice: VoiceRuntime) -> None:
        self.settings = settings
        self.runner = runner
        self.voice = voice
        self.live: dict[str, Live] = {}
        self.seen: set[str] = set()
        self.camera: set[str] = set()
        """Interviews whose candidate opted in to camera analysis (this process only)."""
        self.flows = FlowLibrary(settings.data_dir / "flows")
        self._vision = VisionFactory(settings)
        self._locks: dict[str, _SidLock] = {}
        self.admission = Admission.from_settings(settings)
        """Capacity for live voice and camera sessions (see agent.api.admission)."""
        self.engine = make_engine(settings.database_url)
        init_db(self.engine)
        self.accounts = (
            Accounts(self.engine, settings.auth) if settings.auth.mode == "accounts" else None
        )
        """Sign-in and sharing (None in single-user mode)."""

    @contextlib.asynccontextmanager
    async def lock(self, sid: str) -> AsyncIterator[None]:
        """One answer at a time per interview (typed answers from several tabs or retries).

        A lock lives only while someone holds or waits for it, so the table stays small.
        """
        entry = self._locks.setdefault(sid, _SidLock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(sid) is entry:
                del self._locks[sid]

    def vision_factory(self) -> Callable[[], VisionPipeline] | None:
        """Builds a vision pipeline per camera stream."""
        return self._vision()


def create_app(
    settings: Settings,
    *,
    runtime: VoiceRuntime | None = None,
    runner_factory: Any = None,
) -> FastAPI:
    """Build the app. ``runtime``/``runner_factory`` let tests inject prepared parts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        voice = (
            runtime
            if runtime is not None
            else await asyncio.to_thread(build_voice_runtime, settings)
        )
        factory = runner_factory or (lambda: open_runner(settings))
        async with factory() as runner:
            state = await asyncio.to_thread(AppState, settings, runner, voice)
            app.state.mi = state
            housekeeping = asyncio.create_task(_housekeeping(state))
            yield
            housekeeping.cancel()
            for live in list(state.live.values()):
                await live.voice.aclose()
            await close_sessions()
            state.engine.dispose()

    app = FastAPI(title="Mock interviewer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.middleware("http")(auth.gate)
    app.include_router(auth.router)
    app.include_router(chat_router)

    def st(request: Request | WebSocket) -> AppState:
        state: AppState = request.app.state.mi
        return state

    @app.exception_handler(InterviewerError)
    async def _domain_error(_: Request, exc: InterviewerError) -> JSONResponse:
        if isinstance(exc, StorageUnavailableError):  # transient: the client may send it again
            return JSONResponse(
                {"error": str(exc), "answer_saved": exc.answer_saved},
                status_code=503,
                headers={"retry-after": "5"},
            )
        code = 404 if isinstance(exc, SessionNotFoundError) else 400
        return JSONResponse({"error": str(exc)}, status_code=code)

    @app.exception_handler(SQLAlchemyError)
    async def _storage_error(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        # a read (report, history, chat) that met a database that is down or restarting: say
        # so and let the page retry, rather than a bare 500; anything else is a real bug
        if not is_transient_storage_error(exc):
            raise exc
        logger.warning("storage unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"error": "storage is unavailable for the moment; try again in a few seconds"},
            status_code=503,
            headers={"retry-after": "5"},
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> FileResponse:
        return FileResponse(WEB_CLIENT / "index.html")

    @app.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        allowed = {p.name for p in WEB_CLIENT.iterdir() if p.suffix in (".js", ".css")}
        if name not in allowed:
            raise HTTPException(404, "not found")
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(WEB_CLIENT / name, media_type=media)

    @app.get("/static/vendor/{name}")
    async def vendor(name: str) -> FileResponse:
        path = VENDOR.get(name)
        if path is None:
            raise HTTPException(404, "not found")
        if not path.is_file():
            raise HTTPException(
                503, f"{name} is not installed: run `make setup` (npm ci in web_client/)"
            )
        return FileResponse(path, media_type="text/javascript")

    @app.get("/api/flows")
    async def flows(request: Request) -> list[dict[str, Any]]:
        return [
            {
                "id": f.id,
                "title": f.title,
                "role": f.role,
                "minutes": f.duration_minutes,
                "source": source,
            }
            for f, source in st(request).flows.all()
        ]

    @app.get("/coach", response_class=HTMLResponse)
    async def coach_page() -> FileResponse:
        return FileResponse(WEB_CLIENT / "coach.html")

    async def _flow_body(request: Request) -> str:
        try:
            body = await read_body(request, MAX_FLOW_BYTES)
        except HTTPException:
            raise HTTPException(413, "the flow is larger than 512 KB") from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(422, "the flow must be UTF-8 text") from None

    @app.get("/api/flows/{flow_id}/yaml")
    async def flow_yaml(flow_id: str, request: Request) -> dict[str, str]:
        auth.require_flow_author(auth.principal(request))
        try:
            return {"id": flow_id, "yaml": st(request).flows.text(flow_id)}
        except FlowError as e:
            raise HTTPException(404, str(e)) from None

    @app.post("/api/flows/check", openapi_extra=_FLOW_BODY)
    async def flow_check(request: Request) -> dict[str, Any]:
        auth.require_flow_author(auth.principal(request))
        checked = await asyncio.to_thread(check_flow_text, await _flow_body(request))
        return {
            "ok": checked.flow is not None,
            "issues": list(checked.issues),
            "preview": preview(checked.flow) if checked.flow is not None else None,
        }

    @app.put("/api/flows", openapi_extra=_FLOW_BODY)
    async def flow_save(request: Request) -> dict[str, Any]:
        auth.require_flow_author(auth.principal(request))
        text = await _flow_body(request)
        try:
            flow = await asyncio.to_thread(st(request).flows.save, text)
        except FlowError as e:
            raise HTTPException(422, str(e)) from None
        return {"id": flow.id, "title": flow.title, "share_url": f"/?flow={flow.id}"}

    @app.post("/api/flows/dry-run", openapi_extra=_FLOW_BODY)
    async def flow_dry_run(request: Request) -> dict[str, Any]:
        """The persona battery on an edited flow (the same code as `interviewer eval personas`)."""
        auth.require_flow_author(auth.principal(request))
        checked = await asyncio.to_thread(check_flow_text, await _flow_body(request))
        if checked.flow is None:
            raise HTTPException(422, "fix the flow's errors before a dry run")
        from agent.selftest.battery import run_text_battery

        settings = st(request).settings
        flow = checked.flow

        async def battery() -> Any:
            async with open_runner(settings, durable=False, use_db=False) as runner:
                return await run_text_battery(runner, [flow])

        # Its own thread and loop: the models' work must not stall live interviews.
        result = await asyncio.to_thread(asyncio.run, battery())
        summary = result.summary()
        return {
            **summary,
            "failures": [
                {"case": key, "invariant": name, "line": line}
                for key, per in result.violations.items()
                for name, lines in per.items()
                for line in lines
            ],
        }

    @app.post(
        "/api/documents",
        openapi_extra=raw_body("application/octet-stream", "A TXT, PDF or DOCX file."),
    )
    async def upload_document(request: Request, name: str = "upload") -> dict[str, Any]:
        """A résumé or job description (TXT, PDF, DOCX) sent as the raw body → its text.

        Read in memory up to the limit (never spooled to disk) and parsed off the event loop.
        """
        name = Path(name).name[:120] or "upload"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise HTTPException(
                413,
                f"{name}: the file is too large; the limit is {MAX_UPLOAD_BYTES // 1_000_000} MB",
            )
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise HTTPException(
                    413,
                    f"{name}: the file is too large; the limit is "
                    f"{MAX_UPLOAD_BYTES // 1_000_000} MB",
                )
        try:
            text = await asyncio.to_thread(document_text, bytes(data), name)
        except DocumentError as e:
            raise HTTPException(422, str(e)) from None
        return {"name": name, "text": text, "words": len(text.split())}

    @app.post("/api/interviews", openapi_extra=json_body(StartRequest))
    async def start(request: Request) -> dict[str, Any]:
        state = st(request)
        req = await json_model(request, StartRequest)
        if not req.consent:
            raise HTTPException(400, "please confirm the consent notice before starting")
        try:
            flow = state.flows.get(req.flow) if req.flow else flow_for_role(req.role)
        except FlowError as e:
            raise HTTPException(400, str(e)) from None
        try:
            profile = CandidateProfile(
                name=req.name,
                role=req.role or flow.role,
                seniority=req.seniority,
                skills=req.skills,
                resume_text=req.resume_text,
                jd_text=req.jd_text,
            )
        except ValidationError as e:
            first = e.errors()[0]
            raise HTTPException(
                422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        if (refusal := state.admission.check_start(camera=req.camera)) is not None:
            raise HTTPException(503, refusal.message, headers={"retry-after": "120"})
        sid = uuid.uuid4().hex[:12]
        prefs = {
            "stutter_aware": req.stutter_aware,
            "non_native_pace": req.non_native_pace,
            "score_face": req.score_face and req.camera,
        }
        step = await state.runner.start(
            session_id=sid,
            flow=flow,
            profile=profile,
            delivery_prefs=prefs,
            candidate_id=auth.principal(request).candidate_id,
        )
        # Recording needs the local transport (a LiveKit room's audio goes to the worker).
        record = req.record_audio and _transport(state) == "local"
        if record:
            await asyncio.to_thread(start_recording, state.settings.recordings_dir, sid)
        if req.camera:
            state.camera.add(sid)
        state.admission.reserve(sid, camera=req.camera)
        return {
            "session_id": sid,
            "flow": flow.id,
            "first_question": step.question,
            "camera": req.camera,
            "record_audio": record,
            "transport": _transport(state),
        }

    @app.get("/api/interviews/{sid}")
    async def status(sid: str, request: Request) -> dict[str, Any]:
        await auth.require_owner(request, auth.principal(request), sid)
        step = await st(request).runner.current(sid)
        return {
            "session_id": sid,
            "finished": step.finished,
            "pending": None
            if step.finished
            else {"say": step.say, "question": step.question, "turn": step.turn},
            "live": sid in st(request).live,
            "camera": sid in st(request).camera,
            "transport": _transport(st(request)),
        }

    @app.post("/api/interviews/{sid}/answers", openapi_extra=json_body(AnswerRequest))
    async def answer(sid: str, request: Request) -> dict[str, Any]:
        """Answer the pending question in writing (a text interview, or no microphone)."""
        state = st(request)
        req = await json_model(request, AnswerRequest)
        await auth.require_owner(request, auth.principal(request), sid)
        if sid in state.live:
            raise HTTPException(409, "this interview is open by voice; answer there")
        async with state.lock(sid):
            step = await state.runner.current(sid)
            if step.finished:
                raise HTTPException(409, "the interview has finished")
            if req.turn is not None and req.turn != step.turn:
                raise HTTPException(
                    409,
                    f"question {req.turn} was already answered; the interview is at "
                    f"question {step.turn}",
                )
            nxt = await state.runner.answer(sid, req.text)
        return _step_json(nxt)

    @app.post("/api/interviews/{sid}/livekit-token")
    async def livekit_token(sid: str, request: Request) -> dict[str, Any]:
        from agent.voice.livekit_worker import candidate_token, room_for

        state = st(request)
        if not state.settings.livekit.configured:
            raise HTTPException(404, "LiveKit is not configured; use the local transport")
        await auth.require_owner(request, auth.principal(request), sid)
        await state.runner.current(sid)
        token = candidate_token(
            state.settings.livekit,
            session_id=sid,
            identity=f"cand-{sid}",
            camera=sid in state.camera,
        )
        return {"url": state.settings.livekit.url, "room": room_for(sid), "token": token}

    @app.get("/api/interviews/{sid}/report")
    async def report_json(sid: str, request: Request) -> dict[str, Any]:
        await auth.require_reader(request, auth.principal(request), sid)
        return await asyncio.to_thread(_report, st(request), sid)

    @app.get("/interviews/{sid}/report", response_class=HTMLResponse)
    async def report_html(sid: str, request: Request) -> HTMLResponse:
        state = st(request)
        owner = await auth.require_reader(request, auth.principal(request), sid)
        report = await asyncio.to_thread(_report, state, sid)
        scope = None if auth.principal(request).local else owner
        summary = await asyncio.to_thread(_history, state, 50, scope)
        series = summary["metrics"].get("overall", [])
        upto = next((i for i, p in enumerate(series) if p["session_id"] == sid), None)
        trend = series[: upto + 1][-12:] if upto is not None else []
        return HTMLResponse(render_html(report, trend=trend))

    @app.get("/history", response_class=HTMLResponse)
    async def history_page() -> FileResponse:
        return FileResponse(WEB_CLIENT / "history.html")

    @app.get("/api/history")
    async def history(request: Request, limit: int = 100) -> dict[str, Any]:
        who = auth.principal(request)
        return await asyncio.to_thread(
            _history, st(request), max(1, min(limit, 500)), who.candidate_id
        )

    @app.get("/interviews/{sid}/report.json")
    async def report_download(sid: str, request: Request) -> JSONResponse:
        await auth.require_reader(request, auth.principal(request), sid)
        return JSONResponse(
            await asyncio.to_thread(_report, st(request), sid),
            headers={"content-disposition": f'attachment; filename="report-{sid}.json"'},
        )

    @app.websocket("/ws/interviews/{sid}")
    async def interview_ws(ws: WebSocket, sid: str) -> None:
        state = st(ws)
        await ws.accept()
        try:
            who = await auth.ws_principal(ws)
            if who is None:
                await ws.send_json({"type": "error", "message": "please sign in again"})
                await ws.close(code=4401)
                return
            await auth.require_owner(ws, who, sid)
            step = await state.runner.current(sid)
        except SessionNotFoundError:
            await ws.send_json({"type": "error", "message": f"no interview '{sid}'"})
            await ws.close(code=4404)
            return
        if step.finished:
            await ws.send_json({"type": "finished", "session_id": sid})
            await ws.close()
            return
        if sid in state.live:
            await ws.send_json(
                {"type": "error", "message": "this interview is already open in another tab"}
            )
            await ws.close(code=4409)
            return
        # Beyond capacity: refused before any audio (1013: try again later), never degraded.
        if (refusal := state.admission.admit(sid, camera=sid in state.camera)) is not None:
            await ws.send_json({"type": "error", "code": "busy", "message": refusal.message})
            await ws.close(code=1013)
            return
        try:
            await _run_live(state, ws, sid)
        finally:
            state.admission.leave(sid)

    @app.websocket("/ws/interviews/{sid}/video")
    async def video_ws(ws: WebSocket, sid: str) -> None:
        """Camera frames (binary JPEG) for an interview whose candidate opted in."""
        state = st(ws)
        await ws.accept()
        who = await auth.ws_principal(ws)
        try:
            if who is None:
                raise SessionNotFoundError(sid)
            await auth.require_owner(ws, who, sid)
        except SessionNotFoundError:
            await ws.send_json({"type": "error", "message": f"no interview '{sid}'"})
            await ws.close(code=4404)
            return
        if sid not in state.camera:
            await ws.send_json(
                {"type": "error", "message": "camera analysis is off for this interview"}
            )
            await ws.close(code=4403)
            return
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                data = msg.get("bytes")
                if data is None:
                    continue
                if len(data) > MAX_FRAME_BYTES:
                    await ws.send_json({"type": "error", "message": "camera frame too large"})
                    continue
                live = state.live.get(sid)
                if live is not None:
                    live.voice.submit_frame(data)
        except WebSocketDisconnect:
            pass

    return app


def _transport(state: AppState) -> str:
    """How the page carries audio: a LiveKit room when configured, else the local WebSocket."""
    return "livekit" if state.settings.livekit.configured else "local"


def _report(state: AppState, sid: str) -> dict[str, Any]:
    with Session(state.engine) as db:
        repo.get_session(session=db, session_id=sid)
        data = repo.load_report(session=db, session_id=sid)
    if data is None:
        raise HTTPException(409, "the interview has not finished yet")
    if (note := recording_note(state.settings.recordings_dir, sid)) is not None:
        data = {**data, "recording": note}  # files on disk now, not part of the scored report
    return data


def _history(state: AppState, limit: int, candidate_id: str | None) -> dict[str, Any]:
    """Progress of one candidate (everyone's on this machine in local mode)."""
    from agent.report.history import history_summary

    with Session(state.engine) as db:
        rows = repo.finished_interviews(session=db, limit=limit, candidate_id=candidate_id)
    return history_summary(list(reversed(rows)))


async def _housekeeping(state: AppState) -> None:
    """The retention purge and expired sign-ins: at start, then hourly."""
    from agent.data_rights import purge_expired

    while True:
        try:
            counts = await purge_expired(
                state.settings, state.runner, state.engine, skip=frozenset(state.live)
            )
            if state.accounts is not None:
                await asyncio.to_thread(state.accounts.purge_expired_sign_ins)
            if counts.get("sessions") or counts.get("chat_messages"):
                logger.info(
                    "retention: removed %d interviews and %d chat messages older than %d days",
                    counts.get("sessions", 0),
                    counts.get("chat_messages", 0),
                    state.settings.retention_days,
                )
        except Exception:
            logger.exception("retention purge failed; will retry in an hour")
        await asyncio.sleep(3600)


async def _run_live(state: AppState, ws: WebSocket, sid: str) -> None:
    """Carry one connection's audio and events until it closes or the interview ends."""
    mic = QueueAudioInput(sample_rate=MIC_RATE)
    # None unless the candidate switched recording on: then the microphone is also teed to a WAV.
    recorder = await asyncio.to_thread(MicRecorder.resume, state.settings.recordings_dir, sid)
    send_lock = asyncio.Lock()
    closed = asyncio.Event()

    async def send_json(msg: dict[str, Any]) -> None:
        if closed.is_set():
            return
        async with send_lock:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.send_text(json.dumps(msg))

    async def send_audio(frame: rtc.AudioFrame) -> None:
        if closed.is_set():
            return
        async with send_lock:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.send_bytes(bytes(frame.data.cast("B")))

    async def on_clear() -> None:
        await send_json({"type": "clear"})

    speaker = PacedAudioOutput(sink=send_audio, on_clear=on_clear, sample_rate=SPEAKER_RATE)
    tasks: set[asyncio.Task[Any]] = set()

    def emit(event: dict[str, Any]) -> None:
        task = asyncio.create_task(send_json(event))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def finished(_: Step) -> None:
        state.admission.finish(sid)  # its slot goes when the page disconnects
        if recorder is not None:
            recorder.stop()  # the interview is over: nothing after it is recorded
        emit({"type": "report_ready", "url": f"/interviews/{sid}/report"})

    voice = VoiceInterview(
        runtime=state.voice,
        runner=state.runner,
        session_id=sid,
        settings=state.settings,
        audio_in=mic,
        audio_out=speaker,
        emit=emit,
        on_finished=finished,
        resumed=sid in state.seen,
    )
    if sid in state.camera and (make := state.vision_factory()) is not None:
        voice.enable_camera(make, fps=state.settings.perception.video_fps)
    state.live[sid] = Live(voice=voice, ws=ws, tasks=tasks)
    await send_json(
        {
            "type": "hello",
            "session_id": sid,
            "mic_rate": MIC_RATE,
            "speaker_rate": SPEAKER_RATE,
            "resumed": sid in state.seen,
            "recording": recorder is not None,
        }
    )
    state.seen.add(sid)
    try:
        await voice.start()
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            if (data := msg.get("bytes")) is not None:
                if len(data) > 64_000:
                    await send_json({"type": "error", "message": "audio chunk too large"})
                    continue
                mic.push_pcm(data)
                if recorder is not None:
                    recorder.write(data)
            elif (text := msg.get("text")) is not None:
                if (reply := await apply_control(voice, text)) is not None:
                    await send_json(reply)
    except WebSocketDisconnect:
        pass
    finally:
        voice.disconnect()  # no half-heard answer is taken once the connection is gone
        closed.set()
        state.live.pop(sid, None)
        state.admission.leave(sid)
        mic.close()
        if recorder is not None:
            await recorder.aclose()
        await voice.aclose()
        for t in list(tasks):
            t.cancel()


def web_client_files() -> list[str]:
    """Files the page needs (for packaging checks)."""
    return sorted(p.name for p in WEB_CLIENT.iterdir()) if WEB_CLIENT.exists() else []
