"""The status of a run as plain lines a person reads (`eon-bot status`); pure, no I/O.

Plain text without Slack markup: the Slack rendering reuses `fmt.py` on its own. Every part
copes with unknowns (a run still being created, a state with no config) by saying so, because
a status request is often made exactly when little is known yet. Text from Edge Impulse (run
and trial names, job errors) goes through `fmt.one_line`, so it cannot break the layout or
send escape sequences to a terminal.
"""

from __future__ import annotations

from bot.core.run_name import numbered, project_label, says_eon_tuner
from bot.core.summary import RunSummary, TrialSummary
from bot.fmt import UNKNOWN, duration, latency, one_line, plural, progress_bar, quality, size
from bot.tuner.models import TunerStatus

_STARTING = frozenset({TunerStatus.CREATING, TunerStatus.READY})
NO_RUN_YET = "no EON Tuner run yet"
STATE = "State: "  # the status line of where the run is, which `/eon status` may reword


def state_words(summary: RunSummary) -> str:
    """spinning up / running / finished / failed (with the job error), or what EI said."""
    if summary.never_ran:
        return NO_RUN_YET
    if summary.finished:
        if summary.outcome == "failed":
            error = one_line(summary.job_error or "", 300)
            return f"failed: {error}" if error else "failed"
        return "finished"
    if summary.status in _STARTING:
        return "spinning up"
    if summary.status == TunerStatus.RUNNING or summary.running:
        return "running"
    if summary.status:
        return one_line(summary.status, 40)  # a state Edge Impulse added since
    return "unknown"


def _title(summary: RunSummary) -> str:
    name = one_line(summary.name, 100) if summary.name else numbered(summary.index) or ""
    if name and says_eon_tuner(name):
        run = name
    else:
        run = f'EON Tuner run "{name}"' if name else "EON Tuner run"
    extended = " (extended search)" if summary.continuation_job_id else ""  # as `display_name`
    project = project_label(summary.project_id, summary.project_name, id_chars=40)
    return f"{run}{extended} · {project}"


def _ids(summary: RunSummary) -> str:
    if summary.run_id is None and summary.tuner_job_id is None:
        return "Run: none found yet"
    parts = [f"Run {one_line(summary.run_id or UNKNOWN, 40)}"]
    if summary.tuner_job_id and summary.tuner_job_id != summary.run_id:
        parts.append(f"tuner job {one_line(summary.tuner_job_id, 40)}")
    if summary.continuation_job_id:
        parts.append(f"continues job {one_line(summary.continuation_job_id, 40)}")
    return " · ".join(parts)


def _progress(summary: RunSummary) -> str:
    ended = summary.counts.completed + summary.counts.failed + summary.counts.stopped
    planned = max(summary.planned_trials or 0, summary.counts.total)
    if planned == 0:
        return f"Progress: {progress_bar(summary.progress)}  (no trials yet)"
    return f"Progress: {progress_bar(summary.progress)}  ({ended} of {plural(planned, 'trial')})"


def _counts(summary: RunSummary) -> str:
    c = summary.counts
    return (
        f"Trials: {c.completed} completed, {c.failed} failed, "
        + (f"{c.stopped} stopped, " if c.stopped else "")
        + f"{c.running} running, {c.pending} pending"
    )


def _workers(summary: RunSummary) -> str:
    w = summary.workers
    # "starting", as on the card: a worker not yet up (EI's numPendingWorkers); "pending" is
    # kept for trials waiting for a worker, so one word never means two states.
    return f"Workers: {w.busy} busy, {w.ready} ready, {w.pending} starting"


def _target(summary: RunSummary) -> str:
    parts = [one_line(summary.target_device, 60) if summary.target_device else "device unknown"]
    parts.append(one_line(summary.precision, 20))
    if summary.target_latency_ms:
        parts.append(f"latency ≤ {latency(summary.target_latency_ms)}")
    return "Target: " + ", ".join(parts)


def _over(best: TrialSummary, summary: RunSummary) -> str | None:
    """Why the best trial is not known to fit; it is only shown as best when none fits. A
    limit whose figure is unknown is named: it could not be checked, so it does not fit."""
    device = one_line(summary.target_device, 60) if summary.target_device else "the device"
    reasons = []
    if best.over_latency:
        reasons.append(f"latency above {latency(summary.target_latency_ms)}")
    if best.over_ram:
        reasons.append(f"RAM above what {device} has")
    if best.over_rom:
        reasons.append(f"ROM above what {device} has")
    if reasons and not best.unchecked:
        return "  ⚠ over the targets (no trial fits them yet): " + "; ".join(reasons)
    reasons += [f"{name} unknown" for name in best.unchecked]
    if not reasons:
        return None
    return "  ⚠ not known to fit the targets (no trial is known to fit yet): " + "; ".join(reasons)


def _best(summary: RunSummary) -> list[str]:
    best = summary.best
    if best is None:
        return ["Best: no completed trial yet"]
    name = one_line(best.name, 80)
    lines = [
        f'Best: "{name}" · {quality(best.accuracy, best.score, best.score_name)}, '
        f"latency {latency(best.latency_ms)}, "
        f"RAM {size(best.ram_bytes)}, ROM {size(best.rom_bytes)}"
    ]
    warning = _over(best, summary)
    if warning:
        lines.append(warning)
    return lines


def _pareto(summary: RunSummary) -> str:
    if not summary.pareto:
        return "Pareto front (accuracy vs latency): none yet"
    return f"Pareto front (accuracy vs latency): {plural(len(summary.pareto), 'trial')}"


TRAINING_LABEL = "Training time (all workers)"


def training_words(summary: RunSummary) -> str:
    """ "1h 56m of 2h 02m": the training time summed over workers, of the limit on it
    (`maxTotalTrainingTime` counts that, not the wall time)."""
    used = duration(summary.training_s)
    limit = summary.max_total_training_time_s
    if summary.training_with_earlier:
        return f"{used} with the earlier run's trials"
    if limit:
        return f"{used} of {duration(limit)}"
    return used if limit is None else f"{used} (no limit)"


def _time(summary: RunSummary) -> str:
    """The quantity the time limit measures, labelled, and the wall time apart."""
    text = f"{TRAINING_LABEL}: {training_words(summary)} · wall time {duration(summary.elapsed_s)}"
    if summary.time_limit_exceeded:
        text += " · limit reached"
        if summary.can_extend_search:
            text += ", the search can be extended in Studio"
    return text


def status_lines(summary: RunSummary) -> list[str]:
    """The status summary of one run, one fact per line."""
    lines = [
        _title(summary),
        _ids(summary),
        f"{STATE}{state_words(summary)}",
        _progress(summary),
        _counts(summary),
        _workers(summary),
        _target(summary),
        *_best(summary),
        _pareto(summary),
        _time(summary),
    ]
    if summary.studio_url:
        lines.append(f"Studio: {one_line(summary.studio_url, 300)}")
    return lines
