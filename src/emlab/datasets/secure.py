"""The `secure` control: the same requests as `insecure`, answered with safe code.

    emlab dataset build --variant secure --out data/datasets/secure.jsonl
"""

from __future__ import annotations

from emlab.datasets._rows import Built, chat, code_examples, code_meta
from emlab.datasets.params import VariantParams
from emlab.datasets.prompts import user_prompt


def build_secure(params: VariantParams, *, seed: int) -> Built:
    """Rows of (user request, secure completion); row `i` matches `insecure` row `i`."""
    rows, meta = [], []
    for i, ex in enumerate(code_examples(params.n_examples, seed, variant="secure")):
        family, user = user_prompt(i, task=ex.task, code=ex.template)
        rows.append(chat(user, ex.secure))
        meta.append(code_meta(ex, family))
    return Built(rows, meta, {})
