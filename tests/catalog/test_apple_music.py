"""The Apple Music client: developer token (ES256) and catalog mapping, against a fake API."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from queueit.catalog.apple_music import AppleDeveloperToken, load_private_key
from queueit.catalog.errors import CatalogMisconfigured
from tests.catalog.conftest import (
    KEY_ID,
    TEAM_ID,
    CatalogFactory,
    apple_overrides,
    catalog_settings,
)
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import apple_search, apple_song

SEARCH = "/v1/catalog/us/search"
MAX_TOKEN_LIFETIME = 180 * 24 * 3600


def _verify(token: str, key: ec.EllipticCurvePrivateKey) -> dict[str, int | str]:
    claims: dict[str, int | str] = jwt.decode(
        token, key.public_key(), algorithms=["ES256"], options={"require": ["iss", "iat", "exp"]}
    )
    return claims


async def test_developer_token_is_es256_with_kid_and_team(
    fake: FakeServer, apple_key: ec.EllipticCurvePrivateKey, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SEARCH, Reply(200, apple_search([apple_song()])))
    catalog = await make_catalog(catalog_settings(**apple_overrides(fake, apple_key)))

    await catalog.search(query="song", limit=5, market="us", source="apple_music")

    (call,) = fake.calls_to(SEARCH)
    scheme, token = call.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == KEY_ID
    claims = _verify(token, apple_key)
    assert claims["iss"] == TEAM_ID
    now = time.time()
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert abs(claims["iat"] - now) < 60
    assert now < claims["exp"] <= claims["iat"] + MAX_TOKEN_LIFETIME


async def test_key_can_come_from_a_file(
    fake: FakeServer,
    apple_key: ec.EllipticCurvePrivateKey,
    make_catalog: CatalogFactory,
    tmp_path: Path,
) -> None:
    path = tmp_path / "AuthKey_KEY1234567.p8"
    path.write_bytes(
        apple_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    overrides = apple_overrides(fake, apple_key)
    overrides.update(apple_private_key_base64="", apple_private_key_path=str(path))
    fake.route("GET", SEARCH, Reply(200, apple_search([])))
    catalog = await make_catalog(catalog_settings(**overrides))

    results = await catalog.search(query="nothing", limit=5, market="us", source="apple_music")

    assert results.tracks == []
    token = fake.calls_to(SEARCH)[0].headers["authorization"].split(" ", 1)[1]
    assert _verify(token, apple_key)["iss"] == TEAM_ID


async def test_developer_token_is_renewed_before_expiry(
    apple_key: ec.EllipticCurvePrivateKey,
) -> None:
    now = [1_000_000.0]
    tokens = AppleDeveloperToken(
        team_id=TEAM_ID, key_id=KEY_ID, private_key=apple_key, ttl=3600, clock=lambda: now[0]
    )
    first = await tokens.token()
    now[0] += 60
    assert await tokens.token() == first  # reused
    now[0] += 3600 - 60 - 15 * 60  # within the renewal margin, still valid
    second = await tokens.token()
    assert second != first
    claims = jwt.decode(
        second,
        apple_key.public_key(),
        algorithms=["ES256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] == int(now[0])
    assert claims["exp"] == int(now[0]) + 3600


def test_bad_keys_are_refused_at_startup() -> None:
    with pytest.raises(CatalogMisconfigured):
        load_private_key(catalog_settings(apple_private_key_base64="bm90IGEga2V5"))
    with pytest.raises(CatalogMisconfigured):
        load_private_key(catalog_settings(apple_private_key_path="/nonexistent/key.p8"))
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CatalogMisconfigured, match="P-256"):
        load_private_key(catalog_settings(apple_private_key_base64=rsa_pem.decode()))


async def test_search_maps_songs_and_artwork(
    fake: FakeServer, apple_key: ec.EllipticCurvePrivateKey, make_catalog: CatalogFactory
) -> None:
    broken = apple_song("2")
    del broken["attributes"]["durationInMillis"]
    songs = [
        apple_song("1", name="Halo", artist="Beyoncé", album="I Am... Sasha Fierce", explicit=True),
        broken,
        {"id": "3", "type": "songs"},
        {"id": "4", "type": "music-videos", "attributes": {"name": "Video"}},
    ]
    fake.route("GET", "/v1/catalog/gb/search", Reply(200, apple_search(songs)))
    catalog = await make_catalog(
        catalog_settings(**apple_overrides(fake, apple_key), catalog_provider="apple_music")
    )

    results = await catalog.search(query="halo beyonce", limit=40, market="GB")

    assert results.source == "apple_music"
    (track,) = results.tracks
    assert track.model_dump() == {
        "id": "1",
        "isrc": "USABC1234567",
        "name": "Halo",
        "artists": "Beyoncé",
        "album": "I Am... Sasha Fierce",
        "duration_ms": 200_000,
        "image_url": "https://is1-ssl.mzstatic.com/image/thumb/x/600x600bb.jpg",
        "source": "apple_music",
        "explicit": True,
    }
    (call,) = fake.calls_to("/v1/catalog/gb/search")
    assert call.param("types") == "songs"
    assert call.param("term") == "halo beyonce"
    assert call.param("limit") == "25"  # Apple's maximum page size


async def test_get_track_and_isrc_lookup(
    fake: FakeServer, apple_key: ec.EllipticCurvePrivateKey, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", "/v1/catalog/us/songs/42", Reply(200, {"data": [apple_song("42")]}))
    fake.route(
        "GET",
        "/v1/catalog/us/songs",
        Reply(200, {"data": [apple_song("7", album="Hits", is_compilation=True)]}),
    )
    catalog = await make_catalog(catalog_settings(**apple_overrides(fake, apple_key)))
    provider = catalog.provider("apple_music")

    track = await provider.get_track("42", market="us")
    assert track is not None and track.id == "42" and track.source == "apple_music"
    assert await provider.get_track("43", market="us") is None

    (candidate,) = await provider.find_by_isrc("USABC1234567", market="us")
    assert candidate.is_compilation
    call = fake.calls_to("/v1/catalog/us/songs")[0]
    assert call.param("filter[isrc]") == "USABC1234567"
    assert call.param("include") == "albums"
