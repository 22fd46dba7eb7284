// The back office's people parts: point cards (import a CSV file, issue, find, block,
// replace) and shopper support at the counter (find by name, id or card number, balances,
// cards and history, reset sign-in with a one-time setup code, block and unblock with a
// reason).

import { ApiError, api, csrfToken, moneyPost } from "./api.js";
import { kindLabel, lang, money, t } from "./i18n.js";
import { $, act, button, el, empty, facts, moment, office, tell } from "./office-ui.js";

// ---- point cards -------------------------------------------------------------------------

/** Sends the chosen CSV file to the card import (text/csv, signed in by the session cookie). */
async function importCards() {
  const file = $("card-file").files[0];
  if (!file) throw { code: "office_pick_file" };
  const resp = await fetch(`/api/v1/programs/${office.program.id}/card-imports`, {
    method: "POST",
    headers: { "Content-Type": "text/csv", "X-CSRF-Token": csrfToken() },
    body: await file.text(),
  }).catch((e) => { throw new ApiError(0, "network", e.message); });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const lines = (data.problems ?? []).map((p) => p.line);
    if (lines.length) {
      throw { code: "import_rejected", lines };
    }
    throw new ApiError(resp.status, data.error?.code ?? `http_${resp.status}`);
  }
  return data;
}

let card = null;

function showCard(c) {
  card = c;
  $("card-detail").hidden = false;
  facts($("card-facts"), [
    [t("office_card_number"), c.number.replace(/(\d{4})(?=\d)/g, "$1 ")],
    [t("col_status"), t(`office_card_${c.status}`)],
    [t("office_balance"), money("points", c.balance)],
    [t("office_linked_shopper"), c.shopper_id ?? t("office_none")],
    [t("office_issued_at"), moment(c.created_at)],
  ]);
  $("card-block").hidden = c.status !== "active";
  $("card-replace").hidden = c.status === "replaced";
}

export function wireCards() {
  $("card-import").addEventListener("click", () => act($("card-import"), $("card-import-msg"), async () => {
    try {
      const r = await importCards();
      tell($("card-import-msg"), "office_imported", "ok", { n: r.imported, skipped: r.already_imported });
    } catch (e) {
      if (e.lines) {
        // Which lines are wrong, in the page's language (the server's reasons are English).
        const el2 = $("card-import-msg");
        tell(el2, "import_rejected");
        el2.textContent += ` ${t("office_bad_lines", { lines: e.lines.slice(0, 20).join(", ") })}`;
        return;
      }
      throw e;
    }
  }));
  $("card-issue").addEventListener("click", () => act($("card-issue"), $("card-issue-msg"), async () => {
    const shopper = $("card-issue-shopper").value.trim();
    const c = await api("POST", `/programs/${office.program.id}/cards`, {
      body: shopper ? { shopper_id: shopper } : {},
    });
    showCard(c);
    tell($("card-issue-msg"), "office_card_issued", "ok", { number: c.number });
  }));
  $("card-find").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const b = $("card-find").querySelector("button");
    act(b, $("card-find-msg"), async () => {
      showCard(await api("GET", `/cards/${encodeURIComponent($("card-id").value.trim())}`));
    });
  });
  $("card-block").addEventListener("click", () => act($("card-block"), $("card-action-msg"), async () => {
    if (!confirm(t("office_card_block_confirm"))) throw { code: "office_confirm_cancelled" };
    showCard(await api("POST", `/cards/${card.id}/block`));
  }));
  $("card-replace").addEventListener("click", () => act($("card-replace"), $("card-action-msg"), async () => {
    const reason = $("card-replace-reason").value.trim();
    if (!reason) throw { code: "missing_reason" };
    const r = await moneyPost(`/cards/${card.id}/replacements`, undefined, { reason });
    showCard(r.new_card);
    tell($("card-action-msg"), "office_card_replaced_msg", "ok", { number: r.new_card.number });
  }));
}

// ---- shopper support ---------------------------------------------------------------------

/** An amount with its sign before the unit: −¥4,000, +120 pt. */
function signed(asset, n) {
  return n < 0 ? `−${money(asset, -n)}` : `+${money(asset, n)}`;
}

let shopper = null;

async function search() {
  const q = $("shopper-q").value.trim();
  const found = await api("GET", `/shoppers${q ? `?q=${encodeURIComponent(q)}` : ""}`);
  const list = $("shopper-list");
  if (!found.length) return empty(list);
  list.replaceChildren(...found.map((s) => {
    const li = el("li", { attrs: { "data-shopper-id": s.id } });
    const b = button("office_open", { secondary: true, onClick: () => openShopper(s) });
    b.textContent = s.display_name;
    li.append(b, el("span", { cls: "badge bad", text: t("office_shopper_blocked") }));
    li.lastChild.hidden = s.status !== "blocked";
    return li;
  }));
  // One match (an id or a card number): open it at once.
  if (found.length === 1 && q) await openShopper(found[0]);
}

/** The shopper's state line and which of block / unblock is offered. */
function showState(s) {
  const line = $("shopper-state");
  if (s.status === "blocked") {
    line.className = "state-line bad";
    line.textContent = t("office_blocked_since", { time: moment(s.blocked_at), reason: s.blocked_reason ?? "" });
  } else {
    line.className = "state-line ok";
    line.textContent = `${t("office_shopper_state")}: ${t("office_shopper_active")}`;
  }
  $("shopper-block").hidden = s.status === "blocked";
  $("shopper-unblock").hidden = s.status !== "blocked";
  const badge = document.querySelector(`#shopper-list [data-shopper-id="${s.id}"] .badge`);
  if (badge) badge.hidden = s.status !== "blocked";
}

async function openShopper(s) {
  shopper = s;
  $("shopper-detail").hidden = false;
  $("setup-code-box").hidden = true;
  tell($("shopper-action-msg"), "");
  tell($("shopper-block-msg"), "");
  $("shopper-name").textContent = s.display_name;
  $("shopper-id").textContent = s.id;
  showState(s);
  const [balances, activity, cards] = await Promise.all([
    api("GET", `/shoppers/${s.id}/balances`).catch(() => []),
    api("GET", `/shoppers/${s.id}/activity?limit=20`).catch(() => ({ entries: [] })),
    api("GET", `/shoppers/${s.id}/cards`).catch(() => []),
  ]);
  const programName = (id) => office.programs.find((p) => p.id === id)?.name ?? "";
  const bl = $("shopper-balances");
  if (balances.length) {
    bl.replaceChildren(...balances.map((b) => el("li", { text: `${programName(b.program_id)} · ${t(`asset_${b.asset}`)}: ${money(b.asset, b.balance)}` })));
  } else empty(bl);
  const cl = $("shopper-cards");
  if (cards.length) {
    cl.replaceChildren(...cards.map((c) => el("li", { text: `${c.number.replace(/(\d{4})(?=\d)/g, "$1 ")} · ${t(`office_card_${c.status}`)} · ${money("points", c.balance)}` })));
  } else empty(cl);
  const body = $("shopper-history");
  if (!activity.entries.length) return empty(body, 3);
  body.replaceChildren(...activity.entries.map((e) => {
    const tr = el("tr");
    tr.append(el("td", { text: moment(e.created_at) }), el("td", { text: kindLabel(e.kind) }),
      el("td", { cls: "num", text: signed(e.asset, e.amount) }));
    return tr;
  }));
}

export function wireShoppers() {
  $("shopper-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("shopper-search").querySelector("button"), $("shopper-search-msg"), search);
  });
  $("shopper-reset").addEventListener("click", () => act($("shopper-reset"), $("shopper-action-msg"), async () => {
    const c = await api("POST", `/principals/shopper/${shopper.id}/setup-codes`, { body: {} });
    $("setup-code").textContent = c.code;
    $("setup-code-help").textContent = t("office_setup_code_help", {
      time: new Date(c.expires_at).toLocaleString(lang() === "en" ? "en-GB" : "ja-JP",
        { timeZone: "Asia/Tokyo", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }),
    });
    $("setup-code-box").hidden = false;
  }));
  $("shopper-block").addEventListener("click", () => act($("shopper-block"), $("shopper-block-msg"), async () => {
    const reason = $("shopper-block-reason").value.trim();
    if (!reason) throw { code: "missing_reason" };
    if (!confirm(t("office_block_confirm", { name: shopper.display_name }))) throw { code: "office_confirm_cancelled" };
    shopper = await api("POST", `/shoppers/${shopper.id}/block`, { body: { reason } });
    showState(shopper);
    $("shopper-block-reason").value = "";
    tell($("shopper-block-msg"), "office_blocked", "ok", { name: shopper.display_name });
  }));
  $("shopper-unblock").addEventListener("click", () => act($("shopper-unblock"), $("shopper-block-msg"), async () => {
    const reason = $("shopper-block-reason").value.trim();
    if (!reason) throw { code: "missing_reason" };
    shopper = await api("POST", `/shoppers/${shopper.id}/unblock`, { body: { reason } });
    showState(shopper);
    $("shopper-block-reason").value = "";
    tell($("shopper-block-msg"), "office_unblocked", "ok", { name: shopper.display_name });
  }));
}
