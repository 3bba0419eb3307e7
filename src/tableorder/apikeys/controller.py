"""API keys for the staff: create (the secret is shown once), list, read, revoke.

Only staff manage keys: these operations declare no API-key scope, so the admin router's guard
refuses a key here (403), whatever its scopes."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import ResponseHeader, State

from tableorder.apikeys import queries
from tableorder.apikeys.schemas import ApiKeyCreate
from tableorder.documents import ApiKey, ApiKeyCreated
from tableorder.kit import PathId
from tableorder.problems import AUTH_PROBLEMS, ProblemError, not_found, problem_spec
from tableorder.security import API_KEY_SCOPES, NewApiKey, Principal, new_api_key

NO_KEY = problem_spec("No such API key in this store")
STAFF_ONLY = problem_spec("Not staff: API keys cannot manage API keys")
_PREFIX_TRIES = 5


async def _create(pool: asyncpg.Pool, store_id: int, name: str,
                  scopes: Sequence[str]) -> tuple[NewApiKey, ApiKey | None]:
    """A new key and its row (None when the store has too many). A random 8-character prefix that
    is taken already is rare; another try makes it vanishingly so."""
    for _ in range(_PREFIX_TRIES - 1):
        key = new_api_key()
        with contextlib.suppress(asyncpg.UniqueViolationError):
            return key, await queries.create_key(pool, store_id, name, scopes, key.prefix, key.secret_hash)
    key = new_api_key()
    return key, await queries.create_key(pool, store_id, name, scopes, key.prefix, key.secret_hash)


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["Admin: API keys"]

    @post(operation_id="CreateApiKey",
          summary="Create an API key for an integration; its secret is in this response only",
          description="Send the secret as `Authorization: Bearer <secret>`. Only a hash of it is kept, so it "
                      "cannot be shown again: a lost secret means a new key. Staff only.",
          responses={**AUTH_PROBLEMS, 403: STAFF_ONLY,
                     409: problem_spec(f"The store already has {queries.MAX_KEYS_PER_STORE} API keys")},
          response_headers=[
              ResponseHeader(name="Location", description="The new key's URL", documentation_only=True),
              ResponseHeader(name="Cache-Control", description="no-store: the secret is kept nowhere",
                             documentation_only=True)])
    async def create_key(self, state: State, request: Request[Any, Any, Any], principal: Principal,
                         data: ApiKeyCreate) -> Response[ApiKeyCreated]:
        scopes = [scope for scope in API_KEY_SCOPES if scope in data.scopes]  # once each, in a fixed order
        key, created = await _create(state.pool, principal.store_id, data.name.strip(), scopes)
        if created is None:
            raise ProblemError(409, f"The store already has {queries.MAX_KEYS_PER_STORE} API keys; revoke one it "
                                    "no longer uses first.", slug="conflict")
        document = ApiKeyCreated(id=created.id, name=created.name, scopes=created.scopes, prefix=created.prefix,
                                 created_at=created.created_at, last_used_at=created.last_used_at,
                                 secret=key.secret)
        return Response(document, status_code=201, headers={
            "Location": f"{request.url.path.rstrip('/')}/{created.id}", "Cache-Control": "no-store"})

    @get(operation_id="ListApiKeys", summary="The store's API keys, oldest first (never their secrets)",
         description="Staff only.", responses={**AUTH_PROBLEMS, 403: STAFF_ONLY})
    async def list_keys(self, state: State, principal: Principal) -> list[ApiKey]:
        return await queries.list_keys(state.pool, principal.store_id)

    @get("/{key_id:int}", operation_id="GetApiKey", summary="One API key (never its secret)",
         description="Staff only.", responses={**AUTH_PROBLEMS, 403: STAFF_ONLY, 404: NO_KEY})
    async def get_key(self, state: State, principal: Principal, key_id: PathId) -> ApiKey:
        key = await queries.get_key(state.pool, principal.store_id, key_id)
        if key is None:
            raise not_found("API key")
        return key

    @delete("/{key_id:int}", operation_id="RevokeApiKey",
            summary="Revoke an API key: it stops working at once on every server, its open streams end",
            description="Staff only.", responses={**AUTH_PROBLEMS, 403: STAFF_ONLY, 404: NO_KEY})
    async def revoke_key(self, state: State, principal: Principal, key_id: PathId) -> None:
        if not await queries.delete_key(state.pool, principal.store_id, key_id):
            raise not_found("API key")
        # This worker forgets the store's keys now; the others when the trigger's notification comes.
        state.credentials.changed_here(principal.store_id)
