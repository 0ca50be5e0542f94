// The guest page's catalog search and "add".
import { api } from "./api.js";
import { $, el, fillArt, icon, sortQueue } from "./common.js";
import { coolingDown, describe, handleCommon, state, toast } from "./guest.js";
import { renderQueue, voteMode } from "./queue.js";

export const SEARCH_DELAY_MS = 350;

// Each result carries the server's marks for this party (API.md §7 "Search marks"): a track
// the rules refuse is greyed out with the reason, and its add button is disabled.
export function renderResults() {
  const list = $("results");
  const party = state.party;
  const queue = party ? party.queue : [];
  const queued = new Set(queue.map((s) => `${s.song.source}:${s.song.id}`));
  // The page's queue is live; the mark is as of the search. Trust the mark only for songs
  // past the part of the queue the page holds.
  const wholeQueue = !party || queue.length >= (party.queue_total || 0);
  list.replaceChildren(
    ...state.lastResults.map((track) => {
      const key = `${track.source}:${track.id}`;
      const art = el("div", { class: "art art-small" });
      fillArt(art, track);
      const inQueue = queued.has(key) || (!wholeQueue && Boolean(track.already_queued));
      const refused = track.allowed === false;
      const reason = refused && track.reason ? track.reason.message : "";
      const add = el(
        "button",
        {
          class: `add${inQueue ? " done" : ""}`,
          type: "button",
          disabled: refused,
          "aria-label": refused
            ? `${track.name} cannot be added: ${reason}`
            : inQueue
              ? `${track.name} is in the queue: upvote it`
              : `Add ${track.name}`,
          onclick: (event) => addTrack(track, event.currentTarget),
        },
        icon(inQueue ? "check" : "plus"),
      );
      return el(
        "li",
        { class: `row result${refused ? " refused" : ""}`, dataset: refused ? { reason: track.reason?.code || "" } : {} },
        art,
        el(
          "div",
          { class: "row-text" },
          el("span", { class: "title", text: track.name }),
          el("span", { class: "sub", text: [track.artists, track.album].filter(Boolean).join(" · ") }),
          reason ? el("span", { class: "reason", text: reason }) : null,
          !reason && inQueue ? el("span", { class: "in-queue", text: inQueueText() }) : null,
        ),
        add,
      );
    }),
  );
}

function inQueueText() {
  // With voting off, adding a waiting song again changes nothing (the server answers 200).
  return voteMode() === "off" ? "In the queue" : "In the queue: adding it again is your upvote";
}

export async function addTrack(track, button) {
  if (coolingDown() || !state.party) return;
  button.disabled = true;
  button.classList.add("busy");
  const known = new Set(state.party.queue.map((song) => song.id));
  try {
    const queued = await api("/songs/add", {
      method: "POST",
      body: {
        id: track.id,
        isrc: track.isrc || "",
        name: track.name,
        artists: track.artists,
        album: track.album || "",
        duration_ms: track.duration_ms,
        image_url: track.image_url || "",
        source: track.source,
        explicit: track.explicit ?? null,
      },
      token: state.token,
    });
    if (!state.party) return;
    if (known.has(queued.id)) {
      state.party.my_votes[queued.id] = 1;
      toast("Already in the queue: we counted your upvote.");
    } else if (queued.status === "playing") {
      toast(`Now playing: ${queued.song.name}`, "good");
    } else {
      toast(`Added “${queued.song.name}”`, "good");
    }
    const index = state.party.queue.findIndex((song) => song.id === queued.id);
    if (queued.status === "queued") {
      if (index >= 0) state.party.queue[index] = queued;
      else state.party.queue.push(queued);
      state.party.queue = sortQueue(state.party.queue, state.party.session);
    }
    renderQueue();
    renderResults();
  } catch (error) {
    if (!handleCommon(error)) toast(describe(error), error.status === 429 ? "warn" : "bad");
    button.disabled = false;
  } finally {
    button.classList.remove("busy");
  }
}

// The party's rules or lock changed: the marks of the results shown may have too.
export function refreshMarks() {
  if (state.lastResults.length && $("search").value.trim()) runSearch();
}

export function scheduleSearch() {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(runSearch, SEARCH_DELAY_MS);
}

export async function runSearch() {
  clearTimeout(state.searchTimer);
  const query = $("search").value.trim();
  const status = $("search-status");
  if (state.searchAbort) state.searchAbort.abort();
  state.searchSeq += 1;
  const seq = state.searchSeq;
  if (!query) {
    state.lastResults = [];
    status.hidden = true;
    renderResults();
    return;
  }
  if (coolingDown()) return;
  const abort = new AbortController();
  state.searchAbort = abort;
  status.hidden = false;
  status.textContent = "Searching…";
  try {
    const params = new URLSearchParams({ q: query, limit: "8" });
    const result = await api(`/catalog/search?${params}`, { token: state.token, signal: abort.signal });
    if (seq !== state.searchSeq) return;
    state.lastResults = result.tracks || [];
    status.hidden = state.lastResults.length > 0;
    status.textContent = state.lastResults.length ? "" : `No songs found for “${query}”.`;
    renderResults();
  } catch (error) {
    if (seq !== state.searchSeq || (error && error.name === "AbortError")) return;
    if (!handleCommon(error)) status.textContent = describe(error);
  }
}
