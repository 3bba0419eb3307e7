"""Login for staff (admin) and tablets (table)."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.datastructures import Cookie, State

from tableorder.auth import queries
from tableorder.auth.schemas import AdminLogin, AdminToken, StoreOut, TableLogin, TableRef, TableToken
from tableorder.problems import COMMON_PROBLEMS, ProblemError, problem_spec
from tableorder.security import ADMIN_COOKIE, TokenService, verify_password
from tableorder.settings import Settings

INVALID_CREDENTIALS = "The store code, name or password is not correct."

LOGIN_PROBLEMS = {
    **COMMON_PROBLEMS,
    401: problem_spec("Wrong credentials (one message whatever was wrong)"),
    429: problem_spec("Too many failed attempts; see Retry-After"),
}


async def _check_credentials(state: State, key: str, password_hash: str | None, password: str) -> None:
    settings: Settings = state.settings
    retry_after = await queries.begin_attempt(state.pool, key, settings.login_max_failures,
                                              settings.login_window_seconds, settings.login_lockout_seconds)
    if retry_after is not None:
        raise ProblemError(429, f"Too many failed attempts; try again in {retry_after} seconds.",
                           slug="too-many-attempts", headers={"Retry-After": str(retry_after)})
    if not await verify_password(password_hash, password):
        raise ProblemError(401, INVALID_CREDENTIALS, slug="invalid-credentials")
    await queries.clear_attempts(state.pool, key)


class AuthController(Controller):
    path = "/auth"
    tags = ["Auth"]

    @post("/admin/login", operation_id="LoginAdmin", status_code=200, responses=LOGIN_PROBLEMS,
          summary="Staff login: a bearer token and an HttpOnly cookie for the live order board")
    async def login_admin(self, state: State, data: AdminLogin) -> Response[AdminToken]:
        row = await queries.find_admin(state.pool, data.store_code, data.username)
        await _check_credentials(state, f"admin:{data.store_code}:{data.username}",
                                 row["password_hash"] if row["subject_id"] else None, data.password)
        tokens: TokenService = state.tokens
        token = tokens.issue("admin", row["store_id"], row["subject_id"])
        settings: Settings = state.settings
        cookie = Cookie(key=ADMIN_COOKIE, value=token, path="/api/v1/admin", httponly=True, samesite="strict",
                        secure=not settings.debug, max_age=tokens.lifetime_seconds)
        body = AdminToken(access_token=token, expires_in=tokens.lifetime_seconds,
                          store=StoreOut(id=row["store_id"], code=row["code"], name=row["name"]))
        return Response(body, cookies=[cookie])

    @post("/table/login", operation_id="LoginTable", status_code=200, responses=LOGIN_PROBLEMS,
          summary="Tablet login for one table")
    async def login_table(self, state: State, data: TableLogin) -> TableToken:
        row = await queries.find_table(state.pool, data.store_code, data.table_number)
        await _check_credentials(state, f"table:{data.store_code}:{data.table_number}",
                                 row["password_hash"] if row["subject_id"] else None, data.password)
        tokens: TokenService = state.tokens
        return TableToken(
            access_token=tokens.issue("table", row["store_id"], row["subject_id"]),
            expires_in=tokens.lifetime_seconds,
            store=StoreOut(id=row["store_id"], code=row["code"], name=row["name"]),
            table=TableRef(id=row["subject_id"], number=row["number"]),
        )


__all__ = ["AuthController"]
