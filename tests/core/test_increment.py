"""`read_changes` (only the changed trials read) against `diff` of the whole document.

The oracle is the old path: `diff(previous, OptimizeStateResponse.model_validate_json(body))`.
Over the simulator's runs, polled at every milestone and by slow pollers that skip most, both
must give the same events and the same snapshot (the listing aside, which only the new path
keeps), while the new path validates a small share of the trials. Then one table per reason
the new path must read the whole document instead.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.diff import diff
from bot.core.events import Snapshot
from bot.core.increment import read_changes
from bot.core.stall import progress_digest
from bot.sandbox.simulator.simulation import SIM_EPOCH, Simulation
from bot.tuner import piecewise
from bot.tuner.models import OptimizeStateResponse, TunerTrial
from bot.tuner.piecewise import Pieces, body_digest
from tests.core.test_diff_property import SCENARIOS, Scenario
from tests.factories import trial

PROJECT = "7"


class Counting(Pieces):
    """Pieces that count the trials validated (the work the new path saves)."""

    __slots__ = ()
    validated: ClassVar[list[int]] = []

    def trials(self, indexes: Any) -> list[TunerTrial]:
        chosen = list(indexes)
        Counting.validated.append(len(chosen))
        return super().trials(chosen)


def pieces_of(body: bytes) -> Counting:
    found = piecewise.read(body)
    return Counting(*(getattr(found, f.name) for f in fields(found)))


def roundtrip(snapshot: Snapshot) -> Snapshot:
    return Snapshot.model_validate_json(snapshot.model_dump_json())  # as the store keeps it


def both(
    old: Snapshot | None, new: Snapshot | None, body: bytes, now: datetime
) -> tuple[Snapshot, Snapshot]:
    """One poll by both paths; they must agree."""
    state = OptimizeStateResponse.model_validate_json(body)
    expected = diff(old, state, project_id=PROJECT, now=now)
    got = read_changes(new, pieces_of(body), digest=body_digest(body), project_id=PROJECT, now=now)
    assert got.events == expected.events
    assert got.progress == progress_digest(state)
    assert got.snapshot.model_copy(update={"listing": None}) == expected.snapshot
    listing = got.snapshot.listing
    assert listing is not None and listing.digest == body_digest(body)
    ids = [t.id for t in state.trials]
    assert list(listing.fingerprints) == (ids if len(set(ids)) == len(ids) else [])
    return roundtrip(expected.snapshot), roundtrip(got.snapshot)


def replay(scenario: Scenario, times: list[float]) -> tuple[int, int]:
    """(trials validated by the new path, trials listed over all polls)."""
    simulation = Simulation(
        PROJECT,
        seed=scenario.seed,
        trials=scenario.trials,
        extend=scenario.extend,
        job_error=scenario.job_error,
    )
    Counting.validated.clear()
    old = new = None
    listed = 0
    for t in times:
        body = simulation.document_bytes(t)
        old, new = both(old, new, body, SIM_EPOCH + timedelta(seconds=t))
        listed += len(new.listing.fingerprints) if new.listing else 0
    return sum(Counting.validated), listed


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_milestone_gives_what_the_whole_document_gives(scenario: Scenario) -> None:
    simulation = Simulation(PROJECT, seed=scenario.seed, trials=scenario.trials)
    times = sorted({*simulation.milestones(), simulation.duration})
    validated, listed = replay(scenario, times)
    if scenario.trials >= 24:
        assert validated < listed / 4, f"read {validated} of {listed} listed trials"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario=st.sampled_from(SCENARIOS),
    cuts=st.lists(st.floats(0, 1), min_size=1, max_size=12),
)
def test_slow_pollers_get_what_the_whole_document_gives(
    scenario: Scenario, cuts: list[float]
) -> None:
    duration = Simulation(PROJECT, seed=scenario.seed, trials=scenario.trials).duration
    replay(scenario, sorted({round(c * duration) for c in cuts} | {duration}))


# --- when the whole document must be read ----------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def stamped(trial_id: str, status: str, at: int, **numbers: Any) -> dict[str, Any]:
    doc = trial(trial_id, status, **numbers)
    doc["lastCompletedEpoch"] = (T0 + timedelta(seconds=at)).isoformat()
    return doc


def document(*trials: dict[str, Any], **fields: Any) -> bytes:
    doc = {
        "success": True,
        "tunerJobId": 10,
        "tunerCoordinatorJobId": 11,
        "tunerJobIsRunning": True,
        "config": {"targetLatency": 100},
        "trials": list(trials),
        "workers": [],
    } | fields
    return json.dumps(doc).encode()


BEFORE = [
    stamped("a", "completed", 10, accuracy=0.9, latency=50),
    stamped("b", "completed", 20, accuracy=0.5, latency=40),
    stamped("c", "running", 30),
    stamped("d", "pending", 15),
]


@pytest.mark.parametrize(
    ("after", "extra", "reads"),
    [
        pytest.param([*BEFORE[:2], stamped("c", "running", 40), BEFORE[3]], {}, 1, id="one-moved"),
        pytest.param([*BEFORE[:3], stamped("d", "running", 15)], {}, 1, id="same-span"),
        pytest.param(BEFORE[:3], {}, 3, id="a-trial-left-the-list"),
        pytest.param(BEFORE, {"config": {"targetLatency": 45}}, 4, id="other-config"),
        pytest.param(BEFORE, {"tunerCoordinatorJobId": 12}, 4, id="a-new-run"),
        pytest.param(
            [stamped("a", "completed", 10, accuracy=0.95, latency=50), *BEFORE[1:]],
            {},
            4,
            id="the-best-changed",
        ),
        pytest.param(
            [*BEFORE[:3], stamped("d", "running", 35)], {}, 1, id="latest-grows-elsewhere"
        ),
        pytest.param(
            [BEFORE[0], stamped("b", "completed", 12, accuracy=0.5, latency=40), *BEFORE[2:]],
            {},
            4,
            id="top-trial-changed",
        ),
        pytest.param([*BEFORE, BEFORE[0]], {}, 5, id="a-repeated-id"),
    ],
)
def test_what_is_read_and_that_it_equals_the_whole(
    after: list[dict[str, Any]], extra: dict[str, Any], reads: int
) -> None:
    old, new = both(None, None, document(*BEFORE), T0)
    Counting.validated.clear()
    both(old, new, document(*after, **extra), T0 + timedelta(minutes=5))
    assert Counting.validated[-1] == reads


def test_the_holder_of_the_latest_timestamp_moving_back_reads_everything() -> None:
    old, new = both(None, None, document(*BEFORE), T0)  # "c" holds the latest (30)
    Counting.validated.clear()
    both(old, new, document(*BEFORE[:2], stamped("c", "running", 25), BEFORE[3]), T0)
    assert Counting.validated == [1, 4]  # the changed trial, then the whole document
