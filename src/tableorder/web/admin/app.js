// The staff board: login, the live board, history, menu and tables. One module per screen.
// Only the active part is in the document (the login form or the app), so names never collide.
import { createApi } from "../shared/api.js";
import { openStream } from "../shared/stream.js";
import { createI18n, currentLang } from "../shared/i18n.js";
import { strings } from "./strings.js";
import { setTranslator, toast } from "./ui.js";
import { createBoard } from "./board.js";
import { createHistory } from "./history.js";
import { createMenuEditor } from "./menu.js";
import { createTablesEditor } from "./tables.js";
import { createSettings } from "./settings.js";

const STORAGE_KEY = "tableorder.admin";
const SOUND_KEY = "tableorder.admin.sound";
const lang = currentLang();
const t = createI18n(strings, lang);
setTranslator(t);

const $ = (id) => document.getElementById(id);

function loadSession() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    return saved && typeof saved.token === "string" ? saved : null;
  } catch {
    return null;
  }
}

let session = loadSession();
let app = null;  // the mounted app: { stream, views, current, board, menu }

const api = createApi({
  getToken: () => session && session.token,
  onUnauthorized: async () => {
    // The token died (expired, logged out elsewhere, password changed): back to the login form.
    signedOut();
    return false;
  },
});

function translate(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
}

function mount(templateId) {
  for (const id of ["login-view", "app-view"]) $(id)?.remove();
  const fragment = $(templateId).content.cloneNode(true);
  translate(fragment);
  document.body.prepend(fragment);
}

// ---- login -------------------------------------------------------------------------------------

function showLogin() {
  mount("login-template");
  const form = $("login-form");
  if (session === null && app === null) {
    // A remembered store code and username save typing on the next login.
    try {
      const last = JSON.parse(localStorage.getItem(`${STORAGE_KEY}.last`) || "null");
      if (last) {
        form.elements.store_code.value = last.storeCode || "";
        form.elements.username.value = last.username || "";
      }
    } catch { /* ignore */ }
  }
  form.addEventListener("submit", login);
  const first = [form.elements.store_code, form.elements.username, form.elements.password].find((el) => !el.value);
  (first || form.elements.password).focus();
}

async function login(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("login-error");
  const button = form.querySelector("button[type=submit]");
  const body = {
    store_code: form.elements.store_code.value.trim(),
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  if (!body.store_code || !body.username || !body.password) {
    form.reportValidity();
    return;
  }
  error.hidden = true;
  button.disabled = true;
  button.textContent = t("login.busy");
  try {
    const result = await api.post("/auth/admin/login", body, { noRelogin: true });
    session = { token: result.access_token, store: result.store, storeCode: body.store_code, username: body.username };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    localStorage.setItem(`${STORAGE_KEY}.last`, JSON.stringify({ storeCode: body.store_code, username: body.username }));
    signedIn();
  } catch (err) {
    error.textContent = err.message || t("error.generic");
    error.hidden = false;
    button.disabled = false;
    button.textContent = t("login.submit");
    form.elements.password.select();
  }
}

// ---- the app -----------------------------------------------------------------------------------

function setLive(state) {
  if (!app) return;
  $("live").dataset.state = state;
  $("live-text").textContent = t(`live.${state}`);
  // Never a silently stale board: while the stream is down a banner says so and the board is dimmed.
  const down = state === "reconnecting";
  $("banner").hidden = !down;
  $("banner-text").textContent = down ? t("live.reconnecting") : "";
  document.body.classList.toggle("is-stale", down);
}

function showView(name, options = {}) {
  app.current = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
  }
  for (const key of Object.keys(app.views)) $(`view-${key}`).hidden = key !== name;
  $("filter-field").hidden = name !== "board";
  app.views[name].show(options);
}

function startStream() {
  let wasDown = false;
  app.stream = openStream({
    path: "/admin/orders/stream",
    getToken: () => session && session.token,
    onEvent: (type, data, id) => {
      if (!app) return;
      app.board.onEvent(type, data, id);
      if (type === "menu.updated" || type === "resync") app.menu.onMenuChanged();
      if (type === "table.session_moved" && app.current === "tables") app.views.tables.show({});
    },
    onState: (state) => {
      setLive(state);
      if (state === "reconnecting") wasDown = true;
      if (state === "live" && wasDown && app) {
        // Back after a gap: the resume replays what was missed, and a re-read makes sure of it.
        wasDown = false;
        app.board.reload();
        if (app.current !== "board") app.views[app.current].show({});
      }
    },
    onUnauthorized: async () => {
      signedOut();
      return false;
    },
  });
}

function signedIn() {
  mount("app-template");
  const ctx = {
    api, t, lang,
    tables: [],  // GET /admin/tables, shared by every screen
    store: null,  // GET /admin/store (languages, time zone, end of the business day)
    stations: [],  // GET /admin/stations
    onError(err) { toast(err && err.message ? err.message : t("error.generic"), "error"); },
    showView,
  };
  const board = createBoard(ctx);
  const menu = createMenuEditor(ctx);
  app = {
    stream: null, current: "board", board, menu,
    views: { board, history: createHistory(ctx), menu, tables: createTablesEditor(ctx), settings: createSettings(ctx) },
  };
  $("store-name").textContent = (session.store && session.store.name) || session.storeCode || "";

  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const tabs = [...document.querySelectorAll("[role=tab]")];
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      showView(next.dataset.view);
    });
  }
  $("table-filter").addEventListener("change", (event) => board.setFilter(event.target.value));
  const sound = $("sound-toggle");
  sound.checked = localStorage.getItem(SOUND_KEY) === "on";
  board.setSound(sound.checked);
  sound.addEventListener("change", () => {
    localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
    board.setSound(sound.checked, true);
  });
  $("logout").addEventListener("click", async () => {
    try {
      await api.post("/auth/logout", undefined, { noRelogin: true });
    } catch {
      // The token may be dead already; the device forgets it either way.
    }
    signedOut();
  });

  setLive("connecting");
  showView("board");
  board.reload();
  startStream();
}

function signedOut() {
  session = null;
  localStorage.removeItem(STORAGE_KEY);
  if (app) {
    app.stream?.close();
    app.board.destroy();
    app = null;
  }
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  document.body.classList.remove("is-stale");
  showLogin();
}

document.title = t("title");
translate(document);
if (session) signedIn();
else signedOut();
