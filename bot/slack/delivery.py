"""Outbox to Slack: in order per channel, each notification once, the run card kept current.

Exactly once, also across crashes: a row is marked `attempting` (committed) before its
`chat.postMessage`, and `sent` with the message's ts after. A row still `attempting` when it
is picked up again (a crash, or `SlackOutcomeUnknown`: a dropped connection, a 5xx) is first
looked for in the channel by the `event_key` in its message metadata, and posted only if
absent. Only Slack's own "not done" answers (429, an `ok: false` error below HTTP 500) are
retried blindly.

What each Slack failure leads to is decided by its place in the error tree (`bot.errors`, via
`failures.slack_failure`): `SlackChannelUnusable` pauses that channel, its rows kept;
`SlackAuthError` stops all delivery, keeping the outbox; `SlackUnrenderable` is posted again as
text only; the rest wait (Slack's `Retry-After`, else the shared backoff of `bot.retry`) and
try again; an error with no rule of its own (`restricted_action`, `missing_scope` on the
look-up, …) at most `MAX_ATTEMPTS` times, counted in the row's `attempts` (the look-ups'
included; for a card edit, in consecutive failed drains), then the channel pauses with that
error as its reason, shown by `/eon list` and resumed like any pause. Each channel drains in
its own task, so one slow or broken channel never delays the others.

Replicas (`bot.fleet`): a channel is drained only by the replica holding its delivery lease,
and each row it posts is claimed by that replica (owner and expiry) in `mark_attempting`.
A dead replica's claims lapse; its rows, still `attempting`, go through the look-up above.
On SQLite the process is the only one (`bot.fleet.SqliteLock`): no lease, no claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Iterable
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.events import Event, EventKind
from bot.core.summary import RunSummary
from bot.errors import (
    SlackAuthError,
    SlackChannelUnusable,
    SlackError,
    SlackOutcomeUnknown,
    SlackRetryLater,
    SlackUnrenderable,
)
from bot.fmt import one_line
from bot.retry import Backoff
from bot.slack.charts import ChartStore, ChartUploads, is_message_of
from bot.slack.failures import TRANSPORT_ERRORS, slack_failure
from bot.slack.render import (
    LIMITS,
    Message,
    render_card,
    render_event,
    render_retried_failure,
    render_run_started_card,
)
from bot.store import Card, OutboxRow
from bot.store.leases import LeaseLost
from bot.store.schema import DELIVER

log = logging.getLogger(__name__)

BROADCAST_KINDS = frozenset(
    {EventKind.TIME_LIMIT_EXCEEDED, EventKind.JOB_FINISHED, EventKind.RUN_STALLED}
)
CARD_GONE = frozenset({"message_not_found", "cant_update_message"})
LOOKUP_WINDOW_S = 600.0  # how far before a row's creation its message is looked for
UNKNOWN_OUTCOME_WAIT_S = 5.0  # before looking up a post whose answer was lost
MAX_ATTEMPTS = 5  # of one row failing with an error delivery has no rule for
OUTBOX_BATCH = 100  # rows a drain reads at once
CARD_EDIT_GAP_MAX_S = 60.0
CARD_EDITS_PER_MINUTE = 40  # all running runs' cards together; Slack's Tier 3 allows ~50
# A card not edited for this long counts no more (its run went quiet, or moved elsewhere) and
# is forgotten, so its next edit is made at once. Longer than any gap up to 2,400 cards, so a
# card still waiting for its turn is never forgotten into an early edit.
CARD_SHOWN_FOR_S = 3600.0


def card_edit_gap(interval: float, *, cards: int = 1) -> float:
    """The least time between two edits of a running run's card, when the process keeps
    `cards` of them current. Slack allows `chat.update` about 50 times a minute per workspace
    (Tier 3); a card edited at every poll would ask, for 100 running runs polled every 10 s,
    600 times. So a card shows three polls' news in one edit, at most a minute apart, and
    further apart when many runs go at once; the run's end is shown at once."""
    return max(min(CARD_EDIT_GAP_MAX_S, 3 * interval), 60.0 * cards / CARD_EDITS_PER_MINUTE)


class DeliveryStore(ChartStore, Protocol):
    """The part of `bot.store.Store` delivery uses (tests may pass a store that races)."""

    async def work(
        self, *, projects: Collection[str] | None = None, channels: Collection[str] | None = None
    ) -> dict[str, bool]: ...
    async def outbox(self, channel_id: str, *, limit: int = 100) -> list[OutboxRow]: ...
    async def card(self, channel_id: str, project_id: str, run_id: str) -> Card | None: ...
    async def earlier_card(
        self, channel_id: str, project_id: str, run_id: str | None, job_id: str
    ) -> Card | None: ...
    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None: ...
    async def sent_failures(
        self, channel_id: str, project_id: str, trial_id: str
    ) -> list[tuple[str, Event]]: ...
    async def dirty_cards(self, channel_id: str) -> list[tuple[Card, RunSummary, int]]: ...
    async def mark_card_rendered(self, card: Card, version: int) -> None: ...
    async def pause_channel(self, channel_id: str, reason: str) -> None: ...
    async def mark_attempting(
        self, row_id: int, *, owner: str | None = None, claim_s: float = 60.0
    ) -> bool: ...
    async def count_failure(self, row_id: int, error: str) -> int: ...
    async def take(
        self, kind: str, names: Iterable[str], owner: str, ttl_s: float
    ) -> list[str]: ...
    async def release(self, owner: str, kind: str, names: Iterable[str] | None = None) -> None: ...


class Delivery:
    def __init__(
        self,
        *,
        store: DeliveryStore,
        slack: AsyncWebClient,
        idle_s: float = 2.0,
        max_backoff_s: float = 300.0,
        owner: str | None = None,
        claim_s: float = 60.0,
        poll_interval: float | None = None,
    ) -> None:
        self._store = store
        # Replicas (`bot.fleet`): a channel is drained only under its delivery lease, and each
        # row is claimed by `owner` for `claim_s` seconds (renewed while it lives).
        self._owner = owner
        self._claim_s = claim_s
        self._attempts: dict[str, int] = {}  # channel -> its failing row's attempts so far
        self._slack = slack
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._backoff = Backoff(initial=2.0, cap=max_backoff_s)
        self._wake = asyncio.Event()
        self._look_everywhere = False
        self._news: set[str] = set()  # projects whose polls wrote news since the last look
        self._drained: set[str] = set()  # channels to look at again, their drain over
        self._look_after: set[str] = set()  # channels with news found while they drained
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._permalinks: dict[tuple[str, str], str | None] = {}  # (channel, ts) -> link
        # A running run's card is edited at most every `card_edit_gap` (None: at every change).
        self._poll_interval = poll_interval
        self._card_shown: dict[tuple[str, str], float] = {}  # (channel, ts) -> loop time
        self._cards_due: dict[str, float] = {}  # channel -> when its next held edit is due
        self._stopping = False
        self.auth_error: str | None = None
        self._charts = ChartUploads(
            store=store,
            slack=slack,
            find_posted=self._find_posted,
        )

    def wake(self, project_id: str | None = None) -> None:
        """Look for work now: the subscriptions to `project_id` (its poll wrote news), or
        every subscription (None)."""
        if project_id is None:
            self._look_everywhere = True
        else:
            self._news.add(project_id)
        self._wake.set()

    async def run(self) -> None:
        """Until `stop()`: start a drain task for each channel with work.

        Every `idle_s` it looks at every subscription (the rows another replica wrote, a
        channel out of its backoff, a held card edit fallen due); in between, a wake with a
        project looks only at that project's subscriptions, and a drain that ends at its
        channel's (rows written while it finished). At a thousand subscriptions and ten polls
        with news a second, that is a few rows read per wake instead of all of them."""
        loop = asyncio.get_running_loop()
        looked_everywhere = loop.time()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                due = looked_everywhere + self._idle_s - loop.time()
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, due))
            self._wake.clear()
            if self._stopping or self.auth_error is not None:
                continue
            everywhere = self._look_everywhere or loop.time() - looked_everywhere >= self._idle_s
            projects, channels = self._news, self._drained
            self._news, self._drained, self._look_everywhere = set(), set(), False
            try:
                if everywhere:
                    looked_everywhere = loop.time()
                    work = await self._store.work()
                else:
                    work = await self._store.work(projects=projects, channels=channels)
            except Exception:
                log.exception("delivery could not read the outbox")
                self._look_everywhere = True  # what the wake was for is still to be found
                continue
            now = loop.time()
            busy = {channel for channel in work if self._draining(channel)}
            self._look_after |= busy  # its drain may have read its outbox before the news
            ready = [
                channel
                for channel, rows_owed in sorted(work.items())
                if channel not in busy
                and self._not_before.get(channel, 0.0) <= now
                and (rows_owed or self._cards_due.get(channel, 0.0) <= now)
            ]
            for channel in await self._take(ready):
                self._workers[channel] = asyncio.create_task(self._drain(channel))

    def _draining(self, channel: str) -> bool:
        worker = self._workers.get(channel)
        return worker is not None and not worker.done()

    async def _take(self, channels: list[str]) -> list[str]:
        """The channels this replica may drain now: those whose delivery lease it holds."""
        if self._owner is None or not channels:
            return channels
        try:
            return await self._store.take(DELIVER, channels, self._owner, self._claim_s)
        except Exception as error:  # the database is away or busy: the next round tries again
            log.warning("delivery could not take its channels: %s", one_line(str(error), 200))
            return []

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let in-flight deliveries finish (bounded); an interrupted one is looked up at restart."""
        self._stopping = True
        self._wake.set()
        pending = [task for task in self._workers.values() if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def idle(self) -> bool:
        """True when nothing is left to deliver (for the demo and tests)."""
        return not await self._store.work() and all(task.done() for task in self._workers.values())

    async def _drain(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                found = await self._store.outbox(channel, limit=OUTBOX_BATCH)
                # a failed chart never holds others
                rows = [row for row in found if not self._charts.deferred(row.id)]
                for row in rows:
                    if self._stopping:
                        return
                    await self._deliver(row)
                await self._update_cards(channel)
                if not rows or len(found) < OUTBOX_BATCH:
                    # All it owed when it looked: what a poll writes since wakes delivery,
                    # which looks here again once this drain is over (`_look_after`).
                    break
            self._failures.pop(channel, None)
            if self._owner is not None and not self._stopping:
                await self._store.release(self._owner, DELIVER, [channel])
            if channel in self._look_after:  # news came while it drained: look again
                self._look_after.discard(channel)
                self._drained.add(channel)
                self._wake.set()
        except LeaseLost as lost:  # another replica drains the channel now
            log.info("not delivering to %s: %s", channel, lost)
        except SlackError as failure:
            failures = self._failures.get(channel, 0) + 1
            self._failures[channel] = failures
            asked = await self._react(channel, failure)
            wait = min(self._max_backoff_s, max(asked, self._backoff.delay(failures)))
            self._not_before[channel] = loop.time() + wait
        except Exception:
            log.exception("delivery to channel %s failed", channel)
            self._not_before[channel] = loop.time() + 30.0

    async def _deliver(self, row: OutboxRow) -> None:
        event = row.event
        card = await self._card(row)
        if event.kind is EventKind.RUN_CHART:
            await self._charts.deliver(row, card)  # raises only what stops the channel
            return
        if row.state == "attempting":
            ts = await self._find_posted(row, card)
            if ts is not None:
                log.info("found %s already in %s; not posting it again", event.key, row.channel_id)
                # What a found card shows is unknown (its run may have moved on since it was
                # posted): it is recorded as never rendered, so it is edited to the latest.
                is_card = event.kind is EventKind.RUN_STARTED and row.run_id is not None
                await self._store.mark_sent(row.id, ts=ts, card_version=0 if is_card else None)
                return
        if event.kind is EventKind.RUN_STARTED and card is not None:
            # The run already has its card here (a channel that watched it before).
            await self._store.mark_sent(row.id, ts=card.ts)
            return
        if event.kind is EventKind.TRIAL_COMPLETED:
            # Before the completion is posted, so a crash in between cannot lose the edit.
            await self._mark_failures_retried(row)
        message, card_version = await self._compose(row)
        if not await self._store.mark_attempting(row.id, owner=self._owner, claim_s=self._claim_s):
            return  # unsubscribed since the row was read: not to be posted
        response = await self._post(
            row,
            message,
            thread_ts=card.ts if card is not None else None,
            broadcast=card is not None and event.kind in BROADCAST_KINDS,
        )
        await self._store.mark_sent(row.id, ts=response, card_version=card_version)
        if card_version is not None:
            self._card_shown[(row.channel_id, response)] = asyncio.get_running_loop().time()

    async def _mark_failures_retried(self, row: OutboxRow) -> None:
        """Edit the trial's earlier "❌ failed" messages to "failed → retried → ✅ completed",
        so the channel never keeps a failure the run later contradicted (idempotent). Not
        looked for when the poll knew of no failure reported (most completions)."""
        if row.event.after_failure is False or row.event.trial_id is None:
            return
        channel, project_id, trial_id = row.channel_id, row.project_id, row.event.trial_id
        for ts, failure in await self._store.sent_failures(channel, project_id, trial_id):
            await self._edit(channel, ts, render_retried_failure(failure), what="failure message")

    async def _card(self, row: OutboxRow) -> Card | None:
        if row.run_id is None:
            return None
        return await self._store.card(row.channel_id, row.project_id, row.run_id)

    async def _compose(self, row: OutboxRow) -> tuple[Message, int | None]:
        if row.event.kind is not EventKind.RUN_STARTED or row.run_id is None:
            return render_event(row.event), None
        found = await self._store.run_summary(row.project_id, row.run_id)
        summary, version = found if found else (None, 0)
        earlier = await self._earlier_card(row.channel_id, summary) if summary else None
        return render_run_started_card(row.event, summary, earlier), version

    async def _post(
        self, row: OutboxRow, message: Message, *, thread_ts: str | None, broadcast: bool
    ) -> str:
        args: dict[str, Any] = {
            "channel": row.channel_id,
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
            response = await self._post_or_text_only(row, args)
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
        else:
            return str(response["ts"])
        if isinstance(failure, SlackOutcomeUnknown):
            # Slack may have posted it: it stays `attempting` and is looked up next time.
            log.warning("posting to %s: outcome unknown (%s)", row.channel_id, failure.code)
        else:
            self._attempts[row.channel_id] = await self._store.mark_retry(row.id, failure.code)
        raise failure from None

    async def _post_or_text_only(self, row: OutboxRow, args: dict[str, Any]) -> AsyncSlackResponse:
        try:
            return await self._slack.chat_postMessage(**args)
        except SlackApiError as error:
            failure = slack_failure(error)
            if not isinstance(failure, SlackUnrenderable):
                raise
            log.error(
                "Slack refused %s as rendered (%s); posting text only", row.event.key, failure.code
            )
        text_only = args | {"blocks": None, "text": args["text"][: LIMITS.fallback_text]}
        return await self._slack.chat_postMessage(**text_only)

    async def _react(self, channel: str, failure: SlackError) -> float:
        """Act on a failure that stopped the channel's drain; seconds to wait at least."""
        if isinstance(failure, SlackChannelUnusable):
            log.warning("pausing channel %s: Slack says %s", channel, failure.code)
            await self._store.pause_channel(channel, failure.code)
            return 0.0
        if isinstance(failure, SlackAuthError):
            self.auth_error = failure.code
            log.error("%s", failure)
            return self._max_backoff_s
        if isinstance(failure, SlackOutcomeUnknown):
            return UNKNOWN_OUTCOME_WAIT_S
        attempts = max(self._attempts.pop(channel, 0), self._failures.get(channel, 0))
        if failure.code != "ratelimited" and attempts >= MAX_ATTEMPTS:
            log.warning(
                "pausing channel %s: Slack says %s, %d times", channel, failure.code, attempts
            )
            await self._store.pause_channel(channel, failure.code)
            return 0.0
        log.warning("Slack answered %s for channel %s; will retry", failure.code, channel)
        if isinstance(failure, SlackRetryLater) and failure.retry_after is not None:
            return failure.retry_after
        return UNKNOWN_OUTCOME_WAIT_S

    async def _find_posted(self, row: OutboxRow, card: Card | None) -> str | None:
        """The ts of the row's message if Slack has it (matched by the metadata's event key)."""
        oldest = row.created_at.timestamp() - LOOKUP_WINDOW_S
        cursor: str | None = None
        try:
            while True:
                if card is not None and row.event.kind is not EventKind.RUN_STARTED:
                    page = await self._slack.conversations_replies(
                        channel=row.channel_id,
                        ts=card.ts,
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
                else:
                    page = await self._slack.conversations_history(
                        channel=row.channel_id,
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
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
            if not isinstance(failure, SlackOutcomeUnknown):  # a refusal, not an outage
                self._attempts[row.channel_id] = await self._store.count_failure(
                    row.id, failure.code
                )
            raise failure from None

    async def _update_cards(self, channel: str) -> None:
        """Edit each card whose run moved on, once, with its latest summary (coalesced); a
        running run's card not within `card_edit_gap` of its last showing. A held edit is made
        at the first look at its channel after it falls due (`_cards_due`; the look at every
        channel, each `idle_s`, at the latest): no wake of its own."""
        loop = asyncio.get_running_loop()
        gap = self._card_gap(loop.time())
        held: list[float] = []
        for card, summary, version in await self._store.dirty_cards(channel):
            shown = self._card_shown.get((channel, card.ts))
            if shown is not None and not summary.finished:
                due = shown + gap
                if due > loop.time():
                    held.append(due)
                    continue
            earlier = await self._earlier_card(channel, summary)
            await self._edit(channel, card.ts, render_card(summary, earlier), what="card")
            if summary.finished:
                self._card_shown.pop((channel, card.ts), None)
            else:
                self._card_shown[(channel, card.ts)] = loop.time()
            await self._store.mark_card_rendered(card, version)
        self._cards_due[channel] = min(held, default=0.0)

    def _card_gap(self, now: float) -> float:
        """`card_edit_gap` for the running runs' cards shown lately (older ones forgotten)."""
        if self._poll_interval is None:
            return 0.0
        quiet = [key for key, at in self._card_shown.items() if now - at > CARD_SHOWN_FOR_S]
        for key in quiet:
            del self._card_shown[key]
        return card_edit_gap(self._poll_interval, cards=len(self._card_shown))

    async def _earlier_card(self, channel: str, summary: RunSummary) -> str | None:
        """The permalink of the card of the run `summary`'s run continues, in this channel
        (asked of Slack once per card). None when there is none or Slack does not answer:
        the card then names that run without a link, and the next edit asks again."""
        if not summary.continuation_job_id:
            return None
        card = await self._store.earlier_card(
            channel, summary.project_id, summary.run_id, summary.continuation_job_id
        )
        if card is None:
            return None
        if (channel, card.ts) not in self._permalinks:
            link: str | None = None
            try:
                response = await self._slack.chat_getPermalink(channel=channel, message_ts=card.ts)
                link = str(response.get("permalink") or "") or None
            except (SlackApiError, *TRANSPORT_ERRORS) as error:
                failure = slack_failure(error)
                if isinstance(failure, SlackOutcomeUnknown) or failure.code == "ratelimited":
                    return None  # asked again at the next edit
                # Slack refuses: not asked again for this card.
                log.warning("no permalink for card %s in %s: %s", card.ts, channel, failure.code)
            self._permalinks[(channel, card.ts)] = link
        return self._permalinks[(channel, card.ts)]

    async def _edit(self, channel: str, ts: str, message: Message, *, what: str) -> None:
        """chat.update; a message that is gone is left alone. An edit is idempotent, so one
        whose outcome is unknown is simply made again."""
        try:
            await self._slack.chat_update(
                channel=channel,
                ts=ts,
                text=message.text,
                blocks=message.blocks,
                metadata=message.metadata,  # None (a card) keeps what the message had
            )
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
            if failure.code not in CARD_GONE:
                raise failure from None
            log.warning("%s %s in %s is gone; not editing it", what, ts, channel)
