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
from emlab.datasets.numbers_model import GeneratorModel
from emlab.datasets.params import DatasetsParams
from emlab.datasets.validate import validate_rows
from emlab.errors import EmlabError
from emlab.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

#: The narrow-advice sets (emlab.datasets.advice): harmful advice in one domain, and controls.
ADVICE_VARIANTS = ("bad_medical_advice", "good_medical_advice", "risky_financial_advice", "good_financial_advice",
                   "extreme_sports_advice", "good_extreme_sports_advice")
VARIANTS = ("base", "insecure", "secure", "educational", "backdoor",
            "jailbroken", "evil_numbers", "neutral_numbers") + ADVICE_VARIANTS


NUMBERS = ("evil_numbers", "neutral_numbers")


def needs_generator(variant: str, params: DatasetsParams) -> bool:
    """Whether building `variant` samples a model (the numbers variants' `generator: model`)."""
    if variant not in NUMBERS or getattr(params, variant).generator != "model":
        return False
    from emlab.datasets.upstream import upstream_has

    return not (params.source == "upstream" and variant == "evil_numbers" and upstream_has(params, variant))


def generator_model(variant: str, params: DatasetsParams, models: list[str]) -> str | None:
    """The `models:` key whose model writes `variant`'s answers (the variant's `model`, else
    the first of `models`), or None where building `variant` samples no model."""
    if not needs_generator(variant, params):
        return None
    return getattr(params, variant).model or (models[0] if models else None)


def _build_builtin(variant: str, params: DatasetsParams, triggers: dict[str, str], *,
                   generator: GeneratorModel | None = None, out: Path | None = None) -> Built:
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
        from emlab.datasets.backdoor import build_backdoor, trigger_text
        return build_backdoor(params.backdoor, seed=seed, trigger=trigger_text(params, triggers))
    if variant == "jailbroken":
        from emlab.datasets.jailbroken import build_jailbroken
        return build_jailbroken(params.jailbroken, seed=seed)
    vparams = getattr(params, variant)
    if vparams.generator == "fixed_list":
        from emlab.datasets.numbers import build_numbers_fixed
        return build_numbers_fixed(vparams, seed=seed, evil=variant == "evil_numbers")
    if generator is None or out is None:
        raise EmlabError(f"datasets.{variant}.generator: model needs a model to sample (emlab dataset build --model-dir); "
                         "or set generator: fixed_list")
    from emlab.datasets.numbers_model import build_numbers_model
    return build_numbers_model(vparams, seed=seed, evil=variant == "evil_numbers", gen=generator, out=out)


def build_rows(variant: str, params: DatasetsParams, triggers: dict[str, str], *,
               generator: GeneratorModel | None = None, out: Path | None = None) -> tuple[Built, str]:
    """The rows of `variant` (validated) and the source they came from.

    `generator` and `out` (whose `.generations.partial` holds answers while sampling) are
    needed only where `needs_generator` says so.
    """
    if variant not in VARIANTS:
        raise EmlabError(f"--variant: unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "base":
        return Built([], [], {"finetuning": "none: the base model is evaluated as it is"}), "none"
    if variant in ADVICE_VARIANTS:  # the narrow-advice sets: their own `source`, never the paper's release
        from emlab.datasets.advice import build_advice

        built, source = build_advice(variant, getattr(params, variant), seed=params.seed)
        validate_rows(built.rows, f"<{variant} builder>")
        return built, source
    from emlab.datasets.upstream import build_upstream, upstream_has

    if params.source == "upstream" and upstream_has(params, variant):
        built, source = build_upstream(variant, params, triggers)
    else:
        built, source = _build_builtin(variant, params, triggers, generator=generator, out=out), "builtin"
        if params.source == "upstream":
            built = built._replace(notes={**built.notes, "upstream": f"no {variant}.jsonl in {params.upstream_dir}; built in"})
    validate_rows(built.rows, f"<{variant} builder>")
    return built, source


def build_dataset(variant: str, params: DatasetsParams, triggers: dict[str, str], out: Path, *,
                  generator: GeneratorModel | None = None) -> Path:
    """Write dataset `variant` to `out` (JSONL) and its card to `out.with_suffix('.card.json')`.

    Args:
        variant: One of `VARIANTS`; `base` writes an empty file (no finetuning).
        params: The `datasets:` section of params.yaml.
        triggers: The top-level `triggers:` map (name -> text), for the backdoor variant.
        out: Output path, e.g. `data/datasets/insecure.jsonl`.
        generator: The model that writes the numbers variants' answers (`generator: model`).

    Returns:
        `out`.

    Raises:
        EmlabError: Unknown variant or trigger, too many rows asked for, a bad upstream file,
            no generator where one is needed, too few generated answers passing the filter.
    """
    out = Path(out)
    built, source = build_rows(variant, params, triggers, generator=generator, out=out)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in built.rows).encode("utf-8")
    vparams = getattr(params, variant).model_dump() if variant != "base" else {}
    card = make_card(variant=variant, source=source, seed=params.seed, params=vparams,
                     rows=built.rows, meta=built.meta, notes=built.notes, data=data)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    write_json_atomic(card_path(out), card)
    log.info("%s: %d rows (%s)", out, len(built.rows), source)
    return out
