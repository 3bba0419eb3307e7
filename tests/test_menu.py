"""The menu: what a tablet reads (with ETag caching) and what staff edit, through a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import Store, Stores

ITEM_FIELDS = {"id", "name", "description", "price", "image_url", "sort_order", "available", "sold_out_until",
               "option_groups"}
ADMIN_ITEM_FIELDS = ITEM_FIELDS | {"category_id", "station_id", "translations"}
# What a category or item has besides its own fields, until staff set them (issue 12).
UNROUTED = {"station_id": None, "translations": {}}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert "Traceback" not in response.text
    return body


async def add_category(
    client: httpx.AsyncClient, store: Store, name: str, sort_order: int = 0
) -> dict[str, Any]:
    response = await client.post(
        "/admin/categories", headers=store.admin, json={"name": name, "sort_order": sort_order}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_item(
    client: httpx.AsyncClient, store: Store, category_id: int, name: str, price: int, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/admin/menu-items",
        headers=store.admin,
        json={"category_id": category_id, "name": name, "price": price, **fields},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the tablet's menu ---------------------------------------------------------------------------


async def test_menu_lists_categories_and_items_in_sort_order(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    store = await stores.create(items=2)
    drinks = await add_category(client, store, "음료", sort_order=-5)
    desserts = await add_category(client, store, "Desserts", sort_order=10)
    later = await add_item(
        client,
        store,
        drinks["id"],
        "식혜",
        3000,
        sort_order=2,
        description="직접 담근 식혜",
        image_url="https://img.example.com/sikhye.jpg",
    )
    first = await add_item(client, store, drinks["id"], "콜라", 2000, sort_order=1, available=False)
    tie = await add_item(client, store, drinks["id"], "사이다", 2000, sort_order=2)  # same sort_order: by id

    response = await client.get("/menu", headers=store.tables[1].headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    menu = response.json()
    assert set(menu) == {"store", "language", "categories"}
    assert menu["store"] == {"id": store.id, "code": store.code, "name": f"Store {store.code}", "languages": ["ko"]}
    assert menu["language"] == "ko"
    assert [c["name"] for c in menu["categories"]] == ["음료", "Mains", "Desserts"]
    assert [c["id"] for c in menu["categories"]] == [drinks["id"], store.category_id, desserts["id"]]
    for category in menu["categories"]:
        assert set(category) == {"id", "name", "sort_order", "items"}
        for item in category["items"]:
            assert set(item) == ITEM_FIELDS
    assert [c["sort_order"] for c in menu["categories"]] == [-5, 0, 10]
    drink_items = menu["categories"][0]["items"]
    assert [i["id"] for i in drink_items] == [first["id"], later["id"], tie["id"]]
    assert drink_items[0] == {
        "id": first["id"],
        "name": "콜라",
        "description": "",
        "price": 2000,
        "image_url": None,
        "sort_order": 1,
        "available": False,
        "sold_out_until": None,
        "option_groups": [],
    }
    assert drink_items[1] == {
        "id": later["id"],
        "name": "식혜",
        "description": "직접 담근 식혜",
        "price": 3000,
        "image_url": "https://img.example.com/sikhye.jpg",
        "sort_order": 2,
        "available": True,
        "sold_out_until": None,
        "option_groups": [],
    }
    mains = menu["categories"][1]["items"]
    assert [(i["name"], i["price"]) for i in mains] == list(store.items.values())
    assert menu["categories"][2]["items"] == []


async def test_menu_shows_only_the_tables_own_store(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(items=1), await stores.create(items=3)
    menu = (await client.get("/menu", headers=mine.tables[1].headers)).json()
    ids = {i["id"] for c in menu["categories"] for i in c["items"]}
    assert ids == set(mine.items)
    assert not ids & set(theirs.items)
    assert (await client.get("/menu")).status_code == 401
    # The menu is for tablets; a staff token gets no menu here (it has the admin listings).
    assert (await client.get("/menu", headers=mine.admin)).status_code in (401, 403)


async def test_etag_gives_304_until_the_menu_changes(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    headers = store.tables[1].headers
    first = await client.get("/menu", headers=headers)
    etag = first.headers.get("etag")
    assert etag and etag.startswith('"') and etag.endswith('"')
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.content))
    assert first.headers["cache-control"] == "private, no-cache"
    assert (await client.get("/menu", headers=headers)).headers["etag"] == etag  # stable while unchanged

    cached = await client.get("/menu", headers={**headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert "content-length" not in cached.headers and "content-type" not in cached.headers

    item, (_, price) = next(iter(store.items.items()))
    patched = await client.patch(
        f"/admin/menu-items/{item}", headers=store.admin, json={"price": price + 700}
    )
    assert patched.status_code == 200 and patched.json()["price"] == price + 700

    fresh = await client.get("/menu", headers={**headers, "If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag
    prices = {i["id"]: i["price"] for c in fresh.json()["categories"] for i in c["items"]}
    assert prices[item] == price + 700
    again = await client.get("/menu", headers={**headers, "If-None-Match": fresh.headers["etag"]})
    assert again.status_code == 304


async def test_etag_changes_when_an_item_sells_out_or_a_category_is_added(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    store = await stores.create()
    headers = store.tables[1].headers
    etags = [(await client.get("/menu", headers=headers)).headers["etag"]]
    item = store.item_ids()[1]
    await client.patch(f"/admin/menu-items/{item}", headers=store.admin, json={"available": False})
    etags.append((await client.get("/menu", headers=headers)).headers["etag"])
    await add_category(client, store, "New")
    etags.append((await client.get("/menu", headers=headers)).headers["etag"])
    assert len(set(etags)) == 3


@pytest.mark.parametrize(
    ("template", "status"),
    [
        ("W/{etag}", 304),
        ('"nope", {etag}', 304),
        ('"nope",W/{etag} , "other"', 304),
        ("*", 304),
        ('"nope"', 200),
        ('W/"nope", "other"', 200),
        ("", 200),
    ],
)
async def test_if_none_match_forms(
    client: httpx.AsyncClient, stores: Stores, template: str, status: int
) -> None:
    store = await stores.create(items=1)
    headers = store.tables[1].headers
    etag = (await client.get("/menu", headers=headers)).headers["etag"]
    response = await client.get("/menu", headers={**headers, "If-None-Match": template.format(etag=etag)})
    assert response.status_code == status
    if status == 304:
        assert response.content == b""
    else:
        assert response.json()["categories"]


# --- categories ------------------------------------------------------------------------------------


async def test_category_crud(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    created = await client.post(
        "/admin/categories", headers=store.admin, json={"name": "사이드", "sort_order": 3}
    )
    assert created.status_code == 201
    category = created.json()
    assert category == {"id": category["id"], "name": "사이드", "sort_order": 3, **UNROUTED}
    default_order = await add_category(client, store, "Zero")
    assert default_order["sort_order"] == 0

    listing = await client.get("/admin/categories", headers=store.admin)
    assert listing.status_code == 200
    assert [c["id"] for c in listing.json()] == [store.category_id, default_order["id"], category["id"]]

    renamed = await client.patch(
        f"/admin/categories/{category['id']}", headers=store.admin, json={"name": "Sides"}
    )
    assert renamed.status_code == 200
    assert renamed.json() == {"id": category["id"], "name": "Sides", "sort_order": 3, **UNROUTED}  # sort_order kept
    moved = await client.patch(
        f"/admin/categories/{category['id']}", headers=store.admin, json={"sort_order": -1}
    )
    assert moved.json() == {"id": category["id"], "name": "Sides", "sort_order": -1, **UNROUTED}
    listing = (await client.get("/admin/categories", headers=store.admin)).json()
    assert [c["id"] for c in listing] == [category["id"], store.category_id, default_order["id"]]

    assert (
        await client.delete(f"/admin/categories/{category['id']}", headers=store.admin)
    ).status_code == 204
    listing = (await client.get("/admin/categories", headers=store.admin)).json()
    assert category["id"] not in [c["id"] for c in listing]
    assert_problem(await client.delete(f"/admin/categories/{category['id']}", headers=store.admin), 404)
    assert_problem(
        await client.patch(f"/admin/categories/{category['id']}", headers=store.admin, json={"name": "Gone"}),
        404,
    )


async def test_category_validation(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    for body in (
        {"name": ""},
        {"name": "x" * 51},
        {},
        {"name": "ok", "sort_order": "first"},
        {"name": "ok", "extra": 1},
    ):
        assert_problem(await client.post("/admin/categories", headers=store.admin, json=body), 422)
    names = [c["name"] for c in (await client.get("/admin/categories", headers=store.admin)).json()]
    assert names == ["Mains"]


async def test_a_category_with_items_cannot_be_deleted(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=2)
    refused = await client.delete(f"/admin/categories/{store.category_id}", headers=store.admin)
    body = assert_problem(refused, 409)
    assert "item" in body["detail"]
    # Nothing was removed.
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    assert [len(c["items"]) for c in menu["categories"]] == [2]

    empty = await add_category(client, store, "Empty")
    assert (await client.delete(f"/admin/categories/{empty['id']}", headers=store.admin)).status_code == 204

    # Once its items are gone, the first category deletes too.
    for item in store.item_ids():
        assert (await client.delete(f"/admin/menu-items/{item}", headers=store.admin)).status_code == 204
    assert (
        await client.delete(f"/admin/categories/{store.category_id}", headers=store.admin)
    ).status_code == 204
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    assert menu["categories"] == []


async def test_another_stores_category_is_not_found(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(items=1), await stores.create(items=1)
    assert_problem(
        await client.patch(
            f"/admin/categories/{theirs.category_id}", headers=mine.admin, json={"name": "Hijacked"}
        ),
        404,
    )
    assert_problem(await client.delete(f"/admin/categories/{theirs.category_id}", headers=mine.admin), 404)
    names = [c["name"] for c in (await client.get("/admin/categories", headers=theirs.admin)).json()]
    assert names == ["Mains"]


# --- menu items ----------------------------------------------------------------------------------


async def test_menu_item_crud(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    other_category = await add_category(client, store, "Other")
    created = await client.post(
        "/admin/menu-items",
        headers=store.admin,
        json={"category_id": store.category_id, "name": "김치찌개", "price": 9000},
    )
    assert created.status_code == 201
    item = created.json()
    assert set(item) == ADMIN_ITEM_FIELDS
    assert item == {
        "id": item["id"],
        "category_id": store.category_id,
        "name": "김치찌개",
        "description": "",
        "price": 9000,
        "image_url": None,
        "sort_order": 0,
        "available": True,
        "sold_out_until": None,
        "option_groups": [],
        **UNROUTED,
    }

    listing = await client.get("/admin/menu-items", headers=store.admin)
    assert listing.status_code == 200
    assert item in listing.json() and len(listing.json()) == 2
    in_other = await add_item(client, store, other_category["id"], "Other dish", 100)
    only_other = await client.get(
        "/admin/menu-items", params={"category_id": other_category["id"]}, headers=store.admin
    )
    assert [i["id"] for i in only_other.json()] == [in_other["id"]]

    url = f"/admin/menu-items/{item['id']}"
    assert (await client.delete(url, headers=store.admin)).status_code == 204
    assert item["id"] not in [
        i["id"] for i in (await client.get("/admin/menu-items", headers=store.admin)).json()
    ]
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    assert item["id"] not in [i["id"] for c in menu["categories"] for i in c["items"]]
    assert_problem(await client.delete(url, headers=store.admin), 404)
    assert_problem(await client.patch(url, headers=store.admin, json={"price": 1}), 404)
    assert_problem(
        await client.patch("/admin/menu-items/987654321", headers=store.admin, json={"price": 1}), 404
    )


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    other_category = await add_category(client, store, "Other")
    item = await add_item(
        client,
        store,
        store.category_id,
        "비빔밥",
        9500,
        description="나물",
        image_url="https://img.example.com/a.png",
        sort_order=4,
    )
    url = f"/admin/menu-items/{item['id']}"

    price = await client.patch(url, headers=store.admin, json={"price": 10000})
    assert price.status_code == 200
    assert price.json() == {**item, "price": 10000}

    sold_out = await client.patch(url, headers=store.admin, json={"available": False, "name": "비빔밥 (특)"})
    assert sold_out.json() == {**item, "price": 10000, "available": False, "name": "비빔밥 (특)"}

    moved = await client.patch(url, headers=store.admin, json={"category_id": other_category["id"]})
    assert (
        moved.json()["category_id"] == other_category["id"] and moved.json()["image_url"] == item["image_url"]
    )

    cleared = await client.patch(url, headers=store.admin, json={"image_url": None})
    assert cleared.status_code == 200
    expected = {
        **item,
        "price": 10000,
        "available": False,
        "name": "비빔밥 (특)",
        "category_id": other_category["id"],
        "image_url": None,
    }
    assert cleared.json() == expected

    nothing = await client.patch(url, headers=store.admin, json={})
    assert nothing.status_code == 200 and nothing.json() == expected
    listed = (await client.get("/admin/menu-items", headers=store.admin)).json()
    assert expected in listed
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    shown = {i["id"]: i for c in menu["categories"] for i in c["items"]}
    assert shown[item["id"]]["image_url"] is None and shown[item["id"]]["available"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"image_url": "ftp://img.example.com/a.png"},
        {"image_url": "javascript:alert(1)"},
        {"image_url": "https://"},
        {"price": -1},
        {"price": 10_000_001},
        {"price": 12.5},
        {"name": ""},
        {"name": "x" * 101},
        {"description": "x" * 1001},
        {"available": "no"},
        {"unit_price": 5},
        {"category_id": 0},
    ],
)
async def test_invalid_item_updates_are_422_and_change_nothing(
    client: httpx.AsyncClient, stores: Stores, body: dict[str, Any]
) -> None:
    store = await stores.create(items=1)
    item_id, (name, price) = next(iter(store.items.items()))
    problem = assert_problem(
        await client.patch(f"/admin/menu-items/{item_id}", headers=store.admin, json=body), 422
    )
    assert problem.get("errors"), problem
    items = (await client.get("/admin/menu-items", headers=store.admin)).json()
    assert [(i["name"], i["price"], i["image_url"], i["available"]) for i in items] == [
        (name, price, None, True)
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "price": -1},
        {"name": "x", "price": 10_000_001},
        {"name": "x", "price": 100, "image_url": "ftp://img.example.com/a.png"},
        {"name": "", "price": 100},
        {"price": 100},
        {"name": "x"},
    ],
)
async def test_invalid_new_items_are_422(
    client: httpx.AsyncClient, stores: Stores, body: dict[str, Any]
) -> None:
    store = await stores.create(items=1)
    assert_problem(
        await client.post(
            "/admin/menu-items", headers=store.admin, json={"category_id": store.category_id, **body}
        ),
        422,
    )
    assert len((await client.get("/admin/menu-items", headers=store.admin)).json()) == 1


async def test_price_bounds_are_accepted(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    free = await add_item(client, store, store.category_id, "물", 0)
    dear = await add_item(client, store, store.category_id, "Gold", 10_000_000)
    assert (free["price"], dear["price"]) == (0, 10_000_000)


async def test_items_and_categories_of_another_store_are_out_of_reach(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    mine, theirs = await stores.create(items=1), await stores.create(items=1)
    their_item = theirs.item_ids()[0]
    assert_problem(
        await client.patch(f"/admin/menu-items/{their_item}", headers=mine.admin, json={"price": 1}), 404
    )
    assert_problem(await client.delete(f"/admin/menu-items/{their_item}", headers=mine.admin), 404)
    # An item cannot be created in, or moved to, another store's category.
    assert_problem(
        await client.post(
            "/admin/menu-items",
            headers=mine.admin,
            json={"category_id": theirs.category_id, "name": "x", "price": 1},
        ),
        422,
    )
    assert_problem(
        await client.patch(
            f"/admin/menu-items/{mine.item_ids()[0]}",
            headers=mine.admin,
            json={"category_id": theirs.category_id},
        ),
        422,
    )
    items = (await client.get("/admin/menu-items", headers=theirs.admin)).json()
    assert [(i["id"], i["price"]) for i in items] == [(their_item, theirs.items[their_item][1])]
    assert their_item not in [
        i["id"] for i in (await client.get("/admin/menu-items", headers=mine.admin)).json()
    ]


async def test_menu_admin_needs_an_admin_token(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(items=1)
    # A client without the admin cookie the shared client keeps from earlier logins.
    async with httpx.AsyncClient(base_url=client.base_url, timeout=10) as anonymous:
        assert_problem(await anonymous.get("/admin/menu-items"), 401)
        assert_problem(await anonymous.post("/admin/categories", json={"name": "Anyone"}), 401)
    tablet = store.tables[1].headers
    refused = await client.post("/admin/categories", headers=tablet, json={"name": "Tablet's own"})
    assert refused.status_code in (401, 403)
    assert refused.headers["content-type"].startswith("application/problem+json")
    item = store.item_ids()[0]
    assert (
        await client.patch(f"/admin/menu-items/{item}", headers=tablet, json={"price": 1})
    ).status_code in (401, 403)
    assert (await client.get("/admin/menu-items", headers=store.admin)).json()[0]["price"] == store.items[
        item
    ][1]
