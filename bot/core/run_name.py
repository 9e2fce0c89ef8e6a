"""A run's one name, the same in every message, the card and the chart (pure).

Its Studio name ("EON Tuner run 4"), else "run <job id>" when Edge Impulse gave it none; an
extended search adds " (extended search)", so its card, messages and chart never read as the
run it continues. Job ids stay in the metadata and in `/eon status`.
"""

from __future__ import annotations

from bot.fmt import one_line

NAME_CHARS = 80


def run_name(name: str | None, run_id: str | None, continuation_job_id: str | None) -> str:
    """ "EON Tuner run 4", "EON Tuner run 4 (extended search)", "run 17848129" (plain text)."""
    base = one_line(name, NAME_CHARS) if name and name.strip() else f"run {run_id or '?'}"
    return f"{base} (extended search)" if continuation_job_id else base


def says_eon_tuner(name: str) -> bool:
    """A run name such as "EON Tuner run 4" needs no "EON Tuner" in front of it again."""
    return "eon tuner" in name.lower()
