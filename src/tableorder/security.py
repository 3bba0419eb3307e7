"""Tokens, API keys, password hashing and the principals that handlers receive."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import re
import secrets
import string
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, get_args

import anyio.to_thread
import asyncpg
import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityRequirement

from tableorder.auth import queries as auth_queries
from tableorder.documents import ApiKeyScope
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
    kind: Literal["admin", "table", "api_key"]
    store_id: int
    subject_id: int  # the admin's, the table's or the API key's id
    expires_at: float
    version: int  # the subject's credential version when the token was issued (0 for a key)
    token_id: str  # the token's own id (jti), for logout; `key:<id>` for an API key
    # What an API key may do (see API_KEY_SCOPES); None for staff and tables, whom no scope limits.
    scopes: frozenset[str] | None = None


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




# --- API keys -------------------------------------------------------------------------------------
#
# A key is `tok_<prefix>_<secret>`: a fixed, greppable shape for secret scanners, told apart from a JWT
# before anything is decoded. The prefix (8 of [a-z0-9]) is public: it names the key in lists and finds
# its row. The secret is 256 random bits, so a plain SHA-256 of the whole key is as good as a slow hash
# (nobody can guess it) and costs a microsecond; only that hash is stored.

API_KEY_SCHEME = "ApiKey"  # the OpenAPI security scheme; also how an operation names the scope it needs
API_KEY_SCOPES: tuple[str, ...] = get_args(ApiKeyScope)
API_KEY_START = "tok_"
_API_KEY = re.compile(r"tok_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
# Keys do not expire; a stream opened with one ends when the key is revoked (or the server stops).
API_KEY_EXPIRES_AT = 4_102_444_800.0  # 2100-01-01
# last_used_at is written at most this often per key per worker, not on every request.
API_KEY_TOUCH_SECONDS = 60.0


class NewApiKey(NamedTuple):
    secret: str
    prefix: str
    secret_hash: bytes


def new_api_key() -> NewApiKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    secret = f"{API_KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(secret, prefix, api_key_hash(secret))


def api_key_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def api_key(scope: ApiKeyScope, *alternatives: ApiKeyScope) -> list[SecurityRequirement]:
    """The `security` of an admin operation that an API key with `scope` (or any of `alternatives`)
    may call too. The admin router's guard reads this very declaration (see `required_scopes`), so
    the OpenAPI document and what is enforced cannot differ. An admin operation that declares none
    is for staff only."""
    return [{API_KEY_SCHEME: [scope, *alternatives]}]


COOKIE_SCHEME = "AdminCookie"
# The staff cookie, for the one operation a browser reaches with EventSource (which cannot send an
# Authorization header): its security declares it, and the guard honours it there and nowhere else.
ADMIN_COOKIE_SECURITY: list[SecurityRequirement] = [{COOKIE_SCHEME: []}]


def accepts_cookie(handler: BaseRouteHandler) -> bool:
    """Whether `handler`'s security declares the staff cookie."""
    resolve = getattr(handler, "resolve_security", None)
    return any(COOKIE_SCHEME in requirement for requirement in (resolve() if resolve is not None else ()))


def required_scopes(handler: BaseRouteHandler) -> tuple[str, ...] | None:
    """The scopes of which an API key needs one for `handler`, as its security declares; None:
    staff only."""
    resolve = getattr(handler, "resolve_security", None)
    for requirement in resolve() if resolve is not None else ():
        scopes = requirement.get(API_KEY_SCHEME)
        if scopes:
            return tuple(str(scope) for scope in scopes)
    return None




class Credentials:
    """Per-request token checks against the database, answered from memory.

    Each worker remembers, per store, which tokens hold. Whatever changes an answer (a password
    change, a deleted table or admin, a logout) NOTIFYs `credentials.changed` for its store (the
    triggers of migration 0003), and every replica's listener forgets that store's answers. While
    the listener is down nothing is remembered (a missed notification cannot leave a dead token
    alive), and a reconnect forgets everything. A generation per store keeps a check that raced a
    change from storing the older answer.

    API keys are remembered the same way, by their secret: a request with a known key costs no
    hashing and no query. Revoking a key (or changing it in SQL) notifies like a logout.
    """

    def __init__(self, pool: asyncpg.Pool, max_entries: int = 100_000, max_keys: int = 10_000) -> None:
        self._pool = pool
        self._max_entries = max_entries
        self._answers: dict[int, dict[str, bool]] = {}
        self._size = 0
        self._generations: dict[int, int] = {}
        self._epoch = 0
        self._max_keys = max_keys
        self._keys: dict[str, Principal] = {}  # secret -> its key's principal, known to hold
        self._keys_of_store: dict[int, set[str]] = {}
        self._changes = 0  # any store's change: a key lookup that raced one is not remembered
        self._touched: dict[str, float] = {}  # key prefix -> when this worker last wrote its last_used_at
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
        if principal.kind == "api_key":
            holds = bool(await self._pool.fetchval(
                auth_queries.KEY_HOLDS, principal.store_id, principal.subject_id, sorted(principal.scopes or ())))
        else:
            holds = bool(await self._pool.fetchval(
                auth_queries.TOKEN_HOLDS, principal.kind, principal.subject_id, principal.store_id, principal.version,
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

    async def api_key(self, secret: str) -> Principal:
        """The principal of a presented API key; 401 when it is malformed, unknown or revoked."""
        match = _API_KEY.fullmatch(secret)
        if match is None:
            raise unauthorized("The API key is malformed: it has the form tok_<8 characters>_<43 characters>.")
        prefix, now = match.group(1), time.monotonic()
        touch = now - self._touched.get(prefix, -API_KEY_TOUCH_SECONDS) >= API_KEY_TOUCH_SECONDS
        principal = self._keys.get(secret)
        if principal is not None:
            if touch:
                self._touched_now(prefix, now)
                await self._pool.execute(auth_queries.KEY_TOUCH, principal.store_id, principal.subject_id)
            return principal
        changes, epoch = self._changes, self._epoch
        # The row is found by the key's prefix and hash (the prefix alone is public; comparing hashes
        # tells a guesser nothing about the secret), and its use is recorded in the same statement
        # unless this worker recorded it less than a minute ago.
        query = auth_queries.KEY_FIND_AND_TOUCH if touch else auth_queries.KEY_FIND
        row = await self._pool.fetchrow(query, prefix, api_key_hash(secret))
        if row is None:
            raise unauthorized("The API key is not valid: it is unknown or was revoked.")
        if touch:
            self._touched_now(prefix, now)
        principal = Principal(kind="api_key", store_id=row["store_id"], subject_id=row["id"],
                              expires_at=API_KEY_EXPIRES_AT, version=0, token_id=f"key:{row['id']}",
                              scopes=frozenset(row["scopes"]))
        if self.enabled and changes == self._changes and epoch == self._epoch:
            if len(self._keys) >= self._max_keys:
                self._keys.clear()
                self._keys_of_store.clear()
            self._keys[secret] = principal
            self._keys_of_store.setdefault(principal.store_id, set()).add(secret)
        return principal

    def _touched_now(self, prefix: str, now: float) -> None:
        if len(self._touched) >= self._max_keys:
            self._touched.clear()
        self._touched[prefix] = now

    def changed_here(self, store_id: int) -> None:
        """This worker just committed a credential change of the store: forget its answers now, not
        when the notification comes back (so the same client's next request already sees it)."""
        self.invalidate(store_id)

    def invalidate(self, store_id: int) -> None:
        self._generations[store_id] = self._generations.get(store_id, 0) + 1
        self._size -= len(self._answers.pop(store_id, {}))
        self._changes += 1
        for secret in self._keys_of_store.pop(store_id, ()):
            self._keys.pop(secret, None)
        if self.on_change is not None:
            self.on_change(store_id)

    def clear(self) -> None:
        """Forget everything: the listener (re)connected, and changes may have been missed."""
        self._epoch += 1
        self._answers.clear()
        self._generations.clear()
        self._size = 0
        self._keys.clear()
        self._keys_of_store.clear()
        if self.on_clear is not None:
            self.on_clear()


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"})


Connection = ASGIConnection[Any, Any, Any, State]

_REFUSED_KEY = {
    "table": "An API key is not accepted here: the tablet's operations take a table token.",
    None: "An API key is not logged out: staff revoke it with DELETE /api/v1/admin/api-keys/{id}.",
}


def _bearer_token(connection: Connection, allow_cookie: bool) -> tuple[str, bool]:
    """The presented token, and whether it came from the staff cookie."""
    authorization = header(connection.scope, b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("The Authorization header must be 'Bearer <token>'.")
        return token.strip(), False
    # The cookie is honoured only where the operation declares it (the staff's stream, a read), so it
    # cannot carry CSRF.
    if allow_cookie and connection.scope.get("method") == "GET":
        cookie = connection.cookies.get(ADMIN_COOKIE)
        if cookie:
            return cookie, True
    raise unauthorized("An access token is required.")


async def _principal(connection: Connection, kind: Literal["admin", "table"] | None,
                     allow_cookie: bool) -> Principal:
    state = connection.app.state
    credentials: Credentials = state.credentials
    token, from_cookie = _bearer_token(connection, allow_cookie)
    if token.startswith(API_KEY_START):  # an API key, never a JWT (which starts with "eyJ")
        if kind != "admin":
            raise unauthorized(_REFUSED_KEY[kind])
        if from_cookie:
            raise unauthorized("An API key is sent as 'Authorization: Bearer <key>', never in a cookie.")
        return await credentials.api_key(token)
    tokens: TokenService = state.tokens
    principal = tokens.verify(token)
    if kind is not None and principal.kind != kind:
        raise ProblemError(403, f"This operation needs a {kind} token.", slug="forbidden")
    if not await credentials.holds(principal):
        raise unauthorized("The access token is no longer valid: it was logged out, or its password changed "
                           "or its account was removed. Log in again.")
    return principal


_PRINCIPAL = "tableorder.principal"  # where a request's admin principal is kept once worked out


async def admin_principal(request: Connection, *, allow_cookie: bool = False) -> Principal:
    """Staff (an admin token, or its cookie where the operation declares it) or an API key of the
    store. Worked out once per request, by the admin router's guard (`admin_scope_guard`), which
    runs first."""
    known = request.scope.get("state", {}).get(_PRINCIPAL)
    if isinstance(known, Principal):
        return known
    principal = await _principal(request, "admin", allow_cookie=allow_cookie)
    request.scope.setdefault("state", {})[_PRINCIPAL] = principal
    return principal


async def admin_scope_guard(connection: Connection, handler: BaseRouteHandler) -> None:
    """The admin router's guard: who is calling (401 when nobody valid), and for an API key whether
    the operation declares its scope (403 naming the scope it lacks, or saying the operation is for
    staff only). Every admin operation passes here, so none can be reached without a decision."""
    principal = await admin_principal(connection, allow_cookie=accepts_cookie(handler))
    if principal.scopes is None:  # staff: everything in their store
        return
    scopes = required_scopes(handler)
    if scopes is None:
        raise ProblemError(403, "Only staff may do this: API keys are not accepted for this operation.",
                           slug="staff-only")
    if not any(scope in principal.scopes for scope in scopes):
        named, listed = " or ".join(f"'{scope}'" for scope in scopes), " ".join(scopes)
        raise ProblemError(403, f"This API key lacks the scope {named} that this operation needs.",
                           slug="insufficient-scope",
                           headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{listed}"'})


async def table_principal(request: Connection) -> Principal:
    """The table behind a request (also called directly by handlers that skip dependency injection)."""
    return await _principal(request, "table", allow_cookie=False)


async def any_principal(request: Connection) -> Principal:
    """Staff or a table: for what either may do to its own token (logout)."""
    return await _principal(request, None, allow_cookie=False)
