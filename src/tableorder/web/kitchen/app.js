// The kitchen display (SPEC §10): one station's open tickets, oldest first, live from the store's feed.
// Log in as staff or with an API key (remembered on the device), pick the station (remembered too),
// then the tickets as cards: order and table large, elapsed minutes (amber from 10, red from 20), lines
// with their options, the order's note, and one big `Done` each.
import { createApi } from "../shared/api.js";
import { openStream } from "../shared/stream.js";
import { createI18n, currentLang } from "../shared/i18n.js";
import { strings } from "./strings.js";

const SESSION_KEY = "tableorder.kitchen";
const LAST_KEY = "tableorder.kitchen.last";
const STATION_KEY = "tableorder.kitchen.station";
const SOUND_KEY = "tableorder.kitchen.sound";
// Elapsed minutes from which a ticket turns amber, then red (README: the kitchen display).
const LATE_MINUTES = 10;
const OVERDUE_MINUTES = 20;
const NEW_FOR_MS = 8000;  // how long a ticket that arrived live stays highlighted
const TICK_MS = 10_000;

const t = createI18n(strings, currentLang());
const lang = t.lang;  // a language this page has no words for shows Korean
const $ = (id) => document.getElementById(id);

// ---- small helpers -------------------------------------------------------------------------------

// Kitchens read the 24-hour clock: 18:05, never 오후 6:05.
const CLOCK = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "ko-KR",
  { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function formatClock(time) {
  return CLOCK.format(new Date(time));
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function writeJson(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage may be off: this visit still works */
  }
}

function translate(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
}

function mount(templateId) {
  for (const id of ["login-view", "picker-view", "app-view"]) $(id)?.remove();
  const fragment = $(templateId).content.cloneNode(true);
  translate(fragment);
  document.body.prepend(fragment);
}

// ---- session: staff token or API key --------------------------------------------------------------

function loadSession() {
  const saved = readJson(SESSION_KEY);
  return saved && typeof saved.token === "string" && (saved.kind === "staff" || saved.kind === "key") ? saved : null;
}

let session = loadSession();
let display = null;  // the mounted ticket display, while one is shown

const api = createApi({
  getToken: () => session && session.token,
  onUnauthorized: async () => {
    // The token expired or was logged out, or the key was revoked: back to the login form.
    signedOut();
    return false;
  },
});

function showLogin() {
  mount("login-template");
  const staff = $("staff-form");
  const last = readJson(LAST_KEY);
  if (last) {
    staff.elements.store_code.value = last.storeCode || "";
    staff.elements.username.value = last.username || "";
  }
  staff.addEventListener("submit", staffLogin);
  $("key-form").addEventListener("submit", keyLogin);
  const first = [staff.elements.store_code, staff.elements.username, staff.elements.password].find((el) => !el.value);
  (first || staff.elements.password).focus();
}

async function withBusy(form, errorId, busyText, work) {
  const error = $(errorId);
  const button = form.querySelector("button[type=submit]");
  const label = button.textContent;
  error.hidden = true;
  button.disabled = true;
  button.textContent = busyText;
  try {
    await work();
  } catch (err) {
    error.textContent = (err && err.message) || t("error.generic");
    error.hidden = false;
    button.disabled = false;
    button.textContent = label;
    return false;
  }
  return true;
}

async function staffLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {
    store_code: form.elements.store_code.value.trim(),
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  if (!body.store_code || !body.username || !body.password) {
    form.reportValidity();
    return;
  }
  const ok = await withBusy(form, "staff-error", t("login.busy"), async () => {
    const result = await api.post("/auth/admin/login", body, { noRelogin: true });
    session = { kind: "staff", token: result.access_token, store: result.store, storeCode: body.store_code };
    writeJson(LAST_KEY, { storeCode: body.store_code, username: body.username });
  });
  if (ok) {
    writeJson(SESSION_KEY, session);
    signedIn();
  } else {
    form.elements.password.select();
  }
}

async function keyLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const key = form.elements.api_key.value.trim();
  if (!key) {
    form.reportValidity();
    return;
  }
  const ok = await withBusy(form, "key-error", t("login.busy"), async () => {
    const probe = createApi({ getToken: () => key });
    await probe.get("/admin/stations", { noRelogin: true });  // the key is valid and may read stations
    await checkStreamAccess(key);
  });
  if (ok) {
    session = { kind: "key", token: key, store: null };
    writeJson(SESSION_KEY, session);
    signedIn();
  } else {
    form.elements.api_key.select();
  }
}

/** The live feed needs `events:read`: a key without it would show `Reconnecting…` forever, so ask once. */
async function checkStreamAccess(key) {
  const controller = new AbortController();
  let response;
  try {
    response = await fetch("/api/v1/admin/orders/stream", {
      headers: { Accept: "text/event-stream", Authorization: `Bearer ${key}` },
      signal: controller.signal, cache: "no-store", credentials: "omit",
    });
  } catch {
    return;  // unreachable now: the stream will say so itself
  }
  if (response.ok) {
    controller.abort();
    return;
  }
  let detail = `${response.status}`;
  try {
    const problem = await response.json();
    detail = problem.detail || problem.title || detail;
  } catch {
    /* keep the status */
  }
  if (response.status === 401 || response.status === 403) throw new Error(t("error.streamKey", { detail }));
}

function signedIn() {
  chooseStation();
}

async function logOut() {
  if (session && session.kind === "staff") {
    try {
      await api.post("/auth/logout", undefined, { noRelogin: true });
    } catch {
      /* the token may be dead already; the device forgets it either way */
    }
  }
  signedOut();
}

function signedOut() {
  session = null;
  writeJson(SESSION_KEY, null);
  closeDisplay();
  showLogin();
}

// ---- station picker -------------------------------------------------------------------------------

async function chooseStation({ forcePicker = false } = {}) {
  closeDisplay();
  let stations;
  try {
    stations = await api.get("/admin/stations");
  } catch (err) {
    if (!session) return;  // 401: already back at the login form
    const kept = readJson(STATION_KEY);
    const unreachable = err.status === 0 || err.status >= 500;
    if (unreachable && kept && !forcePicker) {
      // The server is out of reach as the screen starts (a power cut, the Wi-Fi): show the station it
      // had, which says `Reconnecting…` and catches up by itself once the server answers.
      showDisplay(kept);
      return;
    }
    showPicker([], err);
    if (unreachable) {
      setTimeout(() => {
        if ($("picker-view")) chooseStation({ forcePicker });
      }, 5000);
    }
    return;
  }
  if (!session) return;
  stations = (Array.isArray(stations) ? stations : stations.items || []).slice()
    .sort((a, b) => a.sort_order - b.sort_order || a.id - b.id);
  const asked = Number(new URLSearchParams(location.search).get("station"));
  const kept = readJson(STATION_KEY);
  const wanted = asked || (kept && kept.id);
  const station = !forcePicker && stations.find((s) => s.id === wanted);
  if (station) {
    writeJson(STATION_KEY, { id: station.id, name: station.name });  // a link's station is kept too
    showDisplay(station);
  } else {
    showPicker(stations);
  }
}

// `/kitchen?station=<id>` opens that station (a display set up once by link); a pick replaces it.
function forgetStationInUrl() {
  const url = new URL(location.href);
  if (!url.searchParams.has("station")) return;
  url.searchParams.delete("station");
  history.replaceState(history.state, "", url);
}

function showPicker(stations, error = null) {
  mount("picker-template");
  const list = $("station-list");
  for (const station of stations) {
    list.append(h("li", {}, h("button", {
      type: "button", class: "k-btn k-station-choice",
      onclick: () => {
        writeJson(STATION_KEY, { id: station.id, name: station.name });
        forgetStationInUrl();
        showDisplay(station);
      },
    }, station.name)));
  }
  $("picker-empty").hidden = Boolean(error) || stations.length > 0;
  if (error) {
    $("picker-error").textContent = error.message || t("error.generic");
    $("picker-error").hidden = false;
  }
  $("picker-reload").addEventListener("click", () => chooseStation({ forcePicker: true }));
  $("picker-logout").addEventListener("click", logOut);
  list.querySelector("button")?.focus();
}

// ---- the display ----------------------------------------------------------------------------------

function closeDisplay() {
  if (display) {
    display.destroy();
    display = null;
  }
  document.body.classList.remove("is-stale");
}

function showDisplay(station) {
  closeDisplay();
  mount("app-template");
  display = createDisplay(station);
}

function createDisplay(station) {
  const grid = $("tickets");
  const empty = $("tickets-empty");
  const tickets = new Map();  // id -> ticket, open ones of this station
  const cards = new Map();  // id -> { node, ticket }
  const fresh = new Map();  // id -> when it arrived live (highlighted for a while)
  const closedOrders = new Set();  // orders cancelled or completed while shown: their tickets never come back
  let clockOffset = 0;  // server time minus this device's time, from the API's Date header
  let loading = null;
  let again = false;
  let reloadTimer = 0;
  let toastTimer = 0;
  let stream = null;
  let soundOn = readJson(SOUND_KEY) === "on";
  let audio = null;
  let destroyed = false;

  $("station-name").textContent = station.name;
  document.title = `${station.name} · ${t("title")}`;
  $("switch-station").addEventListener("click", () => chooseStation({ forcePicker: true }));
  $("logout").addEventListener("click", logOut);
  const sound = $("sound-toggle");
  sound.checked = soundOn;
  sound.addEventListener("change", () => {
    soundOn = sound.checked;
    writeJson(SOUND_KEY, soundOn ? "on" : "off");
    if (soundOn) beep();
  });
  // Browsers start audio only after a gesture: any tap on the screen (a `Done`) unlocks it.
  const unlock = () => ensureAudio();
  document.addEventListener("pointerdown", unlock);

  const ticker = setInterval(tick, TICK_MS);

  function now() {
    return Date.now() + clockOffset;
  }

  function minutesSince(iso) {
    return Math.max(0, Math.floor((now() - Date.parse(iso)) / 60000));
  }

  function age(minutes) {
    if (minutes >= OVERDUE_MINUTES) return "overdue";
    if (minutes >= LATE_MINUTES) return "late";
    return "fresh";
  }

  // -- reading ----------------------------------------------------------------------------------

  async function fetchTickets() {
    const response = await api.get(`/admin/stations/${station.id}/tickets`, { raw: true });
    const served = Date.parse(response.headers.get("Date") || "");
    if (Number.isFinite(served)) clockOffset = served - Date.now();
    const body = await response.json();
    const list = Array.isArray(body) ? body : body.items || [];
    tickets.clear();
    for (const ticket of list) {
      if (!ticket.done_at && !closedOrders.has(ticket.order_id)) tickets.set(ticket.id, ticket);
    }
  }

  /** Re-reads the open tickets; calls while one runs coalesce into one more read after it. */
  function reload() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await fetchTickets();
        } while (again && !destroyed);
        if (!destroyed) render();
      } catch (err) {
        if (destroyed || !session) return;
        if (err && err.status === 404) {
          // The station was deleted meanwhile: choose another.
          writeJson(STATION_KEY, null);
          chooseStation({ forcePicker: true });
          return;
        }
        const down = document.body.classList.contains("is-stale");
        if (!(err && err.status === 0 && down)) showToast(err.message || t("error.generic"));
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  function scheduleReload(delay = 150) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, delay);
  }

  // -- live -------------------------------------------------------------------------------------

  function onEvent(type, data) {
    if (destroyed) return;
    // A read in flight may have been answered before this event: read once more after it, so the
    // list it brings cannot undo what the event just did.
    if (loading && type !== "menu.updated") again = true;
    if (type === "ticket.created" && data && data.station_id === station.id && !data.done_at) {
      if (closedOrders.has(data.order_id)) return;
      const known = tickets.has(data.id);
      tickets.set(data.id, data);
      if (!known) {
        fresh.set(data.id, Date.now());
        setTimeout(tick, NEW_FOR_MS + 50);  // the highlight ends on time, not at the next tick
        beep();
        $("announcer").textContent = t("ticket.announce",
          { no: data.order_no, table: t("ticket.table", { number: data.table_number }) });
      }
      render();
    } else if (type === "ticket.done" && data) {
      if (tickets.delete(data.id)) render();
    } else if ((type === "order.cancelled" || (type === "order.updated" && data && data.status === "completed"))
               && data) {
      // A cancelled order, or one staff completed on the board (its tickets are done with it): gone here.
      closedOrders.add(data.id);
      let changed = false;
      for (const [id, ticket] of tickets) {
        if (ticket.order_id === data.id) changed = tickets.delete(id) || changed;
      }
      if (changed) render();
    } else if (type === "resync" || type === "table.session_moved") {
      // Positions no longer kept, or tables renumbered on tickets: the server's list is the truth.
      scheduleReload();
    }
  }

  function setLive(state) {
    $("live").dataset.state = state;
    $("live-text").textContent = t(`live.${state}`);
    // Never a silently stale display: while the feed is down a banner says so and the grid dims.
    const down = state === "reconnecting";
    $("banner").hidden = !down;
    $("banner-text").textContent = down ? t("live.reconnecting") : "";
    document.body.classList.toggle("is-stale", down);
  }

  function startStream() {
    let wasDown = false;
    stream = openStream({
      path: "/admin/orders/stream",
      getToken: () => session && session.token,
      onEvent,
      onState: (state) => {
        if (destroyed) return;
        setLive(state);
        if (state === "reconnecting") wasDown = true;
        if (state === "live" && wasDown) {
          // Back after a gap: the resume replays what was missed, and a re-read makes sure of it.
          wasDown = false;
          reload();
        }
      },
      onUnauthorized: async () => {
        signedOut();
        return false;
      },
    });
  }

  // -- done ---------------------------------------------------------------------------------------

  async function markDone(ticket, button) {
    if (button.disabled) return;
    button.disabled = true;
    button.classList.add("is-busy");
    try {
      await api.post(`/admin/tickets/${ticket.id}/done`);
      tickets.delete(ticket.id);
      render();
    } catch (err) {
      if (!session || destroyed) return;
      if (err && (err.status === 404 || err.status === 409)) {
        // Done elsewhere, or its order was cancelled: the card goes, the list is re-read.
        tickets.delete(ticket.id);
        render();
        scheduleReload(0);
        return;
      }
      button.disabled = false;
      button.classList.remove("is-busy");
      showToast(err.message || t("error.generic"));
    }
  }

  // -- drawing ------------------------------------------------------------------------------------

  function ordered() {
    return [...tickets.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
  }

  function optionText(option) {
    return option.group ? `${option.group}: ${option.name}` : option.name;
  }

  function card(ticket) {
    const table = t("ticket.table", { number: ticket.table_number });
    const elapsed = h("span", { class: "k-elapsed" });
    const done = h("button", {
      type: "button", class: "k-btn k-done", "aria-label": t("ticket.doneLabel", { no: ticket.order_no }),
    }, h("span", { class: "k-done-mark", "aria-hidden": "true" }, "✓"), t("ticket.done"));
    done.addEventListener("click", () => markDone(ticket, done));
    const lines = h("ul", { class: "k-lines" }, ticket.lines.map((line) => h("li", { class: "k-line" },
      h("span", { class: line.quantity > 1 ? "k-qty k-qty-many" : "k-qty" },
        line.quantity, h("span", { class: "k-times", "aria-hidden": "true" }, "×")),
      h("span", { class: "k-item" },
        h("span", { class: "k-name" }, line.name),
        line.options && line.options.length
          ? h("ul", { class: "k-options" }, line.options.map((option) => h("li", {}, optionText(option))))
          : null))));
    const node = h("article", { class: "k-ticket", "aria-label": t("ticket.name", { no: ticket.order_no, table }),
      "data-ticket-id": ticket.id, "data-order-id": ticket.order_id },
    h("span", { class: "k-new" }, t("ticket.new")),
    h("header", { class: "k-ticket-head" },
      h("p", { class: "k-order-no" }, h("span", { class: "k-hash", "aria-hidden": "true" }, "#"), ticket.order_no),
      h("p", { class: "k-table" }, table),
      h("p", { class: "k-meta" },
        h("span", { class: "k-placed" }, t("ticket.placed", { time: formatClock(ticket.created_at) })),
        elapsed)),
    lines, note(ticket), done);
    return { node, ticket, elapsed };
  }

  function note(ticket) {
    return ticket.note
      ? h("p", { class: "k-note" }, h("span", { class: "k-note-label" }, t("ticket.note")), " ", ticket.note)
      : null;
  }

  function paintAge(entry) {
    const minutes = minutesSince(entry.ticket.created_at);
    const state = age(minutes);
    entry.node.dataset.age = state;
    const text = minutes < 1 ? t("ticket.justNow") : t("ticket.minutes", { minutes });
    const marker = state === "overdue" ? "■ " : state === "late" ? "▲ " : "";
    entry.elapsed.textContent = marker + text;
    entry.elapsed.title = state === "fresh" ? "" : t(`ticket.${state}`);
    const arrived = fresh.get(entry.ticket.id);
    const isNew = arrived !== undefined && Date.now() - arrived < NEW_FOR_MS;
    if (!isNew) fresh.delete(entry.ticket.id);
    entry.node.classList.toggle("is-new", isNew);
  }

  /** Keyed: cards already shown stay (their focus and highlight too); new ones go in oldest-first order. */
  function render() {
    const list = ordered();
    const keep = new Set(list.map((ticket) => ticket.id));
    for (const [id, entry] of cards) {
      if (!keep.has(id)) {
        entry.node.remove();
        cards.delete(id);
      }
    }
    let previous = null;
    for (const ticket of list) {
      let entry = cards.get(ticket.id);
      if (!entry) {
        entry = card(ticket);
        cards.set(ticket.id, entry);
      }
      paintAge(entry);
      const expected = previous ? previous.nextSibling : grid.firstChild;
      if (expected !== entry.node) grid.insertBefore(entry.node, expected);
      previous = entry.node;
    }
    empty.hidden = list.length > 0;
    $("ticket-count").textContent = t("tickets.count", { count: list.length });
  }

  function tick() {
    if (destroyed) return;
    for (const entry of cards.values()) paintAge(entry);
    $("clock").textContent = formatClock(now());
  }

  function showToast(message) {
    const node = $("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      node.hidden = true;
    }, 6000);
  }

  // -- sound --------------------------------------------------------------------------------------

  function ensureAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context && soundOn) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume();
  }

  /** Three short rising tones made with WebAudio (no sound file), loud enough over a kitchen. */
  function beep() {
    if (!soundOn) return;
    ensureAudio();
    if (!audio) return;
    const start = audio.currentTime;
    for (const [offset, freq] of [[0, 784], [0.16, 988], [0.32, 1319]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "triangle";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.4, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.16);
    }
  }

  setLive("connecting");
  tick();
  reload();
  startStream();

  return {
    destroy() {
      destroyed = true;
      stream?.close();
      clearInterval(ticker);
      clearTimeout(reloadTimer);
      clearTimeout(toastTimer);
      document.removeEventListener("pointerdown", unlock);
      audio?.close();
    },
  };
}

document.title = t("title");
translate(document);
if (session) signedIn();
else showLogin();
