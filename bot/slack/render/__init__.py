"""Slack messages for events, the run card and `/eon status` (pure: values in, values out).

Every message is Block Kit plus a plain `text` fallback (notifications, screen readers and
search read `text`, so it says the same thing in one line or a few). Two rules hold for any
input, however large or hostile:

- Text from Edge Impulse (trial, run and project names, job errors, error messages) is
  untrusted. It passes through `escape()` so `<!channel>`, `<@U…>` or `<http://x|y>` in a trial
  name stay literal text, and through `fmt.one_line` so control and bidi characters cannot
  garble the line. mrkdwn objects are `verbatim`, so Slack does not auto-parse a bare
  "@here" or "#channel" inside them either.
- Slack's limits are never exceeded (`LIMITS`): Slack answers `invalid_blocks` to the whole
  message otherwise, and slack_sdk raises before sending. Untrusted pieces get their own budget
  first, so one huge name cannot push the numbers out; whole texts are clipped last, after
  escaping, without cutting an entity such as `&amp;` in half.

    blocks   the limits, escaping and clipping, the Block Kit pieces
    numbers  a trial's figures and flags in one line
    events   one message per event
    card     the run card and `/eon status`
"""

from __future__ import annotations

from bot.slack.render.blocks import (
    ELLIPSIS,
    ERROR_CHARS,
    LIMITS,
    NAME_CHARS,
    SEP,
    STUDIO_ACTION_ID,
    STUDIO_BUTTON,
    Limits,
    Message,
    clip,
    escape,
    safe,
)
from bot.slack.render.card import (
    STATUS_SHOWN,
    TOP_SHOWN,
    best_text,
    card_blocks,
    card_text,
    card_title,
    continues_text,
    progress_text,
    render_card,
    render_run_started_card,
    render_status,
    state_text,
    status_text,
    top_text,
)
from bot.slack.render.events import chart_comment, render_event, render_retried_failure
from bot.slack.render.numbers import (
    NEW_BEST,
    SHORT_ID_MAX,
    SHORT_ID_MIN,
    compact_numbers,
    flags_text,
    numbers_line,
    short_ids,
)

__all__ = [
    "ELLIPSIS",
    "ERROR_CHARS",
    "LIMITS",
    "Limits",
    "Message",
    "NAME_CHARS",
    "NEW_BEST",
    "SEP",
    "SHORT_ID_MAX",
    "SHORT_ID_MIN",
    "STATUS_SHOWN",
    "STUDIO_ACTION_ID",
    "STUDIO_BUTTON",
    "TOP_SHOWN",
    "best_text",
    "card_blocks",
    "card_text",
    "card_title",
    "chart_comment",
    "clip",
    "compact_numbers",
    "continues_text",
    "escape",
    "flags_text",
    "numbers_line",
    "progress_text",
    "render_card",
    "render_event",
    "render_retried_failure",
    "render_run_started_card",
    "render_status",
    "safe",
    "short_ids",
    "state_text",
    "status_text",
    "top_text",
]
