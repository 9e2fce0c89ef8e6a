"""The Web API methods the bot calls, each as Slack answers it: `auth.test`, `chat.postMessage`,
`chat.update`, `chat.postEphemeral`, `chat.getPermalink`, `conversations.history`,
`conversations.replies`, `conversations.info`, `conversations.open` (a direct message with
one person), and `apps.connections.open` for Socket Mode."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from bot.sandbox.fakeslack.blockkit import (
    POST_TEXT_MAX,
    UPDATE_TEXT_MAX,
    content,
    parse_metadata,
)
from bot.sandbox.fakeslack.records import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, Message
from bot.sandbox.fakeslack.state import SlackState
from bot.sandbox.fakeslack.wire import ApiError, JSONDict, flag, opt_str

WORKSPACE_URL = "https://eon-test.slack.com/"


class WebApiMethods(SlackState):
    def _auth_test(self, args: JSONDict) -> JSONDict:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "EON Test",
            "user": "eon-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _connections_open(self, args: JSONDict) -> JSONDict:
        if self._socket_url is None:
            raise ApiError("invalid_auth")
        return {"ok": True, "url": self._socket_url()}

    def _post_message(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        self._check_rate(channel)
        text, blocks = content(args, POST_TEXT_MAX)
        metadata = parse_metadata(args.get("metadata"))
        thread_ts = self._thread_parent(channel, opt_str(args, "thread_ts"))
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and flag(args, "reply_broadcast"),
            metadata=metadata,
        )
        self._messages.setdefault(channel, {})[msg.ts] = msg
        self._last_post[channel] = self._clock()
        self._emit(msg, "post")
        return {
            "ok": True,
            "channel": channel,
            "ts": msg.ts,
            "message": self._message_json(msg, include_metadata=True),
        }

    def _check_rate(self, channel: str) -> None:
        """Strict minimum interval between posts (stricter than Slack, which allows bursts), so
        a client that ignores `Retry-After` is caught in a short test."""
        rate = self.rate_limit_per_channel
        if not rate:
            return
        now = self._clock()
        last = self._last_post.get(channel)
        interval = 1.0 / rate
        if last is not None and now - last < interval:
            wait = max(1, math.ceil(interval - (now - last)))
            raise ApiError("ratelimited", status=429, retry_after=wait)

    def _thread_parent(self, channel: str, thread_ts: str | None) -> str | None:
        """Slack threads a reply-to-a-reply under the parent and, for a `thread_ts` naming no
        message, posts to the channel; both are mirrored so tests see what Slack would show."""
        if not thread_ts:
            return None
        target = self._messages.get(channel, {}).get(thread_ts)
        if target is None:
            return None
        return target.thread_ts or target.ts

    def _update(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        ts = opt_str(args, "ts")
        old = self._messages.get(channel, {}).get(ts or "")
        if old is None:
            raise ApiError("message_not_found")
        if old.user != BOT_USER_ID:
            raise ApiError("cant_update_message")
        text, blocks = content(args, UPDATE_TEXT_MAX)
        metadata = parse_metadata(args.get("metadata"))
        new = replace(
            old,
            # Slack keeps what an update leaves out: blocks stay unless `blocks` is sent.
            text=text if "text" in args else old.text,
            blocks=blocks if "blocks" in args else old.blocks,
            metadata=metadata if metadata is not None else old.metadata,
            edits=(*old.edits, replace(old, edits=())),
            edited_ts=self._next_ts(),
        )
        self._messages[channel][new.ts] = new
        self._emit(new, "update")
        return {
            "ok": True,
            "channel": channel,
            "ts": new.ts,
            "text": new.text,
            "message": self._message_json(new, include_metadata=True),
        }

    def _permalink(self, args: JSONDict) -> JSONDict:
        """`https://WORKSPACE.slack.com/archives/CHANNEL/pTS` (the ts without its dot), with
        `thread_ts` and `cid` for a reply, as Slack answers."""
        channel = str(opt_str(args, "channel"))
        ts = opt_str(args, "message_ts") or ""
        msg = self._messages.get(channel, {}).get(ts)
        if msg is None:
            raise ApiError("message_not_found")
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        if msg.thread_ts is not None:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _post_ephemeral(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        user = opt_str(args, "user")
        if not user:
            raise ApiError("user_not_found")
        text, blocks = content(args, POST_TEXT_MAX)
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=opt_str(args, "thread_ts") or None,
            visible_to=user,
        )
        self._ephemerals.setdefault(channel, []).append(msg)
        self._emit(msg, "ephemeral")
        return {"ok": True, "message_ts": msg.ts}

    def _history(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        window = _window(args)
        visible = [
            m
            for m in self.messages(channel)
            if (m.thread_ts is None or m.reply_broadcast) and window(m.ts)
        ]
        visible.reverse()  # newest first, as Slack answers
        page, next_cursor = _page(visible, args, default_limit=100, max_limit=999)
        meta = flag(args, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._message_json(m, include_metadata=meta, root=True) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _replies(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        ts = opt_str(args, "ts")
        target = self._messages.get(channel, {}).get(ts or "")
        if target is None:
            raise ApiError("thread_not_found")
        parent = self._messages[channel][target.thread_ts or target.ts]
        window = _window(args)
        thread = [parent, *(m for m in self.replies(channel, parent.ts) if window(m.ts))]
        page, next_cursor = _page(thread, args, default_limit=1000, max_limit=1000)
        meta = flag(args, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._message_json(m, include_metadata=meta) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _open_im(self, args: JSONDict) -> JSONDict:
        """The direct message with one person (`users=U…`): the same `D…` id every time, as
        Slack answers for an existing conversation; several users (a group DM) is refused."""
        users = [u for u in str(opt_str(args, "users") or "").split(",") if u]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_enough_users")  # what Slack says outside of mpim scopes
        user = users[0].strip()
        if not user.startswith(("U", "W")) or not user[1:].isalnum():
            raise ApiError("user_not_found")
        return {"ok": True, "channel": {"id": f"D{user[1:]}"}}

    def _info(self, args: JSONDict) -> JSONDict:
        channel = str(opt_str(args, "channel"))
        state = self._states.get(channel, "ok")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lstrip("#").lower(),
                "is_channel": True,
                "is_archived": state == "archived",
                "is_member": state != "not_in_channel",
                "created": 1_700_000_000,
            },
        }

    def _message_json(
        self, msg: Message, *, include_metadata: bool, root: bool = False
    ) -> JSONDict:
        """A message object shaped like Slack's (the fields bots read), for every answer."""
        out: JSONDict = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts}
        out["team"] = TEAM_ID
        if msg.user == BOT_USER_ID:
            out |= {"bot_id": BOT_ID, "app_id": APP_ID}
        if msg.blocks:
            out["blocks"] = msg.blocks
        if msg.files:
            out |= {"files": list(msg.files), "upload": True}
        if msg.thread_ts is not None:
            parent = self._messages.get(msg.channel, {}).get(msg.thread_ts)
            out["thread_ts"] = msg.thread_ts
            out["parent_user_id"] = parent.user if parent else msg.user
            if msg.reply_broadcast:
                out["subtype"] = "thread_broadcast"
                if root and parent is not None:
                    out["root"] = self._message_json(parent, include_metadata=False)
        else:
            replies = self.replies(msg.channel, msg.ts)
            if replies:
                users = sorted({r.user for r in replies})
                out |= {
                    "thread_ts": msg.ts,
                    "reply_count": len(replies),
                    "reply_users": users,
                    "reply_users_count": len(users),
                    "latest_reply": replies[-1].ts,
                }
        if msg.edited_ts is not None:
            out["edited"] = {"user": msg.user, "ts": msg.edited_ts}
        if include_metadata and msg.metadata is not None:
            out["metadata"] = msg.metadata
        return out


def _micros(ts: str, error: str) -> int:
    """Compare ts values exactly: as floats, "…000100" and "…000101" may not differ."""
    try:
        return int(Decimal(ts) * 1_000_000)
    except InvalidOperation:
        raise ApiError(error) from None


def _window(args: JSONDict) -> Callable[[str], bool]:
    """The `oldest`/`latest`/`inclusive` filter; bounds are exclusive unless `inclusive`."""
    oldest = _micros(opt_str(args, "oldest") or "0", "invalid_ts_oldest")
    latest_arg = opt_str(args, "latest")
    latest = _micros(latest_arg, "invalid_ts_latest") if latest_arg else None
    inclusive = flag(args, "inclusive")

    def inside(ts: str) -> bool:
        t = _micros(ts, "invalid_ts")
        above = t >= oldest if inclusive else t > oldest
        below = latest is None or (t <= latest if inclusive else t < latest)
        return above and below

    return inside


def _page(
    items: list[Message], args: JSONDict, *, default_limit: int, max_limit: int
) -> tuple[list[Message], str]:
    """Cursor paging as Slack does it: an opaque `next_cursor`, empty on the last page."""
    limit_arg = opt_str(args, "limit")
    try:
        limit = int(limit_arg) if limit_arg else default_limit
    except ValueError:
        raise ApiError("invalid_limit") from None
    limit = min(limit, max_limit) if limit > 0 else default_limit
    start = 0
    cursor = opt_str(args, "cursor")
    if cursor:
        ts = _decode_cursor(cursor)
        start = next((i for i, m in enumerate(items) if m.ts == ts), -1)
        if start < 0:
            raise ApiError("invalid_cursor")
    page, rest = items[start : start + limit], items[start + limit :]
    return page, _encode_cursor(rest[0].ts) if rest else ""


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    prefix, _, ts = decoded.partition(":")
    if prefix != "next_ts" or not ts:
        raise ApiError("invalid_cursor")
    return ts
