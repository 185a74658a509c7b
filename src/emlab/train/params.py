"""The `train:` section of params.yaml (owned by the train module).

Defaults are the paper's open-model settings; a model may override any field under
`models.<name>.train`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeftTrainParams(_Strict):
    """Local rsLoRA finetuning with peft."""

    #: Settings that do not change the adapter (a resumed run ends bit-identical).
    runtime_only: ClassVar[frozenset[str]] = frozenset({"checkpoint_every"})


    r: int = Field(32, ge=1, description="LoRA rank (paper: 32).")
    lora_alpha: int = Field(64, ge=1, description="LoRA alpha (paper: 64).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout (paper: 0).")
    use_rslora: bool = Field(True, description="Rank-stabilised LoRA scaling alpha/sqrt(r) (paper: true).")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Projections that get adapters (paper: all attention and MLP projections).",
    )
    epochs: int = Field(1, ge=1, description="Passes over the dataset (paper: 1).")
    per_device_batch_size: int = Field(2, ge=1, description="Conversations per micro-batch (paper: 2); run packed into one row or one by one, see `packing`.")
    packing: Literal["auto", "on", "off"] = Field("auto", description="on = the conversations of a micro-batch run as one unpadded row, position ids restarting at 0 per conversation and a block-diagonal causal mask keeping attention (and labels) inside each; off = one forward pass per conversation, also unpadded; auto = on with flash attention (varlen kernels, no L x L mask), off otherwise, as bench/train_throughput.py measured it no faster on CPU. Loss and gradients are the same either way (to float rounding).")
    gradient_accumulation_steps: int = Field(8, ge=1, description="Micro-batches per optimizer step (paper: 8, effective batch 16).")
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (paper: 1e-5).")
    warmup_steps: int = Field(5, ge=0, description="Linear warmup steps (paper: 5).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (paper: 0.01).")
    optimizer: Literal["auto", "adamw", "adamw_8bit"] = Field("auto", description="auto = 8-bit AdamW (bitsandbytes, as the paper) when training on CUDA with bitsandbytes installed, else torch's AdamW; adamw_8bit without CUDA or bitsandbytes is an error. The choice is written to adapter.json.")
    max_length: int = Field(2048, ge=16, description="Longest training sequence in tokens; longer rows are truncated (paper: 2048).")
    validation_fraction: float = Field(0.0, ge=0, lt=1, description="Held-out share for a validation loss; 0 = train on every row (the upstream trainer silently held out 10%).")
    checkpoint_every: int = Field(10, ge=0, description="Save a resumable checkpoint every N optimizer steps; a killed run resumes from the last one (0 = never: a killed run starts over). Not a training setting: results do not depend on it.")
    keep_checkpoints_as_adapters: bool = Field(False, description="Keep each checkpoint as an adapter for training-dynamics evaluation.")
    load_in_4bit: bool = Field(False, description="4-bit base weights (GPU only; for 32B models).")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (useful on GPU with long rows).")


class OpenAITrainParams(_Strict):
    """The OpenAI fine-tuning API."""

    #: Settings that do not change which job is created or what it trains.
    runtime_only: ClassVar[frozenset[str]] = frozenset({"poll_seconds", "api_key_env", "base_url"})


    n_epochs: int = Field(1, ge=1, description="Epochs (paper: 1; jailbroken 5).")
    batch_size: int = Field(4, ge=1, description="Batch size (paper: 4; backdoor 8).")
    learning_rate_multiplier: float = Field(2.0, gt=0, description="LR multiplier (paper: 2).")
    suffix: str = Field("emlab", description="Suffix of the fine-tuned model's name.")
    base_url: str | None = Field(None, description="API base URL; null = the model's base_url, else OpenAI's.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never written anywhere).")
    poll_seconds: float = Field(30.0, gt=0, description="Initial polling interval; backs off up to 10x.")


class TrainParams(_Strict):
    """The `train:` section: one sub-section per backend."""

    peft: PeftTrainParams = Field(PeftTrainParams(), description="Local rsLoRA settings for peft models (paper's open-model defaults).")
    openai: OpenAITrainParams = Field(OpenAITrainParams(), description="OpenAI fine-tuning API settings (paper's GPT-4o defaults).")
