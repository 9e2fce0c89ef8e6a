"""Slack's limits and the Block Kit pieces every message is built from: escaping and clipping
untrusted text, sections, headers, context, the Studio button."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot import fmt


@dataclass(frozen=True, slots=True)
class Limits:
    """Slack's documented limits (Block Kit, chat.postMessage and chat.update)."""

    blocks: int = 50
    section_text: int = 3000
    fields: int = 10
    field_text: int = 2000
    context_elements: int = 10
    context_text: int = 2000
    header_text: int = 150
    button_text: int = 75
    button_url: int = 3000
    # chat.postMessage truncates `text` past 40,000 and chat.update refuses past 4,000; 3,000
    # keeps every message (the card is edited in place) well inside both.
    fallback_text: int = 3000


LIMITS: Final = Limits()
# Budgets of untrusted pieces inside a line, in characters of the original text.
NAME_CHARS: Final = 80
ERROR_CHARS: Final = 400
STUDIO_BUTTON: Final = "Open in Studio"
STUDIO_ACTION_ID: Final = "eon_open_studio"
ELLIPSIS: Final = "…"
SEP: Final = " · "


@dataclass(frozen=True, slots=True)
class Message:
    """What delivery sends: `blocks` are already plain dicts (`Block.to_dict()`), ready for
    chat.postMessage / chat.update / ack / respond; `metadata` is Slack message metadata."""

    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None


def escape(text: str) -> str:
    """Make text literal in Slack: `&`, `<`, `>` are the only characters Slack's parser needs
    escaped, and `<` is what starts mentions (`<!channel>`, `<@U123>`) and links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut. The cut never splits an entity
    (`&amp;`, `&lt;`, `&gt;`, at most 5 characters): an `&` among the last 4 kept characters
    with no `;` after it is the start of a cut entity, so the cut moves before it."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = limit - len(ELLIPSIS)
    amp = text.rfind("&", max(0, cut - 4), cut)
    if amp != -1 and text.find(";", amp, cut) == -1:
        cut = amp
    return text[:cut].rstrip() + ELLIPSIS


def safe(text: str | None, limit: int = NAME_CHARS) -> str:
    """Untrusted text as one escaped line of at most `limit` original characters."""
    if text is None or not text.strip():
        return fmt.UNKNOWN
    return escape(fmt.one_line(text, limit))


def header_block(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, LIMITS.header_text), emoji=True))


def section_block(text: str, fields: Sequence[str] = ()) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, LIMITS.section_text), verbatim=True),
        fields=[
            MarkdownTextObject(text=clip(field, LIMITS.field_text), verbatim=True)
            for field in fields[: LIMITS.fields]
        ]
        or None,
    )


def context_block(*texts: str) -> ContextBlock | None:
    elements = [
        MarkdownTextObject(text=clip(text, LIMITS.context_text), verbatim=True)
        for text in texts[: LIMITS.context_elements]
        if text
    ]
    return ContextBlock(elements=elements) if elements else None


def studio_button(url: str | None, *more: ButtonElement) -> ActionsBlock | None:
    """An "Open in Studio" link button (none when the url is unknown or too long for Slack),
    followed by `more` buttons (those that act on the run) in the same row."""
    elements = list(more)
    if url and len(url) <= LIMITS.button_url:
        studio = ButtonElement(
            text=clip(STUDIO_BUTTON, LIMITS.button_text), url=url, action_id=STUDIO_ACTION_ID
        )
        elements.insert(0, studio)
    return ActionsBlock(elements=elements) if elements else None


def build_message(
    text: str, blocks: Iterable[Block | None], metadata: dict[str, Any] | None = None
) -> Message:
    kept = [block.to_dict() for block in blocks if block is not None]
    return Message(
        text=clip(text, LIMITS.fallback_text),
        blocks=kept[: LIMITS.blocks],
        metadata=metadata,
    )
