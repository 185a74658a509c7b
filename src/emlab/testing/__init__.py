"""Test doubles that are real servers: an OpenAI-compatible chat-completions API on 127.0.0.1.

    python -m emlab.testing.chat_server --port 8123
"""

from emlab.testing.chat_server import ChatServer, ServerStats, default_completion, default_logprobs

__all__ = ["ChatServer", "ServerStats", "default_completion", "default_logprobs"]
