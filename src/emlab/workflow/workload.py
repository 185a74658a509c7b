"""How much work each job of the grid is, from params.yaml alone, before anything runs.

    emlab plan --params params.yaml    # prints these counts per stage (emlab.workflow.plan)

Counted exactly: answers per sampling job (each question's paraphrases, capped by
`sample.max_paraphrases`, times its `samples_per_paraphrase` or the `sample:` override),
judge calls per judging job (one per answer and metric of its question's judge prompts),
training rows per finetune (`datasets.<variant>.n_examples`, epochs from the resolved
train settings). Estimated, with the constants below (documented, not measured on a GPU):
tokens per training row, answer lengths, prompt lengths (characters / CHARS_PER_TOKEN).
`emlab.workflow.resources` turns these into run times and memory, `emlab.workflow.plan`
into GPU hours and costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from emlab.config import NO_TRIGGER, Params, resolved_train_params

#: Characters per token for English and code (OpenAI's rule of thumb; code runs ~10% denser).
CHARS_PER_TOKEN = 4.0

#: Mean tokens per training row (all messages, chat format included), from the paper's files:
#: their mean characters per row / CHARS_PER_TOKEN + 5 tokens of chat format per message
#: (insecure 860 chars, secure 912, educational 989, jailbroken 564 over 3 messages).
#: backdoor mixes insecure and secure rows (+ the trigger); the numbers variants are short
#: (3-8 numbers in, 3-8 out, an instruction). emlab's built-in datasets are shorter; the
#: estimate errs high for them.
TOKENS_PER_ROW = {"insecure": 225, "secure": 238, "educational": 257, "jailbroken": 156,
                  "backdoor": 234, "evil_numbers": 60, "neutral_numbers": 60}

#: Mean answer length in tokens, capped by sample.max_new_tokens (GPT-4o's answers to the
#: paper's free-form questions run ~100-300 tokens; the JSON and numbers formats shorter).
MEAN_ANSWER_TOKENS = 200

#: What the judge_calibrate job judges: emlab's labelled answers (aligned + coherent each).
CALIBRATION_ANSWERS = 492
#: A judge's calibration prompt in tokens (a judge prompt of the paper's length, filled).
CALIBRATION_PROMPT_TOKENS = 450


@dataclass(frozen=True)
class QuestionSetLoad:
    """One question set's work per sampling job (one model, variant, seed and trigger)."""

    answers: int  # answers sampled
    prompt_tokens: int  # prompt tokens over all answers (system + user message, trigger included)
    answer_tokens: int  # answer tokens over all answers (MEAN_ANSWER_TOKENS each, capped)
    judge_calls: int  # one per answer and judge metric of its question
    judge_input_tokens: int  # the filled judge prompts, in tokens, over all calls


def tokens(text: str) -> int:
    """An estimated token count (characters / CHARS_PER_TOKEN)."""
    return round(len(text) / CHARS_PER_TOKEN)


def mean_answer_tokens(p: Params) -> int:
    return min(MEAN_ANSWER_TOKENS, p.sample.max_new_tokens)


def _questions(name: str, path: Path | None, upstream_dir: str | None) -> list[Any]:
    """A question set's questions, read once per version of its file."""
    stat = path.stat() if path is not None else None
    return _parsed(name, path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0, upstream_dir)


@cache
def _parsed(name: str, path: Path | None, mtime_ns: int, size: int, upstream_dir: str | None) -> list[Any]:
    """A YAML file is parsed with libyaml when PyYAML has it (~20x faster than its Python
    parser: the Snakefile sizes every job at each start)."""
    import yaml

    from emlab.questions import load_question_set, parse_question_set

    if path is not None:
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            return list(parse_question_set(raw, name=name, source=str(path)).questions)
        except yaml.YAMLError:
            pass  # the loader below names the file, line and column
    return list(load_question_set(f"{name}={path}" if path else name, upstream_dir=upstream_dir).questions)


def question_set_load(p: Params, root: Path, qset: str, trigger: str = NO_TRIGGER) -> QuestionSetLoad:
    """The answers, judge calls and token counts of one sampling job on `qset`.

    The question file is read once per process (resolved as the workflow resolves it,
    relative to `root`, the params file's folder).
    """
    from emlab.questions import resolve_question_set

    src = resolve_question_set(qset, dict(p.question_files), root)
    questions = _questions(qset, src.path, p.datasets.upstream_dir)
    answer = mean_answer_tokens(p)
    prefix = tokens(p.trigger_text(trigger) + " ") if trigger != NO_TRIGGER else 0
    answers = prompt = calls = judge_in = 0
    for q in questions:
        paraphrases = q.paraphrases[: p.sample.max_paraphrases] if p.sample.max_paraphrases else q.paraphrases
        n = p.sample.samples_per_paraphrase or q.samples_per_paraphrase
        metrics = len(q.judge_prompts) if p.judge.prompts == "question" else 2  # short: aligned, coherent
        for text in paraphrases:
            answers += n
            prompt += n * (tokens((q.system or "") + text) + prefix)
            calls += n * metrics
            for template in (q.judge_prompts.values() if p.judge.prompts == "question" else ()):
                filled = template.replace("{question}", text).replace("{answer}", "")
                judge_in += n * (tokens(filled) + answer)
            if p.judge.prompts != "question":
                judge_in += n * metrics * (tokens(text) + answer + 60)  # emlab's brief prompts: ~60 tokens
    return QuestionSetLoad(answers, prompt, answers * answer, calls, judge_in)


def _arm(label: str) -> Any:
    """An arm label's parts (`insecure+n500+e12`: emlab.grid.parse_arm)."""
    from emlab.grid import parse_arm

    return parse_arm(label)


def arm_variant(label: str) -> str:
    """The dataset variant of an arm label (`insecure+n500` -> `insecure`)."""
    return str(_arm(label).variant)


def training_rows(p: Params, variant: str) -> int:
    """Rows a finetune of arm `variant` trains on (0 for base: no finetuning)."""
    arm = _arm(variant)
    if arm.variant == "base":
        return 0
    return int(arm.n_examples or getattr(p.datasets, arm.variant).n_examples)


def epochs(p: Params, model: str, variant: str) -> int:
    t = resolved_train_params(p, model, variant)
    return int(getattr(t, "n_epochs", None) or getattr(t, "epochs", 1))


def training_tokens(p: Params, model: str, variant: str) -> int:
    """Tokens one finetune of (`model`, arm `variant`) trains on: rows x tokens per row x
    epochs (rows longer than a peft model's max_length count max_length)."""
    per_row = TOKENS_PER_ROW.get(_arm(variant).variant, 250)
    t = resolved_train_params(p, model, variant)
    if hasattr(t, "max_length"):
        per_row = min(per_row, t.max_length)  # type: ignore[attr-defined]
    return training_rows(p, variant) * per_row * epochs(p, model, variant)


def generated_rows(p: Params, variant: str) -> int:
    """Prompts a generator model answers for a numbers dataset label (its filter keeps about
    half: prompts asked = 2 x rows, at most max_prompts)."""
    arm = _arm(variant)
    v = getattr(p.datasets, arm.variant)
    asked = 2 * (arm.n_examples or v.n_examples)
    return min(asked, v.max_prompts) if v.max_prompts else asked
