// The shopper's wallet: the total and one large 支払う first; a store's code scanned with the
// camera (typed as a fallback), resolved by the server (payee, amount), then confirmed with
// one Idempotency-Key per confirmation and shown full screen with a live clock a clerk can
// check; an expiry warning; the shopper's own one-time code as a QR that renews itself;
// history by day with store names; balances per asset and point cards; large text.
// Signed in by the session cookie (signin.html); a pasted token is for integrations and tests.

import { ApiError, api, imageUrl, keepKey, moneyPost, signOut, tokens } from "./api.js";
import { money, t, yen } from "./i18n.js";
import { errorText, shell } from "./shell.js";
import { attachScanner } from "./scan.js";
import {
  announce, chime, clock, dateLabel, dayLabel, daysUntil, jstDay, lineAmount, lineWords,
  timeLabel, unlockSound,
} from "./format.js";
import { mountWaitingRoom } from "./waiting-room.js";

const ROLE = "shopper";
const LARGE_KEY = "machipay.large_text";
/** Warn when value expires within this many days. */
const EXPIRY_WARN_DAYS = 30;
/** The own code renews itself this many times (about ten minutes), then waits for a press. */
const MY_CODE_RENEWALS_MAX = 10;
const $ = (id) => document.getElementById(id);

const state = {
  token: null, shopperId: null, programs: [], resolved: null, payKey: null,
  myCode: null, myCodeTick: null, myCodeRenewals: 0, doneTick: null, data: null,
};

applyLargeText();
shell();
start();

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
  // A pasted token (integrations, tests) if there is one; otherwise the session cookie.
  state.token = tokens.get(ROLE);
  try {
    const me = await api("GET", "/me", { token: state.token });
    if (me.kind !== "shopper") throw new ApiError(403, "not_shopper_token", "not a shopper token");
    state.shopperId = me.id;
    state.programs = await api("GET", "/programs", { token: state.token });
  } catch (e) {
    const hadToken = Boolean(state.token);
    tokens.clear(ROLE);
    state.token = null;
    showSignin();
    // Not signed in yet is no error: the sign-in section says what to do.
    if (hadToken || e.status !== 401) tell(hadToken ? $("token-msg") : $("msg"), errorText(e));
    return;
  }
  $("signin").hidden = true;
  $("wallet").hidden = false;
  await refresh();
  // Premium sales with a waiting room (waiting-room.js): its failure leaves the wallet as is.
  mountWaitingRoom($("waiting-room"), state).catch((e) => tell($("msg"), errorText(e)));
}

function showSignin() {
  $("wallet").hidden = true;
  $("signin").hidden = false;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  tell($("token-msg"), "");
  tokens.set(ROLE, $("token").value.trim());
  await start();
});

async function refresh() {
  try {
    const [balances, activity, cards] = await Promise.all([
      api("GET", `/shoppers/${state.shopperId}/balances`, { token: state.token }),
      api("GET", `/shoppers/${state.shopperId}/activity`, { token: state.token }),
      api("GET", `/shoppers/${state.shopperId}/cards`, { token: state.token }),
    ]);
    state.data = { balances, activity, cards };
  } catch (e) {
    return tell($("msg"), errorText(e));
  }
  render();
}

function render() {
  if (!state.data) return;
  const { balances, activity, cards } = state.data;
  renderSummary(balances, cards, activity.expiring);
  // An empty premium wallet says nothing worth a card; coin is shown even at ¥0.
  const shown = balances.filter((b) => b.asset === "coin" || b.balance !== 0);
  renderBalances([...shown, ...cardBalances(cards)], activity.expiring);
  renderHistory(activity.entries);
  renderCards(cards);
}

/** One balance line per points program: the points on the shopper's usable cards. */
function cardBalances(cards) {
  const out = new Map();
  for (const c of cards.filter((c) => c.status === "active")) {
    const b = out.get(c.program_id) ?? { program_id: c.program_id, asset: "points", balance: 0, card: true };
    b.balance += c.balance;
    out.set(c.program_id, b);
  }
  return [...out.values()];
}

// ---- the first screen: total, expiry warning, 支払う ---------------------------------------

function renderSummary(balances, cards, expiring) {
  const yenTotal = balances.filter((b) => b.asset !== "points").reduce((s, b) => s + b.balance, 0);
  const points = balances.filter((b) => b.asset === "points").reduce((s, b) => s + b.balance, 0)
    + cardBalances(cards).reduce((s, b) => s + b.balance, 0);
  $("total-balance").textContent = yen(yenTotal);
  $("total-points").hidden = !points;
  $("total-points").textContent = t("total_points", { points: money("points", points) });
  const soon = expiring
    .map((x) => ({ ...x, days: daysUntil(x.date) }))
    .filter((x) => x.days <= EXPIRY_WARN_DAYS)
    .sort((a, b) => a.days - b.days)[0];
  const warn = $("expiry-warning");
  warn.hidden = !soon;
  if (soon) {
    warn.textContent = t(soon.days <= 0 ? "expiry_today" : "expiry_warning", {
      amount: money(soon.asset, soon.amount), date: dateLabel(soon.date), days: soon.days,
    });
  }
}

// ---- point cards -------------------------------------------------------------------------

async function renderCards(cards) {
  const list = $("card-list");
  if (!cards.length) {
    list.innerHTML = `<p class="muted">${t("none_yet")}</p>`;
    return;
  }
  const shown = cards.filter((c) => c.status !== "replaced");
  list.replaceChildren(...shown.map((c) => {
    const card = document.createElement("div");
    card.className = "card point-card";
    card.dataset.cardId = c.id;
    const program = state.programs.find((p) => p.id === c.program_id);
    card.innerHTML = `<div class="muted"></div><div class="amount"></div><div class="code"></div><div class="muted"></div><img class="qr" alt="">`;
    card.children[0].textContent = `${t("point_card")} · ${program?.name ?? ""}`;
    card.children[1].textContent = money("points", c.balance);
    card.children[2].textContent = c.number.replace(/(\d{4})(?=\d)/g, "$1 ");
    card.children[3].textContent = t("card_" + c.status);
    card.children[4].alt = t("card_qr_alt", { number: c.number });
    return card;
  }));
  // The QR images need the token, so each is fetched and shown as a blob URL.
  await Promise.all(shown.map(async (c, i) => {
    const img = list.children[i].querySelector("img");
    try {
      img.src = await imageUrl(`/cards/${c.id}/image?format=svg`, state.token);
    } catch {
      img.hidden = true;
    }
  }));
}

// ---- balances ----------------------------------------------------------------------------

function renderBalances(balances, expiring) {
  const list = $("balance-list");
  if (!balances.length) {
    list.innerHTML = `<p class="muted">${t("none_yet")}</p>`;
    return;
  }
  list.replaceChildren(...balances.map((b) => {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.asset = b.asset;
    const program = state.programs.find((p) => p.id === b.program_id);
    const next = expiring.find((x) => x.program_id === b.program_id && x.asset === b.asset);
    const expiry = b.card ? t("card_points_note")
      : next ? t("nearest_expiry", { date: dateLabel(next.date), amount: money(b.asset, next.amount) })
        : t("no_expiry");
    card.innerHTML = `<div class="muted"></div><div class="amount"></div><div class="muted"></div>`;
    card.children[0].textContent = `${t(b.card ? "point_card" : "asset_" + b.asset)} · ${program?.name ?? ""}`;
    card.children[1].textContent = money(b.asset, b.balance);
    card.children[2].textContent = expiry;
    return card;
  }));
}

// ---- paying by code ----------------------------------------------------------------------

const stopScan = attachScanner({
  button: $("pay-scan"), video: $("pay-video"), input: $("pay-code"), status: $("scan-status"),
  onCode: () => resolve(),
  onUnavailable: () => { $("pay-manual").open = true; },
});

$("pay-start").addEventListener("click", () => {
  unlockSound();
  tell($("pay-start-msg"), "");
  $("pay").hidden = false;
  $("summary").hidden = true;
  $("pay-title").focus?.();
  // Straight to the camera: the shopper came to scan. Typing stays below as a fallback.
  $("pay-scan").click();
});

$("pay-close").addEventListener("click", closePay);

function closePay() {
  stopScan();
  $("pay").hidden = true;
  $("confirm").hidden = true;
  $("summary").hidden = false;
  tell($("resolve-msg"), "");
  $("pay-start").focus();
}

$("resolve-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  resolve();
});

async function resolve() {
  tell($("resolve-msg"), "");
  const payload = $("pay-code").value.trim();
  if (!payload) {
    $("pay-manual").open = true;
    return tell($("resolve-msg"), t("err_pay_code"));
  }
  try {
    const r = await api("POST", "/qr/resolve", { token: state.token, body: { payload } });
    state.resolved = r;
    state.payKey = crypto.randomUUID();
    $("payee").textContent = r.merchant_name;
    const fixed = r.amount != null;
    $("pay-fixed-amount").hidden = !fixed;
    $("pay-fixed-amount").textContent = fixed ? yen(r.amount) : "";
    $("pay-amount-field").hidden = fixed;
    tell($("pay-msg"), "");
    stopScan();
    $("pay").hidden = true;
    $("confirm").hidden = false;
    (fixed ? $("pay-confirm") : $("pay-amount")).focus();
  } catch (e) {
    $("pay-manual").open = true;
    tell($("resolve-msg"), errorText(e));
  }
}

$("confirm-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  tell($("pay-msg"), "");
  const r = state.resolved;
  const body = { payload: $("pay-code").value.trim() };
  if (r.amount == null) {
    const amount = Number($("pay-amount").value);
    if (!Number.isInteger(amount) || amount < 1) return tell($("pay-msg"), t("err_amount"));
    body.amount = amount;
  }
  $("pay-confirm").disabled = true;
  try {
    // The same key for every retry of this confirmation: a lost answer never pays twice.
    const paid = await moneyPost("/qr/payments", state.token, body, state.payKey);
    showDone(r.merchant_name, paid.amount ?? body.amount ?? r.amount);
    resetPay();
    refresh();
  } catch (e) {
    // An outcome still open keeps the key (pressing again answers what happened).
    if (!keepKey(e)) state.payKey = crypto.randomUUID();
    tell($("pay-msg"), errorText(e));
  } finally {
    $("pay-confirm").disabled = false;
  }
});

function resetPay() {
  state.resolved = null;
  state.payKey = null;
  $("pay-code").value = "";
  $("pay-amount").value = "";
  $("confirm").hidden = true;
  $("pay").hidden = true;
  $("summary").hidden = false;
}

$("pay-cancel").addEventListener("click", () => {
  resetPay();
  $("pay-start").focus();
});

/** The full-screen completion: store, amount, the time paid and a running clock. */
function showDone(store, amount) {
  const paidAt = new Date().toISOString();
  $("done-store").textContent = store;
  $("done-amount").textContent = yen(amount);
  $("done-text").textContent = t("pay_done", { name: store, amount: yen(amount) }) + ` (${timeLabel(paidAt)})`;
  const tick = () => { $("done-clock").textContent = t("now_clock", { time: timeLabel(new Date().toISOString(), true) }); };
  tick();
  clearInterval(state.doneTick);
  state.doneTick = setInterval(tick, 1000);
  $("pay-done").hidden = false;
  document.body.classList.add("has-fullscreen");
  chime();
  announce(t("pay_done", { name: store, amount: yen(amount) }));
  $("pay-done-close").focus();
}

$("pay-done-close").addEventListener("click", () => {
  clearInterval(state.doneTick);
  $("pay-done").hidden = true;
  document.body.classList.remove("has-fullscreen");
  $("pay-start").focus();
});

// ---- my one-time code --------------------------------------------------------------------

$("my-code-show").addEventListener("click", () => {
  state.myCodeRenewals = 0;
  showMyCode();
});

$("my-code-hide").addEventListener("click", hideMyCode);

function hideMyCode() {
  clearInterval(state.myCodeTick);
  state.myCode = null;
  $("my-code-box").hidden = true;
  $("my-code-show").hidden = false;
}

async function showMyCode() {
  tell($("my-code-msg"), "");
  const program = state.programs.find((p) => p.kind === "currency") ?? state.programs[0];
  if (!program) return tell($("my-code-msg"), t("err_no_program"));
  try {
    const c = await api("POST", `/programs/${program.id}/shopper-codes`, { token: state.token });
    state.myCode = c;
    $("my-code-text").textContent = c.code;
    $("my-code-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(c.qr_svg);
    $("my-code-qr").alt = t("my_code_alt");
    $("my-code-box").hidden = false;
    $("my-code-show").hidden = true;
    countdownMyCode(c);
  } catch (e) {
    hideMyCode();
    tell($("my-code-msg"), errorText(e));
  }
}

/** The code's time left; at zero a fresh code replaces it (a few times, then it waits). */
function countdownMyCode(c) {
  clearInterval(state.myCodeTick);
  const end = new Date(c.expires_at).getTime();
  const show = () => {
    if (state.myCode !== c) return clearInterval(state.myCodeTick);
    const left = (end - Date.now()) / 1000;
    $("my-code-left").textContent = clock(left);
    if (left > 0) return;
    clearInterval(state.myCodeTick);
    if (++state.myCodeRenewals > MY_CODE_RENEWALS_MAX || document.hidden) return hideMyCode();
    showMyCode();
  };
  show();
  state.myCodeTick = setInterval(show, 250);
}

// ---- history -----------------------------------------------------------------------------

/** One line per transaction and unit: a payment of coin and premium is one yen line. */
function grouped(entries) {
  const out = new Map();
  for (const e of entries) {
    const unit = e.asset === "points" ? "points" : "yen";
    const key = `${e.transaction_id}/${unit}`;
    const row = out.get(key) ?? { ...e, asset: unit === "points" ? "points" : "coin", amount: 0, parts: [] };
    row.amount += e.amount;
    row.parts.push(e.asset);
    out.set(key, row);
  }
  return [...out.values()];
}

function renderHistory(entries) {
  const body = $("history-rows");
  const rows = grouped(entries);
  if (!rows.length) {
    body.innerHTML = `<tr><td colspan="2" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  const out = [];
  let day = null;
  for (const e of rows) {
    const d = jstDay(e.created_at);
    if (d !== day) {
      day = d;
      const tr = document.createElement("tr");
      tr.className = "day";
      tr.innerHTML = `<th scope="colgroup" colspan="2"></th>`;
      tr.firstChild.textContent = dayLabel(d);
      out.push(tr);
    }
    const tr = document.createElement("tr");
    tr.dataset.kind = e.kind;
    // Two columns, the time above the words: at 200 % text a phone still has room for both.
    tr.innerHTML = `<td class="what"><span class="time"></span><span class="words"></span></td><td class="num"></td>`;
    tr.querySelector(".time").textContent = timeLabel(e.created_at);
    const premium = e.parts.includes("premium") ? ` · ${t("incl_premium")}` : "";
    tr.querySelector(".words").textContent = lineWords(e, "shopper") + premium;
    tr.children[1].textContent = lineAmount(e, "shopper");
    tr.children[1].classList.add(e.amount >= 0 ? "in" : "out");
    out.push(tr);
  }
  body.replaceChildren(...out);
}

// ---- large text --------------------------------------------------------------------------

function applyLargeText() {
  const on = localStorage.getItem(LARGE_KEY) === "1";
  document.documentElement.classList.toggle("large-text", on);
  $("large-text")?.setAttribute("aria-pressed", String(on));
}

$("large-text").addEventListener("click", () => {
  const on = localStorage.getItem(LARGE_KEY) !== "1";
  localStorage.setItem(LARGE_KEY, on ? "1" : "0");
  applyLargeText();
});

$("sign-out").addEventListener("click", async () => {
  if (state.token) {
    tokens.clear(ROLE);
    return location.reload();
  }
  await signOut();
  location.href = "signin.html";
});

document.addEventListener("langchange", () => {
  render();
  applyLargeText();
});
