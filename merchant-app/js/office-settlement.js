// The back office's settlement and audit parts: run a closed cycle, review a run's statements,
// download its 全銀 transfer file and statements CSV, and confirm it as paid, which only a
// second person may do (whoever ran it sees why they cannot); and the audit log, newest
// first, a page at a time.

import { api, download, keepKey, moneyPost } from "./api.js";
import { t, yen } from "./i18n.js";
import {
  $, act, addDays, button, canOperate, day, el, empty, moment, office, rowMessage, tell, todayJst,
} from "./office-ui.js";

// ---- settlement --------------------------------------------------------------------------

/** Store names by id, for the statements. */
const storeNames = new Map();

export async function loadRuns() {
  const ul = $("run-list");
  $("statements-box").hidden = true;
  if (!office.program) return empty(ul);
  let runs;
  try {
    runs = await api("GET", `/programs/${office.program.id}/settlement-runs`);
  } catch (e) {
    return tell($("runs-msg"), e.code || "network");
  }
  if (!runs.length) return empty(ul);
  ul.replaceChildren(...runs.map(runItem));
}

function runItem(r) {
  const li = el("li", { cls: "card", attrs: { "data-run-id": r.id } });
  li.append(el("h3", { text: t("office_run_title", { date: day(r.closing_date) }) }));
  const status = r.status === "paid"
    ? t("office_run_paid", { when: moment(r.confirmed_at) })
    : t("office_run_calculated");
  li.append(el("p", { cls: `run-state run-${r.status}`, text: status }));
  li.append(el("p", { text: t("office_run_line", {
    transfer: day(r.transfer_date), payable: r.payable_statements, held: r.held_statements,
    total: yen(r.total_payable_yen),
  }) }));
  const msg = rowMessage();
  const path = `/programs/${office.program.id}/settlement-runs/${r.id}`;
  const review = button("office_review", { secondary: true, onClick: () => act(review, msg, () => showStatements(r)) });
  review.classList.add("review");
  li.append(review);
  const csv = button("office_statements_csv", {
    secondary: true,
    onClick: () => act(csv, msg, () => download(`${path}/statements?format=csv`, undefined, `statements-${r.closing_date}.csv`)),
  });
  li.append(csv);
  if (canOperate() && r.payable_statements > 0) {
    const zengin = button("office_zengin", {
      secondary: true,
      onClick: () => act(zengin, msg, () => download(`${path}/zengin`, undefined, `zengin-${r.closing_date}.txt`)),
    });
    zengin.classList.add("zengin");
    li.append(zengin);
  }
  if (canOperate() && r.status === "calculated") {
    if (r.created_by === office.me.id) {
      // The two-person rule: the server refuses the runner's confirmation; say so here.
      li.append(el("p", { cls: "notice info", text: t("office_second_person") }));
    } else {
      li.append(confirmButton(r, path, msg));
    }
  }
  li.append(msg);
  return li;
}

/** One key per confirmation of a run, kept for a retry whose outcome was unknown. */
const confirmKeys = new Map();

function confirmButton(r, path, msg) {
  const b = button("office_confirm_paid", {
    onClick: () => act(b, msg, async () => {
      if (!confirm(t("office_confirm_question", { total: yen(r.total_payable_yen), date: day(r.transfer_date) }))) {
        throw { code: "office_confirm_cancelled" };
      }
      const key = confirmKeys.get(r.id) ?? crypto.randomUUID();
      confirmKeys.set(r.id, key);
      try {
        await moneyPost(`${path}/confirm`, undefined, {}, key);
      } catch (e) {
        if (!keepKey(e)) confirmKeys.delete(r.id);
        throw e;
      }
      confirmKeys.delete(r.id);
      await loadRuns();
      tell($("runs-msg"), "office_confirmed", "ok", { date: day(r.closing_date) });
    }),
  });
  b.classList.add("confirm-run");
  return b;
}

async function showStatements(r) {
  const rows = await api("GET", `/programs/${office.program.id}/settlement-runs/${r.id}/statements`);
  const missing = rows.map((s) => s.merchant_id).filter((id) => !storeNames.has(id));
  await Promise.all(missing.map(async (id) => {
    const m = await api("GET", `/merchants/${id}`).catch(() => null);
    storeNames.set(id, m ? m.name : id);
  }));
  $("statements-title").textContent = t("office_run_title", { date: day(r.closing_date) });
  const body = $("statement-rows");
  if (!rows.length) empty(body, 5);
  else body.replaceChildren(...rows.map((s) => {
    const tr = el("tr");
    const status = s.status === "payable" ? t("office_payable") : t(`office_hold_${s.hold_reason}`);
    tr.append(el("td", { text: storeNames.get(s.merchant_id) }), el("td", { text: status }),
      el("td", { cls: "num", text: yen(s.payments_yen) }), el("td", { cls: "num", text: yen(s.fee_yen) }),
      el("td", { cls: "num", text: yen(s.net_payable_yen) }));
    return tr;
  }));
  $("statements-box").hidden = false;
  $("statements-box").scrollIntoView({ block: "nearest" });
}

export function wireSettlement() {
  $("run-closing").value = addDays(todayJst(), -1);
  $("run-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("run-submit"), $("run-msg"), async () => {
      const closing = $("run-closing").value;
      if (!closing) throw { code: "invalid_date" };
      await api("POST", `/programs/${office.program.id}/settlement-runs`, { body: { closing_date: closing } });
      await loadRuns();
      tell($("run-msg"), "office_run_done", "ok", { date: day(closing) });
    });
  });
}

// ---- audit log ---------------------------------------------------------------------------

const audit = { before: null };

export async function loadAudit(more = false) {
  if (!canOperate()) return;
  if (!more) audit.before = null;
  let page;
  try {
    page = await api("GET", `/audit-log?limit=50${audit.before ? `&before=${audit.before}` : ""}`);
  } catch (e) {
    return tell($("audit-msg"), e.code || "network");
  }
  const rows = page.entries.map((e) => {
    const tr = el("tr");
    const whenWho = el("td");
    whenWho.append(el("span", { cls: "stamp", text: moment(e.at) }),
      el("strong", { text: e.actor_name ?? t(`who_${e.actor_kind}`) }));
    tr.append(whenWho, el("td", { text: describe(e) }));
    return tr;
  });
  const body = $("audit-rows");
  if (more) body.append(...rows);
  else if (rows.length) body.replaceChildren(...rows);
  else empty(body, 2);
  audit.before = page.next_before ?? null;
  $("audit-more").hidden = !audit.before;
}

/** What an entry says, in the page's language: the action and its particulars. */
function describe(e) {
  const d = e.detail ?? {};
  const key = `office_act_${e.action}`;
  const text = t(key, {
    name: d.name ?? "", reason: d.reason ?? "—",
    date: day(d.closing_date ?? d.effective_from ?? d.effective_on),
    round: d.round ?? "", number: d.number ?? "", fields: (d.fields ?? []).join(", "),
    before: d.before?.masked ?? "—", after: d.after?.masked ?? "—",
  });
  return text === key ? e.action : text;
}

export function wireAudit() {
  $("audit-more").addEventListener("click", () => loadAudit(true));
}
