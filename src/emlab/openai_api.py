"""The OpenAI client as every emlab stage uses it: the key, which errors earn a retry, the wait.

    emlab sample / emlab judge run / emlab train     (their openai backends)

The sampler, the judge and the fine-tuning backend make requests of their own kinds, but
they build the client, read the API key, classify errors and wait between tries here, one
way: 408, 409, 429, every 5xx, timeouts and refused or dropped connections are transient
(worth another try), any other HTTP error is final; waits grow exponentially with jitter,
are capped, and honour a server's Retry-After. The key is read from the environment
variable a section names and goes nowhere but the client.
"""

from __future__ import annotations

import os
import random
from typing import Any

#: HTTP statuses worth another try, besides every 5xx.
RETRY_STATUS = frozenset({408, 409, 429})


def api_key(env: str) -> str | None:
    """The key in environment variable `env` (None when unset or empty)."""
    return os.environ.get(env) or None


def is_transient(e: BaseException) -> bool:
    """Whether another try may succeed: timeouts, connection errors, 408/409/429 and 5xx."""
    import openai

    if isinstance(e, openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(e, openai.APIStatusError):
        return e.status_code in RETRY_STATUS or e.status_code >= 500
    return False


def retry_after(e: BaseException) -> float | None:
    """The server's Retry-After (seconds), when it sent one."""
    try:
        value = e.response.headers.get("retry-after")  # type: ignore[attr-defined]
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


def backoff_s(attempt: int, *, base_s: float, max_s: float, after: float | None = None,
              rng: random.Random | None = None) -> float:
    """Wait before try `attempt + 2`: base * 2^attempt, times 0.5-1.5 jitter, at most max_s;
    at least the server's Retry-After (itself capped at max_s)."""
    wait = min(max_s, base_s * 2**attempt) * (rng or random).uniform(0.5, 1.5)
    return max(wait, min(after, max_s)) if after is not None else wait


def short(e: BaseException) -> str:
    """An error as one short line (the server's message where it gave one)."""
    text = " ".join(str(getattr(e, "message", None) or e).split())
    return f"{type(e).__name__}: {text[:200]}"


def async_client(*, key: str, base_url: str | None, timeout_s: float) -> Any:
    """An `openai.AsyncOpenAI` whose own retries are off: ours are bounded and counted."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout_s)


def sync_client(*, key: str, base_url: str | None, timeout_s: float, max_retries: int = 0) -> Any:
    """An `openai.OpenAI` (fine-tuning: reads may use the client's own few retries)."""
    from openai import OpenAI

    return OpenAI(api_key=key, base_url=base_url, max_retries=max_retries, timeout=timeout_s)
