// The TV page: polls the party's read-only view with the TV link's token every 2 s.
import {
  $,
  el,
  fillArt,
  formatCount,
  hostBadge,
  meta,
  patchList,
  personName,
  showAddedBy,
  skipsNeeded,
} from "./common.js";

const POLL_MS = 2000;
const MAX_BACKOFF_MS = 15000;
const SHOWN = 7;

const sessionId = location.pathname.split("/").filter(Boolean)[1] || "";
const token = new URLSearchParams(location.search).get("token") || "";
const joinBase = meta("queueit-join-base") || location.origin;
const sessionPath = `/api/v1/sessions/${encodeURIComponent(sessionId)}`;
const tokenQuery = `token=${encodeURIComponent(token)}`;
const LIVE_WORDS = { live: "Live", reconnecting: "Reconnecting", offline: "Offline" };

let failures = 0;
let timer = null;
let lastCurrent = undefined;
let qrLoaded = false;

function setLive(status) {
  $("live").dataset.state = status;
  $("live-text").textContent = LIVE_WORDS[status] || "Connecting";
}

function screen(title, text) {
  clearTimeout(timer);
  $("screen-title").textContent = title;
  $("screen-text").textContent = text;
  $("screen").hidden = false;
  document.body.classList.add("stopped");
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(poll, delay);
}

async function poll() {
  if (!navigator.onLine) {
    setLive("offline");
    return; // the "online" event polls again
  }
  let response;
  try {
    response = await fetch(`${sessionPath}/tv_state?${tokenQuery}`, {
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
  } catch {
    return retry();
  }
  if (response.status === 401 || response.status === 422) {
    screen("This TV link has expired", "Ask the host for a fresh TV link from the QueueIT app.");
    return;
  }
  if (response.status === 404) {
    screen("The party is over", "Thanks for dancing! The host has ended this party.");
    return;
  }
  if (response.status === 429) {
    const wait = Number.parseInt(response.headers.get("retry-after") || "2", 10) || 2;
    schedule(wait * 1000);
    return;
  }
  if (!response.ok) return retry();
  let party;
  try {
    party = await response.json();
  } catch {
    return retry();
  }
  failures = 0;
  setLive("live");
  render(party);
  schedule(document.hidden ? POLL_MS * 5 : POLL_MS);
}

function retry() {
  failures += 1;
  setLive("reconnecting");
  schedule(Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** Math.min(failures, 4)));
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
    { class: "tv-row" },
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
  window.addEventListener("online", () => {
    failures = 0;
    poll();
  });
  window.addEventListener("offline", () => setLive("offline"));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      keepAwake();
      if (!document.body.classList.contains("stopped")) schedule(0);
    }
  });
  keepAwake();
  poll();
}

start();
