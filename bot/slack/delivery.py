"""Outbox to Slack: in order per channel, each notification once, the run card kept current.

Exactly once, also across crashes: a row is marked `attempting` (committed) before its
`chat.postMessage`, and `sent` with the message's ts after. A row still `attempting` when it
is picked up again (a crash, a dropped connection, a 5xx: the outcome is unknown) is first
looked for in the channel by the `event_key` in its message metadata, and posted only if
absent. Only Slack's own "not done" answers (429, an `ok: false` error below HTTP 500) are
retried blindly.

A broken channel (`not_in_channel`, `channel_not_found`, `is_archived`) is paused, its rows
kept; `invalid_auth` stops all delivery, keeping the outbox. Each channel drains in its own
task, so one slow or broken channel never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import EventKind
from bot.core.summary import RunSummary
from bot.slack.charts import ChartUploads, is_message_of
from bot.slack.render import (
    Message,
    render_card,
    render_event,
    render_retried_failure,
    render_run_started_card,
)
from bot.store import Card, OutboxRow, Store

log = logging.getLogger(__name__)

PAUSING_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
UNRENDERABLE_ERRORS = frozenset({"invalid_blocks", "msg_too_long", "invalid_metadata_format"})
BROADCAST_KINDS = frozenset(
    {EventKind.TIME_LIMIT_EXCEEDED, EventKind.JOB_FINISHED, EventKind.RUN_STALLED}
)
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
LOOKUP_WINDOW_S = 600.0  # how far before a row's creation its message is looked for


class _Stop(Exception):
    """Stop draining this channel for now (order is kept: later rows wait)."""

    def __init__(self, retry_in: float) -> None:
        self.retry_in = retry_in


class Delivery:
    def __init__(
        self,
        *,
        store: Store,
        slack: AsyncWebClient,
        idle_s: float = 2.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        self._store = store
        self._slack = slack
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._permalinks: dict[tuple[str, str], str | None] = {}  # (channel, ts) -> link
        self._stopping = False
        self.auth_error: str | None = None
        self._charts = ChartUploads(
            store=store,
            slack=slack,
            find_posted=self._find_posted,
            fatal_errors=PAUSING_ERRORS | AUTH_ERRORS,
        )

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until `stop()`: start a drain task for each channel with work."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)
            self._wake.clear()
            if self._stopping or self.auth_error is not None:
                continue
            try:
                channels = await self._store.channels_with_work()
            except Exception:
                log.exception("delivery could not read the outbox")
                continue
            for channel in channels:
                busy = channel in self._workers and not self._workers[channel].done()
                if busy or self._not_before.get(channel, 0.0) > loop.time():
                    continue
                self._workers[channel] = asyncio.create_task(self._drain(channel))

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
        return not await self._store.channels_with_work() and all(
            task.done() for task in self._workers.values()
        )

    async def _drain(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                rows = [
                    row
                    for row in await self._store.outbox(channel)
                    if not self._charts.deferred(row.id)  # a failed chart never holds others
                ]
                for row in rows:
                    if self._stopping:
                        return
                    await self._deliver(row)
                await self._update_cards(channel)
                if not rows:
                    break
            self._failures.pop(channel, None)
        except _Stop as stop:
            failures = self._failures.get(channel, 0) + 1
            self._failures[channel] = failures
            wait = min(self._max_backoff_s, max(stop.retry_in, 2.0 ** min(failures, 8)))
            self._not_before[channel] = loop.time() + wait
        except Exception:
            log.exception("delivery to channel %s failed", channel)
            self._not_before[channel] = loop.time() + 30.0

    async def _deliver(self, row: OutboxRow) -> None:
        event = row.event
        card = await self._card(row)
        if event.kind is EventKind.RUN_CHART:
            try:
                await self._charts.deliver(row, card)
            except SlackApiError as error:
                raise await self._handle(row.channel_id, error) from None
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
        if event.kind is EventKind.TRIAL_COMPLETED and event.trial_id is not None:
            # Before the completion is posted, so a crash in between cannot lose the edit.
            await self._mark_failures_retried(row.channel_id, row.project_id, event.trial_id)
        message, card_version = await self._compose(row)
        if not await self._store.mark_attempting(row.id):
            return  # unsubscribed since the row was read: not to be posted
        response = await self._post(
            row,
            message,
            thread_ts=card.ts if card is not None else None,
            broadcast=card is not None and event.kind in BROADCAST_KINDS,
        )
        await self._store.mark_sent(row.id, ts=response, card_version=card_version)

    async def _mark_failures_retried(self, channel: str, project_id: str, trial_id: str) -> None:
        """Edit the trial's earlier "❌ failed" messages to "failed → retried → ✅ completed",
        so the channel never keeps a failure the run later contradicted (idempotent)."""
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
            try:
                response = await self._slack.chat_postMessage(**args)
            except SlackApiError as error:
                if _error_code(error) not in UNRENDERABLE_ERRORS:
                    raise
                log.error(
                    "Slack refused %s as rendered (%s); posting text only",
                    row.event.key,
                    _error_code(error),
                )
                args["blocks"] = None
                args["text"] = message.text[:3000]
                response = await self._slack.chat_postMessage(**args)
        except SlackApiError as error:
            if error.response is not None and error.response.status_code >= 500:
                # Slack may have posted it before failing: stays `attempting`, looked up next.
                log.warning("posting to %s: Slack answered %s", row.channel_id, _error_code(error))
                raise _Stop(5.0) from None
            await self._store.mark_retry(row.id, _error_code(error))
            raise await self._handle(row.channel_id, error) from None
        except TRANSPORT_ERRORS as error:
            # The message may or may not be in Slack: stays `attempting`, looked up next time.
            log.warning("posting to %s: outcome unknown (%s)", row.channel_id, type(error).__name__)
            raise _Stop(5.0) from None
        return str(response["ts"])

    async def _handle(self, channel: str, error: SlackApiError) -> _Stop:
        code = _error_code(error)
        if code in PAUSING_ERRORS:
            log.warning("pausing channel %s: Slack says %s", channel, code)
            await self._store.pause_channel(channel, code)
            return _Stop(0.0)
        if code in AUTH_ERRORS:
            self.auth_error = code
            log.error(
                "Slack rejected the bot token (%s): delivery stopped, the outbox is kept. "
                "Check SLACK_BOT_TOKEN and restart.",
                code,
            )
            return _Stop(self._max_backoff_s)
        retry_after = error.response.headers.get("Retry-After") if error.response else None
        log.warning("Slack answered %s for channel %s; will retry", code, channel)
        return _Stop(float(retry_after) if retry_after and retry_after.isdigit() else 5.0)

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
        except SlackApiError as error:
            raise await self._handle(row.channel_id, error) from None
        except TRANSPORT_ERRORS:
            raise _Stop(5.0) from None

    async def _update_cards(self, channel: str) -> None:
        """Edit each card whose run moved on, once, with its latest summary (coalesced)."""
        for card, summary, version in await self._store.dirty_cards(channel):
            earlier = await self._earlier_card(channel, summary)
            await self._edit(channel, card.ts, render_card(summary, earlier), what="card")
            await self._store.mark_card_rendered(card, version)

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
            except TRANSPORT_ERRORS:
                return None  # asked again at the next edit
            except SlackApiError as error:
                status = error.response.status_code if error.response is not None else 0
                if status == 429 or status >= 500:
                    return None  # asked again at the next edit
                # Slack refuses: not asked again for this card.
                log.warning(
                    "no permalink for card %s in %s: %s", card.ts, channel, _error_code(error)
                )
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
        except SlackApiError as error:
            if _error_code(error) not in {"message_not_found", "cant_update_message"}:
                raise await self._handle(channel, error) from None
            log.warning("%s %s in %s is gone; not editing it", what, ts, channel)
        except TRANSPORT_ERRORS:
            raise _Stop(5.0) from None


def _error_code(error: SlackApiError) -> str:
    response = error.response
    code = response.get("error") if response is not None else None
    return str(code or "unknown_error")
