// The guest page (entry point): sign in, join, resume after a reload. The party itself is
// in party.js (socket, events), queue.js (now playing, votes) and search.js (search, add).
import { ApiError, api } from "./api.js";
import { $, personName } from "./common.js";
import { forgetExports, wireExports } from "./export.js";
import { AUTH_MODE, KEYS, banner, describe, hooks, show, state, store } from "./guest.js";
import { enterParty, leave, stopParty, toggleSkip } from "./party.js";
import { runSearch, scheduleSearch } from "./search.js";
import { AuthError, anonymousSignIn, refresh, refreshDelay, signInAnonymously } from "./supabase.js";

const CODE_RE = /^[A-Z0-9][A-Z0-9-]{2,18}[A-Z0-9]$/;

function urlCode() {
  const fromQuery = new URLSearchParams(location.search).get("code");
  const match = location.pathname.match(/^\/join\/([^/]+)\/?$/);
  const raw = fromQuery || (match ? decodeURIComponent(match[1]) : "");
  return raw.trim().toUpperCase();
}

function takeTokenFromFragment() {
  // A Supabase sign-in redirect lands here with #access_token=... (never sent to a server).
  // The fragment leaves the address bar at once, whatever happens next. Anyone can send a
  // link with *their* token in it (login CSRF), so it is only a candidate: local mode never
  // takes one, and Supabase mode asks the guest first (confirmAccount).
  if (!location.hash.includes("access_token=")) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("access_token");
  history.replaceState(null, "", location.pathname + location.search);
  if (AUTH_MODE !== "supabase" || !token || token === state.token) return null;
  const expiresIn = Number(params.get("expires_in")) || 0;
  const expiresAt = Number(params.get("expires_at")) || (expiresIn ? now() + expiresIn : 0);
  const lifetime = expiresAt ? Math.max(1, expiresAt - now()) : 0;
  return { accessToken: token, refreshToken: params.get("refresh_token") || "", expiresAt, lifetime };
}

// -- the Supabase session: refreshed before its access token expires ---------------------

const now = () => Math.floor(Date.now() / 1000);
let refreshTimer = null;

function setSession({ accessToken, refreshToken, expiresAt, lifetime }) {
  state.token = accessToken;
  store.set(KEYS.token, accessToken);
  store.set(KEYS.refresh, refreshToken || null);
  store.set(KEYS.expires, refreshToken && expiresAt ? `${expiresAt} ${lifetime}` : null);
  if (state.socket) state.socket.updateToken(accessToken);
  scheduleRefresh();
}

function storedExpiry() {
  const [expiresAt, lifetime] = (store.get(KEYS.expires) || "").split(" ").map(Number);
  return expiresAt && store.get(KEYS.refresh) ? { expiresAt, lifetime: lifetime || 3600 } : null;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const expiry = anonymousSignIn ? storedExpiry() : null;
  if (!expiry) return;
  refreshTimer = setTimeout(refreshNow, refreshDelay(expiry.expiresAt, expiry.lifetime) * 1000);
}

async function refreshNow() {
  const refreshToken = store.get(KEYS.refresh);
  if (!refreshToken || !anonymousSignIn) return;
  try {
    setSession(await refresh(refreshToken));
  } catch (error) {
    if (error instanceof AuthError && (error.status === 0 || error.status >= 500)) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshNow, 5000); // offline or Supabase down: try again
    }
    // Refused (revoked or used refresh token): the token expires, the page asks to join again.
  }
}

async function nameSupabaseGuest(name) {
  // Supabase signs guests in without a name the server takes (token metadata is the
  // client's word too): the guest names themselves on their profile, as the app does.
  try {
    return await api("/users/me", { method: "PATCH", body: { display_name: name }, token: state.token });
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401) return api("/users/me", { token: state.token });
    throw error;
  }
}

function tokenEmail(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return typeof claims.email === "string" ? claims.email : "";
  } catch {
    return "";
  }
}

let confirming = null; // { candidate, me } while the guest decides

async function confirmAccount(candidate) {
  const token = candidate.accessToken;
  stopParty();
  show("view-join");
  let me;
  try {
    me = await api("/users/me", { token });
  } catch (error) {
    showJoinForm(
      error instanceof ApiError && error.status === 401
        ? "That sign-in link has expired or is not valid."
        : describe(error),
    );
    return;
  }
  const email = tokenEmail(token);
  const name = me.username || me.display_name || email || "a guest account without a name";
  confirming = { candidate, me };
  $("confirm-name").textContent = email && email !== name ? `${name} (${email})` : name;
  $("confirm-account").hidden = false;
  $("join-form").hidden = true;
  $("confirm-use").focus();
}

function endConfirm(use) {
  const pending = confirming;
  confirming = null;
  $("confirm-account").hidden = true;
  $("join-form").hidden = false;
  if (use && pending) {
    state.me = pending.me;
    store.set(KEYS.user, JSON.stringify(state.me));
    setSession(pending.candidate);
  }
  if (state.token) resume();
  else showJoinForm();
}

function showJoinForm(message = "") {
  stopParty();
  show("view-join");
  const code = urlCode();
  if (code && !$("code").value) $("code").value = code;
  $("name").value = $("name").value || store.get(KEYS.name) || "";
  renderSignedIn();
  setFormError(message);
  const signedIn = Boolean(state.token);
  const focus = $("code").value ? (signedIn ? $("join-button") : $("name")) : $("code");
  if (!matchMedia("(pointer: coarse)").matches) focus.focus();
}

function renderSignedIn() {
  const signedIn = Boolean(state.token);
  $("signed-in").hidden = !signedIn;
  $("me-name").textContent = signedIn ? personName(state.me) : "";
  const canSignIn = AUTH_MODE === "local" || anonymousSignIn;
  $("name-field").hidden = signedIn || !canSignIn;
  $("supabase-note").hidden = signedIn || canSignIn;
  $("fineprint").hidden = !$("supabase-note").hidden;
  $("join-button").disabled = !signedIn && !canSignIn;
}

function setFormError(message) {
  $("join-error").textContent = message;
  $("join-error").hidden = !message;
}

function signOut(message = "") {
  clearTimeout(refreshTimer);
  state.token = null;
  state.me = null;
  store.set(KEYS.token, null);
  store.set(KEYS.user, null);
  store.set(KEYS.refresh, null);
  store.set(KEYS.expires, null);
  forgetExports();
  showJoinForm(message);
}

async function signIn(name) {
  if (AUTH_MODE === "supabase") {
    // Supabase Auth signs the guest in anonymously; the server verifies its token (JWKS).
    setSession(await signInAnonymously(name));
    state.me = await nameSupabaseGuest(name);
    store.set(KEYS.user, JSON.stringify(state.me));
    store.set(KEYS.name, name);
    return;
  }
  const result = await api("/auth/anonymous", { method: "POST", body: { display_name: name } });
  state.token = result.access_token;
  state.me = result.user;
  store.set(KEYS.token, state.token);
  store.set(KEYS.user, JSON.stringify(state.me));
  store.set(KEYS.name, name);
}

async function onJoinSubmit(event) {
  event.preventDefault();
  const code = $("code").value.trim().toUpperCase();
  const name = $("name").value.trim();
  if (!CODE_RE.test(code)) {
    setFormError("Enter the party code your host shared (4–20 letters or digits).");
    $("code").focus();
    return;
  }
  if (!state.token && (AUTH_MODE === "local" || anonymousSignIn) && !name) {
    setFormError("Pick a name so the party knows who added what.");
    $("name").focus();
    return;
  }
  const button = $("join-button");
  button.disabled = true;
  button.classList.add("busy");
  setFormError("");
  try {
    if (!state.token) {
      if (AUTH_MODE !== "local" && !anonymousSignIn) {
        setFormError("Sign in through your host's link or the QueueIT app first.");
        return;
      }
      try {
        await signIn(name);
      } catch (error) {
        if (error instanceof ApiError && error.code === "validation_error") {
          setFormError("That name can't be used: pick one with visible letters.");
          $("name").focus();
          return;
        }
        throw error;
      }
    }
    const party = await api("/sessions/join", {
      method: "POST",
      body: { join_code: code },
      token: state.token,
    });
    history.replaceState(null, "", `/join/${encodeURIComponent(party.session.join_code)}`);
    enterParty(party);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("Your sign-in expired. Pick a name and join again.");
      return;
    }
    if (error instanceof ApiError && error.code === "name_imitates_host" && AUTH_MODE === "local") {
      // A guest's name is set at sign-in: start again with another one.
      signOut("That name looks like the host's. Pick a name of your own.");
      return;
    }
    if (error instanceof AuthError) {
      setFormError(error.status === 0 ? "You're offline. Check your connection and try again." : "Signing in did not work. Try again in a moment.");
      return;
    }
    setFormError(describe(error, "join"));
  } finally {
    button.classList.remove("busy");
    renderSignedIn(); // a sign-in may have worked even if the join did not
    if (!$("view-join").hidden && (state.token || AUTH_MODE === "local" || anonymousSignIn)) {
      button.disabled = false;
    }
  }
}

async function resume() {
  // A stored token: back into the party we are in (a reload), else the form, signed in.
  try {
    if (!state.me) {
      state.me = await api("/users/me", { token: state.token });
      store.set(KEYS.user, JSON.stringify(state.me));
    }
    const party = await api("/sessions/current", { token: state.token });
    const wanted = urlCode();
    if (!wanted || wanted === party.session.join_code) {
      enterParty(party);
      return;
    }
    showJoinForm();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("Your sign-in expired. Pick a name and join again.");
    } else if (error instanceof ApiError && error.code === "no_active_session") {
      showJoinForm();
    } else {
      showJoinForm(describe(error));
    }
  }
}

function wire() {
  $("join-form").addEventListener("submit", onJoinSubmit);
  $("code").addEventListener("input", (event) => {
    const input = event.target;
    const upper = input.value.toUpperCase();
    if (upper !== input.value) input.value = upper;
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("leave").addEventListener("click", leave);
  $("skip-button").addEventListener("click", toggleSkip);
  $("search").addEventListener("input", scheduleSearch);
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch();
    $("search").blur();
  });
  $("ended-again").addEventListener("click", () => {
    $("ended").hidden = true;
    forgetExports();
    history.replaceState(null, "", "/join");
    $("code").value = "";
    showJoinForm();
  });
  window.addEventListener("hashchange", () => {
    const candidate = takeTokenFromFragment();
    if (candidate) confirmAccount(candidate);
  });
  wireExports();
  $("confirm-use").addEventListener("click", () => endConfirm(true));
  $("confirm-ignore").addEventListener("click", () => endConfirm(false));
  window.addEventListener("offline", () => {
    banner("You're offline. We'll catch up as soon as you're back.", "bad");
  });
  window.addEventListener("online", () => {
    if (state.socket) return; // the socket reports for itself
    banner("");
    if (state.token && !$("view-join").hidden) resume(); // a reload while offline
  });
}

function start() {
  hooks.signOut = signOut;
  hooks.showJoinForm = showJoinForm;
  wire();
  const candidate = takeTokenFromFragment();
  if (!navigator.onLine) banner("You're offline. We'll catch up as soon as you're back.", "bad");
  if (candidate) {
    confirmAccount(candidate);
    return;
  }
  if (!state.token) {
    showJoinForm();
    return;
  }
  const expiry = anonymousSignIn ? storedExpiry() : null;
  if (expiry && refreshDelay(expiry.expiresAt, expiry.lifetime) === 0) {
    refreshNow().then(resume); // a reload after the token expired: refresh first
  } else {
    scheduleRefresh();
    resume();
  }
}

start();
