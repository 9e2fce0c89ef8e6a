"""A trial's figures and flags as one line of mrkdwn, shared by event messages and the run
card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot import fmt
from bot.core.summary import TrialSummary
from bot.slack.render.blocks import SEP, safe

SHORT_ID_MIN: Final = 6  # characters of a trial id shown beside a name other trials share
SHORT_ID_MAX: Final = 40
NEW_BEST: Final = "🏆 new best"


def payload_number(payload: Mapping[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def payload_count(payload: Mapping[str, Any], key: str) -> int:
    value = payload_number(payload, key)
    return int(value) if value is not None and value > 0 else 0


def payload_text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def numbers_line(numbers: Mapping[str, Any], prefix: str = "") -> str:
    """ "accuracy 91.3% · latency 12 ms · RAM 37.5 KB · ROM 120.0 KB", "—" where unknown;
    `numbers` keyed as `TrialSummary.numbers()` and the metadata (with `prefix`, e.g. "best_")."""
    score_name = payload_text(numbers, f"{prefix}score_name")
    return SEP.join(
        (
            fmt.quality(
                payload_number(numbers, f"{prefix}accuracy"),
                payload_number(numbers, f"{prefix}score"),
                safe(score_name, 20) if score_name else None,
            ),
            f"latency {fmt.latency(payload_number(numbers, f'{prefix}latency_ms'))}",
            f"RAM {fmt.size(payload_number(numbers, f'{prefix}ram_bytes'))}",
            f"ROM {fmt.size(payload_number(numbers, f'{prefix}rom_bytes'))}",
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


def trial_line(trial: TrialSummary, *, compact: bool = False, short_id: str | None = None) -> str:
    numbers = compact_numbers(trial) if compact else numbers_line(trial.numbers())
    tag = f" `{safe(short_id, SHORT_ID_MAX)}`" if short_id else ""
    line = f"*{safe(trial.name)}*{tag} — {numbers}"
    flags = flags_text(trial.over_latency, trial.over_ram, trial.over_rom, trial.unchecked)
    return f"{line}{SEP}{flags}" if flags else line


def trials_text(counts: Mapping[str, Any]) -> str:
    """ "2 completed · 0 failed · 3 stopped · 0 running · 0 pending" (stopped only if any)."""
    return SEP.join(
        f"{payload_count(counts, f'{kind}_trials')} {kind}"
        for kind in ("completed", "failed", "stopped", "running", "pending")
        if kind != "stopped" or payload_count(counts, "stopped_trials")
    )


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
