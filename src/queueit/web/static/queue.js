// The guest page's now-playing card and queue, with optimistic votes.
import { api } from "./api.js";
import {
  $,
  el,
  fallbackLabel,
  fillArt,
  formatCount,
  hostBadge,
  icon,
  patchList,
  personName,
  rowClass,
  showAddedBy,
  skipsNeeded,
  sortQueue,
} from "./common.js";
import { offerExports } from "./export.js";
import { coolingDown, describe, handleCommon, isHost, state, toast } from "./guest.js";

export function renderHeader() {
  const party = state.party;
  $("party-code").textContent = party.session.join_code;
  $("participants").textContent = String(party.participant_count);
  $("locked-note").hidden = !(party.session.is_locked && !isHost());
  offerExports(party, isHost());
  document.title = `Party ${party.session.join_code} · QueueIT`;
}

export function renderNow() {
  const party = state.party;
  if (!party) return;
  const song = party.current_song;
  fillArt($("now-art"), song ? song.song : null);
  $("now-title").textContent = song ? song.song.name : "Nothing playing yet";
  $("now-artist").textContent = song ? song.song.artists : "Add a song to get the party started.";
  showAddedBy($("now-by"), song);
  const paused = party.session.is_paused;
  $("now-label").textContent = paused ? "Paused" : "Now playing";
  document.querySelector(".now").classList.toggle("paused", paused || !song);

  $("skip").hidden = !song;
  const needed = skipsNeeded(party.participant_count);
  const count = Math.min(party.skip_request_count, needed);
  $("skip-fill").style.width = `${Math.round((count / needed) * 100)}%`;
  $("skip-text").textContent = `${party.skip_request_count} of ${needed} to skip`;
  const button = $("skip-button");
  button.replaceChildren(icon("skip"), party.user_requested_skip ? "Skip requested" : "Vote to skip");
  button.classList.toggle("on", party.user_requested_skip);
  button.setAttribute("aria-pressed", String(party.user_requested_skip));
}

export function renderQueue() {
  const party = state.party;
  if (!party) return;
  const list = $("queue");
  patchList(list, party.queue, (song) => song.id, queueRow);
  $("queue-empty").hidden = party.queue.length > 0;
  $("queue-count").textContent = party.queue_total ? String(party.queue_total) : "";
  const more = party.queue_total - party.queue.length;
  $("queue-more").hidden = more <= 0;
  $("queue-more").textContent = more > 0 ? `and ${more} more` : "";
}

// The host's vote mode (session.settings.vote_mode): up_down, up_only (no downvote) or off.
export function voteMode() {
  const settings = state.party && state.party.session.settings;
  return (settings && settings.vote_mode) || "up_down";
}

export function queueRow(song, old) {
  const mode = voteMode();
  const mine = state.party.my_votes[song.id] || 0;
  const pending = state.pendingVotes.has(song.id);
  const position = state.party.queue.indexOf(song) + 1;
  const art = artFor(song.song, old);
  const up = mode === "off" ? null : voteButton(song, 1, mine);
  const down = mode === "up_down" ? voteButton(song, -1, mine) : null;
  const score = el("span", {
    class: `score${song.votes > 0 ? " pos" : song.votes < 0 ? " neg" : ""}${pending ? " pending" : ""}`,
    text: formatCount(song.votes),
    "aria-label": `${song.votes} votes`,
  });
  return el(
    "li",
    { class: rowClass("row", song) },
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
    el("div", { class: `votes${mode === "up_down" ? "" : ` votes-${mode}`}` }, up, score, down),
  );
}

function voteButton(song, direction, mine) {
  const up = direction === 1;
  return el(
    "button",
    {
      class: `vote ${up ? "up" : "down"}${mine === direction ? " on" : ""}`,
      type: "button",
      "aria-label": `${up ? "Upvote" : "Downvote"} ${song.song.name}`,
      "aria-pressed": String(mine === direction),
      onclick: () => castVote(song.id, direction),
    },
    icon(up ? "up" : "down"),
  );
}

export function artFor(track, old) {
  // Reuse the old row's artwork node: no image reload, no flicker while rows move.
  const previous = old && old.querySelector(".art");
  if (previous && previous.dataset.track === `${track.source}:${track.id}`) return previous;
  const art = el("div", { class: "art art-small", dataset: { track: `${track.source}:${track.id}` } });
  fillArt(art, track);
  return art;
}

export function findSong(songId) {
  return state.party ? state.party.queue.find((item) => item.id === songId) || null : null;
}

export async function castVote(songId, direction) {
  const party = state.party;
  const song = findSong(songId);
  if (!song || coolingDown()) return;
  const before = party.my_votes[songId] || 0;
  const next = before === direction ? 0 : direction;
  const delta = next - before;
  // Optimistic: move the song now; the server's total replaces ours when it answers.
  const saved = { votes: song.votes, gain: song.entered_tier_by_gain, at: song.last_entered_tier_at };
  song.votes += delta;
  song.entered_tier_by_gain = delta > 0;
  song.last_entered_tier_at = new Date().toISOString();
  if (next === 0) delete party.my_votes[songId];
  else party.my_votes[songId] = next;
  state.requestNumber += 1;
  const mine = state.requestNumber;
  const eventsBefore = state.voteEvents.get(songId) || 0;
  state.pendingVotes.set(songId, mine);
  party.queue = sortQueue(party.queue, party.session);
  renderQueue();
  try {
    const result = await api(`/songs/${songId}/vote`, {
      method: next === 0 ? "DELETE" : "POST",
      body: next === 0 ? undefined : { vote_value: next },
      token: state.token,
    });
    const current = findSong(songId);
    // A votes.updated event seen meanwhile is as new as this answer or newer: it wins.
    if (current && state.party === party && (state.voteEvents.get(songId) || 0) === eventsBefore) {
      current.votes = result.total_votes;
    }
  } catch (error) {
    if (state.party === party && state.pendingVotes.get(songId) === mine) {
      if (before === 0) delete party.my_votes[songId];
      else party.my_votes[songId] = before;
      const current = findSong(songId);
      if (current === song && (state.voteEvents.get(songId) || 0) === eventsBefore) {
        Object.assign(song, {
          votes: saved.votes,
          entered_tier_by_gain: saved.gain,
          last_entered_tier_at: saved.at,
        });
      }
      if (state.socket) state.socket.resync(); // the server's view settles any doubt
    }
    if (!handleCommon(error)) toast(describe(error), error.status === 429 ? "warn" : "bad");
  } finally {
    if (state.pendingVotes.get(songId) === mine) state.pendingVotes.delete(songId);
  }
  if (state.party === party) {
    party.queue = sortQueue(party.queue, party.session);
    renderQueue();
  }
}
