"""Pydantic models of Edge Impulse's `GET /api/{projectId}/optimize/state` response.

Parsed leniently, because the real service is looser than its OpenAPI document
(`shared/seed/optimize-state.openapi.yaml`): optional and even "required" fields go missing,
enums grow new values (every enum is a plain `str`; the `StrEnum`s below name the values the
code reacts to), ids are opaque strings (numbers are turned into strings), and unknown fields
are kept. What the bot cannot do without is required: `success`, and each trial's `id` and
`status`; a successful response without a `trials` list, or with `success: false`, is an error
raised by `tuner_client.parse_state`, never an empty state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        frozen=True,
        coerce_numbers_to_str=True,
    )


class TrialStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class TunerStatus(StrEnum):
    CREATING = "creating"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"


class Precision(StrEnum):
    INT8 = "int8"
    FLOAT32 = "float32"


class TargetDevice(_Model):
    name: str | None = None
    ram: int | None = None
    rom: int | None = None


class OptimizationObjective(_Model):
    objective: str | None = None
    label: str | None = None
    weight: float | None = None


class SearchSpaceTemplate(_Model):
    identifier: str | None = None
    classification: bool | None = None
    anomaly: bool | None = None
    regression: bool | None = None


class SearchSpaceSource(_Model):
    type: str | None = None
    template_title: str | None = None
    run_title: str | None = None
    impulse_title: str | None = None


class TunerSpaceImpulse(_Model):
    parameters: dict[str, Any] | None = None
    input_blocks: list[dict[str, Any]] = []
    dsp_blocks: list[dict[str, Any]] = []
    learn_blocks: list[list[dict[str, Any]]] = []


class OptimizeConfig(_Model):
    name: str | None = None
    target_latency: float | None = None
    target_device: TargetDevice | None = None
    compiler: list[str] | None = None
    precision: list[str] | None = None
    training_cycles: int | None = None
    tuning_max_trials: int | None = None
    tuning_workers: int | None = None
    initial_trials: int | None = None
    optimization_rounds: int | None = None
    trials_per_optimization_round: int | None = None
    min_maccs: float | None = Field(default=None, alias="minMACCS")
    max_maccs: float | None = Field(default=None, alias="maxMACCS")
    tuning_algorithm: str | None = None
    notification_on_completion: bool | None = None
    import_project_metrics: bool | None = None
    import_resource_metrics: bool | None = None
    num_import_project_metrics: float | None = None
    num_import_resource_metrics: float | None = None
    enable_sem: bool | None = Field(default=None, alias="enableSEM")
    accuracy_sem: float | None = Field(default=None, alias="accuracySEM")
    latency_sem: float | None = Field(default=None, alias="latencySEM")
    optimization_objectives: list[OptimizationObjective] | None = None
    raw_objectives: str | None = None
    optimization_precision: str | None = None
    early_stopping: bool | None = None
    early_stopping_window_size: float | None = None
    early_stopping_improvement_bar: float | None = None
    momf: bool | None = Field(default=None, alias="MOMF")
    verbose_logging: bool | None = None
    disable_constraints: bool | None = None
    disable_deduplicate: bool | None = None
    max_total_training_time: float | None = None
    tuner_space_options: dict[str, list[str]] | None = None
    space: list[TunerSpaceImpulse] | None = None
    search_space_template: SearchSpaceTemplate | None = None
    search_space_source: SearchSpaceSource | None = None

    @property
    def precision_or_default(self) -> str:
        """The precision headline numbers are read at; Edge Impulse's default is int8."""
        return self.optimization_precision or Precision.INT8


class TunerStatusCounts(_Model):
    num_pending_trials: int = 0
    num_running_trials: int = 0
    num_completed_trials: int = 0
    num_failed_trials: int = 0
    num_ready_workers: int = 0
    num_busy_workers: int = 0
    num_pending_workers: int = 0
    status: str | None = None


class Worker(_Model):
    worker_id: str
    status: str | None = None


class TrialBlock(_Model):
    id: str | None = None
    last_active: str | None = None
    retries: int | None = None
    status: str | None = None
    type: str | None = None
    block_id: str | None = None
    model_block_index: int | None = None


class TunerTrialImpulse(_Model):
    """The schema requires `inputBlock`/`dspBlock`/`learnBlock` but lists plural properties;
    neither spelling is required here and the singular ones, if sent, are kept as extras."""

    input_blocks: list[dict[str, Any]] | None = None
    dsp_blocks: list[dict[str, Any]] | None = None
    learn_blocks: list[dict[str, Any]] | None = None


class MemoryUse(_Model):
    ram_required: int | None = None
    rom_required: int | None = None
    arena_size: int | None = None
    model_size: int | None = None


class CustomMetric(_Model):
    name: str | None = None
    value: str | None = None


class OnDevicePerformance(_Model):
    mcu: str | None = None
    name: str | None = None
    is_default: bool | None = None
    latency: float | None = None
    tflite: MemoryUse | None = None
    eon: MemoryUse | None = None
    eon_ram_optimized: MemoryUse | None = Field(default=None, alias="eon_ram_optimized")
    custom_metrics: list[CustomMetric] | None = None
    has_performance: bool | None = None
    profiling_error: str | None = None


class AdditionalMetric(_Model):
    name: str | None = None
    value: str | None = None
    full_precision_value: float | None = None
    tooltip_text: str | None = None
    link: str | None = None


class KerasModelMetadataMetrics(_Model):
    type: str | None = None
    loss: float | None = None
    accuracy: float | None = None
    confusion_matrix: list[list[float]] | None = None
    report: dict[str, Any] | None = None
    on_device_performance: list[OnDevicePerformance] | None = None
    predictions: list[dict[str, Any]] | None = None
    visualization: str | None = None
    is_supported_on_mcu: bool | None = None
    mcu_support_error: str | None = None
    profiling_job_id: int | None = None
    profiling_job_failed: bool | None = None
    additional_metrics: list[AdditionalMetric] | None = None


class MetricsByPrecision(_Model):
    float32: KerasModelMetadataMetrics | None = None
    int8: KerasModelMetadataMetrics | None = None

    def at(self, precision: str) -> KerasModelMetadataMetrics | None:
        value = getattr(self, precision, None) or (self.model_extra or {}).get(precision)
        return value if isinstance(value, KerasModelMetadataMetrics) else None


class TrialMetrics(_Model):
    test: MetricsByPrecision | None = None
    train: MetricsByPrecision | None = None
    validation: MetricsByPrecision | None = None


class TrialProgress(_Model):
    epoch: float | None = None
    loss: float | None = None
    val_loss: float | None = Field(default=None, alias="val_loss")
    accuracy: float | None = None
    val_accuracy: float | None = Field(default=None, alias="val_accuracy")


class DevicePerformance(_Model):
    """One entry of `trial.devicePerformance`, keyed by precision (the schema leaves it open)."""

    latency: float | None = None
    eon: MemoryUse | None = None
    tflite: MemoryUse | None = None


class DspJobIds(_Model):
    training: float | None = None
    testing: float | None = None


class ImpulseAddedToProject(_Model):
    impulse_id: int | None = None
    link: str | None = None


class TunerTrial(_Model):
    id: str
    name: str | None = None
    status: str
    last_completed_epoch: str | None = None
    last_completed_training: str | None = None
    retries: int = 0
    current_epoch: int | None = None
    worker_id: str | None = None
    blocks: list[TrialBlock] = []
    impulse: TunerTrialImpulse | None = None
    experiment: str | None = None
    original_trial_id: str | None = Field(default=None, alias="original_trial_id")
    model: dict[str, Any] | None = None
    dsp_job_id: DspJobIds | None = None
    learn_job_id: float | None = None
    # Open-ended in the schema: a value that is not an object is kept as it came.
    device_performance: (
        dict[str, Annotated[DevicePerformance | Any, Field(union_mode="left_to_right")]] | None
    ) = None
    optimization_round: float | None = None
    progress: TrialProgress | None = None
    metrics: TrialMetrics | None = None
    impulse_added_to_project: ImpulseAddedToProject | None = None
    created_in_post_processing: bool | None = None

    # Figures derived from this (immutable) trial, kept across polls while it is unchanged.
    _memo: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.id

    def memo(self) -> dict[Any, Any]:
        """A place for pure functions to keep what they derived from this trial."""
        # Straight from the instance's private dict: `self._memo` goes through pydantic's
        # `BaseModel.__getattr__`, which costs more than the memoised work on every poll.
        private = self.__pydantic_private__
        assert private is not None
        memo: dict[Any, Any] = private["_memo"]
        return memo


class OptimizeStateResponse(_Model):
    success: bool
    error: str | None = None
    config: OptimizeConfig | None = None
    status: TunerStatusCounts | None = None
    tuner_job_id: str | None = None
    tuner_coordinator_job_id: str | None = None
    # Older documents (and Edge Impulse's notebooks) name the job this way.
    active_tuner_job_id: str | None = None
    continuation_job_id: str | None = None
    tuning_algorithm: str | None = None
    # None when the service left it out: unknown, which is not the same as "finished".
    tuner_job_is_running: bool | None = None
    trials: list[TunerTrial] = []
    project_data_type: str | None = None
    job_error: str | None = None
    workers: list[Worker] = []
    next_run_index: int | None = None
    can_extend_search: bool | None = None
    is_whitelabel: bool | None = None
    total_training_time_exceeded: bool | None = None

    @property
    def job_id(self) -> str | None:
        """The tuner job: `tunerJobId`, else the older `activeTunerJobId`."""
        return self.tuner_job_id or self.active_tuner_job_id

    @property
    def run_id(self) -> str | None:
        """What identifies one run: the coordinator job (it also names the Studio page), else
        the tuner job."""
        return self.tuner_coordinator_job_id or self.job_id
