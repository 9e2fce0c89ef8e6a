"""The figures of a completed simulated trial, in every place Edge Impulse puts them (pure).

The real service is looser than its schema, and the official SDK and the notebooks read other
places than the schema lists; a simulator that only filled the schema's places would prove the
bot against itself. So a completed trial carries its figures, consistently, in all of them:

- `metrics.test.<p>` (the schema): accuracy, loss, confusion matrix, report, and
  `onDevicePerformance` for the target MCU and the default one;
- `devicePerformance[<p>]`: latency and EON/TFLite memory of the whole impulse;
- `impulse.learnBlocks[0].metrics.{test,validation}.<p>` (the SDK's `get_trial_metrics` and the
  notebooks read the test accuracy there);
- `impulse.learnBlocks[0].metadata.modelValidationMetrics[]`, one item per precision,
  `{type, loss, accuracy, size, memory: {tflite: {ram, rom}, eon: {ram, rom}}}` (the SDK's and
  the notebooks' memory figures: the model's alone);
- `impulse.dspBlocks[i].estimatedPerformance` `{latency, ram}` (the notebooks add it up).

The DSP block takes a share of the latency and less RAM than the model, so the impulse's peak
RAM is the model's: every place agrees on RAM and ROM with `devicePerformance`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from bot.sandbox.simulator.trials import Draft

DEFAULT_MCU: Final = ("cortex-m4f-80mhz", "Cortex-M4F 80MHz")
TARGET_MCU: Final = ("nordic-nrf52840-dk", "Nordic nRF52840 DK (Cortex-M4F 64MHz)")
_KB: Final = 1024
DSP_LATENCY_SHARE: Final = 0.15  # of the impulse's latency, at int8
DSP_RAM_SHARE: Final = 4  # the DSP block needs a quarter of the model's int8 RAM


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _memory(ram: int, rom: int) -> dict[str, int]:
    return {
        "ramRequired": ram,
        "romRequired": rom,
        "arenaSize": max(_KB, ram - 2 * _KB - ram // 10),
        "modelSize": rom * 7 // 10,
    }


def _confusion(rng: random.Random, labels: int, accuracy: float) -> list[list[float]]:
    """Test-set counts whose diagonal adds up to `accuracy` (to the nearest sample)."""
    support = [rng.randint(40, 120) for _ in range(labels)]
    correct = [round(n * _clamp(accuracy + rng.gauss(0, 0.025), 0.5, 0.995)) for n in support]
    missing = round(accuracy * sum(support)) - sum(correct)
    while missing:
        i = rng.randrange(labels)
        step = 1 if missing > 0 else -1
        if 0 <= correct[i] + step <= support[i]:
            correct[i] += step
            missing -= step
    matrix = [[0.0] * labels for _ in range(labels)]
    for i, (n, hits) in enumerate(zip(support, correct, strict=True)):
        matrix[i][i] = float(hits)
        for _ in range(n - hits):
            matrix[i][rng.choice([j for j in range(labels) if j != i])] += 1.0
    return matrix


def _report(labels: tuple[str, ...], matrix: list[list[float]], accuracy: float) -> dict[str, Any]:
    report: dict[str, Any] = {}
    rows: list[tuple[float, float, float, float]] = []
    for i, label in enumerate(labels):
        support, predicted = sum(matrix[i]), sum(row[i] for row in matrix)
        precision = matrix[i][i] / predicted if predicted else 0.0
        recall = matrix[i][i] / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((precision, recall, f1, support))
        report[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1-score": round(f1, 4),
            "support": int(support),
        }
    total = sum(r[3] for r in rows)
    report["accuracy"] = accuracy
    for key, weights in (("macro avg", [1.0] * len(rows)), ("weighted avg", [r[3] for r in rows])):
        norm = sum(weights)
        report[key] = {
            name: round(sum(w * r[k] for w, r in zip(weights, rows, strict=True)) / norm, 4)
            for k, name in enumerate(("precision", "recall", "f1-score"))
        } | {"support": int(total)}
    return report


def _figures(draft: Draft, rng: random.Random) -> dict[str, tuple[float, float, float, int, int]]:
    """(accuracy, loss, latency ms, RAM, ROM) per precision; float32 is bigger and slower."""
    return {
        "int8": (draft.accuracy, draft.loss, draft.latency_ms, draft.ram, draft.rom),
        "float32": (
            round(min(0.97, draft.accuracy + rng.uniform(0.0, 0.02)), 4),
            round(draft.loss * rng.uniform(0.9, 1.0), 4),
            round(min(400.0, draft.latency_ms * rng.uniform(2.5, 3.5)), 1),
            int(min(300 * _KB, draft.ram * rng.uniform(2.8, 3.6))),
            int(min(1200 * _KB, draft.rom * rng.uniform(3.2, 3.8))),
        ),
    }


class Completed(NamedTuple):
    """Where a completed trial's figures go (see the module docstring)."""

    test: dict[str, Any]  # metrics.test
    learn_metrics: dict[str, Any]  # learnBlocks[0].metrics
    learn_metadata: dict[str, Any]  # learnBlocks[0].metadata
    device: dict[str, Any]  # devicePerformance
    dsp_estimate: dict[str, Any]  # dspBlocks[0].estimatedPerformance


def _validation_item(
    precision: str, accuracy: float, loss: float, eon: dict[str, int], tflite: dict[str, int]
) -> dict[str, Any]:
    """One `modelValidationMetrics` item, shaped as the SDK reads it."""
    return {
        "type": precision,
        "loss": round(loss * 0.97, 4),
        "accuracy": round(min(0.99, accuracy + 0.012), 4),  # validation set: a little higher
        "size": eon["modelSize"],
        "memory": {
            "tflite": {"ram": tflite["ramRequired"], "rom": tflite["romRequired"]},
            "eon": {"ram": eon["ramRequired"], "rom": eon["romRequired"]},
        },
    }


def completed(draft: Draft) -> Completed:
    """The figures of a completed trial, drawn from its own seed (the same on every call)."""
    rng = random.Random(draft.detail_seed)
    labels = draft.kind.labels
    test: dict[str, Any] = {}
    learn_test: dict[str, Any] = {}
    learn_validation: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    device: dict[str, Any] = {}
    for precision, (accuracy, loss, latency, ram, rom) in _figures(draft, rng).items():
        matrix = _confusion(rng, len(labels), accuracy)
        report = _report(labels, matrix, accuracy)
        eon, tflite = _memory(ram, rom), _memory(ram + ram // 5 + 2 * _KB, rom + 48 * _KB)
        on_device = [
            {"mcu": mcu, "name": title, "isDefault": default, "latency": lat, "tflite": tflite,
             "eon": eon, "hasPerformance": True}
            for mcu, title, default, lat in (
                (*TARGET_MCU, False, latency),
                (*DEFAULT_MCU, True, round(latency * 0.8, 1)),
            )
        ]  # fmt: skip
        f1 = report["weighted avg"]["f1-score"]
        test[precision] = {
            "type": precision,
            "loss": loss,
            "accuracy": accuracy,
            "confusionMatrix": matrix,
            "report": report,
            "onDevicePerformance": on_device,
            "visualization": "featureExplorer",
            "isSupportedOnMcu": True,
            "additionalMetrics": [
                {
                    "name": "Weighted average F1 score",
                    "value": f"{f1:.2f}",
                    "fullPrecisionValue": f1,
                },
            ],  # fmt: skip
        }
        learn_test[precision] = {"type": precision, "loss": loss, "accuracy": accuracy}
        item = _validation_item(precision, accuracy, loss, eon, tflite)
        items.append(item)
        learn_validation[precision] = {k: item[k] for k in ("type", "loss", "accuracy")}
        device[precision] = {"latency": latency, "eon": eon, "tflite": tflite}
    dsp = {
        "latency": round(draft.latency_ms * DSP_LATENCY_SHARE, 1),
        "ram": draft.ram // DSP_RAM_SHARE,
    }
    return Completed(
        test=test,
        learn_metrics={"test": learn_test, "validation": learn_validation},
        learn_metadata={"modelValidationMetrics": items},
        device=device,
        dsp_estimate=dsp,
    )
