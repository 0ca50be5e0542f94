// The host's downloads of the party's history (JSON, CSV, M3U), during the party and once it
// ended. The export route wants the Authorization header, which a plain link cannot send, so
// the file is fetched and saved from a blob under the name the server gives it.
import { ApiError } from "./api.js";
import { $, el } from "./common.js";
import { describe, handleCommon, state, toast } from "./guest.js";

let exportable = null; // the id of the party this host may export (kept after it ends)

export function exportPath(sessionId, format) {
  return `/api/v1/sessions/${encodeURIComponent(sessionId)}/history/export?format=${format}`;
}

// The party on screen: its host sees the downloads; anyone else does not.
export function offerExports(party, hosting) {
  exportable = hosting && party ? party.session.id : null;
  $("host-export").hidden = !exportable;
}

// The "party has ended" sheet: the host may still download what played.
export function offerEndedExports() {
  $("ended-export").hidden = !exportable;
}

export function forgetExports() {
  exportable = null;
  $("host-export").hidden = true;
  $("ended-export").hidden = true;
}

function filenameOf(disposition, format) {
  const match = /filename="([^"]+)"/.exec(disposition || "");
  return match ? match[1] : `queueit-history.${format === "m3u" ? "m3u8" : format}`;
}

async function download(format, button) {
  const sessionId = exportable;
  if (!sessionId || !state.token) return;
  button.disabled = true;
  try {
    let response;
    try {
      response = await fetch(exportPath(sessionId, format), {
        headers: { Authorization: `Bearer ${state.token}` },
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "offline", "You are offline.");
    }
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new ApiError(response.status, (data && data.code) || `http_${response.status}`, data && data.detail);
    }
    const url = URL.createObjectURL(await response.blob());
    const name = filenameOf(response.headers.get("content-disposition"), format);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    if (!handleCommon(error)) toast(describe(error), "bad");
  } finally {
    button.disabled = false;
  }
}

export function wireExports() {
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => download(button.dataset.export, button));
  }
}
