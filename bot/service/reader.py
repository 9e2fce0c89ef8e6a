"""Reads a changed tuner state in one worker thread, so even a 2,000-trial document never holds
the event loop: trial by trial, and only the trials whose bytes changed (`bot.core.increment`).

The snapshot last stored is handed in as its JSON text (`bot.service.saver`), parsed here in
the thread. When the document names another run than the snapshot's, the runs closed since
are read first (`bot.tuner.runs.read_earlier`) and the document read again with them.

The thread rests after each document as long as reading it took: reading uses at most half of
the process's time, whatever the backlog of changed documents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from bot.core.events import EventKind, Snapshot
from bot.core.handover import Earlier, Wanted, read_news
from bot.core.increment import Read, read_unchanged
from bot.tuner.client import TunerClient, whole_state
from bot.tuner.piecewise import Pieces
from bot.tuner.runs import read_earlier

Ask = list[Earlier] | None  # the runs closed before a document is read (`core.handover`)
Stopped = Callable[[str, str], Awaitable[bool]]  # (project, run): was it stopped from Slack?


class Reader:
    """One thread that reads documents: parsing two large ones at once would not be faster
    (one GIL), only hold both in memory."""

    def __init__(
        self, tuner: TunerClient, *, now: Callable[[], datetime], stopped: Stopped | None = None
    ) -> None:
        self._tuner = tuner
        self._now = now
        self._stopped = stopped
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eon-read")

    async def whole(self, project_id: str, body: bytes) -> None:
        """Read `body` whole as the project's state: the typed error if it is not one."""
        await asyncio.get_running_loop().run_in_executor(
            self._thread, self._tuner.read, project_id, body, whole_state
        )

    async def news(
        self, project_id: str, body: bytes, digest: str, kept: str | None
    ) -> tuple[Snapshot | None, Read]:
        """The snapshot `kept` (its JSON) and the document's news since, the runs closed
        meanwhile read first when it names another run; an `EonBotError` when it is no state.
        News of a failure in a run stopped from Slack is read again as the stop's
        (`bot.core.batch.cut_short`): the store is asked only then, so most polls never ask."""
        loop = asyncio.get_running_loop()
        earlier: Ask = None
        snapshot, read = await loop.run_in_executor(
            self._thread, self._read, project_id, body, digest, kept, self._now(), None, False
        )
        if isinstance(read, Wanted):  # another run than the snapshot's: close it first
            earlier = await read_earlier(self._tuner, project_id, read, self._thread)
            snapshot, read = await loop.run_in_executor(
                self._thread, self._read, project_id, body, digest, kept, self._now(), earlier,
                False,
            )  # fmt: skip
        assert isinstance(read, Read)
        if await self._was_stopped(project_id, read):
            snapshot, read = await loop.run_in_executor(
                self._thread, self._read, project_id, body, digest, kept, self._now(), earlier,
                True,
            )  # fmt: skip
            assert isinstance(read, Read)
        return snapshot, read

    async def _was_stopped(self, project_id: str, read: Read) -> bool:
        """Whether `read` tells a failure in its run and that run was stopped from Slack."""
        run_id = read.snapshot.run_id
        if self._stopped is None or run_id is None:
            return False
        failed = any(
            e.kind is EventKind.TRIAL_FAILED and e.run_id == run_id and not e.payload.get("retried")
            for e in read.events
        )
        return failed and await self._stopped(project_id, run_id)

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _read(
        self,
        project_id: str,
        body: bytes,
        digest: str,
        kept: str | None,
        now: datetime,
        earlier: Ask,
        stopped: bool,
    ) -> tuple[Snapshot | None, Read | Wanted]:
        """In the thread: the news (or what must be read first), then as long a rest."""
        started = time.thread_time()
        try:
            return self._read_now(project_id, body, digest, kept, now, earlier, stopped)
        finally:
            time.sleep(time.thread_time() - started)  # sleeping lets go of the GIL

    def _read_now(
        self,
        pid: str,
        body: bytes,
        digest: str,
        kept: str | None,
        now: datetime,
        earlier: Ask,
        stopped: bool,
    ) -> tuple[Snapshot | None, Read | Wanted]:
        snapshot = Snapshot.model_validate_json(kept) if kept else None
        listing = snapshot.listing if snapshot is not None else None
        if (unchanged := read_unchanged(snapshot, digest)) is not None:
            return snapshot, unchanged  # stored before: nothing to read again

        def changes(pieces: Pieces) -> Read | Wanted:
            return read_news(
                snapshot, pieces, earlier, digest=digest, project_id=pid, now=now, stopped=stopped
            )

        # The ids of the trials whose bytes the last poll saw: only new bytes have theirs read.
        known = {print_: id_ for id_, print_ in listing.fingerprints.items()} if listing else None
        return snapshot, self._tuner.read(pid, body, changes, known)
