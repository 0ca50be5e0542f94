// Supabase Auth from the guest page (docs/WEB.md): anonymous sign-in with the project's public
// anon key, and refreshing the session before its access token expires. Plain fetch calls to
// the Auth API (what supabase-js does), so the page loads no third-party script.
import { meta } from "./common.js";

const AUTH_URL = meta("queueit-supabase-auth"); // https://<ref>.supabase.co/auth/v1
const ANON_KEY = meta("queueit-supabase-anon-key");
// Refresh this long before expiry (a quarter of the lifetime when that is shorter).
const REFRESH_MARGIN_S = 60;

export const anonymousSignIn = Boolean(AUTH_URL && ANON_KEY);

export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, body) {
  let response;
  try {
    response = await fetch(`${AUTH_URL}${path}`, {
      method: "POST",
      headers: {
        apikey: ANON_KEY,
        Authorization: `Bearer ${ANON_KEY}`,
        "Content-Type": "application/json",
        Accept: "application/json",
      },
      body: JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new AuthError(0, "You are offline.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || typeof data.access_token !== "string") {
    const message = (data && (data.msg || data.error_description || data.message)) || "";
    throw new AuthError(response.status, message || `Sign-in failed (${response.status}).`);
  }
  return session(data);
}

function session(data) {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = Number(data.expires_at) || now + (Number(data.expires_in) || 3600);
  return {
    accessToken: data.access_token,
    refreshToken: typeof data.refresh_token === "string" ? data.refresh_token : "",
    expiresAt,
    lifetime: Math.max(1, expiresAt - now),
  };
}

// POST /auth/v1/signup with no credentials: a new anonymous user (is_anonymous: true).
export function signInAnonymously(name) {
  return call("/signup", { data: name ? { display_name: name } : {} });
}

export function refresh(refreshToken) {
  return call("/token?grant_type=refresh_token", { refresh_token: refreshToken });
}

// Seconds until a session expiring at `expiresAt` (lasting `lifetime`) should be refreshed.
export function refreshDelay(expiresAt, lifetime) {
  const margin = Math.min(REFRESH_MARGIN_S, Math.max(1, lifetime / 4));
  return Math.max(0, expiresAt - Math.floor(Date.now() / 1000) - margin);
}
