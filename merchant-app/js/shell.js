// The page frame every screen shares: header with the language switch, and the page list.
// A new page slots in by adding one line to PAGES and its own html + js module.

import { errorMessage } from "./error-messages.js";
import { apply, lang, setLang, t } from "./i18n.js";

export const PAGES = [
  { href: "index.html", key: "nav_home" },
  { href: "merchant.html", key: "nav_merchant" },
  { href: "wallet.html", key: "nav_wallet" },
  { href: "city.html", key: "nav_city" },
  { href: "owner.html", key: "nav_owner" },
  { href: "signin.html", key: "nav_signin" },
  { href: "office.html", key: "nav_office" },
];

/** Renders header and navigation into the page, translates it, and wires the switch. */
export function shell() {
  const here = location.pathname.split("/").pop() || "index.html";
  const header = document.createElement("header");
  header.className = "top";
  header.innerHTML = `<h1 data-i18n="app_name"></h1>
    <button type="button" class="lang" id="lang-switch" data-i18n="lang_switch" data-i18n-label="lang_switch_label"></button>`;
  const nav = document.createElement("nav");
  nav.className = "pages";
  nav.setAttribute("aria-label", "pages");
  for (const p of PAGES) {
    const a = document.createElement("a");
    a.href = p.href;
    a.dataset.i18n = p.key;
    if (p.href === here) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  document.body.prepend(header, nav);
  header.querySelector("#lang-switch").addEventListener("click", () => setLang(lang() === "ja" ? "en" : "ja"));
  apply();
}

/** Shows a message in the element (class ok or err), or hides it when text is empty. */
export function say(el, text, kind = "err") {
  el.hidden = !text;
  el.className = `notice ${kind}`;
  el.textContent = text || "";
  if (text) el.setAttribute("role", kind === "err" ? "alert" : "status");
}

/** The text to show for an error: the app's own words for its code (error-messages.js) in the
 * current language, or a generic text; never the server's message, which is for developers. */
export function errorText(e) {
  const code = e && typeof e === "object" && e.code ? e.code : "";
  return `${t("error")}: ${errorMessage(code, lang())}`;
}
