// The TV page: follows the party over the realtime socket with the TV link's token (a
// read-only viewer, docs/REALTIME.md), like the guest page: snapshot, versioned events, resync
// on a gap, reconnect with backoff. Only when the socket cannot be held (three failed attempts
// in a row) does it poll the read-only view every 5 s, until the socket is back.
import {
  $,
  el,
  fallbackLabel,
  fillArt,
  formatCount,
  hostBadge,
  meta,
  patchList,
  personName,
  rowClass,
  showAddedBy,
  skipsNeeded,
  fairPlay,
  sortQueue,
} from "./common.js";
import { PartySocket } from "./realtime.js";

const FALLBACK_POLL_MS = 5000;
const SHOWN = 7;

const sessionId = location.pathname.split("/").filter(Boolean)[1] || "";
const token = new URLSearchParams(location.search).get("token") || "";
const joinBase = meta("queueit-join-base") || location.origin;
const sessionPath = `/api/v1/sessions/${encodeURIComponent(sessionId)}`;
const tokenQuery = `token=${encodeURIComponent(token)}`;
const LIVE_WORDS = { live: "Live", reconnecting: "Reconnecting", offline: "Offline" };

let socket = null;
let party = null;
let fallbackTimer = null;
let lastCurrent = undefined;
let qrLoaded = false;

function setLive(status) {
  if (status === "live" || status === "offline") stopFallback();
  else if (status === "reconnecting" && socket && socket.attempts >= 3) startFallback();
  $("live").dataset.state = status;
  $("live-text").textContent = LIVE_WORDS[status] || "Connecting";
}

function screen(title, text) {
  stopFallback();
  if (socket) socket.stop();
  $("screen-title").textContent = title;
  $("screen-text").textContent = text;
  $("screen").hidden = false;
  document.body.classList.add("stopped");
}

const expired = () =>
  screen("This TV link has expired", "Ask the host for a fresh TV link from the QueueIT app.");
const over = () => screen("The party is over", "Thanks for dancing! The host has ended this party.");

function show(fresh) {
  party = { ...fresh, queue: sortQueue(fresh.queue || [], fresh.session) };
  render(party);
}

function applyEvent(event, data) {
  if (!party) return;
  switch (event) {
    case "votes.updated": {
      const song = party.queue.find((item) => item.id === data.queued_song_id);
      if (!song) return;
      song.votes = data.total_votes;
      song.entered_tier_by_gain = data.entered_tier_by_gain;
      song.last_entered_tier_at = data.last_entered_tier_at;
      if (data.is_fallback !== undefined) song.is_fallback = data.is_fallback;
      party.queue = sortQueue(party.queue, party.session);
      if (fairPlay(party.session) && socket) socket.resync();
      break;
    }
    case "queue.updated":
      party.queue = sortQueue(data.queue || [], party.session);
      party.queue_total = data.queue_total;
      break;
    case "now_playing.updated": {
      const idOf = (song) => (song ? song.id : null);
      if (idOf(party.current_song) !== idOf(data.current_song)) {
        party.skip_request_count = 0;
        if (data.current_song) party.queue = party.queue.filter((item) => item.id !== data.current_song.id);
      }
      party.current_song = data.current_song;
      break;
    }
    case "session.updated":
      Object.assign(party.session, { is_locked: data.is_locked, is_paused: data.is_paused });
      if (data.settings) party.session.settings = data.settings;
      party.participant_count = data.participant_count;
      party.skip_request_count = data.skip_request_count;
      break;
    case "session.ended":
      over();
      return;
    case "roles.updated":
      // A hand-over or a new co-host: the snapshot has the badges right.
      if (socket) socket.resync();
      return;
    default:
      return;
  }
  render(party);
}

// The fallback: the read-only view over HTTP, while the socket cannot get through.
function startFallback() {
  if (fallbackTimer) return;
  fallbackTimer = setInterval(poll, FALLBACK_POLL_MS);
  poll();
}

function stopFallback() {
  clearInterval(fallbackTimer);
  fallbackTimer = null;
}

async function poll() {
  if (!navigator.onLine) return;
  let response;
  try {
    response = await fetch(`${sessionPath}/tv_state?${tokenQuery}`, {
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
  } catch {
    return; // the next round tries again
  }
  if (response.status === 401 || response.status === 422) return expired();
  if (response.status === 404) return over();
  if (!response.ok || !fallbackTimer) return;
  try {
    show(await response.json());
  } catch {
    /* a broken answer: the next round tries again */
  }
}

function render(party) {
  const { session } = party;
  document.title = `Party ${session.join_code} · QueueIT TV`;
  const people = party.participant_count;
  $("participants").textContent = `${people} ${people === 1 ? "person" : "people"}`;
  $("locked").hidden = !session.is_locked;
  $("join-code").textContent = session.join_code;
  $("join-host").textContent = `${joinBase.replace(/^https?:\/\//, "")}/join`;
  if (!qrLoaded) {
    $("qr").src = `${sessionPath}/qr.svg?${tokenQuery}`;
    qrLoaded = true;
  }
  renderNow(party);
  renderQueue(party);
}

function renderNow(party) {
  const song = party.current_song;
  const key = song ? song.id : null;
  if (key !== lastCurrent) {
    lastCurrent = key;
    fillArt($("now-art"), song ? song.song : null);
    const section = document.querySelector(".tv-now");
    for (const name of ["--art-a", "--art-b"]) {
      section.style.setProperty(name, $("now-art").style.getPropertyValue(name) || "");
    }
    $("now-title").textContent = song ? song.song.name : "Waiting for the first song";
    $("now-artist").textContent = song ? song.song.artists : "Scan the code to add one.";
    showAddedBy($("now-by"), song);
    for (const part of section.children) {
      part.animate([{ opacity: 0.15, transform: "translateY(1.2vh)" }, { opacity: 1, transform: "none" }], {
        duration: 500,
        easing: "ease-out",
      });
    }
  }
  const paused = party.session.is_paused;
  $("now-label").textContent = paused ? "Paused" : "Now playing";
  document.querySelector(".tv-now").classList.toggle("paused", paused || !song);
  $("skip").hidden = !song;
  const needed = skipsNeeded(party.participant_count);
  $("skip-fill").style.width = `${Math.round((Math.min(party.skip_request_count, needed) / needed) * 100)}%`;
  $("skip-text").textContent = `Skip votes ${party.skip_request_count} / ${needed}`;
}

function renderQueue(party) {
  const shown = party.queue.slice(0, SHOWN);
  const row = (song, old) => queueRow(song, old, shown.indexOf(song) + 1);
  patchList($("queue"), shown, (song) => song.id, row);
  $("queue-empty").hidden = shown.length > 0;
  const total = party.queue_total;
  $("queue-count").textContent = total > SHOWN ? `${SHOWN} of ${total}` : total ? String(total) : "";
}

function queueRow(song, old, position) {
  const trackKey = `${song.song.source}:${song.song.id}`;
  let art = old && old.querySelector(".art");
  if (!art || art.dataset.track !== trackKey) {
    art = el("div", { class: "art art-row", dataset: { track: trackKey } });
    fillArt(art, song.song);
  }
  return el(
    "li",
    { class: rowClass("tv-row", song) },
    el("span", { class: "rank", text: String(position) }),
    art,
    el(
      "div",
      { class: "row-text" },
      el("span", { class: "title", text: song.song.name }),
      el(
        "span",
        { class: "sub", text: `${song.song.artists} · ${personName(song.added_by)}` },
        hostBadge(song.added_by),
        fallbackLabel(song),
      ),
    ),
    el("span", {
      class: `tv-votes${song.votes > 0 ? " pos" : song.votes < 0 ? " neg" : ""}`,
      text: formatCount(song.votes),
    }),
  );
}

async function keepAwake() {
  try {
    if ("wakeLock" in navigator) await navigator.wakeLock.request("screen");
  } catch {
    /* not allowed here: the TV's own settings decide */
  }
}

function start() {
  if (!token || !sessionId) {
    screen("This TV link is incomplete", "Open the full link the host's app gave you.");
    return;
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) keepAwake();
  });
  keepAwake();
  socket = new PartySocket({
    sessionId,
    token,
    onSnapshot: show,
    onEvent: applyEvent,
    onStatus: setLive,
    onFinal: (reason) => (reason === "ended" ? over() : expired()),
  });
  socket.start();
}

start();
