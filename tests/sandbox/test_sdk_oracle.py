"""The official Edge Impulse SDK as an oracle no one here wrote: its `get_trial_metrics` reads
every completed trial of simulated runs, and its figures must be the bot's.

`edgeimpulse.tuner._functions.tuner.get_trial_metrics(trial: edgeimpulse_api.TunerTrial) ->
dict` (edgeimpulse 1.0.20; not re-exported by `edgeimpulse.tuner`) flattens the first learn
block's `metadata.modelValidationMetrics[]` into `val_<type>_{loss,size,accuracy,memory_*}` and
adds `test_<type>_accuracy` from its `metrics.test`. It raises KeyError on a trial that lacks
them, so running it at all proves the simulator emits the SDK's shape.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from edgeimpulse.tuner._functions.tuner import get_trial_metrics
from edgeimpulse_api import TunerTrial as SdkTrial

from bot.core.summarize import summarize_trial
from bot.sandbox.simulator.simulation import Simulation
from bot.tuner.models import OptimizeConfig, TunerTrial

# Seeds whose projects draw each kind of project (audio, motion, image).
RUNS = [("4242", 1), ("7", 3), ("12", 2), ("31", 5)]


def final_document(project_id: str, seed: int) -> dict[str, Any]:
    sim = Simulation(project_id, seed=seed, trials=24)
    return sim.document(sim.duration)


def sdk_only(raw: dict[str, Any]) -> dict[str, Any]:
    """The trial with the schema's places removed: only what the SDK and notebooks read."""
    trimmed = copy.deepcopy(raw)
    trimmed.pop("metrics", None)
    trimmed.pop("devicePerformance", None)
    for block in trimmed["impulse"]["learnBlocks"]:
        block.get("metrics", {}).get("test", {}).get("int8", {}).pop("onDevicePerformance", None)
    return trimmed


def completed_trials() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for project_id, seed in RUNS:
        doc = final_document(project_id, seed)
        found += [
            (f"{project_id}/{seed}/{raw['id']}", doc["config"], raw)
            for raw in doc["trials"]
            if raw["status"] == "completed"
        ]
    return found


TRIALS = completed_trials()


def test_the_runs_cover_every_kind_of_project_and_many_trials() -> None:
    kinds = {final_document(p, s)["projectDataType"] for p, s in RUNS}
    assert kinds == {"audio", "motion", "image"}
    assert len(TRIALS) >= 80


@pytest.mark.parametrize("shape", ["full document", "SDK places only"])
def test_the_sdk_reads_every_completed_trial_and_agrees_with_the_bot(shape: str) -> None:
    disagreements = []
    for label, config_doc, raw in TRIALS:
        doc = raw if shape == "full document" else sdk_only(raw)
        config = OptimizeConfig.model_validate(config_doc)
        precision = config.precision_or_default
        sdk = get_trial_metrics(SdkTrial.from_dict(copy.deepcopy(doc)))
        ours = summarize_trial(TunerTrial.model_validate(doc), config)
        expected = (
            sdk[f"test_{precision}_accuracy"],
            sdk[f"val_{precision}_memory_eon_ram"],
            sdk[f"val_{precision}_memory_eon_rom"],
        )
        if (ours.accuracy, ours.ram_bytes, ours.rom_bytes) != expected:
            disagreements.append((label, expected, (ours.accuracy, ours.ram_bytes, ours.rom_bytes)))
    assert disagreements == []


def test_with_only_the_sdks_places_latency_is_unknown_and_never_fits() -> None:
    """The SDK's item has no latency: the bot says "—" and does not call the trial fitting."""
    for _label, config_doc, raw in TRIALS[:10]:
        config = OptimizeConfig.model_validate(config_doc)
        ours = summarize_trial(TunerTrial.model_validate(sdk_only(raw)), config)
        assert ours.latency_ms is None
        assert "latency" in ours.unchecked and not ours.fits


def test_the_sdk_fails_on_a_trial_without_its_places() -> None:
    """Guards the oracle itself: without the learn block's metadata it cannot read a trial."""
    _label, _config, raw = TRIALS[0]
    stripped = copy.deepcopy(raw)
    del stripped["impulse"]["learnBlocks"][0]["metadata"]
    with pytest.raises(KeyError):
        get_trial_metrics(SdkTrial.from_dict(stripped))
