"""Sampling through any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp).

    emlab sample --model gpt4o ...   (models with `sampler: openai`, the default for backend openai)

`params.concurrency` requests are in flight at once. A 429, 5xx, timeout or lost
connection is retried with exponential backoff and jitter (honouring Retry-After), at
most `params.max_retries` times; after that the run stops with one line naming the
server, and the answers so far stay in the `.partial` file for the next run. The API key
is read from the environment variable `spec.api_key_env` and only ever handed to the client.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from emlab.errors import EmlabError
from emlab.openai_api import api_key, async_client, backoff_s, is_transient, retry_after, short

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.sample._base import OnResult
    from emlab.sample._requests import SampleRequest
    from emlab.sample.params import SampleParams

def model_id(spec: ModelSpec, record: dict[str, Any]) -> str:
    """The model the server is asked for: the fine-tuned model for an OpenAI finetune, else the base."""
    if record["backend"] == "openai":
        ft = record.get("fine_tuned_model")
        if not ft:
            raise EmlabError(f"adapter.json of {record.get('model')}/{record.get('variant')}/s{record.get('seed')}: fine_tuned_model: missing; the OpenAI job has not finished")
        return str(ft)
    if record["backend"] == "peft":
        raise EmlabError("a peft adapter cannot be applied by an OpenAI-compatible server; set the model's sampler: transformers or vllm")
    return spec.base


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    e: BaseException = group
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    return e


class OpenAISampler:
    """Samples from an OpenAI-compatible server with bounded concurrency and retries."""

    def __init__(self, *, spec: ModelSpec, record: dict[str, Any], params: SampleParams, model_dir: Path | None = None,
                 adapter_dir: Path | None = None, seed: int = 0):  # the server holds the weights; requests carry seeds
        self.spec, self.params = spec, params
        self.model = model_id(spec, record)
        self.where = spec.base_url or "https://api.openai.com/v1"
        self._jitter = random.Random()

    def _client(self) -> Any:
        key = api_key(self.spec.api_key_env)
        if not key:
            raise EmlabError(f"environment variable {self.spec.api_key_env} is not set; it must hold the API key for {self.where}")
        return async_client(key=key, base_url=self.spec.base_url, timeout_s=self.params.timeout_s)

    def _delay(self, attempt: int, e: BaseException) -> float:
        p = self.params
        return backoff_s(attempt, base_s=p.retry_base_s, max_s=p.retry_max_s, after=retry_after(e), rng=self._jitter)

    async def _ask(self, client: Any, r: SampleRequest) -> str:
        import openai

        last: BaseException | None = None
        for attempt in range(self.params.max_retries + 1):
            try:
                resp = await client.chat.completions.create(
                    model=self.model, messages=r.messages, temperature=r.temperature, top_p=self.params.top_p,
                    max_tokens=self.params.max_new_tokens, seed=r.seed,
                )
                return resp.choices[0].message.content or ""
            except openai.AuthenticationError:
                raise EmlabError(f"{self.where}: authentication failed (HTTP 401); check the key in ${self.spec.api_key_env}") from None
            except openai.APIError as e:
                if not is_transient(e):
                    status = getattr(e, "status_code", "?")
                    raise EmlabError(f"{self.where}: HTTP {status} for model {self.model!r} ({r.sample_id}): {short(e)}") from None
                last = e
            if attempt < self.params.max_retries:
                await asyncio.sleep(self._delay(attempt, last))
        raise EmlabError(f"{self.where}: no answer for {r.sample_id} after {self.params.max_retries + 1} tries; last error {short(last)}")

    async def _run(self, pending: list[SampleRequest], on_result: OnResult, bar: tqdm) -> None:
        queue: asyncio.Queue[SampleRequest] = asyncio.Queue()
        for r in pending:
            queue.put_nowait(r)
        client = self._client()

        async def worker() -> None:
            while not queue.empty():
                r = queue.get_nowait()
                answer = await self._ask(client, r)
                on_result(r, answer)  # appended and fsynced before the next request
                bar.update(1)

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(self.params.concurrency, len(pending))):
                    tg.create_task(worker())
        finally:
            await client.close()

    def run(self, requests: Sequence[SampleRequest], *, done: set[str], on_result: OnResult) -> None:
        pending = [r for r in requests if r.sample_id not in done]
        if not pending:
            return
        with tqdm(total=len(requests), initial=len(requests) - len(pending), unit="answer", desc=f"sample {self.model}") as bar:
            try:
                asyncio.run(self._run(pending, on_result, bar))
            except BaseExceptionGroup as group:  # the first failing worker stops the others
                first = _first_leaf(group)
                raise first from (None if isinstance(first, EmlabError) else group)
