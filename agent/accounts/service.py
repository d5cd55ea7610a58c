"""Accounts, sign-ins and report sharing over the database (blocking: call from a thread).

A `Principal` is who is asking. In local mode it is the one local user, who owns everything on
the machine. In accounts mode it is a signed-in account; each account practises as its own
candidate, coaches read the reports of candidates who shared them, admins manage accounts.
Sign-in tokens are random and only their SHA-256 is stored; passwords only as argon2id hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agent.accounts.passwords import (
    AccountError,
    check_password,
    check_username,
    dummy_hash,
    hash_password,
    verify_password,
)
from agent.accounts.ratelimit import LoginLimiter
from agent.config import AuthSettings
from agent.store.models import Account, Candidate, LoginSession, ReportShare

Role = Literal["candidate", "coach", "admin"]
ROLES: tuple[Role, ...] = ("candidate", "coach", "admin")
SIGNUP_ROLES: tuple[Role, ...] = ("candidate", "coach")


class SignInRefused(AccountError):
    """Wrong user name or password, or too many attempts."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking."""

    role: str
    """'local' (single-user mode) or the account's role."""
    candidate_id: str | None
    """Whose practice data this is; None for the local user (every candidate here)."""
    account_id: str | None = None
    username: str = ""
    csrf: str = ""

    @property
    def local(self) -> bool:
        """Single-user mode: no accounts, the person at the computer owns everything."""
        return self.role == "local"

    @property
    def may_author_flows(self) -> bool:
        """Coaches and admins write interview flows (and the local user)."""
        return self.role in ("local", "coach", "admin")

    @property
    def is_admin(self) -> bool:
        """Manages accounts."""
        return self.role == "admin"

    def owns(self, candidate_id: str | None) -> bool:
        """Whether data of ``candidate_id`` is this principal's own."""
        return self.local or (candidate_id is not None and candidate_id == self.candidate_id)


LOCAL = Principal(role="local", candidate_id=None)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime) -> datetime:
    """UTC with tzinfo (SQLite and Postgres `timestamp` columns give back naive UTC values)."""
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _principal(account: Account, csrf: str = "") -> Principal:
    return Principal(
        role=account.role,
        candidate_id=account.candidate_id,
        account_id=account.id,
        username=account.username,
        csrf=csrf,
    )


class Accounts:
    """Account operations for one database."""

    def __init__(self, engine: Engine, settings: AuthSettings) -> None:
        self._engine = engine
        self.settings = settings
        self._per_user = LoginLimiter(
            limit=settings.login_attempts, window_s=settings.login_window_s
        )
        self._per_address = LoginLimiter(
            limit=settings.login_attempts * 4, window_s=settings.login_window_s
        )

    # ----------------------------------------------------------------------------- accounts

    def create(self, username: str, password: str, role: str = "candidate") -> Principal:
        """A new account (with its own candidate record)."""
        name = check_username(username)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        check_password(password, name)
        hashed = hash_password(password)
        with Session(self._engine) as db:
            if db.exec(select(Account).where(Account.username == name)).first() is not None:
                raise AccountError("that user name is taken; please choose another")
            cand = Candidate(name="")
            db.add(cand)
            db.flush()
            account = Account(username=name, password_hash=hashed, role=role, candidate_id=cand.id)
            db.add(account)
            try:
                db.commit()
            except IntegrityError:
                raise AccountError("that user name is taken; please choose another") from None
            db.refresh(account)
            return _principal(account)

    def all_accounts(self) -> list[dict[str, str]]:
        """Every account (name, role, created), for admins."""
        with Session(self._engine) as db:
            rows = db.exec(select(Account).order_by(col(Account.username))).all()
            return [
                {
                    "id": a.id,
                    "username": a.username,
                    "role": a.role,
                    "created_at": a.created_at.isoformat(timespec="seconds"),
                }
                for a in rows
            ]

    def set_role(self, account_id: str, role: str) -> None:
        """Change an account's role (admins only; checked by the caller)."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        with Session(self._engine) as db:
            account = db.get(Account, account_id)
            if account is None:
                raise AccountError("no such account")
            account.role = role
            db.add(account)
            db.commit()

    def find(self, account_id: str) -> Principal | None:
        """An account by id."""
        with Session(self._engine) as db:
            account = db.get(Account, account_id)
            return None if account is None else _principal(account)

    def delete(self, account_id: str) -> str | None:
        """Remove an account, its sign-ins and shares; returns its candidate id for erasure.

        The candidate's interviews, chats and files are erased by the caller (data rights).
        """
        with Session(self._engine) as db:
            account = db.get(Account, account_id)
            if account is None:
                return None
            for s in db.exec(select(LoginSession).where(LoginSession.account_id == account_id)):
                db.delete(s)
            for share in db.exec(
                select(ReportShare).where(
                    (col(ReportShare.coach_account_id) == account_id)
                    | (col(ReportShare.candidate_id) == account.candidate_id)
                )
            ):
                db.delete(share)
            db.flush()
            candidate_id = account.candidate_id
            db.delete(account)
            db.commit()
            return candidate_id

    # ----------------------------------------------------------------------------- sign-in

    def sign_in(self, username: str, password: str, address: str) -> tuple[str, Principal]:
        """Check a password; returns a new session token (for the cookie) and the principal.

        Raises:
            SignInRefused: wrong name or password (the same message for both), or too many
                failed attempts for this account or address (with seconds to wait).
        """
        name = username.strip().lower()[:64]
        keys = (f"user:{name}", f"addr:{address}")
        waits = [
            w
            for w in (self._per_user.retry_after(keys[0]), self._per_address.retry_after(keys[1]))
            if w is not None
        ]
        if waits:
            raise SignInRefused(
                "too many failed sign-ins; please wait before trying again", max(waits)
            )
        with Session(self._engine) as db:
            account = db.exec(select(Account).where(Account.username == name)).first()
            ok, rehash = verify_password(
                account.password_hash if account else dummy_hash(), password[:1024]
            )
            if account is None or not ok:
                self._per_user.failed(keys[0])
                self._per_address.failed(keys[1])
                raise SignInRefused("wrong user name or password")
            self._per_user.succeeded(keys[0])
            if rehash:
                account.password_hash = hash_password(password)
                db.add(account)
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
            db.add(
                LoginSession(
                    token_hash=_digest(token),
                    account_id=account.id,
                    csrf=csrf,
                    expires_at=_now() + timedelta(hours=self.settings.session_hours),
                )
            )
            db.commit()
            return token, _principal(account, csrf)

    def principal(self, token: str) -> Principal | None:
        """Who holds this session token (None when unknown or expired)."""
        if not token or len(token) > 200:
            return None
        with Session(self._engine) as db:
            login = db.get(LoginSession, _digest(token))
            if login is None:
                return None
            if _aware(login.expires_at) <= _now():
                db.delete(login)
                db.commit()
                return None
            account = db.get(Account, login.account_id)
            return None if account is None else _principal(account, login.csrf)

    def sign_out(self, token: str) -> None:
        """End a sign-in."""
        with Session(self._engine) as db:
            login = db.get(LoginSession, _digest(token))
            if login is not None:
                db.delete(login)
                db.commit()

    def purge_expired_sign_ins(self) -> int:
        """Remove expired sign-ins; returns how many."""
        with Session(self._engine) as db:
            rows = db.exec(select(LoginSession).where(col(LoginSession.expires_at) <= _now())).all()
            for row in rows:
                db.delete(row)
            db.commit()
            return len(rows)

    # ----------------------------------------------------------------------------- sharing

    def _coach(self, db: Session, username: str) -> Account:
        name = username.strip().lower()
        coach = db.exec(select(Account).where(Account.username == name)).first()
        if coach is None or coach.role not in ("coach", "admin"):
            raise AccountError(f"there is no coach called '{name[:64]}'")
        return coach

    def share(self, owner: Principal, coach_username: str) -> None:
        """Let a coach read the owner's reports."""
        if owner.candidate_id is None or owner.local:
            raise AccountError("sharing needs accounts mode")
        with Session(self._engine) as db:
            coach = self._coach(db, coach_username)
            if coach.id == owner.account_id:
                raise AccountError("you cannot share with yourself")
            exists = db.exec(
                select(ReportShare).where(
                    ReportShare.candidate_id == owner.candidate_id,
                    ReportShare.coach_account_id == coach.id,
                )
            ).first()
            if exists is None:
                db.add(ReportShare(candidate_id=owner.candidate_id, coach_account_id=coach.id))
                db.commit()

    def unshare(self, owner: Principal, coach_username: str) -> bool:
        """Stop sharing with a coach; returns whether a share was removed."""
        with Session(self._engine) as db:
            name = coach_username.strip().lower()
            coach = db.exec(select(Account).where(Account.username == name)).first()
            if coach is None:
                return False
            share = db.exec(
                select(ReportShare).where(
                    ReportShare.candidate_id == owner.candidate_id,
                    ReportShare.coach_account_id == coach.id,
                )
            ).first()
            if share is None:
                return False
            db.delete(share)
            db.commit()
            return True

    def shares(self, owner: Principal) -> list[str]:
        """User names of the coaches the owner shares with."""
        with Session(self._engine) as db:
            rows = db.exec(
                select(Account.username)
                .join(ReportShare, col(ReportShare.coach_account_id) == col(Account.id))
                .where(ReportShare.candidate_id == owner.candidate_id)
                .order_by(col(Account.username))
            ).all()
            return list(rows)

    def shared_with(self, coach: Principal) -> list[tuple[str, str]]:
        """(candidate id, user name) of the candidates who share their reports with ``coach``."""
        with Session(self._engine) as db:
            rows = db.exec(
                select(Account.candidate_id, Account.username)
                .join(ReportShare, col(ReportShare.candidate_id) == col(Account.candidate_id))
                .where(ReportShare.coach_account_id == coach.account_id)
                .order_by(col(Account.username))
            ).all()
            return [(c, u) for c, u in rows]

    def may_read(self, who: Principal, candidate_id: str) -> bool:
        """Whether ``who`` may read reports of ``candidate_id`` (their own, or shared)."""
        if who.owns(candidate_id):
            return True
        if who.account_id is None or who.role not in ("coach", "admin"):
            return False
        with Session(self._engine) as db:
            share = db.exec(
                select(ReportShare).where(
                    ReportShare.candidate_id == candidate_id,
                    ReportShare.coach_account_id == who.account_id,
                )
            ).first()
            return share is not None
