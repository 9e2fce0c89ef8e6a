"""The process's slots (`bot.capacity`): their relations hold by construction, and each part
that needs a slot count takes it from there."""

from __future__ import annotations

import gc
import logging
import threading

import pytest
from pydantic import SecretStr
from sqlalchemy.pool import QueuePool

from bot import collector
from bot.capacity import CAPACITY, Capacity
from bot.service.lanes import Lanes
from bot.store import url
from bot.tuner.client import TunerClient, default_transport


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"connections": 31}, "a connection for every fetch under way"),
        ({"writes": 33}, "no more writes than fetches"),
        ({"pool_size": 9}, "database connections for every write"),
        ({"spare_connections": 3}, "database connections for every write"),
        ({"fetches": 0, "writes": 0}, "at least one fetch and one write"),
        ({"pool_overflow": -1}, "no negative overflow"),
        ({"slow_share": 33}, "a fetch for the slow lane"),
        ({"slow_share": 1}, "fetches kept from the slow lane"),
    ],
)
def test_a_capacity_that_breaks_a_relation_is_refused_naming_it(
    changes: dict[str, int], said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        Capacity(**changes)


def test_the_processes_capacity_keeps_every_relation() -> None:
    assert Capacity() == CAPACITY
    assert CAPACITY.connections >= CAPACITY.fetches
    assert CAPACITY.pool_size >= CAPACITY.writes + CAPACITY.spare_connections


def test_the_poller_the_transport_and_the_pool_take_their_slots_from_it() -> None:
    from bot.service.poller import Poller

    defaults = Poller.__init__.__kwdefaults__ or {}
    assert (defaults["max_fetches"], defaults["max_writes"]) == (CAPACITY.fetches, CAPACITY.writes)
    assert default_transport()._max_connections == CAPACITY.connections
    assert Lanes(CAPACITY.fetches, interval=10.0, log=logging.getLogger()).slow_slots == (
        CAPACITY.fetches // CAPACITY.slow_share
    )
    database_url = "postgresql://u:p@127.0.0.1:1/x"  # never connected to: the engine is lazy
    engine = url.create_engine(database_url, url.parse(database_url))
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow) == (CAPACITY.pool_size, CAPACITY.pool_overflow)


def test_the_collector_is_paused_for_a_large_read_only() -> None:
    """Paused (process-wide) while a large document is read, in the reader thread too, and
    enabled again after; a small read leaves it alone."""
    seen: list[tuple[int, bool]] = []

    def read(size: int) -> None:
        with collector.paused_for(size):
            seen.append((size, gc.isenabled()))

    assert gc.isenabled()
    for size in (collector.PAUSE_BYTES - 1, collector.PAUSE_BYTES):
        reader = threading.Thread(target=read, args=(size,))
        reader.start()
        reader.join()
    assert seen == [(collector.PAUSE_BYTES - 1, True), (collector.PAUSE_BYTES, False)]
    assert gc.isenabled()


def test_reading_a_state_pauses_the_collector_when_it_is_large() -> None:
    client = TunerClient(
        default_transport(), base_url="http://127.0.0.1:1/v1", api_key_for=lambda _: SecretStr("k")
    )
    body = b'{"success": true, "trials": [], "pad": "' + b"x" * collector.PAUSE_BYTES + b'"}'
    during = client.read("1", body, lambda pieces: gc.isenabled())
    assert during is False and gc.isenabled()
