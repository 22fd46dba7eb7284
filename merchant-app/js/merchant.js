// The store's app: device enrollment, dynamic payment requests with a live "paid" screen
// (server-sent events, with polling as a safety net), shopper-code payments, refunds,
// today's takings, recent activity and the store poster.

import { api, imageUrl, listen, moneyPost, tokens } from "./api.js";
import { kindLabel, money, t, when, yen } from "./i18n.js";
import { errorText, say, shell } from "./shell.js";
import { attachScanner } from "./scan.js";

const ROLE = "device";
const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);

const state = { token: null, merchantId: null, request: null, poll: null, events: null };

shell();
start();

async function start() {
  state.token = tokens.get(ROLE);
  if (!state.token) return showEnroll();
  try {
    const me = await api("GET", "/me", { token: state.token });
    if (!me.merchant_id) throw new Error("not a store token");
    state.merchantId = me.merchant_id;
  } catch (e) {
    if (e.status === 401) { tokens.clear(ROLE); return showEnroll(); }
    return say($("msg"), errorText(e));
  }
  $("enroll").hidden = true;
  $("store").hidden = false;
  await Promise.all([loadStore(), loadPrograms(), refreshActivity()]);
  listenForPayments();
}

function showEnroll() {
  $("store").hidden = true;
  $("enroll").hidden = false;
}

$("enroll-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  try {
    const r = await api("POST", "/devices/enroll", { body: { code: $("enroll-code").value.trim() } });
    tokens.set(ROLE, r.token);
    await start();
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

async function loadStore() {
  const m = await api("GET", `/merchants/${state.merchantId}`, { token: state.token });
  $("store-name").textContent = m.name;
}

async function loadPrograms() {
  const programs = await api("GET", "/programs", { token: state.token });
  const select = $("program");
  select.replaceChildren(...programs.filter((p) => p.kind === "currency").map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name;
    return o;
  }));
}

// ---- dynamic payment request -------------------------------------------------------------

$("amount-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  const amount = Number($("amount").value);
  try {
    const r = await api("POST", `/merchants/${state.merchantId}/payment-requests`, {
      token: state.token, body: { program_id: $("program").value, amount },
    });
    state.request = r;
    $("request-amount").textContent = yen(r.amount);
    $("request-expiry").textContent = when(r.expires_at);
    $("request-payload").textContent = r.payload;
    $("request-qr").src = await imageUrl(
      `/merchants/${state.merchantId}/payment-requests/${r.id}/image?format=svg`, state.token);
    $("request-qr").alt = `QR ${yen(r.amount)}`;
    $("amount-form").hidden = true;
    $("request").dataset.requestId = r.id;
    $("request").hidden = false;
    $("paid").hidden = true;
    startPolling(r.id);
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

function showPaid(amount) {
  stopPolling();
  state.request = null;
  $("request").hidden = true;
  $("amount-form").hidden = true;
  $("paid-amount").textContent = yen(amount);
  $("paid").hidden = false;
  refreshActivity();
}

function resetSale() {
  stopPolling();
  state.request = null;
  $("paid").hidden = true;
  $("request").hidden = true;
  $("amount-form").hidden = false;
  $("amount").value = "";
  $("amount").focus();
}

$("next-sale").addEventListener("click", resetSale);
$("request-cancel").addEventListener("click", resetSale);

/** The store's live payments: the request on screen turns to "paid" the moment it posts. */
function listenForPayments() {
  state.events?.abort();
  state.events = new AbortController();
  listen(`/merchants/${state.merchantId}/events`, state.token, (type, ev) => {
    if (type === "payment" && state.request && ev.payment_request_id === state.request.id) {
      showPaid(ev.amount);
    } else if (type === "payment" || type === "refund") {
      refreshActivity();
    }
  }, {
    signal: state.events.signal,
    onDrop: () => say($("msg"), t("stream_lost"), "err"),
    onOpen: () => { if ($("msg").textContent === t("stream_lost")) say($("msg"), ""); },
  }).catch((e) => say($("msg"), errorText(e)));
}

/** A safety net for a dropped event stream: ask the server about the request now and then. */
function startPolling(id) {
  stopPolling();
  state.poll = setInterval(async () => {
    try {
      const r = await api("GET", `/merchants/${state.merchantId}/payment-requests/${id}`, { token: state.token });
      if (r.paid_transaction_id && state.request?.id === id) showPaid(r.amount);
    } catch { /* the next tick tries again */ }
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.poll);
  state.poll = null;
}

// ---- shopper-presented code --------------------------------------------------------------

attachScanner({
  button: $("shopper-code-scan"), video: $("shopper-code-video"), input: $("shopper-code-input"),
  status: $("scan-status"), onCode: () => $("shopper-code-amount").focus(),
});

$("shopper-code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  try {
    const r = await moneyPost(`/merchants/${state.merchantId}/shopper-code-payments`, state.token, {
      code: $("shopper-code-input").value.trim(), amount: Number($("shopper-code-amount").value),
    });
    $("shopper-code-input").value = "";
    $("shopper-code-amount").value = "";
    showPaid(r.amount);
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

// ---- takings, history, refunds -----------------------------------------------------------

async function refreshActivity() {
  let a;
  try {
    a = await api("GET", `/merchants/${state.merchantId}/activity`, { token: state.token });
  } catch (e) {
    return say($("msg"), errorText(e));
  }
  const yenToday = a.today.filter((x) => x.asset !== "points").reduce((s, x) => s + x.amount, 0);
  $("today-total").textContent = yen(yenToday);
  const rows = groupByTransaction(a.entries);
  const body = $("history-rows");
  if (!rows.length) {
    body.innerHTML = `<tr><td colspan="4" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  body.replaceChildren(...rows.map(historyRow));
}

/** One line per transaction and unit (yen or points), amounts summed across coin/premium. */
function groupByTransaction(entries) {
  const out = new Map();
  for (const e of entries) {
    const unit = e.asset === "points" ? "points" : "yen";
    const key = `${e.transaction_id}/${unit}`;
    const row = out.get(key) ?? { ...e, asset: unit === "points" ? "points" : "coin", amount: 0 };
    row.amount += e.amount;
    out.set(key, row);
  }
  return [...out.values()];
}

function historyRow(r) {
  const tr = document.createElement("tr");
  tr.innerHTML = `<td>${when(r.created_at)}</td><td>${kindLabel(r.kind)}</td><td class="num">${money(r.asset, r.amount)}</td><td></td>`;
  if (r.kind === "payment" && r.asset !== "points" && r.amount > 0) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = t("refund");
    b.addEventListener("click", () => refund(r, b));
    tr.lastElementChild.append(b);
  }
  return tr;
}

/** First click asks, second click refunds the whole payment. */
async function refund(row, button) {
  if (!button.dataset.armed) {
    button.dataset.armed = "1";
    button.textContent = t("refund_confirm");
    return;
  }
  button.disabled = true;
  try {
    await moneyPost(`/merchants/${state.merchantId}/refunds`, state.token, {
      transaction_id: row.transaction_id, amount: row.amount, reason: t("refund_default_reason"),
    });
    say($("msg"), t("refund_done"), "ok");
    refreshActivity();
  } catch (e) {
    button.disabled = false;
    say($("msg"), errorText(e));
  }
}

// ---- poster ------------------------------------------------------------------------------

$("poster-show").addEventListener("click", async () => {
  try {
    const codes = await api("GET", `/merchants/${state.merchantId}/codes`, { token: state.token });
    const code = codes.find((c) => !c.revoked_at && c.program_id === $("program").value)
      ?? codes.find((c) => !c.revoked_at);
    if (!code) { $("poster-none").hidden = false; return; }
    const url = await imageUrl(`/merchants/${state.merchantId}/codes/${code.id}/image?format=poster`, state.token);
    $("poster-img").src = url;
    $("poster-img").alt = t("poster_title");
    $("poster-img").hidden = false;
    $("poster-print").hidden = false;
    $("poster-print").onclick = () => window.open(url, "_blank")?.print?.();
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

$("sign-out").addEventListener("click", () => {
  state.events?.abort();
  tokens.clear(ROLE);
  location.reload();
});

document.addEventListener("langchange", () => { if (state.merchantId) refreshActivity(); });
