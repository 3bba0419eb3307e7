"""Strict types (issue 11): a number is not a boolean, a string is not an integer, a query
parameter is given once. What the OpenAPI document says is what the server takes."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Stores


@pytest.mark.parametrize(("field", "value"), [
    ("available", 0), ("available", "true"), ("price", "9000"), ("price", 9000.5), ("sort_order", True),
    ("name", 5),
])
async def test_a_body_field_of_the_wrong_type_is_422_naming_it(client: httpx.AsyncClient, stores: Stores,
                                                               field: str, value: object) -> None:
    store = await stores.create(tables=1, items=1)
    body = {"category_id": store.category_id, "name": "Cider", "price": 4000, field: value}
    created = await client.post("/admin/menu-items", json=body, headers=store.admin)
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == [field]
    changed = await client.patch(f"/admin/menu-items/{store.item_ids()[0]}", json={field: value},
                                 headers=store.admin)
    assert changed.status_code == 422 and [e["field"] for e in changed.json()["errors"]] == [field]
    # nothing was written
    items = (await client.get("/admin/menu-items", headers=store.admin)).json()
    assert [(i["name"], i["price"]) for i in items] == list(store.items.values())


async def test_nested_fields_are_strict_too(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    [item] = store.item_ids()
    for line in ({"menu_item_id": str(item), "quantity": 1}, {"menu_item_id": item, "quantity": 1.5},
                 {"menu_item_id": item, "quantity": True}):
        response = await client.post("/orders", json={"items": [line]}, headers=store.tables[1].headers)
        assert response.status_code == 422, (line, response.text)
        assert response.json()["errors"][0]["field"].startswith("items[0].")
    assert (await client.get("/orders", headers=store.tables[1].headers)).json()["orders"] == []


async def test_an_integral_number_is_an_integer_as_json_schema_says(client: httpx.AsyncClient,
                                                                    stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    created = await client.post("/admin/menu-items", headers=store.admin, json={
        "category_id": float(store.category_id), "name": "Cider", "price": 4000.0, "sort_order": -2.0})
    assert created.status_code == 201, created.text
    assert (created.json()["price"], created.json()["sort_order"]) == (4000, -2)


async def test_null_is_not_a_query_value(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    response = await client.get("/admin/menu-items?category_id=null", headers=store.admin)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.category_id"


async def test_a_query_parameter_given_twice_is_422(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    for query in ("category_id=1&category_id=2", "limit=5&limit=5"):
        path = "/admin/menu-items" if "category" in query else "/admin/orders"
        response = await client.get(f"{path}?{query}", headers=store.admin)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["errors"][0]["field"] == f"query.{query.split('=')[0]}"
    assert (await client.get("/admin/orders?limit=5", headers=store.admin)).status_code == 200
