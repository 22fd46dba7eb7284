// Camera QR scanning: the device camera into a <video>, frames decoded with the vendored
// jsQR (or the browser's BarcodeDetector when it has one). Typing or pasting the code is
// always possible: scanning only fills the same text field.

import { t } from "./i18n.js";

const SCAN_INTERVAL_MS = 200;

/**
 * Wires a "scan" button to fill `input` from the camera. `video` is shown while scanning.
 * Calls onCode(text) after a successful scan, onUnavailable() when there is no camera.
 */
export function attachScanner({ button, video, input, status, onCode, onUnavailable }) {
  let stream = null;
  let timer = null;

  const stop = () => {
    clearInterval(timer);
    timer = null;
    stream?.getTracks().forEach((tr) => tr.stop());
    stream = null;
    video.hidden = true;
    button.textContent = t("scan_camera");
  };

  button.addEventListener("click", async () => {
    if (stream) return stop();
    if (!navigator.mediaDevices?.getUserMedia) {
      status.textContent = t("camera_unavailable");
      onUnavailable?.();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch {
      status.textContent = t("camera_unavailable");
      onUnavailable?.();
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    button.textContent = t("stop_camera");
    const decode = decoder();
    timer = setInterval(async () => {
      const text = await decode(video);
      if (text) {
        input.value = text;
        stop();
        onCode?.(text);
      }
    }, SCAN_INTERVAL_MS);
  });
  return stop;
}

function decoder() {
  if ("BarcodeDetector" in window) {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    return async (video) => (await detector.detect(video).catch(() => []))[0]?.rawValue;
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    if (!window.jsQR || !video.videoWidth) return null;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    ctx.drawImage(video, 0, 0);
    const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return window.jsQR(img.data, img.width, img.height)?.data ?? null;
  };
}
