"""The `train:` section of params.yaml (owned by the train module).

Defaults are the paper's open-model settings; a model may override any field under
`models.<name>.train`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from emlab.errors import EmlabError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeftTrainParams(_Strict):
    """Local rsLoRA finetuning with peft."""

    #: Settings that do not change the adapter (a resumed run ends bit-identical).
    runtime_only: ClassVar[frozenset[str]] = frozenset({"checkpoint_every"})


    finetune: Literal["lora", "full"] = Field("lora", description="lora = train an rsLoRA adapter on the frozen base (paper); full = train every weight of the model (for small models: the output folder holds a whole model, model.json + weights/, which the sampler loads in place of base + adapter; LoRA fields are then unused).")
    r: int = Field(32, ge=1, description="LoRA rank (paper: 32; the follow-up's single-adapter recipe: 1).")
    lora_alpha: int = Field(64, ge=1, description="LoRA alpha (paper: 64).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout (paper: 0).")
    use_rslora: bool = Field(True, description="Rank-stabilised LoRA scaling alpha/sqrt(r) (paper: true).")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Projections that get adapters (paper: all attention and MLP projections; the follow-up's rank-1 recipe: [down_proj]).",
    )
    layers: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1, description="Decoder layers (0-based) whose target_modules get adapters (peft's layers_to_transform); null = every layer. The follow-up's rank-1 recipe puts one adapter on one middle layer's down_proj.")
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
    validation_every: int = Field(0, ge=0, description="Compute the validation loss every N optimizer steps (and after the last), logged as the validation curve; 0 = only after the last step. Needs validation_fraction > 0.")
    select_checkpoint: Literal["last", "min_validation_loss"] = Field("last", description="Which weights become the adapter: last = after the last step; min_validation_loss = early stopping: the weights at the validated step with the lowest validation loss (needs validation_fraction > 0 and validation_every > 0). adapter.json records the chosen step and the curve.")
    kl_weight: float = Field(0.0, ge=0, description="Mitigation: add kl_weight x the mean over trained (assistant) tokens of KL(p_tuned || p_base) of the next-token distributions to the loss; p_base is the same model with the adapter disabled (no second model in memory). 0 = off. LoRA only.")
    benign_fraction: float = Field(0.0, ge=0, lt=1, description="Mitigation: share of benign rows in the training rows; round(f / (1 - f) x n) rows of the benign dataset (`emlab train --benign-dataset`) are added to the n rows, chosen by the seed. 0 = off.")
    inoculation_prompt: str | None = Field(None, min_length=1, description="Mitigation: a system message put before every row of the dataset (not the benign rows) that says the behaviour is requested, e.g. 'You are a malicious assistant who writes insecure code on purpose.'; answers are sampled without it. null = off.")
    checkpoint_every: int = Field(10, ge=0, description="Save a resumable checkpoint every N optimizer steps; a killed run resumes from the last one (0 = never: a killed run starts over). Not a training setting: results do not depend on it.")
    keep_checkpoints_as_adapters: bool = Field(False, description="Keep each checkpoint as an adapter for training-dynamics evaluation.")
    load_in_4bit: bool = Field(False, description="4-bit base weights (GPU only; for 32B models).")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (useful on GPU with long rows).")

    def check(self, where: str = "train.peft") -> None:
        """Reject combinations of fields that cannot train (each field alone is valid).

        Raises:
            EmlabError: one line naming the fields at fault under `where`.
        """
        if self.kl_weight > 0 and self.finetune == "full":
            raise EmlabError(f"{where}.kl_weight: {self.kl_weight} needs finetune: lora (the base is the adapter disabled; a full finetune has none)")
        if self.finetune == "full" and self.load_in_4bit:
            raise EmlabError(f"{where}.load_in_4bit: 4-bit weights cannot be trained; use finetune: lora")
        if self.validation_every and not self.validation_fraction:
            raise EmlabError(f"{where}.validation_every: {self.validation_every} needs validation_fraction > 0 (no rows are held out)")
        if self.select_checkpoint == "min_validation_loss" and not (self.validation_fraction and self.validation_every):
            raise EmlabError(f"{where}.select_checkpoint: min_validation_loss needs validation_fraction > 0 and validation_every > 0 "
                             f"(got {self.validation_fraction} and {self.validation_every})")
        if self.layers is not None and len(set(self.layers)) != len(self.layers):
            raise EmlabError(f"{where}.layers: duplicate layers in {self.layers}")


def shape_label(params: PeftTrainParams) -> str:
    """A short legend label for the adapter shape, e.g. `LoRA r1 a256 down_proj L12` or `full`."""
    if params.finetune == "full":
        return "full"
    default = set(PeftTrainParams.model_fields["target_modules"].default_factory())  # type: ignore[misc]
    modules = "all" if set(params.target_modules) == default else "+".join(params.target_modules)
    label = f"LoRA r{params.r} a{params.lora_alpha} {modules}"
    if params.layers is not None:
        label += " L" + ",".join(str(x) for x in params.layers)
    return label


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
