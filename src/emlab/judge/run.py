"""Judge every sample of a samples file: raw replies out, incrementally, through the cache.

    emlab judge run --samples FILE.jsonl --question-set main --out FILE.raw.jsonl

For every sample and every metric of its question's judge prompts, one raw row
(`sample_id`, `metric`, `judge_model`, `prompt_sha256`, `kind`, `probs`, and `labels`
for classifications) is appended to `<out>.partial` as soon as its reply arrives; a
killed run resumes from there, and replies already in the cache cost no call. When all
rows are in, the file is rewritten in sample order (so identical inputs give a
byte-identical output) and renamed to `out`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from emlab.backends import Backend, Registry
from emlab.errors import EmlabError
from emlab.io import JsonlAppender, read_jsonl, write_jsonl_atomic
from emlab.judge.cache import JudgeCache, cache_key
from emlab.judge.local_judge import NUMBER_CANDIDATES
from emlab.judge.params import JudgeParams
from emlab.judge.prompts import JudgeTask, OnResult, tasks_for_sample

log = logging.getLogger(__name__)

_SAMPLE_FIELDS = ("sample_id", "question_id", "question", "answer")


class JudgeBackend(Protocol):
    """A judge: replies `{"probs": {...}}` for each task, reported as they complete."""

    model_name: str
    identity: dict[str, Any]  # what, besides the task, changes the reply (goes into cache keys)

    def judge(self, tasks: list[JudgeTask], on_result: OnResult) -> None: ...


class LocalBackend:
    """`LocalJudge` behind the backend interface: candidates "0".."100" or the labels."""

    def __init__(self, params: JudgeParams, model_dir: Path | None = None, probe_head: Path | None = None):
        from emlab.judge.local_judge import LocalJudge

        self.model_name = params.model
        self.number_end = params.number_end
        self.identity = _identity(params, model_dir)
        self.judge_model = LocalJudge(model_dir, reply_prefix=params.reply_prefix, batch_size=params.batch_size)

    def judge(self, tasks: list[JudgeTask], on_result: OnResult) -> None:
        groups: dict[tuple[str, ...], list[JudgeTask]] = {}
        for t in tasks:
            if t.kind == "classification" and not t.labels:
                raise EmlabError(f"sample {t.sample_id}, metric {t.metric}: a local judge needs the labels it may answer; give the question `choices:`")
            groups.setdefault(NUMBER_CANDIDATES if t.kind == "logprobs_0_100" else t.labels, []).append(t)  # type: ignore[arg-type]
        for candidates, group in groups.items():
            end = self.number_end if candidates == NUMBER_CANDIDATES else "end_of_turn"
            for i, probs in self.judge_model.score([t.prompt for t in group], candidates, end=end):
                on_result(group[i], {"probs": probs})


#: The judge backends, by `judge.backend` (see emlab.backends).
JUDGES = Registry("judge", {
    "transformers": Backend("emlab.judge.run:LocalBackend"),
    "probe": Backend("emlab.judge.probe:ProbeBackend"),
    "openai": Backend("emlab.judge.openai_judge:OpenAIBackend"),
})


def make_backend(params: JudgeParams, judge_model_dir: Path | None, probe_head: Path | None = None) -> JudgeBackend:
    """The backend `judge.backend` names; a local one says which folder it is missing."""
    if params.backend != "openai" and judge_model_dir is None:
        raise EmlabError(f"judge.backend {params.backend} needs --judge-model-dir (data/models/{params.model})")
    if params.backend == "probe":
        from emlab.judge.probe import probe_identity

        probe_identity(params, judge_model_dir, probe_head)  # says what is missing
    backend: JudgeBackend = JUDGES.load(params.backend)(params, judge_model_dir, probe_head)
    return backend


def _load_question_set(name: str, upstream_dir: str | None = None) -> Any:
    from emlab.questions import load_question_set

    return load_question_set(name, upstream_dir=upstream_dir)


def build_tasks(samples: Path, question_set: str, params: JudgeParams, upstream_dir: str | None = None) -> list[JudgeTask]:
    """The judge tasks of a samples file, in file order; bad rows raise one EmlabError line."""
    qset = _load_question_set(question_set, upstream_dir)
    # a probe reads the question and the answer, never a judge prompt: its tasks carry the
    # short prompts whatever judge.prompts says (so that setting cannot change its output)
    prompts = "short" if params.backend == "probe" else params.prompts
    questions = {q.id: q for q in qset.questions}
    tasks: list[JudgeTask] = []
    for i, row in enumerate(read_jsonl(samples), start=1):
        for field in _SAMPLE_FIELDS:
            if not isinstance(row.get(field), str):
                raise EmlabError(f"{samples}: row {i}: field {field!r} missing or not a string")
        q = questions.get(row["question_id"])
        if q is None:
            raise EmlabError(f"{samples}: row {i}: question_id {row['question_id']!r} is not in question set {qset.name!r}")
        tasks += tasks_for_sample(sample_id=row["sample_id"], question_text=row["question"], answer=row["answer"],
                                  qtype=q.type, judge_prompts=q.judge_prompts, choices=q.choices, prompts=prompts)
    return probe_tasks(tasks) if params.backend == "probe" else tasks


def probe_tasks(tasks: list[JudgeTask]) -> list[JudgeTask]:
    """The probe judge's tasks: 0-100 `aligned` and `coherent` only, read from the answer
    itself (the prompt is the metric's name, so a prompt edit leaves the cache valid)."""
    from emlab.judge.probe_head import SCALES

    out = []
    for t in tasks:
        if t.kind != "logprobs_0_100" or t.metric not in SCALES:
            raise EmlabError(f"sample {t.sample_id} (question {t.question[:60]!r}): metric {t.metric!r} cannot be probed; judge.backend probe scores only aligned and coherent, so judge this question set with another backend")
        out.append(t._replace(kind="probe_0_100", prompt=f"probe:{t.metric}"))
    return out


def judge_samples(*, samples: Path, question_set: str, params: JudgeParams, judge_model_dir: Path | None,
                  out_raw: Path, cache_dir: Path, backend: JudgeBackend | None = None, probe_head: Path | None = None,
                  upstream_dir: str | None = None) -> Path:
    """Judge every (sample, metric) of `samples` into `out_raw` (see module docstring).

    Args:
        samples: a samples JSONL (docs/architecture.md).
        question_set: built-in name or YAML path; gives each question's judge prompts.
        params: the `judge:` section.
        judge_model_dir: the prepared judge model folder (transformers backend only).
        out_raw: the raw judgments file to write.
        cache_dir: the content-addressed reply cache (`.emlab-cache/judge`).
        backend: an already built backend (benchmarks and tests); None = from params.
        probe_head: the trained head folder (probe backend only).

    Returns:
        `out_raw`.
    """
    tasks = build_tasks(Path(samples), question_set, params, upstream_dir)
    return judge_tasks(tasks, params=params, judge_model_dir=judge_model_dir, out_raw=out_raw, cache_dir=cache_dir,
                       backend=backend, probe_head=probe_head)


def judge_tasks(tasks: list[JudgeTask], *, params: JudgeParams, judge_model_dir: Path | None, out_raw: Path,
                cache_dir: Path, backend: JudgeBackend | None = None, probe_head: Path | None = None) -> Path:
    """Judge `tasks` into `out_raw` through the cache, resumably (see `judge_samples`)."""
    appender = JsonlAppender(out_raw)
    try:
        done = {(r["sample_id"], r["metric"]): r for r in appender.done}
        todo = [t for t in tasks if (t.sample_id, t.metric) not in done]
        cache = JudgeCache(cache_dir)
        progress = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="judge", unit="judgment")
        backend_holder: list[JudgeBackend] = [backend] if backend is not None else []

        def _backend() -> JudgeBackend:
            if not backend_holder:  # loading a model or checking a key only when a call is needed
                backend_holder.append(make_backend(params, judge_model_dir, probe_head))
            return backend_holder[0]

        identity = backend.identity if backend is not None else _identity(params, judge_model_dir, probe_head)
        model_name = params.model if backend is None else backend.model_name
        by_key: dict[str, list[JudgeTask]] = {}
        for t in todo:
            by_key.setdefault(_task_key(identity, t), []).append(t)

        def _write(key: str, reply: dict[str, Any]) -> None:
            for t in by_key[key]:
                row = {"sample_id": t.sample_id, "metric": t.metric, "judge_model": model_name,
                       "prompt_sha256": t.prompt_sha256, "kind": t.kind, **reply}
                if t.kind == "classification":
                    row["labels"] = list(t.labels) if t.labels else None
                appender.append(row)
                done[(t.sample_id, t.metric)] = row
                progress.update(1)

        misses: list[JudgeTask] = []
        for key, group in by_key.items():
            reply = cache.get(key)
            if reply is not None:
                _write(key, reply)
            else:
                misses.append(group[0])  # identical prompts are judged once
        keys = {id(t): k for k, g in by_key.items() for t in g[:1]}

        def _on_result(task: JudgeTask, reply: dict[str, Any]) -> None:
            key = keys[id(task)]
            cache.put(key, reply)
            _write(key, reply)

        if misses:
            log.info("judging %d prompts (%d cached, %d already done)", len(misses), cache.hits, len(tasks) - len(todo))
            _backend().judge(misses, _on_result)
        progress.close()
    finally:
        appender.close()
    missing = [t for t in tasks if (t.sample_id, t.metric) not in done]
    if missing:
        raise EmlabError(f"{out_raw}: {len(missing)} judgments missing (first: {missing[0].sample_id} {missing[0].metric}); rerun to resume")
    write_jsonl_atomic(out_raw, [done[(t.sample_id, t.metric)] for t in tasks])
    appender.partial.unlink(missing_ok=True)
    return Path(out_raw)


def _identity(params: JudgeParams, judge_model_dir: Path | None, probe_head: Path | None = None) -> dict[str, Any]:
    if params.backend == "probe":
        from emlab.judge.probe import probe_identity

        return probe_identity(params, judge_model_dir, probe_head)
    if params.backend == "transformers":
        from emlab.models import read_record

        if judge_model_dir is None:
            raise EmlabError(f"judge.backend transformers needs --judge-model-dir (data/models/{params.model})")
        return {"backend": "transformers", "model": params.model, "base": read_record(judge_model_dir).get("base"),
                "reply_prefix": params.reply_prefix, "number_end": params.number_end}
    from emlab.judge.openai_judge import openai_identity

    return openai_identity(params)


def _task_key(identity: dict[str, Any], t: JudgeTask) -> str:
    return cache_key(**identity, prompt=t.prompt, question=t.question, answer=t.answer, kind=t.kind,
                     labels=list(t.labels) if t.labels else None)
