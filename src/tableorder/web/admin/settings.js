// Store settings: the menu's languages (the first is the working language) and the kitchen stations.
// Also the loaders the menu editor shares (GET /admin/store, GET /admin/stations).
import { confirmDialog, h, hidden, toast } from "./ui.js";

/** The languages a menu can be kept in (SPEC §10); "zh" is Simplified Chinese. */
export const MENU_LANGUAGES = ["ko", "en", "ja", "zh"];

/** GET /admin/store into ctx.store; a server without it reads as a Korean-only store. */
export async function loadStore(ctx) {
  try {
    ctx.store = await ctx.api.get("/admin/store");
  } catch (err) {
    if (err && err.status === 401) throw err;
    ctx.store = ctx.store || { languages: ["ko"], timezone: null, business_day_ends_at: null };
  }
  if (!Array.isArray(ctx.store.languages) || !ctx.store.languages.length) ctx.store.languages = ["ko"];
  return ctx.store;
}

/** GET /admin/stations into ctx.stations (in their order); none when it cannot be read. */
export async function loadStations(ctx) {
  try {
    const list = await ctx.api.get("/admin/stations");
    ctx.stations = list.slice().sort((a, b) => a.sort_order - b.sort_order || a.id - b.id);
  } catch (err) {
    if (err && err.status === 401) throw err;
    ctx.stations = ctx.stations || [];
  }
  return ctx.stations;
}

export function createSettings(ctx) {
  const { api, t } = ctx;
  const languagesForm = document.getElementById("languages-form");
  const checks = document.getElementById("language-checks");
  const working = document.getElementById("working-language");
  const languagesError = document.getElementById("languages-error");
  const stationList = document.getElementById("station-list");
  const stationForm = document.getElementById("station-form");

  function renderLanguages() {
    const current = ctx.store.languages;
    checks.replaceChildren(...MENU_LANGUAGES.map((code) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "lang", value: code, checked: current.includes(code) }),
      h("span", {}, t(`lang.${code}`)))));
    fillWorking(current[0]);
  }

  function checkedLanguages() {
    return [...checks.querySelectorAll("input[name=lang]:checked")].map((input) => input.value);
  }

  function fillWorking(preferred) {
    const chosen = checkedLanguages();
    working.replaceChildren(...chosen.map((code) => h("option", { value: code }, t(`lang.${code}`))));
    working.disabled = chosen.length === 0;
    if (chosen.includes(preferred)) working.value = preferred;
  }

  checks.addEventListener("change", () => fillWorking(working.value));

  languagesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    languagesError.hidden = true;
    const chosen = checkedLanguages();
    if (!chosen.length) {
      languagesError.textContent = t("settings.languages");
      languagesError.hidden = false;
      return;
    }
    const first = chosen.includes(working.value) ? working.value : chosen[0];
    const languages = [first, ...chosen.filter((code) => code !== first)];
    try {
      ctx.store = { ...ctx.store, ...(await api.patch("/admin/store", { languages })) };
      toast(t("saved"));
      renderLanguages();
    } catch (err) {
      languagesError.textContent = err.message || t("error.generic");
      languagesError.hidden = false;
    }
  });

  function renderStations() {
    if (!ctx.stations.length) {
      stationList.replaceChildren(h("li", { class: "empty" }, t("settings.noStations")));
      return;
    }
    stationList.replaceChildren(...ctx.stations.map((station) => {
      const input = h("input", { value: station.name, maxlength: 50, required: true,
        "aria-label": `${t("settings.stationName")} ${station.name}` });
      return h("li", { class: "station-row" },
        h("form", { class: "station-form", onsubmit: (event) => renameStation(event, station, input) },
          input,
          h("button", { type: "submit", class: "btn btn-sm" }, t("save"), hidden(` ${station.name}`)),
          h("button", { type: "button", class: "btn btn-sm btn-quiet-danger", onclick: () => deleteStation(station) },
            t("delete"), hidden(` ${station.name}`))));
    }));
  }

  async function renameStation(event, station, input) {
    event.preventDefault();
    const name = input.value.trim();
    if (!name || name === station.name) return;
    try {
      await api.patch(`/admin/stations/${station.id}`, { name });
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await loadStations(ctx);
    renderStations();
  }

  async function deleteStation(station) {
    if (!(await confirmDialog(t("confirm.deleteStation", { name: station.name })))) return;
    try {
      await api.del(`/admin/stations/${station.id}`);
      toast(t("saved"));
    } catch (err) {
      ctx.onError(err);
    }
    await loadStations(ctx);
    renderStations();
  }

  stationForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = stationForm.elements.name.value.trim();
    if (!name) {
      stationForm.reportValidity();
      return;
    }
    const sort = ctx.stations.length ? Math.max(...ctx.stations.map((s) => s.sort_order)) + 10 : 10;
    try {
      await api.post("/admin/stations", { name, sort_order: sort });
      stationForm.reset();
      toast(t("saved"));
      await loadStations(ctx);
      renderStations();
      stationForm.elements.name.focus();
    } catch (err) {
      ctx.onError(err);
    }
  });

  return {
    async show() {
      try {
        await Promise.all([loadStore(ctx), loadStations(ctx)]);
      } catch (err) {
        ctx.onError(err);
        return;
      }
      renderLanguages();
      renderStations();
    },
  };
}
