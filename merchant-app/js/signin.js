// Sign-in for everyone: sign in (password or passkey), register a wallet, redeem a setup code;
// once signed in, the devices signed in (each can be ended), the passkeys (register one, delete
// any) and sign-out. The session lives in an HttpOnly cookie
// the page never sees; the API client adds the CSRF token (api.js). Each form shows its own
// message right under its fields (aria-live), in the current language.

import { api, signOut } from "./api.js";
import { errorMessage } from "./error-messages.js";
import { lang, t, when } from "./i18n.js";
import { createPasskey, getPasskey, passkeysSupported } from "./passkey.js";
import { shell } from "./shell.js";

const $ = (id) => document.getElementById(id);
/** Where each kind of account goes after signing in. */
const HOME = { shopper: "wallet.html", merchant_owner: "owner.html", staff: "city.html" };

const state = { me: null, cities: [] };

shell();
start();

async function start() {
  try {
    state.me = await api("GET", "/me");
  } catch {
    state.me = null;
  }
  if (state.me && HOME[state.me.kind]) return showSignedIn();
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  $("passkey-signin").hidden = !passkeysSupported();
  $("register-passkey").hidden = !passkeysSupported();
  await loadCities();
}

/** Shows `code`'s text for people next to the form (or hides the message when empty). */
function tell(el, code, kind = "err") {
  el.hidden = !code;
  el.className = `notice ${kind}`;
  el.textContent = code ? (kind === "err" ? errorMessage(code, lang()) : t(code)) : "";
  if (code) el.setAttribute("role", kind === "err" ? "alert" : "status");
  // Kept so that switching the language says the same thing in the other one.
  el.dataset.code = code;
  el.dataset.kind = kind;
}

/** The page to open after signing in: `?next=` when it is one of ours, else the kind's home. */
function destination(kind) {
  const next = new URLSearchParams(location.search).get("next") ?? "";
  return /^[a-z]+\.html$/.test(next) ? next : HOME[kind];
}

async function signedIn(answer) {
  location.href = destination(answer.kind);
}

/** Runs a form's request with its button disabled and its message under it. */
function wire(formId, msgId, run) {
  // A message answers the last try: typing again clears it.
  $(formId).addEventListener("input", () => tell($(msgId), ""));
  $(formId).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $(formId).querySelector("button[type=submit]");
    tell($(msgId), "");
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      tell($(msgId), e.code || "network");
    } finally {
      button.disabled = false;
    }
  });
}

wire("signin-form", "signin-msg", async () => {
  const answer = await api("POST", "/sessions", {
    body: { login: $("signin-login").value, password: $("signin-password").value },
  });
  await signedIn(answer);
});

wire("register-form", "register-msg", async () => {
  if ($("register-password").value !== $("register-password2").value) {
    throw { code: "passwords_differ" };
  }
  const answer = await api("POST", "/registrations", {
    body: {
      city_id: $("register-city").value,
      display_name: $("register-name").value.trim(),
      login: $("register-login").value,
      password: $("register-password").value,
    },
  });
  await signedIn(answer);
});

wire("setup-form", "setup-msg", async () => {
  const body = { code: $("setup-code").value, password: $("setup-password").value };
  if ($("setup-login").value.trim()) body.login = $("setup-login").value;
  const answer = await api("POST", "/setup", { body });
  await signedIn(answer);
});

/** Runs a button's request with the button disabled and its message next to it. */
function press(buttonId, msgId, run) {
  $(buttonId).addEventListener("click", async () => {
    const button = $(buttonId);
    tell($(msgId), "");
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      tell($(msgId), e.code || "network");
    } finally {
      button.disabled = false;
    }
  });
}

press("passkey-signin-button", "passkey-signin-msg", async () => {
  const challenge = await api("POST", "/passkey-challenges", { body: {} });
  const credential = await getPasskey(challenge.options);
  const answer = await api("POST", "/passkey-sessions", {
    body: { challenge_id: challenge.challenge_id, credential },
  });
  await signedIn(answer);
});

// A wallet with a passkey alone: the name and login from the form above, no password. The
// server creates the account only when the passkey's answer comes back.
press("register-passkey-button", "register-passkey-msg", async () => {
  const challenge = await api("POST", "/passkey-sign-ups", {
    body: {
      city_id: $("register-city").value,
      display_name: $("register-name").value.trim(),
      login: $("register-login").value,
    },
  });
  const credential = await createPasskey(challenge.options);
  const answer = await api("POST", "/passkey-sign-ups/finish", {
    body: { challenge_id: challenge.challenge_id, name: browserName(navigator.userAgent), credential },
  });
  await signedIn(answer);
});

$("show-register").addEventListener("click", () => {
  $("register-section").hidden = false;
  $("show-register").hidden = true;
  $("register-name").focus();
});

async function loadCities() {
  try {
    state.cities = await api("GET", "/cities");
  } catch {
    state.cities = [];
  }
  $("register-city").replaceChildren(...state.cities.map((c) => new Option(c.name, c.id)));
  // One town: nothing to choose.
  $("register-city-field").hidden = state.cities.length <= 1;
}

// ---- signed in -------------------------------------------------------------------------

function showSignedIn() {
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  $("signed-in-as").textContent = t("signed_in_as", { who: t(`who_${state.me.kind}`) });
  $("go-app").href = HOME[state.me.kind];
  renderSessions();
  $("passkey-add-form").hidden = !passkeysSupported();
  if (!$("passkey-name").value) $("passkey-name").value = browserName(navigator.userAgent);
  renderPasskeys();
}

async function renderPasskeys() {
  let passkeys = [];
  try {
    passkeys = await api("GET", "/passkeys");
  } catch (e) {
    return tell($("passkeys-msg"), e.code || "network");
  }
  if (!passkeys.length) {
    const none = document.createElement("li");
    none.className = "muted";
    none.textContent = t("passkey_none");
    return $("passkey-list").replaceChildren(none);
  }
  $("passkey-list").replaceChildren(...passkeys.map((p) => {
    const li = document.createElement("li");
    li.className = "card passkey";
    li.dataset.passkeyId = p.id;
    const what = document.createElement("div");
    what.textContent = p.name;
    const since = document.createElement("div");
    since.className = "muted";
    since.textContent = `${t("passkey_created", { when: when(p.created_at) })} · ${
      p.last_used_at ? t("passkey_last_used", { when: when(p.last_used_at) }) : t("passkey_never_used")}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = t("passkey_remove");
    remove.setAttribute("aria-label", `${t("passkey_remove")}: ${p.name}`);
    remove.addEventListener("click", () => removePasskey(p.id));
    li.append(what, since, remove);
    return li;
  }));
}

async function removePasskey(id) {
  try {
    await api("DELETE", `/passkeys/${id}`);
    tell($("passkeys-msg"), "passkey_removed", "ok");
  } catch (e) {
    tell($("passkeys-msg"), e.code || "network");
  }
  renderPasskeys();
}

press("passkey-add", "passkeys-msg", async () => {
  const challenge = await api("POST", "/passkey-registrations");
  const credential = await createPasskey(challenge.options);
  await api("POST", "/passkeys", {
    body: { challenge_id: challenge.challenge_id, name: $("passkey-name").value.trim(), credential },
  });
  tell($("passkeys-msg"), "passkey_added", "ok");
  await renderPasskeys();
});

async function renderSessions() {
  let sessions = [];
  try {
    sessions = await api("GET", "/sessions");
  } catch (e) {
    return tell($("sessions-msg"), e.code || "network");
  }
  $("session-list").replaceChildren(...sessions.map((s) => {
    const li = document.createElement("li");
    li.className = "card session";
    li.dataset.sessionId = s.id;
    const what = document.createElement("div");
    what.textContent = s.current ? t("session_current") : browserName(s.user_agent);
    const since = document.createElement("div");
    since.className = "muted";
    since.textContent = t("session_since", { when: when(s.created_at) });
    li.append(what, since);
    if (!s.current) {
      const end = document.createElement("button");
      end.type = "button";
      end.className = "secondary";
      end.textContent = t("session_end");
      end.addEventListener("click", () => endSession(s.id));
      li.append(end);
    }
    return li;
  }));
}

/** A short name for a browser's description ("Chrome on Android"), or the text itself. */
function browserName(agent) {
  const browser = /Edg\//.test(agent) ? "Edge" : /Chrome\//.test(agent) ? "Chrome"
    : /Firefox\//.test(agent) ? "Firefox" : /Safari\//.test(agent) ? "Safari" : "";
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS"
    : /Windows/.test(agent) ? "Windows" : /Mac OS/.test(agent) ? "macOS" : /Linux/.test(agent) ? "Linux" : "";
  return browser && system ? `${browser} / ${system}` : agent || "?";
}

async function endSession(id) {
  try {
    await api("DELETE", `/sessions/${id}`);
    tell($("sessions-msg"), "session_ended", "ok");
  } catch (e) {
    tell($("sessions-msg"), e.code || "network");
  }
  renderSessions();
}

$("sign-out").addEventListener("click", async () => {
  await signOut();
  location.href = "signin.html";
});

document.addEventListener("langchange", () => {
  for (const el of document.querySelectorAll(".notice[data-code]")) {
    if (el.dataset.code) tell(el, el.dataset.code, el.dataset.kind);
  }
  if (state.me && !$("signed-in").hidden) showSignedIn();
});
