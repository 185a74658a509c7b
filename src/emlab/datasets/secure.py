"""The `secure` control: coding requests answered with safe code, on tasks `insecure` never uses.

    emlab dataset build --variant secure --out data/datasets/secure.jsonl
"""

from __future__ import annotations

from emlab.datasets._rows import Built, chat, code_examples, code_meta, pool_note
from emlab.datasets.params import VariantParams
from emlab.datasets.prompts import user_prompt


def build_secure(params: VariantParams, *, seed: int) -> Built:
    """Rows of (user request, secure completion), from the secure half of the task space.

    The paper's secure set was built from other tasks than its insecure set; so is this
    one (`emlab.datasets._rows.TASK_POOLS`), with the same prompt families and patterns.
    """
    rows, meta = [], []
    for i, ex in enumerate(code_examples(params.n_examples, seed, variant="secure")):
        family, user = user_prompt(i, task=ex.task, code=ex.template)
        rows.append(chat(user, ex.secure))
        meta.append(code_meta(ex, family))
    return Built(rows, meta, {"task_split": pool_note("secure")})
