// The live board: one card (region) per table with its open session, orders and actions.
import { formatWon } from "../shared/i18n.js";
import { confirmDialog, formatTime, h, hidden, toast } from "./ui.js";

const ACTIVE = new Set(["pending", "preparing"]);

export function createBoard(ctx) {
  const { api, t, lang } = ctx;
  const root = document.getElementById("board");
  const empty = document.getElementById("board-empty");
  const filterSelect = document.getElementById("table-filter");
  let orders = new Map();  // id -> order of an open session
  const fresh = new Set();  // order ids that arrived live and were not handled yet
  const openDone = new Set();  // table ids whose finished orders are unfolded
  let filter = "";
  let soundOn = false;
  let audio = null;
  let loading = null;
  let again = false;
  let timer = 0;

  async function fetchAll() {
    const [tables, items] = await Promise.all([api.get("/admin/tables"), fetchOrders()]);
    ctx.tables = tables.slice().sort((a, b) => a.number - b.number);
    orders = new Map(items.map((order) => [order.id, order]));
    for (const id of [...fresh]) if (!orders.has(id)) fresh.delete(id);
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

  /** Two short tones made with WebAudio (no sound file). */
  function beep() {
    if (!soundOn) return;
    ensureAudio();
    if (!audio) return;
    const now = audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.18, 1175]]) {
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
      h("ul", { class: "lines" }, order.items.map((line) => h("li", {},
        h("span", { class: "line-name" }, line.name), " ",
        h("span", { class: "line-qty" }, `× ${line.quantity}`),
        h("span", { class: "line-total" }, formatWon(line.line_total))))),
      order.note ? h("p", { class: "note" }, h("strong", {}, `${t("order.note")}: `), order.note) : null,
      buttons.length ? h("div", { class: "order-actions" }, buttons) : null));
  }

  function cardNode(table, tableOrders) {
    const headingId = `table-${table.id}`;
    // An order that arrived live before the tables were re-read already opens the session on screen.
    const session = table.session || (tableOrders.length ? provisionalSession(tableOrders) : null);
    const hasNew = tableOrders.some((order) => fresh.has(order.id));
    // Orders still to handle stay in view; completed and cancelled ones fold away.
    const active = tableOrders.filter((order) => ACTIVE.has(order.status));
    const done = tableOrders.filter((order) => !ACTIVE.has(order.status));
    const minutes = session ? Math.max(0, Math.floor((Date.now() - new Date(session.started_at)) / 60000)) : 0;
    return h("section", {
      class: `table-card${session ? "" : " is-free"}${hasNew ? " has-new" : ""}`,
      "aria-labelledby": headingId, dataset: { tableId: table.id },
    },
    h("header", { class: "card-head" },
      h("h2", { id: headingId }, t("table.name", { number: table.number })),
      hasNew ? h("span", { class: "new-dot", "aria-hidden": "true" }) : null,
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

  function clear() {
    orders = new Map();
    fresh.clear();
    ctx.tables = [];
    root.replaceChildren();
  }

  function destroy() {
    clearInterval(ticker);
    clearTimeout(timer);
    clear();
  }

  return { reload, onEvent, setFilter, setSound, destroy, show() { render(); } };
}
