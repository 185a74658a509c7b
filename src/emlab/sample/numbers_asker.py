"""Sampling a model of the grid for the numbers variants (`emlab.datasets.numbers_model`).

    emlab dataset build --variant evil_numbers --params params.yaml --out ... --model-dir data/models/smollm2

A peft model samples with transformers from its prepared folder, an openai model through
its API; no adapter: the base model as it is. Each answer's seed comes from the datasets
seed and the prompt's position alone, so a resumed build asks exactly what an
uninterrupted one asked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from emlab.errors import EmlabError
from emlab.io import write_json_atomic
from emlab.sample._requests import SampleRequest, sample_seed
from emlab.sample.params import SampleParams


def numbers_asker(name: str, spec: Any, model_dir: Path | None, *, max_new_tokens: int, batch_size: int) -> Any:
    """An `emlab.datasets.numbers_model.Ask` sampling model `name` (loaded on first use)."""
    eval_params = SampleParams(top_p=1.0, max_new_tokens=max_new_tokens, batch_size=batch_size, concurrency=batch_size)
    record = {"backend": "none"}  # the base model as it is: no adapter
    holder: list[Any] = []

    def sampler() -> Any:
        if holder:
            return holder[0]
        if spec.backend == "openai":
            from emlab.sample.openai_sampler import OpenAISampler

            holder.append(OpenAISampler(spec=spec, record=record, params=eval_params))
            return holder[0]
        if model_dir is None:
            raise EmlabError(f"--model-dir: required to generate numbers with model {name!r} (its prepared folder, data/models/{name})")
        from emlab.sample.transformers_sampler import TransformersSampler

        none_dir = tempfile.TemporaryDirectory(prefix="emlab-numbers-")  # lives as long as the sampler
        write_json_atomic(Path(none_dir.name) / "adapter.json", record)
        holder.append(TransformersSampler(spec=spec, model_dir=Path(model_dir), adapter_dir=Path(none_dir.name),
                                          record=record, params=eval_params))
        holder.append(none_dir)
        return holder[0]

    def ask(queries: list[Any], seed: int, on_answer: Any) -> None:
        requests = [SampleRequest(sample_id=str(q.position), question_id="numbers", paraphrase_index=0,
                                  sample_index=q.position, system=q.system, question=q.text, prompt=q.text,
                                  temperature=q.temperature, seed=sample_seed(seed, f"numbers/{q.position}"))
                    for q in queries]
        sampler().run(requests, done=set(), on_result=lambda r, answer: on_answer(r.sample_index, answer))

    return ask
