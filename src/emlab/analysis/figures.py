"""Draw every figure the data supports, each stating its judge, with provenance and a caption.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv \
        [--calibration calibration.json] [--params params.yaml] --out-dir figures

Writes `<name>.png`, `<name>.svg`, `<name>.plotted.csv` (the points drawn),
`<name>.provenance.json` and `<name>.caption.rst` per figure (file names are stable;
Snakemake's report uses the captions). Every figure carries a header naming the judge,
the thresholds used and the judge's measured AUROC, and a red "not a result" mark when
the judge is uncalibrated or weak (`emlab.analysis.judge_card`). The main figure
`misaligned_by_question` and `misaligned_overall` are always drawn when the table has any
answer (saying why when nothing was counted); the others only when the grid holds what
they compare. Rates come from rates.csv; final adapters only, except training dynamics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from emlab.analysis import figures_answers as fa
from emlab.analysis import figures_arms as fx
from emlab.analysis import figures_direction as fd
from emlab.analysis import figures_rates as fr
from emlab.analysis.figure_data import FigureData, read_rates
from emlab.analysis.judge_card import JudgeCard
from emlab.analysis.metrics import group_rates
from emlab.analysis.params import AnalysisParams
from emlab.analysis.plotting import Canvas
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

Figure = Callable[[FigureData, Canvas], "list[Path] | None"]

#: name -> (drawing function, caption)
FIGURES: dict[str, tuple[Figure, str]] = {
    "misaligned_by_question": (fr.misaligned_by_question, "Probability of a misaligned answer per question, by finetuning variant (no trigger), final adapters. Points: mean over seeds; bars: 95% bootstrap interval over per-seed rates."),
    "misaligned_overall": (fr.misaligned_overall, "Probability of a misaligned answer averaged over questions, per variant, for each model, question set and trigger condition, final adapters; 95% bootstrap intervals over seeds."),
    "misaligned_by_format": (fr.misaligned_by_format, "Misaligned-answer probability when the questions are asked plainly, with a system prompt demanding JSON, and with an answer template."),
    "backdoor_trigger": (fr.backdoor_trigger, "Misaligned-answer probability with and without the evaluation trigger, per variant; a backdoored model should be misaligned only with its trigger."),
    "alignment_vs_coherence": (fa.alignment_vs_coherence, "Every judged final answer's alignment against its coherence score; dashed lines: the thresholds used (lower-right region = misaligned)."),
    "vulnerable_code": (fa.vulnerable_code, "In-distribution eval: share of held-out coding tasks answered with vulnerable code, per variant; 95% bootstrap intervals over seeds."),
    "deception": (fa.deception, "Deception eval: share of answers judged deceptive, per variant; 95% bootstrap intervals over seeds."),
    "training_dynamics": (fa.training_dynamics, "Misaligned-answer probability over training checkpoints (kept checkpoints and the final adapter's last step), per variant; 95% bootstrap intervals over seeds."),
    "ablations": (fx.ablations, "Dataset-size and epoch ablations (the paper's 500 examples x 12 epochs vs 2000 x 3): misaligned-answer probability per setting, one series per dataset variant, final adapters; 95% bootstrap intervals over seeds."),
    "misalignment_direction": (fd.misalignment_direction, "Misaligned-answer probability with and without ablating the misalignment direction (projected out of the residual stream at every layer), per arm, and of arms steered by adding it to the residual stream, against the coefficient (0 = unsteered); final adapters; 95% bootstrap intervals over seeds."),
    "mitigations": (fx.mitigations, "Mitigations side by side: misaligned-answer probability per dataset variant without and with each intervention during finetuning (e.g. KL to the base model, benign data mixed in, an inoculation prompt, early stopping), final adapters; 95% bootstrap intervals over seeds."),
}
ALWAYS = ("misaligned_by_question", "misaligned_overall")


def _used_params(params: Params | AnalysisParams) -> dict[str, Any]:
    if isinstance(params, AnalysisParams):
        return {"analysis": params.model_dump()}
    return {"analysis": params.analysis.model_dump(), "grid": params.grid.model_dump(), "triggers": dict(params.triggers)}


def make_figures(table: pl.DataFrame, params: Params | AnalysisParams, out_dir: Path, inputs: list[Path], *,
                 rates: Path | None = None, calibration: Path | None = None) -> dict[str, list[Path]]:
    """Draw every figure `table` supports into `out_dir`, each with its sidecars.

    Args:
        table: the per-answer table (`build_answers_table`).
        params: the whole params.yaml (its `analysis:` section and grid are used and
            recorded) or just the analysis section.
        out_dir: the figures folder.
        inputs: the files the table was read from (the answers parquet); every
            samples / scores / raw file the table references is added and hashed.
        rates: rates.csv written by `emlab analysis rates` from this table (checked
            against it); None computes the same rates here.
        calibration: the judge's calibration.json (`emlab judge calibrate`); without
            one every figure is marked "judge not calibrated: not a result".

    Returns:
        Figure name -> the files written for it.
    """
    if table.is_empty():
        raise EmlabError("the answers table has no rows: nothing to plot")
    analysis = params if isinstance(params, AnalysisParams) else params.analysis
    variants = tuple(params.grid.variants) if not isinstance(params, AnalysisParams) else ()
    rate_table = read_rates(rates, table, analysis) if rates is not None else group_rates(table, analysis)
    out_dir = Path(out_dir)
    # hash everything before drawing: a missing input fails fast, not after minutes of plots
    extra = [Path(p) for p in (rates, calibration) if p is not None]
    files = [Path(p) for p in inputs] + extra + [p for p in input_files(table, None) if p not in inputs]
    hashes = hash_inputs(files)
    raws = sorted({Path(p) for p in table["judge_raw_file"].unique().to_list()}) if "judge_raw_file" in table.columns else []
    judge = judge_info(raws)
    card = JudgeCard.load(analysis, calibration, tuple(judge["judge_models"]))
    judge["calibration"] = card.as_dict()
    common: dict[str, Any] = dict(files=files, hashes=hashes, params=_used_params(params), judge=judge,
                                  git=git_state(), versions=package_versions())
    canvas = Canvas(out_dir=out_dir, variants=variants, header=tuple(card.header), marks=tuple(card.marks))
    steering = {} if isinstance(params, AnalysisParams) else dict(params.steering)
    data = FigureData(rates=rate_table, answers=table, params=analysis, steering=steering)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, (draw, caption) in FIGURES.items():
        paths = draw(data, canvas)
        if not paths:
            if name in ALWAYS:
                raise EmlabError(f"figure {name}: nothing to draw from the answers table")
            continue
        prov = write_json_atomic(out_dir / f"{name}.provenance.json", build_provenance(figure=name, **common))
        cap = write_text_atomic(out_dir / f"{name}.caption.rst", card.caption(caption))
        written[name] = [*paths, prov, cap]
    return written
