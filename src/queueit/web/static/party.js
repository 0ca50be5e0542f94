// The guest page's party: the live socket, events, the polling fallback, skip, leave.
import { api } from "./api.js";
import { $, fairPlay, sortQueue } from "./common.js";
import { forgetExports, offerEndedExports } from "./export.js";
import { banner, coolingDown, describe, handleCommon, hooks, show, state, toast } from "./guest.js";
import { renderHeader, renderNow, renderQueue } from "./queue.js";
import { PartySocket } from "./realtime.js";
import { refreshMarks, renderResults } from "./search.js";

export function enterParty(party) {
  stopParty();
  state.party = normalise(party);
  $("ended").hidden = true;
  show("view-party");
  renderAll();
  state.socket = new PartySocket({
    sessionId: party.session.id,
    token: state.token,
    onSnapshot: (snapshot) => {
      state.party = normalise(snapshot);
      renderAll();
    },
    onEvent: applyEvent,
    onStatus: setLive,
    onFinal: (reason) => {
      if (reason === "ended") showEnded();
      else if (reason === "auth") hooks.signOut("Your sign-in expired. Join again to keep partying.");
      else if (reason === "removed") hooks.showJoinForm("You were removed from the party.");
      else hooks.showJoinForm("You are no longer in that party. Join again with its code.");
    },
  });
  state.socket.start();
}

export function stopParty() {
  stopFallback();
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.pendingVotes.clear();
}

export function normalise(party) {
  return { ...party, queue: sortQueue(party.queue || [], party.session), my_votes: { ...(party.my_votes || {}) } };
}

export function applyEvent(event, data) {
  const party = state.party;
  if (!party) return;
  switch (event) {
    case "votes.updated": {
      const song = party.queue.find((item) => item.id === data.queued_song_id);
      state.voteEvents.set(data.queued_song_id, (state.voteEvents.get(data.queued_song_id) || 0) + 1);
      if (song) {
        song.votes = data.total_votes;
        song.entered_tier_by_gain = data.entered_tier_by_gain;
        song.last_entered_tier_at = data.last_entered_tier_at;
        if (data.is_fallback !== undefined) song.is_fallback = data.is_fallback;
        party.queue = sortQueue(party.queue, party.session);
        renderQueue();
        if (fairPlay(party.session) && state.socket) state.socket.resync();
      }
      break;
    }
    case "queue.updated":
      party.queue = sortQueue(data.queue || [], party.session);
      party.queue_total = data.queue_total;
      renderQueue();
      break;
    case "now_playing.updated": {
      const idOf = (song) => (song ? song.id : null);
      const changed = idOf(party.current_song) !== idOf(data.current_song);
      party.current_song = data.current_song;
      party.last_skip_was_crowdsourced = data.last_skip_was_crowdsourced;
      if (changed) {
        party.user_requested_skip = false;
        party.skip_request_count = 0;
        if (data.current_song) {
          party.queue = party.queue.filter((item) => item.id !== data.current_song.id);
        }
        if (data.last_skip_was_crowdsourced) toast("The crowd skipped that one.");
      }
      renderNow();
      renderQueue();
      break;
    }
    case "session.updated": {
      const before = JSON.stringify([party.session.is_locked, party.session.settings]);
      Object.assign(party.session, { is_locked: data.is_locked, is_paused: data.is_paused });
      if (data.settings) party.session.settings = data.settings;
      party.participant_count = data.participant_count;
      party.skip_request_count = data.skip_request_count;
      renderHeader();
      renderNow();
      renderQueue(); // the vote buttons follow the vote mode
      renderResults();
      // New rules or a lock change what may be added: ask for the results' marks again.
      if (JSON.stringify([party.session.is_locked, party.session.settings]) !== before) refreshMarks();
      break;
    }
    case "session.ended":
      showEnded();
      break;
    case "roles.updated":
      // Who hosts and co-hosts changed (a hand-over, say): the snapshot has their profiles.
      if (state.socket) state.socket.resync();
      break;
    default:
      break;
  }
}

// When the socket cannot get through (a proxy that drops WebSockets, an origin the server
// refuses), the page still follows the party by polling until the socket is back.
const FALLBACK_POLL_MS = 5000;

let fallbackTimer = null;

export function startFallback() {
  if (fallbackTimer) return;
  fallbackTimer = setInterval(pollParty, FALLBACK_POLL_MS);
  pollParty();
}

export function stopFallback() {
  clearInterval(fallbackTimer);
  fallbackTimer = null;
}

export async function pollParty() {
  const party = state.party;
  if (!party || !navigator.onLine) return;
  try {
    const fresh = await api("/sessions/current", { token: state.token });
    if (state.party !== party || fresh.session.id !== party.session.id) return;
    state.party = normalise(fresh);
    renderAll();
  } catch (error) {
    handleCommon(error);
  }
}

export function setLive(status, delay = 0) {
  if (status === "live" || status === "offline") stopFallback();
  else if (status === "reconnecting" && state.socket && state.socket.attempts >= 3) startFallback();
  const live = $("live");
  live.dataset.state = status;
  const words = {
    live: "Live",
    connecting: "Connecting",
    reconnecting: "Reconnecting",
    offline: "Offline",
    paused: "Paused",
  };
  $("live-text").textContent = words[status] || status;
  if (status === "offline") {
    banner("You're offline. We'll catch up as soon as you're back.", "bad");
  } else if (status === "paused") {
    banner("This party is open on your other tabs or devices. Come back here to pick it up.", "warn");
  } else if (status === "reconnecting" && delay > 2500) {
    banner("Connection lost. Reconnecting…", "warn");
  } else if (status === "live") {
    banner("");
  }
}

export function showEnded(text) {
  stopParty();
  state.party = null;
  $("ended-text").textContent = text || "Thanks for the music! The host closed the party.";
  offerEndedExports();
  $("ended").hidden = false;
  $("ended-again").focus();
}

export function renderAll() {
  renderHeader();
  renderNow();
  renderQueue();
  renderResults();
}

export async function toggleSkip() {
  const party = state.party;
  if (!party || coolingDown()) return;
  const button = $("skip-button");
  button.disabled = true;
  const withdraw = party.user_requested_skip;
  try {
    const result = await api("/sessions/request_skip", {
      method: withdraw ? "DELETE" : "POST",
      token: state.token,
    });
    if (state.party !== party) return;
    party.skip_request_count = result.skip_request_count;
    party.participant_count = result.participant_count;
    party.user_requested_skip = !withdraw && !result.skipped;
    if (result.skipped) toast("Skipped! The crowd has spoken.", "good");
    renderHeader();
    renderNow();
  } catch (error) {
    if (!handleCommon(error)) toast(describe(error), "bad");
  } finally {
    button.disabled = false;
  }
}

export async function leave() {
  const token = state.token;
  stopParty();
  state.party = null;
  state.lastResults = [];
  $("search").value = "";
  try {
    await api("/sessions/leave", { method: "POST", token });
  } catch {
    /* leaving is best effort: the party forgets inactive guests anyway */
  }
  forgetExports();
  history.replaceState(null, "", "/join");
  $("code").value = "";
  hooks.showJoinForm();
}

hooks.showEnded = showEnded;
