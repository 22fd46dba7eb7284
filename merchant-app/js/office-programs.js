// The back office's program parts: the picked program's dated settings (every version kept;
// a change is a new version from a date), its premium, rebate and point campaigns (list and
// open), and the lottery of a premium campaign sold by lottery (applications, draw with the
// seed, the draw report as CSV).

import { api, download, moneyPost } from "./api.js";
import { t, yen, pts } from "./i18n.js";
import {
  $, act, addDays, button, canOperate, day, el, empty, jstStart, moment, office, rowMessage, tell,
  todayJst,
} from "./office-ui.js";

// ---- settings ----------------------------------------------------------------------------

export async function loadSettings() {
  const body = $("settings-rows");
  if (!office.program) return empty(body, 3);
  let versions;
  try {
    versions = await api("GET", `/programs/${office.program.id}/settings`);
  } catch (e) {
    return tell($("settings-msg"), e.code || "network");
  }
  if (!versions.length) return empty(body, 3);
  body.replaceChildren(...[...versions].reverse().map((v) => {
    const tr = el("tr");
    const details = el("details");
    details.append(el("summary", { text: summary(v.settings) }), el("pre", { cls: "code", text: JSON.stringify(v.settings, null, 2) }));
    const settingsCell = el("td");
    settingsCell.append(details);
    tr.append(el("td", { text: day(v.effective_from) }), settingsCell, el("td", { text: moment(v.created_at) }));
    return tr;
  }));
  const latest = versions[versions.length - 1];
  $("settings-json").value = JSON.stringify(latest.settings, null, 2);
  $("settings-from").value = addDays(todayJst(), 1);
}

/** The settings people ask about first, in one line. */
function summary(s) {
  const parts = [];
  if (s.charge_max_yen !== undefined) parts.push(`${t("office_charge_max")} ${yen(s.charge_max_yen)}`);
  if (s.cashout_fee_rate !== undefined) parts.push(`${t("office_fee_rate")} ${Number(s.cashout_fee_rate) * 100}%`);
  if (s.closing_days) parts.push(`${t("office_closing_days")} ${s.closing_days.length ? s.closing_days.join("・") : t("office_daily")}`);
  return parts.join(" / ") || t("office_settings_json");
}

export function wireSettings() {
  $("settings-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("settings-submit"), $("settings-msg"), async () => {
      let settings;
      try {
        settings = JSON.parse($("settings-json").value);
      } catch {
        throw { code: "invalid_settings" };
      }
      const from = $("settings-from").value;
      await api("POST", `/programs/${office.program.id}/settings`, {
        body: { settings, ...(from ? { effective_from: from } : {}) },
      });
      await loadSettings();
      tell($("settings-msg"), "office_saved", "ok");
    });
  });
}

// ---- campaigns ---------------------------------------------------------------------------

export async function loadCampaigns() {
  const p = office.program;
  const currency = p && p.kind === "currency";
  $("premium-form").hidden = !currency || !canOperate();
  $("rebate-form").hidden = !currency || !canOperate();
  $("point-campaign-form").hidden = !p || p.kind !== "points" || !canOperate();
  if (!p) return;
  const [premium, rebates, points] = await Promise.all([
    currency ? api("GET", `/programs/${p.id}/premium-campaigns`).catch(() => []) : [],
    currency ? api("GET", `/programs/${p.id}/rebate-campaigns`).catch(() => []) : [],
    p.kind === "points" ? api("GET", `/programs/${p.id}/point-campaigns`).catch(() => []) : [],
  ]);
  list($("premium-list"), premium, (c) => `${c.name}: ${yen(c.price_yen)} → ${yen(Number(c.price_yen) + Number(c.premium_yen))}` +
    ` · ${t("office_sets_left", { n: c.sets_left })} · ${day(c.sale_starts_at.slice(0, 10))}〜${day(c.sale_ends_at.slice(0, 10))}` +
    (c.sale_mode === "lottery" ? ` · ${t("office_by_lottery")}` : ""));
  list($("rebate-list"), rebates, (c) => `${c.name}: ${t(`office_cstatus_${c.status}`)} · ${t("office_budget_left", { n: pts(c.budget_remaining_points) })}`);
  list($("point-campaign-list"), points, (c) => `${c.name}: ×${c.multiplier} · ${moment(c.starts_at)}〜${moment(c.ends_at)}`);
  await loadLotteries(premium.filter((c) => c.sale_mode === "lottery"));
}

function list(ul, items, line) {
  if (!items.length) return empty(ul);
  ul.replaceChildren(...items.map((c) => el("li", { cls: "card", text: line(c) })));
}

const num = (id) => Number($(id).value);

export function wireCampaigns() {
  const today = todayJst();
  for (const id of ["pc-start", "rc-start", "ptc-start"]) $(id).value = today;
  for (const id of ["pc-end", "rc-end", "ptc-end"]) $(id).value = addDays(today, 30);
  $("premium-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("premium-submit"), $("premium-msg"), async () => {
      await moneyPost(`/programs/${office.program.id}/premium-campaigns`, undefined, {
        name: $("pc-name").value.trim(), price_yen: num("pc-price"), premium_yen: num("pc-premium"),
        units_per_person_max: num("pc-limit"), budget_yen: num("pc-budget"),
        sale_starts_at: jstStart($("pc-start").value), sale_ends_at: jstStart(addDays($("pc-end").value, 1)),
      });
      await loadCampaigns();
      tell($("premium-msg"), "office_saved", "ok");
    });
  });
  $("rebate-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("rebate-submit"), $("rebate-msg"), async () => {
      await moneyPost(`/programs/${office.program.id}/rebate-campaigns`, undefined, {
        name: $("rc-name").value.trim(),
        tiers: [{ category: $("rc-category").value.trim(), rate: $("rc-rate").value.trim() }],
        monthly_cap_points: num("rc-cap"), budget_points: num("rc-budget"),
        starts_at: jstStart($("rc-start").value), ends_at: jstStart(addDays($("rc-end").value, 1)),
        grant_mode: "immediate",
      });
      await loadCampaigns();
      tell($("rebate-msg"), "office_saved", "ok");
    });
  });
  $("point-campaign-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("point-campaign-submit"), $("point-campaign-msg"), async () => {
      await moneyPost(`/programs/${office.program.id}/point-campaigns`, undefined, {
        name: $("ptc-name").value.trim(), multiplier: $("ptc-mult").value.trim(),
        starts_at: jstStart($("ptc-start").value), ends_at: jstStart(addDays($("ptc-end").value, 1)),
      });
      await loadCampaigns();
      tell($("point-campaign-msg"), "office_saved", "ok");
    });
  });
}

// ---- lottery -----------------------------------------------------------------------------

async function loadLotteries(campaigns) {
  const box = $("lottery-box");
  if (!campaigns.length) {
    box.replaceChildren(el("p", { cls: "muted", text: t("office_no_lottery") }));
    return;
  }
  const cards = [];
  for (const c of campaigns) {
    let l;
    try {
      l = await api("GET", `/programs/${office.program.id}/lotteries/${c.id}`);
    } catch {
      continue;
    }
    cards.push(lotteryCard(c, l));
  }
  box.replaceChildren(...cards);
}

function lotteryCard(c, l) {
  const card = el("div", { cls: "card" });
  card.append(el("h4", { text: c.name }));
  card.append(el("p", { text: t("office_lottery_line", {
    open: moment(l.applications_open_at), close: moment(l.applications_close_at), n: l.applications,
  }) }));
  card.append(el("p", { cls: "muted code", text: `SHA-256: ${l.seed_hash}` }));
  for (const d of l.draws) {
    card.append(el("p", { text: t("office_draw_line", { round: d.round, winners: d.winners, units: d.units_won }) }));
  }
  const msg = rowMessage();
  const report = button("office_lottery_report", {
    secondary: true,
    onClick: () => act(report, msg, () => download(`/programs/${office.program.id}/lotteries/${c.id}/report?format=csv`, undefined, `lottery-${c.id}.csv`)),
  });
  card.append(report);
  if (canOperate()) {
    const seedId = `seed-${c.id}`;
    const seed = el("input", { attrs: { id: seedId, autocomplete: "off", spellcheck: "false" } });
    const draw = button("office_draw", {
      onClick: () => act(draw, msg, async () => {
        await api("POST", `/programs/${office.program.id}/lotteries/${c.id}/draws`, { body: { seed: seed.value } });
        await loadCampaigns();
      }),
    });
    card.append(el("label", { text: t("office_seed"), attrs: { for: seedId } }), seed, draw);
  }
  card.append(msg);
  return card;
}
