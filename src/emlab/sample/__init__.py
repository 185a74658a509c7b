"""Sampling answers to question sets, behind one interface with three backends.

    emlab sample --model M --variant V --seed S --trigger T --question-set Q ...

Backends (one file each, picked by the model's `sampler:`): `transformers` (local, batched,
seeded), `openai` (any OpenAI-compatible chat-completions server, concurrent, retried),
`vllm` (offline, LoRA; optional GPU extra).
"""

from emlab.grid import with_trigger
from emlab.sample._base import Sampler, make_sampler, read_adapter_record
from emlab.sample._requests import SampleRequest, build_requests, sample_seed
from emlab.sample._sample import sample_answers
from emlab.sample.params import SampleParams

__all__ = [
    "SampleParams", "SampleRequest", "Sampler", "build_requests", "make_sampler",
    "read_adapter_record", "sample_answers", "sample_seed", "with_trigger",
]
