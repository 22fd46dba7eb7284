// The store owner's page: the store's cashier terminals (working or stopped), a one-time code
// to enroll a new one (typed into the Store screen of that terminal), and stopping one. Signed
// in by the session cookie; integrations and tests may keep an owner token under
// localStorage "machipay.owner" instead.

import { ApiError, api, tokens } from "./api.js";
import { errorMessage } from "./error-messages.js";
import { lang, t, when } from "./i18n.js";
import { shell } from "./shell.js";

const ROLE = "owner";
const $ = (id) => document.getElementById(id);
const state = { token: null, merchantId: null, devices: [] };

shell();
start();

function tell(el, text, kind = "err") {
  el.hidden = !text;
  el.className = `notice ${kind}`;
  el.textContent = text || "";
  if (text) el.setAttribute("role", kind === "err" ? "alert" : "status");
}

const errorOf = (e) => errorMessage(e.code || "network", lang());

async function start() {
  state.token = tokens.get(ROLE);
  try {
    const me = await api("GET", "/me", { token: state.token });
    if (me.kind !== "merchant_owner") throw new ApiError(403, "not_store_token");
    state.merchantId = me.merchant_id;
  } catch {
    $("owner").hidden = true;
    $("owner-signin").hidden = false;
    return;
  }
  $("owner-signin").hidden = true;
  $("owner").hidden = false;
  const store = await api("GET", `/merchants/${state.merchantId}`, { token: state.token });
  $("owner-store").textContent = store.name;
  await loadDevices();
}

async function loadDevices() {
  try {
    state.devices = await api("GET", `/merchants/${state.merchantId}/devices`, { token: state.token });
  } catch (e) {
    return tell($("devices-msg"), errorOf(e));
  }
  renderDevices();
}

function renderDevices() {
  if (!state.devices.length) {
    $("device-rows").innerHTML = `<tr><td colspan="3" class="muted">${t("none_yet")}</td></tr>`;
    return;
  }
  $("device-rows").replaceChildren(...state.devices.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.deviceId = d.id;
    const name = document.createElement("td");
    name.textContent = d.name;
    const status = document.createElement("td");
    status.textContent = d.revoked_at ? t("device_revoked", { when: when(d.revoked_at) }) : t("device_working");
    const action = document.createElement("td");
    if (!d.revoked_at) {
      const stop = document.createElement("button");
      stop.type = "button";
      stop.className = "secondary";
      stop.textContent = t("device_revoke");
      stop.addEventListener("click", () => revoke(d));
      action.append(stop);
    }
    tr.append(name, status, action);
    return tr;
  }));
}

async function revoke(device) {
  if (!confirm(t("device_revoke_confirm", { name: device.name }))) return;
  try {
    await api("DELETE", `/merchants/${state.merchantId}/devices/${device.id}`, { token: state.token });
    tell($("devices-msg"), t("device_revoked_done", { name: device.name }), "ok");
  } catch (e) {
    tell($("devices-msg"), errorOf(e));
  }
  await loadDevices();
}

$("device-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  tell($("device-msg"), "");
  const name = $("device-name").value.trim();
  if (!name) return tell($("device-msg"), errorMessage("invalid_name", lang()));
  $("device-issue").disabled = true;
  try {
    const c = await api("POST", `/merchants/${state.merchantId}/enrollment-codes`, {
      token: state.token, body: { device_name: name },
    });
    $("device-code").textContent = c.code;
    $("device-code-help").textContent = t("device_code_help", {
      time: new Date(c.expires_at).toLocaleTimeString(lang() === "en" ? "en-GB" : "ja-JP",
        { timeZone: "Asia/Tokyo", hour: "2-digit", minute: "2-digit" }),
    });
    $("device-code-box").hidden = false;
    $("device-name").value = "";
  } catch (e) {
    tell($("device-msg"), errorOf(e));
  } finally {
    $("device-issue").disabled = false;
  }
});

document.addEventListener("langchange", () => { if (state.merchantId) renderDevices(); });
