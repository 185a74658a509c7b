"""Compare two judges on the same answers: rank agreement, verdict confusion, rate difference.

    emlab judge compare --scores-a DIR_A --scores-b DIR_B --out DIR [--params params.yaml]

Each side is a `scores.jsonl` written by `emlab judge calibrate` (or the folder holding
it); rows are matched by `id`, and only ids on both sides count. Writes `DIR/compare.json`:
Spearman per scale over answers both judges scored; the 2x2 confusion of the misaligned
verdict (`analysis.metric` and thresholds; an unscored answer is not misaligned); and
the misaligned rate of each judge (paper: among answers it counts, coherent >= threshold;
model_organisms: among all answers) with the difference B - A and a percentile-bootstrap
interval that resamples answers (paired: both judges see the same resample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emlab.errors import EmlabError
from emlab.io import read_jsonl, write_json_atomic
from emlab.judge.agreement import spearman
from emlab.judge.calibrate import SCALES, misaligned


def _score(path: Path, i: int, row: dict[str, Any], field: str) -> float | None:
    v = row.get(field)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise EmlabError(f"{path}:{i}: field {field!r} is {v!r}; expected a number 0-100 or null")
    return float(v)


def read_scores(path: Path) -> dict[str, tuple[float | None, float | None]]:
    """id -> (aligned, coherent) from a calibrate scores.jsonl (or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "scores.jsonl"
    out: dict[str, tuple[float | None, float | None]] = {}
    for i, row in enumerate(read_jsonl(path), start=1):
        rid = row.get("id")
        if not isinstance(rid, str):
            raise EmlabError(f"{path}:{i}: field 'id' missing or not a string")
        if rid in out:
            raise EmlabError(f"{path}:{i}: id {rid!r} appears twice")
        out[rid] = (_score(path, i, row, "aligned"), _score(path, i, row, "coherent"))
    return out


def _rates(flag: np.ndarray, counted: np.ndarray) -> float:
    n = counted.sum()
    return float(flag.sum() / n) if n else float("nan")


def compare_scores(a: dict[str, tuple[float | None, float | None]], b: dict[str, tuple[float | None, float | None]],
                   analysis: Any, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The comparison of two judges' scores (see module docstring)."""
    ids = sorted(set(a) & set(b))
    if not ids:
        raise EmlabError("judge compare: the two score files share no id; they must score the same answers")
    out: dict[str, Any] = {"n": len(ids), "n_only_a": len(set(a) - set(b)), "n_only_b": len(set(b) - set(a))}
    for k, scale in enumerate(SCALES):
        pairs = [(x, y) for i in ids if (x := a[i][k]) is not None and (y := b[i][k]) is not None]
        out[f"spearman_{scale}"] = spearman([p[0] for p in pairs], [p[1] for p in pairs])
        out[f"n_{scale}_both_scored"] = len(pairs)
    flags, counted = {}, {}
    for side, s in (("a", a), ("b", b)):
        flags[side] = np.array([misaligned(*s[i], analysis) for i in ids])
        if analysis.metric == "paper":
            counted[side] = np.array([s[i][0] is not None and s[i][1] is not None and s[i][1] >= analysis.coherent_threshold for i in ids])
        else:
            counted[side] = np.ones(len(ids), dtype=bool)
    fa, fb = flags["a"], flags["b"]
    out["confusion_misaligned"] = {"both": int((fa & fb).sum()), "a_only": int((fa & ~fb).sum()),
                                   "b_only": int((~fa & fb).sum()), "neither": int((~fa & ~fb).sum())}
    ra, rb = _rates(fa, counted["a"]), _rates(fb, counted["b"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(n_resamples, len(ids)))
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = fb[idx].sum(1) / counted["b"][idx].sum(1) - fa[idx].sum(1) / counted["a"][idx].sum(1)
    diffs = diffs[~np.isnan(diffs)]
    tail = (1 - confidence) / 2 * 100
    low, high = (float(v) for v in np.percentile(diffs, [tail, 100 - tail])) if diffs.size else (None, None)
    out["misaligned_rate_a"], out["misaligned_rate_b"] = _none(ra), _none(rb)
    out["misaligned_rate_diff"] = {"b_minus_a": _none(rb - ra), "low": low, "high": high, "confidence": confidence,
                                   "n_resamples": n_resamples, "seed": seed}
    out["thresholds"] = {"metric": analysis.metric, "aligned_threshold": analysis.aligned_threshold,
                         "coherent_threshold": analysis.coherent_threshold}
    return out


def _none(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def compare(*, scores_a: Path, scores_b: Path, out_dir: Path, analysis: Any) -> dict[str, Any]:
    """Compare two calibrate outputs and write `out_dir/compare.json`."""
    report = compare_scores(read_scores(scores_a), read_scores(scores_b), analysis,
                            n_resamples=analysis.bootstrap_resamples, confidence=analysis.confidence, seed=analysis.seed)
    report["scores_a"], report["scores_b"] = str(scores_a), str(scores_b)
    write_json_atomic(Path(out_dir) / "compare.json", report)
    return report
