"""Tokens, password hashing and the principals that handlers receive."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import anyio.to_thread
import asyncpg
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
    version: int  # the subject's credential version when the token was issued
    token_id: str  # the token's own id (jti), for logout


class TokenClaims(msgspec.Struct, frozen=True):
    sub: str
    kind: Literal["admin", "table"]
    store_id: int
    exp: float
    iat: float
    ver: int
    jti: str


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

    def issue(self, kind: Literal["admin", "table"], store_id: int, subject_id: int, version: int) -> str:
        now = int(time.time())
        claims = {"sub": str(subject_id), "kind": kind, "store_id": store_id, "iat": now,
                  "exp": now + self.lifetime_seconds, "ver": version, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def verify(self, token: str) -> Principal:
        principal = self._cache.get(token)
        now = time.time()
        if principal is not None and principal.expires_at > now:
            return principal
        try:
            raw = jwt.decode(token, self._key, algorithms=[self._algorithm],
                             options={"require": ["exp", "iat", "sub", "jti"]})
            claims = msgspec.convert(raw, TokenClaims)
            principal = Principal(kind=claims.kind, store_id=claims.store_id, subject_id=int(claims.sub),
                                  expires_at=claims.exp, version=claims.ver, token_id=str(uuid.UUID(claims.jti)))
        except (jwt.PyJWTError, msgspec.ValidationError, ValueError) as exc:
            raise unauthorized("The access token is invalid or has expired.") from exc
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = principal
        return principal


# Whether a verified token still holds: its subject exists in its store, the subject's credentials
# are the ones it was issued under (or, for an admin, it is the token that changed them), and it
# was not logged out. NULL when the subject is gone.
_TOKEN_HOLDS = """
SELECT CASE WHEN $1::text = 'admin'
            THEN (SELECT a.credential_version = $4
                         OR (a.kept_token = $5::uuid AND a.kept_version = a.credential_version)
                    FROM admins a WHERE a.id = $2 AND a.store_id = $3)
            ELSE (SELECT t.credential_version = $4 FROM tables t WHERE t.id = $2 AND t.store_id = $3) END
       AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $5::uuid)
"""


class Credentials:
    """Per-request token checks against the database, answered from memory.

    Each worker remembers, per store, which tokens hold. Whatever changes an answer (a password
    change, a deleted table or admin, a logout) NOTIFYs `credentials.changed` for its store (the
    triggers of migration 0003), and every replica's listener forgets that store's answers. While
    the listener is down nothing is remembered (a missed notification cannot leave a dead token
    alive), and a reconnect forgets everything. A generation per store keeps a check that raced a
    change from storing the older answer.
    """

    def __init__(self, pool: asyncpg.Pool, max_entries: int = 100_000) -> None:
        self._pool = pool
        self._max_entries = max_entries
        self._answers: dict[int, dict[str, bool]] = {}
        self._size = 0
        self._generations: dict[int, int] = {}
        self._epoch = 0
        self.enabled = False  # only while the listener is connected
        self.on_change: Callable[[int], None] | None = None  # e.g. re-check the store's open streams
        self.on_clear: Callable[[], None] | None = None  # e.g. re-check every open stream

    async def holds(self, principal: Principal) -> bool:
        answers = self._answers.get(principal.store_id)
        if answers is not None:
            known = answers.get(principal.token_id)
            if known is not None:
                return known
        generation, epoch = self._generations.get(principal.store_id, 0), self._epoch
        holds = bool(await self._pool.fetchval(
            _TOKEN_HOLDS, principal.kind, principal.subject_id, principal.store_id, principal.version,
            principal.token_id))
        if self.enabled and generation == self._generations.get(principal.store_id, 0) and epoch == self._epoch:
            if self._size >= self._max_entries:
                self._answers.clear()
                self._size = 0
            self._answers.setdefault(principal.store_id, {})[principal.token_id] = holds
            self._size += 1
        return holds

    async def still_valid(self, principal: object) -> bool:
        return isinstance(principal, Principal) and await self.holds(principal)

    def changed_here(self, store_id: int) -> None:
        """This worker just committed a credential change of the store: forget its answers now, not
        when the notification comes back (so the same client's next request already sees it)."""
        self.invalidate(store_id)

    def invalidate(self, store_id: int) -> None:
        self._generations[store_id] = self._generations.get(store_id, 0) + 1
        self._size -= len(self._answers.pop(store_id, {}))
        if self.on_change is not None:
            self.on_change(store_id)

    def clear(self) -> None:
        """Forget everything: the listener (re)connected, and changes may have been missed."""
        self._epoch += 1
        self._answers.clear()
        self._generations.clear()
        self._size = 0
        if self.on_clear is not None:
            self.on_clear()


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


async def _principal(request: Request[Any, Any, State], kind: str | None, allow_cookie: bool) -> Principal:
    state = request.app.state
    tokens: TokenService = state.tokens
    principal = tokens.verify(_bearer_token(request, allow_cookie))
    if kind is not None and principal.kind != kind:
        raise ProblemError(403, f"This operation needs a {kind} token.", slug="forbidden")
    credentials: Credentials = state.credentials
    if not await credentials.holds(principal):
        raise unauthorized("The access token is no longer valid: it was logged out, or its password changed "
                           "or its account was removed. Log in again.")
    return principal


async def admin_principal(request: Request[Any, Any, State]) -> Principal:
    return await _principal(request, "admin", allow_cookie=True)


async def table_principal(request: Request[Any, Any, State]) -> Principal:
    """The table behind a request (also called directly by handlers that skip dependency injection)."""
    return await _principal(request, "table", allow_cookie=False)


async def any_principal(request: Request[Any, Any, State]) -> Principal:
    """Staff or a table: for what either may do to its own token (logout)."""
    return await _principal(request, None, allow_cookie=False)
