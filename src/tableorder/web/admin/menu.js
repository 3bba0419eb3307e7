// Menu management: categories (add, rename, reorder, delete, station) and items (add, edit, reorder,
// delete, station, sold out now / until closing / for N minutes), translations beside the working-language
// text for every other language of the store, and each item's option groups and options.
import { formatWon } from "../shared/i18n.js";
import { loadStations, loadStore } from "./settings.js";
import { createOptionsEditor } from "./options.js";
import { confirmDialog, formatClock, formDialog, h, hidden, sameOriginImage, toast } from "./ui.js";

const bySort = (a, b) => a.sort_order - b.sort_order || a.id - b.id;

export function createMenuEditor(ctx) {
  const { api, t } = ctx;
  const categoryList = document.getElementById("category-list");
  const itemTables = document.getElementById("item-tables");
  const categoryForm = document.getElementById("category-form");
  let categories = [];
  let items = [];
  let loadedOnce = false;

  ctx.store = ctx.store || { languages: ["ko"], timezone: null, business_day_ends_at: null };
  ctx.stations = ctx.stations || [];
  /** The store's languages other than the working one: their text sits beside the working-language text. */
  const extraLanguages = () => ctx.store.languages.slice(1);
  const options = createOptionsEditor({ ...ctx, extraLanguages, translationsFrom, onChanged: refreshItems,
    itemById: (id) => items.find((item) => item.id === id) });

  async function refresh() {
    try {
      const [cats, list] = await Promise.all([api.get("/admin/categories"), api.get("/admin/menu-items"),
        loadStore(ctx), loadStations(ctx)]);
      categories = cats.slice().sort(bySort);
      items = list.slice().sort(bySort);
      loadedOnce = true;
      render();
      options.render();
    } catch (err) {
      ctx.onError(err);
    }
  }

  /** After an option change: the items again (their option groups), the rest as it was. */
  async function refreshItems() {
    const list = await api.get("/admin/menu-items");
    items = list.slice().sort(bySort);
    render();
  }

  function stationName(id) {
    const station = ctx.stations.find((s) => s.id === id);
    return station ? station.name : null;
  }

  /**
   * translations for a body: the entity's own, with each extra language's fields from the form
   * (`name_<code>`, `description_<code>`); a language left empty is dropped.
   */
  function translationsFrom(values, existing, withDescription) {
    const out = { ...(existing || {}) };
    for (const code of extraLanguages()) {
      const entry = {};
      const name = (values[`name_${code}`] || "").trim();
      const description = withDescription ? (values[`description_${code}`] || "").trim() : "";
      if (name) entry.name = name;
      if (description) entry.description = description;
      if (Object.keys(entry).length) out[code] = entry;
      else delete out[code];
    }
    return out;
  }

  /** A field and, beside it, the same field in every other language of the store. */
  function translatedRow(field, entity, key, labelKey) {
    return { type: "row", fields: [field, ...extraLanguages().map((code) => ({
      name: `${key}_${code}`, label: t(labelKey, { lang: t(`lang.${code}`) }), lang: code,
      type: field.type, maxlength: field.maxlength,
      value: entity && entity.translations && entity.translations[code] ? entity.translations[code][key] || "" : "",
    }))] };
  }

  function keepFocus(fn) {
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.focus : null;
    fn();
    if (key) {
      const target = document.querySelector(`#view-menu [data-focus="${CSS.escape(key)}"]`);
      if (target && !target.disabled) target.focus();
    }
  }

  function render() {
    keepFocus(() => {
      renderCategories();
      renderItems();
    });
  }

  function moveButtons(list, index, prefix, name, onMove) {
    return [
      h("button", { type: "button", class: "btn btn-sm btn-icon", disabled: index === 0, dataset: { focus: `${prefix}-up` },
        onclick: () => onMove(list, index, -1) }, h("span", { "aria-hidden": "true" }, "↑"), hidden(`${t("up")} ${name}`)),
      h("button", { type: "button", class: "btn btn-sm btn-icon", disabled: index === list.length - 1,
        dataset: { focus: `${prefix}-down` }, onclick: () => onMove(list, index, 1) },
      h("span", { "aria-hidden": "true" }, "↓"), hidden(`${t("down")} ${name}`)),
    ];
  }

  function renderCategories() {
    if (!categories.length) {
      categoryList.replaceChildren(h("li", { class: "empty" }, t("menu.noCategories")));
      return;
    }
    categoryList.replaceChildren(...categories.map((cat, index) => h("li", { class: "category-row" },
      h("span", { class: "category-name" }, cat.name, translatedNames(cat)),
      h("span", { class: "row-actions" },
        moveButtons(categories, index, `c${cat.id}`, cat.name, (list, i, d) => reorder(list, i, d, "/admin/categories")),
        h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `c${cat.id}-edit` },
          onclick: () => renameCategory(cat) }, t("rename"), hidden(` ${cat.name}`)),
        h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteCategory(cat) },
          t("delete"), hidden(` ${cat.name}`))),
      ctx.stations.length ? categoryStation(cat) : null)));
  }

  /** The other languages' names, small, under the working-language name. */
  function translatedNames(entity) {
    const names = extraLanguages().map((code) => entity.translations && entity.translations[code]
      && entity.translations[code].name).filter(Boolean);
    return names.length ? h("span", { class: "translated" }, names.join(" · ")) : null;
  }

  function categoryStation(cat) {
    const id = `cat-station-${cat.id}`;
    return h("span", { class: "category-station" },
      h("label", { for: id, class: "muted" }, t("menu.stationOf")),
      h("select", { id, "aria-label": t("menu.stationFor", { name: cat.name }), dataset: { focus: `c${cat.id}-station` },
        onchange: (event) => setCategoryStation(cat, event.target) },
      h("option", { value: "", selected: !cat.station_id }, t("menu.noStation")),
      ctx.stations.map((station) => h("option", { value: String(station.id), selected: station.id === cat.station_id },
        station.name))));
  }

  async function setCategoryStation(cat, select) {
    select.disabled = true;
    try {
      await api.patch(`/admin/categories/${cat.id}`, { station_id: select.value ? Number(select.value) : null });
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await refresh();
  }

  function renderItems() {
    if (!categories.length) {
      itemTables.replaceChildren();
      return;
    }
    itemTables.replaceChildren(...categories.map((cat) => {
      const catItems = items.filter((item) => item.category_id === cat.id);
      return h("table", { class: "data items" },
        h("caption", {}, cat.name),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("menu.col.photo")),
          h("th", { scope: "col" }, t("menu.col.name")),
          h("th", { scope: "col", class: "num" }, t("menu.col.price")),
          h("th", { scope: "col" }, t("menu.col.soldOut")),
          h("th", { scope: "col" }, t("menu.col.order")),
          h("th", { scope: "col" }, t("menu.col.actions")))),
        h("tbody", {}, catItems.length ? catItems.map((item, index) => itemRow(catItems, item, index))
          : h("tr", {}, h("td", { colspan: 6, class: "empty" }, t("menu.noItems")))));
    }));
  }

  function itemRow(list, item, index) {
    const checkboxId = `soldout-${item.id}`;
    const groups = item.option_groups || [];
    const station = item.station_id ? stationName(item.station_id) : null;
    return h("tr", { class: item.available ? "" : "is-sold-out" },
      h("td", { class: "thumb-cell" }, sameOriginImage(item.image_url)
        ? h("img", { class: "thumb", src: item.image_url, alt: "", loading: "lazy", width: 64, height: 48 })
        : h("span", { class: "thumb thumb-empty", "aria-hidden": "true" })),
      h("th", { scope: "row" }, h("span", { class: "item-name" }, item.name, translatedNames(item)),
        item.description ? h("span", { class: "item-desc" }, item.description) : null,
        groups.length || station ? h("span", { class: "item-meta" },
          groups.length ? h("span", {}, t("menu.optionsSummary", { groups: groups.map((g) => g.name).join(", ") })) : null,
          station ? h("span", { class: "chip" }, `${t("menu.stationOf")}: ${station}`) : null) : null),
      h("td", { class: "num" }, formatWon(item.price)),
      h("td", { class: "soldout-cell" },
        h("label", { class: "check", for: checkboxId },
          h("input", { type: "checkbox", id: checkboxId, checked: !item.available, dataset: { focus: `i${item.id}-sold` },
            onchange: (event) => setSoldOut(item, event.target) }),
          h("span", {}, t("soldOut"))),
        item.sold_out_until && !item.available ? h("span", { class: "until" },
          h("time", { datetime: item.sold_out_until }, t("soldOut.until", { time: formatClock(item.sold_out_until,
            ctx.store.timezone) }))) : null,
        h("select", { class: "soldout-for", "aria-label": t("soldOut.period", { name: item.name }),
          dataset: { focus: `i${item.id}-for` }, onchange: (event) => soldOutFor(item, event.target) },
        [["", t("soldOut.choose")], ["closing", t("soldOut.closing")], ["30", t("soldOut.30")], ["60", t("soldOut.60")],
          ["120", t("soldOut.120")], ["custom", t("soldOut.custom")]].map(([value, label]) => h("option", { value }, label)))),
      h("td", {}, h("div", { class: "row-actions" }, moveButtons(list, index, `i${item.id}`, item.name,
        (l, i, d) => reorder(l, i, d, "/admin/menu-items")))),
      h("td", {}, h("div", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `i${item.id}-edit` },
          onclick: () => editItem(item) }, t("edit"), hidden(` ${item.name}`)),
        h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `i${item.id}-options` },
          onclick: () => options.open(item.id) }, t("menu.options"), hidden(` ${item.name}`)),
        h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteItem(item) },
          t("delete"), hidden(` ${item.name}`)))));
  }

  /** Sold out until closing (the store's business_day_ends_at) or for N minutes from now. */
  async function soldOutFor(item, select) {
    const choice = select.value;
    select.value = "";
    if (!choice) return;
    let until = null;
    try {
      if (choice === "closing") {
        const store = await loadStore(ctx);
        until = store.business_day_ends_at;
      } else {
        let minutes = Number(choice);
        if (choice === "custom") {
          minutes = await formDialog({
            title: t("soldOut.customTitle", { name: item.name }),
            fields: [{ name: "minutes", label: t("soldOut.minutes"), type: "number", required: true, min: 1, max: 1440,
              inputmode: "numeric", value: 90 }],
            onSubmit: (values) => values.minutes,
          });
          if (!minutes) return;
        }
        until = new Date(Date.now() + minutes * 60000).toISOString();
      }
      if (!until) throw new Error(t("error.generic"));
      const updated = await api.patch(`/admin/menu-items/${item.id}`, { available: false, sold_out_until: until });
      items = items.map((it) => (it.id === updated.id ? updated : it));
      toast(t("soldOut.set", { name: item.name, time: formatClock(until, ctx.store.timezone) }));
      render();
    } catch (err) {
      ctx.onError(err);
    }
  }

  async function setSoldOut(item, checkbox) {
    checkbox.disabled = true;
    try {
      const updated = await api.patch(`/admin/menu-items/${item.id}`, { available: !checkbox.checked });
      items = items.map((it) => (it.id === updated.id ? updated : it));
      checkbox.disabled = false;
      render();
    } catch (err) {
      checkbox.checked = !item.available;
      checkbox.disabled = false;
      ctx.onError(err);
    }
  }

  /** Moves list[index] by delta and renumbers the list's sort_order 10, 20, 30 ... (only changed rows sent). */
  async function reorder(list, index, delta, base) {
    const next = list.slice();
    const [moved] = next.splice(index, 1);
    next.splice(index + delta, 0, moved);
    try {
      await Promise.all(next.map((row, i) => ((i + 1) * 10 !== row.sort_order
        ? api.patch(`${base}/${row.id}`, { sort_order: (i + 1) * 10 }) : null)));
    } catch (err) {
      ctx.onError(err);
    }
    await refresh();
  }

  async function renameCategory(cat) {
    const done = await formDialog({
      title: t("category.renameTitle"),
      fields: [translatedRow({ name: "name", label: t("category.name"), value: cat.name, required: true, maxlength: 50 },
        cat, "name", "tr.name")],
      onSubmit: (values) => {
        const body = { name: values.name.trim() };
        if (extraLanguages().length) body.translations = translationsFrom(values, cat.translations, false);
        return api.patch(`/admin/categories/${cat.id}`, body);
      },
    });
    if (done) {
      toast(t("saved"));
      await refresh();
    }
  }

  async function deleteCategory(cat) {
    if (items.some((item) => item.category_id === cat.id)) {
      toast(t("menu.categoryNotEmpty", { name: cat.name }), "error");
      return;
    }
    if (!(await confirmDialog(t("confirm.deleteCategory", { name: cat.name })))) return;
    try {
      await api.del(`/admin/categories/${cat.id}`);
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await refresh();
  }

  function itemFields(item) {
    const preview = h("div", { class: "image-preview" }, h("span", { class: "muted" }, t("item.noImage")));
    const categoryId = item ? item.category_id : (categories[0] && categories[0].id);
    const category = categories.find((cat) => cat.id === categoryId);
    const inherited = (category && category.station_id && stationName(category.station_id)) || t("menu.noStation");
    return [
      { name: "category_id", label: t("item.category"), type: "select", required: true, value: categoryId,
        options: categories.map((cat) => [cat.id, cat.name]) },
      translatedRow({ name: "name", label: t("item.name"), required: true, maxlength: 100, value: item && item.name },
        item, "name", "tr.name"),
      { name: "price", label: t("item.price"), type: "number", required: true, min: 0, max: 10000000,
        inputmode: "numeric", value: item ? item.price : "" },
      translatedRow({ name: "description", label: t("item.description"), type: "textarea", maxlength: 1000,
        value: item && item.description }, item, "description", "tr.description"),
      ctx.stations.length ? { name: "station_id", label: t("item.station"), type: "select",
        value: item && item.station_id ? item.station_id : "",
        options: [["", t("item.inherit", { station: inherited })], ...ctx.stations.map((s) => [s.id, s.name])] } : null,
      { name: "image_url", label: t("item.image"), type: "url", maxlength: 2048, value: item && item.image_url, after: preview },
      { name: "available", label: t("item.available"), type: "checkbox", value: item ? item.available : true },
    ].filter(Boolean);
  }

  function previewImage(form) {
    const box = form.querySelector(".image-preview");
    if (!box) return;
    const url = form.elements.image_url.value.trim();
    if (/^https?:\/\/\S+$/.test(url) && sameOriginImage(url)) {
      const img = h("img", { src: url, alt: "" });
      img.addEventListener("error", () => box.replaceChildren(h("span", { class: "muted" }, t("item.noImage"))));
      box.replaceChildren(img);
    } else {
      box.replaceChildren(h("span", { class: "muted" }, t(url ? "item.otherSite" : "item.noImage")));
    }
  }

  function itemBody(values, item) {
    const body = {
      category_id: Number(values.category_id), name: values.name.trim(), price: values.price,
      description: values.description, image_url: values.image_url.trim() || null, available: values.available,
    };
    // Only what this store uses: a Korean-only store without stations sends the fields it always sent.
    if (extraLanguages().length) body.translations = translationsFrom(values, item && item.translations, true);
    if (ctx.stations.length) body.station_id = values.station_id ? Number(values.station_id) : null;
    return body;
  }

  async function addItem() {
    if (!categories.length) {
      toast(t("menu.noCategories"), "error");
      return;
    }
    const created = await formDialog({
      title: t("item.newTitle"), fields: itemFields(null), onInput: previewImage,
      onSubmit: (values) => {
        const body = itemBody(values, null);
        const siblings = items.filter((it) => it.category_id === body.category_id);
        body.sort_order = siblings.length ? Math.max(...siblings.map((it) => it.sort_order)) + 10 : 10;
        return api.post("/admin/menu-items", body);
      },
    });
    if (created) {
      toast(t("saved"));
      await refresh();
    }
  }

  async function editItem(item) {
    const done = await formDialog({
      title: t("item.editTitle"), fields: itemFields(item), onInput: previewImage,
      onSubmit: (values) => api.patch(`/admin/menu-items/${item.id}`, itemBody(values, item)),
    });
    if (done) {
      toast(t("saved"));
      await refresh();
    }
  }

  async function deleteItem(item) {
    if (!(await confirmDialog(t("confirm.deleteItem", { name: item.name })))) return;
    try {
      await api.del(`/admin/menu-items/${item.id}`);
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await refresh();
  }

  categoryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = categoryForm.elements.name.value.trim();
    if (!name) {
      categoryForm.reportValidity();
      return;
    }
    try {
      const sort = categories.length ? Math.max(...categories.map((c) => c.sort_order)) + 10 : 10;
      await api.post("/admin/categories", { name, sort_order: sort });
      categoryForm.reset();
      toast(t("saved"));
      await refresh();
      categoryForm.elements.name.focus();
    } catch (err) {
      ctx.onError(err);
    }
  });
  document.getElementById("add-item").addEventListener("click", addItem);

  return {
    show() {
      if (loadedOnce) render();
      refresh();
    },
    /** Another screen or replica changed the menu: re-read it if it was ever shown. */
    onMenuChanged() {
      if (loadedOnce && !document.getElementById("view-menu").hidden) refresh();
    },
  };
}
