"""Where each headline figure of a trial is read, and whether it fits the targets (pure).

No captured real response is public, so each figure is read from every place the real service,
the official SDK (`edgeimpulse.tuner`) and Edge Impulse's notebooks use, in ONE precedence;
each figure falls through on its own, so a document may give the latency in one place and the
memory in another. All at the run's precision `p` (`config.optimizationPrecision`, else int8):

accuracy (0..1)
    1. `trial.metrics.test.<p>.accuracy`
    2. `trial.impulse.learnBlocks[0].metrics.test.<p>.accuracy` (the SDK's `get_trial_metrics`
       and the notebooks read it here)
score, only when no accuracy is found (object detection reports a per-class `report`)
    the mAP (`report.mAP`, else the additional metric named "mAP"), else the mean F1 over the
    report's classes (`background` left out, as Studio does), from the same two places in order
latency (ms), RAM and ROM (bytes)
    1. `trial.devicePerformance[<p>]`: `latency`, `eon.ramRequired`/`romRequired`, else `tflite`
    2. the `onDevicePerformance` entry of the target device (`config.targetDevice.name`), else
       the `isDefault` one, in `trial.metrics.test.<p>` (then `validation`), then in the first
       learn block's `metrics.test.<p>`: EON memory, else TFLite
    3. the first learn block's `metadata.modelValidationMetrics[]` item whose `type` is `p`
       (where the SDK and the notebooks read memory): `memory.eon.{ram,rom}`, else
       `memory.tflite`; its latency from its own `onDevicePerformance` entry. These are the
       model's figures alone, so the DSP blocks' `estimatedPerformance` (read by the notebooks)
       completes them: the DSP runs first, so latencies add (known only when the model's is),
       and the peak RAM is the larger of the DSP's and the model's.

A figure found nowhere is None, shown as "—". A limit whose figure is unknown is *unchecked*,
and an unchecked limit never lets a trial "fit" (`TrialFit.fits`): a trial is called fitting
only when every limit the run sets is known to be met. When no trial fits, one that is over no
known limit is still a better candidate than one known to be over a limit (`TrialFit.tier`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from bot.tuner.models import (
    DevicePerformance,
    MemoryUse,
    OnDevicePerformance,
    OptimizeConfig,
    TunerTrial,
)

DEFAULT_PRECISION = "int8"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Performance:
    latency_ms: float | None = None
    ram_bytes: int | None = None
    rom_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class TrialFit:
    """Which of the run's limits a trial is over, and which could not be checked."""

    over_latency: bool = False
    over_ram: bool = False
    over_rom: bool = False
    unchecked: tuple[str, ...] = ()  # "latency", "RAM", "ROM": limits set, figures unknown

    @property
    def over(self) -> bool:
        return self.over_latency or self.over_ram or self.over_rom

    @property
    def fits(self) -> bool:
        return not (self.over or self.unchecked)

    @property
    def tier(self) -> int:
        """How good a candidate for "best" it is, before accuracy: 0 known to fit, 1 over no
        known limit but some unchecked, 2 known to be over a limit."""
        return 2 if self.over else 1 if self.unchecked else 0


def precision_of(config: OptimizeConfig | None) -> str:
    return config.precision_or_default if config else DEFAULT_PRECISION


def fit(performance: Performance, config: OptimizeConfig | None) -> TrialFit:
    """THE fit rule: within the latency target and the device's RAM and ROM, each limit set
    (non-zero) and its figure known. Limits: `targetLatency` ms, `targetDevice.ram`/`rom` bytes."""
    device = config.target_device if config else None
    limits = (
        ("latency", config.target_latency if config else None, performance.latency_ms),
        ("RAM", device.ram if device else None, performance.ram_bytes),
        ("ROM", device.rom if device else None, performance.rom_bytes),
    )
    over = {
        name: bool(limit and value is not None and value > limit) for name, limit, value in limits
    }
    unchecked = tuple(name for name, limit, value in limits if limit and value is None)
    return TrialFit(over["latency"], over["RAM"], over["ROM"], unchecked)


# --- reading open-ended JSON ----------------------------------------------------------------


def dig(value: Any, *path: str | int) -> Any:
    """Walk dicts and lists that came as open-ended JSON; None where the path breaks."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    found = number(value)
    return None if found is None else int(found)


def _first(values: Iterable[_T | None]) -> _T | None:
    return next((value for value in values if value is not None), None)


def _learn_block(trial: TunerTrial) -> Any:
    return dig(trial.impulse.learn_blocks if trial.impulse is not None else None, 0)


# --- accuracy and score ---------------------------------------------------------------------


def _test_metrics(trial: TunerTrial, precision: str) -> Iterator[Mapping[str, Any]]:
    """`metrics.test.<p>` of the trial, then of its first learn block, as plain JSON (only the
    keys the score reads: dumping the confusion matrix of every trial would cost for nothing)."""
    if trial.metrics is not None and trial.metrics.test is not None:
        metrics = trial.metrics.test.at(precision)
        if metrics is not None:
            yield {
                "accuracy": metrics.accuracy,
                "report": metrics.report,
                "additionalMetrics": [
                    item.model_dump(by_alias=True) for item in metrics.additional_metrics or []
                ],
            }
    raw = dig(_learn_block(trial), "metrics", "test", precision)
    if isinstance(raw, Mapping):
        yield raw


def trial_accuracy(trial: TunerTrial, precision: str) -> float | None:
    if trial.metrics is not None and trial.metrics.test is not None:
        metrics = trial.metrics.test.at(precision)
        if metrics is not None and metrics.accuracy is not None:
            return metrics.accuracy
    return number(dig(_learn_block(trial), "metrics", "test", precision, "accuracy"))


def _map(metrics: Mapping[str, Any]) -> float | None:
    found = number(dig(metrics, "report", "mAP"))
    if found is not None:
        return found
    extra = metrics.get("additionalMetrics")
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, Mapping) and item.get("name") == "mAP":
            found = number(item.get("fullPrecisionValue"))
            if found is None and isinstance(item.get("value"), str):
                try:
                    found = float(item["value"])
                except ValueError:
                    found = None
            if found is not None:
                return found
    return None


def _mean_f1(metrics: Mapping[str, Any]) -> float | None:
    report = metrics.get("report")
    if not isinstance(report, Mapping):
        return None
    scores = [
        f1
        for label, row in report.items()
        if label != "background" and "avg" not in str(label)
        if (f1 := number(dig(row, "f1-score"))) is not None
    ]
    return sum(scores) / len(scores) if scores else None


def trial_score(trial: TunerTrial, precision: str) -> tuple[str, float] | None:
    """("mAP" | "mean F1", value 0..1): what an object-detection trial has instead of accuracy."""
    found = list(_test_metrics(trial, precision))
    for name, read in (("mAP", _map), ("mean F1", _mean_f1)):
        value = _first(read(metrics) for metrics in found)
        if value is not None:
            return name, value
    return None


# --- latency, RAM, ROM ----------------------------------------------------------------------


def _from_entry(
    latency: Any, eon: tuple[Any, Any] | None, tflite: tuple[Any, Any] | None
) -> Iterator[Performance]:
    """One place's figures: its EON (RAM, ROM), then its TFLite ones."""
    for memory in (eon, tflite):
        ram, rom = memory or (None, None)
        yield Performance(number(latency), _whole(ram), _whole(rom))


def _model_memory(memory: MemoryUse | None) -> tuple[Any, Any] | None:
    return (memory.ram_required, memory.rom_required) if memory is not None else None


def _raw_memory(
    entry: Any, compiler: str, ram: str = "ramRequired", rom: str = "romRequired"
) -> tuple[Any, Any]:
    return dig(entry, compiler, ram), dig(entry, compiler, rom)


def _from_device_performance(trial: TunerTrial, precision: str) -> Iterator[Performance]:
    entry = (trial.device_performance or {}).get(precision)
    if isinstance(entry, DevicePerformance):
        yield from _from_entry(entry.latency, _model_memory(entry.eon), _model_memory(entry.tflite))


def _device_entry(entries: list[Any], device: str | None) -> Any:
    """The target device's entry, else the default one (parsed models or raw JSON)."""

    def read(entry: Any, model_key: str, raw_key: str) -> Any:
        if isinstance(entry, OnDevicePerformance):
            return getattr(entry, model_key)
        return entry.get(raw_key) if isinstance(entry, Mapping) else None

    chosen = next((e for e in entries if device and read(e, "mcu", "mcu") == device), None)
    return chosen or next((e for e in entries if read(e, "is_default", "isDefault") is True), None)


def _from_on_device(trial: TunerTrial, precision: str, device: str | None) -> Iterator[Performance]:
    if trial.metrics is not None:
        for split in (trial.metrics.test, trial.metrics.validation):
            metrics = split.at(precision) if split is not None else None
            if metrics is not None and metrics.on_device_performance:
                entry = _device_entry(metrics.on_device_performance, device)
                if entry is not None:
                    yield from _from_entry(
                        entry.latency, _model_memory(entry.eon), _model_memory(entry.tflite)
                    )
    raw = dig(_learn_block(trial), "metrics", "test", precision, "onDevicePerformance")
    entry = _device_entry(raw, device) if isinstance(raw, list) else None
    if entry is not None:
        yield from _from_entry(
            entry.get("latency"), _raw_memory(entry, "eon"), _raw_memory(entry, "tflite")
        )


def _dsp_estimates(trial: TunerTrial) -> tuple[float | None, int | None]:
    """(summed latency, largest RAM) of the DSP blocks' estimates; latency None unless every
    DSP block has one."""
    blocks = trial.impulse.dsp_blocks if trial.impulse is not None else None
    estimates = [dig(b, "estimatedPerformance") for b in blocks or []]
    latencies = [number(dig(e, "latency")) for e in estimates]
    rams = [r for e in estimates if (r := _whole(dig(e, "ram"))) is not None]
    latency = None
    if latencies and all(v is not None for v in latencies):
        latency = sum(v for v in latencies if v is not None)
    return latency, max(rams, default=None)


def _from_validation_metrics(
    trial: TunerTrial, precision: str, device: str | None
) -> Iterator[Performance]:
    items = dig(_learn_block(trial), "metadata", "modelValidationMetrics")
    item = next(
        (i for i in items or [] if isinstance(i, Mapping) and i.get("type") == precision), None
    )
    if item is None:
        return
    on_device = item.get("onDevicePerformance")
    entry = _device_entry(on_device, device) if isinstance(on_device, list) else None
    model_latency = number(entry.get("latency")) if entry is not None else None
    dsp_latency, dsp_ram = _dsp_estimates(trial)
    latency = model_latency
    if model_latency is not None and dsp_latency is not None:
        latency = model_latency + dsp_latency
    memory = item.get("memory")
    for compiler in ("eon", "tflite"):
        ram, rom = _raw_memory(memory, compiler, "ram", "rom")
        model_ram = _whole(ram)
        if model_ram is not None and dsp_ram is not None:
            model_ram = max(model_ram, dsp_ram)
        yield Performance(latency, model_ram, _whole(rom))


def trial_performance(trial: TunerTrial, config: OptimizeConfig | None) -> Performance:
    """Latency, RAM and ROM at the run's precision, each from the first place that has it
    (places are read lazily, in order, until every figure is found)."""
    precision = precision_of(config)
    device = config.target_device.name if config and config.target_device else None
    latency: float | None = None
    ram: int | None = None
    rom: int | None = None
    for found in chain(
        _from_device_performance(trial, precision),
        _from_on_device(trial, precision, device),
        _from_validation_metrics(trial, precision, device),
    ):
        latency = latency if latency is not None else found.latency_ms
        ram = ram if ram is not None else found.ram_bytes
        rom = rom if rom is not None else found.rom_bytes
        if latency is not None and ram is not None and rom is not None:
            break
    return Performance(latency, ram, rom)
