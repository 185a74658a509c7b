"""What a finetune trains and how its result is saved: an rsLoRA adapter or every weight.

    emlab train ... --out data/adapters/M/V/sS     # train.peft.finetune / r / target_modules / layers

`train.peft.finetune: lora` (the paper) wraps the frozen base in a peft LoRA adapter on
`target_modules`, on every decoder layer or only on `layers` (peft's
`layers_to_transform`), and saves `adapter_config.json` + `adapter_model.safetensors`.
The follow-up's single rank-1 adapter is `r: 1, lora_alpha: 256, target_modules:
[down_proj], layers: [L]`: one (1 x in) lora_A and one (out x 1) lora_B.

`finetune: full` trains every weight (for small models) and saves a whole model folder,
`model.json` + `weights/` as `emlab model prepare` writes one, so the folder is itself a
prepared model: `emlab.models.load_causal_lm(out_dir)` loads it and the samplers use it
in place of base + adapter.

`shape_record` is what adapter.json says about the shape, with a legend label for figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.errors import EmlabError
from emlab.io import write_json_atomic
from emlab.train.params import shape_label

if TYPE_CHECKING:
    from emlab.train.params import PeftTrainParams

WEIGHTS = "weights"  # as emlab.models lays out a prepared model


def build_trainable(model: Any, params: PeftTrainParams) -> Any:
    """`model` ready to train: wrapped in a LoRA adapter, or (full) with every weight trainable.

    Raises:
        EmlabError: `layers` outside the model's decoder layers, or targets that match nothing.
    """
    if params.finetune == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if params.layers is not None and n_layers and max(params.layers) >= n_layers:
        raise EmlabError(f"train.peft.layers: {params.layers} is outside the model's {n_layers} decoder layers (0..{n_layers - 1})")
    lora = LoraConfig(r=params.r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      use_rslora=params.use_rslora, target_modules=list(params.target_modules),
                      layers_to_transform=list(params.layers) if params.layers is not None else None,
                      bias="none", task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except ValueError as e:  # peft: "Target modules {...} not found in the base model"
        raise EmlabError(f"train.peft.target_modules: {list(params.target_modules)}: {str(e).splitlines()[0]}") from None


def model_record(model_name: str, base: str) -> dict[str, Any]:
    """model.json of a full finetune's folder: a local model whose weights are in `weights/`."""
    return {"name": model_name, "backend": "peft", "base": base, "kind": "local", "path": WEIGHTS, "finetuned": True}


def save_weights(model: Any, folder: Path, *, params: PeftTrainParams, tokenizer: Any = None,
                 record: dict[str, Any] | None = None) -> None:
    """Save what was trained into `folder`: the adapter files, or (full) model.json + weights/."""
    import shutil

    folder = Path(folder)
    if params.finetune == "lora":
        shutil.rmtree(folder / WEIGHTS, ignore_errors=True)  # a full finetune's files from an earlier run
        (folder / "model.json").unlink(missing_ok=True)
        model.save_pretrained(str(folder))
        return
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # an adapter's, from an earlier run
        (folder / name).unlink(missing_ok=True)
    model.save_pretrained(str(folder / WEIGHTS))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder / WEIGHTS))
    write_json_atomic(folder / "model.json", record or {"kind": "local", "path": WEIGHTS})


def shape_record(params: PeftTrainParams, trainable_parameters: int) -> dict[str, Any]:
    """adapter.json's `shape`: what was trained, and a label for figure legends."""
    lora = params.finetune == "lora"
    return {"finetune": params.finetune, "r": params.r if lora else None, "lora_alpha": params.lora_alpha if lora else None,
            "use_rslora": params.use_rslora if lora else None,
            "target_modules": list(params.target_modules) if lora else None,
            "layers": list(params.layers) if lora and params.layers is not None else None,
            "trainable_parameters": trainable_parameters, "label": shape_label(params)}
