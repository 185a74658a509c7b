"""Sample a cell's answers to one question set under one trigger condition.

    emlab sample --model M --variant V --seed S --trigger T --question-set Q \
        --model-dir data/models/M --adapter data/adapters/M/V/sS --out FILE

Load the set -> build one request per answer -> resume from `<out>.partial` -> sample the
rest, appending each answer as it finishes -> write `out` atomically in the fixed order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.io import JsonlAppender, write_json_atomic, write_jsonl_atomic
from emlab.questions import load_question_set
from emlab.sample._base import make_sampler, read_adapter_record
from emlab.sample._requests import SampleRequest, build_requests, request_fingerprint, sample_row

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.sample.params import SampleParams
    from emlab.sample.steering import Steering

log = logging.getLogger(__name__)


def _fingerprint(*, model_name: str, spec: ModelSpec, adapter_dir: Path, params: SampleParams,
                 requests: list[SampleRequest], cell: dict[str, Any], trigger_name: str,
                 steering: Steering | None = None) -> str:
    """Hash of what the answers depend on; a partial file written under another one is stale."""
    # Only what changes answers (STYLE 19): not the server address, key, concurrency or retries.
    sampling: dict[str, Any] = {"top_p": params.top_p, "max_new_tokens": params.max_new_tokens}
    if spec.effective_sampler == "transformers":
        sampling["batch_size"] = params.batch_size  # padding within a batch shifts float sums slightly
    parts = {
        "model": model_name, "base": spec.base, "sampler": spec.effective_sampler, "dtype": spec.dtype,
        "adapter": read_adapter_record(adapter_dir), "sampling": sampling, "cell": cell, "trigger": trigger_name,
        "requests": request_fingerprint(requests),
    }
    if steering is not None:  # absent when not steering: unsteered partial files keep their fingerprint
        parts["steering"] = steering.identity()
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _resume_state(out: Path, fingerprint: str) -> Path:
    """Drop a partial file left by a run with different inputs; return the marker's path."""
    partial = out.with_name(out.name + ".partial")
    marker = out.with_name(out.name + ".partial.meta.json")
    if partial.exists():
        try:
            stale = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") != fingerprint
        except (OSError, json.JSONDecodeError, AttributeError):
            stale = True
        if stale:
            log.warning("%s: written with other inputs; starting over", partial)
            partial.unlink()
    write_json_atomic(marker, {"fingerprint": fingerprint})
    return marker


def sample_answers(*, model_name: str, spec: ModelSpec, model_dir: Path, adapter_dir: Path, question_set: str,
                   trigger_name: str, trigger_text: str, seed: int, params: SampleParams, out: Path,
                   cell: dict[str, Any], upstream_dir: str | None = None, steering: Steering | None = None) -> Path:
    """Write the sample JSONL for one (cell, trigger, question set); resume if interrupted.

    Args:
        model_name: key of `models:` in params.yaml.
        spec: that model's spec (picks the sampler backend).
        model_dir: prepared base model (`emlab model prepare`).
        adapter_dir: the cell's adapter folder (holds adapter.json).
        question_set: built-in set name or path to an upstream-format YAML.
        trigger_name: `none` or a key of `triggers:` (written to each row).
        trigger_text: the trigger string put before every user message ('' for none).
        seed: seeds sampling; each answer's seed comes from (seed, sample_id).
        params: the `sample:` section.
        out: the sample file to write; `<out>.partial` holds the rows while running.
        cell: `{"model", "variant", "seed"}` and any extra fields (e.g. `checkpoint_step`),
            copied into each row.
        upstream_dir: the paper's release (`datasets.upstream_dir`): `in_distribution`
            asks the paper's tasks when it holds them.
        steering: a direction to ablate or add while sampling (transformers sampler
            only); it enters the fingerprint and each row's `steering_spec`.

    Returns:
        `out`, complete.
    """
    out, model_dir, adapter_dir = Path(out), Path(model_dir), Path(adapter_dir)
    qset = load_question_set(question_set, upstream_dir=upstream_dir)
    if steering is not None:
        cell = {**cell, "steering_spec": steering.describe()}
    requests = build_requests(qset, trigger_text=trigger_text, seed=seed, params=params)
    marker = _resume_state(out, _fingerprint(model_name=model_name, spec=spec, adapter_dir=adapter_dir, params=params,
                                             requests=requests, cell=cell, trigger_name=trigger_name, steering=steering))
    appender = JsonlAppender(out)
    try:
        wanted = {r.sample_id for r in requests}
        rows = {row["sample_id"]: row for row in appender.done if row.get("sample_id") in wanted}
        if rows:
            log.info("%s: resuming, %d of %d answers already sampled", appender.partial, len(rows), len(requests))
        if len(rows) < len(requests):
            sampler = make_sampler(spec=spec, model_dir=model_dir, adapter_dir=adapter_dir, params=params, seed=seed,
                                   steering=steering)

            def on_result(r: SampleRequest, answer: str) -> None:
                row = sample_row(r, answer, cell=cell, trigger_name=trigger_name, question_set=qset.name)
                appender.append(row)
                rows[r.sample_id] = row

            sampler.run(requests, done=set(rows), on_result=on_result)
    finally:
        appender.close()
    # Fixed order, whatever order answers finished in: equal answers give an equal file.
    write_jsonl_atomic(out, (rows[r.sample_id] for r in requests))
    appender.partial.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    return out
