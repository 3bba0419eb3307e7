"""The OpenAPI document is exact: redocly and spectral find nothing in the live document, and each point
that makes it exact (tableorder.openapi) is checked against the document and, where a client would
notice, against the live server.

The linters come from tools/ (`npm ci --prefix tools`, which `make test` runs): without them these
tests skip, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tableorder.examples import EXAMPLES
from tableorder.kit import MAX_BIGINT
from tableorder.settings import Settings, SettingsError
from tests.clients import tool
from tests.conftest import ROOT, ServerProcess
from tests.helpers import Stores, bearer

TOOLS = ROOT / "tools"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SCHEMAS = "#/components/schemas/"
# No telemetry, no update checks: the tests run offline.
TOOL_ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
            "NO_UPDATE_NOTIFIER": "1", "ASYNCAPI_METRICS": "false"}


def run_tool(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=300,
                          cwd=TOOLS, env={**TOOL_ENV, **(env or {})}, check=False)


@pytest.fixture(scope="module")
def document_file(openapi_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "openapi.json"
    path.write_text(json.dumps(openapi_document, indent=1, ensure_ascii=False))
    return path


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def schemas_in(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under `node` (JSON Schema nesting), with where it is."""
    if isinstance(node, dict):
        yield where, node
        for key in ("properties", "$defs"):
            for name, child in (node.get(key) or {}).items():
                yield from schemas_in(child, f"{where}.{name}")
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for i, child in enumerate(node.get(key) or []):
                yield from schemas_in(child, f"{where}/{key}[{i}]")
        for key in ("items", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                yield from schemas_in(node[key], f"{where}/{key}")


def every_schema(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, schema in document["components"]["schemas"].items():
        yield from schemas_in(schema, name)
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            yield from schemas_in(parameter["schema"], f"{method} {path} {parameter['in']} {parameter['name']}")
        for status, response in operation.get("responses", {}).items():
            for name, header in (response.get("headers") or {}).items():
                yield from schemas_in(header.get("schema", {}), f"{method} {path} {status} header {name}")


# --- the linters ------------------------------------------------------------------------------------------


def test_redocly_finds_no_problem(document_file: Path) -> None:
    result = run_tool(tool("redocly"), "lint", document_file, "--config", TOOLS / "redocly.yaml", "--format=json")
    report = json.loads(result.stdout)
    problems = [f"{p['severity']} {p['ruleId']}: {p['message']} at "
                f"{', '.join(loc.get('pointer', '') for loc in p.get('location', []))}" for p in report["problems"]]
    assert not problems, "\n".join(problems)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, report["totals"]
    assert result.returncode == 0, result.stderr


def test_spectral_finds_no_problem(document_file: Path) -> None:
    result = run_tool(tool("spectral"), "lint", document_file, "--ruleset", TOOLS / "spectral.yaml",
                      "--format", "json", "--quiet", "--fail-severity", "hint")
    findings = json.loads(result.stdout or "[]")
    problems = [f"{f['code']} (severity {f['severity']}): {f['message']} at {'/'.join(map(str, f['path']))}"
                for f in findings]
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stderr


# --- what makes the document exact ------------------------------------------------------------------------


def test_integer_bounds_are_integers_and_ids_are_int64(openapi_document: dict[str, Any]) -> None:
    problems = []
    for where, schema in every_schema(openapi_document):
        if schema.get("type") != "integer":
            continue
        problems += [f"{where}: {key} is {schema[key]!r}" for key in ("minimum", "maximum", "multipleOf")
                     if key in schema and not isinstance(schema[key], int)]
        if schema.get("maximum") == MAX_BIGINT and schema.get("format") != "int64":
            problems.append(f"{where}: bigint without format int64")
    # (An event frame's `id` is the SSE field: the position as a decimal string.)
    ids = [(where, schema) for where, schema in every_schema(openapi_document)
           if (where.rsplit(".", 1)[-1] in {"id", "table_id", "session_id", "menu_item_id", "category_id"}
               and not where.split(".")[0].endswith("Frame"))
           or where.endswith(("path order_id", "path table_id", "path item_id", "path category_id"))]
    assert len(ids) > 20, ids
    for where, schema in ids:
        branch = next((b for b in schema.get("anyOf", []) if b.get("type") == "integer"), schema)
        if branch.get("format") != "int64" or branch.get("maximum") != MAX_BIGINT:
            problems.append(f"{where}: an id that is not int64 up to 2**63 - 1: {schema}")
    last_event_id = [p["schema"] for _, path, op in operations(openapi_document) for p in op.get("parameters", [])
                     if p["name"] == "Last-Event-ID"]
    assert last_event_id and all(s["format"] == "int64" and s["minimum"] == 0 for s in last_event_id), last_event_id
    assert not problems, "\n".join(problems)


CONSTRAINTS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
               "format", "minItems", "maxItems", "enum", "const", "multipleOf"}


def test_nullable_constraints_sit_inside_the_non_null_branch(openapi_document: dict[str, Any]) -> None:
    problems = []
    nullable = 0
    for where, schema in every_schema(openapi_document):
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key) or []
            if {"type": "null"} in branches:
                nullable += 1
                beside = CONSTRAINTS & set(schema)
                if beside:
                    problems.append(f"{where}: {sorted(beside)} beside the {key} instead of in its branch")
            if len(branches) == 1:
                problems.append(f"{where}: a {key} of one schema")
    assert nullable > 5
    assert not problems, "\n".join(problems)


def test_order_status_is_one_shared_component(openapi_document: dict[str, Any]) -> None:
    schemas = openapi_document["components"]["schemas"]
    status = schemas["OrderStatus"]
    assert status["enum"] == ["pending", "preparing", "completed", "cancelled"] and status["type"] == "string"
    inline = [where for where, schema in every_schema(openapi_document)
              if set(schema.get("enum", ())) == set(status["enum"]) and where != "OrderStatus"]
    assert not inline, f"the order status is spelled out again at {inline}"
    assert schemas["Order"]["properties"]["status"] == {"$ref": SCHEMAS + "OrderStatus"}
    assert schemas["OrderStatusUpdate"]["properties"]["status"] == {"$ref": SCHEMAS + "OrderStatus"}
    listing = next(op for method, path, op in operations(openapi_document)
                   if (method, path) == ("GET", "/api/v1/admin/orders"))
    assert {"$ref": SCHEMAS + "OrderStatus"} in [p["schema"] for p in listing["parameters"]]


async def test_request_bodies_refuse_unknown_properties(openapi_document: dict[str, Any], client: httpx.AsyncClient,
                                                        stores: Stores) -> None:
    schemas = openapi_document["components"]["schemas"]
    bodies = {}
    for method, path, operation in operations(openapi_document):
        body = operation.get("requestBody")
        if body is not None:
            ref = body["content"]["application/json"]["schema"]["$ref"]
            bodies[f"{method} {path}"] = schemas[ref.removeprefix(SCHEMAS)]
    assert len(bodies) > 10
    problems = [f"{label}: {schema['title']} allows unknown properties"
                for label, schema in bodies.items() if schema.get("additionalProperties") is not False]
    assert not problems, "\n".join(problems)
    # What the document says is what the server does.
    store = await stores.create()
    response = await client.post("/admin/categories", json={"name": "Drinks", "colour": "blue"}, headers=store.admin)
    assert response.status_code == 422, response.text
    assert {"field": "colour", "message": "Unknown field."} in response.json()["errors"]


def test_public_operations_say_they_need_no_credentials(openapi_document: dict[str, Any]) -> None:
    security = {f"{method} {path}": operation.get("security") for method, path, operation in
                operations(openapi_document)}
    for label in ("POST /api/v1/auth/admin/login", "POST /api/v1/auth/table/login", "GET /health",
                  "GET /health/ready"):
        assert security[label] == [], f"{label}: {security[label]}"
    unsaid = [label for label, requirements in security.items() if requirements is None]
    assert not unsaid, f"operations that do not say what they need: {unsaid}"


async def test_the_admin_cookie_is_declared_where_it_is_honoured(openapi_document: dict[str, Any],
                                                                 server: ServerProcess, stores: Stores) -> None:
    """The cookie exists for the browser's EventSource, which cannot send a header: it is honoured on
    the staff's stream and nowhere else, and the document says exactly that (a generated client that
    sends its credentials as every declared scheme never puts an API key in a cookie elsewhere)."""
    admin = [(method, path, op) for method, path, op in operations(openapi_document)
             if path.startswith("/api/v1/admin")]
    declared = [f"{method} {path}" for method, path, op in admin if {"AdminCookie": []} in op["security"]]
    assert declared == ["GET /api/v1/admin/orders/stream"]
    store = await stores.create()
    cookie = {"tableorder_admin": store.admin_token}
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", cookies=cookie, timeout=30) as browser:
        async with browser.stream("GET", "/admin/orders/stream") as stream:
            assert stream.status_code == 200
        for method, path in (("GET", "/admin/categories"), ("POST", "/admin/categories")):
            refused = await browser.request(method, path, json={"name": "Drinks"} if method == "POST" else None)
            assert refused.status_code == 401, (method, path, refused.text)


def test_headers_are_declared(openapi_document: dict[str, Any]) -> None:
    by_label = {f"{method} {path}": op for method, path, op in operations(openapi_document)}
    menu = by_label["GET /api/v1/menu"]
    assert "ETag" in menu["responses"]["200"]["headers"] and "ETag" in menu["responses"]["304"]["headers"]
    assert "If-None-Match" in [(p["name"]) for p in menu["parameters"] if p["in"] == "header"]
    order = by_label["POST /api/v1/orders"]
    assert "Idempotency-Key" in [p["name"] for p in order["parameters"] if p["in"] == "header"]
    assert "Idempotent-Replayed" in order["responses"]["201"]["headers"]
    for label in ("GET /api/v1/orders/stream", "GET /api/v1/admin/orders/stream"):
        assert "Last-Event-ID" in [p["name"] for p in by_label[label]["parameters"] if p["in"] == "header"], label
    problems = []
    for label, operation in by_label.items():
        for status, response in operation["responses"].items():
            headers = response.get("headers") or {}
            if status in ("429", "503") and "Retry-After" not in headers:
                problems.append(f"{label}: {status} without Retry-After")
            # The tablet's commands (an order, a call) have no URL of their own for the tablet to read.
            if status == "201" and "Location" not in headers and label not in ("POST /api/v1/orders",
                                                                               "POST /api/v1/calls"):
                problems.append(f"{label}: 201 without Location")
            problems += [f"{label}: {status} header {name} has no schema" for name, header in headers.items()
                         if "schema" not in header]
        for parameter in operation.get("parameters", []):
            text = json.dumps(parameter["schema"])
            if '"null"' in text or "null" in str(parameter["schema"].get("enum", "")):
                problems.append(f"{label}: {parameter['in']} parameter {parameter['name']} may be null: {text}")
    assert not problems, "\n".join(problems)


def test_servers_is_the_public_base_url(openapi_document: dict[str, Any], server: ServerProcess) -> None:
    # conftest's ServerProcess sets PUBLIC_BASE_URL to where it listens.
    assert [s["url"] for s in openapi_document["servers"]] == [server.url]
    assert Settings.from_env({}).public_base_url == "http://127.0.0.1:8000"
    assert Settings.from_env({"PUBLIC_BASE_URL": "https://orders.example.com"}).public_base_url == \
        "https://orders.example.com"
    for wrong in ("/", "orders.example.com", "ftp://orders.example.com", "https://orders.example.com/?a=1"):
        with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
            Settings.from_env({"PUBLIC_BASE_URL": wrong})


def test_options_and_405_list_exactly_the_methods_of_the_path(openapi_document: dict[str, Any],
                                                              server: ServerProcess) -> None:
    problems = []
    with httpx.Client(base_url=server.url, timeout=30) as plain:
        for path, item in openapi_document["paths"].items():
            documented = {method.upper() for method in HTTP_METHODS if method in item} | {"OPTIONS"}
            url = "/".join("1" if part.startswith("{") else part for part in path.split("/"))
            answer = plain.options(url)
            allow = {m.strip() for m in answer.headers.get("allow", "").split(",") if m.strip()}
            if answer.status_code != 204 or allow != documented:
                problems.append(f"OPTIONS {path}: {answer.status_code}, Allow {sorted(allow)}, "
                                f"documented {sorted(documented)}")
            refused = plain.request("TRACE", url)
            allow = {m.strip() for m in refused.headers.get("allow", "").split(",") if m.strip()}
            if refused.status_code != 405 or allow != documented:
                problems.append(f"TRACE {path}: {refused.status_code}, Allow {sorted(allow)}")
    assert not problems, "\n".join(problems)


# --- descriptions and examples ----------------------------------------------------------------------------


def test_every_operation_has_a_description_and_examples(openapi_document: dict[str, Any]) -> None:
    problems = []
    for method, path, operation in operations(openapi_document):
        label = f"{method} {path}"
        if not operation.get("description", "").strip():
            problems.append(f"{label}: no description")
        bodies = {"request": operation.get("requestBody", {})}
        bodies |= {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        for status, body in bodies.items():
            for media_type, media in (body.get("content") or {}).items():
                if "example" not in media and "examples" not in media:
                    problems.append(f"{label}: the {status} {media_type} has no example")
    assert not problems, "\n".join(problems)


def test_every_schema_has_a_description_and_an_example_that_decodes_strictly(
        openapi_document: dict[str, Any]) -> None:
    problems = []
    for name, schema in openapi_document["components"]["schemas"].items():
        if not schema.get("description", "").strip():
            problems.append(f"{name}: no description")
        if not schema.get("examples"):
            problems.append(f"{name}: no example")
    # The examples are Structs: each must decode, strictly, into its own type (an example cannot lie).
    for struct_type, example in EXAMPLES.items():
        encoded = msgspec.json.encode(example)
        try:
            msgspec.json.decode(encoded, type=struct_type, strict=True)
        except msgspec.ValidationError as exc:
            problems.append(f"the example of {struct_type.__name__} does not decode: {exc}")
    assert not problems, "\n".join(problems)


async def test_a_request_example_works_and_location_finds_it(openapi_document: dict[str, Any], stores: Stores,
                                                             client: httpx.AsyncClient) -> None:
    """The request examples are real: the category example, sent as it is, is created; the Location
    its 201 declares is sent, and reads it back."""
    store = await stores.create()
    create = next(op for method, path, op in operations(openapi_document)
                  if (method, path) == ("POST", "/api/v1/admin/categories"))
    example = create["requestBody"]["content"]["application/json"]["example"]
    response = await client.post("/admin/categories", json=example, headers=bearer(store.admin_token))
    assert response.status_code == 201, response.text
    assert {k: response.json()[k] for k in example} == example
    location = response.headers["location"]
    assert location == f"/api/v1/admin/categories/{response.json()['id']}"
    again = await client.get(location.removeprefix("/api/v1"), headers=bearer(store.admin_token))
    assert again.status_code == 200 and again.json() == response.json()
