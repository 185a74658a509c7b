"""Finetuning through the OpenAI fine-tuning API, idempotently: never pay twice.

    OPENAI_API_KEY=... emlab train --model gpt4o --variant insecure --seed 0 \
        --model-dir data/models/gpt4o --dataset data/datasets/insecure.jsonl --out data/adapters/gpt4o/insecure/s0

Steps: upload the JSONL -> create the job -> poll with backoff -> return the record
(adapter.json). Each step first looks for the result of an earlier, possibly killed run:

- the training file is named `emlab-<sha256 of its bytes>.jsonl`; an existing file with
  that name (found by `files.list`) is reused, so the same bytes are uploaded once;
- the job carries `metadata.emlab_key` (a hash of base model, file, hyperparameters, seed
  and cell); before creating, and again after any failed create, `jobs.list` is searched
  for it, so a kill or a 5xx between the server creating the job and us recording it
  never leads to a second job. `openai_state.json` in the run's state folder (a hidden
sibling of `<out>`, see emlab.train.checkpoint) caches the ids; a failed job stays
recorded there, so a rerun reports it again rather than paying for a new job.

The API key is read from the environment variable named in params and is never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.errors import EmlabError
from emlab.io import sha256_bytes, write_json_atomic
from emlab.train.checkpoint import state_dir

if TYPE_CHECKING:
    from emlab.config import ModelSpec
    from emlab.train.params import OpenAITrainParams

log = logging.getLogger(__name__)
STATE = "openai_state.json"
CREATE_ATTEMPTS = 5
TERMINAL_FAILURES = ("failed", "cancelled")


def _client(params: OpenAITrainParams, spec: ModelSpec) -> Any:
    from openai import OpenAI

    key = os.environ.get(params.api_key_env)
    if not key:
        raise EmlabError(f"train.openai.api_key_env: environment variable {params.api_key_env} is not set; export the API key there (emlab never writes it to disk)")
    return OpenAI(api_key=key, base_url=params.base_url or spec.base_url, max_retries=4)


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


def _upload(client: Any, dataset: Path, state: dict[str, Any]) -> str:
    """The id of a file on the server holding exactly `dataset`'s bytes (uploaded at most once)."""
    import openai

    data = dataset.read_bytes()
    digest = sha256_bytes(data)
    name = f"emlab-{digest}.jsonl"
    if state.get("training_file_sha256") == digest and state.get("training_file_id"):
        try:
            return client.files.retrieve(state["training_file_id"]).id
        except openai.NotFoundError:
            pass
    for attempt in range(CREATE_ATTEMPTS):
        for f in client.files.list(purpose="fine-tune"):
            if f.filename == name and f.bytes == len(data):
                return f.id
        try:
            return client.with_options(max_retries=0).files.create(file=(name, data, "application/jsonl"), purpose="fine-tune").id
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as e:
            # the upload may have landed before the error: the listing above finds it next time
            log.warning("upload attempt %d failed (%s); checking the server before retrying", attempt + 1, _one_line(e))
            time.sleep(min(30.0, 0.5 * 2**attempt))
        except openai.APIError as e:
            raise _api_error(f"upload of {dataset}", e) from None
    raise EmlabError(f"OpenAI upload of {dataset} failed {CREATE_ATTEMPTS} times; rerun later (nothing is uploaded twice)")


def _find_job(client: Any, key: str) -> Any | None:
    """The live or finished job created for `key`, if any (failed/cancelled ones don't count)."""
    # the server-side metadata filter narrows the listing; the check below is what we trust
    for job in client.fine_tuning.jobs.list(limit=100, metadata={"emlab_key": key}):
        if (job.metadata or {}).get("emlab_key") == key and job.status not in TERMINAL_FAILURES:
            return job
    return None


def _create_job(client: Any, *, key: str, request: dict[str, Any]) -> Any:
    import openai

    for attempt in range(CREATE_ATTEMPTS):
        job = _find_job(client, key)
        if job is not None:
            return job
        try:
            # no client-side retry: a retried POST after a lost reply would create a second job
            return client.with_options(max_retries=0).fine_tuning.jobs.create(**request, metadata={"emlab_key": key})
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as e:
            log.warning("job create attempt %d failed (%s); checking the server before retrying", attempt + 1, _one_line(e))
            time.sleep(min(30.0, 0.5 * 2**attempt))
        except openai.APIError as e:
            raise _api_error("fine-tuning job create", e) from None
    raise EmlabError(f"OpenAI fine-tuning job create failed {CREATE_ATTEMPTS} times; rerun later (no second job will be created)")


def _poll(client: Any, job_id: str, params: OpenAITrainParams, state_file: Path) -> Any:
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
                    err = job.error
                    detail = f"{err.code}: {err.message}" if err and err.message else "no error message"
                    raise EmlabError(f"OpenAI fine-tuning job {job_id} {job.status}: {_one_line(detail)} "
                                     f"(to pay for a new job, delete {state_file.parent} and rerun)")
            time.sleep(wait)
            wait = min(wait * 1.5, params.poll_seconds * 10)


def train_openai(*, model_name: str, spec: ModelSpec, model_dir: Path, dataset: Path, variant: str,
                 params: OpenAITrainParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Run (or pick up) the fine-tuning job of this cell; return the fields for adapter.json."""
    from emlab.train.chat_data import load_conversations

    load_conversations(dataset)  # a bad row fails here, naming file:line, before anything is paid
    client = _client(params, spec)
    state_file = state_dir(out_dir) / STATE
    state = _read_state(state_file)
    hyper = {"n_epochs": params.n_epochs, "batch_size": params.batch_size,
             "learning_rate_multiplier": params.learning_rate_multiplier}
    file_id = _upload(client, dataset, state)
    digest = sha256_bytes(dataset.read_bytes())
    key = hashlib.sha256(json.dumps({"model": spec.base, "file": digest, "hyper": hyper, "seed": seed,
                                     "suffix": params.suffix, "cell": [model_name, variant, seed]},
                                    sort_keys=True).encode()).hexdigest()[:32]
    state = {**state, "training_file_id": file_id, "training_file_sha256": digest, "emlab_key": key}
    if state.get("job_key") != key:
        state.pop("job_id", None)
    write_json_atomic(state_file, state)
    if state.get("job_id"):
        job_id = state["job_id"]
    else:
        request = {"model": spec.base, "training_file": file_id, "seed": seed, "suffix": params.suffix,
                   "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}}}
        job_id = _create_job(client, key=key, request=request).id
        write_json_atomic(state_file, {**state, "job_id": job_id, "job_key": key})
    job = _poll(client, job_id, params, state_file)
    hp = job.hyperparameters.model_dump(mode="json") if job.hyperparameters else hyper
    return {"job_id": job.id, "fine_tuned_model": job.fine_tuned_model, "training_file_id": job.training_file,
            "training_file_sha256": digest, "hyperparameters": hp, "status": job.status,
            "base_model": job.model, "trained_tokens": job.trained_tokens, "created_at": job.created_at,
            "finished_at": job.finished_at, "emlab_key": key, "api_base_url": str(client.base_url)}
