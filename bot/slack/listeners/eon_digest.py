"""`/eon digest [HH:MM|off|now]`: a channel's daily digest, set, stopped, shown or posted at once,
from the store alone (the ack's 3 s). Setting or stopping it changes what the channel is told,
so it takes who may change what a channel watches (`refusal`); `now` and showing it do not.

`now` posts the digest in the channel (with its metadata, like the daily one), not only to the
asker: it is the message the channel would get, asked for early, and the rest of the channel
reads the same figures."""

from __future__ import annotations

from typing import Final

from bot.core.digest import at_text, first_day_done
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import refusal
from bot.slack.listeners.eon_parse import Digest

WATCH_FIRST: Final = "This channel watches no project: `/eon watch PROJECT_ID` first."
OFF: Final = "No daily digest here any more."
NOT_HERE: Final = "⚠ This eon-bot does not post digests (it was started without that part)."


async def answer(command: Digest, *, channel_id: str, user_id: str, deps: Deps) -> str:
    """The acknowledgement of one `/eon digest` command."""
    zone = deps.settings.digest_tz
    if command.at is None:
        at = await deps.store.digest_at(deps.team, channel_id)
        if at is None:
            return "No daily digest here. `/eon digest 09:00` posts one every day at 09:00."
        return f"🗞 This channel's digest comes every day at {at_text(at)} ({zone})."
    if command.at == "now":
        return await _now(channel_id, deps)
    refused = refusal(deps, user_id, "change this channel's digest")
    if refused:
        return refused
    if command.at == "off":
        await deps.store.set_digest(deps.team, channel_id, None, user_id)
        return OFF
    if not await deps.store.subscriptions(deps.team, channel_id=channel_id):
        return WATCH_FIRST
    if deps.digests is None:
        return NOT_HERE
    done = first_day_done(command.at, deps.digests.local_now())
    await deps.store.set_digest(deps.team, channel_id, command.at, user_id, done)
    deps.wake_delivery()
    first = "tomorrow" if done else "today"
    return (
        f"🗞 Daily digest here at {at_text(command.at)} ({zone}), the first {first}: the last "
        "24 h of each project this channel watches (runs started and ended, the best trial "
        "of each, failures, stalls, actions taken)."
    )


async def _now(channel_id: str, deps: Deps) -> str:
    if deps.digests is None:
        return NOT_HERE
    queued = await deps.digests.now(deps.team, channel_id)
    if queued is None:
        return WATCH_FIRST
    if not queued:
        return "🗞 A digest was asked for this minute already: it is on its way."
    deps.wake_delivery()
    return "🗞 The digest of the last 24 h is on its way to this channel."
