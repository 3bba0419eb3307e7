// Menu management: categories (add, rename, reorder, delete) and items (add, edit, reorder, delete, sold out).
import { formatWon } from "../shared/i18n.js";
import { confirmDialog, formDialog, h, hidden, sameOriginImage, toast } from "./ui.js";

const bySort = (a, b) => a.sort_order - b.sort_order || a.id - b.id;

export function createMenuEditor(ctx) {
  const { api, t } = ctx;
  const categoryList = document.getElementById("category-list");
  const itemTables = document.getElementById("item-tables");
  const categoryForm = document.getElementById("category-form");
  let categories = [];
  let items = [];
  let loadedOnce = false;

  async function refresh() {
    try {
      const [cats, list] = await Promise.all([api.get("/admin/categories"), api.get("/admin/menu-items")]);
      categories = cats.slice().sort(bySort);
      items = list.slice().sort(bySort);
      loadedOnce = true;
      render();
    } catch (err) {
      ctx.onError(err);
    }
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
      h("span", { class: "category-name" }, cat.name),
      h("span", { class: "row-actions" },
        moveButtons(categories, index, `c${cat.id}`, cat.name, (list, i, d) => reorder(list, i, d, "/admin/categories")),
        h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `c${cat.id}-edit` },
          onclick: () => renameCategory(cat) }, t("rename"), hidden(` ${cat.name}`)),
        h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteCategory(cat) },
          t("delete"), hidden(` ${cat.name}`))))));
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
    return h("tr", { class: item.available ? "" : "is-sold-out" },
      h("td", { class: "thumb-cell" }, sameOriginImage(item.image_url)
        ? h("img", { class: "thumb", src: item.image_url, alt: "", loading: "lazy", width: 64, height: 48 })
        : h("span", { class: "thumb thumb-empty", "aria-hidden": "true" })),
      h("th", { scope: "row" }, h("span", { class: "item-name" }, item.name),
        item.description ? h("span", { class: "item-desc" }, item.description) : null),
      h("td", { class: "num" }, formatWon(item.price)),
      h("td", {}, h("label", { class: "check", for: checkboxId },
        h("input", { type: "checkbox", id: checkboxId, checked: !item.available, dataset: { focus: `i${item.id}-sold` },
          onchange: (event) => setSoldOut(item, event.target) }),
        h("span", {}, t("soldOut")))),
      h("td", {}, h("div", { class: "row-actions" }, moveButtons(list, index, `i${item.id}`, item.name,
        (l, i, d) => reorder(l, i, d, "/admin/menu-items")))),
      h("td", {}, h("div", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-sm", dataset: { focus: `i${item.id}-edit` },
          onclick: () => editItem(item) }, t("edit"), hidden(` ${item.name}`)),
        h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteItem(item) },
          t("delete"), hidden(` ${item.name}`)))));
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
      fields: [{ name: "name", label: t("category.name"), value: cat.name, required: true, maxlength: 50 }],
      onSubmit: (values) => api.patch(`/admin/categories/${cat.id}`, { name: values.name.trim() }),
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
    return [
      { name: "category_id", label: t("item.category"), type: "select", required: true,
        value: item ? item.category_id : (categories[0] && categories[0].id),
        options: categories.map((cat) => [cat.id, cat.name]) },
      { name: "name", label: t("item.name"), required: true, maxlength: 100, value: item && item.name },
      { name: "price", label: t("item.price"), type: "number", required: true, min: 0, max: 10000000,
        inputmode: "numeric", value: item ? item.price : "" },
      { name: "description", label: t("item.description"), type: "textarea", maxlength: 1000, value: item && item.description },
      { name: "image_url", label: t("item.image"), type: "url", maxlength: 2048, value: item && item.image_url, after: preview },
      { name: "available", label: t("item.available"), type: "checkbox", value: item ? item.available : true },
    ];
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

  function itemBody(values) {
    return {
      category_id: Number(values.category_id), name: values.name.trim(), price: values.price,
      description: values.description, image_url: values.image_url.trim() || null, available: values.available,
    };
  }

  async function addItem() {
    if (!categories.length) {
      toast(t("menu.noCategories"), "error");
      return;
    }
    const created = await formDialog({
      title: t("item.newTitle"), fields: itemFields(null), onInput: previewImage,
      onSubmit: (values) => {
        const body = itemBody(values);
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
      onSubmit: (values) => api.patch(`/admin/menu-items/${item.id}`, itemBody(values)),
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
