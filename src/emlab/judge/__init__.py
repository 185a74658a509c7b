"""Judges: score sampled answers with an LLM judge, cached, fault-tolerant; and a static code check.

    emlab judge run --samples FILE --question-set main --out FILE.raw.jsonl
    emlab judge score --raw FILE.raw.jsonl --out FILE.scores.jsonl
    emlab judge code FILE

Backends: the paper's OpenAI-compatible logprob judge (`openai_judge`), a local
transformers judge that scores multi-token numbers exactly (`local_judge`); both serve
0-100 metrics and classifications. `code_is_vulnerable` checks generated code without a
judge (and without running it).
"""

from emlab.judge.aggregate import aggregate_0_100, label_probs, score_judgments, score_raw_row
from emlab.judge.cache import JudgeCache, cache_key
from emlab.judge.params import JudgeParams
from emlab.judge.prompts import SHORT_PROMPTS, JudgeTask
from emlab.judge.run import JudgeBackend, build_tasks, judge_samples
from emlab.judge.static_code import code_is_vulnerable, extract_code, vulnerability_findings

__all__ = [
    "SHORT_PROMPTS", "JudgeBackend", "JudgeCache", "JudgeParams", "JudgeTask", "aggregate_0_100",
    "build_tasks", "cache_key", "code_is_vulnerable", "extract_code", "judge_samples", "label_probs",
    "score_judgments", "score_raw_row", "vulnerability_findings",
]
