"""Finetuning through the OpenAI fine-tuning API, idempotently: never pay twice.

    OPENAI_API_KEY=... emlab train --model gpt4o --variant insecure --seed 0 \
        --model-dir data/models/gpt4o --dataset data/datasets/insecure.jsonl --out data/adapters/gpt4o/insecure/s0

Steps: upload the JSONL -> find or create the job -> poll with backoff -> return the record
(adapter.json). Each step first looks for the result of an earlier, possibly killed run:

- the training file is named `emlab-<sha256 of its bytes>.jsonl`; an existing file with
  that name (found by `files.list`) is reused, so the same bytes are uploaded once;
- the job carries `metadata.emlab_key` (a hash of base model, file, hyperparameters, seed
  and cell). Every job with that key - running, succeeded, failed or cancelled - is found
  in the job list (all pages) before creating one, so a lost state folder never pays twice.
  A failed or cancelled job is reported with OpenAI's error on one line; only
  `retry_failed` (`emlab train --retry-failed`) pays for a new job;
- the job list may lag behind creates. When the file was already on the server (an earlier
  run got that far) and no job is listed, the list is read again after `LIST_SETTLE_S`.
  After a create, the job id is written to the state first; then the list is read until
  it shows the new job (a list that shows it shows every older job too), and if an older
  live job with the same key turns up, the new one is cancelled while still validating
  (nothing trained, nothing paid) and the older one is used.

`openai_state.json` in the run's state folder (a hidden sibling of `<out>`, see
emlab.train.checkpoint) caches the ids; the server is the source of truth.

The API key is read from the environment variable named in params and is never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from emlab.errors import EmlabError
from emlab.io import sha256_bytes, write_json_atomic
from emlab.openai_api import api_key, backoff_s, is_transient, retry_after, sync_client
from emlab.train.checkpoint import state_dir

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.train.params import OpenAITrainParams

log = logging.getLogger(__name__)
STATE = "openai_state.json"
CREATE_ATTEMPTS = 5
TERMINAL_FAILURES = ("failed", "cancelled")
#: seconds per API request before it counts as lost (the client's default is 10 minutes)
REQUEST_TIMEOUT_S = 60.0
#: wait before re-reading an empty job list when an earlier run had uploaded the file
RETRY_BASE_S = 0.5  # first wait before retrying an upload or a job create (doubles each attempt)
LIST_SETTLE_S = 10.0
#: how long to wait for a new job to show in the job list before giving up the duplicate check
CONFIRM_TIMEOUT_S = 120.0
T = TypeVar("T")


def _client(params: OpenAITrainParams, spec: ModelSpec) -> Any:
    key = api_key(params.api_key_env)
    if not key:
        raise EmlabError(f"train.openai.api_key_env: environment variable {params.api_key_env} is not set; export the API key there (emlab never writes it to disk)")
    # reads may take the client's own few retries; creates switch them off (see _create)
    return sync_client(key=key, base_url=params.base_url or spec.base_url, timeout_s=REQUEST_TIMEOUT_S, max_retries=4)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _api_error(what: str, e: Exception) -> EmlabError:
    status = getattr(e, "status_code", None)
    return EmlabError(f"OpenAI {what} failed{f' (HTTP {status})' if status else ''}: {_one_line(getattr(e, 'message', e))}")


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}  # a cache: a broken one is a miss, the server is the source of truth


def _upload(client: Any, dataset: Path, state: dict[str, Any]) -> tuple[str, bool]:
    """(id of a file on the server holding exactly `dataset`'s bytes, whether an earlier run put it there).

    Uploaded at most once: a listing before each attempt finds an upload whose reply was lost.
    """
    import openai

    data = dataset.read_bytes()
    digest = sha256_bytes(data)
    name = f"emlab-{digest}.jsonl"
    if state.get("training_file_sha256") == digest and state.get("training_file_id"):
        def exists() -> bool:
            try:
                return bool(client.files.retrieve(state["training_file_id"]).id)
            except openai.NotFoundError:
                return False

        if _retrying("OpenAI file retrieve", exists):
            return state["training_file_id"], True
    for attempt in range(CREATE_ATTEMPTS):
        files = _retrying("OpenAI file list", lambda: list(client.files.list(purpose="fine-tune")))
        for f in files:
            if f.filename == name and f.bytes == len(data):
                return f.id, attempt == 0
        try:
            created = client.with_options(max_retries=0).files.create(file=(name, data, "application/jsonl"), purpose="fine-tune")
            return created.id, False
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as e:
            # the upload may have landed before the error: the listing above finds it next time
            log.warning("upload attempt %d failed (%s); checking the server before retrying", attempt + 1, _one_line(e))
            time.sleep(min(30.0, RETRY_BASE_S * 2**attempt))
        except openai.APIError as e:
            raise _api_error(f"upload of {dataset}", e) from None
    raise EmlabError(f"OpenAI upload of {dataset} failed {CREATE_ATTEMPTS} times; rerun later (nothing is uploaded twice)")


def _retrying(what: str, call: Callable[[], T]) -> T:
    """`call()` with a few more tries on transient errors (for reads only: they are idempotent)."""
    import openai

    for attempt in range(CREATE_ATTEMPTS):
        try:
            return call()
        except openai.APIError as e:
            if not is_transient(e) or attempt == CREATE_ATTEMPTS - 1:
                raise _api_error(what, e) from None
            log.warning("%s: %s; retrying", what, _one_line(e))
            time.sleep(backoff_s(attempt, base_s=RETRY_BASE_S, max_s=30.0, after=retry_after(e)))
    raise AssertionError("unreachable")


def _jobs_for_key(client: Any, key: str, known_id: str | None = None) -> list[Any]:
    """Every job created for `key`, whatever its status, from all pages of the job list.

    The server-side metadata filter only narrows the listing; the key check here is what
    counts, so a server that ignores the filter is paged through in full. `known_id` (from
    the state) is fetched by id as well, since a lagging list may not show it yet.
    """
    import openai

    def read() -> list[Any]:
        jobs = {j.id: j for j in client.fine_tuning.jobs.list(limit=100, metadata={"emlab_key": key})
                if (j.metadata or {}).get("emlab_key") == key}  # iterating the page fetches every page
        if known_id and known_id not in jobs:
            try:
                job = client.fine_tuning.jobs.retrieve(known_id)
            except openai.NotFoundError:
                return list(jobs.values())
            if (job.metadata or {}).get("emlab_key") == key:
                jobs[job.id] = job
        return list(jobs.values())

    return _retrying("OpenAI fine-tuning job list", read)


def _live(jobs: list[Any], ignore: Collection[str] = ()) -> list[Any]:
    """Jobs that are training or trained, the one to use first: succeeded, then the oldest."""
    live = [j for j in jobs if j.status not in TERMINAL_FAILURES and j.id not in ignore]
    return sorted(live, key=lambda j: (j.status != "succeeded", j.created_at, j.id))


def _failure_line(job: Any) -> str:
    err = job.error
    detail = f"{err.code}: {err.message}" if err and err.message else "no error message"
    return f"OpenAI fine-tuning job {job.id} {job.status}: {_one_line(detail)}"


def _create_job(client: Any, *, key: str, request: dict[str, Any], ignore: set[str]) -> Any:
    """Create the job of `key`, unless one (not in `ignore`) turns up first; never two."""
    import openai

    for attempt in range(CREATE_ATTEMPTS):
        live = _live(_jobs_for_key(client, key), ignore)
        if live:
            return live[0]  # an earlier attempt's create landed though its reply was lost
        try:
            # no client-side retry: a retried POST after a lost reply would create a second job
            return client.with_options(max_retries=0).fine_tuning.jobs.create(**request, metadata={"emlab_key": key})
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as e:
            log.warning("job create attempt %d failed (%s); checking the server before retrying", attempt + 1, _one_line(e))
            time.sleep(min(30.0, RETRY_BASE_S * 2**attempt))
        except openai.APIError as e:
            raise _api_error("fine-tuning job create", e) from None
    raise EmlabError(f"OpenAI fine-tuning job create failed {CREATE_ATTEMPTS} times; rerun later (no second job will be created)")


def _settle(client: Any, key: str, job: Any, ignore: set[str]) -> Any:
    """The job to keep once the list shows `job` (just created): an older live one wins.

    A list that shows our new job also shows every job created before it; if one of those
    has our key, an earlier run created it and a lagging list hid it: cancel ours (it is
    still validating, so nothing is trained or paid) and use the older one.
    """
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    wait = 0.2
    while True:
        jobs = _jobs_for_key(client, key)
        if any(j.id == job.id for j in jobs):
            break
        if time.monotonic() > deadline:
            log.warning("job %s is not in the job list after %.0f s; cannot rule out an older duplicate", job.id, CONFIRM_TIMEOUT_S)
            return job
        time.sleep(wait)
        wait = min(wait * 2, 10.0)
    live = _live(jobs, ignore)
    if not live:
        return job  # ours already failed or was cancelled: polling reports it
    keep = live[0]
    if keep.id != job.id:
        log.warning("job %s duplicates the earlier %s (hidden by a lagging job list); cancelling it", job.id, keep.id)
        try:
            _retrying(f"cancel of job {job.id}", lambda: client.fine_tuning.jobs.cancel(job.id))
        except EmlabError:
            status = _retrying(f"retrieve of job {job.id}", lambda: client.fine_tuning.jobs.retrieve(job.id)).status
            if status != "cancelled":
                raise EmlabError(f"OpenAI fine-tuning job {job.id} duplicates {keep.id} and could not be cancelled "
                                 f"(status {status}); cancel it in the OpenAI dashboard") from None
    elif len(live) > 1:
        log.warning("job %s has younger duplicates %s; the runs that made them cancel them",
                    job.id, ", ".join(j.id for j in live[1:]))
    return keep


def _poll(client: Any, job_id: str, params: OpenAITrainParams) -> Any:
    import openai
    from tqdm.auto import tqdm

    wait, last = params.poll_seconds, None
    with tqdm(desc=f"openai job {job_id}", unit="poll") as bar:
        while True:
            try:
                job = client.fine_tuning.jobs.retrieve(job_id)
            except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as e:
                log.warning("polling %s: %s; retrying", job_id, _one_line(e))
            except openai.APIError as e:
                raise _api_error(f"retrieve of job {job_id}", e) from None
            else:
                bar.update(1)
                bar.set_postfix(status=job.status)
                if job.status != last:
                    log.info("job %s: %s", job_id, job.status)
                    last = job.status
                if job.status == "succeeded":
                    return job
                if job.status in TERMINAL_FAILURES:
                    raise EmlabError(f"{_failure_line(job)} (to pay for a new job, rerun with --retry-failed)")
            time.sleep(wait)
            wait = min(wait * 1.5, params.poll_seconds * 10)


def job_key(*, model_name: str, spec: ModelSpec, dataset_sha256: str, variant: str, params: OpenAITrainParams,
            seed: int) -> str:
    """The `metadata.emlab_key` of this cell's job: what the job trains, and the cell."""
    hyper = {"n_epochs": params.n_epochs, "batch_size": params.batch_size,
             "learning_rate_multiplier": params.learning_rate_multiplier}
    return hashlib.sha256(json.dumps({"model": spec.base, "file": dataset_sha256, "hyper": hyper, "seed": seed,
                                      "suffix": params.suffix, "cell": [model_name, variant, seed]},
                                     sort_keys=True).encode()).hexdigest()[:32]


def train_openai(*, model_name: str, spec: ModelSpec, model_dir: Path, dataset: Path, variant: str,
                 params: OpenAITrainParams, seed: int, out_dir: Path, retry_failed: bool = False) -> dict[str, Any]:
    """Run (or pick up) the fine-tuning job of this cell; return the fields for adapter.json.

    A failed or cancelled job of this cell is an error naming it, unless `retry_failed`:
    then one new job is created (the failed ones stay on the server, ignored).
    """
    from emlab.train.chat_data import load_conversations

    load_conversations(dataset)  # a bad row fails here, naming file:line, before anything is paid
    client = _client(params, spec)
    state_file = state_dir(out_dir) / STATE
    state = _read_state(state_file)
    hyper = {"n_epochs": params.n_epochs, "batch_size": params.batch_size,
             "learning_rate_multiplier": params.learning_rate_multiplier}
    file_id, file_was_there = _upload(client, dataset, state)
    digest = sha256_bytes(dataset.read_bytes())
    key = job_key(model_name=model_name, spec=spec, dataset_sha256=digest, variant=variant, params=params, seed=seed)
    state = {**state, "training_file_id": file_id, "training_file_sha256": digest, "emlab_key": key}
    if state.get("job_key") != key:
        state.pop("job_id", None)
    write_json_atomic(state_file, state)
    jobs = _jobs_for_key(client, key, state.get("job_id"))
    if not jobs and file_was_there:
        # an earlier run uploaded the file and may have created the job a lagging list hides
        time.sleep(LIST_SETTLE_S)
        jobs = _jobs_for_key(client, key, state.get("job_id"))
    live = _live(jobs)
    if live:
        job = live[0]
    elif jobs and not retry_failed:
        last = max(jobs, key=lambda j: (j.created_at, j.id))
        raise EmlabError(f"{_failure_line(last)} (to pay for a new job, rerun with --retry-failed)")
    else:
        request = {"model": spec.base, "training_file": file_id, "seed": seed, "suffix": params.suffix,
                   "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}}}
        ignore = {j.id for j in jobs}  # failed/cancelled: the user asked to pay again
        job = _create_job(client, key=key, request=request, ignore=ignore)
        write_json_atomic(state_file, {**state, "job_id": job.id, "job_key": key})  # before anything else
        job = _settle(client, key, job, ignore)
    if job.id != state.get("job_id"):
        write_json_atomic(state_file, {**state, "job_id": job.id, "job_key": key})
    job = _poll(client, job.id, params)
    hp = job.hyperparameters.model_dump(mode="json") if job.hyperparameters else hyper
    return {"job_id": job.id, "fine_tuned_model": job.fine_tuned_model, "training_file_id": job.training_file,
            "training_file_sha256": digest, "hyperparameters": hp, "status": job.status,
            "base_model": job.model, "trained_tokens": job.trained_tokens, "created_at": job.created_at,
            "finished_at": job.finished_at, "emlab_key": key, "api_base_url": str(client.base_url)}
