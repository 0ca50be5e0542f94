"""GET /sessions/current from the per-process read model (party/read_model.py): the bytes a
member gets are the snapshot's, whoever asks and whichever process changed the party."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import event, update

from queueit.core.settings import Settings
from queueit.core.uow import open_uow
from queueit.main import create_app
from queueit.party import read_model, read_model_repository, snapshot
from queueit.party.models import Party
from queueit.party.schemas import CurrentSessionOut
from queueit.users.models import User
from tests.factories import make_host, make_user, track

API = "/api/v1"
FULL = TypeAdapter(CurrentSessionOut)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _party(client: httpx.AsyncClient, code: str, songs: int = 3) -> dict[str, str]:
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    for n in range(songs):  # the first one plays, the others wait
        added = await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        assert added.status_code == 200, added.text
    return host


async def _guest(client: httpx.AsyncClient, code: str) -> dict[str, str]:
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return guest


async def _full_serialisation(app: FastAPI, headers: dict[str, str]) -> bytes:
    """What the route answered before the read model: the snapshot, serialised in full."""
    user_id = uuid.UUID(headers["X-Test-User"])
    party_id, _version = await client_party(app, user_id)
    async with open_uow(app.state.ctx.database) as uow:
        await uow.act_as(user_id)
        document = await snapshot.snapshot(uow, party_id=party_id, viewer_id=user_id)
    return FULL.dump_json(document, by_alias=True)


async def client_party(app: FastAPI, user_id: uuid.UUID) -> tuple[uuid.UUID, int]:
    async with app.state.ctx.database.sessionmaker() as db:
        user = await db.get(User, user_id)
        assert user is not None and user.current_party_id is not None
        party = await db.get(Party, user.current_party_id)
        assert party is not None
        return party.id, party.version


async def _vote(client: httpx.AsyncClient, song_id: str, value: int, headers: Any) -> None:
    voted = await client.post(
        f"{API}/songs/{song_id}/vote", json={"vote_value": value}, headers=headers
    )
    assert voted.status_code == 200, voted.text


def _statements(app: FastAPI) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            seen.append(statement)

    event.listen(app.state.ctx.database.engine.sync_engine, "before_cursor_execute", count)
    return seen


async def test_every_caller_gets_the_bytes_of_the_full_snapshot(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host = await _party(client, "RMBYTES", songs=4)
    upvoter, downvoter, skipper, idle, both = [await _guest(client, "RMBYTES") for _ in range(5)]
    queue = (await client.get(f"{API}/sessions/current", headers=idle)).json()["queue"]
    await _vote(client, queue[0]["id"], 1, upvoter)
    await _vote(client, queue[1]["id"], -1, downvoter)
    await _vote(client, queue[0]["id"], 1, both)
    await _vote(client, queue[2]["id"], -1, both)
    skipped = await client.post(f"{API}/sessions/request_skip", headers=skipper)
    assert skipped.status_code == 200, skipped.text
    co_host = await _guest(client, "RMBYTES")
    party_id, _version = await client_party(app, uuid.UUID(co_host["X-Test-User"]))
    granted = await client.post(
        f"{API}/sessions/{party_id}/members/{co_host['X-Test-User']}/co-host", headers=host
    )
    assert granted.status_code == 200, granted.text

    # The first read builds the party's entry; the others are served from it.
    callers = (host, upvoter, downvoter, skipper, idle, co_host)
    for _round in range(2):
        for caller in callers:
            response = await client.get(f"{API}/sessions/current", headers=caller)
            assert response.status_code == 200
            assert response.content == await _full_serialisation(app, caller)
    body = (await client.get(f"{API}/sessions/current", headers=skipper)).json()
    assert body["user_requested_skip"] is True and body["my_votes"] == {}
    roles = [
        (await client.get(f"{API}/sessions/current", headers=caller)).json()["my_role"]
        for caller in (host, co_host, idle)
    ]
    assert roles == ["host", "co_host", "guest"]
    # Two votes: the same document (the order of my_votes' keys is the database's).
    response = await client.get(f"{API}/sessions/current", headers=both)
    assert json.loads(response.content) == json.loads(await _full_serialisation(app, both))
    assert response.json()["my_votes"] == {queue[0]["id"]: 1, queue[2]["id"]: -1}


async def test_a_repeated_read_is_one_statement_after_the_caller(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _party(client, "RMCOUNT", songs=5)
    guest = await _guest(client, "RMCOUNT")
    assert (await client.get(f"{API}/sessions/current", headers=guest)).status_code == 200
    seen = _statements(app)
    assert (await client.get(f"{API}/sessions/current", headers=guest)).status_code == 200
    # The caller (and RLS's set_config on PostgreSQL), then the party's version with the
    # caller's own fields: the snapshot is not built again.
    assert len(seen) <= 3, seen
    assert not any("queued_songs.added_at" in s for s in seen)


async def test_a_change_is_seen_on_the_next_read(app: FastAPI, client: httpx.AsyncClient) -> None:
    host = await _party(client, "RMCHANGE")
    guest = await _guest(client, "RMCHANGE")
    before = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    song = before["queue"][0]["id"]
    await _vote(client, song, 1, host)
    after = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert after["queue"][0]["votes"] == 1
    assert after["session"]["version"] > before["session"]["version"]
    await _vote(client, song, -1, guest)
    mine = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert mine["my_votes"] == {song: -1}
    assert [s["votes"] for s in mine["queue"] if s["id"] == song] == [0]


@pytest.fixture
async def second_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another server process's app on the same database (its own read model)."""
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


async def test_a_change_made_by_another_process_is_seen_on_the_next_read(
    app: FastAPI, client: httpx.AsyncClient, second_app: FastAPI
) -> None:
    host = await _party(client, "RMOTHER")
    guest = await _guest(client, "RMOTHER")
    song = (await client.get(f"{API}/sessions/current", headers=guest)).json()["queue"][0]["id"]
    transport = httpx.ASGITransport(app=second_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
        await _vote(other, song, 1, guest)
        locked = await other.patch(
            f"{API}/sessions/control_session", json={"is_locked": True}, headers=host
        )
        assert locked.status_code == 200, locked.text
    body = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert body["my_votes"] == {song: 1}
    assert body["queue"][0]["votes"] == 1
    assert body["session"]["is_locked"] is True


async def test_an_ended_party_is_404_even_with_its_document_cached(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _party(client, "RMENDED")
    guest = await _guest(client, "RMENDED")
    assert (await client.get(f"{API}/sessions/current", headers=guest)).status_code == 200
    party_id, _version = await client_party(app, uuid.UUID(guest["X-Test-User"]))
    # Ended behind the app's back: no version bump, no event, the member still points at it.
    async with app.state.ctx.database.sessionmaker() as db:
        await db.execute(
            update(Party).where(Party.id == party_id).values(ended_at=Party.created_at)
        )
        await db.commit()
    response = await client.get(f"{API}/sessions/current", headers=guest)
    assert response.status_code == 404
    assert response.json()["code"] == "no_active_session"


async def test_members_of_another_party_get_their_own(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _party(client, "RMOURS")
    await _party(client, "RMTHEIRS", songs=1)
    ours, theirs = await _guest(client, "RMOURS"), await _guest(client, "RMTHEIRS")
    assert (await client.get(f"{API}/sessions/current", headers=ours)).status_code == 200
    body = (await client.get(f"{API}/sessions/current", headers=theirs)).json()
    assert body["session"]["join_code"] == "RMTHEIRS" and body["queue"] == []


async def test_an_outsider_reads_no_version_on_postgresql(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    await _party(client, "RMRLS")
    member = await _guest(client, "RMRLS")
    outsider = await make_user(client, anonymous=True)
    party_id, version = await client_party(app, uuid.UUID(member["X-Test-User"]))
    async with open_uow(app.state.ctx.database) as uow:
        await uow.act_as(uuid.UUID(outsider["X-Test-User"]))
        seen = await read_model_repository.caller_view(
            uow.session, party_id, uuid.UUID(outsider["X-Test-User"])
        )
        assert seen is None
        await uow.act_as(uuid.UUID(member["X-Test-User"]))
        seen = await read_model_repository.caller_view(
            uow.session, party_id, uuid.UUID(member["X-Test-User"])
        )
        assert seen is not None and seen.version == version


async def test_a_rename_shows_within_the_documented_lag(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    app.state.ctx.read_model.clock = clock
    host = await _party(client, "RMNAME")
    guest = await _guest(client, "RMNAME")
    assert (await client.get(f"{API}/sessions/current", headers=guest)).status_code == 200
    renamed = await client.patch(
        f"{API}/users/me", json={"display_name": "DJ Renamed"}, headers=host
    )
    assert renamed.status_code == 200, renamed.text
    clock.now += read_model.TTL_SECONDS
    body = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert body["session"]["host"]["display_name"] == "DJ Renamed"
    assert body["queue"][0]["added_by"]["display_name"] == "DJ Renamed"


def _document(version: int, songs: int = 1) -> CurrentSessionOut:
    base: dict[str, Any] = {
        "session": {
            "id": str(uuid.uuid4()),
            "join_code": "ABC",
            "created_at": "2026-01-01T00:00:00Z",
            "host": {
                "id": str(uuid.uuid4()),
                "username": "host",
                "display_name": None,
                "music_provider": "spotify",
                "storefront": "us",
                "is_anonymous": False,
            },
            "host_provider": "spotify",
            "is_locked": False,
            "is_paused": False,
            "ended_at": None,
            "version": version,
        },
        "current_song": None,
        "queue": [],
        "queue_total": songs,
        "my_votes": {},
        "skip_request_count": 0,
        "participant_count": 1,
        "user_requested_skip": False,
        "last_skip_was_crowdsourced": False,
    }
    return CurrentSessionOut.model_validate(base)


def test_the_read_model_keeps_at_most_its_bounds() -> None:
    clock = Clock()
    model = read_model.ReadModel(max_entries=3, max_bytes=10_000_000, clock=clock)
    keys = [(uuid.uuid4(), 100, 0) for _ in range(4)]
    for key in keys[:3]:
        model.store(key, _document(1))
    assert model.fresh(keys[0]) is not None  # used: the least recently used is now keys[1]
    model.store(keys[3], _document(1))
    assert len(model) == 3
    assert model.fresh(keys[1]) is None and model.fresh(keys[0]) is not None
    one = model.fresh(keys[0])
    assert one is not None
    small = read_model.ReadModel(max_bytes=one.size * 2, clock=clock)
    for key in keys:
        small.store(key, _document(1))
    assert len(small) == 2 and small.bytes <= one.size * 2
    clock.now += read_model.TTL_SECONDS
    assert small.fresh(keys[3]) is None and small.bytes < one.size * 2


async def test_each_page_of_the_queue_is_its_own_document(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _party(client, "RMPAGES", songs=4)
    guest = await _guest(client, "RMPAGES")
    whole = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    first = await client.get(f"{API}/sessions/current?queue_limit=1", headers=guest)
    second = await client.get(f"{API}/sessions/current?queue_limit=1&queue_offset=1", headers=guest)
    assert [s["id"] for s in first.json()["queue"]] == [whole["queue"][0]["id"]]
    assert [s["id"] for s in second.json()["queue"]] == [whole["queue"][1]["id"]]
    assert first.json()["queue_total"] == whole["queue_total"] == 3
