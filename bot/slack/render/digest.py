"""A channel's daily digest (pure): one message summing up the last 24 h of each project it
watches (runs started and ended, the best trial of each run, failures, stalls, actions taken),
with metadata `eon_digest` (`channel_id`, `projects`: each project's figures)."""

from __future__ import annotations

from typing import Any, Final

from pydantic import ValidationError
from slack_sdk.models.blocks import Block, DividerBlock

from bot import fmt
from bot.core.events import Event
from bot.core.summary import TrialSummary
from bot.slack.render.blocks import (
    LIMITS,
    SEP,
    Message,
    build_message,
    context_block,
    header_block,
    safe,
    section_block,
)
from bot.slack.render.numbers import trial_line

TITLE: Final = "🗞 Daily digest · the last 24 h"
QUIET: Final = "Nothing happened in the last 24 h."
SHOWN: Final = 20  # projects with a section of their own; more are counted
_STATE: Final = {"running": "🔄 running", "finished": "🏁 finished", "failed": "💥 failed"}


def _count(n: object, word: str) -> str:
    return fmt.plural(n if isinstance(n, int) else 0, word)


def project_text(day: dict[str, Any]) -> str:
    """One project's lines: its figures, then each run active in the window and its best."""
    figures = SEP.join(
        (
            f"{_count(day.get('runs_started'), 'run')} started",
            f"{_count(day.get('runs_ended'), 'run')} ended",
            _count(day.get("failures"), "failed trial"),
            _count(day.get("stalls"), "stall"),
            _count(day.get("actions"), "action"),
        )
    )
    lines = [f"*{safe(str(day.get('label') or day.get('project_id')))}*", figures]
    for run in day.get("runs") or []:
        state = _STATE.get(str(run.get("state")), "⏳")
        best = _best(run.get("best"))
        lines.append(f"• {safe(str(run.get('name')))}: {state}{SEP}best: {best}")
    return "\n".join(lines)


def _best(raw: object) -> str:
    if not isinstance(raw, dict):
        return "none yet"
    try:
        return trial_line(TrialSummary.model_validate(raw), compact=True)
    except ValidationError:
        return fmt.UNKNOWN


def render_digest(event: Event) -> Message:
    """The digest message; its metadata's `event_key` is what a post's look-up finds it by."""
    days = [day for day in event.payload.get("projects") or [] if isinstance(day, dict)]
    blocks: list[Block | None] = [header_block(TITLE)]
    texts = [TITLE]
    for day in days[:SHOWN]:
        text = project_text(day)
        blocks += [DividerBlock(), section_block(text)]
        texts.append(text)
    if len(days) > SHOWN:
        blocks.append(context_block(f"…and {len(days) - SHOWN} more projects"))
    if not days:
        blocks.append(section_block(QUIET))
        texts.append(QUIET)
    payload = {
        "channel_id": event.payload.get("channel_id"),
        "projects": days,
        "event_key": event.key,
    }
    metadata = {"event_type": event.kind.value, "event_payload": payload}
    return build_message(
        "\n".join(texts)[: LIMITS.fallback_text], blocks[: LIMITS.blocks], metadata
    )
