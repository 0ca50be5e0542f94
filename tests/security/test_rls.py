"""Row-level security, the second wall (docs/RLS.md): with every service check bypassed (raw SQL
on a connection running as queueit_user with a caller's claims), what a host, a member, a
signed-in outsider and an anonymous caller of party A may read and write, in party A and in
party B (and the holder of party A's TV link). Denied reads return no rows; denied writes raise
`insufficient_privilege` or change nothing. Then how the server applies it per transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.engine import create_engine, create_sessionmaker
from queueit.core.settings import Settings
from queueit.core.uow import Database, UnitOfWork, open_uow
from queueit.main import create_app
from tests.conftest import PG_URL, asyncpg_url, make_settings, truncate_pg
from tests.factories import make_host, make_user, track

pytestmark = pytest.mark.postgres_only

API = "/api/v1"
ACTORS = ("host", "member", "outsider", "anonymous")
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True)
class Party:
    session: str
    host: str
    guest: str
    guest2: str
    playing: str
    queued1: str  # added by the guest; nobody voted on it
    queued2: str  # added by the host; +1 from the guest, -1 from guest2
    song: str  # the catalog row of the playing song


@dataclass(frozen=True)
class World:
    a: Party
    b: Party
    ended: Party
    outsider: str
    deleted: str  # a deleted account's id (its tombstone is in deleted_accounts)

    def user_of(self, actor: str) -> str | None:
        """The user id of an actor of party A (None: no user)."""
        users = {"host": self.a.host, "member": self.a.guest, "outsider": self.outsider}
        return users.get(actor)

    def claims_of(self, actor: str) -> dict[str, Any] | None:
        """The claims UnitOfWork would set for an actor (None: no claims at all)."""
        if actor == "viewer":  # the holder of party A's TV link (UnitOfWork.act_as_viewer)
            return {"role": "anon", "queueit_tv_session": self.a.session}
        user_id = self.user_of(actor)
        if user_id is None:
            return None
        return {"sub": user_id, "role": "authenticated", "is_anonymous": actor == "member"}


async def _post(client: httpx.AsyncClient, path: str, body: Any, user: dict[str, str]) -> Any:
    response = await client.post(f"{API}{path}", json=body, headers=user)
    assert response.status_code == 200, response.text
    return response.json()


async def _party(client: httpx.AsyncClient, code: str, *, end: bool = False) -> Party:
    host, guest, guest2 = (
        await make_host(client),
        await make_user(client, anonymous=True),
        await make_user(client, anonymous=True),
    )
    created = await _post(client, "/sessions/create", {"join_code": code}, host)
    for member in (guest, guest2):
        await _post(client, "/sessions/join", {"join_code": code}, member)
    playing = (await _post(client, "/songs/add", track(f"{code}-1"), host))["id"]
    queued1 = (await _post(client, "/songs/add", track(f"{code}-2"), guest))["id"]
    queued2 = (await _post(client, "/songs/add", track(f"{code}-3"), host))["id"]
    await _post(client, f"/songs/{queued2}/vote", {"vote_value": 1}, guest)
    await _post(client, f"/songs/{queued2}/vote", {"vote_value": -1}, guest2)
    skip = await _post(client, "/sessions/request_skip", None, guest2)
    assert skip["skipped"] is False  # one request out of three participants
    if end:
        await _post(client, "/sessions/end", None, host)
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    async with engine.connect() as conn:
        song = await conn.scalar(
            text("SELECT song_id FROM queued_songs WHERE id = :id"), {"id": playing}
        )
    await engine.dispose()
    return Party(
        session=created["session"]["id"],
        host=host["X-Test-User"],
        guest=guest["X-Test-User"],
        guest2=guest2["X-Test-User"],
        playing=playing,
        queued1=queued1,
        queued2=queued2,
        song=str(song),
    )


async def _build_world(data_dir: Path) -> World:
    await truncate_pg()
    app = create_app(make_settings(PG_URL, data_dir))
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        a, b, ended = (
            await _party(client, "RLS-A"),
            await _party(client, "RLS-B"),
            await _party(client, "RLS-C", end=True),
        )
        outsider = await make_host(client)
        doomed = await make_user(client)
        deleted = await client.delete(f"{API}/users/me", headers=doomed)
        assert deleted.status_code == 204
    return World(
        a=a, b=b, ended=ended, outsider=outsider["X-Test-User"], deleted=doomed["X-Test-User"]
    )


@pytest.fixture(scope="module")
def world(pg_schema: bool, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Three parties built through the API (C ended), an outsider, a deleted account. Every
    case below runs in a transaction that is rolled back, so the world never changes."""
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    return asyncio.run(_build_world(tmp_path_factory.mktemp("rls")))


def _params(world: World, party: Party, actor: str) -> dict[str, uuid.UUID]:
    me = world.user_of(actor)
    values = {
        "session": party.session,
        "host": party.host,
        "guest2": party.guest2,
        "playing": party.playing,
        "queued1": party.queued1,
        "queued2": party.queued2,
        "song": party.song,
        "ended": world.ended.session,
        "other": world.b.session,
        "spare_song": world.ended.song,  # in the catalog, queued in neither A nor B
        "deleted": world.deleted,
        # Without claims, try to pass as party A's member.
        "me": me or world.a.guest,
    }
    return {name: uuid.UUID(value) for name, value in values.items()}


def _sqlstate(exc: DBAPIError) -> str | None:
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(error, "sqlstate", None)
        if code:
            return str(code)
    return None


async def _become(conn: AsyncConnection, claims: dict[str, Any] | None) -> None:
    """What UnitOfWork.act_as does for a request: claims, then SET LOCAL ROLE."""
    if claims is not None:
        await conn.execute(
            text("SELECT set_config('request.jwt.claims', :claims, true)"),
            {"claims": json.dumps(claims)},
        )
    await conn.execute(text("SET LOCAL ROLE queueit_user"))


async def _attempt(
    world: World,
    actor: str,
    sql: str,
    params: dict[str, Any],
    *,
    before: str = "",
    refusals: frozenset[str] = frozenset({INSUFFICIENT_PRIVILEGE}),
) -> int | None:
    """Rows read or written by `sql` as `actor` (rolled back); None when refused outright.
    `before` runs first in the same transaction, as the same actor."""
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await _become(conn, world.claims_of(actor))
            try:
                if before:
                    await conn.execute(text(before), params)
                result = await conn.execute(text(sql), params)
            except DBAPIError as exc:
                assert _sqlstate(exc) in refusals, exc
                return None
            rows = len(result.all()) if result.returns_rows else result.rowcount
            await conn.rollback()
            return rows
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Case:
    name: str
    sql: str
    own: frozenset[str]  # actors allowed on party A's rows
    other: frozenset[str] = frozenset()  # actors allowed on party B's rows
    before: str = ""  # run first, in the same transaction
    refusals: frozenset[str] = frozenset({INSUFFICIENT_PRIVILEGE})


NOBODY: frozenset[str] = frozenset()
HOST = frozenset({"host"})
PARTY = frozenset({"host", "member"})
SIGNED_IN = frozenset({"host", "member", "outsider"})

NEW_USER = (
    "INSERT INTO users (id, music_provider, storefront, is_anonymous, current_session_id,"
    " last_active_at, created_at) VALUES (gen_random_uuid(), 'none', 'us', true, :session,"
    " now(), now())"
)
NEW_SESSION = (
    "INSERT INTO sessions (id, join_code, host_id, host_provider, host_storefront, is_locked,"
    " is_paused, last_skip_was_crowdsourced, version, created_at, last_activity_at)"
    " VALUES (gen_random_uuid(), 'RLS-NEW', :host, 'spotify', 'us', false, false, false, 1,"
    " now(), now())"
)
# A host has one active party (uq_sessions_one_active_per_host): inserting another one needs
# the first one ended, in the same transaction, as the service does.
END_MY_PARTY = (
    "UPDATE sessions SET ended_at = now(), end_reason = 'test' WHERE host_id = :me"
    " AND ended_at IS NULL"
)
UNIQUE_VIOLATION = "23505"
# What party/repository.active_by_code does before it looks a code up.
PRESENT_OTHER_CODE = "SELECT set_config('queueit.join_code', 'RLS-B', true)"
NEW_SONG = (
    "INSERT INTO songs (id, source, provider_id, isrc, name, artists, album, duration_ms,"
    " created_at) VALUES (gen_random_uuid(), 'spotify', 'rls-new', '', 'New', 'Artist', '',"
    " 1000, now())"
)
NEW_QUEUED = (
    "INSERT INTO queued_songs (id, session_id, song_id, added_by_id, status, votes,"
    " entered_tier_by_gain, last_entered_tier_at, added_at) VALUES (gen_random_uuid(),"
    " :session, :spare_song, :me, 'queued', 0, true, now(), now())"
)
NEW_VOTE = (
    "INSERT INTO votes (queued_song_id, user_id, value, created_at, updated_at)"
    " VALUES (:queued1, :me, 1, now(), now())"
)
NEW_SKIP = (
    "INSERT INTO skip_requests (queued_song_id, user_id, session_id, created_at)"
    " VALUES (:playing, :me, :session, now())"
)

# Every table and operation, on party A's rows and on party B's. The catalog (songs) belongs
# to no party: it reads the same from both sides.
MATRIX = (
    Case("users/select", "SELECT id FROM users WHERE id = :guest2", PARTY),
    # Outsiders read a party only through the join path, with its code (test_join_path_*).
    Case("sessions/select", "SELECT id FROM sessions WHERE id = :session", PARTY),
    Case("songs/select", "SELECT id FROM songs WHERE id = :song", SIGNED_IN, SIGNED_IN),
    Case("queued_songs/select", "SELECT id FROM queued_songs WHERE session_id = :session", PARTY),
    Case(
        "votes/select",
        "SELECT value FROM votes WHERE queued_song_id = :queued2 AND user_id = :guest2",
        PARTY,
    ),
    Case(
        "skip_requests/select",
        "SELECT user_id FROM skip_requests WHERE session_id = :session AND user_id = :guest2",
        PARTY,
    ),
    Case(
        "deleted_accounts/select",
        "SELECT user_id FROM deleted_accounts WHERE user_id = :deleted",
        NOBODY,
    ),
    Case("users/insert", NEW_USER, NOBODY),
    Case("sessions/insert", NEW_SESSION, HOST, before=END_MY_PARTY.replace(":me", ":host")),
    Case("songs/insert", NEW_SONG, PARTY, PARTY),
    Case("queued_songs/insert", NEW_QUEUED, PARTY),
    Case("votes/insert", NEW_VOTE, PARTY),
    Case("skip_requests/insert", NEW_SKIP, PARTY),
    Case(
        "deleted_accounts/insert",
        "INSERT INTO deleted_accounts (user_id, deleted_at) VALUES (:guest2, now())",
        NOBODY,
    ),
    Case("users/update", "UPDATE users SET username = 'rls-pwned' WHERE id = :guest2", NOBODY),
    Case("sessions/update", "UPDATE sessions SET is_locked = true WHERE id = :session", HOST),
    # The shared catalog: members insert the rows the server built (the verified path), but
    # nobody updates one, or a guest could rename a track in every party (migration 0003).
    Case("songs/update", "UPDATE songs SET name = 'Renamed' WHERE id = :song", NOBODY),
    Case(
        "songs/update-verified",
        "UPDATE songs SET verified_at = now(), image_url = 'https://evil.example/a.jpg'"
        " WHERE id = :song",
        NOBODY,
    ),
    Case(
        "queued_songs/update",
        "UPDATE queued_songs SET status = 'removed', finished_at = now() WHERE id = :queued2",
        HOST,
    ),
    Case(
        "votes/update",
        "UPDATE votes SET value = 1 WHERE queued_song_id = :queued2 AND user_id = :guest2",
        NOBODY,
    ),
    Case(
        "skip_requests/update",
        "UPDATE skip_requests SET created_at = now() WHERE session_id = :session",
        NOBODY,
    ),
    Case(
        "deleted_accounts/update",
        "UPDATE deleted_accounts SET deleted_at = now() WHERE user_id = :deleted",
        NOBODY,
    ),
    Case("users/delete", "DELETE FROM users WHERE id = :guest2", NOBODY),
    Case("sessions/delete", "DELETE FROM sessions WHERE id = :session", NOBODY),
    Case("songs/delete", "DELETE FROM songs WHERE id = :song", NOBODY),
    Case("queued_songs/delete", "DELETE FROM queued_songs WHERE id = :queued1", HOST),
    Case(
        "votes/delete",
        "DELETE FROM votes WHERE queued_song_id = :queued2 AND user_id = :guest2",
        NOBODY,
    ),
    Case(
        "skip_requests/delete",
        "DELETE FROM skip_requests WHERE session_id = :session AND user_id = :guest2",
        NOBODY,
    ),
    Case(
        "deleted_accounts/delete",
        "DELETE FROM deleted_accounts WHERE user_id = :deleted",
        NOBODY,
    ),
)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("target", ["own", "other"])
@pytest.mark.parametrize("case", MATRIX, ids=[case.name for case in MATRIX])
async def test_authorization_matrix(world: World, case: Case, target: str, actor: str) -> None:
    party = world.a if target == "own" else world.b
    allowed = actor in (case.own if target == "own" else case.other)
    rows = await _attempt(
        world,
        actor,
        case.sql,
        _params(world, party, actor),
        before=case.before,
        refusals=case.refusals,
    )
    if allowed:
        assert rows, f"{actor} should be able to {case.name} in party {target}"
    else:
        assert not rows, f"{actor} must not {case.name} in party {target} ({rows} rows)"


# Inside party A: the rules that need a row's old and new values (the guard triggers), column
# grants, and what users may do to their own rows.
RULES = (
    Case("end the party", "UPDATE sessions SET ended_at = now() WHERE id = :session", HOST),
    Case("pause", "UPDATE sessions SET is_paused = true WHERE id = :session", HOST),
    Case(
        "bump the version (members' changes do)",
        "UPDATE sessions SET version = version + 1, last_activity_at = now() WHERE id = :session",
        PARTY,
    ),
    Case("turn the version back", "UPDATE sessions SET version = 0 WHERE id = :session", NOBODY),
    Case(
        "change the join code", "UPDATE sessions SET join_code = 'MINE' WHERE id = :session", NOBODY
    ),
    Case(
        "point the current song at a queued one",
        "UPDATE sessions SET current_song_id = :queued1 WHERE id = :session",
        NOBODY,
    ),
    Case(
        "finish the playing song",
        "UPDATE queued_songs SET status = 'played', finished_at = now() WHERE id = :playing",
        HOST,
    ),
    Case(
        "skip the playing song without a skip request",
        "UPDATE queued_songs SET status = 'skipped', finished_at = now() WHERE id = :playing",
        HOST,
    ),
    Case(
        "requeue the playing song",
        "UPDATE queued_songs SET status = 'queued' WHERE id = :playing",
        NOBODY,
    ),
    Case("forge a vote total", "UPDATE queued_songs SET votes = 99 WHERE id = :queued1", NOBODY),
    Case(
        "change their own vote",
        "UPDATE votes SET value = -1 WHERE queued_song_id = :queued2 AND user_id = :me",
        frozenset({"member"}),
    ),
    Case(
        "withdraw their own vote",
        "DELETE FROM votes WHERE queued_song_id = :queued2 AND user_id = :me",
        frozenset({"member"}),
    ),
    Case(
        "vote as someone else",
        "INSERT INTO votes (queued_song_id, user_id, value, created_at, updated_at)"
        " VALUES (:queued1, :guest2, 1, now(), now())",
        NOBODY,
    ),
    Case(
        "edit their own profile",
        "UPDATE users SET display_name = 'Me' WHERE id = :me",
        SIGNED_IN,
    ),
    Case(
        "turn a guest into an account without an account's token",
        "UPDATE users SET is_anonymous = false WHERE id = :me AND is_anonymous",
        NOBODY,
    ),
    Case("delete their own account", "DELETE FROM users WHERE id = :me", SIGNED_IN),
    Case(
        "write their own tombstone",
        "INSERT INTO deleted_accounts (user_id, deleted_at) VALUES (:me, now())",
        SIGNED_IN,
    ),
    Case(
        "join another party without its code",
        "UPDATE users SET current_session_id = :other WHERE id = :me",
        NOBODY,
    ),
    Case(
        "join another party with its code (the join path)",
        "UPDATE users SET current_session_id = :other WHERE id = :me",
        SIGNED_IN,
        before=PRESENT_OTHER_CODE,
    ),
    Case(
        "join another party with a wrong code",
        "UPDATE users SET current_session_id = :other WHERE id = :me",
        NOBODY,
        before="SELECT set_config('queueit.join_code', 'RLS-A', true)",
    ),
    Case(
        "read every active party's code and host",
        "SELECT join_code, host_id FROM sessions WHERE ended_at IS NULL AND id <> :session",
        NOBODY,
    ),
    Case(
        "read a party by presenting its code",
        "SELECT join_code, host_id FROM sessions WHERE id = :other",
        SIGNED_IN,
        before=PRESENT_OTHER_CODE,
    ),
    Case(
        "backdate their own join time (to count for crowd skip at once)",
        "UPDATE users SET joined_at = now() - interval '1 hour' WHERE id = :me",
        NOBODY,
    ),
    Case(
        "change the address they joined from",
        "UPDATE users SET join_address = 'forged' WHERE id = :me",
        NOBODY,
    ),
    Case(
        "release a member while rewriting their join time",
        "UPDATE users SET current_session_id = NULL, previous_session_id = :session,"
        " joined_at = now() - interval '1 hour' WHERE id = :guest2",
        NOBODY,
    ),
    Case(
        "join an ended party",
        "UPDATE users SET current_session_id = :ended WHERE id = :me",
        NOBODY,
    ),
    Case(
        "release a member (ending the party does)",
        "UPDATE users SET current_session_id = NULL, previous_session_id = :session"
        " WHERE id = :guest2",
        HOST,
    ),
    Case(
        "release a member while rewriting their history",
        "UPDATE users SET current_session_id = NULL, previous_session_id = :ended"
        " WHERE id = :guest2",
        NOBODY,
    ),
    Case(
        "set the fallback source",
        "INSERT INTO fallback_tracks (session_id, position, song_id)"
        " VALUES (:session, 0, :spare_song)",
        HOST,
    ),
    Case(
        "queue a fallback entry in the host's name",
        NEW_QUEUED.replace(":me, 'queued'", ":host, 'queued'")
        .replace("added_at)", "added_at, is_fallback)")
        .replace("now(), now())", "now(), now(), true)"),
        HOST,
    ),
    Case(
        "mark fallback tracks used (autofill is the server's)",
        "UPDATE fallback_tracks SET used_at = now() WHERE session_id = :session",
        NOBODY,
    ),
    Case(
        "host a party as a guest",
        NEW_SESSION.replace(":host", ":me"),
        frozenset({"host", "outsider"}),
        before=END_MY_PARTY,
    ),
    Case(
        "host a second active party",
        NEW_SESSION.replace(":host", ":me"),
        frozenset({"outsider"}),  # who hosts nothing yet
        refusals=frozenset({INSUFFICIENT_PRIVILEGE, UNIQUE_VIOLATION}),
    ),
)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", RULES, ids=[case.name for case in RULES])
async def test_party_rules(world: World, case: Case, actor: str) -> None:
    rows = await _attempt(
        world,
        actor,
        case.sql,
        _params(world, world.a, actor),
        before=case.before,
        refusals=case.refusals,
    )
    if actor in case.own:
        assert rows, f"{actor} should be able to {case.name}"
    else:
        assert not rows, f"{actor} must not {case.name} ({rows} rows)"


@pytest.mark.parametrize("actor", ACTORS)
async def test_the_party_reads_its_fallback_source(world: World, actor: str) -> None:
    params = _params(world, world.a, actor)
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET LOCAL ROLE queueit_system"))
            await conn.execute(
                text(
                    "INSERT INTO fallback_tracks (session_id, position, song_id)"
                    " VALUES (:session, 0, :spare_song)"
                ),
                params,
            )
            await conn.execute(text("RESET ROLE"))
            await _become(conn, world.claims_of(actor))
            query = text("SELECT position FROM fallback_tracks WHERE session_id = :session")
            rows = (await conn.execute(query, params)).all()
            await conn.rollback()
    finally:
        await engine.dispose()
    assert bool(rows) == (actor in PARTY), f"{actor} read {len(rows)} fallback rows"


# The holder of party A's TV link reads party A's screen and nothing else.
VIEWER = (
    Case("read the party", "SELECT id FROM sessions WHERE id = :session", frozenset({"own"})),
    Case(
        "read its queue",
        "SELECT id FROM queued_songs WHERE session_id = :session",
        frozenset({"own"}),
    ),
    Case("read the catalog", "SELECT id FROM songs WHERE id = :song", frozenset({"own", "other"})),
    Case("read its members", "SELECT id FROM users WHERE id = :guest2", frozenset({"own"})),
    Case("read its host", "SELECT id FROM users WHERE id = :host", frozenset({"own"})),
    Case(
        "count its skip requests",
        "SELECT user_id FROM skip_requests WHERE session_id = :session",
        frozenset({"own"}),
    ),
    Case("read votes", "SELECT value FROM votes WHERE queued_song_id = :queued2", NOBODY),
    Case("read an ended party", "SELECT id FROM sessions WHERE id = :ended", NOBODY),
    Case("lock the party", "UPDATE sessions SET is_locked = true WHERE id = :session", NOBODY),
    Case("add a song", NEW_SONG, NOBODY),
    Case("queue a song", NEW_QUEUED, NOBODY),
    Case("skip", NEW_SKIP, NOBODY),
    Case("forget a skip request", "DELETE FROM skip_requests WHERE session_id = :session", NOBODY),
)


@pytest.mark.parametrize("target", ["own", "other"])
@pytest.mark.parametrize("case", VIEWER, ids=[case.name for case in VIEWER])
async def test_a_tv_link_reads_its_party_only(world: World, case: Case, target: str) -> None:
    party = world.a if target == "own" else world.b
    rows = await _attempt(world, "viewer", case.sql, _params(world, party, "viewer"))
    if target in case.own:
        assert rows, f"a TV link should {case.name} ({target})"
    else:
        assert not rows, f"a TV link must not {case.name} ({target}: {rows} rows)"


# How the server applies the wall: every transaction of a unit of work starts with the caller's
# claims and role (docs/RLS.md, core/db.UnitOfWork).

WHO = text("SELECT current_user::text, auth.uid()::text, session_user::text")


def _database(settings: Settings) -> Database:
    engine = create_engine(settings)
    return Database(settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine))


async def _who(uow: UnitOfWork) -> tuple[str, str | None]:
    role, uid, _ = (await uow.session.execute(WHO)).one()
    return role, uid


async def test_a_unit_of_work_keeps_its_caller_across_transactions(pg_schema: bool) -> None:
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    database = _database(Settings(_env_file=None, database_url=PG_URL))
    user_id = uuid.uuid4()
    try:
        async with open_uow(database) as uow:
            # No caller named yet: a request starts as nobody (every policy denies).
            assert await _who(uow) == ("queueit_user", None)
            await uow.act_as(user_id)
            assert await _who(uow) == ("queueit_user", str(user_id))
            async with uow.session.begin_nested():
                assert await _who(uow) == ("queueit_user", str(user_id))
            await uow.commit()  # SET LOCAL ended with the transaction; the next one re-applies
            assert await _who(uow) == ("queueit_user", str(user_id))
            await uow.rollback()
            assert await _who(uow) == ("queueit_user", str(user_id))
        async with open_uow(database, system=True) as uow:
            assert await _who(uow) == ("queueit_system", None)
    finally:
        await database.engine.dispose()


async def test_database_rls_off_keeps_the_login_role(pg_schema: bool) -> None:
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    database = _database(Settings(_env_file=None, database_url=PG_URL, database_rls=False))
    try:
        async with open_uow(database) as uow:
            await uow.act_as(uuid.uuid4())
            role, uid, login = (await uow.session.execute(WHO)).one()
            assert (role, uid) == (login, None)
    finally:
        await database.engine.dispose()


def test_rls_is_on_for_postgresql_only_unless_turned_off(tmp_path: Path) -> None:
    assert Settings(_env_file=None, database_url=PG_URL).rls_enabled
    assert Settings(_env_file=None, database_url=PG_URL, database_rls="").rls_enabled
    assert not Settings(_env_file=None, database_url=PG_URL, database_rls=False).rls_enabled
    assert not Settings(_env_file=None, data_dir=tmp_path).rls_enabled
    assert not Settings(_env_file=None, data_dir=tmp_path, database_rls=True).rls_enabled


async def test_an_api_request_runs_as_its_caller(pg_schema: bool, tmp_path: Path) -> None:
    """Every statement of a request's transaction runs after the caller's claims and role."""
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    app = create_app(make_settings(PG_URL, tmp_path / "data"))
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        engine = app.state.ctx.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = await make_user(client)
            seen.clear()
            # (GET /sessions/current's read-model hit is one statement that applies them
            # itself: tests/party/test_read_model_caller.py)
            response = await client.get(f"{API}/users/me", headers=headers)
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    statements = [s for s in seen if not s[0].lstrip().upper().startswith("BEGIN")]
    first, parameters = statements[0]
    assert "set_config('role'" in first
    claims = json.loads(parameters[0])
    assert claims["sub"] == headers["X-Test-User"]
    assert parameters[2] == "queueit_user"


async def test_join_path_honest_requests_pass_as_queueit_user(
    pg_schema: bool, tmp_path: Path
) -> None:
    """Migration 0004 narrows who reads a party and who may put it in their profile; the API's
    own paths (create, join by code, snapshot, leave, join another, a host's new party) run as
    queueit_user and still pass."""
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    await truncate_pg()
    app = create_app(make_settings(PG_URL, tmp_path / "data"))
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        assert app.state.ctx.settings.rls_enabled
        host_a, host_b = await make_host(client), await make_host(client)
        guest = await make_user(client, anonymous=True)
        await _post(client, "/sessions/create", {"join_code": "WALL-A"}, host_a)
        await _post(client, "/sessions/create", {"join_code": "WALL-B"}, host_b)
        joined = await _post(client, "/sessions/join", {"join_code": "wall-a"}, guest)
        assert joined["session"]["join_code"] == "WALL-A" and joined["participant_count"] == 2
        current = await client.get(f"{API}/sessions/current", headers=guest)
        assert current.status_code == 200
        moved = await _post(client, "/sessions/join", {"join_code": "WALL-B"}, guest)
        assert moved["session"]["join_code"] == "WALL-B"
        assert (await _post(client, "/sessions/leave", None, guest))["ok"] is True
        missing = await client.post(
            f"{API}/sessions/join", json={"join_code": "WALL-X"}, headers=guest
        )
        assert missing.status_code == 404 and missing.json()["code"] == "session_not_found"
        again = await _post(client, "/sessions/create", {"join_code": "WALL-C"}, host_a)
        assert again["session"]["join_code"] == "WALL-C"
        ended = await client.post(
            f"{API}/sessions/join", json={"join_code": "WALL-A"}, headers=guest
        )
        assert ended.status_code == 404
