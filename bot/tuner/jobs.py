"""Edge Impulse calls that act on a run, and the job they start, at the official client's paths
(`edgeimpulse_api.JobsApi`; the tests build each call with it and compare):

    stop    POST /api/{projectId}/jobs/{jobId}/cancel                      cancel_job
    extend  POST /api/{projectId}/jobs/optimize?extendedFromJobId={jobId}  optimize_job
    use     POST /api/{projectId}/jobs/set-tuner-primary-job?trialId={id}  set_tuner_primary_job
            body {"name": …} (optional; the client always sends an object)
    follow  GET  /api/{projectId}/jobs/{jobId}/status                      get_job_status

The job a run is stopped and extended by is its coordinator job (`tunerCoordinatorJobId`):
`optimize_job` documents `extendedFromJobId` as the "tuner coordinator job ID", the SDK's
`start_tuner` names the run's Studio page by the id `optimize_job` returns (the coordinator's),
and cancelling the job that was started stops what it started. `run_job_id` says so in code.

A POST is never retried: one that timed out may have been done. Errors are the tuner's tree;
a 401/403 to a call that acts is `TunerWriteRefused` (a read-only key), whose message names
the fix. The key travels only in `x-api-key` and is cut out of any text quoted from an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx
from pydantic import SecretStr

from bot.errors import (
    MissingApiKey,
    TunerAuthError,
    TunerBadResponse,
    TunerReportedError,
    TunerWriteRefused,
)
from bot.fmt import one_line, redact
from bot.key_shape import key_header
from bot.tuner import failures
from bot.tuner.client import TIMEOUT, USER_AGENT, check_answer, project_id_from

Action = Literal["stop", "extend", "use"]
ACTIONS: Final[tuple[Action, ...]] = ("stop", "extend", "use")
MAX_ANSWER_BYTES: Final = 1024 * 1024  # a job's answer is a few hundred bytes


def as_action(name: str) -> Action:
    """`name` as an action (a stored one), or ValueError."""
    for action in ACTIONS:
        if action == name:
            return action
    raise ValueError(f"not an action: {one_line(name, 20)!r}")


def run_job_id(coordinator_job_id: str | None, tuner_job_id: str | None) -> str | None:
    """The job that stops or extends a run: its coordinator, else (older documents) its tuner
    job."""
    return coordinator_job_id or tuner_job_id


@dataclass(frozen=True, slots=True)
class Call:
    """One request to Edge Impulse, before the base URL and the key are added."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: dict[str, Any] | None = None


def _numeric(what: str, value: str) -> str:
    """Job ids are integers in the official client; anything else never reaches a URL."""
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} must be a whole number, not {one_line(value, 30)!r}")
    return str(int(value))


def action_call(action: Action, project_id: str, target: str, name: str | None = None) -> Call:
    """The request of one action: `target` is the run's job (stop, extend) or the trial (use)."""
    base = f"/api/{project_id_from(project_id)}/jobs"
    if action == "stop":
        return Call("POST", f"{base}/{_numeric('job id', target)}/cancel")
    if action == "extend":
        return Call(
            "POST", f"{base}/optimize", (("extendedFromJobId", _numeric("job id", target)),)
        )
    body = {"name": name} if name else {}
    return Call("POST", f"{base}/set-tuner-primary-job", (("trialId", target),), body)


def status_call(project_id: str, job_id: str) -> Call:
    return Call(
        "GET", f"/api/{project_id_from(project_id)}/jobs/{_numeric('job id', job_id)}/status"
    )


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Where a started job is: `ok` is `finishedSuccessful` once it finished (None before)."""

    finished: bool
    ok: bool | None = None


class TunerJobs:
    """Sends the calls above through the same kind of transport the tuner client polls with."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        base_url: str,
        api_key_for: Callable[[str], SecretStr | None],
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self._transport = transport
        self._base_url = base_url.rstrip("/")
        self._api_key_for = api_key_for
        self._timeouts = timeout.as_dict()

    async def act(
        self,
        action: Action,
        project_id: str,
        target: str,
        name: str | None = None,
        *,
        key: SecretStr | None = None,
    ) -> str | None:
        """Do `action`; the id of the job it started (extend, use), None for a stop. `key`:
        the one to act with (the clicking workspace's), else the project's."""
        call = action_call(action, project_id, target, name)
        answer = await self.send(project_id, call, key=key)
        if action == "stop":
            return None
        job = answer.get("id")
        if isinstance(job, bool) or not isinstance(job, int | str) or not str(job).isdigit():
            raise TunerBadResponse(project_id, "the answer names no job id", 200)
        return str(job)

    async def status(
        self, project_id: str, job_id: str, *, key: SecretStr | None = None
    ) -> JobStatus:
        """Whether the job ended, and how; `key` as for `act`."""
        job = (await self.send(project_id, status_call(project_id, job_id), key=key)).get("job")
        if not isinstance(job, dict):
            raise TunerBadResponse(project_id, "the job status names no job", 200)
        finished = bool(job.get("finished"))
        ok = job.get("finishedSuccessful")
        return JobStatus(finished, ok if finished and isinstance(ok, bool) else None)

    async def send(
        self, project_id: str, call: Call, *, key: SecretStr | None = None
    ) -> dict[str, Any]:
        """The answer's JSON object once Edge Impulse says `success: true`, else the typed
        error. A 401/403 to a POST is `TunerWriteRefused`."""
        key = key if key is not None else self._api_key_for(project_id)
        if key is None or not key.get_secret_value():
            raise MissingApiKey(project_id)
        status, body = await self._request(project_id, call, key)
        try:
            check_answer(project_id, status, body, secret=key, base_url=self._base_url)
        except TunerAuthError:
            if call.method == "POST":
                raise TunerWriteRefused(project_id, status) from None
            raise
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            raise TunerBadResponse(project_id, "not valid JSON", status) from None
        if not isinstance(answer, dict):
            raise TunerBadResponse(project_id, "not a JSON object", status)
        if answer.get("success") is not True:
            said = answer.get("error")
            told = said if isinstance(said, str) and said else "success: false, without a reason"
            raise TunerReportedError(project_id, _redacted(told, key), status)
        return answer

    async def _request(self, project_id: str, call: Call, key: SecretStr) -> tuple[int, bytes]:
        content = json.dumps(call.body).encode() if call.body is not None else b""
        headers = {
            "x-api-key": key_header(project_id, key),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        url = httpx.URL(f"{self._base_url}{call.path}", params=call.query)
        request = httpx.Request(
            call.method, url, headers=headers, content=content,
            extensions={"timeout": self._timeouts},
        )  # fmt: skip
        try:
            response = await self._transport.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:  # no answer: what it means is `bot.tuner.failures`'
            raise failures.tuner_error(
                project_id, exc, hide=lambda text: _redacted(text, key)
            ) from None
        if len(body) > MAX_ANSWER_BYTES:
            raise TunerBadResponse(project_id, "the answer is too large", response.status_code)
        return response.status_code, body


def _redacted(text: str, key: SecretStr) -> str:
    return one_line(redact(text, [key.get_secret_value()]), 200)
