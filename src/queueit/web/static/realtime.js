// The session WebSocket (docs/REALTIME.md): authenticate with a first message (keeps the
// token out of URLs and logs), apply events in version order, resync on a gap, reconnect with
// backoff and jitter, and stop for good on 4401/4403/4404/4410. On 4429 (this account opened
// newer sockets elsewhere and this was the oldest) wait until the page is shown again:
// reconnecting at once would close the next oldest, and so on round the tabs.

const FINAL_CLOSES = { 4401: "auth", 4403: "not_member", 4404: "ended", 4410: "removed" };
const REPLACED = 4429;
const PING_EVERY_MS = 25000;
const MAX_BACKOFF_MS = 15000;

export class PartySocket {
  constructor({ sessionId, token, onSnapshot, onEvent, onStatus, onFinal }) {
    this.sessionId = sessionId;
    this.token = token;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onFinal = onFinal;
    this.version = null;
    this.attempts = 0;
    this.stopped = false;
    this.ws = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.resyncAsked = false;
    this.handleOnline = () => this.reconnectNow();
    this.handleOffline = () => this.onStatus("offline");
    this.paused = false;
    this.handleVisible = () => {
      if (!this.paused || document.visibilityState !== "visible") return;
      this.paused = false;
      this.reconnectNow();
    };
  }

  start() {
    window.addEventListener("online", this.handleOnline);
    window.addEventListener("offline", this.handleOffline);
    document.addEventListener("visibilitychange", this.handleVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.handleOnline);
    window.removeEventListener("offline", this.handleOffline);
    document.removeEventListener("visibilitychange", this.handleVisible);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  reconnectNow() {
    if (this.stopped || this.paused) return;
    this.attempts = 0;
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      // The socket survived the outage (or seems to): a fresh snapshot proves it and repairs
      // anything missed; if it is dead after all, its close event reconnects.
      this.resyncAsked = false;
      this.resync();
    } else if (!this.ws || this.ws.readyState > WebSocket.OPEN) {
      this.connect();
    }
  }

  // A refreshed token: used for every reconnect, and sent now so the open socket's expiry moves.
  updateToken(token) {
    this.token = token;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "auth", token }));
    }
  }

  resync() {
    if (this.resyncAsked || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.resyncAsked = true;
    this.ws.send(JSON.stringify({ type: "resync" }));
  }

  connect() {
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.onStatus("offline");
      return; // the "online" event reconnects
    }
    this.onStatus(this.attempts === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const path = `/api/v1/sessions/${encodeURIComponent(this.sessionId)}/realtime`;
    const ws = new WebSocket(`${scheme}//${location.host}${path}`);
    this.ws = ws;
    this.resyncAsked = false;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "auth", token: this.token }));
    });
    ws.addEventListener("message", (message) => this.receive(message.data));
    ws.addEventListener("close", (close) => this.closed(ws, close.code));
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const { event, version, data } = message;
    if (event === "session.snapshot") {
      this.version = version;
      this.attempts = 0;
      this.resyncAsked = false;
      this.onStatus("live");
      this.startPings();
      this.onSnapshot(data);
      return;
    }
    if (event === "pong") {
      if (this.version !== null && version > this.version) this.resync();
      return;
    }
    if (event === "error" || this.version === null || typeof version !== "number") return;
    if (version < this.version) return; // older than what we have: already covered
    if (version > this.version + 1) {
      this.resync(); // we missed a change: the snapshot repairs everything
      return;
    }
    this.version = version;
    this.onEvent(event, data || {});
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: "ping" }));
      }
    }, PING_EVERY_MS);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    this.ws = null;
    if (this.stopped) return;
    const final = FINAL_CLOSES[code];
    if (final) {
      this.stopped = true;
      this.onFinal(final);
      return;
    }
    if (code === REPLACED) {
      this.paused = true;
      this.onStatus("paused");
      return; // handleVisible reconnects when the user comes back to this page
    }
    if (!navigator.onLine) {
      this.onStatus("offline");
      return;
    }
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempts);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.attempts += 1;
    this.onStatus("reconnecting", delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
