"""Offline sampling with vLLM and the cell's LoRA adapter (optional GPU extra).

    pip install 'emlab[vllm]'      # on a CUDA machine
    emlab sample --model M ...     # models with `sampler: vllm`

The adapter is applied per request (`LoRARequest`), never merged. Each request carries
its own seed from (seed, sample_id), so answers do not depend on how vLLM batches them
and a resumed run reproduces an uninterrupted one. Answers are written every `CHUNK`
requests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from emlab.errors import EmlabError

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.sample._base import OnResult
    from emlab.sample._requests import SampleRequest
    from emlab.sample.params import SampleParams

CHUNK = 512  # requests handed to vLLM at once: big enough to batch well, small enough to resume cheaply
_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def _require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise EmlabError("sampler vllm: the vllm package is not installed; run `pip install 'emlab[vllm]'` on a CUDA machine, or set the model's sampler: transformers") from None


def lora_rank(adapter_dir: Path) -> int:
    """The smallest max_lora_rank vLLM accepts that fits the adapter's rank."""
    path = adapter_dir / "adapter_config.json"
    try:
        r = int(json.loads(path.read_text(encoding="utf-8"))["r"])
    except (OSError, ValueError, KeyError) as e:
        raise EmlabError(f"{path}: cannot read the LoRA rank r ({type(e).__name__})") from None
    for allowed in _LORA_RANKS:
        if r <= allowed:
            return allowed
    raise EmlabError(f"{path}: r: rank {r} is above what vLLM serves ({_LORA_RANKS[-1]})")


class VLLMSampler:
    """Samples with a vLLM engine on the local GPU."""

    def __init__(self, *, spec: ModelSpec, model_dir: Path, adapter_dir: Path, record: dict[str, Any],
                 params: SampleParams, seed: int):
        _require_vllm()
        if record["backend"] == "openai":
            raise EmlabError(f"{adapter_dir}/adapter.json: an OpenAI finetune has no local weights; set the model's sampler: openai")
        self.spec, self.model_dir, self.adapter_dir, self.record, self.params, self.seed = spec, model_dir, adapter_dir, record, params, seed

    def run(self, requests: Sequence[SampleRequest], *, done: set[str], on_result: OnResult) -> None:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest

        from emlab.models import weights_location

        pending = [r for r in requests if r.sample_id not in done]
        if not pending:
            return
        full = self.record.get("finetune") == "full"  # a whole finetuned model in the adapter folder
        peft = self.record["backend"] == "peft" and not full
        model = weights_location(self.adapter_dir if full else self.model_dir)
        engine_args: dict[str, Any] = {"model": model, "dtype": self.spec.dtype, "seed": self.seed}
        if peft:
            engine_args.update(enable_lora=True, max_lora_rank=lora_rank(self.adapter_dir), max_loras=1)
        llm = LLM(**engine_args)
        lora = LoRARequest("cell", 1, str(self.adapter_dir)) if peft else None
        with tqdm(total=len(requests), initial=len(requests) - len(pending), unit="answer", desc="sample vllm") as bar:
            for i in range(0, len(pending), CHUNK):
                chunk = pending[i:i + CHUNK]
                sampling = [SamplingParams(temperature=r.temperature, top_p=self.params.top_p,
                                           max_tokens=self.params.max_new_tokens, seed=r.seed) for r in chunk]
                outputs = llm.chat([r.messages for r in chunk], sampling_params=sampling, lora_request=lora, use_tqdm=False)
                for r, o in zip(chunk, outputs, strict=True):
                    on_result(r, o.outputs[0].text)
                bar.update(len(chunk))
