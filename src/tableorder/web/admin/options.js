// An item's option groups and options, edited in one dialog: groups (add, name, min/max, reorder,
// delete) and their options (add, name, price change, sold out, delete), each name with its
// translations beside it. Every action is saved at once; typing elsewhere survives the re-render.
import { confirmDialog, h, hidden, toast } from "./ui.js";

const bySort = (a, b) => a.sort_order - b.sort_order || a.id - b.id;

export function createOptionsEditor(ctx) {
  const { api, t, extraLanguages, translationsFrom, onChanged, itemById } = ctx;
  const dialog = document.getElementById("options-dialog");
  const body = document.getElementById("options-body");
  const title = document.getElementById("options-title");
  const error = document.getElementById("options-error");
  let itemId = null;

  document.getElementById("options-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    itemId = null;
    body.replaceChildren();
  });

  /** An input whose default is the saved value, so a re-render can tell what was typed since. */
  function input(key, label, value, attrs = {}) {
    const node = h("input", { "aria-label": label, dataset: { key }, autocomplete: "off", ...attrs });
    node.defaultValue = value === null || value === undefined ? "" : String(value);
    return node;
  }

  function translated(entity, code) {
    return (entity.translations && entity.translations[code] && entity.translations[code].name) || "";
  }

  function ruleText(group) {
    return group.min >= 1 ? t("options.required", { min: group.min, max: group.max })
      : t("options.optional", { max: group.max });
  }

  function groupNode(group, index, groups) {
    const headingId = `og-${group.id}-title`;
    const key = `g${group.id}`;
    const options = (group.options || []).slice().sort(bySort);
    const languages = extraLanguages();
    const form = h("form", { class: "opt-group-form", onsubmit: (event) => saveGroup(event, group) },
      h("div", { class: "opt-fields" },
        h("label", { class: "field" }, h("span", {}, t("options.groupName")),
          input(`${key}-name`, null, group.name, { name: "name", required: true, maxlength: 50 })),
        languages.map((code) => h("label", { class: "field", lang: code },
          h("span", {}, t("tr.groupName", { lang: t(`lang.${code}`) })),
          input(`${key}-name-${code}`, null, translated(group, code), { name: `name_${code}`, maxlength: 50 }))),
        h("label", { class: "field field-num" }, h("span", {}, t("options.min")),
          input(`${key}-min`, null, group.min, { name: "min", type: "number", min: 0, max: 20, required: true })),
        h("label", { class: "field field-num" }, h("span", {}, t("options.max")),
          input(`${key}-max`, null, group.max, { name: "max", type: "number", min: 1, max: 20, required: true }))),
      h("table", { class: "opt-table" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("options.option")),
          languages.map((code) => h("th", { scope: "col" }, t(`lang.${code}`))),
          h("th", { scope: "col", class: "num" }, t("options.price")),
          h("th", { scope: "col" }, t("options.soldOut")),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("menu.col.actions"))))),
        h("tbody", {}, options.length ? options.map((option) => optionRow(option, languages))
          : h("tr", {}, h("td", { colspan: 4 + languages.length, class: "empty" }, t("options.noOptions"))))),
      h("div", { class: "opt-save" },
        h("button", { type: "submit", class: "btn btn-primary btn-sm", dataset: { key: `${key}-save` } },
          t("options.saveGroup"), hidden(` ${group.name}`))));
    // Its own form: a new option is added without saving the group's other edits.
    const add = h("form", { class: "opt-add", onsubmit: (event) => addOption(event, group, options) },
      h("label", { class: "field" }, h("span", {}, t("options.newOption")),
        input(`${key}-new-name`, null, "", { name: "name", required: true, maxlength: 50 })),
      languages.map((code) => h("label", { class: "field", lang: code },
        h("span", {}, t("tr.optionName", { lang: t(`lang.${code}`) })),
        input(`${key}-new-name-${code}`, null, "", { name: `name_${code}`, maxlength: 50 }))),
      h("label", { class: "field field-price" }, h("span", {}, t("options.price")),
        input(`${key}-new-price`, null, "0", { name: "price_delta", type: "number", min: -10000000, max: 10000000,
          step: 100, required: true, inputmode: "numeric" })),
      h("button", { type: "submit", class: "btn btn-sm", dataset: { key: `${key}-add` } },
        t("options.addOption"), hidden(` ${group.name}`)));
    return h("section", { class: "opt-group", "aria-labelledby": headingId },
      h("header", { class: "opt-group-head" },
        h("h3", { id: headingId }, group.name),
        h("span", { class: `chip${group.min >= 1 ? " chip-strong" : ""}` }, ruleText(group)),
        h("span", { class: "row-actions" },
          h("button", { type: "button", class: "btn btn-sm btn-icon", disabled: index === 0, dataset: { key: `${key}-up` },
            onclick: () => reorder(groups, index, -1) }, h("span", { "aria-hidden": "true" }, "↑"),
          hidden(`${t("up")} ${group.name}`)),
          h("button", { type: "button", class: "btn btn-sm btn-icon", disabled: index === groups.length - 1,
            dataset: { key: `${key}-down` }, onclick: () => reorder(groups, index, 1) },
          h("span", { "aria-hidden": "true" }, "↓"), hidden(`${t("down")} ${group.name}`)),
          h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteGroup(group) },
            t("options.deleteGroup"), hidden(` ${group.name}`)))),
      form, add);
  }

  function optionRow(option, languages) {
    const key = `o${option.id}`;
    return h("tr", { class: option.available ? "" : "is-sold-out", dataset: { optionId: option.id } },
      h("td", {}, input(`${key}-name`, `${t("options.optionName")} ${option.name}`, option.name,
        { name: `o${option.id}_name`, required: true, maxlength: 50 })),
      languages.map((code) => h("td", { lang: code }, input(`${key}-name-${code}`,
        `${t("tr.optionName", { lang: t(`lang.${code}`) })} ${option.name}`, translated(option, code),
        { name: `o${option.id}_name_${code}`, maxlength: 50 }))),
      h("td", { class: "num" }, input(`${key}-price`, `${t("options.price")} ${option.name}`, option.price_delta,
        { name: `o${option.id}_price`, type: "number", min: -10000000, max: 10000000, step: 100, required: true,
          inputmode: "numeric", class: "price-input" })),
      h("td", {}, h("label", { class: "check" },
        h("input", { type: "checkbox", checked: !option.available, dataset: { key: `${key}-sold` },
          onchange: (event) => setOptionSoldOut(option, event.target) }),
        h("span", {}, t("options.soldOut"), hidden(` ${option.name}`)))),
      h("td", {}, h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteOption(option) },
        t("delete"), hidden(` ${option.name}`))));
  }

  function newGroupNode(groups) {
    const languages = extraLanguages();
    const form = h("form", { class: "opt-add opt-new-group", onsubmit: (event) => addGroup(event, groups) },
      h("label", { class: "field" }, h("span", {}, t("options.newGroupName")),
        input("new-group-name", null, "", { name: "name", required: true, maxlength: 50 })),
      languages.map((code) => h("label", { class: "field", lang: code },
        h("span", {}, t("tr.groupName", { lang: t(`lang.${code}`) })),
        input(`new-group-name-${code}`, null, "", { name: `name_${code}`, maxlength: 50 }))),
      h("label", { class: "field field-num" }, h("span", {}, t("options.min")),
        input("new-group-min", null, "0", { name: "min", type: "number", min: 0, max: 20, required: true })),
      h("label", { class: "field field-num" }, h("span", {}, t("options.max")),
        input("new-group-max", null, "1", { name: "max", type: "number", min: 1, max: 20, required: true })),
      h("button", { type: "submit", class: "btn btn-primary btn-sm", dataset: { key: "new-group-add" } },
        t("options.addGroup")));
    return h("section", { class: "opt-group opt-group-new", "aria-labelledby": "og-new-title" },
      h("h3", { id: "og-new-title" }, t("options.newGroup")), form);
  }

  /** Re-draws the dialog from the item; what was typed and not saved stays, except in `drop` (keys). */
  function render(drop = []) {
    if (itemId === null) return;
    const item = itemById(itemId);
    if (!item) {
      dialog.close();
      return;
    }
    const typed = new Map();
    for (const node of body.querySelectorAll("input[data-key]")) {
      if (node.type !== "checkbox" && node.value !== node.defaultValue
          && !drop.some((prefix) => node.dataset.key.startsWith(prefix))) typed.set(node.dataset.key, node.value);
    }
    const focusKey = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.dataset.key : null;
    title.textContent = t("options.title", { name: item.name });
    const groups = (item.option_groups || []).slice().sort(bySort);
    body.replaceChildren(
      ...(groups.length ? groups.map((group, index) => groupNode(group, index, groups))
        : [h("p", { class: "empty" }, t("options.none"))]),
      newGroupNode(groups));
    for (const [key, value] of typed) {
      const node = body.querySelector(`input[data-key="${CSS.escape(key)}"]`);
      if (node) node.value = value;
    }
    if (focusKey) {
      const node = body.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (node && !node.disabled) node.focus();
    }
  }

  async function run(action, drop = [], focusKey = null) {
    error.hidden = true;
    try {
      await action();
      await onChanged();
      render(drop);
      if (focusKey) body.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
      toast(t("saved"));
      return true;
    } catch (err) {
      error.textContent = err.message || t("error.generic");
      error.hidden = false;
      return false;
    }
  }

  function groupBody(form, group) {
    const values = Object.fromEntries(new FormData(form));
    const out = { name: values.name.trim(), min: Number(values.min), max: Number(values.max) };
    if (extraLanguages().length) out.translations = translationsFrom(values, group && group.translations, false);
    return out;
  }

  async function saveGroup(event, group) {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    const changed = [];
    for (const option of group.options || []) {
      const fields = [...form.querySelectorAll(`input[name^="o${option.id}_"]`)];
      if (!fields.some((node) => node.value !== node.defaultValue)) continue;
      const values = {};
      for (const node of fields) values[node.name.slice(`o${option.id}_`.length)] = node.value;
      const patch = { name: values.name.trim(), price_delta: Number(values.price) };
      if (extraLanguages().length) patch.translations = translationsFrom(values, option.translations, false);
      changed.push([option.id, patch]);
    }
    await run(async () => {
      await api.patch(`/admin/option-groups/${group.id}`, groupBody(form, group));
      for (const [id, patch] of changed) await api.patch(`/admin/options/${id}`, patch);
    }, [`g${group.id}-name`, `g${group.id}-min`, `g${group.id}-max`, ...(group.options || []).map((o) => `o${o.id}-`)]);
  }

  async function addGroup(event, groups) {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    const sort = groups.length ? Math.max(...groups.map((g) => g.sort_order)) + 10 : 10;
    await run(() => api.post(`/admin/menu-items/${itemId}/option-groups`, { ...groupBody(form, null), sort_order: sort }),
      ["new-group-"], "new-group-name");
  }

  async function addOption(event, group, options) {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    const values = Object.fromEntries(new FormData(form));
    const sort = options.length ? Math.max(...options.map((o) => o.sort_order)) + 10 : 10;
    const option = { name: values.name.trim(), price_delta: Number(values.price_delta) || 0, sort_order: sort };
    if (extraLanguages().length) option.translations = translationsFrom(values, null, false);
    await run(() => api.post(`/admin/option-groups/${group.id}/options`, option), [`g${group.id}-new-`],
      `g${group.id}-new-name`);
  }

  async function setOptionSoldOut(option, checkbox) {
    checkbox.disabled = true;
    const ok = await run(() => api.patch(`/admin/options/${option.id}`, { available: !checkbox.checked }));
    if (!ok) {
      checkbox.checked = !option.available;
      checkbox.disabled = false;
    }
  }

  async function deleteGroup(group) {
    if (!(await confirmDialog(t("confirm.deleteGroup", { name: group.name })))) return;
    await run(() => api.del(`/admin/option-groups/${group.id}`));
  }

  async function deleteOption(option) {
    if (!(await confirmDialog(t("confirm.deleteOption", { name: option.name })))) return;
    await run(() => api.del(`/admin/options/${option.id}`));
  }

  async function reorder(groups, index, delta) {
    const next = groups.slice();
    const [moved] = next.splice(index, 1);
    next.splice(index + delta, 0, moved);
    await run(() => Promise.all(next.map((group, i) => ((i + 1) * 10 !== group.sort_order
      ? api.patch(`/admin/option-groups/${group.id}`, { sort_order: (i + 1) * 10 }) : null))));
  }

  return {
    open(id) {
      itemId = id;
      error.hidden = true;
      body.replaceChildren();
      render();
      dialog.showModal();
      body.querySelector("input")?.focus();
    },
    /** The menu was re-read (another screen or replica): redraw if open. */
    render() {
      if (dialog.open) render();
    },
  };
}
