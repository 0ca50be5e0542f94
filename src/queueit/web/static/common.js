// Shared by the guest page and the TV page. Every piece of data reaches the DOM through
// textContent, text nodes or validated attributes: never through HTML parsing.

export const $ = (id) => document.getElementById(id);

export function meta(name) {
  const node = document.querySelector(`meta[name="${name}"]`);
  return node ? node.getAttribute("content") || "" : "";
}

// el("li", {class: "x", "aria-label": name}, child, "text") — strings become text nodes.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const ICONS = {
  up: "M12 4.5 20 14h-5v5.5H9V14H4z",
  down: "M12 19.5 4 10h5V4.5h6V10h5z",
  plus: "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z",
  check: "M9 16.2 5.5 12.7 4 14.2l5 5 11-11-1.5-1.5z",
  skip: "M4 6v12l8.5-6zM13 6v12l8.5-6z",
  note: "M12 3v10.6A4 4 0 1 0 14 17V7h4V3z",
};

export function icon(name, className = "icon") {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

export function personName(user) {
  if (!user) return "Someone";
  return user.display_name || user.username || "Guest";
}

// The host is marked by a badge, never by text: a guest can type "(host)" into a name but
// cannot make this element.
export function hostBadge(user) {
  if (user && user.is_host) return el("span", { class: "host-badge", text: "Host" });
  if (user && user.role === "co_host") return el("span", { class: "host-badge", text: "Co-host" });
  return null;
}

// A fallback entry (autofill from the host's fallback source) is marked quietly.
export function fallbackLabel(song) {
  return song && song.is_fallback ? el("span", { class: "fallback-label", text: "fallback" }) : null;
}

export function rowClass(base, song) {
  return song.is_fallback ? `${base} fallback` : base;
}

export function showAddedBy(node, song) {
  const parts = song
    ? [`Added by ${personName(song.added_by)}`, hostBadge(song.added_by), fallbackLabel(song)]
    : [];
  node.replaceChildren(...parts.filter(Boolean));
}

function hash(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function initials(name) {
  // The first letter or digit of the first two words that have one.
  const words = String(name || "").match(/[\p{L}\p{N}][\p{L}\p{N}'’]*/gu) || [];
  const letters = words.slice(0, 2).map((word) => Array.from(word)[0]);
  return letters.join("").toUpperCase() || "♪";
}

// Artwork: the track's https image, or a gradient tile with its initials (also when the
// image fails to load). The tile's colours come from the track, so it stays stable.
export function fillArt(container, track) {
  container.replaceChildren();
  container.classList.remove("placeholder");
  if (!track) {
    container.classList.add("placeholder", "empty-art");
    container.append(icon("note", "art-note"));
    return;
  }
  container.classList.remove("empty-art");
  const hue = hash(`${track.source}:${track.id}:${track.name}`) % 360;
  container.style.setProperty("--art-a", `hsl(${hue} 78% 58%)`);
  container.style.setProperty("--art-b", `hsl(${(hue + 48) % 360} 72% 38%)`);
  const showTile = () => {
    container.replaceChildren(el("span", { class: "art-initials", text: initials(track.name) }));
    container.classList.add("placeholder");
  };
  const url = typeof track.image_url === "string" ? track.image_url : "";
  if (!url.startsWith("https://")) {
    showTile();
    return;
  }
  const img = el("img", { src: url, alt: "", loading: "lazy", referrerpolicy: "no-referrer" });
  img.addEventListener("error", showTile, { once: true });
  container.append(img);
}

// The server's play order (queue/repository.play_order): votes desc; within a total, songs
// that fell into it first (latest fall first), then risers and new songs (oldest first).
// Whether the party plays in the fair-play order (party/ordering.py): turns depend on what
// each contributor already had played, which the page does not know, so it keeps the
// server's order and asks for a fresh snapshot when a vote may have moved a song.
export function fairPlay(session) {
  return Boolean(session && session.settings && session.settings.fair_play);
}

export function sortQueue(queue, session) {
  if (fairPlay(session)) return queue.slice();
  const time = (value) => Date.parse(value) || 0;
  return queue.slice().sort((a, b) => {
    if (a.votes !== b.votes) return b.votes - a.votes;
    // Guest requests before fallback entries of the same total (party/ordering.py).
    if (Boolean(a.is_fallback) !== Boolean(b.is_fallback)) return a.is_fallback ? 1 : -1;
    if (a.entered_tier_by_gain !== b.entered_tier_by_gain) return a.entered_tier_by_gain ? 1 : -1;
    const ta = time(a.last_entered_tier_at);
    const tb = time(b.last_entered_tier_at);
    if (ta !== tb) return a.entered_tier_by_gain ? ta - tb : tb - ta;
    const added = time(a.added_at) - time(b.added_at);
    if (added !== 0) return added;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

// More than half of the participants skip the song (sessions/playback.py).
export function skipsNeeded(participants) {
  return Math.floor(Math.max(1, participants) / 2) + 1;
}

// Reorder a keyed list in place, animating moved rows (FLIP). `render(item, old)` returns the
// row for an item, reusing `old` when it can.
export function patchList(list, items, keyOf, render) {
  const before = new Map();
  for (const child of list.children) before.set(child.dataset.key, child.getBoundingClientRect());
  const existing = new Map(Array.from(list.children, (child) => [child.dataset.key, child]));
  const rows = items.map((item) => {
    const key = keyOf(item);
    const row = render(item, existing.get(key) || null);
    row.dataset.key = key;
    return row;
  });
  list.replaceChildren(...rows);
  if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) return;
  for (const row of rows) {
    const old = before.get(row.dataset.key);
    if (!old) {
      row.animate([{ opacity: 0, transform: "scale(.97)" }, { opacity: 1, transform: "none" }], {
        duration: 260,
        easing: "ease-out",
      });
      continue;
    }
    const now = row.getBoundingClientRect();
    const dy = old.top - now.top;
    if (Math.abs(dy) > 1) {
      row.animate([{ transform: `translateY(${dy}px)` }, { transform: "none" }], {
        duration: 380,
        easing: "cubic-bezier(.2,.8,.2,1)",
      });
    }
  }
}

export function formatCount(n) {
  return n > 0 ? `+${n}` : String(n);
}
