"""`/eon` slash commands: `parse` (pure), `answer` (reads and writes the store only), and
`register`, the thin bolt handler around them.

Slack waits 3 seconds for the acknowledgement, so the answer is computed from the store alone
and sent with `ack()`; anything that talks to Edge Impulse (checking a newly watched project)
runs afterwards as a background task and reports back through `respond()` (the
command's response_url). It is a task rather than code after `ack()` because bolt, with
`process_before_response=True`, only sends the acknowledgement once the handler returns.

Every reply is ephemeral: only the person who typed the command sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.core.events import Snapshot
from bot.core.routing import MODES, Mode, as_mode
from bot.fmt import one_line
from bot.settings import Settings
from bot.slack.render import LIMITS, STUDIO_ACTION_ID, clip, escape, render_status

log = logging.getLogger(__name__)

MAX_PROJECT_ID: Final = 2**63  # exclusive: Edge Impulse ids are signed 64-bit integers
ECHO_CHARS: Final = 40

USAGE: Final = {
    "status": "/eon status [PROJECT_ID]",
    "watch": "/eon watch PROJECT_ID [all|milestones]",
    "unwatch": "/eon unwatch PROJECT_ID",
    "list": "/eon list",
    "help": "/eon help",
}

HELP_TEXT: Final = "\n".join(
    (
        "*eon-bot* posts what happens in Edge Impulse EON Tuner runs. Commands:",
        f"• `{USAGE['status']}` — the runs this channel watches, or one of them",
        f"• `{USAGE['watch']}` — post this project's runs here: every trial (`all`, the "
        "default) or only run start, time limit and end (`milestones`)",
        f"• `{USAGE['unwatch']}` — stop posting this project here",
        f"• `{USAGE['list']}` — what this channel watches",
        f"• `{USAGE['help']}` — this help",
        "The project id is the number in the Studio URL: studio.edgeimpulse.com/studio/12345",
    )
)
EMPTY_HINT: Final = "This channel watches nothing — `/eon watch PROJECT_ID`"
INTERNAL_ERROR: Final = (
    "⚠ eon-bot could not answer because of an internal error (it is logged). Try again later."
)
FOLLOW_UP_ERROR: Final = (
    "⚠ eon-bot hit an internal error after answering (it is logged); `/eon list` shows "
    "what this channel watches now."
)

# --- parsed commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    project_id: str
    mode: Mode = "all"


@dataclass(frozen=True, slots=True)
class Unwatch:
    project_id: str


@dataclass(frozen=True, slots=True)
class List:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class UsageError:
    """A mistake in the command: `message` is one line, the mistake and the right usage."""

    message: str


Command = Status | Watch | Unwatch | List | Help


def _unescape(text: str) -> str:
    """Slack sends command text with `&`, `<`, `>` escaped; undo it so the text is what the
    user typed (and is escaped exactly once on the way out)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def echo(word: str) -> str:
    """What the user typed, quoted for a reply: one line, at most `ECHO_CHARS` characters,
    escaped; right-to-left text is isolated so it cannot reorder the rest of the line."""
    shown = escape(one_line(word, ECHO_CHARS))
    if any(unicodedata.bidirectional(ch) in {"R", "AL", "AN"} for ch in shown):
        shown = f"\u2068{shown}\u2069"
    return f"“{shown}”"


def _usage_error(mistake: str, subcommand: str) -> UsageError:
    return UsageError(f"{mistake}. Usage: `{USAGE[subcommand]}`")


_DIGITS = re.compile(r"[0-9]+")  # ASCII only: `str.isdigit` also accepts "٤٢" and "²"
_SIGNED = re.compile(r"[+-][0-9]+")


def parse_project_id(word: str, subcommand: str) -> str | UsageError:
    """A positive decimal integer below 2**63, in canonical form ("042" is "42"), because the
    id names the store's rows and the `EI_API_KEY_<id>` variable."""
    if _DIGITS.fullmatch(word):
        digits = word.lstrip("0")
        if not digits:
            return _usage_error(f"The project id must be positive, not {echo(word)}", subcommand)
        if len(digits) > 19 or int(digits) >= MAX_PROJECT_ID:
            return _usage_error(
                f"{echo(word)} is too large for an Edge Impulse project id", subcommand
            )
        return digits
    if _SIGNED.fullmatch(word):
        return _usage_error(
            f"The project id must be a positive whole number, not {echo(word)}", subcommand
        )
    return _usage_error(
        f"{echo(word)} is not a project id: use the number in the Studio URL "
        "(studio.edgeimpulse.com/studio/12345)",
        subcommand,
    )


def parse(text: str) -> Command | UsageError:
    """`/eon` text → a command, or a one-line `UsageError`. Empty text is a request for help;
    subcommands and modes are case-insensitive; every word is just a word (even `payload`)."""
    words = _unescape(text).split()
    if not words:
        return Help()
    sub, args = words[0].lower(), words[1:]
    if sub == "help":
        return Help()
    if sub not in USAGE:
        return UsageError(
            f"Unknown command {echo(words[0])}. Try `/eon status`, `/eon watch PROJECT_ID`, "
            "`/eon unwatch PROJECT_ID`, `/eon list` or `/eon help`"
        )
    max_args = {"status": 1, "watch": 2, "unwatch": 1, "list": 0}[sub]
    if len(args) > max_args:
        return _usage_error(f"Too many words, starting at {echo(args[max_args])}", sub)
    if sub == "list":
        return List()
    if sub == "status" and not args:
        return Status()
    if not args:
        return _usage_error("The project id is missing", sub)
    project_id = parse_project_id(args[0], sub)
    if isinstance(project_id, UsageError):
        return project_id
    if sub == "status":
        return Status(project_id)
    if sub == "unwatch":
        return Unwatch(project_id)
    if len(args) == 1:
        return Watch(project_id)
    mode = as_mode(args[1])
    if mode is not None:
        return Watch(project_id, mode)
    choices = " or ".join(f"`{known}`" for known in MODES)
    return _usage_error(f"Unknown mode {echo(args[1])}: use {choices}", sub)


# --- what the handlers need -------------------------------------------------------------------


class SubscriptionView(Protocol):
    """What commands read of a subscription (`bot.store.Subscription` has these fields)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def added_by(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def paused_reason(self) -> str | None: ...


class CommandStore(Protocol):
    """The part of `bot.store.Store` commands use, so tests can pass a small in-memory one."""

    async def subscribe(
        self, channel_id: str, project_id: str, *, added_by: str, mode: Mode = "all"
    ) -> bool: ...
    async def unsubscribe(self, channel_id: str, project_id: str) -> bool: ...
    async def subscriptions(
        self, *, channel_id: str | None = None, project_id: str | None = None
    ) -> Sequence[SubscriptionView]: ...
    async def snapshot(self, project_id: str) -> Snapshot | None: ...
    async def resume_channel(self, channel_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CommandDeps:
    """`start_watching` adds the project's poll job (polling at once, in the background);
    `stop_watching` removes it unless another channel still watches; `check_project` fetches
    the project once and returns None or a one-line error for the user (slow: never in ack)."""

    store: CommandStore
    settings: Settings
    start_watching: Callable[[str], Awaitable[None]]
    stop_watching: Callable[[str], Awaitable[None]]
    check_project: Callable[[str], Awaitable[str | None]]


Respond = Callable[..., Awaitable[Any]]
FollowUp = Callable[[Respond], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    """The acknowledgement, and what to do once Slack has it (`follow_up`, given `respond`)."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    follow_up: FollowUp | None = None


# --- answers (store only) ---------------------------------------------------------------------

_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
_PAUSE_HINTS: Final = {
    "not_in_channel": "invite the bot (`/invite @eon-bot`)",
    "channel_not_found": "the channel is gone or the bot cannot see it",
    "is_archived": "the channel is archived",
}


def _mention(user_id: str | None) -> str:
    """A user mention for ids that look like Slack's, plain escaped text for anything else."""
    if user_id and _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape(one_line(user_id or "someone", 40))


def _refusal(deps: CommandDeps, user_id: str) -> str | None:
    admins = deps.settings.admin_user_ids
    if not admins or user_id in admins:
        return None
    ask = ", ".join(_mention(admin) for admin in sorted(admins)[:5])
    return f"⛔ Only eon-bot admins (ADMIN_USER_IDS) can change what a channel watches; ask {ask}."


def _mode_words(mode: str) -> str:
    if mode == "milestones":
        return "milestones only (run start, time limit, end)"
    if mode == "all":
        return "every trial"
    return escape(one_line(mode, 20))


def subscription_line(sub: SubscriptionView) -> str:
    """ "• project 42 — every trial · added by <@U1> · paused: not_in_channel — invite…"."""
    line = (
        f"• project *{escape(one_line(sub.project_id, 40))}* — {_mode_words(sub.mode)}"
        f" · added by {_mention(sub.added_by)}"
    )
    if sub.paused_reason:
        reason = escape(one_line(sub.paused_reason, 40))
        hint = _PAUSE_HINTS.get(sub.paused_reason, "fix it")
        hint += f", then `/eon watch {sub.project_id}` here to resume"
        line += f" · ⏸ paused: {reason} — {hint}"
    return line


def _lines_within(header: str, lines: Sequence[str], limit: int) -> str:
    """As many lines as fit in `limit` characters, then "…and N more"."""
    text = header
    for shown, line in enumerate(lines):
        left = len(lines) - shown
        candidate = f"{text}\n{line}"
        tail = f"\n…and {left - 1} more" if left > 1 else ""
        if len(candidate) + len(tail) > limit:
            return clip(f"{text}\n…and {left} more", limit)
        text = candidate
    return text


async def _status(command: Status, channel_id: str, deps: CommandDeps) -> Reply:
    subs = await deps.store.subscriptions(channel_id=channel_id)
    if not subs:
        return Reply(EMPTY_HINT)
    project_ids = list(dict.fromkeys(sub.project_id for sub in subs))
    if command.project_id is not None:
        if command.project_id not in project_ids:
            pid = command.project_id
            return Reply(f"This channel does not watch project {pid} — `/eon watch {pid}`")
        project_ids = [command.project_id]
    summaries, not_polled = [], []
    for project_id in project_ids:
        snapshot = await deps.store.snapshot(project_id)
        if snapshot is None or snapshot.summary is None:
            not_polled.append(project_id)
        else:
            summaries.append(snapshot.summary)
    message = render_status(summaries, not_polled=not_polled)
    return Reply(message.text, message.blocks)


async def _watch(command: Watch, channel_id: str, user_id: str, deps: CommandDeps) -> Reply:
    pid = command.project_id
    refusal = _refusal(deps, user_id)
    if refusal:
        return Reply(refusal)
    if deps.settings.api_key_for(pid) is None:
        return Reply(
            f"⚠ eon-bot has no Edge Impulse API key for project {pid}: set EI_API_KEY_{pid} "
            "(or the default EI_API_KEY) where the bot runs, then try again."
        )
    if not await deps.store.subscribe(channel_id, pid, added_by=user_id, mode=command.mode):
        existing = await deps.store.subscriptions(channel_id=channel_id, project_id=pid)
        if existing and existing[0].paused_reason is not None:
            # Whoever types here can see the channel works again: deliver what waited.
            await deps.store.resume_channel(channel_id)

            async def poll_now(_: Respond) -> None:
                await deps.start_watching(pid)

            return Reply(
                f"▶ Delivery here resumes (it was paused: "
                f"{escape(existing[0].paused_reason)}); what waited follows, in order.",
                follow_up=poll_now,
            )
        state = subscription_line(existing[0]).removeprefix("• ") if existing else f"project {pid}"
        return Reply(
            f"This channel already watches {state}. To change the mode: "
            f"`/eon unwatch {pid}`, then `/eon watch {pid} {command.mode}`."
        )

    async def start_and_check(respond: Respond) -> None:
        await deps.start_watching(pid)
        error = await deps.check_project(pid)
        if error is None:
            return
        await deps.store.unsubscribe(channel_id, pid)
        await deps.stop_watching(pid)
        await respond(
            text=f"⚠ Stopped watching project {pid}: {escape(one_line(error, 300))}",
            response_type="ephemeral",
            replace_original=False,
        )

    return Reply(
        f"👀 Watching project {pid} here ({_mode_words(command.mode)}). "
        "Checking it with Edge Impulse now; the run card follows once a run is found.",
        follow_up=start_and_check,
    )


async def _unwatch(command: Unwatch, channel_id: str, user_id: str, deps: CommandDeps) -> Reply:
    pid = command.project_id
    refusal = _refusal(deps, user_id)
    if refusal:
        return Reply(refusal)
    if not await deps.store.unsubscribe(channel_id, pid):
        return Reply(f"This channel does not watch project {pid}; `/eon list` shows what it does.")

    async def stop(respond: Respond) -> None:
        await deps.stop_watching(pid)

    return Reply(f"🔕 Stopped watching project {pid} here.", follow_up=stop)


async def _list(channel_id: str, deps: CommandDeps) -> Reply:
    subs = await deps.store.subscriptions(channel_id=channel_id)
    if not subs:
        return Reply(EMPTY_HINT)
    lines = [subscription_line(sub) for sub in subs]  # the store orders them by project id
    return Reply(_lines_within("*Watched in this channel:*", lines, LIMITS.fallback_text))


async def answer(
    command: Command | UsageError, *, channel_id: str, user_id: str, deps: CommandDeps
) -> Reply:
    """The acknowledgement of one command, from the store alone (fast enough for ack)."""
    match command:
        case UsageError(message):
            return Reply(f"⚠ {message}")
        case Help():
            return Reply(HELP_TEXT)
        case Status():
            return await _status(command, channel_id, deps)
        case Watch():
            return await _watch(command, channel_id, user_id, deps)
        case Unwatch():
            return await _unwatch(command, channel_id, user_id, deps)
        case List():
            return await _list(channel_id, deps)


# --- bolt -------------------------------------------------------------------------------------


def register(app: AsyncApp, deps: CommandDeps) -> None:
    """Listen to `/eon`, and acknowledge clicks on "Open in Studio" (a link button still sends
    Slack an interaction, which would show the user an error if left unanswered)."""
    pending: set[asyncio.Task[None]] = set()  # strong references until the tasks end

    async def follow(follow_up: FollowUp, respond: Respond, text: str) -> None:
        try:
            await follow_up(respond)
        except Exception:
            log.exception("follow-up of /eon %s failed", one_line(text, 100))
            with contextlib.suppress(Exception):  # already logged; respond may be what failed
                await respond(
                    text=FOLLOW_UP_ERROR, response_type="ephemeral", replace_original=False
                )

    @app.command("/eon")
    async def on_eon(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        text = str(command.get("text") or "")
        try:
            reply = await answer(
                parse(text),
                channel_id=str(command.get("channel_id") or ""),
                user_id=str(command.get("user_id") or ""),
                deps=deps,
            )
        except Exception:
            log.exception("/eon %s failed", one_line(text, 100))
            reply = Reply(INTERNAL_ERROR)
        await ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
        if reply.follow_up is not None:
            task = asyncio.create_task(follow(reply.follow_up, respond, text))
            pending.add(task)
            task.add_done_callback(pending.discard)

    @app.action(STUDIO_ACTION_ID)
    async def on_studio_link(ack: AsyncAck) -> None:
        await ack()
