"""Tokens, password hashing and the principals that handlers receive."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import time
from typing import Any, Literal

import anyio.to_thread
import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request
from litestar.datastructures import State

from tableorder.kit import header
from tableorder.problems import ProblemError
from tableorder.settings import Settings

ADMIN_COOKIE = "tableorder_admin"

# OWASP's argon2id minimum (19 MiB, t=2, p=1): strong, and 4 workers hashing at once stay small.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Hashes run in threads, at most this many at once per worker: a burst of logins (every tablet of a
# store after a restart) queues briefly instead of taking 19 MiB and a core each.
HASHING_SLOTS = 2
_hashing = anyio.CapacityLimiter(HASHING_SLOTS)


_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def _return_big_blocks_to_the_os() -> None:
    """Make glibc serve blocks of 128 KiB and more (argon2's 19 MiB) by mmap, always.

    By default glibc raises that threshold after the first such block is freed, so later hashes come
    from the malloc arena of whichever thread ran them and stay in the process's RSS when freed:
    measured, 21 logins in a row grew a worker by 380 MB. A fixed threshold gives the memory back.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


_return_big_blocks_to_the_os()
# Verified against when the account does not exist, so timing does not tell which part was wrong.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class Principal(msgspec.Struct, frozen=True):
    kind: Literal["admin", "table"]
    store_id: int
    subject_id: int  # the admin's or the table's id
    expires_at: float


class TokenClaims(msgspec.Struct, frozen=True):
    sub: str
    kind: Literal["admin", "table"]
    store_id: int
    exp: float
    iat: float


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_hashing)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify, limiter=_hashing)


class TokenService:
    """Issues and verifies JWTs; verified claims are cached until the token expires."""

    def __init__(self, settings: Settings, cache_size: int = 10_000) -> None:
        self._key = settings.jwt_secret_key
        self._algorithm = settings.jwt_algorithm
        self.lifetime_seconds = int(settings.jwt_expiration_hours * 3600)
        self._cache: dict[str, Principal] = {}
        self._cache_size = cache_size

    def issue(self, kind: Literal["admin", "table"], store_id: int, subject_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(subject_id), "kind": kind, "store_id": store_id, "iat": now,
                  "exp": now + self.lifetime_seconds}
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def verify(self, token: str) -> Principal:
        principal = self._cache.get(token)
        now = time.time()
        if principal is not None and principal.expires_at > now:
            return principal
        try:
            raw = jwt.decode(token, self._key, algorithms=[self._algorithm],
                             options={"require": ["exp", "iat", "sub"]})
            claims = msgspec.convert(raw, TokenClaims)
            principal = Principal(kind=claims.kind, store_id=claims.store_id, subject_id=int(claims.sub),
                                  expires_at=claims.exp)
        except (jwt.PyJWTError, msgspec.ValidationError, ValueError) as exc:
            raise unauthorized("The access token is invalid or has expired.") from exc
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = principal
        return principal


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def _bearer_token(request: Request[Any, Any, State], allow_cookie: bool) -> str:
    authorization = header(request.scope, b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("The Authorization header must be 'Bearer <token>'.")
        return token.strip()
    # The cookie is honoured only for reads (the browser's EventSource), so it cannot carry CSRF.
    if allow_cookie and request.method == "GET":
        cookie = request.cookies.get(ADMIN_COOKIE)
        if cookie:
            return cookie
    raise unauthorized("An access token is required.")


def _principal(request: Request[Any, Any, State], kind: str, allow_cookie: bool) -> Principal:
    tokens: TokenService = request.app.state.tokens
    principal = tokens.verify(_bearer_token(request, allow_cookie))
    if principal.kind != kind:
        raise ProblemError(403, f"This operation needs a {kind} token.", slug="forbidden")
    return principal


async def admin_principal(request: Request[Any, Any, State]) -> Principal:
    return _principal(request, "admin", allow_cookie=True)


def table_principal_of(request: Request[Any, Any, State]) -> Principal:
    """The table behind a request, for handlers that skip dependency injection on a hot path."""
    return _principal(request, "table", allow_cookie=False)


async def table_principal(request: Request[Any, Any, State]) -> Principal:
    return table_principal_of(request)
