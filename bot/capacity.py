"""How much one process does at once: its slots, defined together so that their relations are
checked where they are set (`Capacity.__post_init__`), not remembered in comments.

Past these, a poll waits its turn (first come, first served), so every project falls behind
evenly when there is more to poll than CPU, while the event loop keeps few enough steps queued
to answer `/eon` commands at once and delivery keeps its share. They are constants, not
settings: they hold for one process whatever its size (`bench/scale.py` shows what a mix of
projects costs on a given machine).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capacity:
    """- `fetches`: requests to Edge Impulse under way at once (`bot.service.poller`): enough for
      every project polled each interval when answers take a few hundred milliseconds;
    - `slow_share`: slow projects hold at most 1/`slow_share` of the fetches (`bot.service.lanes`),
      so the others always find a free one;
    - `connections`: the tuner transport's pool (`bot.tuner.client.default_transport`), one
      for each fetch that may be under way, so a fetch never waits for a connection;
    - `writes`: changed documents being read or stored at once (`bot.service.poller`), each of which
      may hold a database connection;
    - `pool_size` / `pool_overflow`: PostgreSQL connections kept open, and more at busy times
      (`bot.store.url`), shared by the writes, delivery's channels and `/eon` commands;
    - `spare_connections`: kept in the pool beyond the writes, so a command or a post never
      waits for the polls' writes."""

    fetches: int = 32
    slow_share: int = 4
    connections: int = 32
    writes: int = 8
    pool_size: int = 10
    pool_overflow: int = 20
    spare_connections: int = 2

    def __post_init__(self) -> None:
        rules = [
            (self.fetches >= 1 and self.writes >= 1, "at least one fetch and one write"),
            (self.fetches // max(self.slow_share, 1) >= 1, "a fetch for the slow lane"),
            (self.slow_share >= 2, "fetches kept from the slow lane"),
            (self.connections >= self.fetches, "a connection for every fetch under way"),
            (self.writes <= self.fetches, "no more writes than fetches to feed them"),
            (
                self.pool_size >= self.writes + self.spare_connections,
                "database connections for every write, and spare ones for commands and posts",
            ),
            (self.pool_overflow >= 0, "no negative overflow"),
        ]
        broken = [rule for holds, rule in rules if not holds]
        if broken:
            raise ValueError(f"capacity {self}: needs {'; '.join(broken)}")


CAPACITY = Capacity()
