"""`/eon chart` and `/eon top`: a watched run's picture and its best trials, from the stored
snapshot alone (never Edge Impulse), so the acknowledgement comes well within Slack's 3 s.

Without a PROJECT_ID both mean the channel's project when it watches exactly one. A number
after `top` is a project id, as after every command; the count comes second
(`/eon top PROJECT_ID N`), and a lone number that is no project of the channel's gets that
said, with the command it may have meant. `/eon top`
answers only the person who asked (ephemeral, like every reply); `/eon chart` queues the
chart for the channel, into the run card's thread, through the outbox like every
notification, so its upload gets the same exactly-once and failure handling.
"""

from __future__ import annotations

import uuid
from typing import Final

from slack_sdk.models.blocks import ActionsBlock, ContextBlock, MarkdownTextObject, SectionBlock

from bot import fmt
from bot.core.chart import ChartData, chart_data, chart_event
from bot.core.events import RunRef, Snapshot
from bot.core.run_name import project_label
from bot.core.summary import TrialSummary
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_parse import TOP_MAX, Chart, Top
from bot.slack.render import LIMITS, Message, clip, escape
from bot.slack.render.actions import action_button

# The name column is as wide as the longest name, up to NAME_WIDTH: with the other columns a
# row stays within about 100 characters, what Slack's desktop shows of a code block unwrapped.
NAME_WIDTH: Final = 40
ID_WIDTH: Final = 8
FITS_LEGEND: Final = "fits: yes · no (over a target) · ? (a figure is unknown)"


class Refusal(str):
    """Why a command has nothing to show (one line for the reply)."""


async def _project(asked: str | None, channel_id: str, deps: Deps, usage: str) -> str | Refusal:
    """The project the command is about, or the reply that says why there is none."""
    watched = list(
        dict.fromkeys(
            s.project_id for s in await deps.store.subscriptions(deps.team, channel_id=channel_id)
        )
    )
    if asked is not None:
        if asked in watched:
            return asked
        refusal = f"This channel does not watch project {asked} — `/eon watch {asked}`"
        if usage.startswith("/eon top") and len(watched) == 1:
            count = asked if int(asked) <= TOP_MAX else "N"
            refusal += (
                f". A number after `top` is a project id; for the {count} best trials of "
                f"project {watched[0]}: `/eon top {watched[0]} {count}`"
            )
        return Refusal(refusal)
    if len(watched) == 1:
        return watched[0]
    if not watched:
        return Refusal("This channel watches nothing — `/eon watch PROJECT_ID`")
    return Refusal(f"This channel watches {len(watched)} projects: name one — `{usage}`")


async def _run_of(project_id: str, deps: Deps) -> tuple[Snapshot, ChartData] | Refusal:
    snapshot = await deps.store.snapshot(project_id)
    if snapshot is None or snapshot.summary is None or snapshot.run_id is None:
        return Refusal(f"Project {project_id} has no EON Tuner run to show yet.")
    data = chart_data(snapshot)
    if not data.trials:
        return Refusal(f"No trial of project {project_id}'s run has ended yet: nothing to show.")
    return snapshot, data


async def _watched_run(
    asked: str | None, channel_id: str, deps: Deps, usage: str
) -> tuple[str, Snapshot, ChartData] | Refusal:
    """The project meant (`_project`) and its run's figures (`_run_of`), or why there are none."""
    project = await _project(asked, channel_id, deps, usage)
    if isinstance(project, Refusal):
        return project
    found = await _run_of(project, deps)
    if isinstance(found, Refusal):
        return found
    return (project, *found)


async def chart(command: Chart, channel_id: str, deps: Deps) -> str:
    found = await _watched_run(command.project_id, channel_id, deps, "/eon chart PROJECT_ID")
    if isinstance(found, Refusal):
        return found
    project, snapshot, data = found
    asked = chart_event(RunRef.of(snapshot), data, "asked", uuid.uuid4().hex, on_demand=True)
    await deps.store.queue(deps.team, channel_id, asked)
    deps.wake_delivery()
    completed = fmt.plural(len(data.completed), "completed trial")
    return (
        f"📈 Drawing the run of {escape(project_label(project, data.project_name))} "
        f"({completed}); the chart follows in its thread here."
    )


async def top(command: Top, channel_id: str, deps: Deps) -> Message | str:
    found = await _watched_run(command.project_id, channel_id, deps, "/eon top PROJECT_ID [N]")
    if isinstance(found, Refusal):
        return found
    project, snapshot, data = found
    name = snapshot.summary.display_name if snapshot.summary else None
    return render_top(project, name, data, command.count, run_id=snapshot.run_id)


def _fits(trial: TrialSummary) -> str:
    if trial.over_latency or trial.over_ram or trial.over_rom:
        return "no"
    return "yes" if trial.fits else "?"


def table(trials: list[TrialSummary]) -> str:
    """The trials as a fixed-width table (a code block: Slack shows it monospaced)."""
    names = [fmt.one_line(trial.name, NAME_WIDTH) for trial in trials]
    width = max([len("name"), *map(len, names)])
    head = (
        f"{'#':>2}  {'name':<{width}}  {'id':<{ID_WIDTH}}  {'acc':>6}  {'latency':>8}  "
        f"{'RAM':>9}  {'ROM':>9}  fits"
    )
    rows = [head]
    for rank, (trial, name) in enumerate(zip(trials, names, strict=True), start=1):
        short = fmt.one_line(trial.id, ID_WIDTH + 1)[:ID_WIDTH]
        rows.append(
            f"{rank:>2}  {name:<{width}}  {short:<{ID_WIDTH}}  "
            f"{fmt.percent(trial.quality):>6}  {fmt.latency(trial.latency_ms):>8}  "
            f"{fmt.size(trial.ram_bytes):>9}  {fmt.size(trial.rom_bytes):>9}  {_fits(trial)}"
        )
    return "\n".join(rows)


def render_top(
    project_id: str,
    run_name: str | None,
    data: ChartData,
    count: int,
    *,
    run_id: str | None = None,
) -> Message:
    """`/eon top`: the `count` best completed trials of the run, best first, as a table, and
    (knowing the run) a "Use" button per row, numbered as the table is."""
    trials = data.top(count)
    run = f" · {escape(fmt.one_line(run_name, 60))}" if run_name else ""
    title = (
        f"*Top {len(trials)} of {len(data.completed)} completed trials* · "
        f"{escape(project_label(project_id, data.project_name))}{run}"
    )
    body = clip(escape(table(trials)), LIMITS.section_text - 8)
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=clip(title, LIMITS.section_text))),
        SectionBlock(text=MarkdownTextObject(text=f"```{body}```", verbatim=True)),
        ContextBlock(elements=[MarkdownTextObject(text=FITS_LEGEND)]),
    ]
    uses = [
        action_button("use", project_id, run_id, trial.id, trial.name, label=f"Use #{rank} {name}")
        for rank, trial in enumerate(trials, start=1)
        if run_id is not None and (name := fmt.one_line(trial.name, 40))
    ]
    if any(uses):
        blocks.append(ActionsBlock(elements=[use for use in uses if use is not None]))
    text = f"{title}\n{body}"
    return Message(text=clip(text, LIMITS.fallback_text), blocks=[b.to_dict() for b in blocks])
