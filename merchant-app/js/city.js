// The city dashboard: staff sign-in (the session cookie from signin.html; a pasted staff token
// as the fallback for integrations and tests), the 取扱店舗数 section (js/city-targets.js), and
// the unused-balance report (未使用残高) as a table and a CSV download. Each form's refusal is
// shown under it, in the page's language (error-messages.js), announced to screen readers.

import "./city-texts.js";
import { ApiError, api, download, signOut, tokens } from "./api.js";
import { t } from "./i18n.js";
import { errorText, say, shell } from "./shell.js";
import { startTargets } from "./city-targets.js";
import { longDate, num } from "./city-texts.js";

const ROLE = "staff";
const $ = (id) => document.getElementById(id);
const REPORT_FIELDS = [
  "reference_date", "unused_paid_yen", "unused_premium_yen", "unused_total_yen",
  "threshold_yen", "required_deposit_yen", "period_from", "opening_unused_yen",
  "issued_yen", "used_yen", "expired_yen", "free_points",
];

const state = { token: null, report: null };

shell();
start();

async function start() {
  let programs;
  let town = "";
  // A pasted token (integrations, tests) if there is one; otherwise the session cookie.
  state.token = tokens.get(ROLE);
  try {
    const me = await api("GET", "/me", { token: state.token });
    if (me.kind !== "staff") throw new ApiError(403, "not_staff_token", "not a staff token");
    programs = await api("GET", "/programs", { token: state.token });
    town = await townName(me.city_id);
    $("program").replaceChildren(...programs.filter((p) => p.kind === "currency").map((p) => {
      const o = document.createElement("option");
      o.value = p.id;
      o.textContent = p.name;
      return o;
    }));
  } catch (e) {
    const hadToken = Boolean(state.token);
    tokens.clear(ROLE);
    state.token = null;
    showSignin();
    // Not signed in yet is no error: the sign-in section says what to do.
    if (hadToken || e.status !== 401) say($("signin-msg"), errorText(e));
    return;
  }
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  $("unused").hidden = !programs.some((p) => p.kind === "currency");
  await Promise.all([startTargets(state.token, programs, town), loadReport()]);
}

/** The city's name (for the council report's heading), or "" if the list cannot be read. */
async function townName(cityId) {
  try {
    const cities = await api("GET", "/cities");
    return cities.find((c) => c.id === cityId)?.name ?? "";
  } catch {
    return "";
  }
}

function showSignin() {
  $("dashboard").hidden = true;
  $("signin").hidden = false;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("signin-msg"), "");
  const token = $("token").value.trim();
  if (!token) return;
  tokens.set(ROLE, token);
  await start();
});

function reportPath(format) {
  const date = $("report-date").value;
  const q = new URLSearchParams({ format });
  if (date) q.set("date", date);
  return `/programs/${$("program").value}/reports/unused-balance?${q}`;
}

async function loadReport() {
  say($("unused-msg"), "");
  if (!$("program").value) return;
  try {
    state.report = await api("GET", reportPath("json"), { token: state.token });
    renderReport();
  } catch (e) {
    $("unused-table").hidden = true;
    say($("unused-msg"), errorText(e));
  }
}

function renderReport() {
  const r = state.report;
  if (!r) return;
  $("unused-rows").replaceChildren(...REPORT_FIELDS.map((f) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th scope="row"></th><td class="num"></td>`;
    tr.children[0].textContent = t("r_" + f);
    const v = r[f];
    tr.children[1].textContent = f.endsWith("_yen") ? `¥${num(v)}`
      : f === "free_points" ? `${num(v)} pt`
      : longDate(v);
    tr.dataset.field = f;
    return tr;
  }));
  $("unused-table").hidden = false;
}

$("unused-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadReport(); });
$("program").addEventListener("change", loadReport);

/** Downloads the CSV with the token (a plain link could not send the Authorization header). */
$("unused-csv").addEventListener("click", async () => {
  say($("unused-msg"), "");
  try {
    await download(reportPath("csv"), state.token, "unused-balance.csv");
  } catch (e) {
    say($("unused-msg"), errorText(e));
  }
});

$("sign-out").addEventListener("click", async () => {
  if (state.token) {
    tokens.clear(ROLE);
    return location.reload();
  }
  await signOut();
  location.href = "signin.html";
});

document.addEventListener("langchange", renderReport);
