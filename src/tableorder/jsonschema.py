"""The JSON Schemas of the Structs, as the OpenAPI and AsyncAPI documents declare them.

msgspec's own JSON Schema of each Struct (`msgspec.json.schema_components`) is the declaration: the
Struct and its `Meta` say everything once. To it this module adds what makes a document read well:
one example per schema, from `tableorder.examples` (a Struct, so it decodes strictly into its type);
one component for each named literal type (`OrderStatus`) and each named union of the event feed
(`events.catalog.UNIONS`, discriminated by `type`) instead of the same enum or `anyOf` at every use; a
one-value enum (an event's `type` tag, a token's `token_type`) written as `const`; integer bounds as
integers and bigint-bounded integers (ids, event positions) as `format: int64`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_args

import msgspec

from tableorder import documents
from tableorder.events.catalog import CONTENT_OF, UNIONS
from tableorder.examples import EXAMPLES
from tableorder.kit import MAX_BIGINT

SCHEMAS = "#/components/schemas/"

# Literal types that are one concept wherever they appear: one component each.
NAMED_TYPES: dict[str, tuple[Any, str]] = {
    "OrderStatus": (documents.OrderStatus,
                    "An order's status. It moves forward only: pending → preparing → completed; staff may "
                    "cancel an order that is not completed (cancelled orders count in no total)."),
    "ApiKeyScope": (documents.ApiKeyScope,
                    "What an API key may do; each admin operation that accepts keys names the one it needs."),
    "WebhookEventType": (documents.WebhookEventType,
                         "An event type a webhook endpoint can subscribe to: every type of the feed but `resync`."),
}


def components(struct_types: Iterable[type]) -> dict[str, Any]:
    """The schemas of `struct_types` and of what they contain (an event frame's `data` included), by
    component name; with the named types and unions that they use (`name_shared_types` puts the
    references in)."""
    types = set(struct_types)
    types |= {CONTENT_OF[t] for t in types if t in CONTENT_OF}
    ordered = sorted(types, key=lambda t: (t.__name__, t.__module__))
    _, generated = msgspec.json.schema_components(ordered, ref_template=SCHEMAS + "{name}")
    # msgspec names a component after its class, or its full import path when two classes share a name.
    examples = {name: example for t, example in EXAMPLES.items()
                for name in (t.__name__, f"{t.__module__}.{t.__qualname__}")}
    for name, schema in generated.items():
        if name in examples and schema.get("title") == type(examples[name]).__name__:
            schema["examples"] = [msgspec.to_builtins(examples[name])]
        for field in (schema.get("properties") or {}).values():
            if len(field.get("enum", ())) == 1:
                field["const"] = field.pop("enum")[0]
                field.setdefault("type", "string")
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
    return generated


def name_shared_types(schemas: dict[str, Any], *elsewhere: Any) -> list[Any]:
    """Each use of a named literal type (an enum with exactly its values) or of a named union (a
    oneOf or anyOf of exactly its members), in `schemas` and in the `elsewhere` nodes, becomes a $ref
    to it; a named type that nothing uses is dropped. Returns the `elsewhere` nodes, rewritten."""
    by_values = {frozenset(get_args(alias)): name for name, (alias, _) in NAMED_TYPES.items()}
    by_members = {frozenset(SCHEMAS + member.__name__ for member in get_args(union)): name
                  for name, (union, _) in UNIONS.items()}
    used: set[str] = set()

    def visit(node: Any, inside: str | None) -> Any:
        if isinstance(node, dict):
            name = by_values.get(frozenset(node.get("enum", ()))) if "enum" in node else None
            union = node.get("oneOf") or node.get("anyOf")
            if name is None and isinstance(union, list) and all("$ref" in member for member in union):
                name = by_members.get(frozenset(member["$ref"] for member in union))
            if name is not None and name != inside:
                kept = {k: v for k, v in node.items() if k in ("description", "default")}
                node = {"$ref": SCHEMAS + name, **kept}
            if isinstance(node.get("$ref"), str):
                used.add(node["$ref"].removeprefix(SCHEMAS))
            return {k: visit(v, inside) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v, inside) for v in node]
        return node

    for name in list(schemas):
        schemas[name] = visit(schemas[name], name)
    rewritten = [visit(node, None) for node in elsewhere]
    for name in [*NAMED_TYPES, *UNIONS]:
        if name in schemas and name not in used:
            del schemas[name]
    return rewritten


def exact_integers(node: Any) -> None:
    """Integer bounds as integers (Litestar writes floats, and float(2**63 - 1) is 2**63), and an
    integer bounded by bigint is int64."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
                value = node.get(key)
                if isinstance(value, float):
                    node[key] = MAX_BIGINT if value == float(MAX_BIGINT) else _integral(value)
            if node.get("maximum") == MAX_BIGINT:
                node.setdefault("format", "int64")
        for value in node.values():
            exact_integers(value)
    elif isinstance(node, list):
        for value in node:
            exact_integers(value)


def _integral(value: float) -> int:
    if not value.is_integer() or abs(value) >= 2**53:
        raise ValueError(f"an integer bound that a float cannot hold exactly: {value!r}")
    return int(value)
