"""Where headline numbers are read, and how a run is summed up: tables over hand-made trials."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.figures import trial_accuracy, trial_performance
from bot.core.ranking import best_trial, pareto_front
from bot.core.summarize import summarize_run, summarize_trial
from bot.core.summary import TrialSummary
from bot.tuner.models import OptimizeConfig, TunerTrial
from tests.factories import state, trial

CONFIG = OptimizeConfig.model_validate(
    {
        "targetDevice": {"name": "cortex-m4f-80mhz", "ram": 65_536, "rom": 262_144},
        "targetLatency": 100,
    }
)


def on_device(mcu: str, latency: float, ram: int, default: bool = False) -> dict[str, Any]:
    memory = {"ramRequired": ram, "romRequired": ram * 4, "arenaSize": 1, "modelSize": 1}
    return {
        "mcu": mcu,
        "name": mcu,
        "isDefault": default,
        "latency": latency,
        "tflite": memory,
        "eon": memory,
        "hasPerformance": True,
    }


def make(**fields: Any) -> TunerTrial:
    return TunerTrial.model_validate(
        {"id": "t", "status": "completed", "blocks": [], "impulse": {}} | fields
    )


@pytest.mark.parametrize(
    ("fields", "precision", "expected"),
    [
        ({"metrics": {"test": {"int8": {"accuracy": 0.9}}}}, "int8", 0.9),
        ({"metrics": {"test": {"float32": {"accuracy": 0.9}}}}, "int8", None),
        ({"metrics": {"test": {"float32": {"accuracy": 0.9}}}}, "float32", 0.9),
        (
            {"impulse": {"learnBlocks": [{"metrics": {"test": {"int8": {"accuracy": 0.7}}}}]}},
            "int8",
            0.7,
        ),
        (
            {
                "metrics": {"test": {"int8": {"accuracy": 0.8}}},
                "impulse": {"learnBlocks": [{"metrics": {"test": {"int8": {"accuracy": 0.7}}}}]},
            },
            "int8",
            0.8,
        ),
        ({"impulse": {"learnBlocks": [{"metrics": "junk"}]}}, "int8", None),
        ({}, "int8", None),
    ],
    ids=[
        "trial metrics",
        "other precision only",
        "float32 run",
        "first learn block (the SDK's place)",
        "trial metrics win",
        "junk learn block",
        "nothing known",
    ],
)
def test_accuracy_is_read_where_edge_impulse_puts_it(
    fields: dict[str, Any], precision: str, expected: float | None
) -> None:
    assert trial_accuracy(make(**fields), precision) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {
                "devicePerformance": {
                    "int8": {"latency": 12, "eon": {"ramRequired": 10, "romRequired": 20}}
                }
            },
            (12, 10, 20),
        ),
        (
            {
                "devicePerformance": {
                    "int8": {"latency": 12, "tflite": {"ramRequired": 11, "romRequired": 21}}
                }
            },
            (12, 11, 21),
        ),
        (
            {
                "metrics": {
                    "test": {
                        "int8": {
                            "onDevicePerformance": [
                                on_device("other", 99, 500, default=True),
                                on_device("cortex-m4f-80mhz", 30, 300),
                            ]
                        }
                    }
                }
            },
            (30, 300, 1200),
        ),
        (
            {
                "metrics": {
                    "test": {
                        "int8": {
                            "onDevicePerformance": [
                                on_device("x", 1, 1),
                                on_device("other", 99, 500, default=True),
                            ]
                        }
                    }
                }
            },
            (99, 500, 2000),
        ),
        ({"devicePerformance": {"int8": "not an object"}}, (None, None, None)),
        ({}, (None, None, None)),
    ],
    ids=[
        "devicePerformance eon",
        "devicePerformance tflite fallback",
        "onDevicePerformance of the target device",
        "onDevicePerformance default entry",
        "junk devicePerformance",
        "nothing known",
    ],
)
def test_performance_is_read_where_edge_impulse_puts_it(
    fields: dict[str, Any], expected: tuple[float | None, int | None, int | None]
) -> None:
    found = trial_performance(make(**fields), CONFIG)
    assert (found.latency_ms, found.ram_bytes, found.rom_bytes) == expected


def summary(trial_id: str, accuracy: float, latency: float | None, **flags: bool) -> TrialSummary:
    return TrialSummary(
        id=trial_id,
        name=trial_id,
        status="completed",
        accuracy=accuracy,
        latency_ms=latency,
        **flags,
    )


@pytest.mark.parametrize(
    ("trials", "best"),
    [
        ([summary("a", 0.8, 10), summary("b", 0.9, 50)], "b"),
        ([summary("a", 0.9, 10), summary("b", 0.9, 50)], "a"),
        ([summary("a", 0.9, None), summary("b", 0.9, 50)], "b"),
        ([summary("a", 0.95, 500, over_latency=True), summary("b", 0.9, 50)], "b"),
        ([summary("a", 0.95, 500, over_latency=True), summary("b", 0.9, 5, over_ram=True)], "a"),
        ([], None),
    ],
    ids=[
        "highest accuracy",
        "ties go to lower latency",
        "unknown latency loses a tie",
        "fitting the targets comes first",
        "none fits: the best, flagged",
        "no completed trial",
    ],
)
def test_best_trial(trials: list[TrialSummary], best: str | None) -> None:
    found = best_trial(trials)
    assert (found.id if found else None) == best


def test_pareto_front_keeps_only_undominated_trials() -> None:
    trials = [
        summary("fast", 0.70, 5),
        summary("dominated", 0.69, 20),
        summary("mid", 0.85, 30),
        summary("slow-best", 0.92, 200),
        summary("slow-worse", 0.90, 250),
    ]
    assert [t.id for t in pareto_front(trials)] == ["fast", "mid", "slow-best"]


def test_trial_flags_over_targets() -> None:
    doc = make(
        devicePerformance={
            "int8": {"latency": 150, "eon": {"ramRequired": 70_000, "romRequired": 1}}
        }
    )
    found = summarize_trial(doc, CONFIG)
    assert (found.over_latency, found.over_ram, found.over_rom) == (True, True, False)
    assert not found.fits


def test_run_summary_counts_trials_when_status_is_missing() -> None:
    run = summarize_run(
        "7",
        state(trial("a", "completed", accuracy=0.9), trial("b", "failed"), trial("c", "running")),
    )
    assert (run.counts.completed, run.counts.failed, run.counts.running) == (1, 1, 1)
    assert run.best is not None and run.best.id == "a"
    assert run.studio_url == "https://studio.edgeimpulse.com/studio/7/tuner/11"
    assert not run.finished


def test_time_used_is_the_documents_own_span() -> None:
    doc = trial("a", "completed")
    doc["lastCompletedEpoch"] = "2026-01-01T12:00:00Z"
    doc["blocks"] = [
        {
            "id": 1,
            "type": "learn",
            "retries": 0,
            "status": "completed",
            "blockId": 3,
            "lastActive": "2026-01-01T13:05:40Z",
        }
    ]
    run = summarize_run(
        "7", state(doc), started_at=datetime(2020, 1, 1, tzinfo=UTC), now=datetime.now(UTC)
    )
    assert run.elapsed_s == 65 * 60  # whole minutes, skew between the clocks ignored


def test_run_summary_progress_and_elapsed() -> None:
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    run = summarize_run(
        "7",
        state(
            trial("a", "completed"),
            trial("b"),
            config={"tuningMaxTrials": 8, "maxTotalTrainingTime": 3600},
        ),
        started_at=started,
        now=datetime(2026, 1, 1, 12, 15, tzinfo=UTC),
    )
    assert run.progress == pytest.approx(1 / 8)
    assert run.elapsed_s == 900
    assert run.max_total_training_time_s == 3600
