"""Item options (issue 12, SPEC section 10): staff manage an item's option groups and options; a tablet's
order line names the options chosen, and the server checks each group's min and max, what exists, what
belongs to the item and what is sold out (422 naming the line and the group, never a partial order),
prices the line with the options' deltas and keeps a snapshot of them. Real HTTP, real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import Store, Stores, bearer

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def add_group(client: httpx.AsyncClient, store: Store, item_id: int, name: str, low: int, high: int,
                    **fields: Any) -> dict[str, Any]:
    response = await client.post(f"/admin/menu-items/{item_id}/option-groups", headers=store.admin,
                                 json={"name": name, "min": low, "max": high, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_option(client: httpx.AsyncClient, store: Store, group_id: int, name: str, delta: int,
                     **fields: Any) -> dict[str, Any]:
    response = await client.post(f"/admin/option-groups/{group_id}/options", headers=store.admin,
                                 json={"name": name, "price_delta": delta, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def stew(client: httpx.AsyncClient, store: Store) -> dict[str, int]:
    """The store's first item gets 맵기 (required, one of 순한맛/보통/매운맛 at 0) and 토핑 (0-3: 치즈 +1,000,
    계란 +1,000, 라면사리 +1,500). Returns the ids by name (and `item`, `spice`, `topping`)."""
    item = store.item_ids()[0]
    spice = await add_group(client, store, item, "맵기", 1, 1)
    topping = await add_group(client, store, item, "토핑", 0, 3, sort_order=1)
    ids = {"item": item, "spice": spice["id"], "topping": topping["id"]}
    for position, name in enumerate(("순한맛", "보통", "매운맛")):
        ids[name] = (await add_option(client, store, spice["id"], name, 0, sort_order=position))["id"]
    for position, (name, delta) in enumerate((("치즈", 1000), ("계란", 1000), ("라면사리", 1500))):
        ids[name] = (await add_option(client, store, topping["id"], name, delta, sort_order=position))["id"]
    return ids


async def order(client: httpx.AsyncClient, store: Store, lines: list[tuple[int, int, list[int]]], table: int = 1,
                key: str | None = None) -> httpx.Response:
    headers = {**store.tables[table].headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/orders", headers=headers, json={
        "items": [{"menu_item_id": item, "quantity": quantity, "options": options}
                  for item, quantity, options in lines]})


async def order_count(pool: asyncpg.Pool, store: Store) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id)
    return count


# --- staff manage option groups and options -----------------------------------------------------------


async def test_staff_build_an_items_options_and_tablets_see_them(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=2)
    item = store.item_ids()[0]
    created = await client.post(f"/admin/menu-items/{item}/option-groups", headers=store.admin, json={
        "name": "맵기", "min": 1, "max": 1, "translations": {"en": {"name": "Spiciness"}}})
    assert created.status_code == 201, created.text
    group = created.json()
    assert created.headers["location"] == f"/api/v1/admin/option-groups/{group['id']}"
    assert group == {"id": group["id"], "name": "맵기", "min": 1, "max": 1, "sort_order": 0,
                     "translations": {"en": {"name": "Spiciness"}}, "options": []}
    made = await client.post(f"/admin/option-groups/{group['id']}/options", headers=store.admin,
                             json={"name": "매운맛", "price_delta": 500, "sort_order": 2})
    assert made.status_code == 201, made.text
    hot = made.json()
    assert made.headers["location"] == f"/api/v1/admin/options/{hot['id']}"
    assert (await client.get(f"/admin/options/{hot['id']}", headers=store.admin)).json() == hot
    read = await client.get(f"/admin/option-groups/{group['id']}", headers=store.admin)
    assert read.json() == {**group, "options": [hot]}
    assert hot == {"id": hot["id"], "name": "매운맛", "price_delta": 500, "available": True, "sort_order": 2,
                   "translations": {}}
    mild = await add_option(client, store, group["id"], "순한맛", 0, sort_order=1)

    renamed = await client.patch(f"/admin/option-groups/{group['id']}", headers=store.admin,
                                 json={"name": "맵기 선택", "max": 2})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["min"], renamed.json()["max"]) == ("맵기 선택", 1, 2)
    assert [o["id"] for o in renamed.json()["options"]] == [mild["id"], hot["id"]]  # by sort_order
    sold_out = await client.patch(f"/admin/options/{hot['id']}", headers=store.admin,
                                  json={"available": False, "price_delta": -100})
    assert sold_out.status_code == 200
    assert (sold_out.json()["available"], sold_out.json()["price_delta"]) == (False, -100)

    admin_item = (await client.get(f"/admin/menu-items/{item}", headers=store.admin)).json()
    assert [g["id"] for g in admin_item["option_groups"]] == [group["id"]]
    assert [o["name"] for o in admin_item["option_groups"][0]["options"]] == ["순한맛", "매운맛"]
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    entry = next(e for c in menu["categories"] for e in c["items"] if e["id"] == item)
    assert entry["option_groups"] == [{"id": group["id"], "name": "맵기 선택", "min": 1, "max": 2, "options": [
        {"id": mild["id"], "name": "순한맛", "price_delta": 0, "available": True},
        {"id": hot["id"], "name": "매운맛", "price_delta": -100, "available": False}]}]

    assert (await client.delete(f"/admin/options/{mild['id']}", headers=store.admin)).status_code == 204
    assert (await client.delete(f"/admin/options/{mild['id']}", headers=store.admin)).status_code == 404
    assert (await client.delete(f"/admin/option-groups/{group['id']}", headers=store.admin)).status_code == 204
    assert (await client.get(f"/admin/menu-items/{item}", headers=store.admin)).json()["option_groups"] == []
    assert_problem(await client.patch(f"/admin/options/{hot['id']}", headers=store.admin, json={"name": "x"}), 404)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "맵기", "min": 2, "max": 1}, "min"),
    ({"name": "맵기", "min": 0, "max": 0}, "max"),
    ({"name": "맵기", "min": -1, "max": 1}, "min"),
    ({"name": "맵기", "min": 0, "max": 21}, "max"),
    ({"name": "", "min": 0, "max": 1}, "name"),
    ({"name": "x" * 51, "min": 0, "max": 1}, "name"),
    ({"name": "맵기", "min": 0}, "max"),
    ({"name": "맵기", "min": 0, "max": 1, "translations": {"fr": {"name": "Piquant"}}}, "translations"),
    ({"name": "맵기", "min": 0, "max": 1, "translations": {"en": {"name": ""}}}, "translations"),
    ({"name": "맵기", "min": 0, "max": 1, "extra": True}, "extra"),
])
async def test_a_bad_option_group_is_a_422_naming_the_field(client: httpx.AsyncClient, stores: Stores,
                                                             body: dict[str, Any], field: str) -> None:
    store = await stores.create(items=1)
    response = await client.post(f"/admin/menu-items/{store.item_ids()[0]}/option-groups", headers=store.admin,
                                 json=body)
    problem = assert_problem(response, 422)
    assert any(field in error["field"] or field in error["message"] for error in problem["errors"]), problem


async def test_min_above_max_by_a_patch_is_a_422_and_changes_nothing(client: httpx.AsyncClient,
                                                                     stores: Stores) -> None:
    store = await stores.create(items=1)
    group = await add_group(client, store, store.item_ids()[0], "토핑", 0, 2)
    url = f"/admin/option-groups/{group['id']}"
    assert_problem(await client.patch(url, headers=store.admin, json={"min": 3}), 422)
    assert_problem(await client.patch(url, headers=store.admin, json={"max": 1, "min": 2}), 422)
    bad_option = await client.post(f"{url}/options", headers=store.admin,
                                   json={"name": "치즈", "price_delta": 10_000_001})
    assert_problem(bad_option, 422)
    item = (await client.get(f"/admin/menu-items/{store.item_ids()[0]}", headers=store.admin)).json()
    assert [(g["min"], g["max"], g["options"]) for g in item["option_groups"]] == [(0, 2, [])]
    assert (await client.patch(url, headers=store.admin, json={"min": 2})).json()["min"] == 2


async def test_another_stores_items_groups_and_options_are_404(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(items=1), await stores.create(items=1)
    ids = await stew(client, mine)
    intruder = theirs.admin
    assert_problem(await client.post(f"/admin/menu-items/{ids['item']}/option-groups", headers=intruder,
                                     json={"name": "x", "min": 0, "max": 1}), 404)
    assert_problem(await client.patch(f"/admin/option-groups/{ids['spice']}", headers=intruder,
                                      json={"name": "x"}), 404)
    assert_problem(await client.delete(f"/admin/option-groups/{ids['spice']}", headers=intruder), 404)
    assert_problem(await client.post(f"/admin/option-groups/{ids['spice']}/options", headers=intruder,
                                     json={"name": "x", "price_delta": 0}), 404)
    assert_problem(await client.patch(f"/admin/options/{ids['치즈']}", headers=intruder, json={"name": "x"}), 404)
    assert_problem(await client.delete(f"/admin/options/{ids['치즈']}", headers=intruder), 404)
    assert_problem(await client.get(f"/admin/options/{ids['치즈']}", headers=intruder), 404)
    assert_problem(await client.get(f"/admin/option-groups/{ids['spice']}", headers=intruder), 404)
    item = (await client.get(f"/admin/menu-items/{ids['item']}", headers=mine.admin)).json()
    assert [g["name"] for g in item["option_groups"]] == ["맵기", "토핑"]
    assert [len(g["options"]) for g in item["option_groups"]] == [3, 3]


async def test_api_keys_need_menu_write_to_change_options(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    keys = {}
    for scope in ("menu:read", "menu:write"):
        created = await client.post("/admin/api-keys", headers=store.admin, json={"name": scope, "scopes": [scope]})
        keys[scope] = bearer(created.json()["secret"])
    url = f"/admin/menu-items/{store.item_ids()[0]}/option-groups"
    body = {"name": "맵기", "min": 0, "max": 1}
    assert_problem(await client.post(url, headers=keys["menu:read"], json=body), 403)
    assert (await client.post(url, headers=keys["menu:write"], json=body)).status_code == 201
    assert (await client.get(f"/admin/menu-items/{store.item_ids()[0]}", headers=keys["menu:read"])).status_code == 200


async def test_an_item_holds_at_most_20_groups_and_a_group_30_options(client: httpx.AsyncClient,
                                                                       stores: Stores) -> None:
    store = await stores.create(items=1)
    item = store.item_ids()[0]
    groups = [await add_group(client, store, item, f"G{n}", 0, 1) for n in range(20)]
    problem = assert_problem(await client.post(f"/admin/menu-items/{item}/option-groups", headers=store.admin,
                                               json={"name": "one more", "min": 0, "max": 1}), 409)
    assert problem["type"].endswith(":menu-full") and "20 option groups" in problem["detail"]
    for n in range(30):
        await add_option(client, store, groups[0]["id"], f"O{n}", n)
    problem = assert_problem(await client.post(f"/admin/option-groups/{groups[0]['id']}/options",
                                               headers=store.admin, json={"name": "more", "price_delta": 0}), 409)
    assert problem["type"].endswith(":menu-full") and "30 options" in problem["detail"]
    # Another group still takes options.
    await add_option(client, store, groups[1]["id"], "fine", 0)


# --- ordering with options -----------------------------------------------------------------------------


async def test_options_price_the_line_and_stay_as_a_snapshot(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    store = await stores.create(items=2)
    ids = await stew(client, store)
    [item, plain] = store.item_ids()
    price, plain_price = store.items[item][1], store.items[plain][1]
    # The options in any order: the snapshot keeps the menu's order (group, then option).
    placed = await order(client, store, [(item, 2, [ids["라면사리"], ids["매운맛"], ids["치즈"]]), (plain, 1, [])])
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["items"][0] == {
        "menu_item_id": item, "name": "Dish 1", "unit_price": price, "quantity": 2,
        "options": [{"group": "맵기", "name": "매운맛", "price_delta": 0},
                    {"group": "토핑", "name": "치즈", "price_delta": 1000},
                    {"group": "토핑", "name": "라면사리", "price_delta": 1500}],
        "line_total": (price + 2500) * 2}
    assert body["items"][1]["options"] == [] and body["items"][1]["line_total"] == plain_price
    assert body["total_amount"] == (price + 2500) * 2 + plain_price

    # Renaming and repricing change no past order.
    await client.patch(f"/admin/options/{ids['치즈']}", headers=store.admin,
                       json={"name": "모짜렐라", "price_delta": 3000})
    await client.patch(f"/admin/option-groups/{ids['topping']}", headers=store.admin, json={"name": "추가"})
    await client.delete(f"/admin/options/{ids['라면사리']}", headers=store.admin)
    later = (await client.get(f"/admin/orders/{body['id']}", headers=store.admin)).json()
    assert later["items"] == body["items"] and later["total_amount"] == body["total_amount"]
    mine = (await client.get("/orders", headers=store.tables[1].headers)).json()
    assert mine["orders"][0]["items"] == body["items"] and mine["total_amount"] == body["total_amount"]


async def test_options_keep_a_lines_price_within_its_range(client: httpx.AsyncClient,
                                                                    stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    item = store.item_ids()[0]
    price = store.items[item][1]
    size = await add_group(client, store, item, "양", 0, 1)
    small = await add_option(client, store, size["id"], "소", -500)
    free = await add_option(client, store, size["id"], "서비스", -price - 1)
    placed = await order(client, store, [(item, 3, [small["id"]])])
    assert placed.status_code == 201
    assert placed.json()["items"][0]["line_total"] == (price - 500) * 3 == placed.json()["total_amount"]
    before = await order_count(pool, store)
    problem = assert_problem(await order(client, store, [(item, 1, [free["id"]])]), 422)
    assert [e["field"] for e in problem["errors"]] == ["items[0].options"]
    # Nor may options add more than 10,000,000 won to a line (each at most that).
    extras = await add_group(client, store, item, "추가", 0, 3)
    dear = [(await add_option(client, store, extras["id"], f"금 {n}", 10_000_000))["id"] for n in range(2)]
    assert (await order(client, store, [(item, 1, dear[:1])])).status_code == 201
    problem = assert_problem(await order(client, store, [(item, 1, []), (item, 1, dear)]), 422)
    assert [e["field"] for e in problem["errors"]] == ["items[1].options"]
    assert await order_count(pool, store) == before + 1


async def test_each_line_is_checked_against_its_items_groups(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    store = await stores.create(items=2)
    other_store = await stores.create(items=1)
    ids = await stew(client, store)
    theirs = await stew(client, other_store)
    [item, plain] = store.item_ids()
    await client.patch(f"/admin/options/{ids['계란']}", headers=store.admin, json={"available": False})
    valid = [ids["보통"]]

    async def refused(lines: list[tuple[int, int, list[int]]], field: str, *words: str) -> None:
        problem = assert_problem(await order(client, store, lines), 422)
        assert field in [e["field"] for e in problem["errors"]], problem
        message = next(e["message"] for e in problem["errors"] if e["field"] == field)
        assert all(word in message for word in words), message

    await refused([(item, 1, [])], "items[0].options", "맵기", "choose 1")  # the required group unchosen
    await refused([(plain, 1, []), (item, 1, [ids["치즈"]])], "items[1].options", "맵기")
    await refused([(item, 1, [ids["순한맛"], ids["매운맛"]])], "items[0].options", "맵기", "at most 1")
    await refused([(item, 1, [*valid, ids["치즈"], ids["라면사리"], ids["계란"]])], "items[0].options",
                  "계란", "sold out")
    await refused([(item, 1, [*valid, 9_000_000_000])], "items[0].options", "9000000000", "does not exist")
    await refused([(item, 1, [*valid, theirs["치즈"]])], "items[0].options", "does not exist")  # another store's
    await refused([(plain, 1, [ids["치즈"]])], "items[0].options", "토핑", "not an option of this item")
    await refused([(item, 1, [ids["보통"], ids["보통"]])], "items[0].options", "once")  # the same one twice
    # Several problems at once: each named.
    problem = assert_problem(await order(client, store, [(item, 1, [ids["계란"]]), (plain, 1, [ids["보통"]])]), 422)
    assert sorted({e["field"] for e in problem["errors"]}) == ["items[0].options", "items[1].options"]
    assert len(problem["errors"]) == 3  # 맵기 unchosen and 계란 sold out on line 0; 보통 not of line 1's item
    assert await order_count(pool, store) == 0  # never a partial order

    # Too many options in one order (each line within its bounds).
    many = [(item, 1, [ids["보통"], ids["치즈"], ids["라면사리"]])] * 17  # 51 options
    problem = assert_problem(await order(client, store, many), 422)
    assert problem["errors"][0]["field"] == "items"
    assert (await order(client, store, [(item, 1, valid), (plain, 2, [])])).status_code == 201


async def test_the_idempotency_key_remembers_the_options(client: httpx.AsyncClient, stores: Stores,
                                                         pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    ids = await stew(client, store)
    item = ids["item"]
    first = await order(client, store, [(item, 1, [ids["보통"], ids["치즈"]])], key="k-1")
    assert first.status_code == 201
    # The same options in another order are the same request.
    again = await order(client, store, [(item, 1, [ids["치즈"], ids["보통"]])], key="k-1")
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    other = await order(client, store, [(item, 1, [ids["보통"], ids["계란"]])], key="k-1")
    assert_problem(other, 409)
    assert await order_count(pool, store) == 1


async def test_each_line_goes_to_its_items_station_else_its_categorys(client: httpx.AsyncClient, stores: Stores,
                                                                      pool: asyncpg.Pool) -> None:
    store = await stores.create(items=3)
    kitchen = (await client.post("/admin/stations", headers=store.admin, json={"name": "주방"})).json()
    bar = (await client.post("/admin/stations", headers=store.admin, json={"name": "바"})).json()
    [first, second, third] = store.item_ids()
    assert (await client.patch(f"/admin/categories/{store.category_id}", headers=store.admin,
                               json={"station_id": kitchen["id"]})).json()["station_id"] == kitchen["id"]
    assert (await client.patch(f"/admin/menu-items/{second}", headers=store.admin,
                               json={"station_id": bar["id"]})).json()["station_id"] == bar["id"]
    drinks = (await client.post("/admin/categories", headers=store.admin, json={"name": "Drinks"})).json()
    unrouted = (await client.post("/admin/menu-items", headers=store.admin,
                                  json={"category_id": drinks["id"], "name": "Water", "price": 0})).json()
    placed = (await order(client, store, [(first, 1, []), (second, 1, []), (third, 1, []),
                                          (unrouted["id"], 1, [])])).json()
    stations = await pool.fetch("SELECT station_id FROM order_lines WHERE order_id = $1 ORDER BY line_no",
                                placed["id"])
    assert [r["station_id"] for r in stations] == [kitchen["id"], bar["id"], kitchen["id"], None]


async def test_a_station_of_another_store_is_refused(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(items=1), await stores.create(items=1)
    station = (await client.post("/admin/stations", headers=theirs.admin, json={"name": "주방"})).json()
    for response in (
        await client.post("/admin/categories", headers=mine.admin, json={"name": "X", "station_id": station["id"]}),
        await client.patch(f"/admin/categories/{mine.category_id}", headers=mine.admin,
                           json={"station_id": station["id"]}),
        await client.post("/admin/menu-items", headers=mine.admin, json={
            "category_id": mine.category_id, "name": "X", "price": 1, "station_id": station["id"]}),
        await client.patch(f"/admin/menu-items/{mine.item_ids()[0]}", headers=mine.admin,
                           json={"station_id": station["id"]}),
    ):
        problem = assert_problem(response, 422)
        assert [e["field"] for e in problem["errors"]] == ["station_id"]
    item = (await client.get(f"/admin/menu-items/{mine.item_ids()[0]}", headers=mine.admin)).json()
    assert item["station_id"] is None


async def test_sold_out_until_is_a_future_time_of_a_sold_out_item(client: httpx.AsyncClient,
                                                                  stores: Stores) -> None:
    store = await stores.create(items=1)
    url = f"/admin/menu-items/{store.item_ids()[0]}"
    until = "2099-01-01T15:00:00+00:00"
    refused = assert_problem(await client.patch(url, headers=store.admin, json={"sold_out_until": until}), 422)
    assert [e["field"] for e in refused["errors"]] == ["sold_out_until"]  # the item is available
    assert_problem(await client.patch(url, headers=store.admin, json={"available": True, "sold_out_until": until}),
                   422)
    assert_problem(await client.patch(url, headers=store.admin,
                                      json={"available": False, "sold_out_until": "2020-01-01T00:00:00Z"}), 422)
    assert_problem(await client.patch(url, headers=store.admin,
                                      json={"available": False, "sold_out_until": "2099-01-01T15:00:00"}), 422)
    sold_out = await client.patch(url, headers=store.admin, json={"available": False, "sold_out_until": until})
    assert sold_out.status_code == 200
    assert sold_out.json()["available"] is False and sold_out.json()["sold_out_until"].startswith("2099-01-01T15:00")
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    assert menu["categories"][0]["items"][0]["sold_out_until"].startswith("2099-01-01T15:00")
    # Sold out indefinitely: null clears the time, the item stays sold out.
    indefinitely = (await client.patch(url, headers=store.admin, json={"sold_out_until": None})).json()
    assert (indefinitely["available"], indefinitely["sold_out_until"]) == (False, None)
    await client.patch(url, headers=store.admin, json={"sold_out_until": until})
    back = (await client.patch(url, headers=store.admin, json={"available": True})).json()
    assert (back["available"], back["sold_out_until"]) == (True, None)


# --- races -----------------------------------------------------------------------------------------------


async def _waiting_for_a_lock(pool: asyncpg.Pool) -> None:
    """Until some backend of this database waits for a row lock inside place_order()."""
    for _ in range(200):
        if await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%place_order%'"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the order never waited for the option's lock")


async def test_an_option_sold_out_while_ordering_refuses_the_order(client: httpx.AsyncClient, stores: Stores,
                                                                   pool: asyncpg.Pool) -> None:
    """Staff mark an option sold out while a tablet orders it: the order waits for the change and is
    refused (422, no order); it is never placed with an option sold out before it committed."""
    store = await stores.create(items=1)
    ids = await stew(client, store)
    async with pool.acquire() as staff:
        change = staff.transaction()
        await change.start()
        await staff.execute("UPDATE options SET available = false WHERE id = $1", ids["치즈"])
        ordering = asyncio.ensure_future(order(client, store, [(ids["item"], 1, [ids["보통"], ids["치즈"]])]))
        await _waiting_for_a_lock(pool)
        await change.commit()
        response = await ordering
    problem = assert_problem(response, 422)
    assert problem["errors"] == [{"field": "items[0].options", "message": "토핑: 치즈 is sold out"}]
    assert await order_count(pool, store) == 0


async def test_an_option_deleted_while_ordering_refuses_the_order(client: httpx.AsyncClient, stores: Stores,
                                                                  pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    ids = await stew(client, store)
    async with pool.acquire() as staff:
        change = staff.transaction()
        await change.start()
        await staff.execute("DELETE FROM options WHERE id = $1", ids["매운맛"])
        ordering = asyncio.ensure_future(order(client, store, [(ids["item"], 1, [ids["매운맛"]])]))
        await _waiting_for_a_lock(pool)
        await change.commit()
        response = await ordering
    problem = assert_problem(response, 422)
    assert {(e["field"], e["message"]) for e in problem["errors"]} == {
        ("items[0].options", f"option {ids['매운맛']} does not exist"), ("items[0].options", "맵기: choose 1")}
    assert await order_count(pool, store) == 0


async def test_an_order_deadlocked_with_staff_is_placed_again_not_failed(client: httpx.AsyncClient,
                                                                        stores: Stores, pool: asyncpg.Pool) -> None:
    """Staff hold one option of a line (deleting it) and then reach for another the order has locked: the two
    wait for each other and PostgreSQL fails one. When it fails the order, the order is placed again (and
    now sees the deletion): a 422 naming it, never a 500."""
    store = await stores.create(items=1)
    ids = await stew(client, store)
    async with pool.acquire() as staff:
        change = staff.transaction()
        await change.start()
        await staff.execute("DELETE FROM options WHERE id = $1", ids["계란"])
        line = (ids["item"], 1, [ids["보통"], ids["치즈"], ids["계란"]])
        ordering = asyncio.ensure_future(order(client, store, [line]))
        await _waiting_for_a_lock(pool)  # holding 보통 and 치즈, waiting for 계란
        try:
            await staff.execute("UPDATE options SET name = '모짜렐라' WHERE id = $1", ids["치즈"])
        except asyncpg.DeadlockDetectedError:
            await change.rollback()  # staff lost: the order goes on with 계란 still there
        else:
            await change.commit()
        response = await ordering
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert response.json()["errors"] == [
            {"field": "items[0].options", "message": f"option {ids['계란']} does not exist"}]
        assert await order_count(pool, store) == 0
    else:
        assert [o["name"] for o in response.json()["items"][0]["options"]] == ["보통", "치즈", "계란"]


async def test_orders_racing_option_changes_are_whole_or_refused(client: httpx.AsyncClient, stores: Stores,
                                                                 pool: asyncpg.Pool) -> None:
    """Orders and sold-out flips of their option at once: each order is placed with an option that was
    available when it committed (its snapshot priced right), or refused by name; never a 500."""
    store = await stores.create(tables=4, items=1)
    ids = await stew(client, store)
    price = store.items[ids["item"]][1]

    async def flip() -> None:
        for n in range(30):
            await client.patch(f"/admin/options/{ids['치즈']}", headers=store.admin, json={"available": n % 2 == 1})

    async def orders(table: int) -> list[httpx.Response]:
        return [await order(client, store, [(ids["item"], 1, [ids["보통"], ids["치즈"]])], table=table)
                for _ in range(5)]

    results = await asyncio.gather(flip(), *(orders(table) for table in range(1, 5)))
    responses = [response for batch in results[1:] if batch for response in batch]
    assert {r.status_code for r in responses} <= {201, 422}, [r.text for r in responses if r.status_code >= 500]
    placed = [r.json() for r in responses if r.status_code == 201]
    for body in placed:
        assert body["items"][0]["line_total"] == price + 1000 == body["total_amount"]
    assert await order_count(pool, store) == len(placed)


# --- the menu stays bounded -----------------------------------------------------------------------------

# The costliest text PostgreSQL can put in a JSON document (escaped as \u0001: 6 bytes a character).
WORST = "\x01"
# In GET /menu an option group of a 50-character name (300 bytes) with its ids and bounds is under 400
# bytes, and so is an option of a 50-character name with its id, price_delta and availability: a store's
# 1,000 groups and 5,000 options add at most 2.4 MB to its menu (whose items and categories are at most
# 9.6 MB, tests/test_bounded_documents.py): 12 MB, within the menu cache's 16 MB.
GROUP_MAX_BYTES = 400
OPTION_MAX_BYTES = 400
STORE_MAX_GROUPS = 1000
STORE_MAX_OPTIONS = 5000


async def test_a_stores_options_are_bounded_and_so_is_its_menu(client: httpx.AsyncClient, stores: Stores,
                                                               pool: asyncpg.Pool) -> None:
    store = await stores.create(items=51)
    tablet = store.tables[1].headers
    before = len((await client.get("/menu", headers=tablet)).content)
    items = store.item_ids()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO option_groups (store_id, menu_item_id, name, min_select, max_select)"
            " SELECT $1, item, repeat($3, 50), 20, 20 FROM unnest($2::bigint[]) AS item, generate_series(1, 20)",
            store.id, items[:50], WORST)
        await conn.execute(
            "INSERT INTO options (store_id, group_id, name, price_delta, available)"
            " SELECT $1, g.id, repeat($2, 50), -10000000, false"
            "   FROM (SELECT id FROM option_groups WHERE store_id = $1 ORDER BY id LIMIT 167) AS g,"
            "        generate_series(1, 30) AS n"
            "  ORDER BY g.id, n LIMIT $3", store.id, WORST, STORE_MAX_OPTIONS)
    # The store holds as many as it may: an item with no group yet, a group with room, are refused all the same.
    problem = assert_problem(await client.post(f"/admin/menu-items/{items[50]}/option-groups", headers=store.admin,
                                               json={"name": "more", "min": 0, "max": 1}), 409)
    assert "This store already holds 1000 option groups" in problem["detail"]
    roomy = await pool.fetchval("SELECT max(id) FROM option_groups WHERE store_id = $1", store.id)
    problem = assert_problem(await client.post(f"/admin/option-groups/{roomy}/options", headers=store.admin,
                                               json={"name": "more", "price_delta": 0}), 409)
    assert "This store already holds 5000 options" in problem["detail"]

    response = await client.get("/menu", headers=tablet)
    assert response.status_code == 200
    added = len(response.content) - before
    budget = STORE_MAX_GROUPS * GROUP_MAX_BYTES + STORE_MAX_OPTIONS * OPTION_MAX_BYTES
    assert added <= budget, f"options add {added:,} bytes"
    assert added > 0.9 * budget  # the worst case indeed: the budget is not loose
    menu = response.json()
    groups = [g for c in menu["categories"] for e in c["items"] for g in e["option_groups"]]
    assert len(groups) == STORE_MAX_GROUPS and sum(len(g["options"]) for g in groups) == STORE_MAX_OPTIONS


# The largest order (tests/test_bounded_documents.py: under 40,000 bytes without options) with the most
# options an order may have (50), each a snapshot of a 50-character group and a 50-character name in the
# costliest characters (600 bytes) with its price_delta (about 60 more): under 73,000 bytes. A session
# (GET /orders) of SESSION_MAX_ORDERS (200) such orders is at most 14.6 MB.
ORDER_WITH_OPTIONS_MAX_BYTES = 73_000


async def test_the_largest_order_with_options_stays_under_its_budget(client: httpx.AsyncClient, stores: Stores,
                                                                     pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    item = store.item_ids()[0]
    await pool.execute("UPDATE menu_items SET name = repeat($2, 100), price = 10000000 WHERE id = $1", item, WORST)
    chosen: list[list[int]] = []
    for _ in range(3):
        group = await add_group(client, store, item, WORST * 50, 0, 20)
        chosen.append([(await add_option(client, store, group["id"], WORST * 50, -500_000))["id"] for _ in range(20)])
    lines = [(item, 99, chosen[0]), (item, 99, chosen[1]), (item, 99, chosen[2][:10])] + [(item, 99, [])] * 47
    response = await client.post("/orders", headers=store.tables[1].headers, json={
        "note": WORST * 500,
        "items": [{"menu_item_id": i, "quantity": q, "options": o} for i, q, o in lines]})
    assert response.status_code == 201, response.text
    size = len(response.content)
    assert size <= ORDER_WITH_OPTIONS_MAX_BYTES, f"the order is {size:,} bytes"
    assert size > 0.95 * ORDER_WITH_OPTIONS_MAX_BYTES  # the worst case indeed
    assert sum(len(line["options"]) for line in response.json()["items"]) == 50
