"""Who may hold a socket: a valid token (4401 otherwise; 1013 while sign-in keys are not
loaded), within the per-user connect limit (1008 over it)."""

from __future__ import annotations

from queueit.core import errors
from queueit.core.ratelimit import RateLimiter, Scope
from queueit.core.security import Claims, TokenVerifier
from queueit.realtime.protocol import CloseCode
from queueit.realtime.source import Refused


async def verify_token(verifier: TokenVerifier, token: str) -> Claims:
    try:
        return await verifier.verify(token)
    except errors.ServiceUnavailable as exc:  # signing keys not loaded yet
        raise Refused(CloseCode.TRY_AGAIN_LATER, "sign-in unavailable") from exc
    except errors.TokenExpired as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token expired") from exc
    except errors.AppError as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token invalid") from exc


async def count_connect(limiter: RateLimiter | None, claims: Claims) -> None:
    """One connect of this user against REALTIME_CONNECT (1008 when over it)."""
    if limiter is None:
        return
    try:
        await limiter.enforce(Scope.REALTIME_CONNECT, f"user:{claims.sub}")
    except errors.RateLimited as exc:
        raise Refused(CloseCode.POLICY, "too many connection attempts") from exc
