"""The small rules behind the socket: origins, caps, rate, backplane wire format."""

from __future__ import annotations

import uuid

import orjson
import pytest

from queueit.core.events import DomainEvent, EventName
from queueit.core.settings import Settings
from queueit.realtime.backplane import InMemoryBackplane
from queueit.realtime.reader import AUTH_MESSAGE_MAX_BYTES, RateLimit, parse
from queueit.realtime.redis_backplane import RedisBackplane
from queueit.realtime.router import origin_allowed


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_origin_rules() -> None:
    development = settings(environment="development")
    production = settings(environment="production")
    listed = settings(environment="production", allowed_origins="https://party.example/")
    assert origin_allowed(None, production)  # native apps send no Origin
    assert origin_allowed("https://anything.example", development)
    assert not origin_allowed("https://anything.example", production)
    assert origin_allowed("https://PARTY.example", listed)
    assert not origin_allowed("https://evil.example", listed)
    assert origin_allowed("https://evil.example", settings(allowed_origins="*"))
    # The server's own pages (/join, /tv) connect from the origin they were served from.
    assert origin_allowed("https://queue.example", production, "queue.example")
    assert origin_allowed("http://127.0.0.1:8000", production, "127.0.0.1:8000")
    assert not origin_allowed("https://evil.example", production, "queue.example")


def test_rate_limit_allows_a_burst_then_refuses() -> None:
    limit = RateLimit(3, 10)
    assert [limit.allow() for _ in range(4)] == [True, True, True, False]


def test_message_caps() -> None:
    assert parse({"text": '{"type": "ping"}'}, max_bytes=64) == {"type": "ping"}
    assert parse({"text": "[1, 2]"}, max_bytes=64) is None
    assert parse({"bytes": b"\x00"}, max_bytes=64) is None
    with pytest.raises(ValueError):
        parse({"text": '{"type": "ping", "x": "' + "é" * 40 + '"}'}, max_bytes=64)
    with pytest.raises(ValueError):
        parse({"bytes": b"\x00" * 65}, max_bytes=64)
    big_auth = '{"type": "auth", "token": "' + "t" * 5000 + '"}'
    assert parse({"text": big_auth}, max_bytes=64) == {"type": "auth", "token": "t" * 5000}
    with pytest.raises(ValueError):
        parse({"text": "x" * (AUTH_MESSAGE_MAX_BYTES + 1)}, max_bytes=64)


async def test_a_failing_listener_never_fails_the_publisher() -> None:
    backplane = InMemoryBackplane()
    seen: list[str] = []

    def broken(event: DomainEvent, ts: str) -> None:
        raise RuntimeError("boom")

    backplane.add_listener(broken)
    backplane.add_listener(lambda event, ts: seen.append(event.name))
    await backplane.publish_many([DomainEvent(uuid.uuid4(), EventName.QUEUE_UPDATED, 2, {})])
    assert seen == ["queue.updated"]
    assert backplane.health() == "ok"
    await backplane.stop()


async def test_redis_messages_from_self_or_malformed_are_skipped() -> None:
    backplane = RedisBackplane("redis://127.0.0.1:1/0", channel="queueit:test")
    seen: list[tuple[str, int, str]] = []
    backplane.add_listener(lambda event, ts: seen.append((event.name, event.version, ts)))
    session_id = str(uuid.uuid4())
    event = [session_id, "votes.updated", 7, {"total_votes": 1}]
    backplane._on_message(b"not json")
    backplane._on_message(orjson.dumps({"i": "other", "ts": "t", "e": [["bad-id", "x", 1, {}]]}))
    backplane._on_message(orjson.dumps({"i": backplane.instance_id, "ts": "t", "e": [event]}))
    backplane._on_message(orjson.dumps({"f": 1, "i": "other", "ts": "t1", "e": [event]}))
    assert seen == [("votes.updated", 7, "t1")]
    assert backplane.health() == "degraded"  # never subscribed
    await backplane.stop()
