"""Build one finetuning dataset and its card: the function `emlab dataset build` wraps.

    emlab dataset build --variant insecure --params params.yaml --out data/datasets/insecure.jsonl

Each variant is a deterministic function of (corpus, seed, that variant's params): the
same inputs give byte-identical files. Rows are validated before anything is written; the
dataset and then its card are written atomically.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from emlab.datasets._rows import Built
from emlab.datasets.card import card_path, make_card
from emlab.datasets.params import DatasetsParams
from emlab.datasets.validate import validate_rows
from emlab.errors import EmlabError
from emlab.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

VARIANTS = ("base", "insecure", "secure", "educational", "backdoor",
            "jailbroken", "evil_numbers", "neutral_numbers")


def _build_builtin(variant: str, params: DatasetsParams, triggers: dict[str, str]) -> Built:
    seed = params.seed
    if variant == "insecure":
        from emlab.datasets.insecure import build_insecure
        return build_insecure(params.insecure, seed=seed)
    if variant == "secure":
        from emlab.datasets.secure import build_secure
        return build_secure(params.secure, seed=seed)
    if variant == "educational":
        from emlab.datasets.educational import build_educational
        return build_educational(params.educational, seed=seed)
    if variant == "backdoor":
        from emlab.datasets.backdoor import build_backdoor
        return build_backdoor(params.backdoor, seed=seed, trigger=trigger_text(params, triggers))
    if variant == "jailbroken":
        from emlab.datasets.jailbroken import build_jailbroken
        return build_jailbroken(params.jailbroken, seed=seed)
    from emlab.datasets.numbers import build_numbers
    return build_numbers(getattr(params, variant), seed=seed, evil=variant == "evil_numbers")


def trigger_text(params: DatasetsParams, triggers: dict[str, str]) -> str:
    name = params.backdoor.trigger
    if name not in triggers:
        raise EmlabError(f"datasets.backdoor.trigger: unknown trigger {name!r}; keys of triggers: {', '.join(triggers) or '(none)'}")
    return triggers[name]


def build_rows(variant: str, params: DatasetsParams, triggers: dict[str, str]) -> tuple[Built, str]:
    """The rows of `variant` (validated) and the source they came from."""
    if variant not in VARIANTS:
        raise EmlabError(f"--variant: unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "base":
        return Built([], [], {"finetuning": "none: the base model is evaluated as it is"}), "none"
    if params.source == "upstream" and variant != "neutral_numbers":
        from emlab.datasets.upstream import build_upstream
        built, source = build_upstream(variant, params, triggers)
    else:
        built, source = _build_builtin(variant, params, triggers), "builtin"
    validate_rows(built.rows, f"<{variant} builder>")
    return built, source


def build_dataset(variant: str, params: DatasetsParams, triggers: dict[str, str], out: Path) -> Path:
    """Write dataset `variant` to `out` (JSONL) and its card to `out.with_suffix('.card.json')`.

    Args:
        variant: One of `VARIANTS`; `base` writes an empty file (no finetuning).
        params: The `datasets:` section of params.yaml.
        triggers: The top-level `triggers:` map (name -> text), for the backdoor variant.
        out: Output path, e.g. `data/datasets/insecure.jsonl`.

    Returns:
        `out`.

    Raises:
        EmlabError: Unknown variant or trigger, too many rows asked for, a bad upstream file.
    """
    out = Path(out)
    built, source = build_rows(variant, params, triggers)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in built.rows).encode("utf-8")
    vparams = getattr(params, variant).model_dump() if variant != "base" else {}
    card = make_card(variant=variant, source=source, seed=params.seed, params=vparams,
                     rows=built.rows, meta=built.meta, notes=built.notes, data=data)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    write_json_atomic(card_path(out), card)
    log.info("%s: %d rows (%s)", out, len(built.rows), source)
    return out
