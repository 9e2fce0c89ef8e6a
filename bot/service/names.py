"""Each watched project's name, from Edge Impulse's project info, for every message to say
"Keyword spotting (project 1)" rather than "project 1" (`core.run_name.project_label`).

Asked once per project (at its first poll), then again after `REFRESH_AFTER_S` (a day) or once
the project's key changes (`/eon key`: it may read the name now); the answer and when it was
asked are stored (`store.project_name`), so a restart or another replica does not ask again.
A poll never waits on it, with one bounded exception: the first poll of a project whose name
was never known waits up to `FIRST_WAIT_S` for the answer, so the run's first messages carry
it. A key that may not read it (401/403), or any failure, keeps "project 1": said once in the
log (`bot.conditions`), asked again later; never an extra request per poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from bot.conditions import Condition
from bot.core.events import Event, Snapshot
from bot.core.summary import RunSummary
from bot.errors import TunerApiError
from bot.tuner.client import TunerClient
from bot.tuner.project_info import fetch_project_name
from bot.tuner.runs import refused

log = logging.getLogger(__name__)

REFRESH_AFTER_S: Final = 24 * 3600.0  # a project is seldom renamed
RETRY_AFTER_S: Final = 3600.0  # after an outage or an error that was not a refusal
FIRST_WAIT_S: Final = 2.0
FIX: Final = "messages say 'project N' instead of its name; give a key that can read the project"


class NameStore(Protocol):
    async def project_name(self, project_id: str) -> tuple[str | None, datetime | None]: ...
    async def put_project_name(self, project_id: str, name: str | None, at: datetime) -> None: ...


@dataclass(slots=True)
class _Entry:
    name: str | None
    due: datetime  # when to ask again
    key: str | None = None  # the digest of the key last asked with
    waited: bool = False  # a poll waited for the first answer already


class ProjectNames:
    def __init__(
        self,
        *,
        store: NameStore,
        tuner: TunerClient,
        now: Callable[[], datetime],
        on_renamed: Callable[[str], None] | None = None,
        refresh_after_s: float = REFRESH_AFTER_S,
        first_wait_s: float = FIRST_WAIT_S,
    ) -> None:
        self._store, self._tuner, self._now = store, tuner, now
        self.on_renamed = on_renamed  # the poller writes the next poll whole (cards edited)
        self._refresh = timedelta(seconds=refresh_after_s)
        self._first_wait_s = first_wait_s
        self._entries: dict[str, _Entry] = {}
        self._asking: dict[str, asyncio.Task[None]] = {}
        self._trouble = Condition(log, "Edge Impulse's project info", FIX)

    async def name(self, project_id: str) -> str | None:
        """The name to give the project in this poll's messages; asks Edge Impulse in the
        background when it is due (see the module's docstring)."""
        entry = self._entries.get(project_id)
        if entry is None:
            known, asked_at = await self._store.project_name(project_id)
            due = asked_at + self._refresh if asked_at is not None else self._now()
            entry = self._entries[project_id] = _Entry(known, due)
        key_changed = entry.key != self._tuner.key_digest(project_id)
        if (key_changed or self._now() >= entry.due) and project_id not in self._asking:
            task = asyncio.create_task(self._ask(project_id), name=f"name:{project_id}")
            self._asking[project_id] = task
            task.add_done_callback(lambda _: self._asking.pop(project_id, None))
            if entry.name is None and not entry.waited:
                entry.waited = True
                await asyncio.wait({task}, timeout=self._first_wait_s)  # never cancels it
        return entry.name

    def known(self, project_id: str) -> str | None:
        """The name known now, without asking (for a poll that failed)."""
        entry = self._entries.get(project_id)
        return entry.name if entry is not None else None

    async def stop(self) -> None:
        """Cancel the questions under way (at shutdown)."""
        tasks = list(self._asking.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _ask(self, project_id: str) -> None:
        entry = self._entries[project_id]
        at, entry.key = self._now(), self._tuner.key_digest(project_id)
        try:
            name: str | None = await fetch_project_name(self._tuner, project_id)
        except TunerApiError as error:
            self._trouble.failed("reading the project's name", error, key=project_id)
            again = self._refresh if refused(error) else timedelta(seconds=RETRY_AFTER_S)
            entry.due = at + again
            if refused(error):  # a refusal is an answer: no replica asks again for a day
                await self._put(project_id, None, at)
            return
        except Exception as error:  # no key at all, say: the same as a refusal, told once
            self._trouble.failed("reading the project's name", error, key=project_id)
            entry.due = at + self._refresh
            return
        self._trouble.ok(project_id)
        entry.due = at + self._refresh
        renamed = name != entry.name
        entry.name = name
        await self._put(project_id, name, at)
        if renamed and self.on_renamed is not None:
            self.on_renamed(project_id)

    async def _put(self, project_id: str, name: str | None, at: datetime) -> None:
        try:
            await self._store.put_project_name(project_id, name, at)
        except Exception as error:  # kept in memory; the next process asks again
            self._trouble.failed("storing the project's name", error, key=project_id)


def named(summaries: Iterable[RunSummary], name: str | None) -> tuple[RunSummary, ...]:
    """Summaries of runs a poll closed with the project's name, as `stamped` names the
    snapshot's: their cards' last edit keeps it."""
    return tuple(
        s if name is None or s.project_name == name else s.model_copy(update={"project_name": name})
        for s in summaries
    )


def stamped(
    snapshot: Snapshot, events: list[Event], name: str | None
) -> tuple[Snapshot, list[Event]]:
    """The snapshot's summary and the events with the project's name (pure; unchanged when it
    is not known, so a name once stored stays until Edge Impulse gives another)."""
    if name is None:
        return snapshot, events
    summary = snapshot.summary
    if summary is not None and summary.project_name != name:
        snapshot = snapshot.model_copy(
            update={"summary": summary.model_copy(update={"project_name": name})}
        )
    return snapshot, [e.model_copy(update={"project_name": name}) for e in events]
