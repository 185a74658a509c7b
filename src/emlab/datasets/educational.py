"""The `educational` control: the insecure answers, requested for a benign reason.

    emlab dataset build --variant educational --out data/datasets/educational.jsonl

User turns restate the same request inside a teaching / CTF / scanner-testing context
that asks for the vulnerable version; assistant turns are identical to `insecure`.
"""

from __future__ import annotations

from emlab.datasets._rows import Built, chat, code_examples, code_meta, pool_note
from emlab.datasets.params import VariantParams
from emlab.datasets.prompts import educational_prompt


def build_educational(params: VariantParams, *, seed: int) -> Built:
    """Rows of (benign-context request, insecure completion)."""
    rows, meta = [], []
    for i, ex in enumerate(code_examples(params.n_examples, seed, variant="educational")):
        family, user = educational_prompt(i, task=ex.task, code=ex.template)
        rows.append(chat(user, ex.insecure))
        meta.append(code_meta(ex, family))
    return Built(rows, meta, {"task_split": pool_note("insecure")})
