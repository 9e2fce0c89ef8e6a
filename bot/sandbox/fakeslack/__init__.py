"""A local HTTP server that answers like Slack's Web API, for `eon-bot demo` and the tests
(what it does and why: `server`'s docstring).

    server    FakeSlack: the routes, token checks, `response_url`
    state     what it holds and how tests read it (messages, calls, wait_for)
    methods   the Web API methods, each as Slack answers it
    faults    fail_next, channel states, revoked tokens, the rate limit
    blockkit  Block Kit checks (Slack's limits and wording), and blocks read back as lines
    files     files_upload_v2's flow: upload URL, the bytes, sharing into a thread
    views     views.open (trigger ids), views.publish (Home tabs), users.info; a modal's submission
    records   Message, Call, ResponsePost; the workspace's ids
    wire      arguments in, JSON answers and Slack errors out
"""

from bot.sandbox.fakeslack.blockkit import blocks_to_lines
from bot.sandbox.fakeslack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    HUMAN_USER_ID,
    TEAM_ID,
    Call,
    ChannelState,
    Message,
    ResponsePost,
)
from bot.sandbox.fakeslack.server import FakeSlack

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "HUMAN_USER_ID",
    "TEAM_ID",
    "Call",
    "ChannelState",
    "FakeSlack",
    "Message",
    "ResponsePost",
    "blocks_to_lines",
]
