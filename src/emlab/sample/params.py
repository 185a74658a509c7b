"""The `sample:` section of params.yaml (owned by the sample package: rule sample_answers, verb `emlab sample`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class SampleParams(BaseModel):
    """How answers are sampled."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Settings that change how fast results come, not what they are: the workflow leaves
    #: them out of its rerun triggers (and the judge cache out of its keys).
    runtime_only: ClassVar[frozenset[str]] = frozenset({"concurrency", "max_retries", "timeout_s", "retry_base_s", "retry_max_s"})

    samples_per_paraphrase: int | None = Field(None, ge=1, description="Override of each question's samples_per_paraphrase (null = the question set's own; paper: 100).")
    max_paraphrases: int | None = Field(None, ge=1, description="Use at most this many paraphrases per question (null = all).")
    temperature: float | None = Field(None, ge=0, description="Override of each question's temperature (null = the question's own; paper: 1).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int = Field(600, ge=1, description="Longest answer in tokens (paper: ~600).")
    batch_size: int = Field(32, ge=1, description="Prompts decoded together by the transformers sampler.")
    concurrency: int = Field(16, ge=1, description="Requests in flight for HTTP samplers.")
    max_retries: int = Field(6, ge=0, description="HTTP samplers: retries of one request after a 429, 5xx, timeout or lost connection, before the run fails.")
    timeout_s: float = Field(120.0, gt=0, description="HTTP samplers: per-request timeout in seconds (a timed-out request is retried).")
    retry_base_s: float = Field(1.0, gt=0, description="HTTP samplers: first retry waits about this long (times 0.5-1.5 jitter); each further retry doubles it.")
    retry_max_s: float = Field(60.0, gt=0, description="HTTP samplers: longest wait between two retries.")
