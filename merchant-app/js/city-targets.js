// 取扱店舗数 against the target by 年度: program + 年度 picker; the period and its "as of" day
// (a running 年度 says "2026年12月6日現在", never 年度末); the figures beside the same days a year
// before; the server's SVG chart in the page's language (fetched with the token, shown as a
// blob URL); the stores that joined, were suspended, resumed or left, with reasons; the
// breakdowns; usage by month with its total and the year before, in the program's unit (¥ for
// a currency, pt for points); CSV downloads; and the one-click council report (print view).

import { api, download, imageUrl } from "./api.js";
import { lang, t } from "./i18n.js";
import { errorText, say } from "./shell.js";
import {
  diff, fiscalYearLabel, fiscalYearShort, groupLabel, longDate, monthLabel, num,
} from "./city-texts.js";

const $ = (id) => document.getElementById(id);
/** How many 年度 back the picker offers. */
const YEARS_BACK = 10;
/** The figures, in the order shown; the first is the one the plan names (取扱店舗数). */
const FIGURES = ["registered_at_end", "target", "achievement_rate", "joined", "left", "active"];
const BREAKDOWNS = ["association", "industry", "district", "size_class"];
const USAGE = ["transactions", "value_yen", "active_shoppers", "points_issued", "points_redeemed"];

const state = {
  token: null, programs: [], town: "", stores: null, usage: null, chartUrl: null, seq: 0,
};

/** Wires the section for a signed-in staff member and loads the current 年度. */
export async function startTargets(token, programs, town) {
  state.token = token;
  state.programs = programs;
  state.town = town;
  $("targets-program").replaceChildren(...programs.map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name;
    return o;
  }));
  fillYears();
  await loadTargets();
}

/** Today in Japan, "2026-12-06". */
function todayJst() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo" }).format(new Date());
}

/** The 年度 (April to March) of today in Japan. */
function currentFiscalYear() {
  const [year, month] = todayJst().split("-").map(Number);
  return month >= 4 ? year : year - 1;
}

function fillYears() {
  const now = currentFiscalYear();
  const chosen = $("fiscal-year").value || String(now);
  const years = Array.from({ length: YEARS_BACK }, (_, i) => now - i);
  $("fiscal-year").replaceChildren(...years.map((y) => {
    const o = document.createElement("option");
    o.value = String(y);
    o.textContent = fiscalYearLabel(y);
    return o;
  }));
  $("fiscal-year").value = chosen;
}

function query(format, extra = {}) {
  return new URLSearchParams({ fiscal_year: $("fiscal-year").value, format, ...extra }).toString();
}

function base() {
  return `/programs/${$("targets-program").value}/reports`;
}

function program() {
  return state.programs.find((p) => p.id === $("targets-program").value);
}

async function loadTargets() {
  if (!$("targets-program").value) return;
  say($("targets-msg"), "");
  // Only the latest pick is shown, whichever answer arrives last.
  const seq = ++state.seq;
  try {
    const [stores, usage] = await Promise.all([
      api("GET", `${base()}/stores?${query("json")}`, { token: state.token }),
      api("GET", `${base()}/usage?${query("json")}`, { token: state.token }),
    ]);
    if (seq !== state.seq) return;
    state.stores = stores;
    state.usage = usage;
    render();
    $("targets-report").hidden = false;
    await loadChart(seq);
  } catch (e) {
    if (seq !== state.seq) return;
    $("targets-report").hidden = true;
    say($("targets-msg"), errorText(e));
  }
}

/** The chart in the page's language; on a phone it keeps a readable size (its box scrolls). */
async function loadChart(seq) {
  const url = await imageUrl(`${base()}/stores?${query("svg", { lang: lang() })}`, state.token);
  if (seq !== state.seq) return URL.revokeObjectURL(url);
  if (state.chartUrl) URL.revokeObjectURL(state.chartUrl);
  state.chartUrl = url;
  const img = $("targets-chart");
  img.onload = () => {
    // Never shrunk below 80 % (its words stay legible) nor blown up past 160 %.
    img.style.minWidth = `${Math.round(img.naturalWidth * 0.8)}px`;
    img.style.maxWidth = `${Math.round(img.naturalWidth * 1.6)}px`;
  };
  img.src = url;
}

/** "令和8年度末（2027年3月31日）現在" or "2026年12月6日現在（年度途中）". */
function asOfText(r) {
  if (r.as_of < r.to || !r.fiscal_year) return t("as_of_running", { date: longDate(r.as_of) });
  return t("as_of_done", { year: fiscalYearShort(r.fiscal_year), date: longDate(r.as_of) });
}

/** The as-of day a year earlier ("2025-12-06"). */
function yearBefore(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  const day = m === 2 && d === 29 ? 28 : d;
  return `${y - 1}-${String(m).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

function render() {
  const r = state.stores;
  if (!r) return;
  fillYears();
  const p = program();
  const label = r.fiscal_year ? fiscalYearLabel(r.fiscal_year) : r.label;
  $("targets-label").textContent = `${p?.name ?? ""} ${label}`.trim();
  $("targets-period").textContent =
    `${t("period_line", { from: longDate(r.from), to: longDate(r.to) })} ・ ${asOfText(r)}`;
  $("figures-caption").textContent = t("figures_caption", {
    now: r.fiscal_year && r.as_of < r.to ? `${fiscalYearShort(r.fiscal_year)} ${asOfText(r)}` : asOfText(r),
    before: longDate(yearBefore(r.as_of)),
  });
  $("targets-rows").replaceChildren(...FIGURES.map((f) => figureRow(f, r, r.previous_year)));
  renderChartText(r);
  renderChanges(r);
  $("breakdowns-title").textContent = t("breakdowns_title", { date: longDate(r.as_of) });
  $("breakdowns").replaceChildren(...BREAKDOWNS.map((b) => breakdownTable(b, r.breakdowns[b])));
  renderUsage();
  renderCouncilHead(r, label);
}

function figureRow(field, r, before) {
  const tr = document.createElement("tr");
  tr.dataset.field = field;
  tr.innerHTML = `<th scope="row"></th><td class="num"></td><td class="num"></td><td class="num"></td>`;
  tr.children[0].textContent = t("t_" + field);
  tr.children[1].textContent = figure(field, r[field]);
  const old = before ? before[field] : null;
  tr.children[2].textContent = figure(field, old);
  tr.children[3].textContent = change(field, r[field], old);
  return tr;
}

function figure(field, value) {
  if (value == null) return "—";
  if (field === "achievement_rate") return `${value}%`;
  return t("n_stores", { n: num(value) });
}

function change(field, now, old) {
  if (now == null || old == null) return "—";
  if (field === "achievement_rate") {
    const d = Math.round((Number(now) - Number(old)) * 10) / 10;
    return `${diff(d)}${lang() === "en" ? " pts" : "ポイント"}`;
  }
  return diff(Number(now) - Number(old));
}

function renderChartText(r) {
  const years = r.trend.map((y) => t("chart_alt_year", {
    year: fiscalYearLabel(y.fiscal_year), n: num(y.registered_at_end), target: y.target == null ? "—" : num(y.target),
  })).join(lang() === "en" ? "; " : "、");
  $("targets-chart").alt = t("chart_alt", { years });
  const last = r.trend[r.trend.length - 1];
  $("chart-note").textContent = r.as_of < r.to && last
    ? t("chart_note_running", { year: fiscalYearShort(last.fiscal_year), date: longDate(r.as_of) })
    : t("chart_note");
}

function renderChanges(r) {
  const rows = r.changes ?? [];
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td colspan="4" class="muted"></td>`;
    tr.firstChild.textContent = t("changes_none");
    $("changes-rows").replaceChildren(tr);
  } else {
    $("changes-rows").replaceChildren(...rows.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = c.kind;
      tr.innerHTML = `<td></td><td></td><td></td><td></td>`;
      tr.children[0].textContent = longDate(c.effective_on);
      tr.children[1].textContent = c.name;
      tr.children[2].textContent = t(`change_${c.kind}`);
      tr.children[3].textContent = c.reason || "—";
      return tr;
    }));
  }
  $("changes-more").hidden = !r.changes_truncated;
  $("changes-more").textContent = r.changes_truncated ? t("changes_truncated", { n: num(rows.length) }) : "";
}

function breakdownTable(kind, groups) {
  const box = document.createElement("div");
  box.className = "table-scroll";
  box.tabIndex = 0;
  const table = document.createElement("table");
  table.className = "breakdown";
  table.dataset.breakdown = kind;
  table.innerHTML = `<caption></caption><thead><tr><th scope="col"></th><th scope="col" class="num"></th><th scope="col" class="num"></th></tr></thead><tbody></tbody>`;
  table.caption.textContent = t("b_" + kind);
  const head = table.tHead.rows[0].cells;
  head[0].textContent = t("b_" + kind);
  head[1].textContent = t("col_registered");
  head[2].textContent = t("col_active");
  const body = table.tBodies[0];
  if (!groups.length) {
    body.innerHTML = `<tr><td colspan="3" class="muted"></td></tr>`;
    body.rows[0].cells[0].textContent = t("none_yet");
  }
  for (const g of groups) {
    const tr = body.insertRow();
    tr.innerHTML = `<th scope="row"></th><td class="num"></td><td class="num"></td>`;
    tr.children[0].textContent = groupLabel(kind, g.key, t);
    tr.children[1].textContent = t("n_stores", { n: num(g.registered_at_end) });
    tr.children[2].textContent = t("n_stores", { n: num(g.active) });
  }
  box.append(table);
  return box;
}

/** A usage cell in its unit: ¥ for a currency's value, pt for points, counts with 件 / 人. */
function usageCell(field, v) {
  if (v == null) return "—";
  if (field === "value_yen") return program()?.kind === "points" ? `${num(v)} pt` : `¥${num(v)}`;
  if (field.startsWith("points_")) return `${num(v)} pt`;
  if (field === "active_shoppers") return t("n_people", { n: num(v) });
  return t("n_count", { n: num(v) });
}

function usageRow(key, row, cls = "") {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  tr.innerHTML = `<th scope="row"></th>` + USAGE.map(() => `<td class="num"></td>`).join("");
  tr.children[0].textContent = key;
  USAGE.forEach((f, i) => { tr.children[i + 1].textContent = row ? row[f] == null ? "" : usageCell(f, row[f]) : ""; });
  return tr;
}

function renderUsage() {
  const u = state.usage;
  if (!u) return;
  const rows = u.months.map((m) => usageRow(monthLabel(m.key), m));
  rows.push(usageRow(t("total"), u.total, "total"));
  if (u.previous_total) {
    rows.push(usageRow(`${t("usage_previous")} (${longDate(yearBefore(u.from))}〜${longDate(yearBefore(u.as_of))})`, u.previous_total, "previous"));
    const change = usageRow(t("usage_change"), null, "change");
    USAGE.forEach((f, i) => {
      const d = Number(u.total[f]) - Number(u.previous_total[f]);
      change.children[i + 1].textContent = diff(d);
    });
    rows.push(change);
  }
  $("usage-rows").replaceChildren(...rows);
  const s = state.stores;
  $("usage-period").textContent =
    `${t("period_line", { from: longDate(u.from), to: longDate(u.to) })} ・ ${s ? asOfText(s) : longDate(u.as_of)}`;
}

function renderCouncilHead(r, label) {
  $("council-town").textContent = state.town;
  $("council-program").textContent = program()?.name ?? "";
  $("council-period").textContent = `${label} (${longDate(r.from)}〜${longDate(r.to)})`;
  $("council-as-of").textContent = asOfText(r);
  $("council-prepared").textContent = longDate(todayJst());
}

$("targets-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadTargets(); });
$("targets-program").addEventListener("change", loadTargets);
$("fiscal-year").addEventListener("change", loadTargets);

$("stores-csv").addEventListener("click", () =>
  download(`${base()}/stores?${query("csv")}`, state.token, "stores.csv").catch((e) => say($("targets-msg"), errorText(e))));
$("usage-csv").addEventListener("click", () =>
  download(`${base()}/usage?${query("csv")}`, state.token, "usage.csv").catch((e) => say($("targets-msg"), errorText(e))));

/** The council report: the page turns to its print view (heading, figures, chart, breakdowns,
 * no controls) and the browser's print dialog opens; "back" returns to the dashboard. */
$("council-print").addEventListener("click", () => {
  document.body.classList.add("council");
  $("council-back").focus();
  // After the view has been laid out, so the dialog shows the report.
  requestAnimationFrame(() => setTimeout(() => window.print(), 0));
});
$("council-back").addEventListener("click", () => {
  document.body.classList.remove("council");
  $("council-print").focus();
});

document.addEventListener("langchange", () => {
  render();
  if (state.stores) loadChart(state.seq).catch((e) => say($("targets-msg"), errorText(e)));
});
