// Language and formatting shared by the pages. Korean by default; `?lang=en` (or ko, ja, zh) switches
// and is remembered on the device. A page without a language's words shows Korean.

const LANG_KEY = "tableorder.lang";
const SUPPORTED = ["ko", "en", "ja", "zh"];
const LOCALES = { ko: "ko-KR", en: "en-GB", ja: "ja-JP", zh: "zh-CN" };

export function currentLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && SUPPORTED.includes(asked)) {
    try {
      localStorage.setItem(LANG_KEY, asked);
    } catch {
      /* storage may be off: the URL still decides */
    }
    return asked;
  }
  try {
    const kept = localStorage.getItem(LANG_KEY);
    if (kept && SUPPORTED.includes(kept)) return kept;
  } catch {
    /* ignore */
  }
  return "ko";
}

// Switch language: remembered, and the URL says it too, so a reload keeps it.
export function setLang(lang) {
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* ignore */
  }
  location.replace(url);
}

// Remember a language switched in place (no reload): the device keeps it and the URL says it too.
export function rememberLang(lang) {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* ignore */
  }
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  history.replaceState(history.state, "", url);
}

// dicts: { ko: {key: text}, en: {...} }; a text may hold {name} placeholders or be a function(params).
export function createI18n(dicts, lang = currentLang()) {
  const used = dicts[lang] ? lang : "ko";
  const table = dicts[used] || {};
  const fallback = dicts.ko || {};
  document.documentElement.lang = used;
  const t = (key, params = {}) => {
    const entry = key in table ? table[key] : fallback[key];
    if (entry === undefined) return key;
    if (typeof entry === "function") return entry(params);
    return entry.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
  t.lang = used;
  return t;
}

const WON = new Intl.NumberFormat("ko-KR");

export function formatWon(n) {
  return `${WON.format(Number(n) || 0)}원`;
}

export function formatTime(iso, lang = currentLang()) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(LOCALES[lang] || LOCALES.ko, { hour: "2-digit", minute: "2-digit" })
    .format(new Date(iso));
}
