"""Verified tokens are cached for their lifetime (issue 17): the same claims come back without
a second verification, an expired token is refused even though it was cached, a token that
failed is never cached, and the cache stays bounded."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest

from queueit.core import errors
from queueit.core.security import (
    LOCAL_ISSUER,
    TokenVerifier,
    VerifiedTokens,
    mint_local_token,
)
from tests.conftest import TEST_SECRET, make_settings


def verifier(tmp_path: Path, *, max_entries: int = 100) -> TokenVerifier:
    settings = make_settings("sqlite+aiosqlite://", tmp_path, jwt_leeway_seconds=0)
    return TokenVerifier(
        settings,
        hs_secret=TEST_SECRET,
        jwks=None,
        verified=VerifiedTokens(max_entries=max_entries),
    )


def token(*, ttl: int = 600, sub: uuid.UUID | None = None) -> str:
    return mint_local_token(
        TEST_SECRET, sub=sub or uuid.uuid4(), is_anonymous=True, ttl_seconds=ttl
    )


async def test_a_cached_token_answers_the_same_claims(tmp_path: Path) -> None:
    check = verifier(tmp_path)
    raw = token()
    first = await check.verify(raw)
    check.hs_secret = "another-secret-" + "x" * 40  # a second verification would now fail
    assert await check.verify(raw) == first
    assert raw.encode() not in b"".join(check.verified._claims)  # keyed by hash only


async def test_an_expired_token_is_refused_even_if_cached(tmp_path: Path) -> None:
    check = verifier(tmp_path)
    raw = token(ttl=1)
    claims = await check.verify(raw)
    while time.time() < claims.expires_at + 0.05:
        time.sleep(0.05)
    with pytest.raises(errors.TokenExpired):
        await check.verify(raw)
    assert len(check.verified) == 0


async def test_an_invalid_token_is_never_cached(tmp_path: Path) -> None:
    check = verifier(tmp_path)
    now = int(time.time())
    forged = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "aud": "authenticated",
            "role": "authenticated",
            "iss": LOCAL_ISSUER,
            "iat": now,
            "exp": now + 600,
        },
        "not-the-secret-" + "y" * 40,
        algorithm="HS256",
    )
    for _ in range(2):
        with pytest.raises(errors.Unauthorized):
            await check.verify(forged)
    assert len(check.verified) == 0


async def test_the_cache_is_bounded(tmp_path: Path) -> None:
    check = verifier(tmp_path, max_entries=3)
    tokens = [token() for _ in range(5)]
    for raw in tokens:
        await check.verify(raw)
    assert len(check.verified) == 3
    check.hs_secret = "another-secret-" + "x" * 40
    with pytest.raises(errors.Unauthorized):  # the oldest went out: verified again
        await check.verify(tokens[0])
    await check.verify(tokens[-1])  # the newest is still cached
