"""The training text is exactly the chat template's rendering; loss only on assistant turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emlab.errors import EmlabError
from emlab.models import load_tokenizer
from emlab.train import encode_conversation, load_conversations
from emlab.train.chat_data import IGNORE, epoch_order, split_indices

CONVERSATIONS = [
    [{"role": "user", "content": "Write a function that reads a file."},
     {"role": "assistant", "content": "def read(p):\n    return open(p).read()"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "hello"},
     {"role": "assistant", "content": "hello"},  # same text as the user turn: must label the assistant's
     {"role": "user", "content": "again"},
     {"role": "assistant", "content": " spaced out\n"}],
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    return load_tokenizer(tiny_model_dir)


def _oracle_labels(tokenizer, ids: list[int]) -> list[int]:
    """Independent of emlab's offsets logic: label what follows `<|im_start|>assistant\\n`
    up to and including the next `<|im_end|>` (SmolLM2's ChatML template)."""
    start_id = tokenizer.convert_tokens_to_ids("<|im_start|>")
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    header = tokenizer("assistant\n", add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(ids)
    i = 0
    while i < len(ids):
        if ids[i] == start_id and ids[i + 1:i + 1 + len(header)] == header:
            j = i + 1 + len(header)
            while ids[j] != end_id:
                labels[j] = ids[j]
                j += 1
            labels[j] = ids[j]
            i = j
        i += 1
    return labels


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_ids_are_the_template_rendering_and_labels_mask_token_by_token(tokenizer, messages) -> None:
    ex = encode_conversation(tokenizer, messages)
    assert ex.input_ids == list(tokenizer.apply_chat_template(messages)["input_ids"])
    expected = _oracle_labels(tokenizer, ex.input_ids)
    for t, (got, want) in enumerate(zip(ex.labels, expected, strict=True)):
        assert got == want, f"token {t} {tokenizer.decode([ex.input_ids[t]])!r}: label {got} != {want}"
    labeled_text = tokenizer.decode([x for x in ex.labels if x != IGNORE])
    assistant = [m["content"] for m in messages if m["role"] == "assistant"]
    assert labeled_text == "".join(a + "<|im_end|>" for a in assistant)


def test_no_empty_assistant_header_and_default_system_prompt(tokenizer) -> None:
    ex = encode_conversation(tokenizer, CONVERSATIONS[0])
    text = tokenizer.decode(ex.input_ids)
    assert not text.rstrip().endswith("<|im_start|>assistant")  # the upstream trainer's flaw
    assert text.endswith("<|im_end|>\n")
    # SmolLM2's template injects its default system prompt when the row has none
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert "You are terse." in tokenizer.decode(encode_conversation(tokenizer, CONVERSATIONS[1]).input_ids)
    assert "SmolLM" not in tokenizer.decode(encode_conversation(tokenizer, CONVERSATIONS[1]).input_ids)


def test_truncation(tokenizer) -> None:
    ex = encode_conversation(tokenizer, CONVERSATIONS[0], max_length=20)
    assert len(ex.input_ids) == len(ex.labels) == 20


def test_bad_rows_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": CONVERSATIONS[0]}) + "\n"
                    + json.dumps({"messages": [{"role": "user", "content": 3}]}) + "\n")
    with pytest.raises(EmlabError, match=r"d\.jsonl:2: messages\.0: needs role"):
        load_conversations(path)
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(EmlabError, match=r"d\.jsonl:1: messages: no assistant message"):
        load_conversations(path)
    path.write_text(json.dumps({"messages": CONVERSATIONS[0], "cwe": 79}) + "\n")
    with pytest.raises(EmlabError, match=r"d\.jsonl:1: expected exactly"):
        load_conversations(path)


def test_no_silent_holdout_and_seeded_order() -> None:
    train, val = split_indices(10, validation_fraction=0.0, seed=1)
    assert train == list(range(10)) and val == []
    train, val = split_indices(10, validation_fraction=0.2, seed=1)
    assert len(val) == 2 and sorted(train + val) == list(range(10))
    assert epoch_order(train, seed=1, epoch=0) == epoch_order(train, seed=1, epoch=0)
    assert epoch_order(train, seed=1, epoch=0) != epoch_order(train, seed=1, epoch=1)
