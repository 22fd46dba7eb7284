// The back office's registry parts: store applications to approve or reject (with a reason),
// and the store registry (searched by the server: name, 店舗名カナ, 店舗番号 or id, a page at a
// time; profile, bank account, participation history, and recording a participation event).

import { api } from "./api.js";
import { t } from "./i18n.js";
import {
  $, act, button, canOperate, day, el, empty, facts, moment, office, rowMessage, tell,
} from "./office-ui.js";

// ---- applications ------------------------------------------------------------------------

export async function loadApplications() {
  let apps;
  try {
    apps = await api("GET", "/merchant-applications");
  } catch (e) {
    return tell($("applications-msg"), e.code || "network");
  }
  const pending = apps.filter((a) => a.status === "pending");
  const decided = apps.filter((a) => a.status !== "pending").slice(0, 10);
  const list = $("application-list");
  if (!pending.length && !decided.length) return empty(list);
  list.replaceChildren(...pending.map(applicationItem), ...decided.map(decidedItem));
}

function applicationItem(a) {
  const li = el("li", { cls: "card", attrs: { "data-application-id": a.id } });
  li.append(el("h3", { text: a.name }));
  const dl = el("dl", { cls: "facts" });
  facts(dl, [
    [t("office_industry"), a.profile.industry],
    [t("office_district"), a.profile.district],
    [t("office_address"), a.profile.address],
    [t("office_contact"), a.profile.contact],
    [t("office_bank"), a.bank_account ? bankLine(a.bank_account) : t("office_no_bank")],
    [t("office_applied_at"), moment(a.created_at)],
  ]);
  li.append(dl);
  if (!canOperate()) return li;
  const msg = rowMessage();
  const reasonId = `reason-${a.id}`;
  const label = el("label", { text: t("office_reject_reason"), attrs: { for: reasonId } });
  const reason = el("input", { attrs: { id: reasonId, maxlength: "200" } });
  const approve = button("office_approve", {
    onClick: () => act(approve, msg, async () => {
      await api("POST", `/merchant-applications/${a.id}/decision`, { body: { decision: "approve" } });
      await loadApplications();
      tell($("applications-msg"), "office_approved", "ok", { name: a.name });
    }),
  });
  approve.classList.add("approve");
  const reject = button("office_reject", {
    secondary: true,
    onClick: () => act(reject, msg, async () => {
      const why = reason.value.trim();
      if (!why) throw { code: "office_reason_required" };
      await api("POST", `/merchant-applications/${a.id}/decision`, { body: { decision: "reject", reason: why } });
      await loadApplications();
      tell($("applications-msg"), "office_rejected", "ok", { name: a.name });
    }),
  });
  reject.classList.add("reject");
  li.append(approve, label, reason, reject, msg);
  return li;
}

function decidedItem(a) {
  const li = el("li", { cls: "card muted" });
  const status = a.status === "approved" ? t("office_status_approved") : t("office_status_rejected");
  li.textContent = `${a.name} — ${status}${a.reason ? ` (${a.reason})` : ""}`;
  return li;
}

function bankLine(b) {
  return `${b.bank_name_kana} ${b.branch_name_kana} ${accountType(b.account_type)} ${mask(b.account_number)} ${b.holder_kana}`;
}

function accountType(type) {
  const key = `office_account_${type}`;
  const text = t(key);
  return text === key ? type : text;
}

/** An account number with all but its last three digits hidden. */
function mask(number) {
  return number.length <= 3 ? number : "•".repeat(number.length - 3) + number.slice(-3);
}

// ---- store registry ----------------------------------------------------------------------

/** Stores per page of the registry's list. */
const STORE_PAGE = 50;
const stores = { picked: null, q: "", after: null };

/** The first page of stores matching the search box (the server searches: name, 店舗名カナ,
 * 店舗番号 or id), or the next page after the last one shown. */
export async function loadStores(more = false) {
  const msg = $("stores-msg");
  if (!more) {
    stores.q = $("store-q").value.trim();
    stores.after = null;
  }
  const params = new URLSearchParams({ limit: String(STORE_PAGE) });
  if (stores.q) params.set("q", stores.q);
  if (stores.after) params.set("after", stores.after);
  let rows;
  try {
    rows = await api("GET", `/merchants?${params}`);
  } catch (e) {
    return tell(msg, e.code || "network");
  }
  tell(msg, "");
  const list = $("store-list");
  const items = rows.map((m) => {
    const li = el("li");
    const b = button("office_open", { secondary: true, onClick: () => openStore(m) });
    b.textContent = m.name;
    li.append(b);
    return li;
  });
  if (more) list.append(...items);
  else if (items.length) list.replaceChildren(...items);
  else empty(list);
  stores.after = rows.length === STORE_PAGE ? rows[rows.length - 1].id : null;
  $("store-more").hidden = !stores.after;
  if (!more && rows.length === 1 && stores.q) await openStore(rows[0]);
}

async function openStore(m) {
  stores.picked = m;
  $("store-detail").hidden = false;
  $("store-name").textContent = m.name;
  $("store-id").textContent = m.id;
  const [profile, bank] = await Promise.all([
    api("GET", `/merchants/${m.id}/profile`).catch(() => null),
    api("GET", `/merchants/${m.id}/bank-account`).catch(() => null),
  ]);
  facts($("store-profile"), profile ? [
    [t("office_store_number"), profile.external_ref],
    [t("office_kana"), profile.name_kana],
    [t("office_industry"), profile.industry],
    [t("office_association"), profile.association],
    [t("office_district"), profile.district],
    [t("office_size"), t(`office_size_${profile.size_class}`)],
    [t("office_address"), profile.address],
    [t("office_contact"), profile.contact],
  ] : [[t("office_profile"), t("office_none")]]);
  $("store-bank").textContent = bank ? bankLine(bank) : t("office_no_bank");
  await loadEvents();
}

async function loadEvents() {
  const body = $("store-events");
  if (!office.program || !stores.picked) return empty(body, 3);
  let events;
  try {
    events = await api("GET", `/programs/${office.program.id}/merchants/${stores.picked.id}/participation-events`);
  } catch {
    events = [];
  }
  if (!events.length) return empty(body, 3);
  body.replaceChildren(...events.map((e) => {
    const tr = el("tr");
    tr.append(el("td", { text: day(e.effective_on) }), el("td", { text: t(`office_ev_${e.kind}`) }),
      el("td", { text: e.reason ?? "" }));
    return tr;
  }));
}

export function wireRegistry() {
  $("store-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("store-search").querySelector("button"), $("stores-msg"), () => loadStores());
  });
  $("store-more").addEventListener("click", () => act($("store-more"), $("stores-msg"), () => loadStores(true)));
  $("event-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("event-submit"), $("event-msg"), async () => {
      const reason = $("event-reason").value.trim();
      await api("POST", `/programs/${office.program.id}/merchants/${stores.picked.id}/participation-events`, {
        body: { kind: $("event-kind").value, ...(reason ? { reason } : {}) },
      });
      $("event-reason").value = "";
      await loadEvents();
    });
  });
}

/** The program changed: the open store's history is the new program's. */
export function registryProgramChanged() {
  if (stores.picked) loadEvents();
}
