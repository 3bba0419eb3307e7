// Tables: add, change a table's tablet password, delete.
import { formatWon } from "../shared/i18n.js";
import { confirmDialog, formDialog, h, hidden, toast } from "./ui.js";

export function createTablesEditor(ctx) {
  const { api, t } = ctx;
  const body = document.getElementById("tables-body");
  const form = document.getElementById("table-form");

  async function refresh() {
    try {
      const tables = await api.get("/admin/tables");
      ctx.tables = tables.slice().sort((a, b) => a.number - b.number);
      render();
    } catch (err) {
      ctx.onError(err);
    }
  }

  function render() {
    if (!ctx.tables.length) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 3, class: "empty" }, t("tables.none"))));
      return;
    }
    body.replaceChildren(...ctx.tables.map((table) => {
      const name = t("table.name", { number: table.number });
      return h("tr", {},
        h("th", { scope: "row" }, name),
        h("td", {}, table.session ? t("tables.open", { total: formatWon(table.session.total_amount) }) : t("tables.free")),
        h("td", {}, h("div", { class: "row-actions" },
          h("button", { type: "button", class: "btn btn-sm", onclick: () => changePassword(table) },
            t("tables.changePassword"), hidden(` ${name}`)),
          h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => remove(table) },
            t("delete"), hidden(` ${name}`)))));
    }));
  }

  async function changePassword(table) {
    const done = await formDialog({
      title: t("tables.passwordTitle", { number: table.number }),
      fields: [{ name: "password", label: t("tables.newPassword"), type: "password", required: true,
        minlength: 4, maxlength: 128, autocomplete: "new-password" }],
      onSubmit: (values) => api.patch(`/admin/tables/${table.id}`, { password: values.password }),
    });
    if (done) toast(t("saved"));
  }

  async function remove(table) {
    if (table.session) {
      toast(t("tables.inUse", { number: table.number }), "error");
      return;
    }
    if (!(await confirmDialog(t("confirm.deleteTable", { number: table.number })))) return;
    try {
      await api.del(`/admin/tables/${table.id}`);
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await refresh();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const number = Number(form.elements.number.value);
    if (ctx.tables.some((table) => table.number === number)) {
      toast(t("tables.taken", { number }), "error");
      form.elements.number.select();
      return;
    }
    try {
      await api.post("/admin/tables", { number, password: form.elements.password.value });
      form.reset();
      toast(t("saved"));
      await refresh();
      form.elements.number.focus();
    } catch (err) {
      ctx.onError(err);
    }
  });

  return { show() { render(); refresh(); } };
}
