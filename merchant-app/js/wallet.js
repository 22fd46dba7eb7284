// The shopper's wallet: balances per asset with the nearest expiry (point cards' points
// summed per program), the point cards with balance and QR image, paying by a store code
// (resolved by the server first, then confirmed with one Idempotency-Key per confirmation),
// history, and the shopper's own one-time code as a QR image.

import { ApiError, api, signOut, imageUrl, moneyPost, tokens } from "./api.js";
import { kindLabel, money, t, when } from "./i18n.js";
import { errorText, say, shell } from "./shell.js";
import { attachScanner } from "./scan.js";
import { mountWaitingRoom } from "./waiting-room.js";

const ROLE = "shopper";
const $ = (id) => document.getElementById(id);

const state = { token: null, shopperId: null, programs: [], resolved: null, payKey: null };

shell();
start();

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
    if (hadToken || e.status !== 401) say($("msg"), errorText(e));
    return;
  }
  $("signin").hidden = true;
  $("wallet").hidden = false;
  await refresh();
  // Premium sales with a waiting room (waiting-room.js): its failure leaves the wallet as is.
  mountWaitingRoom($("waiting-room"), state).catch((e) => say($("msg"), errorText(e)));
}

function showSignin() {
  $("wallet").hidden = true;
  $("signin").hidden = false;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  tokens.set(ROLE, $("token").value.trim());
  await start();
});

async function refresh() {
  const [balances, activity, cards] = await Promise.all([
    api("GET", `/shoppers/${state.shopperId}/balances`, { token: state.token }),
    api("GET", `/shoppers/${state.shopperId}/activity`, { token: state.token }),
    api("GET", `/shoppers/${state.shopperId}/cards`, { token: state.token }),
  ]);
  renderBalances([...balances, ...cardBalances(cards)], activity.expiring);
  renderHistory(activity.entries);
  await renderCards(cards);
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
      : next ? t("nearest_expiry", { date: next.date, amount: money(b.asset, next.amount) })
        : t("no_expiry");
    card.innerHTML = `<div class="muted"></div><div class="amount"></div><div class="muted"></div>`;
    card.children[0].textContent = `${t(b.card ? "point_card" : "asset_" + b.asset)} · ${program?.name ?? ""}`;
    card.children[1].textContent = money(b.asset, b.balance);
    card.children[2].textContent = expiry;
    return card;
  }));
}

// ---- paying by code ----------------------------------------------------------------------

attachScanner({
  button: $("pay-scan"), video: $("pay-video"), input: $("pay-code"), status: $("scan-status"),
  onCode: () => $("resolve-form").requestSubmit(),
});

$("resolve-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  $("pay-done").hidden = true;
  try {
    const r = await api("POST", "/qr/resolve", { token: state.token, body: { payload: $("pay-code").value.trim() } });
    state.resolved = r;
    state.payKey = crypto.randomUUID();
    $("payee").textContent = r.merchant_name;
    const fixed = r.amount != null;
    $("pay-fixed-amount").hidden = !fixed;
    $("pay-fixed-amount").textContent = fixed ? money("coin", r.amount) : "";
    $("pay-amount-field").hidden = fixed;
    $("pay-amount").required = !fixed;
    $("resolve-form").hidden = true;
    $("confirm-form").hidden = false;
    $("pay-confirm").focus();
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

$("confirm-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("msg"), "");
  const r = state.resolved;
  const body = { payload: $("pay-code").value.trim() };
  if (r.amount == null) body.amount = Number($("pay-amount").value);
  $("pay-confirm").disabled = true;
  try {
    // The same key for every retry of this confirmation: a lost answer never pays twice.
    const paid = await moneyPost("/qr/payments", state.token, body, state.payKey);
    say($("pay-done"), t("pay_done", { name: r.merchant_name, amount: money("coin", paid.amount) }), "ok");
    resetPay();
    refresh();
  } catch (e) {
    say($("msg"), errorText(e));
  } finally {
    $("pay-confirm").disabled = false;
  }
});

function resetPay() {
  state.resolved = null;
  state.payKey = null;
  $("pay-code").value = "";
  $("pay-amount").value = "";
  $("confirm-form").hidden = true;
  $("resolve-form").hidden = false;
}

$("pay-cancel").addEventListener("click", resetPay);

// ---- my one-time code --------------------------------------------------------------------

$("my-code-show").addEventListener("click", async () => {
  const program = state.programs.find((p) => p.kind === "currency") ?? state.programs[0];
  if (!program) return;
  try {
    const c = await api("POST", `/programs/${program.id}/shopper-codes`, { token: state.token });
    $("my-code-text").textContent = c.code;
    $("my-code-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(c.qr_svg);
    $("my-code-qr").alt = c.code;
    $("my-code-box").hidden = false;
  } catch (e) {
    say($("msg"), errorText(e));
  }
});

// ---- history -----------------------------------------------------------------------------

function renderHistory(entries) {
  const body = $("history-rows");
  if (!entries.length) {
    body.innerHTML = `<tr><td colspan="3" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  body.replaceChildren(...entries.map((e) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${when(e.created_at)}</td><td>${kindLabel(e.kind)} · ${t("asset_" + e.asset)}</td><td class="num">${money(e.asset, e.amount)}</td>`;
    return tr;
  }));
}

$("sign-out").addEventListener("click", async () => {
  if (state.token) {
    tokens.clear(ROLE);
    return location.reload();
  }
  await signOut();
  location.href = "signin.html";
});

document.addEventListener("langchange", () => { if (state.shopperId) refresh(); });
