"""Acting on a run from Slack: a click on "Stop the run", "Extend the search" or "Use this
trial" becomes one Edge Impulse call, once, told in the run's thread.

A click from someone who may act (the listener checks) is checked against the store: a button
that no longer applies (the run ended or moved on, the search can no longer be extended, the
trial is unknown) answers why and does nothing. Then the action is recorded under its unique
key (`claim`, `bot.store.actions`) *before* Slack is acknowledged, so a crash a moment after
the ack still leaves the click to tell; every other click, on any copy of the message or any
replica, reads "already done by @someone at …". Only the click that recorded it calls Edge
Impulse (`call`, after the ack). What the call did is stored with its audit line (metadata
`eon_action_taken`) in one transaction, and delivery posts it in the run's thread:

- done: the audit line; a job it started (extend, use) is followed with its status until it
  ends, then its outcome is replied in the thread (`eon_action_outcome`);
- refused (a read-only key, a run Edge Impulse no longer knows): the record is dropped and the
  clicker told why and how to fix it; nothing reaches the thread, since nothing happened;
- no clear answer, or the process died between the record and the answer (found by `sweep`
  at once on another replica or at the next start, or once its claim expires): the thread says
  the outcome is unknown, naming the clicker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pydantic import SecretStr

from bot.conditions import Condition, Unexpected
from bot.core.events import Event, EventKind, Snapshot
from bot.core.run_name import LABEL_CHARS, project_label
from bot.core.summary import RunSummary
from bot.errors import ConfigError, TunerApiError, TunerBadResponse, TunerUnavailable
from bot.fmt import one_line
from bot.slack.render.actions import ACTION_IDS, mention, parse_value
from bot.slack.render.blocks import safe
from bot.store import CLAIMED, DONE, STARTED, UNKNOWN, ActionRecord, blame
from bot.tuner.client import TunerClient
from bot.tuner.jobs import JobStatus, TunerJobs, as_action, run_job_id

log = logging.getLogger(__name__)

CALL_LIMIT_S: Final = 15.0  # an acting call unanswered by then has an unknown outcome
CLAIM_S: Final = CALL_LIMIT_S + 10.0  # a claim older than this: its process died mid-call
BAD_BUTTON: Final = "⚠ eon-bot does not recognise this button; use the buttons of a newer message."
INTERRUPTED: Final = "eon-bot stopped before Edge Impulse answered"


@dataclass(frozen=True, slots=True)
class Click:
    """One click on a button that acts on a run, read from Slack's `block_actions` payload."""

    action: str
    project_id: str
    run_id: str
    trial_id: str
    user_id: str
    channel_id: str
    team_id: str = ""  # the clicking workspace (`Deps.of`): it acts on its own projects alone


def read_click(body: Mapping[str, Any]) -> Click | None:
    """The click in a `block_actions` payload, or None if it is not one of these buttons."""
    actions = body.get("actions") or [{}]
    pressed = actions[0] if isinstance(actions[0], dict) else {}
    action = ACTION_IDS.get(str(pressed.get("action_id")))
    value = parse_value(pressed.get("value"))
    user = body.get("user") or {}
    channel = body.get("channel") or {}
    channel_id = channel.get("id") or (body.get("container") or {}).get("channel_id")
    if action is None or value is None or not user.get("id") or not channel_id:
        return None
    project_id, run_id, trial_id = value
    return Click(action, project_id, run_id, trial_id, str(user["id"]), str(channel_id))


class ActionStore(Protocol):
    """The part of `bot.store.Store` actions use."""

    async def snapshot(self, project_id: str) -> Snapshot | None: ...
    async def subscriptions(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> Any: ...
    async def claim_action(
        self, wanted: ActionRecord, *, claim_s: float = 60.0, owner: str | None = None
    ) -> tuple[bool, ActionRecord]: ...
    async def drop_action(self, action_id: int) -> None: ...
    async def move_action(
        self, action_id: int, *, from_states: Any, state: str, job_id: str | None = None,
        detail: str | None = None, events: Any = (),
    ) -> bool: ...  # fmt: skip
    async def stale_actions(self, owner: str | None = None) -> list[ActionRecord]: ...
    async def followed_actions(self) -> list[ActionRecord]: ...
    async def actions_of(
        self, team: str, project_id: str, run_id: str | None = None
    ) -> list[ActionRecord]: ...
    async def stopped_from_slack(self, project_id: str, run_id: str) -> bool: ...
    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None: ...


def why_stale(click: Click, snapshot: Snapshot | None) -> str | None:
    """Why the clicked button no longer applies, or None (pure: from the latest snapshot)."""
    summary = snapshot.summary if snapshot is not None else None
    name = summary.project_name if summary is not None else None
    project = safe(project_label(click.project_id, name), LABEL_CHARS)
    if snapshot is None or summary is None:
        return f"eon-bot knows no EON Tuner run of {project} now: nothing was done."
    if click.action == "use":
        mark = snapshot.trials.get(click.trial_id)
        if mark is None or mark.status != "completed":
            trial = safe(click.trial_id)
            return f"Trial {trial} is not a completed trial of {project} now: nothing was done."
        return None
    if snapshot.run_id != click.run_id:
        if click.action == "extend" and summary.continuation_job_id == click.run_id:
            return (
                "This search was already extended: the new run has its own card. Nothing was done."
            )
        return f"This run is no longer {project}'s current run: nothing was done."
    if click.action == "stop" and (summary.finished or summary.running is not True):
        return "This run has already ended: nothing was done."
    if click.action == "extend" and summary.can_extend_search is not True:
        return "Edge Impulse no longer offers to extend this search: nothing was done."
    return None


def _when(record: ActionRecord) -> str:
    if record.created_at is None:
        return "earlier"
    stamp = int(record.created_at.timestamp())
    shown = record.created_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{shown}>"


def already(record: ActionRecord) -> str:
    """The answer to a click on an action someone already took."""
    who, when = mention(record.user_id), _when(record)
    if record.state == CLAIMED:
        return (
            f"⏳ {who} asked for this at {when}; Edge Impulse's answer is awaited. "
            "Nothing more done."
        )
    if record.state == UNKNOWN:
        return (
            f"⚠ {who} asked for this at {when}, and whether Edge Impulse did it is not known "
            "(see the run's thread). Check in Studio; nothing was done again."
        )
    return f"✅ Already done by {who} at {when}: nothing was done again."


def action_event(
    record: ActionRecord, kind: EventKind, what: str, *, run_name: str | None = None,
    project_name: str | None = None, **payload: Any,
) -> Event:  # fmt: skip
    """A message about `record` for its channel; its key is unique per (action, what).
    `run_name`: the run's one name (`core.run_name`) for its context line, as its other
    messages read; None says "run <job id>". `project_name`: the project's (`bot.service.names`)."""
    words = {
        "action": record.action,
        "user_id": record.user_id,
        "trial_id": record.trial_id or None,
        "trial_name": record.trial_name,
    }
    key = f"{record.project_id}:{record.run_id}:action:{record.id}:{what}"
    return Event(
        kind=kind,
        key=key,
        project_id=record.project_id,
        run_id=record.run_id,
        run_name=run_name,
        project_name=project_name,
        coordinator_job_id=record.run_id,
        trial_id=record.trial_id or None,
        payload={k: v for k, v in {**words, **payload}.items() if v is not None},
    )


def _refused(exc: Exception) -> bool:
    """Whether Edge Impulse (or the settings) certainly did not act."""
    if isinstance(exc, TunerUnavailable):
        return exc.status == 429
    if isinstance(exc, TunerBadResponse) and type(exc) is TunerBadResponse:
        return exc.status is not None and 400 <= exc.status < 500
    return isinstance(exc, TunerApiError | ConfigError | ValueError)


class RunActions:
    """Clicks in, Edge Impulse calls out; `run()` follows started jobs and finds lost claims."""

    def __init__(
        self, *, store: ActionStore, jobs: TunerJobs, tuner: TunerClient,
        wake_delivery: Callable[[], None], interval: float, owner: str,
        claim_s: float = CLAIM_S, database: Condition | None = None,
        call_limit_s: float = CALL_LIMIT_S,
        key_of: Callable[[str, str], SecretStr | None] | None = None,
    ) -> None:  # fmt: skip
        """`owner`: this replica's name as the fleet gives it (`bot.service.fleet.replica_id`):
        the claims it holds are alive while that replica is."""
        self._store = store
        self._owner = owner
        # The database's one condition (`bot.service.poller.database_condition`): an outage is said
        # once for the process, not at each sweep.
        self._database = database
        self._unexpected = Unexpected(log)
        self._jobs = jobs
        self._tuner = tuner
        self._wake = wake_delivery
        self._interval = interval
        self._claim_s = claim_s
        self._call_limit_s = call_limit_s
        # (workspace, project) -> the key its clicks act with (`KeyRing.key_of`); None: the
        # project's poll key
        self._key_of = key_of

    async def claim(self, click: Click) -> ActionRecord | str:
        """The click checked and recorded (a few reads and one row: it goes before the ack):
        the claimed record, for `call`; or what to tell the clicker, nothing claimed. A
        channel that does not watch the project hears only that, never who did what there; a
        project only another workspace watches is, to this one, a project nobody watches."""
        if not await self._store.subscriptions(
            click.team_id, channel_id=click.channel_id, project_id=click.project_id
        ):
            project = safe(click.project_id, 20)
            return f"This channel no longer watches project {project}: nothing was done."
        for done in await self._store.actions_of(click.team_id, click.project_id, click.run_id):
            if (done.action, done.trial_id) == (click.action, click.trial_id):
                return already(done)
        snapshot = await self._store.snapshot(click.project_id)
        stale = why_stale(click, snapshot)
        if stale is not None:
            return stale
        assert snapshot is not None  # why_stale said why otherwise
        mark = snapshot.trials.get(click.trial_id)
        wanted = ActionRecord(
            project_id=click.project_id,
            run_id=click.run_id,
            action=click.action,
            target=click.trial_id
            if click.action == "use"
            else run_job_id(snapshot.coordinator_job_id, snapshot.tuner_job_id) or click.run_id,
            channel_id=click.channel_id,
            user_id=click.user_id,
            trial_id=click.trial_id,
            trial_name=mark.figures.name if mark is not None and mark.figures else None,
            team_id=click.team_id,
        )
        first, record = await self._store.claim_action(
            wanted, claim_s=self._claim_s, owner=self._owner
        )
        return record if first else already(record)

    async def call(self, record: ActionRecord) -> str | None:
        """Edge Impulse asked to do what `record` claimed, and what it did stored with its
        thread line: what to tell the clicker, or None when the thread tells it all."""
        assert record.id is not None
        try:
            async with asyncio.timeout(self._call_limit_s):
                job = await self._jobs.act(
                    as_action(record.action), record.project_id, record.target,
                    key=self._key(record),
                )  # fmt: skip
        except Exception as exc:
            if _refused(exc):
                await self._store.drop_action(record.id)
                said = exc.detail if isinstance(exc, TunerApiError) else str(exc)
                busy = isinstance(exc, TunerUnavailable)  # a 429: it passes by itself
                again = " Edge Impulse is busy: try again in a minute." if busy else ""
                return f"⚠ Nothing was done: {one_line(said, 400)}{again}"
            reason = (
                exc.reason
                if isinstance(exc, TunerUnavailable)
                else f"no answer within {self._call_limit_s:g} s"
                if isinstance(exc, TimeoutError)
                else type(exc).__name__
            )
            log.warning(
                "%s of project %s: outcome unknown (%s)", record.action, record.project_id, reason
            )
            event = await self._event(record, EventKind.ACTION_TAKEN, "unknown", outcome="unknown",
                                 detail="Edge Impulse gave no clear answer")  # fmt: skip
            await self._store.move_action(
                record.id, from_states=[CLAIMED], state=UNKNOWN, detail=reason, events=[event]
            )
            self._wake()
            return "⚠ Edge Impulse gave no clear answer; the run's thread says what is known."
        job_id = job or record.target
        event = await self._event(record, EventKind.ACTION_TAKEN, "taken", job_id=job_id)
        await self._store.move_action(
            record.id, from_states=[CLAIMED, UNKNOWN], state=STARTED if job else DONE,
            job_id=job_id, events=[event],
        )  # fmt: skip
        self._wake()
        return None

    def _key(self, record: ActionRecord) -> SecretStr | None:
        """The key the clicking workspace acts and follows its job with (None: the poll's)."""
        return self._key_of(record.team_id, record.project_id) if self._key_of else None

    async def _event(
        self, record: ActionRecord, kind: EventKind, what: str, **payload: Any
    ) -> Event:
        """`action_event` named as the run's other messages are: by the project's run, or by
        the run's last summary once another run followed it (an extended search)."""
        snapshot = await self._store.snapshot(record.project_id)
        summary = snapshot.summary if snapshot is not None else None
        project = summary.project_name if summary is not None else None
        if summary is None or summary.run_id != record.run_id:
            found = await self._store.run_summary(record.project_id, record.run_id)
            summary = found[0] if found is not None else None
        name = summary.display_name if summary is not None else None
        project = project or (summary.project_name if summary is not None else None)
        return action_event(record, kind, what, run_name=name, project_name=project, **payload)

    async def _job_run(self, record: ActionRecord) -> tuple[str | None, bool]:
        """The name of the run an extend action started (None: not known), and whether it
        was stopped from Slack since (its end is then a stop, not a failure)."""
        assert record.job_id is not None
        found = await self._store.run_summary(record.project_id, record.job_id)
        name = found[0].display_name if found is not None else None
        return name, await self._store.stopped_from_slack(record.project_id, record.job_id)

    async def sweep(self) -> None:
        """Tell claims a dead process left as unknown; reply the outcome of each job that ended."""
        moved = False
        for record in await self._store.stale_actions(self._owner):
            assert record.id is not None
            event = await self._event(record, EventKind.ACTION_TAKEN, "unknown", outcome="unknown",
                                 detail=INTERRUPTED)  # fmt: skip
            moved |= await self._store.move_action(
                record.id, from_states=[CLAIMED], state=UNKNOWN, detail=INTERRUPTED, events=[event]
            )
        for record in await self._store.followed_actions():
            moved |= await self._follow(record)
        if moved:
            self._wake()

    async def _follow(self, record: ActionRecord) -> bool:
        assert record.id is not None and record.job_id is not None
        try:
            status = await self._jobs.status(
                record.project_id, record.job_id, key=self._key(record)
            )
        except (TunerApiError, ConfigError, ValueError) as exc:
            log.info(
                "job %s of project %s: status not read (%s)", record.job_id, record.project_id, exc
            )
            return False
        if not status.finished:
            return False
        outcome = "completed" if status.ok is not False else "failed"
        link = await self._impulse_link(record) if record.action == "use" and status.ok else None
        extension: str | None = None
        if record.action == "extend":
            extension, stopped = await self._job_run(record)
            outcome = "stopped" if stopped else outcome
        event = await self._event(record, EventKind.ACTION_OUTCOME, "outcome", job_id=record.job_id,
                             outcome=outcome, link=link, extension=extension)  # fmt: skip
        return await self._store.move_action(
            record.id, from_states=[STARTED], state=DONE, detail=outcome, events=[event]
        )

    async def _impulse_link(self, record: ActionRecord) -> str | None:
        """The Studio link Edge Impulse gives the trial once it is the impulse, if it shows."""
        try:
            state = await self._tuner.get_state(record.project_id)
        except (TunerApiError, ConfigError) as exc:
            log.info("project %s: no impulse link (%s)", record.project_id, exc)
            return None
        trial = next((t for t in state.trials if t.id == record.trial_id), None)
        added = trial.impulse_added_to_project if trial is not None else None
        return added.link if added is not None else None

    async def run(self) -> None:
        """`sweep` every `interval` seconds until cancelled; a failed sweep is logged."""
        while True:
            try:
                await self.sweep()
            except Exception as error:
                blame("following the actions taken from Slack", error,
                      database=self._database, unexpected=self._unexpected)  # fmt: skip
            await asyncio.sleep(self._interval)


__all__ = ["Click", "JobStatus", "RunActions", "read_click", "why_stale"]
