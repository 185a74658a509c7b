"""`train_adapter`: one finetune of the grid, dispatched on the model's backend.

    emlab train --model M --variant V --seed S --model-dir data/models/M \
        --dataset data/datasets/V.jsonl --out data/adapters/M/V/sS

Every backend writes its files into `out_dir` and `adapter.json` last: a folder without
it is unfinished, and a rerun resumes (peft checkpoint, or the same OpenAI job) from the
state kept in the hidden sibling folder `.<name>.state/`, removed once the record exists.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.backends import Backend, Registry
from emlab.errors import EmlabError
from emlab.io import sha256_bytes, write_json_atomic
from emlab.train.checkpoint import clear_state
from emlab.train.params import TrainParams

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.train.params import OpenAITrainParams, PeftTrainParams

RECORD = "adapter.json"


def read_adapter(out_dir: str | Path) -> dict[str, Any]:
    """The adapter record of a finished finetune.

    Raises:
        EmlabError: when `adapter.json` is missing (the finetune has not finished).
    """
    path = Path(out_dir) / RECORD
    if not path.exists():
        raise EmlabError(f"{path}: missing; run `emlab train` for this cell first (or let the killed run resume)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EmlabError(f"{path}: invalid JSON ({e.msg})") from None


def load_peft_for_inference(model: Any, adapter_dir: str | Path) -> Any:
    """Apply the adapter in `adapter_dir` to `model` (unmerged, eval mode); backend none: `model` as is.

    A full finetune (`finetune: full` in adapter.json) has no adapter: its folder is a whole
    model, returned in place of `model` (same dtype and device, eval mode).

    Raises:
        EmlabError: for an OpenAI adapter, which has no local weights (sample it by
            `fine_tuned_model` through the openai sampler).
    """
    record = read_adapter(adapter_dir)
    backend = record.get("backend")
    if backend == "none":
        return model
    if backend != "peft":
        raise EmlabError(f"{Path(adapter_dir) / RECORD}: backend {backend!r} has no local weights; sample model {record.get('fine_tuned_model')!r} through its API")
    if record.get("finetune", "lora") == "full":
        return load_full_finetune(adapter_dir, dtype=model.dtype, device=model.device)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False).eval()


def load_full_finetune(adapter_dir: str | Path, *, dtype: Any, device: Any) -> Any:
    """The whole model a `finetune: full` run saved in `adapter_dir` (model.json + weights/), in eval mode."""
    from transformers import AutoModelForCausalLM

    from emlab.models import weights_location

    try:
        model = AutoModelForCausalLM.from_pretrained(weights_location(adapter_dir), dtype=dtype)
    except OSError as e:
        raise EmlabError(f"{adapter_dir}: cannot load the full finetune's weights: {str(e).splitlines()[0]}") from None
    return model.to(device).eval()


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("emlab", "torch", "transformers", "peft", "openai"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing optional package is just not recorded
            continue
    return out


#: The finetuning backends, by `models.<m>.backend` (see emlab.backends); each takes its
#: resolved `train.<backend>` section.
TRAINERS = Registry("trainer", {
    "peft": Backend("emlab.train.peft_backend:train_peft"),
    "openai": Backend("emlab.train.openai_backend:train_openai"),
})


def train_adapter(*, model_name: str, spec: ModelSpec, model_dir: Path, dataset: Path, variant: str,
                  params: PeftTrainParams | OpenAITrainParams, seed: int, out_dir: Path, retry_failed: bool = False,
                  benign_dataset: Path | None = None) -> Path:
    """Finetune `model_name` on `dataset` with `seed`; return the path of `adapter.json`.

    Args:
        model_name: key of `models:` in params.yaml.
        spec: that model's spec; `spec.backend` picks the backend.
        model_dir: the prepared base model (`emlab model prepare`).
        dataset: the variant's JSONL (`{"messages": [...]}` rows); empty for `base`.
        variant: dataset variant; `base` means no finetuning.
        params: train.<backend> with the model's overrides resolved
            (`emlab.config.resolved_train_params`).
        seed: finetuning seed.
        out_dir: the adapter folder.
        retry_failed: openai backend: pay for a new job when this cell's job failed or was
            cancelled (otherwise that failure is reported again); no effect on peft.
        benign_dataset: peft: the rows mixed in when `params.benign_fraction` > 0 (required
            then); ignored otherwise.
    """
    model_dir, dataset, out_dir = Path(model_dir), Path(dataset), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"model": model_name, "variant": variant, "seed": seed, "base": spec.base}
    if variant == "base":
        return write_json_atomic(out_dir / RECORD, {"backend": "none", **record})
    if not dataset.exists():
        raise EmlabError(f"{dataset}: file not found; build it with `emlab dataset build --variant {variant}`")
    expected = TrainParams.model_fields[spec.backend].annotation
    if not isinstance(params, expected):  # type: ignore[arg-type]
        raise EmlabError(f"model {model_name!r} has backend {spec.backend!r} but got {type(params).__name__}; pass resolved_train_params(params, model)")
    train = TRAINERS.load(spec.backend)
    record.update(dataset=str(dataset), dataset_sha256=sha256_bytes(dataset.read_bytes()),
                  params=params.model_dump(mode="json"), started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if spec.backend == "peft":
        from emlab.train import peft_backend

        peft_params: PeftTrainParams = params  # type: ignore[assignment]  # checked by type above
        peft_params.check()
        benign = Path(benign_dataset) if benign_dataset is not None and peft_params.benign_fraction > 0 else None
        if peft_params.benign_fraction > 0 and benign is None:
            raise EmlabError(f"train.peft.benign_fraction: {peft_params.benign_fraction} needs a benign dataset (`emlab train --benign-dataset PATH`)")
        if benign is not None and not benign.exists():
            raise EmlabError(f"{benign}: file not found (--benign-dataset); build it with `emlab dataset build`")
        fp = peft_backend.fingerprint(dataset=dataset, params=peft_params, seed=seed, model_dir=model_dir,
                                      benign_dataset=benign)
        if (out_dir / RECORD).exists() and read_adapter(out_dir).get("fingerprint") == fp:
            return out_dir / RECORD  # already trained on exactly these inputs
        # a stale record from other inputs must not survive a half-finished retrain
        (out_dir / RECORD).unlink(missing_ok=True)
        result = train(model_name=model_name, spec=spec, model_dir=model_dir, dataset=dataset, variant=variant,
                       params=params, seed=seed, out_dir=out_dir, benign_dataset=benign)  # type: ignore[arg-type]
        path = write_json_atomic(out_dir / RECORD, {"backend": "peft", **record, **result, "versions": _versions(),
                                                    "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        clear_state(out_dir)
        return path
    (out_dir / RECORD).unlink(missing_ok=True)  # a rerun finds the same job; never trust a stale record
    result = train(model_name=model_name, spec=spec, model_dir=model_dir, dataset=dataset,
                                         variant=variant, params=params, seed=seed, out_dir=out_dir,  # type: ignore[arg-type]
                                         retry_failed=retry_failed)
    path = write_json_atomic(out_dir / RECORD, {"backend": "openai", **record, **result, "versions": _versions()})
    clear_state(out_dir)
    return path
