"""GET/PATCH /api/v1/users/me: provisioning from the token, profile rules (the guest upgrade
through Supabase: tests/users/test_upgrade.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.factories import auth, make_user, token_for

ME = "/api/v1/users/me"


async def patch(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.patch(ME, json=body, headers=headers)


async def test_first_request_provisions_the_profile(client: httpx.AsyncClient) -> None:
    sub = uuid.uuid4()
    response = await client.get(ME, headers=auth(token_for(sub)))
    assert response.status_code == 200
    assert response.json() == {
        "id": str(sub),
        "username": None,
        "display_name": None,
        "music_provider": "none",
        "storefront": "us",
        "is_anonymous": False,
    }
    guest = await client.get(ME, headers=auth(token_for(is_anonymous=True)))
    assert guest.json()["is_anonymous"] is True


async def test_concurrent_first_requests_provision_one_profile(client: httpx.AsyncClient) -> None:
    headers = auth(token_for(uuid.uuid4()))
    responses = await asyncio.gather(*(client.get(ME, headers=headers) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.json()["id"] for r in responses}) == 1


async def test_patch_sets_username_provider_and_storefront(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    response = await patch(
        client, user, {"username": "  DJ_Sam-1 ", "music_provider": "apple", "storefront": "GB"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "DJ_Sam-1"  # stripped, case kept
    assert body["music_provider"] == "apple"
    assert body["storefront"] == "gb"  # lower-cased
    assert (await client.get(ME, headers=user)).json() == body
    # Fields left out stay as they are.
    partial = await patch(client, user, {"storefront": "de"})
    assert partial.json()["username"] == "DJ_Sam-1"
    assert partial.json()["music_provider"] == "apple"
    unset = await patch(client, user, {"music_provider": "none"})
    assert unset.json()["music_provider"] == "none"


async def test_usernames_are_unique_regardless_of_case(client: httpx.AsyncClient) -> None:
    first = await make_user(client, username="Party-Sam")
    second = await make_user(client)
    for taken in ("party-sam", "PARTY-SAM", "Party-Sam"):
        response = await patch(client, second, {"username": taken})
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "username_taken"
    assert (await client.get(ME, headers=second)).json()["username"] is None
    # Changing the case of your own name is not a conflict.
    mine = await patch(client, first, {"username": "PARTY-sam"})
    assert mine.status_code == 200
    assert mine.json()["username"] == "PARTY-sam"
    again = await patch(client, first, {"username": "PARTY-sam"})
    assert again.status_code == 200


async def test_racing_for_one_username_gives_one_winner(client: httpx.AsyncClient) -> None:
    users = [await make_user(client) for _ in range(4)]
    responses = await asyncio.gather(*(patch(client, u, {"username": "only-one"}) for u in users))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409], [r.text for r in responses]


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 31,
        "x" * 10_000,
        "",
        "   ",
        "dj sam",
        "dj.sam",
        "dj@sam",
        "<script>",
        "dj\tsam",
        "dj\nsam",
        "dj\x00sam",
        "dj\u200bsam",  # zero-width space
        "dj\u202esam",  # right-to-left override
        12345,
        True,
        ["dj-sam"],
    ],
)
async def test_bad_usernames_are_422(client: httpx.AsyncClient, username: Any) -> None:
    user = await make_user(client, username="keeper")
    response = await patch(client, user, {"username": username})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert any(item["loc"][:2] == ["body", "username"] for item in body["detail"])
    assert (await client.get(ME, headers=user)).json()["username"] == "keeper"


@pytest.mark.parametrize("storefront", ["usa", "u", "u1", "", "  ", "ü", "u\x00", 12, None])
async def test_bad_storefronts_are_422(client: httpx.AsyncClient, storefront: Any) -> None:
    user = await make_user(client)
    response = await patch(client, user, {"storefront": storefront})
    if storefront is None:  # null means "leave as is"
        assert response.status_code == 200
        assert response.json()["storefront"] == "us"
        return
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("provider", ["tidal", "Spotify", "APPLE", "", 1, ["spotify"]])
async def test_unknown_music_provider_is_422(client: httpx.AsyncClient, provider: Any) -> None:
    user = await make_user(client)
    response = await patch(client, user, {"music_provider": provider})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "body",
    [
        {"id": str(uuid.uuid4())},
        {"is_anonymous": False},
        {"display_name": "S\u3164am"},
        {"display_name": ""},
        {"username": "fine-name", "role": "admin"},
        [],
        "username",
    ],
)
async def test_unknown_fields_and_wrong_shapes_are_422(
    client: httpx.AsyncClient, body: Any
) -> None:
    user = await make_user(client, anonymous=True)
    response = await patch(client, user, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    me = (await client.get(ME, headers=user)).json()
    assert me["is_anonymous"] is True
    assert me["username"] is None


async def test_guest_cannot_host_before_upgrading(client: httpx.AsyncClient) -> None:
    guest = await make_user(client, provider="spotify", anonymous=True)
    response = await client.post("/api/v1/sessions/create", json={}, headers=guest)
    assert response.status_code == 403
    assert response.json()["code"] == "guest_cannot_host"


async def test_a_guest_names_themselves_and_others_see_it(client: httpx.AsyncClient) -> None:
    """Guests take no usernames, but go by a display name (how a Supabase guest, who signs
    in with no name, gets one); a later rename replaces it."""
    user = await make_user(client, anonymous=True)
    for name in ("Robin Q", "Robin"):
        response = await patch(client, user, {"display_name": name})
        assert response.status_code == 200, response.text
        assert response.json()["display_name"] == name
    me = (await client.get(ME, headers=user)).json()
    assert me["display_name"] == "Robin" and me["username"] is None
