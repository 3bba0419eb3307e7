// One fetch wrapper for every call of the pages: bearer token, JSON in and out, problem+json turned
// into an ApiError whose message is the problem's `detail`, one re-login and retry on 401, and an
// Idempotency-Key header when the caller gives one (the caller keeps it until its order succeeds).

export class ApiError extends Error {
  constructor(message, { status = 0, problem = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.detail = message;
    this.retryAfter = retryAfter;
  }
}

const NETWORK_MESSAGE = {
  ko: "서버에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
  en: "The server cannot be reached. Please try again in a moment.",
  ja: "サーバーに接続できません。しばらくしてからもう一度お試しください。",
  zh: "无法连接服务器，请稍后再试。",
};

function networkMessage() {
  return NETWORK_MESSAGE[(document.documentElement.lang || "ko").slice(0, 2)] || NETWORK_MESSAGE.ko;
}

async function toError(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = null;
  }
  const detail = (problem && (problem.detail || problem.title)) || `${response.status} ${response.statusText}`;
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(detail, {
    status: response.status,
    problem,
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null,
  });
}

export function createApi({ base = "/api/v1", getToken = () => null, onUnauthorized = async () => false } = {}) {
  async function send(method, path, { body, query, headers = {}, idempotencyKey, signal, etag } = {}) {
    let url = base + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const all = { Accept: "application/json, application/problem+json", ...headers };
    const token = getToken();
    if (token) all.Authorization = `Bearer ${token}`;
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (idempotencyKey) all["Idempotency-Key"] = idempotencyKey;
    if (etag) all["If-None-Match"] = etag;
    try {
      return await fetch(url, {
        method,
        headers: all,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(networkMessage(), { status: 0 });
    }
  }

  // `opts.raw`: resolve with the Response itself (for ETag / 304 handling) instead of its JSON.
  async function request(method, path, opts = {}) {
    let response = await send(method, path, opts);
    if (response.status === 401 && !opts.noRelogin) {
      if (await onUnauthorized()) response = await send(method, path, opts);
    }
    if (opts.raw && (response.ok || response.status === 304)) return response;
    if (!response.ok) throw await toError(response);
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : null;
  }

  return {
    request,
    get: (path, opts) => request("GET", path, opts),
    post: (path, body, opts = {}) => request("POST", path, { ...opts, body }),
    patch: (path, body, opts = {}) => request("PATCH", path, { ...opts, body }),
    put: (path, body, opts = {}) => request("PUT", path, { ...opts, body }),
    del: (path, opts) => request("DELETE", path, opts),
  };
}

// A fresh Idempotency-Key (crypto.randomUUID needs a secure context; plain http on a LAN is not one).
export function newIdempotencyKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
