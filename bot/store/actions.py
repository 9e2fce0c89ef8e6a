"""What was done from Slack's buttons: one row per (project, run, action, trial).

The row is written before Edge Impulse is called (`claim_action`), and UNIQUE(project, run
hash, action, trial hash) lets only one click, of any copy of the message on any replica,
write it: every other click reads who did it and when. What the call did is written with the
message that tells it, in ONE transaction (`move_action`: the row's state and an outbox row),
so an audit line is never lost nor posted twice. A row left `claimed` by a process that died
between the row and the call is found by `stale_actions` and told as unknown: at once when its
holder (`claimed_by`) is gone (`Backend.gone`), else once its claim expires (a call that hangs).

    claimed ──▶ started ──▶ done      (a job it started is followed until it ends)
       │   └──▶ done                  (a stop: nothing to follow)
       ├──▶ unknown                   (no answer, or a crash before it)
       └──▶ (deleted)                 (Edge Impulse refused: as if never clicked)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from bot.core.events import Event
from bot.store.backend import Backend
from bot.store.polls import Polls
from bot.store.schema import CLAIMED, STARTED, actions, digest


@dataclass(frozen=True, slots=True)
class ActionRecord:
    project_id: str
    run_id: str
    action: str
    target: str
    channel_id: str
    user_id: str
    trial_id: str = ""
    trial_name: str | None = None
    state: str = CLAIMED
    job_id: str | None = None
    detail: str | None = None
    created_at: datetime | None = None
    id: int | None = None
    team_id: str = ""  # the workspace clicked in (always given by the store and a click)


def _record(row: Any) -> ActionRecord:
    return ActionRecord(
        project_id=row.project_id, run_id=row.run_id, action=row.action, target=row.target,
        channel_id=row.channel_id, user_id=row.user_id, trial_id=row.trial_id,
        trial_name=row.trial_name, state=row.state, job_id=row.job_id, detail=row.detail,
        created_at=row.created_at, id=row.id, team_id=row.team_id,
    )  # fmt: skip


class Actions:
    def __init__(self, backend: Backend, now: Callable[[], datetime], polls: Polls) -> None:
        self._backend = backend
        self._now = now
        self._polls = polls  # its events are queued as a poll's are

    async def claim_action(
        self, wanted: ActionRecord, *, claim_s: float = 60.0, owner: str | None = None
    ) -> tuple[bool, ActionRecord]:
        """(True, the new row) for the first click; (False, the row that was there) for any
        other. `owner`: the replica that will make the call (`bot.service.fleet.replica_id`)."""
        now = self._now()
        values = {
            "team_id": wanted.team_id,
            "project_id": wanted.project_id, "run_id": wanted.run_id,
            "run_hash": digest(wanted.run_id), "action": wanted.action,
            "trial_id": wanted.trial_id, "trial_hash": digest(wanted.trial_id),
            "trial_name": wanted.trial_name, "target": wanted.target,
            "channel_id": wanted.channel_id, "user_id": wanted.user_id, "state": CLAIMED,
            "job_id": wanted.job_id, "created_at": now,
            "claim_expires": now + timedelta(seconds=claim_s), "updated_at": now,
            "claimed_by": owner,
        }  # fmt: skip
        insert = self._backend.insert(actions).values(**values).on_conflict_do_nothing()
        same = and_(
            actions.c.team_id == wanted.team_id,
            actions.c.project_id == wanted.project_id,
            actions.c.run_hash == values["run_hash"],
            actions.c.action == wanted.action,
            actions.c.trial_hash == values["trial_hash"],
        )
        async with self._backend.write() as conn:
            inserted = await conn.execute(insert.returning(actions.c.id))
            first = inserted.first() is not None
            row = (await conn.execute(select(actions).where(same))).one()
        return first, _record(row)

    async def drop_action(self, action_id: int) -> None:
        """Forget a claim whose call Edge Impulse refused: the next click may try again."""
        async with self._backend.write() as conn:
            await conn.execute(delete(actions).where(actions.c.id == action_id))

    async def move_action(
        self,
        action_id: int,
        *,
        from_states: Collection[str],
        state: str,
        job_id: str | None = None,
        detail: str | None = None,
        events: Sequence[Event] = (),
    ) -> bool:
        """The row to `state` (if it is in one of `from_states`) and `events` queued for its
        channel, in one transaction; False, with nothing done, if another got there first."""
        now = self._now()
        changes: dict[str, Any] = {"state": state, "updated_at": now}
        if job_id is not None:
            changes["job_id"] = job_id
        if detail is not None:
            changes["detail"] = detail
        async with self._backend.write() as conn:
            moved = await conn.execute(
                update(actions)
                .where(actions.c.id == action_id, actions.c.state.in_(list(from_states)))
                .values(**changes)
                .returning(actions.c.team_id, actions.c.channel_id)
            )
            found = moved.first()
            if found is None:
                return False
            to = [(found.team_id, found.channel_id, "all")]
            await self._polls.enqueue(conn, [(event, to) for event in events], now)
        return True

    async def stale_actions(self, owner: str | None = None) -> list[ActionRecord]:
        """Claims whose call should long have ended, or whose holder is gone: the process
        making it died. `owner`: the asking replica, whose own claims are alive."""
        left = actions.c.claim_expires < self._now()
        if owner is not None:
            holder = actions.c.claimed_by
            gone = and_(holder.is_not(None), holder != owner, self._backend.gone(holder))
            left = or_(left, gone)
        query = select(actions).where(actions.c.state == CLAIMED, left)
        async with self._backend.read() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def followed_actions(self) -> list[ActionRecord]:
        """Actions whose job is still under way: extend and use, until their job ends."""
        query = select(actions).where(
            actions.c.state == STARTED, actions.c.job_id.is_not(None), actions.c.action != "stop"
        )
        async with self._backend.read() as conn:
            return [_record(row) for row in await conn.execute(query.order_by(actions.c.id))]

    async def stops_in(self, team: str, project_ids: Collection[str]) -> list[ActionRecord]:
        """The stops asked from the workspace in these projects, oldest first, in one read
        (for `/eon status` and the Home tab, which show many projects at once)."""
        if not project_ids:
            return []
        query = select(actions).where(
            actions.c.team_id == team,
            actions.c.action == "stop",
            actions.c.project_id.in_(list(project_ids)),
        )
        async with self._backend.read() as conn:
            return [_record(row) for row in await conn.execute(query.order_by(actions.c.id))]

    async def stopped_from_slack(self, project_id: str, run_id: str) -> bool:
        """Whether a stop of the run was asked from Slack, in any workspace (the run is one,
        polled once: its end is a stop's for everyone): its record, in any state (a stop Edge
        Impulse refused leaves none; one whose answer is unknown may have stopped it)."""
        query = select(actions.c.id).where(
            actions.c.project_id == project_id,
            actions.c.run_hash == digest(run_id),
            actions.c.action == "stop",
        )
        async with self._backend.read() as conn:
            return (await conn.execute(query.limit(1))).first() is not None

    async def actions_of(
        self, team: str, project_id: str, run_id: str | None = None
    ) -> list[ActionRecord]:
        """What the workspace did to a project (or one of its runs), oldest first: which
        buttons still apply."""
        query = select(actions).where(actions.c.team_id == team, actions.c.project_id == project_id)
        if run_id is not None:
            query = query.where(actions.c.run_hash == digest(run_id))
        async with self._backend.read() as conn:
            return [_record(row) for row in await conn.execute(query.order_by(actions.c.id))]
