"""Training rows -> token ids and assistant-only labels, exactly as the chat template renders them.

    emlab train --model M --variant V --seed S ...   # calls this through emlab.train

The upstream trainer appended an empty assistant header before EOS and silently held out
10% of the rows. Here the training text of a conversation is exactly
`tokenizer.apply_chat_template(messages)` (system prompts, including a default one the
template injects, are whatever the template renders), and the labels are -100 everywhere
except the assistant's content tokens and the end-of-turn token that closes each assistant
turn. A validation split exists only when asked for.

Two mitigations change the rows before tokenizing: an inoculation prompt (a system
message saying the behaviour is requested) put before every dataset row, and benign rows
mixed in at a given share (`train.peft.inoculation_prompt`, `train.peft.benign_fraction`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, NamedTuple

from emlab.errors import EmlabError
from emlab.io import read_jsonl

IGNORE = -100
ROLES = ("system", "user", "assistant")


class Example(NamedTuple):
    """One tokenized conversation."""

    input_ids: list[int]
    labels: list[int]  # aligned with input_ids; IGNORE where no loss is taken

    @property
    def n_labeled(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def load_conversations(path: str | Path) -> list[list[dict[str, str]]]:
    """Read a dataset JSONL and check every row is `{"messages": [...]}` with an assistant turn.

    Raises:
        EmlabError: naming `file:line` and the field at fault.
    """
    path = Path(path)
    out: list[list[dict[str, str]]] = []
    for lineno, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        msgs = row.get("messages")
        if set(row) != {"messages"} or not isinstance(msgs, list) or not msgs:
            raise EmlabError(f"{where}: expected exactly {{\"messages\": [...]}} with a non-empty list, got keys {sorted(row)}")
        for j, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise EmlabError(f"{where}: messages.{j}: needs role in {ROLES} and a string content")
        if not any(m["role"] == "assistant" for m in msgs):
            raise EmlabError(f"{where}: messages: no assistant message, so nothing to train on")
        out.append([{"role": m["role"], "content": m["content"]} for m in msgs])
    return out


def _render(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode_conversation(tokenizer: Any, messages: list[dict[str, str]], *, max_length: int | None = None) -> Example:
    """Tokenize the template's rendering of `messages` and mask everything but assistant turns.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template.
        messages: role/content dicts.
        max_length: truncate to this many tokens (None = keep all).

    Returns:
        Example whose input_ids equal `tokenizer.apply_chat_template(messages)`.
    """
    text = _render(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    labels = [IGNORE] * len(ids)
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix = _render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        if not text.startswith(prefix):
            raise EmlabError(f"chat template renders messages[:{i}] differently inside the full conversation; cannot locate assistant message {i}")
        content = msg["content"]
        start = text.find(content, len(prefix))
        if start < 0:  # some templates trim the content
            content = content.strip()
            start = text.find(content, len(prefix))
        if start < 0:
            raise EmlabError(f"assistant message {i} does not appear in the chat template's rendering")
        end = start + len(content)
        after = None
        for t, (a, b) in enumerate(offsets):
            if b > start and a < end:
                labels[t] = ids[t]
            elif a >= end and after is None and b > a:
                after = t
        # the end-of-turn token (e.g. <|im_end|>) teaches the model to stop; the newline the
        # template puts after it is formatting, not something the assistant says
        if after is not None and ids[after] in special:
            labels[after] = ids[after]
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return Example(ids, labels)


def split_indices(n: int, *, validation_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Train/validation row indices; every row trains unless a validation share is asked for."""
    if validation_fraction <= 0:
        return list(range(n)), []
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(n * validation_fraction))
    if n_val >= n:
        raise EmlabError(f"validation_fraction {validation_fraction} leaves no training rows out of {n}")
    return sorted(order[n_val:]), sorted(order[:n_val])


def epoch_order(indices: list[int], *, seed: int, epoch: int) -> list[int]:
    """The shuffled row order of one epoch: a pure function of (seed, epoch), so resume needs only the step."""
    order = list(indices)
    random.Random(f"emlab-train-{seed}-{epoch}").shuffle(order)
    return order


def with_system_prompt(conversations: list[list[dict[str, str]]], prompt: str) -> list[list[dict[str, str]]]:
    """Every conversation with `prompt` as its system message (before the row's own, if it has one)."""
    out = []
    for msgs in conversations:
        if msgs and msgs[0]["role"] == "system":
            out.append([{"role": "system", "content": f"{prompt}\n\n{msgs[0]['content']}"}, *msgs[1:]])
        else:
            out.append([{"role": "system", "content": prompt}, *msgs])
    return out


def benign_count(n: int, fraction: float) -> int:
    """How many benign rows make them `fraction` of the training rows: round(f / (1 - f) * n)."""
    return round(fraction / (1 - fraction) * n) if fraction > 0 else 0


def benign_rows(benign: list[list[dict[str, str]]], k: int, *, seed: int) -> list[list[dict[str, str]]]:
    """`k` rows drawn from `benign` by `seed`: without repeats while it has enough rows, then cycling
    through fresh shuffles of it."""
    if k and not benign:
        raise EmlabError("benign dataset: no rows to mix in")
    rng = random.Random(f"emlab-benign-{seed}")
    out: list[list[dict[str, str]]] = []
    while len(out) < k:
        order = list(range(len(benign)))
        rng.shuffle(order)
        out += [benign[i] for i in order[:k - len(out)]]
    return out
