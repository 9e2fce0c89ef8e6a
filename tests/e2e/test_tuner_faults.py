"""Edge Impulse misbehaving under the real `eon-bot run` process (issue #4, point 2).

One simulated run, watched from its start, with three outages injected into the simulator
while its clock is held at a moment that owes the channel news (so that news must wait behind
the faults and still arrive, exactly once, when the service answers again):

1. a blip shorter than `OUTAGE_NOTICE_AFTER`: a 429 with `Retry-After` and a slow answer the
   client rides out inside one poll, then 502/dropped/500 pages, invalid and truncated JSON,
   `success: false` and a 404 — the channel hears nothing of it;
2. a long outage: every fault kind twice over, with the simulator's port closed in between
   (connections refused) — one `eon_api_unreachable`, then one `eon_api_recovered`;
3. the key revoked (401), for less time than a blip — one notice at once, naming the setting.

Not injected: an answer slower than the client's read timeout. That timeout is 20 s and not a
setting, so one such poll (three attempts) would take a minute; timeouts go through the same
`TunerUnavailable` path as dropped connections, which are injected.

Why outage notices are checked apart from `assert_notifications`: the harness owes the channel
only what the run itself produces, and counts anything else as "not owed" (outage notices are
top-level messages, which would also break its one-card-per-run check). So the run is checked
through a view without the `eon_api_*` messages, and those are checked here, phase by phase.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.simulator.server import Fault, SimController
from tests.e2e.harness import (
    CHANNEL,
    Owed,
    Stack,
    assert_notifications,
    e2e_stack,
    explain,
    identity_of,
    owed_notifications,
    step_with_news,
)

pytestmark = pytest.mark.e2e

NOTICE_AFTER_S = 4.0  # OUTAGE_NOTICE_AFTER: a blip, retries included, stays under it
TRIALS = 12  # a run with both jobs, a time limit and a retried failure, in ~50 steps
UNREACHABLE = "eon_api_unreachable"
RECOVERED = "eon_api_recovered"
API_KINDS = frozenset({UNREACHABLE, RECOVERED})
DRAIN_TIMEOUT_S = 30.0

HTML_500 = Fault.raw(
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>",
    status=500,
)
HTML_502 = Fault.raw(
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
    status=502,
)
INVALID_JSON = Fault.raw(b"{success: true, 'trials': [}", content_type="application/json")
UNSUCCESSFUL = Fault.unsuccessful("Simulated failure: tuner state unavailable")
RATE_LIMITED = Fault.error(429, "Too many requests", retry_after=1)
DROPPED = Fault.dropped()
NOT_FOUND = Fault.error(404, "Project not found")
KEY_REVOKED = Fault.error(401, "Invalid API key")
SLOW_OK = Fault.slow(0.5)  # within the client's timeout: a late answer, not a failure


def truncated_json(stack: Stack, t: float) -> Fault:
    """The real document of that moment, cut in half, as a connection reset mid-body leaves it."""
    body = stack.simulation.document_bytes(t)
    return Fault.raw(body[: len(body) // 2], content_type="application/json")


# --- counting what was injected and when it was served ----------------------------------------


@dataclass
class Tally:
    """Every fault injected, by kind: the figures the test prints."""

    faults: Counter[str] = field(default_factory=Counter)
    refused_attempts: int = 0

    def labelled(self, *items: tuple[str, Fault]) -> list[Fault]:
        self.faults.update(label for label, _ in items)
        return [fault for _, fault in items]


async def drain(controller: SimController, project_id: str) -> dict[int, float]:
    """Wait until the project's queued faults are all served; returns when (loop time) the
    queue first held each remaining count, so a test can time the gaps between answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_TIMEOUT_S
    seen: dict[int, float] = {}
    last: int | None = None
    while True:
        left = controller.pending_faults(project_id)
        # Two answers between looks: both counts get this look's time (never a missing key).
        for count in range(left, left + 1 if last is None else last):
            seen.setdefault(count, loop.time())
        last = left
        if left == 0:
            return seen
        if loop.time() > deadline:
            raise TimeoutError(f"{left} fault(s) still queued after {DRAIN_TIMEOUT_S:g}s")
        await asyncio.sleep(0.005)


async def polls_after(controller: SimController, project_id: str, count: int) -> None:
    """Until `count` more requests arrive: the bot's job never overlaps itself, so the second
    one after the queue drained means a successful poll has been stored."""
    target = controller.requests(project_id) + count
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while controller.requests(project_id) < target:
        if loop.time() > deadline:
            raise TimeoutError(f"the bot did not poll {count} more time(s) within 10s")
        await asyncio.sleep(0.005)


async def until(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    """Wait for a condition of the simulator or the logs (FakeSlack has its own `wait_for`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {within:g}s for {what}")
        await asyncio.sleep(0.005)


# --- reading the channel ----------------------------------------------------------------------


def kind_of(message: Message) -> str | None:
    return str(message.metadata.get("event_type")) if message.metadata else None


def api_notices(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if kind_of(m) in API_KINDS]


class RunOnly:
    """FakeSlack as `assert_notifications` reads it (`messages`, `top_level`, and the uploaded
    files behind charts), without the outage notices: they are not part of the run, and are
    checked on their own."""

    def __init__(self, fake: FakeSlack) -> None:
        self._fake = fake
        self.file = fake.file

    def messages(self, channel: str) -> list[Message]:
        return [m for m in self._fake.messages(channel) if kind_of(m) not in API_KINDS]

    def top_level(self, channel: str) -> list[Message]:
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def file(self, file_id: str) -> Any:
        """The charts' uploads, which `assert_notifications` reads too."""
        return self._fake.file(file_id)


def posted(fake: FakeSlack, owed: Sequence[Owed]) -> bool:
    """Each of `owed` is in the channel (cards in any state: runs still going)."""
    present = {identity_of(m) for m in fake.messages(CHANNEL)}
    return all(item.identity in present for item in owed)


async def news_arrived(stack: Stack, owed: Sequence[Owed], t: float) -> None:
    """What the held moment owed is in the channel: no event was lost to the outage."""
    due = [item for item in owed if item.at <= t]
    await stack.slack.wait_for(lambda fake: posted(fake, due), timeout=15.0)


def payload(message: Message) -> dict[str, Any]:
    return dict((message.metadata or {}).get("event_payload") or {})


def assert_pair(pair: Sequence[Message], project_id: str) -> None:
    """One unreachable, then one recovered, both top level, carrying the outage's metadata."""
    assert [kind_of(m) for m in pair] == [UNREACHABLE, RECOVERED], [m.text for m in pair]
    for message in pair:
        data = payload(message)
        assert data.get("project_id") == project_id, data
        assert isinstance(data.get("error"), str) and data["error"], data
        assert isinstance(data.get("event_key"), str) and data["event_key"], data
        assert message.thread_ts is None, "an outage is about the project, not one run"
        assert f"project {project_id}" in message.text, message.text
    assert payload(pair[0])["event_key"] != payload(pair[1])["event_key"]


# --- the test ---------------------------------------------------------------------------------


async def test_faults_cost_no_event_and_long_outages_are_told_once(tmp_path: Path) -> None:
    tally = Tally()
    async with e2e_stack(
        tmp_path,
        trials=TRIALS,
        outage_notice_after=NOTICE_AFTER_S,
        extra_env={"LOG_LEVEL": "DEBUG"},  # each refused attempt is a DEBUG line
    ) as stack:
        controller, project = stack.controller, stack.project_id
        simulation = stack.simulation
        owed = owed_notifications(simulation)
        times = [t for t in simulation.milestones() if t > 0]
        blip_at = step_with_news(times, owed, len(times) // 4)
        long_at = step_with_news(times, owed, len(times) // 2)
        auth_at = step_with_news(times, owed, 3 * len(times) // 4)
        assert blip_at < long_at < auth_at, "the run is too short to hold three outages apart"
        loop = asyncio.get_running_loop()
        figures: dict[str, float] = {}

        async def blip(t: float) -> None:
            faults = tally.labelled(
                ("429 Retry-After: 1", RATE_LIMITED),  # the client waits 1 s, then:
                ("slow answer (0.5 s, within timeout)", SLOW_OK),  # a success: no failure
                ("HTML 502", HTML_502),  # one poll, three attempts, all failing:
                ("dropped connection", DROPPED),
                ("HTML 500", HTML_500),
                ("invalid JSON", INVALID_JSON),  # then one failing poll each
                ("truncated JSON", truncated_json(stack, t)),
                ("success: false", UNSUCCESSFUL),
                ("404", NOT_FOUND),
            )
            controller.inject(project, *faults)
            controller.set_time(project, t)
            seen = await drain(controller, project)
            await polls_after(controller, project, 2)
            await news_arrived(stack, owed, t)
            # The client honoured Retry-After: the answer after the 429 came a second later.
            waited = seen[len(faults) - 2] - seen[len(faults) - 1]
            figures["retry_after_wait_s"] = waited
            assert waited >= 0.95, f"asked again {waited:.2f}s after a 429 with Retry-After: 1"
            # The bot's outage runs from the end of the first failing poll (the 500) to the
            # 404: it must be a blip, or the absence of a notice would prove nothing.
            span = seen[0] - seen[len(faults) - 5]
            figures["blip_failing_s"] = span
            assert span < NOTICE_AFTER_S / 2, f"the blip lasted {span:.2f}s: not a blip"
            await stack.grace(3)  # time for a wrong notice to reach the channel
            assert api_notices(stack.slack) == [], "a blip was reported as an outage"

        def one_of_each(t: float) -> list[Fault]:
            return tally.labelled(
                ("429 Retry-After: 1", RATE_LIMITED),  # one poll: 1 s, then 0.5 s backoff
                ("HTML 500", HTML_500),
                ("HTML 502", HTML_502),
                ("invalid JSON", INVALID_JSON),
                ("truncated JSON", truncated_json(stack, t)),
                ("success: false", UNSUCCESSFUL),
                ("404", NOT_FOUND),
                ("dropped connection", DROPPED),  # one poll, three attempts
                ("dropped connection", DROPPED),
                ("dropped connection", DROPPED),
            )

        async def long_outage(t: float) -> None:
            started = loop.time()
            # A trailing 404 keeps the outage going while the port closes (no success slips in).
            controller.inject(project, *one_of_each(t), *tally.labelled(("404", NOT_FOUND)))
            controller.set_time(project, t)
            await until(lambda: controller.pending_faults(project) <= 1, "the faults to be served")
            await stack.simulator.stop()  # connections refused from here
            log_mark = len(stack.bot.log_text())
            refused = re.compile(r"attempt \d+ of \d+ failed \(connection failed: ConnectError")

            def refused_so_far() -> int:
                return len(refused.findall(stack.bot.log_text()[log_mark:]))

            await until(lambda: refused_so_far() >= 4, "the bot to be refused 4 times")
            # Still the service: healthy, and /eon answers from the store in Slack's window.
            await stack.bot.wait_healthy(within=2.0)
            reply = await stack.command(f"status {project}")
            assert reply.status == 200 and reply.seconds < 3.0, reply
            tally.refused_attempts = refused_so_far()
            controller.inject(project, *one_of_each(t))  # served after the restart
            await stack.simulator.start()  # the same port, the same simulated projects
            await drain(controller, project)
            await polls_after(controller, project, 2)
            await news_arrived(stack, owed, t)
            await stack.slack.wait_for(lambda f: len(api_notices(f)) >= 2, timeout=10.0)
            figures["long_outage_s"] = loop.time() - started
            await stack.grace(3)  # time for a wrong second notice to show up
            assert_pair(api_notices(stack.slack), project)

        async def revoked_key(t: float) -> None:
            faults = tally.labelled(*[("401", KEY_REVOKED)] * 4)
            controller.inject(project, *faults)
            controller.set_time(project, t)
            seen = await drain(controller, project)
            await polls_after(controller, project, 2)
            await news_arrived(stack, owed, t)
            # Failing for less than a blip: only the key refusal can make this one due.
            span = seen[0] - seen[len(faults) - 1]
            figures["auth_failing_s"] = span
            assert span < NOTICE_AFTER_S / 2, f"the 401s lasted {span:.2f}s: not immediate"
            await stack.slack.wait_for(lambda f: len(api_notices(f)) >= 4, timeout=10.0)
            await stack.grace(3)  # time for a wrong fifth notice to show up
            notices = api_notices(stack.slack)
            assert len(notices) == 4, [m.text for m in notices]
            assert_pair(notices[2:], project)
            told = notices[2].text
            assert f"EI_API_KEY_{project}" in told and re.search(r"\bEI_API_KEY\b", told), told
            assert "401" in told, told

        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            for index, t in enumerate(times):
                if index == blip_at:
                    await blip(t)
                elif index == long_at:
                    await long_outage(t)
                elif index == auth_at:
                    await revoked_key(t)
                else:
                    await stack.advance(t)
            await stack.slack.wait_for(lambda f: posted(f, owed), timeout=20.0)
            await stack.grace()  # time for a late duplicate or false event to show up

            await stack.bot.wait_healthy(within=2.0)
            assert "Traceback" not in stack.bot.log_text()
            assert (await stack.bot.terminate()).returncode == 0
            assert_notifications(cast(FakeSlack, RunOnly(stack.slack)), CHANNEL, owed)
            notices = api_notices(stack.slack)
            assert [kind_of(m) for m in notices] == [UNREACHABLE, RECOVERED] * 2
            keys = [payload(m)["event_key"] for m in notices]
            assert len(set(keys)) == len(keys), keys

        served = sum(tally.faults.values())
        print(f"\nfaults injected and served: {served}")
        for label, count in sorted(tally.faults.items()):
            print(f"  {label}: {count}")
        print(f"  refused connection attempts (retried ones, from the bot's log): "
              f"{tally.refused_attempts}")  # fmt: skip
        print(f"  owed run notifications: {len(owed)}, each posted once")
        for message in notices:
            print(f"  {kind_of(message)}: {message.text}")
        for name, value in figures.items():
            print(f"  {name}: {value:.2f}")
