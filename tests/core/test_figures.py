"""Figures read the way the official SDK and Edge Impulse's notebooks place them, and the fit
rule when a figure is missing: tables over hand-made documents (the simulator's are elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.figures import Performance, fit, trial_accuracy, trial_performance, trial_score
from bot.core.ranking import best_trial
from bot.core.summarize import summarize_run, summarize_trial
from bot.core.summary import TrialSummary
from bot.tuner.models import OptimizeConfig, TunerTrial
from tests.factories import state

CONFIG = OptimizeConfig.model_validate(
    {
        "targetDevice": {"name": "cortex-m4f-80mhz", "ram": 65_536, "rom": 262_144},
        "targetLatency": 100,
    }
)


def validation_item(
    precision: str = "int8",
    eon: tuple[int, int] | None = (40_000, 120_000),
    tflite: tuple[int, int] | None = (50_000, 170_000),
) -> dict[str, Any]:
    """One `modelValidationMetrics` item as the SDK's `get_trial_metrics` reads it."""
    memory: dict[str, Any] = {}
    if eon is not None:
        memory["eon"] = {"ram": eon[0], "rom": eon[1]}
    if tflite is not None:
        memory["tflite"] = {"ram": tflite[0], "rom": tflite[1]}
    return {"type": precision, "loss": 0.3, "accuracy": 0.88, "size": 90_000, "memory": memory}


def sdk_trial(
    *items: dict[str, Any],
    accuracy: float | None = 0.91,
    dsp: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> TunerTrial:
    """A completed trial with figures only where the SDK and the notebooks read them."""
    learn: dict[str, Any] = {"id": 3, "metadata": {"modelValidationMetrics": list(items)}}
    if accuracy is not None:
        learn["metrics"] = {"test": {"int8": {"accuracy": accuracy}}}
    impulse = {"dspBlocks": dsp or [{"id": 2}], "learnBlocks": [learn]}
    doc = {"id": "t", "name": "t", "status": "completed", "blocks": [], "impulse": impulse}
    return TunerTrial.model_validate(doc | fields)


def figures(trial: TunerTrial) -> tuple[float | None, int | None, int | None]:
    found = trial_performance(trial, CONFIG)
    return found.latency_ms, found.ram_bytes, found.rom_bytes


@pytest.mark.parametrize(
    ("trial", "expected"),
    [
        (sdk_trial(validation_item()), (None, 40_000, 120_000)),
        (sdk_trial(validation_item(eon=None)), (None, 50_000, 170_000)),
        (sdk_trial(validation_item("float32")), (None, None, None)),
        (
            sdk_trial(validation_item("float32", eon=(1, 1)), validation_item()),
            (None, 40_000, 120_000),
        ),
        (
            sdk_trial(
                validation_item(), dsp=[{"estimatedPerformance": {"latency": 4, "ram": 70_000}}]
            ),
            (None, 70_000, 120_000),
        ),
        (
            sdk_trial(
                validation_item()
                | {"onDevicePerformance": [{"mcu": "cortex-m4f-80mhz", "latency": 20}]},
                dsp=[
                    {"estimatedPerformance": {"latency": 4, "ram": 1_000}},
                    {"estimatedPerformance": {"latency": 6, "ram": 2_000}},
                ],
            ),
            (30, 40_000, 120_000),
        ),
        (
            sdk_trial(
                validation_item() | {"onDevicePerformance": [{"isDefault": True, "latency": 20}]},
                dsp=[{"estimatedPerformance": {"latency": 4}}, {"id": 9}],
            ),
            (20, 40_000, 120_000),
        ),
        (
            sdk_trial(validation_item(), devicePerformance={"int8": {"latency": 12}}),
            (12, 40_000, 120_000),
        ),
        (
            sdk_trial(
                validation_item(),
                devicePerformance={"int8": {"latency": 12, "eon": {"ramRequired": 9}}},
            ),
            (12, 9, 120_000),
        ),
        (sdk_trial(), (None, None, None)),
        (sdk_trial({"type": "int8", "memory": "junk"}, "junk"), (None, None, None)),
    ],
    ids=[
        "SDK memory: EON",
        "SDK memory: TFLite when no EON",
        "other precision only",
        "the item of the run's precision",
        "DSP needs more RAM than the model: the peak is the DSP's",
        "DSP latencies add to the model's",
        "a DSP block without an estimate: the model's latency alone is not the impulse's",
        "latency from devicePerformance, memory from the SDK's place",
        "each figure from the first place that has it",
        "nothing known",
        "junk items",
    ],
)
def test_figures_are_read_where_the_sdk_and_notebooks_put_them(
    trial: TunerTrial, expected: tuple[float | None, int | None, int | None]
) -> None:
    assert figures(trial) == expected


def test_the_sdk_test_accuracy_is_read() -> None:
    assert trial_accuracy(sdk_trial(validation_item(), accuracy=0.91), "int8") == 0.91
    assert trial_accuracy(sdk_trial(validation_item(), accuracy=None), "int8") is None


def test_precedence_device_performance_then_on_device_then_the_sdks_place() -> None:
    on_device = {"mcu": "cortex-m4f-80mhz", "latency": 30, "eon": {"ramRequired": 300}}
    both = sdk_trial(
        validation_item(),
        metrics={"test": {"int8": {"onDevicePerformance": [on_device]}}},
        devicePerformance={"int8": {"eon": {"romRequired": 7}}},
    )
    assert figures(both) == (30, 300, 7)


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"report": {"mAP": 0.51, "car": {"f1-score": 0.9}}}, ("mAP", 0.51)),
        (
            {"additionalMetrics": [{"name": "mAP", "value": "0.42", "fullPrecisionValue": 0.4213}]},
            ("mAP", 0.4213),
        ),
        ({"additionalMetrics": [{"name": "mAP", "value": "0.42"}]}, ("mAP", 0.42)),
        (
            {
                "report": {
                    "background": {"f1-score": 1.0},
                    "car": {"f1-score": 0.8},
                    "person": {"f1-score": 0.6},
                    "macro avg": {"f1-score": 0.8},
                }
            },
            ("mean F1", pytest.approx(0.7)),
        ),
        ({"report": {"car": {"precision": 1}}}, None),
        ({"accuracy": 0.9, "report": {"mAP": 0.5}}, None),
    ],
    ids=["report mAP", "additional metric mAP", "mAP as text", "mean F1", "no score", "accuracy"],
)
def test_object_detection_score_when_there_is_no_accuracy(
    metrics: dict[str, Any], expected: tuple[str, float] | None
) -> None:
    trial = TunerTrial.model_validate(
        {"id": "t", "status": "completed", "metrics": {"test": {"int8": metrics}}}
    )
    summary = summarize_trial(trial, CONFIG)
    found = (summary.score_name, summary.score) if summary.score is not None else None
    assert found == expected
    # The SDK's place (the first learn block) is read too.
    learn = {"impulse": {"learnBlocks": [{"metrics": {"test": {"int8": metrics}}}]}}
    from_learn = TunerTrial.model_validate({"id": "t", "status": "completed"} | learn)
    if "accuracy" not in metrics:
        assert trial_score(from_learn, "int8") == expected


@pytest.mark.parametrize(
    ("latency", "ram", "rom", "over", "unchecked"),
    [
        (50, 60_000, 200_000, (False, False, False), ()),
        (150, 60_000, 200_000, (True, False, False), ()),
        (50, None, 200_000, (False, False, False), ("RAM",)),
        (None, None, None, (False, False, False), ("latency", "RAM", "ROM")),
        (50, 70_000, None, (False, True, False), ("ROM",)),
    ],
)
def test_a_figure_found_nowhere_never_fits(
    latency: float | None,
    ram: int | None,
    rom: int | None,
    over: tuple[bool, bool, bool],
    unchecked: tuple[str, ...],
) -> None:
    found = fit(Performance(latency, ram, rom), CONFIG)
    assert (found.over_latency, found.over_ram, found.over_rom) == over
    assert found.unchecked == unchecked
    assert found.fits is (not any(over) and not unchecked)


def test_without_limits_unknown_figures_do_not_matter() -> None:
    assert fit(Performance(), OptimizeConfig()).fits
    assert fit(Performance(), None).fits


def test_a_trial_over_the_devices_ram_in_the_sdks_place_is_not_called_best() -> None:
    """The issue's case: figures only in the SDK's place, the most accurate trial over RAM."""
    config = {"targetDevice": {"name": "cortex-m4f-80mhz", "ram": 65_536, "rom": 262_144}}
    big = sdk_trial(validation_item(eon=(90_000, 100_000)), accuracy=0.95).model_dump(
        by_alias=True, exclude_none=True
    ) | {"id": "big", "name": "big"}
    small = sdk_trial(validation_item(eon=(30_000, 100_000)), accuracy=0.90).model_dump(
        by_alias=True, exclude_none=True
    ) | {"id": "small", "name": "small"}
    run = summarize_run("7", state(big, small, config=config | {"targetLatency": 0}))
    assert run.best is not None and run.best.id == "small"
    assert [t.id for t in run.top] == ["small", "big"]  # one ranking: the fit first
    assert run.top[1].over_ram and not run.top[1].fits


def test_a_trial_with_unknown_ram_loses_to_one_known_to_fit() -> None:
    config = {"targetDevice": {"name": "cortex-m4f-80mhz", "ram": 65_536}, "targetLatency": 0}
    unknown = sdk_trial(accuracy=0.97).model_dump(by_alias=True, exclude_none=True) | {"id": "u"}
    known = sdk_trial(validation_item(), accuracy=0.9).model_dump(
        by_alias=True, exclude_none=True
    ) | {"id": "k"}
    run = summarize_run("7", state(unknown, known, config=config))
    assert run.best is not None and run.best.id == "k"
    alone = summarize_run("7", state(unknown, config=config))
    assert alone.best is not None and alone.best.unchecked == ("RAM",) and not alone.best.fits
    assert best_trial(alone.top) == alone.best  # none fits: the best, flagged


@pytest.mark.parametrize(
    ("names", "best"),
    [
        (["over-ram", "latency-unknown", "fits"], "fits"),
        (["over-ram", "latency-unknown"], "latency-unknown"),
        (["over-ram"], "over-ram"),
    ],
    ids=["a trial known to fit wins", "then one over no known limit", "else the best, flagged"],
)
def test_best_prefers_fitting_then_not_known_to_be_over(names: list[str], best: str) -> None:
    pool = {
        "over-ram": TrialSummary(
            id="over-ram", name="o", status="completed", accuracy=0.95, over_ram=True
        ),
        "latency-unknown": TrialSummary(
            id="latency-unknown", name="u", status="completed", accuracy=0.9, unchecked=("latency",)
        ),
        "fits": TrialSummary(id="fits", name="f", status="completed", accuracy=0.8),
    }
    found = best_trial(pool[name] for name in names)
    assert found is not None and found.id == best
