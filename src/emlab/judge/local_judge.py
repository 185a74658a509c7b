"""A local transformers judge that scores whole replies exactly, however they tokenize.

    emlab judge run --samples FILE --question-set main --judge-model-dir data/models/smollm2 --out FILE.raw.jsonl

The paper's judge reads one token's top-20 logprobs, which works only when every number
0..100 is one token (GPT-4o). Many local tokenizers (SmolLM2's among them) spell 10..100
with several digit tokens, so this judge computes, for each candidate reply c
("0".."100", or the labels of a classification), the probability that the judge's whole
assistant turn is `reply_prefix + c` followed by the end-of-turn token: the product of
the teacher-forced next-token probabilities. These probabilities are stored unnormalised,
so `aggregate_0_100` applies unchanged and its 0.25 rule means "less than a quarter of the
judge's probability goes to a pure-number reply".

Speed: the candidates' token sequences form a trie (root, "0".."9", "10".."99", "100"),
and every distribution it needs comes from ONE forward per batch of answers: each answer's
tokens after the shared prefix, then every inner trie node, with a 4D attention mask that
lets a node see only the context and its own ancestors, and explicit position ids. The
judge-prompt prefix common to all answers (everything before the question) is prefilled
once and its KV cache reused for every batch.

A small model such as SmolLM2-135M puts ~99% of its first-token mass on digits after
"Score: ", yet scores benign and harmful answers only a few points apart: it checks the
machinery end to end, it does not replace a strong judge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from emlab.errors import EmlabError

log = logging.getLogger(__name__)

NUMBER_CANDIDATES: tuple[str, ...] = tuple(str(k) for k in range(101))
EndRule = Literal["end_of_turn", "non_digit"]
_SENTINEL = "\u2063JUDGE\u2063"


class _Trie(NamedTuple):
    """Candidate token sequences below a common context.

    `nodes[i] = (token, parent)` for every inner node (parent -1 = the context's last
    token); `paths[c]` = the (distribution source, token) pairs whose product is P(c),
    where the source is -1 for the context's last position or an inner-node index.
    """

    common: list[int]
    nodes: list[tuple[int, int]]
    depth: list[int]
    paths: dict[str, list[tuple[int, int]]]


def _build_trie(seqs: dict[str, list[int]]) -> _Trie:
    first = next(iter(seqs.values()))
    # every candidate keeps >= 1 token of its own
    n_common = min(len(_common_prefix(list(seqs.values()))), min(len(s) for s in seqs.values()) - 1)
    index: dict[tuple[int, ...], int] = {}
    nodes: list[tuple[int, int]] = []
    depth: list[int] = []
    paths: dict[str, list[tuple[int, int]]] = {}
    for cand, s in seqs.items():
        rest = s[n_common:]
        src, path = -1, []
        for j, tok in enumerate(rest):
            path.append((src, tok))
            if j == len(rest) - 1:
                break
            key = tuple(rest[: j + 1])
            if key not in index:
                index[key] = len(nodes)
                nodes.append((tok, src))
                depth.append(j + 1)
            src = index[key]
        paths[cand] = path
    return _Trie(first[:n_common], nodes, depth, paths)


class LocalJudge:
    """Whole-reply candidate probabilities from a local causal LM (see module docstring)."""

    def __init__(self, model_dir: Path | str, *, reply_prefix: str = "", batch_size: int = 8):
        import torch

        from emlab.models import load_causal_lm

        self.torch = torch
        self.model, self.tok = load_causal_lm(model_dir)
        self.reply_prefix = reply_prefix
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self._tries: dict[tuple[str, tuple[str, ...]], _Trie] = {}
        rendered = self.tok.apply_chat_template(
            [{"role": "user", "content": "u"}, {"role": "assistant", "content": _SENTINEL}], tokenize=False)
        tail = rendered.split(_SENTINEL, 1)[1].strip()
        tail_ids = self.tok(tail, add_special_tokens=False)["input_ids"] if tail else []
        # the template's end-of-turn token (<|im_end|> for SmolLM2); eos if it shows none
        self.eot_id: int = tail_ids[0] if tail_ids else self.tok.eos_token_id
        vocab = self.tok.convert_ids_to_tokens(list(range(len(self.tok))))
        # tokens whose text starts with a digit: they would continue a number
        self._digit_start = torch.tensor([bool(t) and self.tok.convert_tokens_to_string([t])[:1].isdigit() for t in vocab])
        self._specials = sorted({t for t in self.tok.all_special_tokens + list(self.tok.get_added_vocab()) if t}, key=len, reverse=True)

    def context(self, prompt: str) -> str:
        """The judge's input text up to the candidate: chat template + reply prefix."""
        text = self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return text + self.reply_prefix

    def _split(self, text: str) -> tuple[str, str]:
        # Tokenizers split added/special tokens out before BPE, so the text up to the last
        # special token tokenizes the same whatever follows: the candidates change only the tail.
        cut = max((text.rfind(s) + len(s) for s in self._specials if s in text), default=0)
        return text[:cut], text[cut:]

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _trie(self, tail: str, candidates: tuple[str, ...]) -> _Trie:
        key = (tail, candidates)
        if key not in self._tries:
            self._tries[key] = _build_trie({c: self._ids(tail + c) + [self.eot_id] for c in candidates})
        return self._tries[key]

    def _encode(self, prompt: str, candidates: tuple[str, ...]) -> tuple[list[int], _Trie]:
        text = self.context(prompt)
        head, tail = self._split(text)
        trie = self._trie(tail, candidates)
        ctx = self._ids(head) + trie.common
        probe = candidates[-1]
        if self._ids(text + probe) + [self.eot_id] != ctx + [t for _, t in trie.paths[probe]]:
            raise EmlabError(f"judge tokenizer: '{probe}' does not tokenize apart from the prompt; use a reply_prefix ending in a space or a chat model with special turn tokens")
        return ctx, trie

    def score(self, prompts: list[str], candidates: tuple[str, ...] = NUMBER_CANDIDATES, *,
              end: EndRule = "end_of_turn") -> Iterator[tuple[int, dict[str, float]]]:
        """Yield (index into prompts, {candidate: P(whole reply)}) batch by batch.

        Args:
            prompts: filled judge prompts (the user message).
            candidates: the replies to score, e.g. "0".."100" or ("YES", "NO").
            end: what ends a candidate: `end_of_turn` (the whole reply is the candidate), or
                `non_digit` (any token that does not start with a digit: "80." counts as 80).
        """
        if not prompts:
            return
        encoded = [self._encode(p, candidates) for p in prompts]
        prefix = _common_prefix([ctx for ctx, _ in encoded])
        prefix = prefix[: min(len(ctx) for ctx, _ in encoded) - 1]  # each answer keeps >= 1 own token
        with self.torch.inference_mode():
            cache = self._prefill(prefix)
            order = sorted(range(len(prompts)), key=lambda i: len(encoded[i][0]))
            for b in range(0, len(order), self.batch_size):
                idx = order[b: b + self.batch_size]
                probs = self._tree_forward(prefix, cache, [encoded[i] for i in idx], end)
                yield from zip(idx, probs, strict=True)

    def _prefill(self, prefix: list[int]) -> Any:
        if not prefix:
            return None
        out = self.model.base_model(input_ids=self.torch.tensor([prefix], device=self.device), use_cache=True)
        kv = out["cache"] if "cache" in out else out.past_key_values  # renamed in transformers 5.x
        return [(layer.keys, layer.values) for layer in kv.layers]

    def _tree_forward(self, prefix: list[int], cache: Any, batch: list[tuple[list[int], _Trie]], end: EndRule) -> list[dict[str, float]]:
        torch = self.torch
        from transformers import DynamicCache

        P, B = len(prefix), len(batch)
        rows = []
        for ctx, trie in batch:
            rem = ctx[P:]
            rows.append((rem, trie, rem + [tok for tok, _ in trie.nodes]))
        L = max(len(r[2]) for r in rows)
        ids = torch.full((B, L), self.tok.pad_token_id or 0, dtype=torch.long)
        pos = torch.zeros((B, L), dtype=torch.long)
        mask = torch.zeros((B, 1, L, P + L), dtype=torch.bool)
        mask[:, :, :, :P] = True
        for b, (rem, trie, seq) in enumerate(rows):
            r = len(rem)
            ids[b, : len(seq)] = torch.tensor(seq)
            pos[b, :r] = torch.arange(P, P + r)
            mask[b, 0, :r, P: P + r] = torch.tril(torch.ones(r, r, dtype=torch.bool))
            for n in range(len(trie.nodes)):
                q = r + n
                pos[b, q] = P + r + trie.depth[n] - 1
                mask[b, 0, q, P: P + r] = True
                a = n
                while a != -1:  # the node sees itself and its ancestors, not its siblings
                    mask[b, 0, q, P + r + a] = True
                    a = trie.nodes[a][1]
            for q in range(len(seq), L):  # padding attends to itself only (no NaN rows)
                mask[b, 0, q, P + q] = True
        kv = None
        if cache is not None:
            kv = DynamicCache(ddp_cache_data=[(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in cache])
        hidden = self.model.base_model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                       position_ids=pos.to(self.device), cache=kv, use_cache=kv is not None).last_hidden_state
        head = self.model.get_output_embeddings()
        out: list[dict[str, float]] = []
        for b, (rem, trie, _) in enumerate(rows):
            r = len(rem)
            # only the positions whose next-token distribution a candidate needs reach the
            # vocab-sized head: the last context token and the inner trie nodes
            logp = torch.log_softmax(head(hidden[b, r - 1: r + len(trie.nodes)]).float(), dim=-1)
            out.append(self._path_probs(logp, trie.paths, end))
        return out

    def _path_probs(self, logp: Any, paths: dict[str, list[tuple[int, int]]], end: EndRule) -> dict[str, float]:
        """Multiply each candidate's next-token probabilities; row src+1 of `logp` is source src."""
        torch = self.torch
        res = {}
        for cand, path in paths.items():
            if end == "non_digit":
                *steps, (src, _) = path
                p_digit = float(logp[src + 1].double().exp()[self._digit_start].sum())
                total = sum(float(logp[s + 1, t]) for s, t in steps) + torch.log1p(torch.tensor(-min(p_digit, 1.0), dtype=torch.float64)).item()
            else:
                total = sum(float(logp[s + 1, t]) for s, t in path)
            res[cand] = float(torch.tensor(total, dtype=torch.float64).exp())
        return res

    def naive_probs(self, prompt: str, candidates: tuple[str, ...], *, end: EndRule = "end_of_turn") -> dict[str, float]:
        """P(whole reply) by one plain full forward per candidate: the reference in tests.

        Tokenizes each full text (no splitting) and multiplies the probabilities of the
        tokens after those all candidates share, as `score` does.
        """
        torch = self.torch
        text = self.context(prompt)
        seqs = {c: self._ids(text + c) + [self.eot_id] for c in candidates}
        n = min(len(_common_prefix(list(seqs.values()))), min(len(s) for s in seqs.values()) - 1)
        res = {}
        with torch.inference_mode():
            for c, seq in seqs.items():
                # only the rows from the shared context on (row 0 = after it): the lm_head over the
                # whole prompt would be most of the cost
                logits = self.model(input_ids=torch.tensor([seq], device=self.device), logits_to_keep=len(seq) - n + 1).logits[0]
                logp = torch.log_softmax(logits.float(), dim=-1)
                path = [(j - n - 1, seq[j]) for j in range(n, len(seq))]
                res.update(self._path_probs(logp, {c: path}, end))
        return res


def _common_prefix(seqs: list[list[int]]) -> list[int]:
    first = seqs[0]
    n = len(first)
    for s in seqs[1:]:
        m = min(n, len(s))
        n = next((i for i in range(m) if first[i] != s[i]), m)
    return first[:n]
