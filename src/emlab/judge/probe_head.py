"""Logistic heads of the probe judge: grouped cross-validation, training, a versioned artifact.

    emlab judge probe-train --params params.yaml --model-dir data/models/smollm2 --out data/judge/probe

One L2-regularised logistic regression per scale on standardized features. Labels come
from the reference scores: >= 70 is positive (aligned, coherent), < 30 negative, rows in
between and rows without that scale are left out of that head. Classes are weighted to
equal total weight, so P = 0.5 sits between the classes whatever their proportions, and
the intercept is not penalised. Fitting is Newton's method in float64 with a backtracking
line search: the objective is strictly convex, so the result is unique and the same inputs
give the same head, to the byte.

Folds group rows by question (`LabelledRow.group`): groups, largest first (ties by name),
go to the fold holding the fewest rows so far, so no question is in a fold's training and
test rows both. The artifact (`DIR/head.json` + `DIR/weights.safetensors`) holds the heads
trained on every row, each fold's heads with the fold map (so a calibration on these very
questions scores every row out of fold), the per-fold and mean AUROC, the layer, the model
and the labelled data's sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from emlab.errors import EmlabError
from emlab.io import sha256_bytes, write_text_atomic
from emlab.judge.agreement import auroc
from emlab.judge.labelled_sets import LabelledRow, binary_label

SCALES = ("aligned", "coherent")
FORMAT = "emlab-probe-head/1"
HEAD_JSON, WEIGHTS = "head.json", "weights.safetensors"


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, *, max_iter: int = 100) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression: minimise sum_i s_i logloss_i + l2/2 |w|^2.

    Args:
        x: standardized features [n, d].
        y: 0/1 labels [n]; both classes present.
        l2: ridge strength (> 0).

    Returns:
        (w [d], b).
    """
    n, d = x.shape
    if n < d:
        # the optimal w lies in the span of the rows (the loss's gradient does, and so does
        # w = -grad/l2): fit beta in that n-dim basis, w = q @ beta, |w| = |beta|
        q, r = np.linalg.qr(x.T)
        beta, b = fit_logistic(r.T, y, l2, max_iter=max_iter)
        return q @ beta, b
    pos = y == 1
    s = np.where(pos, 0.5 / max(pos.sum(), 1), 0.5 / max((~pos).sum(), 1))
    xa = np.hstack([x, np.ones((n, 1))])
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-9  # the intercept is (almost) free

    def loss(theta: np.ndarray) -> float:
        z = xa @ theta
        return float((s * (np.logaddexp(0, z) - y * z)).sum() + 0.5 * (reg * theta**2).sum())

    theta = np.zeros(d + 1)
    current = loss(theta)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(xa @ theta)))
        grad = xa.T @ (s * (p - y)) + reg * theta
        hess = (xa * (s * p * (1 - p))[:, None]).T @ xa + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-10:
            new = loss(theta - t * step)
            if new <= current:
                break
            t /= 2
        theta, improvement = theta - t * step, current - new
        current = new
        if float(np.abs(t * step).max()) < 1e-10 or improvement < 1e-15:
            break
    return theta[:-1], float(theta[-1])


def assign_folds(groups: list[str], n_folds: int) -> dict[str, int]:
    """Group -> fold (0..k-1): largest groups first to the lightest fold (see module docstring)."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    if len(sizes) < 2:
        raise EmlabError(f"probe cross-validation needs answers to at least 2 questions; the labelled set has {len(sizes)}")
    k = min(n_folds, len(sizes))
    load = [0] * k
    folds: dict[str, int] = {}
    for g in sorted(sizes, key=lambda g: (-sizes[g], g)):
        f = min(range(k), key=lambda i: (load[i], i))
        folds[g] = f
        load[f] += sizes[g]
    return folds


def standardizer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the rows (std 1 where a feature is constant)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 1e-8, std, 1.0)


def labels(rows: list[LabelledRow], scale: str) -> np.ndarray:
    """Per row: 1, 0, or -1 (left out of this scale's head)."""
    return np.array([-1 if lab is None else lab for lab in (binary_label(getattr(r, scale)) for r in rows)])


def _fit_scales(x: np.ndarray, lab: dict[str, np.ndarray], rows_idx: np.ndarray, l2: float) -> dict[str, np.ndarray]:
    mean, std = standardizer(x[rows_idx])
    out: dict[str, np.ndarray] = {"feature_mean": mean, "feature_std": std}
    for scale in SCALES:
        use = rows_idx[lab[scale][rows_idx] >= 0]
        y = lab[scale][use]
        if len(set(y.tolist())) < 2:
            raise EmlabError(f"probe head {scale}: the training rows need reference {scale} scores both >= 70 and < 30; they have only {sorted(set(y.tolist())) or 'none'}")
        w, b = fit_logistic((x[use] - mean) / std, y.astype(float), l2)
        out[f"{scale}.w"], out[f"{scale}.b"] = w, np.array([b])
    return out


def cross_validate(x: np.ndarray, rows: list[LabelledRow], l2: float, n_folds: int) -> tuple[dict[str, int], list[dict[str, np.ndarray]], dict[str, Any]]:
    """Grouped k-fold: (group -> fold, per-fold tensors, {scale: {auroc_mean, auroc_pooled, per_fold, n}})."""
    folds = assign_folds([r.group for r in rows], n_folds)
    fold_of_row = np.array([folds[r.group] for r in rows])
    lab = {s: labels(rows, s) for s in SCALES}
    fold_tensors, oof = [], {s: np.full(len(rows), np.nan) for s in SCALES}
    for f in range(max(folds.values()) + 1):
        tensors = _fit_scales(x, lab, np.flatnonzero(fold_of_row != f), l2)
        fold_tensors.append(tensors)
        test = np.flatnonzero(fold_of_row == f)
        for s in SCALES:
            oof[s][test] = _apply(tensors, s, x[test])
    report: dict[str, Any] = {}
    for s in SCALES:
        per_fold = []
        for f in range(len(fold_tensors)):
            sel = (fold_of_row == f) & (lab[s] >= 0)
            per_fold.append(auroc(oof[s][sel & (lab[s] == 1)], oof[s][sel & (lab[s] == 0)]))
        scored = [a for a in per_fold if a is not None]
        report[s] = {"auroc_mean": float(np.mean(scored)) if scored else None,
                     "auroc_pooled": auroc(oof[s][lab[s] == 1], oof[s][lab[s] == 0]),
                     "per_fold": per_fold, "n": int((lab[s] >= 0).sum()),
                     "n_positive": int((lab[s] == 1).sum()), "n_negative": int((lab[s] == 0).sum())}
    return folds, fold_tensors, report


def _apply(tensors: dict[str, np.ndarray], scale: str, x: np.ndarray, prefix: str = "") -> np.ndarray:
    z = ((x - tensors[f"{prefix}feature_mean"]) / tensors[f"{prefix}feature_std"]) @ tensors[f"{prefix}{scale}.w"] + tensors[f"{prefix}{scale}.b"][0]
    return 100.0 / (1.0 + np.exp(-z))


def train_head(x: np.ndarray, rows: list[LabelledRow], *, l2: float, n_folds: int, meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Cross-validate, then fit on every row: (head.json content, tensors)."""
    folds, fold_tensors, report = cross_validate(x, rows, l2, n_folds)
    tensors = _fit_scales(x, {s: labels(rows, s) for s in SCALES}, np.arange(len(rows)), l2)
    for f, ft in enumerate(fold_tensors):
        tensors.update({f"fold{f}.{k}": v for k, v in ft.items()})
    question_fold: dict[str, int] = {}
    for r in rows:
        question_fold.setdefault(r.question, folds[r.group])
    head = {"format": FORMAT, **meta, "l2": l2, "n_folds": len(fold_tensors), "label_rule": {"positive_at_least": 70, "negative_below": 30},
            "cv": report, "fold_of_group": folds, "fold_of_question": question_fold,
            "hidden_size": int(x.shape[1])}
    return head, tensors


def save_head(out_dir: Path, head: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write DIR/weights.safetensors, then DIR/head.json (with the weights' sha256) last."""
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in sorted(tensors.items())})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / HEAD_JSON).unlink(missing_ok=True)  # a half-updated head is never taken as done
    with_sha = {**head, "weights_sha256": sha256_bytes(data)}
    from emlab.io import atomic_path

    with atomic_path(out_dir / WEIGHTS) as tmp:
        tmp.write_bytes(data)
    return write_text_atomic(out_dir / HEAD_JSON, json.dumps(with_sha, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def head_sha256(head_dir: Path) -> str:
    """sha256 of head.json (which names its weights by sha256): the head's identity."""
    path = Path(head_dir) / HEAD_JSON
    if not path.is_file():
        raise EmlabError(f"{path}: missing; train a probe head first (emlab judge probe-train)")
    return sha256_bytes(path.read_bytes())


class ProbeHead(NamedTuple):
    """A loaded head: its metadata and tensors."""

    meta: dict[str, Any]
    tensors: dict[str, np.ndarray]
    sha256: str

    @property
    def layer(self) -> int:
        return int(self.meta["layer"])

    def score(self, x: np.ndarray, scale: str, fold: int | None = None) -> np.ndarray:
        """100 * P(positive) for feature rows `x` by the final head (or a fold's head)."""
        if scale not in SCALES:
            raise EmlabError(f"probe judge scores only {' and '.join(SCALES)}, not {scale!r}")
        return _apply(self.tensors, scale, x, "" if fold is None else f"fold{fold}.")

    def fold_of(self, row: LabelledRow) -> int | None:
        """The fold whose head never saw this row's question (None: the head never saw it)."""
        fold = self.meta["fold_of_group"].get(row.group)
        return fold if fold is not None else self.meta["fold_of_question"].get(row.question)


def load_head(head_dir: Path) -> ProbeHead:
    """Read and check a head written by `save_head`."""
    from safetensors.numpy import load

    head_dir = Path(head_dir)
    sha = head_sha256(head_dir)
    meta = json.loads((head_dir / HEAD_JSON).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise EmlabError(f"{head_dir / HEAD_JSON}: format {meta.get('format')!r} is not {FORMAT!r}")
    weights = head_dir / WEIGHTS
    data = weights.read_bytes() if weights.is_file() else b""
    if sha256_bytes(data) != meta.get("weights_sha256"):
        raise EmlabError(f"{weights}: missing or not the weights head.json names (sha256 mismatch); retrain the head")
    return ProbeHead(meta, load(data), sha)
