"""One message per event (a trial completed or failed, the time limit, the end, outages,
stalls): a line of text with its metadata, threaded under the run's card."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
)

from bot import fmt
from bot.core.events import Event, EventKind
from bot.core.run_name import LABEL_CHARS, project_label
from bot.core.summary import studio_page
from bot.slack.render.actions import action_line, event_buttons, offers, stopped_words
from bot.slack.render.blocks import (
    ERROR_CHARS,
    SEP,
    Message,
    build_message,
    context_block,
    safe,
    section_block,
    studio_button,
)
from bot.slack.render.digest import render_digest
from bot.slack.render.numbers import (
    NEW_BEST,
    flags_text,
    numbers_line,
    payload_count,
    payload_number,
    payload_text,
    trials_text,
)

RULE_CHARS = 400  # an alert's rule: at most 8 short conditions (`core.rules`)


def event_metadata(event: Event) -> dict[str, Any]:
    """`event.metadata()` plus the event key, which crash recovery looks messages up by."""
    metadata = event.metadata()
    metadata["event_payload"] = {**metadata["event_payload"], "event_key": event.key}
    return metadata


def _where(event: Event) -> str:
    parts = [safe(project_label(event.project_id, event.project_name), LABEL_CHARS)]
    if event.run_name is not None:
        parts.append(safe(event.run_name))
    elif event.run_id is not None:  # a row queued before events carried the run's name
        parts.append(f"run {safe(event.run_id)}")
    if event.trial_id is not None:
        parts.append(f"trial {safe(event.trial_id)}")
    return SEP.join(parts)


def _event_line(event: Event) -> str:
    """The one mrkdwn line that says what happened; the fallback text is the same line."""
    p = event.payload
    project = safe(project_label(event.project_id, event.project_name), LABEL_CHARS)
    name = safe(payload_text(p, "trial_name") or payload_text(p, "trial_id") or event.trial_id)
    match event.kind:
        case EventKind.RUN_STARTED:
            return f"🚀 EON Tuner run found in {project} — {trials_text(p)}"
        case EventKind.TRIAL_COMPLETED:
            unchecked = p.get("unchecked")
            flags = flags_text(
                p.get("over_latency") is True,
                p.get("over_ram") is True,
                p.get("over_rom") is True,
                [str(x) for x in unchecked] if isinstance(unchecked, list) else (),
            )
            retries = payload_count(p, "retries")
            after = f" after {fmt.plural(retries, 'retry', 'retries')}" if retries else ""
            best = f"{SEP}{NEW_BEST}" if p.get("is_best") is True else ""
            line = f"✅ *{name}* completed{after}{best} — {numbers_line(p)}"
            return f"{line}{SEP}{flags}" if flags else line
        case EventKind.TRIAL_FAILED:
            if p.get("retried") is True:  # retried before the poll saw it failed
                return f"{_failed_line(event)} → retried"
            maybe = " — a retry may follow" if p.get("retry_may_follow") is True else ""
            return f"{_failed_line(event)}{maybe}"
        case EventKind.TIME_LIMIT_EXCEEDED:
            extend = extend_text(p.get("can_extend_search"), button=offers(event, "extend"))
            extend = " The search was extended." if p.get("extended") is True else extend
            return f"⏱ The EON Tuner run in {project} reached its time limit.{extend}"
        case EventKind.JOB_FINISHED:
            return _finished_line(event)
        case EventKind.API_UNREACHABLE:
            error = safe((payload_text(p, "error") or "").rstrip(". "), ERROR_CHARS)
            if p.get("no_key") is True:  # nothing was sent: a key to add, not one refused
                return (
                    f"🔑 eon-bot has no usable Edge Impulse key for {project}: {error}. "
                    "Checking again; a message follows when it works."
                )
            if p.get("refused") is True:  # waiting will not fix it: say what to fix
                return (
                    f"🔑 Edge Impulse refused the API key for {project}: {error}. "
                    "Checking again; a message follows when it is accepted."
                )
            return (
                f"🔌 Edge Impulse has not answered for {project}: {error}. "
                "Still trying; a message follows when it is back."
            )
        case EventKind.API_RECOVERED:
            return f"🔌 Edge Impulse answers again for {project}; updates resume."
        case EventKind.RUN_STALLED:
            idle = fmt.duration(payload_number(p, "idle_s"))
            return (
                f"⏸ The EON Tuner run in {project} has shown no progress for {idle}: no trial "
                "changed status or epoch. It may be stuck; a message follows when it moves."
            )
        case EventKind.RUN_RESUMED:
            idle = fmt.duration(payload_number(p, "idle_s"))
            return f"▶ The EON Tuner run in {project} moves again, after {idle} without progress."
        case EventKind.RUN_CHART:
            return chart_comment(event)
        case EventKind.ACTION_TAKEN | EventKind.ACTION_OUTCOME:
            return action_line(event)
        case EventKind.THRESHOLD_MET:
            rule = safe(payload_text(p, "rule") or "?", RULE_CHARS)
            return f"🎯 *{name}* meets this channel's alert `{rule}` — {numbers_line(p)}"
    return f"{safe(str(event.kind))} in {project}"  # pragma: no cover - a kind added later


def _failed_line(event: Event) -> str:
    p = event.payload
    name = safe(payload_text(p, "trial_name") or payload_text(p, "trial_id") or event.trial_id)
    retries = payload_count(p, "retries")
    after = f" (after {fmt.plural(retries, 'retry', 'retries')})" if retries else ""
    return f"❌ *{name}* failed{after}"


def render_retried_failure(failure: Event) -> Message:
    """A failure message edited once its trial completed on a retry, so the channel never shows
    a "failed" that the run later contradicts. Same metadata: it is still that failure's."""
    return render_event(failure, f"{_failed_line(failure)} → retried → ✅ completed")


def extend_text(can_extend: object, *, button: bool = False) -> str:
    """Whether the user can extend the search, said only when Edge Impulse told; where:
    with the message's own button when it shows one (`button`), else in Studio."""
    if can_extend is True:
        where = "with the button below" if button else "in Studio"
        return f" The search can be extended {where}."
    if can_extend is False:
        return " The search cannot be extended."
    return ""


def _finished_line(event: Event) -> str:
    p = event.payload
    project = safe(project_label(event.project_id, event.project_name), LABEL_CHARS)
    if p.get("ended_unseen") is True:  # no count it did not see (`core.diff.unseen_figures`)
        seen = f"{payload_count(p, 'trials_seen')} of {payload_count(p, 'trials_planned')}"
        unseen = "ended while eon-bot could not look"
        return f"🏁 The EON Tuner run in {project} {unseen}; {seen} trials seen"
    counts = trials_text(p)
    stopped = stopped_words(p)
    failed = p.get("outcome") == "failed"
    if failed and stopped is None:
        error = safe(payload_text(p, "job_error"), ERROR_CHARS)
        return f"💥 The EON Tuner run in {project} failed: {error} — {counts}"
    if stopped is None:
        line = f"🏁 The EON Tuner run in {project} finished — {counts}"
    else:  # stopped from Slack: an error Edge Impulse gives then is the stop's, said after it
        said = payload_text(p, "job_error") if failed else None
        error = f" (Edge Impulse says: {safe(said, ERROR_CHARS)})" if said else ""
        line = f"⏹ The EON Tuner run in {project} {stopped}{error} — {counts}"
    best_name = payload_text(p, "best_trial_name") or payload_text(p, "best_trial_id")
    if best_name is None:
        return line
    return f"{line}\nBest: *{safe(best_name)}* — {numbers_line(p, 'best_')}"


def chart_comment(event: Event) -> str:
    """The words posted with the run's chart (the upload's `initial_comment`)."""
    project = safe(project_label(event.project_id, event.project_name), LABEL_CHARS)
    when = "so far" if event.payload.get("on_demand") is True else "at its end"
    return f"📈 The EON Tuner run in {project} in one picture, {when}."


def render_event(event: Event, line: str | None = None) -> Message:
    """The notification of one event, with its metadata (`event_type`, `event_payload`);
    `line` replaces what it says (an edit of it)."""
    if event.kind is EventKind.DIGEST:
        return render_digest(event)
    line = line or _event_line(event)
    blocks: list[Block | None] = [
        section_block(line),
        context_block(_where(event)),
        # A run's page, else the project's EON Tuner page; none for what is not about a run.
        studio_button(
            studio_page(event.project_id, event.coordinator_job_id), *event_buttons(event)
        )
        if event.run_id is not None
        else None,
    ]
    return build_message(line, blocks, event_metadata(event))
