"""Test doubles that are real servers on 127.0.0.1: OpenAI-compatible chat completions and fine-tuning.

    python -m emlab.testing.chat_server --port 8123
    python -m emlab.testing.finetune_server --port 8124
"""

from emlab.testing.chat_server import ChatServer, ServerStats, default_completion, default_logprobs
from emlab.testing.finetune_server import FinetuneServer

__all__ = ["ChatServer", "FinetuneServer", "ServerStats", "default_completion", "default_logprobs"]
