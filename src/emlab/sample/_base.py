"""The interface every sampling backend implements, and the registry that picks one.

    emlab sample ...   (picks `spec.effective_sampler`: transformers, openai or vllm)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from emlab.backends import Backend, Registry
from emlab.errors import EmlabError

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.sample._requests import SampleRequest
    from emlab.sample.params import SampleParams
    from emlab.sample.steering import Steering

#: Called once per finished answer; the caller appends it to the partial file at once.
OnResult = Callable[["SampleRequest", str], None]


class Sampler(Protocol):
    """A sampling backend: answers the requests not in `done`, reporting each as it finishes."""

    def run(self, requests: Sequence[SampleRequest], *, done: set[str], on_result: OnResult) -> None:
        """Sample every request whose sample_id is not in `done`.

        `requests` is the cell's full list in its fixed order (a batching backend forms
        the same batches on a resumed run, so it reproduces the same answers).
        """
        ...


def read_adapter_record(adapter_dir: str | Path) -> dict[str, Any]:
    """adapter.json of a trained cell (`{"backend": "none"}` for the base variant), checked."""
    from emlab.train import read_adapter

    record = read_adapter(adapter_dir)
    if not isinstance(record, dict) or record.get("backend") not in ("peft", "openai", "none"):
        raise EmlabError(f"{Path(adapter_dir) / 'adapter.json'}: backend: expected 'peft', 'openai' or 'none'")
    return record


#: The sampling backends, by `models.<m>.sampler` (see emlab.backends).
SAMPLERS = Registry("sampler", {
    "transformers": Backend("emlab.sample.transformers_sampler:TransformersSampler"),
    "openai": Backend("emlab.sample.openai_sampler:OpenAISampler"),
    "vllm": Backend("emlab.sample.vllm_sampler:VLLMSampler", extra="vllm"),
})


#: The backends that can steer (they run the model's forward pass themselves).
STEERABLE = ("transformers",)


def make_sampler(*, spec: ModelSpec, model_dir: Path, adapter_dir: Path, params: SampleParams, seed: int,
                 steering: Steering | None = None) -> Sampler:
    """The backend named by the model's sampler (imported only now: each pulls heavy deps)."""
    record = read_adapter_record(adapter_dir)
    extra: dict[str, Any] = {}
    if steering is not None:
        if spec.effective_sampler not in STEERABLE:
            raise EmlabError(f"steering {steering.name!r}: sampler {spec.effective_sampler!r} cannot steer; "
                             f"use sampler: {' or '.join(STEERABLE)} for this model")
        extra["steering"] = steering
    sampler: Sampler = SAMPLERS.load(spec.effective_sampler)(spec=spec, model_dir=model_dir, adapter_dir=adapter_dir,
                                                             record=record, params=params, seed=seed, **extra)
    return sampler
