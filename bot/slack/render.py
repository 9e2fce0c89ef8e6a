"""Slack messages for events, the run card and `/eon status` (pure: values in, values out).

Every message is Block Kit plus a plain `text` fallback (notifications, screen readers and
search read `text`, so it says the same thing in one line or a few). Two rules hold for any
input, however large or hostile:

- Text from Edge Impulse (trial, run and project names, job errors, error messages) is
  untrusted. It passes through `escape()` so `<!channel>`, `<@U…>` or `<http://x|y>` in a trial
  name stay literal text, and through `fmt.one_line` so control and bidi characters cannot
  garble the line. mrkdwn objects are `verbatim`, so Slack does not auto-parse a bare
  "@here" or "#channel" inside them either.
- Slack's limits are never exceeded (`LIMITS`): Slack answers `invalid_blocks` to the whole
  message otherwise, and slack_sdk raises before sending. Untrusted pieces get their own budget
  first, so one huge name cannot push the numbers out; whole texts are clipped last, after
  escaping, without cutting an entity such as `&amp;` in half.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot import fmt
from bot.core.events import Event, EventKind
from bot.core.status_text import TRAINING_LABEL, says_eon_tuner, status_lines, training_words
from bot.core.summary import RunSummary, TrialSummary, studio_page


@dataclass(frozen=True, slots=True)
class Limits:
    """Slack's documented limits (Block Kit, chat.postMessage and chat.update)."""

    blocks: int = 50
    section_text: int = 3000
    fields: int = 10
    field_text: int = 2000
    context_elements: int = 10
    context_text: int = 2000
    header_text: int = 150
    button_text: int = 75
    button_url: int = 3000
    # chat.postMessage truncates `text` past 40,000 and chat.update refuses past 4,000; 3,000
    # keeps every message (the card is edited in place) well inside both.
    fallback_text: int = 3000


LIMITS: Final = Limits()

# Budgets of untrusted pieces inside a line, in characters of the original text.
NAME_CHARS: Final = 80
ERROR_CHARS: Final = 400
TOP_SHOWN: Final = 10
STATUS_SHOWN: Final = 15
SHORT_ID_MIN: Final = 6  # characters of a trial id shown beside a name other trials share
SHORT_ID_MAX: Final = 40
NEW_BEST: Final = "🏆 new best"
STUDIO_BUTTON: Final = "Open in Studio"
STUDIO_ACTION_ID: Final = "eon_open_studio"
ELLIPSIS: Final = "…"
SEP: Final = " · "


@dataclass(frozen=True, slots=True)
class Message:
    """What delivery sends: `blocks` are already plain dicts (`Block.to_dict()`), ready for
    chat.postMessage / chat.update / ack / respond; `metadata` is Slack message metadata."""

    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None


# --- text safety ------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Make text literal in Slack: `&`, `<`, `>` are the only characters Slack's parser needs
    escaped, and `<` is what starts mentions (`<!channel>`, `<@U123>`) and links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut. The cut never splits an entity
    (`&amp;`, `&lt;`, `&gt;`, at most 5 characters): an `&` among the last 4 kept characters
    with no `;` after it is the start of a cut entity, so the cut moves before it."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = limit - len(ELLIPSIS)
    amp = text.rfind("&", max(0, cut - 4), cut)
    if amp != -1 and text.find(";", amp, cut) == -1:
        cut = amp
    return text[:cut].rstrip() + ELLIPSIS


def safe(text: str | None, limit: int = NAME_CHARS) -> str:
    """Untrusted text as one escaped line of at most `limit` original characters."""
    if text is None or not text.strip():
        return fmt.UNKNOWN
    return escape(fmt.one_line(text, limit))


# --- numbers ----------------------------------------------------------------------------------


def _number(payload: Mapping[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(payload: Mapping[str, Any], key: str) -> int:
    value = _number(payload, key)
    return int(value) if value is not None and value > 0 else 0


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def numbers_line(numbers: Mapping[str, Any], prefix: str = "") -> str:
    """ "accuracy 91.3% · latency 12 ms · RAM 37.5 KB · ROM 120.0 KB", "—" where unknown;
    `numbers` keyed as `TrialSummary.numbers()` and the metadata (with `prefix`, e.g. "best_")."""
    score_name = _text(numbers, f"{prefix}score_name")
    return SEP.join(
        (
            fmt.quality(
                _number(numbers, f"{prefix}accuracy"),
                _number(numbers, f"{prefix}score"),
                safe(score_name, 20) if score_name else None,
            ),
            f"latency {fmt.latency(_number(numbers, f'{prefix}latency_ms'))}",
            f"RAM {fmt.size(_number(numbers, f'{prefix}ram_bytes'))}",
            f"ROM {fmt.size(_number(numbers, f'{prefix}rom_bytes'))}",
        )
    )


def flags_text(
    over_latency: bool, over_ram: bool, over_rom: bool, unchecked: Sequence[str] = ()
) -> str:
    """ "⚠ over latency target · ⚠ RAM unknown" for what is not known to fit; "" when all fits.
    A limit whose figure is unknown could not be checked, so it is flagged too."""
    flags = [
        label
        for label, on in (
            ("⚠ over latency target", over_latency),
            ("⚠ over RAM", over_ram),
            ("⚠ over ROM", over_rom),
        )
        if on
    ]
    flags += [f"⚠ {safe(name, 20)} unknown" for name in unchecked]
    return SEP.join(flags)


def compact_numbers(trial: TrialSummary) -> str:
    """ "91.3% · 12 ms · RAM 37.5 KB · ROM 120.0 KB": the list form, where columns repeat."""
    quality = fmt.percent(trial.accuracy)
    if trial.accuracy is None and trial.score is not None:
        quality = fmt.quality(None, trial.score, trial.score_name)
    return SEP.join(
        (
            quality,
            fmt.latency(trial.latency_ms),
            f"RAM {fmt.size(trial.ram_bytes)}",
            f"ROM {fmt.size(trial.rom_bytes)}",
        )
    )


def _trial_line(trial: TrialSummary, *, compact: bool = False, short_id: str | None = None) -> str:
    numbers = compact_numbers(trial) if compact else numbers_line(trial.numbers())
    tag = f" `{safe(short_id, SHORT_ID_MAX)}`" if short_id else ""
    line = f"*{safe(trial.name)}*{tag} — {numbers}"
    flags = flags_text(trial.over_latency, trial.over_ram, trial.over_rom, trial.unchecked)
    return f"{line}{SEP}{flags}" if flags else line


def _trials_of(counts: Mapping[str, Any]) -> str:
    return SEP.join(
        f"{_count(counts, f'{kind}_trials')} {kind}"
        for kind in ("completed", "failed", "running", "pending")
    )


# --- blocks -----------------------------------------------------------------------------------


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, LIMITS.header_text), emoji=True))


def _section(text: str, fields: Sequence[str] = ()) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, LIMITS.section_text), verbatim=True),
        fields=[
            MarkdownTextObject(text=clip(field, LIMITS.field_text), verbatim=True)
            for field in fields[: LIMITS.fields]
        ]
        or None,
    )


def _context(*texts: str) -> ContextBlock | None:
    elements = [
        MarkdownTextObject(text=clip(text, LIMITS.context_text), verbatim=True)
        for text in texts[: LIMITS.context_elements]
        if text
    ]
    return ContextBlock(elements=elements) if elements else None


def _studio_button(url: str | None) -> ActionsBlock | None:
    """An "Open in Studio" link button; none when the url is unknown or too long for Slack."""
    if not url or len(url) > LIMITS.button_url:
        return None
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=clip(STUDIO_BUTTON, LIMITS.button_text),
                url=url,
                action_id=STUDIO_ACTION_ID,
            )
        ]
    )


def _message(
    text: str, blocks: Iterable[Block | None], metadata: dict[str, Any] | None = None
) -> Message:
    kept = [block.to_dict() for block in blocks if block is not None]
    return Message(
        text=clip(text, LIMITS.fallback_text),
        blocks=kept[: LIMITS.blocks],
        metadata=metadata,
    )


# --- events -----------------------------------------------------------------------------------


def _event_metadata(event: Event) -> dict[str, Any]:
    """`event.metadata()` plus the event key, which crash recovery looks messages up by."""
    metadata = event.metadata()
    metadata["event_payload"] = {**metadata["event_payload"], "event_key": event.key}
    return metadata


def _where(event: Event) -> str:
    parts = [f"project {safe(event.project_id)}"]
    if event.run_id is not None:
        parts.append(f"run {safe(event.run_id)}")
    if event.trial_id is not None:
        parts.append(f"trial {safe(event.trial_id)}")
    return SEP.join(parts)


def _event_line(event: Event) -> str:
    """The one mrkdwn line that says what happened; the fallback text is the same line."""
    p = event.payload
    project = f"project {safe(event.project_id)}"
    name = safe(_text(p, "trial_name") or _text(p, "trial_id") or event.trial_id)
    match event.kind:
        case EventKind.RUN_STARTED:
            return f"🚀 EON Tuner run found in {project} — {_trials_of(p)}"
        case EventKind.TRIAL_COMPLETED:
            unchecked = p.get("unchecked")
            flags = flags_text(
                p.get("over_latency") is True,
                p.get("over_ram") is True,
                p.get("over_rom") is True,
                [str(x) for x in unchecked] if isinstance(unchecked, list) else (),
            )
            retries = _count(p, "retries")
            after = f" after {fmt.plural(retries, 'retry', 'retries')}" if retries else ""
            best = f"{SEP}{NEW_BEST}" if p.get("is_best") is True else ""
            line = f"✅ *{name}* completed{after}{best} — {numbers_line(p)}"
            return f"{line}{SEP}{flags}" if flags else line
        case EventKind.TRIAL_FAILED:
            maybe = " — a retry may follow" if p.get("retry_may_follow") is True else ""
            return f"{_failed_line(event)}{maybe}"
        case EventKind.TIME_LIMIT_EXCEEDED:
            extend = _extend(p.get("can_extend_search"))
            return f"⏱ The EON Tuner run in {project} reached its time limit.{extend}"
        case EventKind.JOB_FINISHED:
            return _finished_line(event)
        case EventKind.API_UNREACHABLE:
            error = safe((_text(p, "error") or "").rstrip(". "), ERROR_CHARS)
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
            idle = fmt.duration(_number(p, "idle_s"))
            return (
                f"⏸ The EON Tuner run in {project} has shown no progress for {idle}: no trial "
                "changed status or epoch. It may be stuck; a message follows when it moves."
            )
        case EventKind.RUN_RESUMED:
            idle = fmt.duration(_number(p, "idle_s"))
            return f"▶ The EON Tuner run in {project} moves again, after {idle} without progress."
        case EventKind.RUN_CHART:
            return chart_comment(event)
    return f"{safe(str(event.kind))} in {project}"  # pragma: no cover - a kind added later


def _failed_line(event: Event) -> str:
    p = event.payload
    name = safe(_text(p, "trial_name") or _text(p, "trial_id") or event.trial_id)
    retries = _count(p, "retries")
    after = f" (after {fmt.plural(retries, 'retry', 'retries')})" if retries else ""
    return f"❌ *{name}* failed{after}"


def render_retried_failure(failure: Event) -> Message:
    """A failure message edited once its trial completed on a retry, so the channel never shows
    a "failed" that the run later contradicts. Same metadata: it is still that failure's."""
    return render_event(failure, f"{_failed_line(failure)} → retried → ✅ completed")


def _extend(can_extend: object) -> str:
    """Whether the user can extend the search: said only when Edge Impulse told."""
    if can_extend is True:
        return " The search can be extended in Studio."
    if can_extend is False:
        return " The search cannot be extended."
    return ""


def _finished_line(event: Event) -> str:
    p = event.payload
    project = f"project {safe(event.project_id)}"
    counts = _trials_of(p)
    if p.get("outcome") == "failed":
        error = safe(_text(p, "job_error"), ERROR_CHARS)
        return f"💥 The EON Tuner run in {project} failed: {error} — {counts}"
    line = f"🏁 The EON Tuner run in {project} finished — {counts}"
    best_name = _text(p, "best_trial_name") or _text(p, "best_trial_id")
    if best_name is None:
        return line
    return f"{line}\nBest: *{safe(best_name)}* — {numbers_line(p, 'best_')}"


def chart_comment(event: Event) -> str:
    """The words posted with the run's chart (the upload's `initial_comment`)."""
    project = f"project {safe(event.project_id)}"
    when = "so far" if event.payload.get("on_demand") is True else "at its end"
    return f"📈 The EON Tuner run in {project} in one picture, {when}."


def render_event(event: Event, line: str | None = None) -> Message:
    """The notification of one event, with its metadata (`event_type`, `event_payload`);
    `line` replaces what it says (an edit of it)."""
    line = line or _event_line(event)
    blocks: list[Block | None] = [
        _section(line),
        _context(_where(event)),
        # A run's page, else the project's EON Tuner page; none for what is not about a run.
        _studio_button(studio_page(event.project_id, event.coordinator_job_id))
        if event.run_id is not None
        else None,
    ]
    return _message(line, blocks, _event_metadata(event))


# --- run card and status ----------------------------------------------------------------------


def card_title(summary: RunSummary) -> str:
    """ "EON Tuner · my run · project 42"; "… · my run (extended search) · …" for a run that
    continues an earlier one, so its card never reads as a restart (plain text, escaped).
    A name that already says "EON Tuner" ("EON Tuner run 4") is not prefixed again."""
    run = safe(summary.name) if summary.name else f"run {safe(summary.run_id or '?')}"
    extended = " (extended search)" if summary.continuation_job_id else ""
    prefix = "" if says_eon_tuner(run) else f"EON Tuner{SEP}"
    return f"{prefix}{run}{extended}{SEP}project {safe(summary.project_id)}"


def continues_text(summary: RunSummary, earlier_card: str | None = None) -> str | None:
    """ "↪ Continues run 123 · earlier card" (a link to that run's card in this channel, when
    there is one), for a run extending an earlier one; None otherwise."""
    if not summary.continuation_job_id:
        return None
    text = f"↪ Continues run {safe(summary.continuation_job_id, 40)}"
    if earlier_card and earlier_card.startswith("https://") and not set("<>| ") & set(earlier_card):
        text += f"{SEP}<{earlier_card}|earlier card>"
    return text


def state_text(summary: RunSummary) -> str:
    """Where the run is, in a few words: what a glance at the card must tell."""
    if summary.finished and summary.outcome == "failed":
        return f"💥 *Failed*: {safe(summary.job_error, ERROR_CHARS)}"
    if summary.finished:
        return "🏁 *Finished*"
    if summary.time_limit_exceeded:
        return f"⏱ *Time limit reached*{_extend(summary.can_extend_search)}"
    if summary.running or summary.status == "running":
        return "🔄 *Running*"
    if summary.status:
        return f"⏳ *{safe(summary.status.capitalize(), 40)}*"
    return f"⏳ *{fmt.UNKNOWN}*"


def progress_text(summary: RunSummary) -> str:
    """ "`▓▓▓▓▓░░░░░ 52%` · 13 of 25 trials"."""
    planned = max(summary.planned_trials or 0, summary.counts.total)
    done = summary.counts.completed + summary.counts.failed
    trials = f"{done} of {fmt.plural(planned, 'trial')}" if planned else "no trials yet"
    return f"`{fmt.progress_bar(summary.progress)}`{SEP}{trials}"


def best_text(summary: RunSummary) -> str:
    best = summary.best
    return f"*Best so far:* {_trial_line(best)}" if best else "*Best so far:* none yet"


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
        f"*Running*\n{c.running}",
        f"*Pending*\n{c.pending}",
        f"*Workers*\n{w.busy} busy{SEP}{w.ready} ready{SEP}{w.pending} starting",
        f"*{TRAINING_LABEL}*\n{training_words(summary)}",
        f"*Wall time*\n{fmt.duration(summary.elapsed_s)}",
        f"*Target*\n{target}",
    ]


def short_ids(trials: Sequence[TrialSummary]) -> dict[str, str]:
    """Trial id -> the shortest prefix (at least `SHORT_ID_MIN` characters) that tells apart
    trials sharing a name; trials whose name is unique get none."""
    by_name: dict[str, list[str]] = {}
    for trial in trials:
        by_name.setdefault(trial.name, []).append(trial.id)
    found: dict[str, str] = {}
    for ids in by_name.values():
        if len(set(ids)) < 2:
            continue
        length = SHORT_ID_MIN
        while length < max(map(len, ids)) and len({i[:length] for i in ids}) < len(set(ids)):
            length += 1
        found.update({i: i[:length] for i in ids})
    return found


def top_text(summary: RunSummary) -> tuple[str, int]:
    """The best trials as a numbered list that fits one section, and how many are left out.
    Trials with the same name get a short id to tell them apart."""
    lines: list[str] = []
    size = 0
    shown = summary.top[:TOP_SHOWN]
    ids = short_ids(shown)
    for rank, trial in enumerate(shown, start=1):
        line = f"{rank}. {_trial_line(trial, compact=True, short_id=ids.get(trial.id))}"
        if size + len(line) + 1 > LIMITS.section_text:
            break
        lines.append(line)
        size += len(line) + 1
    total = max(summary.counts.completed, len(summary.top))
    return "\n".join(lines), total - len(lines)


def card_blocks(summary: RunSummary, earlier_card: str | None = None) -> list[Block | None]:
    top, more = top_text(summary)
    continues = continues_text(summary, earlier_card)
    return [
        _header(card_title(summary)),
        _context(continues) if continues else None,
        _section(f"{state_text(summary)}\n{progress_text(summary)}", _fields(summary)),
        _section(best_text(summary)),
        DividerBlock() if top else None,
        _section(f"*Top trials*\n{top}") if top else None,
        _context(f"…and {more} more completed {'trial' if more == 1 else 'trials'}")
        if more > 0 and top
        else None,
        _studio_button(summary.studio_url),
    ]


def card_text(summary: RunSummary, earlier_card: str | None = None) -> str:
    """The card's fallback: title, what it continues, state, progress and best, a line each."""
    lines = (
        card_title(summary),
        continues_text(summary, earlier_card),
        state_text(summary),
        progress_text(summary),
        best_text(summary),
    )
    return "\n".join(line for line in lines if line)


def render_card(summary: RunSummary, earlier_card: str | None = None) -> Message:
    """The run card: one top-level message per run, edited in place as the run moves. It
    carries no metadata: the notification that first posts it carries the event's own.
    `earlier_card`: the permalink of the card of the run this one continues, if any."""
    return _message(card_text(summary, earlier_card), card_blocks(summary, earlier_card))


def render_run_started_card(
    event: Event, summary: RunSummary | None, earlier_card: str | None = None
) -> Message:
    """The `eon_run_started` notification is the card itself, with that event's metadata;
    without a summary it falls back to the plain event message."""
    if summary is None:
        return render_event(event)
    card = render_card(summary, earlier_card)
    return Message(text=card.text, blocks=card.blocks, metadata=_event_metadata(event))


def status_text(summary: RunSummary) -> str:
    """One project's `/eon status` section: the lines `eon-bot status` prints in a terminal,
    escaped, title in bold; the Studio link becomes the button below it."""
    lines = [escape(line) for line in status_lines(summary) if not line.startswith("Studio: ")]
    return "\n".join([f"*{lines[0]}*", *lines[1:]] if lines else [])


def render_status(summaries: Sequence[RunSummary], *, not_polled: Sequence[str] = ()) -> Message:
    """The `/eon status` answer: one section per project (at most `STATUS_SHOWN`), and the
    projects watched but not polled yet (`not_polled`, project ids) in one line."""
    shown = list(summaries[:STATUS_SHOWN])
    blocks: list[Block | None] = []
    texts: list[str] = []
    for summary in shown:
        if blocks:
            blocks.append(DividerBlock())
        blocks.append(_section(status_text(summary)))
        blocks.append(_studio_button(summary.studio_url))
        texts.append(status_text(summary))
    notes: list[str] = []
    if len(summaries) > len(shown):
        notes.append(f"…and {len(summaries) - len(shown)} more projects")
    if not_polled:
        ids = ", ".join(safe(pid, 20) for pid in not_polled[:20])
        more = f" and {len(not_polled) - 20} more" if len(not_polled) > 20 else ""
        notes.append(f"Not polled yet: project {ids}{more}")
    if notes:
        blocks.append(_context(*notes))
        texts.extend(notes)
    if not texts:
        texts.append("No EON Tuner run to show yet.")
        blocks.append(_section(texts[0]))
    return _message("\n\n".join(texts), blocks)
