"""A local fake of the Supabase Auth endpoints the guest page calls: anonymous sign-up
(`POST /auth/v1/signup`) and refresh (`POST /auth/v1/token?grant_type=refresh_token`), with
CORS as Supabase answers it, issuing real ES256 tokens from the JWKS it serves at Supabase's
path (the key set the server trusts: tests/security/jwks.py)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.security.jwks import JWKS_PATH, SigningKey, es256_key, supabase_claims

ANON_KEY = "sb-anon-" + "a" * 40  # what the project's dashboard would show


class FakeSupabaseAuth:
    def __init__(self, *, token_seconds: int = 3600) -> None:
        self.key: SigningKey = es256_key()
        self.token_seconds = token_seconds
        self.signups: list[dict[str, Any]] = []  # request bodies
        self.refreshes = 0
        self.issued: list[str] = []  # access tokens, oldest first
        self.bad_keys = 0
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> user id (single use)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_token(self, *, sub: uuid.UUID | None = None, anonymous: bool = False) -> str:
        """A token for a user of this project (the host signs in through the app)."""
        return self.key.sign(supabase_claims(self.base_url, sub=sub, is_anonymous=anonymous))

    def _session(self, user_id: str) -> dict[str, Any]:
        now = int(time.time())
        claims = supabase_claims(
            self.base_url, sub=user_id, is_anonymous=True, iat=now, exp=now + self.token_seconds
        )
        access = self.key.sign(claims)
        refresh = secrets.token_urlsafe(16)
        self._refresh_tokens[refresh] = user_id
        self.issued.append(access)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.token_seconds,
            "expires_at": now + self.token_seconds,
            "refresh_token": refresh,
            "user": {
                "id": user_id,
                "aud": "authenticated",
                "role": "authenticated",
                "is_anonymous": True,
            },
        }

    def _answer(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("apikey") != ANON_KEY:
            with self._lock:
                self.bad_keys += 1
            return 401, {"msg": "Invalid API key"}
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"msg": "bad json"}
        with self._lock:
            if path == "/auth/v1/signup":
                self.signups.append(payload)
                return 200, self._session(str(uuid.uuid4()))
            if path == "/auth/v1/token?grant_type=refresh_token":
                user_id = self._refresh_tokens.pop(str(payload.get("refresh_token")), None)
                if user_id is None:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Invalid Refresh Token",
                    }
                self.refreshes += 1
                return 200, self._session(user_id)
        return 404, {"msg": "not found"}

    def start(self) -> FakeSupabaseAuth:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, document: dict[str, Any] | None) -> None:
                body = json.dumps(document).encode() if document is not None else b""
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header(
                    "Access-Control-Allow-Headers", "apikey, authorization, content-type, accept"
                )
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_OPTIONS(self) -> None:
                self._send(204, None)

            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self._send(404, {"msg": "not found"})
                    return
                self._send(200, {"keys": [owner.key.jwk()]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, document = owner._answer(self.path, self.headers, self.rfile.read(length))
                self._send(status, document)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
