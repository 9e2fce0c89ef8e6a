"""The reads of earlier runs (`bot.tuner.runs`) against the simulator over real HTTP, and the
simulator's answers against the official client's models (`edgeimpulse_api`), which no one
here wrote: the runs list and a run's own state must be what `list_tuner_runs` and
`get_tuner_run_state` parse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import edgeimpulse_api
import pytest
from pydantic import SecretStr

from bot.core.events import Snapshot
from bot.core.handover import Wanted
from bot.errors import TunerUnavailable
from bot.sandbox.simulator.server import Fault, SimulatorServer
from bot.sandbox.simulator.simulation import RunInfo
from bot.tuner.client import TunerClient, default_transport, whole_state
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.runs import fetch_run_state, list_runs, read_earlier, run_state_path

PROJECT = "4"


@pytest.fixture
async def served() -> AsyncIterator[tuple[SimulatorServer, TunerClient]]:
    async with SimulatorServer(api_key="k", trials=12) as simulator, default_transport() as t:
        client = TunerClient(t, base_url=simulator.url, api_key_for=lambda _: SecretStr("k"))
        yield simulator, client


async def parse(client: TunerClient, body: bytes) -> OptimizeStateResponse:
    return client.read(PROJECT, body, whole_state)


async def test_the_runs_list_in_the_official_shape_oldest_first_for_the_bot(
    served: tuple[SimulatorServer, TunerClient],
) -> None:
    simulator, client = served
    first, extension = simulator.controller.simulation(PROJECT).runs
    simulator.controller.set_time(PROJECT, extension.ready + 5)
    body = await client.fetch(PROJECT, "optimize/runs")

    official = edgeimpulse_api.ListTunerRunsResponse.parse_raw(body)  # validates, unlike from_dict
    constructed = edgeimpulse_api.ListTunerRunsResponse.from_json(body.decode())  # the client's
    assert [r.tuner_job_id for r in constructed.runs] == [r.tuner_job_id for r in official.runs]
    assert [r.tuner_coordinator_job_id for r in official.runs] == [
        extension.coordinator_job_id,  # newest first, as served: the bot does not rely on it
        first.coordinator_job_id,
    ]
    assert [str(r.job_status) for r in official.runs] == ["running", "success"]
    assert official.runs[0].continuation_job_id == first.coordinator_job_id

    runs = await list_runs(client, PROJECT)
    assert [(r.tuner_coordinator_job_id, r.tuner_job_id) for r in runs] == [
        (str(first.coordinator_job_id), str(first.tuner_job_id)),
        (str(extension.coordinator_job_id), str(extension.tuner_job_id)),
    ]


async def test_a_runs_own_state_is_held_at_its_end_in_the_official_shape(
    served: tuple[SimulatorServer, TunerClient],
) -> None:
    simulator, client = served
    simulation = simulator.controller.simulation(PROJECT)
    first, extension = simulation.runs
    simulator.controller.set_time(PROJECT, extension.ready + 5)
    body = await fetch_run_state(client, PROJECT, str(first.coordinator_job_id))

    official = edgeimpulse_api.OptimizeStateResponse.parse_raw(body)
    assert official.tuner_coordinator_job_id == first.coordinator_job_id
    assert body == simulation.document_bytes(first.end)  # its last document, not the newest
    state = await parse(client, body)
    assert state.tuner_job_is_running is False and state.status is not None
    assert state.status.status == "completed"


def wanted(closing: RunInfo, current: RunInfo) -> Wanted:
    """The poller's ask: the snapshot holds `closing`, the state shows `current`."""
    held = Snapshot(
        project_id=PROJECT,
        coordinator_job_id=str(closing.coordinator_job_id),
        tuner_job_id=str(closing.tuner_job_id),
    )
    shown = {"success": True, "trials": [], "tunerCoordinatorJobId": current.coordinator_job_id}
    return Wanted(held, OptimizeStateResponse.model_validate(shown))


async def test_unknown_or_refused_runs_are_none_and_an_outage_is_raised(
    served: tuple[SimulatorServer, TunerClient],
) -> None:
    simulator, client = served
    first, extension = simulator.controller.simulation(PROJECT).runs
    simulator.controller.set_time(PROJECT, first.end - 5)
    with ThreadPoolExecutor(1) as reader:
        [(coordinator, state)] = await read_earlier(
            client, PROJECT, wanted(first, extension), reader
        )
        assert coordinator == str(first.coordinator_job_id)
        assert state is not None and state.tuner_coordinator_job_id == coordinator

        # a run not started yet (not in the list): its state is a 404
        [(_, state)] = await read_earlier(client, PROJECT, wanted(extension, first), reader)
        assert state is None

        simulator.controller.configure(PROJECT, trials=12, runs_readable=False)
        [(_, state)] = await read_earlier(client, PROJECT, wanted(first, extension), reader)
        assert state is None

        simulator.controller.configure(PROJECT, trials=12)
        simulator.controller.inject(PROJECT, *[Fault.error(503)] * 3)
        with pytest.raises(TunerUnavailable):
            await read_earlier(client, PROJECT, wanted(first, extension), reader)


@pytest.mark.parametrize("job_id", ["", "12/../state", "１２", "12a"])
def test_a_run_state_path_takes_only_a_number(job_id: str) -> None:
    with pytest.raises(ValueError, match="not a job id"):
        run_state_path(job_id)
