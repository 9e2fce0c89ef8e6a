"""The run card (the run's one top-level message, edited as the run moves) and `/eon status`,
built from a RunSummary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    DividerBlock,
)

from bot import fmt
from bot.core.events import Event
from bot.core.run_name import LABEL_CHARS, says_eon_tuner
from bot.core.status_text import STATE, TRAINING_LABEL, status_lines, training_words
from bot.core.summary import RunSummary
from bot.slack.render.actions import Stop, card_buttons
from bot.slack.render.bell import bell_button, bell_line
from bot.slack.render.blocks import (
    ERROR_CHARS,
    LIMITS,
    SEP,
    Message,
    build_message,
    context_block,
    escape,
    header_block,
    safe,
    section_block,
    studio_button,
)
from bot.slack.render.events import event_metadata, extend_text, render_event
from bot.slack.render.numbers import short_ids, trial_line

TOP_SHOWN: Final = 10
STATUS_SHOWN: Final = 15


def card_title(summary: RunSummary) -> str:
    """ "EON Tuner · my run · Keyword spotting (project 42)" ("… · project 42" while the
    project's name is unknown); "… · my run (extended search) · …" for a run that continues
    an earlier one, so its card never reads as a restart (plain text, escaped).
    A name that already says "EON Tuner" ("EON Tuner run 4") is not prefixed again."""
    run = safe(summary.display_name)
    prefix = "" if says_eon_tuner(run) else f"EON Tuner{SEP}"
    return f"{prefix}{run}{SEP}{safe(summary.project_label, LABEL_CHARS)}"


def continues_text(summary: RunSummary, earlier_card: str | None = None) -> str | None:
    """ "↪ Extends an earlier run's search · earlier card" (a link to that run's card in this
    channel, when there is one), for a run extending an earlier one; None otherwise. The
    earlier run's job id stays in the metadata and `/eon status` ("continues job …")."""
    if not summary.continuation_job_id:
        return None
    text = "↪ Extends an earlier run's search"
    if earlier_card and earlier_card.startswith("https://") and not set("<>| ") & set(earlier_card):
        text += f"{SEP}<{earlier_card}|earlier card>"
    return text


def state_text(summary: RunSummary, stop: Stop | None = None) -> str:
    """Where the run is, in a few words: what a glance at the card must tell. `stop`: who
    stopped it from Slack (the actions table), said once it ended."""
    if summary.finished and stop is not None:
        return stop.state()
    if summary.finished and summary.outcome == "failed":
        return f"💥 *Failed*: {safe(summary.job_error, ERROR_CHARS)}"
    if summary.ended_unseen:
        return "🏁 *Ended while eon-bot could not look*"
    if summary.finished:
        return "🏁 *Finished*"
    if summary.time_limit_exceeded:
        extend = extend_text(summary.can_extend_search)  # a sentence of its own, when known
        return f"⏱ *Time limit reached*.{extend}" if extend else "⏱ *Time limit reached*"
    if summary.running or summary.status == "running":
        return "🔄 *Running*"
    if summary.status:
        return f"⏳ *{safe(summary.status.capitalize(), 40)}*"
    return f"⏳ *{fmt.UNKNOWN}*"


def progress_text(summary: RunSummary) -> str:
    """ "`▓▓▓▓▓░░░░░ 52%` · 13 of 25 trials"."""
    planned = max(summary.planned_trials or 0, summary.counts.total)
    done = summary.counts.completed + summary.counts.failed + summary.counts.stopped
    trials = f"{done} of {fmt.plural(planned, 'trial')}" if planned else "no trials yet"
    return f"`{fmt.progress_bar(summary.progress)}`{SEP}{trials}"


def best_text(summary: RunSummary) -> str:
    best = summary.best
    return f"*Best so far:* {trial_line(best)}" if best else "*Best so far:* none yet"


def _fields(summary: RunSummary) -> list[str]:
    c, w = summary.counts, summary.workers
    target = SEP.join(
        part
        for part in (
            safe(summary.target_device) if summary.target_device else None,
            f"≤ {fmt.latency(summary.target_latency_ms)}" if summary.target_latency_ms else None,
            safe(summary.precision, 20),
        )
        if part
    )
    return [
        f"*Completed*\n{c.completed}",
        f"*Failed*\n{c.failed}",
        *([f"*Stopped*\n{c.stopped}"] if c.stopped else []),
        f"*Running*\n{c.running}",
        f"*Pending*\n{c.pending}",
        f"*Workers*\n{w.busy} busy{SEP}{w.ready} ready{SEP}{w.pending} starting",
        f"*{TRAINING_LABEL}*\n{training_words(summary)}",
        f"*Wall time*\n{fmt.duration(summary.elapsed_s)}",
        f"*Target*\n{target}",
    ]


def top_text(summary: RunSummary) -> tuple[str, int]:
    """The best trials as a numbered list that fits one section, and how many are left out.
    Trials with the same name get a short id to tell them apart."""
    lines: list[str] = []
    size = 0
    shown = summary.top[:TOP_SHOWN]
    ids = short_ids(shown)
    for rank, trial in enumerate(shown, start=1):
        line = f"{rank}. {trial_line(trial, compact=True, short_id=ids.get(trial.id))}"
        if size + len(line) + 1 > LIMITS.section_text:
            break
        lines.append(line)
        size += len(line) + 1
    total = max(summary.counts.completed, len(summary.top))
    return "\n".join(lines), total - len(lines)


def bell_buttons(summary: RunSummary) -> list[ButtonElement]:
    """ "🔔 Tell me when it ends" while the run runs (as "Stop the run" is shown)."""
    if summary.run_id is None or summary.finished or summary.running is not True:
        return []
    bell = bell_button(summary.project_id, summary.run_id)
    return [bell] if bell else []


def card_blocks(
    summary: RunSummary,
    earlier_card: str | None = None,
    stop: Stop | None = None,
    bells: Sequence[str] = (),
) -> list[Block | None]:
    """`bells`: who asked for the end by DM (user ids), named while the run runs."""
    top, more = top_text(summary)
    continues = continues_text(summary, earlier_card)
    asked = bell_line(bells) if not summary.finished else None
    return [
        header_block(card_title(summary)),
        context_block(continues) if continues else None,
        section_block(f"{state_text(summary, stop)}\n{progress_text(summary)}", _fields(summary)),
        section_block(best_text(summary)),
        DividerBlock() if top else None,
        section_block(f"*Top trials*\n{top}") if top else None,
        context_block(f"…and {more} more completed {'trial' if more == 1 else 'trials'}")
        if more > 0 and top
        else None,
        studio_button(summary.studio_url, *card_buttons(summary), *bell_buttons(summary)),
        context_block(asked) if asked else None,
    ]


def card_text(
    summary: RunSummary, earlier_card: str | None = None, stop: Stop | None = None
) -> str:
    """The card's fallback: title, what it continues, state, progress and best, a line each."""
    lines = (
        card_title(summary),
        continues_text(summary, earlier_card),
        state_text(summary, stop),
        progress_text(summary),
        best_text(summary),
    )
    return "\n".join(line for line in lines if line)


def render_card(
    summary: RunSummary,
    earlier_card: str | None = None,
    stop: Stop | None = None,
    bells: Sequence[str] = (),
) -> Message:
    """The run card: one top-level message per run, edited in place as the run moves. It
    carries no metadata: the notification that first posts it carries the event's own.
    `earlier_card`: the permalink of the card of the run this one continues, if any; `stop`:
    who stopped the run from Slack, if anyone; `bells`: who asked for its end by DM."""
    return build_message(
        card_text(summary, earlier_card, stop), card_blocks(summary, earlier_card, stop, bells)
    )


def render_run_started_card(
    event: Event,
    summary: RunSummary | None,
    earlier_card: str | None = None,
    stop: Stop | None = None,
    bells: Sequence[str] = (),
) -> Message:
    """The `eon_run_started` notification is the card itself, with that event's metadata;
    without a summary it falls back to the plain event message."""
    if summary is None:
        return render_event(event)
    card = render_card(summary, earlier_card, stop, bells)
    return Message(text=card.text, blocks=card.blocks, metadata=event_metadata(event))


def status_text(summary: RunSummary, stop: Stop | None = None) -> str:
    """One project's `/eon status` section: the lines `eon-bot status` prints in a terminal,
    escaped, title in bold; the Studio link becomes the button below it. `stop`: who stopped
    the run from Slack, which its state then says, as its card does."""
    lines = [escape(line) for line in status_lines(summary) if not line.startswith("Studio: ")]
    if stop is not None and summary.finished:
        lines = [f"{STATE}{stop.words()}" if x.startswith(STATE) else x for x in lines]
    return "\n".join([f"*{lines[0]}*", *lines[1:]] if lines else [])


def render_status(
    summaries: Sequence[RunSummary],
    *,
    not_polled: Sequence[str] = (),
    stops: Mapping[str, Stop] | None = None,
) -> Message:
    """The `/eon status` answer: one section per project (at most `STATUS_SHOWN`), and the
    projects watched but not polled yet (`not_polled`, project ids) in one line. `stops`: by
    project id, who stopped its run from Slack."""
    stops = stops or {}
    shown = list(summaries[:STATUS_SHOWN])
    blocks: list[Block | None] = []
    texts: list[str] = []
    for summary in shown:
        if blocks:
            blocks.append(DividerBlock())
        text = status_text(summary, stops.get(summary.project_id))
        blocks.append(section_block(text))
        blocks.append(studio_button(summary.studio_url))
        texts.append(text)
    notes: list[str] = []
    if len(summaries) > len(shown):
        notes.append(f"…and {len(summaries) - len(shown)} more projects")
    if not_polled:
        ids = ", ".join(safe(pid, 20) for pid in not_polled[:20])
        more = f" and {len(not_polled) - 20} more" if len(not_polled) > 20 else ""
        notes.append(f"Not polled yet: project {ids}{more}")
    if notes:
        blocks.append(context_block(*notes))
        texts.extend(notes)
    if not texts:
        texts.append("No EON Tuner run to show yet.")
        blocks.append(section_block(texts[0]))
    return build_message("\n\n".join(texts), blocks)
