// The guest tablet: one-time setup, then the menu as the home screen, the cart, ordering and My orders.
// Only the public API (SPEC §3-4). Storage: "tableorder.tablet" (setup and token), "tableorder.cart"
// (the cart and the Idempotency-Key of the order being sent, kept until that order succeeds).

import { ApiError, createApi, newIdempotencyKey } from "../shared/api.js";
import { createI18n, currentLang, formatTime, formatWon, setLang } from "../shared/i18n.js";
import { openStream } from "../shared/stream.js";
import { STRINGS } from "./strings.js";

const t = createI18n(STRINGS);
const TABLET_KEY = "tableorder.tablet";
const CART_KEY = "tableorder.cart";
const SUCCESS_SECONDS = 5;
const STATUSES = ["pending", "preparing", "completed", "cancelled"];

// ---- small DOM helper: h("tag.class", {attrs}, ...children) ----
function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function save(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or off: the page still works for this visit */
  }
}

// ---- state ----
const state = {
  device: load(TABLET_KEY), // {store_code, table_number, password, token, store, table}
  menu: null,
  menuEtag: null,
  items: new Map(), // id -> item
  cart: load(CART_KEY) || { lines: [], pending: null }, // lines: [{id, qty}], pending: {key, body}
  orders: { orders: [], total_amount: 0, session: null },
  stream: null,
};
if (!Array.isArray(state.cart.lines)) state.cart = { lines: [], pending: null };

const root = document.getElementById("app");
const api = createApi({ getToken: () => state.device?.token, onUnauthorized: relogin });

// ---- login ----
let reloginPromise = null;
async function relogin() {
  if (!state.device?.password) return false;
  reloginPromise ||= (async () => {
    try {
      await login(state.device);
      return true;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 404 || error.status === 422)) {
        // The credentials no longer hold (password changed, table deleted): set the tablet up again.
        showSetup(error.message);
      }
      return false;
    } finally {
      setTimeout(() => {
        reloginPromise = null;
      }, 0);
    }
  })();
  return reloginPromise;
}

async function login({ store_code, table_number, password }) {
  const answer = await api.post("/auth/table/login", { store_code, table_number: Number(table_number), password },
    { noRelogin: true });
  state.device = { store_code, table_number: Number(table_number), password, token: answer.access_token,
    store: answer.store, table: answer.table };
  save(TABLET_KEY, state.device);
}

// ---- setup screen ----
function showSetup(message = "") {
  state.stream?.close();
  state.stream = null;
  root.replaceChildren();
  const error = h("p.error-text", { role: "alert", id: "setup-error" }, message);
  const saved = state.device || {};
  const field = (id, label, attrs) => h("div.field", {}, h("label", { for: id, text: label }), h("input", { id, ...attrs }));
  const button = h("button.btn.btn-primary.btn-lg", { type: "submit", text: t("start") });
  const form = h("form.setup-card", { novalidate: true, "aria-labelledby": "setup-title" },
    h("div.brand-mark", { "aria-hidden": "true" }),
    h("h1", { id: "setup-title", text: t("setupTitle") }),
    h("p.muted", { text: t("setupHint") }),
    field("store-code", t("storeCode"), { name: "store_code", autocomplete: "off", autocapitalize: "none",
      spellcheck: "false", required: true, value: saved.store_code || "" }),
    field("table-number", t("tableNumber"), { name: "table_number", type: "number", inputmode: "numeric", min: "1",
      max: "999", required: true, value: saved.table_number || "" }),
    field("table-password", t("password"), { name: "password", type: "password", autocomplete: "off", required: true }),
    error, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    button.disabled = true;
    button.textContent = t("starting");
    error.textContent = "";
    try {
      await login({ store_code: String(data.get("store_code")).trim().toLowerCase(),
        table_number: data.get("table_number"), password: String(data.get("password")) });
      await startMenu();
    } catch (failure) {
      error.textContent = failure.message;
      button.disabled = false;
      button.textContent = t("start");
    }
  });
  root.append(h("main.setup", {}, form, languageButton()));
  root.removeAttribute("aria-busy");
  form.querySelector("input:not([value]), input[value='']")?.focus();
}

function languageButton() {
  const other = t.lang === "en" ? "ko" : "en";
  return h("button.btn.btn-ghost.lang-switch", { type: "button", lang: other, onclick: () => setLang(other) },
    t("language"));
}

// ---- main screen ----
const ui = {};

async function startMenu() {
  buildShell();
  await Promise.all([refreshMenu(), refreshOrders()]);
  root.removeAttribute("aria-busy");
  connectStream();
}

function buildShell() {
  root.replaceChildren();
  const device = state.device;
  ui.banner = h("div.banner-reconnecting", { role: "status", hidden: true }, t("reconnecting"));
  ui.ordersBadge = h("span.badge", { hidden: true });
  ui.myOrdersButton = h("button.btn.topbar-orders", { type: "button", onclick: openMyOrders },
    h("span", { text: t("myOrders") }), ui.ordersBadge);
  const header = h("header.topbar", {},
    h("div.topbar-brand", {},
      h("span.brand-dot", { "aria-hidden": "true" }),
      h("span.store-name", { text: device.store?.name || device.store_code })),
    h("span.table-chip", { text: t("tableLabel", { n: device.table?.number ?? device.table_number }) }),
    h("div.topbar-actions", {}, languageButton(), ui.myOrdersButton));
  ui.rail = h("nav.rail", { "aria-label": t("categories") });
  ui.menu = h("main.menu", { id: "menu", tabindex: "-1", "aria-label": t("menu") });
  ui.cartLines = h("ul.cart-lines", { "aria-label": t("cart") });
  ui.cartEmpty = h("p.cart-empty", { text: t("cartEmpty") });
  ui.cartCount = h("span.cart-count");
  ui.cartTotal = h("strong.cart-total-value", { "aria-live": "polite" });
  ui.cartWarning = h("p.cart-warning", { hidden: true, role: "status" }, t("unavailableInCart"));
  ui.placeOrder = h("button.btn.btn-primary.btn-lg.place-order", { type: "button", onclick: openReview,
    text: t("placeOrder") });
  ui.clearCart = h("button.btn.btn-ghost.clear-cart", { type: "button", onclick: clearCart,
    "aria-label": t("clearCartName"), text: t("clearCart") });
  const cart = h("aside.cart", { "aria-labelledby": "cart-title" },
    h("div.cart-head", {}, h("h2", { id: "cart-title", text: t("cart") }), ui.cartCount, ui.clearCart),
    ui.cartEmpty, ui.cartLines,
    h("div.cart-foot", {}, ui.cartWarning,
      h("div.cart-total", {}, h("span", { text: t("total") }), ui.cartTotal), ui.placeOrder));
  ui.toast = h("div.toast", { role: "status", hidden: true });
  root.append(ui.banner, header, h("div.layout", {}, ui.rail, ui.menu, cart), ui.toast);
  buildDialogs();
  renderCart();
}

// ---- menu ----
async function refreshMenu() {
  let response;
  try {
    response = await api.get("/menu", { raw: true, etag: state.menuEtag, query: { lang: t.lang } });
  } catch (error) {
    if (!state.menu) ui.menu.replaceChildren(h("p.error-text", { role: "alert", text: t("menuFailed") }));
    return;
  }
  if (response.status === 304 && state.menu) return;
  state.menu = await response.json();
  state.menuEtag = response.headers.get("ETag");
  state.items = new Map();
  for (const category of state.menu.categories) for (const item of category.items) state.items.set(item.id, item);
  if (state.menu.store?.name && state.device.store) state.device.store.name = state.menu.store.name;
  renderMenu();
  renderCart();
}

function sameOrigin(url) {
  // The pages' CSP allows images from this origin only (img-src 'self' data:): another host's photo
  // would be blocked, so such items show the placeholder instead of a broken image.
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

function itemCard(item) {
  const soldOut = !item.available;
  const picture = item.image_url && sameOrigin(item.image_url)
    ? h("img.item-photo", { src: item.image_url, alt: "", loading: "lazy", decoding: "async", width: "400",
      height: "300" })
    : h("div.item-photo.item-placeholder", { "aria-hidden": "true" }, h("span", { text: Array.from(item.name)[0] || "" }));
  const action = soldOut
    ? h("span.sold-out-badge", { text: t("soldOut") })
    : h("button.btn.btn-primary.add-button", { type: "button", "aria-label": t("addName", { name: item.name }),
      "data-item": String(item.id), onclick: (event) => addToCart(item.id, event.currentTarget) },
      h("span", { "aria-hidden": "true", text: "+" }), h("span", { text: t("add") }));
  return h(`article.item${soldOut ? ".is-sold-out" : ""}`, { "aria-labelledby": `item-${item.id}-name` },
    h("div.item-media", {}, picture),
    h("div.item-body", {},
      h("h3.item-name", { id: `item-${item.id}-name`, text: item.name }),
      item.description ? h("p.item-description", { text: item.description }) : null,
      h("div.item-foot", {}, h("span.item-price", { text: formatWon(item.price) }), action)));
}

function renderMenu() {
  const categories = state.menu.categories.filter((category) => category.items.length);
  const scroll = ui.menu.scrollTop;
  ui.rail.replaceChildren(...categories.map((category, index) => h("button.rail-button", {
    type: "button", "data-category": String(category.id), "aria-current": index === 0 ? "true" : null,
    onclick: () => jumpTo(category.id), text: category.name })));
  ui.menu.replaceChildren(...categories.map((category) => h("section.category", {
    id: `category-${category.id}`, "aria-labelledby": `category-${category.id}-title` },
    h("h2.category-title", { id: `category-${category.id}-title`, text: category.name }),
    h("div.item-grid", {}, category.items.map(itemCard)))));
  ui.menu.scrollTop = scroll;
  watchCategories();
}

function jumpTo(categoryId) {
  const section = document.getElementById(`category-${categoryId}`);
  if (!section) return;
  ui.menu.scrollTo({ top: section.offsetTop - ui.menu.offsetTop, behavior: "smooth" });
  markCategory(categoryId);
  jumpUntil = performance.now() + 1000; // the smooth scroll passes other categories: keep this one lit
}

function markCategory(categoryId) {
  for (const button of ui.rail.querySelectorAll("button")) {
    if (button.dataset.category === String(categoryId)) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

// The current category is the last one whose heading has scrolled to the top of the menu.
let scrollWatched = false;
let jumpUntil = 0;
function watchCategories() {
  if (scrollWatched) return;
  scrollWatched = true;
  let queued = false;
  ui.menu.addEventListener("scroll", () => {
    if (queued || performance.now() < jumpUntil) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const top = ui.menu.scrollTop + 24;
      let current = null;
      for (const section of ui.menu.querySelectorAll(".category")) {
        if (section.offsetTop - ui.menu.offsetTop <= top) current = section;
      }
      const atEnd = ui.menu.scrollTop + ui.menu.clientHeight >= ui.menu.scrollHeight - 2;
      if (atEnd) current = [...ui.menu.querySelectorAll(".category")].pop() || current;
      if (current) markCategory(current.id.replace("category-", ""));
    });
  }, { passive: true });
}

// ---- cart ----
function saveCart() {
  save(CART_KEY, state.cart);
}

function addToCart(itemId, button) {
  const line = state.cart.lines.find((entry) => entry.id === itemId);
  if (line) line.qty = Math.min(99, line.qty + 1);
  else state.cart.lines.push({ id: itemId, qty: 1, name: state.items.get(itemId)?.name });
  saveCart();
  renderCart(itemId);
  if (button) pulse(button);
  toast(t("added", { name: state.items.get(itemId)?.name || "" }));
}

function changeQuantity(itemId, delta) {
  const line = state.cart.lines.find((entry) => entry.id === itemId);
  if (!line) return;
  line.qty = Math.max(0, Math.min(99, line.qty + delta));
  if (line.qty === 0) state.cart.lines = state.cart.lines.filter((entry) => entry !== line);
  saveCart();
  renderCart(itemId);
}

function removeLine(itemId) {
  state.cart.lines = state.cart.lines.filter((entry) => entry.id !== itemId);
  saveCart();
  renderCart();
}

function clearCart() {
  state.cart.lines = [];
  saveCart();
  renderCart();
}

function cartTotal() {
  return state.cart.lines.reduce((sum, line) => sum + (state.items.get(line.id)?.price ?? 0) * line.qty, 0);
}

function renderCart(highlight = null) {
  const lines = state.cart.lines;
  let unavailable = false;
  ui.cartLines.replaceChildren(...lines.map((line) => {
    const item = state.items.get(line.id);
    const name = item?.name ?? line.name ?? "?";
    const soldOut = state.menu && (!item || !item.available);
    unavailable ||= Boolean(soldOut);
    const row = h(`li.cart-line${soldOut ? ".is-sold-out" : ""}`, { "data-item": String(line.id) },
      h("div.cart-line-top", {},
        h("span.cart-line-name", { text: name }),
        h("button.btn.btn-ghost.btn-icon.remove", { type: "button", "aria-label": t("remove", { name }),
          onclick: () => removeLine(line.id) }, h("span", { "aria-hidden": "true", text: "✕" }))),
      soldOut ? h("span.sold-out-badge.small", { text: t("soldOut") }) : null,
      h("div.cart-line-bottom", {},
        h("div.stepper", {},
          h("button.btn.btn-icon", { type: "button", "aria-label": t("decrease", { name }),
            onclick: () => changeQuantity(line.id, -1) }, h("span", { "aria-hidden": "true", text: "−" })),
          h("output.qty", { "aria-label": name, text: String(line.qty) }),
          h("button.btn.btn-icon", { type: "button", "aria-label": t("increase", { name }),
            disabled: line.qty >= 99, onclick: () => changeQuantity(line.id, 1) },
          h("span", { "aria-hidden": "true", text: "+" }))),
        h("span.cart-line-total", { text: item ? formatWon(item.price * line.qty) : "" })));
    if (highlight === line.id) pulse(row);
    return row;
  }));
  const count = lines.reduce((sum, line) => sum + line.qty, 0);
  ui.cartCount.textContent = count ? t("itemsCount", { n: count }) : "";
  ui.cartEmpty.hidden = lines.length > 0;
  ui.cartTotal.textContent = formatWon(cartTotal());
  ui.placeOrder.disabled = lines.length === 0;
  ui.clearCart.disabled = lines.length === 0;
  ui.cartWarning.hidden = !unavailable;
}

function pulse(el) {
  el.classList.remove("pulse");
  void el.offsetWidth; // restart the animation
  el.classList.add("pulse");
}

let toastTimer = null;
function toast(message) {
  ui.toast.textContent = message;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, 1800);
}

// ---- ordering ----
function buildDialogs() {
  ui.reviewLines = h("ul.review-lines");
  ui.reviewTotal = h("strong.review-total");
  ui.note = h("textarea", { id: "order-note", maxlength: "500", rows: "2", placeholder: t("notePlaceholder") });
  ui.reviewError = h("div.review-error", { role: "alert" });
  ui.confirm = h("button.btn.btn-primary.btn-lg", { type: "button", onclick: submitOrder, text: t("confirm") });
  ui.reviewCancel = h("button.btn.btn-lg", { type: "button", onclick: () => ui.review.close(), text: t("cancel") });
  ui.review = h("dialog.review", { "aria-labelledby": "review-title" },
    h("div.dialog-body", {},
      h("h2", { id: "review-title", text: t("review") }),
      ui.reviewLines,
      h("div.review-sum", {}, h("span", { text: t("total") }), ui.reviewTotal),
      h("div.field", {}, h("label", { for: "order-note", text: t("note") }), ui.note),
      ui.reviewError,
      h("div.dialog-actions", {}, ui.reviewCancel, ui.confirm)));
  ui.review.addEventListener("cancel", (event) => {
    if (ui.confirm.disabled) event.preventDefault(); // not while sending
  });

  ui.successNo = h("p.success-number");
  ui.successCountdown = h("p.success-countdown");
  ui.success = h("div.success", { role: "status", hidden: true },
    h("div.success-card", {},
      h("div.success-check", { "aria-hidden": "true", text: "✓" }),
      h("p.success-title", { text: t("orderDone") }), ui.successNo, ui.successCountdown,
      h("button.btn.btn-lg", { type: "button", onclick: hideSuccess, text: t("backToMenu") })));

  ui.ordersList = h("div.orders-list");
  ui.ordersTotal = h("strong");
  ui.orders = h("dialog.orders-sheet", { "aria-labelledby": "orders-title" },
    h("div.dialog-body", {},
      h("div.sheet-head", {}, h("h2", { id: "orders-title", text: t("myOrders") }),
        h("button.btn", { type: "button", onclick: () => ui.orders.close(), text: t("close") })),
      ui.ordersList,
      h("div.review-sum", {}, h("span", { text: t("sessionTotal") }), ui.ordersTotal)));
  root.append(ui.review, ui.success, ui.orders);
}

function orderBody() {
  const body = { items: state.cart.lines.map((line) => ({ menu_item_id: line.id, quantity: line.qty })) };
  const note = ui.note.value.trim();
  if (note) body.note = note;
  return body;
}

function openReview() {
  if (!state.cart.lines.length) return;
  ui.reviewLines.replaceChildren(...state.cart.lines.map((line) => {
    const item = state.items.get(line.id);
    return h("li", {}, h("span", { text: `${item?.name ?? line.name} × ${line.qty}` }),
      h("span", { text: item ? formatWon(item.price * line.qty) : "" }));
  }));
  ui.reviewTotal.textContent = formatWon(cartTotal());
  ui.reviewError.replaceChildren();
  setSending(false);
  ui.review.showModal();
  ui.confirm.focus();
}

function setSending(sending, label = t("sending")) {
  ui.confirm.disabled = sending;
  ui.reviewCancel.disabled = sending;
  ui.confirm.classList.toggle("is-busy", sending);
  ui.confirm.setAttribute("aria-busy", sending ? "true" : "false");
  if (sending) ui.reviewError.replaceChildren(h("p.muted", { text: label }));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function submitOrder() {
  if (ui.confirm.disabled) return;
  const body = orderBody();
  const text = JSON.stringify(body);
  // One key per order attempt, kept (with the body it was made for) until that order succeeds: a
  // retry after a lost response sends the same key, and the server answers with the same order.
  if (!state.cart.pending || state.cart.pending.body !== text) {
    state.cart.pending = { key: newIdempotencyKey(), body: text };
    saveCart();
  }
  const key = state.cart.pending.key;
  setSending(true);
  let order = null;
  let failure = null;
  for (let attempt = 0; attempt < 3 && !order; attempt += 1) {
    try {
      order = await api.post("/orders", body, { idempotencyKey: key });
    } catch (error) {
      failure = error;
      // Unknown outcome (the answer was lost, or the service was briefly away): send the same again.
      const unknown = error instanceof ApiError && (error.status === 0 || error.status === 502 || error.status === 503
        || error.status === 504);
      if (!unknown || attempt === 2) break;
      setSending(true, t("retrying"));
      await sleep(error.retryAfter ? Math.min(error.retryAfter, 5) * 1000 : 1000 * (attempt + 1));
    }
  }
  if (order) {
    state.cart = { lines: [], pending: null };
    saveCart();
    ui.note.value = "";
    setSending(false);
    ui.review.close();
    renderCart();
    showSuccess(order);
    refreshOrders();
    return;
  }
  setSending(false);
  const message = failure?.message || String(failure);
  ui.reviewError.replaceChildren(...[
    h("p.error-text", { text: message }),
    problemLines(failure?.problem, body),
    failure?.status === 0 ? h("p.muted", { text: t("retryHint") }) : null,
  ].filter(Boolean));
  if (failure?.status === 422 || failure?.status === 409) refreshMenu();
}

// The problem's `errors` point at order lines (`items[1].menu_item_id`): name them as the guest knows them.
function problemLines(problem, body) {
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  const lines = errors.map((error) => {
    const index = /^items\[(\d+)\]/.exec(error.field || "");
    const line = index ? body.items[Number(index[1])] : null;
    if (!line) return error.message || "";
    const name = state.items.get(line.menu_item_id)?.name
      ?? state.cart.lines.find((entry) => entry.id === line.menu_item_id)?.name ?? error.message;
    const why = /sold out/i.test(error.message || "") ? t("soldOut") : t("notOnMenu");
    return `${name}: ${why}`;
  }).filter(Boolean);
  return lines.length ? h("ul.problem-lines", {}, lines.map((text) => h("li", { text }))) : null;
}

let successTimer = null;
function showSuccess(order) {
  let left = SUCCESS_SECONDS;
  ui.successNo.textContent = t("orderNo", { no: order.order_no });
  ui.successCountdown.textContent = t("countdown", { s: left });
  ui.success.hidden = false;
  clearInterval(successTimer);
  successTimer = setInterval(() => {
    left -= 1;
    ui.successCountdown.textContent = t("countdown", { s: Math.max(left, 0) });
    if (left <= 0) hideSuccess();
  }, 1000);
}

function hideSuccess() {
  clearInterval(successTimer);
  ui.success.hidden = true;
  ui.menu.focus({ preventScroll: true });
}

// ---- my orders ----
async function refreshOrders() {
  try {
    state.orders = await api.get("/orders");
  } catch {
    return; // kept as it was; the stream's next event or a reconnect loads it again
  }
  renderOrders();
}

function renderOrders() {
  const { orders = [], total_amount: total = 0 } = state.orders || {};
  const active = orders.filter((order) => order.status !== "cancelled").length;
  ui.ordersBadge.hidden = active === 0;
  ui.ordersBadge.textContent = String(active);
  ui.ordersTotal.textContent = formatWon(total);
  if (!orders.length) {
    ui.ordersList.replaceChildren(h("p.muted", { text: t("myOrdersEmpty") }));
    return;
  }
  ui.ordersList.replaceChildren(...orders.map((order) => {
    const status = STATUSES.includes(order.status) ? order.status : "pending";
    return h(`article.order-card.order-${status}`, { "aria-labelledby": `order-${order.id}-title` },
      h("div.order-head", {},
        h("h3", { id: `order-${order.id}-title`, text: t("orderNo", { no: order.order_no }) }),
        h("span.order-time", { text: formatTime(order.created_at, currentLang()) }),
        h(`span.status.status-${status}`, { text: t(status) })),
      h("ul.order-lines", {}, order.items.map((line) => h("li", {},
        h("span", { text: `${line.name} × ${line.quantity}` }), h("span", { text: formatWon(line.line_total) })))),
      h("div.order-total", {}, h("span", { text: t("total") }), h("strong", { text: formatWon(order.total_amount) })));
  }));
}

function openMyOrders() {
  renderOrders();
  ui.orders.showModal();
  refreshOrders();
}

// ---- live updates ----
function connectStream() {
  state.stream?.close();
  let menuTimer = null;
  state.stream = openStream({
    path: "/orders/stream",
    getToken: () => state.device?.token,
    onUnauthorized: relogin,
    onState: (streamState) => {
      ui.banner.hidden = streamState !== "reconnecting";
      // Back after a gap: what changed meanwhile is read again (the stream also resumes by id).
      if (streamState === "live") {
        refreshOrders();
        refreshMenu();
      }
    },
    onEvent: (type) => {
      if (type === "menu.updated") {
        clearTimeout(menuTimer);
        menuTimer = setTimeout(refreshMenu, 50); // a burst of edits is one reload
      } else if (type === "table.session_closed") {
        state.orders = { orders: [], total_amount: 0, session: null };
        renderOrders();
        refreshOrders();
      } else if (type === "resync") {
        refreshOrders();
        refreshMenu();
      } else if (type.startsWith("order.")) {
        refreshOrders();
      }
    },
  });
}

// ---- start ----
async function boot() {
  document.title = t("title");
  if (!state.device?.token) {
    showSetup();
    return;
  }
  try {
    await startMenu();
  } catch (error) {
    showSetup(error.message);
  }
}

boot();
