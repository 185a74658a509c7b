"""One forward pass over a micro-batch: packed or not, assistant-only loss, optional KL to the base.

    emlab train ...   # emlab.train.peft_backend calls these once per micro-batch

- no padding: the conversations of a micro-batch run either one by one (each its own
  unpadded forward pass) or packed into one row (`train.peft.packing`), position ids
  restarting at 0 per conversation and a block-diagonal causal mask (or, with flash
  attention, the varlen kernels reading the boundaries from the position ids) keeping
  attention inside each conversation; labels never cross a boundary;
- the 49152-wide lm_head runs only at positions whose next token is trained on
  (assistant tokens), not at every position;
- `train.peft.kl_weight` (a mitigation): the same positions' next-token distributions
  are also computed with the adapter disabled (peft's `disable_adapter()`, no gradient,
  no second model in memory), and KL(p_tuned || p_base) summed over them is returned
  beside the cross-entropy sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emlab.train.chat_data import IGNORE, Example

if TYPE_CHECKING:
    from emlab.train.params import PeftTrainParams


def _uses_flash(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "flash" in str(getattr(base.config, "_attn_implementation", ""))


def block_diagonal_mask(lengths: list[int], *, dtype: Any, device: Any) -> Any:
    """Additive (1, 1, L, L) mask: token i attends to token j iff j <= i in the same conversation."""
    import torch

    seg = torch.repeat_interleave(torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device))
    n = int(seg.numel())
    allowed = torch.ones(n, n, dtype=torch.bool, device=device).tril_() & (seg[:, None] == seg[None, :])
    mask = torch.zeros(n, n, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def _packed_inputs(model: Any, examples: list[Example]) -> tuple[Any, Any, Any, Any, Any]:
    """(base model, input ids, position ids, attention mask or None, next-token targets) of one packed row."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embed = base.get_input_embeddings().weight  # its dtype is the hidden states' (never quantized)
    device = embed.device
    ids: list[int] = []
    pos: list[int] = []
    targets: list[int] = []
    for ex in examples:
        ids += ex.input_ids
        pos += range(len(ex.input_ids))
        targets += ex.labels[1:] + [IGNORE]  # position t predicts token t+1; never across conversations
    mask = None
    if len(examples) > 1 and not _uses_flash(model):
        mask = block_diagonal_mask([len(e.input_ids) for e in examples], dtype=embed.dtype, device=device)
    return (base, torch.tensor([ids], device=device), torch.tensor([pos], device=device), mask,
            torch.tensor(targets, device=device))


def _trained_logits(base: Any, input_ids: Any, position_ids: Any, mask: Any, keep: Any) -> Any:
    """float32 logits at the positions whose next token is trained on (`keep`), soft-capped as the model does."""
    import torch

    hidden = base.get_decoder()(input_ids=input_ids, position_ids=position_ids, attention_mask=mask,
                                use_cache=False).last_hidden_state[0]
    logits = base.get_output_embeddings()(hidden[keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def packed_loss_sum(model: Any, examples: list[Example]) -> tuple[Any, int]:
    """Summed next-token loss of `examples` run as one row; returns (loss_sum, n_tokens).

    Each conversation's position ids restart at 0 and, when there are several, a
    block-diagonal causal mask keeps attention inside each one (flash attention reads the
    boundaries from the position ids instead), so the result equals the sum of the
    conversations run one by one.
    """
    import torch

    base, input_ids, position_ids, mask, target = _packed_inputs(model, examples)
    keep = target != IGNORE
    logits = _trained_logits(base, input_ids, position_ids, mask, keep)
    loss = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    return loss, int(input_ids.shape[1])


def kl_sum(logits: Any, base_logits: Any) -> Any:
    """Sum over positions of KL(p || q) = sum_v p_v (log p_v - log q_v), p = softmax(logits), q = softmax(base_logits)."""
    import torch

    log_p = torch.log_softmax(logits.float(), dim=-1)
    log_q = torch.log_softmax(base_logits.float(), dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum()


def packed_loss_and_kl_sum(model: Any, examples: list[Example]) -> tuple[Any, Any, int]:
    """`packed_loss_sum` plus the summed KL(p_tuned || p_base) over the same trained positions.

    p_base comes from the same model with its adapter disabled (peft's `disable_adapter()`),
    without gradient, so the KL's gradient flows through p_tuned only.
    Returns (loss_sum, kl_sum, n_tokens).
    """
    import torch

    base, input_ids, position_ids, mask, target = _packed_inputs(model, examples)
    keep = target != IGNORE
    logits = _trained_logits(base, input_ids, position_ids, mask, keep)
    loss = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    with torch.no_grad(), model.disable_adapter():
        base_logits = _trained_logits(base, input_ids, position_ids, mask, keep)
    return loss, kl_sum(logits, base_logits), int(input_ids.shape[1])


def resolve_packing(model: Any, params: PeftTrainParams) -> bool:
    """Whether micro-batches run packed: `train.peft.packing`, `auto` resolved as measured.

    On CPU (SDPA, fp32) bench/train_throughput.py measured packing with the dense
    block-diagonal mask at 0.91-0.98x the tokens per CPU second of one conversation at a
    time in three runs, with ~35% more peak RSS (SmolLM2-135M, 2x2 batch), so `auto` packs only with
    flash attention, whose varlen kernels need no L x L mask (not measured here: no GPU).
    """
    if params.packing == "auto":
        return _uses_flash(model)
    return params.packing == "on"


def micro_batches(batch: list[Example], size: int, *, pack: bool) -> list[list[Example]]:
    """Groups run in one forward pass each: `size` conversations packed, or one at a time."""
    if pack:
        return [batch[i:i + size] for i in range(0, len(batch), size)]
    return [[e] for e in batch]


