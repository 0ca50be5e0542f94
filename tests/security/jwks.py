"""A real JWKS endpoint on 127.0.0.1 (stdlib HTTP server in a background thread) and signing
keys that mint tokens the way Supabase Auth does (header kid + alg, Supabase's claim set)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/auth/v1/.well-known/jwks.json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as Supabase publishes it in its JWKS."""
        public = self.private.public_key()
        data: dict[str, Any]
        if isinstance(public, ec.EllipticCurvePublicKey):
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        data.update({"kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]})
        return data

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        headers = {"kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def es256_key(kid: str | None = None) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid=kid or str(uuid.uuid4()), alg="ES256", private=private)


def rs256_key(kid: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid=kid or str(uuid.uuid4()), alg="RS256", private=private)


def supabase_claims(
    base_url: str,
    *,
    sub: uuid.UUID | str | None = None,
    is_anonymous: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """An access token's claims as Supabase Auth issues them."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"{base_url}/auth/v1",
        "sub": str(sub or uuid.uuid4()),
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "email": "" if is_anonymous else "sam@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"username": "claims-name", "full_name": "Claims Name"},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "anonymous" if is_anonymous else "password", "timestamp": now}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": is_anonymous,
    }
    claims.update(overrides)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hmac(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A token whose signature is HMAC-SHA256 with `secret`, whatever `header` claims (PyJWT
    refuses to sign with a PEM key as an HMAC secret, which is exactly the attack)."""
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
    )
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(signature)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class JwksServer:
    """Serves a mutable key set at Supabase's JWKS path and counts the fetches."""

    def __init__(self, keys: list[SigningKey] | None = None, *, port: int = 0) -> None:
        self.keys: list[dict[str, Any]] = [key.jwk() for key in keys or []]
        self.fetches = 0
        self.port = port
        self.broken_body: bytes | None = None  # when set, served with status 200 as-is
        self.status = 200
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fetch_count(self) -> int:
        with self._lock:
            return self.fetches

    def publish(self, *keys: SigningKey) -> None:
        """Replace the published key set."""
        with self._lock:
            self.keys = [key.jwk() for key in keys]

    def _document(self) -> tuple[int, bytes]:
        with self._lock:
            self.fetches += 1
            if self.broken_body is not None:
                return self.status, self.broken_body
            return self.status, json.dumps({"keys": self.keys}).encode()

    def start(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                status, body = owner._document()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
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
