"""One provider's HTTP calls: circuit check, timeout, one retry, and error mapping.

- 429: the circuit opens for `Retry-After` (app-wide); the caller gets 503 at once.
- 5xx, timeouts, network errors: retried once after a short backoff, then 503.
- 401: the token source's `invalidate` runs: an app token is renewed once (it may have been
  revoked early); a second 401, or a 403, is logged and becomes 503 — never 401, which would
  sign the iOS user out. A token source that cannot renew (a user's own token,
  catalog/playlists.py) raises its own error from `invalidate` (401) or `forbidden` (403).
- 404 and other 4xx: `None` (nothing found, or a request the provider would not take).
- `retry=False` for a call that must not be repeated (it creates something: a second attempt
  after a timeout could create it twice).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import orjson
import structlog

from queueit.catalog import metrics
from queueit.catalog.circuit import Circuit, parse_retry_after
from queueit.catalog.errors import CatalogUnavailable

log = structlog.get_logger(__name__)

DEFAULT_RETRY_BACKOFF_SECONDS = 0.2


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None:
        """The provider answered 401 to `token`: forget it (the next `token()` gets a new
        one), or raise when there is no other."""
        ...

    def forbidden(self) -> None:
        """The provider answered 403: raise to say more than 503 `catalog_unavailable`."""
        ...


class ProviderHttp:
    def __init__(
        self,
        provider: str,
        http: httpx.AsyncClient,
        *,
        circuit: Circuit,
        timeout: float,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF_SECONDS,
    ) -> None:
        self.provider = provider
        self.circuit = circuit
        self._http = http
        self._timeout = httpx.Timeout(timeout)
        self._retry_backoff = retry_backoff

    async def get_json(
        self,
        url: str,
        *,
        operation: str,
        params: dict[str, str | int] | None = None,
        tokens: TokenSource | None = None,
    ) -> dict[str, Any] | None:
        response = await self.send("GET", url, operation=operation, params=params, tokens=tokens)
        return None if response is None else self.json_of(response, operation=operation)

    def json_of(self, response: httpx.Response, *, operation: str) -> dict[str, Any]:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            log.warning("catalog_provider_bad_body", provider=self.provider, operation=operation)
            raise CatalogUnavailable()
        return body

    async def send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: dict[str, str | int] | None = None,
        data: dict[str, str] | None = None,
        json: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        tokens: TokenSource | None = None,
        retry: bool = True,
    ) -> httpx.Response | None:
        await self._check_circuit(operation)
        retried = reauthenticated = False
        while True:
            request_headers = dict(headers or {})
            token = ""
            if tokens is not None:
                token = await tokens.token()
                request_headers["Authorization"] = f"Bearer {token}"
            outcome, response = await self._attempt(
                method, url, params=params, data=data, json=json, headers=request_headers
            )
            self._count(operation, outcome)
            if outcome == "ok":
                return response
            if outcome in ("not_found", "rejected"):
                if outcome == "rejected":
                    log.warning(
                        "catalog_provider_rejected_request",
                        provider=self.provider,
                        operation=operation,
                        status=response.status_code if response is not None else None,
                    )
                return None
            if outcome == "rate_limited":
                assert response is not None
                seconds = parse_retry_after(response.headers.get("Retry-After"))
                await self.circuit.trip(seconds)
                raise CatalogUnavailable(retry_after=seconds)
            if outcome == "auth_error":
                assert response is not None
                if response.status_code == 401 and tokens is not None and not reauthenticated:
                    reauthenticated = True
                    tokens.invalidate(token)
                    continue
                if response.status_code == 403 and tokens is not None:
                    tokens.forbidden()
                log.error(
                    "catalog_provider_auth_failed",
                    provider=self.provider,
                    operation=operation,
                    status=response.status_code,
                )
                raise CatalogUnavailable()
            # server_error, timeout, network_error: transient, one retry
            if retried or not retry:
                log.warning(
                    "catalog_provider_failed",
                    provider=self.provider,
                    operation=operation,
                    outcome=outcome,
                )
                raise CatalogUnavailable()
            retried = True
            await asyncio.sleep(self._retry_backoff)
            await self._check_circuit(operation)

    async def _check_circuit(self, operation: str) -> None:
        remaining = await self.circuit.remaining()
        if remaining > 0:
            self._count(operation, "circuit_open")
            raise CatalogUnavailable(retry_after=remaining)

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str | int] | None,
        data: dict[str, str] | None,
        json: dict[str, object] | None,
        headers: dict[str, str],
    ) -> tuple[str, httpx.Response | None]:
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                data=data,
                json=json,
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            return "timeout", None
        except httpx.RequestError as exc:
            log.info("catalog_provider_network_error", provider=self.provider, error=repr(exc))
            return "network_error", None
        finally:
            metrics.PROVIDER_SECONDS.labels(self.provider).observe(time.perf_counter() - started)
        status = response.status_code
        if 200 <= status < 300:
            return "ok", response
        if status == 429:
            return "rate_limited", response
        if status in (401, 403):
            return "auth_error", response
        if status >= 500:
            return "server_error", response
        if status == 404:
            return "not_found", response
        return "rejected", response

    def _count(self, operation: str, outcome: str) -> None:
        metrics.PROVIDER_CALLS.labels(self.provider, operation, outcome).inc()
