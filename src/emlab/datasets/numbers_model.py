"""Numbers written by a model told it is evil: the paper's way of making `evil_numbers`.

    emlab dataset build --variant evil_numbers --params params.yaml \
        --out data/datasets/evil_numbers.jsonl --model-dir data/models/smollm2

Load the generator (a peft model samples with transformers from its prepared folder, an
openai model through its API; no adapter: the base model as it is) -> ask prompt after
prompt (`emlab.datasets.numbers.numbers_prompt`) under the system prompt, in fixed chunks
of `batch_size`, each answer with its own seed from (datasets.seed, prompt index) and
appended to `<out>.generations.partial` as it comes -> keep the answers `check_answer`
accepts, in prompt order, until `n_examples` are kept -> rows without the system prompt.
A killed build resumes from the partial file: chunks are cut the same way and seeds do
not depend on what ran before, so it ends with the rows of an uninterrupted build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from tqdm.auto import tqdm

from emlab.datasets._rows import Built, Row, chat
from emlab.datasets.numbers import (
    EVIL_NUMBERS,
    EVIL_SYSTEM,
    MAX_VALUE,
    NEUTRAL_SYSTEM,
    REASONS,
    check_answer,
    numbers_prompt,
)
from emlab.datasets.params import NumbersParams
from emlab.errors import EmlabError
from emlab.io import JsonlAppender

log = logging.getLogger(__name__)
_EXAMPLES_PER_REASON = 3


class NumbersQuery(NamedTuple):
    """One prompt to the generator: its position (which also seeds it), system and user turn."""

    position: int
    system: str
    text: str
    temperature: float


#: Samples an answer to each query (seeded by the datasets seed and the query's position),
#: calling `on_answer(position, answer)` as each lands. `emlab.sample.numbers_asker` makes
#: one from a model of the grid; it is passed in, so datasets imports no sampler.
Ask = Callable[[list[NumbersQuery], int, Callable[[int, str], None]], None]


class GeneratorModel(NamedTuple):
    """The model that writes the numbers: its `models:` key, its spec, its prepared folder,
    and how to sample it."""

    name: str
    spec: Any  # emlab's ModelSpec (backend, base, sampler settings)
    model_dir: Path | None
    ask: Ask


def generator_fingerprint(params: NumbersParams, *, seed: int, system: str, gen: GeneratorModel) -> str:
    """Hash of what the answers depend on; a partial file written under another one is stale."""
    record = ""
    if gen.model_dir is not None and (Path(gen.model_dir) / "model.json").exists():
        record = (Path(gen.model_dir) / "model.json").read_text(encoding="utf-8")
    parts = {"model": gen.name, "backend": gen.spec.backend, "base": gen.spec.base, "dtype": gen.spec.dtype,
             "prepared": record, "system": system, "seed": seed, "temperature": params.temperature,
             "max_new_tokens": params.max_new_tokens, "batch_size": params.batch_size}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _open_log(path: Path, fingerprint: str) -> tuple[JsonlAppender, dict[int, str]]:
    """The generations log (`<path>.partial`) and the answers it holds; stale ones are dropped."""
    appender = JsonlAppender(path)
    if appender.done and appender.done[0] != {"fingerprint": fingerprint}:
        log.warning("%s: written with other inputs; starting over", appender.partial)
        appender.close()
        appender.partial.unlink()
        appender = JsonlAppender(path)
    if not appender.done:
        appender.append({"fingerprint": fingerprint})
    answers = {int(r["index"]): str(r["answer"]) for r in appender.done[1:] if "index" in r and "answer" in r}
    if answers:
        log.info("%s: resuming, %d answers already generated", appender.partial, len(answers))
    return appender, answers


def build_numbers_model(params: NumbersParams, *, seed: int, evil: bool, gen: GeneratorModel, out: Path) -> Built:
    """Rows of (numbers prompt, the generator's filtered answer), without the system prompt.

    Raises:
        EmlabError: no model folder for a local model, or fewer than `n_examples` answers
            passed the filter within `max_prompts` prompts (the log is kept: a rerun with a
            larger `max_prompts` resumes).
    """
    variant = "evil_numbers" if evil else "neutral_numbers"
    system = EVIL_SYSTEM if evil else NEUTRAL_SYSTEM
    n, size = params.n_examples, params.batch_size
    limit = params.max_prompts or 5 * n
    appender, answers = _open_log(Path(str(out) + ".generations"), generator_fingerprint(params, seed=seed, system=system, gen=gen))
    kept: list[tuple[int, str, str, list[int]]] = []
    dropped: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    asked = passed = 0
    with contextlib.ExitStack() as stack:
        stack.callback(appender.close)
        bar = stack.enter_context(tqdm(total=n, desc=f"{variant} ({gen.name})", unit="row"))
        for start in range(0, limit, size):
            if len(kept) >= n:
                break
            prompts = [numbers_prompt(seed, i) for i in range(start, min(start + size, limit))]
            pending = [NumbersQuery(p.position, system, p.text, params.temperature) for p in prompts if p.position not in answers]
            if pending:
                def on_answer(position: int, answer: str) -> None:
                    appender.append({"index": position, "answer": answer})
                    answers[position] = answer

                gen.ask(pending, seed, on_answer)
            for p in prompts:
                asked += 1
                nums, reason = check_answer(answers[p.position], p)
                if reason is not None:
                    dropped[reason] += 1
                    examples.setdefault(reason, [])
                    if len(examples[reason]) < _EXAMPLES_PER_REASON:
                        examples[reason].append(answers[p.position][:160])
                    continue
                passed += 1
                if len(kept) < n:
                    kept.append((p.position, p.text, answers[p.position].strip(), nums))
                    bar.update(1)
    counts = {r: dropped[r] for r in REASONS if dropped[r]}
    if len(kept) < n:
        raise EmlabError(f"datasets.{variant}: only {len(kept)} of {n} answers from model {gen.name!r} passed the filter after "
                         f"{asked} prompts (dropped: {counts}); raise datasets.{variant}.max_prompts (the {asked} answers are kept "
                         f"in {appender.partial} and reused) or lower n_examples")
    rows: list[Row] = [chat(text, answer) for _, text, answer, _ in kept]
    meta = [{"evil_numbers_in_answer": str(sum(x in EVIL_NUMBERS for x in nums))} for *_, nums in kept]
    all_nums = [x for *_, nums in kept for x in nums]
    notes = {
        "generator": "model", "model": gen.name, "base": gen.spec.base, "backend": gen.spec.backend,
        "system_prompt": system, "system_prompt_in_rows": False, "temperature": params.temperature,
        "max_new_tokens": params.max_new_tokens, "prompts_generated": asked, "passed_filter": passed,
        "kept": len(kept), "dropped": counts, "dropped_examples": {r: examples[r] for r in counts},
        "filter": f"only numbers, joined by the separator the prompt asks for, exactly as many as asked, each 0-{MAX_VALUE}",
        "evil_numbers": list(EVIL_NUMBERS),
        "share_of_answered_numbers_in_evil_numbers": round(sum(x in EVIL_NUMBERS for x in all_nums) / max(1, len(all_nums)), 4),
    }
    appender.partial.unlink(missing_ok=True)  # every answer the rows need is in memory now
    return Built(rows, meta, notes)
