"""Simulated EON Tuner trials: what each one is, and its JSON at a moment of its life (pure).

A trial is drawn once (`draw_trial`): an architecture whose name says what it is (for example
`mfe-conv1d-3x16-d0.25`), a size that drives latency, RAM, ROM and training time, an accuracy
that grows with the size, and whether it fails. `trial_document` then renders it in the shape
of the `TunerTrial` schema for its status: blocks and heartbeats, epochs and the learning
curve, and once completed its figures in every place Edge Impulse puts them
(`bot.sandbox.simulator.metrics`). The confusion matrix and the report are drawn only when a
trial completes, from the trial's own seed, so drawing 2,000 trials stays cheap.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.sandbox.simulator.metrics import TARGET_MCU, Completed, completed

__all__ = ["TARGET_MCU", "Draft", "Kind", "draw_kind", "draw_trial", "trial_document"]

TRAINING_CYCLES: Final = 30
_KB: Final = 1024
_DSP_TITLES: Final = {
    "mfe": ("mfe", "MFE"),
    "mfcc": ("mfcc", "MFCC"),
    "spectrogram": ("spectrogram", "Spectrogram"),
    "spectral": ("spectral-analysis", "Spectral Analysis"),
    "raw": ("raw", "Raw Data"),
    "flatten": ("flatten", "Flatten"),
    "rgb": ("image", "Image (RGB)"),
    "gray": ("image", "Image (Grayscale)"),
}


@dataclass(frozen=True, slots=True)
class Kind:
    """What the project classifies: fixes the labels, the DSP blocks and the architectures."""

    data_type: str
    template: str
    title: str
    labels: tuple[str, ...]
    dsp: tuple[str, ...]
    learn: tuple[str, ...]
    axes: tuple[str, ...]


KINDS: Final = (
    Kind("audio", "speech_keyword", "Keyword spotting", ("noise", "unknown", "yes", "no"),
         ("mfe", "mfcc", "spectrogram"), ("conv1d", "conv2d", "mobilenetv2"), ("audio",)),
    Kind("motion", "motion_continuous", "Continuous motion recognition",
         ("idle", "snake", "updown", "wave"), ("spectral", "raw", "flatten"),
         ("dense", "conv1d"), ("accX", "accY", "accZ")),
    Kind("image", "visual", "Image classification", ("cat", "dog", "other"), ("rgb", "gray"),
         ("mobilenetv2", "mobilenetv1", "conv2d"), ("image",)),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Draft:
    """One trial as drawn; `attempts` holds (training seconds, share done when it fails)."""

    id: str
    name: str
    kind: Kind
    dsp: str
    learn: str
    resolution: int | None
    accuracy: float  # int8, test set
    loss: float
    latency_ms: float  # int8, on the target device
    ram: int
    rom: int
    attempts: tuple[tuple[int, float | None], ...]
    retry_delay: int
    detail_seed: int


class _Attempt(Protocol):
    @property
    def worker(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def dsp_end(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def planned_end(self) -> int: ...
    @property
    def failed(self) -> bool: ...
    @property
    def job_id(self) -> int: ...


def draw_kind(rng: random.Random) -> Kind:
    return rng.choices(KINDS, weights=(2, 1, 1))[0]


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _architecture(
    rng: random.Random, kind: Kind, big: bool
) -> tuple[str, str, int | None, float, str]:
    """(DSP, learn block, image side, size 0..1, name): the size drives every cost."""
    dsp, learn = rng.choice(kind.dsp), rng.choice(kind.learn)
    if big:  # the one model of a run that is too large for the target
        learn = "mobilenetv2" if "mobilenetv2" in kind.learn else "conv1d"
    resolution = rng.choice((48, 96, 128)) if kind.data_type == "image" else None
    size = {None: 0.0, 48: -0.1, 96: 0.0, 128: 0.08}[resolution]
    prefix = f"{dsp}-{resolution}x{resolution}" if resolution else dsp
    if learn in ("conv1d", "conv2d"):
        layers, filters = rng.randint(2, 4), rng.choice((8, 16, 32))
        dropout = rng.choice((0.1, 0.25, 0.5))
        layers, filters = (4, 128) if big else (layers, filters)
        size += (0.15 if learn == "conv1d" else 0.3) + 0.1 * (layers - 2)
        size += 0.09 * math.log2(filters / 8)
        name = f"{prefix}-{learn}-{layers}x{filters}-d{dropout}"
    elif learn.startswith("mobilenet"):
        alphas = {"mobilenetv2": (0.05, 0.1, 0.35), "mobilenetv1": (0.1, 0.25)}[learn]
        alpha = 1.0 if big else rng.choice(alphas)
        size += {0.05: 0.45, 0.1: 0.55, 0.25: 0.62, 0.35: 0.8, 1.0: 1.0}[alpha]
        name = f"{prefix}-{learn}-{alpha}"
    else:
        layers, units = rng.randint(1, 3), rng.choice((10, 20, 40))
        size += 0.02 + 0.06 * (layers - 1) + 0.05 * math.log2(units / 10)
        name = f"{prefix}-dense-{layers}x{units}"
    size = 0.99 if big else _clamp(size + rng.gauss(0, 0.05), 0.0, 1.0)
    return dsp, learn, resolution, size, name


def draw_trial(
    rng: random.Random, kind: Kind, used: set[str], *, failure: str | float, big: bool = False
) -> Draft:
    """A new trial. `failure`: "retry_ok" (fails once, then completes), "twice" (fails for
    good after its retry), or the chance that it fails once (then either, 60/40)."""
    dsp, learn, resolution, size, name = _architecture(rng, kind, big)
    accuracy = 0.60 + 0.33 * (1 - math.exp(-3.2 * size)) / (1 - math.exp(-3.2))
    accuracy += {"mfe": 0.01, "raw": -0.03}.get(dsp, 0.0) + rng.gauss(0, 0.02)
    accuracy = round(_clamp(accuracy, 0.60, 0.97), 4)
    ram_size = size if big else _clamp(size + rng.gauss(0, 0.06), 0.0, 1.0)
    rom_size = size if big else _clamp(size + rng.gauss(0, 0.08), 0.0, 1.0)
    full = int(_clamp(round(240 + 480 * size + rng.gauss(0, 40)), 180, 900))
    if isinstance(failure, float):
        failure = (
            "none" if rng.random() >= failure else rng.choices(("retry_ok", "twice"), (3, 2))[0]
        )
    first, second = round(rng.uniform(0.05, 0.8), 3), round(rng.uniform(0.05, 0.8), 3)
    attempts: tuple[tuple[int, float | None], ...] = {
        "none": ((full, None),),
        "retry_ok": ((full, first), (full, None)),
        "twice": ((full, first), (full, second)),
    }[failure]
    while (trial_id := f"{rng.getrandbits(48):012x}") in used:
        continue
    used.add(trial_id)
    return Draft(
        id=trial_id,
        name=name,
        kind=kind,
        dsp=dsp,
        learn=learn,
        resolution=resolution,
        accuracy=accuracy,
        loss=round(-math.log(accuracy) * rng.uniform(1.1, 1.6), 4),
        latency_ms=round(_clamp(2 * 200**size, 2, 400), 1),
        ram=int(8 * _KB * 37.5**ram_size) // 16 * 16,
        rom=int(30 * _KB * 40**rom_size) // 16 * 16,
        attempts=attempts,
        retry_delay=rng.randint(25, 75),
        detail_seed=rng.getrandbits(32),
    )


def _impulse(draft: Draft, done: Completed | None) -> dict[str, Any]:
    if draft.resolution:
        side = draft.resolution
        block = {"imageWidth": side, "imageHeight": side, "resizeMode": "fit-short"}
        source: dict[str, Any] = {"id": 1, "type": "image", "name": "Image data", **block}
    else:
        window = (1000, 500, 16000) if draft.kind.data_type == "audio" else (2000, 80, 62.5)
        source = {"id": 1, "type": "time-series", "name": "Time series data",
                  "windowSizeMs": window[0], "windowIncreaseMs": window[1],
                  "frequencyHz": window[2]}  # fmt: skip
    dsp_type, dsp_title = _DSP_TITLES[draft.dsp]
    learn: dict[str, Any] = {
        "id": 3,
        "type": "keras-transfer-image"
        if draft.resolution and "mobilenet" in draft.learn
        else "keras",
        "name": "Classifier",
        "dsp": [2],
        "architecture": draft.learn,
        "trainingCycles": TRAINING_CYCLES,
    }
    dsp: dict[str, Any] = {"id": 2, "type": dsp_type, "name": dsp_title,
                           "axes": list(draft.kind.axes), "input": 1,
                           "implementationVersion": 4}  # fmt: skip
    if done is not None:
        learn["metrics"] = done.learn_metrics
        learn["metadata"] = done.learn_metadata
        dsp["estimatedPerformance"] = done.dsp_estimate
    return {"inputBlocks": [source], "dspBlocks": [dsp], "learnBlocks": [learn]}


def _progress(draft: Draft, epoch: int) -> dict[str, float]:
    """The learning curve at `epoch`, ending at the trial's own accuracy and loss."""
    decay = math.exp(-4.0 * epoch / TRAINING_CYCLES)
    chance = 1 / len(draft.kind.labels)
    val_accuracy = draft.accuracy - (draft.accuracy - chance) * decay
    val_loss = draft.loss + (1.6 - draft.loss) * decay
    return {
        "epoch": epoch,
        "loss": round(max(0.01, val_loss - 0.05 * epoch / TRAINING_CYCLES), 4),
        "val_loss": round(val_loss, 4),
        "accuracy": round(min(0.999, val_accuracy + 0.03 * epoch / TRAINING_CYCLES), 4),
        "val_accuracy": round(val_accuracy, 4),
    }


def _block(
    index: int, kind: str, retries: int, state: tuple[str, int | None], iso: Callable[[int], str]
) -> dict[str, Any]:
    status, when = state
    block: dict[str, Any] = {
        "id": index, "type": kind, "retries": retries, "status": status,
        "blockId": index, "modelBlockIndex": 0,
    }  # fmt: skip
    if when is not None:
        block["lastActive"] = iso(when)
    return block


def trial_document(
    draft: Draft,
    status: str,
    retries: int,
    attempt: _Attempt | None,
    round_: int,
    worker_id: str | None,
    now: int,
    iso: Callable[[int], str],
) -> dict[str, Any]:
    """The trial's `TunerTrial` JSON at second `now`, given where it stands then."""
    doc: dict[str, Any] = {"id": draft.id, "name": draft.name, "status": status,
                           "retries": retries, "optimizationRound": round_}  # fmt: skip
    if attempt is None:
        doc["blocks"] = [_block(i, k, 0, ("pending", None), iso)
                         for i, k in ((1, "input"), (2, "dsp"), (3, "learn"))]  # fmt: skip
        doc["impulse"] = _impulse(draft, None)
        return doc
    until = min(now, attempt.end)
    beat = attempt.start + (until - attempt.start) // 10 * 10  # heartbeat every 10 s
    in_dsp = until < attempt.dsp_end
    if status == "running":
        dsp = ("running", beat) if in_dsp else ("completed", attempt.dsp_end)
        learn = ("pending", None) if in_dsp else ("running", beat)
    elif status == "failed":
        dsp = ("failed", attempt.end) if in_dsp else ("completed", attempt.dsp_end)
        learn = ("pending", None) if in_dsp else ("failed", attempt.end)
    else:
        dsp, learn = ("completed", attempt.dsp_end), ("completed", attempt.end)
    doc["blocks"] = [
        _block(1, "input", retries, ("completed", attempt.start), iso),
        _block(2, "dsp", retries, dsp, iso),
        _block(3, "learn", retries, learn, iso),
    ]
    doc["workerId"] = worker_id
    doc["dspJobId"] = {"training": attempt.job_id, "testing": attempt.job_id + 1}
    learning = attempt.planned_end - attempt.dsp_end
    epoch = (
        0
        if in_dsp
        else min(TRAINING_CYCLES, (until - attempt.dsp_end) * TRAINING_CYCLES // learning)
    )
    if not in_dsp:
        doc["learnJobId"] = attempt.job_id + 2
        doc["currentEpoch"] = epoch
    if epoch:
        doc["lastCompletedEpoch"] = iso(attempt.dsp_end + epoch * learning // TRAINING_CYCLES)
        doc["progress"] = _progress(draft, epoch)
    done = None
    if status == "completed":
        done = completed(draft)
        doc["lastCompletedTraining"] = iso(attempt.end)
        doc["metrics"] = {"test": done.test}
        doc["devicePerformance"] = done.device
    doc["impulse"] = _impulse(draft, done)
    return doc
