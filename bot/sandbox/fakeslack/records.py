"""What the fake records, as tests read it: messages (with their earlier versions), calls, and
`response_url` posts; and the ids of the workspace it plays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.sandbox.fakeslack.blockkit import blocks_to_lines, unslack
from bot.sandbox.fakeslack.wire import JSONDict

ChannelState = Literal["ok", "archived", "not_in_channel", "missing"]

TEAM_ID = "T0EONTEST"
BOT_USER_ID = "U0EONBOT"
BOT_ID = "B0EONBOT"
APP_ID = "A0EONBOT"
HUMAN_USER_ID = "U0HUMAN"
"""The author of messages seeded with `add_message`: someone whose messages the bot can't edit."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message as the fake holds it; earlier versions stay in `edits` so tests see updates.

    `thread_ts` is set on replies only (a parent's own `thread_ts` appears in the API answers once
    it has replies, not here), so `thread_ts is None` means "top level".
    """

    channel: str
    ts: str
    text: str = ""
    blocks: list[JSONDict] = field(default_factory=list)
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: JSONDict | None = None
    user: str = BOT_USER_ID
    edits: tuple[Message, ...] = ()
    edited_ts: str | None = None
    files: tuple[JSONDict, ...] = ()
    """Files shared with the message (`files.completeUploadExternal`), as Slack describes them."""
    visible_to: str | None = None
    """The one user an ephemeral message is shown to; `None` for ordinary messages."""

    @property
    def edit_count(self) -> int:
        return len(self.edits)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None

    @property
    def event_type(self) -> str | None:
        """The metadata `event_type`, the usual way a test picks out "the trial-failed reply"."""
        return None if self.metadata is None else str(self.metadata.get("event_type"))

    @property
    def plain_text(self) -> str:
        """What a person reads: the blocks rendered to text, else the fallback `text`."""
        lines = blocks_to_lines(self.blocks) if self.blocks else [unslack(self.text)]
        lines += [f"[file: {f.get('title') or f.get('name')}]" for f in self.files]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake answered (or refused, or dropped), for assertions on traffic."""

    method: str
    args: JSONDict
    """The arguments after decoding: `blocks`/`metadata` sent as JSON strings are objects here."""
    time: float
    status: int
    """HTTP status sent; 0 when the connection was dropped without an answer."""
    error: str | None
    encoding: str
    """How the arguments arrived: "json", "form" or "query" (`slack_sdk` uses all three), or
    "unreadable" for a body that could not be parsed (answered `invalid_json`)."""
    team: str | None = None
    """The workspace whose install issued the token the call was made with (`oauth`); None
    for the fake's own token (`FakeSlack(token=…)`) or none."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(frozen=True, slots=True)
class ResponsePost:
    """One accepted post to a `response_url` (a slash command's delayed answer)."""

    text: str
    blocks: list[JSONDict]
    response_type: str | None
    replace_original: bool
    delete_original: bool
    time: float
