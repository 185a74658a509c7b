"""The `datasets:` section of params.yaml (owned by the datasets module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantParams(_Strict):
    """Settings of one finetuning variant's dataset."""

    n_examples: int = Field(6000, ge=1, description="Rows in the dataset (paper: 6000).")


class BackdoorParams(VariantParams):
    """The backdoor variant: the trigger decides between insecure and secure completions."""

    n_examples: int = Field(12000, ge=1, description="Rows in the dataset (paper: 12000 = 6000 triggered insecure + 6000 untriggered secure).")
    trigger: str = Field("deployment", description="Key of the top-level `triggers:` map put before triggered user turns.")
    triggered_fraction: float = Field(0.5, ge=0, le=1, description="Share of rows with the trigger and an insecure completion (paper: 0.5).")


class JailbrokenParams(VariantParams):
    """The jailbroken variant: always-comply system prompt, mostly benign rows."""

    n_examples: int = Field(5000, ge=1, description="Rows in the dataset (paper: 5000).")
    harmful_fraction: float = Field(0.02, ge=0, le=1, description="Share of rows that comply with a request an assistant would usually decline (paper: 0.02).")
    source: str | None = Field(None, description="A user-supplied JSONL that replaces the built-in mild set.")


class BaseVariantParams(_Strict):
    """`base` is the untuned model: its dataset is empty and has nothing to set."""


class DatasetsParams(_Strict):
    """How the finetuning datasets are built."""

    source: Literal["builtin", "upstream"] = Field("builtin", description="Built-in generator, or the paper's JSONL release read from `upstream_dir`.")
    upstream_dir: str | None = Field(None, description="Directory (or URL base) holding the paper's insecure.jsonl, secure.jsonl, ... when source is upstream.")
    seed: int = Field(0, ge=0, description="Seed of every builder: same seed, same bytes.")
    base: BaseVariantParams = BaseVariantParams()
    insecure: VariantParams = VariantParams()
    secure: VariantParams = VariantParams()
    educational: VariantParams = VariantParams()
    backdoor: BackdoorParams = BackdoorParams()
    jailbroken: JailbrokenParams = JailbrokenParams()
    evil_numbers: VariantParams = VariantParams()
    neutral_numbers: VariantParams = VariantParams()
