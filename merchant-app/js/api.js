// The API client: JSON requests signed in by the browser's session cookie (with its CSRF token
// on unsafe requests) or, for integrations and tests, a bearer token; named errors,
// Idempotency-Key for money-moving POSTs, and the store's server-sent events read with fetch()
// (EventSource cannot send an Authorization header, and tokens never go into URLs).

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message || code);
    this.status = status;
    this.code = code;
    /** Seconds the server asked to wait (Retry-After), 0 if it did not say. */
    this.retryAfter = retryAfter;
  }
}

/**
 * Whether a failed money request must keep its Idempotency-Key for the next press: no answer
 * (network), 408, 503 (`unavailable`, `overloaded`, `outcome_unknown`: it may have been done
 * and still be committing) or 504. Sending the same action again with the same key answers
 * what happened, and never pays twice; a new key could.
 */
export function keepKey(e) {
  return e.status === 0 || e.status === 408 || e.status === 503 || e.status === 504;
}

/** Tokens kept on this device, one per role ("device", "shopper", "staff"). */
export const tokens = {
  get: (role) => localStorage.getItem(`machipay.${role}`),
  set: (role, value) => localStorage.setItem(`machipay.${role}`, value),
  clear: (role) => localStorage.removeItem(`machipay.${role}`),
};

/** The session's CSRF token, from the cookie the server set at sign-in (readable on purpose). */
export function csrfToken() {
  const pair = document.cookie.split("; ").find((c) => c.startsWith("machipay_csrf="));
  return pair ? pair.slice("machipay_csrf=".length) : "";
}

/**
 * Calls the API; resolves to the parsed JSON (or text) body, rejects with ApiError. Without a
 * token the session cookie signs the request in; an unsafe one then echoes the CSRF token.
 */
export async function api(method, path, { token, body, idempotencyKey, raw } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (!["GET", "HEAD"].includes(method) && csrfToken()) headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", e.message);
  }
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  if (!resp.ok) {
    const err = data && data.error ? data.error : { code: `http_${resp.status}`, message: text };
    const retryAfter = Number(resp.headers.get("Retry-After")) || 0;
    throw new ApiError(resp.status, err.code, err.message, retryAfter);
  }
  return data;
}

/** Ends the browser's session (its cookies are cleared by the answer). */
export async function signOut() {
  try {
    await api("POST", "/sign-out");
  } catch {
    /* already signed out: nothing to end */
  }
}

/**
 * A money-moving POST. The same key is reused on every retry of the same confirmation,
 * so a lost answer never pays twice; an answer that leaves the outcome open (`keepKey`) is
 * retried a few times with it, waiting as Retry-After asks. The caller keeps the key for the
 * next press when the last try still failed that way.
 */
export async function moneyPost(path, token, body, key = crypto.randomUUID()) {
  const RETRIES = 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await api("POST", path, { token, body, idempotencyKey: key });
    } catch (e) {
      if (!keepKey(e) || attempt >= RETRIES) throw e;
      const wait = Math.max(500 * (attempt + 1), 1000 * Math.min(e.retryAfter, 10));
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Reads a server-sent event stream with the bearer token (or the session cookie) and calls onEvent(type, data) for
 * each event. Reconnects after a drop (calling onDrop) until `signal` aborts.
 */
export async function listen(path, token, onEvent, { signal, onDrop, onOpen } = {}) {
  const RECONNECT_MS = 2000;
  while (!signal?.aborted) {
    try {
      const resp = await fetch(`/api/v1${path}`, {
        // Without a token the session cookie signs the stream in (a GET needs no CSRF token).
        headers: token ? { Authorization: `Bearer ${token}`, Accept: "text/event-stream" } : { Accept: "text/event-stream" },
        signal,
      });
      if (!resp.ok) throw new ApiError(resp.status, `http_${resp.status}`);
      onOpen?.();
      await readEvents(resp.body, onEvent);
    } catch (e) {
      if (signal?.aborted) return;
      if (e.status === 401 || e.status === 403 || e.status === 404) throw e;
    }
    if (signal?.aborted) return;
    onDrop?.();
    await new Promise((r) => setTimeout(r, RECONNECT_MS));
  }
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) {
        let parsed = data.join("\n");
        try { parsed = JSON.parse(parsed); } catch { /* plain text event */ }
        onEvent(type, parsed);
      }
    }
  }
}

/** Fetches an image with the token and returns an object URL for an <img>. */
export async function imageUrl(path, token) {
  const resp = await api("GET", path, { token, raw: true });
  return URL.createObjectURL(await resp.blob());
}

/**
 * Downloads a file with the token (a plain link could not send the Authorization header),
 * named as the server's Content-Disposition says, or `fallback`.
 */
export async function download(path, token, fallback) {
  const resp = await api("GET", path, { token, raw: true });
  const name = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") ?? "")?.[1] ?? fallback;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await resp.blob());
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
