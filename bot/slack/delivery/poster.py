"""Posts one outbox row to Slack, exactly once, also across crashes.

A row is marked `attempting` (committed) before its `chat.postMessage`, and `sent` with the
message's ts after. A row still `attempting` when it is picked up again (a crash, or an unclear
answer: a dropped connection, a 5xx) is first looked for in the channel by the `event_key` in
its message metadata, and posted only if absent. Only Slack's own "not done" answers (429, an
`ok: false` error below HTTP 500) are retried blindly. A message Slack refuses as rendered
(`SlackUnrenderable`) is posted again as text only. Any other failure is raised as `Failed`,
with the row's attempts so far, for the channel's verdict (`verdicts.judge`).

Replicas (`bot.service.fleet`): each row is claimed by its replica (`owner`, for `claim_s`
seconds) in `mark_attempting`; a dead replica's claim lapses and its row goes through the look-up
above.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.clock import utcnow
from bot.core.events import Event, EventKind
from bot.core.summary import RunSummary
from bot.errors import SlackOutcomeUnknown, SlackUnrenderable
from bot.metrics import Metrics
from bot.slack.charts import ChartStore, ChartUploads, is_message_of
from bot.slack.delivery.cards import CardEditor
from bot.slack.delivery.stops import StopStore, extended, stop_of
from bot.slack.delivery.verdicts import Failed, Pause, judge
from bot.slack.failures import TRANSPORT_ERRORS, slack_failure
from bot.slack.render import (
    LIMITS,
    Message,
    render_event,
    render_retried_failure,
    render_run_started_card,
)
from bot.slack.render.bell import render_bell_end
from bot.store import Card, OutboxRow, TeamChannel, person_of

log = logging.getLogger(__name__)

BROADCAST_KINDS = frozenset(
    {
        EventKind.TIME_LIMIT_EXCEEDED,
        EventKind.JOB_FINISHED,
        EventKind.RUN_STALLED,
        EventKind.THRESHOLD_MET,  # what the channel asked to hear of, seen outside the thread
    }
)
_COMPOSED = frozenset(
    {EventKind.RUN_STARTED, EventKind.JOB_FINISHED, EventKind.TIME_LIMIT_EXCEEDED}
)  # what `Poster._compose` reads the store for
LOOKUP_WINDOW_S = 600.0  # how far before a row's creation its message is looked for


class PosterStore(ChartStore, StopStore, Protocol):
    """The part of `bot.store.Store` the poster uses."""

    async def card(
        self, team: str, channel_id: str, project_id: str, run_id: str
    ) -> Card | None: ...
    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None: ...
    async def sent_failures(
        self, team: str, channel_id: str, project_id: str, trial_id: str
    ) -> list[tuple[str, Event]]: ...
    async def sent_of_run(
        self,
        team: str,
        channel_id: str,
        project_id: str,
        run_id: str,
        kinds: Collection[EventKind],
    ) -> list[tuple[str, Event]]: ...
    async def mark_attempting(
        self, row_id: int, *, owner: str | None = None, claim_s: float = 60.0
    ) -> bool: ...
    async def count_failure(self, row_id: int, error: str) -> int: ...
    async def mark_given_up(self, row_id: int, error: str) -> None: ...
    async def bell_channel(
        self, team: str, user_id: str, project_id: str, run_id: str
    ) -> str | None: ...
    async def bells_of(self, team: str, project_id: str, run_id: str) -> list[str]: ...


class Poster:
    def __init__(
        self,
        *,
        store: PosterStore,
        cards: CardEditor,
        owner: str | None,
        claim_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._cards = cards
        self._owner = owner
        self._claim_s = claim_s
        self.charts = ChartUploads(store=store, find_posted=self._find_posted)
        # (workspace, user id) -> their DM's channel id (conversations.open)
        self._dms: dict[tuple[str, str], str] = {}

    async def deliver(self, row: OutboxRow, slack: AsyncWebClient) -> None:
        """Post the row once (or find it posted) with its workspace's client; raises `Failed`,
        or a `SlackError` that stops the channel, when Slack did not take it."""
        event = row.event
        user = person_of(row.channel_id)
        if user is not None:
            await self._deliver_dm(row, user, slack)
            return
        card = await self._card(row)
        if event.kind is EventKind.RUN_CHART:
            await self.charts.deliver(row, card, slack)  # raises only what stops the channel
            return
        if row.state == "attempting" and await self._found(row, card, slack):
            return
        if event.kind is EventKind.RUN_STARTED and card is not None:
            # The run already has its card here (a channel that watched it before).
            await self._store.mark_sent(row.id, ts=card.ts)
            return
        if event.kind is EventKind.ACTION_TAKEN:
            await self._mark_extended(row, slack)  # before the audit line, as failures below
        if event.kind is EventKind.TRIAL_COMPLETED:
            # Before the completion is posted, so a crash in between cannot lose the edit.
            await self._mark_failures_retried(row, slack)
            if event.quiet:  # a channel not told completions: the edit is all it gets
                if await self._store.mark_attempting(row.id, owner=self._owner, claim_s=1.0):
                    await self._store.mark_sent(row.id, ts="")
                return
        message, card_version = await self._compose(row, slack)
        if not await self._store.mark_attempting(row.id, owner=self._owner, claim_s=self._claim_s):
            return  # unsubscribed since the row was read: not to be posted
        ts = await self._post(
            row,
            message,
            slack,
            thread_ts=card.ts if card is not None else None,
            broadcast=card is not None and event.kind in BROADCAST_KINDS,
        )
        await self._store.mark_sent(row.id, ts=ts, card_version=card_version)
        log.info("posted %s of project %s to %s", event.kind.value, row.project_id, row.channel_id)
        if self._metrics is not None:  # from the poll that stored it to its post
            delay = utcnow().timestamp() - row.created_at.timestamp()
            self._metrics.delivery_delay.observe(max(0.0, delay))
        if card_version is not None:
            self._cards.shown(row.channel_id, ts)

    async def _deliver_dm(self, row: OutboxRow, user: str, slack: AsyncWebClient) -> None:
        """A run's end to the person who asked ("🔔 Tell me when it ends"), in their DM, once:
        looked up there first when an attempt's outcome is unknown. A DM Slack will not open
        or take (the person left, the app may not write to them) is given up, never pausing
        anything else."""
        try:
            dm = await self._open_dm(row, user, slack)
            if row.state == "attempting":
                ts = await self._find_posted(row, None, slack, channel=dm)
                if ts is not None:
                    await self._store.mark_sent(row.id, ts=ts)
                    return
            link = await self._thread_link(row, user, slack)
            message = render_bell_end(await self._told(row), link)
            if not await self._store.mark_attempting(
                row.id, owner=self._owner, claim_s=self._claim_s
            ):
                return
            ts = await self._post(row, message, slack, thread_ts=None, broadcast=False, channel=dm)
        except Failed as failed:
            verdict = judge(failed.error, failed.attempts or 1, max_wait_s=1.0)
            if not isinstance(verdict, Pause):  # what a channel would be paused for
                raise
            log.warning("giving up the DM to %s: Slack says %s", user, failed.error.code)
            await self._store.mark_given_up(row.id, failed.error.code)
            return
        await self._store.mark_sent(row.id, ts=ts)
        log.info("posted the end of a run of project %s to a DM", row.project_id)

    async def _open_dm(self, row: OutboxRow, user: str, slack: AsyncWebClient) -> str:
        """The person's DM channel (`conversations.open`, asked once per process)."""
        if (row.team_id, user) not in self._dms:
            try:
                response = await slack.conversations_open(users=user)
            except (SlackApiError, *TRANSPORT_ERRORS) as error:
                failure = slack_failure(error)
                if isinstance(failure, SlackOutcomeUnknown):
                    raise Failed(failure, None) from None
                raise Failed(
                    failure, await self._store.count_failure(row.id, failure.code)
                ) from None
            self._dms[(row.team_id, user)] = str((response.get("channel") or {}).get("id") or "")
        return self._dms[(row.team_id, user)]

    async def _told(self, row: OutboxRow) -> Event:
        """The end as the channel tells it (who stopped the run, when it was from Slack)."""
        if row.run_id is None:
            return row.event
        stop = await stop_of(self._store, row.team_id, row.project_id, row.run_id)
        return stop.told(row.event) if stop else row.event

    async def _thread_link(self, row: OutboxRow, user: str, slack: AsyncWebClient) -> str | None:
        """The permalink of the run's card where the person clicked the bell, if Slack has it."""
        if row.run_id is None:
            return None
        team = row.team_id
        channel = await self._store.bell_channel(team, user, row.project_id, row.run_id)
        card = (
            await self._store.card(team, channel, row.project_id, row.run_id) if channel else None
        )
        return await self._cards.permalink(slack, card.channel_id, card.ts) if card else None

    async def _found(self, row: OutboxRow, card: Card | None, slack: AsyncWebClient) -> bool:
        """Whether the row, left `attempting`, is already in Slack (then marked sent)."""
        ts = await self._find_posted(row, card, slack)
        if ts is None:
            return False
        log.info("found %s already in %s; not posting it again", row.event.key, row.channel_id)
        # What a found card shows is unknown (its run may have moved on since it was posted):
        # it is recorded as never rendered, so it is edited to the latest.
        is_card = row.event.kind is EventKind.RUN_STARTED and row.run_id is not None
        await self._store.mark_sent(row.id, ts=ts, card_version=0 if is_card else None)
        return True

    async def _mark_failures_retried(self, row: OutboxRow, slack: AsyncWebClient) -> None:
        """Edit the trial's earlier "❌ failed" messages to "failed → retried → ✅ completed",
        so the channel never keeps a failure the run later contradicted (idempotent). Not
        looked for when the poll knew of no failure reported (most completions)."""
        if row.event.after_failure is False or row.event.trial_id is None:
            return
        channel, project_id, trial_id = row.channel_id, row.project_id, row.event.trial_id
        failures = await self._store.sent_failures(row.team_id, channel, project_id, trial_id)
        for ts, failure in failures:
            message = render_retried_failure(failure)
            await self._cards.edit(slack, channel, ts, message, what="failure message")

    async def _mark_extended(self, row: OutboxRow, slack: AsyncWebClient) -> None:
        """Once the search is extended, its time-limit notice and end here lose their
        "Extend" button (it would only answer "already done") and say it was extended."""
        p = row.event.payload
        if p.get("action") != "extend" or p.get("outcome") == "unknown" or row.run_id is None:
            return
        kinds = (EventKind.TIME_LIMIT_EXCEEDED, EventKind.JOB_FINISHED)
        found = await self._store.sent_of_run(
            row.team_id, row.channel_id, row.project_id, row.run_id, kinds
        )
        for ts, event in found:
            if event.payload.get("can_extend_search") is True:
                extended = event.model_copy(update={"payload": {**event.payload, "extended": True}})
                message = render_event(extended)
                await self._cards.edit(slack, row.channel_id, ts, message, what="notice")

    async def _card(self, row: OutboxRow) -> Card | None:
        if row.run_id is None:
            return None
        return await self._store.card(row.team_id, row.channel_id, row.project_id, row.run_id)

    async def _compose(self, row: OutboxRow, slack: AsyncWebClient) -> tuple[Message, int | None]:
        """The row's message; a run's end (and a card posted after it) says who stopped it."""
        event = row.event
        if row.run_id is None or event.kind not in _COMPOSED:
            return render_event(event), None
        if event.payload.get("can_extend_search") is True and await extended(
            self._store, row.team_id, row.project_id, row.run_id
        ):  # extended already: its "Extend" no longer applies (`_mark_extended`)
            event = event.model_copy(update={"payload": {**event.payload, "extended": True}})
        if event.kind is EventKind.TIME_LIMIT_EXCEEDED:
            return render_event(event), None
        stop = await stop_of(self._store, row.team_id, row.project_id, row.run_id)
        if event.kind is EventKind.JOB_FINISHED:
            return render_event(stop.told(event) if stop else event), None
        found = await self._store.run_summary(row.project_id, row.run_id)
        summary, version = found if found else (None, 0)
        where = TeamChannel(row.team_id, row.channel_id)
        earlier = await self._cards.earlier(slack, where, summary) if summary else None
        bells = await self._store.bells_of(row.team_id, row.project_id, row.run_id)
        return render_run_started_card(event, summary, earlier, stop, bells), version

    async def _post(
        self,
        row: OutboxRow,
        message: Message,
        slack: AsyncWebClient,
        *,
        thread_ts: str | None,
        broadcast: bool,
        channel: str | None = None,
    ) -> str:
        """`channel`: where to post, when not the row's own (a person's DM)."""
        args: dict[str, Any] = {
            "channel": channel or row.channel_id,
            "text": message.text,
            "blocks": message.blocks,
            "metadata": message.metadata,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
            args["reply_broadcast"] = broadcast
        try:
            response = await self._post_or_text_only(row, args, slack)
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
        else:
            return str(response["ts"])
        if isinstance(failure, SlackOutcomeUnknown):
            # Slack may have posted it: it stays `attempting` and is looked up next time.
            # DEBUG: said once while Slack fails, by the drain (`bot.conditions`)
            log.debug("posting to %s: outcome unknown (%s)", row.channel_id, failure.code)
            raise Failed(failure, None) from None
        raise Failed(failure, await self._store.mark_retry(row.id, failure.code)) from None

    async def _post_or_text_only(
        self, row: OutboxRow, args: dict[str, Any], slack: AsyncWebClient
    ) -> AsyncSlackResponse:
        try:
            return await slack.chat_postMessage(**args)
        except SlackApiError as error:
            failure = slack_failure(error)
            if not isinstance(failure, SlackUnrenderable):
                raise
            log.error(
                "Slack refused %s as rendered (%s); posting text only", row.event.key, failure.code
            )
        text_only = args | {"blocks": None, "text": args["text"][: LIMITS.fallback_text]}
        return await slack.chat_postMessage(**text_only)

    async def _find_posted(
        self,
        row: OutboxRow,
        card: Card | None,
        slack: AsyncWebClient,
        *,
        channel: str | None = None,
    ) -> str | None:
        """The ts of the row's message if Slack has it (matched by the metadata's event key);
        `channel`: where to look, when not the row's own (a person's DM)."""
        try:
            return await self._look_up(row, card, slack, channel or row.channel_id)
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
            if isinstance(failure, SlackOutcomeUnknown):  # an outage, not a refusal
                raise Failed(failure, None) from None
            raise Failed(failure, await self._store.count_failure(row.id, failure.code)) from None

    async def _look_up(
        self, row: OutboxRow, card: Card | None, slack: AsyncWebClient, channel: str
    ) -> str | None:
        """In the card's thread (a reply), else in the channel since before the row was made."""
        oldest = row.created_at.timestamp() - LOOKUP_WINDOW_S
        in_thread = card is not None and row.event.kind is not EventKind.RUN_STARTED
        cursor: str | None = None
        while True:
            if in_thread and card is not None:
                page = await slack.conversations_replies(
                    channel=channel,
                    ts=card.ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                page = await slack.conversations_history(
                    channel=channel,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in page.get("messages") or []:
                if is_message_of(message, row.event):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return None
