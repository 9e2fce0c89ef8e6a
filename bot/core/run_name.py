"""The names messages give a run and a project, the same in every message, card and chart (pure).

A run: its Studio name (`config.name`, "EON Tuner run 4"), else "EON Tuner run N" by its index
(`RunSummary.index`: Studio names a new run by `nextRunIndex`, so the project's current run is
`nextRunIndex - 1`; an earlier run's own state is named from the runs list, `bot.tuner.runs`),
else, as a last resort when Edge Impulse gave neither, "run <job id>". An extended search adds
" (extended search)", so its card, messages and chart never read as the run it continues.
Job ids stay in the metadata and in `/eon status`.

A project: "Keyword spotting (project 1)" once its name is known from Edge Impulse's project
info (`bot.service.names`), else "project 1".
"""

from __future__ import annotations

from bot.fmt import one_line

NAME_CHARS = 80
PROJECT_NAME_CHARS = 60
LABEL_CHARS = 100  # a project's label: its name, its id (20) and the words around them


def run_name(
    name: str | None,
    run_id: str | None,
    continuation_job_id: str | None,
    index: int | None = None,
) -> str:
    """ "EON Tuner run 4", "EON Tuner run 4 (extended search)", "run 17848129" (plain text)."""
    if name and name.strip():
        base = one_line(name, NAME_CHARS)
    elif (number := numbered(index)) is not None:
        base = number
    else:  # neither a name nor an index from Edge Impulse: the job id is all there is
        base = f"run {run_id or '?'}"
    return f"{base} (extended search)" if continuation_job_id else base


def numbered(index: int | None) -> str | None:
    """ "EON Tuner run 4": how Studio names a run by its index (counted from 1)."""
    return f"EON Tuner run {index}" if index is not None and index >= 1 else None


def project_label(project_id: str, name: str | None, *, id_chars: int = 20) -> str:
    """ "Keyword spotting (project 1)", or "project 1" while its name is unknown (plain text:
    callers escape it for mrkdwn)."""
    project = f"project {one_line(project_id, id_chars)}"
    if name is None or not name.strip():
        return project
    return f"{one_line(name, PROJECT_NAME_CHARS)} ({project})"


def says_eon_tuner(name: str) -> bool:
    """A run name such as "EON Tuner run 4" needs no "EON Tuner" in front of it again."""
    return "eon tuner" in name.lower()
