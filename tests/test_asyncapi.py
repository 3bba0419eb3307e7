"""The AsyncAPI 3 document of the event feed (/schema/asyncapi.json): `asyncapi validate` finds nothing,
it names every event type with its payload's schema and says how to resume, and what a real stream
sends is what it describes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tableorder.documents import EVENT_DATA
from tableorder.events.catalog import STREAM_EVENTS, WebhookContext, WebhookHeaders
from tableorder.settings import Settings
from tests.clients import tool
from tests.conftest import ServerProcess
from tests.helpers import Stores, place
from tests.sse import EventStream
from tests.test_contract_lint import run_tool

SCHEMAS = "#/components/schemas/"
# Every Struct a message's payload or headers may name (a webhook's body is an event and its context).
STRUCTS: dict[str, type[msgspec.Struct]] = {
    t.__name__: t for t in [*EVENT_DATA.values(), *STREAM_EVENTS.values(), WebhookContext, WebhookHeaders]}


@pytest.fixture(scope="module")
def asyncapi_document(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/schema/asyncapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def test_asyncapi_validate_finds_no_error_or_warning(asyncapi_document: dict[str, Any],
                                                     tmp_path: Path) -> None:
    document = tmp_path / "asyncapi.json"
    document.write_text(json.dumps(asyncapi_document, indent=1, ensure_ascii=False))
    diagnostics = tmp_path / "diagnostics.json"
    # The CLI's usage metrics stay off (its config file, not the user's home) and nothing is sent.
    metrics = tmp_path / "asyncapi-metrics.json"
    metrics.write_text('{"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "tests"}')
    result = run_tool(tool("asyncapi"), "validate", document, "--diagnostics-format", "json",
                      "--fail-severity", "warn", "--save-output", diagnostics,
                      env={"ASYNCAPI_METRICS_CONFIG_PATH": str(metrics)})
    found = json.loads(diagnostics.read_text()) if diagnostics.exists() else []
    # Severity 0 is an error, 1 a warning; 2 (information) is only the suggestion to move to 3.1.
    problems = [f"{d['code']} (severity {d['severity']}): {d['message']} at {'/'.join(map(str, d['path']))}"
                for d in found if d["severity"] < 2 or d["code"] != "asyncapi-latest-version"]
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_event_type_is_a_message_with_its_payload_schema(asyncapi_document: dict[str, Any]) -> None:
    assert asyncapi_document["asyncapi"].startswith("3.")
    channels = asyncapi_document["channels"]
    messages = asyncapi_document["components"]["messages"]
    schemas = asyncapi_document["components"]["schemas"]
    assert channels["storeFeed"]["address"] == "/api/v1/admin/orders/stream"
    assert channels["tableFeed"]["address"] == "/api/v1/orders/stream"
    # A table's stream carries every type but the kitchen's tickets (staff only).
    for channel, event_types in (("storeFeed", set(EVENT_DATA)),
                                 ("tableFeed", set(EVENT_DATA) - {"ticket.created", "ticket.done"}),
                                 ("webhooks", set(EVENT_DATA) - {"resync"})):
        named = {messages[ref["$ref"].rsplit("/", 1)[1]]["name"] for ref in channels[channel]["messages"].values()}
        assert named == event_types, channel
    assert "resync" in {m["name"] for m in messages.values()}
    problems = []
    for key, message in messages.items():
        parts = [(part, ref) for part in ("payload", "headers") if part in message
                 for ref in [m["$ref"] for m in message[part].get("allOf", [message[part]])]]
        if key.startswith("webhook."):
            assert [ref for part, ref in parts if part == "payload"][1:] == [SCHEMAS + "WebhookContext"], key
        for part, ref in parts:
            name = ref.removeprefix(SCHEMAS)
            if name not in schemas:
                problems.append(f"{key}: {part} {name} is not in components.schemas")
            if name not in STRUCTS:
                problems.append(f"{key}: {part} {name} is not the schema of a Struct")
                continue
            if schemas[name] != _schema_of(STRUCTS[name], schemas):
                problems.append(f"{key}: {part} {name} is not msgspec's schema of {name}")
            # Each example decodes, strictly, into the Struct the message names.
            for example in message.get("examples", []):
                try:
                    msgspec.json.decode(json.dumps(example[part]).encode(), type=STRUCTS[name], strict=True)
                except msgspec.ValidationError as exc:
                    problems.append(f"{key}: the {part} example is not a {name}: {exc}")
        if not message.get("examples"):
            problems.append(f"{key}: no example")
    assert not problems, "\n".join(problems)


def _schema_of(struct: type[msgspec.Struct], schemas: dict[str, Any]) -> dict[str, Any]:
    """What the document should say for `struct`: its generated schema in the document's own terms."""
    from tableorder import jsonschema

    generated = jsonschema.components([struct])
    jsonschema.name_shared_types(generated)
    jsonschema.exact_integers(generated)
    for schema in generated.values():
        if isinstance(schema.get("discriminator"), dict):
            schema["discriminator"] = schema["discriminator"]["propertyName"]
    return dict(generated[struct.__name__])


def test_retention_resume_and_heartbeat_are_written_down(asyncapi_document: dict[str, Any],
                                                         server: ServerProcess) -> None:
    settings = Settings.from_env({})
    text = asyncapi_document["info"]["description"]
    assert "Last-Event-ID" in text and "resync" in text
    assert f"EVENT_RETENTION_HOURS ({settings.event_retention_hours:g} hours here)" in text
    assert "ahead of the feed" in text and "no longer kept" in text
    assert f"SSE_HEARTBEAT_INTERVAL seconds\n({settings.sse_heartbeat_interval:g} here)" in text
    servers = asyncapi_document["servers"]
    assert f"{servers['api']['protocol']}://{servers['api']['host']}" == server.url  # PUBLIC_BASE_URL


async def test_a_real_stream_sends_what_the_document_describes(asyncapi_document: dict[str, Any],
                                                               server: ServerProcess, stores: Stores,
                                                               client: httpx.AsyncClient) -> None:
    messages = asyncapi_document["components"]["messages"]
    payload_of = {m["name"]: STRUCTS[m["payload"]["$ref"].removeprefix(SCHEMAS)]
                  for key, m in messages.items() if not key.startswith("webhook.")}
    store = await stores.create()
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", store.admin) as stream:
        await place(client, store.tables[1], [(store.item_ids()[0], 2)])
        message = await stream.next()
    assert message.event == "order.created" and message.id is not None
    msgspec.json.decode(message.data.encode(), type=payload_of[message.event], strict=True)
    # A resume from a future position is told so by a resync event, as described.
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", store.admin,
                           last_event_id=message.id + 1_000_000) as stream:
        resync = await stream.next()
    assert resync.event == "resync"
    assert msgspec.json.decode(resync.data.encode(), type=payload_of["resync"]).cause == "ahead"
