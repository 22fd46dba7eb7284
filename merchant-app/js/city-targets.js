// The city's participating stores against the target by 年度: program + 年度 picker, the
// headline figures (registered, active, joins, withdrawals, target, 達成率), the server's SVG
// chart of every 年度 (fetched with the token, shown as a blob URL), breakdowns by 商店会, 業種,
// 地区 and size, the usage report, and both reports as CSV downloads.

import { api, download, imageUrl } from "./api.js";
import { pts, t, yen } from "./i18n.js";
import { errorText, say } from "./shell.js";

const $ = (id) => document.getElementById(id);
/** How many 年度 back the picker offers. */
const YEARS_BACK = 10;
const FIGURES = ["registered_at_end", "active", "joined", "left", "target", "achievement_rate"];
const BREAKDOWNS = ["association", "industry", "district", "size_class"];
const USAGE = ["transactions", "value_yen", "active_shoppers", "points_issued", "points_redeemed"];

const state = { token: null, stores: null, usage: null, chartUrl: null, seq: 0 };

/** Wires the section for a signed-in staff member and loads the current 年度. */
export async function startTargets(token, programs) {
  state.token = token;
  const select = $("targets-program");
  select.replaceChildren(...programs.map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name;
    return o;
  }));
  fillYears();
  await loadTargets();
}

/** The 年度 (April to March) of today in Japan. */
function currentFiscalYear() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo", year: "numeric", month: "numeric" })
    .formatToParts(new Date());
  const year = Number(parts.find((p) => p.type === "year").value);
  const month = Number(parts.find((p) => p.type === "month").value);
  return month >= 4 ? year : year - 1;
}

/** "令和7年度 (2025)"; 平成 before 2019. */
export function fiscalYearLabel(y) {
  const era = y >= 2019 ? `令和${y - 2018 === 1 ? "元" : y - 2018}` : `平成${y - 1988}`;
  return `${era}年度 (${y})`;
}

function fillYears() {
  const now = currentFiscalYear();
  const years = Array.from({ length: YEARS_BACK }, (_, i) => now - i);
  $("fiscal-year").replaceChildren(...years.map((y) => {
    const o = document.createElement("option");
    o.value = String(y);
    o.textContent = fiscalYearLabel(y);
    return o;
  }));
}

function query(format) {
  return new URLSearchParams({ fiscal_year: $("fiscal-year").value, format }).toString();
}

function base() {
  return `/programs/${$("targets-program").value}/reports`;
}

async function loadTargets() {
  if (!$("targets-program").value) return;
  say($("msg"), "");
  // Only the latest pick is shown, whichever answer arrives last.
  const seq = ++state.seq;
  try {
    const [stores, usage, chart] = await Promise.all([
      api("GET", `${base()}/stores?${query("json")}`, { token: state.token }),
      api("GET", `${base()}/usage?${query("json")}`, { token: state.token }),
      imageUrl(`${base()}/stores?${query("svg")}`, state.token),
    ]);
    if (seq !== state.seq) return URL.revokeObjectURL(chart);
    state.stores = stores;
    state.usage = usage;
    if (state.chartUrl) URL.revokeObjectURL(state.chartUrl);
    state.chartUrl = chart;
    $("targets-chart").src = chart;
    render();
    $("targets-report").hidden = false;
  } catch (e) {
    if (seq !== state.seq) return;
    $("targets-report").hidden = true;
    say($("msg"), errorText(e));
  }
}

function render() {
  const r = state.stores;
  if (!r) return;
  $("targets-label").textContent = r.fiscal_year ? fiscalYearLabel(r.fiscal_year) : r.label;
  $("targets-rows").replaceChildren(...FIGURES.map((f) => {
    const tr = document.createElement("tr");
    tr.dataset.field = f;
    tr.innerHTML = `<th scope="row"></th><td class="num"></td>`;
    tr.children[0].textContent = t("t_" + f);
    tr.children[1].textContent = figure(f, r[f]);
    return tr;
  }));
  $("targets-chart").alt = t("chart_alt", {
    label: $("targets-label").textContent,
    registered: r.registered_at_end,
    target: r.target ?? "—",
  });
  $("breakdowns").replaceChildren(...BREAKDOWNS.map((b) => breakdownTable(b, r.breakdowns[b])));
  renderUsage();
}

function figure(field, value) {
  if (value == null) return "—";
  if (field === "achievement_rate") return `${value}%`;
  return t("n_stores", { n: Number(value).toLocaleString("ja-JP") });
}

function breakdownTable(kind, groups) {
  const table = document.createElement("table");
  table.className = "breakdown";
  table.dataset.breakdown = kind;
  table.innerHTML = `<caption></caption><thead><tr><th></th><th class="num"></th><th class="num"></th></tr></thead><tbody></tbody>`;
  table.caption.textContent = t("b_" + kind);
  const head = table.tHead.rows[0].cells;
  head[0].textContent = t("b_" + kind);
  head[1].textContent = t("col_registered");
  head[2].textContent = t("col_active");
  const body = table.tBodies[0];
  if (!groups.length) body.innerHTML = `<tr><td colspan="3" class="muted">${t("none_yet")}</td></tr>`;
  for (const g of groups) {
    const tr = body.insertRow();
    tr.innerHTML = `<td></td><td class="num"></td><td class="num"></td>`;
    tr.children[0].textContent = g.key;
    tr.children[1].textContent = g.registered_at_end;
    tr.children[2].textContent = g.active;
  }
  return table;
}

function renderUsage() {
  const u = state.usage;
  if (!u) return;
  const total = { ...u.total, key: t("total") };
  $("usage-rows").replaceChildren(...[...u.months, total].map((row) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th scope="row"></th>` + USAGE.map(() => `<td class="num"></td>`).join("");
    tr.children[0].textContent = row.key;
    USAGE.forEach((f, i) => {
      const v = row[f];
      tr.children[i + 1].textContent = f === "value_yen" ? yen(v) : f.startsWith("points_") ? pts(v) : String(v);
    });
    return tr;
  }));
}

$("targets-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadTargets(); });
$("targets-program").addEventListener("change", loadTargets);
$("fiscal-year").addEventListener("change", loadTargets);

$("stores-csv").addEventListener("click", () =>
  download(`${base()}/stores?${query("csv")}`, state.token, "stores.csv").catch((e) => say($("msg"), errorText(e))));
$("usage-csv").addEventListener("click", () =>
  download(`${base()}/usage?${query("csv")}`, state.token, "usage.csv").catch((e) => say($("msg"), errorText(e))));

document.addEventListener("langchange", render);
