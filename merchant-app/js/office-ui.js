// What the back office's parts share: the signed-in staff member and what their role may do,
// the program picked, elements by id, messages next to the button that caused them (in the
// page's language, announced, never the server's text), and small formatting helpers.

import { errorMessage } from "./error-messages.js";
import { lang, t } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** The page's state: who is signed in, the programs, the one picked. */
export const office = { me: null, programs: [], program: null };

/** Whether the signed-in staff member may change things (operator staff with role operator
 * or admin, and city admins): the server's `OperateProgram` rule, mirrored to hide controls. */
export function canOperate(me = office.me) {
  if (!me || me.kind !== "staff") return false;
  if (me.staff_kind === "city") return me.role === "admin";
  return me.role === "operator" || me.role === "admin";
}

/**
 * Shows a message in `el`: an error code's text (kind "err", the default), or a dictionary
 * key's text (kind "ok"). Hidden when `what` is empty. The element carries aria-live in the
 * page, and gets role alert or status so it is announced.
 */
export function tell(el, what, kind = "err", vars = {}) {
  el.hidden = !what;
  el.className = `notice ${kind}${el.classList.contains("wide") ? " wide" : ""}`;
  el.textContent = what ? (kind === "err" ? errorMessage(what, lang()) : t(what, vars)) : "";
  if (what) el.setAttribute("role", kind === "err" ? "alert" : "status");
}

/** Runs `fn` for a button press with the button disabled; a refusal is told in `msg`. */
export async function act(button, msg, fn) {
  tell(msg, "");
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    tell(msg, (e && e.code) || "network");
    msg.scrollIntoView?.({ block: "nearest" });
  } finally {
    button.disabled = false;
  }
}

/** A new element with a class and text. */
export function el(tag, { cls, text, attrs } = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
  return e;
}

/** A button of the app's style. */
export function button(key, { secondary = false, onClick } = {}) {
  const b = el("button", { cls: secondary ? "secondary" : "", text: t(key), attrs: { type: "button" } });
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** A message box for a row's buttons (announced). */
export function rowMessage() {
  const p = el("p", { cls: "notice err", attrs: { "aria-live": "assertive" } });
  p.hidden = true;
  return p;
}

/** A definition list of label → value pairs (values as text, never HTML). */
export function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([label, value]) => [
    el("dt", { text: label }), el("dd", { text: value ?? "—" }),
  ]));
}

/** Today in Japan (YYYY-MM-DD). */
export function todayJst() {
  return new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);
}

/** A JST date plus `days`. */
export function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The start of a JST date as an RFC 3339 instant. */
export function jstStart(date) {
  return `${date}T00:00:00+09:00`;
}

/** A date (YYYY-MM-DD) for people: 2026年1月10日 or 10 Jan 2026. */
export function day(date) {
  if (!date) return "—";
  const d = new Date(`${date}T00:00:00+09:00`);
  return d.toLocaleDateString(lang() === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", year: "numeric", month: "short", day: "numeric",
  });
}

/** A timestamp for people, with the year. */
export function moment(iso) {
  return new Date(iso).toLocaleString(lang() === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", year: "numeric", month: "numeric", day: "numeric",
    hour: "2-digit", minute: "2-digit",
  });
}

/** A row of "nothing yet" for an empty list or table body. */
export function empty(container, cols = 0) {
  if (cols) {
    const tr = el("tr");
    tr.append(el("td", { cls: "muted", text: t("none_yet"), attrs: { colspan: String(cols) } }));
    container.replaceChildren(tr);
  } else {
    container.replaceChildren(el("li", { cls: "muted", text: t("none_yet") }));
  }
}
