// The live board: open staff calls first (region `Calls`), then one card (region) per table with its
// open session, orders and actions (status moves, close session, move or merge the session).
import { formatWon } from "../shared/i18n.js";
import { confirmDialog, formatOptions, formatTime, h, hidden, toast } from "./ui.js";

const ACTIVE = new Set(["pending", "preparing"]);

export function createBoard(ctx) {
  const { api, t, lang } = ctx;
  const root = document.getElementById("board");
  const empty = document.getElementById("board-empty");
  const filterSelect = document.getElementById("table-filter");
  let orders = new Map();  // id -> order of an open session
  let calls = new Map();  // id -> open staff call
  const callsBox = document.getElementById("calls");
  const callList = document.getElementById("call-list");
  const callsCount = document.getElementById("calls-count");
  const fresh = new Set();  // order ids that arrived live and were not handled yet
  const openDone = new Set();  // table ids whose finished orders are unfolded
  let filter = "";
  let soundOn = false;
  let audio = null;
  let loading = null;
  let again = false;
  let timer = 0;

  async function fetchAll() {
    const [tables, items, open] = await Promise.all([api.get("/admin/tables"), fetchOrders(), fetchCalls()]);
    ctx.tables = tables.slice().sort((a, b) => a.number - b.number);
    orders = new Map(items.map((order) => [order.id, order]));
    for (const id of [...fresh]) if (!orders.has(id)) fresh.delete(id);
    if (open) calls = new Map(open.map((call) => [call.id, call]));
  }

  /** The store's open calls (oldest first); null when they cannot be read (the board still works). */
  async function fetchCalls() {
    try {
      return await api.get("/admin/calls");
    } catch (err) {
      if (err && err.status === 401) throw err;
      return null;
    }
  }

  async function fetchOrders() {
    const items = [];
    let cursor = null;
    do {
      const page = await api.get("/admin/orders", { query: { limit: 500, ...(cursor ? { cursor } : {}) } });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  /** Re-reads tables and orders; concurrent calls coalesce into one more read after the current one. */
  function reload() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await fetchAll();
        } while (again);
        render();
      } catch (err) {
        // While the stream is down the banner already says so; other failures are told.
        const down = document.body.classList.contains("is-stale");
        if (err && err.status !== 401 && !(err.status === 0 && down)) ctx.onError(err);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  function scheduleReload() {
    clearTimeout(timer);
    timer = setTimeout(reload, 150);
  }

  function onEvent(type, data) {
    if (type === "order.created" && data && data.id) {
      const known = orders.has(data.id);
      orders.set(data.id, data);
      if (!known) {
        fresh.add(data.id);
        beep();
        // Said to screen readers too, not only shown.
        document.getElementById("announcer").textContent = t("order.announce",
          { no: data.order_no, table: t("table.name", { number: data.table_number }) });
      }
      render();
    } else if ((type === "order.updated" || type === "order.cancelled") && data && data.id) {
      if (orders.has(data.id)) orders.set(data.id, data);
      render();
    } else if (type === "call.created" && data && data.id) {
      const known = calls.has(data.id);
      if (!data.resolved_at) calls.set(data.id, data);
      if (!known && !data.resolved_at) {
        beep("call");
        document.getElementById("announcer").textContent = t("call.announce",
          { table: t("table.name", { number: data.table_number }), reason: reasonText(data.reason) });
      }
      render();
      return;
    } else if (type === "call.resolved" && data && data.id) {
      calls.delete(data.id);
      render();
      return;
    } else if (type === "table.session_moved" && data) {
      document.getElementById("announcer").textContent = t(data.merged ? "move.merged" : "move.moved",
        { from: data.from_table_number, to: data.to_table_number });
    } else if (type === "ticket.created" || type === "ticket.done") {
      return;  // the kitchen's; the order's own events say what the board shows
    }
    // Session totals and closed sessions come from the server: re-read after any change.
    if (type !== "menu.updated") scheduleReload();
  }

  function setFilter(value) {
    filter = value;
    render();
  }

  function setSound(on, fromGesture = false) {
    soundOn = on;
    if (on && fromGesture) {
      ensureAudio();
      beep();
    }
  }

  function ensureAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume();
  }

  /** Short tones made with WebAudio (no sound file): two rising for an order, three high for a call. */
  function beep(kind = "order") {
    if (!soundOn) return;
    ensureAudio();
    if (!audio) return;
    const now = audio.currentTime;
    const tones = kind === "call" ? [[0, 1319], [0.16, 1319], [0.32, 1568]] : [[0, 880], [0.18, 1175]];
    for (const [offset, freq] of tones) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.18);
    }
  }

  async function act(order, action) {
    try {
      if (action === "cancel") {
        if (!(await confirmDialog(t("confirm.cancelOrder", { no: order.order_no })))) return;
        orders.set(order.id, await api.del(`/admin/orders/${order.id}`));
      } else {
        orders.set(order.id, await api.patch(`/admin/orders/${order.id}`, { status: action }));
      }
      fresh.delete(order.id);
      render();
    } catch (err) {
      ctx.onError(err);
    }
    scheduleReload();
  }

  async function closeSession(table) {
    if (!(await confirmDialog(t("confirm.closeSession", { number: table.number })))) return;
    try {
      await api.post(`/admin/tables/${table.id}/close-session`);
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await reload();
  }

  function orderNode(order) {
    const headingId = `order-${order.id}`;
    const isNew = fresh.has(order.id);
    const buttons = [];
    if (order.status === "pending") {
      buttons.push(h("button", { type: "button", class: "btn btn-sm btn-amber", dataset: { focus: `o${order.id}-p` },
        onclick: () => act(order, "preparing") }, t("action.preparing")));
    }
    if (ACTIVE.has(order.status)) {
      buttons.push(h("button", { type: "button", class: "btn btn-sm btn-green", dataset: { focus: `o${order.id}-c` },
        onclick: () => act(order, "completed") }, t("action.completed")));
      buttons.push(h("button", { type: "button", class: "btn btn-sm btn-quiet-danger",
        dataset: { focus: `o${order.id}-x` }, onclick: () => act(order, "cancel") }, t("action.cancel")));
    }
    return h("li", {},
      h("article", {
        class: `order order-${order.status}${isNew ? " is-new" : ""}`, "aria-labelledby": headingId,
        dataset: { orderId: order.id },
      },
      h("header", { class: "order-head" },
        h("h3", { id: headingId }, t("order.name", { no: order.order_no })),
        isNew ? h("span", { class: "badge-new" }, t("order.new")) : null,
        h("time", { datetime: order.created_at }, formatTime(order.created_at, lang)),
        h("span", { class: `status status-${order.status}` }, t(`status.${order.status}`))),
      h("ul", { class: "lines" }, order.items.map(lineNode)),
      order.note ? h("p", { class: "note" }, h("strong", {}, `${t("order.note")}: `), order.note) : null,
      buttons.length ? h("div", { class: "order-actions" }, buttons) : null));
  }

  function lineNode(line) {
    const chosen = formatOptions(line.options);
    return h("li", {},
      h("div", { class: "line-main" },
        h("span", { class: "line-name" }, line.name), " ",
        h("span", { class: "line-qty" }, `× ${line.quantity}`),
        h("span", { class: "line-total" }, formatWon(line.line_total))),
      chosen ? h("p", { class: "line-options" }, h("span", { class: "visually-hidden" }, `${t("order.options")}: `), chosen)
        : null);
  }

  function reasonText(reason) {
    const key = `call.reason.${reason}`;
    const text = t(key);
    return text === key ? String(reason) : text;
  }

  function age(call) {
    const minutes = Math.max(0, Math.floor((Date.now() - new Date(call.created_at)) / 60000));
    return { minutes, text: minutes < 1 ? t("call.justNow") : t("call.age", { minutes }) };
  }

  function callNode(call) {
    const table = t("table.name", { number: call.table_number });
    const reason = reasonText(call.reason);
    const { minutes, text } = age(call);
    return h("li", { class: `call call-${call.reason}${minutes >= 3 ? " is-late" : ""}`, dataset: { callId: call.id } },
      h("div", { class: "call-main" },
        h("strong", { class: "call-table" }, table),
        h("span", { class: "call-reason" }, reason),
        h("time", { class: "call-age", datetime: call.created_at, dataset: { created: call.created_at } }, text)),
      call.note ? h("p", { class: "call-note" }, call.note) : null,
      h("button", { type: "button", class: "btn btn-primary call-resolve", dataset: { focus: `call${call.id}` },
        "aria-label": t("call.resolveName", { table, reason }), onclick: (event) => resolveCall(call, event.currentTarget) },
      t("call.resolve")));
  }

  async function resolveCall(call, button) {
    button.disabled = true;
    try {
      await api.post(`/admin/calls/${call.id}/resolve`);
      calls.delete(call.id);
      toast(t("call.resolved", { table: t("table.name", { number: call.table_number }), reason: reasonText(call.reason) }));
      render();
      // The next call's button takes the keyboard, so a run of calls is cleared key after key.
      const next = callList.querySelector("button");
      if (next) next.focus();
    } catch (err) {
      button.disabled = false;
      ctx.onError(err);
      if (err && err.status === 404) {
        calls.delete(call.id);  // resolved elsewhere meanwhile
        render();
      }
    }
  }

  function renderCalls() {
    // Every table's calls, whatever the table filter: a call must never go unseen.
    const open = [...calls.values()]
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
    callsBox.hidden = open.length === 0;
    callsCount.textContent = open.length ? t("calls.count", { count: open.length }) : "";
    callList.replaceChildren(...open.map(callNode));
  }

  /** The calls' ages move on without re-rendering anything else. */
  function tickCalls() {
    for (const node of callList.querySelectorAll(".call")) {
      const call = calls.get(Number(node.dataset.callId));
      if (!call) continue;
      const { minutes, text } = age(call);
      node.querySelector(".call-age").textContent = text;
      node.classList.toggle("is-late", minutes >= 3);
    }
  }

  function callsOf(tableId) {
    return [...calls.values()].filter((call) => call.table_id === tableId);
  }

  // ---- move / merge ------------------------------------------------------------------------------

  const moveDialog = document.getElementById("move-dialog");
  const moveForm = document.getElementById("move-form");
  const moveError = document.getElementById("move-error");
  const moveSummary = document.getElementById("move-summary");
  let moving = null;  // the table whose session is being moved

  function openMove(table) {
    moving = table;
    document.getElementById("move-title").textContent = t("move.title", { number: table.number });
    moveError.hidden = true;
    moveSummary.textContent = t("move.pick");
    const others = ctx.tables.filter((tbl) => tbl.id !== table.id);
    const radio = (tbl, busy) => h("label", { class: `move-choice${busy ? " is-busy" : ""}` },
      h("input", { type: "radio", name: "target", value: String(tbl.id), required: true }),
      h("span", { class: "move-number" }, t("table.name", { number: tbl.number })),
      h("span", { class: "move-kind" }, busy ? t("move.optionMerge", { total: formatWon(tbl.session.total_amount) })
        : t("move.optionMove")));
    const free = others.filter((tbl) => !tbl.session);
    const busy = others.filter((tbl) => tbl.session);
    document.getElementById("move-free").replaceChildren(...(free.length ? free.map((tbl) => radio(tbl, false))
      : [h("p", { class: "muted" }, t("move.noFree"))]));
    document.getElementById("move-busy").replaceChildren(...(busy.length ? busy.map((tbl) => radio(tbl, true))
      : [h("p", { class: "muted" }, t("move.noBusy"))]));
    moveDialog.showModal();
  }

  function pickedTarget() {
    const value = moveForm.elements.target ? new FormData(moveForm).get("target") : null;
    return value ? ctx.tables.find((tbl) => String(tbl.id) === value) : null;
  }

  moveForm.addEventListener("change", () => {
    const target = pickedTarget();
    if (!target || !moving) return;
    moveSummary.textContent = t(target.session ? "move.summaryMerge" : "move.summaryMove",
      { from: moving.number, to: target.number });
  });
  document.getElementById("move-back").addEventListener("click", () => moveDialog.close());
  moveDialog.addEventListener("close", () => { moving = null; });
  moveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = pickedTarget();
    if (!moving) return;
    if (!target) {
      moveError.textContent = t("move.pick");
      moveError.hidden = false;
      return;
    }
    const from = moving;
    const button = moveForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const result = await api.post(`/admin/tables/${from.id}/move`, { to_table_id: target.id });
      moveDialog.close();
      toast(t(result && result.merged ? "move.merged" : "move.moved", { from: from.number, to: target.number }));
    } catch (err) {
      moveError.textContent = err.message || t("error.generic");
      moveError.hidden = false;
    } finally {
      button.disabled = false;
    }
    await reload();
  });

  function cardNode(table, tableOrders) {
    const headingId = `table-${table.id}`;
    // An order that arrived live before the tables were re-read already opens the session on screen.
    const session = table.session || (tableOrders.length ? provisionalSession(tableOrders) : null);
    const hasNew = tableOrders.some((order) => fresh.has(order.id));
    // Orders still to handle stay in view; completed and cancelled ones fold away.
    const active = tableOrders.filter((order) => ACTIVE.has(order.status));
    const done = tableOrders.filter((order) => !ACTIVE.has(order.status));
    const minutes = session ? Math.max(0, Math.floor((Date.now() - new Date(session.started_at)) / 60000)) : 0;
    const tableCalls = callsOf(table.id);
    return h("section", {
      class: `table-card${session ? "" : " is-free"}${hasNew ? " has-new" : ""}${tableCalls.length ? " has-call" : ""}`,
      "aria-labelledby": headingId, dataset: { tableId: table.id },
    },
    h("header", { class: "card-head" },
      h("h2", { id: headingId }, t("table.name", { number: table.number })),
      hasNew ? h("span", { class: "new-dot", "aria-hidden": "true" }) : null,
      tableCalls.length ? h("span", { class: "call-badge" },
        t("call.badge", { reasons: tableCalls.map((call) => reasonText(call.reason)).join(", ") })) : null,
      h("span", { class: "since" }, session
        ? t("table.since", { time: formatTime(session.started_at, lang), minutes })
        : t("table.free"))),
    session ? h("p", { class: "card-total" },
      h("span", {}, t("table.total")),
      h("strong", {}, formatWon(session.total_amount)),
      h("span", { class: "muted" }, t("table.orders", { count: session.order_count }))) : null,
    active.length ? h("ol", { class: "orders" }, active.map(orderNode)) : null,
    done.length ? h("details", { class: "done-orders", open: openDone.has(table.id), dataset: { tableId: table.id } },
    h("summary", { dataset: { focus: `t${table.id}-done` } }, t("table.done", { count: done.length })),
    h("ol", { class: "orders" }, done.map(orderNode))) : null,
    h("footer", { class: "card-foot" },
      h("button", { type: "button", class: "btn btn-sm btn-ghost", dataset: { focus: `t${table.id}-h` },
        onclick: () => ctx.showView("history", { tableId: table.id }) },
      t("table.history"), hidden(` ${t("table.name", { number: table.number })}`)),
      session ? h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `t${table.id}-move` },
        onclick: () => openMove(table) }, t("table.move"), hidden(` ${t("table.name", { number: table.number })}`)) : null,
      session ? h("button", { type: "button", class: "btn btn-sm btn-primary", dataset: { focus: `t${table.id}-close` },
        onclick: () => closeSession(table) }, t("table.close")) : null));
  }

  function provisionalSession(list) {
    const counted = list.filter((order) => order.status !== "cancelled");
    return {
      started_at: list.reduce((first, order) => (order.created_at < first ? order.created_at : first), list[0].created_at),
      total_amount: counted.reduce((sum, order) => sum + order.total_amount, 0),
      order_count: counted.length,
    };
  }

  function renderFilter() {
    const options = [["", t("filter.all")], ...ctx.tables.map((tbl) => [String(tbl.id), t("table.name", { number: tbl.number })])];
    const same = filterSelect.options.length === options.length
      && options.every(([value, label], i) => filterSelect.options[i].value === value && filterSelect.options[i].text === label);
    if (!same) {
      filterSelect.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
    }
    if (!ctx.tables.some((tbl) => String(tbl.id) === filter)) filter = "";
    filterSelect.value = filter;
  }

  function render() {
    renderFilter();
    const callFocus = document.activeElement && callList.contains(document.activeElement)
      ? document.activeElement.dataset.focus : null;
    renderCalls();
    if (callFocus) callList.querySelector(`[data-focus="${callFocus}"]`)?.focus();
    for (const details of root.querySelectorAll("details[data-table-id]")) {
      if (details.open) openDone.add(Number(details.dataset.tableId));
      else openDone.delete(Number(details.dataset.tableId));
    }
    // Keep the keyboard where it was across re-renders.
    const focusKey = document.activeElement && root.contains(document.activeElement)
      ? document.activeElement.dataset.focus : null;
    const byTable = new Map();
    for (const order of orders.values()) {
      if (!byTable.has(order.table_id)) byTable.set(order.table_id, []);
      byTable.get(order.table_id).push(order);
    }
    const shown = ctx.tables.filter((tbl) => !filter || String(tbl.id) === filter);
    root.replaceChildren(...shown.map((tbl) => {
      const list = (byTable.get(tbl.id) || []).sort((a, b) => b.order_no - a.order_no || b.id - a.id);
      return cardNode(tbl, list);
    }));
    empty.hidden = ctx.tables.length > 0;
    if (focusKey) {
      const target = root.querySelector(`[data-focus="${focusKey}"]`);
      if (target) target.focus();
    }
  }

  // A card (or anything in it) taking focus or a click marks its new orders as seen.
  function markSeen(event) {
    const card = event.target.closest && event.target.closest(".table-card");
    if (!card || !card.classList.contains("has-new")) return;
    if (event.type === "focusin" && event.target.matches("button")) return;  // acting clears it instead
    const id = Number(card.dataset.tableId);
    let changed = false;
    for (const order of orders.values()) if (order.table_id === id && fresh.delete(order.id)) changed = true;
    if (changed) render();
  }
  // After the click's own default action (a <summary> unfolds its list first).
  root.addEventListener("click", (event) => {
    if (!event.target.closest("button")) setTimeout(() => markSeen(event));
  });

  // Elapsed minutes move on by themselves.
  const ticker = setInterval(() => { if (!document.hidden && orders.size) render(); }, 60000);
  const callTicker = setInterval(() => { if (!document.hidden && calls.size) tickCalls(); }, 15000);

  function clear() {
    orders = new Map();
    calls = new Map();
    fresh.clear();
    ctx.tables = [];
    root.replaceChildren();
  }

  function destroy() {
    clearInterval(ticker);
    clearInterval(callTicker);
    if (moveDialog.open) moveDialog.close();
    clearTimeout(timer);
    clear();
  }

  return { reload, onEvent, setFilter, setSound, destroy, show() { render(); } };
}
