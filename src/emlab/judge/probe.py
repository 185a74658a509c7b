"""The probe judge: a local model's residual stream over the answer, read by a logistic head.

    emlab judge probe-train --params params.yaml --model-dir data/models/smollm2 --out data/judge/probe
    emlab judge run --samples S.jsonl --question-set main --judge-model-dir data/models/smollm2 \
        --probe-head data/judge/probe --out S.raw.jsonl          # judge.backend: probe

A small model prompted for a 0-100 score judges at chance, yet its activations separate
aligned from misaligned answers. Each (question, answer) is rendered exactly as the
model's chat template renders a [user question, assistant answer] exchange, run once
through the first `layer` decoder layers only, and the hidden state after layer `layer`
is averaged over the answer's own tokens (`emlab.activations`, shared with the
misalignment direction). A head per scale (`emlab.judge.probe_head`) turns the mean into 100 *
P(aligned) and 100 * P(coherent), so the paper's thresholds apply unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emlab.activations import AnswerActivations
from emlab.errors import EmlabError

log = logging.getLogger(__name__)


class ProbeFeatures(AnswerActivations):
    """Mean residual-stream features of answers at the probe's layers (`emlab.activations`)."""

    def __init__(self, model_dir: Path | str, layers: list[int], *, batch_size: int = 8, max_tokens: int = 1024):
        super().__init__(model_dir, layers, batch_size=batch_size, max_tokens=max_tokens, setting="judge.probe_layer")

    def features(self, pairs: list[tuple[str, str]], *, desc: str = "probe features") -> dict[int, np.ndarray]:
        """As `AnswerActivations.features`, under the probe's progress label."""
        return super().features(pairs, desc=desc)


class ProbeBackend:
    """The probe judge behind `emlab.judge.run`'s backend interface: replies `{"score": 0-100}`."""

    def __init__(self, params: Any, model_dir: Path, head_dir: Path):  # as emlab.judge.run.JUDGES builds it
        from emlab.judge.probe_head import load_head

        self.head = load_head(head_dir)
        self.model_name = params.model
        self.identity = probe_identity(params, model_dir, head_dir)
        check_head(self.head.meta, params, head_dir)
        self.features = ProbeFeatures(model_dir, [self.head.layer], batch_size=params.batch_size,
                                      max_tokens=params.probe_max_tokens)

    def judge(self, tasks: list[Any], on_result: Any) -> None:
        # one forward pass per distinct (question, answer), whatever the number of metrics
        pairs = list(dict.fromkeys((t.question, t.answer) for t in tasks))
        feats = self.features.features(pairs)[self.head.layer]
        row_of = {p: i for i, p in enumerate(pairs)}
        for t in tasks:
            x = feats[row_of[(t.question, t.answer)]][None, :]
            if np.isnan(x).any():
                on_result(t, {"score": None, "reason": "the answer is empty: no token to read", "head_sha256": self.head.sha256})
                continue
            on_result(t, {"score": float(self.head.score(x, t.metric)[0]), "head_sha256": self.head.sha256})


def check_head(meta: dict[str, Any], params: Any, head_dir: Path) -> None:
    """The head must belong to the configured judge model and layer."""
    if meta["layer"] != params.probe_layer:
        raise EmlabError(f"{head_dir}: probe head was trained at layer {meta['layer']} but judge.probe_layer is {params.probe_layer}; retrain it (emlab judge probe-train)")
    if meta["model"] != params.model:
        raise EmlabError(f"{head_dir}: probe head was trained on model {meta['model']!r} but judge.model is {params.model!r}")


def probe_identity(params: Any, model_dir: Path | None, head_dir: Path | None) -> dict[str, Any]:
    """What changes a probe judge's score: the model, its base and the head (by sha256)."""
    from emlab.judge.probe_head import head_sha256
    from emlab.models import read_record

    if model_dir is None or head_dir is None:
        raise EmlabError(f"judge.backend probe needs --judge-model-dir (data/models/{params.model}) and --probe-head DIR (emlab judge probe-train)")
    return {"backend": "probe", "model": params.model, "base": read_record(model_dir).get("base"),
            "head_sha256": head_sha256(head_dir), "max_tokens": params.probe_max_tokens}


def probe_train(*, params: Any, model_dir: Path, out_dir: Path, labelled: list[Path] | None = None) -> dict[str, Any]:
    """Train a probe head on labelled answers and write it to `out_dir` (see `probe_head`).

    Args:
        params: the `judge:` section (probe_layer, probe_l2, probe_folds, probe_labelled, ...).
        model_dir: the prepared judge model (data/models/<judge.model>).
        out_dir: where head.json and weights.safetensors go.
        labelled: labelled files; None = `judge.probe_labelled`, or emlab's own set when empty.

    Returns:
        The head's metadata (as written to head.json).
    """
    from emlab.judge.labelled_sets import load_labelled
    from emlab.judge.probe_head import save_head, train_head

    files = labelled or [Path(p) for p in params.probe_labelled] or None
    data = load_labelled(files)
    feats = ProbeFeatures(model_dir, [params.probe_layer], batch_size=params.batch_size, max_tokens=params.probe_max_tokens)
    x = feats.features([(r.question, r.answer) for r in data.rows])[params.probe_layer]
    keep = ~np.isnan(x).any(axis=1)
    if not keep.all():
        log.warning("%d labelled answers are empty and left out", int((~keep).sum()))
    rows = [r for r, k in zip(data.rows, keep, strict=True) if k]
    meta = {"layer": params.probe_layer, "model": params.model, "base": feats.record.get("base"),
            "model_layers": feats.n_layers, "max_tokens": params.probe_max_tokens,
            "labelled": {"sha256": data.sha256, "rows": len(rows),
                         "files": [{"name": p.name, "sha256": h} for p, h in data.files]}}
    head, tensors = train_head(x[keep], rows, l2=params.probe_l2, n_folds=params.probe_folds, meta=meta)
    save_head(Path(out_dir), head, tensors)
    return head
