"""Two tiers of polling per project, so a project where nothing runs costs Edge Impulse
almost nothing.

- **running**: while the stored state shows a job at work (`bot.core.stall.working`), or
  nothing is known yet, every poll reads the whole state, as it always did.
- **idle**: otherwise a poll reads the project's active jobs (`bot.tuner.activity`, 44 bytes
  when none) and the whole state only when the set of job ids differs from the one seen at
  the last read of the state, or `IDLE_FULL_READ` seconds after that read (what no job
  announces: a run renamed, a state reset). Each project's period is a little shorter, by its id
  (`full_read_after`), so projects watched at the same moment (a start) do not all read their
  whole state in the same interval every time after. A tuner run that starts is a new job, so
  its card comes within one interval, as in the running tier; a job that is not a tuner run is
  read once and its set remembered, so it costs nothing more while it runs.
- **full_reads**: a project whose jobs list Edge Impulse refuses (a 404 on an older deployment,
  401/403 for a key that may not list jobs) is read whole every poll; said once in the log.
  So is every project with `IDLE_FULL_READ=0`.

What is kept is in memory only: the set seen and when the state was last read whole. It is not
stored. A restart, or a lease taken from another replica (`bot.service.fleet`), begins with a
whole read anyway (the first poll after `watch` writes), which also gives the set to compare
with; a set stored by a replica that then stopped watching could be the same set again after
a run came and went unseen, and reading by it would miss that run. The tier itself survives
restarts and replicas because it follows the stored snapshot, which every replica reads.
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime, timedelta

from bot.conditions import Once
from bot.errors import TunerApiError

RUNNING, IDLE, FULL_READS = "running", "idle", "full_reads"
TIERS = (RUNNING, IDLE, FULL_READS)
SPREAD = 0.1  # a project's period is IDLE_FULL_READ less up to this share of it


def full_read_after(project_id: str, every: float) -> float:
    """Seconds from one whole read of an idle project's state to the next: `every`, less up
    to `SPREAD` of it by the project's id (the same for a project at every read)."""
    return every * (1.0 - SPREAD * (zlib.crc32(project_id.encode()) % 1000) / 1000)


class Tiers:
    """Which tier each project is in, and whether an idle project's poll reads the state."""

    def __init__(self, *, full_read_every: float, log: logging.Logger) -> None:
        self._every = full_read_every  # 0: no idle tier
        self._seen: dict[str, frozenset[str]] = {}  # the active jobs at the last whole read
        self._due: dict[str, datetime] = {}  # when the next whole read is due
        self._refused: set[str] = set()
        self._said = Once(log)

    def tier(self, project_id: str, running: bool | None) -> str:
        """The project's tier; `running`: whether its stored state shows a job at work (None:
        not known yet)."""
        if self._every <= 0 or project_id in self._refused:
            return FULL_READS
        return RUNNING if running is None or running else IDLE

    def quiet(self, project_id: str, jobs: frozenset[str], now: datetime) -> bool:
        """Whether an idle project's state need not be read: the same jobs as at its last whole
        read, and its next whole read not due (`full_read_after`)."""
        due = self._due.get(project_id)
        return due is not None and self._seen.get(project_id) == jobs and now < due

    def read(self, project_id: str, jobs: frozenset[str] | None, began: datetime) -> None:
        """The state was read whole by a poll that `began` with `jobs` as the active jobs
        (None: not read, the running tier)."""
        if jobs is not None:
            self._seen[project_id] = jobs
            after = full_read_after(project_id, self._every)
            self._due[project_id] = began + timedelta(seconds=after)

    def refused(self, project_id: str, error: TunerApiError) -> None:
        """Edge Impulse refuses the project's jobs list, and read its state: full reads from now."""
        self._refused.add(project_id)
        self.forget(project_id)
        said = error.status not in (None, 200)
        how = f"HTTP {error.status}" if said else "an answer that is not a jobs list"
        self._said(
            project_id,
            "project %s: Edge Impulse refuses its active jobs list (%s); its whole tuner state "
            "is read at every poll instead (a poll costs what it did before the idle tier)",
            project_id,
            how,
        )

    def forget(self, project_id: str, *, refusal: bool = False) -> None:
        """Start over: the next idle poll reads the state whole (`refusal`: try the list again)."""
        self._seen.pop(project_id, None)
        self._due.pop(project_id, None)
        if refusal:
            self._refused.discard(project_id)
