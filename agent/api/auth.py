"""Sign-in, roles and access checks for the web app.

Local mode (the default) has no sign-in: every request is the local user's. Accounts mode
(``MOCKINT_AUTH__MODE=accounts``) requires a sign-in for everything but the sign-in page and
static files: the session cookie is HttpOnly and SameSite=Lax, state-changing requests carry the
session's CSRF token in ``X-CSRF-Token`` (the page reads it from the ``mi_csrf`` cookie) and must
not come from another site, and failed sign-ins are rate limited. Interviews and chats are
reachable only by their owner; coaches read the reports a candidate shared with them; anything
else answers 404 exactly as a missing id would, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from agent.accounts.passwords import AccountError
from agent.accounts.service import LOCAL, SIGNUP_ROLES, Accounts, Principal, SignInRefused
from agent.api.bodies import json_model
from agent.errors import SessionNotFoundError
from agent.store import repo

SESSION_COOKIE = "mi_session"
CSRF_COOKIE = "mi_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = frozenset(
    {"/health", "/login", "/api/auth/login", "/api/auth/register", "/api/auth/me", "/openapi.json"}
)
WEB_CLIENT = Path(__file__).resolve().parents[2] / "web_client"

router = APIRouter()


class Credentials(BaseModel):
    """A sign-in or a new account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: str = "candidate"


class ShareRequest(BaseModel):
    """Which coach to share reports with (or stop sharing with)."""

    coach: str = Field(min_length=1, max_length=64)


class RoleRequest(BaseModel):
    """An admin changing an account's role."""

    role: str = Field(min_length=1, max_length=16)


def _accounts(request: Request | WebSocket) -> Accounts | None:
    accounts: Accounts | None = request.app.state.mi.accounts
    return accounts


def principal(request: Request) -> Principal:
    """Who sent this request (set by the gate; the local user in local mode)."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:
        raise HTTPException(401, "please sign in")
    return who


def _same_origin(headers: Any, host: str | None) -> bool:
    """No Origin (same-site navigation, scripts, curl) or an Origin naming this host."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return bool(host) and urlsplit(origin).netloc == host


def _secure(request: Request) -> bool:
    setting = request.app.state.mi.settings.auth.cookie_secure
    return request.url.scheme == "https" if setting is None else bool(setting)


async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: who is asking, and whether they may ask at all."""
    accounts = _accounts(request)
    if accounts is None:
        request.state.principal = LOCAL
        return await call_next(request)
    path = request.url.path
    token = request.cookies.get(SESSION_COOKIE, "")
    who = await asyncio.to_thread(accounts.principal, token) if token else None
    request.state.principal = who
    unsafe = request.method not in SAFE_METHODS
    if unsafe and not _same_origin(request.headers, request.headers.get("host")):
        return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
    if path in PUBLIC or path.startswith("/static/"):
        return await call_next(request)
    if who is None:
        if path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": "please sign in"}, status_code=401)
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if unsafe and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), who.csrf):
        return JSONResponse(
            {"detail": "this request lacks its security token; please reload the page"},
            status_code=403,
        )
    return await call_next(request)


async def ws_principal(ws: WebSocket) -> Principal | None:
    """Who opened this WebSocket (None: not signed in, or opened from another site)."""
    accounts = _accounts(ws)
    if accounts is None:
        return LOCAL
    if not _same_origin(ws.headers, ws.headers.get("host")):
        return None
    token = ws.cookies.get(SESSION_COOKIE, "")
    return await asyncio.to_thread(accounts.principal, token) if token else None


async def interview_owner(request: Request | WebSocket, session_id: str) -> str | None:
    """The candidate id of an interview (None when there is none)."""
    engine = request.app.state.mi.engine

    def load() -> str | None:
        from sqlmodel import Session

        with Session(engine) as db:
            return repo.session_owner(session=db, session_id=session_id)

    return await asyncio.to_thread(load)


async def require_owner(request: Request | WebSocket, who: Principal, session_id: str) -> None:
    """404 unless ``who`` owns the interview (everything is the local user's)."""
    if who.local:
        return
    owner = await interview_owner(request, session_id)
    if owner is None or not who.owns(owner):
        raise SessionNotFoundError(f"no interview session '{session_id}'")


async def require_reader(request: Request, who: Principal, session_id: str) -> str | None:
    """404 unless ``who`` may read the interview's report; returns its candidate id."""
    owner = await interview_owner(request, session_id)
    if who.local:
        return owner
    accounts = _accounts(request)
    if (
        owner is None
        or accounts is None
        or not await asyncio.to_thread(accounts.may_read, who, owner)
    ):
        raise SessionNotFoundError(f"no interview session '{session_id}'")
    return owner


def require_flow_author(who: Principal) -> None:
    """403 unless ``who`` may write interview flows."""
    if not who.may_author_flows:
        raise HTTPException(403, "only coaches can edit interview flows")


def _need_accounts(request: Request) -> Accounts:
    accounts = _accounts(request)
    if accounts is None:
        raise HTTPException(404, "accounts are off (single-user mode)")
    return accounts


def _me(who: Principal | None, mode: str) -> dict[str, Any]:
    if who is None:
        return {"mode": mode, "signed_in": False}
    return {
        "mode": mode,
        "signed_in": True,
        "username": who.username,
        "role": who.role,
        "csrf": who.csrf,
    }


# ---------------------------------------------------------------------------------- routes


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    """The sign-in page (straight to the app in single-user mode)."""
    if _accounts(request) is None:
        return RedirectResponse("/", status_code=303)
    return FileResponse(WEB_CLIENT / "login.html")


@router.get("/api/auth/me")
async def me(request: Request) -> dict[str, Any]:
    """Who is signed in (and which mode the app runs in)."""
    mode = request.app.state.mi.settings.auth.mode
    return _me(getattr(request.state, "principal", None), mode)


@router.post("/api/auth/register")
async def register(request: Request) -> dict[str, Any]:
    """Create a candidate or coach account (when sign-up is open) and sign in."""
    accounts = _need_accounts(request)
    if not accounts.settings.allow_signup:
        raise HTTPException(403, "sign-up is closed; ask an administrator for an account")
    creds = await json_model(request, Credentials)
    if creds.role not in SIGNUP_ROLES:
        raise HTTPException(422, "role: choose candidate or coach")
    try:
        await asyncio.to_thread(accounts.create, creds.username, creds.password, creds.role)
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    signed_in: dict[str, Any] = await _sign_in(request, accounts, creds)
    return signed_in


@router.post("/api/auth/login")
async def login(request: Request) -> Response:
    """Sign in: sets the session and CSRF cookies."""
    accounts = _need_accounts(request)
    creds = await json_model(request, Credentials)
    res: Response = await _sign_in(request, accounts, creds)
    return res


async def _sign_in(request: Request, accounts: Accounts, creds: Credentials) -> Any:
    address = request.client.host if request.client else "unknown"
    try:
        token, who = await asyncio.to_thread(
            accounts.sign_in, creds.username, creds.password, address
        )
    except SignInRefused as e:
        if e.retry_after is not None:
            return JSONResponse(
                {"detail": str(e), "retry_after": e.retry_after},
                status_code=429,
                headers={"retry-after": str(e.retry_after)},
            )
        raise HTTPException(401, str(e)) from None
    res = JSONResponse(_me(who, "accounts"))
    max_age = int(accounts.settings.session_hours * 3600)
    secure = _secure(request)
    res.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    res.set_cookie(
        CSRF_COOKIE, who.csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure
    )
    return res


@router.post("/api/auth/logout")
async def logout(request: Request) -> Response:
    """Sign out this browser."""
    accounts = _need_accounts(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await asyncio.to_thread(accounts.sign_out, token)
    res = JSONResponse({"signed_in": False})
    res.delete_cookie(SESSION_COOKIE, path="/")
    res.delete_cookie(CSRF_COOKIE, path="/")
    return res


@router.get("/api/shares")
async def list_shares(request: Request) -> dict[str, Any]:
    """The coaches this candidate shares their reports with."""
    accounts = _need_accounts(request)
    return {"coaches": await asyncio.to_thread(accounts.shares, principal(request))}


@router.post("/api/shares")
async def add_share(request: Request) -> dict[str, Any]:
    """Share all my reports (past and future) with a coach."""
    accounts = _need_accounts(request)
    req = await json_model(request, ShareRequest)
    who = principal(request)
    try:
        await asyncio.to_thread(accounts.share, who, req.coach)
    except AccountError as e:
        raise HTTPException(404, str(e)) from None
    return {"coaches": await asyncio.to_thread(accounts.shares, who)}


@router.delete("/api/shares/{coach}")
async def remove_share(coach: str, request: Request) -> dict[str, Any]:
    """Stop sharing with a coach."""
    accounts = _need_accounts(request)
    who = principal(request)
    if not await asyncio.to_thread(accounts.unshare, who, coach):
        raise HTTPException(404, "you do not share with that coach")
    return {"coaches": await asyncio.to_thread(accounts.shares, who)}


@router.get("/shared", response_class=HTMLResponse)
async def shared_page(request: Request) -> FileResponse:
    """Coaches: the candidates who shared their reports."""
    _need_accounts(request)
    return FileResponse(WEB_CLIENT / "shared.html")


@router.get("/api/shared")
async def shared(request: Request) -> dict[str, Any]:
    """Coaches: each candidate who shares with me, with their finished interviews."""
    accounts = _need_accounts(request)
    who = principal(request)
    if who.role not in ("coach", "admin"):
        raise HTTPException(403, "only coaches see shared reports")
    engine = request.app.state.mi.engine

    def load() -> list[dict[str, Any]]:
        from sqlmodel import Session

        out = []
        with Session(engine) as db:
            for cid, username in accounts.shared_with(who):
                rows = repo.finished_interviews(session=db, limit=100, candidate_id=cid)
                out.append(
                    {
                        "candidate": username,
                        "interviews": [
                            {
                                "session_id": sid,
                                "date": when.isoformat(timespec="minutes"),
                                "role": rep.get("role", ""),
                                "overall": rep.get("overall_score"),
                                "url": f"/interviews/{sid}/report",
                            }
                            for sid, when, rep in rows
                        ],
                    }
                )
        return out

    return {"candidates": await asyncio.to_thread(load)}


def _admin(request: Request) -> Accounts:
    accounts = _need_accounts(request)
    if not principal(request).is_admin:
        raise HTTPException(403, "only administrators manage accounts")
    return accounts


@router.get("/api/admin/accounts")
async def admin_accounts(request: Request) -> dict[str, Any]:
    """Admins: every account (no practice data)."""
    accounts = _admin(request)
    return {"accounts": await asyncio.to_thread(accounts.all_accounts)}


@router.put("/api/admin/accounts/{account_id}/role")
async def admin_set_role(account_id: str, request: Request) -> dict[str, Any]:
    """Admins: change an account's role."""
    accounts = _admin(request)
    req = await json_model(request, RoleRequest)
    try:
        await asyncio.to_thread(accounts.set_role, account_id, req.role)
    except AccountError as e:
        raise HTTPException(404 if "no such" in str(e) else 422, str(e)) from None
    return {"accounts": await asyncio.to_thread(accounts.all_accounts)}


@router.delete("/api/admin/accounts/{account_id}")
async def admin_delete(account_id: str, request: Request) -> dict[str, Any]:
    """Admins: close an account and erase all its practice data."""
    from agent.data_rights import erase_candidates

    accounts = _admin(request)
    if account_id == principal(request).account_id:
        raise HTTPException(409, "you cannot delete your own administrator account here")
    state = request.app.state.mi
    candidate_id = await asyncio.to_thread(accounts.delete, account_id)
    if candidate_id is None:
        raise HTTPException(404, "no such account")
    erased = await erase_candidates(state.settings, state.runner, state.engine, [candidate_id])
    return {"deleted": erased}
