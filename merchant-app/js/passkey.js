// Passkeys (WebAuthn) in the browser: the server's options (JSON, binary fields in unpadded
// base64url) turned into what navigator.credentials wants, and the authenticator's answer
// turned back into JSON the server reads (webauthn-rs's RegisterPublicKeyCredential and
// PublicKeyCredential). A refusal of the browser's own becomes an app error code.

/**
 * Whether passkeys can work here (the buttons are shown only then): the browser has WebAuthn,
 * and the page is on a host name (WebAuthn refuses IP addresses such as 127.0.0.1; the server
 * speaks as its public URL, by default `localhost`).
 */
export function passkeysSupported() {
  const ipAddress = /^[0-9.]+$/.test(location.hostname) || location.hostname.startsWith("[");
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials && !ipAddress;
}

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let bin = "";
  for (const b of new Uint8Array(buffer)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A copy of `value` without its null members (WebIDL refuses null for lists such as hints). */
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

const descriptors = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));

/** The browser's refusal as an app error code (shown next to the button). */
function refusal(e) {
  const name = e && e.name;
  if (name === "NotAllowedError" || name === "AbortError") return { code: "passkey_cancelled" };
  if (name === "InvalidStateError") return { code: "passkey_already_registered" };
  if (name === "SecurityError" || name === "NotSupportedError") return { code: "passkey_unsupported" };
  return { code: "passkey_verification_failed" };
}

/** Makes a passkey for the server's registration `options`; its answer as JSON. */
export async function createPasskey(options) {
  const pk = withoutNulls(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.user = { ...pk.user, id: fromB64url(pk.user.id) };
  pk.excludeCredentials = descriptors(pk.excludeCredentials);
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: pk });
  } catch (e) {
    throw refusal(e);
  }
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: toB64url(cred.response.attestationObject),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
    },
  };
}

/** Asks the authenticator for a passkey of this site for the sign-in `options`; as JSON. */
export async function getPasskey(options) {
  const pk = withoutNulls(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.allowCredentials = descriptors(pk.allowCredentials);
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: pk });
  } catch (e) {
    throw refusal(e);
  }
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: toB64url(r.authenticatorData),
      clientDataJSON: toB64url(r.clientDataJSON),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : null,
    },
  };
}
