"""The realtime metrics move with what they count: frames written to sockets by event, and
messages published to, received from and delayed by the Redis backplane."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.conftest import make_settings
from tests.factories import track
from tests.realtime.harness import ThreadServer, bearer, open_ws, recv, start_party, until
from tests.realtime.test_scale_out import channel

pytestmark = pytest.mark.postgres_only


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_frames_and_backplane_messages_are_counted(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=redis_url, realtime_redis_channel=channel()
    )
    a, b = ThreadServer(settings).start(), ThreadServer(settings).start()
    try:
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=15) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=15) as http_b,
        ):
            party = await start_party(http_a)
            await http_a.post("/api/v1/songs/add", json=track(1), headers=party.host)
            queued = await http_a.post("/api/v1/songs/add", json=track(2), headers=party.host)
            before = {
                "snapshots": sample("queueit_ws_messages_sent_total", event="session.snapshot"),
                "votes": sample("queueit_ws_messages_sent_total", event="votes.updated"),
                "published": sample("queueit_backplane_published_total"),
                "received": sample("queueit_backplane_received_total"),
                "lags": sample("queueit_backplane_lag_seconds_count"),
            }
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                await recv(ws)  # the snapshot
                vote = await http_b.post(
                    f"/api/v1/songs/{queued.json()['id']}/vote",
                    json={"vote_value": 1},
                    headers=party.guest,
                )
                assert vote.status_code == 200
                await until(ws, "votes.updated")  # published by B, received by A
    finally:
        a.stop()
        b.stop()
    assert sample("queueit_ws_messages_sent_total", event="session.snapshot") == (
        before["snapshots"] + 1
    )
    assert sample("queueit_ws_messages_sent_total", event="votes.updated") == before["votes"] + 1
    # Both instances share this process's registry: B published the vote, A received it (an
    # instance skips its own messages), and A measured how long it travelled.
    assert sample("queueit_backplane_published_total") >= before["published"] + 1
    assert sample("queueit_backplane_received_total") >= before["received"] + 1
    assert sample("queueit_backplane_lag_seconds_count") >= before["lags"] + 1
