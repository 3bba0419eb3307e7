// A POS integration written against the TypeScript client generated from the live OpenAPI document
// (@hey-api/openapi-ts, fetch client): what a vendor holding our document and an API key would write.
//
// Run by tests/test_generated_clients.py (compiled by `tsc --strict` together with ./client) with
//   TABLEORDER_BASE_URL        the server, e.g. http://127.0.0.1:8000
//   TABLEORDER_API_KEY         a key with menu:read, menu:write, orders:read, orders:write, events:read
//                              (and no tables scope)
//   TABLEORDER_STORE_CODE, TABLEORDER_TABLE_NUMBER, TABLEORDER_TABLE_PASSWORD   a table to order from.
// The key is the only credential used for the store's side. Exits 0 when everything held, 1 with the
// first mismatch on stderr; the last line of stdout is a JSON summary (`RESULT {...}`) the test checks
// against the server over plain HTTP.

import { createClient, createConfig } from "./client/client/index.js";
import {
  createCategory,
  createMenuItem,
  getMenu,
  getMenuItem,
  getOrder,
  listMenuItems,
  listTableOrders,
  listTables,
  loginTable,
  placeOrder,
  streamStoreEvents,
  updateMenuItem,
  updateOrderStatus,
  type Category,
  type ClientOptions,
  type Event,
  type MenuItem,
  type Order,
  type OrderCreate,
  type Problem,
} from "./client/index.js";

// The few node globals used (no @types/node to install): the environment and the exit code.
declare const process: { env: Record<string, string | undefined>; exitCode?: number };

type Client = ReturnType<typeof createClient>;
// What every generated operation resolves to (without throwOnError).
type Result<T, E> = { data: T | undefined; error: E | undefined; response: Response };

// How long the feed may stay silent before the events this script caused count as missing.
const FEED_TIMEOUT_MS = 15_000;

class Mismatch extends Error {}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Mismatch(`${name} is not set`);
  return value;
}

function expect(actual: unknown, expected: unknown, what: string): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Mismatch(`${what}: expected ${e}, got ${a}`);
}

/** The response's document, when the status is the expected one. */
function parsed<T, E>(result: Result<T, E>, status: number, what: string): T {
  if (result.response.status !== status || result.data === undefined) {
    throw new Mismatch(`${what}: expected HTTP ${status}, got ${result.response.status}: ` +
      JSON.stringify(result.error ?? result.data));
  }
  return result.data;
}

/** The response's problem document, when the status is the expected (error) one. */
function problem<T>(result: Result<T, Problem>, status: number, what: string): Problem {
  if (result.response.status !== status || result.error === undefined) {
    throw new Mismatch(`${what}: expected HTTP ${status}, got ${result.response.status}`);
  }
  expect(result.error.status, status, `${what}: the problem's status`);
  return result.error;
}

function step(message: string): void {
  console.log(`- ${message}`);
}

/** A client that sends `token` as the bearer of every operation (never as the admin cookie). */
function bearerClient(baseUrl: string, token: string): Client {
  return createClient(createConfig<ClientOptions>({
    baseUrl,
    auth: (auth) => (auth.in === "cookie" ? undefined : token),
  }));
}

// --- the menu, with the key ---------------------------------------------------------------------------

interface MenuWork {
  category: Category;
  item: MenuItem;
}

async function manageMenu(pos: Client): Promise<MenuWork> {
  const category = parsed(await createCategory({ client: pos, body: { name: "음료 Drinks", sort_order: 5 } }),
    201, "CreateCategory");
  expect([category.name, category.sort_order], ["음료 Drinks", 5], "the created category");
  step(`CreateCategory -> ${category.id} ${category.name}`);

  const created = parsed(await createMenuItem({
    client: pos,
    body: { category_id: category.id, name: "유자차 Yuja tea", price: 4500, description: "Hot, with honey" },
  }), 201, "CreateMenuItem");
  expect([created.category_id, created.name, created.price, created.description, created.available],
    [category.id, "유자차 Yuja tea", 4500, "Hot, with honey", true], "the created menu item");
  step(`CreateMenuItem -> ${created.id} ${created.name} at ${created.price}`);

  const path = { item_id: created.id };
  const repriced = parsed(await updateMenuItem({ client: pos, path, body: { price: 5000 } }), 200,
    "UpdateMenuItem price");
  expect([repriced.price, repriced.name, repriced.available], [5000, created.name, true], "the repriced item");
  const soldOut = parsed(await updateMenuItem({ client: pos, path, body: { available: false } }), 200,
    "UpdateMenuItem sold out");
  expect([soldOut.available, soldOut.price], [false, 5000], "the item marked sold out");
  const back = parsed(await updateMenuItem({ client: pos, path, body: { available: true } }), 200,
    "UpdateMenuItem available again");
  expect(back.available, true, "the item back on sale");
  step("UpdateMenuItem: price 4500 -> 5000, sold out, back on sale");

  const item = parsed(await getMenuItem({ client: pos, path }), 200, "GetMenuItem");
  expect([item.id, item.category_id, item.name, item.price, item.available],
    [created.id, category.id, "유자차 Yuja tea", 5000, true], "GetMenuItem");
  const listed = parsed(await listMenuItems({ client: pos, query: { category_id: category.id } }), 200,
    "ListMenuItems");
  expect(listed.map((i) => [i.id, i.name, i.price, i.available]), [[item.id, item.name, 5000, true]],
    "ListMenuItems of the new category");
  step(`GetMenuItem / ListMenuItems: ${item.name} at ${item.price}, available`);

  // The key has no tables scope: the server refuses, with a problem the generated types describe.
  problem(await listTables({ client: pos }), 403, "ListTables without tables:read");
  step("ListTables without the tables:read scope -> 403 problem");
  return { category, item };
}

// --- an order through a table ---------------------------------------------------------------------------

/** Signs in as the table, reads its menu, orders twice the new item and one other, retries the order
 * with the same Idempotency-Key. Returns the order and the menu as the tablet saw it (id -> [name, price]). */
async function orderAtTable(baseUrl: string, storeCode: string, tableNumber: number, password: string,
  work: MenuWork): Promise<{ order: Order; menu: Record<string, [string, number]> }> {
  const anonymous = createClient(createConfig<ClientOptions>({ baseUrl }));
  problem(await loginTable({
    client: anonymous, body: { store_code: storeCode, table_number: tableNumber, password: password + "-wrong" },
  }), 401, "LoginTable with a wrong password");
  const login = parsed(await loginTable({
    client: anonymous, body: { store_code: storeCode, table_number: tableNumber, password },
  }), 200, "LoginTable");
  expect([login.store.code, login.table.number, login.token_type], [storeCode, tableNumber, "bearer"],
    "the table's sign-in");
  if (!(login.expires_in > 0)) throw new Mismatch(`the table token expires in ${login.expires_in} s`);
  step(`LoginTable -> table ${login.table.number} of ${login.store.code}`);

  const tablet = bearerClient(baseUrl, login.access_token);
  const menuResult = await getMenu({ client: tablet });
  const menu = parsed(menuResult, 200, "GetMenu");
  const entries = menu.categories.flatMap((category) => category.items.map((entry) => ({ category, entry })));
  const mine = entries.find(({ entry }) => entry.id === work.item.id);
  if (mine === undefined) throw new Mismatch(`GetMenu does not list the new item ${work.item.id}`);
  expect([mine.category.id, mine.entry.name, mine.entry.price, mine.entry.available],
    [work.category.id, "유자차 Yuja tea", 5000, true], "the new item on the tablet's menu");
  const other = entries.find(({ category, entry }) => category.id !== work.category.id && entry.available);
  if (other === undefined) throw new Mismatch("GetMenu lists no other available item");
  const etag = menuResult.response.headers.get("ETag");
  if (!etag) throw new Mismatch("GetMenu sent no ETag");
  const unchanged = await getMenu({ client: tablet, headers: { "If-None-Match": etag } });
  expect(unchanged.response.status, 304, "GetMenu with If-None-Match");
  step(`GetMenu: ${entries.length} items, ETag ${etag} -> 304 when unchanged`);

  const idempotencyKey = `pos-${crypto.randomUUID()}`;
  const body: OrderCreate = {
    items: [{ menu_item_id: mine.entry.id, quantity: 2 }, { menu_item_id: other.entry.id, quantity: 1 }],
    note: "덜 달게 less sweet",
  };
  const order = parsed(await placeOrder({ client: tablet, body, headers: { "Idempotency-Key": idempotencyKey } }),
    201, "PlaceOrder");
  expect(order.items.map((l) => [l.menu_item_id, l.name, l.unit_price, l.quantity, l.line_total]),
    [[mine.entry.id, mine.entry.name, 5000, 2, 10000],
      [other.entry.id, other.entry.name, other.entry.price, 1, other.entry.price]], "the order's lines");
  expect([order.status, order.total_amount, order.note, order.table_number],
    ["pending", 10000 + other.entry.price, "덜 달게 less sweet", tableNumber], "the placed order");
  const replay = await placeOrder({ client: tablet, body, headers: { "Idempotency-Key": idempotencyKey } });
  expect([parsed(replay, 201, "PlaceOrder again").id, replay.response.headers.get("Idempotent-Replayed")],
    [order.id, "true"], "PlaceOrder again with the same Idempotency-Key");
  step(`PlaceOrder -> order ${order.id} no. ${order.order_no}, total ${order.total_amount}; the retry replays it`);

  const listing = parsed(await listTableOrders({ client: tablet }), 200, "ListTableOrders");
  expect([listing.orders.map((o) => o.id), listing.total_amount], [[order.id], order.total_amount],
    "ListTableOrders");
  step(`ListTableOrders: [${order.id}], total ${listing.total_amount}`);
  const seenMenu: Record<string, [string, number]> = {};
  for (const { entry } of entries) seenMenu[String(entry.id)] = [entry.name, entry.price];
  return { order, menu: seenMenu };
}

async function moveOrder(pos: Client, order: Order): Promise<Order> {
  const path = { order_id: order.id };
  const moved = parsed(await updateOrderStatus({ client: pos, path, body: { status: "preparing" } }), 200,
    "UpdateOrderStatus");
  expect([moved.id, moved.status, moved.total_amount], [order.id, "preparing", order.total_amount],
    "the order moved to preparing");
  problem(await updateOrderStatus({ client: pos, path, body: { status: "pending" } }), 409,
    "UpdateOrderStatus backwards");
  const read = parsed(await getOrder({ client: pos, path }), 200, "GetOrder");
  expect([read.id, read.status, read.total_amount, read.items], [order.id, "preparing", order.total_amount, order.items],
    "GetOrder");
  step(`UpdateOrderStatus -> ${read.status} (backwards -> 409); GetOrder agrees`);
  return read;
}

// --- the typed event feed -------------------------------------------------------------------------------

type Seen = [event: string, detail: string, id: number, extra: string | number];
type Frame = { id: string | undefined; event: string | undefined; data: unknown };

/** The frame as the document's `Event` union: `event:` is the type, `id:` the position, `data:` the
 * payload. (The generated SSE client yields the payload alone, typed as the whole Event.) */
function toEvent(frame: Frame): Event {
  const position = Number(frame.id);
  if (frame.id === undefined || !Number.isSafeInteger(position)) {
    throw new Mismatch(`an event without a numeric id: ${JSON.stringify(frame)}`);
  }
  if (typeof frame.data !== "object" || frame.data === null) {
    throw new Mismatch(`event ${position} (${frame.event}): data is not a JSON object: ${JSON.stringify(frame.data)}`);
  }
  // JSON from the wire: its type is what the document says, checked below by what the script expects.
  return { type: frame.event, position, data: frame.data } as Event;
}

async function readFeed(pos: Client, work: MenuWork, order: Order): Promise<string[]> {
  const expected: Seen[] = [
    ["menu.updated", "category", work.category.id, "insert"],
    ["menu.updated", "menu_item", work.item.id, "insert"],
    ["menu.updated", "menu_item", work.item.id, "update"], // price
    ["menu.updated", "menu_item", work.item.id, "update"], // sold out
    ["menu.updated", "menu_item", work.item.id, "update"], // back on sale
    ["order.created", "pending", order.id, order.total_amount],
    ["order.updated", "preparing", order.id, order.total_amount],
  ];
  const seen: Seen[] = [];
  let last = -1;
  const errors: unknown[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), FEED_TIMEOUT_MS);
  const frames: Frame[] = [];
  const { stream } = await streamStoreEvents({
    client: pos,
    headers: { "Last-Event-ID": 0 },
    signal: stop.signal,
    sseMaxRetryAttempts: 1,
    onSseError: (error) => errors.push(error),
    // Called for every block of lines, a heartbeat comment or `retry:` too: only those with data are events.
    onSseEvent: (frame) => {
      if (frame.data !== undefined) frames.push({ id: frame.id, event: frame.event, data: frame.data });
    },
  });
  try {
    for await (const _ of stream) {
      for (const event of frames.splice(0).map(toEvent)) {
        if (event.position <= last) throw new Mismatch(`event ${event.position} (${event.type}) came after ${last}`);
        last = event.position;
        switch (event.type) {
          case "order.created":
          case "order.updated":
          case "order.cancelled":
            if (event.data.id === order.id) {
              expect(event.data.items, order.items, `the lines of ${event.type} ${event.position}`);
              seen.push([event.type, event.data.status, event.data.id, event.data.total_amount]);
            }
            break;
          case "menu.updated":
            if ((event.data.entity === "category" && event.data.id === work.category.id)
              || (event.data.entity === "menu_item" && event.data.id === work.item.id)) {
              seen.push([event.type, event.data.entity, event.data.id, event.data.op]);
            }
            break;
          case "table.session_closed":
          case "table.session_moved":
          case "call.created":
          case "call.resolved":
          case "ticket.created":
          case "ticket.done":
          case "resync":
            throw new Mismatch(`unexpected ${event.type} at ${event.position}: ${JSON.stringify(event.data)}`);
          default: {
            // Every type of the document's union is handled above: tsc fails here when one is added.
            const undocumented: never = event;
            throw new Mismatch(`an event type the document does not list: ${JSON.stringify(undocumented)}`);
          }
        }
      }
      if (seen.length >= expected.length) break;
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  if (seen.length < expected.length && errors.length > 0) {
    throw new Mismatch(`StreamStoreEvents failed: ${String(errors[0])}`);
  }
  expect(seen, expected, "the events this script caused, in position order");
  return seen.map(([event, detail, id]) => `${event} ${detail} ${id}`);
}

// --- the run ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const baseUrl = env("TABLEORDER_BASE_URL");
  const storeCode = env("TABLEORDER_STORE_CODE");
  const pos = bearerClient(baseUrl, env("TABLEORDER_API_KEY"));
  const work = await manageMenu(pos);
  const placed = await orderAtTable(baseUrl, storeCode, Number(env("TABLEORDER_TABLE_NUMBER")),
    env("TABLEORDER_TABLE_PASSWORD"), work);
  const order = await moveOrder(pos, placed.order);
  const events = await readFeed(pos, work, order);
  step(`StreamStoreEvents (Last-Event-ID: 0), decoded into the generated types, in order: ${events.join("; ")}`);
  console.log("RESULT " + JSON.stringify({
    category_id: work.category.id, item_id: work.item.id, order_id: order.id, total_amount: order.total_amount,
    status: order.status, menu: placed.menu,
  }));
}

main().then(
  () => { process.exitCode = 0; },
  (error: unknown) => {
    console.error(error instanceof Mismatch ? `MISMATCH: ${error.message}` : error);
    process.exitCode = 1;
  },
);
