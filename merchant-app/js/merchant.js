// The store's till: signed in by the device enrollment (token kept on the device) or by the
// owner's session cookie. A dynamic payment request shown full screen to the shopper (amount,
// store, countdown; on expiry a new code is offered, never "waiting"), turning to 支払い完了
// with a chime the moment it posts (server-sent events, polling as a safety net);
// shopper-code payments; partial refunds with a reason from the history; points by card;
// settlement statements; today's takings; the store poster. Each refusal shows next to the
// button that was pressed (error-messages.js words, in the page's language, announced).

import { ApiError, api, download, imageUrl, keepKey, listen, moneyPost, signOut, tokens } from "./api.js";
import { lang, pts, setLang, t, yen } from "./i18n.js";
import { errorText, shell } from "./shell.js";
import { attachScanner } from "./scan.js";
import {
  announce, chime, clock, dateLabel, dateTimeLabel, dayLabel, jstDay, lineAmount, lineWords,
  maskAccount, timeLabel, unlockSound,
} from "./format.js";

const ROLE = "device";
const POLL_MS = 3000;
const TICK_MS = 250;
const $ = (id) => document.getElementById(id);

const state = {
  token: null, merchantId: null, storeName: "", programs: [], request: null, poll: null,
  tick: null, events: null, pending: null, statements: null, openStatement: null,
  capOk: null, refundOpen: null, entries: [],
};

shell();
start();

/** A message next to the control it is about (class err or ok), announced; "" hides it. */
function tell(el, text, kind = "err") {
  el.hidden = !text;
  el.className = `notice ${kind}`;
  el.textContent = text || "";
  if (text) {
    el.setAttribute("role", kind === "err" ? "alert" : "status");
    el.scrollIntoView?.({ block: "nearest" });
  }
}

async function start() {
  state.token = tokens.get(ROLE);
  let me;
  try {
    // The device's token if it has one; otherwise the owner's session cookie.
    me = await api("GET", "/me", { token: state.token });
    if (!me.merchant_id) throw new ApiError(403, "not_store_token", "not a store token");
  } catch (e) {
    if (state.token && e.status === 401) tokens.clear(ROLE);
    if (e.status === 401 || !state.token) return showEnroll(e.status === 401 || e.status === 0 ? "" : errorText(e));
    return tell($("msg"), errorText(e));
  }
  state.merchantId = me.merchant_id;
  state.who = me.kind === "device" ? "till_as_device" : "till_as_owner";
  $("till-who").textContent = t(state.who);
  $("enroll").hidden = true;
  $("store").hidden = false;
  await Promise.all([loadStore(), loadPrograms()]);
  await Promise.all([refreshActivity(), loadStatements()]);
  listenForPayments();
}

function showEnroll(text = "") {
  $("store").hidden = true;
  $("enroll").hidden = false;
  tell($("enroll-msg"), text);
}

$("enroll-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  tell($("enroll-msg"), "");
  const code = $("enroll-code").value.trim();
  if (!code) return tell($("enroll-msg"), t("err_enroll_code"));
  $("enroll-submit").disabled = true;
  try {
    const r = await api("POST", "/devices/enroll", { body: { code } });
    tokens.set(ROLE, r.token);
    await start();
  } catch (e) {
    tell($("enroll-msg"), errorText(e));
  } finally {
    $("enroll-submit").disabled = false;
  }
});

async function loadStore() {
  const m = await api("GET", `/merchants/${state.merchantId}`, { token: state.token });
  state.storeName = m.name;
  $("store-name").textContent = m.name;
}

async function loadPrograms() {
  state.programs = await api("GET", "/programs", { token: state.token });
  fillPrograms($("program"), state.programs.filter((p) => p.kind === "currency"));
  fillPrograms($("points-program"), state.programs.filter((p) => p.kind === "points"));
  $("points").hidden = !$("points-program").options.length;
  describeCycle();
}

function fillPrograms(select, programs) {
  select.replaceChildren(...programs.map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name;
    return o;
  }));
}

const programOf = (id) => state.programs.find((p) => p.id === id);
const saleProgram = () => programOf($("program").value);

// ---- dynamic payment request -------------------------------------------------------------

$("amount-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  tell($("amount-msg"), "");
  const amount = Number($("amount").value);
  if (!Number.isInteger(amount) || amount < 1) return tell($("amount-msg"), t("err_amount"));
  // Above what any shopper may hold, nobody could pay it: most likely a slip of the finger.
  const cap = saleProgram()?.settings?.holding_cap_yen;
  if (cap && amount > cap && state.capOk !== amount) {
    $("cap-text").textContent = t("cap_question", { amount: yen(amount), cap: yen(cap) });
    $("cap-confirm").hidden = false;
    $("amount-submit").hidden = true;
    $("cap-yes").focus();
    return;
  }
  unlockSound();
  showRequest(amount, $("amount-msg"));
});

$("cap-yes").addEventListener("click", () => {
  state.capOk = Number($("amount").value);
  closeCap();
  $("amount-form").requestSubmit();
});
$("cap-no").addEventListener("click", () => {
  closeCap();
  $("amount").select();
  $("amount").focus();
});
$("amount").addEventListener("input", closeCap);

function closeCap() {
  $("cap-confirm").hidden = true;
  $("amount-submit").hidden = false;
}

/** Asks the server for a request of `amount` and shows it full screen; refusals go to `msgEl`. */
async function showRequest(amount, msgEl) {
  const button = msgEl === $("amount-msg") ? $("amount-submit") : $("request-renew");
  button.disabled = true;
  try {
    const r = await api("POST", `/merchants/${state.merchantId}/payment-requests`, {
      token: state.token, body: { program_id: $("program").value, amount },
    });
    state.request = r;
    $("request-store").textContent = state.storeName;
    $("request-amount").textContent = yen(r.amount);
    $("request-payload").textContent = r.payload;
    $("request-qr").src = await imageUrl(
      `/merchants/${state.merchantId}/payment-requests/${r.id}/image?format=svg`, state.token);
    $("request-qr").alt = t("qr_alt", { amount: yen(r.amount), store: state.storeName });
    $("request").dataset.requestId = r.id;
    setExpired(false);
    tell($("request-msg"), "");
    openScreen($("request"));
    $("paid").hidden = true;
    startPolling(r.id);
    startCountdown(r);
    announce(t("scan_to_pay") + " " + yen(r.amount));
  } catch (e) {
    tell(msgEl, errorText(e));
  } finally {
    button.disabled = false;
  }
}

function setExpired(expired) {
  $("request-qr").hidden = expired;
  $("request-text").hidden = expired;
  $("request-countdown").hidden = expired;
  $("request-expired").hidden = !expired;
  $("request-title").textContent = t(expired ? "code_expired_title" : "scan_to_pay");
}

/** The time left on screen; at zero, one last look at the server, then a new code offered. */
function startCountdown(r) {
  clearInterval(state.tick);
  const end = new Date(r.expires_at).getTime();
  const show = () => {
    const left = (end - Date.now()) / 1000;
    $("request-left").textContent = clock(left);
    if (left > 0 || state.request?.id !== r.id) return;
    clearInterval(state.tick);
    expire(r);
  };
  show();
  state.tick = setInterval(show, TICK_MS);
}

async function expire(r) {
  stopPolling();
  try {
    const now = await api("GET", `/merchants/${state.merchantId}/payment-requests/${r.id}`, { token: state.token });
    if (now.paid_transaction_id) return showPaid(now.amount, new Date().toISOString());
  } catch { /* the code is expired whatever the answer: offer a new one */ }
  if (state.request?.id !== r.id) return;
  setExpired(true);
  announce(t("code_expired_till"));
  $("request-renew").focus();
}

$("request-renew").addEventListener("click", () => {
  unlockSound();
  if (state.request) showRequest(state.request.amount, $("request-msg"));
});

function openScreen(el) {
  el.hidden = false;
  document.body.classList.add("has-fullscreen");
}

function closeScreens() {
  $("request").hidden = true;
  $("paid").hidden = true;
  document.body.classList.remove("has-fullscreen");
}

function showPaid(amount, at) {
  stopPolling();
  clearInterval(state.tick);
  state.request = null;
  $("request").hidden = true;
  $("paid-amount").textContent = yen(amount);
  $("paid-when").textContent = `${state.storeName} · ${timeLabel(at ?? new Date().toISOString(), true)}`;
  openScreen($("paid"));
  chime();
  announce(`${t("paid")} ${yen(amount)}`);
  $("next-sale").focus();
  refreshActivity();
}

function resetSale() {
  stopPolling();
  clearInterval(state.tick);
  state.request = null;
  state.capOk = null;
  closeScreens();
  $("amount").value = "";
  $("amount").focus();
}

$("next-sale").addEventListener("click", resetSale);
// The customer-facing screens carry their own language switch (the header is underneath).
document.querySelectorAll(".fs-lang").forEach((b) => b.addEventListener("click", () => setLang(lang() === "ja" ? "en" : "ja")));
$("request-cancel").addEventListener("click", resetSale);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !$("request").hidden) resetSale();
});

/** The store's live payments: the request on screen turns to "paid" the moment it posts. */
function listenForPayments() {
  state.events?.abort();
  state.events = new AbortController();
  listen(`/merchants/${state.merchantId}/events`, state.token, (type, ev) => {
    if (type === "payment" && state.request && ev.payment_request_id === state.request.id) {
      showPaid(ev.amount, ev.created_at);
    } else if (type === "payment" || type === "refund") {
      refreshActivity();
    }
  }, {
    signal: state.events.signal,
    onDrop: () => tell($("msg"), t("stream_lost")),
    onOpen: () => { if ($("msg").textContent === t("stream_lost")) tell($("msg"), ""); },
  }).catch((e) => tell($("msg"), errorText(e)));
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
  tell($("shopper-code-msg"), "");
  const body = { code: $("shopper-code-input").value.trim(), amount: Number($("shopper-code-amount").value) };
  if (!body.code) return tell($("shopper-code-msg"), t("err_shopper_code"));
  if (!Number.isInteger(body.amount) || body.amount < 1) return tell($("shopper-code-msg"), t("err_amount"));
  unlockSound();
  $("shopper-code-submit").disabled = true;
  try {
    const r = await moneyPost(`/merchants/${state.merchantId}/shopper-code-payments`, state.token,
      body, actionKey("shopper-code-payments", body));
    state.pending = null;
    $("shopper-code-input").value = "";
    $("shopper-code-amount").value = "";
    showPaid(r.amount, r.created_at);
  } catch (e) {
    // An open outcome keeps the key: pressing again answers what happened, never pays twice.
    if (!keepKey(e)) state.pending = null;
    tell($("shopper-code-msg"), errorText(e));
  } finally {
    $("shopper-code-submit").disabled = false;
  }
});

// ---- takings, history, refunds -----------------------------------------------------------

async function refreshActivity() {
  let a;
  try {
    a = await api("GET", `/merchants/${state.merchantId}/activity`, { token: state.token });
  } catch (e) {
    return tell($("msg"), errorText(e));
  }
  const yenToday = a.today.filter((x) => x.asset !== "points").reduce((s, x) => s + x.amount, 0);
  $("today-total").textContent = yen(yenToday);
  state.entries = groupByTransaction(a.entries);
  renderHistory();
}

function renderHistory() {
  const days = $("history-rows");
  const rows = state.entries;
  const windows = [...new Set(state.programs.filter((p) => p.kind === "currency").map((p) => p.settings.refund_window_days))];
  $("refund-window-note").textContent = windows.length === 1 ? t("refund_window_note", { days: windows[0] }) : "";
  if (!rows.length) {
    days.innerHTML = `<tr><td colspan="2" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  const out = [];
  let day = null;
  for (const r of rows) {
    const d = jstDay(r.created_at);
    if (d !== day) {
      day = d;
      const tr = document.createElement("tr");
      tr.className = "day";
      tr.innerHTML = `<th scope="colgroup" colspan="2"></th>`;
      tr.firstChild.textContent = dayLabel(d);
      out.push(tr);
    }
    out.push(historyRow(r));
    if (state.refundOpen === r.transaction_id && refundLeft(r) > 0) out.push(refundPanel(r));
  }
  days.replaceChildren(...out);
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

/** What of a yen payment can still be refunded: what it paid less what came back already. */
function refundLeft(r) {
  if (r.kind !== "payment" || r.asset === "points" || r.amount <= 0) return 0;
  return Math.max(0, r.amount - (r.refunded_yen ?? 0));
}

/** The last instant a payment can be refunded (the program's window), or null if unknown. */
function refundUntil(r) {
  const days = programOf(r.program_id)?.settings?.refund_window_days;
  return days == null ? null : new Date(new Date(r.created_at).getTime() + days * 86_400_000);
}

function historyRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.tx = r.transaction_id;
  tr.dataset.kind = r.kind;
  // Two columns, the time above the words: at 200 % text a phone still has room for both.
  tr.innerHTML = `<td class="what"><span class="time"></span><span class="words"></span></td><td class="num"></td>`;
  tr.querySelector(".time").textContent = timeLabel(r.created_at);
  tr.querySelector(".words").textContent = lineWords(r, "store");
  tr.children[1].textContent = lineAmount(r, "store");
  const what = tr.children[0];
  const refunded = r.refunded_yen ?? 0;
  if (r.kind === "payment" && refunded > 0) {
    const badge = document.createElement("span");
    const all = refunded >= r.amount;
    badge.className = `badge ${all ? "done" : "part"}`;
    badge.textContent = all ? t("refunded_all") : t("refunded_part", { amount: yen(refunded) });
    what.append(" ", badge);
  }
  const left = refundLeft(r);
  const until = refundUntil(r);
  if (left > 0 && until && until > new Date()) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small refund";
    b.textContent = t("refund");
    b.setAttribute("aria-label", t("refund_label", { amount: yen(r.amount), time: dateTimeLabel(r.created_at) }));
    b.setAttribute("aria-expanded", String(state.refundOpen === r.transaction_id));
    b.addEventListener("click", () => {
      state.refundOpen = state.refundOpen === r.transaction_id ? null : r.transaction_id;
      renderHistory();
      if (state.refundOpen) $("refund-amount")?.focus();
    });
    what.append(document.createElement("br"), b);
  } else if (left > 0 && until) {
    const note = document.createElement("span");
    note.className = "muted small-text";
    note.textContent = t("refund_window_passed");
    what.append(document.createElement("br"), note);
  }
  return tr;
}

const REFUND_REASONS = ["reason_return", "reason_mistake", "reason_request", "reason_defect"];

/** The refund form under a payment's line: amount (at most what is left) and a reason. */
function refundPanel(r) {
  const left = refundLeft(r);
  const tr = document.createElement("tr");
  tr.className = "refund-panel";
  tr.innerHTML = `<td colspan="2"><form id="refund-form" novalidate>
    <p class="muted" id="refund-left"></p>
    <label for="refund-amount"></label>
    <input id="refund-amount" type="number" inputmode="numeric" min="1" step="1" required>
    <label for="refund-reason"></label>
    <select id="refund-reason"></select>
    <label for="refund-note"></label>
    <input id="refund-note" maxlength="150" autocomplete="off">
    <p id="refund-msg" class="notice err" aria-live="assertive" hidden></p>
    <button type="submit" id="refund-submit"></button>
    <button type="button" class="secondary" id="refund-cancel"></button>
  </form></td>`;
  const q = (sel) => tr.querySelector(sel);
  q("#refund-left").textContent = t("refund_left", { amount: yen(left), paid: yen(r.amount) });
  q("label[for=refund-amount]").textContent = t("refund_amount_label");
  q("#refund-amount").value = String(left);
  q("#refund-amount").max = String(left);
  q("label[for=refund-reason]").textContent = t("refund_reason");
  q("#refund-reason").replaceChildren(...REFUND_REASONS.map((k) => {
    const o = document.createElement("option");
    o.value = k;
    o.textContent = t(k);
    return o;
  }));
  q("label[for=refund-note]").textContent = t("refund_note_label");
  q("#refund-submit").textContent = t("refund_submit");
  q("#refund-cancel").textContent = t("refund_cancel");
  q("#refund-cancel").addEventListener("click", () => { state.refundOpen = null; renderHistory(); });
  q("#refund-form").addEventListener("submit", (ev) => { ev.preventDefault(); refund(r, tr); });
  return tr;
}

async function refund(r, panel) {
  const q = (sel) => panel.querySelector(sel);
  const msg = q("#refund-msg");
  tell(msg, "");
  const left = refundLeft(r);
  const amount = Number(q("#refund-amount").value);
  if (!Number.isInteger(amount) || amount < 1) return tell(msg, t("err_amount"));
  if (amount > left) return tell(msg, t("err_refund_more", { amount: yen(left) }));
  const note = q("#refund-note").value.trim();
  const reason = t(q("#refund-reason").value) + (note ? `: ${note}` : "");
  const body = { transaction_id: r.transaction_id, amount, reason: reason.slice(0, 200) };
  q("#refund-submit").disabled = true;
  try {
    await moneyPost(`/merchants/${state.merchantId}/refunds`, state.token, body, actionKey("refunds", body));
    state.pending = null;
    state.refundOpen = null;
    const done = t("refund_done_amount", { amount: yen(amount) });
    tell($("refund-done"), done, "ok");
    announce(done);
    await refreshActivity();
  } catch (e) {
    if (!keepKey(e)) state.pending = null;
    tell(msg, errorText(e));
    q("#refund-submit").disabled = false;
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
  tell($("points-error"), "");
  $("points-result").hidden = true;
  const number = cardNumber();
  if (!number) return tell($("points-error"), t("err_card_number"));
  const amount = Number($(amountField).value);
  if (!Number.isInteger(amount) || amount < 1) return tell($("points-error"), t("err_amount"));
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
    tell($("points-error"), pointsErrorText(e));
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
  "closing_date", "transfer_date", "status", "hold_reason", "transactions", "payments_yen",
  "refunds_yen", "points_received", "points_reimbursed_yen", "points_charged",
  "points_charged_yen", "fee_yen", "net_payable_yen", "bank_account", "created_at",
];

/** The program's closing days in words (締め日: 毎月10日・25日). */
function describeCycle() {
  const p = state.programs.find((x) => x.kind === "currency");
  if (!p) return;
  const s = p.settings;
  const days = s.closing_days ?? (s.payout_cycle === "next_business_day" ? [] : [10, 25]);
  const list = days.map((d) => (d === 31 ? t("month_end") : t("day_n", { n: d }))).join(t("list_sep"));
  $("settlement-cycle").textContent = days.length ? t("cycle_days", { days: list }) : t("cycle_daily");
}

async function loadStatements() {
  try {
    state.statements = await api("GET", `/merchants/${state.merchantId}/statements`, { token: state.token });
  } catch (e) {
    return tell($("settlement-msg"), errorText(e));
  }
  renderStatements();
}

function renderStatements() {
  const rows = state.statements ?? [];
  const body = $("statement-rows");
  $("statements-csv").hidden = !rows.length;
  if (!rows.length) {
    body.innerHTML = `<tr><td colspan="3" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  body.replaceChildren(...rows.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.statementId = s.id;
    tr.innerHTML = `<td><span class="d"></span><br><span class="muted small-text"></span></td><td></td><td class="num"><strong></strong><br></td>`;
    tr.querySelector(".d").textContent = dateLabel(s.closing_date) ;
    tr.querySelector(".small-text").textContent = statusLabel(s);
    tr.children[1].textContent = s.status === "payable" ? dateLabel(s.transfer_date) : "—";
    tr.querySelector("strong").textContent = yen(s.net_payable_yen);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small";
    b.textContent = t("open");
    b.setAttribute("aria-label", `${t("statement_detail")} ${dateLabel(s.closing_date)}`);
    b.addEventListener("click", () => openStatement(s));
    tr.children[2].append(b);
    return tr;
  }));
}

function statusLabel(s) {
  return t(`st_${s.status}`) + (s.hold_reason ? ` (${t("hold_" + s.hold_reason)})` : "");
}

function bankLabel(b) {
  if (!b) return t("no_bank_account");
  return `${b.bank_name_kana} ${b.branch_name_kana} ${t("acct_" + b.account_type)} ${maskAccount(b.account_number)}`;
}

function fieldText(f, v) {
  if (f === "status") return t(`st_${v}`);
  if (f === "hold_reason") return t("hold_" + v);
  if (f === "created_at") return dateTimeLabel(v);
  if (f === "closing_date" || f === "transfer_date") return dateLabel(v);
  if (f === "bank_account") return bankLabel(v);
  if (f === "fee_yen") return v ? `−${yen(v)}` : yen(0);
  if (f.endsWith("_yen")) return yen(v);
  if (f.startsWith("points_")) return pts(v);
  return String(v);
}

function openStatement(s) {
  state.openStatement = s;
  // A store that neither took nor gave points has no point lines to read.
  const noPoints = !s.points_received && !s.points_charged;
  const shown = STATEMENT_FIELDS
    .filter((f) => s[f] != null || f === "bank_account")
    .filter((f) => !(noPoints && f.startsWith("points_")));
  $("statement-fields").replaceChildren(...shown.map((f) => {
    const tr = document.createElement("tr");
    tr.dataset.field = f;
    if (f === "net_payable_yen") tr.className = "total";
    tr.innerHTML = `<th scope="row"></th><td class="num"></td>`;
    tr.children[0].textContent = t("s_" + f);
    tr.children[1].textContent = fieldText(f, s[f]);
    return tr;
  }));
  $("statement-detail").hidden = false;
  $("statement-detail").scrollIntoView({ block: "nearest" });
}

$("statement-close").addEventListener("click", () => {
  state.openStatement = null;
  $("statement-detail").hidden = true;
});

$("statements-csv").addEventListener("click", () => {
  tell($("settlement-msg"), "");
  download(`/merchants/${state.merchantId}/statements?format=csv`, state.token, "statements.csv")
    .catch((e) => tell($("settlement-msg"), errorText(e)));
});

// ---- poster ------------------------------------------------------------------------------

$("poster-show").addEventListener("click", async () => {
  tell($("poster-msg"), "");
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
    tell($("poster-msg"), errorText(e));
  }
});

$("sign-out").addEventListener("click", async () => {
  state.events?.abort();
  if (state.token) {
    tokens.clear(ROLE);
    return location.reload();
  }
  await signOut();
  location.href = "signin.html";
});

document.addEventListener("langchange", () => {
  if (!state.merchantId) return;
  $("till-who").textContent = t(state.who);
  renderHistory();
  renderStatements();
  describeCycle();
  if (state.openStatement) openStatement(state.openStatement);
  if (state.request) $("request-title").textContent = t($("request-expired").hidden ? "scan_to_pay" : "code_expired_title");
});
