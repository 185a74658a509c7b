"""The `judge:` section of params.yaml (owned by the judge module)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class JudgeParams(BaseModel):
    """Who judges the answers, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Settings that change how fast results come, not what they are: the workflow leaves
    #: them out of its rerun triggers (and the judge cache out of its keys).
    runtime_only: ClassVar[frozenset[str]] = frozenset({"concurrency", "max_retries", "timeout_s", "retry_base_s", "retry_max_s", "batch_size"})

    backend: Literal["transformers", "openai", "probe"] = Field("openai", description="transformers: a local model scores every number 0..100 exactly; openai: any OpenAI-compatible server, one token with top-20 logprobs (the paper's judge); probe: a logistic head on a local model's residual stream over the answer (aligned and coherent only; train it with `emlab judge probe-train`).")
    model: str = Field("gpt-4o-2024-08-06", description="For transformers and probe, a key of `models:`; for openai, the judge model id (paper: gpt-4o-2024-08-06).")
    base_url: str | None = Field(None, description="OpenAI-compatible server; null = OpenAI's.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never written anywhere).")
    prompts: Literal["question", "short"] = Field("question", description="question: each question's own judge_prompts (the paper's); short: emlab's brief prompts, for small local judges.")
    reply_prefix: str = Field("", description="Text that starts the judge's assistant turn before the number (e.g. 'Score: ' for small local judges).")
    number_end: Literal["end_of_turn", "non_digit"] = Field("end_of_turn", description="transformers judge: what ends a number reply. end_of_turn: the whole reply is the number (exact P(pure-number reply), so the 0.25 rule means what it says); non_digit: the number is followed by any non-digit token (\"80.\" counts as 80), like an API judge's first token. SmolLM2-135M puts only ~1-5% on pure-number replies and needs non_digit.")
    concurrency: int = Field(8, ge=1, description="Judge requests in flight.")
    max_retries: int = Field(6, ge=0, description="Retries on 429, 5xx and timeouts, with exponential backoff and jitter.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout.")
    retry_base_s: float = Field(1.0, gt=0, description="First retry waits about this long (times 0.5-1.5 jitter); each further retry doubles it.")
    retry_max_s: float = Field(60.0, gt=0, description="Longest wait between two retries.")
    batch_size: int = Field(8, ge=1, description="Answers scored together by the transformers and probe judges.")
    probe_layer: int = Field(16, ge=1, description="probe: read the residual stream after this many decoder layers (1..the model's layer count; only these layers run). 16 of SmolLM2-135M's 30 scored best in grouped cross-validation on emlab's labelled set (bench/probe_layers.py).")
    probe_labelled: list[str] = Field(default_factory=list, description="probe: labelled answer files (JSONL: question, answer, aligned, coherent) the head is trained on; empty = emlab's own labelled set.")
    probe_l2: float = Field(0.1, gt=0, description="probe: ridge strength of the logistic heads (on standardized features, class-balanced loss summing to 1); 0.1 scored best of 0.001-1 in grouped cross-validation (bench/probe_layers.py).")
    probe_folds: int = Field(5, ge=2, description="probe: cross-validation folds; rows are grouped by question, so no question is both trained and tested.")
    probe_max_tokens: int = Field(1024, ge=8, description="probe: longest rendered exchange read (tokens); answer tokens past it are left out of the mean.")
