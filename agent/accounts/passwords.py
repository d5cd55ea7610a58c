"""Password hashing (argon2id) and the password rules accounts must follow."""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.errors import InterviewerError

MIN_PASSWORD = 10
MAX_PASSWORD = 256
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
COMMON = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "1234567890",
        "0123456789",
        "qwertyuiop",
        "letmein123",
        "iloveyou12",
        "interview1",
        "welcome123",
        "changeme12",
    }
)


class AccountError(InterviewerError):
    """An account request that cannot be done (message safe to show)."""


@functools.cache
def _hasher() -> PasswordHasher:
    # argon2id with the library's RFC 9106 low-memory profile defaults (64 MiB, t=3)
    return PasswordHasher()


def check_username(username: str) -> str:
    """The normalised user name, or AccountError saying what is wrong."""
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise AccountError(
            "user names are 3-64 characters: letters, digits, dots, dashes or underscores"
        )
    return name


def check_password(password: str, username: str) -> None:
    """Raise AccountError when a new password is too weak."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"passwords are at most {MAX_PASSWORD} characters")
    if password.lower() in COMMON or username.lower() in password.lower():
        raise AccountError("that password is too easy to guess; please choose another")


def hash_password(password: str) -> str:
    """An argon2id hash (salted; parameters stored in the string)."""
    return _hasher().hash(password)


def verify_password(stored: str, password: str) -> tuple[bool, bool]:
    """(matches, needs a re-hash with today's parameters)."""
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher().check_needs_rehash(stored)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against for unknown users, so their sign-in takes as long."""
    return hash_password("not-a-real-password-0")
