// A Server-Sent Events reader over fetch: EventSource cannot send an Authorization header, so the
// stream is read by hand. It resumes with the Last-Event-ID of the last event received (so nothing is
// lost or repeated across a reconnect), reconnects with backoff (0.5 s doubling to 5 s), and reports its
// state ("connecting" | "live" | "reconnecting") so the page can say when it may be stale.

const MIN_DELAY = 500;
const MAX_DELAY = 5000;

export function openStream({ path, getToken = () => null, onEvent, onState = () => {}, onUnauthorized = async () => false,
  base = "/api/v1" }) {
  let closed = false;
  let lastId = null;
  let delay = MIN_DELAY;
  let controller = null;
  let timer = null;
  let state = null;

  function setState(next) {
    if (next !== state) {
      state = next;
      onState(next);
    }
  }

  function dispatch(frame) {
    if (frame.id !== null) lastId = frame.id;
    if (frame.data === null && frame.event === "message") return;
    let data = frame.data;
    try {
      data = frame.data === null ? null : JSON.parse(frame.data);
    } catch {
      /* not JSON: hand over the text */
    }
    try {
      onEvent(frame.event, data, frame.id);
    } catch (error) {
      console.warn("stream handler failed", error);
    }
  }

  async function readOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await fetch(base + path, { headers, signal: controller.signal, cache: "no-store",
      credentials: "same-origin" });
    if (response.status === 401) {
      await response.body?.cancel();
      const renewed = await onUnauthorized();
      return renewed ? "retry-now" : "wait";
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      return "wait";
    }
    setState("live");
    delay = MIN_DELAY;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame = { id: null, event: "message", data: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Lines end at CR, LF or CRLF only; a CR at the very end may be half of a CRLF still on its way.
      let match;
      const lineBreak = /\r\n|\r|\n/g;
      let start = 0;
      while ((match = lineBreak.exec(buffer)) !== null) {
        if (match[0] === "\r" && match.index === buffer.length - 1) break;
        const line = buffer.slice(start, match.index);
        start = lineBreak.lastIndex;
        if (line === "") {
          if (frame.data !== null || frame.id !== null) dispatch(frame);
          frame = { id: null, event: "message", data: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") frame.data = frame.data === null ? text : `${frame.data}\n${text}`;
        else if (field === "event") frame.event = text || "message";
        else if (field === "id" && !text.includes("\0")) frame.id = text;
      }
      buffer = buffer.slice(start);
    }
    return "wait";
  }

  async function loop() {
    while (!closed) {
      setState(state === null ? "connecting" : "reconnecting");
      let outcome = "wait";
      try {
        outcome = await readOnce();
      } catch (error) {
        if (closed) return;
      }
      if (closed) return;
      setState("reconnecting");
      if (outcome === "retry-now") continue;
      await new Promise((resolve) => {
        timer = setTimeout(resolve, delay);
      });
      delay = Math.min(delay * 2, MAX_DELAY);
    }
  }

  loop();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
    },
    get lastEventId() {
      return lastId;
    },
  };
}
