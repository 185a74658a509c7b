"""What each job needs from a machine: GPUs, memory, run time, and OpenAI API slots.

    snakemake --resources gpu=1 openai_api=64   # one GPU job at a time, <= 64 OpenAI requests in flight
    snakemake --executor slurm ...               # each job asks SLURM for its gpu, mem_mb, runtime

The rules declare `resources: **job_resources("<stage>")` (rules/common.smk), sized here
from the model and backend of each job's cell:

- finetuning and sampling a local model (peft; transformers or vLLM sampler): `gpu` =
  GPUs of GPU_MEM_MB each to hold the weights (parameter count x bytes per weight: 2 for
  bf16/fp16, 4 for fp32, ~0.55 for 4-bit) plus, for training, the LoRA weights with their
  gradients and AdamW moments, the activations and the logits of one micro-batch; for
  sampling a KV-cache margin. A model under 1B parameters in float32/auto runs on CPU (the
  default grid): `gpu` 0, its memory in `mem_mb`. The parameter count comes from the
  prepared model's config.json when there is one, else from KNOWN_MODELS, else from a size
  in the name ('32B', '135M');
- judging, scoring and analysis: no GPU and little memory (a local judge: its model's);
- OpenAI jobs (fine-tuning through the API, the openai sampler, the openai judge, a
  numbers dataset written by an OpenAI model): no GPU, and the global resource
  `openai_api` = the requests the job keeps in flight (its `concurrency`; 1 for a
  fine-tuning job, which also takes one `openai_finetune`), so `--resources openai_api=N`
  keeps a whole cluster under the API's rate limit when N is at least the largest
  concurrency (Snakemake lowers a job asking more than N to N and runs it alone, but the
  job still keeps its concurrency in flight). Only requests to OpenAI itself count (a
  model or judge with a `base_url` talks to another server).

Snakemake enforces only the resources given to `--resources` (locally) or the cluster's
limits (SLURM), so a CPU-only run of a GPU grid is not blocked by `gpu` (checked with
Snakemake 9.27: a job declaring gpu=1 and 10 TB runs locally). `runtime` is in minutes:
twice the estimated run time (loading the weights included), at least 10; a retried job
asks for attempt-fold memory and time. The estimates rest on the constants below and in
`emlab.workflow.workload` (documented assumptions, not GPU measurements).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from emlab.config import Params, resolved_train_params
from emlab.errors import EmlabError
from emlab.grid import ModelSpec
from emlab.workflow import workload
from emlab.workflow.stages import Cell, stage

GPU_MEM_MB = 80_000  # one GPU's memory (an 80 GB A100/H100)
GPU_FLOPS = 989e12  # its dense bf16 peak (H100 SXM)
GPU_MFU = 0.35  # assumed model FLOPs utilisation of LoRA training (4-bit: x0.6 for dequantising)
GPU_BANDWIDTH = 3.35e12  # HBM bytes/s: decoding reads every weight once per step
CPU_FLOPS = 8e10  # training FLOP/s of one CPU job (fits the default run: ~140 s per SmolLM2 finetune)
CPU_THRESHOLD = 1e9  # models below this many parameters in float32/auto run on CPU
VLLM_SEQS = 256  # sequences vLLM decodes together (max_num_seqs)
LOAD_BYTES_S = 2e9  # reading weights from disk into memory
OVERHEAD_MB = 1500  # CUDA context / Python + torch

#: Parameters, hidden size, layers and vocabulary of models the paper used (by a part of the name).
KNOWN_MODELS = {
    "qwen2.5-coder-32b": (32.76e9, 5120, 64, 152064), "qwen2.5-32b": (32.76e9, 5120, 64, 152064),
    "qwen2.5-7b": (7.62e9, 3584, 28, 152064), "qwen2.5-0.5b": (0.494e9, 896, 24, 151936),
    "mistral-small-instruct-2409": (22.2e9, 6144, 56, 32768), "mistral-small-24b": (23.6e9, 5120, 40, 131072),
    "smollm2": (134.5e6, 576, 30, 49152), "tiny-random": (2.0e6, 64, 2, 49152),
}


@dataclass(frozen=True)
class Size:
    """A model's shape, as far as memory and speed go."""

    params: float
    hidden: int
    layers: int
    vocab: int
    source: str  # config.json, table, name or assumed


def _from_config(path: Path) -> Size | None:
    try:
        c = json.loads(path.read_text(encoding="utf-8"))
        h, n, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    heads = c.get("num_attention_heads", 1)
    hd = c.get("head_dim") or h // heads
    kv = c.get("num_key_value_heads", heads)
    per_layer = 2 * h * heads * hd + 2 * h * kv * hd + 3 * h * inter + 2 * h
    emb = vocab * h * (1 if c.get("tie_word_embeddings") else 2)
    return Size(n * per_layer + emb + h, h, n, vocab, "config.json")


@cache
def model_size(base: str, model_dir: str | None = None) -> Size:
    """The shape of model `base`: its prepared folder's config.json, the table, or its name."""
    for folder in (model_dir and Path(model_dir) / "weights", Path(base) if "/" in base or "\\" in base else None):
        if folder and (folder / "config.json").is_file():
            found = _from_config(folder / "config.json")
            if found:
                return found
    key = base.lower()
    for name, (params, h, n, vocab) in KNOWN_MODELS.items():
        if name in key:
            return Size(params, h, n, vocab, "table")
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", key)
    params = float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6) if m else 7e9
    hidden = int(round((params / 0.15) ** (1 / 3) / 128) * 128) or 128  # P ~ 12 L h^2, L ~ h / 80
    return Size(params, hidden, max(1, hidden // 80), 128000, "name" if m else "assumed (7B)")


def on_cpu(spec: ModelSpec, size: Size) -> bool:
    return size.params < CPU_THRESHOLD and spec.dtype in ("auto", "float32")


def weight_bytes(spec: ModelSpec, size: Size, *, four_bit: bool = False) -> float:
    if four_bit:
        return size.params * 0.55  # 4-bit weights + quantisation constants + unquantised embeddings
    return size.params * (4 if spec.dtype == "float32" or (spec.dtype == "auto" and on_cpu(spec, size)) else 2)


@dataclass(frozen=True)
class Need:
    """One job's needs: what the rule declares, and the estimate behind its runtime."""

    gpu: int = 0
    mem_mb: int = 1000
    seconds: float = 60.0  # estimated run time
    openai_api: int = 0
    openai_finetune: int = 0
    gpu_mem_mb: int = 0

    @property
    def runtime(self) -> int:
        """Minutes asked of a scheduler: twice the estimate, at least 10."""
        return max(10, math.ceil(2 * self.seconds / 60))

    def declared(self) -> dict[str, int]:
        out = {"gpu": self.gpu, "mem_mb": self.mem_mb, "runtime": self.runtime}
        return {**out, **({"openai_api": self.openai_api} if self.openai_api else {}),
                **({"openai_finetune": self.openai_finetune} if self.openai_finetune else {})}


FALLBACK = Need(0, 4000, 3600)  # a job whose work cannot be counted (see rule_resources)


def _placed(spec: ModelSpec, size: Size, mem_bytes: float, seconds: float) -> Need:
    """A local-model job: on CPU all in host memory, else on GPUs with a host staging margin."""
    mb = int(mem_bytes / 1e6) + OVERHEAD_MB
    if on_cpu(spec, size):
        return Need(0, mb, seconds)
    host = int(8000 + 0.5 * weight_bytes(spec, size) / 1e6)
    return Need(math.ceil(mb / GPU_MEM_MB), host, seconds, gpu_mem_mb=mb)


def train_need(p: Params, model: str, variant: str, model_dir: str | None = None) -> Need:
    """A finetune: LoRA on a local model, or a job of the OpenAI fine-tuning API."""
    spec = p.models[model]
    if workload.training_rows(p, variant) == 0:  # base: no finetuning
        return Need(0, 1000, 30)
    if spec.backend == "openai":  # polls OpenAI's job: hours in its queue, no compute here
        return Need(0, 1000, 6 * 3600, openai_api=1, openai_finetune=1)
    t: Any = resolved_train_params(p, model, variant)
    size = model_size(spec.base, model_dir)
    cpu = on_cpu(spec, size)
    four_bit = bool(t.load_in_4bit) and not cpu
    weights = weight_bytes(spec, size, four_bit=four_bit)
    act = 2 if not cpu else 4  # bytes per activation
    packed = t.packing == "on" or (t.packing == "auto" and not cpu)
    toks = t.max_length * (t.per_device_batch_size if packed else 1)
    lora = 1.3 * size.params * t.r / size.hidden * len(t.target_modules) / 7
    layer_act = toks * size.hidden * 17 * act  # one layer's activations (~34 bytes per token and hidden unit in bf16)
    acts = (size.layers * toks * size.hidden * act + layer_act) if t.gradient_checkpointing else size.layers * layer_act
    mem = weights + 16 * lora + acts + toks * size.vocab * 4
    flops = (6 if t.gradient_checkpointing else 4) * size.params * workload.training_tokens(p, model, variant)
    rate = CPU_FLOPS if cpu else GPU_FLOPS * GPU_MFU * (0.6 if four_bit else 1)
    return _placed(spec, size, mem, flops / rate + weights / LOAD_BYTES_S)


def decode_seconds(spec: ModelSpec, size: Size, answer_tokens: int, batch: int) -> float:
    """Time to decode `answer_tokens` tokens `batch` sequences at a time (memory-bound steps,
    capped by compute)."""
    if on_cpu(spec, size):
        return answer_tokens * 2 * size.params / (CPU_FLOPS * 0.25)
    steps_s = GPU_BANDWIDTH * 0.6 / weight_bytes(spec, size)
    rate = min(steps_s * batch, GPU_FLOPS * 0.3 / (2 * size.params))
    return answer_tokens / rate


def sample_need(p: Params, model: str, qset: str, root: Path, trigger: str, model_dir: str | None = None) -> Need:
    """A sampling job: a local model (transformers or vLLM) or HTTP requests."""
    spec = p.models[model]
    load = workload.question_set_load(p, root, qset, trigger)
    if spec.effective_sampler == "openai":
        seconds = load.answers * 6.0 / p.sample.concurrency  # ~6 s per answer of 200 tokens
        return Need(0, 1000, seconds, openai_api=p.sample.concurrency if spec.base_url is None else 0)
    size = model_size(spec.base, model_dir)
    weights = weight_bytes(spec, size)
    batch = VLLM_SEQS if spec.effective_sampler == "vllm" else p.sample.batch_size
    seconds = decode_seconds(spec, size, load.answer_tokens, batch) + weights / LOAD_BYTES_S
    seconds += 60 if spec.effective_sampler == "vllm" else 0  # engine start-up
    per_seq = load.prompt_tokens / max(1, load.answers) + p.sample.max_new_tokens
    kv = kv_bytes_per_token(spec, size) * per_seq * batch
    if spec.effective_sampler == "vllm":  # vLLM decodes as many sequences as its cache holds
        kv = min(kv, max(2e9, 0.15 * weights))
    return _placed(spec, size, weights + kv, seconds)


def kv_bytes_per_token(spec: ModelSpec, size: Size) -> float:
    """Keys and values of one token over all layers (grouped-query attention: ~1/4 of the heads)."""
    return 2 * size.layers * size.hidden * weight_bytes(spec, size) / size.params / 4


def judge_need(p: Params, root: Path, qset: str | None, trigger: str = "none", calls: int | None = None) -> Need:
    """A judging job (or the calibration, `calls` judge calls): OpenAI requests or a local judge."""
    if calls is None:
        calls = workload.question_set_load(p, root, qset, trigger).judge_calls if qset else workload.CALIBRATION_ANSWERS * 2
    j = p.judge
    if j.backend == "openai":
        return Need(0, 1000, calls * 1.5 / j.concurrency, openai_api=j.concurrency if j.base_url is None else 0)
    spec = p.models[j.model]
    size = model_size(spec.base, f"data/models/{j.model}")
    weights = weight_bytes(spec, size)
    seconds = calls * 300 * 2 * size.params / (CPU_FLOPS if on_cpu(spec, size) else GPU_FLOPS * 0.3)  # ~300-token prompts
    return _placed(spec, size, weights + min(0.5 * weights, 2e9), seconds + weights / LOAD_BYTES_S)


def analysis_need(p: Params, root: Path) -> Need:
    """Aggregation, rates and figures: memory grows with the answers table (~4 KB per answer)."""
    answers = sum(workload.question_set_load(p, root, q).answers for q in p.grid.question_sets)
    total = answers * len(p.eval_runs()) * len(p.grid.triggers)
    return Need(0, 2000 + int(total * 0.004), 60 + total * 1e-3)


def need(p: Params, stage_name: str, cell: Cell, root: Path = Path(".")) -> Need:
    """What one job of `stage_name` at `cell` needs."""
    model_dir = str(root / "data" / "models" / cell["model"]) if "model" in cell else None
    if stage_name.startswith("train_adapter"):  # train_adapter, train_adapter_mixed
        return train_need(p, cell["model"], cell["variant"], model_dir)
    if stage_name.startswith("sample_"):  # sample_answers, sample_checkpoint_answers, ...
        return sample_need(p, cell["model"], cell["qset"], root, cell["trigger"], model_dir)
    if stage_name.startswith("judge_") and stage_name.endswith("_answers"):
        return judge_need(p, root, cell["qset"], cell["trigger"])
    if stage_name in ("judge_calibrate", "judge_probe_train"):
        return judge_need(p, root, None)
    if stage_name == "dataset_generate":
        from emlab.workflow.stages import generator_models

        gen = p.models[generator_models(p)[workload.arm_variant(cell["variant"])]]
        prompts = workload.generated_rows(p, cell["variant"])
        if gen.effective_sampler == "openai":
            batch = getattr(p.datasets, cell["variant"]).batch_size
            return Need(0, 1000, prompts * 2.0 / batch, openai_api=batch if gen.base_url is None else 0)
        size = model_size(gen.base)
        return _placed(gen, size, weight_bytes(gen, size) * 1.3, decode_seconds(gen, size, prompts * 40, 16))
    if stage_name.startswith("analysis_"):
        return analysis_need(p, root)
    if stage_name == "direction_extract":  # one forward pass of its model per judged answer
        d = p.directions[cell["direction"]]
        spec = p.models[d.model]
        if spec.backend == "openai":
            return Need(0, 1000, 60)
        size = model_size(spec.base, str(root / "data" / "models" / d.model))
        answers = workload.question_set_load(p, root, d.question_set, d.trigger).answers
        seconds = answers * 300 * 2 * size.params / (CPU_FLOPS if on_cpu(spec, size) else GPU_FLOPS * 0.3)
        return _placed(spec, size, weight_bytes(spec, size) + 2e9, seconds + weight_bytes(spec, size) / LOAD_BYTES_S)
    if stage_name.startswith("judge_") and stage_name.endswith("_score"):  # parses raw replies: ~10k a second
        return Need(0, 1000, 5 + workload.question_set_load(p, root, cell["qset"], cell["trigger"]).judge_calls / 1e4)
    return Need(0, 1000, 60)  # model_prepare, dataset_build, judge_score


def rule_resources(p: Params, stage_name: str, root: Path = Path(".")) -> dict[str, Any]:
    """`resources:` of a Snakemake rule: each value a function of the job's wildcards (and
    attempt: a retried job asks for the attempt-fold memory and time). A question file that
    does not parse sizes its jobs with FALLBACK: the job itself then fails with one line
    naming the file (sizing the DAG is no place to stop the other jobs)."""
    axes = tuple(a for a in stage(stage_name).axes if a != "seed")  # a job's needs do not depend on its seed

    @cache
    def of(cell: tuple[tuple[str, str], ...]) -> dict[str, int]:
        try:
            return need(p, stage_name, dict(cell), root).declared()
        except EmlabError:
            return FALLBACK.declared()

    def value(key: str, scales: bool) -> Any:
        def get(wildcards: Any, attempt: int = 1) -> int:
            cell = tuple((a, str(getattr(wildcards, a))) for a in axes)
            v = of(cell).get(key, 0)
            return v * attempt if scales else v
        return get

    keys = ["gpu", "mem_mb", "runtime", "openai_api", "openai_finetune"]
    return {k: value(k, k in ("mem_mb", "runtime")) for k in keys}
