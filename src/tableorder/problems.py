"""Every error leaves the service as RFC 9457 problem+json, shaped here and nowhere else."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from tableorder import db, request_id

log = logging.getLogger("tableorder")

T = TypeVar("T")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    """One invalid field: where it is (`items[3].quantity`, `query.limit`) and what is wrong with it."""

    field: str
    message: str


# Every problem `type` the API answers with (`urn:tableorder:problem:<slug>`), and when. Listed for
# integrators in docs/problems.md; tests/test_problem_types.py keeps the three in step.
PROBLEM_TYPES: dict[str, str] = {
    "malformed-json": "400: the body is not JSON (or not UTF-8, or nested too deeply).",
    "bad-request": "400: the request is malformed in another way (e.g. a header it cannot have).",
    "validation-error": "422: fields, query or path values are invalid; `errors` names each one.",
    "unauthorized": "401: no token, or one that is invalid, expired, logged out or whose credentials changed.",
    "invalid-credentials": "401: a login's store code, name or password is wrong (one answer for all three).",
    "forbidden": "403: the token is of the wrong kind for this operation (a table token on staff routes).",
    "insufficient-scope": "403: the API key lacks the scope the operation needs (named in `detail`).",
    "staff-only": "403: API keys are not accepted here (key and webhook management, passwords).",
    "not-found": "404: no such resource in your store (other stores' ids are never revealed).",
    "method-not-allowed": "405: the path exists but not with this method (`Allow` lists the methods).",
    "conflict": "409: the request conflicts with the current state (a backward status move, a reused "
                "Idempotency-Key with another body, a table number taken, a non-empty category).",
    "session-full": "409: the table's open session holds SESSION_MAX_ORDERS orders; staff close it first.",
    "menu-full": "409: the store's menu holds the most items (500) or categories (100) it may.",
    "request-entity-too-large": "413: the body is larger than MAX_REQUEST_BYTES.",
    "unorderable-items": "422: some menu items of an order do not exist or are sold out; `errors` names them.",
    "too-many-orders": "429: the table placed ORDER_RATE_LIMIT_PER_MINUTE orders in the last minute; "
                       "see Retry-After.",
    "too-many-attempts": "429: too many failed logins for this account from this address (or this store); "
                         "see Retry-After.",
    "too-many-streams": "429: the store's (or the table's) open event streams are at their limit; see Retry-After.",
    "internal-server-error": "500: a defect of ours; quote the `instance` when reporting it.",
    "service-unavailable": "503: the database is unavailable; retry after Retry-After seconds.",
    "not-ready": "503: /health/ready: the database or the event listener is not available yet.",
}


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    # The request's X-Request-ID as a URN (urn:tableorder:request:<id>): quote it when asking for help.
    instance: str | None = None


class ProblemError(HTTPException):
    """Raised by the service's own code: carries a problem type slug and optional field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status, headers=headers)
        self.slug = slug
        self.errors = errors


class APIRequest(Request[Any, Any, State]):
    """The request class of the app: a JSON body the decoder gives up on is the client's error, a
    400 problem naming what is wrong, and one short log line, whatever route it was sent to (on
    the tablet's routes before authentication, as Litestar decodes the body first; the admin
    router's guard checks the caller before the body is read). Litestar expects only msgspec's
    DecodeError here; msgspec also raises RecursionError for nesting deeper than the interpreter's
    stack (`[` x 1,000) and UnicodeDecodeError for invalid UTF-8 inside a string, which were 500s
    with a traceback."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            reason = "nested too deeply"
        except (UnicodeDecodeError, SerializationException) as exc:
            # msgspec < 0.23 raises UnicodeDecodeError for invalid UTF-8 in a string, 0.23 a
            # DecodeError: the body itself says which it is, whatever the version.
            if not _is_utf8(await self.body()):
                reason = "not valid UTF-8"
            else:
                reason = "not valid JSON: " + str(exc).removeprefix("JSON is malformed: ")
        else:
            # Litestar converts the body into the handler's Struct leniently (0 would pass as false,
            # "9000" as 9000); what the OpenAPI document says is what the server takes.
            # A field that fails the strict check is handed on as a value no conversion accepts, so
            # Litestar's own validation fails too and names it together with any bad path or query
            # parameter (and handle_validation words the body's errors strictly, from the bytes).
            struct = _body_struct(self)
            if struct is not None and isinstance(value, dict):
                try:
                    # A body valid as sent (the common case) holds no float where an integer goes, so
                    # the walk below would change nothing the Struct reads (no body field is a float
                    # or free-form): skipped.
                    msgspec.convert(value, struct, strict=True)
                except msgspec.ValidationError:
                    value = _integral_floats_as_ints(value)
                    try:
                        msgspec.convert(value, struct, strict=True)
                    except msgspec.ValidationError:
                        value = {name: field if _strictly_valid(struct, name, field) else _NOT_STRICT
                                 for name, field in value.items()}
            return value
        log.info("rejected the body of %s %s: %s", self.method, self.url.path, reason,
                 extra=request_id.log_extra(self.scope))
        raise ProblemError(400, f"The request body is {reason}.", slug="malformed-json")


async def refuse_repeated_query_parameters(request: Request[Any, Any, Any]) -> None:
    """before_request hook of the routers whose operations take query parameters (the staff's):
    every query parameter takes one value; one given twice (`?limit=5&limit=500`) is refused rather
    than one of them silently chosen, and so is `null`. A coroutine on purpose: Litestar runs a
    plain function hook in a worker thread, on every request (measured: GET /menu 3,000 → 3,800 req/s)."""
    query = request.scope["query_string"]
    if not query:
        return
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in pairs]
    errors = [FieldError(field=f"query.{name}", message="Give this parameter once.")
              for name in sorted({name for name in names if names.count(name) > 1})]
    # msgspec would read "null" as None for an optional parameter; the document says integer (or
    # date, ...): leave the parameter out instead.
    errors += [FieldError(field=f"query.{name}", message="'null' is not a value; leave the parameter out.")
               for name, value in pairs if value == "null"]
    if errors:
        raise ProblemError(422, "The query has invalid parameters.", slug="validation-error", errors=errors)


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema counts 60.0 as an integer, so the API does too (60.5 stays a float, and fails)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


# Stands in for a body field of the wrong type: no msgspec conversion accepts an arbitrary object.
_NOT_STRICT = object()


def _strictly_valid(struct: type[msgspec.Struct], name: str, value: Any) -> bool:
    for info in msgspec.structs.fields(struct):
        if info.encode_name == name:
            try:
                msgspec.convert(value, info.type, strict=True)
            except msgspec.ValidationError:
                return False
            return True
    return True  # an unknown field: forbid_unknown_fields names it


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what} not found", slug="not-found")


def found(document: T | None, what: str) -> T:
    """`document`, or 404 naming `what` when the store has no such resource (None)."""
    if document is None:
        raise not_found(what)
    return document


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, slug="conflict")


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    request: Request[Any, Any, Any] | None = None,
) -> Response[Problem]:
    phrase = HTTPStatus(status).phrase
    slug = slug or phrase.lower().replace(" ", "-").replace("'", "")
    body = Problem(type=f"urn:tableorder:problem:{slug}", title=phrase, status=status, detail=detail,
                   errors=errors, instance=request_id.instance(request.scope) if request is not None else None)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_errors(extra: Any, body_errors: list[FieldError] | None = None) -> list[FieldError]:
    """Litestar's messages as field errors; `body_errors`, when given, replace those of the body."""
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        source = getattr(source, "value", source)  # ParamType.PATH -> "path"
        if source == "body" and body_errors is not None:
            errors.extend(body_errors)
            body_errors = []
            continue
        key = item.get("key") or ("body" if source == "body" else "")
        field = f"{source}.{key}" if source and source != "body" and key else key or "body"
        errors.append(FieldError(field=field, message=str(item.get("message", "invalid value"))))
    return errors


def _body_struct(request: Request[Any, Any, Any]) -> type[msgspec.Struct] | None:
    """The Struct the route's `data` is, if it is one."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    struct = data.annotation if data is not None else None
    return struct if isinstance(struct, type) and issubclass(struct, msgspec.Struct) else None


def _body_errors(request: Request[Any, Any, Any]) -> list[FieldError] | None:
    """Every bad field of a JSON body, not only the first one msgspec stops at: each top-level field
    is checked on its own (a nested field reports its first error, e.g. `items[3].quantity`).
    None when the body is not a JSON object for a msgspec Struct; Litestar's message then stands."""
    try:
        struct = _body_struct(request)
        if struct is None:
            return None
        body = ScopeState.from_scope(request.scope).body
        if body is Empty:
            return None
        if not body.strip():
            return [FieldError(field="body", message="A JSON object is required.")]
        raw = _integral_floats_as_ints(msgspec.json.decode(body))
        if not isinstance(raw, dict):
            return None
        errors: list[FieldError] = []
        known: set[str] = set()
        for info in msgspec.structs.fields(struct):
            known.add(info.encode_name)
            if info.encode_name not in raw:
                if info.required:
                    errors.append(FieldError(field=info.encode_name, message="This field is required."))
                continue
            try:
                msgspec.convert(raw[info.encode_name], info.type, strict=True)
            except msgspec.ValidationError as exc:
                message, _, at = str(exc).partition(" - at `$")
                errors.append(FieldError(field=info.encode_name + at.rstrip("`"), message=message))
        if struct.__struct_config__.forbid_unknown_fields:
            errors += [FieldError(field=str(name), message="Unknown field.")
                       for name in raw if name not in known]
        return errors or None
    except Exception:  # best effort: never turn a 422 into a 500
        return None


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors = _field_errors(exc.extra)
    if any("malformed" in e.message.lower() or "invalid json" in e.message.lower() for e in errors):
        return problem_response(400, "The request body is not valid JSON.", slug="malformed-json",
                                errors=errors, request=request)
    errors = _field_errors(exc.extra, _body_errors(request))
    return problem_response(422, "The request has invalid fields.", slug="validation-error", errors=errors,
                            request=request)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if isinstance(exc, ProblemError):
        return problem_response(exc.status_code, exc.detail, slug=exc.slug, errors=exc.errors,
                                headers=exc.headers, request=request)
    return problem_response(exc.status_code, exc.detail, headers=exc.headers, request=request)


def handle_data_error(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[Problem]:
    # Values that pass the API types but not PostgreSQL (NUL bytes, out-of-range numbers): the
    # statement failed as a whole, so nothing was written.
    return problem_response(422, f"A value was rejected by the database: {exc.__class__.__name__}.",
                            slug="validation-error", request=request)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if isinstance(exc, UnicodeEncodeError):
        return problem_response(422, "A text value is not valid Unicode.", slug="validation-error",
                                request=request)
    if isinstance(exc, (asyncpg.TransactionRollbackError, asyncpg.LockNotAvailableError)):
        # A deadlock, a serialization failure or a lock timeout between concurrent writers: the
        # transaction was rolled back whole, so the request can simply be sent again.
        log.warning("concurrent changes collided during %s %s: %r", request.method, request.url.path, exc,
                    extra=request_id.log_extra(request.scope))
        return problem_response(503, "The request collided with concurrent changes and was not applied; "
                                     "try again.", slug="service-unavailable",
                                headers={"Retry-After": "1"}, request=request)
    if isinstance(exc, db.UNAVAILABLE):
        log.warning("database unavailable during %s %s: %r", request.method, request.url.path, exc,
                    extra=request_id.log_extra(request.scope))
        return problem_response(503, "The database is unavailable; try again shortly.",
                                headers={"Retry-After": "2"}, request=request)
    log.exception("unhandled error during %s %s", request.method, request.url.path,
                  extra=request_id.log_extra(request.scope))
    return problem_response(500, "An unexpected error occurred.", request=request)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ValidationException: handle_validation,
    HTTPException: handle_http,
    asyncpg.DataError: handle_data_error,
    Exception: handle_unexpected,
}


def problem_spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, description=description, media_type=PROBLEM_MEDIA_TYPE)


# The problem responses every operation of a kind may give, declared for generated clients.
COMMON_PROBLEMS = {
    400: problem_spec("Malformed request (e.g. invalid JSON)"),
    413: problem_spec("Request body too large"),
    422: problem_spec("Invalid fields; `errors` names each one"),
}
AUTH_PROBLEMS = {
    **COMMON_PROBLEMS,
    401: problem_spec("Missing, expired or invalid token"),
    403: problem_spec("The token is of the wrong kind for this operation, or an API key lacks the scope it "
                      "needs (the problem names it) or is refused (staff only)"),
}
