// The guest tablet: one-time setup, then the menu as the home screen (in the guest's language), item
// options, the cart, ordering, My orders and the staff call. Only the public API (SPEC §3-4, §10).
// Storage: "tableorder.tablet" (setup and token), "tableorder.cart" (the cart and the Idempotency-Key
// of the order being sent, kept until that order succeeds), "tableorder.lang" (through i18n.js).

import { ApiError, createApi, newIdempotencyKey } from "../shared/api.js";
import { createI18n, formatTime, formatWon, rememberLang } from "../shared/i18n.js";
import { openStream } from "../shared/stream.js";
import { LANGUAGE_NAMES, STRINGS } from "./strings.js";

let t = createI18n(STRINGS);
const TABLET_KEY = "tableorder.tablet";
const CART_KEY = "tableorder.cart";
const SUCCESS_SECONDS = 5;
const STATUSES = ["pending", "preparing", "completed", "cancelled"];
const REASONS = ["water", "utensils", "bill", "help", "other"];
const RESOLVED_SHOWN_MS = 10_000; // an answered call stays on screen this long, then leaves
const MAX_QTY = 99;

// ---- small DOM helpers: h("tag.class", {attrs}, ...children) ----
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

// A small line icon (no icon font, nothing downloaded): paths on a 24x24 grid.
function icon(paths) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  for (const d of paths) {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
const BELL = ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4l2-2Z", "M10 20a2 2 0 0 0 4 0"];
const GLOBE = ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18Z", "M3 12h18", "M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9",
  "M12 3C9.5 5.6 8.2 8.6 8.2 12s1.3 6.4 3.8 9"];

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

const signed = (delta) => (delta < 0 ? `−${formatWon(-delta)}` : `+${formatWon(delta)}`);

// ---- state ----
const state = {
  device: load(TABLET_KEY), // {store_code, table_number, password, token, store, table}
  menu: null,
  menus: new Map(), // lang -> {menu, etag}: a language switched back to is asked with If-None-Match
  items: new Map(), // id -> item
  options: new Map(), // option id -> {option, group}
  cart: readCart(), // lines: [{key, id, qty, options: [option id], name}], pending: {key, body}
  orders: { orders: [], total_amount: 0, session: null },
  calls: new Map(), // open staff calls of this table: id -> call
  answered: new Map(), // calls resolved a moment ago: id -> call (shown for RESOLVED_SHOWN_MS)
  stream: null,
};

// A cart line is one item with one choice of options; the same item with other options is another line.
function lineKey(itemId, options) {
  return `${itemId}|${[...options].sort((a, b) => a - b).join(",")}`;
}

function readCart() {
  const kept = load(CART_KEY);
  if (!kept || !Array.isArray(kept.lines)) return { lines: [], pending: null };
  const lines = kept.lines.filter((line) => Number.isInteger(line?.id) && line.qty > 0).map((line) => {
    const options = Array.isArray(line.options) ? line.options.filter(Number.isInteger) : [];
    return { key: lineKey(line.id, options), id: line.id, qty: line.qty, options, name: line.name };
  });
  return { lines, pending: kept.pending || null };
}

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

// ---- language ----
// The page's words exist in all four languages; the menu in the store's (menu.store.languages), so
// the switch on the menu screen offers those (and the language the page is in, however it came).
function menuLanguages() {
  const kept = state.menu?.store?.languages || Object.keys(LANGUAGE_NAMES); // (a server before issue 12: all)
  const offered = kept.filter((lang) => lang in LANGUAGE_NAMES);
  return offered.includes(t.lang) ? offered : [...offered, t.lang];
}

function languageSwitch(langs) {
  if (langs.length < 2) return null;
  return h("div.lang-switch", { role: "group", "aria-label": t("language") },
    icon(GLOBE),
    langs.map((lang) => h("button.btn.lang-button", { type: "button", lang, "aria-pressed": String(lang === t.lang),
      onclick: () => switchLanguage(lang), text: LANGUAGE_NAMES[lang] })));
}

function switchLanguage(lang) {
  if (lang === t.lang) return;
  rememberLang(lang);
  t = createI18n(STRINGS, lang);
  document.title = t("title");
  if (!state.device?.token || !ui.menu) {
    showSetup();
    return;
  }
  // Everything is drawn again in the new words; the menu comes in that language (cached per language).
  buildShell();
  const kept = state.menus.get(t.lang);
  if (kept) useMenu(kept.menu);
  renderOrders();
  renderCalls();
  refreshMenu();
}

// ---- setup screen ----
function showSetup(message = "") {
  state.stream?.close();
  state.stream = null;
  for (const key of Object.keys(ui)) delete ui[key];
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
  // Before the store is known, every language the page speaks is offered.
  root.append(h("main.setup", {}, form, languageSwitch(Object.keys(LANGUAGE_NAMES))));
  root.removeAttribute("aria-busy");
  form.querySelector("input:not([value]), input[value='']")?.focus();
}

// ---- main screen ----
const ui = {};

async function startMenu() {
  buildShell();
  await Promise.all([refreshMenu(), refreshOrders(), refreshCalls()]);
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
  ui.callButton = h("button.btn.call-staff", { type: "button", onclick: openCallDialog },
    icon(BELL), h("span", { text: t("callStaff") }));
  ui.langSlot = h("div.lang-slot");
  const header = h("header.topbar", {},
    h("div.topbar-brand", {},
      h("span.brand-dot", { "aria-hidden": "true" }),
      h("span.store-name", { text: state.menu?.store?.name || device.store?.name || device.store_code })),
    h("span.table-chip", { text: t("tableLabel", { n: device.table?.number ?? device.table_number }) }),
    h("div.topbar-actions", {}, ui.langSlot, ui.myOrdersButton, ui.callButton));
  ui.callsBar = h("div.calls-bar", { role: "status", "aria-label": t("calls"), hidden: true });
  ui.rail = h("nav.rail", { "aria-label": t("categories") });
  ui.menu = h("main.menu", { id: "menu", tabindex: "-1", "aria-label": t("menu") });
  ui.cartLines = h("ul.cart-lines", { "aria-label": t("cart") });
  ui.cartEmpty = h("p.cart-empty", { text: t("cartEmpty") });
  ui.cartCount = h("span.cart-count");
  ui.cartTotal = h("strong.cart-total-value", { "aria-live": "polite" });
  ui.cartWarning = h("p.cart-warning", { hidden: true, role: "status" });
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
  root.append(ui.banner, header, ui.callsBar, h("div.layout", {}, ui.rail, ui.menu, cart), ui.toast);
  scrollWatched = false;
  buildDialogs();
  renderCart();
  renderCalls();
}

// ---- menu ----
// The menu in a language, asked with the ETag of the copy kept for that language (304: that copy).
async function fetchMenu(lang) {
  const kept = state.menus.get(lang);
  const response = await api.get("/menu", { raw: true, etag: kept?.etag, query: { lang } });
  if (response.status === 304 && kept) return kept.menu;
  const menu = await response.json();
  state.menus.set(lang, { menu, etag: response.headers.get("ETag") });
  return menu;
}

async function refreshMenu() {
  const lang = t.lang;
  let menu;
  try {
    menu = await fetchMenu(lang);
  } catch {
    if (!state.menu && ui.menu) ui.menu.replaceChildren(h("p.error-text", { role: "alert", text: t("menuFailed") }));
    return;
  }
  // A switch made while this was on its way wins; an unchanged menu already drawn stays as it is.
  if (lang !== t.lang || !ui.menu) return;
  if (menu !== state.menu || !ui.menu.childElementCount) useMenu(menu);
  if (needsWorkingNames()) refreshWorkingNames();
}

// Orders keep the options in the store's working language; a guest reading another one sees the
// menu's names for them, found through the working-language menu (asked only when such orders exist).
function workingMenu() {
  const working = state.menu?.store?.languages?.[0];
  return working && state.menu.language !== working ? { lang: working, kept: state.menus.get(working) } : null;
}

function needsWorkingNames() {
  return Boolean(workingMenu()) && (state.orders?.orders || [])
    .some((order) => order.items.some((line) => (line.options || []).length));
}

async function refreshWorkingNames() {
  try {
    await fetchMenu(workingMenu().lang);
  } catch {
    return;
  }
  renderOrders();
}

function guestOptionName(line, option) {
  const working = workingMenu()?.kept?.menu;
  if (!working) return option.name;
  const item = working.categories.flatMap((category) => category.items).find((entry) => entry.id === line.menu_item_id);
  const group = (item?.option_groups || []).find((entry) => entry.name === option.group);
  const id = group?.options.find((entry) => entry.name === option.name)?.id;
  return state.options.get(id)?.option.name ?? option.name;
}

function useMenu(menu) {
  state.menu = menu;
  state.items = new Map();
  state.options = new Map();
  for (const category of menu.categories) {
    for (const item of category.items) {
      state.items.set(item.id, item);
      for (const group of item.option_groups || []) {
        for (const option of group.options) state.options.set(option.id, { option, group });
      }
    }
  }
  if (menu.store?.name) {
    root.querySelector(".store-name")?.replaceChildren(menu.store.name);
    if (state.device.store) state.device.store.name = menu.store.name;
  }
  ui.langSlot.replaceChildren(languageSwitch(menuLanguages()) || "");
  renderMenu();
  renderCart();
  if (ui.optionsDialog?.open) refreshOptionsDialog();
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

const hasOptions = (item) => (item.option_groups || []).length > 0;

function soldOutBadge(item, extra = "") {
  return h(`span.sold-out-badge${extra}`, {}, h("span", { text: t("soldOut") }),
    item.sold_out_until ? h("span.sold-out-until", { text: t("soldOutUntil", { time: formatTime(item.sold_out_until, t.lang) }) })
      : null);
}

function itemCard(item) {
  const soldOut = !item.available;
  const picture = item.image_url && sameOrigin(item.image_url)
    ? h("img.item-photo", { src: item.image_url, alt: "", loading: "lazy", decoding: "async", width: "400",
      height: "300" })
    : h("div.item-photo.item-placeholder", { "aria-hidden": "true" }, h("span", { text: Array.from(item.name)[0] || "" }));
  const action = soldOut
    ? soldOutBadge(item)
    : h("button.btn.btn-primary.add-button", { type: "button", "aria-label": t("addName", { name: item.name }),
      "aria-haspopup": hasOptions(item) ? "dialog" : null, "data-item": String(item.id),
      onclick: (event) => chooseItem(item.id, event.currentTarget) },
      h("span", { "aria-hidden": "true", text: "+" }), h("span", { text: t("add") }));
  return h(`article.item${soldOut ? ".is-sold-out" : ""}`, { "aria-labelledby": `item-${item.id}-name` },
    h("div.item-media", {}, picture),
    h("div.item-body", {},
      h("h3.item-name", { id: `item-${item.id}-name`, text: item.name }),
      item.description ? h("p.item-description", { text: item.description }) : null,
      !soldOut && hasOptions(item) ? h("p.item-options-hint", { text: t("hasOptions") }) : null,
      h("div.item-foot", {}, h("span.item-price", { text: formatWon(item.price) }), action)));
}

function renderMenu() {
  const categories = state.menu.categories.filter((category) => category.items.length);
  const scroll = ui.menu.scrollTop;
  const current = ui.rail.querySelector("[aria-current='true']")?.dataset.category;
  const lit = categories.some((category) => String(category.id) === current) ? current : String(categories[0]?.id);
  ui.rail.replaceChildren(...categories.map((category) => h("button.rail-button", {
    type: "button", "data-category": String(category.id), "aria-current": String(category.id) === lit ? "true" : null,
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
  const menu = ui.menu;
  menu.addEventListener("scroll", () => {
    if (queued || performance.now() < jumpUntil) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const top = menu.scrollTop + 24;
      let current = null;
      for (const section of menu.querySelectorAll(".category")) {
        if (section.offsetTop - menu.offsetTop <= top) current = section;
      }
      const atEnd = menu.scrollTop + menu.clientHeight >= menu.scrollHeight - 2;
      if (atEnd) current = [...menu.querySelectorAll(".category")].pop() || current;
      if (current) markCategory(current.id.replace("category-", ""));
    });
  }, { passive: true });
}

// ---- options ----
// What a choice of options is worth and whether it holds: every group's min/max, every option there
// and available. The server checks the same and prices alone; this only guides the guest.
function choiceProblems(item, chosen) {
  const missing = [];
  let broken = false;
  for (const group of item.option_groups || []) {
    const picked = group.options.filter((option) => chosen.has(option.id));
    if (picked.some((option) => !option.available)) broken = true;
    if (picked.length > group.max) broken = true;
    if (picked.length < group.min) missing.push(group.name);
  }
  const known = new Set((item.option_groups || []).flatMap((group) => group.options.map((option) => option.id)));
  if ([...chosen].some((id) => !known.has(id))) broken = true;
  return { missing, broken };
}

function unitPrice(item, optionIds) {
  return item.price + optionIds.reduce((sum, id) => sum + (state.options.get(id)?.option.price_delta ?? 0), 0);
}

function chooseItem(itemId, button) {
  const item = state.items.get(itemId);
  if (!item) return;
  if (hasOptions(item)) openOptionsDialog(item);
  else addToCart(itemId, [], 1, button);
}

function groupRule(group) {
  if (group.min === group.max) return t("ruleExactly", { n: group.max });
  if (group.min === 0) return t("ruleUpTo", { max: group.max });
  return t("ruleRange", { min: group.min, max: group.max });
}

const picking = { item: null, chosen: new Set(), qty: 1 };

function openOptionsDialog(item) {
  picking.item = item;
  picking.chosen = new Set();
  picking.qty = 1;
  renderOptionsDialog();
  ui.optionsDialog.showModal();
  ui.optionsDialog.querySelector(".option-groups")?.scrollTo({ top: 0 });
  ui.optionsDialog.querySelector("input:not(:disabled)")?.focus();
}

// The menu changed while the dialog is open (an option sold out, a price): draw it again with what
// still holds of the guest's choice.
function refreshOptionsDialog() {
  const item = state.items.get(picking.item?.id);
  if (!item) {
    ui.optionsDialog.close();
    return;
  }
  picking.item = item;
  for (const id of picking.chosen) {
    if (!state.options.get(id)?.option.available) picking.chosen.delete(id);
  }
  const scroll = ui.optionsDialog.querySelector(".option-groups")?.scrollTop || 0;
  renderOptionsDialog();
  ui.optionsDialog.querySelector(".option-groups")?.scrollTo({ top: scroll });
}

function optionChoice(group, option, type) {
  const id = `option-${option.id}`;
  const delta = option.price_delta ? h("span.option-price", { text: signed(option.price_delta) }) : null;
  const input = h("input", { type, id, name: `group-${group.id}`, value: String(option.id),
    checked: picking.chosen.has(option.id), disabled: !option.available,
    onchange: () => pick(group, option.id, input.checked) });
  return h(`label.option-choice${option.available ? "" : ".is-sold-out"}`, { for: id },
    input, h("span.option-name", { text: option.name }), delta,
    option.available ? null : h("span.sold-out-badge.small", { text: t("soldOut") }));
}

function pick(group, optionId, on) {
  if (group.max === 1) {
    for (const option of group.options) picking.chosen.delete(option.id);
    if (on && optionId !== null) picking.chosen.add(optionId);
  } else if (on) picking.chosen.add(optionId);
  else picking.chosen.delete(optionId);
  updateOptionsDialog();
}

function renderOptionsDialog() {
  const item = picking.item;
  const groups = (item.option_groups || []).map((group) => {
    const type = group.max === 1 ? "radio" : "checkbox";
    const choices = group.options.map((option) => optionChoice(group, option, type));
    if (type === "radio" && group.min === 0) {
      // An optional one-of group: "None" is a choice of its own, so a radio can be taken back.
      const noneId = `group-${group.id}-none`;
      const none = h("input", { type: "radio", id: noneId, name: `group-${group.id}`, value: "",
        checked: !group.options.some((option) => picking.chosen.has(option.id)),
        onchange: () => pick(group, null, false) });
      choices.unshift(h("label.option-choice", { for: noneId }, none, h("span.option-name", { text: t("none") })));
    }
    const required = group.min > 0;
    return h("fieldset.option-group", { "data-group": String(group.id) },
      h("legend", {},
        h("span.group-name", { text: group.name }),
        h("span.group-rule", { text: groupRule(group) }),
        h(`span.group-tag${required ? ".is-required" : ""}`, { text: required ? t("required") : t("optional") })),
      h("div.option-list", {}, choices));
  });
  ui.optionsTitle.textContent = item.name;
  ui.optionsDescription.textContent = item.description || "";
  ui.optionsDescription.hidden = !item.description;
  ui.optionsBase.textContent = formatWon(item.price);
  ui.optionGroups.replaceChildren(...groups);
  updateOptionsDialog();
}

function updateOptionsDialog() {
  const item = picking.item;
  const { missing, broken } = choiceProblems(item, picking.chosen);
  for (const fieldset of ui.optionGroups.querySelectorAll("fieldset")) {
    const group = item.option_groups.find((entry) => String(entry.id) === fieldset.dataset.group);
    const count = group.options.filter((option) => picking.chosen.has(option.id)).length;
    fieldset.classList.toggle("is-missing", count < group.min);
    fieldset.classList.toggle("is-done", group.min > 0 && count >= group.min);
    if (group.max > 1) {
      // At the group's maximum, the other boxes rest until one is taken out.
      for (const input of fieldset.querySelectorAll("input[type=checkbox]")) {
        const option = state.options.get(Number(input.value))?.option;
        input.disabled = !option?.available || (!input.checked && count >= group.max);
      }
    }
  }
  const ok = !missing.length && !broken && item.available;
  const total = unitPrice(item, [...picking.chosen]) * picking.qty;
  ui.optionsAdd.disabled = !ok;
  ui.optionsTotal.textContent = formatWon(total);
  ui.optionsQty.textContent = String(picking.qty);
  ui.optionsLess.disabled = picking.qty <= 1;
  ui.optionsMore.disabled = picking.qty >= MAX_QTY;
  ui.optionsMissing.textContent = !item.available ? t("soldOut")
    : missing.length ? t("chooseFirst", { groups: missing.join(", ") }) : "";
}

function addPicked() {
  const { item, chosen, qty } = picking;
  const { missing, broken } = choiceProblems(item, chosen);
  if (missing.length || broken || !item.available) return;
  ui.optionsDialog.close();
  addToCart(item.id, [...chosen], qty, null);
}

// ---- cart ----
function saveCart() {
  save(CART_KEY, state.cart);
}

function optionNames(line) {
  return line.options.map((id) => state.options.get(id)?.option.name).filter(Boolean);
}

// The name a line goes by (its buttons say it): the item, and its options when it has some.
function lineName(line) {
  const name = state.items.get(line.id)?.name ?? line.name ?? "?";
  const options = optionNames(line);
  return options.length ? `${name} (${options.join(", ")})` : name;
}

function addToCart(itemId, options, qty, button) {
  const key = lineKey(itemId, options);
  const line = state.cart.lines.find((entry) => entry.key === key);
  if (line) line.qty = Math.min(MAX_QTY, line.qty + qty);
  else {
    state.cart.lines.push({ key, id: itemId, qty: Math.min(MAX_QTY, qty), options: [...options].sort((a, b) => a - b),
      name: state.items.get(itemId)?.name });
  }
  saveCart();
  renderCart(key);
  if (button) pulse(button);
  toast(t("added", { name: state.items.get(itemId)?.name || "" }));
}

function changeQuantity(key, delta) {
  const line = state.cart.lines.find((entry) => entry.key === key);
  if (!line) return;
  line.qty = Math.max(0, Math.min(MAX_QTY, line.qty + delta));
  if (line.qty === 0) state.cart.lines = state.cart.lines.filter((entry) => entry !== line);
  saveCart();
  renderCart(key);
}

function removeLine(key) {
  state.cart.lines = state.cart.lines.filter((entry) => entry.key !== key);
  saveCart();
  renderCart();
}

function clearCart() {
  state.cart.lines = [];
  saveCart();
  renderCart();
}

// The party at this table is gone (staff closed its session, or moved it to another table): the next
// party starts with an empty cart and no order key of theirs, so its first order never replays an
// order of the party that left (an unanswered attempt keeps its key until it succeeds).
function partyLeft() {
  state.cart = { lines: [], pending: null };
  saveCart();
  if (ui.review?.open) ui.review.close();
  ui.note.value = "";
  renderCart();
}

function linePrice(line) {
  const item = state.items.get(line.id);
  return item ? unitPrice(item, line.options) * line.qty : null;
}

function cartTotal() {
  return state.cart.lines.reduce((sum, line) => sum + (linePrice(line) ?? 0), 0);
}

// Why a line cannot be ordered as it is (null: it can): {kind, text} as the guest would say it.
function lineProblem(line) {
  if (!state.menu) return null;
  const item = state.items.get(line.id);
  if (!item) return { kind: "notOnMenu", text: t("notOnMenu") };
  if (!item.available) return { kind: "soldOut", text: t("soldOut") };
  const gone = line.options.map((id) => state.options.get(id)?.option).filter((option) => option && !option.available);
  if (gone.length) return { kind: "soldOut", text: `${gone.map((option) => option.name).join(", ")}: ${t("soldOut")}` };
  const { missing, broken } = choiceProblems(item, new Set(line.options));
  return missing.length || broken ? { kind: "chooseAgain", text: t("chooseAgain") } : null;
}

function renderCart(highlight = null) {
  const lines = state.cart.lines;
  const problems = new Set();
  ui.cartLines.replaceChildren(...lines.map((line) => {
    const item = state.items.get(line.id);
    const name = item?.name ?? line.name ?? "?";
    const label = lineName(line);
    const problem = lineProblem(line);
    if (problem) problems.add(problem.kind);
    const options = optionNames(line);
    const price = linePrice(line);
    const row = h(`li.cart-line${problem ? ".is-sold-out" : ""}`, { "data-item": String(line.id) },
      h("div.cart-line-top", {},
        h("div.cart-line-text", {},
          h("span.cart-line-name", { text: name }),
          options.length ? h("span.cart-line-options", { text: options.join(" · ") }) : null),
        h("button.btn.btn-ghost.btn-icon.remove", { type: "button", "aria-label": t("remove", { name: label }),
          onclick: () => removeLine(line.key) }, h("span", { "aria-hidden": "true", text: "✕" }))),
      problem ? h("span.sold-out-badge.small", { text: problem.text }) : null,
      h("div.cart-line-bottom", {},
        h("div.stepper", {},
          h("button.btn.btn-icon", { type: "button", "aria-label": t("decrease", { name: label }),
            onclick: () => changeQuantity(line.key, -1) }, h("span", { "aria-hidden": "true", text: "−" })),
          h("output.qty", { "aria-label": label, text: String(line.qty) }),
          h("button.btn.btn-icon", { type: "button", "aria-label": t("increase", { name: label }),
            disabled: line.qty >= MAX_QTY, onclick: () => changeQuantity(line.key, 1) },
          h("span", { "aria-hidden": "true", text: "+" }))),
        h("span.cart-line-total", { text: price === null ? "" : formatWon(price) })));
    if (highlight === line.key) pulse(row);
    return row;
  }));
  const count = lines.reduce((sum, line) => sum + line.qty, 0);
  ui.cartCount.textContent = count ? t("itemsCount", { n: count }) : "";
  ui.cartEmpty.hidden = lines.length > 0;
  ui.cartTotal.textContent = formatWon(cartTotal());
  ui.placeOrder.disabled = lines.length === 0;
  ui.clearCart.disabled = lines.length === 0;
  ui.cartWarning.hidden = problems.size === 0;
  ui.cartWarning.textContent = problems.has("chooseAgain") ? t("chooseAgain") : t("unavailableInCart");
}

function pulse(el) {
  el.classList.remove("pulse");
  void el.offsetWidth; // restart the animation
  el.classList.add("pulse");
}

let toastTimer = null;
function toast(message, ms = 1800) {
  if (!ui.toast) return;
  ui.toast.textContent = message;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, ms);
}

// ---- dialogs ----
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

  buildOptionsDialog();
  buildCallDialog();
  root.append(ui.review, ui.success, ui.orders, ui.optionsDialog, ui.callDialog);
}

function buildOptionsDialog() {
  ui.optionsTitle = h("h2", { id: "options-title" });
  ui.optionsDescription = h("p.muted.options-description");
  ui.optionsBase = h("span.options-base");
  ui.optionGroups = h("div.option-groups");
  ui.optionsQty = h("output.qty", { "aria-label": t("quantity") });
  ui.optionsLess = h("button.btn.btn-icon", { type: "button", "aria-label": t("lessQuantity"), onclick: () => {
    picking.qty = Math.max(1, picking.qty - 1);
    updateOptionsDialog();
  } }, h("span", { "aria-hidden": "true", text: "−" }));
  ui.optionsMore = h("button.btn.btn-icon", { type: "button", "aria-label": t("moreQuantity"), onclick: () => {
    picking.qty = Math.min(MAX_QTY, picking.qty + 1);
    updateOptionsDialog();
  } }, h("span", { "aria-hidden": "true", text: "+" }));
  ui.optionsTotal = h("span.options-total", { id: "options-total" });
  ui.optionsMissing = h("p.options-missing", { "aria-live": "polite" });
  ui.optionsAdd = h("button.btn.btn-primary.btn-lg.options-add", { type: "button", "aria-label": t("addToCart"),
    "aria-describedby": "options-total", onclick: addPicked },
  h("span", { text: t("addToCart") }), ui.optionsTotal);
  ui.optionsDialog = h("dialog.options-dialog", { "aria-labelledby": "options-title" },
    h("div.options-body", {},
      h("div.options-head", {},
        h("div.options-heading", {}, ui.optionsTitle, ui.optionsDescription, ui.optionsBase),
        h("button.btn.btn-ghost.btn-icon.dialog-close", { type: "button", "aria-label": t("close"),
          onclick: () => ui.optionsDialog.close() }, h("span", { "aria-hidden": "true", text: "✕" }))),
      ui.optionGroups,
      h("div.options-foot", {},
        h("div.stepper", { role: "group", "aria-label": t("quantity") },
          ui.optionsLess, ui.optionsQty, ui.optionsMore),
        h("div.options-submit", {}, ui.optionsMissing, ui.optionsAdd))));
}

// ---- ordering ----
function orderBody() {
  const body = { items: state.cart.lines.map((line) => (line.options.length
    ? { menu_item_id: line.id, quantity: line.qty, options: line.options }
    : { menu_item_id: line.id, quantity: line.qty })) };
  const note = ui.note.value.trim();
  if (note) body.note = note;
  return body;
}

function openReview() {
  if (!state.cart.lines.length) return;
  ui.reviewLines.replaceChildren(...state.cart.lines.map((line) => {
    const item = state.items.get(line.id);
    const options = optionNames(line);
    const price = linePrice(line);
    return h("li", {},
      h("span.review-line-name", {}, `${item?.name ?? line.name} × ${line.qty}`,
        options.length ? h("span.line-options", { text: options.join(" · ") }) : null),
      h("span", { text: price === null ? "" : formatWon(price) }));
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
  const lines = [...state.cart.lines];
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
    problemLines(failure?.problem, lines),
    failure?.status === 0 ? h("p.muted", { text: t("retryHint") }) : null,
  ].filter(Boolean));
  if (failure?.status === 422 || failure?.status === 409) refreshMenu();
}

// The problem's `errors` point at order lines (`items[1].menu_item_id`, `items[0].options`): name them
// as the guest knows them.
function problemLines(problem, lines) {
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  const texts = errors.map((error) => {
    const index = /^items\[(\d+)\](\.options)?/.exec(error.field || "");
    const line = index ? lines[Number(index[1])] : null;
    if (!line) return error.message || "";
    const name = lineName(line);
    // The server's words are English and the working language's names: the guest reads their own.
    const soldOut = /sold out/i.test(error.message || "");
    if (index[2]) return `${name}: ${soldOut ? t("soldOut") : t("chooseAgain")}`;
    const why = soldOut ? t("soldOut") : t("notOnMenu");
    return `${name}: ${why}`;
  }).filter(Boolean);
  return texts.length ? h("ul.problem-lines", {}, texts.map((text) => h("li", { text }))) : null;
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
// Reads may answer out of order (an event starts one while another is on its way): the newest asked wins.
let ordersAsked = 0;
async function refreshOrders() {
  const mine = ++ordersAsked;
  let orders;
  try {
    orders = await api.get("/orders");
  } catch {
    return; // kept as it was; the stream's next event or a reconnect loads it again
  }
  if (mine !== ordersAsked) return;
  state.orders = orders;
  renderOrders();
  if (needsWorkingNames() && !workingMenu().kept) refreshWorkingNames();
}

function renderOrders() {
  if (!ui.ordersList) return;
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
        h("span.order-time", { text: formatTime(order.created_at, t.lang) }),
        h(`span.status.status-${status}`, { text: t(status) })),
      h("ul.order-lines", {}, order.items.map((line) => h("li", {},
        // The dish as the guest reads it on the menu (the order keeps the working language's name).
        h("span.order-line-name", {}, `${state.items.get(line.menu_item_id)?.name ?? line.name} × ${line.quantity}`,
          (line.options || []).length ? h("span.line-options", { text: line.options.map((option) => {
            const name = guestOptionName(line, option);
            return option.price_delta ? `${name} ${signed(option.price_delta)}` : name;
          }).join(" · ") }) : null),
        h("span", { text: formatWon(line.line_total) })))),
      h("div.order-total", {}, h("span", { text: t("total") }), h("strong", { text: formatWon(order.total_amount) })));
  }));
}

function openMyOrders() {
  renderOrders();
  ui.orders.showModal();
  refreshOrders();
}

// ---- staff call ----
function buildCallDialog() {
  ui.callNote = h("textarea", { id: "call-note", maxlength: "200", rows: "2", placeholder: t("callNotePlaceholder") });
  ui.callError = h("p.error-text.call-error", { role: "alert" });
  ui.callSend = h("button.btn.btn-primary.btn-lg", { type: "button", onclick: sendCall, disabled: true,
    text: t("callSend") });
  ui.callReasons = h("div.call-reasons");
  ui.callDialog = h("dialog.call-dialog", { "aria-labelledby": "call-title" },
    h("div.dialog-body", {},
      h("div.sheet-head", {}, h("h2", { id: "call-title", text: t("callStaff") }),
        h("button.btn.btn-ghost.btn-icon", { type: "button", "aria-label": t("close"),
          onclick: () => ui.callDialog.close() }, h("span", { "aria-hidden": "true", text: "✕" }))),
      h("fieldset.call-fieldset", {}, h("legend", { text: t("callQuestion") }), ui.callReasons),
      h("div.field", {}, h("label", { for: "call-note", text: t("callNote") }), ui.callNote),
      ui.callError,
      h("div.dialog-actions", {},
        h("button.btn.btn-lg", { type: "button", onclick: () => ui.callDialog.close(), text: t("cancel") }),
        ui.callSend)));
}

function openReasons() {
  return new Set([...state.calls.values()].map((call) => call.reason));
}

function renderCallReasons() {
  const open = openReasons();
  const selected = ui.callReasons.querySelector("input:checked")?.value;
  ui.callReasons.replaceChildren(...REASONS.map((reason) => {
    const id = `call-${reason}`;
    return h(`label.call-reason${open.has(reason) ? ".is-open" : ""}`, { for: id },
      h("input", { type: "radio", name: "call-reason", id, value: reason, checked: reason === selected,
        onchange: () => {
          ui.callSend.disabled = false;
          ui.callError.textContent = "";
          if (reason === "other") ui.callNote.focus(); // "other" says what in the note
        } }),
      h("span.call-reason-name", { text: t(reason) }),
      open.has(reason) ? h("span.call-reason-tag", { text: t("calledTag") }) : null);
  }));
}

function openCallDialog() {
  ui.callNote.value = "";
  ui.callError.textContent = "";
  ui.callReasons.replaceChildren();
  renderCallReasons();
  ui.callSend.disabled = true;
  ui.callSend.textContent = t("callSend");
  ui.callDialog.showModal();
}

async function sendCall() {
  const reason = ui.callReasons.querySelector("input:checked")?.value;
  if (!reason || ui.callSend.classList.contains("is-busy")) return;
  const body = { reason };
  const note = ui.callNote.value.trim();
  if (note) body.note = note;
  ui.callSend.disabled = true;
  ui.callSend.classList.add("is-busy");
  ui.callSend.setAttribute("aria-busy", "true");
  try {
    // 201: a new call; 200: the call with that reason still open (pressed again), the same one.
    const response = await api.post("/calls", body, { raw: true });
    const call = await response.json();
    const already = response.status === 200;
    callsVersion += 1;
    state.calls.set(call.id, call);
    ui.callDialog.close();
    renderCalls(call.id);
    toast(t(already ? "callAlready" : "callSent", { reason: t(call.reason) }), 4000);
  } catch (error) {
    ui.callError.textContent = error.message;
    ui.callSend.disabled = false;
  } finally {
    ui.callSend.classList.remove("is-busy");
    ui.callSend.removeAttribute("aria-busy");
  }
}

// A read answered after an event or a press it did not see is stale: it is asked again instead
// (a resolved call never opens again, whatever an older read says).
let callsVersion = 0;
const resolvedCalls = new Set();

async function refreshCalls(tries = 3) {
  const version = callsVersion;
  let answer;
  try {
    answer = await api.get("/calls");
  } catch {
    return;
  }
  if (version !== callsVersion) {
    if (tries > 1) refreshCalls(tries - 1);
    return;
  }
  const list = Array.isArray(answer) ? answer : answer?.items || answer?.calls || [];
  const open = new Map(list.filter((call) => !call.resolved_at && !resolvedCalls.has(call.id))
    .map((call) => [call.id, call]));
  // Calls open before and gone now were answered while the page was not listening.
  for (const [id, call] of state.calls) if (!open.has(id)) answered({ ...call, resolved_at: new Date().toISOString() });
  state.calls = open;
  renderCalls();
}

function answered(call) {
  resolvedCalls.add(call.id);
  state.calls.delete(call.id);
  state.answered.set(call.id, call);
  setTimeout(() => {
    state.answered.delete(call.id);
    renderCalls();
  }, RESOLVED_SHOWN_MS);
}

function renderCalls(highlight = null) {
  if (!ui.callsBar) return;
  const open = [...state.calls.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  const done = [...state.answered.values()].filter((call) => !state.calls.has(call.id));
  ui.callsBar.hidden = open.length + done.length === 0;
  ui.callsBar.replaceChildren(
    ...open.map((call) => {
      const chip = h("span.call-chip.is-waiting", { "data-call": String(call.id) },
        icon(BELL), h("span", { text: t("callWaiting", { reason: t(call.reason) }) }),
        call.note ? h("span.call-note", { text: `“${call.note}”` }) : null);
      if (call.id === highlight) pulse(chip);
      return chip;
    }),
    ...done.map((call) => h("span.call-chip.is-answered", { "data-call": String(call.id) },
      h("span.call-check", { "aria-hidden": "true", text: "✓" }),
      h("span", { text: t("callResolved", { reason: t(call.reason) }) }))));
  ui.callButton.classList.toggle("has-open", open.length > 0);
  if (ui.callDialog?.open) renderCallReasons();
}

function onCallEvent(type, call) {
  callsVersion += 1;
  if (!call || typeof call.id !== "number") {
    refreshCalls();
    return;
  }
  if (type === "call.resolved" || call.resolved_at) answered(call);
  else if (!resolvedCalls.has(call.id)) state.calls.set(call.id, call);
  renderCalls();
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
        refreshCalls();
      }
    },
    onEvent: (type, data) => {
      if (type === "menu.updated") {
        clearTimeout(menuTimer);
        menuTimer = setTimeout(refreshMenu, 50); // a burst of edits is one reload
      } else if (type === "table.session_closed") {
        state.orders = { orders: [], total_amount: 0, session: null };
        renderOrders();
        partyLeft();
        refreshOrders();
      } else if (type === "table.session_moved") {
        sessionMoved(data);
      } else if (type === "call.created" || type === "call.resolved") {
        onCallEvent(type, data);
      } else if (type === "resync") {
        refreshOrders();
        refreshMenu();
        refreshCalls();
      } else if (type.startsWith("order.")) {
        refreshOrders();
      }
    },
  });
}

// The staff moved this table's session to another table (or another's onto this one): the orders
// are read again, so a moved-away tablet shows none and the target shows them all.
function sessionMoved(data) {
  const here = state.device?.table?.id;
  if (data && here === data.from_table_id) {
    state.orders = { orders: [], total_amount: 0, session: null };
    renderOrders();
    partyLeft();
    toast(t("movedAway", { n: data.to_table_number }), 5000);
  } else if (data && here === data.to_table_id) {
    toast(t("movedHere", { n: data.from_table_number }), 5000);
  }
  refreshOrders();
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
