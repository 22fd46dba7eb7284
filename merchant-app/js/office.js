// The back office (operator and city staff), signed in by the session cookie: one part at a
// time (applications, registry, programs, campaigns, cards, shoppers, settlement, reports,
// audit log), for the program picked at the top. Controls the signed-in role may not use are
// hidden (the server refuses them anyway); every refusal is told next to its button.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { shell } from "./shell.js";
import { $, canOperate, office, tell } from "./office-ui.js";
import { loadApplications, loadStores, registryProgramChanged, wireRegistry } from "./office-registry.js";
import { loadCampaigns, loadSettings, wireCampaigns, wireSettings } from "./office-programs.js";
import { wireCards, wireShoppers } from "./office-people.js";
import { loadAudit, loadRuns, wireAudit, wireSettlement } from "./office-settlement.js";

/** What each part loads when it is opened (and again when the program changes). */
const LOADERS = {
  applications: loadApplications,
  stores: () => loadStores(false),
  programs: loadSettings,
  campaigns: loadCampaigns,
  cards: async () => {},
  shoppers: async () => {},
  settlement: loadRuns,
  reports: async () => {},
  audit: () => loadAudit(false),
};

let current = "applications";

shell();
start();

async function start() {
  try {
    office.me = await api("GET", "/me");
  } catch {
    office.me = null;
  }
  if (!office.me || office.me.kind !== "staff") {
    $("office").hidden = true;
    $("office-signin").hidden = false;
    if (office.me) tell($("office-signin-msg"), "office_not_staff");
    return;
  }
  $("office-signin").hidden = true;
  $("office").hidden = false;
  showRole();
  office.programs = await api("GET", "/programs");
  office.program = office.programs[0] ?? null;
  const select = $("office-program");
  renderPrograms();
  select.addEventListener("change", () => {
    office.program = office.programs.find((p) => p.id === select.value) ?? null;
    registryProgramChanged();
    open(current);
  });
  wireRegistry();
  wireSettings();
  wireCampaigns();
  wireCards();
  wireShoppers();
  wireSettlement();
  wireAudit();
  for (const tab of document.querySelectorAll("#office-nav .tab")) {
    tab.addEventListener("click", () => open(tab.dataset.section));
  }
  const wanted = location.hash.slice(1);
  open(LOADERS[wanted] ? wanted : "applications");
  // A link to another part of this page (office.html#settlement) opens that part.
  addEventListener("hashchange", () => {
    const part = location.hash.slice(1);
    if (LOADERS[part] && part !== current) open(part);
  });
}

/** The program picker's choices, in the page's language. */
function renderPrograms() {
  const select = $("office-program");
  select.replaceChildren(...office.programs.map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = `${p.name}（${t(`office_kind_${p.kind}`)}）`;
    return o;
  }));
  if (office.program) select.value = office.program.id;
}

/** Hides what the role may not do, and says who is signed in. */
function showRole() {
  const me = office.me;
  $("office-who").textContent = t("office_who", {
    kind: t(`office_staff_${me.staff_kind}`), role: t(`office_role_${me.role}`),
  });
  const operate = canOperate();
  for (const e of document.querySelectorAll("[data-needs=operate]")) e.hidden = !operate;
}

async function open(section) {
  if (section === "audit" && !canOperate()) section = "applications";
  current = section;
  for (const s of document.querySelectorAll(".office-sec")) s.hidden = s.id !== `sec-${section}`;
  for (const tab of document.querySelectorAll("#office-nav .tab")) {
    if (tab.dataset.section === section) tab.setAttribute("aria-current", "true");
    else tab.removeAttribute("aria-current");
  }
  history.replaceState(null, "", `#${section}`);
  try {
    await LOADERS[section]();
  } catch {
    /* each part tells its own refusals */
  }
}

document.addEventListener("langchange", () => {
  if (!office.me || office.me.kind !== "staff") return;
  showRole();
  renderPrograms();
  open(current);
});
