"""Finetuning backends: local rsLoRA with peft, and the OpenAI fine-tuning API.

    emlab train --model M --variant V --seed S --model-dir data/models/M \
        --dataset data/datasets/V.jsonl --out data/adapters/M/V/sS
"""

from emlab.train.adapter import load_peft_for_inference, read_adapter, train_adapter
from emlab.train.chat_data import Example, encode_conversation, load_conversations
from emlab.train.params import OpenAITrainParams, PeftTrainParams, TrainParams

__all__ = [
    "Example",
    "OpenAITrainParams",
    "PeftTrainParams",
    "TrainParams",
    "encode_conversation",
    "load_conversations",
    "load_peft_for_inference",
    "read_adapter",
    "train_adapter",
]
