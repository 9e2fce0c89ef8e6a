"""A changed document diffed by reading only the trials that changed (pure).

A long run lists thousands of trials, and between two polls a handful change. Validating all
of them again is most of what a poll costs; keeping their models between polls costs ten
times the document in memory. Instead the snapshot keeps a `Listing`: a fingerprint of each
listed trial's text. A trial whose fingerprint is unchanged is neither validated nor diffed,
and the run's summary is brought up to date from the last one, which is exact because:

- best, top and the Pareto front are decided among the last summary's best, top and front
  (all unchanged, or the poll reads everything) and the changed trials: an unchanged trial
  that was beaten before is still beaten by the same, unchanged, trials;
- the run's time span (earliest and latest timestamp) moves only through changed trials, and
  the listing records which trial holds each end: if that trial moves its end inwards, or
  any listed trial disappears, the poll reads everything;
- the training time and the progress digest (`bot.core.stall`) are sums over trials, kept
  per trial (whole microseconds, 64-bit terms), so the changed trials' new terms replace
  their old ones exactly;
- whether a completion is a new best is judged against the other trials' figures as their
  marks keep them (`bot.core.best.best_listed`);
- counts come from the document's own status block, or from the marks of unchanged trials.

Anything else (no listing yet, a new run, no job id, another configuration, repeated or
missing ids) reads the whole document, exactly as `diff` always did.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from bot.core.diff import diff, is_new_run
from bot.core.events import Event, Listing, Snapshot
from bot.core.run_state import count_trials, span_micros, trial_span
from bot.core.stall import progress_digest, progress_of, trial_progress
from bot.core.summarize import assemble_run, summarize_trial
from bot.core.summary import RunSummary, TrialSummary
from bot.tuner.models import TunerTrial
from bot.tuner.piecewise import Pieces

Held = tuple[datetime, str] | None  # a time and the id of the trial that holds it


class Read(NamedTuple):
    """A poll's news: its events, the snapshot to keep, the document's progress digest, and
    the last summaries of earlier runs it closed (`bot.core.handover`)."""

    events: list[Event]
    snapshot: Snapshot
    progress: str
    closed: tuple[RunSummary, ...] = ()


def read_unchanged(previous: Snapshot | None, digest: str) -> Read | None:
    """A document stored before (its bytes' digest is the listing's: a stall check, or the
    first poll after a start), or None: nothing new, and its progress is the one stored with
    it, so a look at an unchanged document never counts as movement (`bot.core.stall`)."""
    listing = previous.listing if previous is not None else None
    if previous is None or listing is None or listing.digest != digest:
        return None
    return Read([], previous, previous.progress or "")


def read_changes(
    previous: Snapshot | None,
    pieces: Pieces,
    *,
    digest: str,
    project_id: str,
    now: datetime | None = None,
    stopped: bool = False,
) -> Read:
    """What `diff(previous, <the whole document>)` returns, with the new `Listing` kept in the
    snapshot, and the document's `progress_digest`; only the trials that changed since
    `previous` are validated when that is exact. `stopped`: as `diff` takes it."""
    changed = _changed(previous, pieces)
    if changed is not None and previous is not None:
        found = _by_changes(previous, pieces, changed, digest=digest, now=now, stopped=stopped)
        if found is not None:
            return found
    trials = pieces.trials(range(len(pieces.raw)))
    state = pieces.state(trials)
    events, snapshot = diff(previous, state, project_id=project_id, now=now, stopped=stopped)
    earliest: Held = None
    latest: Held = None
    for trial in trials:
        earliest, latest = _stretch(earliest, latest, trial)
    terms = {trial.id: trial_progress(trial) for trial in trials}
    listing = _listing(pieces, digest, earliest, latest, _training({}, trials), terms)
    return Read(events, snapshot.model_copy(update={"listing": listing}), progress_digest(state))


def _training(before: dict[str, int], trials: list[TunerTrial]) -> dict[str, int]:
    """Each trial's training time (`span_micros`), `trials`' terms replacing `before`'s."""
    terms = dict(before)
    for trial in trials:
        span = trial_span(trial)
        if span is None:
            terms.pop(trial.id, None)
        else:
            terms[trial.id] = span_micros(span)
    return terms


def _listing(
    pieces: Pieces,
    digest: str,
    earliest: Held,
    latest: Held,
    training: dict[str, int],
    progress: dict[str, int],
) -> Listing:
    if len(set(pieces.ids)) != len(pieces.ids) or "" in pieces.ids:
        return Listing(digest=digest)  # trials without a distinct id: the next poll reads all
    return Listing(
        digest=digest,
        config=pieces.config,
        fingerprints=dict(zip(pieces.ids, pieces.fingerprints, strict=True)),
        earliest=earliest,
        latest=latest,
        training=training,
        progress=progress,
    )


def _stretch(earliest: Held, latest: Held, trial: TunerTrial) -> tuple[Held, Held]:
    span = trial_span(trial)
    if span is None:
        return earliest, latest
    if earliest is None or span[0] < earliest[0]:
        earliest = (span[0], trial.id)
    if latest is None or span[1] > latest[0]:
        latest = (span[1], trial.id)
    return earliest, latest


def _shrinks(earliest: Held, latest: Held, trial: TunerTrial) -> bool:
    """Whether `trial` held an end of the run's span and no longer reaches it."""
    span = trial_span(trial)
    if earliest is not None and earliest[1] == trial.id and (span is None or span[0] > earliest[0]):
        return True
    return latest is not None and latest[1] == trial.id and (span is None or span[1] < latest[0])


def _changed(previous: Snapshot | None, pieces: Pieces) -> list[int] | None:
    """Indexes of the trials to read, or None when only reading them all is exact."""
    if previous is None or previous.listing is None or previous.summary is None:
        return None
    if not previous.listing.fingerprints:
        return None  # nothing to compare with (no trials, or no distinct ids)
    listing, summary = previous.listing, previous.summary
    ids = pieces.ids
    listed = set(ids)
    if not pieces.config or listing.config != pieces.config or "" in listed:
        return None
    if len(listed) != len(ids) or pieces.envelope.run_id is None:
        return None
    if is_new_run(previous, pieces.envelope):
        return None
    if any(trial_id not in listed for trial_id in listing.fingerprints):
        return None  # a trial left the list: counts, span and ranks may all move
    known = listing.fingerprints
    pairs = enumerate(zip(ids, pieces.fingerprints, strict=True))
    changed = [i for i, (trial_id, fp) in pairs if known.get(trial_id) != fp]
    moved = {ids[i] for i in changed}
    ranked = [*summary.top, *summary.pareto, *([summary.best] if summary.best else [])]
    if any(trial.id in moved or trial.id not in listed for trial in ranked):
        return None
    for trial_id in ids:  # a reported completion's figures come from its mark
        mark = previous.trials.get(trial_id)
        if trial_id not in moved and (
            mark is None or (mark.completed_reported and not mark.figures)
        ):
            return None
    return changed


def _by_changes(
    previous: Snapshot,
    pieces: Pieces,
    changed: list[int],
    *,
    digest: str,
    now: datetime | None,
    stopped: bool,
) -> Read | None:
    assert previous.listing is not None and previous.summary is not None
    listing, summary = previous.listing, previous.summary
    trials = pieces.trials(changed)
    earliest, latest = listing.earliest, listing.latest
    for trial in trials:
        if _shrinks(earliest, latest, trial):
            return None  # an end of the span moved inwards: another trial may hold it now
        earliest, latest = _stretch(earliest, latest, trial)

    config = pieces.envelope.config
    position = {trial_id: i for i, trial_id in enumerate(pieces.ids)}
    candidates: dict[str, TrialSummary] = {}
    for kept in (*summary.top, *summary.pareto, *([summary.best] if summary.best else [])):
        candidates[kept.id] = kept
    for trial in trials:
        candidates[trial.id] = summarize_trial(trial, config)
    ordered = sorted(candidates.values(), key=lambda t: position[t.id])
    now_status = {trial.id: trial.status for trial in trials}
    statuses = (now_status[t] if t in now_status else previous.trials[t].status for t in pieces.ids)
    state = pieces.state(trials)
    counts = count_trials(state, statuses)
    span = (earliest[0] if earliest else None, latest[0] if latest else None)
    training = _training(listing.training, trials)
    terms = {**listing.progress, **{trial.id: trial_progress(trial) for trial in trials}}

    def summarize(first_seen: datetime | None) -> RunSummary:
        return assemble_run(
            previous.project_id,
            state,
            ordered,
            counts=counts,
            total=len(pieces.ids),
            span=span,
            training=sum(training.values()) / 1e6 if training else None,
            started_at=first_seen,
            now=now,
        )

    events, snapshot = diff(
        previous,
        state,
        project_id=previous.project_id,
        now=now,
        summarize=summarize,
        listed=pieces.ids,
        stopped=stopped,
    )
    listing = _listing(pieces, digest, earliest, latest, training, terms)
    progress = progress_of(counts, terms.values())
    return Read(events, snapshot.model_copy(update={"listing": listing}), progress)
