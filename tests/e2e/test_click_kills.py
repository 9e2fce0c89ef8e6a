"""A confirmed click is never lost (issue #28, point 5): the real `eon-bot run` is killed
(SIGKILL) at a random moment 0-500 ms after it acknowledged a "Stop the run" click, restarted on
the same database, and each click still ends in exactly one request to Edge Impulse (the
simulator's cancel route) or a line in the run's thread saying the outcome is unknown; either
line names the clicker, so they hear of it.

One process set-up serves every kill: one project per kill is watched in one channel, each run
running (its card shows Stop), and the n-th kill follows a click on the n-th card. Edge Impulse
takes `EI_ANSWER_S` to answer a stop, so kills land before the request, while it is held, and
after its answer (before or after what it did is stored). The moments come from a seeded
`random.Random`, two of them at once after the ack (`AT_ONCE`); the seed is fresh on each run,
printed with the figures and every failure, and `EON_CLICK_SEED=N` replays the plan.
`EON_CLICK_KILLS` sets how many kills: `KILLS` by default, since each costs a restart of the
process (1-2 s on an idle 2-core machine, 5-8 s on a busy one), and 20 in `.ci/run`.

On PostgreSQL, a replica killed after the ack is told by another replica that is never
restarted (the takeover), before the claim would have expired.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from bot.sandbox.buttons import buttons_in
from bot.sandbox.fakeslack import FakeSlack, Message
from bot.slack.actions import CLAIM_S
from tests.e2e.harness import (
    CHANNEL,
    USER,
    BotProcess,
    Stack,
    bot_environment,
    explain,
    free_port,
)
from tests.e2e.test_run_buttons import STOP, book, started

pytestmark = pytest.mark.e2e

SEED_ENV: Final = "EON_CLICK_SEED"
KILLS_ENV: Final = "EON_CLICK_KILLS"
KILLS: Final = 8
KILL_WITHIN_S: Final = 0.5  # each kill lands this long after the ack, at most
# These kills land at once after the ack, where a claim written after it was lost (5 of 5 with
# the claim moved back after the ack): each in a restarted process, whose first click is its
# slowest (the first process has run its queries already).
AT_ONCE: Final = (1, 2)
EI_ANSWER_S: Final = 0.25  # Edge Impulse holds each stop this long before it answers
HANG_S: Final = 60.0  # a hang guard for each wait on a condition, never a speed limit


def stop_cards(fake: FakeSlack) -> dict[str, Message]:
    """Each project's card showing Stop, by project id (read from the button's value)."""
    cards: dict[str, Message] = {}
    for button in buttons_in(fake.top_level(CHANNEL)):
        if button.action_id == STOP:
            cards[str(json.loads(str(button.element["value"]))["p"])] = button.message
    return cards


def thread_lines(fake: FakeSlack, card: Message) -> list[Message]:
    """The audit lines (`eon_action_taken`) in one card's thread."""
    return [
        m
        for m in fake.messages(CHANNEL)
        if m.event_type == "eon_action_taken" and m.thread_ts == card.ts
    ]


def cancels_of(stack: Stack, project: str) -> int:
    return sum(f"/api/{project}/jobs/" in r.path for r in book(stack).requests_to("cancel"))


async def watch_all(stack: Stack, projects: list[str]) -> dict[str, Message]:
    for project in projects:
        run = stack.controller.simulation(project).runs[0]
        stack.controller.set_time(project, run.first_start + 30)  # the run is running
    for project in projects:
        reply = await stack.command(f"watch {project}")
        assert reply.status == 200 and "Watching project" in reply.text, reply.body
    return await stack.slack.wait_for(
        lambda f: (cards := stop_cards(f)) and set(cards) >= set(projects) and cards,
        timeout=HANG_S,
    )


async def test_a_click_acknowledged_then_killed_is_told_once(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))
    kills = int(os.environ.get(KILLS_ENV) or KILLS)
    rng = random.Random(seed)
    moments = [rng.uniform(0.0, KILL_WITHIN_S) for _ in range(kills)]
    for n in AT_ONCE:
        if n < kills:
            moments[n] = 0.0
    projects = [str(n) for n in range(1, kills + 1)]
    begun = time.monotonic()
    async with started(tmp_path) as (stack, clicker):
        book(stack).delay_s = EI_ANSWER_S
        plan = f"seed {seed} ({SEED_ENV}={seed} replays it): kills at " + ", ".join(
            f"{m * 1000:.0f}" for m in moments
        )
        with explain(stack.bot):
            await stack.bot.start()
            cards = await watch_all(stack, projects)
            reached: list[bool] = []  # whether the stop had reached Edge Impulse at the kill
            for project, moment in zip(projects, moments, strict=True):
                await clicker.press(cards[project], STOP, USER)  # 200 within Slack's 3 s
                await asyncio.sleep(moment)  # the kill's moment: what the test is about
                await stack.bot.kill()
                reached.append(cancels_of(stack, project) > 0)
                await stack.bot.start()
            try:
                await stack.slack.wait_for(
                    lambda f: all(thread_lines(f, cards[p]) for p in projects), timeout=HANG_S
                )
            except TimeoutError:
                silent = [p for p in projects if not thread_lines(stack.slack, cards[p])]
                raise AssertionError(f"no word in the thread of {silent}; {plan}") from None
            figures = outcomes(stack, cards, projects)
    seconds = time.monotonic() - begun
    line = (
        f"{kills} SIGKILLs 0-{KILL_WITHIN_S * 1000:.0f} ms after the ack: "
        f"{figures['one request']} ended in one Edge Impulse request, "
        f"{figures['unknown']} told as unknown ({figures['unknown, reached']} of them after "
        f"the request reached Edge Impulse), {figures['lost']} lost, "
        f"clicker answered {figures['answered']}/{kills}; "
        f"{sum(reached)} kills after the request arrived; {seconds:.1f}s; {plan}"
    )
    print(line)
    record_property("click_kills", line)
    assert figures["lost"] == 0 and figures["answered"] == kills, line


def outcomes(stack: Stack, cards: dict[str, Message], projects: list[str]) -> Counter[str]:
    """Each click's end, checked: one thread line naming the clicker, and at most one request,
    one exactly when the line says it was done."""
    figures: Counter[str] = Counter()
    for project in projects:
        lines = thread_lines(stack.slack, cards[project])
        cancels = cancels_of(stack, project)
        assert len(lines) == 1 and cancels <= 1, (project, [m.text for m in lines], cancels)
        [line] = lines
        outcome = (line.metadata or {}).get("event_payload", {}).get("outcome")
        if outcome == "unknown":
            assert "does not know whether Edge Impulse did it" in line.text, line.text
            figures["unknown"] += 1
            figures["unknown, reached"] += cancels
        elif cancels == 1 and "stopped the run" in line.text:
            figures["one request"] += 1
        else:
            figures["lost"] += 1
        figures["answered"] += f"<@{USER}>" in line.text
    return figures


@pytest.mark.postgres
async def test_a_replica_killed_after_the_ack_is_told_by_another(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two replicas; the one a click reached dies (SIGKILL) while Edge Impulse holds the stop:
    the other, never restarted, finds the claim whose replica is gone and tells it as unknown,
    naming the clicker, before the claim would have expired."""
    async with started(tmp_path, database_url=postgres_url) as (stack, clicker):
        env = bot_environment(
            slack_api_url=stack.slack.api_url, ei_api_url=stack.simulator.url,
            database_url=postgres_url, extra={"ADMIN_USER_IDS": USER},
        )  # fmt: skip
        other = BotProcess(tmp_path, {**env, "PORT": str(free_port())}, name="replica")
        try:
            with explain(stack.bot, other):
                await stack.bot.start()
                await other.start()
                [card] = (await watch_all(stack, ["1"])).values()
                book(stack).delay_s = 5.0  # the request arrives; its answer reaches nobody
                await clicker.press(card, STOP, USER, bot=stack.bot)
                clicked = asyncio.get_running_loop().time()
                await stack.bot.kill()
                [line] = await stack.slack.wait_for(lambda f: thread_lines(f, card), timeout=HANG_S)
                took = asyncio.get_running_loop().time() - clicked
                assert took < CLAIM_S, f"told {took:.1f}s after the click: only when it expired"
                assert (line.metadata or {})["event_payload"]["outcome"] == "unknown"
                assert f"<@{USER}> asked to stop the run" in line.text
                assert cancels_of(stack, "1") <= 1
        finally:
            await other.close()
