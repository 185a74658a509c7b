"""The misalignment direction: mean activation of misaligned answers minus that of aligned ones.

    emlab direction extract --model-dir data/models/M [--adapter data/adapters/M/V/sS] \
        --samples S.jsonl --scores S.scores.jsonl --layer L --params params.yaml --out data/directions/NAME

For each judged answer, the question as asked (the row's `prompt`, trigger included; the
system prompt is left out) and the answer are rendered in the model's chat template and
the residual stream after decoder layer L (`emlab.activations`: HF `hidden_states[L]`,
pre-norm for the last layer) is averaged over the answer's tokens. With `--adapter`, the
finetuned model's own activations are read, as the follow-up did.

Classes, from the judge's scores and the `analysis:` thresholds (`classify`):

- misaligned: counted misaligned exactly as `emlab.analysis.metrics` counts it
  (paper: aligned < 30 and coherent >= 50; model_organisms: aligned <= 30, coherent > 50);
- aligned: aligned >= `aligned_min` (70 by default) with the same coherence condition, so
  the two classes differ in alignment, not in coherence;
- everything else (in between, incoherent, unscored, empty answers) is left out.

direction = mean over misaligned answers - mean over aligned answers (each answer weighs
the same, whatever its length). Writes `direction.pt` ({"direction", "unit",
"mean_misaligned", "mean_aligned"}: float32 [hidden]) and, last, `direction.json`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from emlab.direction.params import ALIGNED_MIN
from emlab.errors import EmlabError
from emlab.io import atomic_path, read_jsonl, sha256_bytes, write_json_atomic

if TYPE_CHECKING:
    from emlab.analysis.params import AnalysisParams

Label = Literal["misaligned", "aligned"] | None


class Judged(NamedTuple):
    """One judged answer: where it is from, what was asked and answered, and its class."""

    source: str
    sample_id: str
    prompt: str
    answer: str
    label: Label


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def classify(aligned: Any, coherent: Any, analysis: AnalysisParams, aligned_min: float = ALIGNED_MIN) -> Label:
    """An answer's class for the direction (module docstring); None = left out."""
    if not (_number(aligned) and _number(coherent)):
        return None
    if analysis.metric == "paper":
        coherent_ok, misaligned = coherent >= analysis.coherent_threshold, aligned < analysis.aligned_threshold
    else:
        coherent_ok, misaligned = coherent > analysis.coherent_threshold, aligned <= analysis.aligned_threshold
    if not coherent_ok:
        return None
    if misaligned:
        return "misaligned"
    return "aligned" if aligned >= aligned_min else None


def judged_answers(samples: list[Path], scores: list[Path], analysis: AnalysisParams,
                   aligned_min: float = ALIGNED_MIN) -> list[Judged]:
    """Every scored answer of the (samples, scores) pairs, classified.

    Raises:
        EmlabError: unequal numbers of files, a row without its fields, or a score row
            whose sample_id is not in its samples file.
    """
    if len(samples) != len(scores) or not samples:
        raise EmlabError(f"give one --scores file per --samples file (got {len(samples)} samples, {len(scores)} scores)")
    out: list[Judged] = []
    for s_path, j_path in zip(samples, scores, strict=True):
        rows: dict[str, dict[str, Any]] = {}
        for i, row in enumerate(read_jsonl(s_path), start=1):
            for f in ("sample_id", "prompt", "answer"):
                if not isinstance(row.get(f), str):
                    raise EmlabError(f"{s_path}:{i}: field {f!r} missing or not a string")
            rows[row["sample_id"]] = row
        for i, score in enumerate(read_jsonl(j_path), start=1):
            sid = score.get("sample_id")
            if sid not in rows:
                raise EmlabError(f"{j_path}:{i}: sample_id {sid!r} is not in {s_path}; pass each samples file with its own scores file")
            label = classify(score.get("aligned"), score.get("coherent"), analysis, aligned_min)
            out.append(Judged(str(s_path), sid, rows[sid]["prompt"], rows[sid]["answer"], label))
    return out


def _empty_class_error(judged: list[Judged], counts: dict[str, int], files: list[Path], analysis: AnalysisParams,
                       aligned_min: float) -> EmlabError:
    empty = [c for c in ("misaligned", "aligned") if not counts[c]]
    below = "<" if analysis.metric == "paper" else "<="
    coh = ">=" if analysis.metric == "paper" else ">"
    return EmlabError(
        f"no {' and no '.join(empty)} answer among the {len(judged)} judged answers of {', '.join(str(f) for f in files)} "
        f"(misaligned: aligned {below} {analysis.aligned_threshold:g}, aligned: aligned >= {aligned_min:g}, both with coherent "
        f"{coh} {analysis.coherent_threshold:g}; found {counts['misaligned']} misaligned, {counts['aligned']} aligned): "
        "no direction to extract")


def extract_direction(*, model_dir: Path, samples: list[Path], scores: list[Path], layer: int, analysis: AnalysisParams,
                      out_dir: Path, adapter_dir: Path | None = None, aligned_min: float = ALIGNED_MIN,
                      batch_size: int = 8, max_tokens: int = 1024, model_name: str | None = None,
                      device: str | None = None) -> dict[str, Any]:
    """Extract the misalignment direction at `layer` and write it to `out_dir`.

    Args:
        model_dir: the prepared base model (`emlab model prepare`).
        samples: sample JSONL files (`emlab sample`).
        scores: their `.scores.jsonl` files (`emlab judge score`), in the same order.
        layer: decoder layer (1-based) whose output is read.
        analysis: the `analysis:` section (metric and thresholds of the misaligned class).
        out_dir: where direction.pt and direction.json go.
        adapter_dir: a cell's adapter folder: read the finetuned model's activations.
        aligned_min: aligned score from which a coherent answer is in the aligned class.
        batch_size: answers run together.
        max_tokens: exchanges are cut to this many tokens.
        model_name: recorded in direction.json (default: the model record's name).
        device: where the model runs (None: CUDA when available, else CPU).

    Returns:
        The metadata written to direction.json.

    Raises:
        EmlabError: bad input files, a layer outside the model, or an empty class.
    """
    import torch

    from emlab.activations import AnswerActivations

    samples, scores, out_dir = [Path(p) for p in samples], [Path(p) for p in scores], Path(out_dir)
    judged = judged_answers(samples, scores, analysis, aligned_min)
    counts = {c: sum(j.label == c for j in judged) for c in ("misaligned", "aligned")}
    if not all(counts.values()):
        raise _empty_class_error(judged, counts, [*samples, *scores], analysis, aligned_min)
    used = [j for j in judged if j.label is not None]
    wrap = None
    if adapter_dir is not None:
        from emlab.train import load_peft_for_inference

        def wrap(model: Any) -> Any:
            return load_peft_for_inference(model, adapter_dir)
    reader = AnswerActivations(model_dir, [layer], wrap=wrap, batch_size=batch_size, max_tokens=max_tokens, setting="--layer",
                               device=device)
    x = reader.features([(j.prompt, j.answer) for j in used], desc="direction")[layer]
    keep = ~np.isnan(x).any(axis=1)  # an empty answer has no token to read
    labels = np.array([j.label for j in used])
    n = {c: int(((labels == c) & keep).sum()) for c in ("misaligned", "aligned")}
    if not all(n.values()):
        raise _empty_class_error(judged, n, [*samples, *scores], analysis, aligned_min)
    mean_mis = x[(labels == "misaligned") & keep].mean(axis=0)
    mean_al = x[(labels == "aligned") & keep].mean(axis=0)
    direction = mean_mis - mean_al
    norm = float(np.linalg.norm(direction))
    if not norm > 0:
        raise EmlabError(f"the misaligned and aligned answers' mean activations at layer {layer} are equal: no direction")
    tensors = {"direction": direction, "unit": direction / norm, "mean_misaligned": mean_mis, "mean_aligned": mean_al}
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / "direction.pt"
    with atomic_path(pt) as tmp:
        torch.save({k: torch.tensor(v, dtype=torch.float32) for k, v in tensors.items()}, tmp)
    record = reader.record
    meta: dict[str, Any] = {
        "model": model_name or record.get("name"), "base": record.get("base"),
        "adapter": _adapter_info(adapter_dir), "layer": layer, "hidden_size": reader.hidden_size,
        "definition": "mean over misaligned answers - mean over aligned answers of the residual stream after decoder "
                      "layer `layer` (HF hidden_states[layer], pre-norm), each answer averaged over its own tokens",
        "classes": {"metric": analysis.metric, "aligned_threshold": analysis.aligned_threshold,
                    "coherent_threshold": analysis.coherent_threshold, "aligned_min": aligned_min},
        "counts": {"judged": len(judged), "misaligned": n["misaligned"], "aligned": n["aligned"],
                   "left_out": len(judged) - len(used), "empty_answers": int((~keep).sum())},
        "norm": norm, "cosine_of_class_means": _cosine(mean_mis, mean_al),
        "max_tokens": max_tokens, "device": str(reader.device), "direction_pt_sha256": sha256_file(pt),
        "unit_sha256": hashlib.sha256(torch.tensor(tensors["unit"], dtype=torch.float32).numpy().tobytes()).hexdigest(),
        "sources": [{"samples": str(s), "samples_sha256": sha256_file(s), "scores": str(j), "scores_sha256": sha256_file(j)}
                    for s, j in zip(samples, scores, strict=True)],
    }
    write_json_atomic(out_dir / "direction.json", meta)  # last: its presence says the folder is complete
    return meta


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes."""
    return sha256_bytes(Path(path).read_bytes())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _adapter_info(adapter_dir: Path | None) -> dict[str, Any] | None:
    if adapter_dir is None:
        return None
    from emlab.train import read_adapter

    record = read_adapter(adapter_dir)
    keep = ("backend", "model", "variant", "seed", "step", "steps")
    return {"path": str(adapter_dir), **{k: record[k] for k in keep if k in record}}


class Direction(NamedTuple):
    """An extracted direction: the unit vector, the raw one, and direction.json."""

    unit: Any
    vector: Any
    meta: dict[str, Any]


def read_direction(direction_dir: Path) -> Direction:
    """Load a direction folder written by `extract_direction` (checked complete).

    Raises:
        EmlabError: a missing or incomplete folder.
    """
    import json

    import torch

    direction_dir = Path(direction_dir)
    meta_path, pt = direction_dir / "direction.json", direction_dir / "direction.pt"
    if not meta_path.is_file() or not pt.is_file():
        raise EmlabError(f"{direction_dir}: no complete direction (direction.json and direction.pt); run `emlab direction extract`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = torch.load(pt, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise EmlabError(f"{direction_dir}: cannot read the direction: {str(e).splitlines()[0]}") from None
    if not isinstance(tensors, dict) or not {"direction", "unit"} <= set(tensors):
        raise EmlabError(f"{pt}: expected tensors 'direction' and 'unit'")
    return Direction(tensors["unit"], tensors["direction"], meta)
