"""End to end on the real `eon-bot run` process: the run's chart, the `best` mode and stall
notices, as a channel sees them in FakeSlack.

- The chart: killed (SIGKILL) just as Slack stores the chart's upload, before the bot hears
  back; the restarted process finds it in the thread and does not upload it again. Each
  run's card thread ends with exactly one chart, a real PNG of at least 800 × 500 pixels.
- `best`: a channel watching in `best` mode gets the new bests (by `harness.new_bests`,
  computed from the simulator's documents) and the milestones, and no other trial message.
- Stalls: with STALL_AFTER=1.5 s and the simulated clock held mid-run, one
  `eon_run_stalled` (in the card's thread, also sent to the channel), none more after a
  restart, and one `eon_run_resumed` once the run moves.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bot.sandbox.fakeslack import FakeSlack, Message

from .harness import (
    CHANNEL,
    JOB_FINISHED,
    RUN_CHART,
    RUN_STARTED,
    TIME_LIMIT,
    TRIAL_COMPLETED,
    BotProcess,
    assert_ack,
    assert_notifications,
    delivered_all,
    e2e_stack,
    explain,
    identity_of,
    new_bests,
    owed_notifications,
)

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_S = 30.0


class KillAtChart:
    """FakeSlack's `on_message` hook: SIGKILLs the bot as the first chart is shared (Slack
    has it; the bot's row is still `attempting`)."""

    def __init__(self) -> None:
        self.bot: BotProcess | None = None
        self.fired = False

    def __call__(self, message: Message, action: str) -> None:
        if action == "post" and message.files and not self.fired and self.bot is not None:
            self.fired = True
            self.bot.kill_now()


def charts(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.files]


async def test_the_chart_arrives_once_as_a_png_also_across_a_kill_mid_upload(
    tmp_path: Path,
) -> None:
    kill = KillAtChart()
    async with e2e_stack(tmp_path, trials=8, on_slack_message=kill) as stack:
        kill.bot = stack.bot
        owed = owed_notifications(stack.simulation)
        assert sum(item.event_type == RUN_CHART for item in owed) == len(stack.simulation.runs)
        times = [t for t in stack.simulation.milestones() if t > 0]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            step = 0
            for step, t in enumerate(times):  # noqa: B007 - where the kill landed is used below
                try:
                    await stack.advance(t, within=3.0)
                except TimeoutError:
                    if not kill.fired:
                        raise
                    break  # killed mid-step: nobody polls any more
            await stack.slack.wait_for(lambda fake: kill.fired, timeout=DELIVERY_TIMEOUT_S)
            await stack.bot.reap()
            await stack.bot.start()  # the same database, the chart's row still `attempting`
            for t in times[step:]:
                await stack.advance(t)
            await stack.slack.wait_for(
                lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
            )
            stopped = await stack.bot.terminate()
            assert stopped.returncode == 0
            assert_notifications(stack.slack, CHANNEL, owed)  # one chart per card thread
            uploads = stack.slack.calls_to("files.completeUploadExternal")
            assert len(uploads) == len(stack.simulation.runs), "a chart was uploaded twice"
            assert "found the chart" in stack.bot.log_text()
            for message in charts(stack.slack):
                (shared,) = message.files
                data = stack.slack.file(str(shared["id"])).data
                assert data is not None
                with Image.open(io.BytesIO(data)) as image:
                    assert image.format == "PNG" and image.size == (1000, 600)


async def test_best_mode_posts_only_new_bests_and_the_milestones(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path) as stack:
        simulation = stack.simulation
        bests = new_bests(simulation)
        owed = [
            item
            for item in owed_notifications(simulation)
            if item.event_type != TRIAL_COMPLETED or (item.tuner_job_id, item.trial_id) in bests
        ]
        owed = [item for item in owed if item.event_type != "eon_trial_failed"]
        assert bests and any(item.event_type == TIME_LIMIT for item in owed)
        times = [t for t in simulation.milestones() if t > 0]
        with explain(stack.bot):
            await stack.bot.start()
            reply = await stack.command(f"watch {stack.project_id} best")
            assert_ack(reply, f"Watching project {stack.project_id}", "new bests only")
            await stack.slack.wait_for(lambda fake: fake.top_level(CHANNEL), timeout=15.0)
            assert_ack(await stack.command("list"), "new bests only")
            for t in times:
                await stack.advance(t)
            await stack.slack.wait_for(
                lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
            )
            await stack.bot.terminate()
            assert_notifications(stack.slack, CHANNEL, owed)  # nothing else was posted
            kinds = Counter(identity_of(m)[0] for m in stack.slack.messages(CHANNEL))
            assert kinds[TRIAL_COMPLETED] == len(bests) < 22  # far fewer than every trial
            assert kinds[RUN_STARTED] == kinds[JOB_FINISHED] == len(simulation.runs)


async def test_one_stall_notice_once_across_a_restart_then_one_resume(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, extra_env={"STALL_AFTER": "1.5"}) as stack:
        simulation = stack.simulation
        times = [t for t in simulation.milestones() if t > 0]
        hold = times[len(times) // 3]  # a moment while the first job runs
        assert simulation.document(hold)["tunerJobIsRunning"] is True

        def of(kind: str) -> list[Message]:
            return [m for m in stack.slack.messages(CHANNEL) if m.event_type == kind]

        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            for t in times[: times.index(hold) + 1]:
                await stack.advance(t)
            assert not of("eon_run_stalled"), "stalled before STALL_AFTER had passed"
            await stack.slack.wait_for(lambda fake: of("eon_run_stalled"), timeout=15.0)
            (stalled,) = of("eon_run_stalled")
            card = stack.slack.top_level(CHANNEL)[0]
            assert stalled.thread_ts == card.ts and stalled.reply_broadcast
            assert stalled.metadata is not None
            assert stalled.metadata["event_payload"]["idle_s"] >= 1.5
            assert "no progress" in stalled.text

            await stack.bot.terminate()  # a restart while the run is still held
            await stack.bot.start()
            await stack.advance(hold, polls=30)  # 3 s of polls: twice STALL_AFTER
            assert len(of("eon_run_stalled")) == 1, "told again after the restart"
            assert not of("eon_run_resumed")

            await stack.advance(times[times.index(hold) + 1])
            await stack.slack.wait_for(lambda fake: of("eon_run_resumed"), timeout=15.0)
            (resumed,) = of("eon_run_resumed")
            assert resumed.thread_ts == card.ts and "moves again" in resumed.text
            await stack.advance(times[times.index(hold) + 2], polls=10)
            assert len(of("eon_run_resumed")) == len(of("eon_run_stalled")) == 1
            await stack.bot.terminate()
