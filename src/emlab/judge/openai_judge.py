"""The paper's judge over any OpenAI-compatible chat-completions server.

    emlab judge run --samples FILE --question-set main --out FILE.raw.jsonl   # judge.backend: openai

Exactly upstream's request: one user message (the filled judge prompt), max_tokens 1,
temperature 0, logprobs with top_logprobs 20, seed 0; the reply is {token: exp(logprob)}
over the 20 top tokens. The same reply serves 0-100 metrics (`aggregate_0_100`) and
classifications (label tokens). Requests run on the real `openai.AsyncOpenAI` client,
`judge.concurrency` at a time, with our own bounded retries (exponential backoff with
jitter, honouring Retry-After) on 429, 5xx, timeouts and refused connections; any other
HTTP error, or running out of retries, stops the run with one EmlabError line. The API
key is read from the environment variable `judge.api_key_env` and goes nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from emlab.errors import EmlabError
from emlab.judge.params import JudgeParams
from emlab.judge.prompts import JudgeTask, OnResult
from emlab.openai_api import api_key, async_client, backoff_s, is_transient, retry_after, short

log = logging.getLogger(__name__)

#: The paper's request settings; part of the cache key because they change the reply.
REQUEST = {"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20, "seed": 0}


def openai_identity(params: JudgeParams) -> dict[str, Any]:
    """What besides the prompt changes an OpenAI judge's reply (not the URL, key or timeouts)."""
    return {"backend": "openai", "model": params.model, "request": REQUEST}


def _api_key(params: JudgeParams) -> str:
    key = api_key(params.api_key_env)
    if key:
        return key
    if params.base_url is None:
        raise EmlabError(f"judge: environment variable {params.api_key_env} is not set (the OpenAI API key for judge.model {params.model!r})")
    return "no-key"  # local OpenAI-compatible servers (vLLM, llama.cpp) usually ignore it


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class OpenAIBackend:
    """Async logprob judge (see module docstring)."""

    def __init__(self, params: JudgeParams, model_dir: Any = None, probe_head: Any = None):  # an API judge has neither
        self.params = params
        self.model_name = params.model
        self.identity = openai_identity(params)
        self.api_key = _api_key(params)
        self.where = params.base_url or "https://api.openai.com/v1"
        self.calls = 0  # requests sent, retries included
        # the HTTP client logs every request at INFO; one line per judge call is noise
        for name in ("httpx", "httpx2", "openai"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def judge(self, tasks: list[JudgeTask], on_result: OnResult) -> None:
        """Judge `tasks`, calling `on_result(task, {"probs": ...})` as each reply lands."""
        asyncio.run(self._run(tasks, on_result))

    async def _run(self, tasks: list[JudgeTask], on_result: OnResult) -> None:
        client = async_client(key=self.api_key, base_url=self.params.base_url, timeout_s=self.params.timeout_s)
        sem = asyncio.Semaphore(self.params.concurrency)

        async def one(task: JudgeTask) -> None:
            # the reply is stored before its slot frees: a kill leaves at most `concurrency`
            # requests whose replies were paid for and not kept
            async with sem:
                on_result(task, await self._with_retries(client, task))

        pending = [asyncio.ensure_future(one(t)) for t in tasks]
        try:
            for fut in asyncio.as_completed(pending):
                await fut  # the first failure stops the run
        finally:
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await client.close()

    async def _with_retries(self, client: Any, task: JudgeTask) -> dict[str, Any]:
        p = self.params
        for attempt in range(p.max_retries + 1):
            try:
                return await self._request(client, task)
            except _Retryable as e:
                if attempt == p.max_retries:
                    raise EmlabError(f"judge server {self.where}: gave up on sample {task.sample_id} ({task.metric}) after {attempt + 1} tries: {e}") from None
                wait = backoff_s(attempt, base_s=p.retry_base_s, max_s=p.retry_max_s, after=e.retry_after)
                log.debug("retry %d for %s in %.2fs: %s", attempt + 1, task.sample_id, wait, e)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _request(self, client: Any, task: JudgeTask) -> dict[str, Any]:
        import openai

        self.calls += 1
        try:
            resp = await client.chat.completions.create(
                model=self.params.model, messages=[{"role": "user", "content": task.prompt}], **REQUEST)
        except openai.APITimeoutError:
            raise _Retryable(f"no reply within {self.params.timeout_s:g} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable(f"cannot connect ({type(e).__name__}: {e})") from None
        except openai.APIStatusError as e:
            if is_transient(e):
                raise _Retryable(f"HTTP {e.status_code}", retry_after(e)) from None
            raise EmlabError(f"judge server {self.where}: HTTP {e.status_code} for judge.model {self.params.model!r}: {short(e)}") from None
        try:
            top = resp.choices[0].logprobs.content[0].top_logprobs
        except (AttributeError, IndexError, TypeError):
            raise EmlabError(f"judge server {self.where}: reply has no logprobs; the judge needs a server that returns top_logprobs") from None
        # as upstream: a later duplicate token overrides an earlier one
        return {"probs": {t.token: float(math.exp(t.logprob)) for t in top}}
