"""Login for staff (admin) and tablets (table)."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Controller, Request, Response, post, put
from litestar.datastructures import Cookie
from litestar.di import Provide

from tableorder.auth import queries
from tableorder.auth.schemas import AdminLogin, PasswordChange, TableLogin
from tableorder.documents import AdminToken, Store, TableRef, TableToken
from tableorder.problems import AUTH_PROBLEMS, COMMON_PROBLEMS, FieldError, ProblemError, problem_spec
from tableorder.security import (
    ADMIN_COOKIE,
    Principal,
    TokenService,
    any_principal,
    hash_password,
    unauthorized,
    verify_password,
)
from tableorder.settings import Settings
from tableorder.state import AppState

INVALID_CREDENTIALS = "The store code, name or password is not correct."

LOGIN_PROBLEMS = {
    **COMMON_PROBLEMS,
    401: problem_spec("Wrong credentials (one message whatever was wrong)"),
    429: problem_spec("Too many failed attempts; see Retry-After"),
}


def client_address(request: Request[Any, Any, Any]) -> str:
    """Whom a login attempt is counted against: the peer, or the client a trusted proxy names
    (uvicorn rewrites request.client from X-Forwarded-For only for peers in FORWARDED_ALLOW_IPS).
    An IPv6 client counts as its /64, which one host or home holds whole."""
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


async def _password_is_right(state: AppState, attempt: queries.Attempt, password_hash: str | None,
                             password: str) -> bool:
    """The one throttled password check, for logins and the admin's password change: counted before
    the password is checked, so concurrent guesses cannot slip past the limits (429 once throttled);
    a right password clears the attempt's count and remembers the address for the account."""
    verdict = await queries.begin_attempt(state.pool, attempt, state.settings)
    if verdict.retry_after is not None:
        raise ProblemError(429, f"Too many failed attempts; try again in {verdict.retry_after} seconds.",
                           slug="too-many-attempts", headers={"Retry-After": str(verdict.retry_after)})
    if not await verify_password(password_hash, password):
        return False
    await queries.login_succeeded(state.pool, attempt, verdict)
    return True


async def _check_credentials(state: AppState, attempt: queries.Attempt, password_hash: str | None,
                             password: str) -> None:
    if not await _password_is_right(state, attempt, password_hash, password):
        raise ProblemError(401, INVALID_CREDENTIALS, slug="invalid-credentials")


class AuthController(Controller):
    path = "/auth"
    tags = ["Auth"]

    @post("/admin/login", operation_id="LoginAdmin", status_code=200, responses=LOGIN_PROBLEMS,
          summary="Staff login: a bearer token and an HttpOnly cookie for the live order board")
    async def login_admin(self, state: AppState, request: Request[Any, Any, Any],
                          data: AdminLogin) -> Response[AdminToken]:
        """Exchange a staff member's store code, username and password for a bearer token (lifetime
        JWT_EXPIRATION_HOURS) and the store it works for. The same token is set as an HttpOnly, SameSite=Strict
        cookie scoped to /api/v1/admin, so a browser's EventSource can open the admin event stream; the cookie
        is honoured on GET only. Wrong credentials are one 401 whatever was wrong; repeated failures per account
        and client address are answered 429 with Retry-After, so a guesser never locks the real user out."""
        row = await queries.find_admin(state.pool, data.store_code, data.username)
        attempt = queries.Attempt("admin", data.store_code, data.username, client_address(request))
        await _check_credentials(state, attempt, row["password_hash"] if row["subject_id"] else None,
                                 data.password)
        tokens: TokenService = state.tokens
        token = tokens.issue("admin", row["store_id"], row["subject_id"], row["credential_version"])
        settings: Settings = state.settings
        cookie = Cookie(key=ADMIN_COOKIE, value=token, path="/api/v1/admin", httponly=True, samesite="strict",
                        secure=not settings.debug, max_age=tokens.lifetime_seconds)
        body = AdminToken(access_token=token, expires_in=tokens.lifetime_seconds,
                          store=Store(id=row["store_id"], code=row["code"], name=row["name"]))
        return Response(body, cookies=[cookie])

    @post("/table/login", operation_id="LoginTable", status_code=200, responses=LOGIN_PROBLEMS,
          summary="Tablet login for one table")
    async def login_table(self, state: AppState, request: Request[Any, Any, Any],
                          data: TableLogin) -> TableToken:
        """Exchange a store code, table number and the table's password for a table token: it reaches only this
        table's menu, orders and event stream. Failures are answered as for staff login (401, then 429 with
        Retry-After)."""
        row = await queries.find_table(state.pool, data.store_code, data.table_number)
        attempt = queries.Attempt("table", data.store_code, str(data.table_number), client_address(request))
        await _check_credentials(state, attempt, row["password_hash"] if row["subject_id"] else None,
                                 data.password)
        tokens: TokenService = state.tokens
        return TableToken(
            access_token=tokens.issue("table", row["store_id"], row["subject_id"], row["credential_version"]),
            expires_in=tokens.lifetime_seconds,
            store=Store(id=row["store_id"], code=row["code"], name=row["name"]),
            table=TableRef(id=row["subject_id"], number=row["number"]),
        )


# Logout clears the staff cookie. Secure always: a browser only sends the cookie back to where it
# may (localhost counts as secure in development), and the token is revoked whatever the cookie does.
CLEARED_ADMIN_COOKIE = Cookie(key=ADMIN_COOKIE, value="", path="/api/v1/admin", httponly=True, samesite="strict",
                              secure=True, max_age=0)


class LogoutController(Controller):
    path = "/auth/logout"
    tags = ["Auth"]
    dependencies = {"principal": Provide(any_principal)}
    security = [{"AdminToken": []}, {"TableToken": []}]

    @post(operation_id="Logout", status_code=204, responses=AUTH_PROBLEMS, response_cookies=[CLEARED_ADMIN_COOKIE],
          summary="End the presented token (staff or tablet) on every replica; clears the staff cookie")
    async def logout(self, state: AppState, principal: Principal) -> None:
        """End the token this request is sent with, on every replica at once; later requests with it get 401. Works
        for staff and table tokens (an API key is revoked by staff instead) and clears the staff cookie."""
        await queries.revoke_token(state.pool, principal.store_id, principal.token_id, principal.expires_at)
        state.credentials.changed_here(principal.store_id)


class AdminPasswordController(Controller):
    path = "/password"
    tags = ["Auth"]

    @put(operation_id="ChangeAdminPassword", status_code=204,
         summary="Change your own password; every other token of yours ends, the one you sent goes on",
         responses={**AUTH_PROBLEMS, 422: problem_spec("Invalid fields, or the current password is not correct"),
                    429: LOGIN_PROBLEMS[429]})
    async def change_password(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                              data: PasswordChange) -> None:
        """Change the calling staff member's password. Every other token of theirs ends at once; the token this
        request is sent with goes on. A wrong current password is a 422 naming `current_password`, and counts in
        the login throttle (429 with Retry-After)."""
        admin = await queries.find_admin_by_id(state.pool, principal.store_id, principal.subject_id)
        if admin is None:  # deleted since its token was checked
            raise unauthorized("The access token is no longer valid: its admin was deleted.")
        # Guesses of the current password count in the admin's login throttle, from the same address:
        # a stolen token must not be a way to brute-force the password and take the account over.
        attempt = queries.Attempt("admin", admin["code"], admin["username"], client_address(request))
        if not await _password_is_right(state, attempt, admin["password_hash"], data.current_password):
            raise ProblemError(422, "The current password is not correct.", slug="validation-error",
                               errors=[FieldError(field="current_password", message="is not correct")])
        new_hash = await hash_password(data.new_password)
        await queries.change_admin_password(state.pool, principal.store_id, principal.subject_id, new_hash,
                                            principal.token_id)
        state.credentials.changed_here(principal.store_id)


__all__ = ["AdminPasswordController", "AuthController", "LogoutController"]
