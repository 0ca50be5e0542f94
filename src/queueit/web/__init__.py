"""The web domain: the browser pages a party needs without the app — the guest page
(`/join`), the host's TV screen (`/tv/{session_id}`), their static files — and the API routes
behind them (TV links, the TV's read-only view, join QR codes). See docs/WEB.md."""
