"""Request slots for polls, in two lanes, so a slow project cannot hold up the others.

A project whose last fetch from Edge Impulse took over `SLOW_FETCH_S` (a slow answer, or a
failing one retried with backoff) is polled in the slow lane: it needs a slow-lane pass (a
part of the slots: `bot.capacity`) before it takes one of the shared request slots, so slow
projects together never hold more than that part of them, and when most projects answer
slowly, the healthy ones still find a free slot at their time. A slow project's next fast
answer brings it back. A project is judged by its last fetch, so one that turns slow holds
a main slot for that one fetch; a run of them (a whole region of Edge Impulse slowing down
at once) delays the others once, by that fetch, and not again.

When a poll waits over half an interval for its slot, the process is falling behind, and the
line that says so (at most once a minute per lane) names the cause it sees: slow answers
(which projects, how slow) or more projects than the process keeps up with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections import deque
from collections.abc import AsyncIterator, Callable

from bot.capacity import CAPACITY
from bot.store import project_order

SLOW_FETCH_S = 2.0  # a fetch slower than this puts its project in the slow lane
BEHIND_LOG_EVERY_S = 60.0  # "falling behind" is said at most this often, per lane
RECENT_FETCHES = 200  # fetch times kept to tell a slow Edge Impulse from a busy process
SLOW_ANSWERS_S = 1.0  # a median fetch this long means Edge Impulse is what is slow
LISTED = 10  # projects named in a line


def _named(projects: list[str]) -> str:
    shown = sorted(projects, key=project_order)
    more = len(shown) - LISTED
    return ", ".join(shown[:LISTED]) + (f" and {more} more" if more > 0 else "")


class Lanes:
    def __init__(
        self,
        slots: int,
        *,
        interval: float,
        log: logging.Logger,
        clock: Callable[[], float] | None = None,
    ) -> None:
        slow_slots = max(1, slots // CAPACITY.slow_share)
        self._slots = asyncio.Semaphore(slots)
        self._slow_lane = asyncio.Semaphore(slow_slots)
        self.slow_slots = slow_slots
        self._interval = interval
        self._log = log
        self._clock = clock
        self.slow: dict[str, float] = {}  # project -> its last fetch's seconds, while slow
        self._recent: deque[float] = deque(maxlen=RECENT_FETCHES)  # main lane's fetch times
        self._said_at: dict[bool, float] = {}
        self._under_way: dict[str, float] = {}  # project -> when its fetch began

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    @contextlib.asynccontextmanager
    async def fetch(self, project_id: str) -> AsyncIterator[None]:
        """A request slot in the project's lane for the block (its fetch), timed."""
        slow = project_id in self.slow
        queued = self._now()
        async with self._slow_lane if slow else contextlib.nullcontext(), self._slots:
            started = self._now()
            if started - queued > self._interval / 2:
                self._behind(slow=slow, waited=started - queued)
            self._under_way[project_id] = started
            try:
                yield
            finally:
                self._under_way.pop(project_id, None)
                self._took(project_id, self._now() - started, slow=slow)

    def _took(self, project_id: str, seconds: float, *, slow: bool) -> None:
        if seconds > SLOW_FETCH_S:
            if project_id not in self.slow:
                self._log.info(
                    "project %s: Edge Impulse took %.1f s to answer; polling it in the slow "
                    "lane until it answers within %g s",
                    project_id,
                    seconds,
                    SLOW_FETCH_S,
                    extra={"project": project_id},
                )
            self.slow[project_id] = seconds
            return
        if self.slow.pop(project_id, None) is not None:
            self._log.info(
                "project %s: Edge Impulse answers fast again (%.1f s); back in the main lane",
                project_id,
                seconds,
                extra={"project": project_id},
            )
        if not slow:
            self._recent.append(seconds)

    def forget(self, project_id: str) -> None:
        """No longer polled here."""
        self.slow.pop(project_id, None)

    def _behind(self, *, slow: bool, waited: float) -> None:
        now = self._now()
        said = self._said_at.get(slow)
        if said is not None and now - said < BEHIND_LOG_EVERY_S:
            return
        self._said_at[slow] = now
        if slow:
            self._log.warning(
                "polls of slow projects are falling behind: one waited %.1f s for its turn "
                "(POLL_INTERVAL is %g s). Edge Impulse answers %d project(s) slowly or not at "
                "all, up to %.1f s a poll (%s); together they hold at most %d request slots, "
                "so the other projects are not held up. This clears as Edge Impulse answers them",
                waited,
                self._interval,
                len(self.slow),
                max(self.slow.values(), default=0.0),
                _named(list(self.slow)),
                self.slow_slots,
            )
            return
        long = {p: now - t for p, t in self._under_way.items() if now - t > SLOW_FETCH_S}
        if long:
            self._log.warning(
                "polls are falling behind: one waited %.1f s for its turn (POLL_INTERVAL is "
                "%g s) because Edge Impulse answers slowly: %d request(s) under way for over "
                "%g s, up to %.1f s (projects %s). Each such project moves to the slow lane "
                "once its answer comes, so the others get their turn back; more replicas "
                "would not help",
                waited,
                self._interval,
                len(long),
                SLOW_FETCH_S,
                max(long.values()),
                _named(list(long)),
            )
            return
        median = statistics.median(self._recent) if self._recent else 0.0
        if median >= SLOW_ANSWERS_S:
            self._log.warning(
                "polls are falling behind: one waited %.1f s for its turn (POLL_INTERVAL is "
                "%g s) because Edge Impulse answers slowly: %.1f s a poll (median of the last "
                "%d). More replicas would not help; this clears as Edge Impulse speeds up",
                waited,
                self._interval,
                median,
                len(self._recent),
            )
            return
        self._log.warning(
            "polls are falling behind: one waited %.1f s for its turn (POLL_INTERVAL is %g s) "
            "while Edge Impulse answers in %.2f s (median): this process has more projects "
            "than it keeps up with: add a replica or raise POLL_INTERVAL",
            waited,
            self._interval,
            median,
        )
