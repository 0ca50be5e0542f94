// The guest page's shared state and messages (join.js is the entry point).
import { ApiError } from "./api.js";
import { $, meta } from "./common.js";

export const AUTH_MODE = meta("queueit-auth-mode") === "supabase" ? "supabase" : "local";

export const KEYS = {
  token: "queueit.token",
  user: "queueit.user",
  name: "queueit.name",
  // Supabase sessions (supabase.js): what refreshing the access token needs.
  refresh: "queueit.refresh",
  expires: "queueit.expires", // "<expires_at> <lifetime>" in seconds
};

export const store = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      /* private mode: the page still works until it is reloaded */
    }
  },
};

export const state = {
  token: store.get(KEYS.token),
  me: readJson(store.get(KEYS.user)),
  party: null, // CurrentSession
  socket: null,
  pendingVotes: new Map(), // queued song id -> request number
  voteEvents: new Map(), // queued song id -> votes.updated events applied
  requestNumber: 0,
  searchSeq: 0,
  searchTimer: null,
  searchAbort: null,
  lastResults: [],
  cooldownUntil: 0,
};

function readJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export function show(view) {
  for (const id of ["view-loading", "view-join", "view-party"]) $(id).hidden = id !== view;
}

let toastTimer = null;

export function toast(text, kind = "info") {
  const node = $("toast");
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
  node.classList.remove("show");
  void node.offsetWidth; // restart the animation
  node.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.classList.remove("show");
    node.hidden = true;
  }, 3600);
}

export function banner(text, kind = "warn") {
  const node = $("banner");
  node.hidden = !text;
  node.textContent = text || "";
  node.dataset.kind = kind;
}

export function rateLimitedText(error) {
  const seconds = Math.max(1, error.retryAfter || 1);
  return `Whoa, slow down! Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`;
}

// One message per failure a guest can meet; `context` words it for the action.
export function describe(error, context = "") {
  if (!(error instanceof ApiError)) return "Something went wrong. Try again.";
  if (error.offline) return "You're offline. Check your connection and try again.";
  if (error.status === 429) return rateLimitedText(error);
  switch (error.code) {
    case "session_not_found":
      return "No party has that code. Check it with your host.";
    case "banned":
      return "You were banned from this party.";
    case "session_locked":
      return "The host locked the queue, so no new songs for now. You can still vote.";
    case "song_not_votable":
      return "That song already left the queue.";
    case "song_limit_reached":
    case "queue_full":
      return typeof error.detail === "string" ? error.detail : "The queue is full.";
    case "track_unavailable":
      return "That song isn't available on the host's music service.";
    case "catalog_unavailable":
      return "Search is unavailable right now. Try again in a moment.";
    case "nothing_playing":
      return "Nothing is playing right now.";
    case "validation_error":
      return context === "join" ? "Party codes are 4–20 letters or digits." : "That didn't look right.";
    default:
      if (error.status >= 500) return "The server is having trouble. Try again in a moment.";
      return typeof error.detail === "string" ? error.detail : "Something went wrong.";
  }
}

export function coolingDown() {
  const left = Math.ceil((state.cooldownUntil - Date.now()) / 1000);
  if (left > 0) {
    toast(rateLimitedText({ retryAfter: left }), "warn");
    return true;
  }
  return false;
}

export function isHost() {
  return Boolean(state.party && state.me && state.party.session.host.id === state.me.id);
}

// Set by join.js and party.js: what the other modules call without importing them back.
export const hooks = { signOut: null, showJoinForm: null, showEnded: null };

export function handleCommon(error) {
  // Failures that change the whole page, whatever the action was.
  if (!(error instanceof ApiError)) return false;
  if (error.status === 401) {
    hooks.signOut("Your sign-in expired. Join again to keep partying.");
    return true;
  }
  if (error.code === "no_active_session" && state.party) {
    hooks.showEnded("The party has ended, or you left it on another device.");
    return true;
  }
  if (error.status === 429) {
    state.cooldownUntil = Date.now() + Math.max(1, error.retryAfter) * 1000;
  }
  return false;
}
