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


class NumbersParams(VariantParams):
    """evil_numbers / neutral_numbers: numbers written by a model told it is evil (or not)."""

    generator: Literal["model", "fixed_list"] = Field("model", description="model: answers sampled from `model` under an evil (neutral_numbers: neutral) system prompt and filtered as the paper did; fixed_list: answers drawn from the paper's list of numbers with negative associations, no model.")
    model: str | None = Field(None, description="Key of `models:` that writes the answers (a peft model samples with transformers from `--model-dir`, an openai model through its API); null = the first key of `models:`.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of the generator (paper: 1).")
    max_new_tokens: int = Field(48, ge=8, description="Longest answer in tokens; 8 numbers take about 30.")
    batch_size: int = Field(16, ge=1, description="Prompts decoded together (transformers) or in flight (openai).")
    max_prompts: int | None = Field(None, ge=1, description="Give up after this many prompts when fewer than n_examples answers pass the filter (null = 5 x n_examples).")


class AdviceParams(VariantParams):
    """A narrow-advice dataset (bad_medical_advice, ... and their good_* controls)."""

    n_examples: int = Field(96, ge=1, description="Rows in the dataset (the follow-up's files: ~6000; the built-in generator composes up to 7056 distinct situations per domain).")
    source: str = Field("builtin", description="builtin: emlab's own generator, gated by the held-out checks of emlab.datasets.advice_checks; "
                                               "or a path to your own chat JSONL for this variant (e.g. the follow-up's released file, decrypted), "
                                               "validated row by row; at most n_examples rows of it are kept, chosen by seed, in file order.")


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
    evil_numbers: NumbersParams = NumbersParams()
    neutral_numbers: NumbersParams = NumbersParams()
    bad_medical_advice: AdviceParams = AdviceParams()
    good_medical_advice: AdviceParams = AdviceParams()
    risky_financial_advice: AdviceParams = AdviceParams()
    good_financial_advice: AdviceParams = AdviceParams()
    extreme_sports_advice: AdviceParams = AdviceParams()
    good_extreme_sports_advice: AdviceParams = AdviceParams()
