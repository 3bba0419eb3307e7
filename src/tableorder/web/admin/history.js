// History per table: closed sessions with their orders and totals between two dates, paged.
import { formatWon } from "../shared/i18n.js";
import { formatDateTime, formatOptions, h, isoDay } from "./ui.js";

const PAGE = 20;

export function createHistory(ctx) {
  const { api, t, lang } = ctx;
  const form = document.getElementById("history-form");
  const select = document.getElementById("history-table");
  const list = document.getElementById("history-list");
  const more = document.getElementById("history-more");
  const count = document.getElementById("history-count");
  const error = document.getElementById("history-error");
  let offset = 0;
  let query = null;

  const weekAgo = new Date();
  weekAgo.setDate(weekAgo.getDate() - 7);
  form.elements.from.value = isoDay(weekAgo);

  function fillTables(selectedId) {
    const keep = selectedId !== undefined ? String(selectedId) : select.value;
    select.replaceChildren(...ctx.tables.map((tbl) =>
      h("option", { value: String(tbl.id) }, t("table.name", { number: tbl.number }))));
    if (keep && ctx.tables.some((tbl) => String(tbl.id) === keep)) select.value = keep;
  }

  async function load(append) {
    error.hidden = true;
    try {
      const page = await api.get(`/admin/tables/${query.tableId}/history`, {
        query: { ...(query.from ? { from: query.from } : {}), ...(query.to ? { to: query.to } : {}), limit: PAGE, offset },
      });
      const nodes = page.items.map(sessionNode);
      if (append) list.append(...nodes);
      else list.replaceChildren(...nodes);
      offset += page.items.length;
      if (!page.total) list.replaceChildren(h("p", { class: "empty" }, t("history.none")));
      count.textContent = page.total ? t("history.count", { shown: offset, total: page.total }) : "";
      more.hidden = offset >= page.total;
    } catch (err) {
      error.textContent = err.message || t("error.generic");
      error.hidden = false;
    }
  }

  function sessionNode(session) {
    const headingId = `session-${session.id}`;
    return h("article", { class: "history-session", "aria-labelledby": headingId },
      h("header", { class: "history-head" },
        h("h2", { id: headingId }, t("history.session", {
          start: formatDateTime(session.started_at, lang),
          end: session.closed_at ? formatDateTime(session.closed_at, lang) : "",
        })),
        h("p", {}, t("history.summary", { count: session.order_count, total: formatWon(session.total_amount) }))),
      h("ul", { class: "history-orders" }, session.orders.map((order) =>
        h("li", { class: `hist-${order.status}` },
          h("span", { class: "history-order-no" }, t("order.name", { no: order.order_no })),
          h("span", { class: `status status-${order.status}` }, t(`status.${order.status}`)),
          h("ul", { class: "history-lines" }, order.items.map((line) => {
            const chosen = formatOptions(line.options);
            return h("li", {},
              h("span", { class: "history-line-name" }, `${line.name} × ${line.quantity}`),
              chosen ? h("span", { class: "history-line-options" }, chosen) : null,
              h("span", { class: "history-line-total" }, formatWon(line.line_total)));
          })),
          h("strong", { class: "history-total" }, formatWon(order.total_amount))))));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!select.value) return;
    query = { tableId: select.value, from: form.elements.from.value, to: form.elements.to.value };
    offset = 0;
    load(false);
  });
  more.addEventListener("click", () => load(true));

  return {
    show({ tableId } = {}) {
      fillTables(tableId);
      if (tableId !== undefined) {
        form.requestSubmit();
        select.focus();
      } else if (query === null && select.value) {
        form.requestSubmit();  // the first visit shows the first table's last week at once
      }
    },
  };
}
