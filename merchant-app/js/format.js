// Dates and lines for people, shared by the till and the wallet: a day with its year in both
// calendars (2026年12月6日(日) 令和8年), times in Japan time, a countdown, the words for a
// history line (what, and who was on the other side), a masked bank account, and a short
// Web Audio beep with a vibration for 支払い完了.

import { lang, money, t } from "./i18n.js";

const TZ = "Asia/Tokyo";
const locale = () => (lang() === "en" ? "en-GB" : "ja-JP");

/** The JST calendar date of an instant, as YYYY-MM-DD (groups history lines by day). */
export function jstDay(iso) {
  return new Date(iso).toLocaleDateString("sv-SE", { timeZone: TZ });
}

/** A day with its year: 2026年12月6日(日) · 令和8年, or Sun 6 Dec 2026. */
export function dayLabel(dayOrIso) {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(dayOrIso) ? new Date(`${dayOrIso}T12:00:00+09:00`) : new Date(dayOrIso);
  if (lang() === "en") {
    return d.toLocaleDateString("en-GB", { timeZone: TZ, weekday: "short", day: "numeric", month: "short", year: "numeric" });
  }
  const western = d.toLocaleDateString("ja-JP", { timeZone: TZ, year: "numeric", month: "long", day: "numeric", weekday: "short" });
  const era = new Intl.DateTimeFormat("ja-JP-u-ca-japanese", { timeZone: TZ, era: "long", year: "numeric" }).format(d);
  return `${western.replace(/\((.)\)$/, "($1)")} · ${era}`;
}

/** A date without the weekday: 2026年12月10日 (令和8年), or 10 Dec 2026. */
export function dateLabel(day) {
  if (!day) return "—";
  const d = new Date(`${day}T12:00:00+09:00`);
  if (lang() === "en") return d.toLocaleDateString("en-GB", { timeZone: TZ, day: "numeric", month: "short", year: "numeric" });
  const western = d.toLocaleDateString("ja-JP", { timeZone: TZ, year: "numeric", month: "long", day: "numeric" });
  const era = new Intl.DateTimeFormat("ja-JP-u-ca-japanese", { timeZone: TZ, era: "long", year: "numeric" }).format(d);
  return `${western}（${era}）`;
}

/** The time of day in Japan, 14:05. */
export function timeLabel(iso, seconds = false) {
  return new Date(iso).toLocaleTimeString(locale(), {
    timeZone: TZ, hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}),
  });
}

/** A day and time with the year, for one line: 2026年12月6日 14:05. */
export function dateTimeLabel(iso) {
  return new Date(iso).toLocaleString(locale(), {
    timeZone: TZ, year: "numeric", month: lang() === "en" ? "short" : "long", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** Seconds left as m:ss. */
export function clock(secondsLeft) {
  const s = Math.max(0, Math.ceil(secondsLeft));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Whole days from today (JST) until a YYYY-MM-DD date. */
export function daysUntil(day) {
  const today = new Date(`${jstDay(new Date().toISOString())}T00:00:00+09:00`);
  const then = new Date(`${day}T00:00:00+09:00`);
  return Math.round((then - today) / 86_400_000);
}

/** ****567: the account number shown with its last three digits only. */
export function maskAccount(number) {
  const n = String(number ?? "");
  return n.length <= 3 ? n : "****" + n.slice(-3);
}

/**
 * One history line in words, from the side of `who` ("store" or "shopper"): what happened
 * and with whom. Never the raw kind (`point_earn`): an unknown kind says "取引".
 */
export function lineWords(entry, who) {
  const key = `line_${who}_${entry.kind}`;
  const text = t(key, { store: entry.store_name ?? t("a_store") });
  const words = text === key ? t("line_other") : text;
  if (who !== "store" || !entry.counterparty_kind) return words;
  const partyKey = `party_${entry.counterparty_kind}`;
  const party = t(partyKey);
  if (party === partyKey) return words;
  const side = t(entry.amount > 0 ? "party_from" : "party_to", { party });
  return lang() === "en" ? `${words} (${side})` : `${words}（${side}）`;
}

/**
 * The amount of a line as people read it: points a store awarded are shown as awarded
 * (+19 pt 付与), not as the store's stock going down; otherwise signed, in yen or points.
 */
export function lineAmount(entry, who) {
  const n = entry.amount;
  if (who === "store" && entry.kind === "point_earn") return `+${money("points", Math.abs(n))} ${t("awarded")}`;
  const sign = n > 0 ? "+" : n < 0 ? "−" : "";
  return sign + money(entry.asset, Math.abs(n));
}

let audio = null;

/** Readies sound on a press (browsers start audio only after a gesture). */
export function unlockSound() {
  try {
    audio ??= new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null;
  }
}

/** Two short rising beeps and a vibration: the sound of 支払い完了. */
export function chime() {
  navigator.vibrate?.([200, 100, 200]);
  if (!audio) return;
  const now = audio.currentTime;
  [[880, 0], [1320, 0.18]].forEach(([freq, at]) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + at);
    gain.gain.exponentialRampToValueAtTime(0.3, now + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + at);
    osc.stop(now + at + 0.17);
  });
}

/** Says `text` to screen readers through the page's live region (#announce). */
export function announce(text) {
  const el = document.getElementById("announce");
  if (!el) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}
