"""The OpenAPI document, served at /schema/openapi.json.

Litestar lays the document out from the routes: paths, operations, parameters, request bodies,
responses, security and the headers the handlers declare (`response_headers`, `ResponseSpec`). What
it cannot express, one step, `finish`, adds once, when the document is first served; each rule says
why it is here rather than at the source:

1. Schemas are msgspec's own JSON Schema of the Structs, with an example each, the named types as
   shared components and exact integers (`tableorder.jsonschema`): the Structs and their `Meta` are
   the one declaration. Litestar's rendering of a Struct writes integer bounds as floats (2**63 - 1
   becomes 2**63), puts a nullable field's constraints beside its `oneOf` instead of inside the
   non-null branch, and drops `forbid_unknown_fields`; msgspec's keeps all three right. The streams'
   `text/event-stream` responses declare the feed's `Event` union (`ResponseSpec` in events/stream.py).
2. Parameters are absent, never null: a query or header parameter declared `X | None` loses its
   `null` branch and keeps its constraints inside its type; integer bounds are integers again, and
   an integer bounded by PostgreSQL's bigint is `format: int64` (ids and event positions).
3. Security: an operation that needs no credentials says so (`security: []`; Litestar leaves the
   key out when a handler declares none). The staff cookie is declared by the one operation that
   honours it (the staff's stream, for EventSource), in its handler.
4. Headers Litestar has no place for: `Retry-After` on every 429 and 503 (a `ResponseSpec` takes no
   headers); conditional GETs (an operation that declares a 304) take `If-None-Match` and send `ETag`
   with the 200 and the 304 (GET /menu reads the header itself: its hot path parses no parameters);
   a header declared for documentation only gets the string schema Litestar derives from nothing.
5. Every request body and JSON success response carries its schema's example, so a reader (and a
   generator's "examples" phase) sees a whole request and answer next to each operation.
6. The event streams: each `text/event-stream` 200 declares `EventFrame` (`ResponseSpec` in
   events/stream.py), one Server-Sent Event as `{event, id, data}` with `data` a JSON string whose
   `contentSchema` is the payload (OpenAPI 3.2's reading of an event stream, which schemathesis
   checks); `x-event-schema` names the decoded event, the `Event` union (`{type, position, data}`),
   which generated clients type the feed with. (Webhook deliveries are described in AsyncAPI.)
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterator
from typing import Any, get_args

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, Contact, License, SecurityScheme, Server, Tag
from litestar.routes import HTTPRoute
from litestar.serialization import encode_json

from tableorder import jsonschema
from tableorder.docs_page import DocsPagePlugin
from tableorder.events import catalog
from tableorder.security import ADMIN_COOKIE, API_KEY_SCHEME, API_KEY_SCOPES
from tableorder.settings import Settings

API_VERSION = "1.0.0"
SCHEMAS = jsonschema.SCHEMAS
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

def openapi_config(settings: Settings) -> OpenAPIConfig:
    base_url = settings.public_base_url.rstrip("/")
    return OpenAPIConfig(
        title="Table Order API",
        version=API_VERSION,
        summary="Table ordering for restaurants: tablets order, staff run the floor, integrators connect.",
        description=(
            "Tablets on the tables browse the menu and order; staff watch a live order board; point-of-sale "
            "and kitchen systems integrate with API keys, the live event feed (Server-Sent Events, described "
            "in AsyncAPI at /schema/asyncapi.json) and signed webhooks. Errors are RFC 9457 problem "
            "documents (`application/problem+json`)."),
        servers=[Server(url=base_url, description="This deployment (PUBLIC_BASE_URL)")],
        contact=Contact(name="Table Order API documentation", url=f"{base_url}/schema"),
        license=License(name="Proprietary", identifier="LicenseRef-Proprietary"),
        tags=[
            Tag(name="Auth", description="Log in as staff (admin) or as a table's tablet"),
            Tag(name="Guest", description="What a table's tablet can do (table token)"),
            Tag(name="Admin: orders", description="The live order board (admin token)"),
            Tag(name="Admin: tables", description="Tables, sessions and history (admin token)"),
            Tag(name="Admin: calls", description="Tables calling staff: the open calls, resolved with one tap "
                                                 "(admin token)"),
            Tag(name="Admin: menu", description="Categories and menu items (admin token)"),
            Tag(name="Admin: kitchen", description="Kitchen stations and their tickets: the kitchen display "
                                                   "(admin token)"),
            Tag(name="Admin: API keys", description="Keys for integrations, with scopes (admin token only)"),
            Tag(name="Admin: webhooks", description="Signed event deliveries to your endpoints (admin token only)"),
            Tag(name="Operations", description="Health checks"),
        ],
        components=Components(
            security_schemes={
                "TableToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                                             description="From POST /api/v1/auth/table/login"),
                "AdminToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                                             description="From POST /api/v1/auth/admin/login"),
                API_KEY_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", bearer_format="tok_<prefix>_<secret>",
                    description="A store's API key, made by staff with POST /api/v1/admin/api-keys: "
                                "`tok_` + an 8-character prefix + `_` + 43 characters. Valid on the admin API "
                                "within its scopes: an operation that accepts keys lists ApiKey in its security "
                                f"and names the scope it needs in `{API_KEY_SCOPE_FIELD}` "
                                "(a list: any one of them; 403 without); "
                                "operations that do not list ApiKey are for staff only. Never accepted on the "
                                "tablet's operations. Scopes: " + ", ".join(API_KEY_SCOPES) + "."),
                "AdminCookie": SecurityScheme(
                    type="apiKey", name=ADMIN_COOKIE, security_scheme_in="cookie",
                    description="Set by staff login (HttpOnly): honoured only by the staff's event stream, for a "
                                "browser's EventSource"),
            }
        ),
        use_handler_docstrings=True,
        create_examples=False,
        path="/schema",
        # Every file from this app (the CSP allows nothing else); the JSON document is the finished one.
        render_plugins=[DocsPagePlugin(), FinishedJsonPlugin()],
    )


class FinishedJsonPlugin(JsonRenderPlugin):
    """Serves /schema/openapi.json: Litestar's document after `finish`, encoded once."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._source: dict[str, Any] | None = None
        self._rendered = b""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if openapi_schema is not self._source:
            self._rendered = encode_json(finish(openapi_schema, request.app))
            self._source = openapi_schema
        return self._rendered


def document(app: Litestar) -> dict[str, Any]:
    """The finished document of `app`, as /schema/openapi.json serves it (for tools and tests)."""
    return finish(app.openapi_schema.to_schema(), app)


def finish(laid_out: dict[str, Any], app: Litestar) -> dict[str, Any]:
    doc = copy.deepcopy(laid_out)
    # Anything Litestar described that is not a Struct (nothing today) keeps Litestar's schema.
    schemas = {**doc["components"].get("schemas", {}), **jsonschema.components(_struct_types(app))}
    doc["components"]["schemas"] = schemas
    _event_streams(doc, schemas)
    for _method, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            parameter["schema"] = _absent_not_null(parameter["schema"])
        _security(operation)
        _headers(operation)
    doc["paths"], = jsonschema.name_shared_types(schemas, doc["paths"])
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    for _, operation in _operations(doc):
        _media_examples(operation, schemas)
    jsonschema.exact_integers(doc)
    return doc


# --- 1. schemas ---------------------------------------------------------------------------------------


def _struct_types(app: Litestar) -> set[type]:
    """The Structs (and enums) that the documented handlers take and answer with."""
    found: set[type] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            signature = handler.parsed_fn_signature
            annotations = [signature.return_type.annotation]
            if "data" in signature.parameters:
                annotations.append(signature.parameters["data"].annotation)
            annotations += [spec.data_container for spec in (handler.responses or {}).values()]
            for annotation in annotations:
                found.update(_named_types_in(annotation))
    return found


def _named_types_in(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type) and issubclass(annotation, (msgspec.Struct, enum.Enum)):
        yield annotation
    for arg in get_args(annotation):
        yield from _named_types_in(arg)


# --- 2. parameters ---------------------------------------------------------------------------------------


def _absent_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its `null` branch, the constraints moved into what remains."""
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if not branches:
            continue
        kept = [branch for branch in branches if branch != {"type": "null"}]
        rest = {k: v for k, v in schema.items() if k != key}
        if len(kept) == 1:
            return {**kept[0], **rest}
        return {key: kept, **rest}
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        schema = {**schema, "type": types[0] if len(types) == 1 else types}
    if None in schema.get("enum", ()):
        schema = {**schema, "enum": [value for value in schema["enum"] if value is not None]}
    return schema


# --- 3. security ----------------------------------------------------------------------------------------


# Where an operation names the scope an API key needs. The handlers declare it as the ApiKey
# requirement's role name (what OpenAPI 3.1 allows, and what the admin guard reads); the published
# document moves it here, since OpenAPI 3.0-minded tools (spectral's oas3-operation-security-defined,
# stoplightio/spectral#2643) refuse role names on a scheme that is not OAuth2.
API_KEY_SCOPE_FIELD = "x-api-key-scope"


def _security(operation: dict[str, Any]) -> None:
    for requirement in operation.setdefault("security", []):
        scopes = requirement.get(API_KEY_SCHEME)
        if scopes:
            # One scope: its name; several (a key needs any one of them): their list.
            operation[API_KEY_SCOPE_FIELD] = scopes[0] if len(scopes) == 1 else list(scopes)
            requirement[API_KEY_SCHEME] = []
            named = " or ".join(f"`{scope}`" for scope in scopes)
            operation["description"] = (operation.get("description", "").rstrip()
                                        + f"\n\nAn API key needs the scope {named}.").lstrip()


# --- 4. headers -----------------------------------------------------------------------------------------

RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "examples": [5]},
}


ETAG = {
    "description": "The representation's entity tag: send it back in If-None-Match",
    "required": True,
    "schema": {"type": "string", "examples": ['"9c1e0f6a2b"']},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag received before: 304 with no body while the representation is unchanged",
    "schema": {"type": "string", "examples": ['"9c1e0f6a2b"']},
}


def _headers(operation: dict[str, Any]) -> None:
    responses = operation.get("responses", {})
    for status in ("429", "503"):
        if status in responses:
            responses[status].setdefault("headers", {})["Retry-After"] = dict(RETRY_AFTER)
    if "304" in responses:
        parameters = operation.setdefault("parameters", [])
        if not any(p["name"].lower() == "if-none-match" for p in parameters):
            parameters.append(dict(IF_NONE_MATCH))
        for status in ("200", "304"):
            responses[status].setdefault("headers", {})["ETag"] = dict(ETAG)
    for response in responses.values():
        headers = response.get("headers", {})
        for name, header in headers.items():
            headers[name] = _header(header)
        if headers == {}:
            response.pop("headers", None)


def _header(header: dict[str, Any]) -> dict[str, Any]:
    """A header with a schema (a string when Litestar derived none), no `allOf` of one, no defaults."""
    schema = header.get("schema") or {}
    while len(schema.get("allOf", ())) == 1:
        schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **schema["allOf"][0]}
    schema = {k: v for k, v in schema.items() if v != ""}
    schema.setdefault("type", "string")
    kept = {k: v for k, v in header.items() if k != "schema" and (k, v) not in (("deprecated", False),)}
    return {**kept, "schema": _absent_not_null(schema)}


# --- 5. examples ----------------------------------------------------------------------------------------


def _media_examples(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    bodies = [operation.get("requestBody", {})]
    bodies += [response for status, response in operation.get("responses", {}).items() if status.startswith("2")]
    for body in bodies:
        for media_type, media in (body.get("content") or {}).items():
            if media_type.endswith(("json", "event-stream")) and "example" not in media and "examples" not in media:
                example = _example_of(media.get("schema", {}), schemas)
                if example is not None:
                    media["example"] = example


def _example_of(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    if "$ref" in schema:
        examples = schemas.get(schema["$ref"].removeprefix(SCHEMAS), {}).get("examples")
        return examples[0] if examples else None
    if schema.get("type") == "array":
        item = _example_of(schema.get("items", {}), schemas)
        return None if item is None else [item]
    return None


# --- 6. event streams -----------------------------------------------------------------------------------


def _event_streams(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Each event stream response also names the event its frames encode (`Event`)."""
    for _, operation in _operations(doc):
        for response in operation.get("responses", {}).values():
            media = (response.get("content") or {}).get("text/event-stream")
            if media is not None:
                media["x-event-schema"] = {"$ref": SCHEMAS + "Event"}
                schemas.update(jsonschema.components(catalog.STREAM_EVENTS.values()))


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(method, operation) for every operation of the document."""
    for item in doc["paths"].values():
        for method in HTTP_METHODS:
            if method in item:
                yield method, item[method]


__all__ = ["API_VERSION", "FinishedJsonPlugin", "document", "finish", "openapi_config"]
