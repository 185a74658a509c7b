"""Finetuning backends: local rsLoRA with peft, and the OpenAI fine-tuning API.

    emlab train --model M --variant V --seed S [--params params.yaml] --model-dir data/models/M \
        --dataset data/datasets/V.jsonl --out data/adapters/M/V/sS

`train_adapter` dispatches on the model's backend and writes into `--out`:

- `base` variant: only `adapter.json` `{"backend": "none", ...}`.
- peft: `adapter_config.json` + `adapter_model.safetensors` (PeftModel.from_pretrained and
  vLLM load them), or with `finetune: full` a whole model (`model.json` + `weights/`), `train_log.jsonl` (step, loss, lr, tokens, labeled_tokens, seconds),
  `loss.png`, `checkpoints/step-NNNNNN/` when `keep_checkpoints_as_adapters`.
- openai: the job's ids, hyperparameters, status and timestamps in `adapter.json`.

`adapter.json` is written last. While a run is unfinished its resumable state (peft
checkpoint, partial log, OpenAI ids) lives in the hidden sibling `.sS.state/`, which
survives a workflow engine deleting the unfinished `--out` folder, and is removed once
`adapter.json` exists. The sampling stage reads records with `read_adapter` and applies
peft adapters with `load_peft_for_inference`.
"""

from emlab.train.adapter import load_peft_for_inference, read_adapter, train_adapter
from emlab.train.chat_data import Example, encode_conversation, load_conversations
from emlab.train.params import OpenAITrainParams, PeftTrainParams, TrainParams, shape_label

__all__ = [
    "Example",
    "OpenAITrainParams",
    "PeftTrainParams",
    "TrainParams",
    "encode_conversation",
    "load_conversations",
    "load_peft_for_inference",
    "read_adapter",
    "shape_label",
    "train_adapter",
]
