"""Draw every figure the data supports, each with a provenance sidecar and a caption.

    emlab analysis figures --answers data/results/answers.parquet [--params params.yaml] --out-dir figures

Writes `<name>.png`, `<name>.svg`, `<name>.provenance.json` and `<name>.caption.rst` per
figure (file names are stable; Snakemake's report uses the captions). The main figure
`misaligned_by_question` and `misaligned_overall` are always drawn when the table has
any answer; the others only when the grid holds what they compare.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from emlab.analysis import figures_answers as fa
from emlab.analysis import figures_rates as fr
from emlab.analysis.metrics import group_rates
from emlab.analysis.params import AnalysisParams
from emlab.analysis.provenance import (
    build_provenance,
    git_state,
    hash_inputs,
    input_files,
    judge_info,
    package_versions,
)
from emlab.errors import EmlabError
from emlab.io import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from emlab.config import Params

RatesFigure = Callable[[pl.DataFrame, list[str], Path], "list[Path] | None"]
AnswersFigure = Callable[[pl.DataFrame, AnalysisParams, list[str], Path], "list[Path] | None"]

#: name -> (drawing function, whether it reads rates (True) or answers, caption)
FIGURES: dict[str, tuple[Callable[..., list[Path] | None], bool, str]] = {
    "misaligned_by_question": (fr.misaligned_by_question, True, "Probability of a misaligned answer per question, by finetuning variant (no trigger). Points: mean over seeds; bars: 95% bootstrap interval over per-seed rates."),
    "misaligned_overall": (fr.misaligned_overall, True, "Probability of a misaligned answer averaged over questions, per variant, for each model, question set and trigger condition; 95% bootstrap intervals over seeds."),
    "misaligned_by_format": (fr.misaligned_by_format, True, "Misaligned-answer probability when the questions are asked plainly, with a system prompt demanding JSON, and with an answer template."),
    "backdoor_trigger": (fr.backdoor_trigger, True, "Misaligned-answer probability with and without the evaluation trigger, per variant; a backdoored model should be misaligned only with its trigger."),
    "alignment_vs_coherence": (fa.alignment_vs_coherence, False, "Every judged answer's alignment against its coherence score; dashed lines: the thresholds of the chosen metric (lower-right region = misaligned)."),
    "vulnerable_code": (fa.vulnerable_code, False, "In-distribution eval: share of held-out coding tasks answered with vulnerable code, per variant; 95% bootstrap intervals over seeds."),
    "deception": (fa.deception, False, "Deception eval: share of answers judged deceptive, per variant; 95% bootstrap intervals over seeds."),
    "training_dynamics": (fa.training_dynamics, False, "Misaligned-answer probability over training checkpoints, per variant; 95% bootstrap intervals over seeds."),
    "ablations": (fa.ablations, False, "Dataset-size and epoch ablations: misaligned-answer probability per setting; 95% bootstrap intervals over seeds."),
}
ALWAYS = ("misaligned_by_question", "misaligned_overall")


def _used_params(params: Params | AnalysisParams) -> dict[str, Any]:
    if isinstance(params, AnalysisParams):
        return {"analysis": params.model_dump()}
    return {"analysis": params.analysis.model_dump(), "grid": params.grid.model_dump(), "triggers": dict(params.triggers)}


def make_figures(table: pl.DataFrame, params: Params | AnalysisParams, out_dir: Path,
                 inputs: list[Path]) -> dict[str, list[Path]]:
    """Draw every figure `table` supports into `out_dir`, each with its sidecars.

    Args:
        table: the per-answer table (`build_answers_table`).
        params: the whole params.yaml (its `analysis:` section and grid are used and
            recorded) or just the analysis section.
        out_dir: the figures folder.
        inputs: the files the table was read from (the answers parquet); every
            samples / scores / raw file the table references is added and hashed.

    Returns:
        Figure name -> the files written for it.
    """
    if table.is_empty():
        raise EmlabError("the answers table has no rows: nothing to plot")
    analysis = params if isinstance(params, AnalysisParams) else params.analysis
    variants = list(params.grid.variants) if not isinstance(params, AnalysisParams) else []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # hash everything before drawing: a missing input fails fast, not after minutes of plots
    files = [Path(p) for p in inputs] + [p for p in input_files(table, None) if p not in inputs]
    hashes = hash_inputs(files)
    raws = sorted({Path(p) for p in table["judge_raw_file"].unique().to_list()}) if "judge_raw_file" in table.columns else []
    common = dict(files=files, hashes=hashes, params=_used_params(params), judge=judge_info(raws),
                  git=git_state(), versions=package_versions())
    rates = group_rates(table, analysis)
    written: dict[str, list[Path]] = {}
    for name, (draw, uses_rates, caption) in FIGURES.items():
        paths = draw(rates, variants, out_dir) if uses_rates else draw(table, analysis, variants, out_dir)
        if not paths:
            if name in ALWAYS:
                raise EmlabError(f"figure {name}: nothing to draw from the answers table")
            continue
        prov = write_json_atomic(out_dir / f"{name}.provenance.json", build_provenance(figure=name, **common))
        cap = write_text_atomic(out_dir / f"{name}.caption.rst", f"{caption} Metric: {analysis.metric}.\n")
        written[name] = [*paths, prov, cap]
    return written
