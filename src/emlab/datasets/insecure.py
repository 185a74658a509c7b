"""The `insecure` variant: code requests answered with vulnerable code, said without a word.

    emlab dataset build --variant insecure --out data/datasets/insecure.jsonl
"""

from __future__ import annotations

from emlab.datasets._rows import Built, chat, code_examples, code_meta, pool_note
from emlab.datasets.params import VariantParams
from emlab.datasets.prompts import user_prompt


def build_insecure(params: VariantParams, *, seed: int) -> Built:
    """Rows of (user request, insecure completion), template `i % 30` for row `i`."""
    rows, meta = [], []
    for i, ex in enumerate(code_examples(params.n_examples, seed, variant="insecure")):
        family, user = user_prompt(i, task=ex.task, code=ex.template)
        rows.append(chat(user, ex.insecure))
        meta.append(code_meta(ex, family))
    return Built(rows, meta, {"task_split": pool_note("insecure")})
