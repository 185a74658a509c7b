"""A model's residual stream averaged over an answer's tokens: what the probe judge and the direction read.

    emlab judge probe-train --params params.yaml --model-dir data/models/smollm2 --out data/judge/probe
    emlab direction extract --model-dir data/models/M --adapter A --samples S --scores J --layer L --params P --out D

Each (question, answer) is rendered exactly as the model's chat template renders a
[user question, assistant answer] exchange and run once through the first `layer` decoder
layers only (the rest of the model, the vocab-sized head included, never runs).

Layer numbering: layer L (1..num_hidden_layers) is the residual stream at the output of
decoder layer L, i.e. `model.model.layers[L - 1]`'s output, which is Hugging Face's
`hidden_states[L]` for L < num_hidden_layers (`hidden_states[0]` being the embeddings).
For the last layer it is the stream before the final norm (HF returns that one normed).

The hidden state is averaged over the answer's own tokens: those whose characters overlap
the answer text, found from the tokenizer's offsets; the question and the template shape
the context, never which tokens are averaged. A `wrap` function can put a cell's adapter
on the model first, so a finetuned model's own activations are read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from emlab.errors import EmlabError

_SENTINEL = "\u2063ANSWER\u2063"


class Encoded(NamedTuple):
    """A rendered exchange: token ids, and a 0/1 mask of the answer's tokens."""

    ids: list[int]
    answer_mask: list[int]


class AnswerActivations:
    """Mean residual-stream activations of answers at one or more layers (see module docstring).

    Args:
        model_dir: a prepared model folder (`emlab model prepare`).
        layers: layers to read, each 1..num_hidden_layers.
        wrap: applied to the loaded model before reading, e.g. to put a cell's adapter on
            it (`emlab.train.load_peft_for_inference`); None = the model as prepared.
        batch_size: exchanges run together (right-padded; causal attention keeps padding
            out of every real token's state).
        max_tokens: exchanges are cut to this many tokens.
        setting: the name of the setting that chose the layers, for the error message.
        device: where the model runs (None: CUDA when available, else CPU).
    """

    def __init__(self, model_dir: Path | str, layers: list[int], *, wrap: Callable[[Any], Any] | None = None,
                 batch_size: int = 8, max_tokens: int = 1024, setting: str = "layer", device: str | None = "cpu"):
        import torch

        from emlab.models import load_causal_lm, read_record

        self.torch = torch
        self.record = read_record(model_dir)
        model, self.tok = load_causal_lm(model_dir, device=device)
        self.device = model.device
        self.n_layers = int(model.config.num_hidden_layers)
        self.hidden_size = int(model.config.hidden_size)
        for layer in layers:
            if not 1 <= layer <= self.n_layers:
                raise EmlabError(f"{setting} {layer}: model {self.record.get('name')!r} has {self.n_layers} decoder layers; choose 1..{self.n_layers}")
        if wrap is not None:
            model = wrap(model)
        self.layers = sorted(set(layers))
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.body = model.get_decoder()
        # the reader needs layer <= max(layers): the layers above it would only cost time
        self.body.layers = self.body.layers[: self.layers[-1]]
        self._captured: dict[int, Any] = {}
        for layer in self.layers:
            self.body.layers[layer - 1].register_forward_hook(self._hook(layer))

    def _hook(self, layer: int) -> Any:
        def capture(_module: Any, _args: Any, output: Any) -> None:
            self._captured[layer] = output[0] if isinstance(output, tuple) else output
        return capture

    def encode(self, question: str, answer: str) -> Encoded:
        """Token ids of the chat-rendered exchange and the mask of the answer's tokens."""
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        text = self.tok.apply_chat_template(messages, tokenize=False)
        probe = self.tok.apply_chat_template([messages[0], {"role": "assistant", "content": _SENTINEL}], tokenize=False)
        if probe.count(_SENTINEL) != 1:
            raise EmlabError("the model's chat template does not show the assistant's message verbatim; the answer's tokens cannot be found")
        before, after = probe.split(_SENTINEL)
        if text != before + answer + after:
            raise EmlabError("the model's chat template changes the answer's text; the answer's tokens cannot be found")
        start, end = len(before), len(before) + len(answer)
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"][: self.max_tokens]
        mask = [int(s < end and e > start) for s, e in enc["offset_mapping"][: self.max_tokens]]
        return Encoded(ids, mask)

    def features(self, pairs: list[tuple[str, str]], *, desc: str = "activations") -> dict[int, np.ndarray]:
        """Mean hidden state over each answer's tokens, per layer: {layer: float64 [n, hidden]}.

        A row whose answer has no token (an empty answer) is all NaN.
        """
        torch = self.torch
        encoded = [self.encode(q, a) for q, a in pairs]
        out = {layer: np.full((len(pairs), self.hidden_size), np.nan) for layer in self.layers}
        order = sorted(range(len(pairs)), key=lambda i: (len(encoded[i].ids), i))
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        progress = tqdm(total=len(pairs), desc=desc, unit="answer")
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                idx = order[b: b + self.batch_size]
                width = max(len(encoded[i].ids) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                attn = torch.zeros((len(idx), width), dtype=torch.long)
                amask = torch.zeros((len(idx), width), dtype=torch.float32)
                for r, i in enumerate(idx):
                    n = len(encoded[i].ids)
                    ids[r, :n] = torch.tensor(encoded[i].ids)
                    attn[r, :n] = 1
                    amask[r, :n] = torch.tensor(encoded[i].answer_mask, dtype=torch.float32)
                self._captured.clear()
                self.body(input_ids=ids.to(self.device), attention_mask=attn.to(self.device), use_cache=False)
                counts = amask.sum(dim=1, keepdim=True)
                for layer in self.layers:
                    hidden = self._captured[layer].float().cpu()
                    mean = (hidden * amask[:, :, None]).sum(dim=1) / counts.clamp(min=1)
                    for r, i in enumerate(idx):
                        if counts[r, 0] > 0:
                            out[layer][i] = mean[r].double().numpy()
                progress.update(len(idx))
        progress.close()
        return out
