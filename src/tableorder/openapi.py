"""The OpenAPI document, served at /schema/openapi.json.

Litestar lays the document out from the routes: paths, operations, parameters, request bodies,
responses, security and the headers the handlers declare (`response_headers`, `ResponseSpec`). What
it cannot express, one step, `finish`, adds once, when the document is first served; each rule says
why it is here rather than at the source:

1. Schemas are msgspec's own JSON Schema of the Structs (`msgspec.json.schema_components`): the
   Structs and their `Meta` are the one declaration. Litestar's rendering of a Struct writes integer
   bounds as floats (2**63 - 1 becomes 2**63), puts a nullable field's constraints beside its
   `oneOf` instead of inside the non-null branch, and drops `forbid_unknown_fields`; msgspec's keeps
   all three right. Each schema gets its example from `tableorder.examples` (a Struct, so it decodes
   strictly into its type), and the named literal types (`OrderStatus`) become one shared component
   each instead of an enum repeated at every use. The event feed's unions (`events.catalog`: `Event`,
   `WebhookEvent`) are components too, discriminated by `type` (a one-value enum is written `const`);
   the streams' `text/event-stream` responses declare them (`ResponseSpec` in events/stream.py).
2. Parameters are absent, never null: a query or header parameter declared `X | None` loses its
   `null` branch and keeps its constraints inside its type; integer bounds are integers again, and
   an integer bounded by PostgreSQL's bigint is `format: int64` (ids and event positions).
3. Security: an operation that needs no credentials says so (`security: []`; Litestar leaves the
   key out when a handler declares none), and the staff's GET operations also accept the HttpOnly
   cookie, because `security._bearer_token` honours it on GET and on nothing else.
4. Headers Litestar has no place for: `Retry-After` on every 429 and 503 (a `ResponseSpec` takes no
   headers); conditional GETs (an operation that declares a 304) take `If-None-Match` and send `ETag`
   with the 200 and the 304 (GET /menu reads the header itself: its hot path parses no parameters);
   a header declared for documentation only gets the string schema Litestar derives from nothing.
5. Every request body and JSON success response carries its schema's example, so a reader (and a
   generator's "examples" phase) sees a whole request and answer next to each operation.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable, Iterator
from typing import Any, get_args

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, Contact, License, SecurityScheme, Server, Tag
from litestar.routes import HTTPRoute
from litestar.serialization import encode_json

from tableorder import documents
from tableorder.docs_page import DocsPagePlugin
from tableorder.events.catalog import UNIONS
from tableorder.examples import EXAMPLES
from tableorder.kit import MAX_BIGINT
from tableorder.security import ADMIN_COOKIE, API_KEY_SCHEME, API_KEY_SCOPES
from tableorder.settings import Settings

API_VERSION = "1.0.0"
SCHEMAS = "#/components/schemas/"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Literal types that are one concept wherever they appear: one component each (rule 1).
NAMED_TYPES: dict[str, tuple[Any, str]] = {
    "OrderStatus": (documents.OrderStatus,
                    "An order's status. It moves forward only: pending → preparing → completed; staff may "
                    "cancel an order that is not completed (cancelled orders count in no total)."),
    "ApiKeyScope": (documents.ApiKeyScope,
                    "What an API key may do; each admin operation that accepts keys names the one it needs."),
}


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
            Tag(name="Admin: menu", description="Categories and menu items (admin token)"),
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
                                "within its scopes: an operation that accepts keys lists the one scope it needs "
                                "in its security requirement (403 without it); operations that do not list "
                                "ApiKey are for staff only. Never accepted on the tablet's operations. Scopes: "
                                + ", ".join(API_KEY_SCOPES) + "."),
                "AdminCookie": SecurityScheme(type="apiKey", name=ADMIN_COOKIE, security_scheme_in="cookie",
                                              description="Set by admin login; honoured on GET only"),
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
    doc["components"]["schemas"] = _schemas(doc["components"].get("schemas", {}), _struct_types(app))
    for method, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            parameter["schema"] = _absent_not_null(parameter["schema"])
        _security(method, operation)
        _headers(operation)
    _name_shared_types(doc)
    for _, operation in _operations(doc):
        _media_examples(operation, doc["components"]["schemas"])
    _exact_integers(doc)
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


def _schemas(laid_out: dict[str, Any], struct_types: Iterable[type]) -> dict[str, Any]:
    ordered = sorted(struct_types, key=lambda t: (t.__name__, t.__module__))
    _, generated = msgspec.json.schema_components(ordered, ref_template=SCHEMAS + "{name}")
    # msgspec names a component after its class, or its full import path when two classes share a name.
    examples = {name: example for t, example in EXAMPLES.items()
                for name in (t.__name__, f"{t.__module__}.{t.__qualname__}")}
    for name, schema in generated.items():
        if name in examples and schema.get("title") == type(examples[name]).__name__:
            schema["examples"] = [msgspec.to_builtins(examples[name])]
    for name, (alias, description) in NAMED_TYPES.items():
        values = list(get_args(alias))
        generated[name] = {"title": name, "description": description, "type": "string", "enum": values,
                           "examples": [values[0]]}
    for name, (union, description) in UNIONS.items():
        members = get_args(union)
        if all(member.__name__ in generated for member in members):
            (schema,), _ = msgspec.json.schema_components([union], ref_template=SCHEMAS + "{name}")
            generated[name] = {"title": name, "description": description, "oneOf": schema["anyOf"],
                               "discriminator": schema["discriminator"],
                               "examples": [msgspec.to_builtins(EXAMPLES[members[0]])]}
    for schema in generated.values():
        for field in (schema.get("properties") or {}).values():
            if len(field.get("enum", ())) == 1:
                field["const"] = field.pop("enum")[0]
                field.setdefault("type", "string")
    # Anything Litestar described that is not a Struct (none today) keeps Litestar's schema.
    return dict(sorted({**laid_out, **generated}.items()))


def _name_shared_types(doc: dict[str, Any]) -> None:
    """Each use of a named literal type (an enum with exactly its values) or of a named union (a
    oneOf or anyOf of exactly its members) becomes a $ref to it."""
    by_values = {frozenset(get_args(alias)): name for name, (alias, _) in NAMED_TYPES.items()}
    by_members = {frozenset(SCHEMAS + member.__name__ for member in get_args(union)): name
                  for name, (union, _) in UNIONS.items()}

    def visit(node: Any, inside: str | None) -> Any:
        if isinstance(node, dict):
            name = by_values.get(frozenset(node.get("enum", ()))) if "enum" in node else None
            union = node.get("oneOf") or node.get("anyOf")
            if name is None and isinstance(union, list) and all("$ref" in member for member in union):
                name = by_members.get(frozenset(member["$ref"] for member in union))
            if name is not None and name != inside:
                kept = {k: v for k, v in node.items() if k in ("description", "default")}
                return {"$ref": SCHEMAS + name, **kept}
            return {k: visit(v, inside) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v, inside) for v in node]
        return node

    schemas = doc["components"]["schemas"]
    for name in list(schemas):
        schemas[name] = visit(schemas[name], name)
    doc["paths"] = visit(doc["paths"], None)


# --- 2. parameters and integers -------------------------------------------------------------------------


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


def _exact_integers(node: Any) -> None:
    """Integer bounds as integers (Litestar writes floats; float(2**63 - 1) is 2**63), and an integer
    bounded by bigint is int64."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
                value = node.get(key)
                if isinstance(value, float):
                    node[key] = MAX_BIGINT if value == float(MAX_BIGINT) else _integral(value)
            if node.get("maximum") == MAX_BIGINT:
                node.setdefault("format", "int64")
        for value in node.values():
            _exact_integers(value)
    elif isinstance(node, list):
        for value in node:
            _exact_integers(value)


def _integral(value: float) -> int:
    if not value.is_integer() or abs(value) >= 2**53:
        raise ValueError(f"an integer bound that a float cannot hold exactly: {value!r}")
    return int(value)


# --- 3. security ----------------------------------------------------------------------------------------


def _security(method: str, operation: dict[str, Any]) -> None:
    requirements = operation.setdefault("security", [])
    if method == "get" and {"AdminToken": []} in requirements:
        requirements.insert(requirements.index({"AdminToken": []}) + 1, {"AdminCookie": []})


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
    "schema": {"type": "string", "maxLength": 1024, "examples": ['"9c1e0f6a2b"']},
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


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(method, operation) for every operation of the document."""
    for item in doc["paths"].values():
        for method in HTTP_METHODS:
            if method in item:
                yield method, item[method]


__all__ = ["API_VERSION", "FinishedJsonPlugin", "document", "finish", "openapi_config"]
