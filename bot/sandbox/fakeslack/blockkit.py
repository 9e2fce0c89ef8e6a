"""Block Kit as Slack checks it (documented limits, Slack's error wording and json-pointers, so a
failing test says which block broke which limit), and Block Kit read back as plain lines."""

from __future__ import annotations

import itertools
import re
from typing import Any

from bot.sandbox.fakeslack.wire import ApiError, JSONDict, opt_str, parse_json_arg

# Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
POST_TEXT_MAX = 40_000
UPDATE_TEXT_MAX = 4_000


def content(args: JSONDict, text_max: int) -> tuple[str, list[JSONDict]]:
    text = opt_str(args, "text") or ""
    blocks = parse_blocks(args.get("blocks"))
    has_attachments = bool(args.get("attachments"))
    if not text and not blocks and not has_attachments:
        raise ApiError("no_text")
    if len(text) > text_max:
        raise ApiError("msg_too_long")
    return text, blocks


def parse_blocks(raw: Any) -> list[JSONDict]:
    value = parse_json_arg(raw, "invalid_blocks_format")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise ApiError("invalid_blocks_format")
    problems = list(block_problems(value))
    if problems:
        raise ApiError(
            "invalid_blocks",
            extra={
                "errors": problems,
                "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]},
            },
        )
    return value


def block_problems(blocks: list[JSONDict]) -> list[str]:
    """Slack's wording and json-pointers, so a failing test says which block broke which limit."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = block.get("type")
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{where}]")
            if text is not None:
                problems += text_problems(text, f"{where}/text", SECTION_TEXT_MAX)
            if fields is not None:
                if not isinstance(fields, list):
                    problems.append(f"must be an array [json-pointer:{where}/fields]")
                    continue
                if len(fields) > SECTION_FIELDS_MAX:
                    problems.append(
                        f"no more than {SECTION_FIELDS_MAX} items allowed "
                        f"[json-pointer:{where}/fields]"
                    )
                for j, item in enumerate(fields):
                    problems += text_problems(item, f"{where}/fields/{j}", FIELD_TEXT_MAX)
        elif kind == "header":
            problems += text_problems(
                block.get("text"), f"{where}/text", HEADER_TEXT_MAX, plain_only=True
            )
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                problems.append(f"must provide elements [json-pointer:{where}/elements]")
            elif len(elements) > CONTEXT_ELEMENTS_MAX:
                problems.append(
                    f"no more than {CONTEXT_ELEMENTS_MAX} items allowed "
                    f"[json-pointer:{where}/elements]"
                )
        elif not isinstance(kind, str) or not kind:
            problems.append(f"missing required field: type [json-pointer:{where}]")
    return problems


def text_problems(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must be a text object [json-pointer:{where}]"]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {'/'.join(allowed)} [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def parse_metadata(raw: Any) -> JSONDict | None:
    value = parse_json_arg(raw, "invalid_metadata_format")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not value["event_type"]
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise ApiError("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def unslack(text: str) -> str:
    """mrkdwn to terminal text: `<url|label>` → "label (url)", mentions readable, entities decoded.

    Links are rewritten before `&lt;` is decoded, so escaped text never turns into a link.
    """

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        if target[:1] in ("@", "#"):
            return target[0] + label if label else target
        return f"{label} ({target})" if label else target

    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def obj_text(obj: Any) -> str:
    if isinstance(obj, dict):
        if isinstance(obj.get("text"), str):
            return unslack(obj["text"])
        if obj.get("type") == "image":
            return f"[{obj.get('alt_text') or 'image'}]"
    return ""


def blocks_to_lines(blocks: list[JSONDict]) -> list[str]:
    """Block Kit as plain lines, roughly as Slack lays it out; unknown blocks are named."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(obj_text(block.get("text")))
        elif kind == "section":
            if block.get("text"):
                lines += obj_text(block.get("text")).splitlines()
            fields = [obj_text(f).replace("\n", " ") for f in block.get("fields") or []]
            for left, right in itertools.zip_longest(fields[::2], fields[1::2], fillvalue=""):
                lines.append(f"{left:<30}  {right}".rstrip())
        elif kind == "context":
            parts = [obj_text(e) for e in block.get("elements") or []]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "actions":
            buttons = [f"[{obj_text(e.get('text'))}]" for e in block.get("elements") or []]
            lines.append(" ".join(buttons))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text') or ''}]")
        else:
            lines.append(f"[{kind} block]")
    return lines
