// Small DOM helpers for the board: element builder, confirmation and form dialogs, a toast.

/** h("button", {class: "btn", onclick}, "text", child) — attributes, properties for on*, children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value" || key === "checked") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A visually hidden span: context for screen readers (e.g. which table a button acts on). */
export function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}

let t = (key) => key;
export function setTranslator(fn) { t = fn; }

/** Asks in the confirmation <dialog>; resolves true only for `Confirm`. */
export function confirmDialog(message) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-message").textContent = message;
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

/**
 * A form in the shared form <dialog>. fields: [{name, label, type, value, required, options, min, max,
 * maxlength, minlength, preview}]. onSubmit(values) may throw an ApiError: its message is shown and the
 * dialog stays open. Resolves with onSubmit's result, or null when cancelled.
 */
export function formDialog({ title, fields: layout, onSubmit, onInput }) {
  const dialog = document.getElementById("form-dialog");
  const form = document.getElementById("form-dialog-form");
  const box = document.getElementById("form-dialog-fields");
  const error = document.getElementById("form-dialog-error");
  document.getElementById("form-dialog-title").textContent = title;
  error.hidden = true;
  // A {type: "row", fields} entry puts its fields side by side (a text beside its translations).
  const fields = layout.flatMap((field) => (field.type === "row" ? field.fields : [field]));
  const wide = layout.some((field) => field.type === "row" && field.fields.length > 1);
  dialog.classList.toggle("is-wide", wide);
  box.replaceChildren(...layout.map((field) => (field.type === "row"
    ? h("div", { class: "field-row", dataset: { columns: String(field.fields.length) } },
      field.fields.map(fieldNode))
    : fieldNode(field))));
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      form.removeEventListener("submit", submit);
      form.removeEventListener("input", input);
      cancelButton.removeEventListener("click", cancel);
      dialog.removeEventListener("close", closed);
      if (dialog.open) dialog.close();
      box.replaceChildren();  // no stale inputs left behind in the document
      resolve(value);
    };
    const cancelButton = document.getElementById("form-dialog-cancel");
    const cancel = () => finish(null);
    const closed = () => finish(null);
    const input = () => onInput && onInput(form);
    const submit = async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const values = {};
      for (const field of fields) {
        const control = form.elements[field.name];
        if (field.type === "checkbox") values[field.name] = control.checked;
        else if (field.type === "number") values[field.name] = control.value === "" ? null : Number(control.value);
        else values[field.name] = control.value;
      }
      const submitButton = form.querySelector("button[type=submit]");
      submitButton.disabled = true;
      try {
        finish(await onSubmit(values));
      } catch (err) {
        error.textContent = err.message || t("error.generic");
        error.hidden = false;
      } finally {
        submitButton.disabled = false;
      }
    };
    form.addEventListener("submit", submit);
    form.addEventListener("input", input);
    cancelButton.addEventListener("click", cancel);
    dialog.addEventListener("close", closed);
    dialog.showModal();
    input();
  });
}

function fieldNode(field) {
  const common = { name: field.name, required: field.required, id: `field-${field.name}` };
  let control;
  if (field.type === "select") {
    control = h("select", common, field.options.map(([value, label]) =>
      h("option", { value: String(value), selected: String(value) === String(field.value) }, label)));
  } else if (field.type === "textarea") {
    control = h("textarea", { ...common, maxlength: field.maxlength, rows: 3 });
    control.value = field.value ?? "";
  } else if (field.type === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: Boolean(field.value) });
    return h("label", { class: "switch" }, control, h("span", {}, field.label));
  } else {
    control = h("input", {
      ...common, type: field.type || "text", min: field.min, max: field.max, maxlength: field.maxlength,
      minlength: field.minlength, inputmode: field.inputmode, autocomplete: field.autocomplete || "off",
    });
    control.value = field.value ?? "";
  }
  // A select is labelled by `for`, not wrapped: wrapped, its chosen option would join its name.
  const label = field.type === "select"
    ? h("div", { class: "field", lang: field.lang }, h("label", { for: common.id }, field.label), control)
    : h("label", { class: "field", lang: field.lang }, h("span", {}, field.label), control);
  return field.after ? h("div", {}, label, field.after) : label;
}

let toastTimer = 0;
/** A short message in the top bar's live region (kind: "ok" | "error"). */
export function toast(message, kind = "ok") {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.dataset.kind = kind;
  node.classList.add("is-shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => node.classList.remove("is-shown"), kind === "error" ? 6000 : 2500);
}

export function formatTime(iso, lang) {
  return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "ko-KR", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .format(new Date(iso));
}

export function formatDateTime(iso, lang) {
  return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "ko-KR", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

/** Today in the browser's local time as YYYY-MM-DD (for date inputs). */
export function isoDay(date = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** An image URL this page may show: the CSP lets images from this origin only, and no request leaves it. */
export function sameOriginImage(url) {
  if (!url) return false;
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

const WON_PLAIN = new Intl.NumberFormat("ko-KR");

/** An order line's chosen options as one short text: "맵기: 보통 · 토핑: 치즈 +1,000, 베이컨 +1,500". */
export function formatOptions(options) {
  if (!options || !options.length) return "";
  const groups = new Map();
  for (const option of options) {
    if (!groups.has(option.group)) groups.set(option.group, []);
    const delta = Number(option.price_delta) || 0;
    // A no-break space: an option and its price never part at a line end.
    const price = delta ? `\u00a0${delta > 0 ? "+" : "−"}${WON_PLAIN.format(Math.abs(delta))}` : "";
    groups.get(option.group).push(`${option.name}${price}`);
  }
  return [...groups].map(([group, names]) => `${group}: ${names.join(", ")}`).join(" · ");
}

/** HH:MM in the store's time zone when it is known (else the browser's). */
export function formatClock(iso, timeZone) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try {
    return new Intl.DateTimeFormat("en-GB", timeZone ? { ...options, timeZone } : options).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
  }
}
