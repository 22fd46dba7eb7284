// The store's app: device enrollment, dynamic payment requests with a live "paid" screen
// (server-sent events, with polling as a safety net), shopper-code payments, refunds,
// points by card number (award, take as payment), settlement statements with CSV,
// today's takings, recent activity and the store poster.

import { ApiError, api, download, imageUrl, keepKey, listen, moneyPost, tokens } from "./api.js";
import { kindLabel, money, pts, t, when, yen } from "./i18n.js";
import { errorText, say, shell } from "./shell.js";
import { attachScanner } from "./scan.js";

const ROLE = "device";
const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);

const state = {
  token: null, merchantId: null, request: null, poll: null, events: null,
  pending: null, statements: null, openStatement: null,
};

shell();
start();

async function start() {
  state.token = tokens.get(ROLE);
  if (!state.token) return showEnroll();
  try {
    const me = await api("GET", "/me", { token: state.token });
    if (!me.merchant_id) throw new ApiError(403, "not_store_token", "not a store token");
    state.merchantId = me.merchant_id;
  } catch (e) {
    if (e.status === 401) { tokens.clear(ROLE); return showEnroll(); }
    return say($("msg"), errorText(e));
  }
  $("enroll").hidden = true;
  $("store").hidden = false;
  await Promise.all([loadStore(), loadPrograms(), refreshActivity(), loadStatements()]);
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
  fillPrograms($("program"), programs.filter((p) => p.kind === "currency"));
  fillPrograms($("points-program"), programs.filter((p) => p.kind === "points"));
  $("points").hidden = !$("points-program").options.length;
}

function fillPrograms(select, programs) {
  select.replaceChildren(...programs.map((p) => {
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
  const body = { code: $("shopper-code-input").value.trim(), amount: Number($("shopper-code-amount").value) };
  try {
    const r = await moneyPost(`/merchants/${state.merchantId}/shopper-code-payments`, state.token,
      body, actionKey("shopper-code-payments", body));
    state.pending = null;
    $("shopper-code-input").value = "";
    $("shopper-code-amount").value = "";
    showPaid(r.amount);
  } catch (e) {
    // An open outcome keeps the key: pressing again answers what happened, never pays twice.
    if (!keepKey(e)) state.pending = null;
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
  const body = { transaction_id: row.transaction_id, amount: row.amount, reason: t("refund_default_reason") };
  try {
    await moneyPost(`/merchants/${state.merchantId}/refunds`, state.token, body, actionKey("refunds", body));
    state.pending = null;
    say($("msg"), t("refund_done"), "ok");
    refreshActivity();
  } catch (e) {
    if (!keepKey(e)) state.pending = null;
    button.disabled = false;
    say($("msg"), errorText(e));
  }
}

// ---- points: award and take points by card number --------------------------------------

attachScanner({
  button: $("card-scan"), video: $("card-video"), input: $("card-number"),
  status: $("card-scan-status"), onCode: () => $("earn-amount").focus(),
});

/** Error codes of the till that have their own plain-words message. */
const POINT_ERRORS = [
  "unknown_card", "card_blocked", "card_replaced", "insufficient_points",
  "merchant_not_participating", "point_stock_insufficient", "wrong_program_kind",
];

/** The 16 digits typed or scanned (spaces and hyphens dropped), or null if not a card number. */
function cardNumber() {
  const digits = $("card-number").value.replace(/[\s-]/g, "");
  if (!/^\d{16}$/.test(digits)) return null;
  let sum = 0;
  for (let i = 0; i < 16; i++) {
    let d = Number(digits[15 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0 ? digits : null;
}

/**
 * One Idempotency-Key per till action: a fresh key for a new action, the same key when the
 * very same action is sent again after an open outcome (`keepKey`: network, 408, 503 such as
 * `outcome_unknown`), so it never counts twice.
 */
function actionKey(what, body) {
  const sig = JSON.stringify([what, body]);
  if (state.pending?.sig !== sig) state.pending = { sig, key: crypto.randomUUID() };
  return state.pending.key;
}

async function pointsAction(what, amountField) {
  say($("points-error"), "");
  $("points-result").hidden = true;
  const number = cardNumber();
  if (!number) return say($("points-error"), t("err_card_number"));
  const amount = Number($(amountField).value);
  if (!Number.isInteger(amount) || amount < 1) return say($("points-error"), t("err_amount"));
  const body = { program_id: $("points-program").value, card_number: number, amount };
  const buttons = [$("earn-submit"), $("spend-submit")];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const r = await moneyPost(`/merchants/${state.merchantId}/${what}`, state.token, body, actionKey(what, body));
    state.pending = null;
    showPointsResult(what, r);
    $(amountField).value = "";
    refreshActivity();
  } catch (e) {
    if (!keepKey(e)) state.pending = null;
    say($("points-error"), pointsErrorText(e));
    $("points-error").scrollIntoView({ block: "nearest" });
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function pointsErrorText(e) {
  if (POINT_ERRORS.includes(e.code)) return t("err_" + e.code);
  if (e.code === "invalid_field") return t("err_card_or_amount");
  if (e.status === 0) return t("err_network");
  return errorText(e);
}

function showPointsResult(what, r) {
  const earned = what === "point-earns";
  $("points-result-title").textContent = t(earned ? "points_awarded" : "points_paid");
  $("points-result-points").textContent = (earned ? "+" : "−") + pts(r.points)
    + (r.yen_value != null ? ` (${yen(r.yen_value)})` : "");
  $("points-result-balance").textContent = pts(r.balance);
  $("points-result").hidden = false;
  $("points-result").scrollIntoView({ block: "nearest" });
}

$("earn-submit").addEventListener("click", () => pointsAction("point-earns", "earn-amount"));
$("spend-submit").addEventListener("click", () => pointsAction("point-spends", "spend-amount"));
$("points-form").addEventListener("submit", (ev) => ev.preventDefault());

// ---- settlement statements ---------------------------------------------------------------

const STATEMENT_FIELDS = [
  "status", "hold_reason", "transactions", "payments_yen", "refunds_yen", "points_received",
  "points_reimbursed_yen", "points_charged", "points_charged_yen", "fee_yen", "net_payable_yen",
  "created_at",
];

async function loadStatements() {
  try {
    state.statements = await api("GET", `/merchants/${state.merchantId}/statements`, { token: state.token });
  } catch (e) {
    return say($("msg"), errorText(e));
  }
  renderStatements();
}

function renderStatements() {
  const rows = state.statements ?? [];
  const body = $("statement-rows");
  $("statements-csv").hidden = !rows.length;
  if (!rows.length) {
    body.innerHTML = `<tr><td colspan="4" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  body.replaceChildren(...rows.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.statementId = s.id;
    tr.innerHTML = `<td></td><td></td><td class="num"></td><td></td>`;
    tr.children[0].textContent = when(s.created_at);
    tr.children[1].textContent = statusLabel(s);
    tr.children[2].textContent = yen(s.net_payable_yen);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = t("open");
    b.setAttribute("aria-label", `${t("statement_detail")} ${when(s.created_at)}`);
    b.addEventListener("click", () => openStatement(s));
    tr.children[3].append(b);
    return tr;
  }));
}

function statusLabel(s) {
  return t(`st_${s.status}`) + (s.hold_reason ? ` (${t("hold_" + s.hold_reason)})` : "");
}

function openStatement(s) {
  state.openStatement = s;
  $("statement-fields").replaceChildren(...STATEMENT_FIELDS.filter((f) => s[f] != null).map((f) => {
    const tr = document.createElement("tr");
    tr.dataset.field = f;
    tr.innerHTML = `<th scope="row"></th><td class="num"></td>`;
    tr.children[0].textContent = t("s_" + f);
    const v = s[f];
    tr.children[1].textContent = f === "status" ? t(`st_${v}`)
      : f === "hold_reason" ? t("hold_" + v)
        : f === "created_at" ? when(v)
          : f.endsWith("_yen") ? yen(v)
            : f.startsWith("points_") ? pts(v) : String(v);
    return tr;
  }));
  $("statement-detail").hidden = false;
  $("statement-detail").scrollIntoView({ block: "nearest" });
}

$("statement-close").addEventListener("click", () => {
  state.openStatement = null;
  $("statement-detail").hidden = true;
});

$("statements-csv").addEventListener("click", () =>
  download(`/merchants/${state.merchantId}/statements?format=csv`, state.token, "statements.csv")
    .catch((e) => say($("msg"), errorText(e))));

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

document.addEventListener("langchange", () => {
  if (!state.merchantId) return;
  refreshActivity();
  renderStatements();
  if (state.openStatement) openStatement(state.openStatement);
});
