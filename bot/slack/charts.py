"""Uploads the run's chart (`eon_run_chart` rows) into the card's thread with `files_upload_v2`.

Exactly once, like every notification: the row is marked `attempting` before the upload and
`sent` after; a row found `attempting` (a crash or an unclear answer mid-upload) is first
looked for in the thread by its file name, which is derived from the event key. Unlike a
message, a chart is a nice-to-have: a failed upload never holds back the channel's other
notifications. The row is set aside (`deferred`) and retried later, a few times at most
(`MAX_ATTEMPTS`), then given up with its error kept. Only what stops every post in the channel
(the channel gone, the token refused) is passed up, to be handled as delivery handles it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.chart import chart_of
from bot.core.events import Event
from bot.core.run_name import project_label, says_eon_tuner
from bot.errors import SlackAuthError, SlackChannelUnusable, SlackOutcomeUnknown
from bot.slack.failures import TRANSPORT_ERRORS, slack_failure
from bot.slack.plot import render_chart
from bot.slack.render import chart_comment
from bot.store import Card, OutboxRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 3
RETRY_AFTER_S: Final = (10.0, 60.0)  # after the first and the second failed attempt
_RENDERING = threading.Lock()  # matplotlib's rcParams are process-wide

Finder = Callable[[OutboxRow, Card | None, AsyncWebClient], Awaitable[str | None]]


class ChartStore(Protocol):
    async def mark_attempting(self, row_id: int) -> bool: ...
    async def mark_sent(self, row_id: int, *, ts: str, card_version: int | None = None) -> None: ...
    async def mark_retry(self, row_id: int, error: str) -> int: ...
    async def mark_given_up(self, row_id: int, error: str) -> None: ...


def _slug(text: str | None, fallback: str) -> str:
    return "".join(ch for ch in text or "" if ch.isalnum())[:24] or fallback


def chart_filename(event: Event) -> str:
    """`eon-tuner-<project>-<tuner job>-<digest of the event key>.png`: unique per event, so a
    chart is found again in its thread after a crash, and tells a reader whose run it shows."""
    digest = hashlib.sha256(event.key.encode()).hexdigest()[:16]
    project = _slug(event.project_id, "project")
    return f"eon-tuner-{project}-{_slug(event.tuner_job_id, 'run')}-{digest}.png"


def chart_title(event: Event) -> str:
    """The file's title in Slack: the run's one name and the project's, as on the chart."""
    run = chart_of(event).title or "EON Tuner run"
    run = run if says_eon_tuner(run) else f"EON Tuner · {run}"  # as the chart's own title
    return f"{run} · {project_label(event.project_id, event.project_name)}"


def is_message_of(message: Mapping[str, Any], event: Event) -> bool:
    """Whether a message Slack lists is `event`'s: its metadata's event key, or for a chart,
    its file."""
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    if payload.get("event_key") == event.key:
        return True
    name = chart_filename(event)
    return any(isinstance(f, dict) and f.get("name") == name for f in message.get("files") or [])


def _draw(event: Event) -> bytes:
    with _RENDERING:
        return render_chart(chart_of(event))


class ChartUploads:
    def __init__(
        self,
        *,
        store: ChartStore,
        find_posted: Finder,
    ) -> None:
        self._store = store
        self._find_posted = find_posted
        self._not_before: dict[int, float] = {}

    def deferred(self, row_id: int) -> bool:
        """True while a failed upload waits for its next attempt."""
        until = self._not_before.get(row_id)
        return until is not None and asyncio.get_running_loop().time() < until

    async def deliver(self, row: OutboxRow, card: Card | None, slack: AsyncWebClient) -> None:
        """Upload the row's chart with its workspace's client; raises only what stops the
        whole channel (an unusable channel, a refused token) as its `SlackError`."""
        if row.state == "attempting":
            found = await self._find_posted(row, card, slack)
            if found is not None:
                log.info("found the chart %s already in %s", row.event.key, row.channel_id)
                await self._store.mark_sent(row.id, ts=found)
                return
        try:
            png = await asyncio.to_thread(_draw, row.event)
        except Exception as error:  # a chart that cannot be drawn will not draw next time
            log.exception("could not draw the chart %s", row.event.key)
            await self._store.mark_given_up(row.id, f"drawing failed: {error!r}")
            return
        if not await self._store.mark_attempting(row.id):
            return
        try:
            answer = await slack.files_upload_v2(
                channel=row.channel_id,
                thread_ts=card.ts if card is not None else None,
                file=png,
                filename=chart_filename(row.event),
                title=chart_title(row.event),
                alt_txt="Accuracy against latency of the run's trials",
                initial_comment=chart_comment(row.event),
            )
        except SlackApiError as error:
            failure = slack_failure(error)
            if isinstance(failure, SlackChannelUnusable | SlackAuthError):
                await self._store.mark_retry(row.id, failure.code)
                raise failure from None
            await self._failed(row, failure.code, unclear=isinstance(failure, SlackOutcomeUnknown))
            return
        except TRANSPORT_ERRORS as error:
            await self._failed(row, f"{type(error).__name__}: {error}", unclear=True)
            return
        file = answer.get("file") or {}
        self._not_before.pop(row.id, None)
        await self._store.mark_sent(row.id, ts=f"file:{file.get('id', '?')}")

    async def _failed(self, row: OutboxRow, error: str, *, unclear: bool) -> None:
        """Set the row aside; an unclear outcome stays `attempting`, so it is looked for first."""
        attempt = row.attempts + 1
        if attempt >= MAX_ATTEMPTS:
            log.error("giving up the chart %s in %s: %s", row.event.key, row.channel_id, error)
            await self._store.mark_given_up(row.id, error)
            return
        log.warning("chart upload to %s failed (%s); will retry", row.channel_id, error)
        if not unclear:
            await self._store.mark_retry(row.id, error)
        wait = RETRY_AFTER_S[min(attempt, len(RETRY_AFTER_S)) - 1]
        self._not_before[row.id] = asyncio.get_running_loop().time() + wait
