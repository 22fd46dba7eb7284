// The waiting room of a first-come premium sale (issue 17), in the wallet: the campaigns on
// sale that sell through a waiting room, a button to take a place in the queue, then the
// place (tickets ahead) and the wait, polled as often as the server says (poll_after_ms),
// until the shopper's turn comes (buy before buy_until), the sale sells out or ends. A ticket
// taken is remembered on this device, so a reload shows it again instead of queueing anew.

import { api } from "./api.js";
import { lang, when, yen } from "./i18n.js";
import { errorText } from "./shell.js";

const TEXT = {
  ja: {
    title: "プレミアム付き商品券（先着順）",
    join: "待合室に並ぶ",
    set: (c) => `${yen(c.price_yen)}で${yen(c.price_yen + c.premium_yen)}分（お一人様${c.units_per_person_max}セットまで、残り${c.sets_left}セット）`,
    waiting: (t) => `整理券 ${t.position}番：あなたの前に${t.ahead}人。あと約${Math.ceil(t.estimated_wait_ms / 1000)}秒（${when(t.admit_at)}ごろ）。`,
    admitted: (t) => `順番が来ました（整理券 ${t.position}番）。${when(t.buy_until)}までにご購入ください。整理券番号: ${t.id}`,
    expired: "購入できる時間が過ぎました。",
    keep: "この画面を開いたままお待ちください。順番は自動で更新されます。",
  },
  en: {
    title: "Premium sets (first come)",
    join: "Join the waiting room",
    set: (c) => `${yen(c.price_yen + c.premium_yen)} for ${yen(c.price_yen)} (up to ${c.units_per_person_max} per person, ${c.sets_left} left)`,
    waiting: (t) => `Ticket ${t.position}: ${t.ahead} ahead of you, about ${Math.ceil(t.estimated_wait_ms / 1000)} s to wait (around ${when(t.admit_at)}).`,
    admitted: (t) => `Your turn has come (ticket ${t.position}). Please buy before ${when(t.buy_until)}. Ticket: ${t.id}`,
    expired: "Your time to buy is over.",
    keep: "Keep this page open: your place updates by itself.",
  },
};

const text = () => TEXT[lang()] || TEXT.ja;
const remembered = (campaign) => `machipay.queue.${campaign}`;

/** Shows the campaigns with a waiting room in `root` (hidden if there are none). */
export async function mountWaitingRoom(root, { token, programs }) {
  const now = Date.now();
  const found = [];
  for (const p of programs.filter((p) => p.kind === "currency")) {
    const campaigns = await api("GET", `/programs/${p.id}/premium-campaigns`, { token });
    for (const c of campaigns) {
      const onSale = Date.parse(c.sale_ends_at) > now && c.sets_left > 0;
      if (c.waiting_room && c.sale_mode === "first_come" && onSale) found.push(c);
    }
  }
  root.replaceChildren();
  root.hidden = found.length === 0;
  if (root.hidden) return;
  const h = document.createElement("h2");
  h.textContent = text().title;
  root.append(h);
  for (const c of found) root.append(campaignCard(c, token));
}

function campaignCard(c, token) {
  const card = document.createElement("div");
  card.className = "card";
  const name = document.createElement("strong");
  name.textContent = c.name;
  const terms = document.createElement("p");
  terms.textContent = text().set(c);
  const status = document.createElement("p");
  status.setAttribute("aria-live", "polite");
  const join = document.createElement("button");
  join.type = "button";
  join.textContent = text().join;
  card.append(name, terms, join, status);
  const base = `/programs/${c.program_id}/premium-campaigns/${c.id}/queue`;
  const follow = (ticket) => {
    join.hidden = true;
    localStorage.setItem(remembered(c.id), ticket.id);
    poll(base, ticket, token, status);
  };
  join.addEventListener("click", async () => {
    join.disabled = true;
    try {
      follow(await api("POST", base, { token }));
    } catch (e) {
      status.textContent = errorText(e);
      join.disabled = false;
    }
  });
  const kept = localStorage.getItem(remembered(c.id));
  if (kept) {
    api("GET", `${base}/${kept}`, { token }).then(follow, (e) => {
      status.textContent = errorText(e);
      if (e.status === 404) localStorage.removeItem(remembered(c.id));
    });
  }
  return card;
}

/** Shows the ticket and asks again when the server says to, until it is no longer waiting. */
function poll(base, ticket, token, status) {
  if (ticket.state === "waiting") {
    status.textContent = `${text().waiting(ticket)} ${text().keep}`;
    setTimeout(async () => {
      try {
        poll(base, await api("GET", `${base}/${ticket.id}`, { token }), token, status);
      } catch (e) {
        // Sold out or ended: said by name, and no more polling. A network failure: retry.
        status.textContent = errorText(e);
        if (e.status === 0 || e.status >= 500) setTimeout(() => poll(base, ticket, token, status), 5000);
      }
    }, Math.max(ticket.poll_after_ms, 50));
    return;
  }
  status.textContent = ticket.state === "admitted" ? text().admitted(ticket) : text().expired;
}
